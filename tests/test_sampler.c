// Tests of src/engine/sampler against an independent float64 truth computed here: the exact
// renormalised distribution each setting defines (temperature, top-k, top-p, min-p, penalties),
// compared with the empirical frequencies of many seeded draws by a chi-square statistic;
// greedy = argmax; logprobs and top-N = float64 log-softmax of the raw logits.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "engine/sampler.h"
#include "engine/vexp.h"
#include "test.h"

// ---- the float64 reference ----

typedef struct {
    double temperature, top_p, min_p;
    int top_k;
} RefParams;

static const double *ref_vals;  // what cmp_desc orders by (tests run one at a time)
static int cmp_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (ref_vals[x] != ref_vals[y]) return ref_vals[x] > ref_vals[y] ? -1 : 1;
    return x - y;
}

// Exact sampling distribution (prob[n]) for logits under p, per sampler.h's definitions.
static void ref_dist(const float *logits, int n, RefParams p, double *prob) {
    double *s = malloc((size_t)n * sizeof *s);
    int *order = malloc((size_t)n * sizeof *order);
    for (int i = 0; i < n; i++) s[i] = (double)logits[i] / p.temperature, order[i] = i;
    ref_vals = s;
    qsort(order, (size_t)n, sizeof *order, cmp_desc);
    int k = p.top_k > 0 && p.top_k < n ? p.top_k : n;
    double z = 0;
    for (int r = 0; r < k; r++) z += exp(s[order[r]] - s[order[0]]);
    int keep = 0;
    double cum = 0;
    for (int r = 0; r < k; r++) {
        double pr = exp(s[order[r]] - s[order[0]]) / z;
        if (p.min_p > 0 && pr < p.min_p * (1.0 / z)) break;  // p_max = 1/z
        keep++;
        cum += pr;
        if (p.top_p < 1 && cum >= p.top_p) break;
    }
    memset(prob, 0, (size_t)n * sizeof *prob);
    double zk = 0;
    for (int r = 0; r < keep; r++) zk += exp(s[order[r]] - s[order[0]]);
    for (int r = 0; r < keep; r++) prob[order[r]] = exp(s[order[r]] - s[order[0]]) / zk;
    free(s);
    free(order);
}

// Chi-square of counts against prob (bins with expected < 5 are pooled); fails on any draw of a
// zero-probability token.
static double chi_square(const int64_t *count, const double *prob, int n, int64_t draws, int *df) {
    double chi = 0, pool_o = 0, pool_e = 0;
    int bins = 0;
    for (int i = 0; i < n; i++) {
        double e = prob[i] * (double)draws;
        if (prob[i] == 0) {
            if (count[i] != 0) test_fail(__FILE__, __LINE__, "token %d drawn %lld times, probability 0", i, (long long)count[i]);
            continue;
        }
        if (e < 5) { pool_o += (double)count[i]; pool_e += e; continue; }
        chi += ((double)count[i] - e) * ((double)count[i] - e) / e;
        bins++;
    }
    if (pool_e > 0) chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e, bins++;
    *df = bins - 1;
    return chi;
}

static SamplerParams params(float t, int k, float top_p, float min_p) {
    SamplerParams p = sampler_params_default();
    p.temperature = t, p.top_k = k, p.top_p = top_p, p.min_p = min_p;
    return p;
}

