// test_review.c — the telemetry scanner against strtod and known epochs, the log histogram
// against exact sorted order statistics, and the rotated-file order.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "review/loghist.h"
#include "review/review.h"
#include "review/review_read.h"
#include "review/telrec.h"
#include "test.h"

TEST(telrec_fields) {
    const char *l = "{\"id\":\"req-1\",\"time\":\"2026-03-02T01:02:03.500000Z\",\"route\":\"chat\",\"tier\":\"big\","
                    "\"first_tier\":null,\"escalated\":true,\"prompt_tokens\":38,\"output_tokens\":null,\"e2e_ms\":1234.5,"
                    "\"status\":200,\"cost_usd\":0.000064021,\"cost_busy_usd\":1.5e-3,\"extra\":{\"a\":[1,\"}\"]},"
                    "\"finish_reason\":\"stop\"}";
    TelRec r;
    char err[128];
    ASSERT(telrec_parse(l, strlen(l), &r, err, sizeof err) == 0);
    EXPECT(str_eq_c(r.route, "chat") && str_eq_c(r.tier, "big") && r.first_tier.len == 0);
    EXPECT(r.escalated && r.status == 200 && str_eq_c(r.finish_reason, "stop"));
    EXPECT(r.prompt_tokens == 38 && isnan(r.output_tokens) && r.e2e_ms == 1234.5);
    EXPECT_EQ_INT(r.cost_nusd, 64021);
    EXPECT_EQ_INT(r.cost_busy_nusd, 1500000);
    EXPECT_EQ_INT(r.cost_idle_nusd, -1);
    // 2026-03-02T01:02:03.5Z = 1772413323.5 s since 1970 (date -u -d 2026-03-02T01:02:03Z +%s).
    EXPECT_EQ_INT(r.t_us, 1772413323500000LL);
    const char *v2 = "{\"schema\":\"rightsize.telemetry/2\",\"time\":\"2026-03-02\"}";
    ASSERT(telrec_parse(v2, strlen(v2), &r, err, sizeof err) == 0);
    EXPECT_EQ_INT(r.schema, 2);
    const char *bad[] = {"", "[1]", "{\"time\":\"2026-03-02T00:00:00Z\"", "{\"time\":\"x\"}", "{\"status\":200}",
                         "{\"time\":\"2026-03-02T00:00:00Z\",\"e2e_ms\":1.}", "{\"time\":\"2026-03-02\"} x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) EXPECT(telrec_parse(bad[i], strlen(bad[i]), &r, err, sizeof err) != 0);
}

TEST(telrec_numbers_match_strtod) {
    Rng rng;
    rng_seed(&rng, 5);
    char line[256];
    for (int i = 0; i < 20000; i++) {
        double x = rng_uniform(&rng) * pow(10, (int)(rng_uniform(&rng) * 12) - 4);
        int dec = (int)(rng_uniform(&rng) * 10);
        char num[64];
        snprintf(num, sizeof num, "%.*f", dec, x);
        snprintf(line, sizeof line, "{\"time\":\"2026-01-01\",\"e2e_ms\":%s,\"cost_usd\":%s}", num, num);
        TelRec r;
        ASSERT(telrec_parse(line, strlen(line), &r, NULL, 0) == 0);
        EXPECT(r.e2e_ms == strtod(num, NULL));
        // The reference: the decimal digits themselves (dec <= 9 fraction digits), as an integer.
        long long ip = 0, fp = 0;
        int nf = 0;
        const char *dot = strchr(num, '.');
        for (const char *c = num; *c && c != dot; c++) ip = ip * 10 + (*c - '0');
        if (dot) for (const char *c = dot + 1; *c; c++, nf++) fp = fp * 10 + (*c - '0');
        for (; nf < 9; nf++) fp *= 10;
        EXPECT_EQ_INT(r.cost_nusd, ip * 1000000000LL + fp);
    }
}

TEST(telrec_time) {
    int64_t t;
    EXPECT(telrec_parse_time("1970-01-01T00:00:00Z", 20, &t) == 0 && t == 0);
    EXPECT(telrec_parse_time("2000-02-29T12:00:00+02:00", 25, &t) == 0 && t == 951818400000000LL);   // 10:00Z
    EXPECT(telrec_parse_time("2026-13-01", 10, &t) != 0);
    char d[16];
    telrec_day_str(telrec_day(951818400000000LL), d, sizeof d);
    EXPECT(strcmp(d, "2000-02-29") == 0);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

TEST(loghist_constants) {
    double lg = log((1 + LOGHIST_REL_ERR) / (1 - LOGHIST_REL_ERR));
    EXPECT_NEAR(LOGHIST_LOG_GAMMA, lg, 1e-15);
    EXPECT_EQ_INT(LOGHIST_OFFSET, (int)ceil(log(LOGHIST_MIN) / lg));
    EXPECT(LOGHIST_BUCKETS >= (int)ceil(log(LOGHIST_MAX) / lg) - LOGHIST_OFFSET + 1);
    // The ends: MIN and MAX land inside, each within the bound.
    LogHist *h = calloc(1, sizeof *h);
    ASSERT(h);
    for (int i = 0; i < 3; i++) loghist_add(h, LOGHIST_MAX * 0.999);
    for (int i = 0; i < 3; i++) loghist_add(h, 1e6);
    EXPECT_NEAR(loghist_quantile(h, 0.5), 1e6, 1e6 * LOGHIST_REL_ERR);
    EXPECT_EQ_INT(h->n_clamped, 0);
    free(h);
}

TEST(loghist_quantiles_within_bound) {
    enum { N = 50001 };
    double *v = malloc(N * sizeof *v);
    ASSERT(v);
    LogHist *h = malloc(sizeof *h), *h2 = malloc(sizeof *h2);
    ASSERT(h && h2);
    loghist_init(h);
    loghist_init(h2);
    Rng rng;
    rng_seed(&rng, 9);
    for (int i = 0; i < N; i++) {
        v[i] = exp(3 + 2 * rng_normal(&rng));   // lognormal over ~4 decades
        loghist_add(i % 2 ? h : h2, v[i]);
    }
    loghist_merge(h, h2);
    qsort(v, N, sizeof *v, cmp_d);
    const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double exact = v[(int64_t)floor(qs[i] * (N - 1))];
        EXPECT_NEAR(loghist_quantile(h, qs[i]), exact, LOGHIST_REL_ERR * exact);
    }
    EXPECT(loghist_quantile(h, 0) == v[0] && loghist_quantile(h, 1) == v[N - 1]);
    EXPECT_EQ_INT(h->n, N);
    free(v);
    free(h);
    free(h2);
}

TEST(review_rotated_order) {
    const char *p[] = {"a.jsonl", "b.jsonl.1", "a.jsonl.1", "a.jsonl.2", "b.jsonl", "c.jsonl.10", "c.jsonl.9"};
    review_order_files(p, 7);
    const char *want[] = {"a.jsonl.2", "a.jsonl.1", "a.jsonl", "b.jsonl.1", "b.jsonl", "c.jsonl.10", "c.jsonl.9"};
    for (int i = 0; i < 7; i++) EXPECT(strcmp(p[i], want[i]) == 0);
}

// A cascade route with a canary in the first call's place: the canary's requests meet a cascade's
// first call too (reason "cascade-first", decision "canary"), so they count in the escalation
// rate's denominator as the simulator's escalated / completed does. The four kinds of record a
// gateway writes there (scripts/loop.sh's cascade), 104 + 12 + 45 + 3: 15 escalated of 164.
TEST(review_escalation_rate_counts_the_canary_arm) {
    const char *kinds[] = {
        "{\"time\":\"2026-03-02T00:00:01Z\",\"decision\":\"cascade\",\"reason\":\"cascade-first\",\"tier\":\"student\","
        "\"escalated\":false,\"status\":200,\"e2e_ms\":40}",
        "{\"time\":\"2026-03-02T00:00:02Z\",\"decision\":\"cascade\",\"reason\":\"escalated\",\"tier\":\"main\","
        "\"first_tier\":\"student\",\"escalated\":true,\"status\":200,\"e2e_ms\":90}",
        "{\"time\":\"2026-03-02T00:00:03Z\",\"decision\":\"canary\",\"reason\":\"cascade-first\",\"tier\":\"candidate\","
        "\"canary_candidate\":true,\"escalated\":false,\"status\":200,\"e2e_ms\":40}",
        "{\"time\":\"2026-03-02T00:00:04Z\",\"decision\":\"canary\",\"reason\":\"escalated\",\"tier\":\"main\","
        "\"first_tier\":\"candidate\",\"canary_candidate\":true,\"escalated\":true,\"status\":200,\"e2e_ms\":90}",
        // a plain canary on a route without a cascade: not a cascade request
        "{\"time\":\"2026-03-02T00:00:05Z\",\"decision\":\"canary\",\"reason\":\"canary\",\"tier\":\"b\","
        "\"canary_candidate\":true,\"escalated\":false,\"status\":200,\"e2e_ms\":40}",
    };
    const int count[] = {104, 12, 45, 3, 0};
    Review rv;
    review_init(&rv);
    char err[128];
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < count[k]; i++) {
            TelRec r;
            ASSERT(telrec_parse(kinds[k], strlen(kinds[k]), &r, err, sizeof err) == 0);
            review_add(&rv, &r);
        }
    TelRec plain;
    ASSERT(telrec_parse(kinds[4], strlen(kinds[4]), &plain, err, sizeof err) == 0);
    review_add(&rv, &plain);
    ReviewFit f;
    review_finish(&rv, &f);
    EXPECT_EQ_INT(rv.all.n_escalated, 15);
    EXPECT_EQ_INT(rv.all.n_cascade, 164);
    EXPECT(fabs(f.escalation_rate - 15.0 / 164.0) < 1e-12);
    review_free(&rv);
}
