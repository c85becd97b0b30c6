// autoscale.h — a queue-aware replica autoscaler (KEDA/HPA's meaning), pure policy code.
//
// Each evaluation (every few seconds) computes the replicas the load asks for,
//   desired = ceil((waiting + running requests) / target_per_replica),
// raises it to the scheduled minimum of the current time-of-day window, clamps it to
// [min_replicas, max_replicas], and only acts on it once the demand has held for the delay:
// scale up when desired > current has held for upscale_delay_us, scale down (to the largest
// desired seen during the wait, so a brief dip does not overshoot) when desired < current has
// held for downscale_delay_us. Time of day is now_us modulo 24 h (the simulator starts at
// midnight; the live gateway passes UTC epoch microseconds).
#ifndef RS_AUTOSCALE_H
#define RS_AUTOSCALE_H

#include <stdint.h>

#define AUTOSCALE_MAX_WINDOWS 4

typedef struct {
    double start_hour, end_hour;   // [start, end) in hours of the day; may wrap past midnight
    int min_replicas;
} AutoscaleWindow;

typedef struct {
    int min_replicas, max_replicas;       // 0 <= min <= max
    double target_per_replica;            // in-flight requests (waiting + running) per replica, > 0
    int64_t upscale_delay_us, downscale_delay_us;
    int warm_pool;                        // stopped, pre-initialised replicas that start fast
    AutoscaleWindow windows[AUTOSCALE_MAX_WINDOWS];
    int n_windows;
} AutoscaleConfig;

typedef struct {
    int64_t up_since_us, down_since_us;   // -1: not pending
    int down_peak;                        // largest desired seen while a scale-down is pending
} Autoscaler;

void autoscale_init(Autoscaler *a);
// Minimum replicas at now_us: min_replicas raised by any window covering the time of day.
int autoscale_min_at(const AutoscaleConfig *c, int64_t now_us);
// Replicas a tier starts with at now_us, before its first evaluation: its minimum then, and at
// least one (the gateway and the simulator both open these at start).
int autoscale_initial(const AutoscaleConfig *c, int64_t now_us);
// Replicas to have after this evaluation (equal to current when nothing changes). current
// counts replicas ready or starting (not draining).
int autoscale_eval(Autoscaler *a, const AutoscaleConfig *c, int64_t now_us, int current, int64_t waiting,
                   int64_t running);

#endif
