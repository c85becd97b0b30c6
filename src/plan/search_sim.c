// search_sim.c — simulation of one candidate (search.h search_simulate): the simulator's tiers
// from a candidate, the three scenarios, the SLO verdict and the capacity repair.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/search_int.h"


// A stack that admits prompts only whole (vLLM on Neuron) runs without chunked prefill and with a
// budget of at least the longest request, as its platform sets it (max(budget, max_model_len)).
static void whole_prompts(SchedConfig *sc, const CatStack *st) {
    if (!st->whole_prompts) return;
    sc->enable_chunked_prefill = false;
    if (sc->max_num_batched_tokens < sc->max_model_len) sc->max_num_batched_tokens = sc->max_model_len;
}

static void fill_tier(const Catalog *cat, const Workload *wl, const Candidate *c, bool student, SimTier *t) {
    const CatHardware *hw = &cat->hw[student ? c->student_hw : c->hw];
    const CatModel *m = &cat->models[student ? c->student : c->model];
    int devices = student ? 1 : c->devices;
    const KvCapacity *kv = student ? &c->student_kv : &c->kv;
    int peak = student ? c->student_peak : c->replicas_peak, min = student ? c->student_min : c->replicas_min;
    int64_t bmax = student ? c->batch_knob : c->batch_eff;
    *t = (SimTier){0};
    t->step = student ? c->student_step : c->step;
    // Engines other than our worker report no busy share per request: the ledger charges them
    // by in-flight sharing (policy/ledger), in the simulation and in the emitted pipeline alike.
    t->cost_in_flight = strcmp(search_stack_on(cat, c, hw)->id, "rightsize-worker") != 0;
    t->one_shot = m->encoder;
    if (m->encoder) {
        double slo = wl->slo_e2e_p95_ms > 0 ? wl->slo_e2e_p95_ms : (wl->slo_e2e_p99_ms > 0 ? wl->slo_e2e_p99_ms : 1000);
        t->batch = (BatcherConfig){.max_batch_size = c->batch_knob,
                                   .max_queue_delay_us = c->batch_knob > 1 ? (int64_t)fmin(5000, slo * 1e3 / 20) : 0,
                                   .max_queue = 1};
    } else {
        sched_config_default(&t->sched);
        t->sched.max_num_seqs = c->batch_knob;
        int64_t mnbt = search_stack_on(cat, c, hw)->max_num_batched_tokens;
        t->sched.max_num_batched_tokens = c->batch_knob > mnbt ? c->batch_knob : mnbt;
        t->sched.max_num_queued_reqs = c->batch_knob;
        int64_t need = (int64_t)(wl->in.max + (wl->out.max > 0 ? wl->out.max : 1));
        t->sched.max_model_len = need < m->context ? need : m->context;
        whole_prompts(&t->sched, search_stack_on(cat, c, hw));
        t->sched.kv_block_tokens = kv->kv_block_tokens;
        t->sched.kv_blocks_total = kv->kv_blocks_total;
    }
    t->startup_s = hw->startup_s;
    t->warm_start_s = 30;
    t->reserved_kind = PRICE_RESERVED_1Y;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) t->usd_per_hour[k] = cat_replica_usd_per_hour(hw, devices, (PriceKind)k, NULL);
    t->spot_interruptions_per_hour = hw->spot_interruptions_per_day / 24.0;
    t->spot_replace_s = 120;
    t->max_queue = wl->cls == WL_BATCH ? wl->batch_requests_per_run * 2 + 16 : 200000;
    AutoscaleConfig *as = &t->as;
    if (wl->cls == WL_BATCH && c->scale == SCALE_AUTO) {
        // A run window: every replica up from 15 min before the run to its deadline, none after
        // (a run that overruns keeps the replicas its queue needs, one per batch of sequences).
        double per_replica = (double)(m->encoder ? c->batch_knob : t->sched.max_num_seqs);
        *as = (AutoscaleConfig){.min_replicas = 0, .max_replicas = peak, .target_per_replica = per_replica};
        double start = fmod(wl->batch_start_hour - 0.25 + 24, 24), end = fmod(wl->batch_start_hour + wl->batch_deadline_hours, 24);
        as->windows[0] = (AutoscaleWindow){start, end, peak};
        as->n_windows = 1;
    } else if (c->scale == SCALE_FIXED) {
        *as = (AutoscaleConfig){.min_replicas = peak, .max_replicas = peak, .target_per_replica = 1e12};
    } else {
        *as = (AutoscaleConfig){.min_replicas = min, .max_replicas = peak + 2,
                                .target_per_replica = fmax(1, 0.8 * (double)bmax),
                                .upscale_delay_us = 15000000, .downscale_delay_us = 300000000, .warm_pool = 1};
    }
    if (c->mix != MIX_ON_DEMAND) {
        t->reserved = c->scale == SCALE_FIXED && c->mix == MIX_RESERVED ? peak : (wl->cls == WL_BATCH && c->scale == SCALE_AUTO ? 0 : min);
        if (t->reserved > as->min_replicas) t->reserved = as->min_replicas;
        t->spot = c->mix == MIX_RESERVED_SPOT;
    }
}

