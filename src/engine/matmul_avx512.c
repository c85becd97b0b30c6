// matmul_avx512.c — the `avx512vnni` and `amx` kernel sets: Q8_0 and Q4_0 weights multiplied from
// a packed layout of 16 interleaved rows by AVX-512 VNNI (or AMX tiles, below), so that one
// vpdpbusd computes 4 products for each of 16 output rows and the result lands in a register
// already in output order (no horizontal sums, one float scale step per 16 outputs). Float
// weights, unpacked quantized weights and the activation quantizer are the AVX2 set's. This file
// alone is compiled with AVX-512 (and AMX) flags and is only called when the CPU reports AVX-512
// F/BW/VL/VNNI and the OS saves ZMM state (the AMX set: also AMX tile/int8, with the process's
// tile permission granted).
//
// Layout MM_LAYOUT_X16 (matmul.h). Rows are taken 16 at a time (the last group padded with zero
// scales); a group is one contiguous, 64-byte aligned record:
//   codes  nb blocks x 8 stripes x 64 bytes: stripe j of block b holds, for rows t = 0..15, the
//          4 codes of columns 32b+4j .. 32b+4j+3 of row t at bytes 4t..4t+3, biased to unsigned
//          (Q8_0: code + 128). Q4_0 keeps its 16 bytes per block and row as they are (nibbles are
//          code + 8): 4 stripes of 64 bytes, whose low nibbles are columns 4j.. and high nibbles
//          columns 16+4j.. (Q4_0's own order), so a stripe gives two after an AND and a shift.
//   scales nb x 16 f16, row t's scale at t.
// Both are the bytes per row of the unpacked type (34 for Q8_0, 18 for Q4_0), plus padding.
//
// The unsigned bias is removed with the activations' block sums, which the quantizer already
// provides (xnsum = -sum of a block's codes): sum((w + B) x) + B * xnsum = sum(w x), with the
// correction as the starting value of the integer accumulator (B = 128 or 8). |sum| <= 32*255*127,
// far inside int32.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "base/check.h"
#include "base/cpu.h"
#include "engine/matmul_kernels.h"

#if defined(__clang__)
#pragma clang attribute push(                                                                      \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8"))),  \
    apply_to = function)
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define X16_ROWS MM_X16_ROWS
#define X16_TILE 16  // activation rows per pass over a group (one float accumulator each)
// Prefetch of the weight stream into L2, 16 KiB ahead: a packed Q4_K / Q4_0 decode row (one
// activation row) streamed ~35% faster than with the AVX2 set's 4 KiB (scripts/matmul_bench.c,
// 65536 x 2048, alternated runs); Q8_0 and the batched products were unchanged.
#ifndef X16_HINT
#define X16_HINT _MM_HINT_T1
#endif
#ifndef X16_PREFETCH_BYTES
#define X16_PREFETCH_BYTES 16384
#endif
// A tile of one activation row (a decode step) prefetches as mm_stream_pf says (matmul_kernels.h):
// X16_STREAM_BYTES ahead into L1 (AMD: TinyLlama-shape Q4_K_M decode on one thread +11%, 45.1 ->
// 49.9 tok/s, median of 5 alternated runs, and scripts/matmul_bench.c's n=1 products +8-45%), or
// as the batched tiles do and again X16_STREAM_NEAR ahead into L1 (an AMX Xeon: 8 KiB into L1
// alone cost that decode a third). Batched tiles keep the L2 prefetch alone: into L1 it cost a
// 64-row Q4_K product ~5%.
#ifndef X16_STREAM_BYTES
#define X16_STREAM_BYTES 8192
#endif
#define X16_STREAM_NEAR 2048
// pf: a compile-time MM_STREAM_* constant in every tile (the row tasks test mm_stream_pf once and
// call the tile specialised for it).
#define MM_PF(p, pf)                                                                              \
    ((pf) == MM_STREAM_L1 ? _mm_prefetch((p) + X16_STREAM_BYTES, _MM_HINT_T0)                     \
                          : ((pf) == MM_STREAM_L2L1 ? _mm_prefetch((p) + X16_STREAM_NEAR, _MM_HINT_T0) \
                                                    : (void)0,                                    \
                             _mm_prefetch((p) + X16_PREFETCH_BYTES, X16_HINT)))

