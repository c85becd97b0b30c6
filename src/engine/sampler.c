// sampler.c — penalties → temperature → top-k → top-p → min-p → draw, over one logits row,
// in caller-provided scratch. See sampler.h for the definitions.
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/vexp.h"

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
    w->vk = vexp_kernels();
    w->logits = malloc((size_t)n_vocab * sizeof(float));
    w->ids = malloc((size_t)n_vocab * sizeof(int32_t));
    w->probs = malloc((size_t)n_vocab * sizeof(float));
    w->counts = calloc((size_t)n_vocab, sizeof(int32_t));
    w->hist = calloc(SAMPLER_BUCKETS, sizeof(double));
    if (!w->logits || !w->ids || !w->probs || !w->counts || !w->hist) {
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
    free(w->hist);
    memset(w, 0, sizeof *w);
}

// ---- selection: by value descending, ties by lower id (a total order) ----

static bool before(const float *v, int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
}

static void swap_ids(int32_t *ids, int64_t i, int64_t j) {
    int32_t x = ids[i];
    ids[i] = ids[j];
    ids[j] = x;
}

// Partitions ids[lo..hi] (inclusive, hi > lo) around a median-of-three pivot: on return
// ids[lo..p) come before ids[p] and ids(p..hi] after it. Returns p.
static int64_t partition_desc(int32_t *ids, int64_t lo, int64_t hi, const float *v) {
    int64_t mid = lo + (hi - lo) / 2;
    if (before(v, ids[mid], ids[lo])) swap_ids(ids, mid, lo);
    if (before(v, ids[hi], ids[lo])) swap_ids(ids, hi, lo);
    if (before(v, ids[hi], ids[mid])) swap_ids(ids, hi, mid);
    swap_ids(ids, mid, hi);  // the median is the pivot, parked at hi
    int32_t pivot = ids[hi];
    int64_t p = lo;
    for (int64_t i = lo; i < hi; i++)
        if (before(v, ids[i], pivot)) swap_ids(ids, i, p++);
    swap_ids(ids, p, hi);
    return p;
}

// Rearranges ids[0..n) so that its first k (0 < k < n) entries are the k first in order.
static void select_top_qs(int32_t *ids, int64_t n, int64_t k, const float *v) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t p = partition_desc(ids, lo, hi, v);
        if (p == k - 1 || p == k) return;
        if (p > k) hi = p - 1;
        else lo = p + 1;
    }
}

// Rearranges ids[0..n) so that its first `keep` entries are the shortest prefix of the sorted
// order whose mass (sum of v) reaches target; returns keep (n when the total falls short).
// Expected O(n): a quickselect that descends by mass instead of by count.
static int64_t select_mass_qs(int32_t *ids, int64_t n, double target, const float *v) {
    int64_t lo = 0, hi = n - 1;
    double acc = 0;  // mass of ids[0..lo), all before ids[lo..hi]
    while (lo < hi) {
        int64_t p = partition_desc(ids, lo, hi, v);
        double left = 0;
        for (int64_t i = lo; i < p; i++) left += v[ids[i]];
        if (acc + left >= target) {
            hi = p - 1;
        } else if (acc + left + v[ids[p]] >= target) {
            return p + 1;
        } else {
            acc += left + v[ids[p]];
            lo = p + 1;
        }
    }
    return lo + 1 <= n ? lo + 1 : n;
}

// Over a whole vocabulary the quickselects above cost hundreds of µs (every comparison an
// unpredictable branch through two indirections). So first one pass files each candidate in one
// of SAMPLER_BUCKETS buckets by the top bits of an order-preserving key of its value, summing
// counts (top-k) or mass (top-p) per bucket; a walk down the buckets finds the one where the
// running total crosses the target; everything above it is kept whole, everything below it
// dropped, and only the crossing bucket (a few dozen to a few hundred ids) goes to the
// quickselect. Same kept set as the quickselect alone (up to the rounding of the sums).
#define BUCKET_MIN_N 1024  // below this the quickselect alone is as fast

// Bucket of a non-NaN float: a > b whenever bucket(a) > bucket(b).
static uint32_t bucket_of(float x) {
    x += 0.0f;  // -0 → +0, so equal values share a bucket
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // sign-magnitude → unsigned order
    return u >> (32 - SAMPLER_BUCKET_BITS);
}

