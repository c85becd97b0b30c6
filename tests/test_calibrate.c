// Tests of src/bench/calibrate and `rightsize calibrate`.
//
// Truths: exact data from known betas must be recovered exactly; on noisy data whose best
// unconstrained fit has a negative beta, the result must satisfy the Karush–Kuhn–Tucker
// conditions of non-negative least squares (which characterise the optimum of that convex problem,
// independently of how it was computed); the measured points must carry exactly the features of
// the designed compositions; the profile the verb writes must load with the planner's loader.
// No test asserts on a measured time (timing belongs in benchmarks).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/check.h"
#include "base/rng.h"
#include "bench/calibrate.h"
#include "engine/synth.h"
#include "plan/steptime.h"
#include "test.h"

static void random_features(Rng *r, CalibPoint *p) {
    *p = (CalibPoint){0};
    p->prefill_tokens = (double)rng_below(r, 300);
    p->decode_rows = (double)rng_below(r, 33);
    p->ctx_tokens = p->decode_rows * (double)(1 + rng_below(r, 2000)) + p->prefill_tokens;
}

TEST(calib_fit_recovers_exact_betas) {
    Rng r;
    rng_seed(&r, 5);
    CalibPoint pts[40];
    for (int i = 0; i < 40; i++) {
        random_features(&r, &pts[i]);
        pts[i].step_us = 850 + 3.25 * pts[i].prefill_tokens + 41.5 * pts[i].decode_rows + 0.0625 * pts[i].ctx_tokens;
    }
    CalibFit f;
    ASSERT(calib_fit(pts, 40, &f) == 0);
    EXPECT_NEAR(f.b0_us, 850, 1e-7);
    EXPECT_NEAR(f.prefill_token_us, 3.25, 1e-10);
    EXPECT_NEAR(f.decode_row_us, 41.5, 1e-9);
    EXPECT_NEAR(f.context_token_us, 0.0625, 1e-12);
    EXPECT(f.mape < 1e-12 && f.rmse_us < 1e-8);
    EXPECT_EQ_INT(f.n_points, 40);
    for (int i = 0; i < 40; i++) EXPECT_NEAR(pts[i].fit_us, pts[i].step_us, 1e-8);
}

// The multi-row term: compositions of one row (one decode row, or a one-token prefill) pay no b4,
// every other composition pays it once a step. Exact data from the five betas come back exactly.
TEST(calib_fit_recovers_the_multi_row_term) {
    Rng r;
    rng_seed(&r, 11);
    CalibPoint pts[40];
    for (int i = 0; i < 40; i++) {
        pts[i] = (CalibPoint){0};
        int64_t rows = i % 4 == 0 ? 1 : (int64_t)rng_below(&r, 32) + 1, pre = i % 4 == 0 ? 0 : (int64_t)rng_below(&r, 256);
        pts[i].shape = (CalibShape){.prefill = pre, .rows = rows, .ctx = 64};
        pts[i].prefill_tokens = (double)pre;
        pts[i].decode_rows = (double)rows;
        pts[i].ctx_tokens = (double)rows * (double)(1 + rng_below(&r, 2000)) + (double)pre;
        pts[i].step_us = 850 + 3.25 * pts[i].prefill_tokens + 41.5 * pts[i].decode_rows + 0.0625 * pts[i].ctx_tokens +
                         (pre + rows > 1 ? 120 : 0);
    }
    CalibFit f;
    ASSERT(calib_fit(pts, 40, &f) == 0);
    EXPECT_NEAR(f.b0_us, 850, 1e-6);
    EXPECT_NEAR(f.multi_row_us, 120, 1e-6);
    EXPECT_NEAR(f.decode_row_us, 41.5, 1e-8);
    EXPECT(f.mape < 1e-12);
}

// Objective Σ ((fit_i − y_i) / y_i)² and its gradient in beta.
static double objective(const CalibPoint *p, int64_t n, const double b[4], double grad[4]) {
    double sse = 0;
    if (grad) memset(grad, 0, 4 * sizeof *grad);
    for (int64_t i = 0; i < n; i++) {
        const double x[4] = {1, p[i].prefill_tokens, p[i].decode_rows, p[i].ctx_tokens};
        double fit = b[0] * x[0] + b[1] * x[1] + b[2] * x[2] + b[3] * x[3];
        double res = (fit - p[i].step_us) / p[i].step_us;
        sse += res * res;
        if (grad)
            for (int j = 0; j < 4; j++) grad[j] += 2 * res * x[j] / p[i].step_us;
    }
    return sse;
}