// Groups [g0, g1) of w. Each stripe is one gather of 4 bytes from each of the group's 16 rows (the
// padding rows of a last group masked off and filled with the code of a zero weight), biased for
// Q8_0; the scales are one gather of the 4 bytes at each row's block start, narrowed to their f16.
static void pack(const WeightView *w, void *dst, int64_t g0, int64_t g1) {
    if (w->type == QT_Q4_K || w->type == QT_Q6_K) {  // records not gathers of whole dwords: the portable packer
        mm_x16_pack(w, dst, g0, g1);
        return;
    }
    int is_q4 = w->type == QT_Q4_0;
    int64_t nb = w->cols / QK8_0, cb = mm_x16_code_bytes(is_q4);
    size_t row_bytes = quant_row_bytes(w->type, w->cols), gbytes = mm_x16_group_bytes(nb, is_q4);
    int bs = is_q4 ? (int)sizeof(BlockQ4_0) : (int)sizeof(BlockQ8_0), stripes = is_q4 ? 4 : 8;
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)row_bytes));
    const __m512i bias = _mm512_set1_epi32(is_q4 ? 0 : (int)0x80808080u);
    const __m512i zero_code = _mm512_set1_epi32(is_q4 ? (int)0x88888888u : 0);  // before the bias
    for (int64_t g = g0; g < g1; g++) {
        int64_t left = w->rows - g * X16_ROWS;
        __mmask16 valid = left >= X16_ROWS ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        const uint8_t *base = (const uint8_t *)w->data + (size_t)(g * X16_ROWS) * row_bytes;
        uint8_t *codes = (uint8_t *)dst + (size_t)g * gbytes;
        uint16_t *scales = (uint16_t *)(codes + nb * cb);
        for (int64_t b = 0; b < nb; b++) {
            __m512i at = _mm512_add_epi32(rows, _mm512_set1_epi32((int)(b * bs)));
            for (int j = 0; j < stripes; j++) {
                __m512i v = _mm512_mask_i32gather_epi32(zero_code, valid, _mm512_add_epi32(at, _mm512_set1_epi32(2 + 4 * j)),
                                                        base, 1);
                _mm512_store_si512((void *)(codes + b * cb + j * 64), _mm512_xor_si512(v, bias));
            }
            __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, at, base, 1);
            _mm256_storeu_si256((__m256i *)(scales + b * X16_ROWS), _mm512_cvtepi32_epi16(d));
        }
    }
}

// 4 bytes of an activation block, as one int32 for the broadcast operand.
static ALWAYS_INLINE int32_t load4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

// Output rows 16g..16g+15 (fewer in a padded last group) of activation rows i0..i0+nr.
static ALWAYS_INLINE void x16_store(const MmArgs *a, int64_t g, int64_t i0, int nr, const __m512 *acc) {
    int64_t r = g * X16_ROWS, left = a->ldy - r;
    __mmask16 m = left >= X16_ROWS ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
#pragma GCC unroll 16
    for (int k = 0; k < nr; k++) _mm512_mask_storeu_ps(a->y + (i0 + k) * a->ldy + r, m, acc[k]);
}

