// sim.h — the planner's discrete-event simulator: a virtual clock (integer microseconds), seeded
// randomness, and requests flowing through the production policy code — the continuous-batching
// scheduler (policy/sched), the dynamic batcher (policy/batcher), the autoscaler
// (policy/autoscale) and the cost ledger (policy/ledger) — with step times from plan/steptime.
//
// Model of a deployment — a pipeline as `serve` runs it: tiers, routes, cascades, canaries:
//  * every request is routed by policy/router (router_decide: rules, cascade, canary split, one
//    draw from a routing Rng seeded like the gateway's --seed); without rules the deployment is
//    tier 0, or a cascade tier 0 → tier 1 when n_tiers == 2;
//  * each tier has a central FIFO queue, admitted by policy/dispatch (dispatch_admit: beyond
//    max_queue with no replica free a request is rejected, the gateway's 429); the head request
//    goes to the replica dispatch_pick chooses (the least-loaded READY one with room, room being
//    max_concurrency, default max_num_seqs) — so with max_num_seqs = 1 a tier is exactly an M/G/c
//    queue;
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
//  * cascade: when the first tier answers, policy/cascade's cascade_decide says whether to re-ask
//    the next tier; the answer's confidence is the trace's, else a Beta(alpha, beta) draw, else 0
//    with probability escalation_rate and 1 otherwise; a canary candidate's answers feed its
//    guards (canary_answer) and can roll it back;
//  * co-location: replicas of tiers on one host (SimTier.host) slow each other's steps by the
//    step model's colocated factor per busy neighbour; a neighbour starting or going idle cuts a
//    decode run at the step in flight, so the next step runs at the new factor;
//  * cost: policy/ledger's one rule — each step's time split over its rows by tokens, each
//    request charged its busy share at its replica's rate when it leaves the replica.
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
#include "policy/router.h"
#include "policy/sched.h"

#define SIM_MAX_TIERS 16
#define SIM_MAX_CANARIES 8

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
    int64_t max_concurrency;       // requests a replica holds (0: max_num_seqs, or the batch size)
    bool cost_in_flight;           // the backend reports no busy share: charge by in-flight sharing
                                   // (policy/ledger: LedgerShare), else by step share
    int host;                      // > 0: tiers with the same host share one machine — a step
                                   // starting while n other replicas of the host are busy takes
                                   // 1 + n·(step.colocated − 1) times as long; 0: machines of its own
} SimTier;

// One recorded request (trace replay): what the gateway saw and what its first tier answered.
typedef struct {
    char id[48];                   // the client's X-Request-Id
    double t_s;                    // arrival
    int64_t prompt_chars;          // route matching
    int32_t in_tokens, out_tokens;
    double confidence;             // the first tier's answer confidence, in [0,1]
    int status;                    // the first tier's HTTP status (an error answer runs no step)
    // the response cache (optional columns): the sampling fields policy/respcache's rule reads,
    // and the request's identity — rows with the same cache_key are the same request body
    bool has_temperature, has_seed;
    double temperature;
    char cache_key[48];            // "": not known (never looked up)
} SimTraceReq;

// What happened to one trace request.
typedef struct {
    int route;                     // rule index, -1: none matched (404)
    int first_tier, tier;          // tier asked first; tier that answered or refused it (-1: no route)
    bool escalated, candidate;
    int status;                    // the answer's status: 200, the scripted error, 429, 404, 400
    int64_t cost_nusd;             // Σ busy charges over its tiers
    int64_t idle_nusd;             // Σ idle it took (policy/ledger's step 5)
    double e2e_ms;
} SimRecord;