// Draws `draws` tokens and checks the frequencies against the reference distribution. The
// chi-square bound is df + 8·sqrt(2·df) + 8 (far beyond the 1e-9 tail); an error of one token
// with probability ≥ 1% in the support gives a statistic in the hundreds at these draw counts.
static void check_distribution(const float *logits, int n, SamplerParams sp, int64_t draws, uint64_t seed) {
    RefParams rp = {sp.temperature, sp.top_p, sp.min_p, sp.top_k};
    double *prob = malloc((size_t)n * sizeof *prob);
    int64_t *count = calloc((size_t)n, sizeof *count);
    ref_dist(logits, n, rp, prob);
    SamplerWork w;
    ASSERT(sampler_work_init(&w, n) == 0);
    Rng rng;
    rng_seed(&rng, seed);
    SampleResult r;
    for (int64_t d = 0; d < draws; d++) {
        if (sampler_sample(&sp, logits, n, NULL, 0, 0, &rng, &w, &r) != 0) {
            test_fail(__FILE__, __LINE__, "sampler_sample failed");
            break;
        }
        count[r.token]++;
    }
    int df;
    double chi = chi_square(count, prob, n, draws, &df);
    double bound = df + 8 * sqrt(2.0 * (df > 0 ? df : 1)) + 8;
    if (!(chi <= bound))
        test_fail(__FILE__, __LINE__, "T=%g k=%d top_p=%g min_p=%g: chi2 %.1f > %.1f (df %d)", sp.temperature,
                  sp.top_k, sp.top_p, sp.min_p, chi, bound, df);
    sampler_work_free(&w);
    free(prob);
    free(count);
}

// 16 well-separated logits (no ties, no top-p boundary within 1e-3 of a cumulative sum).
static const float small[16] = {2.1f, -0.3f, 1.7f, 0.4f, -1.2f, 3.0f, 0.9f, -2.5f,
                                1.1f, 0.0f,  -0.7f, 2.6f, -3.1f, 0.6f, 1.4f, -1.9f};

TEST(sampler_temperature_matches_softmax) {
    check_distribution(small, 16, params(1.0f, 0, 1.0f, 0.0f), 200000, 1);
    check_distribution(small, 16, params(0.6f, 0, 1.0f, 0.0f), 200000, 2);
    check_distribution(small, 16, params(1.8f, 0, 1.0f, 0.0f), 200000, 3);
}

TEST(sampler_top_k_top_p_min_p_match_reference) {
    check_distribution(small, 16, params(1.0f, 4, 1.0f, 0.0f), 200000, 4);
    check_distribution(small, 16, params(1.0f, 0, 0.8f, 0.0f), 200000, 5);
    check_distribution(small, 16, params(1.0f, 0, 1.0f, 0.12f), 200000, 6);
    check_distribution(small, 16, params(1.3f, 6, 0.9f, 0.05f), 200000, 7);
    check_distribution(small, 16, params(0.7f, 10, 0.95f, 0.0f), 200000, 8);
    check_distribution(small, 16, params(2.0f, 0, 0.6f, 0.2f), 200000, 9);
}

// A real vocabulary's size: top-p keeps thousands of tokens, exercising the threshold search.
TEST(sampler_large_vocab_top_p) {
    int n = 32000;
    float *l = malloc((size_t)n * sizeof *l);
    Rng g;
    rng_seed(&g, 42);
    for (int i = 0; i < n; i++) l[i] = (float)(rng_normal(&g) * 1.5);
    for (int i = 0; i < 8; i++) l[i * 997] += 9.0f;  // a few likely tokens
    check_distribution(l, n, params(1.0f, 0, 0.9f, 0.0f), 3000, 11);
    check_distribution(l, n, params(0.8f, 0, 0.5f, 0.0f), 3000, 12);
    check_distribution(l, n, params(1.0f, 40, 0.95f, 0.01f), 5000, 13);
    // top-k by heap (k <= 256) and by value-bucket histogram (larger k), at and past the switch
    check_distribution(l, n, params(2.0f, 256, 1.0f, 0.0f), 5000, 14);
    check_distribution(l, n, params(2.0f, 257, 0.9f, 0.0f), 5000, 15);
    check_distribution(l, n, params(3.0f, 3000, 1.0f, 0.0f), 5000, 16);
    check_distribution(l, n, params(0.5f, 0, 1.0f, 0.0f), 3000, 17);  // plain temperature
    check_distribution(l, n, params(1.5f, 0, 1.0f, 0.001f), 3000, 18);  // min-p alone
    free(l);
}

