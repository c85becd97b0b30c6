// openai_resp.h — encode what a GenJob produced in OpenAI's response shapes: whole bodies for
// /v1/completions and /v1/chat/completions, Server-Sent-Events chunks when streaming ("data:
// {...}\n\n" ... "data: [DONE]\n\n"), logprobs in each endpoint's own shape, usage, a `timings`
// object (llama.cpp's idea: queue, prompt and generation times per request), errors, and the
// /v1/models list. Text is always emitted as valid JSON: bytes that are not UTF-8 (a token holding
// half a character) become U+FFFD in strings; chat logprobs also carry the exact `bytes`.
#ifndef RS_OPENAI_RESP_H
#define RS_OPENAI_RESP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "serve/gen_job.h"
#include "serve/openai_err.h"
#include "serve/openai_req.h"

typedef struct {
    OaiEndpoint endpoint;
    char id[48];            // "cmpl-<hex>" or "chatcmpl-<hex>"
    int64_t created;        // Unix seconds
    const char *model;      // the served model name
    bool logprobs;
    int32_t n_top;
    bool include_usage;     // streaming: a last chunk with usage and no choices
} OaiRespCtx;

// Where a stream is: what was already sent.
typedef struct {
    size_t text;            // bytes of job->out sent
    int64_t toks;           // tokens (with logprobs) sent
    bool started;           // chat: the role chunk went out
    bool done;              // "data: [DONE]" went out
} OaiStreamPos;

// Fills c->id from the job id and the endpoint.
void oai_resp_ctx_init(OaiRespCtx *c, OaiEndpoint ep, uint64_t job_id, int64_t created, const char *model,
                       const OaiRequest *req);

// {"error":{...}}. Returns 0 or ERR_NOMEM (as every function here).
int oai_resp_error(Buf *out, const OaiError *e);
// {"object":"list","data":[{"id":model,...,"max_model_len":n_ctx}]}
int oai_resp_models(Buf *out, const char *model, int64_t created, int64_t n_ctx);
// The whole response body for a finished job. Call with j->mu held.
int oai_resp_body(Buf *out, const OaiRespCtx *c, const GenJob *j);
// Appends SSE events for everything the job released since *pos, and when the job is finished
// the final chunk (finish_reason, timings), the usage chunk if asked, and "data: [DONE]".
// Advances *pos. Call with j->mu held.
int oai_resp_sse(Buf *out, const OaiRespCtx *c, const GenJob *j, OaiStreamPos *pos);
// The `timings` object alone (also used for headers): milliseconds since arrival.
int oai_resp_timings(Buf *out, const GenJob *j);
// Queue and time-to-first-token in milliseconds (-1 when not yet known). Call with j->mu held.
double oai_resp_queue_ms(const GenJob *j);
double oai_resp_ttft_ms(const GenJob *j);

// JSON string literal (with quotes) of s[0..len), invalid UTF-8 replaced by U+FFFD.
int oai_json_str(Buf *out, const char *s, size_t len);

#endif
