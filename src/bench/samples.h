// samples.h — latency percentiles from kept samples (8 bytes each), sorted once when summarised.
//
// Exact up to `limit` samples per measure (default 2^24 = 16.8 M, 128 MB): every sample is kept
// and quantiles have no binning error. Past the limit the kept set becomes a uniform reservoir
// (Vitter's algorithm R) of `limit` samples, so quantiles carry sampling error — a rank error of
// about sqrt(q(1-q)/limit), under 1.3e-4 at the default — while n, mean, min and max stay exact.
//
// Quantile definition: linear interpolation between closest ranks (the "type 7" estimator, numpy's
// default np.percentile(method="linear")): for sorted x[0..n-1], h = q·(n-1),
// Q(q) = x[floor h] + (h - floor h)·(x[floor h + 1] - x[floor h]).
#ifndef RS_BENCH_SAMPLES_H
#define RS_BENCH_SAMPLES_H

#include <stdbool.h>
#include <stdint.h>

#define SAMPLES_DEFAULT_LIMIT ((int64_t)1 << 24)

typedef struct {
    int64_t *v;      // owned; kept samples (insertion order until sorted)
    int64_t n, cap;  // kept, allocated
    bool sorted;
    int64_t seen;    // samples offered (== n until the reservoir is full)
    int64_t limit;   // most samples kept; 0 means SAMPLES_DEFAULT_LIMIT
    double sum;      // over all seen
    int64_t min, max;  // over all seen
    uint64_t rs;     // reservoir random state
} Samples;

typedef struct {
    int64_t n;  // samples seen
    double mean, min, p50, p90, p95, p99, max;  // in the samples' unit; 0 when n == 0
} SamplesSummary;

void samples_init(Samples *s);
void samples_free(Samples *s);
// Forgets every sample but keeps the memory (and the limit).
void samples_clear(Samples *s);
// Pre-sizes for n more kept samples (so the hot path does not reallocate). 0 or ERR_NOMEM.
int samples_reserve(Samples *s, int64_t n);
// Offers one sample. 0 or ERR_NOMEM.
int samples_add(Samples *s, int64_t v);
// Offers every sample of src (src unchanged). 0 or ERR_NOMEM.
int samples_add_all(Samples *s, const Samples *src);
// Quantile q in [0,1] per the definition above; sorts on first use. q <= 0 and q >= 1 give the
// exact min and max. 0 when empty.
double samples_quantile(Samples *s, double q);
// n, mean, min, p50/p90/p95/p99, max.
SamplesSummary samples_summary(Samples *s);

#endif
