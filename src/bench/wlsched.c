#include "bench/wlsched.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "plan/workload.h"

int wlsched_build(const char *path, const WlWindow *w, Rng *rng, ArrivalSchedule *out, WlInfo *info, char *err,
                  size_t err_len) {
    Workload wl;
    memset(&wl, 0, sizeof wl);
    int rc = wl_load(&wl, path, err, err_len);
    if (rc) return rc;
    if (!(w->duration_s > 0) || !(w->rate_scale > 0) || !(w->start_s < 86400)) {
        rc = err_set(err, err_len, ERR_ARG, "window: duration and rate scale must be positive, start within the day");
        goto fail;
    }
    if (wl.cls == WL_EMBEDDING) {
        rc = err_set(err, err_len, ERR_UNSUPP, "%s: class embedding has no generated tokens to stream; "
                     "bench measures chat and completion endpoints", path);
        goto fail;
    }
    *info = (WlInfo){.mean_rate_rps = wl.rate_per_s * w->rate_scale, .slo_ttft_p95_ms = wl.slo_ttft_p95_ms,
                     .slo_tpot_p95_ms = wl.slo_tpot_p95_ms, .slo_e2e_p95_ms = wl.slo_e2e_p95_ms,
                     .slo_e2e_p99_ms = wl.slo_e2e_p99_ms};
    snprintf(info->name, sizeof info->name, "%s", wl.name);
    double start_s = w->start_s;
    if (start_s < 0) {  // the busiest minute of the profile
        int best = 0;
        for (int i = 1; i < WL_PROFILE_BINS; i++)
            if (wl.profile[i] > wl.profile[best]) best = i;
        start_s = best * 60.0;
    }
    info->start_s = start_s;
    WlArrivals a;
    wl_arrivals_init(&a, &wl, w->rate_scale, 0);
    // A renewal process in operational time restarts exactly at any instant only when memoryless;
    // otherwise (gamma, trace, batch) walk the arrivals up to the window's start.
    bool memoryless = wl.process != ARR_TRACE && wl.cls != WL_BATCH && a.cv == 1.0;
    if (memoryless) a.t_s = start_s;
    double end_s = start_s + w->duration_s;
    int64_t skipped = 0;
    for (;;) {
        WlRequest r = wl_next(&wl, &a, rng);
        if (r.t_s >= end_s) break;
        if (r.t_s < start_s) {
            if (++skipped > 100000000) {
                rc = err_set(err, err_len, ERR_RANGE, "%s: more than 1e8 arrivals before the window", path);
                goto fail;
            }
            continue;
        }
        if (out->n >= w->max_arrivals) {
            rc = err_set(err, err_len, ERR_RANGE, "%s: more than %lld arrivals in the %.0f s window; "
                         "shorten --duration or lower --rate-scale", path, (long long)w->max_arrivals, w->duration_s);
            goto fail;
        }
        int32_t in = r.in_tokens > 0 ? r.in_tokens : 1, outk = r.out_tokens > 0 ? r.out_tokens : 1;
        rc = arrivals_add(out, (int64_t)llround((r.t_s - start_s) * 1e6), in, outk);
        if (rc) goto fail;
    }
    if (out->n == 0) {
        rc = err_set(err, err_len, ERR_RANGE, "%s: no arrival falls in the %.0f s window at the workload's "
                     "rate (%.4f req/s); lengthen --duration or raise --rate-scale", path, w->duration_s,
                     info->mean_rate_rps);
        goto fail;
    }
    rc = 0;
fail:
    wl_free(&wl);
    return rc;
}