// y[i0..i0+nr) x rows 16g..16g+15 (fewer when the group is the padded last one); nr is a
// compile-time constant after inlining. Per block: the 8 stripes (and scales) are loaded once
// and stay in registers while the nr activation rows pass: 8 vpdpbusd with a broadcast operand,
// one convert, one multiply and one FMA per row.
static ALWAYS_INLINE void x16_tile(const MmArgs *a, int64_t g, int64_t i0, int nr, int is_q4, int l1) {
    int64_t nb = a->cols / QK8_0, cb = mm_x16_code_bytes(is_q4);
    const uint8_t *codes = a->w + (size_t)g * mm_x16_group_bytes(nb, is_q4);
    const uint16_t *scales = (const uint16_t *)(codes + nb * cb);
    const BlockQ8_0 *x = (const BlockQ8_0 *)a->x + i0 * nb;
    const int32_t *xs = a->xnsum + i0 * nb;
    const float *xd = a->xd + i0 * nb;
    const int shift = is_q4 ? 3 : 7;  // bias 8 or 128
    (void)l1;  // Q8_0/Q4_0 stream with the far prefetch whatever mm_stream_pf says (below)
    __m512 acc[X16_TILE];
#pragma GCC unroll 16
    for (int k = 0; k < nr; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = codes + b * cb;
        __m512i w[8];
        if (is_q4) {
            // the far prefetch only: 8 KiB into L1 (mm_stream_pf on AMD) took the one-row Q4_0
            // product on a Zen 5 EPYC from ~37 to ~28 GMAC/s (scripts/matmul_bench.c, 65536 x 2048)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) MM_PF((const char *)blk + j * 64, MM_STREAM_L2);
            const __m512i lo = _mm512_set1_epi8(0x0f);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m512i v = _mm512_load_si512((const void *)(blk + j * 64));
                w[j] = _mm512_and_si512(v, lo);
                w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo);
            }
        } else {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                MM_PF((const char *)blk + j * 64, MM_STREAM_L2);  // far only too: 110m Q8_0 decode +30% on Zen 5
                w[j] = _mm512_load_si512((const void *)(blk + j * 64));
            }
        }
        if (!(b & 1)) _mm_prefetch((const char *)(scales + b * X16_ROWS) + 512, X16_HINT);  // 16 blocks on
        // one activation row (decode): the next group's scales too, into L2, as the avx2 set's
        // x8_one (TinyLlama-shape decode on Zen 5, one thread: Q4_0 +6%, Q8_0 +3%)
        if (nr == 1 && !(b & 1)) _mm_prefetch((const char *)scales + mm_x16_group_bytes(nb, is_q4) + b * 32, _MM_HINT_T1);
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(scales + b * X16_ROWS)));
#pragma GCC unroll 16
        for (int k = 0; k < nr; k++) {
            const int8_t *xq = x[k * nb + b].qs;
            __m512i t = _mm512_set1_epi32(xs[k * nb + b] * (1 << shift));
            // two chains of four, so the dpbusd latency does not serialise a row's block
            __m512i u = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                t = _mm512_dpbusd_epi32(t, w[2 * j], _mm512_set1_epi32(load4(xq + 8 * j)));
                u = _mm512_dpbusd_epi32(u, w[2 * j + 1], _mm512_set1_epi32(load4(xq + 8 * j + 4)));
            }
            __m512 p = _mm512_cvtepi32_ps(_mm512_add_epi32(t, u));
            acc[k] = _mm512_fmadd_ps(p, _mm512_mul_ps(dw, _mm512_set1_ps(xd[k * nb + b])), acc[k]);
        }
    }
    x16_store(a, g, i0, nr, acc);
}

#define X16_CASE(N) MM_TILE_CASE(N, x16_tile, a, g, i, N, is_q4)

// Activation rows in tiles of up to X16_TILE (outer: the tile stays in L1), groups of the task's
// rows inner (its part of W stays in L2 across tiles). Tasks start on a multiple of 16 rows
// (matmul.c's chunks are multiples of MM_CHUNK_MIN = 16).
static ALWAYS_INLINE void x16_rows(const MmArgs *a, int64_t r0, int64_t r1, int is_q4) {
    CHECK(r0 % X16_ROWS == 0);
    int64_t g0 = r0 / X16_ROWS, g1 = (r1 + X16_ROWS - 1) / X16_ROWS;
    for (int64_t i = 0; i < a->n; i += X16_TILE) {
        int64_t nr = a->n - i < X16_TILE ? a->n - i : X16_TILE;
        switch (nr) {
            X16_CASE(1) X16_CASE(2) X16_CASE(3) X16_CASE(4) X16_CASE(5) X16_CASE(6) X16_CASE(7) X16_CASE(8)
            X16_CASE(9) X16_CASE(10) X16_CASE(11) X16_CASE(12) X16_CASE(13) X16_CASE(14) X16_CASE(15)
            X16_CASE(16)
        default: break;
        }
    }
}

// The 256-bit shared code (matmul_x16_avx2.inc) is included for its helpers; Q4_K below is 512-bit.
#define MM_Q_VNNI 1
#define X8_DPBUSD _mm256_dpbusd_epi32
#define MM_PREFETCH_BYTES X16_PREFETCH_BYTES
#define MM_PREFETCH_HINT X16_HINT
#include "engine/matmul_x16_avx2.inc"

