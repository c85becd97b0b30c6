// matmul_vnni_avx2.c — the `avxvnni` kernel set: the AVX2 set with its quantized products done by
// AVX-VNNI's vpdpbusd (u8 x s8 products summed in fours straight into int32 lanes: one
// instruction where AVX2 needs maddubs + madd, and for Q4_0 the -8 offset rides in as its
// accumulator). Chosen at start-up only when the CPU reports avxvnni (Alder Lake, Sapphire Rapids
// and later); float-weight kernels and the activation quantizer are the AVX2 set's. Q8_0 and Q4_0
// weights are multiplied from the packed MM_LAYOUT_X16 (matmul_x16_avx2.inc) when the model packs them.
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
// Weight prefetch 16 KiB ahead into L2 (the AVX2 set: 4 KiB): a packed Q4_K / Q4_0 decode row
// streamed ~35% faster (scripts/matmul_bench.c, 65536 x 2048, alternated runs); Q8_0, Q6_K and the
// batched products were unchanged.
#ifndef MM_PREFETCH_BYTES
#define MM_PREFETCH_BYTES 16384
#endif
#define MM_PREFETCH_HINT _MM_HINT_T1
// A one-row tile (decode) prefetches as mm_stream_pf says: MM_PF in matmul_x16_avx2.inc.
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

#include "engine/matmul_x16_avx2.inc"
#define MM_SET_VAR MM_KERNELS_AVXVNNI
#define MM_SET_NAME "avxvnni"
#include "engine/matmul_set_avx2.inc"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif
