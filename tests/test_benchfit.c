// Tests of src/plan/benchfit: the published points load with their sources; the committed
// catalog predicts the held-out points (never used by the fit) within the bound the issue sets;
// the fit reproduces the committed efficiencies; the KV dtype rule halves fp8 KV bytes.
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/rng.h"
#include "plan/benchfit.h"
#include "plan/steptime.h"
#include "policy/sched.h"
#include "test.h"

// Committed bound on the held-out median |ln(pred/published)| (docs/BENCHMARKS.md, 45-plan-fit).
#define HELDOUT_MEDIAN_BOUND 0.15

TEST(benchfit_points_load_with_sources_and_a_fixed_split) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    BenchPoint *pts;
    int64_t n;
    int rc = bench_points_load("data/benchmarks/published.csv", &cat, &pts, &n, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    EXPECT(n >= 40);
    int64_t n_test = 0;
    for (int64_t i = 0; i < n; i++) {
        EXPECT(strlen(pts[i].source) > 20);
        n_test += pts[i].test;
    }
    EXPECT(n_test >= 15 && n - n_test >= 20);
    free(pts);
    catalog_free(&cat);
}

static void heldout_within_2x(const Catalog *cat, const BenchPoint *pts, int64_t n) {
    // No held-out point off by more than 2x, times to first token and inter-token latencies under
    // load included (bench_predict queues them behind the other users' prefills: benchfit.c
    // closed_loop). bench_error skips the rows whose publisher withdrew them (split `withdrawn`):
    // they are the four Llama 2 70B rows of the Neuron 2.16 tables, which AWS removed on
    // 2024-02-28 ("Remove non performant models", aws-neuron-sdk 446ef6ca) and republished with
    // Neuron 2.18 at 5.5-5.9x the speed (stack neuron-2.18, held out within 2x here).
    int n_withdrawn = 0;
    for (int64_t i = 0; i < n; i++) {
        if (pts[i].withdrawn) {
            n_withdrawn++;
            EXPECT(pts[i].test);   // never fitted
            EXPECT(!strcmp(cat->models[pts[i].model].id, "llama-2-70b") && !strcmp(cat->stacks[pts[i].stack].id, "neuron"));
            EXPECT(strstr(pts[i].source, "Neuron 2.16") != NULL);
            continue;
        }
        if (!pts[i].test) continue;
        double err_i = fabs(log(bench_predict(cat, &cat->stacks[pts[i].stack], &pts[i]) / pts[i].value));
        if (err_i > log(2.0))
            test_fail(__FILE__, __LINE__, "held-out point (CSV line %d) on %s off by x%.2f", pts[i].line,
                      cat->hw[pts[i].hw].id, exp(err_i));
    }
    EXPECT(n_withdrawn == 4);
    BenchErr all = bench_error(cat, pts, n, true, -1, -1);
    EXPECT(all.max_abs_log <= log(2.0));
}

