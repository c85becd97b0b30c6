// test_calib_url.c — the endpoint calibration's reduction and fit, against closed-form truths.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "bench/calib_url.h"
#include "test.h"

// Points generated from known unknowns with the model the header states: the fit must give them
// back (the design identifies all six: ITL rows at C = 1 and at several C > 1 and contexts place
// b0, b2, b3 and the multi-row term b4; TTFT rows at several prompt lengths place b1 + b3 and
// overhead + b0 + b4). With b4 = 0 (a linear engine) and b4 > 0 (one row cheaper than the line
// through the batched steps, as our worker measures).
TEST(calib_url_fit_recovers_known_step_model_and_overhead) {
    const double b0 = 9000, b1 = 3500, b2 = 4200, b3 = 12, ovh = 1800;
    for (int v = 0; v < 2; v++) {
        const double b4 = v ? 2500 : 0;
        const int64_t words[] = {16, 64, 128}, conc[] = {1, 2, 4, 8};
        CalibUrlPoint pts[12];
        int64_t n = 0;
        for (int p = 0; p < 3; p++)
            for (int c = 0; c < 4; c++) {
                CalibUrlPoint *q = &pts[n++];
                *q = (CalibUrlPoint){.words = words[p], .conc = conc[c], .prompt_tokens = (double)words[p] + 1,
                                     .output_tokens = 32, .n_ok = 4};
                q->ttft_us = ovh + b0 + b4 + (b1 + b3) * q->prompt_tokens;
                q->itl_us = b0 + b2 * (double)conc[c] + b3 * (double)conc[c] * (q->prompt_tokens + 16) +
                            (conc[c] > 1 ? b4 : 0);
            }
        CalibUrlFit f;
        char err[256];
        ASSERT(calib_url_fit(pts, n, &f, err, sizeof err) == 0);
        EXPECT_NEAR(f.step.b0_us, b0, 1e-6 * b0);
        EXPECT_NEAR(f.step.prefill_token_us, b1, 1e-6 * b1);
        EXPECT_NEAR(f.step.decode_row_us, b2, 1e-6 * b2);
        EXPECT_NEAR(f.step.context_token_us, b3, 1e-6 * b3);
        EXPECT_NEAR(f.step.multi_row_us, b4, 1e-6 * b0);
        EXPECT_NEAR(f.overhead_us, ovh, 1e-5 * ovh);
        EXPECT_EQ_INT(f.n_ttft_rows, 3);
        EXPECT_EQ_INT(f.n_itl_rows, 12);
        EXPECT(f.step.mape < 1e-9);
        EXPECT_NEAR(pts[5].itl_fit_us, pts[5].itl_us, 1e-6 * pts[5].itl_us);
        EXPECT_NEAR(pts[4].itl_fit_us, pts[4].itl_us, 1e-6 * pts[4].itl_us);   // C = 1: one row, no b4
    }
}

// Without TTFT rows (no concurrency-1 point) the overhead cannot be placed: refused.
TEST(calib_url_fit_needs_both_kinds_of_rows) {
    CalibUrlPoint pts[6];
    for (int i = 0; i < 6; i++)
        pts[i] = (CalibUrlPoint){.words = 16 << (i % 3), .conc = 2 + i / 3, .prompt_tokens = 16 << (i % 3),
                                 .output_tokens = 16, .ttft_us = 1000, .itl_us = 500 + i};
    CalibUrlFit f;
    char err[256] = "";
    EXPECT(calib_url_fit(pts, 6, &f, err, sizeof err) == ERR_ARG);
    EXPECT(strstr(err, "TTFT") != NULL);
}

