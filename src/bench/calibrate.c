// calibrate.c — designed step-time measurements through the real engine, and the non-negative
// relative least-squares fit of the planner's step-time model (contracts in calibrate.h).
#include "bench/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/rng.h"

enum { N_BETA = 5 };   // b0, prefill token, decode row, context token, multi-row step

// ---- design ----

// Appends v to a sorted set of at most 8 values (keeps it sorted, drops duplicates).
static void set_add(int64_t *set, int *n, int64_t v) {
    for (int i = 0; i < *n; i++)
        if (set[i] == v) return;
    int i = *n;
    while (i > 0 && set[i - 1] > v) {
        set[i] = set[i - 1];
        i--;
    }
    set[i] = v;
    (*n)++;
}

int64_t calib_design(const CalibDesign *d, CalibShape out[CALIB_MAX_SHAPES], char *err, size_t err_len) {
    if (d->max_prefill < 1 || d->max_prefill > 65536)
        return err_set(err, err_len, ERR_ARG, "max prefill %lld is outside [1, 65536]", (long long)d->max_prefill);
    if (d->max_rows < 1 || d->max_rows > 4096)
        return err_set(err, err_len, ERR_ARG, "max decode rows %lld is outside [1, 4096]", (long long)d->max_rows);
    if (d->max_ctx < 8 || d->max_ctx > (int64_t)1 << 20)
        return err_set(err, err_len, ERR_ARG, "max context %lld is outside [8, 1048576]", (long long)d->max_ctx);
    if (d->repeats < 1 || d->repeats > 15)
        return err_set(err, err_len, ERR_ARG, "repeats %d is outside [1, 15]", d->repeats);
    int64_t ps[8], ds[8], cs[8];
    int np = 0, nd = 0, nc = 0;
    const int64_t pv[] = {0, d->max_prefill / 8, d->max_prefill / 4, d->max_prefill / 2, d->max_prefill};
    const int64_t dv[] = {0, 1, d->max_rows / 4, d->max_rows / 2, d->max_rows};
    const int64_t cv[] = {d->max_ctx / 8, d->max_ctx / 2, d->max_ctx};
    for (size_t i = 0; i < ARRAY_LEN(pv); i++)
        if (i == 0 || pv[i] > 0) set_add(ps, &np, pv[i]);
    for (size_t i = 0; i < ARRAY_LEN(dv); i++)
        if (i == 0 || dv[i] > 0) set_add(ds, &nd, dv[i]);
    for (size_t i = 0; i < ARRAY_LEN(cv); i++) set_add(cs, &nc, cv[i]);
    int64_t n = 0;
    for (int c = 0; c < nc; c++)
        for (int p = 0; p < np; p++)
            for (int r = 0; r < nd; r++) {
                if (ps[p] == 0 && ds[r] == 0) continue;
                if (ds[r] == 0 && c > 0) continue;  // without decode rows the context is moot
                CHECK(n < CALIB_MAX_SHAPES);
                out[n++] = (CalibShape){.prefill = ps[p], .rows = ds[r], .ctx = ds[r] ? cs[c] : 0};
            }
    return n;
}

void calib_engine_options(const CalibDesign *d, int n_threads, EngineOptions *o) {
    engine_options_default(o);
    o->n_threads = n_threads;
    o->kv_block_tokens = 16;
    // Decode sequences grow by one position per timed forward and restart past
    // ctx + CALIB_DRIFT·repeats (calib_run), so none exceeds max_ctx + (CALIB_DRIFT+1)·repeats.
    o->n_ctx = d->max_ctx + (CALIB_DRIFT + 1) * (int64_t)d->repeats + 32;
    o->max_seqs = d->max_rows + 1;
    o->max_rows = d->max_prefill + d->max_rows > 64 ? d->max_prefill + d->max_rows : 64;
    int64_t per_seq = (o->n_ctx + 15) / 16;
    o->kv_blocks = d->max_rows * per_seq + (d->max_prefill + 15) / 16 + 2;
}

// ---- measurement ----

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Extends seq to at least `len` positions with untimed prefill forwards.
static int grow_seq(Engine *e, int64_t seq, int64_t len, EngineRow *rows, float *logits, Rng *rng,
                    int64_t n_vocab, char *err, size_t err_len) {
    int64_t max_rows = engine_info(e)->max_rows;
    for (int64_t pos = engine_seq_len(e, seq); pos < len;) {
        int64_t n = len - pos < max_rows ? len - pos : max_rows;
        for (int64_t i = 0; i < n; i++)
            rows[i] = (EngineRow){.seq_id = seq, .pos = pos + i,
                                  .token = (int32_t)rng_below(rng, (uint64_t)n_vocab), .want_logits = i == n - 1};
        int rc = engine_forward(e, rows, n, logits, err, err_len);
        if (rc) return rc;
        pos += n;
    }
    return 0;
}

// One timed forward of shape sh: returns its time and adds its features into *pt.
static int timed_step(Engine *e, const CalibShape *sh, EngineRow *rows, float *logits, Rng *rng,
                      int64_t n_vocab, CalibPoint *pt, double *us, char *err, size_t err_len) {
    int64_t n = 0, ctx = 0, pre_seq = engine_info(e)->max_seqs - 1;
    for (int64_t i = 0; i < sh->rows; i++) {
        int64_t pos = engine_seq_len(e, i);
        rows[n++] = (EngineRow){.seq_id = i, .pos = pos, .token = (int32_t)rng_below(rng, (uint64_t)n_vocab),
                                .want_logits = true};
        ctx += pos + 1;
    }
    for (int64_t i = 0; i < sh->prefill; i++)
        rows[n++] = (EngineRow){.seq_id = pre_seq, .pos = i, .token = (int32_t)rng_below(rng, (uint64_t)n_vocab),
                                .want_logits = i == sh->prefill - 1};
    ctx += sh->prefill;
    int64_t t0 = clock_now_us();
    int rc = engine_forward(e, rows, n, logits, err, err_len);
    int64_t t1 = clock_now_us();
    engine_seq_free(e, pre_seq);
    if (rc) return rc;
    *us = t1 > t0 ? (double)(t1 - t0) : 1.0;  // a step below the clock's resolution counts as 1 µs
    pt->prefill_tokens += (double)sh->prefill;
    pt->decode_rows += (double)sh->rows;
    pt->ctx_tokens += (double)ctx;
    return 0;
}

int calib_run(Engine *e, const CalibDesign *d, CalibPoint *pts, int64_t *n_points,
              CalibProgressFn progress, void *progress_ctx, char *err, size_t err_len) {
    CalibShape shapes[CALIB_MAX_SHAPES];
    int64_t n = calib_design(d, shapes, err, err_len);
    if (n < 0) return (int)n;
    const EngineInfo *info = engine_info(e);
    if (info->max_seqs < d->max_rows + 1 || info->max_rows < d->max_prefill + d->max_rows)
        return err_set(err, err_len, ERR_ARG,
                       "engine too small for the design: needs %lld sequences and %lld rows per step",
                       (long long)(d->max_rows + 1), (long long)(d->max_prefill + d->max_rows));
    int rc = 0;
    EngineRow *rows = calloc((size_t)info->max_rows, sizeof *rows);
    float *logits = calloc((size_t)(info->max_rows + 1) * (size_t)info->n_vocab, sizeof *logits);
    if (!rows || !logits) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory for %lld logits rows", (long long)info->max_rows);
        goto done;
    }
    Rng rng;
    rng_seed(&rng, d->seed);
    // Warm-up (page in the weights, fill caches): the largest prefill, untimed.
    CalibPoint scratch = {0};
    double us;
    CalibShape warm = {.prefill = d->max_prefill};
    if ((rc = timed_step(e, &warm, rows, logits, &rng, info->n_vocab, &scratch, &us, err, err_len))) goto done;
    for (int64_t k = 0; k < n; k++) {
        const CalibShape *sh = &shapes[k];
        for (int64_t i = 0; i < sh->rows; i++) {
            // Keep the drift of earlier timed forwards within one level's worth: restart a
            // sequence that has run too far past this composition's context.
            if (engine_seq_len(e, i) > sh->ctx + CALIB_DRIFT * d->repeats) engine_seq_free(e, i);
            if ((rc = grow_seq(e, i, sh->ctx, rows, logits, &rng, info->n_vocab, err, err_len))) goto done;
        }
        CalibPoint *pt = &pts[k];
        *pt = (CalibPoint){.shape = *sh};
        double times[16];
        for (int r = 0; r < d->repeats; r++)
            if ((rc = timed_step(e, sh, rows, logits, &rng, info->n_vocab, pt, &times[r], err, err_len))) goto done;
        qsort(times, (size_t)d->repeats, sizeof *times, cmp_double);
        pt->step_us = d->repeats % 2 ? times[d->repeats / 2]
                                     : 0.5 * (times[d->repeats / 2 - 1] + times[d->repeats / 2]);
        pt->prefill_tokens /= d->repeats;
        pt->decode_rows /= d->repeats;
        pt->ctx_tokens /= d->repeats;
        if (progress) progress(progress_ctx, k, n, pt);
    }
    *n_points = n;
