// matmul_kernels.h — the kernel sets behind mm_matmul (internal to src/engine).
//
// A kernel set is a table indexed by QuantType. Each entry computes a block of the product
//   y[i * ldy + r] = dot(W row r, X row i)   for r in [r0, r1), i in [0, n)
// where X is given in the form the weight type multiplies with (QUANT_TRAITS[type].act): float
// rows (ldx = cols) for F32/F16/BF16 weights, Q8_0 block rows (cols/32 blocks each) for the
// 32-weight types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL), Q8_K block rows (cols/256) for the
// K-quants (Q2_K..Q6_K), as llama.cpp pairs them.
// The `_ref` set (matmul.c) is plain C and always present; the `avx2` set (matmul_avx2.c, built
// with -mavx2 -mfma -mf16c) has the same signatures and is chosen at start-up when the CPU has
// AVX2, FMA and F16C; the `avxvnni` set (matmul_vnni_avx2.c) replaces its quantized products by
// AVX-VNNI ones when the CPU also has that (Q8_0/Q4_0 from the packed MM_LAYOUT_X16). All sets quantize X identically (bit for bit), so
// for Q8_0/Q4_0 weights they differ only in the order of float additions. The `avx512vnni` set
// (matmul_avx512.c, built with AVX-512 flags) multiplies Q8_0/Q4_0/Q4_K/Q6_K weights from the same
// packed layout (MM_LAYOUT_X16, see matmul.h) and otherwise uses the AVX2 set's kernels.
#ifndef RS_MATMUL_KERNELS_H
#define RS_MATMUL_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/matmul.h"

typedef struct {
    const uint8_t *w;  // weight rows, row_bytes apart
    size_t row_bytes;
    int64_t cols;
    const void *x;     // (n, cols) floats, (n, cols/32) BlockQ8_0 or (n, cols/256) BlockQ8K, per the weight type
    const int32_t *xnsum; // Q8_0 activations: (n, cols/32) minus the sum of the 32 codes of each X block
    const float *xd;      // Q8_0 activations: (n, cols/32) each X block's scale as float
    int64_t n;
    float *y;          // (n, ldy)
    int64_t ldy;
} MmArgs;

typedef void (*MmRowsFn)(const MmArgs *a, int64_t r0, int64_t r1);

// How a tile prefetches its weight stream (MM_PF of every set with packed tiles). A tile of several activation
// rows reuses each line from L2, so it prefetches 16 KiB ahead into L2 (MM_STREAM_L2). A tile of
// one activation row (a decode step: each weight byte used once, straight from DRAM) takes
// mm_stream_pf, set once with the kernel set, before any product:
//  - MM_STREAM_L1 on AMD cores: 8 KiB ahead into L1 (Zen 4: TinyLlama-shape Q4_K_M decode on one
//    thread +11% over L2; Zen 5 with the `avx2` set, which now honours it too: see matmul_avx2.c);
//  - MM_STREAM_L2L1 elsewhere: 16 KiB ahead into L2 and again 2 KiB ahead into L1. On an AMX
//    Xeon the load that finds its line in L2 but not L1 stalled the stream: the L1 prefetch of
//    a line already on its way to L2 took a decode step's Q4_K product (scripts/matmul_bench.c,
//    262144 x 2048, n=1, avxvnni) from 17.3 to 19-21 GMAC/s (code placement moves it), near the
//    same reads with no arithmetic (~20), and TinyLlama-shape Q4_K_M decode +10% at 1 and 2
//    threads (+18% with the native avx512vnni set); 8 KiB into L1 alone stalled that decode
//    (16.6 tok/s against 25.3 into L2 on one thread).
// RIGHTSIZE_STREAM_PREFETCH=l1|l2|l2l1 overrides the choice (l2: as the batched tiles).
enum { MM_STREAM_L2 = 0, MM_STREAM_L1 = 1, MM_STREAM_L2L1 = 2 };
extern int mm_stream_pf;
// A case of a packed row task's switch on the tile's activation-row count N (the VNNI sets): the
// task's groups g0..g1 each through FN(args..., pf), with pf a compile-time MM_STREAM_* constant
// (mm_stream_pf for a one-row tile, MM_STREAM_L2 otherwise), so a one-row tile is compiled once
// per mode and its loop has no branch.
#define MM_TILE_CASE(N, FN, ...)                                               \
    case N:                                                                    \
        if ((N) == 1 && mm_stream_pf == MM_STREAM_L1)                          \
            for (int64_t g = g0; g < g1; g++) FN(__VA_ARGS__, MM_STREAM_L1);   \
        else if ((N) == 1 && mm_stream_pf == MM_STREAM_L2L1)                   \
            for (int64_t g = g0; g < g1; g++) FN(__VA_ARGS__, MM_STREAM_L2L1); \
        else                                                                   \
            for (int64_t g = g0; g < g1; g++) FN(__VA_ARGS__, MM_STREAM_L2);   \
        break;
