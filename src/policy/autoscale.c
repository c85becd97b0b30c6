#include "policy/autoscale.h"

#include <math.h>
#include <stdbool.h>

#include "base/check.h"

void autoscale_init(Autoscaler *a) { *a = (Autoscaler){.up_since_us = -1, .down_since_us = -1}; }

int autoscale_min_at(const AutoscaleConfig *c, int64_t now_us) {
    double h = (double)(now_us % 86400000000LL) / 3.6e9;
    int m = c->min_replicas;
    for (int i = 0; i < c->n_windows; i++) {
        const AutoscaleWindow *w = &c->windows[i];
        bool in = w->start_hour <= w->end_hour ? (h >= w->start_hour && h < w->end_hour)
                                               : (h >= w->start_hour || h < w->end_hour);
        if (in && w->min_replicas > m) m = w->min_replicas;
    }
    return m > c->max_replicas ? c->max_replicas : m;
}

int autoscale_initial(const AutoscaleConfig *c, int64_t now_us) {
    int m = autoscale_min_at(c, now_us);
    return m > 0 ? m : 1;
}

int autoscale_eval(Autoscaler *a, const AutoscaleConfig *c, int64_t now_us, int current, int64_t waiting,
                   int64_t running) {
    CHECK(c->target_per_replica > 0 && c->min_replicas <= c->max_replicas);
    int desired = (int)ceil((double)(waiting + running) / c->target_per_replica - 1e-9);
    int lo = autoscale_min_at(c, now_us);
    if (desired < lo) desired = lo;
    if (desired > c->max_replicas) desired = c->max_replicas;
    // A scheduled minimum is a floor, not a load signal: apply it at once.
    if (current < lo) { a->up_since_us = a->down_since_us = -1; return lo; }
    if (desired > current) {
        a->down_since_us = -1;
        if (a->up_since_us < 0) a->up_since_us = now_us;
        if (now_us - a->up_since_us >= c->upscale_delay_us) { a->up_since_us = -1; return desired; }
        return current;
    }
    a->up_since_us = -1;
    if (desired < current) {
        if (a->down_since_us < 0) { a->down_since_us = now_us; a->down_peak = desired; }
        if (desired > a->down_peak) a->down_peak = desired;
        if (now_us - a->down_since_us >= c->downscale_delay_us) {
            a->down_since_us = -1;
            return a->down_peak;
        }
        return current;
    }
    a->down_since_us = -1;
    return current;
}