// Fills hist (all zero on entry), per bucket, with the count of values above -inf (by_mass
// false) or the sum of v (by_mass: v >= 0) over ids[0..n) (over v[0..n) when ids is NULL); then
// walks down from the top bucket to the first B whose running total reaches target, sets *above
// to the total of the buckets over B, clears hist again and returns B; -1 when the whole total
// falls short.
static int64_t crossing_bucket(const int32_t *ids, int64_t n, const float *v, bool by_mass, double target,
                               double *hist, double *above) {
    uint32_t lo = SAMPLER_BUCKETS - 1, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = ids ? v[ids[i]] : v[i];
        uint32_t b = bucket_of(x);
        hist[b] += by_mass ? (double)x : (double)(x > -INFINITY);
        lo = b < lo ? b : lo;
        hi = b > hi ? b : hi;
    }
    int64_t B = -1;
    double acc = 0;
    for (int64_t b = hi; b >= lo && n > 0; b--) {
        if (B < 0 && acc + hist[b] >= target) B = b;
        if (B < 0) acc += hist[b];
        hist[b] = 0;  // leaves hist all zero for the next call
    }
    *above = acc;
    return B;
}

// Moves the ids in buckets over B to ids[0..*n_above) and those in B right after them; returns
// the end of those in B. Branch-free (swap always, advance on a match): which side an id falls
// on is unpredictable.
static int64_t split_at_bucket(int32_t *ids, int64_t n, const float *v, uint32_t B, int64_t *n_above) {
    int64_t c = 0;  // buckets >= B to the front; ids[c..i) are all below B
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        int64_t take = bucket_of(v[id]) >= B;
        ids[i] = ids[c];
        ids[c] = id;
        c += take;
    }
    int64_t a = 0;  // then, among those, the ones over B first
    for (int64_t i = 0; i < c; i++) {
        int32_t id = ids[i];
        int64_t take = bucket_of(v[id]) > B;
        ids[i] = ids[a];
        ids[a] = id;
        a += take;
    }
    *n_above = a;
    return c;
}

// Writes to ids the min(k, number finite) largest of l[0..n) (0 < k), in no order; returns how
// many. hist is scratch (SAMPLER_BUCKETS zeros).
static int64_t gather_top(const float *l, int64_t n, int64_t k, int32_t *ids, double *hist) {
    int64_t nc = 0;
    if (n < BUCKET_MIN_N) {
        for (int64_t i = 0; i < n; i++)
            if (l[i] > -INFINITY) ids[nc++] = (int32_t)i;
        if (k < nc) select_top_qs(ids, nc, k, l);
        return k < nc ? k : nc;
    }
    double above;
    int64_t B = crossing_bucket(NULL, n, l, false, (double)k, hist, &above);
    uint32_t cut = B < 0 ? 0 : (uint32_t)B;  // B < 0: fewer than k are finite, all of them
    for (int64_t i = 0; i < n; i++) {       // branch-free, as in split_at_bucket
        ids[nc] = (int32_t)i;
        nc += (l[i] > -INFINITY) & (bucket_of(l[i]) >= cut);
    }
    if (B < 0) return nc;
    int64_t a, c = split_at_bucket(ids, nc, l, cut, &a);  // those over B first
    if (k - a < c - a) select_top_qs(ids + a, c - a, k - a, l);
    return k;
}

// ---- top-k for small k: a heap of the k best so far, skipping ahead with the `above` kernel ----

#define HEAP_MAX_K 256  // above this, gather_top's histogram (whose worst case is linear)

// h[0..k) is a min-heap under "worse": lower value, ties the higher id (the reverse of before).
static bool worse(const float *v, int32_t a, int32_t b) { return v[a] < v[b] || (v[a] == v[b] && a > b); }

static void sift_down(int32_t *h, int64_t k, int64_t i, const float *v) {
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= k) return;
        if (c + 1 < k && worse(v, h[c + 1], h[c])) c++;
        if (!worse(v, h[c], h[i])) return;
        swap_ids(h, i, c);
        i = c;
    }
}

