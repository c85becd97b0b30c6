// kv_attn_avx2.c — AVX2/FMA/F16C attention inner loops (same results as kv_attn.c up to float
// summation order). Compiled with -mavx2 -mfma -mf16c; called only after a CPU feature check.
#include "engine/kv_attn.h"

#include <immintrin.h>
#include <string.h>

#include "base/check.h"

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static __m256 load_f32(const void *p, int64_t i) { return _mm256_loadu_ps((const float *)p + i); }
static __m256 load_f16(const void *p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
}
static float elem_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static float elem_f16(const void *p, int64_t i) { return _cvtsh_ss(((const uint16_t *)p)[i]); }

// Four query heads at a time share each loaded (converted) chunk of the stored row; a group of
// fewer than four repeats its last head and drops the extra results.
#define DEFINE_DOTS(NAME, LOAD, ELEM)                                                          \
    static void NAME(const float *q, int64_t n_q, const void *k, int64_t n, float *out,          \
                     int64_t out_stride) {                                                      \
        for (int64_t g0 = 0; g0 < n_q; g0 += 4) {                                               \
            const float *q0 = q + g0 * n;                                                       \
            const float *q1 = q + (g0 + 1 < n_q ? g0 + 1 : g0) * n;                             \
            const float *q2 = q + (g0 + 2 < n_q ? g0 + 2 : g0) * n;                             \
            const float *q3 = q + (g0 + 3 < n_q ? g0 + 3 : g0) * n;                             \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                         \
            int64_t i = 0;                                                                      \
            for (; i + 8 <= n; i += 8) {                                                        \
                __m256 kv = LOAD(k, i);                                                         \
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + i), kv, a0);                          \
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + i), kv, a1);                          \
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + i), kv, a2);                          \
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + i), kv, a3);                          \
            }                                                                                   \
            float r[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};                              \
            for (; i < n; i++) {                                                                \
                float kf = ELEM(k, i);                                                          \
                r[0] += q0[i] * kf, r[1] += q1[i] * kf, r[2] += q2[i] * kf, r[3] += q3[i] * kf; \
            }                                                                                   \
            for (int64_t g = g0; g < n_q && g < g0 + 4; g++) out[g * out_stride] = r[g - g0];   \
        }                                                                                       \
    }

#define DEFINE_AXPYS(NAME, LOAD, ELEM)                                                          \
    static void NAME(float *out, int64_t n_q, const float *a, int64_t a_stride, const void *v,  \
                     int64_t n) {                                                               \
        int64_t i = 0;                                                                          \
        for (; i + 8 <= n; i += 8) {                                                            \
            __m256 vv = LOAD(v, i);                                                             \
            for (int64_t g = 0; g < n_q; g++) {                                                 \
                float *o = out + g * n + i;                                                     \
                _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_set1_ps(a[g * a_stride]), vv,         \
                                                    _mm256_loadu_ps(o)));                       \
            }                                                                                   \
        }                                                                                       \
        for (; i < n; i++) {                                                                    \
            float vf = ELEM(v, i);                                                              \
            for (int64_t g = 0; g < n_q; g++) out[g * n + i] += a[g * a_stride] * vf;           \
        }                                                                                       \
    }

DEFINE_DOTS(dots_f32, load_f32, elem_f32)
DEFINE_DOTS(dots_f16, load_f16, elem_f16)
DEFINE_AXPYS(axpys_f32, load_f32, elem_f32)
DEFINE_AXPYS(axpys_f16, load_f16, elem_f16)

static void store_f32(void *dst, const float *src, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

// Round to nearest even, as quant_f32_to_f16 does.
static void store_f16(void *dst, const float *src, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

static const KvAttnKernels AVX2_F32 = {dots_f32, axpys_f32, store_f32};
static const KvAttnKernels AVX2_F16 = {dots_f16, axpys_f16, store_f16};

const KvAttnKernels *kv_attn_kernels_avx2(QuantType t) {
    CHECK(t == QT_F32 || t == QT_F16);
    return t == QT_F32 ? &AVX2_F32 : &AVX2_F16;
}
