// calib_url.h — calibrate a LIVE OpenAI-compatible endpoint (`rightsize calibrate --url`): drive
// it with designed request mixes through the load generator (src/bench/loadgen.h) and fit the
// planner's step-time model from what streamed responses reveal, with the shared NNLS
// (calib_nnls_rel in calibrate.h).
//
// Design: prompt lengths P (words) × closed-loop concurrency C. Each point runs C workers,
// max(C, 4) requests per round, the rounds interleaved (round r visits every point before r + 1),
// every request asking for exactly M tokens (ignore_eos). The C workers
// start together and, with equal lengths, finish together, so a point's steps are one prefill
// of the C prompts then M−1 pure decode steps of C rows. Observables per point (medians over
// requests, so a stray slow step does not move them):
//   ITL  ≈ one decode step of C rows, context per row Pt + i on step i (Pt = usage.prompt_tokens):
//          itl = b0 + b2·C + b3·C·(Pt + M/2)                       (mean context over the steps)
//   TTFT at C = 1 ≈ the request's time outside engine steps (HTTP, tokenization) + one prefill
//          (the server's own TTFT where it says it: CalibUrlPoint.hop_us):
//          ttft = overhead + b0 + b1·Pt + b3·Pt
// Five unknowns (b0..b3 and the per-request overhead), fitted jointly on relative error with
// every unknown >= 0. b1 and b3 are told apart only by the ITL rows' context term, b0 and the
// overhead only by ITL rows (no overhead) against TTFT rows: with few levels the split is
// loose, and the per-row errors are reported so the reader can judge.
#ifndef RS_BENCH_CALIB_URL_H
#define RS_BENCH_CALIB_URL_H

#include <stddef.h>
#include <stdint.h>

#include "bench/calibrate.h"
#include "bench/loadgen.h"
#include "bench/promptgen.h"

#define CALIB_URL_MAX_LEVELS 8

typedef struct {
    const char *url, *model, *api_key;
    LgApi api;
    int64_t prompt_words[CALIB_URL_MAX_LEVELS];
    int n_prompts;
    int64_t concurrency[CALIB_URL_MAX_LEVELS];
    int n_conc;
    int64_t output_tokens;   // M per request (>= 4)
    int64_t rounds;          // requests per worker at each point (>= 1)
    int64_t idle_us;         // > 0: also probe what waking an idle server costs (CalibUrlCold)
    // non-NULL: also probe what a busy neighbour costs (CalibUrlColo): neighbour_model is served at
    // neighbour_url (NULL: url) by another replica on the same machine
    const char *neighbour_model, *neighbour_url;
    int64_t timeout_us;
    const PromptGen *prompts;
    uint64_t seed;
} CalibUrlDesign;

// One measured point (medians over the point's ok requests).
typedef struct {
    int64_t words, conc;
    double prompt_tokens;    // usage.prompt_tokens (the requested words when the server omits it)
    double output_tokens;
    double ttft_us;          // 0 when there was no sample
    double itl_us;           // decode time per token: the median over requests of (e2e − TTFT) /
                             // (output tokens − 1) (robust to tokens bunched into one event);
                             // the median event gap when no request had two tokens
    int64_t n_ok, n_err;
    double ttft_fit_us, itl_fit_us;  // filled by calib_url_fit
    // Against a rightsize gateway or worker (its x-rightsize-ttft-ms): ttft_us is the server's own
    // TTFT, from its reading of the request, as its telemetry records it, so the fitted overhead is
    // what the records see; hop_us is the median of the client's TTFT less it (the client's side of the
    // hop: sending, connecting, the gateway reading the request), which no record sees. 0 without.
    double hop_us;
    int64_t n_server;                // requests that carried the gateway's TTFT
} CalibUrlPoint;

// The client's side of the hop over n points: the median of the points' hop_us among those that
// carried the gateway's TTFT (0 when none did); *n_server gets the requests that carried it.
double calib_url_hop_us(const CalibUrlPoint *pts, int64_t n, int64_t *n_server);

typedef struct {
    CalibFit step;           // b0..b3 and the error over every row used (rmse, mape)
    double overhead_us;      // per-request time outside engine steps
    int64_t n_ttft_rows, n_itl_rows;
    double mape_ttft, mape_itl;   // mean |fit − y| / y over each kind of row
} CalibUrlFit;

// Checks the design (levels in range, at least one C = 1 point and two prompt levels so the fit
// has TTFT rows to place the overhead). 0 or ERR_ARG with one line in err.
int calib_url_check(const CalibUrlDesign *d, char *err, size_t err_len);

// Reduces one load-generator run of a point to its medians (pure; res->itl_us is sorted).
// 0, or ERR_NOMEM.
int calib_url_reduce(LgResult *res, int64_t words, int64_t conc, CalibUrlPoint *out);

// Merges the n rounds of one point: medians over the rounds that had an ok request of TTFT, ITL,
// prompt and output tokens; n_ok and n_err summed. 0, or ERR_NOMEM.
int calib_url_merge_rounds(const CalibUrlPoint *rounds, int64_t n, CalibUrlPoint *out);

