// vexp.c — the plain-C softmax passes (the truth: libm expf) and the run-time choice of set.
#include "engine/vexp.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"

static float max_ref(const float *x, int64_t n, int64_t *first) {
    float m = -INFINITY;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i], at = i;  // NaN compares false: never taken
    if (first) *first = at;
    return m;
}

static double exp_sum_ref(const float *x, int64_t n, float shift, float scale, float *out) {
    double z = 0;
    for (int64_t i = 0; i < n; i++) {
        float e = x[i] > -INFINITY ? expf((x[i] - shift) * scale) : 0.0f;
        out[i] = e;
        z += e;
    }
    return z;
}

static int64_t above_ref(const float *x, int64_t n, float bar) {
    int64_t i = 0;
    while (i < n && !(x[i] > bar)) i++;
    return i;
}

static const VexpKernels VEXP_REF = {
    .max = max_ref, .exp_sum = exp_sum_ref, .above = above_ref, .name = "ref"};

const VexpKernels *vexp_kernels_ref(void) { return &VEXP_REF; }

static const VexpKernels *g_kernels = &VEXP_REF;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    const char *force = getenv("RIGHTSIZE_KERNELS");
    if (force && strcmp(force, "ref") == 0) return;
    CpuFeatures f = cpu_features();
    const VexpKernels *avx2 = vexp_kernels_avx2();
    if (f.avx2 && f.fma && avx2) g_kernels = avx2;
}

const VexpKernels *vexp_kernels(void) {
    pthread_once(&g_once, choose);
    return g_kernels;
}
