// Tests of src/engine/matmul: every kernel set the CPU runs (plain-C `ref`, `avx2`, `avxvnni`)
// and the dispatched entry point, against a float64 product computed here from the dequantized
// weights, for every supported weight type, on fresh random inputs and awkward shapes.
//
// Error bounds (u = 2^-24, S = sum over c of |w_c * x_c|, computed in float64):
// - Any float32 sum of m products, in any order, is within about (m + 1) u S of the exact sum
//   (Higham's gamma_m bound); the kernels only change the order. F32/F16/BF16 weights: m = cols.
// - Q8_0/Q4_0 weights: each block's integer sum is exact, then scaled (2 roundings) and the nb
//   block terms summed in float: (nb + 8) u S against the float64 product that uses X rounded
//   through Q8_0 exactly as the kernels do ("tight").
// - Against the unquantized X ("loose"): rounding x to Q8_0 moves each element by at most
//   d/2 + 127 d 2^-11 (round to the step d = amax/127, then d stored as f16), so
//   |error| <= sum over blocks of amax_b (1/254 + 1/2048) sum_b |w_c|, plus the float term.
// - Q4_0/Q5_0 multiply the unsigned codes (q + 8, q + 16) and take the bias off through the
//   activations' code sums, per lane before the lanes are scaled and summed in float: S sums
//   |w x| + 2 bias |d x| per weight (wmag).
// - Types with a min or an offset applied separately (Q4_1, Q5_1, the K-quants) compute
//   d*q*x and m*x (or c_g*bsum) apart and subtract: S then sums |d q x| + |m x| per weight
//   (wmag), and K-quant products round about 24 times per 256-weight block, not 8 per 32.
// - K-quant activations are Q8_K: float d = amax/127 per 256 values, so the loose bound uses the
//   256-block amax and no f16 term.
// A single wrong element, block or row breaks these bounds by orders of magnitude on the shapes
// used (checked by test matmul_bounds_catch_a_wrong_block).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/cpu.h"
#include "base/rng.h"
#include "base/threadpool.h"
#include "engine/matmul.h"
#include "engine/matmul_kernels.h"
#include "test.h"

#define U32 (1.0 / 16777216.0)

typedef struct {
    QuantType type;
    int64_t rows, cols, n;
    void *w;        // quantized weights
    double *wd;     // (rows, cols) dequantized weights
    double *wmag;   // (rows, cols) magnitude of each weight's terms in the kernels' sums (see below)
    float *x;       // (n, cols)
    double *xq;     // (n, cols) x rounded through Q8_0 (quantized types), else x
    void *scratch;
} Case;

static float rand_f(Rng *r, double scale) { return (float)(rng_normal(r) * scale); }

static bool is_k(QuantType t) { return QUANT_TRAITS[t].act == QA_Q8_K; }
static bool is_q(QuantType t) { return QUANT_TRAITS[t].act != QA_FLOAT; }

// |terms| of each weight of a row (see the header): |w| for the symmetric types.
static void weight_magnitudes(QuantType t, const uint8_t *row, const float *wf, double *mag, int64_t cols) {
    for (int64_t k = 0; k < cols; k++) mag[k] = fabs(wf[k]);
    if (is_k(t)) {
        size_t bs = QUANT_TRAITS[t].type_size;
        for (int64_t b = 0; b < cols / QK_K; b++) {
            MmKUnpacked u;
            mm_unpack_k_ref(t, row + (size_t)b * bs, &u);
            for (int e = 0; e < QK_K; e++)
                mag[b * QK_K + e] = fabs((double)u.d * u.sc[e / 16] * u.q[e]) + fabs((double)u.doff * u.off[e / 16]);
        }
    } else if (t == QT_Q4_1 || t == QT_Q5_1) {
        size_t bs = QUANT_TRAITS[t].type_size;
        for (int64_t b = 0; b < cols / 32; b++) {
            uint16_t m16;
            memcpy(&m16, row + (size_t)b * bs + 2, 2);
            double m = fabs((double)quant_f16_to_f32(m16));
            for (int e = 0; e < 32; e++) mag[b * 32 + e] = fabs(wf[b * 32 + e]) + 2 * m;
        }
    } else if (t == QT_Q4_0 || t == QT_Q5_0) {
        // unsigned codes q + bias times x, with the bias taken off through the code sums: each
        // lane's partial sum holds |q + bias| |x| + bias |x| <= |w| + 2 bias |d| per weight
        size_t bs = QUANT_TRAITS[t].type_size;
        double bias = t == QT_Q4_0 ? 8 : 16;
        for (int64_t b = 0; b < cols / 32; b++) {
            uint16_t d16;
            memcpy(&d16, row + (size_t)b * bs, 2);
            double d = fabs((double)quant_f16_to_f32(d16));
            for (int e = 0; e < 32; e++) mag[b * 32 + e] = fabs(wf[b * 32 + e]) + 2 * bias * d;
        }
    }
}