TEST(sampler_greedy_is_argmax_and_draws_nothing) {
    Rng g;
    rng_seed(&g, 7);
    SamplerWork w;
    ASSERT(sampler_work_init(&w, 1000) == 0);
    float l[1000];
    SamplerParams p = params(0.0f, 0, 1.0f, 0.0f);
    for (int trial = 0; trial < 200; trial++) {
        int best = 0;
        for (int i = 0; i < 1000; i++) {
            l[i] = (float)rng_normal(&g);
            if (l[i] > l[best]) best = i;
        }
        Rng r, before;
        rng_seed(&r, (uint64_t)trial);
        before = r;
        SampleResult res;
        ASSERT(sampler_sample(&p, l, 1000, NULL, 0, 0, &r, &w, &res) == 0);
        EXPECT_EQ_INT(res.token, best);
        EXPECT(memcmp(&r, &before, sizeof r) == 0);
    }
    for (int i = 0; i < 1000; i++) l[i] = 0.0f;
    l[500] = l[300] = 1.0f;  // tie: the lower id
    l[10] = NAN;             // NaN never wins
    SampleResult res;
    Rng r;
    rng_seed(&r, 1);
    ASSERT(sampler_sample(&p, l, 1000, NULL, 0, 0, &r, &w, &res) == 0);
    EXPECT_EQ_INT(res.token, 300);
    sampler_work_free(&w);
}

TEST(sampler_logprobs_are_raw_log_softmax) {
    int n = 5000;
    float *l = malloc((size_t)n * sizeof *l);
    Rng g;
    rng_seed(&g, 9);
    for (int i = 0; i < n; i++) l[i] = (float)(rng_normal(&g) * 4.0);
    double m = -INFINITY, z = 0;
    for (int i = 0; i < n; i++) m = l[i] > m ? l[i] : m;
    for (int i = 0; i < n; i++) z += exp(l[i] - m);
    double lse = m + log(z);
    int *order = malloc((size_t)n * sizeof *order);
    double *dv = malloc((size_t)n * sizeof *dv);
    for (int i = 0; i < n; i++) order[i] = i, dv[i] = l[i];
    ref_vals = dv;
    qsort(order, (size_t)n, sizeof *order, cmp_desc);
    SamplerWork w;
    ASSERT(sampler_work_init(&w, n) == 0);
    // Sampling settings must not change the reported logprobs.
    SamplerParams ps[3] = {params(0.0f, 0, 1.0f, 0.0f), params(0.5f, 10, 0.5f, 0.1f), params(1.0f, 0, 1.0f, 0.0f)};
    ps[1].repetition_penalty = 1.3f;
    int32_t recent[3] = {order[0], order[1], 17};
    for (int k = 0; k < 3; k++) {
        Rng r;
        rng_seed(&r, (uint64_t)k);
        SampleResult res;
        ASSERT(sampler_sample(&ps[k], l, n, recent, 3, 20, &r, &w, &res) == 0);
        EXPECT_NEAR(res.logprob, l[res.token] - lse, 1e-4);
        EXPECT_EQ_INT(res.n_top, 20);
        for (int j = 0; j < 20; j++) {
            EXPECT_EQ_INT(res.top[j].id, order[j]);
            EXPECT_NEAR(res.top[j].logprob, l[order[j]] - lse, 1e-4);
        }
    }
    // fewer tokens than N: all of them
    SampleResult res;
    Rng r;
    rng_seed(&r, 3);
    SamplerWork w3;
    ASSERT(sampler_work_init(&w3, 3) == 0);
    float l3[3] = {0.0f, -INFINITY, 1.0f};
    ASSERT(sampler_sample(&ps[2], l3, 3, NULL, 0, 5, &r, &w3, &res) == 0);
    EXPECT_EQ_INT(res.n_top, 2);  // -inf is not an alternative
    EXPECT_EQ_INT(res.top[0].id, 2);
    EXPECT_NEAR(res.top[0].logprob, 1.0 - log(1.0 + exp(1.0)), 1e-6);
    EXPECT(res.token != 1);
    sampler_work_free(&w3);
    sampler_work_free(&w);
    free(l);
    free(order);
    free(dv);
}

