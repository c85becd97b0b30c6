// embed_service.c — parsing, batching and answering /v1/embeddings. See embed_service.h.
#include "serve/embed_service.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/threadpool.h"
#include "engine/bert.h"
#include "engine/tokenizer.h"
#include "serve/json_check.h"
#include "serve/openai_resp.h"

#define EMBED_MAX_INPUTS 2048  // OpenAI's limit on inputs per request

// One request: its inputs' ids back to back, and (once done) their embeddings.
typedef struct EmbedJob {
    int32_t *ids;           // (sum of lens)
    int64_t *lens;          // (n_inputs)
    int64_t n_inputs, n_tokens;
    float *out;             // (n_inputs, dim)
    bool done, failed;
    struct EmbedJob *next;
} EmbedJob;

struct EmbedService {
    BertModel model;
    Tokenizer *tok;
    ThreadPool *tp;
    BertBuffers *buf;
    int64_t max_tokens;
    pthread_t thread;
    bool started, stopping;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    EmbedJob *head, *tail;  // waiting jobs, oldest first (under mu)
};

bool embed_service_is_encoder(const char *path) {
    GgufFile f = {0};
    char err[256];
    if (gguf_open(&f, path, err, sizeof err)) return false;
    bool yes = bert_is_encoder_arch(&f);
    gguf_close(&f);
    return yes;
}

const char *embed_service_name(const EmbedService *s) { return s->model.name[0] ? s->model.name : s->model.arch; }
int64_t embed_service_n_ctx(const EmbedService *s) { return s->model.hp.n_ctx_train; }
int64_t embed_service_dim(const EmbedService *s) { return s->model.hp.n_embd; }
int64_t embed_service_n_params(const EmbedService *s) { return s->model.n_params; }

// ---- the encoder thread ----

// Runs jobs from the head of the queue whose tokens fit in one pass together (always at least one).
static void *encoder_main(void *arg) {
    EmbedService *s = arg;
    int64_t dim = s->model.hp.n_embd;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping) pthread_cond_wait(&s->work, &s->mu);
        if (s->stopping) break;
        EmbedJob *first = s->head, *last = first;
        int64_t tokens = first->n_tokens;
        while (last->next && tokens + last->next->n_tokens <= s->max_tokens) {
            last = last->next;
            tokens += last->n_tokens;
        }
        s->head = last->next;
        if (!s->head) s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->mu);
        // One pass for the whole batch: the jobs' inputs one after another.
        int64_t n_in = 0;
        for (EmbedJob *j = first; j; j = j->next) n_in += j->n_inputs;
        int32_t *ids = malloc((size_t)tokens * sizeof *ids);
        int64_t *lens = malloc((size_t)n_in * sizeof *lens);
        float *out = malloc((size_t)(n_in * dim) * sizeof *out);
        bool ok = ids && lens && out;
        if (ok) {
            int64_t t = 0, k = 0;
            for (EmbedJob *j = first; j; j = j->next) {
                memcpy(ids + t, j->ids, (size_t)j->n_tokens * sizeof *ids);
                memcpy(lens + k, j->lens, (size_t)j->n_inputs * sizeof *lens);
                t += j->n_tokens;
                k += j->n_inputs;
            }
            bert_embed(&s->model, s->buf, s->tp, ids, lens, n_in, out);
        }
        pthread_mutex_lock(&s->mu);
        int64_t k = 0;
        for (EmbedJob *j = first, *nx; j; j = nx) {
            nx = j->next;
            if (ok) memcpy(j->out, out + k * dim, (size_t)(j->n_inputs * dim) * sizeof *out);
            k += j->n_inputs;
            j->failed = !ok;
            j->done = true;
        }
        pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->mu);
        free(ids);
        free(lens);
        free(out);
        pthread_mutex_lock(&s->mu);
    }
    // Stopping: whoever still waits is told so.
    for (EmbedJob *j = s->head; j; j = j->next) j->failed = j->done = true;
    s->head = s->tail = NULL;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