TEST(calib_fit_is_the_nonnegative_least_squares_optimum) {
    Rng r;
    rng_seed(&r, 9);
    for (int trial = 0; trial < 20; trial++) {
        CalibPoint pts[64];
        for (int i = 0; i < 64; i++) {
            random_features(&r, &pts[i]);
            // A negative context slope (the unconstrained fit wants it) and 5% multiplicative noise.
            double y = 4000 + 3 * pts[i].prefill_tokens + 40 * pts[i].decode_rows - 0.03 * pts[i].ctx_tokens;
            pts[i].step_us = fmax(y, 500) * (1 + 0.05 * rng_normal(&r));
        }
        CalibFit f;
        ASSERT(calib_fit(pts, 64, &f) == 0);
        const double b[4] = {f.b0_us, f.prefill_token_us, f.decode_row_us, f.context_token_us};
        double g[4];
        double best = objective(pts, 64, b, g);
        // KKT: b >= 0; gradient 0 where b > 0; gradient >= 0 where b == 0 (scaled per unit of each
        // feature's typical size so one tolerance fits all).
        const double unit[4] = {1, 150, 16, 16000};
        bool some_zero = false;
        for (int j = 0; j < 4; j++) {
            EXPECT(b[j] >= 0);
            if (b[j] > 0) EXPECT_NEAR(g[j] * unit[j], 0, 1e-7);
            else { EXPECT(g[j] * unit[j] >= -1e-7); some_zero = true; }
        }
        EXPECT(some_zero);  // the negative slope was clamped
        // And no nearby feasible point does better.
        for (int k = 0; k < 200; k++) {
            double c[4];
            for (int j = 0; j < 4; j++) c[j] = fmax(0, b[j] + 0.01 * rng_normal(&r) * (b[j] + 1 / unit[j]));
            EXPECT(objective(pts, 64, c, NULL) >= best - 1e-12);
        }
    }
}

TEST(calib_fit_rejects_too_few_or_bad_points) {
    CalibPoint p[4] = {{.step_us = 1}, {.step_us = 2}, {.step_us = 3}, {.step_us = 0}};
    CalibFit f;
    EXPECT_EQ_INT(calib_fit(p, 3, &f), ERR_ARG);
    EXPECT_EQ_INT(calib_fit(p, 4, &f), ERR_ARG);  // a time of 0
}

TEST(calib_design_is_the_documented_grid) {
    CalibDesign d = {.max_prefill = 256, .max_rows = 16, .max_ctx = 512, .repeats = 3};
    CalibShape s[CALIB_MAX_SHAPES];
    char err[128];
    ASSERT(calib_design(&d, s, err, sizeof err) == 64);  // 5×5−1 at the first level, 5×4 at two more
    int64_t prev_ctx = 0, n_pure_prefill = 0;
    for (int i = 0; i < 64; i++) {
        EXPECT(s[i].prefill > 0 || s[i].rows > 0);
        if (s[i].rows == 0) { EXPECT_EQ_INT(s[i].ctx, 0); n_pure_prefill++; continue; }
        EXPECT(s[i].ctx == 64 || s[i].ctx == 256 || s[i].ctx == 512);
        EXPECT(s[i].ctx >= prev_ctx);
        prev_ctx = s[i].ctx;
    }
    EXPECT_EQ_INT(n_pure_prefill, 4);
    d = (CalibDesign){.max_prefill = 1, .max_rows = 1, .max_ctx = 8, .repeats = 1};
    EXPECT_EQ_INT(calib_design(&d, s, err, sizeof err), 3 + 2 + 2);  // duplicates dropped
    d.repeats = 16;
    EXPECT_EQ_INT(calib_design(&d, s, err, sizeof err), ERR_ARG);
    EXPECT(strstr(err, "repeats") != NULL);
}

static int write_tiny(const char *path) {
    SynthOptions o = {.shape = *synth_shape_find("tiny"), .type = QT_Q8_0, .output_type = QT_Q8_0, .seed = 2};
    char err[256];
    int rc = synth_write(&o, path, NULL, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "synth: %s", err);
    return rc;
}