TEST(benchfit_heldout_error_within_committed_bound) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    BenchPoint *pts;
    int64_t n;
    ASSERT(bench_points_load("data/benchmarks/published.csv", &cat, &pts, &n, err, sizeof err) == 0);
    BenchErr e = bench_error(&cat, pts, n, true, -1, -1);
    EXPECT(e.n >= 15);
    EXPECT(e.median_abs_log <= HELDOUT_MEDIAN_BOUND);
    heldout_within_2x(&cat, pts, n);
    // vllm-neuron, the stack plan --emit deploys on Inferentia2 and Trainium, is fitted on the
    // one-user figures of optimum-neuron's vLLM runs; its held-out figures under load (inter-token
    // latencies, output rates, the 4- and 32-user TTFTs) stay within 2x, with a median within the bound.
    const CatStack *vn = catalog_stack(&cat, "vllm-neuron");
    ASSERT(vn);
    BenchErr ve = bench_error(&cat, pts, n, true, -1, (int)(vn - cat.stacks));
    EXPECT(ve.n >= 6);
    EXPECT(ve.median_abs_log <= HELDOUT_MEDIAN_BOUND && ve.max_abs_log <= log(2.0));
    // The fit, rerun on the train split, lands on the committed figures (stacks.yaml is its output).
    for (int64_t s = 0; s < cat.n_stacks; s++) {
        CatStack fit;
        if (!bench_fit(&cat, pts, n, (int)s, &fit)) continue;
        EXPECT_NEAR(fit.eff_prefill, cat.stacks[s].eff_prefill, 0.01 * cat.stacks[s].eff_prefill);
        EXPECT_NEAR(fit.eff_decode, cat.stacks[s].eff_decode, 0.01 * cat.stacks[s].eff_decode);
        EXPECT_NEAR(fit.eff_overhead, cat.stacks[s].eff_overhead, 0.01 * cat.stacks[s].eff_overhead + 0.001);
    }
    // These devices have held-out points, each within 2x; those listed in `covered`
    // also keep a per-device held-out median within the bound (gaudi2 (0.19), gaudi3 (0.16),
    // a10g (0.20), mi300x (one point), cpu-c7i-large (two) and inferentia2 are reported in
    // 45-plan-fit, not held to it).
    static const char *const covered[] = {"h100-sxm", "h200", "a100-80gb", "l40s", "t4", "l4", "cpu-c7i-8xl",
                                          "cpu-c7g-16xl"};
    static const char *const within_2x[] = {"h100-sxm", "h200", "a100-80gb", "l40s", "t4", "l4", "a10g", "gaudi2", "gaudi3",
                                            "mi300x", "cpu-c7i-large", "cpu-c7i-8xl", "cpu-c7g-16xl", "inferentia2"};
    for (size_t i = 0; i < sizeof covered / sizeof *covered; i++) {
        int h = (int)(catalog_hw(&cat, covered[i]) - cat.hw);
        BenchErr he = bench_error(&cat, pts, n, true, h, -1);
        EXPECT(he.n >= 3);
        EXPECT(he.median_abs_log <= HELDOUT_MEDIAN_BOUND);
    }
    for (size_t i = 0; i < sizeof within_2x / sizeof *within_2x; i++) {
        int h = (int)(catalog_hw(&cat, within_2x[i]) - cat.hw);
        BenchErr he = bench_error(&cat, pts, n, true, h, -1);
        EXPECT(he.n >= 1);
        EXPECT(he.max_abs_log <= log(2.0));
    }
    // The fitted derates are the fit's output: a100-80gb and l40s with trtllm's factors held; gaudi2
    // and gaudi3 fitted in turn with optimum-habana's, the llama-bench devices (with their per-step
    // overheads) with llama.cpp's (bench_fit_joint).
    static const struct { const char *hw, *stack; } fitted[] = {
        {"a100-80gb", "trtllm"}, {"l40s", "trtllm"}, {"gaudi2", "optimum-habana"}, {"gaudi3", "optimum-habana"},
        {"t4", "llama.cpp"}, {"a10g", "llama.cpp"}, {"l4", "llama.cpp"}, {"cpu-c7i-large", "llama.cpp"},
        {"cpu-c7i-8xl", "llama.cpp"}, {"cpu-c7g-16xl", "llama.cpp"}};
    for (size_t i = 0; i < sizeof fitted / sizeof *fitted; i++) {
        int h = (int)(catalog_hw(&cat, fitted[i].hw) - cat.hw);
        double c, b;
        EXPECT(bench_fit_hw(&cat, pts, n, h, &c, &b) >= 5);
        EXPECT_NEAR(c, cat.hw[h].derate_compute, 0.03 * cat.hw[h].derate_compute);
        const CatStack *st = catalog_stack(&cat, fitted[i].stack);
        EXPECT(b * st->eff_decode >= 0.98 || fabs(b - cat.hw[h].derate_bandwidth) <= 0.03 * b);
    }
    // Joint fit from the committed catalog: it stays where it is (the committed figures are its output).
    Catalog cj;
    ASSERT(catalog_load(&cj, "data/catalog", err, sizeof err) == 0);
    int hw_g[2] = {(int)(catalog_hw(&cj, "gaudi2") - cj.hw), (int)(catalog_hw(&cj, "gaudi3") - cj.hw)};
    int oh = (int)(catalog_stack(&cj, "optimum-habana") - cj.stacks);
    EXPECT(bench_fit_joint(&cj, pts, n, oh, hw_g, 2, false) >= 1);
    EXPECT_NEAR(cj.hw[hw_g[0]].derate_compute, cat.hw[hw_g[0]].derate_compute, 0.03 * cat.hw[hw_g[0]].derate_compute);
    EXPECT_NEAR(cj.stacks[oh].eff_decode, cat.stacks[oh].eff_decode, 0.02 * cat.stacks[oh].eff_decode);
    // ... and so does llama.cpp's with the llama-bench devices' per-step overheads fitted too.
    static const char *const lb[] = {"t4", "a10g", "l4", "cpu-c7i-large", "cpu-c7i-8xl", "cpu-c7g-16xl"};
    int hw_l[6];
    for (int i = 0; i < 6; i++) hw_l[i] = (int)(catalog_hw(&cj, lb[i]) - cj.hw);
    int lc = (int)(catalog_stack(&cj, "llama.cpp") - cj.stacks);
    EXPECT(bench_fit_joint(&cj, pts, n, lc, hw_l, 6, true) >= 1);
    for (int i = 0; i < 6; i++) {
        const CatHardware *a = &cj.hw[hw_l[i]], *c = &cat.hw[hw_l[i]];
        EXPECT_NEAR(a->derate_compute, c->derate_compute, 0.03 * c->derate_compute);
        EXPECT_NEAR(a->derate_bandwidth, c->derate_bandwidth, 0.03 * c->derate_bandwidth);
        EXPECT_NEAR(a->step_overhead_us, c->step_overhead_us, 0.05 * c->step_overhead_us + 1);
    }
    EXPECT_NEAR(cj.stacks[lc].eff_decode, cat.stacks[lc].eff_decode, 0.02 * cat.stacks[lc].eff_decode);
    catalog_free(&cj);
    free(pts);
    catalog_free(&cat);
}