// Medians over ok requests only: TTFT, usage.prompt_tokens (words when absent), output tokens,
// and the pooled inter-token gaps; errors counted, unsent requests not.
TEST(calib_url_reduce_takes_medians_of_ok_requests) {
    LgResult r = {0};
    LgRecord rec[5] = {
        {.outcome = LG_OK, .ttft_us = 300, .prompt_tokens = 17, .output_tokens = 8},
        {.outcome = LG_OK, .ttft_us = 100, .prompt_tokens = 17, .output_tokens = 8},
        {.outcome = LG_ERR_5XX, .ttft_us = -1, .prompt_tokens = -1},
        {.outcome = LG_OK, .ttft_us = 200, .prompt_tokens = -1, .output_tokens = 7},
        {.outcome = LG_NOT_SENT, .ttft_us = -1, .prompt_tokens = -1},
    };
    r.rec = rec;
    r.n = 5;
    samples_init(&r.itl_us);
    const int64_t gaps[] = {50, 10, 40, 20, 30, 1000};
    for (size_t i = 0; i < ARRAY_LEN(gaps); i++) ASSERT(samples_add(&r.itl_us, gaps[i]) == 0);
    CalibUrlPoint p;
    ASSERT(calib_url_reduce(&r, 16, 1, &p) == 0);
    EXPECT_EQ_INT(p.n_ok, 3);
    EXPECT_EQ_INT(p.n_err, 1);
    EXPECT_NEAR(p.ttft_us, 200, 1e-12);
    EXPECT_NEAR(p.prompt_tokens, 17, 1e-12);   // median of {17, 17, 16}
    EXPECT_NEAR(p.output_tokens, 8, 1e-12);
    EXPECT_NEAR(p.itl_us, 35, 1e-12);          // median of the six gaps
    samples_free(&r.itl_us);
}

// Through a rightsize gateway (x-rightsize-ttft-ms): a point's TTFT is the gateway's own, and the
// client's side of the hop (client TTFT − gateway TTFT) is kept apart; a request without the header
// keeps its client TTFT; the decode time per token stays the client's (e2e − TTFT) / (n − 1).
TEST(calib_url_reduce_takes_the_gateways_ttft) {
    LgResult r = {0};
    LgRecord rec[4] = {
        {.outcome = LG_OK, .ttft_us = 5000, .server_ttft_us = 4400, .e2e_us = 36000, .output_tokens = 32, .prompt_tokens = 25},
        {.outcome = LG_OK, .ttft_us = 4800, .server_ttft_us = 4000, .e2e_us = 35800, .output_tokens = 32, .prompt_tokens = 25},
        {.outcome = LG_OK, .ttft_us = 6000, .server_ttft_us = 5100, .e2e_us = 37000, .output_tokens = 32, .prompt_tokens = 25},
        {.outcome = LG_OK, .ttft_us = 4300, .server_ttft_us = -1, .e2e_us = 35300, .output_tokens = 32, .prompt_tokens = 25},
    };
    r.rec = rec;
    r.n = 4;
    samples_init(&r.itl_us);
    CalibUrlPoint p[2];
    ASSERT(calib_url_reduce(&r, 24, 1, &p[0]) == 0);
    EXPECT_EQ_INT(p[0].n_server, 3);
    EXPECT_NEAR(p[0].ttft_us, 4350, 1e-9);     // median of {4400, 4000, 5100, 4300 (client's: no header)}
    EXPECT_NEAR(p[0].hop_us, 800, 1e-9);       // median of {600, 800, 900}
    EXPECT_NEAR(p[0].itl_us, 1000, 1e-9);      // (e2e − client TTFT) / 31 = 1000 for every request
    rec[0].server_ttft_us = rec[1].server_ttft_us = rec[2].server_ttft_us = -1;   // a plain server
    ASSERT(calib_url_reduce(&r, 24, 1, &p[1]) == 0);
    EXPECT_EQ_INT(p[1].n_server, 0);
    EXPECT_NEAR(p[1].ttft_us, 4900, 1e-9);     // the client's: median of {5000, 4800, 6000, 4300}
    EXPECT_NEAR(p[1].hop_us, 0, 0);
    int64_t n_server;
    EXPECT_NEAR(calib_url_hop_us(p, 2, &n_server), 800, 1e-9);   // points without the header left out
    EXPECT_EQ_INT(n_server, 3);
    CalibUrlPoint m;
    p[1].hop_us = 600, p[1].n_server = 2;
    ASSERT(calib_url_merge_rounds(p, 2, &m) == 0);
    EXPECT_NEAR(m.hop_us, 700, 1e-9);
    EXPECT_EQ_INT(m.n_server, 5);
    samples_free(&r.itl_us);
}