done:
    for (int64_t i = 0; i < info->max_seqs; i++) engine_seq_free(e, i);
    free(rows);
    free(logits);
    return rc;
}

// ---- fit ----

// Least squares min ||A x - b|| for A (m × k, row-major with stride CALIB_MAX_FEATURES; k <=
// CALIB_MAX_FEATURES, m >= k) by Householder QR on a copy. Returns false when A is (numerically)
// rank-deficient.
enum { NF = CALIB_MAX_FEATURES };
static bool lsq_qr(const double *A, const double *b, int64_t m, int k, double *x, double *work) {
    double *a = work, *y = work + m * NF;
    memcpy(a, A, (size_t)m * NF * sizeof *a);
    memcpy(y, b, (size_t)m * sizeof *y);
    double diag_max = 0;
    for (int j = 0; j < k; j++) {
        double norm = 0;
        for (int64_t i = j; i < m; i++) norm += a[i * NF + j] * a[i * NF + j];
        norm = sqrt(norm);
        if (norm > diag_max) diag_max = norm;
        if (norm <= 1e-12 * diag_max || norm == 0) return false;
        double alpha = a[j * NF + j] > 0 ? -norm : norm;
        // v = a[j:, j] - alpha e_j, stored in place; H = I - 2 v vᵀ / (vᵀ v).
        a[j * NF + j] -= alpha;
        double vv = 0;
        for (int64_t i = j; i < m; i++) vv += a[i * NF + j] * a[i * NF + j];
        for (int c = j + 1; c < k; c++) {
            double s = 0;
            for (int64_t i = j; i < m; i++) s += a[i * NF + j] * a[i * NF + c];
            s = 2 * s / vv;
            for (int64_t i = j; i < m; i++) a[i * NF + c] -= s * a[i * NF + j];
        }
        double s = 0;
        for (int64_t i = j; i < m; i++) s += a[i * NF + j] * y[i];
        s = 2 * s / vv;
        for (int64_t i = j; i < m; i++) y[i] -= s * a[i * NF + j];
        a[j * NF + j] = alpha;  // R's diagonal
    }
    for (int j = k - 1; j >= 0; j--) {
        double s = y[j];
        for (int c = j + 1; c < k; c++) s -= a[j * NF + c] * x[c];
        x[j] = s / a[j * NF + j];
    }
    return true;
}