// Quantizes one row of cols floats (cols a multiple of 32) to Q8_0, exactly as quant_quantize_row,
// and writes minus each block's sum of codes to nsums[cols/32] (Q4_0 kernels use it for the -8
// offset) and its f16 scale widened to float to scales[cols/32] (saves a conversion per weight row).
typedef void (*MmQuantizeFn)(const float *x, BlockQ8_0 *y, int32_t *nsums, float *scales, int64_t cols);
// Quantizes one row of cols floats (cols a multiple of 256) to Q8_K, exactly as quant_quantize_row.
typedef void (*MmQuantizeKFn)(const float *x, BlockQ8K *y, int64_t cols);

// Packing of one weight matrix into the set's layout (dst: pack_bytes(w) bytes, 64-byte aligned),
// in groups of pack_rows rows: MmPackFn writes groups [g0, g1) (independent, so they can run in
// parallel).
typedef size_t (*MmPackBytesFn)(const WeightView *w);
typedef void (*MmPackFn)(const WeightView *w, void *dst, int64_t g0, int64_t g1);

typedef struct {
    const char *name;
    MmQuantizeFn quantize_q8_0;
    MmQuantizeKFn quantize_q8_k;
    MmRowsFn rows[QT_COUNT];  // NULL for types the set cannot multiply
    // Packed weights (all NULL/0 for sets without a layout of their own): for a WeightView whose
    // packed_layout is this set's, rows_packed[type] is called with MmArgs.w = the packed copy.
    int layout;
    int pack_rows;             // rows per group of the layout
    MmPackBytesFn pack_bytes;  // 0 for types without a packed form
    MmPackFn pack;
    MmRowsFn rows_packed[QT_COUNT];
} MmKernels;

// mm_matmul_many with a given kernel set (tests compare the sets through this).
void mm_matmul_with(const MmKernels *k, ThreadPool *tp, void *scratch, int n_w, float *const *y,
                    const WeightView *const *w, const float *x, int64_t n);

extern const MmKernels MM_KERNELS_REF;