// Q4_K on 512-bit registers: a record's stripe (16 rows x 4 bytes) is one register, so one
// vpdpbusd yields the 16 rows of a group (x8k_tile's formula and integer sums, with all 16 rows
// per instruction instead of 8). Per sub-block the 8 nibble registers stay while up to
// X16K_TILE activation rows pass; each row's 16 dot products are scaled by the rows' integer
// sub-block scales (mullo) into one int32 per super-block; the mins through Q8_K's code sums.
#define X16K_TILE 8
static ALWAYS_INLINE void x16k_tile(const MmArgs *a, int64_t g, int64_t i0, int nr, int l1) {
    int64_t nbk = a->cols / QK_K;
    const uint8_t *grp = a->w + (size_t)g * mm_x16_k_group_bytes(nbk);
    const BlockQ8K *x = (const BlockQ8K *)a->x + i0 * nbk;
    const __m512i lo = _mm512_set1_epi8(0x0f);
    __m512 acc[X16K_TILE];
#pragma GCC unroll 8
    for (int k = 0; k < nr; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < nbk; sb++) {
        const uint8_t *rec = grp + (size_t)sb * MM_X16_K_BYTES;
        const uint8_t *sm = rec + MM_X16_K_SM;
        const uint16_t *dd = (const uint16_t *)(rec + MM_X16_K_D);
        __m512i isum[X16K_TILE];
#pragma GCC unroll 8
        for (int k = 0; k < nr; k++) isum[k] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            const uint8_t *blk = rec + j * 256;
            __m512i w[8];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                MM_PF((const char *)blk + i * 64, l1);
                __m512i v = _mm512_load_si512((const void *)(blk + i * 64));
                w[i] = _mm512_and_si512(v, lo);
                w[i + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo);
            }
            __m512i scj = _mm512_and_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(sm + 16 * j))),
                                           _mm512_set1_epi32(63));
#pragma GCC unroll 8
            for (int k = 0; k < nr; k++) {
                const int8_t *xq = x[k * nbk + sb].qs + 32 * j;
                __m512i t = _mm512_setzero_si512(), u = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    t = _mm512_dpbusd_epi32(t, w[i], _mm512_set1_epi32(load4(xq + 4 * i)));
                    u = _mm512_dpbusd_epi32(u, w[i + 4], _mm512_set1_epi32(load4(xq + 16 + 4 * i)));
                }
                isum[k] = _mm512_add_epi32(isum[k], _mm512_mullo_epi32(_mm512_add_epi32(t, u), scj));
            }
        }
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) MM_PF((const char *)rec + 2048 + 64 * l, l1);
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dd));
        __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dd + 16)));
        // the 16 rows' mins of each sub-block: 2 low bits atop the scale bytes, 4 high bits per nibble
        __m512i mins[8], mh = _mm512_load_si512((const void *)(rec + MM_X16_K_MH));
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            mins[j] = _mm512_or_si512(
                _mm512_srli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(sm + 16 * j))), 6),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(mh, 4 * j), _mm512_set1_epi32(15)), 2));
#pragma GCC unroll 8
        for (int k = 0; k < nr; k++) {
            const BlockQ8K *xb = &x[k * nbk + sb];
            __m512i msum = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(mins[j], _mm512_set1_epi32(xb->bsums[2 * j] + xb->bsums[2 * j + 1])));
            __m512 dx = _mm512_set1_ps(xb->d);
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[k]), _mm512_mul_ps(d, dx), acc[k]);
            acc[k] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, dx), acc[k]);
        }
    }
    x16_store(a, g, i0, nr, acc);
}

#define X16T_CASE(TILE, N) MM_TILE_CASE(N, TILE, a, g, i, N)

