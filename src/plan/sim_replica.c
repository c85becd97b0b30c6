// sim_replica.c — the simulator's replicas: start and stop, steps (continuous batching, decode
// runs in one move, one-shot batches), each step's cost shares (policy/ledger's rule) and the
// dispatch of queued requests (policy/dispatch).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/sim_int.h"

// ---- replica lifecycle ----

int sim_start_replica(Sim *s, int t, bool instant) {
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
    ledger_share_reset(&rp->inflight, s->now);
    rp->kind = kind;
    rp->st = R_STARTING;
    rp->ver++;
    rp->life++;
    rp->n_live = rp->n_pending = rp->n_running = 0;
    ts->n_up++;
    if (ts->n_up > s->res->peak_replicas[t]) s->res->peak_replicas[t] = ts->n_up;
    int rc = sim_push_ev(s, s->now + llround(delay_s * 1e6), EV_READY, t, idx, rp->life);
    if (!rc && kind == PRICE_SPOT && c->spot_interruptions_per_hour > 0) {
        double dt = rng_exponential(&s->rng, 3600.0 / c->spot_interruptions_per_hour);
        rc = sim_push_ev(s, s->now + llround(dt * 1e6), EV_SPOT, t, idx, rp->life);
    }
    return rc;
}

void sim_stop_replica(Sim *s, int t, Rep *rp) {
    TierState *ts = &s->tier[t];
    if (rp->st == R_STARTING || rp->st == R_READY) ts->n_up--;
    if (rp->kind == ts->cfg.reserved_kind && ts->cfg.reserved > 0 && ts->n_reserved_up > 0) ts->n_reserved_up--;
    ledger_close(&s->ledger, &rp->led, s->now);
    sched_destroy(rp->sched);
    rp->sched = NULL;
    rp->st = R_DEAD;
    rp->busy = false;
    rp->ver++;
    rp->life++;
    if (ts->warm_avail < ts->cfg.as.warm_pool) ts->warm_avail++;
}

// ---- cost shares (policy/ledger's rule) ----

// Adds each row's share of the step (rp->share) to its request's busy share.
static void add_shares(Sim *s, Rep *rp, const uint64_t *ids, int64_t n) {
    for (int64_t i = 0; i < n; i++) sim_req(s, ids[i])->busy_ns += rp->share[i];
}

// Splits one step of rows with weights rp->w over rp->share.
static void step_shares(Rep *rp, int64_t step_us, int64_t n) {
    memset(rp->share, 0, (size_t)n * sizeof *rp->share);
    ledger_split(step_us * 1000, rp->w, n, rp->share);
}

// A decode run of k steps over the same n rows, one token each: every row has the same share of
// every step, so the run's time is split over its rows as one unit (ledger_split with equal
// weights). Per-step rounding would differ by under 1 ns per step and row — the run's steps are
// not materialised one by one, just as their times are summed in closed form.
static void run_shares(Rep *rp) {
    int64_t n = rp->n_running;
    for (int64_t i = 0; i < n; i++) rp->w[i] = 1;
    step_shares(rp, rp->t_end - rp->t0, n);
}

void sim_leave_replica(Sim *s, int t, Rep *rp, uint64_t id) {
    SimReq *r = sim_req(s, id);
    int64_t pos = r->rep_pos;
    CHECK(pos >= 0 && pos < rp->n_live && rp->live[pos] == id);
    rp->live[pos] = rp->live[--rp->n_live];
    if (pos < rp->n_live) sim_req(s, rp->live[pos])->rep_pos = (int32_t)pos;
    r->rep_pos = -1;
    r->rep = -1;
    if (rp->cold && rp->cold_by == id) rp->cold = false;   // the waking request is gone: warm again
    s->tier[t].live--;
    // The rule's step 2: the step share the engine adds up, or (a backend that reports none) the
    // in-flight share, as the gateway takes it from its own clock.
    if (s->tier[t].cfg.cost_in_flight) r->busy_ns = ledger_share_leave(&rp->inflight, r->share_mark, s->now);
    r->cost_nusd += ledger_charge(&s->ledger, &rp->led, r->busy_ns, s->now);
    // Step 5, as the gateway takes it: a charged call takes the replica's idle so far.
    r->idle_nusd += ledger_take_idle(&s->ledger, &rp->led, s->now);
    r->busy_ns = 0;
}

// ---- work on a replica ----

