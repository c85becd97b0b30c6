#include "serve/openai_req.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "base/buf.h"
#include "serve/json_check.h"
#include "serve/textout.h"

#define BAD(param, ...) oai_err(err, 400, "invalid_request_error", param, "invalid_value", __VA_ARGS__)
#define BADTYPE(param, what) \
    oai_err(err, 400, "invalid_request_error", param, "invalid_type", "'%s' must be %s", param, what)
#define UNSUPP(param, ...) oai_err(err, 400, "invalid_request_error", param, "unsupported_value", __VA_ARGS__)

// A member that is absent or JSON null counts as not given.
static const cJSON *member(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

// Copies a cJSON string into the arena after checking it is UTF-8 (escapes such as \ud800 can
// smuggle in what the raw-body check could not see).
static int dup_str(Arena *a, const cJSON *v, const char *param, const char **out, OaiError *err) {
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (!textout_utf8_valid(s, n)) return BAD(param, "'%s' is not valid UTF-8 (lone surrogate escape?)", param);
    char *d = arena_strdup(a, (Str){s, n});
    if (!d) return oai_err(err, 500, "server_error", NULL, NULL, "out of memory");
    *out = d;
    return 0;
}

static int get_number(const cJSON *obj, const char *name, double lo, double hi, double *out, OaiError *err) {
    const cJSON *v = member(obj, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return BADTYPE(name, "a number");
    double x = v->valuedouble;
    if (!(x >= lo && x <= hi)) return BAD(name, "'%s' must be between %g and %g, got %g", name, lo, hi, x);
    *out = x;
    return 0;
}

// Integers arrive as JSON numbers; 2.0 is accepted, 2.5 is not. present is set when given.
static int get_int(const cJSON *obj, const char *name, int64_t lo, int64_t hi, int64_t *out, bool *present,
                   OaiError *err) {
    const cJSON *v = member(obj, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return BADTYPE(name, "an integer");
    double x = v->valuedouble;
    // 2^63 itself passes `x <= (double)INT64_MAX`, so also require x < 2^63 before converting.
    if (x != floor(x) || !(x >= (double)lo && x <= (double)hi && x < 9223372036854775808.0))
        return BAD(name, "'%s' must be an integer between %lld and %lld", name, (long long)lo, (long long)hi);
    *out = (int64_t)x;
    if (present) *present = true;
    return 0;
}

static int get_bool(const cJSON *obj, const char *name, bool *out, OaiError *err) {
    const cJSON *v = member(obj, name);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return BADTYPE(name, "true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

static int parse_stop(const cJSON *root, Arena *a, OaiRequest *r, OaiError *err) {
    const cJSON *v = member(root, "stop");
    if (!v) return 0;
    const cJSON *items[OAI_MAX_STOP];
    int64_t n = 0;
    if (cJSON_IsString(v)) {
        items[n++] = v;
    } else if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v) {
            if (!cJSON_IsString(it)) return BADTYPE("stop", "a string or an array of strings");
            if (n == OAI_MAX_STOP) return BAD("stop", "at most %d stop sequences are allowed", OAI_MAX_STOP);
            items[n++] = it;
        }
    } else {
        return BADTYPE("stop", "a string or an array of strings");
    }
    r->stop = arena_array(a, (size_t)(n ? n : 1), sizeof *r->stop);
    if (!r->stop) return oai_err(err, 500, "server_error", NULL, NULL, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        size_t len = strlen(items[i]->valuestring);
        if (len == 0) return BAD("stop", "stop sequences must not be empty");
        if (len > OAI_MAX_STOP_BYTES) return BAD("stop", "stop sequences may be at most %d bytes", OAI_MAX_STOP_BYTES);
        const char *s;
        if (dup_str(a, items[i], "stop", &s, err)) return -1;
        r->stop[i] = (char *)s;
    }
    r->n_stop = n;
    return 0;
}

// prompt: "text" | ["text"] | [1, 2, 3] | [[1, 2, 3]]. One prompt per request (n = 1).
static int parse_prompt(const cJSON *root, Arena *a, OaiRequest *r, OaiError *err) {
    const cJSON *v = member(root, "prompt");
    if (!v) return BAD("prompt", "'prompt' is required");
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON *first = cJSON_GetArrayItem(v, 0);
        if (n == 0) return BAD("prompt", "'prompt' must not be an empty array");
        if (cJSON_IsString(first) || cJSON_IsArray(first)) {
            if (n != 1) return UNSUPP("prompt", "only one prompt per request is supported (got %d)", n);
            v = first;
        }
    }
    if (cJSON_IsString(v)) return dup_str(a, v, "prompt", &r->prompt, err);
    if (!cJSON_IsArray(v)) return BADTYPE("prompt", "a string, an array of token ids, or an array of one of those");
    int64_t n = cJSON_GetArraySize(v);
    if (n == 0) return BAD("prompt", "'prompt' must not be an empty array");
    r->prompt_ids = arena_array(a, (size_t)n, sizeof *r->prompt_ids);
    if (!r->prompt_ids) return oai_err(err, 500, "server_error", NULL, NULL, "out of memory");
    int64_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        double x = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (x != floor(x) || x < 0 || x > INT32_MAX) return BAD("prompt", "token ids in 'prompt' must be integers >= 0");
        r->prompt_ids[i++] = (int32_t)x;
    }
    r->n_prompt_ids = n;
    return 0;
}

// content: "text" | [{"type":"text","text":"..."}...] | null (an empty assistant turn).
static int parse_content(const cJSON *m, Arena *a, const char **out, OaiError *err) {
    const cJSON *c = member(m, "content");
    if (!c) {
        *out = "";
        return 0;
    }
    if (cJSON_IsString(c)) return dup_str(a, c, "messages", out, err);
    if (!cJSON_IsArray(c)) return BADTYPE("messages", "a list whose content is a string or an array of text parts");
    Buf b = {0};
    const cJSON *part;
    int rc = 0;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(text)) {
            rc = UNSUPP("messages", "only text content parts ({\"type\":\"text\",\"text\":...}) are supported");
            goto done;
        }
        if (buf_append_str(&b, text->valuestring)) {
            rc = oai_err(err, 500, "server_error", NULL, NULL, "out of memory");
            goto done;
        }
    }
    if (!textout_utf8_valid(b.data ? b.data : "", b.len)) {
        rc = BAD("messages", "message content is not valid UTF-8");
        goto done;
    }
    *out = arena_strdup(a, (Str){b.data ? b.data : "", b.len});
    if (!*out) rc = oai_err(err, 500, "server_error", NULL, NULL, "out of memory");