// Llama 3.1 8B KV bytes per token: 2 x 32 x 8 x 128 x 2 B = 131072 in bf16, half in fp8. A stack
// with kv_dtype auto caches fp8 only with fp8 weights on fp8 hardware.
TEST(benchfit_kv_dtype_rule_and_fraction_of_free_budget) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    const CatModel *m = catalog_model(&cat, "llama-3.1-8b");
    EXPECT_NEAR(cat_kv_bytes_per_token(m, KV_FP8), 65536, 0);
    const CatStack *trt = catalog_stack(&cat, "trtllm");
    ASSERT(trt != NULL);
    const CatHardware *h100 = catalog_hw(&cat, "h100-sxm"), *a100 = catalog_hw(&cat, "a100-80gb");
    EXPECT(cat_stack_kv_dtype(trt, h100, QUANT_FP8) == KV_FP8);
    EXPECT(cat_stack_kv_dtype(trt, h100, QUANT_BF16) == KV_BF16);
    EXPECT(cat_stack_kv_dtype(trt, a100, QUANT_INT8) == KV_BF16);
    // TensorRT-LLM budget, 8B fp8 on one H100, 8192-token activation peak, fraction 0.9 of free:
    //   weights 8.03e9 x 1.0 = 8.03e9; activations 8192 x (2 x 14336 + 4 x 4096) x 2 = 738.197504e6
    //   usable = 0.9 x (80e9 - 8.03e9 - 0.738197504e9) = 64.1086222464e9
    //   block = 32 tokens x 65536 B = 2097152 -> 30569 blocks
    KvCapacity kv;
    step_kv_capacity(&kv, h100, m, QUANT_FP8, 1, trt, 8192, 2048, 2176);
    EXPECT_NEAR(kv.usable_bytes, 64.1086222464e9, 1);
    EXPECT_EQ_INT(kv.kv_blocks_total, 30569);
    EXPECT(kv.kv_dtype == KV_FP8);
    catalog_free(&cat);
}

