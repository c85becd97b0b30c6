// Tests of src/plan/catalog and src/plan/workload: the shipped catalog and workloads load and
// validate; their figures match the research notes (shared/data/hardware-facts.md); arrivals
// and token draws match their closed-form moments; bad files fail with the key and line named.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/catalog.h"
#include "plan/workload.h"
#include "test.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(catalog_ships_valid_with_sourced_prices) {
    Catalog c;
    char err[512] = {0};
    int rc = catalog_load(&c, "data/catalog", err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    const char *need_hw[] = {"h100-sxm", "h200", "a100-80gb", "l40s", "l4", "a10g", "t4", "inferentia2",
                             "trainium1", "tpu-v5e", "tpu-v6e", "gaudi2", "gaudi3", "mi300x", "cpu-c7i-8xl"};
    for (size_t i = 0; i < ARRAY_LEN(need_hw); i++) EXPECT(catalog_hw(&c, need_hw[i]) != NULL);
    const char *need_m[] = {"llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b", "llama-2-7b",
                            "llama-2-13b", "llama-2-70b", "mistral-7b", "qwen2.5-7b", "support-student-1b"};
    for (size_t i = 0; i < ARRAY_LEN(need_m); i++) EXPECT(catalog_model(&c, need_m[i]) != NULL);
    for (int64_t i = 0; i < c.n_hw; i++)
        for (int k = 0; k < PRICE_KIND_COUNT; k++)
            if (c.hw[i].price[k].present) {
                EXPECT(strlen(c.hw[i].price[k].source) > 5);
                EXPECT(strlen(c.hw[i].price[k].date) == 10);
            }
    // Spot-check figures against shared/data/hardware-facts.md.
    const CatHardware *h = catalog_hw(&c, "h100-sxm");
    EXPECT_NEAR(h->tflops_bf16, 989.4, 1e-9);
    EXPECT_NEAR(h->memory_bw_gbs, 3350, 1e-9);
    EXPECT_NEAR(h->price[PRICE_ON_DEMAND].usd_per_hour, 55.04 / 8, 1e-9);   // p5.48xlarge / 8
    const CatHardware *inf = catalog_hw(&c, "inferentia2");
    EXPECT_NEAR(inf->price[PRICE_ON_DEMAND].usd_per_hour, 0.758, 1e-9);
    EXPECT(strcmp(inf->price[PRICE_ON_DEMAND].confidence, "V") == 0);
    EXPECT_NEAR(inf->memory_gb, 32 * 1.073741824, 0.01);                      // 32 GiB
    // Llama 3.1 8B KV: 2 x 32 layers x 8 kv heads x 128 x 2 bytes = 131072 B/token (anchors §2.1).
    EXPECT_NEAR(cat_kv_bytes_per_token(catalog_model(&c, "llama-3.1-8b"), KV_BF16), 131072, 0);
    // Llama 2 7B (MHA): 2 x 32 x 32 x 128 x 2 = 524288 B/token.
    EXPECT_NEAR(cat_kv_bytes_per_token(catalog_model(&c, "llama-2-7b"), KV_BF16), 524288, 0);
    EXPECT_NEAR(cat_peak_flops(h, QUANT_FP8), 1978.9e12, 1);
    EXPECT_NEAR(cat_peak_flops(catalog_hw(&c, "a10g"), QUANT_INT4), 70e12, 1);  // weight-only: bf16 units
    catalog_free(&c);
    catalog_free(&c);
}

TEST(catalog_rejects_bad_entries_with_line_and_key) {
    char dir[512], path[600], err[512] = {0};
    snprintf(dir, sizeof dir, "%s/badcat", test_tmpdir());
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    ASSERT(system(path) == 0);
    snprintf(path, sizeof path, "%s/hardware.yaml", dir);
    write_file(path,
               "hardware:\n"
               "  - id: x\n"
               "    class: gpu\n"
               "    tflops: {bf16: 100}\n"
               "    memory_gb: 16\n"
               "    memory_bw_gbs: 300\n"
               "    interconnect_gbs: 10\n"
               "    max_devices: 1\n"
               "    quantizations: [bf16]\n"
               "    derate: {compute: 0.5, bandwidth: 0.8, step_overhead_us: 100}\n"
               "    startup_s: 60\n"
               "    spec_source: test\n"
               "    prices:\n"
               "      - {kind: on_demand, usd_per_hour: 1.0, source: somewhere, date: 2026-13-01, confidence: V}\n");
    Catalog c;
    EXPECT(catalog_load(&c, dir, err, sizeof err) == ERR_FORMAT);
    EXPECT(strstr(err, "hardware.yaml:14: key 'hardware[0].prices[0].date': expected a date YYYY-MM-DD") != NULL);
    write_file(path,
               "hardware:\n"
               "  - id: x\n"
               "    spec_source: test\n"
               "    tflops: {bf16: 100}\n"
               "    memory_gb: lots\n");
    EXPECT(catalog_load(&c, dir, err, sizeof err) == ERR_FORMAT);
    EXPECT(strstr(err, "hardware.yaml:5: key 'hardware[0].memory_gb': expected a number, got 'lots'") != NULL);
}