done:
    buf_free(&b);
    return rc;
}

static int parse_messages(const cJSON *root, Arena *a, OaiRequest *r, OaiError *err) {
    static const char *roles[] = {"system", "user", "assistant", "developer"};
    const cJSON *v = member(root, "messages");
    if (!v) return BAD("messages", "'messages' is required");
    if (!cJSON_IsArray(v)) return BADTYPE("messages", "an array of messages");
    int64_t n = cJSON_GetArraySize(v);
    if (n == 0) return BAD("messages", "'messages' must hold at least one message");
    r->messages = arena_array(a, (size_t)n, sizeof *r->messages);
    if (!r->messages) return oai_err(err, 500, "server_error", NULL, NULL, "out of memory");
    int64_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        if (!cJSON_IsObject(m)) return BADTYPE("messages", "an array of objects with 'role' and 'content'");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role)) return BAD("messages", "messages[%lld].role must be a string", (long long)i);
        const char *known = NULL;
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
            if (strcmp(role->valuestring, roles[k]) == 0) known = roles[k];
        if (!known)
            return UNSUPP("messages", "messages[%lld].role must be system, user, assistant or developer",
                          (long long)i);
        if (member(m, "tool_calls")) return UNSUPP("messages", "tool calls are not supported");
        r->messages[i].role = known;
        if (parse_content(m, a, &r->messages[i].content, err)) return -1;
        i++;
    }
    r->n_messages = n;
    return 0;
}

// Fields we do not implement: refuse when they would change the answer.
static int refuse_unsupported(const cJSON *root, OaiEndpoint ep, OaiError *err) {
    static const char *zero_fields[] = {"presence_penalty", "frequency_penalty", "repetition_penalty"};
    for (size_t k = 0; k < sizeof zero_fields / sizeof zero_fields[0]; k++) {
        double x = 0;
        if (get_number(root, zero_fields[k], -2, 2, &x, err)) return -1;
        if (x != 0) return UNSUPP(zero_fields[k], "'%s' is not supported; leave it out or set 0", zero_fields[k]);
    }
    int64_t one = 1;
    bool given = false;
    if (get_int(root, "n", 1, 128, &one, &given, err)) return -1;
    if (one != 1) return UNSUPP("n", "only n = 1 is supported; send separate requests for more choices");
    if (get_int(root, "best_of", 1, 128, &one, &given, err)) return -1;
    if (one != 1) return UNSUPP("best_of", "only best_of = 1 is supported");
    if (member(root, "logit_bias")) return UNSUPP("logit_bias", "'logit_bias' is not supported");
    if (member(root, "tools") || member(root, "functions")) return UNSUPP("tools", "tools are not supported");
    const cJSON *rf = member(root, "response_format");
    if (rf) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0)
            return UNSUPP("response_format", "only response_format {\"type\":\"text\"} is supported");
    }
    if (ep == OAI_COMPLETIONS) {
        bool echo = false;
        if (get_bool(root, "echo", &echo, err)) return -1;
        if (echo) return UNSUPP("echo", "'echo' is not supported");
        if (member(root, "suffix")) return UNSUPP("suffix", "'suffix' is not supported");
    }
    return 0;
}

