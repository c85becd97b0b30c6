// sim.c — the discrete-event simulator (model in sim.h).
//
// Layout: a binary heap of events ordered by (time, sequence number) so ties resolve in a fixed
// order and a seed gives one result; a pool of live requests addressed by id = generation << 32 |
// slot; per tier a central queue (ring of ids), an optional Batcher and an Autoscaler; per
// replica a Sched (continuous batching), its ledger account, and the ids it holds.
// Events that may be superseded (a replica's step end after a run is cut, a batch due time)
// carry a version and are dropped when stale.
#include "plan/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "policy/ledger.h"

enum { EV_ARRIVAL, EV_STEP, EV_READY, EV_SCALE, EV_BATCH, EV_SPOT, EV_SAMPLE };

typedef struct {
    int64_t t, seq, ver;
    int type, tier, rep;
} Event;

typedef struct {
    int64_t arrival_us, tier_arrival_us, student_us, cost_nusd;
    int32_t in, out, rep_pos;
    int16_t tier, rep;
    uint32_t gen;
    bool counted, waited, escalated, live;
} SimReq;

typedef enum { R_DEAD, R_STARTING, R_READY, R_DRAINING } RState;

typedef struct {
    RState st;
    int kind;
    LedgerReplica led;
    Sched *sched;
    int64_t ver, t0, t_end, run_k;   // ver: step events; life: start/ready/spot events
    int64_t life;
    bool busy, is_run;
    SchedDecodeRun run;
    uint64_t *live, *pending, *running;   // cap ids each
    int64_t n_live, n_pending, n_running, cap;
    int64_t *w, *share;
    BatchItem *batch;
    int64_t n_batch;
} Rep;

typedef struct {
    SimTier cfg;
    uint64_t *queue;
    int64_t qhead, qlen, qcap;
    Batcher *batcher;
    int64_t batch_ver, batch_due;
    Autoscaler as;
    Rep *reps;
    int n_reps;
    int n_up;            // starting + ready
    int n_reserved_up;
    int warm_avail, spot_debt;
    int64_t live;        // requests held by replicas
} TierState;

typedef struct {
    const SimConfig *cfg;
    SimResult *res;
    Rng rng;
    Ledger ledger;
    Event *heap;
    int64_t n_heap, cap_heap, ev_seq;
    SimReq *reqs;
    uint32_t *free_slots;
    int64_t n_reqs, n_free;
    TierState tier[2];
    int64_t now, horizon_us, warmup_us, in_system, last_area_t;
    double area;         // ∫ in_system dt (µs)
    LatHist ttft, tpot, e2e, wait;
    double wait_sum_s;
    int64_t n_wait, n_wait_pos;
    double e2e_sum_all_us;
    int64_t done_all;
    WlArrivals arr;
    bool arrivals_done;
    double busy_us, rep_us;
    int64_t n_generated;              // arrivals drawn (a sampled run stops at batch_sample)
    int64_t run_done, run_t20_us, run_t80_us;   // sampled run: completions, and when 20% / 80% were done
} Sim;

// Rounds a non-negative duration in microseconds (cheaper than llround in the hot loop).
static inline int64_t round_us(double x) { return (int64_t)(x + 0.5); }

// ---- event heap ----

static bool ev_less(const Event *a, const Event *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static int push_ev(Sim *s, int64_t t, int type, int tier, int rep, int64_t ver) {
    if (s->n_heap == s->cap_heap) {
        int64_t cap = s->cap_heap ? s->cap_heap * 2 : 256;
        Event *h = realloc(s->heap, (size_t)cap * sizeof *h);
        if (!h) return ERR_NOMEM;
        s->heap = h;
        s->cap_heap = cap;
    }
    Event e = {.t = t, .seq = s->ev_seq++, .ver = ver, .type = type, .tier = tier, .rep = rep};
    int64_t i = s->n_heap++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
    return 0;
}

static Event pop_ev(Sim *s) {
    Event top = s->heap[0], last = s->heap[--s->n_heap];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= s->n_heap) break;
        if (c + 1 < s->n_heap && ev_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!ev_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->n_heap > 0) s->heap[i] = last;
    return top;
}

// ---- requests ----

static SimReq *req_of(Sim *s, uint64_t id) {
    SimReq *r = &s->reqs[id & 0xffffffffu];
    CHECK(r->live && r->gen == (uint32_t)(id >> 32));
    return r;
}

static int req_new(Sim *s, uint64_t *id) {
    if (s->n_free == 0) {
        int64_t old = s->n_reqs, cap = old ? old * 2 : 1024;
        if (cap > 0xffffffffLL) return ERR_FULL;
        SimReq *r = realloc(s->reqs, (size_t)cap * sizeof *r);
        if (!r) return ERR_NOMEM;
        s->reqs = r;
        uint32_t *f = realloc(s->free_slots, (size_t)cap * sizeof *f);
        if (!f) return ERR_NOMEM;
        s->free_slots = f;
        memset(s->reqs + old, 0, (size_t)(cap - old) * sizeof *r);
        for (int64_t i = cap - 1; i >= old; i--) s->free_slots[s->n_free++] = (uint32_t)i;
        s->n_reqs = cap;
    }
    uint32_t slot = s->free_slots[--s->n_free];
    SimReq *r = &s->reqs[slot];
    uint32_t gen = r->gen + 1;
    *r = (SimReq){.gen = gen, .live = true, .rep = -1};
    *id = (uint64_t)gen << 32 | slot;
    return 0;
}

