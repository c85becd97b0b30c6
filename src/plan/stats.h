// stats.h — a fixed-memory latency histogram for the simulator: log-spaced buckets 1% wide from
// 1 µs to ~28 hours, exact count / sum / max. Quantiles are read at a bucket's geometric middle,
// so they are within 0.5% of the exact order statistic; means are exact.
#ifndef RS_PLAN_STATS_H
#define RS_PLAN_STATS_H

#include <stdint.h>

#define STATS_BUCKETS 2600

typedef struct {
    int64_t n;
    double sum, max;
    int64_t count[STATS_BUCKETS];
} LatHist;

void stats_init(LatHist *h);
// Adds one value in microseconds (values < 1 µs count in the first bucket).
void stats_add(LatHist *h, double us);
// The q-quantile (0 < q <= 1) in microseconds; 0 when empty.
double stats_quantile(const LatHist *h, double q);
double stats_mean(const LatHist *h);
// Fraction of values <= us (the empirical CDF at bucket resolution).
double stats_cdf(const LatHist *h, double us);

#endif
