// kv_attn.h — the two inner loops of attention over stored K/V rows (F32 or F16 elements):
//   dot:  q · k            (k one stored row of head_dim elements)
//   axpy: out += a · v     (v one stored row)
// A plain-C set (the truth) and an AVX2/F16C set with the same signatures, chosen once by CPU
// feature; RIGHTSIZE_KERNELS=ref forces the plain set (as for matmul).
#ifndef RS_KV_ATTN_H
#define RS_KV_ATTN_H

#include <stdint.h>

#include "engine/quant.h"

#define KV_MAX_HEAD_DIM 1024

typedef struct {
    float (*dot)(const float *q, const void *k, int64_t n);
    void (*axpy)(float *out, float a, const void *v, int64_t n);
} KvAttnKernels;

// Kernels for stored type t (QT_F16 or QT_F32), dispatched by CPU feature.
const KvAttnKernels *kv_attn_kernels(QuantType t);
// The plain-C kernels for t, always available.
const KvAttnKernels *kv_attn_kernels_ref(QuantType t);
// AVX2 kernels for t (defined in kv_attn_avx2.c; call only when the CPU has AVX2, FMA and F16C).
const KvAttnKernels *kv_attn_kernels_avx2(QuantType t);

#endif