void search_sim_config(const Catalog *cat, const Workload *wl, const Candidate *c, Scenario sc, double horizon_s,
                       uint64_t seed, SimConfig *cfg) {
    *cfg = (SimConfig){.wl = wl, .horizon_s = horizon_s, .seed = seed + (uint64_t)sc, .series_step_s = 0};
    cfg->rate_scale = sc == SCEN_BEST ? 0.8 : sc == SCEN_BURST ? 1.25 : 1.0;
    if (sc == SCEN_BURST && wl->cls != WL_BATCH) cfg->cv_override = (wl->process == ARR_GAMMA ? wl->cv : 1.0) * 1.5;
    if (c->student >= 0) {
        cfg->n_tiers = 2;
        fill_tier(cat, wl, c, true, &cfg->tier[0]);
        fill_tier(cat, wl, c, false, &cfg->tier[1]);
        cfg->escalation_rate = wl->escalation_rate >= 0 ? wl->escalation_rate : 0;
        cfg->conf_model = wl->escalation_rate < 0;
        cfg->conf_alpha = wl->conf_alpha;
        cfg->conf_beta = wl->conf_beta;
        cfg->conf_threshold = wl->conf_threshold;
    } else {
        cfg->n_tiers = 1;
        fill_tier(cat, wl, c, false, &cfg->tier[0]);
    }
    sim_config_batch_run(cfg);   // a batch workload's day: one run, its window, a sample (sim.h)
}

// Checks one scenario's result against the SLOs; writes the first miss into why.
bool search_meets(const Workload *wl, const SimResult *r, Scenario sc, char *why, size_t len) {
    const char *sn = scenario_names[sc];
    if (r->completed == 0) { snprintf(why, len, "%s: nothing completed", sn); return false; }
    if (wl->cls == WL_BATCH && (r->truncated || r->unfinished > 0)) {
        snprintf(why, len, "%s: the run is not done within its %.2f h deadline", sn, wl->batch_deadline_hours);
        return false;
    }
    if (r->truncated || r->unfinished > 0) {
        snprintf(why, len, "%s: overloaded (%lld requests never finished)", sn, (long long)r->unfinished);
        return false;
    }
    if ((double)r->rejected > 0.001 * (double)r->arrived) {
        snprintf(why, len, "%s: %lld of %lld requests rejected", sn, (long long)r->rejected, (long long)r->arrived);
        return false;
    }
    if (wl->cls == WL_BATCH) {
        if (r->e2e_ms.max > wl->batch_deadline_hours * 3.6e6) {
            snprintf(why, len, "%s: job took %.2f h > deadline %.2f h", sn, r->e2e_ms.max / 3.6e6, wl->batch_deadline_hours);
            return false;
        }
        return true;
    }
#define MISS(val, slo, name) \
    if ((slo) > 0 && (val) > (slo)) { snprintf(why, len, "%s: %s %.0f ms > %.0f ms", sn, name, (val), (slo)); return false; }
    MISS(r->ttft_ms.p95, wl->slo_ttft_p95_ms, "TTFT p95");
    MISS(r->tpot_ms.p95, wl->slo_tpot_p95_ms, "TPOT p95");
    MISS(r->e2e_ms.p95, wl->slo_e2e_p95_ms, "e2e p95");
    MISS(r->e2e_ms.p99, wl->slo_e2e_p99_ms, "e2e p99");
#undef MISS
    return true;
}

