// gw_body.c — see gw_body.h.
#include "serve/gw_body.h"
#include "serve/json_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/check.h"
#include "serve/json_check.h"

static const char *const part_name[GWB_N] = {
    [GWB_MODEL] = "model", [GWB_MAX_TOKENS] = "max_tokens", [GWB_STREAM] = "stream",
    [GWB_STREAM_OPTIONS] = "stream_options", [GWB_LOGPROBS] = "logprobs", [GWB_INPUT] = "input",
};

// ---- the members' byte ranges (on a body cJSON has already accepted) ----

// The byte walk itself (whitespace, strings, whole values) is serve/json_walk's.

// Walks the top-level object in s and records the ranges of the members named in part_name,
// matching the i-th member to the tree's i-th child (cJSON keeps the order, and its names are
// decoded: "mod\u0065l" is "model"). False when the walk and the tree disagree.
static bool find_parts(GwBody *b, const char *s, size_t len, const cJSON *root) {
    size_t i = json_walk_ws(s, len, 0);
    if (i >= len || s[i] != '{') return false;
    b->open = i;
    i = json_walk_ws(s, len, i + 1);
    for (const cJSON *c = root->child; c; c = c->next) {
        if (i >= len || s[i] != '"' || !c->string) return false;
        GwSpan sp = {.start = i};
        i = json_walk_ws(s, len, json_walk_string(s, len, i));
        if (i >= len || s[i] != ':') return false;
        sp.value = json_walk_ws(s, len, i + 1);
        sp.end = json_walk_value(s, len, sp.value);
        for (int k = 0; k < GWB_N; k++)
            if (strcmp(c->string, part_name[k]) == 0) b->part[k] = sp;
        i = json_walk_ws(s, len, sp.end);
        if (c->next) {
            if (i >= len || s[i] != ',') return false;
            i = json_walk_ws(s, len, i + 1);
        }
    }
    if (i >= len || s[i] != '}') return false;
    b->close = i;
    return true;
}

// ---- the checks ----

static int64_t text_len(const cJSON *v) {
    if (cJSON_IsString(v)) return (int64_t)strlen(v->valuestring);
    int64_t n = 0;
    const cJSON *x;
    if (cJSON_IsArray(v)) cJSON_ArrayForEach(x, v) n += cJSON_IsString(x) ? (int64_t)strlen(x->valuestring) : 1;
    return n;
}

// limits.max_tokens holds whichever way a client asks for tokens: `max_tokens` and
// `max_completion_tokens` (chat's newer name) are each checked, and a request that gives neither
// gets `max_tokens` set to its default (OpenAI's 16 for completions; chat's "to the end of the
// context" becomes the limit), so a backend never generates past the limit on the gateway's
// behalf. 0, or 400 with msg filled.
static int limit_tokens(GwBody *b, const cJSON *json, int64_t limit, int64_t dflt, char *msg, size_t cap) {
    static const char *const names[] = {"max_tokens", "max_completion_tokens"};
    bool given = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, names[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble != (double)(int64_t)v->valuedouble)
            return snprintf(msg, cap, "'%s' must be a positive integer", names[i]), 400;
        if (v->valuedouble > (double)limit)
            return snprintf(msg, cap, "%s %.0f exceeds this gateway's limit of %lld", names[i], v->valuedouble,
                            (long long)limit),
                   400;
        given = true;
        if ((int64_t)v->valuedouble > b->max_tokens) b->max_tokens = (int64_t)v->valuedouble;
    }
    if (!given) b->add_max_tokens = b->max_tokens = dflt < limit ? dflt : limit;
    return 0;
}

// What each endpoint requires, and the prompt's size for routing. 0, or 400 with msg filled.
static int check_endpoint(GwBody *b, const cJSON *json, RouterEndpoint ep, char *msg, size_t cap) {
    if (ep == RT_EP_COMPLETIONS) {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(json, "prompt");
        if (!pr) return snprintf(msg, cap, "'prompt' is required"), 400;
        b->prompt_chars = text_len(pr);
    } else if (ep == RT_EP_CHAT) {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(json, "messages"), *x;
        if (!cJSON_IsArray(ms)) return snprintf(msg, cap, "'messages' must be an array"), 400;
        cJSON_ArrayForEach(x, ms) b->prompt_chars += text_len(cJSON_GetObjectItemCaseSensitive(x, "content"));
    } else {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(json, "input"), *x;
        if (!in || (!cJSON_IsString(in) && !cJSON_IsArray(in)))
            return snprintf(msg, cap, "'input' must be a string or an array of strings"), 400;
        if (cJSON_IsArray(in))
            cJSON_ArrayForEach(x, in) if (!cJSON_IsString(x)) return snprintf(msg, cap, "'input' items must be strings"), 400;
        if (b->stream) return snprintf(msg, cap, "embeddings cannot be streamed"), 400;
        b->prompt_chars = text_len(in);
        b->n_inputs = cJSON_IsString(in) ? 1 : cJSON_GetArraySize(in);
    }
    return 0;
}

// A stream's stream_options with include_usage true (the client's other options kept).
static char *usage_options(const cJSON *json) {
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(json, "stream_options");
    cJSON *o = cJSON_IsObject(so) ? cJSON_Duplicate(so, 1) : cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "include_usage");
    char *s = cJSON_AddTrueToObject(o, "include_usage") ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

