// openai_req.h — parse and validate the body of POST /v1/completions and /v1/chat/completions
// (OpenAI's request shapes, plus vLLM's top_k, min_p, priority and ignore_eos) into an OaiRequest.
//
// Every field is checked for type and range; a bad one yields a 400 OaiError whose `param` names
// the field. The body must be UTF-8 JSON. Unknown fields are ignored (clients send extras such as
// `user`), but fields that would change the output and that we do not implement (n > 1,
// penalties, logit_bias, tools, echo, suffix, best_of > 1) are refused rather than silently dropped.
#ifndef RS_OPENAI_REQ_H
#define RS_OPENAI_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "serve/openai_err.h"

typedef enum { OAI_COMPLETIONS = 0, OAI_CHAT = 1 } OaiEndpoint;

#define OAI_MAX_STOP 16          // stop strings per request
#define OAI_MAX_STOP_BYTES 256   // bytes per stop string
#define OAI_MAX_TOP_LOGPROBS 20  // alternatives per token (vLLM's limit)

typedef struct {
    const char *role;     // "system", "user", "assistant", "developer" (as sent)
    const char *content;  // text; array-of-parts content is joined (text parts only)
} OaiMessage;

typedef struct {
    OaiEndpoint endpoint;
    const char *model;          // NULL when absent (the served model is meant)
    // Completions: the prompt as text, or as token ids (prompt_ids != NULL).
    const char *prompt;
    int32_t *prompt_ids;
    int64_t n_prompt_ids;
    // Chat: the conversation.
    OaiMessage *messages;
    int64_t n_messages;
    int64_t max_tokens;         // -1: not given (completions default 16, chat: to the context end)
    double temperature;         // default 1.0
    double top_p;               // default 1.0
    int64_t top_k;              // default 0 = off (-1 is accepted as off, like vLLM)
    double min_p;               // default 0 = off
    bool has_seed;
    uint64_t seed;
    char **stop;                // n_stop non-empty strings
    int64_t n_stop;
    bool stream;
    bool include_usage;         // stream_options.include_usage
    bool logprobs;              // return per-token logprobs
    int64_t top_logprobs;       // alternatives per token, 0..OAI_MAX_TOP_LOGPROBS
    int64_t priority;           // vLLM's field; lower is sooner; default 0
    bool ignore_eos;            // vLLM's field: keep generating past end-of-sequence tokens
} OaiRequest;

// Parses body[0..len) for endpoint ep. Strings and arrays in *out live in arena a (the caller
// frees it after the request). Returns 0, or -1 with *err filled (status 400).
int oai_req_parse(OaiEndpoint ep, const char *body, size_t len, Arena *a, OaiRequest *out, OaiError *err);

#endif
