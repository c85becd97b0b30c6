// ppl.c — chunked perplexity and KL divergence against a reference (see ppl.h).
#include "eval/ppl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/engine.h"

double ppl_logsumexp(const float *x, int64_t n) {
    double mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

double ppl_kl(const float *a, const float *b, int64_t n) {
    double la = ppl_logsumexp(a, n), lb = ppl_logsumexp(b, n), kl = 0;
    for (int64_t i = 0; i < n; i++) {
        double lpa = (double)a[i] - la, lpb = (double)b[i] - lb;
        kl += exp(lpa) * (lpa - lpb);
    }
    return kl > 0 ? kl : 0;  // rounding can leave -1e-17 for identical rows
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Linear interpolation between closest ranks (numpy's default percentile).
static double percentile_sorted(const double *v, int64_t n, double p) {
    if (n == 0) return 0;
    double pos = p * (double)(n - 1);
    int64_t lo = (int64_t)pos;
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

typedef struct {
    double sum_nll, sum_nll2, sum_ref_nll, sum_kl, max_kl;
    int64_t n, n_agree;
    double *kl;  // (n_scored,) when a reference is given
} Acc;

// Scores one predicted position: row (and ref_row) predict token `next`.
static void score_row(Acc *a, const float *row, const float *ref_row, int64_t n_vocab, int32_t next) {
    double nll = ppl_logsumexp(row, n_vocab) - (double)row[next];
    a->sum_nll += nll;
    a->sum_nll2 += nll * nll;
    if (ref_row) {
        a->sum_ref_nll += ppl_logsumexp(ref_row, n_vocab) - (double)ref_row[next];
        double kl = ppl_kl(ref_row, row, n_vocab);
        a->kl[a->n] = kl;
        a->sum_kl += kl;
        if (kl > a->max_kl) a->max_kl = kl;
        a->n_agree += argmax(row, n_vocab) == argmax(ref_row, n_vocab);
    }
    a->n++;
}

// Runs rows [j0, j1) of the chunk starting at chunk[0] on one engine; writes logits of the
// wanted rows (first <= j <= n_ctx-2) into out.
static int forward_span(Engine *e, EngineRow *rows, const int32_t *chunk, int64_t j0, int64_t j1,
                        int64_t first, int64_t n_ctx, int32_t bos, float *out, char *err,
                        size_t err_len) {
    for (int64_t j = j0; j < j1; j++)
        rows[j - j0] = (EngineRow){.seq_id = 0, .pos = j,
                                   .token = (j == 0 && bos >= 0) ? bos : chunk[j],
                                   .want_logits = j >= first && j <= n_ctx - 2};
    return engine_forward(e, rows, j1 - j0, out, err, err_len);
}

static int check_engine(Engine *e, const char *what, const PplOptions *opt, char *err, size_t err_len) {
    const EngineInfo *in = engine_info(e);
    if (opt->n_ctx > in->n_ctx)
        return err_set(err, err_len, ERR_RANGE, "%s: context %lld is above the engine's %lld (raise --ctx)",
                       what, (long long)opt->n_ctx, (long long)in->n_ctx);
    if (opt->batch > in->max_rows)
        return err_set(err, err_len, ERR_RANGE, "%s: batch %lld is above the engine's %lld rows", what,
                       (long long)opt->batch, (long long)in->max_rows);
    return 0;
}

int ppl_run(Engine *e, Engine *ref, const int32_t *tokens, int64_t n_tokens, int32_t bos,
            const PplOptions *opt, PplResult *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    const int64_t n_ctx = opt->n_ctx, batch = opt->batch, n_vocab = engine_info(e)->n_vocab;
    if (n_ctx < 4 || batch < 1) return err_set(err, err_len, ERR_ARG, "context must be >= 4 and batch >= 1");
    int64_t n_chunks = n_tokens / n_ctx;
    if (n_tokens < 2 * n_ctx)  // llama-perplexity's rule: at least two chunks
        return err_set(err, err_len, ERR_RANGE,
                       "the text has %lld tokens; a context of %lld needs at least %lld (give a longer text or a smaller --ctx)",
                       (long long)n_tokens, (long long)n_ctx, (long long)(2 * n_ctx));
    if (opt->max_chunks > 0 && n_chunks > opt->max_chunks) n_chunks = opt->max_chunks;
    int rc = check_engine(e, "model", opt, err, err_len);
    if (rc == 0 && ref) rc = check_engine(ref, "reference", opt, err, err_len);
    if (rc) return rc;
    if (ref && engine_info(ref)->n_vocab != n_vocab)
        return err_set(err, err_len, ERR_ARG, "the reference has %lld tokens in its vocabulary, the model %lld: not comparable",
                       (long long)engine_info(ref)->n_vocab, (long long)n_vocab);

    const int64_t first = n_ctx / 2, per_chunk = n_ctx - 1 - first;
    Acc a = {0};
    EngineRow *rows = malloc((size_t)batch * sizeof *rows);
    float *lg = malloc((size_t)batch * (size_t)n_vocab * sizeof *lg);   // (batch, n_vocab)
    float *rlg = ref ? malloc((size_t)batch * (size_t)n_vocab * sizeof *rlg) : NULL;
    a.kl = ref ? malloc((size_t)(n_chunks * per_chunk) * sizeof *a.kl) : NULL;
    if (!rows || !lg || (ref && (!rlg || !a.kl))) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory for logits"); goto fail; }

    for (int64_t c = 0; c < n_chunks; c++) {
        const int32_t *chunk = tokens + c * n_ctx;
        for (int64_t j0 = 0; j0 < n_ctx; j0 += batch) {
            int64_t j1 = j0 + batch < n_ctx ? j0 + batch : n_ctx;
            rc = forward_span(e, rows, chunk, j0, j1, first, n_ctx, bos, lg, err, err_len);
            if (rc == 0 && ref) rc = forward_span(ref, rows, chunk, j0, j1, first, n_ctx, bos, rlg, err, err_len);
            if (rc) goto fail;
            int64_t k = 0;  // wanted rows come out in order
            for (int64_t j = j0; j < j1; j++) {
                if (j < first || j > n_ctx - 2) continue;
                score_row(&a, lg + k * n_vocab, ref ? rlg + k * n_vocab : NULL, n_vocab, chunk[j + 1]);
                k++;
            }
        }
        engine_seq_free(e, 0);
        if (ref) engine_seq_free(ref, 0);
        if (opt->progress) opt->progress(opt->progress_ctx, c + 1, n_chunks, exp(a.sum_nll / (double)a.n));
    }
    out->n_tokens = n_tokens;
    out->n_chunks = n_chunks;
    out->n_scored = a.n;
    out->nll = a.sum_nll / (double)a.n;
    out->ppl = exp(out->nll);
    double var = a.sum_nll2 / (double)a.n - out->nll * out->nll;
    out->ppl_stderr = a.n > 1 && var > 0 ? out->ppl * sqrt(var / (double)(a.n - 1)) : 0;
    if (ref) {
        out->has_ref = true;
        out->ref_nll = a.sum_ref_nll / (double)a.n;
        out->ref_ppl = exp(out->ref_nll);
        out->kl_mean = a.sum_kl / (double)a.n;
        out->kl_max = a.max_kl;
        qsort(a.kl, (size_t)a.n, sizeof *a.kl, cmp_double);
        out->kl_p99 = percentile_sorted(a.kl, a.n, 0.99);
        out->top1_agree = (double)a.n_agree / (double)a.n;
    }
    rc = 0;
fail:
    engine_seq_free(e, 0);
    if (ref) engine_seq_free(ref, 0);
    free(rows);
    free(lg);
    free(rlg);
    free(a.kl);
    return rc;
}
