// sim.c — the discrete-event simulator (model in sim.h, layout in sim_int.h): requests — their
// arrival, routing (policy/router), tier-queue admission (policy/dispatch), cascade escalation
// (policy/cascade), canary guards (policy/canary) and completion — then setup and the main loop.
#include "plan/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "plan/sim_int.h"
#include "policy/cascade.h"
#include "policy/respcache.h"

// ---- records ----

static void trace_record(Sim *s, const SimReq *r, int status) {
    if (r->trace_i < 0 || !s->cfg->records) return;
    s->cfg->records[r->trace_i] = (SimRecord){
        .route = r->route, .first_tier = r->first_tier, .tier = status == 404 ? -1 : r->tier,
        .escalated = r->escalated, .candidate = r->candidate, .status = status, .cost_nusd = r->cost_nusd,
        .idle_nusd = r->idle_nusd,
        .e2e_ms = (double)(s->now + r->overhead_us - r->arrival_us) / 1e3};
}

void sim_note_wait(Sim *s, SimReq *r) {
    if (!r->counted || r->waited || r->escalated) return;
    r->waited = true;
    double w = (double)(s->now - r->tier_arrival_us);
    stats_add(&s->wait, w);
    s->wait_sum_s += w * 1e-6;
    s->n_wait++;
    s->n_wait_pos += w > 0;
}

static void leave_system(Sim *s, uint64_t id) {
    sim_area_to(s, s->now);
    s->in_system--;
    sim_req_free(s, id);
}

void sim_drop_request(Sim *s, uint64_t id, int status) {
    SimReq *r = sim_req(s, id);
    if (r->counted) s->res->rejected++;
    trace_record(s, r, status);
    leave_system(s, id);
}

// first_token_us/last_token_us: the answering call's tokens (TPOT); client_first_us: when the
// client saw the first one (TTFT: later for an answer the gateway buffered, policy/cascade).
static void record_final(Sim *s, SimReq *r, int64_t first_token_us, int64_t last_token_us, int64_t client_first_us,
                         int64_t n_gen, int status) {
    // Each call's time outside engine steps (StepModel.request_overhead_us) delays the answer.
    double e2e = (double)(s->now + r->overhead_us - r->arrival_us);
    // The trace's size of an answer is not known: the store counts entries (bytes 1 each).
    if (r->cache_store && status == 200 && s->rcache) respcache_insert(s->rcache, r->cache_key, 1, s->now);
    s->e2e_sum_all_us += e2e;
    s->done_all++;
    s->res->records_idle_nusd += r->idle_nusd;
    trace_record(s, r, status);
    if (!r->counted) return;
    SimResult *res = s->res;
    res->attributed_usd += (double)r->cost_nusd * 1e-9;
    res->attributed_nusd += r->cost_nusd;
    if (status != 200) { res->failed++; return; }
    if (s->cfg->batch_sample > 0) {   // a sampled run: when 20% and 80% of it were done
        s->run_done++;
        if (s->run_done == s->cfg->batch_sample / 5) s->run_t20_us = s->now;
        if (s->run_done == s->cfg->batch_sample * 4 / 5) s->run_t80_us = s->now;
    }
    res->completed++;
    res->in_tokens += r->in;
    res->out_tokens += n_gen;
    stats_add(&s->e2e, e2e);
    stats_add(&s->ttft, (double)((client_first_us >= 0 ? client_first_us : s->now) + r->overhead_us - r->arrival_us));
    if (n_gen > 1) stats_add(&s->tpot, (double)(last_token_us - first_token_us) / (double)(n_gen - 1));
}

// ---- routing ----

static void routing_init(Sim *s) {
    const SimConfig *c = s->cfg;
    s->default_rule = (RouteRule){.endpoint = RT_EP_ANY, .max_prompt_chars = -1, .canary = -1, .kind = ROUTE_TIER,
                                  .tier = 0, .escalate_on_error = true};
    if (c->n_tiers == 2) {
        s->default_rule.kind = ROUTE_CASCADE;
        s->default_rule.first = 0;
        s->default_rule.then = 1;
        // escalation_rate gives confidences of 0 or 1 (answer_confidence): any threshold in (0,1] works.
        s->default_rule.min_confidence = c->conf_model ? c->conf_threshold : 0.5;
    }
    for (int k = 0; k < c->n_canaries; k++) s->canaries[k] = c->canaries[k];
}

