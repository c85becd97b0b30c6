// kv_attn.h — the inner loops of attention over stored K/V rows (F32 or F16 elements), for the
// n_q query heads that share one KV head (grouped-query attention), so each stored row is read
// and converted once for all of them:
//   dots:  out[g * out_stride] = q_g · k       q: (n_q, n) floats, k: one stored row of n
//   axpys: out_g += a[g * a_stride] · v        out: (n_q, n) floats, v: one stored row of n
//   store: dst = src                           a float row converted to the stored type
// A plain-C set (the truth) and an AVX2/F16C set with the same signatures, chosen once by CPU
// feature; RIGHTSIZE_KERNELS=ref forces the plain set (as for matmul).
#ifndef RS_KV_ATTN_H
#define RS_KV_ATTN_H

#include <stdint.h>

#include "engine/quant.h"

#define KV_MAX_HEAD_DIM 1024

typedef struct {
    void (*dots)(const float *q, int64_t n_q, const void *k, int64_t n, float *out, int64_t out_stride);
    void (*axpys)(float *out, int64_t n_q, const float *a, int64_t a_stride, const void *v, int64_t n);
    void (*store)(void *dst, const float *src, int64_t n);
} KvAttnKernels;

// Kernels for stored type t (QT_F16 or QT_F32), dispatched by CPU feature.
const KvAttnKernels *kv_attn_kernels(QuantType t);
// The plain-C kernels for t, always available.
const KvAttnKernels *kv_attn_kernels_ref(QuantType t);
// AVX2 kernels for t (defined in kv_attn_avx2.c; call only when the CPU has AVX2 and FMA).
const KvAttnKernels *kv_attn_kernels_avx2(QuantType t);

#endif