static double attn_pairs_of(const SchedBatch *b) {
    double p = 0;
    for (int64_t i = 0; i < b->n_rows; i++) {
        const SchedRow *row = &b->rows[i];
        p += (double)row->n_tokens * ((double)row->pos_start + 0.5 * (double)(row->n_tokens + 1));
    }
    return p;
}

// A step starting after the replica sat idle (its last step ended before now) wakes it: the
// profile's cold cost for that gap (steptime.h: wake_us once on this step, step_factor while the
// request `by` runs). Returns the extra µs of this step; sets the replica's cold state.
static double wake(Sim *s, const StepModel *sm, Rep *rp, uint64_t by) {
    if (rp->cold || s->now <= rp->idle_from || sm->n_cold == 0) return 0;
    double wake_us, factor;
    step_cold_at(sm, (double)(s->now - rp->idle_from), &wake_us, &factor);
    rp->cold = true;
    rp->cold_by = by;
    rp->cold_factor = factor;
    return wake_us;
}

// Busy replicas other than self on tier t's host (SimTier.host; 0 without one).
static int host_busy(const Sim *s, int t, const Rep *self) {
    int h = s->tier[t].cfg.host, n = 0;
    if (h == 0) return 0;
    for (int u = 0; u < s->cfg->n_tiers; u++) {
        if (s->tier[u].cfg.host != h) continue;
        for (int i = 0; i < s->tier[u].n_reps; i++) n += &s->tier[u].reps[i] != self && s->tier[u].reps[i].busy;
    }
    return n;
}

// The factor of a step starting now on tier t: the cold one while the waking request runs, times
// the replica's speed (StepModel.spread: a factor drawn uniformly from the profile's once the last
// one's window has passed; 1 without a spread), times the host's contention (StepModel.colocated
// per busy neighbour, whose count is kept in host_n for host_changed).
static double factor_of(Sim *s, int t, Rep *rp) {
    const StepModel *sm = &s->tier[t].cfg.step;
    double f = rp->cold ? rp->cold_factor : 1;
    rp->host_n = host_busy(s, t, rp);
    if (sm->colocated > 1) f *= 1 + (sm->colocated - 1) * rp->host_n;
    if (sm->n_spread == 0) return f;
    if (s->now >= rp->speed_until) {
        rp->speed = sm->spread[rng_below(&s->speed_rng, (uint64_t)sm->n_spread)];
        rp->speed_until = s->now + llround(sm->spread_window_us);
    }
    return f * rp->speed;
}

static int cut_run(Sim *s, int t, int ri);

// A replica of tier t started or stopped working: the decode runs of its host's other replicas
// that were timed with another count of busy neighbours end at the step in flight, and their
// next step runs at the new factor (a replica between two steps of its own changes nothing).
static int host_changed(Sim *s, int t) {
    int h = s->tier[t].cfg.host, rc = 0;
    if (h == 0) return 0;
    for (int u = 0; u < s->cfg->n_tiers && !rc; u++) {
        if (s->tier[u].cfg.host != h || !(s->tier[u].cfg.step.colocated > 1)) continue;
        for (int i = 0; i < s->tier[u].n_reps && !rc; i++) {
            Rep *rp = &s->tier[u].reps[i];
            if (rp->busy && rp->is_run && host_busy(s, u, rp) != rp->host_n) rc = cut_run(s, u, i);
        }
    }
    return rc;
}