static void req_free(Sim *s, uint64_t id) {
    SimReq *r = req_of(s, id);
    r->live = false;
    s->free_slots[s->n_free++] = (uint32_t)(id & 0xffffffffu);
}

static void area_to(Sim *s, int64_t t) {
    s->area += (double)s->in_system * (double)(t - s->last_area_t);
    s->last_area_t = t;
}

// ---- tier queue ----

static int enqueue(TierState *ts, uint64_t id, bool front) {
    if (ts->qlen == ts->qcap) return ERR_FULL;
    if (front) {
        ts->qhead = (ts->qhead + ts->qcap - 1) % ts->qcap;
        ts->queue[ts->qhead] = id;
    } else {
        ts->queue[(ts->qhead + ts->qlen) % ts->qcap] = id;
    }
    ts->qlen++;
    return 0;
}

static uint64_t dequeue(TierState *ts) {
    uint64_t id = ts->queue[ts->qhead];
    ts->qhead = (ts->qhead + 1) % ts->qcap;
    ts->qlen--;
    return id;
}

// ---- replica lifecycle ----

static void rep_live_remove(Sim *s, Rep *rp, uint64_t id) {
    SimReq *r = req_of(s, id);
    int64_t pos = r->rep_pos;
    CHECK(pos >= 0 && pos < rp->n_live && rp->live[pos] == id);
    rp->live[pos] = rp->live[--rp->n_live];
    if (pos < rp->n_live) req_of(s, rp->live[pos])->rep_pos = (int32_t)pos;
    r->rep_pos = -1;
    r->rep = -1;
}

static int start_replica(Sim *s, int t, bool instant) {
    TierState *ts = &s->tier[t];
    int idx = -1;
    for (int i = 0; i < ts->n_reps && idx < 0; i++)
        if (ts->reps[i].st == R_DEAD && !ts->reps[i].busy) idx = i;
    if (idx < 0) return ERR_FULL;
    Rep *rp = &ts->reps[idx];
    const SimTier *c = &ts->cfg;
    int kind = ts->n_reserved_up < c->reserved ? c->reserved_kind : (c->spot ? PRICE_SPOT : PRICE_ON_DEMAND);
    if (kind == c->reserved_kind && ts->n_reserved_up < c->reserved) ts->n_reserved_up++;
    double delay_s = 0;
    if (!instant) {
        if (ts->warm_avail > 0) { ts->warm_avail--; delay_s = c->warm_start_s; }
        else delay_s = c->startup_s;
        if (kind == PRICE_SPOT && ts->spot_debt > 0) { ts->spot_debt--; delay_s += c->spot_replace_s; }
    }
    ledger_open(&s->ledger, &rp->led, kind, c->usd_per_hour[kind], s->now);
    rp->kind = kind;
    rp->st = R_STARTING;
    rp->ver++;
    rp->life++;
    rp->n_live = rp->n_pending = rp->n_running = 0;
    ts->n_up++;
    if (ts->n_up > s->res->peak_replicas[t]) s->res->peak_replicas[t] = ts->n_up;
    int rc = push_ev(s, s->now + llround(delay_s * 1e6), EV_READY, t, idx, rp->life);
    if (!rc && kind == PRICE_SPOT && c->spot_interruptions_per_hour > 0) {
        double dt = rng_exponential(&s->rng, 3600.0 / c->spot_interruptions_per_hour);
        rc = push_ev(s, s->now + llround(dt * 1e6), EV_SPOT, t, idx, rp->life);
    }
    return rc;
}

static void stop_replica(Sim *s, int t, Rep *rp) {
    TierState *ts = &s->tier[t];
    if (rp->st == R_STARTING || rp->st == R_READY) ts->n_up--;
    if (rp->kind == ts->cfg.reserved_kind && ts->cfg.reserved > 0 && ts->n_reserved_up > 0) ts->n_reserved_up--;
    ledger_close(&s->ledger, &rp->led, s->now);
    s->rep_us += (double)(rp->led.busy_us + rp->led.idle_us);
    s->busy_us += (double)rp->led.busy_us;
    sched_destroy(rp->sched);
    rp->sched = NULL;
    rp->st = R_DEAD;
    rp->busy = false;
    rp->ver++;
    rp->life++;
    if (ts->warm_avail < ts->cfg.as.warm_pool) ts->warm_avail++;
}

// ---- work on a replica ----

static void give_shares(Sim *s, Rep *rp, const uint64_t *ids, int64_t n) {
    for (int64_t i = 0; i < n; i++) req_of(s, ids[i])->cost_nusd += rp->share[i];
}

static int dispatch(Sim *s, int t);