EmbedService *embed_service_create(const char *model_path, int n_threads, int64_t max_tokens, char *err,
                                   size_t err_len) {
    EmbedService *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, err_len, ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    if (bert_load(&s->model, model_path, err, err_len)) goto fail;
    if (!(s->tok = tok_create_from_gguf(&s->model.file, err, err_len))) goto fail;
    if (max_tokens < s->model.hp.n_ctx_train) max_tokens = s->model.hp.n_ctx_train;
    s->max_tokens = max_tokens;
    s->tp = tp_create(n_threads);  // <= 0: one per core
    if (s->tp) n_threads = tp_size(s->tp);
    s->buf = s->tp ? bert_buffers_create(&s->model, max_tokens, n_threads) : NULL;
    if (!s->tp || !s->buf) {
        err_set(err, err_len, ERR_NOMEM, "cannot start %d threads or allocate buffers for %lld tokens", n_threads,
                (long long)max_tokens);
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, encoder_main, s)) {
        err_set(err, err_len, ERR_NOMEM, "cannot start the encoder thread");
        goto fail;
    }
    s->started = true;
    return s;
fail:
    embed_service_destroy(s);
    return NULL;
}

void embed_service_destroy(EmbedService *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    bert_buffers_destroy(s->buf);
    tp_destroy(s->tp);
    tok_destroy(s->tok);
    bert_free(&s->model);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

// ---- parsing ----

#define BAD(param, ...) oai_err(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

// Appends one input's ids (a string, tokenized with [CLS]/[SEP], or an array of ids) to the job.
static int add_input(EmbedService *s, const cJSON *v, EmbedJob *j, int64_t *cap, OaiError *e) {
    int64_t n_ctx = s->model.hp.n_ctx_train, room = n_ctx;
    if (j->n_tokens + room > *cap) {
        int64_t nc = (j->n_tokens + room) * 2;
        int32_t *p = realloc(j->ids, (size_t)nc * sizeof *p);
        if (!p) return oai_err(e, 500, "server_error", NULL, NULL, "out of memory");
        j->ids = p;
        *cap = nc;
    }
    int32_t *dst = j->ids + j->n_tokens;
    int64_t n = 0;
    if (cJSON_IsString(v)) {
        const char *t = v->valuestring;
        n = tok_encode(s->tok, t, strlen(t), true, false, dst, room);
        if (n < 0) return oai_err(e, 500, "server_error", NULL, NULL, "cannot tokenize input %lld", (long long)j->n_inputs);
    } else if (cJSON_IsArray(v)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble))
                return BAD("input", "'input' token arrays must hold integers (input %lld)", (long long)j->n_inputs);
            if (n < room) dst[n] = (int32_t)(x->valuedouble < -1 ? -1 : x->valuedouble > 2e9 ? 2e9 : x->valuedouble);
            n++;
        }
    } else {
        return BAD("input", "'input' must be a string, an array of strings, or token id arrays");
    }
    if (n == 0) return BAD("input", "input %lld is empty; every input needs at least one token", (long long)j->n_inputs);
    if (n > n_ctx)
        return BAD("input", "input %lld is %lld tokens, longer than the model's context of %lld; shorten it",
                   (long long)j->n_inputs, (long long)n, (long long)n_ctx);
    char why[160];
    if (bert_check_input(&s->model, dst, n, why, sizeof why)) return BAD("input", "input %lld: %s", (long long)j->n_inputs, why);
    j->lens[j->n_inputs++] = n;
    j->n_tokens += n;
    return 0;
}

