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

// The four sums of a0..a3, in order, in one register.
static __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// Keys: with 64-wide heads in groups of four (Llama-style GQA), each key row is converted once
// into registers for all the heads and four heads' sums are reduced together. Otherwise, with
// four or more query heads, each key row is loaded (and converted) once for four heads
// (a group of fewer than four repeats its last head and drops the extra results); with fewer heads
// (no GQA) each head takes four key rows at a time, the four sums reduced together.
#define DEFINE_DOTS(NAME, LOAD, ELEM)                                                              \
    static void NAME##_heads4(const float *q, int64_t n_q, const void *k, int64_t n, float *out,     \
                              int64_t out_stride) {                                                 \
        for (int64_t g0 = 0; g0 < n_q; g0 += 4) {                                                   \
            const float *q0 = q + g0 * n;                                                           \
            const float *q1 = q + (g0 + 1 < n_q ? g0 + 1 : g0) * n;                                 \
            const float *q2 = q + (g0 + 2 < n_q ? g0 + 2 : g0) * n;                                 \
            const float *q3 = q + (g0 + 3 < n_q ? g0 + 3 : g0) * n;                                 \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                             \
            int64_t i = 0;                                                                          \
            for (; i + 8 <= n; i += 8) {                                                            \
                __m256 kv = LOAD(k, i);                                                             \
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + i), kv, a0);                              \
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + i), kv, a1);                              \
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + i), kv, a2);                              \
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + i), kv, a3);                              \
            }                                                                                       \
            float r[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};                                  \
            for (; i < n; i++) {                                                                    \
                float kf = ELEM(k, i);                                                              \
                r[0] += q0[i] * kf, r[1] += q1[i] * kf, r[2] += q2[i] * kf, r[3] += q3[i] * kf;     \
            }                                                                                       \
            for (int64_t g = g0; g < n_q && g < g0 + 4; g++) out[g * out_stride] = r[g - g0];       \
        }                                                                                           \
    }                                                                                               \
    static void NAME(const float *q, int64_t n_q, const void *k, int64_t n_k, size_t stride, int64_t n, \
                     float *out, int64_t out_stride) {                                              \
        const uint8_t *kb = k;                                                                      \
        if (n == 64 && n_q % 4 == 0) { /* 64-wide heads in groups of 4: each key converted once */  \
            for (int64_t r = 0; r < n_k; r++) {                                                     \
                const void *kr = kb + (size_t)r * stride;                                           \
                __m256 kv[8];                                                                       \
                _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) kv[i] = LOAD(kr, 8 * i);        \
                for (int64_t g0 = 0; g0 < n_q; g0 += 4) {                                           \
                    const float *q0 = q + g0 * n;                                                   \
                    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                     \
                    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {                           \
                        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + 8 * i), kv[i], a0);               \
                        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + n + 8 * i), kv[i], a1);           \
                        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + 2 * n + 8 * i), kv[i], a2);       \
                        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + 3 * n + 8 * i), kv[i], a3);       \
                    }                                                                               \
                    float s4[4];                                                                    \
                    _mm_storeu_ps(s4, hsum4(a0, a1, a2, a3));                                       \
                    for (int h = 0; h < 4; h++) out[(g0 + h) * out_stride + r] = s4[h];             \
                }                                                                                   \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        if (n_q >= 4 || n % 8) {                                                                    \
            for (int64_t r = 0; r < n_k; r++)                                                       \
                NAME##_heads4(q, n_q, kb + (size_t)r * stride, n, out + r, out_stride);             \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t g = 0; g < n_q; g++) {                                                         \
            const float *qg = q + g * n;                                                            \
            float *og = out + g * out_stride;                                                       \
            int64_t r = 0;                                                                          \
            for (; r + 4 <= n_k; r += 4) {                                                          \
                const void *k0 = kb + (size_t)r * stride, *k1 = kb + (size_t)(r + 1) * stride;      \
                const void *k2 = kb + (size_t)(r + 2) * stride, *k3 = kb + (size_t)(r + 3) * stride; \
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                         \
                for (int64_t i = 0; i < n; i += 8) {                                                \
                    __m256 qv = _mm256_loadu_ps(qg + i);                                            \
                    a0 = _mm256_fmadd_ps(qv, LOAD(k0, i), a0);                                      \
                    a1 = _mm256_fmadd_ps(qv, LOAD(k1, i), a1);                                      \
                    a2 = _mm256_fmadd_ps(qv, LOAD(k2, i), a2);                                      \
                    a3 = _mm256_fmadd_ps(qv, LOAD(k3, i), a3);                                      \
                }                                                                                   \
                _mm_storeu_ps(og + r, hsum4(a0, a1, a2, a3));                                       \
            }                                                                                       \
            for (; r < n_k; r++) NAME##_heads4(qg, 1, kb + (size_t)r * stride, n, og + r, out_stride); \
        }                                                                                           \
    }

