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
// per thread), dealt as one contiguous range of chunks per thread (tp_run_ranges: each thread
// streams through its own part of W, idle threads take chunks from the others' ends); every
// output element is computed by one task with the same kernel, so the result does not depend on
// the number of threads.
#ifndef RS_MATMUL_H
#define RS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "engine/quant.h"

typedef struct {
    QuantType type;
    int64_t rows, cols;
    const void *data;    // not owned (usually points into the mmap'ed GGUF)
    // Optional copy of the same weights in a kernel set's own layout (see mm_pack), used instead
    // of data by the set that made it; NULL when there is none. Not owned.
    const void *packed;
    int packed_layout;   // the layout `packed` is in (MM_LAYOUT_*); 0 when packed is NULL
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
// Packed weights. Some kernel sets multiply faster from a layout of their own: the avxvnni,
// avx512vnni and amx sets interleave 16 rows so that one vpdpbusd yields 8 or 16 output rows at
// once (MM_LAYOUT_X16: for each
// group of 16 rows and each 32-column block, the codes as 8 stripes of 16 rows x 4 bytes, biased to
// unsigned; then the group's f16 scales). The packed copy holds the same numbers in the same
// number of bytes per row; results equal the unpacked path's to float rounding. Q4_K and Q6_K
// have records of their own in the same 16-row groups (MM_X16_K_BYTES, MM_X16_Q6K_BYTES in
// matmul_kernels.h), multiplied from them by every SIMD set.
#define MM_LAYOUT_X16 1
// Bytes the chosen kernel set's packed copy of w takes, or 0 when that set multiplies w as it is
// (type without a packed layout, a set without packing, or RIGHTSIZE_KERNELS capping below it).
size_t mm_pack_bytes(const WeightView *w);
// Writes that copy to dst (mm_pack_bytes(w) bytes, 64-byte aligned), split over tp's threads (tp
// may be NULL), and points w->packed at it.
void mm_pack(ThreadPool *tp, WeightView *w, void *dst);

// The plain-C path, always available (the truth the SIMD path is tested against).
void mm_matmul_ref(ThreadPool *tp, void *scratch, float *y, const WeightView *w, const float *x, int64_t n);
// Name of the kernel set chosen once per process: "amx" (avx512vnni with Q8_0 products on AMX
// int8 tiles), "avx512vnni" (AVX-512 F/BW/VL/VNNI, packed quantized weights), "avxvnni" (AVX2 +
// AVX-VNNI), "avx2" (AVX2 + FMA + F16C) or "ref" (plain C).
// RIGHTSIZE_KERNELS=ref|avx2|avxvnni|avx512vnni caps the choice at that set.
const char *mm_kernel_name(void);

#endif
