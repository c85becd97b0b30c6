// plan_bench.c — timings for docs/bench/40-plan.md (built and run by scripts/bench.d/40-plan).
//   month   one simulated month (30 days) of the support-assistant workload on a fixed candidate
//   peer    one simulated day, fast decode path vs step by step (the same simulator, no fast path)
//   erlang  simulator vs Erlang C on M/M/4 at rho 0.8 (ratio of mean wait and of P(wait > 0))
//   search  the whole `plan` search (>= 1000 candidates) on 2 threads
// Each timing is the median of 3 runs; CPU time of the process for single-threaded parts.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "plan/search.h"

static double now_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median3(double v[3]) { qsort(v, 3, sizeof *v, cmp_d); return v[1]; }

int main(int argc, char **argv) {
    // The support-assistant plan's pick (rightsize plan data/workloads/support-assistant.yaml), on demand.
    const char *cand = argc > 1 ? argv[1] : "a10gx1/qwen2.5-7b/int4/b16/auto/od";
    char err[512];
    Catalog cat;
    Workload wl;
    if (catalog_load(&cat, "data/catalog", err, sizeof err) || wl_load(&wl, "data/workloads/support-assistant.yaml", err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    Candidate c;
    if (search_parse_id(&cat, &wl, cand, &c, err, sizeof err) || c.pruned) {
        fprintf(stderr, "candidate %s: %s %s\n", cand, err, c.prune_reason);
        return 1;
    }
    // Month.
    double cpu[3], wall[3];
    SimResult r = {0};
    for (int i = 0; i < 3; i++) {
        SimConfig cfg;
        search_sim_config(&cat, &wl, &c, SCEN_EXPECTED, 30 * 86400.0, 1, &cfg);
        sim_result_free(&r);
        double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID), w0 = now_s(CLOCK_MONOTONIC);
        if (sim_run(&cfg, &r, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        cpu[i] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        wall[i] = now_s(CLOCK_MONOTONIC) - w0;
    }
    printf("month_candidate=%s\nmonth_requests=%lld\nmonth_steps=%lld\nmonth_advanced_steps=%lld\nmonth_events=%lld\n", cand,
           (long long)r.completed, (long long)r.steps, (long long)r.advanced_steps, (long long)r.events);
    printf("month_cpu_s=%.3f\nmonth_wall_s=%.3f\n", median3(cpu), median3(wall));
    sim_result_free(&r);
    // Peer: one day, fast path vs step by step.
    double fast[3], slow[3];
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 2; k++) {
            SimConfig cfg;
            search_sim_config(&cat, &wl, &c, SCEN_EXPECTED, 86400.0, 1, &cfg);
            cfg.no_fast_path = k == 1;
            double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
            if (sim_run(&cfg, &r, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
            (k ? slow : fast)[i] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            sim_result_free(&r);
        }
    }
    printf("day_fast_cpu_s=%.3f\nday_stepwise_cpu_s=%.3f\n", median3(fast), median3(slow));
    // Erlang C: M/M/4, rho 0.8, service = geometric(mean 200) steps of 1 ms.
    {
        Workload q = {0};
        double es = 1e-3 / (1 - exp(-1 / 200.0)), lambda = 0.8 * 4 / es;
        q.rate_per_s = lambda;
        q.cv = 1;
        q.peak_to_average = 1;
        q.in = (TokSpec){.dist = TOK_FIXED, .mean = 1, .min = 1, .max = 1};
        q.out = (TokSpec){.dist = TOK_EXPONENTIAL, .mean = 200, .min = 1, .max = 1 << 20};
        wl_build_profile(&q);
        SimConfig cfg = {.wl = &q, .n_tiers = 1, .rate_scale = 1, .seed = 42, .horizon_s = 1.5e6 / lambda, .warmup_s = 400};
        SimTier *t = &cfg.tier[0];
        t->as = (AutoscaleConfig){.min_replicas = 4, .max_replicas = 4, .target_per_replica = 1e9};
        for (int k = 0; k < PRICE_KIND_COUNT; k++) t->usd_per_hour[k] = 1;
        sched_config_default(&t->sched);
        t->sched.max_num_seqs = 1;
        t->sched.max_num_batched_tokens = 16;
        t->sched.max_num_queued_reqs = 1;
        t->sched.max_model_len = 1 << 22;
        t->sched.kv_blocks_total = (1 << 22) / 16;
        t->step = (StepModel){.source = STEP_PROFILE, .prefill_token_us = 1000, .decode_row_us = 1000};
        if (sim_run(&cfg, &r, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        double a = lambda * es, term = 1, sum = 0;
        for (int k = 0; k < 4; k++) { sum += term; term *= a / (k + 1); }
        double top = term / (1 - 0.8), pw = top / (sum + top), wq = pw / (4 / es - lambda);
        printf("erlang_requests=%lld\nerlang_wq_s=%.6f\nsim_wq_s=%.6f\nerlang_pwait=%.5f\nsim_pwait=%.5f\n", (long long)r.completed, wq,
               r.mean_wait_s, pw, r.p_wait);
        sim_result_free(&r);
    }
    // Search.
    double sw[3];
    int64_t n_cands = 0, n_sim = 0;
    for (int i = 0; i < 3; i++) {
        SearchOptions o;
        search_options_default(&o);
        o.threads = 2;
        SearchResult sr;
        double w0 = now_s(CLOCK_MONOTONIC);
        if (search_run(&cat, &wl, &o, &sr, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        sw[i] = now_s(CLOCK_MONOTONIC) - w0;
        n_cands = sr.n_cands;
        n_sim = sr.n_simulated;
        search_free(&sr);
    }
    printf("search_candidates=%lld\nsearch_simulated=%lld\nsearch_wall_s=%.3f\n", (long long)n_cands, (long long)n_sim, median3(sw));
    wl_free(&wl);
    catalog_free(&cat);
    return 0;
}