int gw_body_check(GwBody *b, const char *body, size_t len, RouterEndpoint ep, int64_t max_tokens_limit, char *msg,
                  size_t cap, cJSON **tree) {
    memset(b, 0, sizeof *b);
    if (tree) *tree = NULL;
    int st = 400;
    cJSON *json = json_check_parse(body, len, msg, cap);
    if (!json) return 400;
    if (!cJSON_IsObject(json)) {
        snprintf(msg, cap, "the body must be a JSON object");
        goto fail;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, "model");
    if (m && !cJSON_IsString(m) && !cJSON_IsNull(m)) {
        snprintf(msg, cap, "'model' must be a string");
        goto fail;
    }
    if (cJSON_IsString(m)) snprintf(b->model, sizeof b->model, "%s", m->valuestring);
    b->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "stream"));
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(json, "logprobs");
    b->client_logprobs = lp && !cJSON_IsNull(lp) && !cJSON_IsFalse(lp);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(json, "stream_options");
    b->client_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    if (ep != RT_EP_EMBEDDINGS && (st = limit_tokens(b, json, max_tokens_limit, ep == RT_EP_COMPLETIONS ? 16 : max_tokens_limit,
                                                     msg, cap)))
        goto fail;
    st = 400;
    if (check_endpoint(b, json, ep, msg, cap)) goto fail;
    if (!find_parts(b, body, len, json)) {
        snprintf(msg, cap, "the request body could not be read as one JSON object");
        goto fail;
    }
    if (b->stream && !b->client_usage && !(b->usage_options = usage_options(json))) {
        st = 500;
        snprintf(msg, cap, "out of memory");
        goto fail;
    }
    if (tree) *tree = json;
    else cJSON_Delete(json);
    return 0;
fail:
    cJSON_Delete(json);
    gw_body_free(b);
    return st;
}

void gw_body_free(GwBody *b) {
    if (!b) return;
    free(b->usage_options);
    b->usage_options = NULL;
}

// ---- the body for a call ----

int gw_body_put_string(Buf *out, const char *s) {
    static const char hex[] = "0123456789abcdef";
    int rc = buf_append(out, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p && !rc; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        rc = buf_append(out, run, (size_t)(p - run));
        char esc[6] = {'\\', (char)c, 0};
        size_t n = 2;
        if (c < 0x20) memcpy(esc + 1, "u00", 3), esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
        if (!rc) rc = buf_append(out, esc, n);
        run = p + 1;
    }
    if (!rc) rc = buf_append_str(out, run);
    return rc ? rc : buf_append(out, "\"", 1);
}

// Appends body[from..to) with separators trimmed from both ends, after a comma when *any.
static int put_run(Buf *out, const char *body, size_t from, size_t to, bool *any) {
    while (from < to && ((unsigned char)body[from] <= 32 || body[from] == ',')) from++;
    while (to > from && ((unsigned char)body[to - 1] <= 32 || body[to - 1] == ',')) to--;
    if (from == to) return 0;
    int rc = *any ? buf_append(out, ",", 1) : 0;
    *any = true;
    return rc ? rc : buf_append(out, body + from, to - from);
}

static int put_member(Buf *out, bool *any, const char *key, const char *raw_value) {
    int rc = buf_printf(out, "%s\"%s\":", *any ? "," : "", key);
    *any = true;
    return rc ? rc : buf_append_str(out, raw_value);
}

static int cmp_span(const void *a, const void *b) {
    size_t x = ((const GwSpan *)a)->start, y = ((const GwSpan *)b)->start;
    return x < y ? -1 : x > y;
}

int gw_body_for_call(Buf *out, const GwBody *b, const char *body, const char *model, bool buffered, bool chat) {
    bool drop[GWB_N] = {[GWB_MODEL] = true};
    drop[GWB_MAX_TOKENS] = b->add_max_tokens > 0;   // absent, or a JSON null
    bool usage = b->stream && !buffered && !b->client_usage;
    drop[GWB_STREAM] = buffered;
    drop[GWB_STREAM_OPTIONS] = buffered || usage;
    drop[GWB_LOGPROBS] = buffered && !b->client_logprobs;
    GwSpan cut[GWB_N];
    int n = 0;
    for (int k = 0; k < GWB_N; k++)
        if (drop[k] && b->part[k].end > b->part[k].start) cut[n++] = b->part[k];
    qsort(cut, (size_t)n, sizeof *cut, cmp_span);
    bool any = false;
    size_t pos = b->open + 1;
    int rc = buf_reserve(out, b->close + 256) ? ERR_NOMEM : buf_append(out, "{", 1);
    for (int i = 0; i < n && !rc; i++) {
        rc = put_run(out, body, pos, cut[i].start, &any);
        pos = cut[i].end;
    }
    if (!rc) rc = put_run(out, body, pos, b->close, &any);
    if (!rc) rc = buf_printf(out, "%s\"model\":", any ? "," : "");
    any = true;
    if (!rc) rc = gw_body_put_string(out, model);
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)b->add_max_tokens);
    if (!rc && b->add_max_tokens > 0) rc = put_member(out, &any, "max_tokens", num);
    if (!rc && usage) rc = put_member(out, &any, "stream_options", b->usage_options);
    if (!rc && drop[GWB_LOGPROBS]) rc = put_member(out, &any, "logprobs", chat ? "true" : "0");
    return rc ? rc : buf_append(out, "}", 1);
}

int gw_body_append_inputs(Buf *out, const GwBody *b, const char *body, bool *first) {
    const GwSpan *in = &b->part[GWB_INPUT];
    CHECK(in->end > in->value);
    size_t from = in->value, to = in->end;
    if (body[from] == '[') from++, to--;   // the array's items, as the client wrote them
    bool any = !*first;
    size_t before = out->len;
    int rc = put_run(out, body, from, to, &any);
    if (out->len > before) *first = false;
    return rc;
}
