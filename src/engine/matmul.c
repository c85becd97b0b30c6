// matmul.c — Y = X · Wᵀ: kernel-set choice, the split over the thread pool, and the plain-C
// (`_ref`) kernels that are the truth the AVX2 kernels are tested against.
//
// Work split: the output rows of W are cut into chunks of MM_CHUNK_* rows, one pool task each;
// a task computes its rows for all n activation rows, so every weight row is read from memory
// once per call whatever n is. The chunks go out as one contiguous range per thread
// (tp_run_ranges), so each thread's reads are one sequential stream (the packed matrices of a
// model lie in the order they are multiplied) and the kernels' prefetches run ahead into rows the
// same thread reads next, not into the other thread's chunk. For Q8_0/Q4_0 weights, X is first quantized to Q8_0 blocks in
// the caller's scratch (in parallel over rows when there is enough of it).
#include "engine/matmul.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/cpu.h"
#include "engine/matmul_kernels.h"

// Rows per task: about MM_TASKS_PER_THREAD tasks per thread (enough to balance threads that a
// busy machine slows unevenly), but never under MM_CHUNK_MIN rows (each task costs an atomic on a
// line shared by all cores, ~100 ns, and re-reads X) nor over MM_CHUNK_MAX (a task's rows of W
// should stay in L2 while the groups of X rows pass over them).
#define MM_TASKS_PER_THREAD 8
// A product of a few X rows (a decode step) streams W once and does little else: its threads
// finish together only if the last task is short, so it is cut finer (a range's tasks are still
// read in order, one stream per thread). At 8 tasks per thread a 2-thread decode of TinyLlama's
// shape had 256-row chunks on the gate/up product (~12 us of one thread's stream at 25 GB/s), so
// a product could end with one thread idle for up to that long; at 32 they are 32-176 rows.
#define MM_DECODE_ROWS 4
#define MM_DECODE_TASKS_PER_THREAD 32
#define MM_CHUNK_MIN 16
#define MM_CHUNK_MAX 256
#define MM_PARALLEL_QUANTIZE_MIN 32768  // X elements below which quantizing on one thread wins

// ---- reference kernels (plain C) ----

static float dot_f32_ref(const float *w, const float *x, int64_t cols) {
    float acc = 0;
    for (int64_t c = 0; c < cols; c++) acc += w[c] * x[c];
    return acc;
}

static float dot_f16_ref(const uint16_t *w, const float *x, int64_t cols) {
    float acc = 0;
    for (int64_t c = 0; c < cols; c++) acc += quant_f16_to_f32(w[c]) * x[c];
    return acc;
}

static float dot_bf16_ref(const uint16_t *w, const float *x, int64_t cols) {
    float acc = 0;
    for (int64_t c = 0; c < cols; c++) acc += quant_bf16_to_f32(w[c]) * x[c];
    return acc;
}

static float dot_q8_0_ref(const BlockQ8_0 *w, const BlockQ8_0 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < QK8_0; j++) s += (int32_t)w[b].qs[j] * x[b].qs[j];
        acc += (float)s * (quant_f16_to_f32(w[b].d) * quant_f16_to_f32(x[b].d));
    }
    return acc;
}

static float dot_q4_0_ref(const BlockQ4_0 *w, const BlockQ8_0 *x, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            s += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
            s += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QK4_0 / 2];
        }
        acc += (float)s * (quant_f16_to_f32(w[b].d) * quant_f16_to_f32(x[b].d));
    }
    return acc;
}

// One loop shape for every type: weight row r outer (it stays in L1 across the n rows of X).
#define DEFINE_ROWS_REF(NAME, WTYPE, XTYPE, DOT, LEN)                                      \
    static void NAME(const MmArgs *a, int64_t r0, int64_t r1) {                           \
        int64_t len = (LEN);                                                              \
        for (int64_t r = r0; r < r1; r++) {                                               \
            const WTYPE *w = (const WTYPE *)(a->w + (size_t)r * a->row_bytes);            \
            for (int64_t i = 0; i < a->n; i++)                                            \
                a->y[i * a->ldy + r] = DOT(w, (const XTYPE *)a->x + i * len, len);        \
        }                                                                                 \
    }