// Rounds merge by medians over the rounds that had an ok request; a round that failed entirely
// counts its errors but not its (empty) figures.
TEST(calib_url_merge_rounds_takes_medians_over_rounds) {
    CalibUrlPoint r[4] = {
        {.words = 24, .conc = 2, .prompt_tokens = 25, .output_tokens = 32, .ttft_us = 0, .itl_us = 1400, .n_ok = 4},
        {.words = 24, .conc = 2, .prompt_tokens = 25, .output_tokens = 32, .ttft_us = 0, .itl_us = 1000, .n_ok = 4},
        {.words = 24, .conc = 2, .n_ok = 0, .n_err = 4},
        {.words = 24, .conc = 2, .prompt_tokens = 26, .output_tokens = 31, .ttft_us = 0, .itl_us = 1100, .n_ok = 3,
         .n_err = 1},
    };
    CalibUrlPoint m;
    ASSERT(calib_url_merge_rounds(r, 4, &m) == 0);
    EXPECT_EQ_INT(m.words, 24);
    EXPECT_EQ_INT(m.conc, 2);
    EXPECT_EQ_INT(m.n_ok, 11);
    EXPECT_EQ_INT(m.n_err, 5);
    EXPECT_NEAR(m.itl_us, 1100, 1e-12);        // median of {1400, 1000, 1100}
    EXPECT_NEAR(m.ttft_us, 0, 1e-12);          // no round had a TTFT sample
    EXPECT_NEAR(m.prompt_tokens, 25, 1e-12);
    EXPECT_NEAR(m.output_tokens, 32, 1e-12);
    r[0].ttft_us = 500, r[1].ttft_us = 300;
    ASSERT(calib_url_merge_rounds(r, 2, &m) == 0);
    EXPECT_NEAR(m.ttft_us, 400, 1e-12);        // even count: the mean of the middle two
    EXPECT_NEAR(m.itl_us, 1200, 1e-12);
}

// The cold probe's reduction: per idle level the medians of its requests and of their real gaps,
// and each level's extra TTFT and step-time factor against the warm (back-to-back) point.
TEST(calib_url_cold_reduce_against_back_to_back) {
    enum { STRIDE = 4 };
    CalibUrlPoint req[4 * STRIDE] = {0};
    double gap[4 * STRIDE] = {0};
    const int64_t n_level[4] = {0, 2, 2, 3};
    const double ttft[4][3] = {{0}, {3400, 3600}, {4000, 4200}, {5000, 5200, 5400}};
    const double itl[4][3] = {{0}, {1000, 1020}, {1040, 1060}, {1100, 1080, 1200}};
    const double g[4][3] = {{0}, {30000, 20000}, {70000, 60000}, {210000, 220000, 260000}};
    for (int l = 1; l < 4; l++)
        for (int i = 0; i < n_level[l]; i++) {
            req[l * STRIDE + i] = (CalibUrlPoint){.words = 24, .conc = 1, .prompt_tokens = 25, .output_tokens = 32,
                                                  .ttft_us = ttft[l][i], .itl_us = itl[l][i], .n_ok = 1};
            gap[l * STRIDE + i] = g[l][i];
        }
    CalibUrlPoint warm = {.words = 24, .conc = 1, .prompt_tokens = 25, .output_tokens = 32, .ttft_us = 3025,
                          .itl_us = 1002.5, .n_ok = 20};
    CalibUrlCold c;
    ASSERT(calib_url_cold_reduce(req, gap, STRIDE, n_level, &warm, 160000, &c) == 0);
    EXPECT_EQ_INT(c.idle_us, 160000);
    EXPECT(c.gap_us[0] == 0 && c.gap_us[1] == 25000 && c.gap_us[2] == 65000 && c.gap_us[3] == 220000);
    EXPECT_NEAR(c.at[0].ttft_us, 3025, 1e-9);
    EXPECT_NEAR(c.wake_us[1], 3500 - 3025, 1e-9);
    EXPECT_NEAR(c.wake_us[3], 5200 - 3025, 1e-9);
    EXPECT_NEAR(c.step_factor[2], 1050 / 1002.5, 1e-12);
    EXPECT_NEAR(c.step_factor[3], 1100 / 1002.5, 1e-12);
    EXPECT(c.wake_us[0] == 0 && c.step_factor[0] == 1);
    // A level with no answer, or no warm point, is an error, not a silent zero.
    req[2 * STRIDE] = req[2 * STRIDE + 1] = (CalibUrlPoint){.words = 24, .conc = 1, .n_err = 1};
    EXPECT(calib_url_cold_reduce(req, gap, STRIDE, n_level, &warm, 160000, &c) == ERR_IO);
    warm.ttft_us = 0;
    EXPECT(calib_url_cold_reduce(req, gap, STRIDE, n_level, &warm, 160000, &c) == ERR_IO);
}

