// predict.h — evaluate ONE given deployment (a calibrated step-time profile, a fixed number of
// replicas, the worker's scheduler knobs) against a workload: the simulator's prediction of
// latency percentiles and throughput, with no search. This is what `rightsize plan WORKLOAD
// --profile FILE` prints and what the predict-vs-measure loop (scripts/bench.d/70-predict)
// compares against `rightsize bench` on the real worker.
//
// The tier is modelled as the worker runs: one continuous-batching scheduler per replica with
// max_num_seqs / max_num_batched_tokens, a FIFO queue of max_queue requests in front (beyond it
// requests are rejected, the worker's 429), fixed replicas from t = 0 (no autoscaling, no start-up).
// The profile's request_overhead_us (HTTP, tokenization, detokenization: time a request spends
// outside engine steps, measured by `calibrate --url`) is in the step model
// (StepModel.request_overhead_us): the simulator adds it to every request's TTFT and end-to-end
// time, as it does for every call to a tier in the planner's search and in `plan --pipeline`.
#ifndef RS_PLAN_PREDICT_H
#define RS_PLAN_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "plan/sim.h"
#include "plan/steptime.h"
#include "plan/workload.h"

typedef struct {
    int replicas;                     // >= 1
    int64_t max_num_seqs;             // per replica (the worker's --max-num-seqs, default 16)
    int64_t max_num_batched_tokens;   // per step (--max-num-batched-tokens, default 512)
    int64_t max_queue;                // waiting requests before rejection (--max-num-queued-reqs, 64)
    int64_t kv_blocks;                // KV blocks per replica; 0: the profile's, else ample
    int64_t kv_block_tokens;          // 0: the profile's (16)
    int64_t max_model_len;            // 0: the workload's largest prompt + output
    double horizon_s;                 // simulated arrival window (default 3600)
    double warmup_s;                  // requests arriving before are not counted (default 0)
    uint64_t seed;
} PredictConfig;

typedef struct {
    SimResult sim;                    // the simulator's result (latencies include the overhead)
    double overhead_ms;               // added to TTFT and e2e
    double utilization;               // busy replica time / replica time
} Prediction;

// Defaults: 1 replica, 16 / 512 / 64 (the worker's defaults), one simulated hour, seed 1.
void predict_config_default(PredictConfig *pc);

// Builds the simulator config for the workload on this tier. Returns 0, or ERR_ARG with one line
// in err (a knob out of range, a non-LLM workload class).
int predict_sim_config(const Workload *wl, const StepProfile *prof, const PredictConfig *pc, SimConfig *cfg,
                       char *err, size_t err_len);

// Runs the simulation and fills *out (free with predict_free). 0 or a negative Err with err.
int predict_run(const Workload *wl, const StepProfile *prof, const PredictConfig *pc, Prediction *out, char *err,
                size_t err_len);
void predict_free(Prediction *p);

#endif
