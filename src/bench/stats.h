// stats.h — exact latency percentiles: every sample is kept (8 bytes each) and sorted once when
// summarised, so reported quantiles have no binning error. A run of 1e6 samples costs 8 MB.
//
// Quantile definition: linear interpolation between closest ranks (the "type 7" estimator, numpy's
// default np.percentile(method="linear")): for sorted x[0..n-1], h = q·(n-1),
// Q(q) = x[floor h] + (h - floor h)·(x[floor h + 1] - x[floor h]).
#ifndef RS_STATS_H
#define RS_STATS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t *v;  // owned; samples in insertion order until stats_sort
    int64_t n, cap;
    bool sorted;
} Samples;

typedef struct {
    int64_t n;
    double mean, min, p50, p90, p95, p99, max;  // in the samples' unit; 0 when n == 0
} StatsSummary;

void stats_init(Samples *s);
void stats_free(Samples *s);
// Pre-sizes for n more samples (so the hot path does not reallocate). 0 or ERR_NOMEM.
int stats_reserve(Samples *s, int64_t n);
// Appends one sample. 0 or ERR_NOMEM.
int stats_add(Samples *s, int64_t v);
// Quantile q in [0,1] per the definition above; sorts on first use. 0 when empty.
double stats_quantile(Samples *s, double q);
// n, mean, min, p50/p90/p95/p99, max.
StatsSummary stats_summary(Samples *s);

#endif