int calib_nnls_rel(const double *F, const double *y, int64_t n, int k, double *beta) {
    if (k < 1 || k > NF || n < k) return ERR_ARG;
    for (int64_t i = 0; i < n; i++)
        if (!(y[i] > 0)) return ERR_ARG;
    // Relative error: row i scaled by 1 / y_i, target 1. Columns scaled to unit norm so the
    // intercept, token counts and context sums (which differ by 10^4) condition alike.
    double *X = malloc((size_t)n * NF * sizeof *X), *A = malloc((size_t)n * NF * sizeof *A);
    double *b = malloc((size_t)n * sizeof *b), *work = malloc((size_t)n * (NF + 1) * sizeof *work);
    if (!X || !A || !b || !work) {
        free(X); free(A); free(b); free(work);
        return ERR_NOMEM;
    }
    double scale[NF] = {0};
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < k; j++) {
            X[i * NF + j] = F[i * k + j] / y[i];
            scale[j] += X[i * NF + j] * X[i * NF + j];
        }
        b[i] = 1;
    }
    for (int j = 0; j < k; j++) scale[j] = scale[j] > 0 ? sqrt(scale[j]) : 1;
    // Exact NNLS for a handful of unknowns: the optimum is the unconstrained solution on its
    // support, so solve every support set and keep the feasible one with the least residual.
    double best[NF] = {0}, best_sse = (double)n;  // all betas 0: residual 1 per point
    for (int mask = 1; mask < (1 << k); mask++) {
        int cols[NF], m = 0;
        for (int j = 0; j < k; j++)
            if (mask & (1 << j)) cols[m++] = j;
        for (int64_t i = 0; i < n; i++)
            for (int c = 0; c < NF; c++)
                A[i * NF + c] = c < m ? X[i * NF + cols[c]] / scale[cols[c]] : 0;
        double x[NF] = {0};
        if (n < m || !lsq_qr(A, b, n, m, x, work)) continue;
        double cand[NF] = {0};
        bool feasible = true;
        for (int c = 0; c < m; c++) {
            cand[cols[c]] = x[c] / scale[cols[c]];
            if (cand[cols[c]] < 0) feasible = false;
        }
        if (!feasible) continue;
        double sse = 0;
        for (int64_t i = 0; i < n; i++) {
            double r = -1;
            for (int j = 0; j < k; j++) r += X[i * NF + j] * cand[j];
            sse += r * r;
        }
        if (sse < best_sse) {
            best_sse = sse;
            memcpy(best, cand, sizeof best);
        }
    }
    memcpy(beta, best, (size_t)k * sizeof *beta);
    free(X); free(A); free(b); free(work);
    return 0;
}

// 1 for a point whose steps compute more than one row (its shape is fixed over the repeats).
static double multi_row(const CalibPoint *p) {
    return p->shape.prefill + p->shape.rows > 1 ? 1.0 : 0.0;
}

int calib_fit(CalibPoint *pts, int64_t n, CalibFit *out) {
    if (n < N_BETA) return ERR_ARG;
    double *F = malloc((size_t)n * N_BETA * sizeof *F), *y = malloc((size_t)n * sizeof *y);
    if (!F || !y) {
        free(F); free(y);
        return ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        const double f[N_BETA] = {1, pts[i].prefill_tokens, pts[i].decode_rows, pts[i].ctx_tokens, multi_row(&pts[i])};
        memcpy(&F[i * N_BETA], f, sizeof f);
        y[i] = pts[i].step_us;
    }
    double best[N_BETA];
    int rc = calib_nnls_rel(F, y, n, N_BETA, best);
    free(F);
    free(y);
    if (rc) return rc;
    double se = 0, ape = 0;
    for (int64_t i = 0; i < n; i++) {
        CalibPoint *p = &pts[i];
        p->fit_us = best[0] + best[1] * p->prefill_tokens + best[2] * p->decode_rows + best[3] * p->ctx_tokens +
                    best[4] * multi_row(p);
        se += (p->fit_us - p->step_us) * (p->fit_us - p->step_us);
        ape += fabs(p->fit_us - p->step_us) / p->step_us;
    }
    *out = (CalibFit){.b0_us = best[0], .prefill_token_us = best[1], .decode_row_us = best[2],
                      .context_token_us = best[3], .multi_row_us = best[4], .n_points = n, .rmse_us = sqrt(se / (double)n),
                      .mape = ape / (double)n};
    return 0;
}
