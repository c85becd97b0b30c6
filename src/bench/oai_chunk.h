// oai_chunk.h — reads one OpenAI-compatible response object (a streamed chunk of /v1/chat/completions
// or /v1/completions, or a whole non-streamed response) without allocating: a small JSON walker
// that validates the syntax and picks out only what the load generator needs.
//
// Paths read (first choice only; a load generator sends n=1):
//   choices[0].delta.content, choices[0].delta.reasoning_content   (chat stream)
//   choices[0].delta.tool_calls[*].function.arguments               (chat stream, tool calls)
//   choices[0].text                                                (completions)
//   choices[0].message.content                                     (chat, not streamed)
//   choices[0].finish_reason, usage.prompt_tokens, usage.completion_tokens, error
#ifndef RS_BENCH_OAI_CHUNK_H
#define RS_BENCH_OAI_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

typedef struct {
    int64_t content_bytes;     // bytes of generated text in this object (escaped form); 0 = none
    bool finished;             // choices[0].finish_reason is a non-null string
    bool has_usage;            // usage.completion_tokens was present and a non-negative integer
    int64_t completion_tokens; // from usage (valid when has_usage)
    int64_t prompt_tokens;     // from usage, -1 when absent
    bool has_error;            // a top-level "error" member that is not null
} OaiChunk;

// Parses json (one complete JSON object). Returns 0 and fills *out, or ERR_FORMAT for anything
// that is not a well-formed JSON object (nesting deeper than 64 counts as malformed).
int oai_chunk_scan(Str json, OaiChunk *out);

#endif
