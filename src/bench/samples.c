#include "bench/samples.h"

#include <math.h>
#include <stdlib.h>

#include "base/check.h"

void samples_init(Samples *s) { *s = (Samples){0}; }

void samples_free(Samples *s) {
    if (!s) return;
    free(s->v);
    *s = (Samples){0};
}

void samples_clear(Samples *s) {
    s->n = s->seen = 0;
    s->sum = 0;
    s->sorted = false;
}

static int64_t samples_limit(const Samples *s) { return s->limit > 0 ? s->limit : SAMPLES_DEFAULT_LIMIT; }

int samples_reserve(Samples *s, int64_t n) {
    CHECK(n >= 0);
    int64_t want = s->n + n;
    if (want > samples_limit(s)) want = samples_limit(s);
    if (want <= s->cap) return 0;
    int64_t cap = s->cap ? s->cap : 256;
    while (cap < want) {
        if (cap > INT64_MAX / 2 / (int64_t)sizeof(int64_t)) return ERR_NOMEM;
        cap *= 2;
    }
    int64_t *p = realloc(s->v, (size_t)cap * sizeof(int64_t));
    if (!p) return ERR_NOMEM;
    s->v = p;
    s->cap = cap;
    return 0;
}

// splitmix64: the reservoir's own stream, so results do not depend on any caller's Rng.
static uint64_t next_random(Samples *s) {
    uint64_t z = (s->rs += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int samples_add(Samples *s, int64_t v) {
    if (s->seen == 0 || v < s->min) s->min = v;
    if (s->seen == 0 || v > s->max) s->max = v;
    s->seen++;
    s->sum += (double)v;
    if (s->n < samples_limit(s)) {
        if (s->n == s->cap && samples_reserve(s, 1)) return ERR_NOMEM;
        s->v[s->n++] = v;
    } else {  // algorithm R: keep the new sample with probability limit / seen
        uint64_t j = next_random(s) % (uint64_t)s->seen;
        if (j < (uint64_t)s->n) s->v[j] = v;
    }
    s->sorted = false;
    return 0;
}

int samples_add_all(Samples *s, const Samples *src) {
    if (samples_reserve(s, src->n)) return ERR_NOMEM;
    for (int64_t i = 0; i < src->n; i++)
        if (samples_add(s, src->v[i])) return ERR_NOMEM;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double samples_quantile(Samples *s, double q) {
    if (s->n == 0) return 0;
    if (q <= 0) return (double)s->min;
    if (q >= 1) return (double)s->max;
    if (!s->sorted) {
        qsort(s->v, (size_t)s->n, sizeof(int64_t), cmp_i64);
        s->sorted = true;
    }
    double h = q * (double)(s->n - 1);
    int64_t lo = (int64_t)floor(h);
    if (lo >= s->n - 1) return (double)s->v[s->n - 1];
    double frac = h - (double)lo;
    return (double)s->v[lo] + frac * (double)(s->v[lo + 1] - s->v[lo]);
}

SamplesSummary samples_summary(Samples *s) {
    SamplesSummary r = {.n = s->seen};
    if (s->seen == 0) return r;
    r.mean = s->sum / (double)s->seen;
    r.min = (double)s->min;
    r.p50 = samples_quantile(s, 0.50);
    r.p90 = samples_quantile(s, 0.90);
    r.p95 = samples_quantile(s, 0.95);
    r.p99 = samples_quantile(s, 0.99);
    r.max = (double)s->max;
    return r;
}
