// kv_attn_avx512.c — AVX-512 attention inner loops (contracts in kv_attn.h; results equal the
// plain-C ones up to float summation order). Compiled with the AVX-512 flags and called only when
// the CPU has AVX-512 F; rows whose length is not a multiple of 16 go to the AVX2 set.
//
// At long prompts attention outweighs the matrix products (1000-token prefill on the 110m shape:
// ~40% of the time against ~25%), so its loops are widened to 16 lanes. Measured: that prefill
// 3-5% faster than with the AVX2 loops — the F16 convert (two uops per 16 values) and the per-call
// work bound them, not FMA width; sharing each K/V tile across a prefill chunk's query rows is the
// larger step still open. dots take four stored rows
// per query head at a time (their four sums reduced together), or, with four or more heads per KV
// head, one row for four heads; axpys hold a head's output row (up to 128 floats) in registers
// while the tile's rows pass, alternate rows into two sets of accumulators.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "base/check.h"
#include "engine/kv_attn.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl"))), apply_to = function)
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE __m512 load_f32(const void *p, int64_t i) { return _mm512_loadu_ps((const float *)p + i); }
static ALWAYS_INLINE __m512 load_f16(const void *p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
}

// Lanes 0-7 plus lanes 8-15 (AVX-512 F only: the 256-bit halves taken as doubles).
static ALWAYS_INLINE __m256 fold(__m512 a) {
    return _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}

// The four sums of a0..a3, in order.
static ALWAYS_INLINE __m128 hsum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    __m256 b0 = fold(a0), b1 = fold(a1), b2 = fold(a2), b3 = fold(a3);
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(b0, b1), _mm256_hadd_ps(b2, b3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

#define DEFINE_DOTS(NAME, LOAD, FALLBACK)                                                          \
    static void NAME(const float *q, int64_t n_q, const void *k, int64_t n_k, size_t stride, int64_t n, \
                     float *out, int64_t out_stride) {                                              \
        if (n % 16) {                                                                               \
            FALLBACK->dots(q, n_q, k, n_k, stride, n, out, out_stride);                             \
            return;                                                                                 \
        }                                                                                           \
        const uint8_t *kb = k;                                                                      \
        if (n_q >= 4) {                                                                             \
            for (int64_t r = 0; r < n_k; r++) {                                                     \
                const void *row = kb + (size_t)r * stride;                                          \
                for (int64_t g0 = 0; g0 < n_q; g0 += 4) {                                           \
                    const float *q0 = q + g0 * n;                                                   \
                    const float *q1 = q + (g0 + 1 < n_q ? g0 + 1 : g0) * n;                         \
                    const float *q2 = q + (g0 + 2 < n_q ? g0 + 2 : g0) * n;                         \
                    const float *q3 = q + (g0 + 3 < n_q ? g0 + 3 : g0) * n;                         \
                    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                     \
                    for (int64_t i = 0; i < n; i += 16) {                                           \
                        __m512 kv = LOAD(row, i);                                                   \
                        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q0 + i), kv, a0);                      \
                        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q1 + i), kv, a1);                      \
                        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(q2 + i), kv, a2);                      \
                        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(q3 + i), kv, a3);                      \
                    }                                                                               \
                    float s[4];                                                                     \
                    _mm_storeu_ps(s, hsum4(a0, a1, a2, a3));                                        \
                    for (int64_t g = g0; g < n_q && g < g0 + 4; g++) out[g * out_stride + r] = s[g - g0]; \
                }                                                                                   \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t g = 0; g < n_q; g++) {                                                         \
            const float *qg = q + g * n;                                                            \
            float *og = out + g * out_stride;                                                       \
            int64_t r = 0;                                                                          \
            for (; r + 4 <= n_k; r += 4) {                                                          \
                const void *k0 = kb + (size_t)r * stride, *k1 = kb + (size_t)(r + 1) * stride;      \
                const void *k2 = kb + (size_t)(r + 2) * stride, *k3 = kb + (size_t)(r + 3) * stride; \
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                         \
                for (int64_t i = 0; i < n; i += 16) {                                               \
                    __m512 qv = _mm512_loadu_ps(qg + i);                                            \
                    a0 = _mm512_fmadd_ps(qv, LOAD(k0, i), a0);                                      \
                    a1 = _mm512_fmadd_ps(qv, LOAD(k1, i), a1);                                      \
                    a2 = _mm512_fmadd_ps(qv, LOAD(k2, i), a2);                                      \
                    a3 = _mm512_fmadd_ps(qv, LOAD(k3, i), a3);                                      \
                }                                                                                   \
                _mm_storeu_ps(og + r, hsum4(a0, a1, a2, a3));                                       \
            }                                                                                       \
            for (; r < n_k; r++) {                                                                  \
                const void *row = kb + (size_t)r * stride;                                          \
                __m512 a0 = _mm512_setzero_ps();                                                    \
                for (int64_t i = 0; i < n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(qg + i), LOAD(row, i), a0); \
                og[r] = _mm512_reduce_add_ps(a0);                                                   \
            }                                                                                       \
        }                                                                                           \
    }