// The noise gate: a level whose median differs from the warm point by no more than two standard
// errors of its median (1.2533·sd/√n over its requests) keeps no wake and a ×1 factor; a clear
// difference is kept. Level 1: ITL {900, 1100, 1000, 1200, 800} (sd 158.1, 2·SE = 177.2) around a
// warm 1050 (diff −50: noise); TTFT {3000, 3100, 2900, 3050, 2950} (sd 79.1, 2·SE = 88.6) against
// 2800 (+200: kept).
TEST(calib_url_cold_reduce_gates_noise) {
    enum { STRIDE = 5 };
    CalibUrlPoint req[4 * STRIDE] = {0};
    double gap[4 * STRIDE] = {0};
    const int64_t n_level[4] = {0, 5, 5, 5};
    const double itl[5] = {900, 1100, 1000, 1200, 800}, ttft[5] = {3000, 3100, 2900, 3050, 2950};
    for (int l = 1; l < 4; l++)
        for (int i = 0; i < 5; i++) {
            req[l * STRIDE + i] = (CalibUrlPoint){.words = 24, .conc = 1, .prompt_tokens = 25, .output_tokens = 32,
                                                  .ttft_us = ttft[i] + (l == 3 ? 1000 : 0) + (l == 2 && i == 4 ? 6000 : 0),
                                                  .itl_us = itl[i] * (l == 3 ? 1.5 : 1), .n_ok = 1};
            gap[l * STRIDE + i] = 10000.0 * l + i;
        }
    CalibUrlPoint warm = {.words = 24, .conc = 1, .prompt_tokens = 25, .output_tokens = 32, .ttft_us = 2800,
                          .itl_us = 1050, .n_ok = 20};
    CalibUrlCold c;
    ASSERT(calib_url_cold_reduce(req, gap, STRIDE, n_level, &warm, 160000, &c) == 0);
    // step factor: 2 SE = 2 x 1.2533 x 1.4826 MAD / sqrt(5) = 1.6620 MAD
    EXPECT_NEAR(c.at[1].itl_us, 1000, 1e-9);
    EXPECT(c.step_factor[1] == 1);              // |1000 − 1050| = 50 <= 1.662 x MAD 100
    EXPECT_NEAR(c.wake_us[1], 3000 - 2800, 1e-9);   // the extra TTFT as measured
    // level 2: one stalled request (TTFT 8950) moves the median from 3000 to 3050 only
    EXPECT_NEAR(c.wake_us[2], 3050 - 2800, 1e-9);
    // level 3: ITL 1.5x ({1350, 1650, 1500, 1800, 1200}: diff 450 > 1.662 x MAD 150), TTFT +1000
    EXPECT_NEAR(c.step_factor[3], 1500.0 / 1050, 1e-12);
    EXPECT_NEAR(c.wake_us[3], 4000 - 2800, 1e-9);
    // level 3 with one stalled request (ITL 1800 -> 7800; the median stays 1500): 2 SE from the
    // standard deviation would be 3,100 and hide the 1.5x factor; from the MAD it stays 249
    req[3 * STRIDE + 3].itl_us += 6000;
    warm.ttft_us = 3100;                        // warm slower than level 1: no wake, not a negative one
    ASSERT(calib_url_cold_reduce(req, gap, STRIDE, n_level, &warm, 160000, &c) == 0);
    EXPECT(c.wake_us[1] == 0);
    EXPECT_NEAR(c.step_factor[3], 1500.0 / 1050, 1e-12);
    // a warm point slower than a level by far more than its noise: factor 1, never below
    warm.itl_us = 1400;                         // level 1: 1000, MAD 100
    ASSERT(calib_url_cold_reduce(req, gap, STRIDE, n_level, &warm, 160000, &c) == 0);
    EXPECT(c.step_factor[1] == 1);
}

// The co-location probe's reduction: the median beside a busy neighbour over the alone point's,
// kept only beyond two standard errors (1.2533 x 1.4826 MAD / sqrt(n)), never below 1.
TEST(calib_url_colo_reduce_gates_noise) {
    double v[5] = {1380, 1150, 1200, 1250, 7000};   // one stalled request: median 1250, MAD 100
    CalibUrlColo c;
    ASSERT(calib_url_colo_reduce(v, 5, 1000, &c) == 0);
    EXPECT_EQ_INT(c.n, 5);
    EXPECT_NEAR(c.itl_us, 1250, 1e-9);
    EXPECT_NEAR(c.se_us, 1.2533 * 1.4826 * 100 / sqrt(5.0), 1e-9);  // 83.1 µs
    EXPECT_NEAR(c.factor, 1.25, 1e-12);                               // 250 > 2 x 83.1
    double w[5] = {1380, 1150, 1200, 1250, 7000};
    ASSERT(calib_url_colo_reduce(w, 5, 1200, &c) == 0);               // 50 < 166: noise
    EXPECT(c.factor == 1);
    double x[3] = {900, 950, 1000};
    ASSERT(calib_url_colo_reduce(x, 3, 1200, &c) == 0);               // faster beside a neighbour: 1
    EXPECT(c.factor == 1);
    EXPECT(calib_url_colo_reduce(x, 0, 1200, &c) == ERR_IO);          // nothing measured
    EXPECT(calib_url_colo_reduce(x, 3, 0, &c) == ERR_IO);             // no alone reference
}

