// calibrate.h — measure the engine's step time over a designed set of batch compositions and fit
// the planner's step-time model (src/plan/steptime.h, source PROFILE):
//
//     step_us = b0 + b1·prefill_tokens + b2·decode_rows + b3·ctx_tokens
//
// with the scheduler's definitions (src/policy/sched.h, SchedBatch): prefill_tokens = tokens in
// prefill chunks, decode_rows = one-token rows of requests past their prefill, ctx_tokens =
// Σ (pos_start + n_tokens) over the step's rows (the KV positions the step attends to).
//
// The design is a grid: prefill chunk P ∈ {0, P/8, P/4, P/2, P}, decode rows D ∈ {0, 1, D/4, D/2,
// D} and context per decode row C ∈ {C/8, C/2, C} (duplicates dropped; P = D = 0 skipped; D = 0
// measured once). Each composition is one engine_forward shaped as the worker shapes it — D decode
// rows of D long-lived sequences (logits on each) plus a P-token prefill of a fresh sequence
// (logits on its last row) — timed `repeats` times; a point keeps the median time and the mean
// features of its repeats. The fit minimises relative squared error Σ((fit − y)/y)² with every
// beta >= 0 (exact non-negative least squares: every support set of the four betas is solved by
// Householder QR and the best feasible one kept), so small decode steps weigh as much as big
// prefills and the planner never sees a negative cost.
#ifndef RS_CALIBRATE_H
#define RS_CALIBRATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

typedef struct {
    int64_t max_prefill;  // largest prefill chunk P (>= 1)
    int64_t max_rows;     // largest number of decode rows D (>= 1)
    int64_t max_ctx;      // largest context per decode row C (>= 8)
    int repeats;          // timed forwards per composition (>= 1); the median is kept
    uint64_t seed;        // token ids
} CalibDesign;

// One composition of the design.
typedef struct {
    int64_t prefill;      // P
    int64_t rows;         // D
    int64_t ctx;          // C, context each decode row starts from (0 when D = 0)
} CalibShape;

// A measured point: features (means over repeats) and the median step time.
typedef struct {
    CalibShape shape;
    double prefill_tokens, decode_rows, ctx_tokens;
    double step_us;
    double fit_us;        // the fitted model at this point (filled by calib_fit)
} CalibPoint;

typedef struct {
    double b0_us, prefill_token_us, decode_row_us, context_token_us;
    double multi_row_us;  // once per step of more than one row (steptime.h)
    int64_t n_points;
    double rmse_us;       // sqrt(mean (fit - y)²)
    double mape;          // mean |fit - y| / y (a fraction)
} CalibFit;

// The largest number of shapes calib_design can produce.
#define CALIB_MAX_SHAPES 64
// Decode sequences carry over between compositions (each timed forward adds one position); one
// that has drifted more than CALIB_DRIFT·repeats past a composition's context is re-prefilled, so
// a point's context per decode row lies in [ctx + 1, ctx + 1 + (CALIB_DRIFT + 1)·repeats].
#define CALIB_DRIFT 25

// Fills out[] with the design's shapes in run order (context levels ascending). Returns the count
// (<= CALIB_MAX_SHAPES), or ERR_ARG with a message when a bound is out of range.
int64_t calib_design(const CalibDesign *d, CalibShape out[CALIB_MAX_SHAPES], char *err, size_t err_len);

// Engine options the design needs (sequences, rows per forward, context and KV blocks), with
// n_threads threads (<= 0: all cores) and the default block size.
void calib_engine_options(const CalibDesign *d, int n_threads, EngineOptions *o);

// Called after each point is measured (i of n); may be NULL.
typedef void (*CalibProgressFn)(void *ctx, int64_t i, int64_t n, const CalibPoint *p);

// Runs the design through e (created with calib_engine_options(d, ...) or larger) using the real
// clock. pts must hold CALIB_MAX_SHAPES points; *n_points gets the count. Leaves every engine
// sequence free. Returns 0, or a negative Err with a message (engine refused a step, no memory).
int calib_run(Engine *e, const CalibDesign *d, CalibPoint *pts, int64_t *n_points,
              CalibProgressFn progress, void *progress_ctx, char *err, size_t err_len);

// Non-negative, relative least-squares fit of the five betas over pts[0..n) (fills each
// pts[i].fit_us and *out). Returns 0; ERR_ARG when n < 5 or a step_us is not > 0.
int calib_fit(CalibPoint *pts, int64_t n, CalibFit *out);

// The most unknowns calib_nnls_rel solves.
#define CALIB_MAX_FEATURES 6
// Non-negative least squares on relative error: beta[0..k) >= 0 minimising
// Σ_i ((F[i,·]·beta − y[i]) / y[i])² over n rows of features F (row-major, n × k). Exact (every
// support set solved by Householder QR, the best feasible kept). Shared by the in-process and
// the endpoint calibrations. Returns 0; ERR_ARG when k is outside [1, CALIB_MAX_FEATURES],
// n < k or a y[i] is not > 0; ERR_NOMEM.
int calib_nnls_rel(const double *F, const double *y, int64_t n, int k, double *beta);

#endif
