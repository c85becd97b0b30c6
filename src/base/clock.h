// clock.h — the real clock, for src/serve, src/bench and src/cli only. Code under src/policy and
// src/plan never calls these: it takes now_us as a parameter (one pipeline, two clocks).
#ifndef RS_CLOCK_H
#define RS_CLOCK_H

#include <stdint.h>

// Monotonic microseconds since an arbitrary epoch.
int64_t clock_now_us(void);
// Wall-clock microseconds since the Unix epoch (for telemetry timestamps).
int64_t clock_wall_us(void);
void clock_sleep_us(int64_t us);

#endif