// Random weights in the type's own format: raw random blocks for Q8_0/Q4_0 (every code,
// including -128, and f16 scales of varied size), rounded random floats otherwise.
static void make_weights(Case *c, Rng *r) {
    size_t row_bytes = quant_row_bytes(c->type, c->cols);
    c->w = malloc(row_bytes * (size_t)c->rows);
    c->wd = malloc(sizeof(double) * (size_t)(c->rows * c->cols));
    c->wmag = malloc(sizeof(double) * (size_t)(c->rows * c->cols));
    float *row = malloc(sizeof(float) * (size_t)c->cols);
    for (int64_t i = 0; i < c->rows; i++) {
        uint8_t *dst = (uint8_t *)c->w + (size_t)i * row_bytes;
        if (c->type == QT_Q8_0 || c->type == QT_Q4_0) {
            int64_t nb = c->cols / 32;
            size_t bs = QUANT_TRAITS[c->type].type_size;
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *blk = dst + b * bs;
                uint16_t d = quant_f32_to_f16((float)(0.002 + 0.05 * rng_uniform(r)) * (rng_below(r, 2) ? 1 : -1));
                memcpy(blk, &d, 2);
                for (size_t k = 2; k < bs; k++) blk[k] = (uint8_t)rng_below(r, 256);
            }
        } else {
            // rows of different magnitudes, blocks of 32 of different spreads and centres off zero
            // (so mins, offsets and code biases carry real weight in the sums)
            double rs = 0.1 * exp(0.7 * rng_normal(r)), bs = 1, off = 0;
            for (int64_t k = 0; k < c->cols; k++) {
                if (k % 32 == 0) bs = exp(0.5 * rng_normal(r)), off = 0.5 * rs * rng_normal(r);
                row[k] = (float)off + rand_f(r, rs * bs);
            }
            quant_quantize_row(c->type, row, dst, c->cols);
        }
        quant_dequantize_row(c->type, dst, row, c->cols);
        for (int64_t k = 0; k < c->cols; k++) c->wd[i * c->cols + k] = row[k];
        weight_magnitudes(c->type, dst, row, c->wmag + i * c->cols, c->cols);
    }
    free(row);
}