static void record_final(Sim *s, SimReq *r, int64_t first_token_us, int64_t last_token_us, int64_t n_gen) {
    double e2e = (double)(s->now - r->arrival_us);
    s->e2e_sum_all_us += e2e;
    s->done_all++;
    if (!r->counted) return;
    SimResult *res = s->res;
    if (s->cfg->batch_sample > 0) {   // a sampled run: when 20% and 80% of it were done
        s->run_done++;
        if (s->run_done == s->cfg->batch_sample / 5) s->run_t20_us = s->now;
        if (s->run_done == s->cfg->batch_sample * 4 / 5) s->run_t80_us = s->now;
    }
    res->completed++;
    res->in_tokens += r->in;
    res->out_tokens += n_gen;
    stats_add(&s->e2e, e2e);
    stats_add(&s->ttft, (double)((first_token_us >= 0 ? first_token_us : s->now) - r->arrival_us));
    if (n_gen > 1) stats_add(&s->tpot, (double)(last_token_us - first_token_us) / (double)(n_gen - 1));
    res->attributed_usd += (double)r->cost_nusd * 1e-9;
    res->attributed_nusd += r->cost_nusd;
}

// A request finished on tier t at s->now: escalate (cascade) or complete.
static int finish_request(Sim *s, int t, Rep *rp, uint64_t id, int64_t first_token_us, int64_t last_token_us,
                          int64_t n_gen) {
    SimReq *r = req_of(s, id);
    rep_live_remove(s, rp, id);
    s->tier[t].live--;
    const SimConfig *c = s->cfg;
    if (t == 0 && c->n_tiers == 2) {
        bool esc;
        if (c->conf_model) {
            double x = rng_gamma(&s->rng, c->conf_alpha, 1.0), y = rng_gamma(&s->rng, c->conf_beta, 1.0);
            esc = x / (x + y) < c->conf_threshold;
        } else {
            esc = rng_uniform(&s->rng) < c->escalation_rate;
        }
        if (esc) {
            r->escalated = true;
            if (r->counted) s->res->escalated++;
            r->tier = 1;
            r->tier_arrival_us = s->now;
            if (enqueue(&s->tier[1], id, false) == 0) return dispatch(s, 1);
            if (r->counted) s->res->rejected++;
            area_to(s, s->now);
            s->in_system--;
            req_free(s, id);
            return 0;
        }
    }
    record_final(s, r, first_token_us, last_token_us, n_gen);
    area_to(s, s->now);
    s->in_system--;
    req_free(s, id);
    return 0;
}

static double attn_pairs_of(const SchedBatch *b) {
    double p = 0;
    for (int64_t i = 0; i < b->n_rows; i++) {
        const SchedRow *row = &b->rows[i];
        p += (double)row->n_tokens * ((double)row->pos_start + 0.5 * (double)(row->n_tokens + 1));
    }
    return p;
}

// Starts the next step (or decode run, or batch) on an idle READY/DRAINING replica.
static int start_work(Sim *s, int t, int ri) {
    TierState *ts = &s->tier[t];
    Rep *rp = &ts->reps[ri];
    CHECK(!rp->busy);
    const SimTier *c = &ts->cfg;
    if (c->one_shot) {
        int64_t due = batcher_ready_at(ts->batcher);
        if (due < 0 || due > s->now) return 0;
        rp->n_batch = batcher_take(ts->batcher, s->now, rp->batch, rp->cap);
        StepShape sh = {0};
        for (int64_t i = 0; i < rp->n_batch; i++) {
            BatchItem *it = &rp->batch[i];
            SimReq *r = req_of(s, it->id);
            r->rep = (int16_t)ri;
            r->rep_pos = (int32_t)rp->n_live;
            rp->live[rp->n_live++] = it->id;
            ts->live++;
            if (t == 0 && r->counted && !r->waited) {
                r->waited = true;
                double w = (double)(s->now - r->tier_arrival_us);
                stats_add(&s->wait, w);
                s->wait_sum_s += w * 1e-6;
                s->n_wait++;
                s->n_wait_pos += w > 0;
            }
            sh.prefill_tokens += it->tokens;
            sh.ctx_tokens += it->tokens;
            sh.attn_pairs += (double)it->tokens * 0.5 * (double)(it->tokens + 1);
        }
        rp->busy = true;
        rp->is_run = false;
        rp->t0 = s->now;
        rp->t_end = s->now + fmax(1, round_us(step_time_us(&c->step, &sh)));
        s->res->steps++;
        return push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
    }
    // Continuous batching: hand pending requests to the scheduler first.
    for (int64_t i = 0; i < rp->n_pending; i++) {
        uint64_t id = rp->pending[i];
        SimReq *r = req_of(s, id);
        int rc = sched_add(rp->sched, id, r->in, r->out > 0 ? r->out : 1, 0, r->tier_arrival_us);
        if (rc != 0) {   // can never run here (too long): rejected, like the worker's 400
            rep_live_remove(s, rp, id);
            ts->live--;
            if (r->counted) s->res->rejected++;
            area_to(s, s->now);
            s->in_system--;
            req_free(s, id);
        }
    }
    rp->n_pending = 0;
    int64_t k = s->cfg->no_fast_path ? 0 : sched_steps_until_change(rp->sched, &rp->run);
    if (k > 0) {
        rp->busy = rp->is_run = true;
        rp->run_k = k;
        rp->t0 = s->now;
        rp->t_end = s->now + round_us(step_decode_run_us(&c->step, rp->run.n_rows, rp->run.ctx_tokens, k));
        if (rp->t_end <= s->now) rp->t_end = s->now + 1;
        return push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
    }
    SchedBatch b;
    sched_step(rp->sched, s->now, &b);
    if (b.n_rows == 0) {
        sched_step_done(rp->sched, s->now, NULL);
        return 0;
    }
    for (int64_t i = 0; t == 0 && i < b.n_rows; i++) {
        SimReq *r = req_of(s, b.rows[i].id);
        if (r->counted && !r->waited) {
            r->waited = true;
            double w = (double)(s->now - r->tier_arrival_us);
            stats_add(&s->wait, w);
            s->wait_sum_s += w * 1e-6;
            s->n_wait++;
            s->n_wait_pos += w > 0;
        }
    }
    s->res->preemptions += b.n_preempted;
    // The running set after this step = its rows minus those that finish (sched.h).
    rp->n_running = b.n_rows;
    for (int64_t i = 0; i < b.n_rows; i++) {
        rp->running[i] = b.rows[i].id;
        rp->w[i] = b.rows[i].n_tokens;
    }
    StepShape sh = {.prefill_tokens = b.n_prefill_tokens, .decode_rows = b.n_decode_rows,
                    .ctx_tokens = b.ctx_tokens, .attn_pairs = attn_pairs_of(&b)};
    rp->busy = true;
    rp->is_run = false;
    rp->t0 = s->now;
    rp->t_end = s->now + fmax(1, round_us(step_time_us(&c->step, &sh)));
    s->res->steps++;
    return push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
}