TEST(calib_url_check_rejects_designs_without_concurrency_one) {
    CalibUrlDesign d = {.url = "http://127.0.0.1:1/v1", .prompt_words = {16, 64}, .n_prompts = 2,
                        .concurrency = {2, 4}, .n_conc = 2, .output_tokens = 16, .rounds = 1};
    char err[256] = "";
    EXPECT(calib_url_check(&d, err, sizeof err) == ERR_ARG);
    EXPECT(strstr(err, "include 1") != NULL);
    d.concurrency[0] = 1;
    EXPECT(calib_url_check(&d, err, sizeof err) == 0);
    d.idle_us = 60000001;
    EXPECT(calib_url_check(&d, err, sizeof err) == ERR_ARG);
    EXPECT(strstr(err, "idle") != NULL);
    d.idle_us = 200000;
    EXPECT(calib_url_check(&d, err, sizeof err) == 0);
    d.n_prompts = 1;
    EXPECT(calib_url_check(&d, err, sizeof err) == ERR_ARG);
}

// The shared NNLS on more unknowns than the step model: exact recovery, and a negative truth
// clamped to 0 (non-negativity holds).
TEST(calib_nnls_rel_five_unknowns_nonnegative) {
    enum { N = 40, K = 5 };
    double F[N * K], y[N], b[K];
    const double truth[K] = {100, 2, 0, 7, 30};
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < K; j++) {
            s = s * 1103515245u + 12345u;
            F[i * K + j] = j == 0 ? 1 : (double)(s >> 16 & 1023) / 10.0;
        }
        y[i] = 0;
        for (int j = 0; j < K; j++) y[i] += F[i * K + j] * truth[j];
    }
    ASSERT(calib_nnls_rel(F, y, N, K, b) == 0);
    for (int j = 0; j < K; j++) EXPECT_NEAR(b[j], truth[j], 1e-6 * (truth[j] + 1));
    // A truth with a negative coefficient: the constrained optimum has it at exactly 0.
    for (int i = 0; i < N; i++) y[i] = 500 + 3 * F[i * K + 1] - 0.5 * F[i * K + 2];
    for (int i = 0; i < N; i++) y[i] = y[i] > 1 ? y[i] : 1;
    ASSERT(calib_nnls_rel(F, y, N, K, b) == 0);
    for (int j = 0; j < K; j++) EXPECT(b[j] >= 0);
    EXPECT_NEAR(b[2], 0, 1e-12);
    EXPECT(calib_nnls_rel(F, y, N, 7, b) == ERR_ARG);
}

// The spread: quantiles at (i + 1/2)/16 of the ratios, interpolated between order statistics (as
// numpy's default percentile does); too few ratios, or no span, give none.
TEST(calib_url_spread_takes_quantiles_of_the_ratios) {
    double r[100];
    for (int i = 0; i < 100; i++) r[i] = 0.5 + (double)((i * 37) % 100) / 100;   // 0.50 .. 1.49, shuffled
    CalibUrlSpread s;
    calib_url_spread(r, 100, 35000, &s);
    ASSERT(s.n == CALIB_URL_SPREAD_N);
    EXPECT_EQ_INT(s.n_samples, 100);
    EXPECT(s.window_us == 35000);
    for (int i = 0; i < CALIB_URL_SPREAD_N; i++) {
        double h = (i + 0.5) / CALIB_URL_SPREAD_N * 99;   // sorted r[j] = 0.5 + j/100
        EXPECT_NEAR(s.factor[i], 0.5 + h / 100, 1e-12);
    }
    calib_url_spread(r, CALIB_URL_SPREAD_MIN - 1, 35000, &s);
    EXPECT_EQ_INT(s.n, 0);
    EXPECT_EQ_INT(s.n_samples, CALIB_URL_SPREAD_MIN - 1);
    calib_url_spread(r, 100, 0, &s);
    EXPECT_EQ_INT(s.n, 0);
}
