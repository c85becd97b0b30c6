// test_bench_workload.c — bench schedules drawn from planner workloads.
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "bench/bench_workload.h"
#include "test.h"

static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

// A flat Poisson workload: the count in [0, T) is Poisson(λT) (within 4σ), gaps are exponential
// (mean 1/λ, CV 1 within a few percent), token counts are the fixed ones, SLO bounds carried over.
TEST(bench_workload_schedule_is_the_workloads_poisson_process) {
    const char *path = write_file("wl_poisson.yaml",
        "name: p\nclass: chat\nrate_per_s: 50\narrivals: {process: poisson}\n"
        "tokens:\n  input: {dist: fixed, mean: 40}\n  output: {dist: fixed, mean: 12}\n"
        "slo: {ttft_p95_ms: 300, e2e_p95_ms: 900}\n");
    ASSERT(path);
    ArrivalSchedule s;
    arrivals_init(&s);
    Rng rng;
    rng_seed(&rng, 7);
    double ttft = 0, e2e = 0, rate = 0;
    char err[256];
    ASSERT(bench_workload_schedule(path, 200, &rng, &s, &ttft, &e2e, &rate, err, sizeof err) == 0);
    double n = (double)s.n, lam_t = 50.0 * 200;
    EXPECT(fabs(n - lam_t) < 4 * sqrt(lam_t));
    double sum = 0, sum2 = 0;
    bool tokens_ok = true, sorted = true;
    for (int64_t i = 0; i < s.n; i++) {
        double gap = (double)(s.a[i].t_us - (i ? s.a[i - 1].t_us : 0)) / 1e6;
        sum += gap;
        sum2 += gap * gap;
        tokens_ok &= s.a[i].input_tokens == 40 && s.a[i].output_tokens == 12;
        sorted &= i == 0 || s.a[i].t_us >= s.a[i - 1].t_us;
        sorted &= s.a[i].t_us < 200000000;
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    EXPECT_NEAR(mean, 0.02, 0.02 * 4 / sqrt(n));
    EXPECT_NEAR(sd / mean, 1.0, 0.05);
    EXPECT(tokens_ok);
    EXPECT(sorted);
    EXPECT_NEAR(ttft, 300, 1e-9);
    EXPECT_NEAR(e2e, 900, 1e-9);
    EXPECT_NEAR(rate, 50, 1e-9);
    arrivals_free(&s);
}

TEST(bench_workload_schedule_refuses_embedding_and_bad_files) {
    const char *path = write_file("wl_embed.yaml",
        "name: e\nclass: embedding\nrate_per_s: 5\narrivals: {process: poisson}\n"
        "tokens:\n  input: {dist: fixed, mean: 40}\n  output: {dist: fixed, mean: 1}\n"
        "slo: {e2e_p95_ms: 900}\n");
    ArrivalSchedule s;
    arrivals_init(&s);
    Rng rng;
    rng_seed(&rng, 1);
    double a = 0, b = 0, r = 0;
    char err[256] = "";
    EXPECT(bench_workload_schedule(path, 10, &rng, &s, &a, &b, &r, err, sizeof err) == ERR_ARG);
    EXPECT(strstr(err, "embedding") != NULL);
    EXPECT(bench_workload_schedule("/nonexistent/wl.yaml", 10, &rng, &s, &a, &b, &r, err, sizeof err) == ERR_ARG);
    EXPECT_EQ_INT(s.n, 0);
    arrivals_free(&s);
}