DEFINE_ROWS_REF(rows_f32_ref, float, float, dot_f32_ref, a->cols)
DEFINE_ROWS_REF(rows_f16_ref, uint16_t, float, dot_f16_ref, a->cols)
DEFINE_ROWS_REF(rows_bf16_ref, uint16_t, float, dot_bf16_ref, a->cols)
DEFINE_ROWS_REF(rows_q8_0_ref, BlockQ8_0, BlockQ8_0, dot_q8_0_ref, a->cols / QK8_0)
DEFINE_ROWS_REF(rows_q4_0_ref, BlockQ4_0, BlockQ8_0, dot_q4_0_ref, a->cols / QK8_0)

void mm_quantize_q8_k_ref(const float *x, BlockQ8K *y, int64_t cols) { quant_quantize_row(QT_Q8_K, x, y, cols); }

static void quantize_q8_0_ref(const float *x, BlockQ8_0 *y, int32_t *nsums, float *scales, int64_t cols) {
    quant_quantize_row(QT_Q8_0, x, y, cols);
    for (int64_t b = 0; b < cols / QK8_0; b++) {
        int32_t s = 0;
        for (int j = 0; j < QK8_0; j++) s += y[b].qs[j];
        nsums[b] = -s;
        scales[b] = quant_f16_to_f32(y[b].d);
    }
}

const MmKernels MM_KERNELS_REF = {
    .name = "ref",
    .quantize_q8_0 = quantize_q8_0_ref,
    .quantize_q8_k = mm_quantize_q8_k_ref,
    .rows = {
        [QT_F32] = rows_f32_ref,
        [QT_F16] = rows_f16_ref,
        [QT_BF16] = rows_bf16_ref,
        [QT_Q8_0] = rows_q8_0_ref,
        [QT_Q4_0] = rows_q4_0_ref,
        [QT_Q4_1] = mm_rows_q4_1_ref,
        [QT_Q5_0] = mm_rows_q5_0_ref,
        [QT_Q5_1] = mm_rows_q5_1_ref,
        [QT_IQ4_NL] = mm_rows_iq4_nl_ref,
        [QT_Q2_K] = mm_rows_q2_k_ref,
        [QT_Q3_K] = mm_rows_q3_k_ref,
        [QT_Q4_K] = mm_rows_q4_k_ref,
        [QT_Q5_K] = mm_rows_q5_k_ref,
        [QT_Q6_K] = mm_rows_q6_k_ref,
    },
};

// ---- the X16 layout, portable packer ----

size_t mm_x16_pack_bytes(const WeightView *w) {
    if (w->rows <= 0 || w->cols <= 0) return 0;
    int64_t groups = (w->rows + MM_X16_ROWS - 1) / MM_X16_ROWS;
    if (w->type == QT_Q4_K && w->cols % QK_K == 0) return (size_t)groups * mm_x16_k_group_bytes(w->cols / QK_K);
    if (w->type == QT_Q6_K && w->cols % QK_K == 0) return (size_t)groups * mm_x16_q6k_group_bytes(w->cols / QK_K);
    if (w->type != QT_Q8_0 && w->type != QT_Q4_0) return 0;
    if (w->cols % QK8_0) return 0;
    return (size_t)groups * mm_x16_group_bytes(w->cols / QK8_0, w->type == QT_Q4_0);
}