static int parse_logprobs(const cJSON *root, OaiEndpoint ep, OaiRequest *r, OaiError *err) {
    if (ep == OAI_COMPLETIONS) {
        // Completions: logprobs is an integer, the number of alternatives (0 = chosen token only).
        bool given = false;
        if (get_int(root, "logprobs", 0, OAI_MAX_TOP_LOGPROBS, &r->top_logprobs, &given, err)) return -1;
        r->logprobs = given;
        return 0;
    }
    if (get_bool(root, "logprobs", &r->logprobs, err)) return -1;
    bool given = false;
    if (get_int(root, "top_logprobs", 0, OAI_MAX_TOP_LOGPROBS, &r->top_logprobs, &given, err)) return -1;
    if (given && !r->logprobs && r->top_logprobs > 0)
        return BAD("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    return 0;
}

static int parse_root(const cJSON *root, OaiEndpoint ep, Arena *a, OaiRequest *r, OaiError *err) {
    if (!cJSON_IsObject(root)) return oai_err(err, 400, "invalid_request_error", NULL, "invalid_json",
                                              "the request body must be a JSON object");
    const cJSON *model = member(root, "model");
    if (model) {
        if (!cJSON_IsString(model)) return BADTYPE("model", "a string");
        if (dup_str(a, model, "model", &r->model, err)) return -1;
    }
    if (ep == OAI_COMPLETIONS ? parse_prompt(root, a, r, err) : parse_messages(root, a, r, err)) return -1;
    if (refuse_unsupported(root, ep, err)) return -1;
    bool given = false;
    if (get_int(root, "max_tokens", 1, INT32_MAX, &r->max_tokens, &given, err)) return -1;
    if (ep == OAI_CHAT && get_int(root, "max_completion_tokens", 1, INT32_MAX, &r->max_tokens, &given, err))
        return -1;
    if (get_number(root, "temperature", 0, 2, &r->temperature, err)) return -1;
    if (get_number(root, "top_p", 0, 1, &r->top_p, err)) return -1;
    if (member(root, "top_p") && r->top_p <= 0) return BAD("top_p", "'top_p' must be in (0, 1]");
    if (get_int(root, "top_k", -1, INT32_MAX, &r->top_k, NULL, err)) return -1;
    if (r->top_k < 0) r->top_k = 0;
    if (get_number(root, "min_p", 0, 1, &r->min_p, err)) return -1;
    int64_t seed = 0;
    if (get_int(root, "seed", INT64_MIN, INT64_MAX, &seed, &r->has_seed, err)) return -1;
    r->seed = (uint64_t)seed;
    if (parse_stop(root, a, r, err)) return -1;
    if (get_bool(root, "stream", &r->stream, err)) return -1;
    const cJSON *so = member(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so)) return BADTYPE("stream_options", "an object");
        if (!r->stream) return BAD("stream_options", "'stream_options' is only allowed with 'stream': true");
        if (get_bool(so, "include_usage", &r->include_usage, err)) return -1;
    }
    if (parse_logprobs(root, ep, r, err)) return -1;
    if (get_int(root, "priority", INT32_MIN, INT32_MAX, &r->priority, NULL, err)) return -1;
    if (get_bool(root, "ignore_eos", &r->ignore_eos, err)) return -1;
    return 0;
}

int oai_req_parse(OaiEndpoint ep, const char *body, size_t len, Arena *a, OaiRequest *out, OaiError *err) {
    *out = (OaiRequest){.endpoint = ep, .max_tokens = -1, .temperature = 1.0, .top_p = 1.0};
    if (!textout_utf8_valid(body, len))
        return oai_err(err, 400, "invalid_request_error", NULL, "invalid_utf8", "the request body is not valid UTF-8");
    char why[200];
    cJSON *root = json_check_parse(body, len, why, sizeof why);
    if (!root) return oai_err(err, 400, "invalid_request_error", NULL, "invalid_json", "%s", why);
    int rc = parse_root(root, ep, a, out, err);
    cJSON_Delete(root);
    return rc;
}
