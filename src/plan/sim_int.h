// sim_int.h — the simulator's internal state, shared by sim.c (requests: routing, cascade,
// canary, completion; setup and the main loop), sim_event.c (event heap, request pool),
// sim_replica.c (replicas: lifecycle, steps, cost shares, dispatch) and sim_scale.c (autoscaling,
// spot interruptions, sampling). Not a public header.
//
// Layout: a binary heap of events ordered by (time, sequence number) so ties resolve in a fixed
// order and a seed gives one result; a pool of live requests addressed by id = generation << 32 |
// slot; per tier a central queue (ring of ids), an optional Batcher and an Autoscaler; per
// replica a Sched (continuous batching), its ledger account, and the ids it holds.
// Events that may be superseded (a replica's step end after a run is cut, a batch due time)
// carry a version and are dropped when stale.
#ifndef RS_PLAN_SIM_INT_H
#define RS_PLAN_SIM_INT_H

#include "plan/sim.h"
#include "policy/dispatch.h"
#include "policy/ledger.h"

enum { EV_ARRIVAL, EV_STEP, EV_READY, EV_SCALE, EV_BATCH, EV_SPOT, EV_SAMPLE };

typedef struct {
    int64_t t, seq, ver;
    int type, tier, rep;
} Event;

typedef struct {
    int64_t arrival_us, tier_arrival_us, cost_nusd, first_cost_nusd, idle_nusd;
    int64_t busy_ns;          // busy share on the replica it is on (charged when it leaves)
    LedgerMark share_mark;    // its entry on the replica's share clock (cost_in_flight tiers)
    int64_t overhead_us;      // Σ the request_overhead_us of the tiers that answered it so far
    int64_t prompt_chars;
    int64_t trace_i;          // index in cfg->trace, or -1
    int32_t in, out, rep_pos;
    int16_t tier, rep;
    int16_t first_tier, then, canary, route;   // the routing decision (-1: none)
    float min_confidence, confidence;          // confidence < 0: drawn when the first tier answers
    int16_t status;           // the first tier's scripted status (trace), else 200
    uint8_t mode;             // CascadeMode
    uint32_t gen;
    bool counted, waited, escalated, live, candidate, escalate_on_error;
    bool prefix_hit;          // its shared prompt prefix is in the replica's prefix cache (workload cache:)
    bool cache_store;         // a response-cache miss: store its answer when it succeeds
    uint64_t cache_key;
} SimReq;

typedef enum { R_DEAD, R_STARTING, R_READY, R_DRAINING } RState;

typedef struct {
    RState st;
    int kind;
    LedgerReplica led;
    LedgerShare inflight;     // in-flight sharing (cost_in_flight tiers)
    Sched *sched;
    int64_t ver, t0, t_end, run_k;   // ver: step events; life: start/ready/spot events
    int64_t life;
    bool busy, is_run;
    SchedDecodeRun run;
    uint64_t *live, *pending, *running;   // cap ids each
    int64_t n_live, n_pending, n_running, cap;
    int64_t *w, *share;                   // cap each: step weights, shares (ns)
    BatchItem *batch;
    int64_t n_batch;
    // Waking from idle (StepModel.cold, steptime.h): when its last step ended (or it became ready),
    // and while `cold`, the request that woke it (cold_by) still runs: steps × cold_factor.
    int64_t idle_from;
    uint64_t cold_by;
    double cold_factor, run_factor;   // run_factor: of the decode run in flight (cut_run)
    bool cold;
    // The machine's scatter (StepModel.spread): steps × speed until speed_until, then a new draw.
    double speed;
    int64_t speed_until;
    // Co-location (SimTier.host): busy replicas on the host when its last step or run started.
    int host_n;
} Rep;

typedef struct {
    SimTier cfg;
    uint64_t *queue;     // ring, grows (retries and escalations are always admitted)
    int64_t qhead, qlen, qcap;
    Batcher *batcher;
    int64_t batch_ver, batch_due;
    Autoscaler as;
    Rep *reps;
    DispatchSlot *slots; // n_reps: scratch for dispatch_pick
    int n_reps;
    int n_up;            // starting + ready
    int n_reserved_up;
    int warm_avail, spot_debt;
    int64_t live;        // requests held by replicas
} TierState;

typedef struct {
    const SimConfig *cfg;
    SimResult *res;
    Rng rng, route_rng;
    Rng cache_rng;
    Rng speed_rng;            // the replicas' step-time spread draws, apart from the others
    struct RespCache *rcache; // the pipeline's response cache on a replayed trace, or NULL            // response-cache and prefix-cache draws (workload cache:), apart from the others
    Ledger ledger;
    Event *heap;
    int64_t n_heap, cap_heap, ev_seq;
    SimReq *reqs;
    uint32_t *free_slots;
    int64_t n_reqs, n_free;
    TierState tier[SIM_MAX_TIERS];
    RouteRule default_rule;
    Canary canaries[SIM_MAX_CANARIES];
    int64_t now, horizon_us, warmup_us, in_system, last_area_t;
    double area;         // ∫ in_system dt (µs)
    LatHist ttft, tpot, e2e, wait;
    double wait_sum_s;
    int64_t n_wait, n_wait_pos;
    double e2e_sum_all_us;
    int64_t done_all;
    WlArrivals arr;
    int64_t trace_next;
    bool arrivals_done;
    int64_t n_generated;              // arrivals drawn (a sampled run stops at batch_sample)
    int64_t run_done, run_t20_us, run_t80_us;   // sampled run: completions, and when 20% / 80% were done
} Sim;

// Rounds a non-negative duration in microseconds (cheaper than llround in the hot loop).
static inline int64_t round_us(double x) { return (int64_t)(x + 0.5); }

// ---- sim_event.c ----
int sim_push_ev(Sim *s, int64_t t, int type, int tier, int rep, int64_t ver);
Event sim_pop_ev(Sim *s);
SimReq *sim_req(Sim *s, uint64_t id);
int sim_req_new(Sim *s, uint64_t *id);
void sim_req_free(Sim *s, uint64_t id);
void sim_area_to(Sim *s, int64_t t);
// Tier queue: push at the back (or the front for retries/escalations; grows), pop the front.
int sim_queue_push(TierState *ts, uint64_t id, bool front);
uint64_t sim_queue_pop(TierState *ts);

// ---- sim_replica.c ----
int sim_start_replica(Sim *s, int t, bool instant);
void sim_stop_replica(Sim *s, int t, Rep *rp);
int sim_dispatch(Sim *s, int t);
int sim_step_end(Sim *s, int t, int ri);
// True when some replica of tier t could take a request now (dispatch_pick finds one).
bool sim_replica_free(Sim *s, int t);
// Request id leaves replica rp of tier t: its busy share there is charged (policy/ledger's rule).
void sim_leave_replica(Sim *s, int t, Rep *rp, uint64_t id);

// ---- sim_scale.c ----
int sim_scale_tick(Sim *s, int t);
int sim_spot_interrupt(Sim *s, int t, int ri);
void sim_sample(Sim *s);

// ---- sim.c ----
// A request finished on tier t at s->now with HTTP status (200, or its scripted error): escalate
// (cascade) or complete.
int sim_finish_request(Sim *s, int t, Rep *rp, uint64_t id, int64_t first_token_us, int64_t last_token_us,
                       int64_t n_gen, int status);
// A request leaves the system without an answer (status 429 or 400): counted rejected.
void sim_drop_request(Sim *s, uint64_t id, int status);
// Records the tier-0 queue wait of a request scheduled for the first time.
void sim_note_wait(Sim *s, SimReq *r);

#endif
