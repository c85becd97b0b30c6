// A recursive-descent JSON walker that tracks the path from the root (keys and array indices) and
// reports string/number/null values at the few paths oai_chunk.h lists. It checks the grammar
// (RFC 8259) but does not decode strings or convert numbers it does not need.
#include "bench/oai_chunk.h"

#include <string.h>

#include "base/check.h"

enum { OAI_CHUNK_MAX_DEPTH = 64 };

typedef struct {
    const char *s, *end;
    // Path: key (when is_key) or array index per depth.
    Str key[OAI_CHUNK_MAX_DEPTH];
    int64_t index[OAI_CHUNK_MAX_DEPTH];
    bool is_key[OAI_CHUNK_MAX_DEPTH];
    int depth;
    OaiChunk *out;
} Walker;

static void ws(Walker *w) {
    while (w->s < w->end && (*w->s == ' ' || *w->s == '\t' || *w->s == '\n' || *w->s == '\r')) w->s++;
}

static bool at_key(const Walker *w, int d, const char *k) {
    return d < w->depth && w->is_key[d] && str_eq_c(w->key[d], k);
}
static bool at_index(const Walker *w, int d, int64_t i) {
    return d < w->depth && !w->is_key[d] && w->index[d] == i;
}

// Parses a string at w->s (on the opening quote); sets *body to the raw (escaped) contents.
static int parse_string(Walker *w, Str *body) {
    if (w->s >= w->end || *w->s != '"') return ERR_FORMAT;
    const char *start = ++w->s;
    while (w->s < w->end) {
        unsigned char c = (unsigned char)*w->s;
        if (c == '"') {
            *body = (Str){start, (size_t)(w->s - start)};
            w->s++;
            return 0;
        }
        if (c < 0x20) return ERR_FORMAT;
        if (c == '\\') {
            if (++w->s >= w->end) return ERR_FORMAT;
            char e = *w->s;
            if (e == 'u') {
                if (w->end - w->s < 5) return ERR_FORMAT;
                for (int k = 1; k <= 4; k++) {
                    char h = w->s[k];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return ERR_FORMAT;
                }
                w->s += 4;
            } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
                return ERR_FORMAT;
            }
        }
        w->s++;
    }
    return ERR_FORMAT;
}

// Parses a number; *int_val gets its value when it is a non-negative integer below 2^62, else -1.
static int parse_number(Walker *w, int64_t *int_val) {
    const char *p = w->s;
    bool neg = false, integral = true;
    int64_t v = 0;
    if (p < w->end && *p == '-') { neg = true; p++; }
    if (p >= w->end || *p < '0' || *p > '9') return ERR_FORMAT;
    if (*p == '0') {
        p++;
    } else {
        while (p < w->end && *p >= '0' && *p <= '9') {
            if (v > ((int64_t)1 << 62) / 10) integral = false;
            else v = v * 10 + (*p - '0');
            p++;
        }
    }
    if (p < w->end && *p == '.') {
        integral = false;
        p++;
        if (p >= w->end || *p < '0' || *p > '9') return ERR_FORMAT;
        while (p < w->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < w->end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < w->end && (*p == '+' || *p == '-')) p++;
        if (p >= w->end || *p < '0' || *p > '9') return ERR_FORMAT;
        while (p < w->end && *p >= '0' && *p <= '9') p++;
    }
    w->s = p;
    *int_val = (integral && !neg) ? v : -1;
    return 0;
}

static int literal(Walker *w, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(w->end - w->s) < n || memcmp(w->s, lit, n) != 0) return ERR_FORMAT;
    w->s += n;
    return 0;
}

