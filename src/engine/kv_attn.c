// kv_attn.c — plain-C attention inner loops and the run-time choice of kernel set.
#include "engine/kv_attn.h"

#include "base/cpu.h"

#include <stdlib.h>
#include <string.h>

#include "base/check.h"

static float elem(QuantType t, const void *row, int64_t i) {
    return t == QT_F32 ? ((const float *)row)[i] : quant_f16_to_f32(((const uint16_t *)row)[i]);
}

static void dots_t(QuantType t, const float *q, int64_t n_q, const void *k, int64_t n_k, size_t stride, int64_t n,
                   float *out, int64_t out_stride) {
    for (int64_t r = 0; r < n_k; r++) {
        const void *row = (const uint8_t *)k + (size_t)r * stride;
        for (int64_t g = 0; g < n_q; g++) {
            float acc = 0;
            for (int64_t i = 0; i < n; i++) acc += q[g * n + i] * elem(t, row, i);
            out[g * out_stride + r] = acc;
        }
    }
}

static void axpys_t(QuantType t, float *out, int64_t n_q, const float *a, int64_t a_stride, const void *v,
                    int64_t n_k, size_t stride, int64_t n) {
    for (int64_t r = 0; r < n_k; r++) {
        const void *row = (const uint8_t *)v + (size_t)r * stride;
        for (int64_t g = 0; g < n_q; g++)
            for (int64_t i = 0; i < n; i++) out[g * n + i] += a[g * a_stride + r] * elem(t, row, i);
    }
}

static void dots_f32(const float *q, int64_t n_q, const void *k, int64_t n_k, size_t st, int64_t n, float *out,
                     int64_t s) {
    dots_t(QT_F32, q, n_q, k, n_k, st, n, out, s);
}
static void dots_f16(const float *q, int64_t n_q, const void *k, int64_t n_k, size_t st, int64_t n, float *out,
                     int64_t s) {
    dots_t(QT_F16, q, n_q, k, n_k, st, n, out, s);
}
static void axpys_f32(float *out, int64_t n_q, const float *a, int64_t s, const void *v, int64_t n_k, size_t st,
                      int64_t n) {
    axpys_t(QT_F32, out, n_q, a, s, v, n_k, st, n);
}
static void axpys_f16(float *out, int64_t n_q, const float *a, int64_t s, const void *v, int64_t n_k, size_t st,
                      int64_t n) {
    axpys_t(QT_F16, out, n_q, a, s, v, n_k, st, n);
}

static void store_f32(void *dst, const float *src, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

static void store_f16(void *dst, const float *src, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = quant_f32_to_f16(src[i]);
}

static const KvAttnKernels REF_F32 = {dots_f32, axpys_f32, store_f32};
static const KvAttnKernels REF_F16 = {dots_f16, axpys_f16, store_f16};

const KvAttnKernels *kv_attn_kernels_ref(QuantType t) {
    CHECK(t == QT_F32 || t == QT_F16);
    return t == QT_F32 ? &REF_F32 : &REF_F16;
}

static bool use_avx2(void) {
#if defined(__x86_64__)
    const char *force = getenv("RIGHTSIZE_KERNELS");
    if (force && strcmp(force, "ref") == 0) return false;
    CpuFeatures f = cpu_features();  // the AVX2 file converts F16 with F16C, so all three
    return f.avx2 && f.fma && f.f16c;
#else
    return false;
#endif
}

const KvAttnKernels *kv_attn_kernels(QuantType t) {
    return use_avx2() ? kv_attn_kernels_avx2(t) : kv_attn_kernels_ref(t);
}
