// kv_attn.h — the inner loops of attention over a tile of stored K/V rows (F32 or F16 elements,
// n_k rows of n elements, `stride` bytes apart), for the n_q query heads that share one KV head
// (grouped-query attention):
//   dots:  out[g * out_stride + t] = q_g · k_t          q: (n_q, n) floats
//   axpys: out_g += sum_t a[g * a_stride + t] · v_t      out: (n_q, n) floats
//   store: dst = src                                     a float row converted to the stored type
// Whole tiles per call: with one query head per KV head (no GQA) and short contexts, a call per
// stored row cost more in overhead and reductions than the arithmetic.
// A plain-C set (the truth) and an AVX2/F16C set with the same signatures, chosen once by CPU
// feature; RIGHTSIZE_KERNELS=ref forces the plain set (as for matmul).
#ifndef RS_KV_ATTN_H
#define RS_KV_ATTN_H

#include <stdint.h>

#include "engine/quant.h"

#define KV_MAX_HEAD_DIM 1024

typedef struct {
    void (*dots)(const float *q, int64_t n_q, const void *k, int64_t n_k, size_t stride, int64_t n, float *out,
                 int64_t out_stride);
    void (*axpys)(float *out, int64_t n_q, const float *a, int64_t a_stride, const void *v, int64_t n_k,
                  size_t stride, int64_t n);
    void (*store)(void *dst, const float *src, int64_t n);
} KvAttnKernels;

// Kernels for stored type t (QT_F16 or QT_F32), dispatched by CPU feature.
const KvAttnKernels *kv_attn_kernels(QuantType t);
// The plain-C kernels for t, always available.
const KvAttnKernels *kv_attn_kernels_ref(QuantType t);
// AVX2 kernels for t (defined in kv_attn_avx2.c; call only when the CPU has AVX2 and FMA).
const KvAttnKernels *kv_attn_kernels_avx2(QuantType t);

#endif