RouterEndpoint sim_class_endpoint(WlClass cls) {
    static const RouterEndpoint by_class[WL_CLASS_COUNT] = {
        [WL_CHAT] = RT_EP_CHAT, [WL_COMPLETION] = RT_EP_COMPLETIONS, [WL_EMBEDDING] = RT_EP_EMBEDDINGS,
        [WL_BATCH] = RT_EP_COMPLETIONS};
    CHECK(cls >= 0 && cls < WL_CLASS_COUNT);
    return by_class[cls];
}

static RouterEndpoint generated_endpoint(const SimConfig *c) {
    return c->endpoint != RT_EP_ANY ? c->endpoint : sim_class_endpoint(c->wl->cls);
}

// router_decide, as the gateway calls it for each request it reads (one canary draw at most).
static void route(Sim *s, SimReq *r) {
    const SimConfig *c = s->cfg;
    RouteInput in = {.endpoint = generated_endpoint(c), .model = c->model, .prompt_chars = r->prompt_chars};
    const RouteRule *rules = c->n_routes ? c->routes : &s->default_rule;
    RouteDecision d = router_decide(rules, c->n_routes ? c->n_routes : 1, s->canaries, c->candidate_of, &in,
                                    &s->route_rng);
    r->route = (int16_t)d.rule;
    r->first_tier = r->tier = (int16_t)d.tier;
    r->then = (int16_t)d.then;
    r->min_confidence = (float)d.min_confidence;
    r->mode = (uint8_t)d.mode;
    r->escalate_on_error = d.escalate_on_error;
    r->candidate = d.candidate;
    r->canary = (int16_t)d.canary;
}

// The first tier's answer confidence: the trace's, a Beta draw, or 0/1 at escalation_rate.
static double answer_confidence(Sim *s, const SimReq *r) {
    const SimConfig *c = s->cfg;
    if (r->trace_i >= 0) return c->trace[r->trace_i].confidence;
    if (c->conf_model) {
        double x = rng_gamma(&s->rng, c->conf_alpha, 1.0), y = rng_gamma(&s->rng, c->conf_beta, 1.0);
        return x / (x + y);
    }
    return rng_uniform(&s->rng) < c->escalation_rate ? 0 : 1;
}

// ---- a request's life ----

int sim_finish_request(Sim *s, int t, Rep *rp, uint64_t id, int64_t first_token_us, int64_t last_token_us,
                       int64_t n_gen, int status) {
    SimReq *r = sim_req(s, id);
    if (rp) sim_leave_replica(s, t, rp, id);
    const SimConfig *c = s->cfg;
    if (rp) r->overhead_us += llround(s->tier[t].cfg.step.request_overhead_us);
    // A canary candidate's answers feed its guards, as the gateway's do.
    if (r->candidate && r->canary >= 0 && t == c->candidate_of[r->canary] &&
        canary_answer(&s->canaries[r->canary], s->now, s->now - r->arrival_us, status >= 500) != CANARY_OK)
        s->res->rollbacks++;
    bool first_call = !r->escalated && r->then >= 0;   // a cascade's first call
    if (first_call) {
        double conf = status == 200 ? answer_confidence(s, r) : 0;
        r->confidence = (float)conf;
        if (cascade_decide(status, conf, r->min_confidence, r->escalate_on_error)) {
            r->escalated = true;
            if (r->counted) s->res->escalated++;
            r->first_cost_nusd = r->cost_nusd;
            r->tier = r->then;
            r->tier_arrival_us = s->now;
            int rc = sim_queue_push(&s->tier[r->then], id, true);   // at the head, always admitted
            return rc ? rc : sim_dispatch(s, r->then);
        }
    }
    record_final(s, r, first_token_us, last_token_us, cascade_call_streams(first_call) ? first_token_us : s->now, n_gen,
                 status);
    leave_system(s, id);
    return 0;
}