TEST(sampler_penalties) {
    SamplerWork w;
    ASSERT(sampler_work_init(&w, 4) == 0);
    Rng r;
    rng_seed(&r, 1);
    SampleResult res;
    float l[4] = {1.0f, 0.9f, -0.5f, 0.2f};
    SamplerParams p = params(0.0f, 0, 1.0f, 0.0f);
    int32_t rec[3] = {0, 0, 0};
    p.repetition_penalty = 1.5f;  // 1.0 / 1.5 = 0.667 < 0.9
    ASSERT(sampler_sample(&p, l, 4, rec, 1, 0, &r, &w, &res) == 0);
    EXPECT_EQ_INT(res.token, 1);
    EXPECT_NEAR(res.logprob, 0.9 - log(exp(1.0) + exp(0.9) + exp(-0.5) + exp(0.2)), 1e-5);
    ASSERT(sampler_sample(&p, l, 4, NULL, 0, 0, &r, &w, &res) == 0);  // counts were reset
    EXPECT_EQ_INT(res.token, 0);
    p.repetition_penalty = 1.0f;
    p.frequency_penalty = 0.05f;  // 1.0 - 3·0.05 = 0.85 < 0.9
    ASSERT(sampler_sample(&p, l, 4, rec, 3, 0, &r, &w, &res) == 0);
    EXPECT_EQ_INT(res.token, 1);
    ASSERT(sampler_sample(&p, l, 4, rec, 1, 0, &r, &w, &res) == 0);  // 0.95 > 0.9
    EXPECT_EQ_INT(res.token, 0);
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.2f;  // once, whatever the count: 0.8
    ASSERT(sampler_sample(&p, l, 4, rec, 3, 0, &r, &w, &res) == 0);
    EXPECT_EQ_INT(res.token, 1);
    float neg[4] = {-1.0f, -1.2f, -3.0f, -5.0f};
    p.presence_penalty = 0.0f;
    p.repetition_penalty = 1.5f;  // negative logits are multiplied: -1.5 < -1.2
    int32_t rec2[2] = {0, 99};    // out-of-range ids are ignored
    ASSERT(sampler_sample(&p, neg, 4, rec2, 2, 0, &r, &w, &res) == 0);
    EXPECT_EQ_INT(res.token, 1);
    sampler_work_free(&w);

    // The sampling distribution with a penalty equals the reference on the penalised logits.
    float pen[16];
    memcpy(pen, small, sizeof pen);
    pen[5] /= 1.4f, pen[11] /= 1.4f, pen[12] *= 1.4f;
    int32_t rec3[3] = {5, 11, 12};
    SamplerParams sp = params(1.0f, 0, 0.9f, 0.0f);
    sp.repetition_penalty = 1.4f;
    RefParams rp = {1.0, 0.9, 0.0, 0};
    double prob[16];
    ref_dist(pen, 16, rp, prob);
    int64_t count[16] = {0};
    SamplerWork w16;
    ASSERT(sampler_work_init(&w16, 16) == 0);
    rng_seed(&r, 77);
    for (int d = 0; d < 100000; d++) {
        ASSERT(sampler_sample(&sp, small, 16, rec3, 3, 0, &r, &w16, &res) == 0);
        count[res.token]++;
    }
    int df;
    double chi = chi_square(count, prob, 16, 100000, &df);
    EXPECT(chi <= df + 8 * sqrt(2.0 * df) + 8);
    sampler_work_free(&w16);
}