// One group of Q4_K rows (see MM_X16_K_BYTES), through the reference unpacking.
static void x16_pack_q4_k(const WeightView *w, uint8_t *grp, int64_t g) {
    int64_t nbk = w->cols / QK_K;
    size_t row_bytes = quant_row_bytes(w->type, w->cols);
    memset(grp, 0, mm_x16_k_group_bytes(nbk));  // padding rows: zero codes, scales and d
    for (int t = 0; t < MM_X16_ROWS && g * MM_X16_ROWS + t < w->rows; t++) {
        const BlockQ4K *row = (const BlockQ4K *)((const uint8_t *)w->data + (size_t)(g * MM_X16_ROWS + t) * row_bytes);
        for (int64_t sb = 0; sb < nbk; sb++) {
            uint8_t *rec = grp + (size_t)sb * MM_X16_K_BYTES;
            MmKUnpacked u;
            mm_unpack_k_ref(QT_Q4_K, &row[sb], &u);
            for (int j = 0; j < 8; j++) {
                for (int i = 0; i < 4; i++)
                    for (int c = 0; c < 4; c++)
                        rec[j * 256 + i * 64 + 4 * t + c] =
                            (uint8_t)(u.q[32 * j + 4 * i + c] | u.q[32 * j + 16 + 4 * i + c] << 4);
                rec[MM_X16_K_SM + 16 * j + t] = (uint8_t)(u.sc[2 * j] | (u.off[2 * j] & 3) << 6);
                rec[MM_X16_K_MH + 4 * t + j / 2] |= (uint8_t)((u.off[2 * j] >> 2) << (4 * (j % 2)));
            }
            uint16_t *d = (uint16_t *)(rec + MM_X16_K_D);
            d[t] = row[sb].d;
            d[16 + t] = row[sb].dmin;
        }
    }
}

// One group of Q6_K rows (see MM_X16_Q6K_BYTES), through the reference unpacking (codes q + 32).
static void x16_pack_q6_k(const WeightView *w, uint8_t *grp, int64_t g) {
    int64_t nbk = w->cols / QK_K;
    size_t row_bytes = quant_row_bytes(w->type, w->cols);
    memset(grp, 0, mm_x16_q6k_group_bytes(nbk));  // padding rows: zero codes, scales and d
    for (int t = 0; t < MM_X16_ROWS && g * MM_X16_ROWS + t < w->rows; t++) {
        const BlockQ6K *row = (const BlockQ6K *)((const uint8_t *)w->data + (size_t)(g * MM_X16_ROWS + t) * row_bytes);
        for (int64_t sb = 0; sb < nbk; sb++) {
            uint8_t *rec = grp + (size_t)sb * MM_X16_Q6K_BYTES;
            MmKUnpacked u;
            mm_unpack_k_ref(QT_Q6_K, &row[sb], &u);
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < 4; i++)
                    for (int c = 0; c < 4; c++) {
                        uint8_t q0 = u.q[32 * j + 4 * i + c], q1 = u.q[32 * j + 16 + 4 * i + c];
                        uint8_t *sub = rec + j * MM_X16_Q6K_SUB;
                        sub[i * 64 + 4 * t + c] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
                        sub[MM_X16_Q6K_HI + 4 * t + c] |= (uint8_t)((q0 >> 4) << (2 * i));
                        sub[MM_X16_Q6K_HI + 64 + 4 * t + c] |= (uint8_t)((q1 >> 4) << (2 * i));
                    }
            for (int gi = 0; gi < 16; gi++) rec[MM_X16_Q6K_SC + 16 * gi + t] = (uint8_t)(int8_t)u.sc[gi];
            ((uint16_t *)(rec + MM_X16_Q6K_D))[t] = row[sb].d;
        }
    }
}

