// gw_answer.c — small readers of OpenAI answers (choice 0, its text, its token logprobs) and the
// replay of a kept buffered answer as SSE for a client that asked for a stream. Loop thread.
#include <math.h>
#include <stdlib.h>

#include "serve/gw_int.h"

const cJSON *gw_answer_choice0(const cJSON *resp) {
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(resp, "choices");
    return cJSON_IsArray(ch) ? cJSON_GetArrayItem(ch, 0) : NULL;
}

const char *gw_answer_text(const cJSON *resp) {
    const cJSON *c = gw_answer_choice0(resp);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "message"), "content");
    return cJSON_IsString(t) ? t->valuestring : "";
}

// Token logprobs of choice 0 into a malloc'ed array; *n = count (0 when absent).
double *gw_answer_logprobs(const cJSON *resp, int64_t *n) {
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(gw_answer_choice0(resp), "logprobs"), *x;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
    bool chat = false;
    if (!cJSON_IsArray(arr)) arr = cJSON_GetObjectItemCaseSensitive(lp, "content"), chat = true;
    *n = 0;
    if (!cJSON_IsArray(arr)) return NULL;
    int64_t k = cJSON_GetArraySize(arr);
    double *v = malloc((size_t)(k > 0 ? k : 1) * sizeof *v);
    if (!v) return NULL;
    cJSON_ArrayForEach(x, arr) {
        const cJSON *num = chat ? cJSON_GetObjectItemCaseSensitive(x, "logprob") : x;
        v[(*n)++] = cJSON_IsNumber(num) ? num->valuedouble : -INFINITY;
    }
    return v;
}

// The kept first-tier answer for a client that asked for a stream: replayed as SSE chunks.
void gw_answer_replay_sse(GwReq *r, cJSON *resp) {
    bool chat = r->ep == RT_EP_CHAT;
    cJSON *chunk = cJSON_CreateObject();
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(resp, "id"), *model = cJSON_GetObjectItemCaseSensitive(resp, "model");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(resp, "created");
    cJSON_AddStringToObject(chunk, "id", cJSON_IsString(id) ? id->valuestring : "");
    cJSON_AddStringToObject(chunk, "object", chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(chunk, "created", cJSON_IsNumber(created) ? created->valuedouble : 0);
    cJSON_AddStringToObject(chunk, "model", cJSON_IsString(model) ? model->valuestring : "");
    cJSON *choices = cJSON_AddArrayToObject(chunk, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", gw_answer_text(resp));
    } else {
        cJSON_AddStringToObject(c, "text", gw_answer_text(resp));
    }
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(gw_answer_choice0(resp), "logprobs");
    cJSON_AddItemToObject(c, "logprobs", r->client_logprobs && lp ? cJSON_Duplicate(lp, 1) : cJSON_CreateNull());
    cJSON_AddStringToObject(c, "finish_reason", r->finish[0] ? r->finish : "stop");
    cJSON_AddItemToArray(choices, c);
    Buf b = {0};
    char *s = cJSON_PrintUnformatted(chunk);
    buf_printf(&b, "data: %s\n\n", s);
    free(s);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    if (r->parts.client_usage && usage) {
        cJSON_DeleteItemFromObjectCaseSensitive(chunk, "choices");
        cJSON_AddArrayToObject(chunk, "choices");
        cJSON_AddItemToObject(chunk, "usage", cJSON_Duplicate(usage, 1));
        s = cJSON_PrintUnformatted(chunk);
        buf_printf(&b, "data: %s\n\n", s);
        free(s);
    }
    buf_append_str(&b, "data: [DONE]\n\n");
    cJSON_Delete(chunk);
    pthread_mutex_lock(&r->mu);
    r->status = 200;
    buf_clear(&r->out);
    buf_append(&r->out, b.data, b.len);
    r->resp_ready = r->out_done = true;
    if (r->suspended && !r->client_gone) {
        r->suspended = false;
        MHD_resume_connection(r->mc);
        r->gw->mhd_dirty = true;   // the loop runs MHD before it sleeps (no event says so)
    }
    pthread_mutex_unlock(&r->mu);
    buf_free(&b);
}