TEST(sampler_seed_determinism) {
    SamplerWork w;
    ASSERT(sampler_work_init(&w, 16) == 0);
    SamplerParams p = params(1.0f, 0, 0.95f, 0.0f);
    int32_t a[200], b[200], c[200];
    Rng r;
    SampleResult res;
    rng_seed(&r, 1234);
    for (int i = 0; i < 200; i++) {
        ASSERT(sampler_sample(&p, small, 16, NULL, 0, 0, &r, &w, &res) == 0);
        a[i] = res.token;
    }
    rng_seed(&r, 1234);
    for (int i = 0; i < 200; i++) {
        ASSERT(sampler_sample(&p, small, 16, NULL, 0, 0, &r, &w, &res) == 0);
        b[i] = res.token;
    }
    rng_seed(&r, 1235);
    for (int i = 0; i < 200; i++) {
        ASSERT(sampler_sample(&p, small, 16, NULL, 0, 0, &r, &w, &res) == 0);
        c[i] = res.token;
    }
    EXPECT(memcmp(a, b, sizeof a) == 0);
    EXPECT(memcmp(a, c, sizeof a) != 0);
    sampler_work_free(&w);
}

TEST(sampler_rejects_bad_input) {
    SamplerWork w;
    ASSERT(sampler_work_init(&w, 4) == 0);
    SamplerParams p = sampler_params_default();
    Rng r;
    rng_seed(&r, 1);
    SampleResult res;
    float l[4] = {-INFINITY, -INFINITY, NAN, -INFINITY};
    EXPECT_EQ_INT(sampler_sample(&p, l, 4, NULL, 0, 0, &r, &w, &res), -8);
    float ok[4] = {0, 1, 2, 3};
    EXPECT_EQ_INT(sampler_sample(&p, ok, 4, NULL, 0, 21, &r, &w, &res), -8);
    EXPECT_EQ_INT(sampler_sample(&p, ok, 5, NULL, 0, 0, &r, &w, &res), -8);
    sampler_work_free(&w);
    sampler_work_free(&w);  // freed twice: no-op
    EXPECT(sampler_work_init(&w, 0) < 0);

    char err[128] = "";
    EXPECT_EQ_INT(sampler_params_validate(&p, err, sizeof err), 0);
    p.top_p = 1.5f;
    EXPECT(sampler_params_validate(&p, err, sizeof err) < 0 && strstr(err, "top_p"));
    p = sampler_params_default(), p.temperature = -1;
    EXPECT(sampler_params_validate(&p, err, sizeof err) < 0 && strstr(err, "temperature"));
    p = sampler_params_default(), p.min_p = 2;
    EXPECT(sampler_params_validate(&p, err, sizeof err) < 0 && strstr(err, "min_p"));
    p = sampler_params_default(), p.top_k = -5;
    EXPECT(sampler_params_validate(&p, err, sizeof err) < 0 && strstr(err, "top_k"));
    p = sampler_params_default(), p.repetition_penalty = 0;
    EXPECT(sampler_params_validate(&p, err, sizeof err) < 0 && strstr(err, "repetition_penalty"));
}

// ---- vexp: the softmax passes against float64 exp and the definition of max ----

// The kernel sets this machine can run: the plain-C truth always, AVX2 when the CPU has it.
static int vexp_sets(const VexpKernels *sets[2]) {
    int n = 0;
    sets[n++] = vexp_kernels_ref();
    CpuFeatures f = cpu_features();
    if (f.avx2 && f.fma && vexp_kernels_avx2()) sets[n++] = vexp_kernels_avx2();
    return n;
}

// Error of y against the exact r in float ulps of r; below FLT_MIN the ulp is the subnormal step
// 2^-149.
static double ulps(float y, double r) {
    double ulp = r >= FLT_MIN ? ldexp(1.0, ilogb(r) - 23) : ldexp(1.0, -149);
    return fabs((double)y - r) / ulp;
}