// Stripe j of block b holds the 4 code bytes at qs[4j..4j+3] of each of the group's 16 rows, row t
// at bytes 4t..4t+3: Q8_0 codes biased to unsigned (xor 0x80 = + 128), Q4_0 nibble bytes as they
// are; rows past the matrix (a last group's padding) hold a zero weight's code and a zero scale.
void mm_x16_pack(const WeightView *w, void *dst, int64_t g0, int64_t g1) {
    if (w->type == QT_Q4_K) {
        for (int64_t g = g0; g < g1; g++)
            x16_pack_q4_k(w, (uint8_t *)dst + (size_t)g * mm_x16_k_group_bytes(w->cols / QK_K), g);
        return;
    }
    if (w->type == QT_Q6_K) {
        for (int64_t g = g0; g < g1; g++)
            x16_pack_q6_k(w, (uint8_t *)dst + (size_t)g * mm_x16_q6k_group_bytes(w->cols / QK_K), g);
        return;
    }
    int is_q4 = w->type == QT_Q4_0;
    int64_t nb = w->cols / QK8_0, cb = mm_x16_code_bytes(is_q4);
    size_t row_bytes = quant_row_bytes(w->type, w->cols), gbytes = mm_x16_group_bytes(nb, is_q4);
    size_t bs = is_q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
    int stripes = is_q4 ? 4 : 8;
    for (int64_t g = g0; g < g1; g++) {
        uint8_t *codes = (uint8_t *)dst + (size_t)g * gbytes;
        uint16_t *scales = (uint16_t *)(codes + nb * cb);
        for (int t = 0; t < MM_X16_ROWS; t++) {
            int64_t r = g * MM_X16_ROWS + t;
            const uint8_t *row = r < w->rows ? (const uint8_t *)w->data + (size_t)r * row_bytes : NULL;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = row ? row + (size_t)b * bs : NULL;
                uint16_t d = 0;
                if (blk) memcpy(&d, blk, 2);  // both blocks start with their f16 scale
                scales[b * MM_X16_ROWS + t] = d;
                for (int j = 0; j < stripes; j++) {
                    uint8_t *out = codes + b * cb + j * 64 + 4 * t;
                    for (int i = 0; i < 4; i++) {
                        uint8_t c = blk ? blk[2 + 4 * j + i] : (is_q4 ? 0x88 : 0);
                        out[i] = is_q4 ? c : (uint8_t)(c ^ 0x80);
                    }
                }
            }
        }
    }
}

// ---- choice of kernel set, once per process ----

static const MmKernels *g_kernels = &MM_KERNELS_REF;
static pthread_once_t g_kernels_once = PTHREAD_ONCE_INIT;
int mm_stream_pf;

// The best set the CPU runs; RIGHTSIZE_KERNELS=ref|avx2|avxvnni|avx512vnni caps it (for tests
// and comparisons). RIGHTSIZE_STREAM_PREFETCH=l1|l2|l2l1 sets mm_stream_pf (any other value:
// the CPU's default, l1 on AMD cores and l2l1 elsewhere).
static void choose_kernels(void) {
    const char *force = getenv("RIGHTSIZE_KERNELS");
    if (force && strcmp(force, "ref") == 0) return;
#if defined(__x86_64__) || defined(__i386__)
    CpuFeatures f = cpu_features();
    const char *pf = getenv("RIGHTSIZE_STREAM_PREFETCH");
    mm_stream_pf = f.amd ? MM_STREAM_L1 : MM_STREAM_L2L1;
    if (pf && strcmp(pf, "l1") == 0) mm_stream_pf = MM_STREAM_L1;
    if (pf && strcmp(pf, "l2") == 0) mm_stream_pf = MM_STREAM_L2;
    if (pf && strcmp(pf, "l2l1") == 0) mm_stream_pf = MM_STREAM_L2L1;
    if (!f.avx2 || !f.fma || !f.f16c) return;
    g_kernels = &MM_KERNELS_AVX2;
    if (force && strcmp(force, "avx2") == 0) return;
    if (f.avxvnni) g_kernels = &MM_KERNELS_AVXVNNI;
    if (force && strcmp(force, "avxvnni") == 0) return;
    if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni)) return;
    g_kernels = &MM_KERNELS_AVX512VNNI;
    if (force && strcmp(force, "avx512vnni") == 0) return;
    if (f.amx_tile && f.amx_int8 && mm_amx_enable()) g_kernels = &MM_KERNELS_AMX;
#endif
}

static const MmKernels *kernels(void) {
    pthread_once(&g_kernels_once, choose_kernels);
    return g_kernels;
}

const char *mm_kernel_name(void) { return kernels()->name; }

size_t mm_pack_bytes(const WeightView *w) {
    const MmKernels *k = kernels();
    return k->pack_bytes ? k->pack_bytes(w) : 0;
}

typedef struct {
    const MmKernels *k;
    const WeightView *w;
    void *dst;
    int64_t groups;
} PackJob;