typedef struct {
    const Workload *wl;
    SimTier tier[SIM_MAX_TIERS];
    int n_tiers;                   // without routes: 2 = a cascade (tier 0 student, tier 1 teacher)
    // ---- routing (optional): a pipeline's rules and canaries, by tier index ----
    const RouteRule *routes;
    int n_routes;
    const Canary *canaries;        // initial states (copied): weight, guards
    const int *candidate_of;       // canary k's candidate tier
    int n_canaries;
    RouterEndpoint endpoint;       // endpoint of generated requests (RT_EP_ANY: from the workload class)
    const char *model;             // requested model of generated requests (NULL: none)
    double chars_per_token;        // prompt bytes per token for generated requests (0: 4)
    uint64_t route_seed;           // the gateway's --seed (canary draws)
    // ---- the gateway's response cache on a replayed trace (a pipeline's `cache:` section) ----
    bool resp_cache;
    int64_t resp_cache_max_entries, resp_cache_ttl_us;
    // ---- trace replay (optional): these requests instead of the workload's arrivals ----
    const SimTraceReq *trace;
    int64_t n_trace;
    SimRecord *records;            // NULL, or n_trace records filled by sim_run
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
    int64_t failed;                // answered with an error status (trace replay's scripted errors)
    int64_t unrouted;              // no route matched (404)
    int64_t rollbacks;             // canary rollbacks by its guards
    SimPct ttft_ms, tpot_ms, e2e_ms, wait_ms;
    double mean_wait_s, p_wait;    // tier-0 queue wait (arrival → first scheduled) and P(wait > 0)
    double throughput_rps, tokens_per_s;
    double utilization;            // busy replica time / replica time
    double replica_hours[PRICE_KIND_COUNT];
    double accel_usd;              // all replica time × rate (= busy + idle)
    double busy_usd, idle_usd, attributed_usd;   // attributed = Σ per-request shares
    int64_t accel_nusd, idle_nusd, attributed_nusd;   // the same in exact nano-dollars
    int64_t idle_taken_nusd;       // idle requests took (policy/ledger's step 5); the rest is unattributed
    int64_t records_idle_nusd;     // Σ over every finished request of the idle it took (checks the above)
    double mean_in_system;         // time-average requests in the system (Little: = λ·W)
    double mean_response_s, arrival_rate_per_s;
    int64_t in_tokens, out_tokens;
    double end_s;                  // virtual time when the last request finished
    int64_t steps, advanced_steps, events;
    int64_t cache_hits;            // answered by the gateway's response cache (no replica time, cost 0)
    int64_t prefix_hits;           // admitted with their shared prompt prefix cached
    bool truncated;                // stopped by max_events: the candidate is overloaded or stuck
    int64_t unfinished;            // requests still in the system at the end
    int64_t extrapolated;          // requests of a sampled batch run not simulated (batch_sample)
    int peak_replicas[SIM_MAX_TIERS];
    // e2e latency CDF (ms at quantiles (i+1)/SIM_CDF_POINTS) for charts
    double e2e_cdf_ms[SIM_CDF_POINTS];
    // time series (owned; n_series points at series_step_s)
    int64_t n_series;
    float *series_queue;           // waiting requests, all tiers
    float *series_replicas;        // replicas up (ready or starting), all tiers
} SimResult;

// A batch workload's day as the planner simulates it, for search and `plan --pipeline` alike: one
// run in the day (horizon 86400 s), its replicas scaled to their floor after it, stopped at 1.1x
// its deadline, and a run of more than SIM_BATCH_SAMPLE_MIN requests (and of four waves of the
// tiers' whole concurrency) timed on a sample. Needs cfg->wl, rate_scale and the tiers; other
// classes are left as they are.
#define SIM_BATCH_SAMPLE_MIN 16000
void sim_config_batch_run(SimConfig *cfg);

// The endpoint a workload class's generated requests ask (batch work: completions); what an
// emitted pipeline's route must match.
RouterEndpoint sim_class_endpoint(WlClass cls);

// Runs one simulation. Returns 0, or a negative Err with one line in err (bad tier config).
// The result's series arrays are owned by it: sim_result_free.
int sim_run(const SimConfig *cfg, SimResult *res, char *err, size_t err_len);
void sim_result_free(SimResult *res);

#endif