TEST(vexp_exp_within_ulps_of_float64) {
    // Dense sweeps: the whole finite range at 1/1024 steps, the subnormal results (-87.3 down to
    // -104) at 1e-4, and around 0 at 1e-6; then special inputs.
    int64_t cap = 600000, n = 0;
    float *x = malloc((size_t)cap * sizeof *x), *y = malloc((size_t)(cap + 1) * sizeof *y);
    for (double t = -110; t <= 88.7; t += 1.0 / 1024) x[n++] = (float)t;
    for (double t = -104.5; t <= -87.0; t += 1e-4) x[n++] = (float)t;
    for (double t = -0.05; t <= 0.05; t += 1e-6) x[n++] = (float)t;
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-45f, -1e-45f, FLT_MIN, -FLT_MIN, -1.0f,
                             -87.33654f, -87.33655f, -103.27893f, -103.97208f, -103.97209f, 88.72283f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[n++] = special[i];
    ASSERT(n <= cap);
    const VexpKernels *sets[2];
    int ns = vexp_sets(sets);
    for (int s = 0; s < ns; s++) {
        y[n] = 12345.0f;  // guard: nothing past n is written
        double z = sets[s]->exp_sum(x, n, 0.0f, 1.0f, y);
        double worst_normal = 0, worst_sub = 0, zr = 0;
        int64_t at = 0;
        for (int64_t i = 0; i < n; i++) {
            double r = exp((double)x[i]), u = ulps(y[i], r);
            zr += r;
            if (r >= FLT_MIN && u > worst_normal) worst_normal = u, at = i;
            if (r < FLT_MIN && u > worst_sub) worst_sub = u;
            if (!(y[i] >= 0)) test_fail(__FILE__, __LINE__, "%s: exp(%g) = %g", sets[s]->name, x[i], y[i]);
        }
        if (!(worst_normal <= 2.0))  // measured: ref (libm expf) 0.50, avx2 1.23
            test_fail(__FILE__, __LINE__, "%s: %.2f ulp at x = %.9g", sets[s]->name, worst_normal, x[at]);
        EXPECT(worst_sub <= 1.0);    // subnormal results: within one step 2^-149 (avx2: 0.77)
        EXPECT(y[n] == 12345.0f);
        EXPECT(fabs(z - zr) <= 3e-7 * zr);  // every term within 2 ulp, all positive
    }
    // Masks and the ends of the range.
    const float edge[] = {-INFINITY, NAN, -NAN, -FLT_MAX, -1e30f, -104.0f, -200.0f, 89.0f, 1000.0f, INFINITY};
    const float want[] = {0, 0, 0, 0, 0, 0, 0, INFINITY, INFINITY, INFINITY};
    const int n_edge = (int)(sizeof edge / sizeof *edge);
    for (int s = 0; s < ns; s++) {
        float out[16];
        sets[s]->exp_sum(edge, 7, 0.0f, 1.0f, out);  // the masked and underflowing ones: sum 0
        EXPECT(sets[s]->exp_sum(edge, 7, 0.0f, 1.0f, out) == 0.0);
        sets[s]->exp_sum(edge, n_edge, 0.0f, 1.0f, out);
        for (int i = 0; i < n_edge; i++)
            if (memcmp(&out[i], &want[i], sizeof(float)) != 0)  // bit-exact: 0 is +0, never NaN
                test_fail(__FILE__, __LINE__, "%s: exp(%g) = %g, want %g", sets[s]->name, edge[i], out[i], want[i]);
        // a masked logit gives 0 whatever the shift and temperature
        float masked[3] = {-INFINITY, NAN, -INFINITY};
        EXPECT(sets[s]->exp_sum(masked, 3, -5.0f, 0.01f, out) == 0.0 && out[0] == 0 && out[1] == 0);
    }
    free(x);
    free(y);
}

