// libFuzzer target: the workload loader (YAML + validation + profile building + token means)
// must turn any bytes into either a valid Workload or a one-line error — never a crash.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "plan/workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_workload_%d.yaml", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    Workload wl;
    char err[512];
    if (wl_load(&wl, path, err, sizeof err) == 0) {
        Rng rng;
        rng_seed(&rng, 1);
        WlArrivals a;
        wl_arrivals_init(&a, &wl, 1.0, 0);
        for (int i = 0; i < 64; i++) wl_next(&wl, &a, &rng);
        wl_token_quantile(&wl.in, 0.95);
        wl_fixed_usd_month(&wl);
        wl_free(&wl);
    }
    return 0;
}