// The scalar at the current path: record what oai_chunk.h promises.
static void on_string(Walker *w, Str v) {
    OaiChunk *o = w->out;
    if (at_key(w, 0, "choices") && at_index(w, 1, 0)) {
        bool content = (w->depth == 4 && at_key(w, 2, "delta") &&
                        (at_key(w, 3, "content") || at_key(w, 3, "reasoning_content"))) ||
                       (w->depth == 4 && at_key(w, 2, "message") && at_key(w, 3, "content")) ||
                       (w->depth == 3 && at_key(w, 2, "text")) ||
                       (w->depth == 7 && at_key(w, 2, "delta") && at_key(w, 3, "tool_calls") &&
                        at_key(w, 5, "function") && at_key(w, 6, "arguments"));
        if (content) o->content_bytes += (int64_t)v.len;
        if (w->depth == 3 && at_key(w, 2, "finish_reason")) o->finished = true;
    }
    if (w->depth == 1 && at_key(w, 0, "error")) o->has_error = true;
}

static void on_number(Walker *w, int64_t v) {
    OaiChunk *o = w->out;
    if (w->depth == 2 && at_key(w, 0, "usage")) {
        if (at_key(w, 1, "completion_tokens") && v >= 0) {
            o->has_usage = true;
            o->completion_tokens = v;
        }
        if (at_key(w, 1, "prompt_tokens") && v >= 0) o->prompt_tokens = v;
    }
}

static int parse_value(Walker *w);

// After an object member or array element: ',' → 1 (another follows), the closing character →
// 0 (consumed), anything else → ERR_FORMAT.
static int list_next(Walker *w, char close) {
    ws(w);
    if (w->s >= w->end) return ERR_FORMAT;
    if (*w->s == ',') { w->s++; return 1; }
    if (*w->s == close) { w->s++; return 0; }
    return ERR_FORMAT;
}

static int parse_object(Walker *w) {
    w->s++;  // '{'
    if (w->depth >= OAI_CHUNK_MAX_DEPTH) return ERR_FORMAT;
    ws(w);
    if (w->s < w->end && *w->s == '}') { w->s++; return 0; }
    for (;;) {
        ws(w);
        Str key;
        if (parse_string(w, &key)) return ERR_FORMAT;
        ws(w);
        if (w->s >= w->end || *w->s != ':') return ERR_FORMAT;
        w->s++;
        w->key[w->depth] = key;
        w->is_key[w->depth] = true;
        w->depth++;
        int rc = parse_value(w);
        w->depth--;
        if (rc) return rc;
        if ((rc = list_next(w, '}')) <= 0) return rc;
    }
}

static int parse_array(Walker *w) {
    w->s++;  // '['
    if (w->depth >= OAI_CHUNK_MAX_DEPTH) return ERR_FORMAT;
    ws(w);
    if (w->s < w->end && *w->s == ']') { w->s++; return 0; }
    for (int64_t i = 0;; i++) {
        w->index[w->depth] = i;
        w->is_key[w->depth] = false;
        w->depth++;
        int rc = parse_value(w);
        w->depth--;
        if (rc) return rc;
        if ((rc = list_next(w, ']')) <= 0) return rc;
    }
}

static int parse_value(Walker *w) {
    ws(w);
    if (w->s >= w->end) return ERR_FORMAT;
    switch (*w->s) {
    case '{':
        if (w->depth == 1 && at_key(w, 0, "error")) w->out->has_error = true;
        return parse_object(w);
    case '[': return parse_array(w);
    case '"': {
        Str v;
        if (parse_string(w, &v)) return ERR_FORMAT;
        on_string(w, v);
        return 0;
    }
    case 't': return literal(w, "true");
    case 'f': return literal(w, "false");
    case 'n': return literal(w, "null");
    default: {
        int64_t v;
        if (parse_number(w, &v)) return ERR_FORMAT;
        on_number(w, v);
        return 0;
    }
    }
}

int oai_chunk_scan(Str json, OaiChunk *out) {
    *out = (OaiChunk){.prompt_tokens = -1};
    Walker w = {.s = json.ptr, .end = json.ptr + json.len, .out = out};
    ws(&w);
    if (w.s >= w.end || *w.s != '{') return ERR_FORMAT;
    int rc = parse_value(&w);
    if (rc) return rc;
    ws(&w);
    return w.s == w.end ? 0 : ERR_FORMAT;
}