// Shift and scale as the sampler uses them (t = (x - max) / T in float), every length 0..40 and
// a few long ones (the vector body and its masked tail), written in place.
TEST(vexp_exp_sum_shift_scale_lengths) {
    const VexpKernels *sets[2];
    int ns = vexp_sets(sets);
    Rng g;
    rng_seed(&g, 31);
    float x[1100], y[1101];
    for (int i = 0; i < 1100; i++) x[i] = (float)(rng_normal(&g) * 6.0);
    x[5] = -INFINITY, x[17] = NAN, x[1031] = -INFINITY;
    // temperatures, and -1 (SwiGLU's exp(-x)): a masked -inf must give 0 whatever the sign
    const float scales[4] = {1.0f, 1.0f / 0.8f, 1.0f / 0.05f, -1.0f};
    for (int s = 0; s < ns; s++)
        for (int sc = 0; sc < 4; sc++)
            for (int n = 0; n <= 1100; n = n < 40 ? n + 1 : n + 353) {
                float shift = 18.0f;  // about the max: most results normal, some subnormal or 0
                double zr = 0;
                for (int i = 0; i < n; i++) y[i] = x[i];
                y[n] = -7.0f;
                double z = sets[s]->exp_sum(y, n, shift, scales[sc], y);
                double worst = 0;
                for (int i = 0; i < n; i++) {
                    float t = (x[i] - shift) * scales[sc];
                    double r = x[i] > -INFINITY ? exp((double)t) : 0.0;
                    zr += r;
                    double u = ulps(y[i], r);
                    worst = u > worst ? u : worst;
                }
                double tol = 3e-7 * zr + n * ldexp(1.0, -149);  // 2 ulp, or 1 subnormal step
                if (!(worst <= 2.0 && y[n] == -7.0f && fabs(z - zr) <= tol))
                    test_fail(__FILE__, __LINE__, "%s n=%d scale=%g: %.2f ulp, sum %.9g vs %.9g", sets[s]->name, n,
                              scales[sc], worst, z, zr);
            }
}

TEST(vexp_max_first_index_and_above) {
    const VexpKernels *sets[2];
    int ns = vexp_sets(sets);
    Rng g;
    rng_seed(&g, 5);
    float x[300];
    for (int trial = 0; trial < 400; trial++) {
        int n = trial % 150 + (trial % 3 == 0 ? 150 : 0);
        for (int i = 0; i < n; i++) {
            double u = rng_uniform(&g);
            x[i] = u < 0.1 ? NAN : u < 0.2 ? -INFINITY : (float)(int)(rng_uniform(&g) * 40);  // ties
        }
        if (trial % 7 == 0)
            for (int i = 0; i < n; i++) x[i] = i % 2 ? NAN : -INFINITY;  // nothing finite
        // the definition: largest non-NaN value, lowest index holding it, -1 when none is > -inf
        float want = -INFINITY;
        int64_t want_at = -1;
        for (int i = 0; i < n; i++)
            if (!isnan(x[i]) && x[i] > -INFINITY && (want_at < 0 || x[i] > want)) want = x[i], want_at = i;
        for (int s = 0; s < ns; s++) {
            int64_t at = 99;
            float m = sets[s]->max(x, n, &at);
            if (!(m == want && at == want_at))
                test_fail(__FILE__, __LINE__, "%s n=%d: max %g at %lld, want %g at %lld", sets[s]->name, n, m,
                          (long long)at, want, (long long)want_at);
            EXPECT(sets[s]->max(x, n, NULL) == want);
            // above: the first index past a bar, from every start (NaN and -inf never pass)
            float bar = (float)(int)(rng_uniform(&g) * 45) - 2.0f;
            for (int from = 0; from <= n; from += 1 + from / 8) {
                int64_t want_above = n - from;
                for (int i = from; i < n; i++)
                    if (x[i] > bar) {
                        want_above = i - from;
                        break;
                    }
                int64_t got = sets[s]->above(x + from, n - from, bar);
                if (got != want_above)
                    test_fail(__FILE__, __LINE__, "%s n=%d from %d bar %g: above %lld, want %lld", sets[s]->name, n,
                              from, bar, (long long)got, (long long)want_above);
            }
        }
    }
}

