// pipesim.c — a serve pipeline as a simulator config (contracts in pipesim.h).
#include "plan/pipesim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

static int tier_config(SimTier *st, const Pipeline *p, const PipeTier *t, const Workload *wl, int64_t max_len,
                       const char *path, int ti, char *err, size_t err_len) {
    if (!t->has_step)
        return err_set(err, err_len, ERR_ARG,
                       "%s:%d: key 'tiers[%d].step': tier '%s' has no step-time model; the planner needs "
                       "step: {b0_us, prefill_token_us, decode_row_us, context_token_us} (µs, e.g. the betas "
                       "of `rightsize calibrate`)", path, t->line, ti, t->name);
    memset(st, 0, sizeof *st);
    bool roofline = t->step_mem_fixed_us > 0 || t->step_mem_ctx_us > 0 || t->step_comp_token_us > 0 ||
                    t->step_comp_pair_us > 0;
    st->step = (StepModel){.source = roofline ? STEP_ROOFLINE : STEP_PROFILE, .b0_us = t->step_b0_us,
                           .prefill_token_us = t->step_prefill_token_us, .decode_row_us = t->step_decode_row_us,
                           .context_token_us = t->step_context_token_us, .multi_row_us = t->step_multi_row_us,
                           .mem_fixed_us = t->step_mem_fixed_us,
                           .mem_ctx_us = t->step_mem_ctx_us, .comp_token_us = t->step_comp_token_us,
                           .comp_pair_us = t->step_comp_pair_us,
                           .request_overhead_us = t->step_request_overhead_us};
    step_cold_set(&st->step, t->step_cold, t->step_n_cold);
    step_spread_set(&st->step, t->step_spread, t->step_n_spread, t->step_spread_window_us);
    st->step.colocated = t->step_colocated;
    // Tiers naming one host share it: host ids number the distinct names from 1, in tier order.
    for (int j = 0; j <= ti && t->plan_host[0]; j++)
        if (strcmp(p->tiers[j].plan_host, t->plan_host) == 0) { st->host = j + 1; break; }
    sched_config_default(&st->sched);
    st->sched.max_num_seqs = t->max_num_seqs;
    st->sched.max_num_batched_tokens = t->max_num_batched_tokens;
    st->sched.max_num_queued_reqs = t->max_concurrency;   // the gateway sends no more than this
    if (t->plan_kv_block_tokens > 0) st->sched.kv_block_tokens = t->plan_kv_block_tokens;
    st->sched.max_model_len = t->max_model_len > 0 ? t->max_model_len : max_len;
    int64_t per_seq = (st->sched.max_model_len + st->sched.kv_block_tokens - 1) / st->sched.kv_block_tokens;
    st->sched.kv_blocks_total = t->kv_blocks > 0 ? t->kv_blocks : per_seq * t->max_num_seqs;
    st->max_concurrency = t->max_concurrency;
    st->one_shot = t->batching;
    st->batch = t->batch;
    st->max_queue = p->max_queue;
    st->cost_in_flight = t->cost_in_flight;
    st->startup_s = t->plan_startup_s;
    st->warm_start_s = t->plan_warm_start_s;
    st->spot_interruptions_per_hour = t->plan_spot_interruptions_per_hour;
    st->spot_replace_s = t->plan_spot_replace_s;
    // Prices as the gateway's ledger bills them: the first reserved_replicas up at the reserved
    // price, the rest at cost_per_hour as on-demand or spot capacity (pipeline_tier_price).
    st->spot = t->capacity_kind == PIPE_SPOT;
    st->usd_per_hour[t->capacity_kind] = t->cost_per_hour;
    st->reserved = t->reserved_replicas;
    st->reserved_kind = t->reserved_kind;
    if (t->reserved_replicas > 0) st->usd_per_hour[t->reserved_kind] = t->reserved_cost_per_hour;
    // The gateway starts autoscale_initial replicas (at least one); autoscaled, it moves them in
    // [min, max] (a floor of 0 scales to zero); fixed, it keeps what it started.
    int n0 = t->min_replicas > 0 ? t->min_replicas : 1;
    if (t->autoscaled) {
        st->as = t->autoscale;
        st->autoscale_period_s = (double)p->autoscale_interval_us / 1e6;
    } else {
        st->as = (AutoscaleConfig){.min_replicas = n0, .max_replicas = n0, .target_per_replica = 1e12};
        st->autoscale_period_s = 5;
    }
    (void)wl;
    return 0;
}