TEST(workloads_ship_valid) {
    const char *files[] = {"support-assistant", "embedding-service", "nightly-batch-scoring", "bursty-chat"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        char path[256], err[512] = {0};
        snprintf(path, sizeof path, "data/workloads/%s.yaml", files[i]);
        Workload wl;
        int rc = wl_load(&wl, path, err, sizeof err);
        if (rc) test_fail(__FILE__, __LINE__, "%s", err);
        EXPECT(rc == 0);
        wl_free(&wl);
    }
    Workload wl;
    char err[512];
    ASSERT(wl_load(&wl, "data/workloads/support-assistant.yaml", err, sizeof err) == 0);
    EXPECT_NEAR(wl.rate_per_s * WL_MONTH_S, 2000000, 1e-6);
    EXPECT_NEAR(wl.in.mean, 900, 0);
    EXPECT_NEAR(wl_profile_peak(&wl), 2.5, 0.01);
    // Fixed costs: 50 + 120 x 0.09 + 150 + 10 x 100 = 1210.8 $/month.
    EXPECT_NEAR(wl_fixed_usd_month(&wl), 1210.8, 1e-9);
    wl_free(&wl);
}

TEST(workload_errors_name_key_and_line) {
    static const struct { const char *text, *want; } cases[] = {
        {"name: x\nclass: chat\nrequests_per_month: 1000\ntokens:\n  input: {mean: 10}\n  output: {mean: 5}\nslo:\n  ttft_p95_ms: abc\n",
         "w.yaml:8: key 'slo.ttft_p95_ms': expected a number, got 'abc'"},
        {"name: x\nclass: chatt\n", "w.yaml:2: key 'class': expected one of: chat, completion, embedding, batch; got 'chatt'"},
        {"name: x\nrequests_per_month: 1000\ntokens:\n  input: {mean: 10}\n  output: {mean: 5}\nslo: {ttft_p95_ms: 100}\narivals: {}\n",
         "w.yaml:7: key 'arivals': unknown key"},
        {"name: x\nrequests_per_month: 1000\ntokens:\n  input: {mean: 10}\n  output: {mean: 5}\n",
         "missing 'slo'"},
        {"name: x\nrequests_per_month: 1000\ntokens:\n  input: {dist: histogram, bins: [[10, 1], [5, 1]]}\n  output: {mean: 5}\nslo: {ttft_p95_ms: 1}\n",
         "w.yaml:4: key 'tokens.input.bins[1][0]': bin edges must increase"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char path[512], err[512] = {0};
        snprintf(path, sizeof path, "%s/w.yaml", test_tmpdir());
        write_file(path, cases[i].text);
        Workload wl;
        EXPECT(wl_load(&wl, path, err, sizeof err) == ERR_FORMAT);
        const char *slash = strstr(err, "w.yaml");
        if (!slash || !strstr(slash, cases[i].want)) test_fail(__FILE__, __LINE__, "case %zu: got '%s'", i, err);
    }
}

// Poisson with a flat profile: counts in an hour have mean = variance = rate x 3600; gamma
// renewal with CV c: inter-arrival mean 1/rate and CV c.
TEST(workload_arrivals_match_renewal_moments) {
    Workload wl = {0};
    wl.rate_per_s = 5.0;
    wl.peak_to_average = 1;
    wl.in = (TokSpec){.dist = TOK_LOGNORMAL, .mean = 900, .cv = 0.6, .min = 1, .max = 1 << 20};
    wl.out = (TokSpec){.dist = TOK_FIXED, .mean = 10, .min = 1, .max = 100};
    wl_build_profile(&wl);
    for (int g = 0; g < 2; g++) {
        wl.process = g ? ARR_GAMMA : ARR_POISSON;
        wl.cv = g ? 2.5 : 1.0;
        WlArrivals a;
        wl_arrivals_init(&a, &wl, 1.0, 0);
        Rng rng;
        rng_seed(&rng, 7 + (uint64_t)g);
        const int n = 400000;
        double prev = 0, s1 = 0, s2 = 0, tok = 0;
        for (int i = 0; i < n; i++) {
            WlRequest r = wl_next(&wl, &a, &rng);
            double dt = r.t_s - prev;
            prev = r.t_s;
            s1 += dt;
            s2 += dt * dt;
            tok += r.in_tokens;
        }
        double mean = s1 / n, cv = sqrt(s2 / n - mean * mean) / mean;
        EXPECT_NEAR(mean, 0.2, 0.2 * 0.01);
        EXPECT_NEAR(cv, wl.cv, wl.cv * 0.03);
        EXPECT_NEAR(tok / n, 900, 900 * 0.01);   // lognormal keeps the configured mean
    }
}

// A diurnal profile: the hour around the peak carries peak_to_average x the mean hourly volume.
TEST(workload_diurnal_profile_shapes_arrivals) {
    Workload wl = {0};
    wl.rate_per_s = 2.0;
    wl.peak_to_average = 3.0;
    wl.peak_hour = 12;
    wl.in = wl.out = (TokSpec){.dist = TOK_FIXED, .mean = 1, .min = 1, .max = 1};
    wl_build_profile(&wl);
    EXPECT_NEAR(wl_profile_peak(&wl), 3.0, 0.01);
    WlArrivals a;
    wl_arrivals_init(&a, &wl, 1.0, 0);
    Rng rng;
    rng_seed(&rng, 3);
    int64_t peak = 0, total = 0;
    for (;;) {
        WlRequest r = wl_next(&wl, &a, &rng);
        if (r.t_s >= 20 * 86400.0) break;
        double h = fmod(r.t_s, 86400.0) / 3600.0;
        peak += (h >= 11.75 && h < 12.25);
        total++;
    }
    EXPECT_NEAR((double)total / (20 * 86400.0), 2.0, 0.02);
    EXPECT_NEAR((double)peak / (20 * 1800.0), 2.0 * 3.0, 6.0 * 0.03);
}

// A trace workload replays its rows (times and token counts) and repeats with the trace's period;
// its rate is rows / period.
TEST(workload_trace_replays) {
    char dir[512], path[600], err[512] = {0};
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    snprintf(path, sizeof path, "%s/trace.csv", dir);
    write_file(path, "t_s,input_tokens,output_tokens\n0,100,10\n1.5,200,20\n2,300,30\n");
    snprintf(path, sizeof path, "%s/tw.yaml", dir);
    write_file(path, "name: t\narrivals: {process: trace, trace: trace.csv}\ntokens:\n  input: {mean: 1}\n  output: {mean: 1}\n"
                     "slo: {e2e_p95_ms: 1000}\n");
    Workload wl;
    int rc = wl_load(&wl, path, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    EXPECT_EQ_INT(wl.n_trace, 3);
    EXPECT_NEAR(wl.trace_period_s, 3.0, 1e-12);   // span 2 s x 3 rows / 2 gaps
    EXPECT_NEAR(wl.rate_per_s, 1.0, 1e-12);
    WlArrivals a;
    wl_arrivals_init(&a, &wl, 1.0, 0);
    Rng rng;
    rng_seed(&rng, 1);
    const double t[] = {0, 1.5, 2, 3, 4.5, 5};
    const int in[] = {100, 200, 300, 100, 200, 300};
    for (int i = 0; i < 6; i++) {
        WlRequest r = wl_next(&wl, &a, &rng);
        EXPECT_NEAR(r.t_s, t[i], 1e-12);
        EXPECT_EQ_INT(r.in_tokens, in[i]);
    }
    wl_free(&wl);
    write_file(dir[0] ? path : path, "name: t\narrivals: {process: trace, trace: missing.csv}\ntokens:\n  input: {mean: 1}\n");
    EXPECT(wl_load(&wl, path, err, sizeof err) == ERR_FORMAT);
    EXPECT(strstr(err, "tw.yaml:2: key 'arrivals.trace': cannot open trace") != NULL);
}

// Price sanity at load: a reservation above on-demand and a spot rate from another provider are
// reported with file and line; the shipped catalog has no commitment above its on-demand rate.
TEST(catalog_warns_on_incomparable_prices) {
    char dir[400], path[1200], err[512] = {0};
    snprintf(dir, sizeof dir, "%s/pricecat", test_tmpdir());
    snprintf(path, sizeof path, "mkdir -p %s && cp data/catalog/models.yaml %s/", dir, dir);
    ASSERT(system(path) == 0);
    snprintf(path, sizeof path, "%s/hardware.yaml", dir);
    write_file(path,
               "hardware:\n"
               "  - id: x\n"
               "    tflops: {bf16: 100}\n"
               "    memory_gb: 16\n"
               "    memory_bw_gbs: 300\n"
               "    interconnect_gbs: 10\n"
               "    max_devices: 1\n"
               "    quantizations: [bf16]\n"
               "    derate: {compute: 0.5, bandwidth: 0.8, step_overhead_us: 100}\n"
               "    startup_s: 60\n"
               "    spec_source: test\n"
               "    prices:\n"
               "      - {kind: on_demand, usd_per_hour: 1.0, source: somewhere, date: 2026-01-01, provider: aws, confidence: V}\n"
               "      - {kind: reserved_1y, usd_per_hour: 2.0, source: somewhere, date: 2026-01-01, provider: aws, confidence: V}\n"
               "      - {kind: spot, usd_per_hour: 0.5, source: somewhere, date: 2026-01-01, provider: runpod, confidence: V}\n");
    Catalog c;
    int rc = catalog_load(&c, dir, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    EXPECT_EQ_INT(c.n_warnings, 2);
    EXPECT(strstr(c.warnings[0], "hardware.yaml:14: x reserved_1y $2.000/h is above on_demand $1.000/h") != NULL);
    EXPECT(strstr(c.warnings[1], "hardware.yaml:15: x spot price is from runpod but on_demand is from aws") != NULL);
    catalog_free(&c);
    ASSERT(catalog_load(&c, "data/catalog", err, sizeof err) == 0);
    for (int i = 0; i < c.n_warnings; i++) EXPECT(strstr(c.warnings[i], "is above") == NULL);
    catalog_free(&c);
}

// A replica is priced as an instance SKU (hardware-facts.md, AWS us-east-1), not N x one device:
// 4 x L40S = g6e.12xlarge $10.493 (N x g6e.xlarge would be $7.444); 2 x L40S shares it, $5.2465;
// 12 Inferentia2 = inf2.48xlarge $12.981; 2 share an inf2.24xlarge (6 chips): 6.49 x 2 / 6.
// Spot applies the device's discount ratio (0.79 / 1.861) to the SKU.
TEST(catalog_replica_priced_as_instance_sku) {
    Catalog c;
    char err[512];
    ASSERT(catalog_load(&c, "data/catalog", err, sizeof err) == 0);
    // The shipped prices are comparable: every reserved and spot rate is from the provider of its
    // device's on-demand rate, below it (no load warning).
    EXPECT_EQ_INT(c.n_warnings, 0);
    for (int i = 0; i < c.n_warnings; i++) fprintf(stderr, "    %s\n", c.warnings[i]);
    const CatHardware *l40s = catalog_hw(&c, "l40s"), *inf2 = catalog_hw(&c, "inferentia2");
    const CatInstance *in = NULL;
    EXPECT_NEAR(cat_replica_usd_per_hour(l40s, 1, PRICE_ON_DEMAND, &in), 1.861, 1e-9);
    EXPECT_NEAR(cat_replica_usd_per_hour(l40s, 4, PRICE_ON_DEMAND, &in), 10.493, 1e-9);
    ASSERT(in != NULL);
    EXPECT(strcmp(in->name, "g6e.12xlarge") == 0);
    EXPECT_NEAR(cat_replica_usd_per_hour(l40s, 2, PRICE_ON_DEMAND, NULL), 10.493 / 2, 1e-9);
    EXPECT_NEAR(cat_replica_usd_per_hour(l40s, 4, PRICE_SPOT, NULL), 10.493 * 1.05 / 1.861, 1e-9);
    EXPECT_NEAR(cat_replica_usd_per_hour(inf2, 12, PRICE_ON_DEMAND, NULL), 12.981, 1e-9);
    EXPECT_NEAR(cat_replica_usd_per_hour(inf2, 2, PRICE_ON_DEMAND, NULL), 6.49 * 2 / 6, 1e-9);
    // No SKU from the on-demand provider (H200 on Nebius): devices x the per-device price.
    EXPECT_NEAR(cat_replica_usd_per_hour(catalog_hw(&c, "h200"), 2, PRICE_ON_DEMAND, &in), 9.0, 1e-9);
    EXPECT(in == NULL);
    catalog_free(&c);
}
