// test_predict.c — one fixed deployment through the simulator, against queueing closed forms.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "plan/predict.h"
#include "test.h"

// Writes a workload with fixed token counts and Poisson arrivals; returns its path.
static const char *write_wl(const char *name, double rate, int in, int out) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fprintf(f, "name: %s\nclass: completion\nrate_per_s: %g\narrivals: {process: poisson}\n"
               "tokens:\n  input: {dist: fixed, mean: %d}\n  output: {dist: fixed, mean: %d}\n"
               "slo: {e2e_p95_ms: 100000}\n", name, rate, in, out);
    fclose(f);
    return path;
}

// With max_num_seqs = 1 and a constant step time S, a request of k output tokens holds the
// replica for exactly k steps (the prefill step yields the first token): an M/D/1 queue with
// D = k·S. Pollaczek–Khinchine: mean wait = ρ·D / (2(1 − ρ)); mean e2e = wait + D; TTFT = wait + S.
TEST(predict_fixed_tier_matches_md1_closed_form) {
    char err[256];
    Workload wl;
    ASSERT(wl_load(&wl, write_wl("md1", 2.0, 4, 10), err, sizeof err) == 0);
    StepProfile p = {.b0_us = 30000, .tp = 1};   // S = 30 ms, D = 300 ms, ρ = 0.6
    PredictConfig pc;
    predict_config_default(&pc);
    pc.max_num_seqs = 1;
    pc.max_queue = 0;          // unbounded: no rejections distort the queue
    pc.horizon_s = 20000;
    Prediction pr;
    ASSERT(predict_run(&wl, &p, &pc, &pr, err, sizeof err) == 0);
    double D = 0.3, rho = 2.0 * D, wait = rho * D / (2 * (1 - rho));
    EXPECT_EQ_INT(pr.sim.rejected, 0);
    EXPECT_NEAR(pr.sim.e2e_ms.mean, (wait + D) * 1e3, 0.04 * (wait + D) * 1e3);
    EXPECT_NEAR(pr.sim.ttft_ms.mean, (wait + 0.03) * 1e3, 0.06 * (wait + 0.03) * 1e3);
    EXPECT_NEAR(pr.sim.throughput_rps, 2.0, 0.05);
    EXPECT_NEAR(pr.utilization, rho, 0.02);
    predict_free(&pr);
    wl_free(&wl);
}

// The per-request overhead adds its value to every request's TTFT and e2e (exactly in the
// means; the percentiles, read from 1%-wide buckets, within half a bucket of each side) and leaves
// the engine's occupancy (throughput, TPOT) alone.
TEST(predict_request_overhead_shifts_latency_only) {
    char err[256];
    Workload wl;
    ASSERT(wl_load(&wl, write_wl("ovh", 3.0, 32, 8), err, sizeof err) == 0);
    StepProfile p = {.b0_us = 5000, .prefill_token_us = 200, .decode_row_us = 1000, .context_token_us = 2, .tp = 1};
    PredictConfig pc;
    predict_config_default(&pc);
    pc.horizon_s = 600;
    Prediction a, b;
    ASSERT(predict_run(&wl, &p, &pc, &a, err, sizeof err) == 0);
    p.request_overhead_us = 2500;
    ASSERT(predict_run(&wl, &p, &pc, &b, err, sizeof err) == 0);
    EXPECT_NEAR(b.sim.ttft_ms.mean - a.sim.ttft_ms.mean, 2.5, 1e-6);
    EXPECT_NEAR(b.sim.e2e_ms.mean - a.sim.e2e_ms.mean, 2.5, 1e-6);
    EXPECT_NEAR(b.sim.ttft_ms.p50 - a.sim.ttft_ms.p50, 2.5, 0.005 * (a.sim.ttft_ms.p50 + b.sim.ttft_ms.p50));
    EXPECT_NEAR(b.sim.e2e_ms.p95 - a.sim.e2e_ms.p95, 2.5, 0.005 * (a.sim.e2e_ms.p95 + b.sim.e2e_ms.p95));
    EXPECT_NEAR(b.sim.tpot_ms.p50, a.sim.tpot_ms.p50, 1e-9);
    EXPECT_NEAR(b.sim.throughput_rps, a.sim.throughput_rps, 1e-12);
    predict_free(&a);
    predict_free(&b);
    wl_free(&wl);
}

TEST(predict_rejects_bad_knobs) {
    char err[256] = "";
    Workload wl;
    ASSERT(wl_load(&wl, write_wl("bad", 1.0, 8, 8), err, sizeof err) == 0);
    StepProfile p = {.b0_us = 1000, .tp = 1};
    PredictConfig pc;
    predict_config_default(&pc);
    pc.max_num_batched_tokens = 4;   // < max_num_seqs 16
    Prediction pr;
    EXPECT(predict_run(&wl, &p, &pc, &pr, err, sizeof err) == ERR_ARG);
    EXPECT(strstr(err, "max_num_batched_tokens") != NULL);
    predict_config_default(&pc);
    pc.replicas = 0;
    EXPECT(predict_run(&wl, &p, &pc, &pr, err, sizeof err) == ERR_ARG);
    wl_free(&wl);
}