// out[i .. i + 16m) += sum_r ag[r] * v_r[i .. i + 16m): the output chunk in m registers per key
// parity (two chains per register, so the FMA latency does not bound the pass), m a constant.
static ALWAYS_INLINE void axpy_chunk(float *o, const float *ag, const uint8_t *vb, size_t stride, int64_t n_k,
                                     int64_t i, int m, int f16) {
    __m512 acc0[8], acc1[8];
#pragma GCC unroll 8
    for (int j = 0; j < m; j++) acc0[j] = _mm512_loadu_ps(o + i + 16 * j), acc1[j] = _mm512_setzero_ps();
    int64_t r = 0;
    for (; r + 2 <= n_k; r += 2) {
        __m512 c0 = _mm512_set1_ps(ag[r]), c1 = _mm512_set1_ps(ag[r + 1]);
        const void *row0 = vb + (size_t)r * stride, *row1 = vb + (size_t)(r + 1) * stride;
#pragma GCC unroll 8
        for (int j = 0; j < m; j++) {
            acc0[j] = _mm512_fmadd_ps(c0, f16 ? load_f16(row0, i + 16 * j) : load_f32(row0, i + 16 * j), acc0[j]);
            acc1[j] = _mm512_fmadd_ps(c1, f16 ? load_f16(row1, i + 16 * j) : load_f32(row1, i + 16 * j), acc1[j]);
        }
    }
    if (r < n_k) {
        __m512 c0 = _mm512_set1_ps(ag[r]);
        const void *row0 = vb + (size_t)r * stride;
#pragma GCC unroll 8
        for (int j = 0; j < m; j++)
            acc0[j] = _mm512_fmadd_ps(c0, f16 ? load_f16(row0, i + 16 * j) : load_f32(row0, i + 16 * j), acc0[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < m; j++) _mm512_storeu_ps(o + i + 16 * j, _mm512_add_ps(acc0[j], acc1[j]));
}

static ALWAYS_INLINE void axpys_x(float *out, int64_t n_q, const float *a, int64_t a_stride, const void *v,
                                  int64_t n_k, size_t stride, int64_t n, int f16) {
    for (int64_t g = 0; g < n_q; g++) {
        float *o = out + g * n;
        const float *ag = a + g * a_stride;
        for (int64_t i = 0; i < n; i += 128) {
            switch ((n - i) / 16 < 8 ? (n - i) / 16 : 8) {
            case 1: axpy_chunk(o, ag, v, stride, n_k, i, 1, f16); break;
            case 2: axpy_chunk(o, ag, v, stride, n_k, i, 2, f16); break;
            case 3: axpy_chunk(o, ag, v, stride, n_k, i, 3, f16); break;
            case 4: axpy_chunk(o, ag, v, stride, n_k, i, 4, f16); break;
            case 5: axpy_chunk(o, ag, v, stride, n_k, i, 5, f16); break;
            case 6: axpy_chunk(o, ag, v, stride, n_k, i, 6, f16); break;
            case 7: axpy_chunk(o, ag, v, stride, n_k, i, 7, f16); break;
            default: axpy_chunk(o, ag, v, stride, n_k, i, 8, f16); break;
            }
        }
    }
}

#define DEFINE_AXPYS(NAME, F16, FALLBACK)                                                          \
    static void NAME(float *out, int64_t n_q, const float *a, int64_t a_stride, const void *v,      \
                     int64_t n_k, size_t stride, int64_t n) {                                       \
        if (n % 16) FALLBACK->axpys(out, n_q, a, a_stride, v, n_k, stride, n);                     \
        else axpys_x(out, n_q, a, a_stride, v, n_k, stride, n, F16);                                \
    }

#define AVX2_F32 (kv_attn_kernels_avx2(QT_F32))
#define AVX2_F16 (kv_attn_kernels_avx2(QT_F16))
DEFINE_DOTS(dots_f32, load_f32, AVX2_F32)
DEFINE_DOTS(dots_f16, load_f16, AVX2_F16)
DEFINE_AXPYS(axpys_f32, 0, AVX2_F32)
DEFINE_AXPYS(axpys_f16, 1, AVX2_F16)

static void store_f32(void *dst, const float *src, int64_t n) { kv_attn_kernels_avx2(QT_F32)->store(dst, src, n); }
static void store_f16(void *dst, const float *src, int64_t n) { kv_attn_kernels_avx2(QT_F16)->store(dst, src, n); }

#if defined(__clang__)
#pragma clang attribute pop
#endif

static const KvAttnKernels AVX512_F32 = {dots_f32, axpys_f32, store_f32};
static const KvAttnKernels AVX512_F16 = {dots_f16, axpys_f16, store_f16};

const KvAttnKernels *kv_attn_kernels_avx512(QuantType t) {
    CHECK(t == QT_F32 || t == QT_F16);
    return t == QT_F32 ? &AVX512_F32 : &AVX512_F16;
}

#endif
