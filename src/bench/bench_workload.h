// bench_workload.h — the open-loop schedule of `rightsize bench --workload FILE`: the planner's
// workload (src/plan/workload.h) drives the load generator with the same arrival process and
// token distributions the simulator replays, so a plan's prediction and a bench run are the same
// experiment (scripts/bench.d/70-predict compares the two).
#ifndef RS_BENCH_WORKLOAD_H
#define RS_BENCH_WORKLOAD_H

#include <stddef.h>

#include "base/rng.h"
#include "bench/arrivals.h"

// Loads the workload at path and appends to *out every arrival in [0, duration_s) drawn from it
// with rng (wl_next: arrival times, input and output tokens; the day profile starts at midnight).
// Sets *slo_ttft_ms / *slo_e2e_ms to the workload's TTFT and e2e p95 bounds when it has them
// (left alone otherwise) and *rate_rps to its mean rate. Returns 0; ERR_ARG with one line in err
// (bad file, embedding or batch class, more than 10^7 arrivals); ERR_NOMEM.
int bench_workload_schedule(const char *path, double duration_s, Rng *rng, ArrivalSchedule *out,
                            double *slo_ttft_ms, double *slo_e2e_ms, double *rate_rps, char *err,
                            size_t err_len);

#endif