// A request was dispatched to a replica in the middle of a decode run: end the run with the
// step in flight at s->now (the request joins at the next step).
static int cut_run(Sim *s, int t, int ri) {
    Rep *rp = &s->tier[t].reps[ri];
    if (!rp->busy || !rp->is_run) return 0;
    const StepModel *sm = &s->tier[t].cfg.step;
    // Steps done by now: the largest j with end(j) <= now. Steps only grow longer within a run,
    // so (now - t0) / (first step) bounds j from above; search below that bound.
    int64_t lo = 0, hi = rp->run_k;
    double first = step_decode_run_us(sm, rp->run.n_rows, rp->run.ctx_tokens, 1);
    if (first > 0) {
        double guess = (double)(s->now - rp->t0) / first + 1;
        if (guess < (double)hi) hi = (int64_t)guess;
    }
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        int64_t end = rp->t0 + round_us(step_decode_run_us(sm, rp->run.n_rows, rp->run.ctx_tokens, mid));
        if (end <= s->now) lo = mid; else hi = mid - 1;
    }
    int64_t k = lo + 1;
    if (k >= rp->run_k) return 0;
    rp->run_k = k;
    rp->t_end = rp->t0 + round_us(step_decode_run_us(sm, rp->run.n_rows, rp->run.ctx_tokens, k));
    if (rp->t_end <= rp->t0) rp->t_end = rp->t0 + 1;
    rp->ver++;
    return push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
}

static int step_end(Sim *s, int t, int ri) {
    TierState *ts = &s->tier[t];
    Rep *rp = &ts->reps[ri];
    rp->busy = false;
    int rc = 0;
    if (ts->cfg.one_shot) {
        for (int64_t i = 0; i < rp->n_batch; i++) rp->w[i] = rp->batch[i].tokens;
        ledger_busy(&s->ledger, &rp->led, rp->t0, s->now, rp->w, rp->n_batch, rp->share);
        for (int64_t i = 0; i < rp->n_batch; i++) req_of(s, rp->batch[i].id)->cost_nusd += rp->share[i];
        for (int64_t i = 0; i < rp->n_batch && !rc; i++)
            rc = finish_request(s, t, rp, rp->batch[i].id, s->now, s->now, 0);
        rp->n_batch = 0;
    } else if (rp->is_run) {
        CHECK(rp->n_running == rp->run.n_rows);
        for (int64_t i = 0; i < rp->n_running; i++) rp->w[i] = 1;
        ledger_busy(&s->ledger, &rp->led, rp->t0, s->now, rp->w, rp->n_running, rp->share);
        give_shares(s, rp, rp->running, rp->n_running);
        int64_t nf = sched_advance_decode(rp->sched, rp->run_k, s->now);
        s->res->advanced_steps += rp->run_k;
        s->res->steps += rp->run_k;
        const ReqInfo *fin = sched_finished(rp->sched, &nf);
        for (int64_t i = 0; i < nf && !rc; i++) {
            for (int64_t j = 0; j < rp->n_running; j++)
                if (rp->running[j] == fin[i].id) { rp->running[j] = rp->running[--rp->n_running]; break; }
            rc = finish_request(s, t, rp, fin[i].id, fin[i].first_token_us, fin[i].last_token_us, fin[i].n_generated);
        }
    } else {
        sched_step_done(rp->sched, s->now, NULL);
        int64_t nf;
        const ReqInfo *fin = sched_finished(rp->sched, &nf);
        // rp->running / rp->w hold the ended step's rows and their tokens (set in start_work).
        ledger_busy(&s->ledger, &rp->led, rp->t0, s->now, rp->w, rp->n_running, rp->share);
        give_shares(s, rp, rp->running, rp->n_running);
        for (int64_t i = 0; i < nf && !rc; i++) {
            for (int64_t j = 0; j < rp->n_running; j++)
                if (rp->running[j] == fin[i].id) { rp->running[j] = rp->running[--rp->n_running]; break; }
            rc = finish_request(s, t, rp, fin[i].id, fin[i].first_token_us, fin[i].last_token_us, fin[i].n_generated);
        }
    }
    if (rc) return rc;
    if (rp->st == R_DRAINING && rp->n_live == 0) { stop_replica(s, t, rp); return dispatch(s, t); }
    if (rp->st == R_DEAD) return 0;
    rc = dispatch(s, t);
    if (!rc && !rp->busy && rp->n_live > 0) rc = start_work(s, t, ri);
    return rc;
}