// A packed K-quant's row task (x16k_tile, x16q6_tile), as x16_rows: activation rows in tiles of up
// to X16K_TILE (balanced: 16 = 8 + 8, 20 = 7 + 7 + 6), the task's groups inner; each tile size a
// case of its own, so the tile function sees a constant row count.
#define X16_TILED_ROWS(NAME, TILE)                                                                    \
    static void NAME(const MmArgs *a, int64_t r0, int64_t r1) {                                     \
        CHECK(r0 % X16_ROWS == 0);                                                                  \
        int64_t g0 = r0 / X16_ROWS, g1 = (r1 + X16_ROWS - 1) / X16_ROWS;                            \
        int64_t tiles = (a->n + X16K_TILE - 1) / X16K_TILE;                                         \
        for (int64_t i = 0, t = 0; t < tiles; t++) {                                                \
            int64_t nr = a->n / tiles + (t < a->n % tiles);                                         \
            switch (nr) {                                                                           \
                X16T_CASE(TILE, 1) X16T_CASE(TILE, 2) X16T_CASE(TILE, 3) X16T_CASE(TILE, 4)         \
                X16T_CASE(TILE, 5) X16T_CASE(TILE, 6) X16T_CASE(TILE, 7) X16T_CASE(TILE, 8)         \
            default: break;                                                                         \
            }                                                                                       \
            i += nr;                                                                                \
        }                                                                                           \
    }

X16_TILED_ROWS(rows_q4_k_x16, x16k_tile)

// Q6_K on 512-bit registers (MM_X16_Q6K_BYTES records): per sub-block j the 8 code registers
// (4 stripes x low/high nibble, each with its 2 high bits or-ed in at bits 4-5: codes 0..63) stay
// while up to X16K_TILE activation rows pass. Each group of 16 columns (a stripe set's low nibbles:
// group 2j, high nibbles: 2j+1) sums q x into an int32 that starts at -32 bsum_g, i.e. the dot
// product of the signed codes q - 32, then takes the rows' int8 group scales (mullo):
//   y += d_x * d * Σ_g sc_g Σ_16 (q - 32) x        (|Σ| <= 16 x 16 x 127 x 64 x 128, inside int32)
static ALWAYS_INLINE void x16q6_codes(const uint8_t *rec, int j, int l1, __m512i *wl, __m512i *wh) {
    const uint8_t *blk = rec + j * MM_X16_Q6K_SUB, *hb = blk + MM_X16_Q6K_HI;
    const __m512i lo = _mm512_set1_epi8(0x0f), hi = _mm512_set1_epi8(0x30);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) MM_PF((const char *)blk + i * 64, l1);
    MM_PF((const char *)hb, l1);
    MM_PF((const char *)hb + 64, l1);
    __m512i h0 = _mm512_load_si512((const void *)hb), h1 = _mm512_load_si512((const void *)(hb + 64));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        __m512i v = _mm512_load_si512((const void *)(blk + i * 64));
        // bits 2i..2i+1 of each byte moved to bits 4..5 (16-bit shifts: what crosses a byte is masked off)
        __m512i s0 = i == 0 ? _mm512_slli_epi16(h0, 4) : i == 1 ? _mm512_slli_epi16(h0, 2) : i == 2 ? h0 : _mm512_srli_epi16(h0, 2);
        __m512i s1 = i == 0 ? _mm512_slli_epi16(h1, 4) : i == 1 ? _mm512_slli_epi16(h1, 2) : i == 2 ? h1 : _mm512_srli_epi16(h1, 2);
        wl[i] = _mm512_or_si512(_mm512_and_si512(v, lo), _mm512_and_si512(s0, hi));
        wh[i] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), lo), _mm512_and_si512(s1, hi));
    }
}

static ALWAYS_INLINE void x16q6_tile(const MmArgs *a, int64_t g, int64_t i0, int nr, int l1) {
    int64_t nbk = a->cols / QK_K;
    const uint8_t *grp = a->w + (size_t)g * mm_x16_q6k_group_bytes(nbk);
    const BlockQ8K *x = (const BlockQ8K *)a->x + i0 * nbk;
    __m512 acc[X16K_TILE];
#pragma GCC unroll 8
    for (int k = 0; k < nr; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < nbk; sb++) {
        const uint8_t *rec = grp + (size_t)sb * MM_X16_Q6K_BYTES;
        const int8_t *sc = (const int8_t *)(rec + MM_X16_Q6K_SC);
        __m512i isum[X16K_TILE];
#pragma GCC unroll 8
        for (int k = 0; k < nr; k++) isum[k] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            __m512i wl[4], wh[4];
            x16q6_codes(rec, j, l1, wl, wh);
            __m512i sc0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + 32 * j)));
            __m512i sc1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + 32 * j + 16)));