static void make_case(Case *c, Rng *r, QuantType t, int64_t rows, int64_t cols, int64_t n) {
    *c = (Case){.type = t, .rows = rows, .cols = cols, .n = n};
    make_weights(c, r);
    c->x = malloc(sizeof(float) * (size_t)(n * cols));
    c->xq = malloc(sizeof(double) * (size_t)(n * cols));
    // rows of different magnitudes, with an occasional outlier (as activations have)
    for (int64_t i = 0; i < n; i++) {
        double scale = exp(rng_normal(r));
        for (int64_t k = 0; k < cols; k++) {
            c->x[i * cols + k] = rand_f(r, scale) * (rng_below(r, 50) == 0 ? 20.0f : 1.0f);
        }
    }
    BlockQ8_0 *qb = malloc(sizeof(BlockQ8_0) * (size_t)(cols / 32 + 1));
    BlockQ8K *kb = malloc(sizeof(BlockQ8K) * (size_t)(cols / QK_K + 1));
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    for (int64_t i = 0; i < n; i++) {
        if (is_k(t)) {
            quant_quantize_row(QT_Q8_K, c->x + i * cols, kb, cols);
            for (int64_t k = 0; k < cols; k++) tmp[k] = kb[k / QK_K].d * (float)kb[k / QK_K].qs[k % QK_K];
        } else if (is_q(t)) {
            quant_quantize_row(QT_Q8_0, c->x + i * cols, qb, cols);
            quant_dequantize_row(QT_Q8_0, qb, tmp, cols);
        } else {
            memcpy(tmp, c->x + i * cols, sizeof(float) * (size_t)cols);
        }
        for (int64_t k = 0; k < cols; k++) c->xq[i * cols + k] = tmp[k];
    }
    free(qb);
    free(kb);
    free(tmp);
    size_t sb = (mm_scratch_bytes(cols, n) + 63) & ~(size_t)63;
    c->scratch = aligned_alloc(64, sb);
}

static void free_case(Case *c) {
    free(c->w);
    free(c->wd);
    free(c->wmag);
    free(c->x);
    free(c->xq);
    free(c->scratch);
}

static WeightView view(const Case *c) {
    return (WeightView){.type = c->type, .rows = c->rows, .cols = c->cols, .data = c->w};
}

// w packed by kernel set k into a fresh buffer (*buf, to free), when k has a packed form of w.
static bool view_packed_by(const MmKernels *k, WeightView *w, void **buf) {
    *buf = NULL;
    size_t b = k->pack_bytes ? k->pack_bytes(w) : 0;
    if (!b) return false;
    *buf = aligned_alloc(64, (b + 63) & ~(size_t)63);
    k->pack(w, *buf, 0, (w->rows + k->pack_rows - 1) / k->pack_rows);
    w->packed = *buf;
    w->packed_layout = k->layout;
    return true;
}

// Checks y (n, rows) against the float64 products; returns the number of failing entries.
static int check_result(const Case *c, const float *y, const char *what, bool report) {
    bool quantized = is_q(c->type), k = is_k(c->type);
    int64_t bl = k ? QK_K : 32, nb = (c->cols + bl - 1) / bl;
    int bad = 0;
    for (int64_t i = 0; i < c->n; i++) {
        for (int64_t r = 0; r < c->rows; r++) {
            const double *w = c->wd + r * c->cols, *wm = c->wmag + r * c->cols;
            const double *xq = c->xq + i * c->cols;
            const float *x = c->x + i * c->cols;
            double exact_q = 0, exact = 0, s = 0, s_loose = 0, xbound = 0;
            for (int64_t b = 0; b < nb; b++) {
                double amax = 0, wabs = 0;
                for (int64_t e = b * bl; e < c->cols && e < b * bl + bl; e++) {
                    exact_q += w[e] * xq[e];
                    exact += w[e] * x[e];
                    s += wm[e] * fabs(xq[e]);
                    s_loose += wm[e] * fabs(x[e]);
                    amax = fmax(amax, fabs(x[e]));
                    wabs += fabs(w[e]);
                }
                xbound += amax * (1.0 / 254 + (k ? 0.0 : 1.0 / 2048)) * wabs;
            }
            double m = k ? (double)(24 * nb + 16) : quantized ? (double)(nb + 8) : (double)(c->cols + 1);
            double tight = m * U32 * s * 1.01 + 1e-30;
            double loose = quantized ? xbound * 1.01 + tight + m * U32 * s_loose : tight;
            double got = y[i * c->rows + r];
            if (fabs(got - exact_q) > tight || fabs(got - exact) > loose) {
                if (report && bad < 3)
                    test_fail(__FILE__, __LINE__, "%s %s %lldx%lld n=%lld y[%lld][%lld] = %.9g, want %.9g (tol %.3g), "
                              "unquantized-x %.9g (tol %.3g)", what, QUANT_TRAITS[c->type].name, (long long)c->rows,
                              (long long)c->cols, (long long)c->n, (long long)i, (long long)r, got, exact_q, tight,
                              exact, loose);
                bad++;
            }
        }
    }
    return bad;
}

