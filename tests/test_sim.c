// Tests of the simulator against closed forms on long runs:
//  * M/M/c: c replicas with max_num_seqs = 1 behind the central queue, Poisson arrivals and
//    service = (geometric token count) x D — Erlang C mean wait and P(wait > 0) within 2%;
//  * M/D/1: a one-shot tier with batch size 1 and a fixed step time — Pollaczek–Khinchine
//    mean wait within 2%, P(wait > 0) = rho;
//  * Little's law L = lambda W; exact cost conservation (attributed + idle = replica time x
//    rate, in nano-dollars); the decode fast path against step-by-step; determinism per seed.
#include <math.h>
#include <string.h>

#include "plan/sim.h"
#include "test.h"

static Workload poisson_wl(double rate, TokSpec in, TokSpec out) {
    Workload wl = {0};
    wl.rate_per_s = rate;
    wl.process = ARR_POISSON;
    wl.cv = 1;
    wl.peak_to_average = 1;
    wl.in = in;
    wl.out = out;
    wl_build_profile(&wl);
    return wl;
}

static SimTier fixed_tier(int replicas, double usd_per_hour) {
    SimTier t = {0};
    t.as = (AutoscaleConfig){.min_replicas = replicas, .max_replicas = replicas, .target_per_replica = 1e9};
    for (int k = 0; k < PRICE_KIND_COUNT; k++) t.usd_per_hour[k] = usd_per_hour;
    t.reserved_kind = PRICE_RESERVED_1Y;
    return t;
}

static SchedConfig single_seq_sched(void) {
    SchedConfig c;
    sched_config_default(&c);
    c.max_num_seqs = 1;
    c.max_num_batched_tokens = 16;
    c.max_num_queued_reqs = 1;
    c.max_model_len = 1 << 22;
    c.kv_block_tokens = 16;
    c.kv_blocks_total = (1 << 22) / 16;
    return c;
}

// Erlang C: P(wait) = [a^c/c! / (1-rho)] / [sum_{k<c} a^k/k! + a^c/c! / (1-rho)], Wq = P/(c mu - lambda).
static void erlang_c(int c, double lambda, double es, double *p_wait, double *wq) {
    double a = lambda * es, rho = a / c, term = 1, sum = 0;
    for (int k = 0; k < c; k++) { sum += term; term *= a / (k + 1); }
    double top = term / (1 - rho);
    *p_wait = top / (sum + top);
    *wq = *p_wait / (c / es - lambda);
}

TEST(sim_mmc_matches_erlang_c) {
    const double D_us = 1000, m = 200;
    double es = D_us * 1e-6 / (1 - exp(-1 / m));   // E[tokens] = 1/(1 - e^(-1/m)) steps of D
    const int cs[] = {1, 4};
    const double rhos[] = {0.7, 0.8};
    for (int i = 0; i < 2; i++) {
        int c = cs[i];
        double lambda = rhos[i] * c / es;
        TokSpec in = {.dist = TOK_FIXED, .mean = 1, .min = 1, .max = 1};
        TokSpec out = {.dist = TOK_EXPONENTIAL, .mean = m, .min = 1, .max = 1 << 20};
        Workload wl = poisson_wl(lambda, in, out);
        SimConfig cfg = {.wl = &wl, .n_tiers = 1, .rate_scale = 1, .seed = 42 + (uint64_t)i};
        cfg.tier[0] = fixed_tier(c, 1.0);
        cfg.tier[0].sched = single_seq_sched();
        cfg.tier[0].step = (StepModel){.source = STEP_PROFILE, .prefill_token_us = D_us, .decode_row_us = D_us};
        cfg.horizon_s = 1500000.0 / lambda;   // 1.5 M requests
        cfg.warmup_s = 2000 * es;
        SimResult r;
        char err[256] = {0};
        ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
        double pw, wq;
        erlang_c(c, lambda, es, &pw, &wq);
        EXPECT_NEAR(r.mean_wait_s / wq, 1.0, 0.02);
        EXPECT_NEAR(r.p_wait / pw, 1.0, 0.02);
        EXPECT_NEAR(r.utilization, rhos[i], 0.01);
        sim_result_free(&r);
    }
}