#pragma GCC unroll 8
            for (int k = 0; k < nr; k++) {
                const BlockQ8K *xb = &x[k * nbk + sb];
                const int8_t *xq = xb->qs + 32 * j;
                __m512i t = _mm512_set1_epi32(-32 * xb->bsums[2 * j]), u = _mm512_set1_epi32(-32 * xb->bsums[2 * j + 1]);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    t = _mm512_dpbusd_epi32(t, wl[i], _mm512_set1_epi32(load4(xq + 4 * i)));
                    u = _mm512_dpbusd_epi32(u, wh[i], _mm512_set1_epi32(load4(xq + 16 + 4 * i)));
                }
                isum[k] = _mm512_add_epi32(isum[k], _mm512_add_epi32(_mm512_mullo_epi32(t, sc0), _mm512_mullo_epi32(u, sc1)));
            }
        }
#pragma GCC unroll 5
        for (int l = 0; l < 5; l++)
            MM_PF((const char *)rec + MM_X16_Q6K_SC + 64 * l, l1);
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rec + MM_X16_Q6K_D)));
#pragma GCC unroll 8
        for (int k = 0; k < nr; k++)
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[k]), _mm512_mul_ps(d, _mm512_set1_ps(x[k * nbk + sb].d)), acc[k]);
    }
    x16_store(a, g, i0, nr, acc);
}

X16_TILED_ROWS(rows_q6_k_x16, x16q6_tile)

static void rows_q8_0_x16(const MmArgs *a, int64_t r0, int64_t r1) { x16_rows(a, r0, r1, 0); }
static void rows_q4_0_x16(const MmArgs *a, int64_t r0, int64_t r1) { x16_rows(a, r0, r1, 1); }

// ---- AMX: the same layout, the integer products by tile multiplies ----
//
// A Q8_0 group's block is exactly an AMX B tile (8 rows of 64 bytes: 4 codes of 16 columns), and
// the block's codes of up to 16 activation rows (34-byte BlockQ8_0 apart) an A tile of 32 bytes
// per row; TDPBSUD (signed A, unsigned B) gives the 16 x 16 integer products of one block in one
// instruction. Per block the tile is stored and each activation row's 16 sums take the bias
// correction, the convert and the scale FMA, as in x16_tile. Two blocks per step, in separate
// tiles, so one block's multiply overlaps the other's float work. Tiles of fewer than
// AMX_MIN_ROWS activation rows are memory-bound, and go to x16_tile. A Q4_0 block is first
// unpacked to that B tile's bytes (nibbles = code + 8, so the bias is 8).
#define AMX_MIN_ROWS 4

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} AmxConfig;

// tmm0/1: C (m x 16 int32), tmm2/3: A (m x 32 int8), tmm4/5: B (8 x 64 uint8)
static void amx_configure(int m) {
    AmxConfig c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 2; t++) {
        c.rows[t] = (uint8_t)m, c.colsb[t] = 64;
        c.rows[2 + t] = (uint8_t)m, c.colsb[2 + t] = 32;
        c.rows[4 + t] = 8, c.colsb[4 + t] = 64;
    }
    // Not _tile_loadconfig: GCC 12's version tells the compiler it reads only 8 bytes of the
    // config, so the stores of the rest may be dropped (seen: ldtilecfg faulting on garbage).
    __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

// The float step of one block: acc[k] += (C[k] + bias * xsum) * d_w * d_x for k < m.
static ALWAYS_INLINE void amx_scale_block(const int32_t *cbuf, const uint16_t *scales, const int32_t *xs,
                                          const float *xd, int64_t nb, int m, int is_q4, __m512 *acc) {
    __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)scales));
    const int bias = is_q4 ? 8 : 128;
#pragma GCC unroll 16
    for (int k = 0; k < m; k++) {
        __m512i t = _mm512_add_epi32(_mm512_load_si512((const void *)(cbuf + 16 * k)),
                                     _mm512_set1_epi32(xs[k * nb] * bias));
        acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(dw, _mm512_set1_ps(xd[k * nb])), acc[k]);
    }
}

