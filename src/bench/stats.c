#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>

#include "base/check.h"

void stats_init(Samples *s) { *s = (Samples){0}; }

void stats_free(Samples *s) {
    if (!s) return;
    free(s->v);
    *s = (Samples){0};
}

int stats_reserve(Samples *s, int64_t n) {
    CHECK(n >= 0);
    if (s->n + n <= s->cap) return 0;
    int64_t cap = s->cap ? s->cap : 256;
    while (cap < s->n + n) {
        if (cap > INT64_MAX / 2 / (int64_t)sizeof(int64_t)) return ERR_NOMEM;
        cap *= 2;
    }
    int64_t *p = realloc(s->v, (size_t)cap * sizeof(int64_t));
    if (!p) return ERR_NOMEM;
    s->v = p;
    s->cap = cap;
    return 0;
}

int stats_add(Samples *s, int64_t v) {
    if (s->n == s->cap && stats_reserve(s, 1)) return ERR_NOMEM;
    s->v[s->n++] = v;
    s->sorted = false;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double stats_quantile(Samples *s, double q) {
    if (s->n == 0) return 0;
    if (!s->sorted) {
        qsort(s->v, (size_t)s->n, sizeof(int64_t), cmp_i64);
        s->sorted = true;
    }
    if (q <= 0) return (double)s->v[0];
    if (q >= 1) return (double)s->v[s->n - 1];
    double h = q * (double)(s->n - 1);
    int64_t lo = (int64_t)floor(h);
    if (lo >= s->n - 1) return (double)s->v[s->n - 1];
    double frac = h - (double)lo;
    return (double)s->v[lo] + frac * (double)(s->v[lo + 1] - s->v[lo]);
}

StatsSummary stats_summary(Samples *s) {
    StatsSummary r = {.n = s->n};
    if (s->n == 0) return r;
    double sum = 0;
    for (int64_t i = 0; i < s->n; i++) sum += (double)s->v[i];
    r.mean = sum / (double)s->n;
    r.min = stats_quantile(s, 0);
    r.p50 = stats_quantile(s, 0.50);
    r.p90 = stats_quantile(s, 0.90);
    r.p95 = stats_quantile(s, 0.95);
    r.p99 = stats_quantile(s, 0.99);
    r.max = stats_quantile(s, 1);
    return r;
}