static const QuantType TYPES[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q8_0, QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1,
                                  QT_IQ4_NL, QT_Q2_K, QT_Q3_K, QT_Q4_K, QT_Q5_K, QT_Q6_K};

// Every kernel set this CPU can run (ref always; the x86 sets when the CPU has their features).
static int kernel_sets(const MmKernels **sets) {
    int n = 0;
    sets[n++] = &MM_KERNELS_REF;
#if defined(__x86_64__)
    CpuFeatures f = cpu_features();
    if (f.avx2 && f.fma && f.f16c) {
        sets[n++] = &MM_KERNELS_AVX2;
        if (f.avxvnni) sets[n++] = &MM_KERNELS_AVXVNNI;
        if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) {
            sets[n++] = &MM_KERNELS_AVX512VNNI;
            if (f.amx_tile && f.amx_int8 && mm_amx_enable()) sets[n++] = &MM_KERNELS_AMX;
        }
    }
#endif
    return n;
}

static void run_shapes(ThreadPool *tp, uint64_t seed) {
    // (rows, cols): cols not a multiple of 64 (96, 160, 32), rows not a multiple of the task
    // chunk (16-256 rows) and below it; float types also get cols not a multiple of 8/16.
    static const int64_t shapes[][2] = {{1, 32}, {37, 96}, {100, 160}, {70, 256}, {130, 1088}};
    static const int64_t float_shapes[][2] = {{5, 7}, {13, 33}, {33, 200}};
    static const int64_t k_shapes[][2] = {{1, 256}, {37, 512}, {70, 256}, {130, 1280}, {17, 256}};
    static const int64_t ns[] = {1, 2, 3, 4, 5, 7, 16, 17, 35};
    const MmKernels *sets[6];
    int n_sets = kernel_sets(sets);
    Rng r;
    rng_seed(&r, seed);
    for (size_t t = 0; t < ARRAY_LEN(TYPES); t++) {
        bool quantized = is_q(TYPES[t]);
        size_t n_shapes = ARRAY_LEN(shapes) + (quantized ? 0 : ARRAY_LEN(float_shapes));
        for (size_t s = 0; s < n_shapes; s++) {
            const int64_t *sh = is_k(TYPES[t]) ? k_shapes[s]
                                : s < ARRAY_LEN(shapes) ? shapes[s] : float_shapes[s - ARRAY_LEN(shapes)];
            for (size_t k = 0; k < ARRAY_LEN(ns); k++) {
                Case c;
                make_case(&c, &r, TYPES[t], sh[0], sh[1], ns[k]);
                WeightView w = view(&c);
                const WeightView *wp = &w;
                float *y = malloc(sizeof(float) * (size_t)(c.n * c.rows));
                for (int ks = 0; ks < n_sets; ks++) {
                    memset(y, 0xff, sizeof(float) * (size_t)(c.n * c.rows));
                    mm_matmul_with(sets[ks], tp, c.scratch, 1, &y, &wp, c.x, c.n);
                    EXPECT_EQ_INT(check_result(&c, y, sets[ks]->name, true), 0);
                    WeightView wk = w;  // the set's packed layout, when it has one for this type
                    const WeightView *wkp = &wk;
                    void *buf;
                    if (view_packed_by(sets[ks], &wk, &buf)) {
                        memset(y, 0xff, sizeof(float) * (size_t)(c.n * c.rows));
                        mm_matmul_with(sets[ks], tp, c.scratch, 1, &y, &wkp, c.x, c.n);
                        EXPECT_EQ_INT(check_result(&c, y, "packed", true), 0);
                        // another set ignores a layout that is not its own
                        memset(y, 0xff, sizeof(float) * (size_t)(c.n * c.rows));
                        mm_matmul_with(&MM_KERNELS_REF, tp, c.scratch, 1, &y, &wkp, c.x, c.n);
                        EXPECT_EQ_INT(check_result(&c, y, "ref given packed", true), 0);
                    }
                    free(buf);
                }
                mm_matmul(tp, c.scratch, y, &w, c.x, c.n);  // the dispatched entry point too
                EXPECT_EQ_INT(check_result(&c, y, mm_kernel_name(), true), 0);
                size_t pb = mm_pack_bytes(&w);
                if (pb) {  // and its packed form, as models use it
                    void *buf = aligned_alloc(64, (pb + 63) & ~(size_t)63);
                    mm_pack(tp, &w, buf);
                    EXPECT(w.packed == buf);
                    memset(y, 0xff, sizeof(float) * (size_t)(c.n * c.rows));
                    mm_matmul(tp, c.scratch, y, &w, c.x, c.n);
                    EXPECT_EQ_INT(check_result(&c, y, "mm_pack", true), 0);
                    free(buf);
                }
                free(y);
                free_case(&c);
            }
        }
    }
}

