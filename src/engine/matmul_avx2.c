// matmul_avx2.c — AVX2/FMA/F16C kernels for mm_matmul (same contracts as the `_ref` set in
// matmul.c; this file alone is compiled with -mavx2 -mfma -mf16c and is only called when the CPU
// has all three).
//
// Register tiling: up to MM_TILE activation rows share one load (and, for quantized weights,
// one unpack and one |w|) of each weight block, with one accumulator per row. Quantized products
// follow ggml's AVX2 path: the signs of w move onto x (sign_epi8), so maddubs multiplies the
// unsigned |w| by the signed x into int16 pairs (|w| <= 128, |x| <= 127: no saturation), madd
// sums the pairs to int32, and one FMA per block applies the two scales. Q4_0 nibbles are used
// unsigned as they are and the -8 offset is taken off after the product (see dot_block).
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

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
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// ---- quantized weights × Q8_0 activations ----

// Block b of a Q8_0 or Q4_0 row as 32 bytes in element order, and its scale in all 8 lanes
// (broadcast as f16, then widened: no scalar round trip). Q8_0: the signed codes. Q4_0: the
// unsigned nibbles 0..15 (the -8 is applied after the product, see dot_block).
static ALWAYS_INLINE __m256 scale8(const uint16_t *d) { return _mm256_cvtph_ps(_mm_set1_epi16((short)*d)); }

static ALWAYS_INLINE __m256i load_wq(const uint8_t *row, int64_t b, int is_q4, __m256 *d) {
    if (is_q4) {
        const BlockQ4_0 *blk = (const BlockQ4_0 *)row + b;
        *d = scale8(&blk->d);
        __m128i t = _mm_loadu_si128((const __m128i *)blk->qs);
        // low nibbles are elements 0..15 (low lane), high nibbles 16..31 (high lane)
        __m256i q = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
        return _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
    }
    const BlockQ8_0 *blk = (const BlockQ8_0 *)row + b;
    *d = scale8(&blk->d);
    return _mm256_loadu_si256((const __m256i *)blk->qs);
}

// |w| for maddubs' unsigned operand: Q4_0 nibbles already are.
static ALWAYS_INLINE __m256i abs_wq(__m256i w, int is_q4) { return is_q4 ? w : _mm256_sign_epi8(w, w); }

// Sum over one block of w[j] * x[j] as 8 float lanes; aw = abs_wq(w). Q8_0: signs move onto x.
// Q4_0: nibble * x directly (15 * 127 * 2 fits int16), then minus 8 * sum(x) spread as sum(x) off
// each of the 8 int32 lanes (xsum from the quantizer; a broadcast load, no extra ALU op).
static ALWAYS_INLINE __m256 dot_block(__m256i aw, __m256i w, const BlockQ8_0 *x, const int32_t *xsum, int is_q4) {
    __m256i xq = _mm256_loadu_si256((const __m256i *)x->qs);
    __m256i p16 = _mm256_maddubs_epi16(aw, is_q4 ? xq : _mm256_sign_epi8(xq, w));
    __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    if (is_q4) p32 = _mm256_sub_epi32(p32, _mm256_set1_epi32(*xsum));
    return _mm256_cvtepi32_ps(p32);
}

// y[i0..i0+nr) at weight row r; nr is a compile-time constant after inlining. Per block and
// activation row: the integer product, one convert, and scale = d_w * d_x (d_x as float from the
// quantizer, broadcast straight from memory) applied by one multiply and one FMA.
static ALWAYS_INLINE void q_tile(const MmArgs *a, int64_t r, int64_t i0, int nr, int is_q4) {
    int64_t nb = a->cols / QK8_0;
    const uint8_t *row = a->w + (size_t)r * a->row_bytes;
    const BlockQ8_0 *x = (const BlockQ8_0 *)a->x + i0 * nb;
    const int32_t *xs = a->xsum + i0 * nb;
    const float *xd = a->xd + i0 * nb;
    __m256 acc[MM_TILE];
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) acc[k] = _mm256_setzero_ps();
    const size_t bs = is_q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
    for (int64_t b = 0; b < nb; b++) {
        _mm_prefetch((const char *)row + (size_t)b * bs + MM_PREFETCH_BYTES, MM_PREFETCH_HINT);
        __m256 dw;
        __m256i w = load_wq(row, b, is_q4, &dw);
        __m256i aw = abs_wq(w, is_q4);
#pragma GCC unroll 4
        for (int k = 0; k < nr; k++) {
            __m256 p = dot_block(aw, w, x + k * nb + b, xs + k * nb + b, is_q4);
            __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(xd + k * nb + b));
            acc[k] = _mm256_fmadd_ps(d, p, acc[k]);
        }
    }
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) a->y[(i0 + k) * a->ldy + r] = hsum_ps(acc[k]);
}