// Draws (or reads from the trace) the next arrival and schedules its event.
static int next_arrival(Sim *s) {
    const SimConfig *c = s->cfg;
    int64_t t_next, trace_i = -1;
    int32_t in, out;
    int64_t chars;
    if (c->trace) {
        if (s->trace_next >= c->n_trace) { s->arrivals_done = true; return 0; }
        const SimTraceReq *tr = &c->trace[trace_i = s->trace_next++];
        t_next = llround(tr->t_s * 1e6);
        in = tr->in_tokens;
        out = tr->out_tokens;
        chars = tr->prompt_chars;
    } else {
        if (c->batch_sample > 0 && s->n_generated >= c->batch_sample) { s->arrivals_done = true; return 0; }
        s->n_generated++;
        WlRequest wr = wl_next(c->wl, &s->arr, &s->rng);
        t_next = llround(wr.t_s * 1e6);
        s->arr.t_s = wr.t_s;
        in = wr.in_tokens;
        out = wr.out_tokens;
        chars = llround((double)in * (c->chars_per_token > 0 ? c->chars_per_token : 4.0));
    }
    if (t_next < s->now) t_next = s->now;
    if (t_next >= s->horizon_us) { s->arrivals_done = true; return 0; }
    // The arrival event carries nothing: stash the request until it fires.
    uint64_t id;
    int rc = sim_req_new(s, &id);
    if (rc) return rc;
    SimReq *r = sim_req(s, id);
    r->arrival_us = r->tier_arrival_us = t_next;
    r->in = in;
    r->out = out;
    r->prompt_chars = chars;
    r->trace_i = trace_i;
    if (trace_i >= 0) r->status = (int16_t)c->trace[trace_i].status;
    return sim_push_ev(s, t_next, EV_ARRIVAL, 0, (int)(id & 0xffffffffu), (int64_t)(id >> 32));
}

// The workload's caches (cache: in docs/workload.md), for generated arrivals (a replayed trace
// says nothing of them). A response-cache hit is answered at once by the gateway after routing,
// as `serve` does: no replica time, cost 0. A prefix hit is admitted by the
// scheduler after its shared prefix (prefix_lookup), so the prefill, its time and its cost
// shrink by the cached blocks. True when the request was answered from the response cache.
static bool cache_draws(Sim *s, SimReq *r, uint64_t id) {
    const Workload *wl = s->cfg->wl;
    if (s->cfg->trace) return false;
    if (wl->cache_shared_prefix_tokens > 0)
        r->prefix_hit = rng_uniform(&s->cache_rng) < wl->cache_prefix_hit_rate;
    if (wl->cache_response_hit_rate <= 0 || rng_uniform(&s->cache_rng) >= wl->cache_response_hit_rate) return false;
    if (r->counted) s->res->cache_hits++;
    r->first_tier = r->tier = r->then = -1;   // routed, but no tier answers
    r->candidate = false;
    r->cost_nusd = 0;
    record_final(s, r, s->now, s->now, s->now, 0, 200);
    leave_system(s, id);
    return true;
}

// A routed replayed request through the gateway's response cache, with policy/respcache's rule
// and store as `serve` applies them: cacheable rows are looked up by (route, cache_key) before any
// tier is asked; a hit is answered at once at cost 0 with no tier; a miss stores its answer when it
// succeeds (record_final). True when answered from the cache.
static bool trace_cache(Sim *s, SimReq *r, uint64_t id) {
    const SimConfig *c = s->cfg;
    const SimTraceReq *t = &c->trace[r->trace_i];
    RespCacheReq q = {.endpoint = generated_endpoint(c), .has_temperature = t->has_temperature,
                      .temperature = t->temperature, .has_seed = t->has_seed};
    if (!t->cache_key[0] || respcache_cacheable(&q) != RESPCACHE_OK) return false;
    int rule = r->route;
    uint64_t key = respcache_hash(RESPCACHE_HASH_INIT, &rule, sizeof rule);
    key = respcache_hash(key, t->cache_key, strlen(t->cache_key));
    if (respcache_lookup(s->rcache, key, s->now) < 0) {
        r->cache_store = true;
        r->cache_key = key;
        return false;
    }
    r->first_tier = r->tier = r->then = -1;   // routed (its draw made, as the gateway does), no tier answers
    r->candidate = false;
    r->cost_nusd = 0;
    if (r->counted) s->res->cache_hits++;
    record_final(s, r, s->now, s->now, s->now, 0, 200);
    leave_system(s, id);
    return true;
}