TEST(matmul_kernels_match_float64_reference) {
    ThreadPool *tp = tp_create(2);
    ASSERT(tp);
    // One-row tiles are compiled once per prefetch mode (mm_stream_pf, chosen by CPU vendor): each
    // pass takes one, so all are checked on any CPU.
    (void)mm_kernel_name();  // the choice is made once, before the mode is set here
    int stream_pf = mm_stream_pf;
    mm_stream_pf = MM_STREAM_L1;
    run_shapes(tp, 1234);
    mm_stream_pf = MM_STREAM_L2L1;
    run_shapes(tp, 4321);
    mm_stream_pf = MM_STREAM_L2;
    run_shapes(NULL, 99);  // single-threaded path too
    mm_stream_pf = stream_pf;
    tp_destroy(tp);
}

#if defined(__x86_64__)
// The kernel choice follows the CPU's features, read independently here from the kernel's own
// report in /proc/cpuinfo (Linux), and RIGHTSIZE_KERNELS caps it.
static bool cpuinfo_has(const char *flag) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[8192];
    bool has = false;
    while (!has && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0) continue;
        for (char *tok = strtok(strchr(line, ':') + 1, " \n"); tok; tok = strtok(NULL, " \n"))
            if (strcmp(tok, flag) == 0) has = true;
        break;
    }
    fclose(f);
    return has;
}

static bool cpuinfo_vendor_is(const char *vendor) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[512];
    bool is = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "vendor_id", 9) != 0) continue;
        const char *v = strchr(line, ':');
        is = v && strncmp(v + 2, vendor, strlen(vendor)) == 0;
        break;
    }
    fclose(f);
    return is;
}