// A stack with fewer train points than parameters fits fewer parameters than it has points
// (vllm-rocm: 2 points, decode_bandwidth alone); a latency_s point is never faster than reading
// the weights once per output token: Llama 3.1 70B fp8 on 8 MI300X, 2047 decode steps of
// 70.554e9 B / 8 at 5300 GB/s = 3.41 s at least.
TEST(benchfit_few_points_fit_few_parameters_and_latency_bound) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    BenchPoint *pts;
    int64_t n;
    ASSERT(bench_points_load("data/benchmarks/published.csv", &cat, &pts, &n, err, sizeof err) == 0);
    int s = (int)(catalog_stack(&cat, "vllm-rocm") - cat.stacks);
    CatStack fit;
    EXPECT(bench_fit(&cat, pts, n, s, &fit) == 2);
    EXPECT_NEAR(fit.eff_prefill, 1.0, 0);
    EXPECT_NEAR(fit.eff_overhead, 1.0, 0);
    EXPECT(fit.eff_decode < 1.0);
    int64_t seen = 0;
    for (int64_t i = 0; i < n; i++) {
        if (pts[i].metric != BM_LATENCY_S) continue;
        double pred = bench_predict(&cat, &cat.stacks[pts[i].stack], &pts[i]);
        EXPECT(pred >= 2047 * 70.554e9 / 8 / 5300e9);
        EXPECT(fabs(log(pred / pts[i].value)) <= log(2.0));
        seen++;
    }
    EXPECT(seen == 3);
    free(pts);
    catalog_free(&cat);
}

// The plan report's derate line: each device's points and the error on its held-out ones, from the
// CSV beside the catalog (bench_count_points). Trainium1 has 18 points (6 held out) besides its two
// withdrawn Neuron 2.16 70B rows, which count nowhere; H100 has no gap either.
TEST(benchfit_count_points_carries_heldout_error) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    EXPECT(catalog_hw(&cat, "tpu-v5e")->published_points == -1);
    ASSERT(bench_count_points("data/benchmarks/published.csv", &cat, err, sizeof err) == 0);
    const CatHardware *trn = catalog_hw(&cat, "trainium1"), *h100 = catalog_hw(&cat, "h100-sxm"), *tpu = catalog_hw(&cat, "tpu-v5e");
    EXPECT(trn->published_points == 18 && trn->published_heldout == 6);
    EXPECT(trn->published_worst_ratio < 2.0 && trn->published_worst_ratio >= trn->published_median_ratio);
    EXPECT(h100->published_heldout >= 3 && h100->published_worst_ratio < 1.25 && h100->published_median_ratio >= 1.0);
    EXPECT(tpu->published_points == 0 && tpu->published_heldout == 0);
    catalog_free(&cat);
}

// llama-bench points against the roofline written out by hand, from the catalog's own figures:
//   tg128 (decode_tok_s, isl 0): 128 steps of one row, context 1..128:
//     t_j = overhead + (W + (j+1)·kv) / BW_eff   (memory-bound at batch 1)
//   pp512 (prefill_tok_s, osl 0): one 512-token step (the llama.cpp ubatch):
//     t = overhead + max(W + 512·kv) / BW_eff, (2·P·512 + 4·L·H·D·512·513/2) / F_eff)
TEST(benchfit_llama_bench_metrics_match_the_roofline_by_hand) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    const CatHardware *hw = catalog_hw(&cat, "t4");
    const CatModel *m = catalog_model(&cat, "llama-2-7b");
    const CatStack *st = catalog_stack(&cat, "llama.cpp");
    ASSERT(hw && m && st);
    BenchPoint tg = {.hw = (int)(hw - cat.hw), .model = (int)(m - cat.models), .stack = (int)(st - cat.stacks),
                     .quant = QUANT_INT4, .tp = 1, .isl = 0, .osl = 128, .concurrency = 1, .metric = BM_DECODE_TOK_S};
    double w = m->params_b * 1e9 * m->quant[QUANT_INT4].bytes_per_weight;
    double kv = 2.0 * m->layers * m->kv_heads * m->head_dim * 2.0;   // bf16 K and V
    double bw = hw->memory_bw_gbs * 1e9 * fmin(0.98, hw->derate_bandwidth * st->eff_decode);
    double ovh = hw->step_overhead_us * st->eff_overhead * 1e-6;
    double t = 0;
    for (int j = 0; j < 128; j++) t += ovh + (w + (j + 1) * kv) / bw;
    EXPECT_NEAR(bench_predict(&cat, st, &tg), 128 / t, 1e-6 * (128 / t));
    BenchPoint pp = tg;
    pp.metric = BM_PREFILL_TOK_S, pp.isl = 512, pp.osl = 0;
    hw = catalog_hw(&cat, "cpu-c7i-8xl");
    pp.hw = (int)(hw - cat.hw);
    bw = hw->memory_bw_gbs * 1e9 * fmin(0.98, hw->derate_bandwidth * st->eff_decode);
    double f = hw->tflops_bf16 * 1e12 * fmin(0.98, hw->derate_compute * st->eff_prefill);
    double comp = (2.0 * m->params_b * 1e9 * 512 + 4.0 * m->layers * m->heads * m->head_dim * 512.0 * 513 / 2) / f;
    t = hw->step_overhead_us * st->eff_overhead * 1e-6 + fmax((w + 512 * kv) / bw, comp);
    EXPECT_NEAR(bench_predict(&cat, st, &pp), 512 / t, 1e-6 * (512 / t));
    catalog_free(&cat);
}