#define MM_PACK_GROUPS_PER_TASK 32

static void task_pack(void *ctx, int64_t task, int thread) {
    (void)thread;
    const PackJob *j = ctx;
    int64_t g0 = task * MM_PACK_GROUPS_PER_TASK, g1 = g0 + MM_PACK_GROUPS_PER_TASK;
    j->k->pack(j->w, j->dst, g0, g1 < j->groups ? g1 : j->groups);
}

void mm_pack(ThreadPool *tp, WeightView *w, void *dst) {
    const MmKernels *k = kernels();
    CHECK(k->pack && k->pack_bytes(w) > 0 && ((uintptr_t)dst & 63) == 0);
    PackJob j = {.k = k, .w = w, .dst = dst, .groups = (w->rows + k->pack_rows - 1) / k->pack_rows};
    tp_run(tp, task_pack, &j, (j.groups + MM_PACK_GROUPS_PER_TASK - 1) / MM_PACK_GROUPS_PER_TASK);
    w->packed = dst;
    w->packed_layout = k->layout;
}

// ---- the split over the pool ----

typedef struct {
    const MmKernels *k;
    int n_w;
    MmArgs args[MM_MANY_MAX];
    MmRowsFn fn[MM_MANY_MAX];
    int64_t task_end[MM_MANY_MAX];  // tasks of weight i are [task_end[i-1], task_end[i])
    int64_t chunk;
    // quantization pass
    const float *xf;
    BlockQ8_0 *xq;
    int32_t *xnsum;
    float *xd;
    BlockQ8K *xk;
    bool want_q8_0, want_q8_k;
    int64_t cols;
} MmJob;

static void task_rows(void *ctx, int64_t task, int thread) {
    (void)thread;
    const MmJob *j = ctx;
    int i = 0;
    while (task >= j->task_end[i]) i++;
    int64_t first = i ? j->task_end[i - 1] : 0;
    int64_t r0 = (task - first) * j->chunk, r1 = r0 + j->chunk;
    int64_t rows = j->args[i].ldy;
    j->fn[i](&j->args[i], r0, r1 < rows ? r1 : rows);
}

static void task_quantize(void *ctx, int64_t i, int thread) {
    (void)thread;
    const MmJob *j = ctx;
    int64_t nb = j->cols / QK8_0;
    if (j->want_q8_0)
        j->k->quantize_q8_0(j->xf + i * j->cols, j->xq + i * nb, j->xnsum + i * nb, j->xd + i * nb, j->cols);
    if (j->want_q8_k) j->k->quantize_q8_k(j->xf + i * j->cols, j->xk + i * (j->cols / QK_K), j->cols);
}

// Scratch layout for n rows: the Q8_0 blocks of X, then (at the next 64-byte boundary) one int32
// code sum per block (negated), then one float scale per block; then (64-byte aligned) the Q8_K
// blocks of X. Each part is filled only when a weight of the call multiplies with it.
static size_t scratch_blocks_bytes(int64_t cols, int64_t n) {
    size_t b = (size_t)n * (size_t)((cols + QK8_0 - 1) / QK8_0) * sizeof(BlockQ8_0);
    return (b + 63) & ~(size_t)63;
}

static size_t scratch_q8_0_bytes(int64_t cols, int64_t n) {
    size_t b = scratch_blocks_bytes(cols, n) + (size_t)n * (size_t)((cols + QK8_0 - 1) / QK8_0) * 8;
    return (b + 63) & ~(size_t)63;
}

size_t mm_scratch_bytes(int64_t cols, int64_t n_max) {
    CHECK(cols >= 0 && n_max >= 0);
    return scratch_q8_0_bytes(cols, n_max) + (size_t)n_max * (size_t)((cols + QK_K - 1) / QK_K) * sizeof(BlockQ8K) + 64;
}