// Values: with query heads in groups of four and rows a multiple of 16, 16 output elements of
// four heads are held in registers while the tile's rows pass, each row's 16 values converted once
// for the four. Otherwise, per head, the output row is held in up to eight registers (64 floats)
// while the tile's rows pass, so it is loaded and stored once per tile instead of once per row.
#define DEFINE_AXPYS(NAME, LOAD, ELEM)                                                              \
    static void NAME(float *out, int64_t n_q, const float *a, int64_t a_stride, const void *v,      \
                     int64_t n_k, size_t stride, int64_t n) {                                       \
        const uint8_t *vb = v;                                                                      \
        if (n % 16 == 0 && n_q % 4 == 0) { /* 4 heads x 16 elements: each value converted once */  \
            for (int64_t g0 = 0; g0 < n_q; g0 += 4)                                                 \
                for (int64_t i = 0; i < n; i += 16) {                                               \
                    __m256 acc[4][2];                                                               \
                    _Pragma("GCC unroll 4") for (int h = 0; h < 4; h++) {                           \
                        acc[h][0] = _mm256_loadu_ps(out + (g0 + h) * n + i);                        \
                        acc[h][1] = _mm256_loadu_ps(out + (g0 + h) * n + i + 8);                    \
                    }                                                                               \
                    for (int64_t r = 0; r < n_k; r++) {                                             \
                        const void *row = vb + (size_t)r * stride;                                  \
                        __m256 v0 = LOAD(row, i), v1 = LOAD(row, i + 8);                            \
                        _Pragma("GCC unroll 4") for (int h = 0; h < 4; h++) {                       \
                            __m256 c = _mm256_set1_ps(a[(g0 + h) * a_stride + r]);                  \
                            acc[h][0] = _mm256_fmadd_ps(c, v0, acc[h][0]);                          \
                            acc[h][1] = _mm256_fmadd_ps(c, v1, acc[h][1]);                          \
                        }                                                                           \
                    }                                                                               \
                    _Pragma("GCC unroll 4") for (int h = 0; h < 4; h++) {                           \
                        _mm256_storeu_ps(out + (g0 + h) * n + i, acc[h][0]);                        \
                        _mm256_storeu_ps(out + (g0 + h) * n + i + 8, acc[h][1]);                    \
                    }                                                                               \
                }                                                                                   \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t g = 0; g < n_q; g++) {                                                         \
            float *o = out + g * n;                                                                 \
            const float *ag = a + g * a_stride;                                                     \
            int64_t i = 0;                                                                          \
            for (; i + 64 <= n; i += 64) {                                                          \
                __m256 acc[8];                                                                      \
                _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) acc[j] = _mm256_loadu_ps(o + i + 8 * j); \
                for (int64_t r = 0; r < n_k; r++) {                                                 \
                    __m256 c = _mm256_set1_ps(ag[r]);                                               \
                    const void *row = vb + (size_t)r * stride;                                      \
                    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)                            \
                        acc[j] = _mm256_fmadd_ps(c, LOAD(row, i + 8 * j), acc[j]);                  \
                }                                                                                   \
                _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) _mm256_storeu_ps(o + i + 8 * j, acc[j]); \
            }                                                                                       \
            for (; i + 8 <= n; i += 8) {                                                            \
                __m256 acc = _mm256_loadu_ps(o + i);                                                \
                for (int64_t r = 0; r < n_k; r++)                                                   \
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(ag[r]), LOAD(vb + (size_t)r * stride, i), acc); \
                _mm256_storeu_ps(o + i, acc);                                                       \
            }                                                                                       \
            for (; i < n; i++)                                                                      \
                for (int64_t r = 0; r < n_k; r++) o[i] += ag[r] * ELEM(vb + (size_t)r * stride, i); \
        }                                                                                           \
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