// Fills j from the parsed body; *base64 from encoding_format.
static int parse_request(EmbedService *s, const char *model_name, const cJSON *root, EmbedJob *j, bool *base64,
                         OaiError *e) {
    if (!cJSON_IsObject(root)) return BAD(NULL, "the request body must be a JSON object");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (m && !cJSON_IsNull(m)) {
        if (!cJSON_IsString(m)) return BAD("model", "'model' must be a string");
        if (strcmp(m->valuestring, model_name) != 0)
            return oai_err(e, 404, "invalid_request_error", "model", "model_not_found",
                           "model '%.100s' is not served here (this worker serves '%.100s')", m->valuestring, model_name);
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
    *base64 = false;
    if (f && !cJSON_IsNull(f)) {
        if (!cJSON_IsString(f) || (strcmp(f->valuestring, "float") && strcmp(f->valuestring, "base64")))
            return BAD("encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
        *base64 = strcmp(f->valuestring, "base64") == 0;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    if (d && !cJSON_IsNull(d) && !(cJSON_IsNumber(d) && d->valuedouble == (double)s->model.hp.n_embd))
        return BAD("dimensions", "'dimensions' can only be this model's width, %lld", (long long)s->model.hp.n_embd);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!in || cJSON_IsNull(in)) return BAD("input", "'input' is required: a string, an array of strings, or token ids");
    // One input: a string or a flat array of ids; several: an array of strings or of id arrays.
    bool single = cJSON_IsString(in) || (cJSON_IsArray(in) && cJSON_GetArraySize(in) > 0 && cJSON_IsNumber(cJSON_GetArrayItem(in, 0)));
    if (!single && !cJSON_IsArray(in)) return BAD("input", "'input' must be a string, an array of strings, or token ids");
    int64_t n_in = single ? 1 : cJSON_GetArraySize(in);
    if (n_in == 0) return BAD("input", "'input' is an empty array; send at least one input");
    if (n_in > EMBED_MAX_INPUTS) return BAD("input", "'input' has %lld inputs; at most %d per request", (long long)n_in, EMBED_MAX_INPUTS);
    j->lens = malloc((size_t)n_in * sizeof *j->lens);
    if (!j->lens) return oai_err(e, 500, "server_error", NULL, NULL, "out of memory");
    int64_t cap = 0;
    if (single) return add_input(s, in, j, &cap, e);
    const cJSON *x;
    cJSON_ArrayForEach(x, in) {
        if (add_input(s, x, j, &cap, e)) return -1;
    }
    if (j->n_tokens > s->max_tokens)
        return BAD("input", "the inputs total %lld tokens, more than one pass holds (%lld, --max-num-batched-tokens); split the request",
                   (long long)j->n_tokens, (long long)s->max_tokens);
    return 0;
}

// ---- answering ----

static int put_base64(Buf *b, const uint8_t *p, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = buf_reserve(b, (n + 2) / 3 * 4 + 2);
    for (size_t i = 0; i < n && !rc; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {T[v >> 18 & 63], T[v >> 12 & 63], i + 1 < n ? T[v >> 6 & 63] : '=', i + 2 < n ? T[v & 63] : '='};
        rc = buf_append(b, q, 4);
    }
    return rc;
}

static int write_answer(const EmbedService *s, const char *model_name, const EmbedJob *j, bool base64, Buf *out) {
    int64_t dim = s->model.hp.n_embd;
    int rc = buf_append_str(out, "{\"object\":\"list\",\"data\":[");
    for (int64_t i = 0; i < j->n_inputs && !rc; i++) {
        const float *v = j->out + i * dim;
        rc = buf_printf(out, "%s{\"object\":\"embedding\",\"index\":%lld,\"embedding\":", i ? "," : "", (long long)i);
        if (!rc && base64) {
            // The float32 values as little-endian bytes (this is a little-endian target).
            rc = buf_append_str(out, "\"");
            if (!rc) rc = put_base64(out, (const uint8_t *)v, (size_t)dim * sizeof *v);
            if (!rc) rc = buf_append_str(out, "\"}");
        } else {
            if (!rc) rc = buf_append_str(out, "[");
            for (int64_t k = 0; k < dim && !rc; k++) rc = buf_printf(out, "%s%.9g", k ? "," : "", (double)v[k]);
            if (!rc) rc = buf_append_str(out, "]}");
        }
    }
    if (!rc) rc = buf_append_str(out, "],\"model\":");
    if (!rc) rc = oai_json_str(out, model_name, strlen(model_name));
    if (!rc) rc = buf_printf(out, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}", (long long)j->n_tokens,
                             (long long)j->n_tokens);
    return rc;
}

int embed_service_handle(EmbedService *s, const char *model_name, const char *body, size_t len, Buf *out,
                         OaiError *e) {
    char msg[256];
    EmbedJob j = {0};
    bool base64 = false;
    int rc = -1;
    cJSON *root = json_check_parse(body, len, msg, sizeof msg);
    if (!root) {
        BAD(NULL, "%s", msg);
        goto done;
    }
    if (parse_request(s, model_name, root, &j, &base64, e)) goto done;
    j.out = malloc((size_t)(j.n_inputs * s->model.hp.n_embd) * sizeof *j.out);
    if (!j.out) {
        oai_err(e, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        oai_err(e, 503, "service_unavailable", NULL, "shutting_down", "the server is shutting down; retry elsewhere");
        goto done;
    }
    if (s->tail) s->tail->next = &j;
    else s->head = &j;
    s->tail = &j;
    pthread_cond_signal(&s->work);
    while (!j.done) pthread_cond_wait(&s->done, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (j.failed) {
        oai_err(e, 503, "service_unavailable", NULL, NULL, "the encoder could not run this request; retry");
        goto done;
    }
    if (write_answer(s, model_name, &j, base64, out)) {
        oai_err(e, 500, "server_error", NULL, NULL, "out of memory");
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(j.ids);
    free(j.lens);
    free(j.out);
    return rc;
}
