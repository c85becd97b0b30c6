// loghist.h — a fixed-bucket logarithmic histogram: a mergeable quantile sketch in constant memory.
//
// Positive values fall in bucket i = ceil(log(v) / log(gamma)) with gamma = (1 + a) / (1 - a), and
// a bucket's representative value 2 gamma^i / (gamma + 1) is within a relative error a of every
// value in the bucket (the DDSketch construction with a fixed index range). So a quantile read
// back is within LOGHIST_REL_ERR (0.5%) of the exact order statistic of the same rank; zero goes
// in a bucket of its own, and values outside [LOGHIST_MIN, LOGHIST_MAX] are clamped into the end
// buckets (counted in n_clamped). Two histograms merge by adding counts (same buckets everywhere).
#ifndef RS_REVIEW_LOGHIST_H
#define RS_REVIEW_LOGHIST_H

#include <stdint.h>

#define LOGHIST_REL_ERR 0.005
#define LOGHIST_MIN 1e-4       // smallest distinguishable positive value (e.g. ms: 0.1 us)
#define LOGHIST_MAX 1e9        // largest (ms: 11.5 days; tokens: a billion)
#define LOGHIST_BUCKETS 3000   // covers log(MAX/MIN)/log(gamma) = 2994 buckets
#define LOGHIST_LOG_GAMMA 0.010000083334583179   // log((1 + REL_ERR) / (1 - REL_ERR))
#define LOGHIST_OFFSET (-921)  // ceil(log(MIN) / LOG_GAMMA): MIN's bucket is bucket 0

typedef struct {
    int64_t n, n_zero, n_clamped;
    double sum, min, max;              // exact, over the values added
    int64_t count[LOGHIST_BUCKETS];
} LogHist;

// Zeroes h (a zeroed LogHist is an empty histogram; no free needed).
void loghist_init(LogHist *h);
// Adds v (NaN and negative values are ignored; the caller counts them as missing).
void loghist_add(LogHist *h, double v);
// dst += src.
void loghist_merge(LogHist *dst, const LogHist *src);
// The value of rank floor(q * (n - 1)) in sorted order (numpy's method="lower"), within
// LOGHIST_REL_ERR relative error (exact for the min, max and zeros). NaN when empty.
double loghist_quantile(const LogHist *h, double q);
double loghist_mean(const LogHist *h);
// Fraction of values <= x (x rounded to its bucket: an error of at most one bucket's count).
double loghist_cdf(const LogHist *h, double x);

#endif
