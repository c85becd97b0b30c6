// loadgen.h — an event-driven HTTP load generator for OpenAI-compatible streaming endpoints.
//
// One thread, one epoll set, libcurl multi in socket-action mode (slots sharded over multi handles
// of 256): thousands of concurrent SSE streams cost a socket and a Slot each, not a thread. Two ways to drive it:
//   open loop   — cfg.schedule gives every send time up front. A request goes out at its time
//                 whatever the server is doing (only cfg.max_in_flight can hold it back, and such
//                 sends are counted), and TTFT/end-to-end latency are measured from the SCHEDULED
//                 time, so a stalled server shows as latency, not as fewer samples (no coordinated
//                 omission). The send timer is a timerfd on CLOCK_MONOTONIC (µs resolution).
//   closed loop — cfg.concurrency workers each send their next request when the previous one ends,
//                 cfg.n_requests in all; latency is measured from the actual send.
// Per request: TTFT = first chunk with generated text, inter-token latency (ITL) = gap between
// consecutive chunks with text (a chunk with text counts as one token), end-to-end = last byte.
// Output tokens are usage.completion_tokens from the final chunk when the server sends it
// (the request asks for stream_options.include_usage), else the count of chunks with text.
#ifndef RS_LOADGEN_H
#define RS_LOADGEN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/promptgen.h"
#include "bench/arrivals.h"
#include "bench/samples.h"

// EMBEDDINGS: POST /embeddings {"input": prompt}, one JSON answer (no stream, no output tokens).
typedef enum { LG_API_CHAT = 0, LG_API_COMPLETIONS = 1, LG_API_EMBEDDINGS = 2 } LgApi;

// How a request ended. Transitions: NOT_SENT → (sent) → exactly one of the others at completion.
typedef enum {
    LG_OK = 0,
    LG_ERR_429,        // HTTP 429 Too Many Requests
    LG_ERR_4XX,        // any other 4xx
    LG_ERR_5XX,        // 5xx
    LG_ERR_TIMEOUT,    // no complete response within cfg.timeout_us of the send
    LG_ERR_CONNECTION, // refused, reset, closed before or during the response
    LG_ERR_PROTOCOL,   // 200 but not a valid OpenAI stream (bad JSON, error object, truncated)
    LG_ERR_OTHER,      // anything else (1xx/3xx final status, local failures)
    LG_NOT_SENT,       // the run was stopped before its time came
    LG_N_OUTCOMES
} LgOutcome;

// Stable lower-case name of an outcome ("http_429", "timeout", ...), used in text and JSON.
const char *lg_outcome_name(LgOutcome o);

typedef struct {
    int64_t sched_us;       // scheduled send, µs after run start (closed loop: actual send)
    int64_t sent_us;        // actual send, µs after run start; -1 when never sent
    int64_t ttft_us;        // first generated text − sched_us; -1 when none arrived
    int64_t e2e_us;         // completion − sched_us; -1 when never sent
    int64_t output_tokens;  // usage.completion_tokens when present, else content_chunks
    int64_t content_chunks; // chunks that carried generated text
    int64_t prompt_tokens;  // usage.prompt_tokens; -1 when the server did not say
    int32_t input_tokens;   // requested prompt length (words)
    int32_t max_tokens;     // requested max_tokens
    int32_t http_status;    // 0 when no response status arrived
    uint8_t outcome;        // LgOutcome
    bool usage_seen;        // output_tokens came from usage
    bool cost_seen;         // the response had an x-rightsize-cost-usd header
    bool delayed_by_cap;    // open loop: it was due while max_in_flight streams were open
    double cost_usd;        // x-rightsize-cost-usd (header or trailer), 0 when absent
    int64_t server_ttft_us; // x-rightsize-ttft-ms (header or trailer): the TTFT a rightsize
                            // gateway's record carries, from its reading of the request; -1 when absent
} LgRecord;

typedef struct {
    int64_t elapsed_us, total, sent, done, in_flight, errors;
    double rps_last_s;  // completions during the last second
} LgProgress;
typedef void (*LgProgressFn)(void *ctx, const LgProgress *p);

typedef struct {
    const char *url;           // base URL ("http://host:port/v1"); "/chat/completions" or
                               // "/completions" is appended unless it already ends in "completions"
    LgApi api;
    const char *model;         // "model" field of each request
    const char *api_key;       // sent as "Authorization: Bearer KEY" when non-NULL
    const ArrivalSchedule *schedule;  // open loop when non-NULL
    int64_t concurrency;       // closed loop: workers
    int64_t n_requests;        // closed loop: requests in all
    int32_t input_tokens;      // closed loop: prompt words per request
    int32_t output_tokens;     // closed loop: max_tokens per request
    int64_t max_in_flight;     // bound on open streams (open loop); sockets needed ≈ this
    int64_t timeout_us;        // per request, from its send
    const PromptGen *prompts;
    uint64_t seed;             // prompt word choice
    bool ignore_eos;           // add "ignore_eos": true (vLLM, llama.cpp) so output = max_tokens
    const volatile sig_atomic_t *stop;  // when it becomes non-zero: no new sends, finish the rest
    LgProgressFn on_progress;  // called about once a second (may be NULL)
    void *progress_ctx;
} LgConfig;

typedef struct {
    LgRecord *rec;        // owned; one per scheduled (or closed-loop) request, in send order
    int64_t n;
    Samples itl_us;       // every ITL gap of the requests that ended LG_OK
    int64_t t0_mono_us;   // clock_now_us() at the run's time zero (aligns server logs)
    int64_t end_us;       // last completion, µs after time zero
    int64_t max_in_flight_seen;
    bool stopped;         // cfg.stop fired
} LgResult;

// Runs the load and fills *out (caller frees with lg_result_free, also after a failure).
// Returns 0, or ERR_ARG (bad config, words in err), ERR_NOMEM, ERR_IO (epoll/curl set-up failed).
int lg_run(const LgConfig *cfg, LgResult *out, char *err, size_t err_len);
void lg_result_free(LgResult *r);

#endif
