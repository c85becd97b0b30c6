// wlsched.h — an open-loop schedule drawn from the planner's workload file (src/plan/workload.h),
// so that `rightsize bench --workload W.yaml` replays the traffic `rightsize plan W.yaml` planned
// for: the same arrival process (Poisson / gamma with its CV / trace, diurnal profile and bursts)
// and the same input/output token distributions, over a window of the workload's day.
#ifndef RS_WLSCHED_H
#define RS_WLSCHED_H

#include <stddef.h>

#include "base/rng.h"
#include "bench/arrivals.h"

typedef struct {
    double duration_s;  // window length
    double start_s;     // where the window starts in the workload's day (seconds after midnight);
                        // negative: at the busiest minute of the day (diurnal peak and bursts)
    double rate_scale;  // multiplies the workload's arrival rate (1 = as planned)
    int64_t max_arrivals;
} WlWindow;

// What the workload says beyond its arrivals.
typedef struct {
    char name[64];
    double mean_rate_rps;  // the workload's mean rate × rate_scale (over a whole day)
    double start_s;        // where the window started (seconds after midnight)
    double slo_ttft_p95_ms, slo_tpot_p95_ms, slo_e2e_p95_ms, slo_e2e_p99_ms;  // 0 = none
} WlInfo;

// Loads the workload at path and appends to out every arrival in [start_s, start_s + duration_s),
// re-based to the window's start, with the token counts the workload draws. Returns 0, or a
// negative Err with a one-line message in err (file errors from the loader; an embedding workload,
// which has no generated tokens; an empty window; more than max_arrivals arrivals).
int wlsched_build(const char *path, const WlWindow *w, Rng *rng, ArrivalSchedule *out, WlInfo *info, char *err,
                  size_t err_len);

#endif