// ---- dispatch ----

// Moves queued requests to replicas with room (least loaded first) and starts idle ones.
static int dispatch(Sim *s, int t) {
    TierState *ts = &s->tier[t];
    int rc = 0;
    if (ts->cfg.one_shot) {
        // Idle ready replicas take due batches; otherwise wake up when the next one is due.
        for (int i = 0; i < ts->n_reps && !rc; i++) {
            Rep *rp = &ts->reps[i];
            if (rp->st == R_READY && !rp->busy) rc = start_work(s, t, i);
        }
        int64_t due = batcher_ready_at(ts->batcher);
        if (!rc && due >= 0 && due > s->now && due != ts->batch_due) {
            ts->batch_due = due;
            rc = push_ev(s, due, EV_BATCH, t, -1, ++ts->batch_ver);
        }
        return rc;
    }
    while (ts->qlen > 0 && !rc) {
        int best = -1;
        for (int i = 0; i < ts->n_reps; i++) {
            Rep *rp = &ts->reps[i];
            if (rp->st != R_READY || rp->n_live >= rp->cap) continue;
            if (best < 0 || rp->n_live < ts->reps[best].n_live) best = i;
            if (rp->n_live == 0) break;   // an empty replica cannot be beaten
        }
        if (best < 0) break;
        Rep *rp = &ts->reps[best];
        uint64_t id = dequeue(ts);
        SimReq *r = req_of(s, id);
        r->rep = (int16_t)best;
        r->rep_pos = (int32_t)rp->n_live;
        rp->live[rp->n_live++] = id;
        rp->pending[rp->n_pending++] = id;
        ts->live++;
        rc = rp->busy ? cut_run(s, t, best) : start_work(s, t, best);
    }
    return rc;
}

// ---- autoscaling, spot interruptions, sampling ----

static int scale_tick(Sim *s, int t) {
    TierState *ts = &s->tier[t];
    const SimTier *c = &ts->cfg;
    int64_t waiting = ts->qlen + (ts->batcher ? batcher_len(ts->batcher) : 0);
    int want = autoscale_eval(&ts->as, &c->as, s->now, ts->n_up, waiting, ts->live);
    int rc = 0;
    while (ts->n_up < want && !rc) {
        rc = start_replica(s, t, false);
        if (rc == ERR_FULL) { rc = 0; break; }
    }
    while (ts->n_up > want) {
        // Cancel a starting replica first, else drain the least-loaded non-reserved one.
        int pick = -1;
        for (int i = 0; i < ts->n_reps && pick < 0; i++)
            if (ts->reps[i].st == R_STARTING && !(c->reserved > 0 && ts->reps[i].kind == c->reserved_kind)) pick = i;
        for (int i = 0; i < ts->n_reps && (pick < 0 || ts->reps[pick].st != R_STARTING); i++) {
            Rep *rp = &ts->reps[i];
            if (rp->st != R_READY || (c->reserved > 0 && rp->kind == c->reserved_kind)) continue;
            if (pick < 0 || rp->n_live < ts->reps[pick].n_live) pick = i;
        }
        if (pick < 0) break;
        Rep *rp = &ts->reps[pick];
        if (rp->st == R_STARTING || (rp->n_live == 0 && !rp->busy)) {
            stop_replica(s, t, rp);
        } else {
            rp->st = R_DRAINING;
            ts->n_up--;
        }
    }
    if (rc) return rc;
    return push_ev(s, s->now + llround(c->autoscale_period_s * 1e6), EV_SCALE, t, -1, 0);
}

static int spot_interrupt(Sim *s, int t, int ri) {
    TierState *ts = &s->tier[t];
    Rep *rp = &ts->reps[ri];
    s->res->interruptions++;
    ts->spot_debt++;
    // Its requests start over from the front of the tier queue, in their order.
    for (int64_t i = rp->n_live - 1; i >= 0; i--) {
        uint64_t id = rp->live[i];
        SimReq *r = req_of(s, id);
        r->rep = -1;
        r->rep_pos = -1;
        ts->live--;
        if (enqueue(ts, id, true) != 0) {
            if (r->counted) s->res->rejected++;
            area_to(s, s->now);
            s->in_system--;
            req_free(s, id);
        }
    }
    rp->n_live = rp->n_pending = rp->n_running = 0;
    rp->n_batch = 0;   // a batch in flight was in rp->live: already re-queued above
    stop_replica(s, t, rp);
    if (ts->cfg.one_shot) {
        // Queue entries of a one-shot tier live in the batcher: move them back there.
        while (ts->qlen > 0) {
            uint64_t id = dequeue(ts);
            SimReq *r = req_of(s, id);
            if (batcher_add(ts->batcher, id, r->in, r->tier_arrival_us) != 0) {
                if (r->counted) s->res->rejected++;
                area_to(s, s->now);
                s->in_system--;
                req_free(s, id);
            }
        }
    }
    return dispatch(s, t);
}