// SchedConfig.prefix_lookup: the whole blocks of the shared prefix, short of the last token.
static int64_t prefix_lookup(void *ctx, uint64_t id, int64_t n_tokens) {
    Sim *s = ctx;
    const SimReq *r = sim_req(s, id);
    if (!r->prefix_hit) return 0;
    int64_t bt = s->tier[r->tier].cfg.sched.kv_block_tokens, p = s->cfg->wl->cache_shared_prefix_tokens;
    if (p > n_tokens - 1) p = n_tokens - 1;
    return p / bt * bt;
}

static int on_arrival(Sim *s, const Event *e) {
    uint64_t id = (uint64_t)e->ver << 32 | (uint32_t)e->rep;
    SimReq *r = sim_req(s, id);
    sim_area_to(s, s->now);
    s->in_system++;
    r->counted = r->arrival_us >= s->warmup_us;
    if (r->counted) s->res->arrived++;
    route(s, r);
    if (r->route < 0) {   // no rule matches: the gateway's 404
        s->res->unrouted++;
        sim_drop_request(s, id, 404);
        return next_arrival(s);
    }
    if (cache_draws(s, r, id)) return next_arrival(s);
    if (s->rcache && r->trace_i >= 0 && trace_cache(s, r, id)) return next_arrival(s);
    if (r->prefix_hit && r->counted) s->res->prefix_hits++;
    int t = r->first_tier;
    TierState *ts = &s->tier[t];
    int rc = 0;
    if (ts->cfg.one_shot) {
        if (batcher_add(ts->batcher, id, r->in, s->now) != 0) sim_drop_request(s, id, 429);
        else rc = sim_dispatch(s, t);
    } else if (!dispatch_admit(ts->qlen, ts->cfg.max_queue, sim_replica_free(s, t))) {
        sim_drop_request(s, id, 429);
    } else {
        rc = sim_queue_push(ts, id, false);
        if (!rc) rc = sim_dispatch(s, t);
    }
    return rc ? rc : next_arrival(s);
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
    if (!c->one_shot && !s->cfg->trace && s->cfg->wl->cache_shared_prefix_tokens > 0) {
        ts->cfg.sched.prefix_lookup = prefix_lookup;
        ts->cfg.sched.prefix_ctx = s;
    }
    ts->warm_avail = c->as.warm_pool;
    ts->qcap = 64;
    ts->queue = malloc((size_t)ts->qcap * sizeof *ts->queue);
    ts->n_reps = 2 * c->as.max_replicas + 4;
    ts->reps = calloc((size_t)ts->n_reps, sizeof *ts->reps);
    ts->slots = calloc((size_t)ts->n_reps, sizeof *ts->slots);
    if (!ts->queue || !ts->reps || !ts->slots) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    if (c->one_shot) {
        BatcherConfig bc = c->batch;
        bc.max_queue = ts->cfg.max_queue;
        ts->batcher = batcher_create(&bc, err, err_len);
        if (!ts->batcher) return ERR_ARG;
    }
    int64_t cap = c->one_shot ? c->batch.max_batch_size : c->sched.max_num_seqs;
    if (!c->one_shot && c->max_concurrency > 0 && c->max_concurrency < cap) cap = c->max_concurrency;
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
    free(ts->slots);
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
    rp->idle_from = s->now;
    rp->cold = false;
    rp->speed_until = s->now;   // a new replica draws its own speed on its first step
    return sim_dispatch(s, e->tier);
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

static bool any_above_floor(const Sim *s) {
    for (int t = 0; t < s->cfg->n_tiers; t++)
        if (above_floor(s, t)) return true;
    return false;
}

static int run_loop(Sim *s) {
    int rc = 0;
    while (s->n_heap > 0 && !rc) {
        // Done: no arrivals left, nobody in the system, and nothing due before the horizon.
        if (s->arrivals_done && s->in_system == 0 && s->heap[0].t >= s->horizon_us && !any_above_floor(s)) break;
        if (s->cfg->max_events > 0 && s->res->events >= s->cfg->max_events) { s->res->truncated = true; break; }
        if (s->cfg->stop_at_s > 0 && s->heap[0].t > llround(s->cfg->stop_at_s * 1e6) && s->in_system > 0) {
            s->res->truncated = true;   // past the batch deadline with work left: the job missed
            break;
        }
        Event e = sim_pop_ev(s);
        s->now = e.t;
        s->res->events++;
        switch (e.type) {
        case EV_ARRIVAL: rc = on_arrival(s, &e); break;
        case EV_STEP: {
            Rep *rp = &s->tier[e.tier].reps[e.rep];
            if (rp->ver == e.ver && rp->busy) rc = sim_step_end(s, e.tier, e.rep);
            break;
        }
        case EV_READY: rc = on_ready(s, &e); break;
        case EV_SCALE:
            if (!(s->arrivals_done && s->in_system == 0) || above_floor(s, e.tier)) rc = sim_scale_tick(s, e.tier);
            break;
        case EV_BATCH:
            if (e.ver == s->tier[e.tier].batch_ver) { s->tier[e.tier].batch_due = -1; rc = sim_dispatch(s, e.tier); }
            break;
        case EV_SPOT: {
            Rep *rp = &s->tier[e.tier].reps[e.rep];
            if (rp->life == e.ver && (rp->st == R_READY || rp->st == R_STARTING || rp->st == R_DRAINING))
                rc = sim_spot_interrupt(s, e.tier, e.rep);
            break;
        }
        case EV_SAMPLE:
            sim_sample(s);
            if (s->now + llround(s->cfg->series_step_s * 1e6) < s->horizon_us)
                rc = sim_push_ev(s, s->now + llround(s->cfg->series_step_s * 1e6), EV_SAMPLE, 0, -1, 0);
            break;
        default: CHECK(0);
        }
    }
    return rc;
}

void sim_config_batch_run(SimConfig *cfg) {
    const Workload *wl = cfg->wl;
    if (wl->cls != WL_BATCH) return;
    // One day holds one run: its replicas live for the run window and go after it; a run still
    // going past its deadline (x1.1, to report by how much) has missed.
    cfg->horizon_s = 86400;
    cfg->drain_to_floor = true;
    cfg->stop_at_s = (wl->batch_start_hour + wl->batch_deadline_hours * 1.1) * 3600;
    // The run's requests all wait at its start: after a few waves of the deployment's whole
    // concurrency the throughput is steady, so a sample of them times the run.
    int64_t conc = 0;
    for (int t = 0; t < cfg->n_tiers; t++) {
        const SimTier *st = &cfg->tier[t];
        conc += (int64_t)st->as.max_replicas * (st->one_shot ? st->batch.max_batch_size : st->sched.max_num_seqs);
    }
    int64_t per_run = llround((double)wl->batch_requests_per_run * cfg->rate_scale);
    cfg->batch_run_requests = per_run < 1 ? 1 : per_run;
    cfg->batch_sample = conc * 4 > SIM_BATCH_SAMPLE_MIN ? conc * 4 : SIM_BATCH_SAMPLE_MIN;
    if (cfg->batch_sample >= cfg->batch_run_requests) cfg->batch_sample = 0;   // small run: all of it
}

int sim_run(const SimConfig *cfg, SimResult *res, char *err, size_t err_len) {
    memset(res, 0, sizeof *res);
    if (cfg->n_tiers < 1 || cfg->n_tiers > SIM_MAX_TIERS || !cfg->wl || cfg->horizon_s <= 0 ||
        cfg->n_canaries > SIM_MAX_CANARIES || (cfg->n_tiers > 2 && cfg->n_routes == 0))
        return err_set(err, err_len, ERR_ARG, "sim: need 1 to %d tiers (more than 2 only with routes), a workload "
                       "and a horizon > 0", SIM_MAX_TIERS);
    Sim *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    s->cfg = cfg;
    s->res = res;
    rng_seed(&s->rng, cfg->seed);
    rng_seed(&s->route_rng, cfg->route_seed ? cfg->route_seed : 1);
    rng_seed(&s->cache_rng, cfg->seed ^ 0xcac4ec0ffee5eedULL);
    rng_seed(&s->speed_rng, cfg->seed ^ 0x5b3ed5b3ed5b3edULL);
    if (cfg->resp_cache && cfg->trace) {
        RespCacheConfig rc = {.max_bytes = cfg->resp_cache_max_entries, .max_entries = cfg->resp_cache_max_entries,
                              .ttl_us = cfg->resp_cache_ttl_us};
        s->rcache = respcache_create(&rc, err, err_len);
        if (!s->rcache) {
            free(s);
            return ERR_ARG;
        }
    }
    routing_init(s);
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
        rc = sim_push_ev(s, 0, EV_SAMPLE, 0, -1, 0);
    }
    // The deployment is already running at t = 0 with its minimum replicas.
    for (int t = 0; t < cfg->n_tiers && !rc; t++) {
        int m = autoscale_initial(&cfg->tier[t].as, 0);   // as the gateway starts a tier
        for (int i = 0; i < m && !rc; i++) rc = sim_start_replica(s, t, true);
        if (!rc) rc = sim_push_ev(s, llround(s->tier[t].cfg.autoscale_period_s * 1e6), EV_SCALE, t, -1, 0);
    }
    wl_arrivals_init(&s->arr, cfg->wl, cfg->rate_scale, cfg->cv_override);
    if (!rc) rc = next_arrival(s);
    if (!rc) rc = run_loop(s);
    if (rc) { err_set(err, err_len, rc, "sim: %s", err_str(rc)); goto done; }
    // Close every replica at the end of the horizon (or of the drain).
    int64_t end = s->now > s->horizon_us ? s->now : s->horizon_us;
    s->now = end;
    for (int t = 0; t < cfg->n_tiers; t++) {
        TierState *ts = &s->tier[t];
        for (int i = 0; i < ts->n_reps; i++)
            if (ts->reps[i].st != R_DEAD) sim_stop_replica(s, t, &ts->reps[i]);
    }
    sim_area_to(s, end);
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
    int64_t rep_us = 0;
    for (int k = 0; k < LEDGER_KINDS; k++) rep_us += s->ledger.replica_us[k];
    res->utilization = rep_us > 0 ? (double)s->ledger.busy_ns / 1e3 / (double)rep_us : 0;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) res->replica_hours[k] = (double)s->ledger.replica_us[k] / 3.6e9;
    res->busy_usd = (double)s->ledger.busy_nusd * 1e-9;
    res->idle_usd = (double)ledger_idle_nusd(&s->ledger) * 1e-9;
    int64_t total = ledger_total_nusd(&s->ledger);
    res->accel_usd = (double)total * 1e-9;
    res->accel_nusd = total;
    res->idle_nusd = ledger_idle_nusd(&s->ledger);
    res->idle_taken_nusd = s->ledger.idle_taken_nusd;
    res->mean_in_system = s->area / (double)end;
    res->mean_response_s = s->done_all ? s->e2e_sum_all_us / (double)s->done_all / 1e6 : 0;
    res->arrival_rate_per_s = (double)s->done_all / ((double)end / 1e6);
    extrapolate_run(s);
done:
    for (int t = 0; t < SIM_MAX_TIERS; t++) tier_free(&s->tier[t]);
    free(s->heap);
    free(s->reqs);
    free(s->free_slots);
    respcache_destroy(s->rcache);
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
