// benchfit.h — published benchmark points (data/benchmarks/published.csv) predicted by the
// planner's own step model, and the serving-stack efficiencies fitted to them.
//
// A point is a fixed-shape run (isl input, osl output tokens per request) of one replica at a
// concurrency (0 = offline: every request queued at once). The prediction runs the production
// roofline (steptime.h) for the stack: batch B = min(concurrency, stack max_num_seqs, KV pool in
// sequences of isl + osl tokens); one cycle = the B prompts prefilled in max_num_batched_tokens
// chunks, then osl − 1 decode steps of B rows (step_decode_run_us). Throughput = B·osl / cycle.
// The fit (bench_fit) moves one stack's efficiencies to minimise the squared log error over that
// stack's `train` points only; `test` points are never seen by it.
#ifndef RS_PLAN_BENCHFIT_H
#define RS_PLAN_BENCHFIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/catalog.h"

// latency_s / latency_ms: time from submitting `concurrency` requests at once to the last output
// token (vLLM benchmark_latency: one batch, its prefill and osl - 1 decode steps), in the unit the
// source publishes. prefill_tok_s: isl / the time to prefill one isl-token prompt (llama-bench pp,
// osl 0); decode_tok_s: osl / the time of osl decode steps of one sequence after an isl-token
// context (llama-bench tg, isl 0). Both are one sequence (concurrency 1).
typedef enum {
    BM_OUTPUT_TOK_S, BM_TOTAL_TOK_S, BM_ITL_MS, BM_TTFT_MS, BM_LATENCY_S, BM_LATENCY_MS, BM_PREFILL_TOK_S, BM_DECODE_TOK_S,
    BM_METRIC_COUNT
} BenchMetric;
extern const char *const bench_metric_names[BM_METRIC_COUNT];

typedef struct {
    bool test;                 // held out
    bool withdrawn;            // the publisher removed the figure: neither fitted nor scored (test too)
    char source[256], published[16], read[16];
    int hw, model, stack;      // catalog indices
    PlanQuant quant;
    int tp;
    int64_t isl, osl, concurrency;
    int64_t requests;          // requests the run's mean is over, its `concurrency` users started together
                               // (0: a steady closed loop); see bench_predict
    BenchMetric metric;
    double value;
    int line;                  // in the CSV, for messages
} BenchPoint;

// Loads the CSV; every id must name a catalog entry. Returns 0 or a negative Err with
// "FILE:LINE: column '...': ..." in err. *pts is malloc'ed (caller frees).
int bench_points_load(const char *path, const Catalog *cat, BenchPoint **pts, int64_t *n, char *err, size_t err_len);
// Counts each device's points in the CSV at path into cat->hw[].published_points, and the held-out
// ones with their median and worst error under the catalog as loaded (published_heldout,
// published_median_ratio, published_worst_ratio: what the report says of the chosen hardware's
// derates). Returns 0, or bench_points_load's error (counts untouched).
int bench_count_points(const char *path, Catalog *cat, char *err, size_t err_len);
// The planner's prediction of p's metric with stack st (which may be a modified copy of the
// catalog's). Returns a value <= 0 when the model does not fit the hardware.
double bench_predict(const Catalog *cat, const CatStack *st, const BenchPoint *p);

typedef struct {
    int64_t n;
    double median_abs_log, max_abs_log;   // |ln(pred / published)|
    double geo_mean_ratio;                // exp(mean ln(pred / published))
} BenchErr;

// Error over the points whose split is `test` (or train when test is false) that pass the filter
// (hw / stack index, -1 = any).
BenchErr bench_error(const Catalog *cat, const BenchPoint *pts, int64_t n, bool test, int hw, int stack);

// Fits stack `stack`'s efficiencies (prefill_compute, decode_bandwidth, step_overhead and the
// all-reduce efficiency of each link kind its multi-device points use) on its train points,
// by multiplicative coordinate descent from the reference engine (1.0, links 0.8); writes the
// result into *out (other fields: the catalog's). Returns the number of train points used (0: nothing to fit).
int64_t bench_fit(const Catalog *cat, const BenchPoint *pts, int64_t n, int stack, CatStack *out);
// Fits device `hw`'s reference derates (hardware.yaml derate.compute, derate.bandwidth) on its
// train points, every stack's factors held at the catalog's; *cat is restored before returning.
// Returns the number of train points used (0: nothing to fit; the outputs are the catalog's).
int64_t bench_fit_hw(Catalog *cat, const BenchPoint *pts, int64_t n, int hw, double *compute, double *bandwidth);

// Fits stack `stack` and the derates of devices hw[0..n_hw) in turn (bench_fit, then bench_fit_hw
// of each device with the new stack factors) until neither moves by more than 0.1%, writing both
// into *cat. With overhead, each device's step_overhead_us is fitted too (devices with more than
// three train points). A refit of either from the result lands on it again, so the committed
// figures are reproducible. Returns the rounds taken (0: the stack has no train points).
int bench_fit_joint(Catalog *cat, const BenchPoint *pts, int64_t n, int stack, const int *hw, int n_hw, bool overhead);

#endif
