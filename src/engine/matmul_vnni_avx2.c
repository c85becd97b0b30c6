// matmul_vnni_avx2.c — the `avxvnni` kernel set: the AVX2 set with its quantized products done by
// AVX-VNNI's vpdpbusd (u8 x s8 products summed in fours straight into int32 lanes: one
// instruction where AVX2 needs maddubs + madd, and for Q4_0 the -8 offset rides in as its
// accumulator). Chosen at start-up only when the CPU reports avxvnni (Alder Lake, Sapphire Rapids
// and later); float-weight kernels and the activation quantizer are the AVX2 set's. Q8_0 and Q4_0
// weights are multiplied from the packed MM_LAYOUT_X16 (see x8_tile below) when the model packs them.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "base/check.h"
#include "engine/matmul_kernels.h"

// Everything below may use AVX-VNNI (the Makefile gives this file AVX2/FMA/F16C only).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni"))), apply_to = function)
#else
#pragma GCC target("avxvnni")
#endif

#define MM_TILE 4
#define MM_PREFETCH_BYTES 4096
#define MM_PREFETCH_HINT _MM_HINT_T1
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define MM_Q_VNNI 1
#include "engine/matmul_q_avx2.inc"
#include "engine/matmul_k_avx2.inc"

// ---- Q8_0 / Q4_0 from the X16 layout (matmul_kernels.h), 8 rows per 256-bit register ----
//
// A 64-byte stripe of the layout is two registers: rows 0..7 and rows 8..15 of the group. One
// vpdpbusd of a half-stripe with a broadcast activation dword gives 4 products for each of 8
// output rows, already in output order, so a block costs 8 vpdpbusd, one convert and one scale
// FMA per activation row and half-group (the unpacked path needs a horizontal sum and a scale
// step per output). The 8 half-stripes of a block stay in registers while up to X8_TILE
// activation rows pass. The unsigned bias (128, or Q4_0's 8) is taken off through the
// activations' block sums, as in matmul_avx512.c.
#define X8_TILE 4

static ALWAYS_INLINE int32_t load4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

// Output rows 16g + 8h .. +7 of activation rows i0..i0+nr (nr a compile-time constant).
static ALWAYS_INLINE void x8_tile(const MmArgs *a, int64_t g, int h, int64_t i0, int nr, int is_q4) {
    int64_t nb = a->cols / QK8_0, cb = mm_x16_code_bytes(is_q4);
    const uint8_t *codes = a->w + (size_t)g * mm_x16_group_bytes(nb, is_q4);
    const uint16_t *scales = (const uint16_t *)(codes + nb * cb) + 8 * h;
    const BlockQ8_0 *x = (const BlockQ8_0 *)a->x + i0 * nb;
    const int32_t *xs = a->xnsum + i0 * nb;
    const float *xd = a->xd + i0 * nb;
    const int shift = is_q4 ? 3 : 7;  // bias 8 or 128
    __m256 acc[X8_TILE];
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = codes + b * cb + 32 * h;
        __m256i w[8];
        if (is_q4) {
            const __m256i lo = _mm256_set1_epi8(0x0f);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                _mm_prefetch((const char *)blk + MM_PREFETCH_BYTES + j * 64, MM_PREFETCH_HINT);
                __m256i v = _mm256_load_si256((const __m256i *)(blk + j * 64));
                w[j] = _mm256_and_si256(v, lo);
                w[j + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo);
            }
        } else {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                _mm_prefetch((const char *)blk + MM_PREFETCH_BYTES + j * 64, MM_PREFETCH_HINT);
                w[j] = _mm256_load_si256((const __m256i *)(blk + j * 64));
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + b * MM_X16_ROWS)));
#pragma GCC unroll 4
        for (int k = 0; k < nr; k++) {
            const int8_t *xq = x[k * nb + b].qs;
            __m256i t = _mm256_set1_epi32(xs[k * nb + b] * (1 << shift));
            __m256i u = _mm256_setzero_si256();  // two chains, so dpbusd latency does not serialise
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                t = _mm256_dpbusd_avx_epi32(t, w[2 * j], _mm256_set1_epi32(load4(xq + 8 * j)));
                u = _mm256_dpbusd_avx_epi32(u, w[2 * j + 1], _mm256_set1_epi32(load4(xq + 8 * j + 4)));
            }
            __m256 p = _mm256_cvtepi32_ps(_mm256_add_epi32(t, u));
            acc[k] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_set1_ps(xd[k * nb + b])), acc[k]);
        }
    }
    int64_t r = g * MM_X16_ROWS + 8 * h, left = a->ldy - r;
    if (left <= 0) return;  // the padding half of a last group
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)),
                                      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) {
        float *y = a->y + (i0 + k) * a->ldy + r;
        if (left >= 8) _mm256_storeu_ps(y, acc[k]);
        else _mm256_maskstore_ps(y, mask, acc[k]);
    }
}

#define X8_CASE(N)                                                                  \
    case N:                                                                         \
        for (int64_t g = g0; g < g1; g++) x8_tile(a, g, 0, i, N, is_q4), x8_tile(a, g, 1, i, N, is_q4); \
        break;

// Activation rows in tiles of up to X8_TILE (outer), the task's groups inner (its part of W stays
// in L2 across tiles). Tasks start on a multiple of 16 rows (matmul.c's chunks).
static ALWAYS_INLINE void x8_rows(const MmArgs *a, int64_t r0, int64_t r1, int is_q4) {
    CHECK(r0 % MM_X16_ROWS == 0);
    int64_t g0 = r0 / MM_X16_ROWS, g1 = (r1 + MM_X16_ROWS - 1) / MM_X16_ROWS;
    for (int64_t i = 0; i < a->n; i += X8_TILE) {
        int64_t nr = a->n - i < X8_TILE ? a->n - i : X8_TILE;
        switch (nr) {
            X8_CASE(1) X8_CASE(2) X8_CASE(3) X8_CASE(4)
        default: break;
        }
    }
}

static void rows_q8_0_x16(const MmArgs *a, int64_t r0, int64_t r1) { x8_rows(a, r0, r1, 0); }
static void rows_q4_0_x16(const MmArgs *a, int64_t r0, int64_t r1) { x8_rows(a, r0, r1, 1); }

#if defined(__clang__)
#pragma clang attribute pop
#endif

const MmKernels MM_KERNELS_AVXVNNI = {
    .name = "avxvnni",
    .quantize_q8_0 = mm_quantize_q8_0_avx2,
    .quantize_q8_k = mm_quantize_q8_k_avx2,
    .rows = {
        [QT_F32] = mm_rows_f32_avx2,
        [QT_F16] = mm_rows_f16_avx2,
        [QT_BF16] = mm_rows_bf16_avx2,
        [QT_Q8_0] = rows_q8_0,
        [QT_Q4_0] = rows_q4_0,
        [QT_Q4_1] = rows_q4_1,
        [QT_Q5_0] = rows_q5_0,
        [QT_Q5_1] = rows_q5_1,
        [QT_IQ4_NL] = rows_iq4_nl,
        [QT_Q2_K] = rows_q2_k,
        [QT_Q3_K] = rows_q3_k,
        [QT_Q4_K] = rows_q4_k,
        [QT_Q5_K] = rows_q5_k,
        [QT_Q6_K] = rows_q6_k,
    },
    .layout = MM_LAYOUT_X16,
    .pack_rows = MM_X16_ROWS,
    .pack_bytes = mm_x16_pack_bytes,
    .pack = mm_x16_pack,
    .rows_packed = {[QT_Q8_0] = rows_q8_0_x16, [QT_Q4_0] = rows_q4_0_x16},
};

#endif
