// sampler.c — penalties → temperature → top-k → top-p → min-p → draw, over one logits row,
// in caller-provided scratch. See sampler.h for the definitions.
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

SamplerParams sampler_params_default(void) {
    return (SamplerParams){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                           .repetition_penalty = 1.0f};
}

int sampler_params_validate(const SamplerParams *p, char *err, size_t err_len) {
    if (!isfinite(p->temperature) || p->temperature < 0)
        return err_set(err, err_len, ERR_RANGE, "temperature must be >= 0, got %g", p->temperature);
    if (p->top_k < -1)
        return err_set(err, err_len, ERR_RANGE, "top_k must be >= -1 (-1 or 0: off), got %d", (int)p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return err_set(err, err_len, ERR_RANGE, "top_p must be in (0, 1], got %g", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return err_set(err, err_len, ERR_RANGE, "min_p must be in [0, 1], got %g", p->min_p);
    if (!(p->repetition_penalty > 0) || !isfinite(p->repetition_penalty))
        return err_set(err, err_len, ERR_RANGE, "repetition_penalty must be > 0, got %g",
                       p->repetition_penalty);
    if (!(p->frequency_penalty >= -2 && p->frequency_penalty <= 2))
        return err_set(err, err_len, ERR_RANGE, "frequency_penalty must be in [-2, 2], got %g",
                       p->frequency_penalty);
    if (!(p->presence_penalty >= -2 && p->presence_penalty <= 2))
        return err_set(err, err_len, ERR_RANGE, "presence_penalty must be in [-2, 2], got %g",
                       p->presence_penalty);
    return 0;
}

int sampler_work_init(SamplerWork *w, int64_t n_vocab) {
    memset(w, 0, sizeof *w);
    if (n_vocab <= 0 || n_vocab > INT32_MAX) return ERR_ARG;
    w->n_vocab = n_vocab;
    w->logits = malloc((size_t)n_vocab * sizeof(float));
    w->ids = malloc((size_t)n_vocab * sizeof(int32_t));
    w->probs = malloc((size_t)n_vocab * sizeof(float));
    w->counts = calloc((size_t)n_vocab, sizeof(int32_t));
    if (!w->logits || !w->ids || !w->probs || !w->counts) {
        sampler_work_free(w);
        return ERR_NOMEM;
    }
    return 0;
}

void sampler_work_free(SamplerWork *w) {
    free(w->logits);
    free(w->ids);
    free(w->probs);
    free(w->counts);
    memset(w, 0, sizeof *w);
}

// ---- ordering helpers: by value descending, ties by lower id (a total order) ----

static bool before(const float *v, int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
}

// Rearranges ids[0..n) so that its first k entries are the k largest by v (quickselect).
static void select_top(int32_t *ids, int64_t n, int64_t k, const float *v) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        // median of three to the front of the range as the pivot
        if (before(v, ids[mid], ids[lo])) { int32_t x = ids[mid]; ids[mid] = ids[lo]; ids[lo] = x; }
        if (before(v, ids[hi], ids[lo])) { int32_t x = ids[hi]; ids[hi] = ids[lo]; ids[lo] = x; }
        if (before(v, ids[hi], ids[mid])) { int32_t x = ids[hi]; ids[hi] = ids[mid]; ids[mid] = x; }
        int32_t pivot = ids[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (before(v, ids[i], pivot)) i++;
            while (before(v, pivot, ids[j])) j--;
            if (i <= j) {
                int32_t x = ids[i]; ids[i] = ids[j]; ids[j] = x;
                i++, j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

// Insertion sort for short runs, otherwise a heap sort (no recursion, no allocation).
static void sift(int32_t *ids, int64_t root, int64_t n, const float *v) {
    for (;;) {
        int64_t c = 2 * root + 1;
        if (c >= n) return;
        // max-heap on "after": the element that sorts last is on top
        if (c + 1 < n && before(v, ids[c], ids[c + 1])) c++;
        if (!before(v, ids[root], ids[c])) return;
        int32_t x = ids[root]; ids[root] = ids[c]; ids[c] = x;
        root = c;
    }
}

static void sort_desc(int32_t *ids, int64_t n, const float *v) {
    if (n <= 32) {
        for (int64_t i = 1; i < n; i++) {
            int32_t x = ids[i];
            int64_t j = i - 1;
            while (j >= 0 && before(v, x, ids[j])) ids[j + 1] = ids[j], j--;
            ids[j + 1] = x;
        }
        return;
    }
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift(ids, i, n, v);
    for (int64_t end = n - 1; end > 0; end--) {
        int32_t x = ids[0]; ids[0] = ids[end]; ids[end] = x;
        sift(ids, 0, end, v);
    }
}

// ---- stages ----

// Unmodified log-softmax normaliser and the top-n alternatives; -inf/NaN logits never win.
static double log_normaliser(const float *logits, int64_t n, int n_top, SampleResult *out) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > m) m = logits[i];
    if (m == -INFINITY) return NAN;
    double z = 0;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > -INFINITY) z += exp((double)logits[i] - m);
    double lse = m + log(z);
    int k = 0;  // out->top[0..k) holds the best so far, as (id, raw logit)
    for (int64_t i = 0; i < n && n_top > 0; i++) {
        float x = logits[i];
        if (!(x > -INFINITY)) continue;
        if (k == n_top && !(x > out->top[k - 1].logprob)) continue;
        int j = k < n_top ? k++ : k - 1;
        while (j > 0 && x > out->top[j - 1].logprob) out->top[j] = out->top[j - 1], j--;
        out->top[j] = (SampleCand){(int32_t)i, x};
    }
    for (int j = 0; j < k; j++) out->top[j].logprob = (float)(out->top[j].logprob - lse);
    out->n_top = k;
    return lse;
}

static void apply_penalties(const SamplerParams *p, float *l, int64_t n, const int32_t *recent,
                            int64_t n_recent, int32_t *counts) {
    if (p->repetition_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    for (int64_t i = 0; i < n_recent; i++)
        if (recent[i] >= 0 && recent[i] < n) counts[recent[i]]++;
    for (int64_t i = 0; i < n_recent; i++) {
        int32_t id = recent[i];
        if (id < 0 || id >= n || counts[id] == 0) continue;  // out of range, or done already
        float x = l[id];
        if (p->repetition_penalty != 1.0f)
            x = x > 0 ? x / p->repetition_penalty : x * p->repetition_penalty;
        x -= (float)counts[id] * p->frequency_penalty + p->presence_penalty;
        l[id] = x;
        counts[id] = 0;  // leaves counts all zero for the next call
    }
}

int sampler_sample(const SamplerParams *p, const float *logits, int64_t n_vocab,
                   const int32_t *recent, int64_t n_recent, int n_top, Rng *rng, SamplerWork *w,
                   SampleResult *out) {
    if (n_vocab != w->n_vocab || n_top < 0 || n_top > SAMPLER_MAX_TOP) return ERR_ARG;
    double lse = log_normaliser(logits, n_vocab, n_top, out);
    if (isnan(lse)) return ERR_ARG;

    float *l = w->logits;  // (n_vocab) logits after penalties, NaN → -inf
    for (int64_t i = 0; i < n_vocab; i++) l[i] = logits[i] > -INFINITY ? logits[i] : -INFINITY;
    apply_penalties(p, l, n_vocab, recent, n_recent, w->counts);

    int32_t chosen = -1;
    if (p->temperature <= 0) {
        for (int64_t i = 0; i < n_vocab; i++)
            if (l[i] > -INFINITY && (chosen < 0 || l[i] > l[chosen])) chosen = (int32_t)i;
    } else {
        // candidates: finite logits; top-k keeps the k largest
        int32_t *ids = w->ids;
        int64_t nc = 0;
        for (int64_t i = 0; i < n_vocab; i++)
            if (l[i] > -INFINITY) ids[nc++] = (int32_t)i;
        if (p->top_k > 0 && p->top_k < nc) {
            select_top(ids, nc, p->top_k, l);
            nc = p->top_k;
        }
        // e_i = exp((l_i - max) / T) over the candidates; z their sum (top-p's total)
        float m = -INFINITY;
        for (int64_t i = 0; i < nc; i++)
            if (l[ids[i]] > m) m = l[ids[i]];
        float *e = w->probs;  // indexed by token id
        double z = 0;
        float inv_t = 1.0f / p->temperature;
        for (int64_t i = 0; i < nc; i++) {
            e[ids[i]] = expf((l[ids[i]] - m) * inv_t);
            z += e[ids[i]];
        }
        // Shrink to a prefix of the sorted order that surely holds the final set before
        // sorting: {e >= thr} holds it once thr <= min_p or its mass reaches top_p · z.
        bool use_p = p->top_p < 1.0f;
        double thr = use_p ? 1e-3 : (p->min_p > 0 ? p->min_p : 0);
        int64_t ns;
        for (;;) {
            double mass = 0;
            ns = 0;
            for (int64_t i = 0; i < nc; i++) {
                int32_t id = ids[i];
                if (e[id] >= thr) {
                    mass += e[id];
                    int32_t x = ids[ns]; ids[ns] = id; ids[i] = x;
                    ns++;
                }
            }
            if (thr == 0 || (p->min_p > 0 && thr <= p->min_p) || (use_p && mass >= p->top_p * z))
                break;
            thr = thr < 1e-30 ? 0 : thr * 1e-3;
        }
        sort_desc(ids, ns, e);
        int64_t keep = 0;
        double cum = 0;
        for (int64_t i = 0; i < ns; i++) {
            float ei = e[ids[i]];
            if (p->min_p > 0 && ei < p->min_p) break;  // e_max = 1, so this is p_i < min_p·p_max
            keep++;
            cum += ei;
            if (use_p && cum >= p->top_p * z) break;
        }
        CHECK(keep >= 1);  // the maximum always survives (e = 1)
        double u = rng_uniform(rng) * cum, acc = 0;
        chosen = ids[keep - 1];
        for (int64_t i = 0; i < keep; i++) {
            acc += e[ids[i]];
            if (u < acc) { chosen = ids[i]; break; }
        }
    }
    if (chosen < 0) return ERR_ARG;  // every logit masked by penalties (cannot happen: finite)
    out->token = chosen;
    out->logprob = logits[chosen] > -INFINITY ? (float)(logits[chosen] - lse) : -INFINITY;
    return 0;
}