TEST(vexp_dispatch_follows_cpu) {
    CpuFeatures f = cpu_features();
    const char *force = getenv("RIGHTSIZE_KERNELS");
    bool ref = (force && strcmp(force, "ref") == 0) || !(f.avx2 && f.fma);
    EXPECT(strcmp(vexp_kernels()->name, ref ? "ref" : "avx2") == 0);
    SamplerWork w;
    ASSERT(sampler_work_init(&w, 10) == 0);
    EXPECT(w.vk == vexp_kernels());
    sampler_work_free(&w);
}

// The sampler on the AVX2 kernels chooses the same tokens as on the plain-C ones, with the same
// logprobs to float rounding, across greedy, temperature, top-k/top-p/min-p and penalties, on a
// real vocabulary's size with masked (-inf) and NaN logits. Without AVX2 the test has nothing to
// compare and checks only that the reference runs.
TEST(sampler_avx2_matches_ref) {
    int n = 32000;
    float *l = malloc((size_t)n * sizeof *l);
    Rng g;
    rng_seed(&g, 77);
    for (int i = 0; i < n; i++) l[i] = (float)(rng_normal(&g) * 3.0);
    for (int i = 0; i < 50; i++) l[i * 611] = -INFINITY;
    l[1234] = NAN;
    for (int i = 0; i < 6; i++) l[i * 4001 + 7] += 12.0f;
    const VexpKernels *sets[2];
    int ns = vexp_sets(sets);
    SamplerWork wr, wa;
    ASSERT(sampler_work_init(&wr, n) == 0 && sampler_work_init(&wa, n) == 0);
    wr.vk = sets[0], wa.vk = sets[ns - 1];
    enum { NS = 8 };
    SamplerParams ps[NS] = {params(0.0f, 0, 1.0f, 0.0f),   params(1.0f, 0, 1.0f, 0.0f),
                            params(0.8f, 0, 0.95f, 0.0f),  params(1.3f, 40, 0.9f, 0.0f),
                            params(0.7f, 0, 1.0f, 0.02f),  params(0.0f, 0, 1.0f, 0.0f),
                            params(2.0f, 700, 0.8f, 0.0f), params(1.0f, 0, 0.5f, 0.0f)};
    ps[4].repetition_penalty = 1.3f, ps[5].frequency_penalty = 0.5f;
    int32_t recent[4] = {7, 4008, 7, 99};
    for (int k = 0; k < NS; k++) {
        Rng ra, rb;
        rng_seed(&ra, (uint64_t)k + 100);
        rng_seed(&rb, (uint64_t)k + 100);
        for (int d = 0; d < 40; d++) {
            SampleResult a, b;
            ASSERT(sampler_sample(&ps[k], l, n, recent, 4, 20, &ra, &wr, &a) == 0);
            ASSERT(sampler_sample(&ps[k], l, n, recent, 4, 20, &rb, &wa, &b) == 0);
            if (a.token != b.token) test_fail(__FILE__, __LINE__, "setting %d draw %d: %d vs %d", k, d, a.token, b.token);
            EXPECT_NEAR(a.logprob, b.logprob, 2e-6);
            EXPECT_EQ_INT(a.n_top, b.n_top);
            for (int j = 0; j < a.n_top; j++) {
                EXPECT_EQ_INT(a.top[j].id, b.top[j].id);
                EXPECT_NEAR(a.top[j].logprob, b.top[j].logprob, 2e-6);
            }
        }
    }
    sampler_work_free(&wr);
    sampler_work_free(&wa);
    free(l);
}