static void sample(Sim *s) {
    SimResult *res = s->res;
    int64_t i = (int64_t)llround((double)s->now / (s->cfg->series_step_s * 1e6));
    if (i < 0 || i >= res->n_series) return;
    double q = 0, up = 0;
    for (int t = 0; t < s->cfg->n_tiers; t++) {
        TierState *ts = &s->tier[t];
        q += (double)ts->qlen + (ts->batcher ? (double)batcher_len(ts->batcher) : 0);
        for (int r = 0; r < ts->n_reps; r++)
            if (ts->reps[r].sched) q += (double)sched_n_waiting(ts->reps[r].sched);
        up += ts->n_up;
    }
    res->series_queue[i] = (float)q;
    res->series_replicas[i] = (float)up;
}

static int arrival(Sim *s) {
    if (s->cfg->batch_sample > 0 && s->n_generated >= s->cfg->batch_sample) { s->arrivals_done = true; return 0; }
    s->n_generated++;
    WlRequest wr = wl_next(s->cfg->wl, &s->arr, &s->rng);
    int64_t t_next = llround(wr.t_s * 1e6);
    if (t_next < s->now) t_next = s->now;
    if (t_next >= s->horizon_us) { s->arrivals_done = true; return 0; }
    s->arr.t_s = wr.t_s;
    // The arrival event carries nothing: draw the tokens now and stash them until it fires.
    uint64_t id;
    int rc = req_new(s, &id);
    if (rc) return rc;
    SimReq *r = req_of(s, id);
    r->arrival_us = r->tier_arrival_us = t_next;
    r->in = wr.in_tokens;
    r->out = wr.out_tokens;
    r->rep_pos = -1;
    return push_ev(s, t_next, EV_ARRIVAL, 0, (int)(id & 0xffffffffu), (int64_t)(id >> 32));
}

static int on_arrival(Sim *s, const Event *e) {
    uint64_t id = (uint64_t)e->ver << 32 | (uint32_t)e->rep;
    SimReq *r = req_of(s, id);
    area_to(s, s->now);
    s->in_system++;
    r->counted = r->arrival_us >= s->warmup_us;
    if (r->counted) s->res->arrived++;
    TierState *ts = &s->tier[0];
    int rc = ts->cfg.one_shot ? batcher_add(ts->batcher, id, r->in, s->now) : enqueue(ts, id, false);
    if (rc) {
        if (r->counted) s->res->rejected++;
        s->in_system--;
        req_free(s, id);
    } else {
        rc = dispatch(s, 0);
        if (rc) return rc;
    }
    return arrival(s);
}

// ---- setup and the main loop ----