// ---- a closed loop of users through the scheduler the planner's simulator runs ----

// n requests of c users (each sends its next prompt when its last request ends; the first c at
// once), through policy/sched with the stack's budget and prefill rule, every step timed by
// step_time_us of its batch (as sim_replica.c does). A prompt that follows a request ending at a
// step's end arrives just after the next step has started. Outputs are osl +- spread tokens
// (seeded uniform), so users drift apart as in a benchmark run. Mean TTFT and token-weighted
// inter-token latency, ms.
static void sched_closed_loop(const StepModel *sm, const CatStack *st, int64_t c, int64_t n, int64_t isl, int64_t osl,
                              int64_t spread, double *ttft_ms, double *itl_ms) {
    SchedConfig cfg;
    sched_config_default(&cfg);
    cfg.max_num_seqs = cfg.max_num_queued_reqs = c;
    cfg.max_num_batched_tokens = st->max_num_batched_tokens;
    cfg.enable_chunked_prefill = !st->whole_prompts;
    cfg.max_model_len = isl + osl + spread;
    cfg.kv_blocks_total = c * (cfg.max_model_len / cfg.kv_block_tokens + 1);
    char err[256];
    Sched *s = sched_create(&cfg, err, sizeof err);
    CHECK(s);
    Rng rng;
    rng_seed(&rng, 12);
    int64_t issued = 0, done = 0, now = 0, arriving = 0;
    double ttft = 0, gaps = 0, tokens = 0;
    for (; issued < c; issued++)
        CHECK(sched_add(s, (uint64_t)issued, isl, osl - spread + (int64_t)rng_below(&rng, 2 * spread + 1), 0, 0) == 0);
    while (done < n) {
        SchedBatch b;
        sched_step(s, now, &b);
        CHECK(b.n_rows > 0);
        for (; arriving > 0; arriving--, issued++)
            CHECK(sched_add(s, (uint64_t)issued, isl, osl - spread + (int64_t)rng_below(&rng, 2 * spread + 1), 0, now) == 0);
        StepShape sh = {.prefill_tokens = b.n_prefill_tokens, .decode_rows = b.n_decode_rows, .ctx_tokens = b.ctx_tokens};
        for (int64_t i = 0; i < b.n_rows; i++)
            sh.attn_pairs += (double)b.rows[i].n_tokens * ((double)b.rows[i].pos_start + 0.5 * (double)(b.rows[i].n_tokens + 1));
        now += (int64_t)llround(step_time_us(sm, &sh));
        sched_step_done(s, now, NULL);
        int64_t nf;
        const ReqInfo *f = sched_finished(s, &nf);
        for (int64_t i = 0; i < nf; i++, done++) {
            ttft += (double)(f[i].first_token_us - f[i].arrival_us);
            gaps += (double)(f[i].last_token_us - f[i].first_token_us);
            tokens += (double)(f[i].n_generated - 1);
            if (issued + arriving < n) arriving++;
        }
    }
    sched_destroy(s);
    *ttft_ms = ttft / (double)n / 1e3;
    *itl_ms = gaps / tokens / 1e3;
}

