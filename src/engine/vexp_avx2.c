// vexp_avx2.c — AVX2/FMA softmax passes (contracts in vexp.h). This file alone is compiled with
// -mavx2 -mfma -mf16c and is only called when the CPU has AVX2 and FMA.
//
// exp(t), t = (x - shift) · scale, 8 lanes at a time (the Cephes expf method):
//   1. clamp t to [-104, 89]; NaN (and so a masked -inf, whatever the scale) goes to -104.
//      exp(-104) = 0.97·2^-150 rounds to exactly 0; exp(89) overflows to +inf.
//   2. n = round(t·log2 e), r = t - n·ln2 with ln2 split Cody-Waite style into C1 = 0.693359375
//      (9 significant bits, so n·C1 is exact for |n| <= 2^15 and t - n·C1 is exact) and
//      C2 = ln2 - C1 to float precision (its error, under 1.3e-11·|n| <= 2e-9, is 0.02 ulp).
//      |r| <= ln2/2 (a hair more when t·log2 e rounds the other way, harmless).
//   3. e^r = 1 + r + r²·P(r), P the Cephes degree-5 minimax polynomial (relative error about
//      1e-7 on |r| <= ln2/2), evaluated by Horner with FMA.
//   4. scale by 2^n as (e^r · 2^n1) · 2^n2 with n1 = floor(n/2), n2 = n - n1: n is in [-150, 128]
//      so both halves are normal powers of two, the first product is exact, and the one rounding
//      of the second lands a subnormal result correctly (a single 2^n could not be built for
//      n < -126) and sends n = 128 with e^r >= 1 to +inf.
// Measured against float64 exp over a dense sweep (tests/test_sampler.c): 1.23 ulp at worst over
// normal results, 0.77·2^-149 over subnormal ones.
//
// The sum: each lane's float exponential is widened to double and added into four double
// accumulators, so the result carries only double rounding — at most (n-1)·2^-53 relative to the
// sum of non-negative terms (3.6e-12 for a 32000-token vocabulary), far below the float error of
// the terms themselves; it differs from the sequential sum of vexp_kernels_ref() by about that.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>

#include "base/check.h"
#include "engine/vexp.h"

static inline __m256 exp8(__m256 t) {
    t = _mm256_max_ps(t, _mm256_set1_ps(-104.0f));  // second operand when t is NaN
    t = _mm256_min_ps(t, _mm256_set1_ps(89.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

static inline __m256d add_lo(__m256d acc, __m256 e) {
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
}
static inline __m256d add_hi(__m256d acc, __m256 e) {
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

static double exp_sum_avx2(const float *x, int64_t n, float shift, float scale, float *out) {
    const __m256 sh = _mm256_set1_ps(shift), sc = _mm256_set1_ps(scale);
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16) {
        // x = -inf or NaN gives 0 whatever the sign of scale (exp8 alone maps them to 0 only
        // when t comes out NaN or -inf)
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256 e0 = _mm256_and_ps(exp8(_mm256_mul_ps(_mm256_sub_ps(v0, sh), sc)), _mm256_cmp_ps(v0, ninf, _CMP_GT_OQ));
        __m256 e1 = _mm256_and_ps(exp8(_mm256_mul_ps(_mm256_sub_ps(v1, sh), sc)), _mm256_cmp_ps(v1, ninf, _CMP_GT_OQ));
        _mm256_storeu_ps(out + i, e0);
        _mm256_storeu_ps(out + i + 8, e1);
        a0 = add_lo(a0, e0), a1 = add_hi(a1, e0), a2 = add_lo(a2, e1), a3 = add_hi(a3, e1);
    }
    for (; i < n; i += 8) {  // the last 1..15: one or two masked vectors
        int64_t left = n - i;
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left < 8 ? (int)left : 8),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 v = _mm256_maskload_ps(x + i, mask);
        __m256 e = _mm256_and_ps(exp8(_mm256_mul_ps(_mm256_sub_ps(v, sh), sc)),
                                 _mm256_and_ps(_mm256_castsi256_ps(mask), _mm256_cmp_ps(v, ninf, _CMP_GT_OQ)));
        _mm256_maskstore_ps(out + i, mask, e);
        a0 = add_lo(a0, e), a1 = add_hi(a1, e);
    }
    __m256d s = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

static float max_avx2(const float *x, int64_t n, int64_t *first) {
    // Pass 1: the value, four independent chains. max_ps returns its second operand when the
    // first is NaN, so NaN lanes keep the running maximum.
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
        m2 = _mm256_max_ps(_mm256_loadu_ps(x + i + 16), m2);
        m3 = _mm256_max_ps(_mm256_loadu_ps(x + i + 24), m3);
    }
    for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
    __m256 m = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float best = _mm_cvtss_f32(h);
    for (; i < n; i++)
        if (x[i] > best) best = x[i];
    if (!first) return best;
    // Pass 2: the first index holding it, stopping there.
    *first = -1;
    if (!(best > -INFINITY)) return best;
    const __m256 b = _mm256_set1_ps(best);
    for (i = 0; i + 8 <= n; i += 8) {
        int bits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), b, _CMP_EQ_OQ));
        if (bits) {
            *first = i + __builtin_ctz((unsigned)bits);
            return best;
        }
    }
    for (; i < n; i++)
        if (x[i] == best) {
            *first = i;
            break;
        }
    CHECK(*first >= 0);
    return best;
}

static int64_t above_avx2(const float *x, int64_t n, float bar) {
    const __m256 b = _mm256_set1_ps(bar);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {  // four vectors per test: a hit is rare once the bar is high
        __m256 c0 = _mm256_cmp_ps(_mm256_loadu_ps(x + i), b, _CMP_GT_OQ);
        __m256 c1 = _mm256_cmp_ps(_mm256_loadu_ps(x + i + 8), b, _CMP_GT_OQ);
        __m256 c2 = _mm256_cmp_ps(_mm256_loadu_ps(x + i + 16), b, _CMP_GT_OQ);
        __m256 c3 = _mm256_cmp_ps(_mm256_loadu_ps(x + i + 24), b, _CMP_GT_OQ);
        if (!_mm256_testz_ps(_mm256_or_ps(_mm256_or_ps(c0, c1), _mm256_or_ps(c2, c3)),
                             _mm256_castsi256_ps(_mm256_set1_epi32(-1))))
            break;
    }
    for (; i + 8 <= n; i += 8) {
        int bits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), b, _CMP_GT_OQ));
        if (bits) return i + __builtin_ctz((unsigned)bits);
    }
    while (i < n && !(x[i] > bar)) i++;
    return i;
}

static const VexpKernels VEXP_AVX2 = {
    .max = max_avx2, .exp_sum = exp_sum_avx2, .above = above_avx2, .name = "avx2"};

const VexpKernels *vexp_kernels_avx2(void) { return &VEXP_AVX2; }

#else

#include "engine/vexp.h"

const VexpKernels *vexp_kernels_avx2(void) { return 0; }

#endif