// Q8_K activations, plain C (the ref set's; matmul.c).
void mm_quantize_q8_k_ref(const float *x, BlockQ8K *y, int64_t cols);
// Reference products (matmul_qref.c) of the types beyond Q8_0/Q4_0.
void mm_rows_q4_1_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q5_0_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q5_1_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_iq4_nl_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q2_k_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q3_k_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q4_k_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q5_k_ref(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q6_k_ref(const MmArgs *a, int64_t r0, int64_t r1);

// A K-quant super-block unpacked for an integer product with Q8_K activations: 256 unsigned codes
// q (the type's bias not removed), an integer scale sc and an integer offset off per 16 weights,
// so that dot(w, x) = d_x * (d * Σ_g sc[g] Σ_{16} q x  -  doff * Σ_g off[g] bsum_x[g]).
// Q4_K/Q5_K/Q2_K: off = the min code, doff = dmin; Q6_K: off = 32 sc, Q3_K: off = 4 sc, doff = d.
typedef struct {
    uint8_t q[QK_K];
    int16_t sc[16], off[16];
    float d, doff;
} MmKUnpacked;
void mm_unpack_k_ref(QuantType t, const void *blk, MmKUnpacked *u);
#if defined(__x86_64__) || defined(__i386__)
// Layout MM_LAYOUT_X16 (matmul.h; described in matmul_avx512.c), shared by the sets that multiply
// from it: groups of 16 rows, per 32-column block 8 stripes of 64 bytes (Q4_0: 4, nibbles kept),
// then the group's f16 scales, each group one 64-byte aligned record.
#define MM_X16_ROWS 16
static inline int64_t mm_x16_code_bytes(int is_q4) { return is_q4 ? 256 : 512; }  // per block and group
static inline size_t mm_x16_group_bytes(int64_t nb, int is_q4) {
    size_t b = (size_t)nb * (size_t)(mm_x16_code_bytes(is_q4) + 32);
    return (b + 63) & ~(size_t)63;
}
// Q4_K in the same layout: per 256-column super-block of a group, one 64-byte aligned record of
// MM_X16_K_BYTES: its 8 sub-blocks' codes as Q4_0's 4 stripes each (stripe i of sub-block j: for
// row t at bytes 4t..4t+3, low nibbles columns 32j+4i.., high nibbles 32j+16+4i..; codes 0..15);
// then at MM_X16_K_SM the 6-bit scales with the low 2 bits of the 6-bit mins on top (sub-block j:
// 16 bytes, row t at t: sc | (m & 3) << 6); at MM_X16_K_MH the mins' high 4 bits (row t: the 32-bit
// word at 4t, bits 4j..4j+3 for sub-block j); at MM_X16_K_D the 16 rows' f16 d, then the 16 f16
// dmin. 144 bytes per row and super-block, as Q4_K's own, so a decode reads no more than the file.
#define MM_X16_K_SM 2048
#define MM_X16_K_MH (MM_X16_K_SM + 8 * 16)
#define MM_X16_K_D (MM_X16_K_MH + 16 * 4)
#define MM_X16_K_BYTES (MM_X16_K_D + 16 * 2 * 2)
_Static_assert(MM_X16_K_BYTES == 16 * 144 && MM_X16_K_BYTES % 64 == 0, "a packed Q4_K record is 16 rows of 144 bytes");
static inline size_t mm_x16_k_group_bytes(int64_t nbk) { return (size_t)nbk * MM_X16_K_BYTES; }
// Q6_K in the same layout: per 256-column super-block of a group, one 64-byte aligned record of
// MM_X16_Q6K_BYTES. Codes are Q6_K's q + 32 (0..63). Sub-block j (32 columns) takes
// MM_X16_Q6K_SUB bytes at j * MM_X16_Q6K_SUB: the low 4 bits of its codes as Q4_K's 4 stripes
// (256 bytes), then their high 2 bits as two 64-byte registers (the first for columns 32j..32j+15,
// the second for 32j+16..32j+31): row t at bytes 4t..4t+3, byte c holding in bits 2i..2i+1 the
// high bits of the code of stripe i's column c (its low or high nibble, as the register). Then the
// int8 scales at MM_X16_Q6K_SC (group g of 16 columns: 16 bytes, row t at t), the 16 rows' f16 d
// at MM_X16_Q6K_D, padding to 64 bytes: 212 bytes per row and super-block (Q6_K's own: 210). A
// kernel reads the record front to back.
#define MM_X16_Q6K_SUB (256 + 128)
#define MM_X16_Q6K_HI 256  // within a sub-block
#define MM_X16_Q6K_SC (8 * MM_X16_Q6K_SUB)
#define MM_X16_Q6K_D (MM_X16_Q6K_SC + 16 * 16)
#define MM_X16_Q6K_BYTES ((MM_X16_Q6K_D + 16 * 2 + 63) / 64 * 64)
static inline size_t mm_x16_q6k_group_bytes(int64_t nbk) { return (size_t)nbk * MM_X16_Q6K_BYTES; }
// Bytes of w in that layout (0 for types it does not hold), and a portable packer of groups
// [g0, g1) (matmul.c; the AVX-512 set packs with gathers of its own, to the same bytes).
size_t mm_x16_pack_bytes(const WeightView *w);
void mm_x16_pack(const WeightView *w, void *dst, int64_t g0, int64_t g1);

extern const MmKernels MM_KERNELS_AVX2;     // AVX2 + FMA + F16C
extern const MmKernels MM_KERNELS_AVXVNNI;  // the same plus AVX-VNNI for the quantized products
extern const MmKernels MM_KERNELS_AVX512VNNI;  // AVX-512 VNNI on packed Q8_0/Q4_0 weights
extern const MmKernels MM_KERNELS_AMX;         // the same with Q8_0 products on AMX tiles
// Asks the OS for AMX tile state for this process (matmul_avx512.c); true when the AMX set may run.
bool mm_amx_enable(void);
// Shared by the x86 sets (defined in matmul_avx2.c).
void mm_quantize_q8_0_avx2(const float *x, BlockQ8_0 *y, int32_t *nsums, float *scales, int64_t cols);
void mm_quantize_q8_k_avx2(const float *x, BlockQ8K *y, int64_t cols);
void mm_rows_f32_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_f16_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_bf16_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q8_0_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q4_0_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q4_1_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q5_0_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q5_1_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_iq4_nl_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q2_k_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q3_k_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q4_k_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q5_k_avx2(const MmArgs *a, int64_t r0, int64_t r1);
void mm_rows_q6_k_avx2(const MmArgs *a, int64_t r0, int64_t r1);
#endif

#endif
