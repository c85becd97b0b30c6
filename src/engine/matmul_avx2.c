// matmul_avx2.c — AVX2/FMA/F16C kernels for mm_matmul (same contracts as the `_ref` set in
// matmul.c; this file alone is compiled with -mavx2 -mfma -mf16c and is only called when the CPU
// has all three).
//
// Register tiling: up to MM_TILE activation rows share one load (and, for quantized weights,
// one unpack and one |w|) of each weight block, with one accumulator per row. The quantized
// kernels live in matmul_q_avx2.inc, shared with the AVX-VNNI set (matmul_vnni_avx2.c), and
// Q8_0/Q4_0 from the packed X16 layout in matmul_x16_avx2.inc.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "base/check.h"
#include "engine/matmul_kernels.h"

#define MM_TILE 4
// Software prefetch of the weight stream this many bytes ahead, into L2. Without it one thread
// reached about half the machine's read bandwidth on Q8_0 decode (the loads of a row are not
// issued early enough for the hardware prefetcher); 2-8 KiB ahead measured best.
#ifndef MM_PREFETCH_BYTES
#define MM_PREFETCH_BYTES 4096
#endif
#ifndef MM_PREFETCH_HINT
#define MM_PREFETCH_HINT _MM_HINT_T1
#endif
// A one-row tile (decode) of the packed products prefetches as mm_stream_pf says, as the VNNI
// set does (MM_PF in matmul_x16_avx2.inc): on a Zen 5 EPYC, whose cores get this set under
// RIGHTSIZE_KERNELS=avxvnni, 8 KiB ahead into L1 took the one-row Q4_K product from 34 to 40-43
// GMAC/s and Q6_K's from 18 to 24 (scripts/matmul_bench.c, n=1); Q4_0/Q8_0's one-row tile
// (x8_one) keeps a far one.
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// ---- quantized weights × Q8_0 activations ----

#define MM_Q_VNNI 0
#include "engine/matmul_q_avx2.inc"
#include "engine/matmul_k_avx2.inc"
#include "engine/matmul_x16_avx2.inc"


void mm_rows_q8_0_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q8_0(a, r0, r1); }
void mm_rows_q4_0_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q4_0(a, r0, r1); }
void mm_rows_q4_1_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q4_1(a, r0, r1); }
void mm_rows_q5_0_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q5_0(a, r0, r1); }
void mm_rows_q5_1_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q5_1(a, r0, r1); }
void mm_rows_iq4_nl_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_iq4_nl(a, r0, r1); }
void mm_rows_q2_k_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q2_k(a, r0, r1); }
void mm_rows_q3_k_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q3_k(a, r0, r1); }
void mm_rows_q4_k_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q4_k(a, r0, r1); }
void mm_rows_q5_k_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q5_k(a, r0, r1); }
void mm_rows_q6_k_avx2(const MmArgs *a, int64_t r0, int64_t r1) { rows_q6_k(a, r0, r1); }


// ---- float weights × float activations ----

enum { WF_F32, WF_F16, WF_BF16 };

static ALWAYS_INLINE __m256 load_w8(const uint8_t *row, int64_t c, int wt) {
    switch (wt) {
    case WF_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
    case WF_BF16: {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
    default: return _mm256_loadu_ps((const float *)row + c);
    }
}

static ALWAYS_INLINE float load_w1(const uint8_t *row, int64_t c, int wt) {
    switch (wt) {
    case WF_F16: return _cvtsh_ss(((const uint16_t *)row)[c]);
    case WF_BF16: return quant_bf16_to_f32(((const uint16_t *)row)[c]);
    default: return ((const float *)row)[c];
    }
}

static ALWAYS_INLINE void f_tile(const MmArgs *a, int64_t r, int64_t i0, int nr, int wt) {
    int64_t cols = a->cols;
    const uint8_t *row = a->w + (size_t)r * a->row_bytes;
    const float *x = (const float *)a->x + i0 * cols;
    __m256 acc[MM_TILE], acc2[MM_TILE];
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) acc[k] = acc2[k] = _mm256_setzero_ps();
    int64_t c = 0;
    // Two accumulators per row: with few rows the FMA latency would otherwise bound the loop.
    size_t es = wt == WF_F32 ? 4 : 2;
    for (; c + 16 <= cols; c += 16) {
        _mm_prefetch((const char *)row + (size_t)c * es + MM_PREFETCH_BYTES, MM_PREFETCH_HINT);
        if (wt == WF_F32) _mm_prefetch((const char *)row + (size_t)c * es + MM_PREFETCH_BYTES + 32, MM_PREFETCH_HINT);
        __m256 w0 = load_w8(row, c, wt), w1 = load_w8(row, c + 8, wt);
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) {
            acc[k] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + k * cols + c), acc[k]);
            acc2[k] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + k * cols + c + 8), acc2[k]);
        }
    }
    for (; c + 8 <= cols; c += 8) {
        __m256 w0 = load_w8(row, c, wt);
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) acc[k] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + k * cols + c), acc[k]);
    }
    float tail[MM_TILE] = {0};
    for (; c < cols; c++) {
        float wc = load_w1(row, c, wt);
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) tail[k] += wc * x[k * cols + c];
    }
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) a->y[(i0 + k) * a->ldy + r] = hsum_ps(_mm256_add_ps(acc[k], acc2[k])) + tail[k];
}

