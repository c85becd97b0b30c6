#include "review/loghist.h"

#include <math.h>
#include <string.h>

// gamma = (1 + a) / (1 - a); bucket i holds (gamma^(i-1+OFFSET), gamma^(i+OFFSET)]. The two
// constants are checked against log() in tests/test_review.c.
static double lh_gamma(void) { return (1.0 + LOGHIST_REL_ERR) / (1.0 - LOGHIST_REL_ERR); }

static int lh_index(double v) {
    int i = (int)ceil(log(v) / LOGHIST_LOG_GAMMA) - LOGHIST_OFFSET;
    if (i < 0) return 0;
    if (i >= LOGHIST_BUCKETS) return LOGHIST_BUCKETS - 1;
    return i;
}

static double lh_value(int i) {
    return 2.0 * exp((double)(i + LOGHIST_OFFSET) * LOGHIST_LOG_GAMMA) / (lh_gamma() + 1.0);
}

void loghist_init(LogHist *h) { memset(h, 0, sizeof *h); }

void loghist_add(LogHist *h, double v) {
    if (!(v >= 0)) return;
    if (h->n == 0 || v < h->min) h->min = v;
    if (h->n == 0 || v > h->max) h->max = v;
    h->n++;
    h->sum += v;
    if (v == 0) { h->n_zero++; return; }
    if (v < LOGHIST_MIN || v > LOGHIST_MAX) h->n_clamped++;
    h->count[lh_index(v)]++;
}

void loghist_merge(LogHist *dst, const LogHist *src) {
    if (src->n == 0) return;
    if (dst->n == 0 || src->min < dst->min) dst->min = src->min;
    if (dst->n == 0 || src->max > dst->max) dst->max = src->max;
    dst->n += src->n;
    dst->n_zero += src->n_zero;
    dst->n_clamped += src->n_clamped;
    dst->sum += src->sum;
    for (int i = 0; i < LOGHIST_BUCKETS; i++) dst->count[i] += src->count[i];
}

double loghist_quantile(const LogHist *h, double q) {
    if (h->n == 0) return NAN;
    if (q <= 0) return h->min;
    if (q >= 1) return h->max;
    int64_t k = (int64_t)floor(q * (double)(h->n - 1));   // rank, 0-based
    if (k == 0) return h->min;
    if (k == h->n - 1) return h->max;
    if (k < h->n_zero) return 0;
    int64_t seen = h->n_zero;
    for (int i = 0; i < LOGHIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen > k) {
            double v = lh_value(i);
            // The bucket's representative may fall outside the observed range at the ends.
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

double loghist_mean(const LogHist *h) { return h->n ? h->sum / (double)h->n : NAN; }

double loghist_cdf(const LogHist *h, double x) {
    if (h->n == 0) return NAN;
    if (x < 0) return 0;
    int64_t le = h->n_zero;
    if (x > 0) {
        int last = lh_index(x);
        for (int i = 0; i <= last; i++) le += h->count[i];
    }
    return (double)le / (double)h->n;
}
