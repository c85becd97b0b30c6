// sim.h — the planner's discrete-event simulator: a virtual clock (integer microseconds), seeded
// randomness, and requests flowing through the production policy code — the continuous-batching
// scheduler (policy/sched), the dynamic batcher (policy/batcher), the autoscaler
// (policy/autoscale) and the cost ledger (policy/ledger) — with step times from plan/steptime.
//
// Model of a deployment (one or two tiers; two = a cascade, student first):
//  * each tier has a central FIFO queue (bounded: beyond max_queue a request is rejected, the
//    gateway's 429); a dispatcher hands the head request to the READY replica with the fewest
//    requests, as long as that replica holds fewer than max_num_seqs (continuous batching) —
//    so with max_num_seqs = 1 a tier is exactly an M/G/c queue;
//  * LLM tiers run one Sched per replica; a run of identical decode steps is advanced in one move
//    (sched_steps_until_change / sched_advance_decode) with its time summed in closed form
//    (step_decode_run_us); a request dispatched mid-run cuts the run at the step in flight;
//  * one-shot tiers (embeddings) batch requests in the tier's Batcher (size / delay) and run a
//    batch as one prefill step;
//  * replicas take startup_s to start (warm_start_s from the warm pool), are charged from the
//    moment they start, and are drained (no new work, then stopped) on scale-down;
//  * capacity mix: the first `reserved` replicas are reserved (always on), the rest on-demand or
//    spot; spot replicas are interrupted at spot_interruptions_per_hour (their requests restart
//    from the tier queue) and their replacement waits spot_replace_s more;
//  * cascade: when the student finishes a request, it escalates to the teacher with probability
//    escalation_rate, or when a Beta(alpha, beta) confidence draw is below threshold.
#ifndef RS_PLAN_SIM_H
#define RS_PLAN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/catalog.h"
#include "plan/stats.h"
#include "plan/steptime.h"
#include "plan/workload.h"
#include "policy/autoscale.h"
#include "policy/batcher.h"
#include "policy/sched.h"

typedef struct {
    StepModel step;
    bool one_shot;                 // dynamic batching path (encoders / non-LLM)
    SchedConfig sched;             // continuous batching (kv_blocks_total set by the caller)
    BatcherConfig batch;           // one_shot path
    double startup_s, warm_start_s;
    AutoscaleConfig as;
    double autoscale_period_s;     // evaluation period (default 5 s)
    int reserved;                  // replicas at reserved_kind price, always on
    int reserved_kind;             // PRICE_RESERVED_1Y or PRICE_RESERVED_3Y
    bool spot;                     // replicas above the reserved floor are spot (else on-demand)
    double usd_per_hour[PRICE_KIND_COUNT];   // per replica (all its devices)
    double spot_interruptions_per_hour;
    double spot_replace_s;
    int64_t max_queue;             // tier queue bound (0: 1,000,000)
} SimTier;

typedef struct {
    const Workload *wl;
    SimTier tier[2];
    int n_tiers;                   // 2: cascade (tier 0 student, tier 1 teacher)
    double escalation_rate;
    bool conf_model;               // use Beta(conf_alpha, conf_beta) < conf_threshold instead
    double conf_alpha, conf_beta, conf_threshold;
    double rate_scale;             // scenario multiplier on the arrival rate (1 = as given)
    double cv_override;            // > 0: replace the arrival CV (burst scenario)
    double horizon_s;              // arrivals in [0, horizon); the simulation then drains
    double warmup_s;               // latency statistics skip requests arriving before
    uint64_t seed;
    double series_step_s;          // > 0: sample queue depth and replicas at this period
    bool no_fast_path;             // step every decode step one by one (tests compare the two)
    int64_t max_events;            // > 0: stop (truncated) after this many events — overload guard
    double stop_at_s;              // > 0: stop (truncated) when work is left at this time (a batch deadline)
    bool drain_to_floor;           // after the last request, scale every tier down to its floor first
    // A batch run (all its requests arriving at once) of batch_run_requests, simulated for its
    // first batch_sample requests and extrapolated at the measured steady throughput (0: all).
    int64_t batch_sample, batch_run_requests;
} SimConfig;

typedef struct {
    double p50, p95, p99, mean, max;   // milliseconds
} SimPct;

#define SIM_CDF_POINTS 64

typedef struct {
    int64_t arrived, completed, rejected, escalated, interruptions, preemptions;
    SimPct ttft_ms, tpot_ms, e2e_ms, wait_ms;
    double mean_wait_s, p_wait;    // tier-0 queue wait (arrival → first scheduled) and P(wait > 0)
    double throughput_rps, tokens_per_s;
    double utilization;            // busy replica time / replica time
    double replica_hours[PRICE_KIND_COUNT];
    double accel_usd;              // all replica time × rate (= busy + idle)
    double busy_usd, idle_usd, attributed_usd;   // attributed = Σ per-request shares
    int64_t accel_nusd, idle_nusd, attributed_nusd;   // the same in exact nano-dollars
    double mean_in_system;         // time-average requests in the system (Little: = λ·W)
    double mean_response_s, arrival_rate_per_s;
    int64_t in_tokens, out_tokens;
    double end_s;                  // virtual time when the last request finished
    int64_t steps, advanced_steps, events;
    bool truncated;                // stopped by max_events: the candidate is overloaded or stuck
    int64_t unfinished;            // requests still in the system at the end
    int64_t extrapolated;          // requests of a sampled batch run not simulated (batch_sample)
    int peak_replicas[2];
    // e2e latency CDF (ms at quantiles (i+1)/SIM_CDF_POINTS) for charts
    double e2e_cdf_ms[SIM_CDF_POINTS];
    // time series (owned; n_series points at series_step_s)
    int64_t n_series;
    float *series_queue;           // waiting requests, all tiers
    float *series_replicas;        // replicas up (ready or starting), all tiers
} SimResult;

// Runs one simulation. Returns 0, or a negative Err with one line in err (bad tier config).
// The result's series arrays are owned by it: sim_result_free.
int sim_run(const SimConfig *cfg, SimResult *res, char *err, size_t err_len);
void sim_result_free(SimResult *res);

#endif