// One activation row (decode): two blocks per step into two accumulators, so the FMA latency
// does not bound the loop, with the weight stream prefetched ahead.
static ALWAYS_INLINE void q_row1(const MmArgs *a, int64_t r, int64_t i, int is_q4) {
    int64_t nb = a->cols / QK8_0;
    const uint8_t *row = a->w + (size_t)r * a->row_bytes;
    const BlockQ8_0 *x = (const BlockQ8_0 *)a->x + i * nb;
    const int32_t *xs = a->xsum + i * nb;
    const float *xd = a->xd + i * nb;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    const size_t bs = is_q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
    for (; b + 2 <= nb; b += 2) {
        const char *pf = (const char *)row + (size_t)b * bs + MM_PREFETCH_BYTES;
        _mm_prefetch(pf, MM_PREFETCH_HINT);
        if (!is_q4) _mm_prefetch(pf + 64, MM_PREFETCH_HINT);
        __m256 d0, d1;
        __m256i w0 = load_wq(row, b, is_q4, &d0), w1 = load_wq(row, b + 1, is_q4, &d1);
        __m256 p0 = dot_block(abs_wq(w0, is_q4), w0, x + b, xs + b, is_q4);
        __m256 p1 = dot_block(abs_wq(w1, is_q4), w1, x + b + 1, xs + b + 1, is_q4);
        acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, _mm256_broadcast_ss(xd + b)), p0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d1, _mm256_broadcast_ss(xd + b + 1)), p1, acc1);
    }
    if (b < nb) {
        __m256 d0;
        __m256i w0 = load_wq(row, b, is_q4, &d0);
        __m256 p0 = dot_block(abs_wq(w0, is_q4), w0, x + b, xs + b, is_q4);
        acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, _mm256_broadcast_ss(xd + b)), p0, acc0);
    }
    a->y[i * a->ldy + r] = hsum_ps(_mm256_add_ps(acc0, acc1));
}

// Activation rows in groups of MM_TILE (outer: the group stays in L1), weight rows inner (the
// task's chunk of W stays in L2 across groups).
static ALWAYS_INLINE void q_rows(const MmArgs *a, int64_t r0, int64_t r1, int is_q4) {
    int64_t i = 0;
    for (; i + MM_TILE <= a->n; i += MM_TILE)
        for (int64_t r = r0; r < r1; r++) q_tile(a, r, i, MM_TILE, is_q4);
    switch (a->n - i) {
    case 3: for (int64_t r = r0; r < r1; r++) q_tile(a, r, i, 3, is_q4); break;
    case 2: for (int64_t r = r0; r < r1; r++) q_tile(a, r, i, 2, is_q4); break;
    case 1: for (int64_t r = r0; r < r1; r++) q_row1(a, r, i, is_q4); break;
    default: break;
    }
}

static void rows_q8_0_avx2(const MmArgs *a, int64_t r0, int64_t r1) { q_rows(a, r0, r1, 0); }
static void rows_q4_0_avx2(const MmArgs *a, int64_t r0, int64_t r1) { q_rows(a, r0, r1, 1); }

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

static void rows_f32_avx2(const MmArgs *a, int64_t r0, int64_t r1) { f_rows(a, r0, r1, WF_F32); }
static void rows_f16_avx2(const MmArgs *a, int64_t r0, int64_t r1) { f_rows(a, r0, r1, WF_F16); }
static void rows_bf16_avx2(const MmArgs *a, int64_t r0, int64_t r1) { f_rows(a, r0, r1, WF_BF16); }

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

static void quantize_q8_0_avx2(const float *x, BlockQ8_0 *y, int32_t *sums, float *scales, int64_t cols) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < cols / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
                                 _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
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
        __m256i s4 = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i s2 = _mm_add_epi32(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
        s2 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0x4e));
        s2 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1));
        sums[b] = _mm_cvtsi128_si32(s2);
        // packs work per 128-bit lane; the permute restores element order
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, p);
    }
}

const MmKernels MM_KERNELS_AVX2 = {
    .name = "avx2",
    .quantize_q8_0 = quantize_q8_0_avx2,
    .rows = {
        [QT_F32] = rows_f32_avx2,
        [QT_F16] = rows_f16_avx2,
        [QT_BF16] = rows_bf16_avx2,
        [QT_Q8_0] = rows_q8_0_avx2,
        [QT_Q4_0] = rows_q4_0_avx2,
    },
};

#endif
