// ops.h — the trainer's kernels, each a forward and its backward. Matrices are row-major with
// the GGUF convention W (out, in): y = x·Wᵀ. Matmuls run on the thread pool with a fixed split
// (every output element is summed in the same order whatever the thread count), so training is
// bit-for-bit reproducible.
#ifndef RS_TRAIN_OPS_H
#define RS_TRAIN_OPS_H

#include <stdint.h>

#include "base/threadpool.h"

// out (N, O) = inp (N, I) · W (O, I)ᵀ
void op_matmul(ThreadPool *tp, float *out, const float *inp, const float *w, int64_t N, int64_t I, int64_t O);
// dinp (N, I) += dout · W;  dw (O, I) += doutᵀ · inp
void op_matmul_bwd(ThreadPool *tp, float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                   int64_t N, int64_t I, int64_t O);

// out = x · rstd · w per row, rstd = 1/sqrt(mean(x²) + eps) (sum in double, as the engine);
// rstd (N) kept for the backward.
void op_rmsnorm(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t D, float eps);
// dx (N, D) += ...;  dw (D) += ...
void op_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                    int64_t N, int64_t D);

// Rotates adjacent pairs of every head of x (N = B·T rows of n_heads·head_dim) by pos·inv_freq
// (pos = row % T), the engine's GGUF `llama` RoPE. inverse rotates back (the backward).
void op_rope(float *x, const double *inv_freq, int64_t N, int64_t T, int64_t n_heads, int64_t head_dim, int inverse);

// h = silu(g) · u
void op_swiglu(float *h, const float *g, const float *u, int64_t n);
void op_swiglu_bwd(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);

// Causal attention per (batch row, head): out = softmax(q·kᵀ/√hd) · v, probabilities kept in
// att (B, H, T, T). q, out (B·T, H·hd); k, v (B·T, KVH·hd); query head h reads kv head h/(H/KVH).
void op_attention(ThreadPool *tp, float *out, float *att, const float *q, const float *k, const float *v,
                  int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t hd);
// dq, dk, dv (set, not added) from dout. scratch: (threads, T) floats.
void op_attention_bwd(ThreadPool *tp, float *dq, float *dk, float *dv, const float *dout, const float *att,
                      const float *q, const float *k, const float *v, int64_t B, int64_t T, int64_t H, int64_t KVH,
                      int64_t hd, float *scratch);

#endif
