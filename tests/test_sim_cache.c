// test_sim_cache.c — the simulator's model of the two caches (workload `cache:`), against closed
// forms. One replica serving one sequence at a time, fixed 400-token prompts and one output token,
// so each request is exactly one prefill step of b0 + β1 × (prefill tokens computed); at $3600 an
// hour one nanosecond costs one nano-dollar, so a request's charge is its step time in ns:
//  * prefix cache: 200 shared tokens → 192 cached (whole 16-position blocks) → 208 computed;
//  * response cache: a hit costs 0 and takes no replica time; the hit count is binomial.
#include <math.h>

#include "plan/sim.h"
#include "test.h"

static SimConfig cache_config(Workload *wl) {
    *wl = (Workload){.rate_per_s = 0.5, .process = ARR_POISSON, .cv = 1, .peak_to_average = 1};
    wl->in = (TokSpec){.dist = TOK_FIXED, .mean = 400, .min = 1, .max = 400};
    wl->out = (TokSpec){.dist = TOK_FIXED, .mean = 1, .min = 1, .max = 1};
    wl_build_profile(wl);
    SimConfig cfg = {.wl = wl, .n_tiers = 1, .rate_scale = 1, .seed = 5, .horizon_s = 4000};
    SimTier *t = &cfg.tier[0];
    t->as = (AutoscaleConfig){.min_replicas = 1, .max_replicas = 1, .target_per_replica = 1e9};
    for (int k = 0; k < PRICE_KIND_COUNT; k++) t->usd_per_hour[k] = 3600;
    t->reserved_kind = PRICE_RESERVED_1Y;
    sched_config_default(&t->sched);
    t->sched.max_num_seqs = 1;
    t->sched.max_num_batched_tokens = 512;
    t->sched.max_num_queued_reqs = 1;
    t->sched.max_model_len = 4096;
    t->sched.kv_block_tokens = 16;
    t->sched.kv_blocks_total = 1024;
    t->step = (StepModel){.source = STEP_PROFILE, .b0_us = 1000, .prefill_token_us = 10};
    return cfg;
}

static SimResult run(SimConfig *cfg) {
    SimResult r;
    char err[256] = {0};
    int rc = sim_run(cfg, &r, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    return r;
}

TEST(sim_cache_closed_forms) {
    Workload wl;
    SimConfig cfg = cache_config(&wl);
    SimResult base = run(&cfg);
    EXPECT(base.completed > 1500 && base.cache_hits == 0 && base.prefix_hits == 0);
    EXPECT_EQ_INT(base.attributed_nusd, base.completed * 5000000);   // 1000 + 10 × 400 µs each
    // prefix: every request finds 200 shared tokens; 192 of them in whole blocks
    wl.cache_shared_prefix_tokens = 200;
    wl.cache_prefix_hit_rate = 1;
    SimResult pre = run(&cfg);
    EXPECT_EQ_INT(pre.prefix_hits, pre.completed);
    EXPECT_EQ_INT(pre.attributed_nusd, pre.completed * 3080000);     // 1000 + 10 × 208 µs
    // response cache on top: hits are free, the rest are prefix hits
    wl.cache_response_hit_rate = 0.25;
    SimResult both = run(&cfg);
    int64_t n = both.completed, h = both.cache_hits;
    EXPECT_EQ_INT(both.attributed_nusd, (n - h) * 3080000);
    EXPECT(fabs((double)h - 0.25 * (double)n) < 4 * sqrt(0.25 * 0.75 * (double)n));
    EXPECT(both.e2e_ms.mean < 0.85 * pre.e2e_ms.mean);   // a quarter answered at once
    // a prefix hit rate: the per-request prefill is cached for that fraction only
    wl.cache_response_hit_rate = 0;
    wl.cache_prefix_hit_rate = 0.5;
    SimResult half = run(&cfg);
    EXPECT_EQ_INT(half.attributed_nusd, half.prefix_hits * 3080000 + (half.completed - half.prefix_hits) * 5000000);
    EXPECT(fabs((double)half.prefix_hits - 0.5 * (double)half.completed) < 4 * sqrt(0.25 * (double)half.completed));
    // conservation still holds
    EXPECT_EQ_INT(both.attributed_nusd + both.idle_nusd, both.accel_nusd);
    sim_result_free(&base);
    sim_result_free(&pre);
    sim_result_free(&both);
    sim_result_free(&half);
}