TEST(calib_run_measures_exactly_the_designed_compositions) {
    char path[512];
    snprintf(path, sizeof path, "%s/calib_tiny.gguf", test_tmpdir());
    ASSERT(write_tiny(path) == 0);
    CalibDesign d = {.max_prefill = 16, .max_rows = 4, .max_ctx = 32, .repeats = 2, .seed = 3};
    EngineOptions eo;
    calib_engine_options(&d, 1, &eo);
    char err[256] = "";
    Engine *e = engine_create(path, &eo, err, sizeof err);
    if (!e) test_fail(__FILE__, __LINE__, "engine: %s", err);
    ASSERT(e);
    CalibShape shapes[CALIB_MAX_SHAPES];
    int64_t n_shapes = calib_design(&d, shapes, err, sizeof err);
    CalibPoint pts[CALIB_MAX_SHAPES];
    int64_t n = 0;
    int rc = calib_run(e, &d, pts, &n, NULL, NULL, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "calib_run: %s", err);
    ASSERT(rc == 0 && n == n_shapes);
    for (int64_t i = 0; i < n; i++) {
        const CalibShape *s = &shapes[i];
        EXPECT(pts[i].shape.prefill == s->prefill && pts[i].shape.rows == s->rows);
        EXPECT_NEAR(pts[i].prefill_tokens, (double)s->prefill, 0);
        EXPECT_NEAR(pts[i].decode_rows, (double)s->rows, 0);
        // Each decode row attends to its context plus itself, plus the documented drift.
        double lo = (double)(s->rows * (s->ctx + 1) + s->prefill);
        double hi = lo + (double)(s->rows * (CALIB_DRIFT + 1) * d.repeats);
        if (!(pts[i].ctx_tokens >= lo && pts[i].ctx_tokens <= hi))
            test_fail(__FILE__, __LINE__, "point %lld: ctx %.1f outside [%.0f, %.0f]", (long long)i,
                      pts[i].ctx_tokens, lo, hi);
        EXPECT(pts[i].step_us >= 1);
    }
    EXPECT_EQ_INT(engine_kv_blocks_free(e), engine_kv_blocks_total(e));  // every sequence freed
    CalibFit f;
    EXPECT_EQ_INT(calib_fit(pts, n, &f), 0);
    EXPECT(f.b0_us >= 0 && f.prefill_token_us >= 0 && f.decode_row_us >= 0 && f.context_token_us >= 0);
    // An engine too small for the design is refused with words.
    d.max_rows = 8;
    EXPECT_EQ_INT(calib_run(e, &d, pts, &n, NULL, NULL, err, sizeof err), ERR_ARG);
    EXPECT(strstr(err, "needs 9 sequences") != NULL);
    engine_destroy(e);
}

static int run_cli(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s calibrate %s >/dev/null 2>&1", test_bin(), args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(calibrate_cli_writes_a_profile_the_planner_loads) {
    char model[512], out[512], args[1600];
    snprintf(model, sizeof model, "%s/calib_cli.gguf", test_tmpdir());
    snprintf(out, sizeof out, "%s/calib_cli.yaml", test_tmpdir());
    ASSERT(write_tiny(model) == 0);
    snprintf(args, sizeof args, "-m %s -o %s -t 1 --max-prefill 16 --max-rows 2 --max-ctx 16 --repeats 1 "
             "--hardware cpu-c7i-large -q", model, out);
    EXPECT_EQ_INT(run_cli(args), 0);
    StepProfile p;
    char err[256] = "";
    int rc = step_profile_load(&p, out, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "load: %s", err);
    ASSERT(rc == 0);
    EXPECT(strcmp(p.hardware, "cpu-c7i-large") == 0);
    EXPECT(strcmp(p.model, "synth-tiny") == 0);
    EXPECT(strcmp(p.quantization, "int8") == 0);  // q8_0 weights
    // P {0,2,4,8,16} × D {0,1,2} − 1 at the first context level, P × D {1,2} at two more.
    EXPECT_EQ_INT(p.n_points, 5 * 3 - 1 + 2 * 5 * 2);
    EXPECT(p.b0_us >= 0 && p.prefill_token_us >= 0 && p.decode_row_us >= 0 && p.context_token_us >= 0);
    EXPECT(p.mape >= 0 && p.rmse_us >= 0 && strlen(p.date) == 10);
    // Usage errors exit 2, a missing model 1, help 0.
    EXPECT_EQ_INT(run_cli(""), 2);
    snprintf(args, sizeof args, "-m %s --quantization int3", model);
    EXPECT_EQ_INT(run_cli(args), 2);
    snprintf(args, sizeof args, "-m %s --repeats 99", model);
    EXPECT_EQ_INT(run_cli(args), 2);
    EXPECT_EQ_INT(run_cli("-m /nonexistent/model.gguf"), 1);
    EXPECT_EQ_INT(run_cli("--help"), 0);
}