// Starts the next step (or decode run, or batch) on an idle READY/DRAINING replica.
static int start_work_on(Sim *s, int t, int ri) {
    TierState *ts = &s->tier[t];
    Rep *rp = &ts->reps[ri];
    CHECK(!rp->busy);
    const SimTier *c = &ts->cfg;
    if (c->one_shot) {
        int64_t due = batcher_ready_at(ts->batcher);
        if (due < 0 || due > s->now) return 0;
        rp->n_batch = batcher_take(ts->batcher, s->now, rp->batch, rp->cap);
        double extra = rp->n_batch > 0 ? wake(s, &c->step, rp, rp->batch[0].id) : 0;
        StepShape sh = {0};
        for (int64_t i = 0; i < rp->n_batch; i++) {
            BatchItem *it = &rp->batch[i];
            SimReq *r = sim_req(s, it->id);
            r->rep = (int16_t)ri;
            r->rep_pos = (int32_t)rp->n_live;
            rp->live[rp->n_live++] = it->id;
            if (c->cost_in_flight) r->share_mark = ledger_share_enter(&rp->inflight, s->now);
            ts->live++;
            sim_note_wait(s, r);
            sh.prefill_tokens += it->tokens;
            sh.ctx_tokens += it->tokens;
            sh.attn_pairs += (double)it->tokens * 0.5 * (double)(it->tokens + 1);
        }
        rp->busy = true;
        rp->is_run = false;
        rp->t0 = s->now;
        rp->t_end = s->now + fmax(1, round_us(step_time_us(&c->step, &sh) * factor_of(s, t, rp) + extra));
        s->res->steps++;
        return sim_push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
    }
    // Continuous batching: a request handed to a replica with nothing running wakes it.
    double extra = rp->n_running == 0 && rp->n_pending > 0 ? wake(s, &c->step, rp, rp->pending[0]) : 0;
    // Hand pending requests to the scheduler first.
    for (int64_t i = 0; i < rp->n_pending; i++) {
        uint64_t id = rp->pending[i];
        SimReq *r = sim_req(s, id);
        int rc = sched_add(rp->sched, id, r->in, r->out > 0 ? r->out : 1, 0, r->tier_arrival_us);
        if (rc != 0) {   // can never run here (too long): rejected, like the worker's 400
            sim_leave_replica(s, t, rp, id);
            sim_drop_request(s, id, 400);
        }
    }
    rp->n_pending = 0;
    int64_t k = s->cfg->no_fast_path ? 0 : sched_steps_until_change(rp->sched, &rp->run);
    if (k > 0) {
        rp->run_factor = factor_of(s, t, rp);
        // With a spread, a run ends about when its speed's window does (the next step draws anew).
        if (c->step.n_spread > 0) {
            double first = step_decode_run_us(&c->step, rp->run.n_rows, rp->run.ctx_tokens, 1) * rp->run_factor;
            double left = (double)(rp->speed_until - s->now);
            if (first > 0 && left / first < (double)k) k = (int64_t)fmax(1, ceil(left / first));
        }
        rp->busy = rp->is_run = true;
        rp->run_k = k;
        rp->t0 = s->now + llround(fmax(0, extra));   // (a waking request prefills first: extra is 0 here)
        rp->t_end = s->now + round_us(step_decode_run_us(&c->step, rp->run.n_rows, rp->run.ctx_tokens, k) * rp->run_factor);
        if (rp->t_end <= s->now) rp->t_end = s->now + 1;
        return sim_push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
    }
    SchedBatch b;
    sched_step(rp->sched, s->now, &b);
    if (b.n_rows == 0) {
        sched_step_done(rp->sched, s->now, NULL);
        return 0;
    }
    for (int64_t i = 0; i < b.n_rows; i++) sim_note_wait(s, sim_req(s, b.rows[i].id));
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
    rp->t_end = s->now + fmax(1, round_us(step_time_us(&c->step, &sh) * factor_of(s, t, rp) + extra));
    s->res->steps++;
    return sim_push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
}

static int start_work(Sim *s, int t, int ri) {
    int rc = start_work_on(s, t, ri);
    return rc ? rc : host_changed(s, t);
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
    double f = rp->run_factor, first = step_decode_run_us(sm, rp->run.n_rows, rp->run.ctx_tokens, 1) * f;
    if (first > 0) {
        double guess = (double)(s->now - rp->t0) / first + 1;
        if (guess < (double)hi) hi = (int64_t)guess;
    }
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        int64_t end = rp->t0 + round_us(step_decode_run_us(sm, rp->run.n_rows, rp->run.ctx_tokens, mid) * f);
        if (end <= s->now) lo = mid; else hi = mid - 1;
    }
    int64_t k = lo + 1;
    if (k >= rp->run_k) return 0;
    rp->run_k = k;
    rp->t_end = rp->t0 + round_us(step_decode_run_us(sm, rp->run.n_rows, rp->run.ctx_tokens, k) * f);
    if (rp->t_end <= rp->t0) rp->t_end = rp->t0 + 1;
    rp->ver++;
    return sim_push_ev(s, rp->t_end, EV_STEP, t, ri, rp->ver);
}