static ALWAYS_INLINE void f_rows(const MmArgs *a, int64_t r0, int64_t r1, int wt) {
    int64_t i = 0;
    for (; i + MM_TILE <= a->n; i += MM_TILE)
        for (int64_t r = r0; r < r1; r++) f_tile(a, r, i, MM_TILE, wt);
    switch (a->n - i) {
    case 3: for (int64_t r = r0; r < r1; r++) f_tile(a, r, i, 3, wt); break;
    case 2: for (int64_t r = r0; r < r1; r++) f_tile(a, r, i, 2, wt); break;
    case 1: for (int64_t r = r0; r < r1; r++) f_tile(a, r, i, 1, wt); break;
    default: break;
    }
}

void mm_rows_f32_avx2(const MmArgs *a, int64_t r0, int64_t r1) { f_rows(a, r0, r1, WF_F32); }
void mm_rows_f16_avx2(const MmArgs *a, int64_t r0, int64_t r1) { f_rows(a, r0, r1, WF_F16); }
void mm_rows_bf16_avx2(const MmArgs *a, int64_t r0, int64_t r1) { f_rows(a, r0, r1, WF_BF16); }

// ---- activations to Q8_0, bit-exact with quant_quantize_row ----

// roundf (half away from zero) of integral-range floats: trunc, then step away where |frac| >= 0.5.
static ALWAYS_INLINE __m256 round_half_away(__m256 v) {
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
    __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                _mm256_or_ps(sign, _mm256_set1_ps(1.0f)));
    return _mm256_add_ps(t, step);
}

void mm_quantize_q8_0_avx2(const float *x, BlockQ8_0 *y, int32_t *nsums, float *scales, int64_t cols) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < cols / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        // maxps returns its second operand when either is NaN: with the running maximum second, a
        // NaN activation is skipped, as fmaxf skips it in the reference.
        __m256 m = _mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_setzero_ps());
        m = _mm256_max_ps(_mm256_and_ps(v1, abs_mask), m);
        m = _mm256_max_ps(_mm256_and_ps(v2, abs_mask), m);
        m = _mm256_max_ps(_mm256_and_ps(v3, abs_mask), m);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        scales[b] = _cvtsh_ss(y[b].d);
        __m256 s = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v0, s)));
        __m256i i1 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v1, s)));
        __m256i i2 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v2, s)));
        __m256i i3 = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v3, s)));
        // packs work per 128-bit lane; the permute restores element order
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, p);
        // The code sum is taken from the stored (saturated) codes, not from the int32 conversions:
        // a non-finite activation converts to INT32_MIN, whose sum would overflow (and be wrong).
        __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
        __m128i s2 = _mm_add_epi32(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
        s2 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0x4e));
        s2 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1));
        nsums[b] = -_mm_cvtsi128_si32(s2);
    }
}

// ---- activations to Q8_K, bit-exact with quant_quantize_row ----

// 8 int32 -> 8 int8 codes are not needed here: 32 codes at a time from 4 vectors of 8 floats.
static ALWAYS_INLINE __m256i codes32(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 s) {
    // cvtps rounds to nearest even (the reference's nearbyintf); NaN gives INT32_MIN -> -128
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, s)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, s));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, s)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, s));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void mm_quantize_q8_k_avx2(const float *x, BlockQ8K *y, int64_t cols) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < cols / QK_K; b++) {
        const float *xb = x + b * QK_K;
        __m256 m = _mm256_setzero_ps();  // NaN skipped, as in the reference (see mm_quantize_q8_0_avx2)
        for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(xb + j), abs_mask), m);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        if (amax == 0) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        // the signed value of the first element of largest magnitude, as the reference picks it
        float max = 0;
        __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < QK_K; j += 8) {
            int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(xb + j), abs_mask), va, _CMP_EQ_OQ));
            if (hit) {
                max = xb[j + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        float iscale = -127.0f / max;
        __m256 s = _mm256_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i p = codes32(_mm256_loadu_ps(xb + j), _mm256_loadu_ps(xb + j + 8), _mm256_loadu_ps(xb + j + 16),
                                _mm256_loadu_ps(xb + j + 24), s);
            _mm256_storeu_si256((__m256i *)(y[b].qs + j), p);
            // sums of the two groups of 16: pairs, then fours, then within each 128-bit lane
            __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
            s32 = _mm256_hadd_epi32(s32, s32);
            s32 = _mm256_hadd_epi32(s32, s32);
            y[b].bsums[j / 16] = (int16_t)_mm256_extract_epi32(s32, 0);
            y[b].bsums[j / 16 + 1] = (int16_t)_mm256_extract_epi32(s32, 4);
        }
        y[b].d = 1.0f / iscale;
    }
}

#define MM_SET_VAR MM_KERNELS_AVX2
#define MM_SET_NAME "avx2"
#include "engine/matmul_set_avx2.inc"

#endif