// gather_top's contract for k <= HEAP_MAX_K. Scanning in id order, a later token joins only if
// strictly above the worst held (a tie loses to the lower id held), so the scan is one `above`
// call per newcomer: about k·ln(n/k) of them on logits in no particular order.
static int64_t heap_top(const VexpKernels *kern, const float *l, int64_t n, int64_t k, int32_t *h) {
    int64_t nc = 0, i = 0;
    for (; i < n && nc < k; i++) {
        if (!(l[i] > -INFINITY)) continue;
        h[nc] = (int32_t)i;
        for (int64_t c = nc++; c > 0 && worse(l, h[c], h[(c - 1) / 2]); c = (c - 1) / 2)
            swap_ids(h, c, (c - 1) / 2);  // sift up
    }
    while (nc == k && (i += kern->above(l + i, n - i, l[h[0]])) < n) {
        h[0] = (int32_t)i++;
        sift_down(h, k, 0, l);
    }
    return nc;
}

// select_mass_qs's contract, with hist as scratch (SAMPLER_BUCKETS zeros).
static int64_t select_mass(int32_t *ids, int64_t n, double target, const float *v, double *hist) {
    if (n < BUCKET_MIN_N) return select_mass_qs(ids, n, target, v);
    double above;
    int64_t B = crossing_bucket(ids, n, v, true, target, hist, &above);
    if (B < 0) return n;
    int64_t a, c = split_at_bucket(ids, n, v, (uint32_t)B, &a);
    return a + select_mass_qs(ids + a, c - a, target - above, v);
}

// ---- stages ----

// The n_top most likely tokens (most likely first, ties by lower id) with their logprobs under
// the unmodified distribution; -inf/NaN logits are never alternatives. Once n_top are held, the
// kernel's `above` skips ahead to the next logit that beats the worst of them.
static void top_alternatives(const VexpKernels *kern, const float *logits, int64_t n, int n_top, double lse,
                             SampleResult *out) {
    int k = 0;  // out->top[0..k) holds the best so far, as (id, raw logit)
    for (int64_t i = 0; i < n && n_top > 0; i++) {
        if (k == n_top && (i = kern->above(logits + i, n - i, out->top[k - 1].logprob) + i) == n) break;
        float x = logits[i];
        if (!(x > -INFINITY)) continue;
        int j = k < n_top ? k++ : k - 1;
        while (j > 0 && x > out->top[j - 1].logprob) out->top[j] = out->top[j - 1], j--;
        out->top[j] = (SampleCand){(int32_t)i, x};
    }
    for (int j = 0; j < k; j++) out->top[j].logprob = (float)(out->top[j].logprob - lse);
    out->n_top = k;
}

static bool has_penalties(const SamplerParams *p) {
    return p->repetition_penalty != 1.0f || p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f;
}

static void apply_penalties(const SamplerParams *p, float *l, int64_t n, const int32_t *recent,
                            int64_t n_recent, int32_t *counts) {
    if (!has_penalties(p)) return;
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

// Draws u·total from the running sum of e over ids[0..n) (or over 0..n in id order when ids is
// NULL). Should rounding leave u past the last sum, the last token with e > 0 wins.
static int32_t draw_from(const int32_t *ids, int64_t n, const float *e, double total, Rng *rng) {
    double u = rng_uniform(rng) * total, acc = 0;
    int32_t last = -1;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids ? ids[i] : (int32_t)i;
        acc += e[id];
        if (u < acc) return id;
        if (e[id] > 0) last = id;
    }
    return last;
}

