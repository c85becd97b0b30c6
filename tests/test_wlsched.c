// Tests of src/bench/wlsched: open-loop schedules drawn from workload files. Truths from the
// workload's definition: Poisson counts (mean rate × window, within 5 sigma), the busiest minute of
// a profile with one burst, token counts inside the workload's clamps, refusals with messages.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "bench/wlsched.h"
#include "test.h"

static const char *write_workload(const char *name, const char *yaml) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fputs(yaml, f);
    fclose(f);
    return path;
}

TEST(wlsched_burst_window_rate_and_tokens) {
    const char *path = write_workload("burst.yaml",
        "name: burst\nclass: chat\nrate_per_s: 50\n"
        "arrivals: {process: poisson, bursts: [{start_hour: 6, minutes: 30, multiplier: 3}]}\n"
        "tokens:\n  input: {dist: lognormal, mean: 100, cv: 0.5, min: 10, max: 300}\n"
        "  output: {dist: fixed, mean: 7}\nslo: {ttft_p95_ms: 250, e2e_p99_ms: 4000}\n");
    ASSERT(path);
    // Profile: 30 minutes at x3 in a day of 1440, normalised to mean 1 -> 3 / (1500/1440) in the burst.
    double peak = 3.0 / ((1410.0 + 90.0) / 1440.0), calm = 1.0 / ((1410.0 + 90.0) / 1440.0);
    struct { double start_s, mult; } cases[] = {{-1, peak}, {12 * 3600.0, calm}};
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        ArrivalSchedule s;
        arrivals_init(&s);
        Rng rng;
        rng_seed(&rng, 7 + c);
        WlWindow w = {.duration_s = 120, .start_s = cases[c].start_s, .rate_scale = 1, .max_arrivals = 100000};
        WlInfo info;
        char err[256] = "";
        ASSERT(wlsched_build(path, &w, &rng, &s, &info, err, sizeof err) == 0);
        double want = 50 * cases[c].mult * 120;
        EXPECT(fabs((double)s.n - want) < 5 * sqrt(want));
        if (cases[c].start_s < 0) EXPECT_NEAR(info.start_s, 6 * 3600.0, 0);  // the burst's first minute
        EXPECT(strcmp(info.name, "burst") == 0);
        EXPECT_NEAR(info.mean_rate_rps, 50, 1e-9);
        EXPECT_NEAR(info.slo_ttft_p95_ms, 250, 0);
        EXPECT_NEAR(info.slo_e2e_p99_ms, 4000, 0);
        for (int64_t i = 0; i < s.n; i++) {
            EXPECT(s.a[i].t_us >= 0 && s.a[i].t_us < 120000000);
            EXPECT(s.a[i].input_tokens >= 10 && s.a[i].input_tokens <= 300);
            EXPECT_EQ_INT(s.a[i].output_tokens, 7);
        }
        arrivals_free(&s);
    }
}

TEST(wlsched_refuses_with_reasons) {
    ArrivalSchedule s;
    arrivals_init(&s);
    Rng rng;
    rng_seed(&rng, 1);
    WlInfo info;
    char err[256] = "";
    WlWindow w = {.duration_s = 10, .start_s = -1, .rate_scale = 1, .max_arrivals = 100000};
    const char *emb = write_workload("emb.yaml",
        "name: emb\nclass: embedding\nrate_per_s: 5\narrivals: {process: poisson}\n"
        "tokens:\n  input: {dist: fixed, mean: 100}\nslo: {e2e_p95_ms: 100}\n");
    ASSERT(emb);
    EXPECT_EQ_INT(wlsched_build(emb, &w, &rng, &s, &info, err, sizeof err), ERR_UNSUPP);
    EXPECT(strstr(err, "embedding") != NULL);
    const char *slow = write_workload("slow.yaml",
        "name: slow\nclass: chat\nrequests_per_month: 10\narrivals: {process: poisson}\n"
        "tokens:\n  input: {dist: fixed, mean: 10}\n  output: {dist: fixed, mean: 10}\nslo: {ttft_p95_ms: 100}\n");
    ASSERT(slow);
    EXPECT_EQ_INT(wlsched_build(slow, &w, &rng, &s, &info, err, sizeof err), ERR_RANGE);
    EXPECT(strstr(err, "--rate-scale") != NULL);
    w.max_arrivals = 10;
    w.rate_scale = 1e6;  // 10/month x 1e6 over 10 s is ~39 arrivals: more than 10
    EXPECT_EQ_INT(wlsched_build(slow, &w, &rng, &s, &info, err, sizeof err), ERR_RANGE);
    EXPECT(strstr(err, "more than 10 arrivals") != NULL);
    EXPECT(wlsched_build("/nonexistent.yaml", &w, &rng, &s, &info, err, sizeof err) < 0);
    arrivals_free(&s);
}
