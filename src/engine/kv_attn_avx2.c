// kv_attn_avx2.c — AVX2/FMA/F16C attention inner loops (same results as kv_attn.c up to float
// summation order). Compiled with -mavx2 -mfma -mf16c; called only after a CPU feature check.
#include "engine/kv_attn.h"

#include <immintrin.h>

#include "base/check.h"

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float dot_f32(const float *q, const void *k, int64_t n) {
    const float *kf = k;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kf + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(kf + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kf + i), a0);
    float acc = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += q[i] * kf[i];
    return acc;
}

static void axpy_f32(float *out, float a, const void *v, int64_t n) {
    const float *vf = v;
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(vf + i), _mm256_loadu_ps(out + i)));
    for (; i < n; i++) out[i] += a * vf[i];
}

static __m256 load_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static float dot_f16(const float *q, const void *k, int64_t n) {
    const uint16_t *kh = k;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(kh + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_f16(kh + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(kh + i), a0);
    float acc = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += q[i] * _cvtsh_ss(kh[i]);
    return acc;
}

static void axpy_f16(float *out, float a, const void *v, int64_t n) {
    const uint16_t *vh = v;
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(va, load_f16(vh + i), _mm256_loadu_ps(out + i)));
    for (; i < n; i++) out[i] += a * _cvtsh_ss(vh[i]);
}

static const KvAttnKernels AVX2_F32 = {dot_f32, axpy_f32};
static const KvAttnKernels AVX2_F16 = {dot_f16, axpy_f16};

const KvAttnKernels *kv_attn_kernels_avx2(QuantType t) {
    CHECK(t == QT_F32 || t == QT_F16);
    return t == QT_F32 ? &AVX2_F32 : &AVX2_F16;
}