TEST(matmul_best_kernels_chosen) {
    CpuFeatures f = cpu_features();
    if (access("/proc/cpuinfo", R_OK) == 0) {
        EXPECT(f.avx2 == cpuinfo_has("avx2"));
        EXPECT(f.fma == cpuinfo_has("fma"));
        EXPECT(f.f16c == cpuinfo_has("f16c"));
        EXPECT(f.avxvnni == cpuinfo_has("avx_vnni"));
        // Linux lists AVX-512 flags only when it enables their register state, as we require
        EXPECT(f.avx512f == cpuinfo_has("avx512f"));
        EXPECT(f.avx512bw == cpuinfo_has("avx512bw"));
        EXPECT(f.avx512vl == cpuinfo_has("avx512vl"));
        EXPECT(f.avx512vnni == cpuinfo_has("avx512_vnni"));
        EXPECT(f.amx_tile == cpuinfo_has("amx_tile"));
        EXPECT(f.amx_int8 == cpuinfo_has("amx_int8"));
        EXPECT(f.amd == cpuinfo_vendor_is("AuthenticAMD"));
    }
    // the ladder, best last; RIGHTSIZE_KERNELS stops the climb at its rung
    const char *forced = getenv("RIGHTSIZE_KERNELS");
    const char *want = "ref";
    if (!(forced && strcmp(forced, "ref") == 0) && f.avx2 && f.fma && f.f16c) {
        want = "avx2";
        bool stop = forced && strcmp(forced, "avx2") == 0;
        if (!stop && f.avxvnni) want = "avxvnni";
        stop = stop || (forced && strcmp(forced, "avxvnni") == 0);
        if (!stop && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) {
            want = "avx512vnni";
            stop = stop || (forced && strcmp(forced, "avx512vnni") == 0);
            if (!stop && f.amx_tile && f.amx_int8 && cpu_amx_permit()) want = "amx";
        }
    }
    EXPECT(strcmp(mm_kernel_name(), want) == 0);
    // one-row tiles stream into L1 on AMD cores, into L2 then L1 elsewhere; RIGHTSIZE_STREAM_PREFETCH
    // overrides
    const char *pf = getenv("RIGHTSIZE_STREAM_PREFETCH");
    if (strcmp(want, "ref") != 0 && !(pf && (!strcmp(pf, "l1") || !strcmp(pf, "l2") || !strcmp(pf, "l2l1"))))
        EXPECT(mm_stream_pf == (f.amd ? MM_STREAM_L1 : MM_STREAM_L2L1));
    // packing is offered exactly by the sets that have a layout
    WeightView w = {.type = QT_Q8_0, .rows = 20, .cols = 64};
    bool packs = strcmp(want, "ref") != 0;  // every SIMD set multiplies Q8_0 from MM_LAYOUT_X16
    EXPECT((mm_pack_bytes(&w) > 0) == packs);
}

// The AVX2 activation quantizer must produce the reference's bytes, ties included: a block
// whose amax is 127 has d = 1, so x.5 values round half away from zero.
TEST(matmul_avx2_quantize_is_bit_exact) {
    CpuFeatures f = cpu_features();
    if (!f.avx2 || !f.f16c) return;  // nothing to compare
    Rng r;
    rng_seed(&r, 7);
    enum { COLS = 32 * 64 };
    float *x = malloc(sizeof(float) * COLS);
    for (int i = 0; i < COLS; i++) x[i] = rand_f(&r, exp(rng_normal(&r)));
    for (int i = 0; i < 32; i++) x[i] = (i == 0) ? 127.0f : (float)(i % 2 ? i - 16 : 16 - i) + 0.5f;
    for (int i = 32; i < 64; i++) x[i] = 0.0f;      // zero block: d = 0
    for (int i = 64; i < 96; i++) x[i] = -1e-30f;   // tiny block
    BlockQ8_0 a[COLS / 32], b[COLS / 32], q[COLS / 32];
    int32_t sa[COLS / 32], sb[COLS / 32];
    float da[COLS / 32], db[COLS / 32];
    MM_KERNELS_REF.quantize_q8_0(x, a, sa, da, COLS);
    MM_KERNELS_AVX2.quantize_q8_0(x, b, sb, db, COLS);
    quant_quantize_row(QT_Q8_0, x, q, COLS);
    EXPECT(memcmp(a, q, sizeof a) == 0);
    EXPECT(memcmp(a, b, sizeof a) == 0);
    for (int i = 0; i < COLS / 32; i++) {
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += q[i].qs[j];
        EXPECT_EQ_INT(sa[i], -s);
        EXPECT_EQ_INT(sb[i], -s);
        EXPECT(da[i] == quant_f16_to_f32(q[i].d));
        EXPECT(db[i] == quant_f16_to_f32(q[i].d));
    }
    int diffs = 0;
    for (int i = 0; i < COLS / 32; i++) diffs += memcmp(&a[i], &b[i], sizeof a[i]) != 0;
    EXPECT_EQ_INT(diffs, 0);
    // Q8_K (float scale -127/max, nearest-even codes): a block whose extreme is -127 has iscale 1,
    // so x.5 values are ties; and a block whose extreme appears with both signs (the first wins).
    for (int i = 256; i < 512; i++) x[i] = (i == 256) ? -127.0f : (float)((i % 200) - 100) + 0.5f;
    for (int i = 512; i < 768; i++) x[i] = (float)((i % 7) - 3);
    x[520] = 9.0f;
    x[530] = -9.0f;
    BlockQ8K ka[COLS / 256], kb[COLS / 256];
    quant_quantize_row(QT_Q8_K, x, ka, COLS);
    MM_KERNELS_AVX2.quantize_q8_k(x, kb, COLS);
    for (int i = 0; i < COLS / 256; i++) EXPECT(memcmp(&ka[i], &kb[i], sizeof ka[i]) == 0);
    EXPECT_EQ_INT(ka[1].qs[1], -42);  // -42.5 and -41.5 both round to the even -42
    EXPECT_EQ_INT(ka[1].qs[2], -42);
    EXPECT_EQ_INT(ka[2].qs[8], -127);  // the first extreme (+9) maps to -127
    free(x);
}
#endif