// The cold probe (idle_us > 0): each round, after its points, one open-loop run of single
// requests at the middle prompt length (the load generator stays up between them, as a bench's
// does), two cycles of idle gaps idle, idle/4 and idle/16: each request goes out its gap after the
// previous one's expected end. The warm reference is the same length's concurrency-1 point (back
// to back). Per level, the medians over every round's requests and of their real idle gaps.
#define CALIB_URL_COLD_GAPS 3
typedef struct {
    int64_t idle_us;   // 0: not probed
    double gap_us[CALIB_URL_COLD_GAPS + 1];           // [0] 0 (warm); then the median real idle gaps
    CalibUrlPoint at[CALIB_URL_COLD_GAPS + 1];        // [0] the warm point; medians after each gap
    double wake_us[CALIB_URL_COLD_GAPS + 1];          // TTFT after the gap − warm TTFT
    double step_factor[CALIB_URL_COLD_GAPS + 1];      // ITL after the gap / warm ITL
} CalibUrlCold;

// Reduces the probe (pure): level l in 1..CALIB_URL_COLD_GAPS has n_level[l] requests at
// req[l·stride ..] with their real idle gaps at gap[l·stride ..]; per level the medians
// (calib_url_merge_rounds) and the median gap, wake_us and step_factor against warm.
// 0, ERR_NOMEM, or ERR_IO when warm or a level has no ok request with two tokens.
int calib_url_cold_reduce(const CalibUrlPoint *req, const double *gap, int64_t stride, const int64_t *n_level,
                          const CalibUrlPoint *warm, int64_t idle_us, CalibUrlCold *cold);

// The machine's scatter: how a single request's decode time per token spreads around its point's
// median, pooled over every concurrency-1 request (the points' and the cold probe's, each over
// the median of its own point or idle level, so neither the prompt length nor a cold start moves
// it). A shared VM's steps move ±25% from one request to the next; the fit's medians leave that
// out, and the plan's p95 with it (the profile's spread:, steptime.h).
#define CALIB_URL_SPREAD_N 16      // quantiles kept, at probabilities (i + 1/2) / N
#define CALIB_URL_SPREAD_MIN 32    // fewer ratios than this: no spread (the tails would be guesses)
typedef struct {
    int n;                           // 0: too few samples
    double factor[CALIB_URL_SPREAD_N];
    double window_us;                // the median span (e2e) of the requests measured
    int64_t n_samples;
} CalibUrlSpread;

// Reduces n ratios (request ITL / its point's median; sorted in place) and the requests' median
// span to a spread (pure). Quantiles interpolate linearly between order statistics.
void calib_url_spread(double *ratio, int64_t n, double window_us, CalibUrlSpread *out);

// The co-location probe (neighbour_model): each round, after its points, a closed loop of
// concurrency-1 requests to the neighbour (another replica on the same machine: a second worker
// behind the same gateway, say) keeps it decoding while POINT_MIN_REQUESTS (4) requests of the middle
// prompt length go to the endpoint one after another; their decode times per token, pooled over
// the rounds, against the same length's concurrency-1 point (back to back, no neighbour busy) give
// the profile's colocated: factor — what sharing the machine's cores, memory bandwidth and the
// gateway's CPU with one busy neighbour costs a step. A factor below 1, or above it by less than
// two standard errors of its median (from the median absolute deviation), is kept as 1.
typedef struct {
    int64_t n;               // 0: not probed; else the requests measured beside a busy neighbour
    int64_t neighbour_ok;    // the neighbour's requests that ended ok
    double itl_us;           // their median decode time per token
    double alone_itl_us;     // the reference point's (no neighbour busy)
    double se_us;            // standard error of itl_us
    double factor;           // itl_us / alone_itl_us, gated as above (>= 1)
} CalibUrlColo;

// Reduces the probe (pure): n decode times per token beside a busy neighbour (overwritten)
// against the alone reference. 0, or ERR_IO when either has no sample.
int calib_url_colo_reduce(double *itl, int64_t n, double alone_itl_us, CalibUrlColo *out);

typedef void (*CalibUrlProgressFn)(void *ctx, int64_t i, int64_t n, const CalibUrlPoint *p);

// Runs the design against the endpoint (a warm-up request first), rounds outermost; a point's
// figures are the medians of its rounds (calib_url_merge_rounds), its requests closed loop (back
// to back: the warm speed). With idle_us > 0 each round also runs the cold probe (open-loop
// traffic below saturation meets an idle server: a VM's idle vCPUs halt and its caches cool
// between requests), reduced into *cold (cold->idle_us = 0 otherwise; cold may be NULL without
// idle_us). pts must hold n_prompts × n_conc points; *n_points gets the count. Returns 0, or
// ERR_IO/ERR_ARG with one line in err (the endpoint failed every request of a point, the load
// generator could not start). spread (may be NULL) gets the concurrency-1 requests' scatter; colo
// (needed with neighbour_model, else may be NULL) the co-location probe's result.
int calib_url_run(const CalibUrlDesign *d, CalibUrlPoint *pts, int64_t *n_points, CalibUrlCold *cold,
                  CalibUrlSpread *spread, CalibUrlColo *colo, CalibUrlProgressFn progress, void *progress_ctx,
                  char *err, size_t err_len);

// Fits the five unknowns over the points (rows as in the header comment; points without a
// sample are skipped) and fills each point's fitted values. Returns 0; ERR_ARG with one line in
// err when fewer than 5 rows are usable or no TTFT row exists.
int calib_url_fit(CalibUrlPoint *pts, int64_t n, CalibUrlFit *out, char *err, size_t err_len);

#endif
