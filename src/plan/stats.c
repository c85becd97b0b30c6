#include "plan/stats.h"

#include <math.h>
#include <string.h>

#define LOG_STEP 0.00995033085316808   // ln(1.01)

void stats_init(LatHist *h) { memset(h, 0, sizeof *h); }

static int bucket_of(double us) {
    if (!(us > 1.0)) return 0;
    int b = 1 + (int)(log(us) / LOG_STEP);
    return b >= STATS_BUCKETS ? STATS_BUCKETS - 1 : b;
}

void stats_add(LatHist *h, double us) {
    h->count[bucket_of(us)]++;
    h->n++;
    h->sum += us;
    if (us > h->max) h->max = us;
}

double stats_quantile(const LatHist *h, double q) {
    if (h->n == 0) return 0;
    int64_t rank = (int64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    int64_t c = 0;
    for (int b = 0; b < STATS_BUCKETS; b++) {
        c += h->count[b];
        if (c >= rank) {
            if (b == 0) return fmin(1.0, h->max);
            double mid = exp((b - 0.5) * LOG_STEP);
            return fmin(mid, h->max);
        }
    }
    return h->max;
}

double stats_mean(const LatHist *h) { return h->n ? h->sum / (double)h->n : 0; }

double stats_cdf(const LatHist *h, double us) {
    if (h->n == 0) return 0;
    int top = bucket_of(us);
    int64_t c = 0;
    for (int b = 0; b <= top; b++) c += h->count[b];
    return (double)c / (double)h->n;
}
