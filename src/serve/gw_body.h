// gw_body.h — a client's request body as the gateway sees it: checked once (json_check's checks,
// limits.max_tokens, what routing needs), then forwarded to each tier by splicing the few
// top-level members the gateway changes (model, max_tokens, stream, stream_options, logprobs)
// into the client's own bytes. No JSON tree is kept or printed per call, so a call on a 1 MiB
// body costs one memcpy of it, not a parse and a print.
#ifndef RS_GW_BODY_H
#define RS_GW_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "policy/router.h"

// Top-level members the gateway rewrites or reads raw, by name.
typedef enum { GWB_MODEL = 0, GWB_MAX_TOKENS, GWB_STREAM, GWB_STREAM_OPTIONS, GWB_LOGPROBS, GWB_INPUT, GWB_N } GwBodyPart;

typedef struct {
    size_t start, value, end;   // a member's key's opening quote, its value's first byte, one past its value;
                                // all 0: absent
} GwSpan;

typedef struct {
    char model[96];            // the client's "model" (empty: none or null)
    bool stream;               // "stream": true
    bool client_logprobs;      // the client asked for logprobs
    bool client_usage;         // the client asked for a stream's usage chunk (stream_options.include_usage)
    int64_t prompt_chars;      // routing's size of the prompt (characters; 1 per non-string item)
    int64_t n_inputs;          // embeddings: the number of inputs
    int64_t add_max_tokens;    // max_tokens the gateway adds (neither max_tokens nor max_completion_tokens given), or 0
    int64_t max_tokens;        // the most tokens the backend may generate (given or added; 0: embeddings)
    GwSpan part[GWB_N];        // offsets into the body
    size_t open, close;        // the object's '{' and '}'
    char *usage_options;       // stream_options with include_usage true (a stream whose client did not ask), or NULL; owned
} GwBody;

// Checks body[0..len) for endpoint ep (json_check's checks; the caps of limits.max_tokens =
// max_tokens_limit for both token fields; what each endpoint requires) and fills *b. Returns 0, or
// an HTTP status (400) with msg filled. The body must stay unchanged while *b is used.
// Thread-safe (no shared state): the gateway calls it on its loop thread for small bodies and on
// its check thread for big ones.
// tree: when non-NULL, receives the parsed body (the caller frees it with cJSON_Delete; NULL on
// failure); else the tree is freed here.
int gw_body_check(GwBody *b, const char *body, size_t len, RouterEndpoint ep, int64_t max_tokens_limit, char *msg,
                  size_t cap, cJSON **tree);
void gw_body_free(GwBody *b);

// Appends to out the body sent to a tier: the client's members with "model" set to model; with
// buffered (a cascade's first call, a canary shadow) "stream"/"stream_options" dropped and token
// logprobs asked for (unless the client asked for its own); a stream always asks for its usage
// chunk. chat: the chat endpoint (logprobs: true rather than 0). 0 or ERR_NOMEM.
int gw_body_for_call(Buf *out, const GwBody *b, const char *body, const char *model, bool buffered, bool chat);

// Appends the body's embeddings inputs to out as JSON array items (no brackets), after a comma
// unless *first; *first becomes false once an item is written. 0 or ERR_NOMEM.
int gw_body_append_inputs(Buf *out, const GwBody *b, const char *body, bool *first);

// Appends s as a JSON string (quoted, escaped). 0 or ERR_NOMEM.
int gw_body_put_string(Buf *out, const char *s);

#endif
