// steptime.h — how long one scheduler step takes on a tier (hardware × count × model × quant).
//
// Two sources, and the report says which one each tier used:
//  * ROOFLINE over catalog specs:
//      step = overhead + max(T_mem, T_comp) + T_comm
//      T_mem  = (W/TP + ctx_tokens·kv_bytes_per_token/TP) / (BW·derate_bandwidth·stack.decode_bandwidth)
//      T_comp = (2·P·(prefill_tokens + decode_rows) + 4·L·(heads·head_dim)·attn_pairs)
//               / (TP·F·derate_compute·stack.prefill_compute)
//      T_comm = 2·L·(alpha + 2·(TP−1)/TP · n_tokens·hidden·2 B / (link_BW·stack.allreduce[link]))  (TP > 1)
//    kv_bytes_per_token in the stack's KV dtype (fp8 = 1 B per element, bf16 = 2).
//    (weights are read once per step for all rows; every attended KV position is read once;
//    F is the peak for the quantization's compute type, see cat_peak_flops).
//  * PROFILE, fitted from measurements by `rightsize calibrate` (it wins where present):
//      step = β0 + β1·prefill_tokens + β2·decode_rows + β3·ctx_tokens + β4·[prefill_tokens + decode_rows > 1]
//    β4 (multi_row_us) is what a step pays for computing more than one row at once: a CPU engine
//    runs one row through matrix-vector kernels and several through matrix-matrix tiles, whose
//    first extra row costs more than the next ones (measured through our worker: one sequence
//    0.81 ms a step, two 1.16, four 1.36, eight 2.08). Without it the linear fit over-predicts the
//    one-row step (the step of every lightly loaded replica) by 5-10% and under-predicts two rows
//    by 12-17%. Absent (0) in older profiles and in the roofline.
//
// Profile file (YAML), as `rightsize calibrate` writes it:
//   profile:
//     hardware: l4                # catalog hardware id (the tier's label)
//     model: llama-3.1-8b         # catalog model id
//     quantization: int4          # bf16 | fp8 | int8 | int4
//     tp: 1
//     date: 2026-11-29
//     machine: "g6.xlarge, vLLM 0.9"
//     betas: {b0_us: 1800, prefill_token_us: 0.9, decode_row_us: 40, context_token_us: 0.02, multi_row_us: 60}
//     fit: {n_points: 48, rmse_us: 210, mape: 0.035}
//     kv_blocks_total: 9000       # optional: the engine's real num_gpu_blocks
//     kv_block_tokens: 16
//     request_overhead_us: 900    # optional (`calibrate --url`): per-request time outside engine
//                                 # steps, added to TTFT and e2e by `plan --profile`
//     cold:                       # optional (`calibrate --url --idle-ms`): what a request that
//       - {after_us: 12500, wake_us: 400, step_factor: 1.03}   # finds the replica idle this long
//       - {after_us: 200000, wake_us: 1100, step_factor: 1.08} # pays (step_cold_at)
//     spread: [0.86, 0.9, ..., 1.41]  # optional (`calibrate --url`): how one request's step time
//     spread_window_us: 37000          # scatters around the fit, and over how long it holds
//     colocated: 1.15             # optional (`calibrate --url --neighbour-model`): a step's time x
//                                 # this while one other replica on the same host is busy
//   The betas are the warm speed (steps back to back). A request that starts a replica's busy
//   period after an idle gap g pays wake_us(g) once, on its first step, and the replica's steps
//   take step_factor(g)× as long while that request runs; between rows g is interpolated linearly
//   (from 0 µs / ×1 at g = 0), beyond the last row the last row holds.
//   The spread is the machine's own noise: the quantiles, at equal steps of probability, of a
//   concurrency-1 request's decode time per token over its point's median (a shared VM's steps
//   move ±25% from one request to the next). The simulator draws one of them uniformly for a
//   replica and holds it for spread_window_us (the span of one measured request), so a plan's
//   TPOT and e2e p95 carry the scatter the fit's medians leave out. Absent: every step as fitted.
//   colocated is what sharing a machine costs: replicas of tiers that name the same host (a
//   pipeline tier's planner.host) contend for its cores, memory bandwidth and the gateway's CPU. A
//   step starting while n other replicas of the host are busy takes 1 + n·(colocated − 1) times
//   as long (measured with one busy neighbour; linear beyond). Absent (0) or 1: no contention.
#ifndef RS_PLAN_STEPTIME_H
#define RS_PLAN_STEPTIME_H

#include <stddef.h>
#include <stdint.h>

#include "plan/catalog.h"

typedef enum { STEP_ROOFLINE = 0, STEP_PROFILE } StepSource;

// The shape of one step, as the scheduler's batch describes it.
typedef struct {
    int64_t prefill_tokens;   // Σ n_tokens over prefill rows
    int64_t decode_rows;      // decode rows (one token each)
    int64_t ctx_tokens;       // Σ (pos_start + n_tokens) over rows: KV positions read
    double attn_pairs;        // Σ n_tokens·(pos_start + (n_tokens+1)/2): query×key pairs
} StepShape;

#define STEP_COLD_MAX 6   // = PIPE_STEP_COLD_MAX (serve/pipeline.h)
#define STEP_SPREAD_MAX 32   // = PIPE_STEP_SPREAD_MAX (serve/pipeline.h)
// The range a spread factor and its window may take (profiles and pipeline tiers' step:).
#define STEP_SPREAD_LO 0.05
#define STEP_SPREAD_HI 20.0
// The range of a colocated factor (profiles and pipeline tiers' step:).
#define STEP_COLOCATED_LO 1.0
#define STEP_COLOCATED_HI 10.0