int search_simulate(const Catalog *cat, const Workload *wl, const SearchOptions *o, Candidate *c, bool keep_series,
                    char *err, size_t err_len) {
    if (!c->sim) {
        c->sim = calloc(SCEN_COUNT, sizeof *c->sim);
        if (!c->sim) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    // Up to two repairs: when a scenario misses for lack of capacity, add replicas and retry.
    // Before the last attempt the scenarios run hardest first (burst, expected, best) and the first
    // miss goes straight to the repair: the results a repair discards are never computed. The
    // last attempt, or one that meets every SLO, has all three (each is deterministic in its
    // config and seed, so the order does not change them).
    static const Scenario probe[SCEN_COUNT] = {SCEN_BURST, SCEN_EXPECTED, SCEN_BEST};
    for (int attempt = 0; attempt < 3; attempt++) {
        c->meets_slo = true;
        c->slo_miss[0] = 0;
        bool last = attempt == 2 || o->every_scenario;
        for (int k = 0; k < SCEN_COUNT; k++) {
            int sc = last ? k : (int)probe[k];
            SimConfig cfg;
            search_sim_config(cat, wl, c, (Scenario)sc, o->horizon_s, o->seed, &cfg);
            if (keep_series && sc == SCEN_EXPECTED) cfg.series_step_s = 60;
            // Overload guard: a healthy run needs ~5 events per request; 60 is far past it.
            cfg.max_events = (int64_t)(60.0 * wl->rate_per_s * cfg.rate_scale * o->horizon_s) + 1000000;
            sim_result_free(&c->sim[sc]);
            int rc = sim_run(&cfg, &c->sim[sc], err, err_len);
            if (rc) return rc;
            if (c->meets_slo && !search_meets(wl, &c->sim[sc], (Scenario)sc, c->slo_miss, sizeof c->slo_miss)) c->meets_slo = false;
            if (!c->meets_slo && !last) break;
        }
        if (c->meets_slo || attempt == 2) break;
        // Capacity repair: one more replica at peak (and at the floor for autoscaled plans).
        c->replicas_peak += 1 + c->replicas_peak / 4;
        if (c->scale == SCALE_AUTO && wl->cls != WL_BATCH) c->replicas_min += 1;
        if (c->student >= 0) { c->student_peak += 1 + c->student_peak / 4; if (c->scale == SCALE_AUTO) c->student_min += 1; }
    }
    c->simulated = true;
    const SimResult *e = &c->sim[SCEN_EXPECTED];
    double scale = WL_MONTH_S / e->end_s;
    c->accel_usd_month = e->accel_usd * scale;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) c->replica_hours_month[k] = e->replica_hours[k] * scale;
    c->fixed_usd_month = wl_fixed_usd_month(wl);
    c->usd_month = c->accel_usd_month + c->fixed_usd_month;
    const SimResult *b = &c->sim[SCEN_BURST];
    c->burst_usd_month = b->end_s > 0 ? b->accel_usd * WL_MONTH_S / b->end_s + c->fixed_usd_month : c->usd_month;
    double req_month = wl->rate_per_s * WL_MONTH_S;
    double tok_month = e->completed > 0 ? req_month * (double)(e->in_tokens + e->out_tokens) / (double)e->completed : 0;
    c->usd_per_1k_requests = c->usd_month / req_month * 1000;
    c->usd_per_1m_tokens = tok_month > 0 ? c->usd_month / tok_month * 1e6 : 0;
    c->usd_per_success = c->usd_month / (req_month * wl->success_rate);
    return 0;
}