void mm_matmul_with(const MmKernels *k, ThreadPool *tp, void *scratch, int n_w, float *const *y,
                    const WeightView *const *w, const float *x, int64_t n) {
    CHECK(n_w >= 1 && n_w <= MM_MANY_MAX && n >= 0);
    MmJob j = {.k = k, .n_w = n_w, .cols = w[0]->cols};
    int64_t total_rows = 0;
    for (int i = 0; i < n_w; i++) total_rows += w[i]->rows;
    int64_t want = (n <= MM_DECODE_ROWS ? MM_DECODE_TASKS_PER_THREAD : MM_TASKS_PER_THREAD) * tp_size(tp);
    j.chunk = (total_rows + want - 1) / want;
    j.chunk = (j.chunk + MM_CHUNK_MIN - 1) / MM_CHUNK_MIN * MM_CHUNK_MIN;
    j.chunk = j.chunk < MM_CHUNK_MIN ? MM_CHUNK_MIN : j.chunk > MM_CHUNK_MAX ? MM_CHUNK_MAX : j.chunk;
    int64_t tasks = 0;
    for (int i = 0; i < n_w; i++) {
        const WeightView *wi = w[i];
        CHECK(quant_traits((uint32_t)wi->type) && QUANT_TRAITS[wi->type].supported && k->rows[wi->type]);
        CHECK(wi->rows >= 0 && wi->cols == j.cols);
        size_t row_bytes = quant_row_bytes(wi->type, wi->cols);
        CHECK(row_bytes > 0 || wi->cols == 0);
        j.args[i] = (MmArgs){.w = wi->data, .row_bytes = row_bytes, .cols = wi->cols, .x = x, .n = n, .y = y[i],
                             .ldy = wi->rows};
        j.fn[i] = k->rows[wi->type];
        if (wi->packed && k->layout && wi->packed_layout == k->layout && k->rows_packed[wi->type]) {
            j.args[i].w = wi->packed;
            j.fn[i] = k->rows_packed[wi->type];
        }
        j.want_q8_0 |= QUANT_TRAITS[wi->type].act == QA_Q8_0;
        j.want_q8_k |= QUANT_TRAITS[wi->type].act == QA_Q8_K;
        tasks += (wi->rows + j.chunk - 1) / j.chunk;
        j.task_end[i] = tasks;
    }
    if (n == 0 || tasks == 0) return;
    if (j.want_q8_0 || j.want_q8_k) {
        CHECK(scratch && ((uintptr_t)scratch & 63) == 0);
        j.xf = x;
        j.xq = scratch;
        j.xnsum = (int32_t *)((uint8_t *)scratch + scratch_blocks_bytes(j.cols, n));
        j.xd = (float *)(j.xnsum + n * (j.cols / QK8_0));
        j.xk = (BlockQ8K *)((uint8_t *)scratch + scratch_q8_0_bytes(j.cols, n));
        if (n * j.cols >= MM_PARALLEL_QUANTIZE_MIN) {
            tp_run(tp, task_quantize, &j, n);
        } else {
            for (int64_t i = 0; i < n; i++) task_quantize(&j, i, 0);
        }
        for (int i = 0; i < n_w; i++) {
            if (QUANT_TRAITS[w[i]->type].act == QA_Q8_0) {
                j.args[i].x = j.xq;
                j.args[i].xnsum = j.xnsum;
                j.args[i].xd = j.xd;
            } else if (QUANT_TRAITS[w[i]->type].act == QA_Q8_K) {
                j.args[i].x = j.xk;
            }
        }
    }
    tp_run_ranges(tp, task_rows, &j, tasks);
}

void mm_matmul(ThreadPool *tp, void *scratch, float *y, const WeightView *w, const float *x, int64_t n) {
    mm_matmul_with(kernels(), tp, scratch, 1, &y, &w, x, n);
}

void mm_matmul_ref(ThreadPool *tp, void *scratch, float *y, const WeightView *w, const float *x, int64_t n) {
    mm_matmul_with(&MM_KERNELS_REF, tp, scratch, 1, &y, &w, x, n);
}

void mm_matmul_many(ThreadPool *tp, void *scratch, int n_w, float *const *y, const WeightView *const *w,
                    const float *x, int64_t n) {
    mm_matmul_with(kernels(), tp, scratch, n_w, y, w, x, n);
}
