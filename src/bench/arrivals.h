// arrivals.h — the open-loop arrival schedule, computed before the first request is sent, so that
// a slow server cannot change when requests go out (no coordinated omission). Each arrival carries
// its own token counts so that workload-driven runs can vary them per request.
#ifndef RS_BENCH_ARRIVALS_H
#define RS_BENCH_ARRIVALS_H

#include <stdint.h>

#include "base/rng.h"

typedef struct {
    int64_t t_us;          // send time, microseconds after the start of the run
    int32_t input_tokens;  // prompt length to build
    int32_t output_tokens; // max_tokens to request
} Arrival;

typedef struct {
    Arrival *a;  // owned; sorted by t_us
    int64_t n, cap;
} ArrivalSchedule;

void arrivals_init(ArrivalSchedule *s);
void arrivals_free(ArrivalSchedule *s);
// Appends one arrival (callers append in time order). 0, ERR_NOMEM, or ERR_ARG if out of order.
int arrivals_add(ArrivalSchedule *s, int64_t t_us, int32_t input_tokens, int32_t output_tokens);
// A Poisson process of rate_rps over [0, duration_s): exponential gaps with mean 1/rate drawn
// from rng. Every arrival gets the given token counts. 0, ERR_ARG (rate or duration not positive
// and finite, or more than max_arrivals expected), or ERR_NOMEM.
int arrivals_poisson(ArrivalSchedule *s, double rate_rps, double duration_s, int32_t input_tokens,
                     int32_t output_tokens, int64_t max_arrivals, Rng *rng);

#endif