// A Q4_0 block of the layout as the B tile Q8_0's would be: stripe j's low nibbles are stripe j,
// its high nibbles stripe j + 4 (values 0..15, i.e. code + 8).
static ALWAYS_INLINE void amx_q4_unpack(const uint8_t *blk, uint8_t *dst) {
    const __m512i lo = _mm512_set1_epi8(0x0f);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512i v = _mm512_load_si512((const void *)(blk + j * 64));
        _mm512_store_si512((void *)(dst + j * 64), _mm512_and_si512(v, lo));
        _mm512_store_si512((void *)(dst + (j + 4) * 64), _mm512_and_si512(_mm512_srli_epi16(v, 4), lo));
    }
}

// The B tile of block b: Q8_0 straight from the layout, Q4_0 unpacked into buf first.
static ALWAYS_INLINE const uint8_t *amx_b_tile(const uint8_t *codes, int64_t b, int is_q4, uint8_t *buf) {
    if (!is_q4) return codes + b * 512;
    amx_q4_unpack(codes + b * 256, buf);
    return buf;
}

static ALWAYS_INLINE void amx_tile_group(const MmArgs *a, int64_t g, int64_t i0, int m, int is_q4) {
    int64_t nb = a->cols / QK8_0;
    const uint8_t *codes = a->w + (size_t)g * mm_x16_group_bytes(nb, is_q4);
    const uint16_t *scales = (const uint16_t *)(codes + nb * mm_x16_code_bytes(is_q4));
    uint8_t wbuf[2][512] __attribute__((aligned(64)));
    const BlockQ8_0 *x = (const BlockQ8_0 *)a->x + i0 * nb;
    const int32_t *xs = a->xnsum + i0 * nb;
    const float *xd = a->xd + i0 * nb;
    size_t xstride = (size_t)nb * sizeof(BlockQ8_0);
    int32_t cbuf[2][16 * 16] __attribute__((aligned(64)));
    __m512 acc[X16_TILE];
#pragma GCC unroll 16
    for (int k = 0; k < m; k++) acc[k] = _mm512_setzero_ps();
    // The next group's lines are prefetched, spread evenly over this group's steps (with 4+ rows
    // a step is long enough that a fixed distance ahead left DRAM latency exposed: -12% time).
    size_t gbytes = mm_x16_group_bytes(nb, is_q4);
    const char *next = (const char *)codes + gbytes;
    int64_t lines = (int64_t)(gbytes / 64), steps = nb / 2 > 0 ? nb / 2 : 1, per = (lines + steps - 1) / steps;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        for (int64_t l = (b / 2) * per, end = l + per < lines ? l + per : lines; l < end; l++)
            _mm_prefetch(next + l * 64, _MM_HINT_T1);
        _tile_zero(0);
        _tile_zero(1);
        _tile_loadd(2, x[b].qs, xstride);
        _tile_loadd(4, amx_b_tile(codes, b, is_q4, wbuf[0]), 64);
        _tile_dpbsud(0, 2, 4);
        _tile_loadd(3, x[b + 1].qs, xstride);
        _tile_loadd(5, amx_b_tile(codes, b + 1, is_q4, wbuf[1]), 64);
        _tile_dpbsud(1, 3, 5);
        _tile_stored(0, cbuf[0], 64);
        amx_scale_block(cbuf[0], scales + b * X16_ROWS, xs + b, xd + b, nb, m, is_q4, acc);
        _tile_stored(1, cbuf[1], 64);
        amx_scale_block(cbuf[1], scales + (b + 1) * X16_ROWS, xs + b + 1, xd + b + 1, nb, m, is_q4, acc);
    }
    if (b < nb) {
        _tile_zero(0);
        _tile_loadd(2, x[b].qs, xstride);
        _tile_loadd(4, amx_b_tile(codes, b, is_q4, wbuf[0]), 64);
        _tile_dpbsud(0, 2, 4);
        _tile_stored(0, cbuf[0], 64);
        amx_scale_block(cbuf[0], scales + b * X16_ROWS, xs + b, xd + b, nb, m, is_q4, acc);
    }
    x16_store(a, g, i0, m, acc);
}

#define AMX_CASE(N) \
    case N: for (int64_t g = g0; g < g1; g++) amx_tile_group(a, g, i, N, is_q4); break;

