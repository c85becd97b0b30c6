// matmul.h — the engine's matrix products: Y = X · Wᵀ for a batch of rows.
//
//   W: (rows, cols) in any supported QuantType, row-major, one row = quant_row_bytes(type, cols)
//   X: (n, cols) float — n activation rows (a batch: prefill tokens and decode rows together)
//   Y: (n, rows) float
//
// Each weight block is read once for all n rows (that is what makes batching cheap). For quantized
// W, X is first quantized to Q8_0 blocks in `scratch` and the products use integer dot products, as
// llama.cpp does; so results match a float reference only to quantization tolerance.
// The work is split across the thread pool in chunks of output rows (16-256 rows, about 8 tasks
// per thread); every output element is computed by one task with the same kernel, so the result
// does not depend on the number of threads.
#ifndef RS_MATMUL_H
#define RS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "engine/quant.h"

typedef struct {
    QuantType type;
    int64_t rows, cols;
    const void *data;  // not owned (usually points into the mmap'ed GGUF)
} WeightView;

// Bytes of scratch mm_matmul needs for up to n_max rows of cols columns.
size_t mm_scratch_bytes(int64_t cols, int64_t n_max);
// Y = X · Wᵀ. scratch must hold mm_scratch_bytes(w->cols, n) bytes, 64-byte aligned.
void mm_matmul(ThreadPool *tp, void *scratch, float *y, const WeightView *w, const float *x, int64_t n);
// Several products of the same X in one call: y[i] = X · w[i]ᵀ for i < n_w (n_w <= MM_MANY_MAX,
// every w[i] with the same cols, types may differ). X is quantized once and all the rows of all the
// matrices are one job for the pool, so q/k/v or gate/up cost one fork-join instead of three or
// two. scratch as for mm_matmul.
#define MM_MANY_MAX 8
void mm_matmul_many(ThreadPool *tp, void *scratch, int n_w, float *const *y, const WeightView *const *w,
                    const float *x, int64_t n);
// The plain-C path, always available (the truth the SIMD path is tested against).
void mm_matmul_ref(ThreadPool *tp, void *scratch, float *y, const WeightView *w, const float *x, int64_t n);
// Name of the kernel set chosen once per process: "avxvnni" (AVX2 + AVX-VNNI), "avx2" (AVX2 + FMA
// + F16C) or "ref" (plain C). RIGHTSIZE_KERNELS=ref forces ref; RIGHTSIZE_KERNELS=avx2 caps at avx2.
const char *mm_kernel_name(void);

#endif