TEST(sim_md1_matches_pollaczek_khinchine) {
    const double D_us = 20000;   // 20 ms per request
    double rho = 0.7, lambda = rho / (D_us * 1e-6);
    TokSpec in = {.dist = TOK_FIXED, .mean = 64, .min = 64, .max = 64};
    TokSpec out = {.dist = TOK_FIXED, .mean = 0, .min = 0, .max = 0};
    Workload wl = poisson_wl(lambda, in, out);
    wl.cls = WL_EMBEDDING;
    SimConfig cfg = {.wl = &wl, .n_tiers = 1, .rate_scale = 1, .seed = 5};
    cfg.tier[0] = fixed_tier(1, 1.0);
    cfg.tier[0].one_shot = true;
    cfg.tier[0].batch = (BatcherConfig){.max_batch_size = 1, .max_queue_delay_us = 0, .max_queue = 1};
    cfg.tier[0].step = (StepModel){.source = STEP_PROFILE, .b0_us = D_us};
    cfg.horizon_s = 1000000.0 / lambda;
    cfg.warmup_s = 100;
    SimResult r;
    char err[256] = {0};
    int rc = sim_run(&cfg, &r, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    double wq = rho * D_us * 1e-6 / (2 * (1 - rho));   // P-K with deterministic service
    EXPECT_NEAR(r.mean_wait_s / wq, 1.0, 0.02);
    EXPECT_NEAR(r.p_wait, rho, 0.01);
    // e2e = wait + D for every request.
    EXPECT_NEAR(r.e2e_ms.mean / 1e3, wq + D_us * 1e-6, (wq + D_us * 1e-6) * 0.02);
    sim_result_free(&r);
}

// A continuous-batching LLM tier with autoscaling and spot: Little's law and exact costs.
static SimConfig llm_config(Workload *wl, uint64_t seed) {
    TokSpec in = {.dist = TOK_LOGNORMAL, .mean = 900, .cv = 0.6, .min = 16, .max = 8000};
    TokSpec out = {.dist = TOK_LOGNORMAL, .mean = 250, .cv = 0.5, .min = 1, .max = 1500};
    *wl = poisson_wl(3.0, in, out);
    wl->peak_to_average = 2.5;
    wl_build_profile(wl);
    SimConfig cfg = {.wl = wl, .n_tiers = 1, .rate_scale = 1, .seed = seed};
    SimTier *t = &cfg.tier[0];
    *t = fixed_tier(1, 0.805);
    t->as = (AutoscaleConfig){.min_replicas = 1, .max_replicas = 8, .target_per_replica = 24,
                              .upscale_delay_us = 10000000, .downscale_delay_us = 300000000, .warm_pool = 1};
    t->usd_per_hour[PRICE_SPOT] = 0.44;
    t->usd_per_hour[PRICE_RESERVED_1Y] = 0.50;
    t->reserved = 1;
    t->spot = true;
    t->spot_interruptions_per_hour = 2.0;
    t->spot_replace_s = 120;
    t->startup_s = 180;
    t->warm_start_s = 30;
    sched_config_default(&t->sched);
    t->sched.max_num_seqs = 64;
    t->sched.max_num_batched_tokens = 2048;
    t->sched.max_num_queued_reqs = 64;
    t->sched.max_model_len = 16384;
    t->sched.kv_blocks_total = 4000;
    // A calibrated-looking L4 profile: 12 ms + 0.08 ms per prefill token + 0.2 ms per row.
    t->step = (StepModel){.source = STEP_PROFILE, .b0_us = 12000, .prefill_token_us = 80, .decode_row_us = 200,
                          .context_token_us = 0.05};
    cfg.horizon_s = 86400;
    cfg.series_step_s = 60;
    return cfg;
}

TEST(sim_littles_law_and_cost_conservation) {
    Workload wl;
    SimConfig cfg = llm_config(&wl, 9);
    SimResult r;
    char err[256] = {0};
    int rc = sim_run(&cfg, &r, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    EXPECT(r.completed > 200000);
    EXPECT_EQ_INT(r.rejected, 0);
    // Little: over a run that starts and ends empty, L·T = Σ W exactly; and λ ≈ the configured rate.
    EXPECT_NEAR(r.mean_in_system, r.arrival_rate_per_s * r.mean_response_s, r.mean_in_system * 1e-9);
    EXPECT_NEAR(r.arrival_rate_per_s, 3.0 * 86400 / r.end_s, 3.0 * 0.01);
    // Costs: every nano-dollar of replica time is attributed to a request or to idle.
    EXPECT_EQ_INT(r.attributed_nusd + r.idle_nusd, r.accel_nusd);
    // Idle attribution (the ledger's step 5): what requests took is what the ledger says was taken,
    // a real part of the idle, and never more.
    EXPECT_EQ_INT(r.records_idle_nusd, r.idle_taken_nusd);
    EXPECT(r.idle_taken_nusd > 0 && r.idle_taken_nusd <= r.idle_nusd);
    // And it equals Σ replica-hours × rate per pricing kind (rounding: < 1 µ$ per replica).
    double by_rate = r.replica_hours[PRICE_RESERVED_1Y] * 0.50 + r.replica_hours[PRICE_SPOT] * 0.44 +
                     r.replica_hours[PRICE_ON_DEMAND] * 0.805;
    EXPECT_NEAR(r.accel_usd, by_rate, 1e-4);
    EXPECT_NEAR(r.replica_hours[PRICE_RESERVED_1Y], r.end_s / 3600, 1e-9);   // the floor is always on
    EXPECT(r.replica_hours[PRICE_SPOT] > 1);                               // autoscaled on spot
    EXPECT(r.peak_replicas[0] >= 2);
    EXPECT(r.interruptions >= 1);
    EXPECT(r.e2e_ms.p50 > 0 && r.e2e_ms.p95 >= r.e2e_ms.p50 && r.e2e_ms.p99 >= r.e2e_ms.p95);
    EXPECT(r.advanced_steps > r.steps / 2);   // the fast path carries most decode steps
    sim_result_free(&r);
}

TEST(sim_fast_path_matches_step_by_step) {
    Workload wl;
    SimConfig cfg = llm_config(&wl, 3);
    cfg.horizon_s = 4 * 3600;
    cfg.tier[0].spot = false;
    // Fixed replicas: with autoscaling, a microsecond of rounding can move a scale decision by a
    // tick and the two runs diverge (both valid); here only the scheduler path differs.
    cfg.tier[0].as.min_replicas = cfg.tier[0].as.max_replicas = 3;
    SimResult a, b;
    char err[256];
    ASSERT(sim_run(&cfg, &a, err, sizeof err) == 0);
    cfg.no_fast_path = true;
    ASSERT(sim_run(&cfg, &b, err, sizeof err) == 0);
    EXPECT_EQ_INT(a.completed, b.completed);
    EXPECT_EQ_INT(a.out_tokens, b.out_tokens);
    // Step times round to whole microseconds per step in one and per run in the other.
    EXPECT_NEAR(a.e2e_ms.mean, b.e2e_ms.mean, b.e2e_ms.mean * 0.0005);
    EXPECT_NEAR(a.ttft_ms.p95, b.ttft_ms.p95, b.ttft_ms.p95 * 0.02);
    EXPECT_NEAR(a.tpot_ms.mean, b.tpot_ms.mean, b.tpot_ms.mean * 0.0005);
    EXPECT(a.events < b.events / 5);
    sim_result_free(&a);
    sim_result_free(&b);
}

TEST(sim_deterministic_per_seed_and_cascade) {
    Workload wl;
    SimConfig cfg = llm_config(&wl, 77);
    cfg.horizon_s = 3 * 3600;
    cfg.n_tiers = 2;
    cfg.tier[1] = cfg.tier[0];
    cfg.tier[1].step.b0_us *= 3;
    cfg.escalation_rate = 0.25;
    SimResult a, b, c;
    char err[256];
    ASSERT(sim_run(&cfg, &a, err, sizeof err) == 0);
    ASSERT(sim_run(&cfg, &b, err, sizeof err) == 0);
    EXPECT_EQ_INT(a.completed, b.completed);
    EXPECT_EQ_INT(a.accel_nusd, b.accel_nusd);
    EXPECT(a.e2e_ms.p99 == b.e2e_ms.p99 && a.ttft_ms.p95 == b.ttft_ms.p95);
    EXPECT_NEAR((double)a.escalated / (double)a.completed, 0.25, 0.02);
    EXPECT_EQ_INT(a.attributed_nusd + a.idle_nusd, a.accel_nusd);
    cfg.seed = 78;
    ASSERT(sim_run(&cfg, &c, err, sizeof err) == 0);
    EXPECT(c.accel_nusd != a.accel_nusd || c.e2e_ms.p99 != a.e2e_ms.p99);
    sim_result_free(&a);
    sim_result_free(&b);
    sim_result_free(&c);
    // A cascade's first answer is buffered (policy/cascade): with nothing escalated every answer
    // reaches the client whole, so its time to first token is its end to end, percentile by
    // percentile; with everything escalated the teacher's stream passes through and TTFT is less.
    cfg.horizon_s = 3600;
    cfg.escalation_rate = 0;
    ASSERT(sim_run(&cfg, &a, err, sizeof err) == 0);
    EXPECT_EQ_INT(a.escalated, 0);
    EXPECT(a.ttft_ms.p50 == a.e2e_ms.p50 && a.ttft_ms.p95 == a.e2e_ms.p95 && a.ttft_ms.p99 == a.e2e_ms.p99);
    cfg.escalation_rate = 1;
    ASSERT(sim_run(&cfg, &b, err, sizeof err) == 0);
    EXPECT(b.escalated > 0 && b.ttft_ms.p50 < b.e2e_ms.p50 / 2);
    sim_result_free(&a);
    sim_result_free(&b);
}

// Two tiers on one host (SimTier.host, StepModel.colocated = 1.5): a step starting while the other
// tier's replica is busy takes 1.5x as long, a decode run is cut when the neighbour goes idle, and
// the fast path agrees with stepping one step at a time. Steps: 1000 + 10/prompt token + 100/row.
// A (10 in, 5 out, confidence 0) at 0 ms: the student alone 0-5.5 ms, escalated to the teacher:
// prefill 5.5-6.6 (started alone), 4 decode steps at 1.65 ms (B busy) -> 13.2 ms.
// B (10 in, 9 out, confidence 1) at 6 ms: prefill 6.0-7.65 (A busy), decode steps of 1.65 ending
// 9.3, 10.95, 12.6, 14.25 (A went idle at 13.2, during the fourth), then 4 alone -> 18.65 ms, e2e 12.65.
TEST(sim_colocated_tiers_slow_each_other) {
    Workload wl = poisson_wl(1, (TokSpec){.dist = TOK_FIXED, .mean = 10}, (TokSpec){.dist = TOK_FIXED, .mean = 5});
    SimTier t = fixed_tier(1, 1.0);
    t.sched = single_seq_sched();
    t.sched.max_num_queued_reqs = 16;
    t.step = (StepModel){.source = STEP_PROFILE, .b0_us = 1000, .prefill_token_us = 10, .decode_row_us = 100,
                         .colocated = 1.5};
    t.host = 1;
    static SimTraceReq tr[2];
    static SimRecord rec[2], rec2[2];
    tr[0] = (SimTraceReq){.t_s = 1, .in_tokens = 10, .out_tokens = 5, .confidence = 0, .status = 200};
    tr[1] = (SimTraceReq){.t_s = 1.006, .in_tokens = 10, .out_tokens = 9, .confidence = 1, .status = 200};
    SimConfig cfg = {.wl = &wl, .n_tiers = 2, .rate_scale = 1, .seed = 3, .horizon_s = 5, .trace = tr, .n_trace = 2,
                     .records = rec};
    cfg.tier[0] = cfg.tier[1] = t;
    SimResult r;
    char err[256] = {0};
    ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
    sim_result_free(&r);
    EXPECT(rec[0].escalated && !rec[1].escalated);
    EXPECT_NEAR(rec[0].e2e_ms, 13.2, 0.002);
    EXPECT_NEAR(rec[1].e2e_ms, 12.65, 0.002);
    cfg.records = rec2;
    cfg.no_fast_path = true;
    ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
    sim_result_free(&r);
    for (int i = 0; i < 2; i++) {
        EXPECT_NEAR(rec2[i].e2e_ms, rec[i].e2e_ms, 0.002);
        EXPECT_EQ_INT(rec2[i].cost_nusd, rec[i].cost_nusd);
    }
    // Machines of their own (host 0), or no contention measured: A 5.5 + 5.5 ms, B 1.1 + 8 x 1.1 ms.
    cfg.no_fast_path = false;
    for (int k = 0; k < 2; k++) {
        cfg.tier[0].host = cfg.tier[1].host = k ? 1 : 0;
        cfg.tier[0].step.colocated = cfg.tier[1].step.colocated = k ? 1 : 1.5;
        ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
        sim_result_free(&r);
        EXPECT_NEAR(rec2[0].e2e_ms, 11.0, 0.002);
        EXPECT_NEAR(rec2[1].e2e_ms, 9.9, 0.002);
    }
}

// A replica woken from idle (StepModel.cold, steptime.h): the request that wakes it pays wake_us
// once and its steps run step_factor× slower; a request that starts right after another (its
// replica never idle) runs warm; between the rows the cost is interpolated. Closed forms on a
// replayed trace, step by step and on the decode fast path alike.
TEST(sim_cold_start_charges_only_the_waking_request) {
    Workload wl = poisson_wl(1, (TokSpec){.dist = TOK_FIXED, .mean = 10}, (TokSpec){.dist = TOK_FIXED, .mean = 5});
    SimTier t = fixed_tier(1, 1.0);
    t.sched = single_seq_sched();
    t.sched.max_num_queued_reqs = 16;
    // Prefill 10 tokens: 1000 + 10·10 = 1100 µs; each decode step 1000 + 100 = 1100 µs; 5 tokens.
    t.step = (StepModel){.source = STEP_PROFILE, .b0_us = 1000, .prefill_token_us = 10, .decode_row_us = 100};
    const double rows[] = {10000, 500, 1.2, 100000, 2000, 1.5};
    step_cold_set(&t.step, rows, 2);
    const double warm_us = 5 * 1100;
    // A: replica idle since it started at 0 (1 s, past the last row): 2000 + 5500·1.5 = 10250 µs.
    // B: arrives during A, starts when A ends (no idle): waits 8250 µs, then 5500 warm.
    // C: 55 ms after B's end: halfway between the rows: 1250 + 5500·1.35 = 8675 µs.
    double a = 1.0, b = 1.002, b_end = a + 0.01025 + 0.0055, c = b_end + 0.055;
    SimTraceReq tr[3] = {{.t_s = a, .in_tokens = 10, .out_tokens = 5, .confidence = 1, .status = 200},
                         {.t_s = b, .in_tokens = 10, .out_tokens = 5, .confidence = 1, .status = 200},
                         {.t_s = c, .in_tokens = 10, .out_tokens = 5, .confidence = 1, .status = 200}};
    const double want_ms[3] = {10.25, (b_end - b) * 1e3, 8.675};
    for (int fast = 0; fast < 2; fast++) {
        SimRecord rec[3];
        SimConfig cfg = {.wl = &wl, .n_tiers = 1, .rate_scale = 1, .seed = 1, .horizon_s = 10, .trace = tr,
                         .n_trace = 3, .records = rec, .no_fast_path = !fast};
        cfg.tier[0] = t;
        SimResult r;
        char err[256] = {0};
        int rc = sim_run(&cfg, &r, err, sizeof err);
        if (rc) test_fail(__FILE__, __LINE__, "%s", err);
        ASSERT(rc == 0);
        for (int i = 0; i < 3; i++) {
            EXPECT_EQ_INT(rec[i].status, 200);
            EXPECT_NEAR(rec[i].e2e_ms, want_ms[i], 0.004);   // whole µs per step
        }
        sim_result_free(&r);
        // Without the rows every request is warm.
        cfg.tier[0].step.n_cold = 0;
        ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
        EXPECT_NEAR(rec[0].e2e_ms, warm_us / 1e3, 0.004);
        EXPECT_NEAR(rec[2].e2e_ms, warm_us / 1e3, 0.004);
        sim_result_free(&r);
    }
    // The interpolation itself: 0 and ×1 at no gap, linear to the first row, the last row beyond.
    double w, f;
    step_cold_at(&t.step, 0, &w, &f);
    EXPECT(w == 0 && f == 1);
    step_cold_at(&t.step, 5000, &w, &f);
    EXPECT_NEAR(w, 250, 1e-9);
    EXPECT_NEAR(f, 1.1, 1e-12);
    step_cold_at(&t.step, 1e7, &w, &f);
    EXPECT(w == 2000 && f == 1.5);
}

// The machine's scatter (StepModel.spread, steptime.h): a replica draws one factor uniformly and
// holds it spread_window_us; its steps take factor× as long. Requests a second apart on one
// replica each start past the last window, so each runs wholly at one draw: its e2e is the warm
// time × 0.5 or × 1.5, each about half the time. With a window shorter than a request, the decode
// fast path ends its runs where the window does, so it draws exactly as step by step does.
TEST(sim_spread_scales_steps_by_window) {
    Workload wl = poisson_wl(1, (TokSpec){.dist = TOK_FIXED, .mean = 10}, (TokSpec){.dist = TOK_FIXED, .mean = 5});
    SimTier t = fixed_tier(1, 1.0);
    t.sched = single_seq_sched();
    t.sched.max_num_queued_reqs = 16;
    // Prefill 10 tokens: 1000 + 10·10 = 1100 µs; each decode step 1000 + 100 = 1100 µs; 5 tokens.
    t.step = (StepModel){.source = STEP_PROFILE, .b0_us = 1000, .prefill_token_us = 10, .decode_row_us = 100};
    const double factors[] = {0.5, 1.5};
    step_spread_set(&t.step, factors, 2, 100000);
    enum { N = 200 };
    static SimTraceReq tr[N];
    static SimRecord rec[N], rec2[N];
    for (int i = 0; i < N; i++)
        tr[i] = (SimTraceReq){.t_s = 1 + i, .in_tokens = 10, .out_tokens = 5, .confidence = 1, .status = 200};
    SimConfig cfg = {.wl = &wl, .n_tiers = 1, .rate_scale = 1, .seed = 3, .horizon_s = N + 5, .trace = tr,
                     .n_trace = N, .records = rec};
    cfg.tier[0] = t;
    SimResult r;
    char err[256] = {0};
    ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
    int n_fast = 0, n_slow = 0;
    for (int i = 0; i < N; i++) {
        EXPECT_EQ_INT(rec[i].status, 200);
        if (fabs(rec[i].e2e_ms - 2.75) < 0.004) n_fast++;
        else if (fabs(rec[i].e2e_ms - 8.25) < 0.004) n_slow++;
    }
    EXPECT_EQ_INT(n_fast + n_slow, N);
    EXPECT(n_fast > 70 && n_slow > 70);   // binomial(200, 1/2): 100 ± 7 (σ)
    EXPECT(r.tpot_ms.p95 > r.tpot_ms.p50 * 2.5 || r.tpot_ms.p50 > 1.5);   // the scatter reaches the percentiles
    sim_result_free(&r);
    // A window of 2.5 steps: draws within a request; the fast path and step by step agree record by record.
    step_spread_set(&cfg.tier[0].step, factors, 2, 2750);
    ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
    sim_result_free(&r);
    cfg.records = rec2;
    cfg.no_fast_path = true;
    ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
    sim_result_free(&r);
    int n_mixed = 0;
    for (int i = 0; i < N; i++) {
        EXPECT_NEAR(rec[i].e2e_ms, rec2[i].e2e_ms, 1e-9);
        EXPECT_EQ_INT(rec[i].cost_nusd, rec2[i].cost_nusd);
        n_mixed += fabs(rec[i].e2e_ms - 2.75) > 0.004 && fabs(rec[i].e2e_ms - 8.25) > 0.004;
    }
    EXPECT(n_mixed > N / 4);   // most requests span two or three windows
    // No spread: every request at the fitted speed.
    cfg.tier[0].step.n_spread = 0;
    ASSERT(sim_run(&cfg, &r, err, sizeof err) == 0);
    for (int i = 0; i < N; i++) EXPECT_NEAR(rec2[i].e2e_ms, 5.5, 0.004);
    sim_result_free(&r);
}
