// sim_scale.c — the simulator's autoscaling (policy/autoscale), spot interruptions and the
// sampled time series.
#include <math.h>

#include "base/check.h"
#include "plan/sim_int.h"

int sim_scale_tick(Sim *s, int t) {
    TierState *ts = &s->tier[t];
    const SimTier *c = &ts->cfg;
    int64_t waiting = ts->qlen + (ts->batcher ? batcher_len(ts->batcher) : 0);
    int want = autoscale_eval(&ts->as, &c->as, s->now, ts->n_up, waiting, ts->live);
    int rc = 0;
    while (ts->n_up < want && !rc) {
        rc = sim_start_replica(s, t, false);
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
            sim_stop_replica(s, t, rp);
        } else {
            rp->st = R_DRAINING;
            ts->n_up--;
        }
    }
    if (rc) return rc;
    return sim_push_ev(s, s->now + llround(c->autoscale_period_s * 1e6), EV_SCALE, t, -1, 0);
}

int sim_spot_interrupt(Sim *s, int t, int ri) {
    TierState *ts = &s->tier[t];
    Rep *rp = &ts->reps[ri];
    s->res->interruptions++;
    ts->spot_debt++;
    // Its requests start over from the front of the tier queue, in their order; the work they
    // had done there is lost (never charged to them: it stays idle time).
    for (int64_t i = rp->n_live - 1; i >= 0; i--) {
        uint64_t id = rp->live[i];
        SimReq *r = sim_req(s, id);
        r->rep = -1;
        r->rep_pos = -1;
        r->busy_ns = 0;
        ts->live--;
        int rc = sim_queue_push(ts, id, true);
        if (rc) return rc;
    }
    rp->n_live = rp->n_pending = rp->n_running = 0;
    rp->n_batch = 0;   // a batch in flight was in rp->live: already re-queued above
    sim_stop_replica(s, t, rp);
    if (ts->cfg.one_shot) {
        // Queue entries of a one-shot tier live in the batcher: move them back there.
        while (ts->qlen > 0) {
            uint64_t id = sim_queue_pop(ts);
            SimReq *r = sim_req(s, id);
            if (batcher_add(ts->batcher, id, r->in, r->tier_arrival_us) != 0) sim_drop_request(s, id, 429);
        }
    }
    return sim_dispatch(s, t);
}

void sim_sample(Sim *s) {
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

