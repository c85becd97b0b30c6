// kv_attn.c — plain-C attention inner loops and the run-time choice of kernel set.
#include "engine/kv_attn.h"

#include <stdlib.h>
#include <string.h>

#include "base/check.h"

static float dot_f32(const float *q, const void *k, int64_t n) {
    const float *kf = k;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += q[i] * kf[i];
    return acc;
}

static void axpy_f32(float *out, float a, const void *v, int64_t n) {
    const float *vf = v;
    for (int64_t i = 0; i < n; i++) out[i] += a * vf[i];
}

static float dot_f16(const float *q, const void *k, int64_t n) {
    const uint16_t *kh = k;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += q[i] * quant_f16_to_f32(kh[i]);
    return acc;
}

static void axpy_f16(float *out, float a, const void *v, int64_t n) {
    const uint16_t *vh = v;
    for (int64_t i = 0; i < n; i++) out[i] += a * quant_f16_to_f32(vh[i]);
}

static const KvAttnKernels REF_F32 = {dot_f32, axpy_f32};
static const KvAttnKernels REF_F16 = {dot_f16, axpy_f16};

const KvAttnKernels *kv_attn_kernels_ref(QuantType t) {
    CHECK(t == QT_F32 || t == QT_F16);
    return t == QT_F32 ? &REF_F32 : &REF_F16;
}

static bool use_avx2(void) {
#if defined(__x86_64__)
    const char *force = getenv("RIGHTSIZE_KERNELS");
    if (force && strcmp(force, "ref") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

const KvAttnKernels *kv_attn_kernels(QuantType t) {
    return use_avx2() ? kv_attn_kernels_avx2(t) : kv_attn_kernels_ref(t);
}