// Draws a token from l (n logits after penalties; -inf/NaN masked) under temperature, top-k,
// top-p and min-p. m is the largest l. When reuse, e = w->probs already holds exp(l_i - m) (T = 1,
// raw logits) and z_reuse their sum. Returns the token, or -1 when no logit is finite (or the
// penalties sent one to +inf).
static int32_t draw(const SamplerParams *p, const VexpKernels *k, const float *l, int64_t n, float m,
                    bool reuse, double z_reuse, Rng *rng, SamplerWork *w) {
    if (!(m > -INFINITY && m < INFINITY)) return -1;  // all masked, or a penalty overflowed to +inf
    int32_t *ids = w->ids;  // candidates
    float *e = w->probs;    // (n) e_i = exp((l_i - m) / T), indexed by token id
    float inv_t = 1.0f / p->temperature;
    int64_t nc = 0;
    double z;  // the candidates' sum of e (top-p's total)
    if (p->top_k > 0 && p->top_k < n) {  // top-k keeps the k largest: exp over those alone
        nc = p->top_k <= HEAP_MAX_K ? heap_top(k, l, n, p->top_k, ids)
                                    : gather_top(l, n, p->top_k, ids, w->hist);
        z = 0;
        for (int64_t i = 0; i < nc; i++) {
            if (!reuse) e[ids[i]] = expf((l[ids[i]] - m) * inv_t);
            z += e[ids[i]];
        }
    } else {  // every finite logit is a candidate: one vectorised pass over the row
        z = reuse ? z_reuse : k->exp_sum(l, n, m, inv_t, e);
        if (p->top_p >= 1.0f && p->min_p <= 0) return draw_from(NULL, n, e, z, rng);  // nothing cut
        // Gather only the tokens top-p and min-p could keep. Those with e < eps = (1 - top_p)·z/n
        // weigh less than (1 - top_p)·z all together, so the tokens above them already reach
        // top_p·z: top-p drops them all. Min-p drops e < min_p. (1 - 1e-6: margin for rounding.)
        double eps = p->top_p < 1.0f ? (1.0 - (double)p->top_p) * z / (double)n * (1 - 1e-6) : 0;
        float cut = (float)(eps > p->min_p ? eps : p->min_p);  // > 0: masked tokens (e = 0) fail
        for (int64_t i = 0; i < n; i++) {  // branch-free: which tokens pass is unpredictable
            ids[nc] = (int32_t)i;
            nc += e[i] >= cut;
        }
    }
    // Top-p and min-p both keep a prefix of the sorted order; keep the shorter one. The kept set
    // is found by selection, not sorting, and is left unordered.
    int64_t keep = nc;
    if (p->top_p < 1.0f) keep = select_mass(ids, nc, p->top_p * z, e, w->hist);
    if (p->min_p > 0) {  // e_max = 1, so e_i < min_p is p_i < min_p·p_max
        int64_t k2 = 0;
        for (int64_t i = 0; i < keep; i++)
            if (e[ids[i]] >= p->min_p) swap_ids(ids, i, k2++);
        keep = k2;
    }
    CHECK(keep >= 1);  // the maximum always survives (e = 1)
    double cum = 0;
    for (int64_t i = 0; i < keep; i++) cum += e[ids[i]];
    return draw_from(ids, keep, e, cum, rng);
}

int sampler_sample(const SamplerParams *p, const float *logits, int64_t n_vocab,
                   const int32_t *recent, int64_t n_recent, int n_top, Rng *rng, SamplerWork *w,
                   SampleResult *out) {
    if (n_vocab != w->n_vocab || n_top < 0 || n_top > SAMPLER_MAX_TOP) return ERR_ARG;
    const VexpKernels *k = w->vk;
    bool pen = has_penalties(p), greedy = p->temperature <= 0;
    // The unmodified log-softmax normaliser lse = m + log Σ exp(logit_i - m): always needed, for
    // the token's logprob. A +inf logit (inf - inf) or none finite is an error.
    int64_t first = -1;  // lowest id holding m: the greedy choice when there are no penalties
    float m = k->max(logits, n_vocab, greedy && !pen ? &first : NULL);
    if (!isfinite(m)) return ERR_ARG;
    double z = k->exp_sum(logits, n_vocab, m, 1.0f, w->probs);  // float terms, double sum
    double lse = m + log(z);
    top_alternatives(k, logits, n_vocab, n_top, lse, out);

    const float *l = logits;  // (n_vocab) logits after penalties (NaN counts as -inf throughout)
    if (pen) {
        float *lp = w->logits;
        for (int64_t i = 0; i < n_vocab; i++) lp[i] = logits[i] > -INFINITY ? logits[i] : -INFINITY;
        apply_penalties(p, lp, n_vocab, recent, n_recent, w->counts);
        l = lp;
        m = k->max(l, n_vocab, greedy ? &first : NULL);
    }
    int32_t chosen = greedy ? (int32_t)first
                            : draw(p, k, l, n_vocab, m, p->temperature == 1.0f && !pen, z, rng, w);
    if (chosen < 0) return ERR_ARG;  // every logit masked by penalties
    out->token = chosen;
    out->logprob = logits[chosen] > -INFINITY ? (float)(logits[chosen] - lse) : -INFINITY;
    return 0;
}