int pipesim_build(PipeSim *ps, const Pipeline *p, const char *path, const Workload *wl, uint64_t seed,
                  double horizon_s, char *err, size_t err_len) {
    if (!wl && !ps->trace) return err_set(err, err_len, ERR_ARG, "a pipeline prediction needs a workload or a trace");
    if (!wl) {
        memset(&ps->trace_wl, 0, sizeof ps->trace_wl);
        ps->trace_wl.cls = WL_CHAT;
        wl = &ps->trace_wl;
    }
    for (int i = 0; i < p->n_routes; i++)
        if (p->routes[i].header[0])
            return err_set(err, err_len, ERR_ARG,
                           "%s:%d: key 'routes[%d].match.header': route '%s' matches on a request header, which "
                           "simulated requests do not carry; the planner cannot say which requests it takes",
                           path, p->routes[i].line, i, p->routes[i].name);
    int64_t max_len = 0;
    if (ps->trace) {
        for (int64_t i = 0; i < ps->n_trace; i++)
            if (ps->trace[i].in_tokens + ps->trace[i].out_tokens > max_len)
                max_len = ps->trace[i].in_tokens + ps->trace[i].out_tokens;
    } else {
        max_len = (int64_t)wl->in.max + (wl->out.max > 0 ? (int64_t)wl->out.max : 1);
    }
    if (max_len < 16) max_len = 16;
    SimConfig *c = &ps->cfg;
    *c = (SimConfig){.wl = wl, .n_tiers = p->n_tiers, .rate_scale = 1.0, .horizon_s = horizon_s, .seed = seed,
                     .route_seed = seed, .routes = p->routes, .n_routes = p->n_routes, .endpoint = RT_EP_ANY,
                     .trace = ps->trace, .n_trace = ps->n_trace};
    c->resp_cache = p->cache.enabled;
    c->resp_cache_max_entries = p->cache.max_entries;
    c->resp_cache_ttl_us = p->cache.ttl_us;
    c->escalation_rate = wl->escalation_rate >= 0 ? wl->escalation_rate : 0;
    c->conf_model = wl->escalation_rate < 0;
    c->conf_alpha = wl->conf_alpha;
    c->conf_beta = wl->conf_beta;
    c->conf_threshold = wl->conf_threshold;
    for (int i = 0; i < p->n_tiers; i++) {
        int rc = tier_config(&c->tier[i], p, &p->tiers[i], wl, max_len, path, i, err, err_len);
        if (rc) return rc;
    }
    for (int k = 0; k < p->n_canaries; k++) {
        const PipeCanary *pc = &p->canaries[k];
        canary_init(&ps->canaries[k], pc->weight_percent, pc->shadow_percent, &pc->guards);
        ps->candidate_of[k] = pc->candidate;
    }
    c->canaries = ps->canaries;
    c->candidate_of = ps->candidate_of;
    c->n_canaries = p->n_canaries;
    if (!ps->trace) sim_config_batch_run(c);   // a batch workload: its day as the planner runs it
    c->max_events = ps->trace ? 0 : (int64_t)(60.0 * wl->rate_per_s * horizon_s) + 1000000;
    return 0;
}

// The optional columns after status: temperature, seed, cache_key (each may be empty). 0 or -1.
static int trace_cache_cols(const char *p, SimTraceReq *t) {
    char f[3][64] = {{0}};
    for (int k = 0; k < 3 && *p == ','; k++) {
        p++;
        size_t n = strcspn(p, ",\r\n");
        if (n >= sizeof f[k]) return -1;
        memcpy(f[k], p, n);
        p += n;
    }
    if (*p && *p != '\n' && *p != '\r') return -1;
    char *end;
    if (f[0][0]) {
        t->temperature = strtod(f[0], &end);
        if (*end || !(t->temperature >= 0)) return -1;
        t->has_temperature = true;
    }
    if (f[1][0]) {
        (void)strtoll(f[1], &end, 10);
        if (*end) return -1;
        t->has_seed = true;
    }
    if (strlen(f[2]) >= sizeof t->cache_key) return -1;
    memcpy(t->cache_key, f[2], strlen(f[2]) + 1);
    return 0;
}

int pipesim_trace_load(PipeSim *ps, const char *path, char *err, size_t err_len) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, err_len, ERR_IO, "%s: cannot open the trace", path);
    char line[512];
    int64_t cap = 0, lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1 || line[0] == '\n' || line[0] == '#') continue;   // header
        SimTraceReq t = {0};
        long long chars, in, out;
        int used = 0;
        int n = sscanf(line, "%47[^,],%lf,%lld,%lld,%lld,%lf,%d%n", t.id, &t.t_s, &chars, &in, &out, &t.confidence,
                       &t.status, &used);
        if (n == 7 && trace_cache_cols(line + used, &t)) {
            rc = err_set(err, err_len, ERR_ARG, "%s:%lld: the optional columns are temperature,seed,cache_key "
                         "(a number or empty, an integer or empty, up to 47 bytes)", path, (long long)lineno);
            break;
        }
        if (n != 7 || !(t.t_s >= 0) || chars < 0 || in < 1 || out < 1 || in > 1 << 20 || out > 1 << 20 ||
            !(t.confidence >= 0 && t.confidence <= 1) || t.status < 100 || t.status > 599) {
            rc = err_set(err, err_len, ERR_ARG, "%s:%lld: expected id,t_s,prompt_chars,in_tokens,out_tokens,"
                         "confidence,status (t_s >= 0, tokens >= 1, confidence in [0,1], an HTTP status)", path,
                         (long long)lineno);
            break;
        }
        if (ps->n_trace && t.t_s < ps->trace[ps->n_trace - 1].t_s) {
            rc = err_set(err, err_len, ERR_ARG, "%s:%lld: arrival times must not decrease", path, (long long)lineno);
            break;
        }
        t.prompt_chars = chars;
        t.in_tokens = (int32_t)in;
        t.out_tokens = (int32_t)out;
        if (ps->n_trace == cap) {
            cap = cap ? cap * 2 : 256;
            SimTraceReq *p = realloc(ps->trace, (size_t)cap * sizeof *p);
            if (!p) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); break; }
            ps->trace = p;
        }
        ps->trace[ps->n_trace++] = t;
    }
    fclose(f);
    if (!rc && ps->n_trace == 0) rc = err_set(err, err_len, ERR_ARG, "%s: the trace has no requests", path);
    return rc;
}

void pipesim_free(PipeSim *ps) {
    if (!ps) return;
    free(ps->trace);
    ps->trace = NULL;
    ps->n_trace = 0;
}