// Results must not depend on the thread count: each output element is computed by one task.
TEST(matmul_same_result_with_1_2_3_threads) {
    Rng r;
    rng_seed(&r, 5);
    for (size_t t = 0; t < ARRAY_LEN(TYPES); t++) {
        Case c;
        make_case(&c, &r, TYPES[t], 301, 512, 9);
        WeightView w = view(&c);
        size_t pb = mm_pack_bytes(&w);  // the form models use, where the chosen set packs
        void *packed = pb ? aligned_alloc(64, (pb + 63) & ~(size_t)63) : NULL;
        if (packed) mm_pack(NULL, &w, packed);
        size_t yb = sizeof(float) * (size_t)(c.n * c.rows);
        float *y[3];
        for (int th = 1; th <= 3; th++) {
            ThreadPool *tp = tp_create(th);
            ASSERT(tp);
            EXPECT_EQ_INT(tp_size(tp), th);
            y[th - 1] = malloc(yb);
            memset(y[th - 1], 0xff, yb);  // NaNs: any row left unwritten shows
            mm_matmul(tp, c.scratch, y[th - 1], &w, c.x, c.n);
            tp_destroy(tp);
        }
        EXPECT(memcmp(y[0], y[1], yb) == 0);
        EXPECT(memcmp(y[0], y[2], yb) == 0);
        EXPECT_EQ_INT(check_result(&c, y[2], "3 threads", true), 0);
        for (int k = 0; k < 3; k++) free(y[k]);
        free(packed);
        free_case(&c);
    }
}

// The bounds above are not vacuous: one flipped quant code (the smallest possible error in one
// block) or one swapped row must fail them.
TEST(matmul_bounds_catch_a_wrong_block) {
    Rng r;
    rng_seed(&r, 11);
    Case c;
    make_case(&c, &r, QT_Q8_0, 40, 1088, 3);
    WeightView w = view(&c);
    float *y = malloc(sizeof(float) * (size_t)(c.n * c.rows));
    mm_matmul(NULL, c.scratch, y, &w, c.x, c.n);
    EXPECT_EQ_INT(check_result(&c, y, "unchanged", true), 0);
    // nudge one product by one step of the weight code in block 17 of row 5
    BlockQ8_0 *blk = (BlockQ8_0 *)c.w + 5 * (c.cols / 32) + 17;
    blk->qs[3] = (int8_t)(blk->qs[3] == 127 ? 126 : blk->qs[3] + 1);
    mm_matmul(NULL, c.scratch, y, &w, c.x, c.n);
    EXPECT(check_result(&c, y, "flipped", false) >= 1);
    free(y);
    free_case(&c);
}