int sim_step_end(Sim *s, int t, int ri) {
    TierState *ts = &s->tier[t];
    Rep *rp = &ts->reps[ri];
    rp->busy = false;
    rp->idle_from = s->now;
    int rc = 0;
    if (ts->cfg.one_shot) {
        for (int64_t i = 0; i < rp->n_batch; i++) rp->w[i] = rp->batch[i].tokens, rp->running[i] = rp->batch[i].id;
        step_shares(rp, rp->t_end - rp->t0, rp->n_batch);
        add_shares(s, rp, rp->running, rp->n_batch);
        for (int64_t i = 0; i < rp->n_batch && !rc; i++)
            rc = sim_finish_request(s, t, rp, rp->batch[i].id, s->now, s->now, 0, 200);
        rp->n_batch = 0;
    } else {
        int64_t nf;
        if (rp->is_run) {
            CHECK(rp->n_running == rp->run.n_rows);
            run_shares(rp);
            sched_advance_decode(rp->sched, rp->run_k, s->now);
            s->res->advanced_steps += rp->run_k;
            s->res->steps += rp->run_k;
        } else {
            // rp->running / rp->w hold the ended step's rows and their tokens (set in start_work).
            sched_step_done(rp->sched, s->now, NULL);
            step_shares(rp, rp->t_end - rp->t0, rp->n_running);
        }
        add_shares(s, rp, rp->running, rp->n_running);
        const ReqInfo *fin = sched_finished(rp->sched, &nf);
        for (int64_t i = 0; i < nf && !rc; i++) {
            for (int64_t j = 0; j < rp->n_running; j++)
                if (rp->running[j] == fin[i].id) { rp->running[j] = rp->running[--rp->n_running]; break; }
            rc = sim_finish_request(s, t, rp, fin[i].id, fin[i].first_token_us, fin[i].last_token_us,
                                    fin[i].n_generated, 200);
        }
    }
    if (rc) return rc;
    if (rp->st == R_DRAINING && rp->n_live == 0) {
        sim_stop_replica(s, t, rp);
        rc = sim_dispatch(s, t);
        return rc ? rc : host_changed(s, t);
    }
    if (rp->st == R_DEAD) return host_changed(s, t);
    rc = sim_dispatch(s, t);
    if (!rc && !rp->busy && rp->n_live > 0) rc = start_work(s, t, ri);
    return rc ? rc : host_changed(s, t);   // gone idle: its neighbours speed up
}

// ---- dispatch (policy/dispatch) ----

// Fills the tier's dispatch slots from its replicas.
static void fill_slots(TierState *ts) {
    for (int i = 0; i < ts->n_reps; i++)
        ts->slots[i] = (DispatchSlot){.ready = ts->reps[i].st == R_READY, .load = ts->reps[i].n_live,
                                      .cap = ts->reps[i].cap};
}

bool sim_replica_free(Sim *s, int t) {
    fill_slots(&s->tier[t]);
    return dispatch_pick(s->tier[t].slots, s->tier[t].n_reps) >= 0;
}

// Moves queued requests to the replicas dispatch_pick chooses and starts idle ones. A request
// whose first tier answers with a scripted error (trace) ends there at once: no engine step.
int sim_dispatch(Sim *s, int t) {
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
            rc = sim_push_ev(s, due, EV_BATCH, t, -1, ++ts->batch_ver);
        }
        return rc;
    }
    // Slots are filled once and the chosen replica's is refreshed after each dispatch: nothing
    // else changes this tier's replicas meanwhile (a scripted error finishes without one).
    fill_slots(ts);
    while (ts->qlen > 0 && !rc) {
        int best = dispatch_pick(ts->slots, ts->n_reps);
        if (best < 0) break;
        Rep *rp = &ts->reps[best];
        uint64_t id = sim_queue_pop(ts);
        SimReq *r = sim_req(s, id);
        if (r->status != 200 && !r->escalated) {
            sim_note_wait(s, r);
            rc = sim_finish_request(s, t, NULL, id, s->now, s->now, 0, r->status);
            continue;
        }
        r->rep = (int16_t)best;
        r->rep_pos = (int32_t)rp->n_live;
        rp->live[rp->n_live++] = id;
        rp->pending[rp->n_pending++] = id;
        if (ts->cfg.cost_in_flight) r->share_mark = ledger_share_enter(&rp->inflight, s->now);
        ts->live++;
        rc = rp->busy ? cut_run(s, t, best) : start_work(s, t, best);
        ts->slots[best].load = rp->n_live;   // start_work may have refused one (too long)
    }
    return rc;
}