// bench_predict's closed form of a time to first token and an inter-token latency under load
// (benchfit.c closed_loop) against policy/sched driven by the same step times: optimum-neuron's
// two guidellm runs on Inferentia2 (vllm-neuron, whole prompts: 32 users / 115 requests on 4 chips,
// 4 / 40 on 2) and a chunked-prefill GPU stack (vllm on one H100, 64 users, 2000-token prompts).
// The closed form queues the start's burst exactly and each later prompt alone; the prompts that
// still arrive together later are what it leaves out, so it may only be lower, and by little.
TEST(benchfit_closed_loop_matches_the_scheduler_under_load) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    static const struct { const char *hw, *stack; int tp; int64_t c, n, isl, osl; } runs[] = {
        {"inferentia2", "vllm-neuron", 4, 32, 115, 1500, 250},
        {"inferentia2", "vllm-neuron", 2, 4, 40, 1500, 250},
        {"h100-sxm", "vllm", 1, 64, 320, 2000, 200},
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        const CatHardware *hw = catalog_hw(&cat, runs[i].hw);
        const CatStack *st = catalog_stack(&cat, runs[i].stack);
        const CatModel *m = catalog_model(&cat, "llama-3.1-8b");
        ASSERT(hw && st && m);
        BenchPoint p = {.hw = (int)(hw - cat.hw), .model = (int)(m - cat.models), .stack = (int)(st - cat.stacks),
                        .quant = QUANT_BF16, .tp = runs[i].tp, .isl = runs[i].isl, .osl = runs[i].osl,
                        .concurrency = runs[i].c, .requests = runs[i].n, .metric = BM_TTFT_MS};
        StepModel sm;
        step_roofline(&sm, hw, m, QUANT_BF16, runs[i].tp, st);
        double ttft, itl;
        sched_closed_loop(&sm, st, runs[i].c, runs[i].n, runs[i].isl, runs[i].osl, 20, &ttft, &itl);
        double pred_ttft = bench_predict(&cat, st, &p);
        p.metric = BM_ITL_MS;
        double pred_itl = bench_predict(&cat, st, &p);
        printf("  closed loop %s x%d %s c=%lld n=%lld: TTFT %.1f ms (sched) vs %.1f (closed form); ITL %.2f vs %.2f\n",
               runs[i].hw, runs[i].tp, runs[i].stack, (long long)runs[i].c, (long long)runs[i].n, ttft, pred_ttft, itl,
               pred_itl);
        EXPECT(pred_ttft <= ttft * 1.02 && pred_ttft >= ttft * 0.75);
        EXPECT(fabs(log(pred_itl / itl)) <= log(1.15));
    }
    catalog_free(&cat);
}

// A bad `requests` cell is refused with the file, line and column, and what it must be.
TEST(benchfit_requests_column_is_checked) {
    Catalog cat;
    char err[512] = {0};
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    char path[] = "/tmp/rs_benchfit_XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    FILE *f = fdopen(fd, "w");
    ASSERT(f);
    fputs("split,source,published,read,hardware,stack,model,quant,tp,isl,osl,concurrency,requests,metric,value,note\n"
          "test,a source long enough to name,2026-01-01,2026-12-03,inferentia2,vllm-neuron,llama-3.1-8b,bf16,4,1500,250,"
          "32,10,ttft_ms,1000,fewer requests than users\n", f);
    fclose(f);
    BenchPoint *pts = NULL;
    int64_t n = 0;
    EXPECT(bench_points_load(path, &cat, &pts, &n, err, sizeof err) != 0);
    EXPECT(strstr(err, ":2: column 'requests'") != NULL && strstr(err, "at least the concurrency") != NULL);
    EXPECT(pts == NULL && n == 0);
    remove(path);
    catalog_free(&cat);
}