// mm_matmul_many computes each product exactly as a separate mm_matmul call would (same kernels,
// same quantized X), for weights of mixed types and row counts sharing one X.
TEST(matmul_many_equals_separate_calls) {
    Rng r;
    rng_seed(&r, 21);
    static const QuantType types[] = {QT_Q8_0, QT_Q4_0, QT_F16, QT_Q4_0};
    static const int64_t rows[] = {70, 33, 64, 129};
    enum { NW = 4, COLS = 320 };
    static const int64_t ns[] = {1, 6, 19};
    ThreadPool *tp = tp_create(2);
    ASSERT(tp);
    for (size_t k = 0; k < ARRAY_LEN(ns); k++) {
        Case c[NW];
        const WeightView *wp[NW];
        WeightView wv[NW];
        float *y_many[NW], *y_one[NW];
        for (int i = 0; i < NW; i++) {
            make_case(&c[i], &r, types[i], rows[i], COLS, ns[k]);
            if (i > 0) memcpy(c[i].x, c[0].x, sizeof(float) * (size_t)(ns[k] * COLS));  // one shared X
            wv[i] = view(&c[i]);
            wp[i] = &wv[i];
            y_many[i] = calloc((size_t)(ns[k] * rows[i]), sizeof(float));
            y_one[i] = calloc((size_t)(ns[k] * rows[i]), sizeof(float));
            mm_matmul(tp, c[0].scratch, y_one[i], &wv[i], c[0].x, ns[k]);
        }
        mm_matmul_many(tp, c[0].scratch, NW, y_many, wp, c[0].x, ns[k]);
        for (int i = 0; i < NW; i++) {
            EXPECT(memcmp(y_many[i], y_one[i], sizeof(float) * (size_t)(ns[k] * rows[i])) == 0);
            free(y_many[i]);
            free(y_one[i]);
            free_case(&c[i]);
        }
    }
    tp_destroy(tp);
}

#if defined(__x86_64__)
// #15 D15: a non-finite activation (NaN, ±Inf) used to convert to INT32_MIN and be summed (and
// negated) as such: UB under UBSan and a wrong code sum. Now every set stores saturated codes and
// sums those, and the reference agrees with the SIMD quantizers bit for bit on such rows.
TEST(matmul_quantize_non_finite_activations) {
    CpuFeatures f = cpu_features();
    enum { COLS = 256 * 2 };
    float x[COLS];
    for (int i = 0; i < COLS; i++) x[i] = (float)((i * 37) % 19) - 9.0f;
    x[3] = NAN;
    x[40] = INFINITY;
    x[41] = -INFINITY;
    for (int i = 64; i < 96; i++) x[i] = NAN;  // a whole block of NaN
    x[300] = INFINITY;                           // the second Q8_K block
    BlockQ8_0 a[COLS / 32], b[COLS / 32];
    int32_t sa[COLS / 32], sb[COLS / 32];
    float da[COLS / 32], db[COLS / 32];
    MM_KERNELS_REF.quantize_q8_0(x, a, sa, da, COLS);
    for (int i = 0; i < COLS / 32; i++) {
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += a[i].qs[j];
        EXPECT_EQ_INT(sa[i], -s);
    }
    if (f.avx2 && f.fma && f.f16c) {
        MM_KERNELS_AVX2.quantize_q8_0(x, b, sb, db, COLS);
        EXPECT(memcmp(a, b, sizeof a) == 0);
        EXPECT(memcmp(sa, sb, sizeof sa) == 0);
    }
    BlockQ8K k[COLS / 256], k2[COLS / 256];
    quant_quantize_row(QT_Q8_K, x, k, COLS);
    if (f.avx2 && f.fma && f.f16c) {
        MM_KERNELS_AVX2.quantize_q8_k(x, k2, COLS);
        EXPECT(memcmp(k, k2, sizeof k) == 0);
    }
    for (int i = 0; i < COLS / 256; i++)
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += k[i].qs[g * 16 + j];
            EXPECT_EQ_INT(k[i].bsums[g], s);
        }
}
#endif
