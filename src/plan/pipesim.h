// pipesim.h — a serve pipeline (the very Pipeline struct `serve` loads) as a simulator config:
// `rightsize plan --pipeline FILE.yaml` predicts a hand-written or emitted pipeline on a workload
// or replays a recorded trace through it.
//
// Each tier becomes a SimTier: its scheduler (max_num_seqs, max_num_batched_tokens), its
// max_concurrency, its replicas (fixed, or autoscaling's min/max/target), its cost_per_hour
// (on-demand), the pipeline's limits.max_queue, its dynamic batching, and its step-time model —
// the tier's `step:` map: the StepModel of steptime.h in µs — the linear part (b0_us,
// prefill_token_us, decode_row_us, context_token_us: a calibrated profile's betas) and, for a
// roofline, mem_fixed_us, mem_ctx_us, comp_token_us, comp_pair_us (plan --emit can write exactly
// the model it simulated) — and its `planner:` map: start-up and warm-start times, spot
// interruptions and their replacement delay, the KV block size. The routes and canaries go in as
// they are; the routing seed is the gateway's --seed. A batch workload runs its day as the
// planner does (sim_config_batch_run). An emitted file also names the run the plan simulated
// (top-level `planner: {seed, horizon_s}`), which `plan --pipeline` uses unless told otherwise:
// plan -> --emit -> --pipeline gives the plan's expected scenario, number for number.
//
// Trace file (CSV, one header line, then one request a line):
//   id,t_s,prompt_chars,in_tokens,out_tokens,confidence,status
//   r1,0.000,400,100,8,0.91,200
// status is the first tier's answer (an error answer runs no engine step); confidence is its
// answer's confidence when it is a cascade's first tier.
#ifndef RS_PLAN_PIPESIM_H
#define RS_PLAN_PIPESIM_H

#include <stddef.h>
#include <stdint.h>

#include "plan/sim.h"
#include "plan/workload.h"
#include "serve/pipeline.h"

typedef struct {
    SimConfig cfg;
    Canary canaries[PIPE_MAX_CANARIES];
    int candidate_of[PIPE_MAX_CANARIES];
    Workload trace_wl;           // the workload of a trace replay (class chat, no generator)
    SimTraceReq *trace;          // owned
    int64_t n_trace;
} PipeSim;

// Builds ps->cfg from pipeline p (loaded from path, for messages) for workload wl (NULL with a
// trace). 0, or ERR_ARG with "FILE:LINE: key '...': why" in err when the simulator cannot run it
// (a tier with no step model, a route on a header).
int pipesim_build(PipeSim *ps, const Pipeline *p, const char *path, const Workload *wl, uint64_t seed,
                  double horizon_s, char *err, size_t err_len);
// Loads a trace into ps (before pipesim_build with wl = NULL). 0 or a negative Err with
// "FILE:LINE: why".
int pipesim_trace_load(PipeSim *ps, const char *path, char *err, size_t err_len);
void pipesim_free(PipeSim *ps);

#endif
