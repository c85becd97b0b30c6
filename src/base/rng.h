// rng.h — seeded, portable pseudo-random numbers (xoshiro256**, seeded by splitmix64).
// Every policy and simulator function takes an Rng * so runs are reproducible for a seed.
#ifndef RS_RNG_H
#define RS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
// Uniform in [0, 1) with 53 random bits.
double rng_uniform(Rng *r);
// Uniform integer in [0, n); n > 0.
uint64_t rng_below(Rng *r, uint64_t n);
// Standard normal (Box–Muller, one value per call).
double rng_normal(Rng *r);
// Exponential with the given mean.
double rng_exponential(Rng *r, double mean);
// Gamma(shape k, scale theta) (Marsaglia–Tsang; k < 1 by boosting).
double rng_gamma(Rng *r, double k, double theta);

#endif
