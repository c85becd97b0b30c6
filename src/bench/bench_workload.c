// bench_workload.c — a bench arrival schedule drawn from a planner workload (bench_workload.h).
#include "bench/bench_workload.h"

#include <math.h>

#include "base/check.h"
#include "plan/workload.h"

int bench_workload_schedule(const char *path, double duration_s, Rng *rng, ArrivalSchedule *out,
                            double *slo_ttft_ms, double *slo_e2e_ms, double *rate_rps, char *err,
                            size_t err_len) {
    if (!(duration_s > 0) || duration_s > 1e7)
        return err_set(err, err_len, ERR_ARG, "--duration %g is outside (0, 1e7] seconds", duration_s);
    Workload wl;
    int rc = wl_load(&wl, path, err, err_len);
    if (rc) return rc == ERR_NOMEM ? rc : ERR_ARG;
    if (wl.cls == WL_EMBEDDING || wl.cls == WL_BATCH) {
        rc = err_set(err, err_len, ERR_ARG, "%s: class %s has no streamed generation to bench; use chat or completion",
                     path, wl_class_names[wl.cls]);
        goto done;
    }
    if (wl.rate_per_s * duration_s > 1e7) {
        rc = err_set(err, err_len, ERR_ARG, "%s: %g req/s over %g s is more than 10^7 requests", path, wl.rate_per_s,
                     duration_s);
        goto done;
    }
    WlArrivals arr;
    wl_arrivals_init(&arr, &wl, 1.0, 0);
    for (;;) {
        WlRequest r = wl_next(&wl, &arr, rng);
        if (!(r.t_s < duration_s)) break;
        if ((rc = arrivals_add(out, llround(r.t_s * 1e6), r.in_tokens, r.out_tokens))) {
            err_set(err, err_len, rc, "%s: cannot add an arrival (%s)", path, err_str(rc));
            goto done;
        }
    }
    if (wl.slo_ttft_p95_ms > 0) *slo_ttft_ms = wl.slo_ttft_p95_ms;
    if (wl.slo_e2e_p95_ms > 0) *slo_e2e_ms = wl.slo_e2e_p95_ms;
    *rate_rps = wl.rate_per_s;
done:
    wl_free(&wl);
    return rc;
}