static ALWAYS_INLINE void amx_rows(const MmArgs *a, int64_t r0, int64_t r1, int is_q4) {
    CHECK(r0 % X16_ROWS == 0);
    int64_t g0 = r0 / X16_ROWS, g1 = (r1 + X16_ROWS - 1) / X16_ROWS;
    int configured = 0;  // the m the tiles are configured for
    for (int64_t i = 0; i < a->n; i += X16_TILE) {
        int64_t nr = a->n - i < X16_TILE ? a->n - i : X16_TILE;
        if (nr < AMX_MIN_ROWS) {
            MmArgs rest = *a;
            rest.x = (const BlockQ8_0 *)a->x + i * (a->cols / QK8_0);
            rest.xnsum = a->xnsum + i * (a->cols / QK8_0);
            rest.xd = a->xd + i * (a->cols / QK8_0);
            rest.y = a->y + i * a->ldy;
            rest.n = nr;
            x16_rows(&rest, r0, r1, is_q4);
            continue;
        }
        if (configured != nr) amx_configure((int)nr), configured = (int)nr;
        switch (nr) {
            AMX_CASE(4) AMX_CASE(5) AMX_CASE(6) AMX_CASE(7) AMX_CASE(8) AMX_CASE(9) AMX_CASE(10) AMX_CASE(11)
            AMX_CASE(12) AMX_CASE(13) AMX_CASE(14) AMX_CASE(15) AMX_CASE(16)
        default: break;
        }
    }
    if (configured) _tile_release();
}

static void rows_q8_0_amx(const MmArgs *a, int64_t r0, int64_t r1) { amx_rows(a, r0, r1, 0); }
static void rows_q4_0_amx(const MmArgs *a, int64_t r0, int64_t r1) { amx_rows(a, r0, r1, 1); }

bool mm_amx_enable(void) { return cpu_amx_permit(); }

#if defined(__clang__)
#pragma clang attribute pop
#endif

// Both sets: the AVX2 set's kernels for float and unpacked weights (all the types beyond Q8_0 and
// Q4_0 multiply unpacked, with AVX2 kernels), and the X16 packing.
#define X16_SET(NAME, Q8, Q4)                                                                     \
    {                                                                                             \
        .name = NAME, .quantize_q8_0 = mm_quantize_q8_0_avx2, .quantize_q8_k = mm_quantize_q8_k_avx2, \
        .rows = {[QT_F32] = mm_rows_f32_avx2, [QT_F16] = mm_rows_f16_avx2, [QT_BF16] = mm_rows_bf16_avx2, \
                 [QT_Q8_0] = mm_rows_q8_0_avx2, [QT_Q4_0] = mm_rows_q4_0_avx2, [QT_Q4_1] = mm_rows_q4_1_avx2, \
                 [QT_Q5_0] = mm_rows_q5_0_avx2, [QT_Q5_1] = mm_rows_q5_1_avx2, [QT_IQ4_NL] = mm_rows_iq4_nl_avx2, \
                 [QT_Q2_K] = mm_rows_q2_k_avx2, [QT_Q3_K] = mm_rows_q3_k_avx2, [QT_Q4_K] = mm_rows_q4_k_avx2, \
                 [QT_Q5_K] = mm_rows_q5_k_avx2, [QT_Q6_K] = mm_rows_q6_k_avx2},                   \
        .layout = MM_LAYOUT_X16, .pack_rows = X16_ROWS, .pack_bytes = mm_x16_pack_bytes, .pack = pack,   \
        .rows_packed = {[QT_Q8_0] = Q8, [QT_Q4_0] = Q4, [QT_Q4_K] = rows_q4_k_x16,                 \
                        [QT_Q6_K] = rows_q6_k_x16},                                               \
    }

const MmKernels MM_KERNELS_AVX512VNNI = X16_SET("avx512vnni", rows_q8_0_x16, rows_q4_0_x16);
// The products of 4+ activation rows on AMX tiles (Q4_0 blocks unpacked to bytes on the way, once
// for all the rows).
const MmKernels MM_KERNELS_AMX = X16_SET("amx", rows_q8_0_amx, rows_q4_0_amx);

#endif
