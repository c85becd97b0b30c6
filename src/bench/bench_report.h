// bench_report.h — turns a load-generator run into figures: latency percentiles (exact, from every
// sample), throughput, goodput under SLOs, errors by kind, summed cost; renders them as text, as
// JSON (schema "rightsize.bench/1", documented in docs/bench-json.md) and as a per-request CSV.
#ifndef RS_BENCH_REPORT_H
#define RS_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "bench/loadgen.h"
#include "bench/samples.h"

// What the run was asked to do, echoed in the report.
typedef struct {
    const char *url, *endpoint, *model, *mode;  // mode: "open" or "closed"
    const char *workload;                        // workload file or NULL
    double rate_rps, duration_s;                 // open loop (0 otherwise)
    int64_t concurrency, requests;               // closed loop (0 otherwise)
    int64_t input_tokens, output_tokens;         // flag values (-1 when from a workload)
    int64_t max_in_flight;
    double timeout_s;
    uint64_t seed;
    double slo_ttft_ms, slo_e2e_ms;              // per-request bounds for goodput; 0 = none
    // Percentile SLOs (from a workload): checked against the run's percentiles; 0 = none.
    double slo_ttft_p95_ms, slo_tpot_p95_ms, slo_e2e_p95_ms, slo_e2e_p99_ms;
    char workload_name[64];                      // workload mode: its name
    double window_start_s;                       // workload mode: window start in its day (-1 otherwise)
    double rate_scale;                           // workload mode: rate multiplier
} BenchParams;

// One percentile SLO checked against the run.
typedef struct {
    const char *metric;    // "ttft", "tpot", "e2e"
    const char *quantile;  // "p95", "p99"
    double limit_ms, measured_ms;
    bool met;              // measured <= limit, and the metric has samples
} BenchSloCheck;

typedef struct {
    int64_t scheduled, sent, completed, ok, delayed_by_cap;
    int64_t errors[LG_N_OUTCOMES];  // indexed by LgOutcome; [LG_OK] stays 0
    int64_t errors_total;
    double duration_s;          // time zero to the last completion
    double offered_rps;         // scheduled / scheduled window (open) or sent / duration (closed)
    double rps, output_tps, input_tps;  // ok requests and their tokens per second of duration_s
    int64_t output_tokens, prompt_tokens, requests_with_usage;
    int64_t good;               // ok and within every SLO set
    double goodput_rps, good_fraction;  // good / duration_s, good / sent (= scheduled unless stopped)
    double cost_usd;
    int64_t requests_with_cost;
    int64_t max_in_flight_seen;
    // Milliseconds. TTFT and e2e from the scheduled send, over ok requests; ITL over every gap
    // of ok requests; TPOT = (e2e − TTFT)/(output_tokens − 1) per ok request with ≥ 2 tokens;
    // send lag = actual − scheduled send, over every sent request (the generator's own delay).
    SamplesSummary ttft_ms, itl_ms, e2e_ms, tpot_ms, send_lag_ms;
    BenchSloCheck slo[4];
    int n_slo;
    bool slo_met;               // every check met (true when there are none)
} BenchSummary;

// Computes the summary. 0 or ERR_NOMEM. Sorts res->itl_us in place.
int bench_report_summarize(LgResult *res, const BenchParams *p, BenchSummary *out);
// Human-readable summary. 0 or ERR_NOMEM.
int bench_report_text(const BenchParams *p, const BenchSummary *s, Buf *out);
// JSON document (one object, trailing newline). 0 or ERR_NOMEM.
int bench_report_json(const BenchParams *p, const BenchSummary *s, Buf *out);
// One CSV line per request: id,sched_us,sent_us,ttft_us,e2e_us,outcome,http_status,
// input_tokens,max_tokens,output_tokens,content_chunks,prompt_tokens,cost_usd. Times are µs after
// the run's time zero; the header comment carries t0 (CLOCK_MONOTONIC µs) to align server logs.
int bench_report_trace_csv(const LgResult *res, Buf *out);

#endif