// What a replica gone idle costs the request that wakes it (calibrate --url --idle-ms).
typedef struct {
    double after_us;      // the idle gap this row was measured after
    double wake_us;       // extra time of the first step (TTFT above the warm TTFT)
    double step_factor;   // step time cold / warm while the waking request runs
} StepCold;

typedef struct {
    char hardware[64], model[64], quantization[16], date[16], machine[128];
    int tp;
    double b0_us, prefill_token_us, decode_row_us, context_token_us;
    double multi_row_us;          // added to a step of more than one row (optional, 0 = none)
    int64_t n_points;
    double rmse_us, mape;
    int64_t kv_blocks_total, kv_block_tokens;   // 0 = not measured
    double request_overhead_us;   // per request outside engine steps (HTTP, tokenize); 0 = not measured
    StepCold cold[STEP_COLD_MAX]; // ascending after_us; n_cold = 0: not measured (always warm)
    int n_cold;
    double spread[STEP_SPREAD_MAX];   // equally likely step-time factors; n_spread = 0: not measured
    int n_spread;
    double spread_window_us;          // how long one factor holds (> 0 with a spread)
    double colocated;                 // step-time factor per busy neighbour on the host; 0 = not measured
} StepProfile;

typedef struct {
    StepSource source;
    // Linear part (always added): overhead, communication, or the calibrated betas.
    double b0_us, prefill_token_us, decode_row_us, context_token_us;
    double multi_row_us;                  // + once per step of more than one row (a profile's; 0 = none)
    // Roofline max(memory, compute) part; all zero for a profile.
    double mem_fixed_us, mem_ctx_us;      // weights; per KV position read
    double comp_token_us, comp_pair_us;   // per computed token; per attention pair
    double err_frac;                      // profile fit MAPE (0 for a roofline: unknown)
    // Per call, outside engine steps (HTTP, tokenization, the gateway's hop: a profile's
    // request_overhead_us); the simulator adds it to the TTFT and e2e of every call to the tier.
    double request_overhead_us;
    StepCold cold[STEP_COLD_MAX]; // the profile's (ascending after_us); n_cold = 0: never cold
    int n_cold;
    double spread[STEP_SPREAD_MAX];   // the profile's; n_spread = 0: every step as fitted
    int n_spread;
    double spread_window_us;
    double colocated;                 // the profile's (a factor >= 1 per busy neighbour); 0 or 1 = none
} StepModel;

// Builds a roofline model for model m at quantization q on tp devices of hw served by stack st
// (NULL = cat_stack_reference()): the stack scales the hardware's derates and picks the KV dtype.
void step_roofline(StepModel *sm, const CatHardware *hw, const CatModel *m, PlanQuant q, int tp, const CatStack *st);
// Achieved fraction of peak FLOP/s (prefill) and of peak memory bandwidth (decode) of st on hw.
double step_eff_compute(const CatHardware *hw, const CatStack *st);
double step_eff_bandwidth(const CatHardware *hw, const CatStack *st);
// Builds a model from a calibrated profile.
void step_from_profile(StepModel *sm, const StepProfile *p);
// The cost of waking a replica idle for gap_us (the profile's cold rows, interpolated; 0 and 1
// without rows or at gap 0).
void step_cold_at(const StepModel *sm, double gap_us, double *wake_us, double *step_factor);
// The columns of a `cold:` row and their ranges (profiles and pipeline tiers' step: read them).
extern const char *const step_cold_cols[3];
extern const double step_cold_lo[3], step_cold_hi[3];
// Copies n rows of (after_us, wake_us, step_factor) into sm (a pipeline tier's step: cold rows).
void step_cold_set(StepModel *sm, const double *rows, int n);
// Copies a spread of n factors held window_us each into sm (a pipeline tier's step: spread).
void step_spread_set(StepModel *sm, const double *factors, int n, double window_us);
// Time of one step, microseconds.
double step_time_us(const StepModel *sm, const StepShape *s);
// Total time of k identical pure-decode steps of n_rows rows; step j reads ctx0 + j·n_rows
// positions (sched_steps_until_change's run). Exact closed form of Σ_j step_time_us.
double step_decode_run_us(const StepModel *sm, int64_t n_rows, int64_t ctx0, int64_t k);

// Loads a profile file. Returns 0 or a negative Err with "FILE:LINE: key ..." in err.
int step_profile_load(StepProfile *p, const char *path, char *err, size_t err_len);
// Writes a profile file (calibrate uses it). Returns 0 or ERR_IO.
int step_profile_save(const StepProfile *p, const char *path, char *err, size_t err_len);

// KV capacity the way the stack sizes its block pool: vLLM/SGLang (util_of_total) keep
// memory·fraction − weights/TP − the activation peak of a max_num_batched_tokens forward (− the
// sampler's logits where the stack reserves them); TensorRT-LLM (fraction_of_free) keeps
// fraction·(memory − weights/TP − peak). Divided by the bytes of one block per device in the
// stack's KV dtype.
typedef struct {
    double usable_bytes;          // per device, after weights and activations
    double weight_bytes_per_dev;
    double activation_bytes;
    int64_t kv_blocks_total;      // <= 0: the model does not fit
    int64_t kv_block_tokens;
    double kv_bytes_per_token_per_dev;
    KvDtype kv_dtype;
    int64_t max_seqs_at_mean;     // sequences of mean length (prompt + output) that fit at once
} KvCapacity;

void step_kv_capacity(KvCapacity *kv, const CatHardware *hw, const CatModel *m, PlanQuant q, int tp,
                      const CatStack *st, int64_t max_num_batched_tokens, int64_t max_num_seqs,
                      double mean_seq_tokens);

#endif