static int tier_init(Sim *s, int t, char *err, size_t err_len) {
    TierState *ts = &s->tier[t];
    const SimTier *c = &s->cfg->tier[t];
    ts->cfg = *c;
    if (ts->cfg.autoscale_period_s <= 0) ts->cfg.autoscale_period_s = 5;
    if (ts->cfg.max_queue <= 0) ts->cfg.max_queue = 1000000;
    if (c->as.min_replicas < c->reserved || c->as.max_replicas < 1 || c->as.min_replicas > c->as.max_replicas ||
        c->as.target_per_replica <= 0)
        return err_set(err, err_len, ERR_ARG, "tier %d: need reserved <= min_replicas <= max_replicas, max >= 1, "
                       "target_per_replica > 0", t);
    autoscale_init(&ts->as);
    ts->warm_avail = c->as.warm_pool;
    ts->qcap = ts->cfg.max_queue;
    ts->queue = malloc((size_t)ts->qcap * sizeof *ts->queue);
    ts->n_reps = 2 * c->as.max_replicas + 4;
    ts->reps = calloc((size_t)ts->n_reps, sizeof *ts->reps);
    if (!ts->queue || !ts->reps) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    if (c->one_shot) {
        BatcherConfig bc = c->batch;
        bc.max_queue = ts->cfg.max_queue;
        ts->batcher = batcher_create(&bc, err, err_len);
        if (!ts->batcher) return ERR_ARG;
    }
    int64_t cap = c->one_shot ? c->batch.max_batch_size : c->sched.max_num_seqs;
    for (int i = 0; i < ts->n_reps; i++) {
        Rep *rp = &ts->reps[i];
        rp->cap = cap;
        rp->live = malloc((size_t)cap * sizeof *rp->live);
        rp->pending = malloc((size_t)cap * sizeof *rp->pending);
        rp->running = malloc((size_t)cap * sizeof *rp->running);
        rp->w = malloc((size_t)cap * sizeof *rp->w);
        rp->share = malloc((size_t)cap * sizeof *rp->share);
        rp->batch = c->one_shot ? malloc((size_t)cap * sizeof *rp->batch) : NULL;
        if (!rp->live || !rp->pending || !rp->running || !rp->w || !rp->share || (c->one_shot && !rp->batch))
            return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    if (!c->one_shot) {   // validate the scheduler config once, with its own words
        Sched *probe = sched_create(&c->sched, err, err_len);
        if (!probe) return ERR_ARG;
        sched_destroy(probe);
    }
    return 0;
}

static void tier_free(TierState *ts) {
    for (int i = 0; ts->reps && i < ts->n_reps; i++) {
        Rep *rp = &ts->reps[i];
        sched_destroy(rp->sched);
        free(rp->live);
        free(rp->pending);
        free(rp->running);
        free(rp->w);
        free(rp->share);
        free(rp->batch);
    }
    free(ts->reps);
    free(ts->queue);
    batcher_destroy(ts->batcher);
}

static SimPct pct_of(const LatHist *h) {
    return (SimPct){.p50 = stats_quantile(h, 0.50) / 1e3, .p95 = stats_quantile(h, 0.95) / 1e3,
                    .p99 = stats_quantile(h, 0.99) / 1e3, .mean = stats_mean(h) / 1e3, .max = h->max / 1e3};
}

static int on_ready(Sim *s, const Event *e) {
    TierState *ts = &s->tier[e->tier];
    Rep *rp = &ts->reps[e->rep];
    if (rp->st != R_STARTING || rp->life != e->ver) return 0;
    if (!ts->cfg.one_shot) {
        rp->sched = sched_create(&ts->cfg.sched, NULL, 0);
        if (!rp->sched) return ERR_NOMEM;
    }
    rp->st = R_READY;
    return dispatch(s, e->tier);
}

// A run sampled by its first batch_sample requests (all arriving at its start): the rest of the
// run's requests are served at the steady throughput the sample measured between 20% and 80%
// of its completions, after the sample and before its tail. Latencies stretch to the run's
// completion time; counts and tokens grow to the whole run.
static void extrapolate_run(Sim *s) {
    const SimConfig *c = s->cfg;
    SimResult *res = s->res;
    int64_t m = s->n_generated, n = c->batch_run_requests;
    if (c->batch_sample <= 0 || n <= m || res->truncated || res->unfinished > 0 || s->run_t80_us <= s->run_t20_us ||
        res->e2e_ms.max <= 0)
        return;
    double per_s = (double)(s->run_done * 4 / 5 - s->run_done / 5) / ((double)(s->run_t80_us - s->run_t20_us) / 1e6);
    double f = (res->e2e_ms.max + (double)(n - m) / per_s * 1e3) / res->e2e_ms.max;
    SimPct *p[] = {&res->e2e_ms, &res->ttft_ms, &res->wait_ms};
    for (size_t i = 0; i < ARRAY_LEN(p); i++) {
        p[i]->p50 *= f, p[i]->p95 *= f, p[i]->p99 *= f, p[i]->mean *= f, p[i]->max *= f;
    }
    for (int i = 0; i < SIM_CDF_POINTS; i++) res->e2e_cdf_ms[i] *= f;
    double g = (double)n / (double)m;
    res->extrapolated = n - m;
    res->arrived += n - m;
    res->completed += n - m;
    res->in_tokens = (int64_t)((double)res->in_tokens * g);
    res->out_tokens = (int64_t)((double)res->out_tokens * g);
    res->utilization = fmin(1, res->utilization * g);
}

// drain_to_floor: after the last request the autoscaler keeps running until the tier is down to
// its floor (a batch run's replicas go away when its window ends, even past the horizon).
static bool above_floor(const Sim *s, int t) {
    return s->cfg->drain_to_floor && s->tier[t].n_up > s->tier[t].cfg.as.min_replicas;
}

static int run_loop(Sim *s) {
    int rc = 0;
    while (s->n_heap > 0 && !rc) {
        // Done: no arrivals left, nobody in the system, and nothing due before the horizon.
        if (s->arrivals_done && s->in_system == 0 && s->heap[0].t >= s->horizon_us &&
            !(above_floor(s, 0) || (s->cfg->n_tiers > 1 && above_floor(s, 1))))
            break;
        if (s->cfg->max_events > 0 && s->res->events >= s->cfg->max_events) { s->res->truncated = true; break; }
        if (s->cfg->stop_at_s > 0 && s->heap[0].t > llround(s->cfg->stop_at_s * 1e6) && s->in_system > 0) {
            s->res->truncated = true;   // past the batch deadline with work left: the job missed
            break;
        }
        Event e = pop_ev(s);
        s->now = e.t;
        s->res->events++;
        switch (e.type) {
        case EV_ARRIVAL: rc = on_arrival(s, &e); break;
        case EV_STEP: {
            Rep *rp = &s->tier[e.tier].reps[e.rep];
            if (rp->ver == e.ver && rp->busy) rc = step_end(s, e.tier, e.rep);
            break;
        }
        case EV_READY: rc = on_ready(s, &e); break;
        case EV_SCALE:
            if (!(s->arrivals_done && s->in_system == 0) || above_floor(s, e.tier)) rc = scale_tick(s, e.tier);
            break;
        case EV_BATCH:
            if (e.ver == s->tier[e.tier].batch_ver) { s->tier[e.tier].batch_due = -1; rc = dispatch(s, e.tier); }
            break;
        case EV_SPOT: {
            Rep *rp = &s->tier[e.tier].reps[e.rep];
            if (rp->life == e.ver && (rp->st == R_READY || rp->st == R_STARTING || rp->st == R_DRAINING))
                rc = spot_interrupt(s, e.tier, e.rep);
            break;
        }
        case EV_SAMPLE:
            sample(s);
            if (s->now + llround(s->cfg->series_step_s * 1e6) < s->horizon_us)
                rc = push_ev(s, s->now + llround(s->cfg->series_step_s * 1e6), EV_SAMPLE, 0, -1, 0);
            break;
        default: CHECK(0);
        }
    }
    return rc;
}

int sim_run(const SimConfig *cfg, SimResult *res, char *err, size_t err_len) {
    memset(res, 0, sizeof *res);
    if (cfg->n_tiers < 1 || cfg->n_tiers > 2 || !cfg->wl || cfg->horizon_s <= 0)
        return err_set(err, err_len, ERR_ARG, "sim: need 1 or 2 tiers, a workload and a horizon > 0");
    Sim *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->res = res;
    rng_seed(&s->rng, cfg->seed);
    ledger_init(&s->ledger);
    stats_init(&s->ttft);
    stats_init(&s->tpot);
    stats_init(&s->e2e);
    stats_init(&s->wait);
    s->horizon_us = llround(cfg->horizon_s * 1e6);
    s->warmup_us = llround(cfg->warmup_s * 1e6);
    int rc = 0;
    for (int t = 0; t < cfg->n_tiers && !rc; t++) rc = tier_init(s, t, err, err_len);
    if (rc) goto done;
    if (cfg->series_step_s > 0) {
        res->n_series = (int64_t)ceil(cfg->horizon_s / cfg->series_step_s) + 1;
        res->series_queue = calloc((size_t)res->n_series, sizeof(float));
        res->series_replicas = calloc((size_t)res->n_series, sizeof(float));
        if (!res->series_queue || !res->series_replicas) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto done; }
        rc = push_ev(s, 0, EV_SAMPLE, 0, -1, 0);
    }
    // The deployment is already running at t = 0 with its minimum replicas.
    for (int t = 0; t < cfg->n_tiers && !rc; t++) {
        int m = autoscale_min_at(&cfg->tier[t].as, 0);
        for (int i = 0; i < m && !rc; i++) rc = start_replica(s, t, true);
        if (!rc) rc = push_ev(s, llround(s->tier[t].cfg.autoscale_period_s * 1e6), EV_SCALE, t, -1, 0);
    }
    wl_arrivals_init(&s->arr, cfg->wl, cfg->rate_scale, cfg->cv_override);
    if (!rc) rc = arrival(s);
    if (!rc) rc = run_loop(s);
    if (rc) { err_set(err, err_len, rc, "sim: %s", err_str(rc)); goto done; }
    // Close every replica at the end of the horizon (or of the drain).
    int64_t end = s->now > s->horizon_us ? s->now : s->horizon_us;
    s->now = end;
    for (int t = 0; t < cfg->n_tiers; t++) {
        TierState *ts = &s->tier[t];
        for (int i = 0; i < ts->n_reps; i++)
            if (ts->reps[i].st != R_DEAD) stop_replica(s, t, &ts->reps[i]);
    }
    area_to(s, end);
    res->unfinished = s->in_system;
    res->end_s = (double)end / 1e6;
    res->ttft_ms = pct_of(&s->ttft);
    res->tpot_ms = pct_of(&s->tpot);
    res->e2e_ms = pct_of(&s->e2e);
    res->wait_ms = pct_of(&s->wait);
    for (int i = 0; i < SIM_CDF_POINTS; i++) res->e2e_cdf_ms[i] = stats_quantile(&s->e2e, (i + 1.0) / SIM_CDF_POINTS) / 1e3;
    res->mean_wait_s = s->n_wait ? s->wait_sum_s / (double)s->n_wait : 0;
    res->p_wait = s->n_wait ? (double)s->n_wait_pos / (double)s->n_wait : 0;
    double span_s = cfg->horizon_s - cfg->warmup_s;
    res->throughput_rps = (double)res->completed / span_s;
    res->tokens_per_s = (double)(res->in_tokens + res->out_tokens) / span_s;
    res->utilization = s->rep_us > 0 ? s->busy_us / s->rep_us : 0;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) res->replica_hours[k] = (double)s->ledger.replica_us[k] / 3.6e9;
    res->busy_usd = (double)s->ledger.busy_nusd * 1e-9;
    res->idle_usd = (double)s->ledger.idle_nusd * 1e-9;
    int64_t total = 0;
    for (int k = 0; k < LEDGER_KINDS; k++) total += s->ledger.cost_nusd[k];
    res->accel_usd = (double)total * 1e-9;
    res->accel_nusd = total;
    res->idle_nusd = s->ledger.idle_nusd;
    res->mean_in_system = s->area / (double)end;
    res->mean_response_s = s->done_all ? s->e2e_sum_all_us / (double)s->done_all / 1e6 : 0;
    res->arrival_rate_per_s = (double)s->done_all / ((double)end / 1e6);
    extrapolate_run(s);
done:
    for (int t = 0; t < 2; t++) tier_free(&s->tier[t]);
    free(s->heap);
    free(s->reqs);
    free(s->free_slots);
    free(s);
    if (rc) sim_result_free(res);
    return rc;
}

void sim_result_free(SimResult *res) {
    if (!res) return;
    free(res->series_queue);
    free(res->series_replicas);
    res->series_queue = res->series_replicas = NULL;
    res->n_series = 0;
}
