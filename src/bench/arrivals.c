#include "bench/arrivals.h"

#include <math.h>
#include <stdlib.h>

#include "base/check.h"

void arrivals_init(ArrivalSchedule *s) { *s = (ArrivalSchedule){0}; }

void arrivals_free(ArrivalSchedule *s) {
    if (!s) return;
    free(s->a);
    *s = (ArrivalSchedule){0};
}

int arrivals_add(ArrivalSchedule *s, int64_t t_us, int32_t input_tokens, int32_t output_tokens) {
    if (t_us < 0 || (s->n > 0 && t_us < s->a[s->n - 1].t_us)) return ERR_ARG;
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 1024;
        if (cap > INT64_MAX / (int64_t)sizeof(Arrival)) return ERR_NOMEM;
        Arrival *p = realloc(s->a, (size_t)cap * sizeof(Arrival));
        if (!p) return ERR_NOMEM;
        s->a = p;
        s->cap = cap;
    }
    s->a[s->n++] = (Arrival){t_us, input_tokens, output_tokens};
    return 0;
}

int arrivals_poisson(ArrivalSchedule *s, double rate_rps, double duration_s, int32_t input_tokens,
                     int32_t output_tokens, int64_t max_arrivals, Rng *rng) {
    if (!(rate_rps > 0) || !isfinite(rate_rps) || !(duration_s > 0) || !isfinite(duration_s))
        return ERR_ARG;
    if (rate_rps * duration_s > (double)max_arrivals) return ERR_ARG;
    double end_us = duration_s * 1e6, mean_gap_us = 1e6 / rate_rps, t = 0;
    for (;;) {
        t += rng_exponential(rng, mean_gap_us);
        if (t >= end_us) break;
        int rc = arrivals_add(s, (int64_t)t, input_tokens, output_tokens);
        if (rc) return rc;
    }
    return 0;
}
