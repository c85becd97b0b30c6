// matmul_bench.c — throughput of one kernel set's product on one thread: GMAC/s (rows x cols x n
// multiply-adds per second of this thread's CPU time, so other tenants of a shared machine barely
// move it), median of 5 repetitions, for a weight matrix of random rows of a quantized type (Q8_0,
// Q4_0, Q4_K, Q6_K, ...) in the set's packed layout when it has one. Build and run:
//   make
//   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc scripts/matmul_bench.c build/librightsize.a -lm -pthread -o build/matmul_bench
//   build/matmul_bench SET TYPE ROWS COLS N     e.g. build/matmul_bench avxvnni q8_0 2048 768 16
// SET: ref | avx2 | avxvnni | avx512vnni (the CPU must have it). Prints one line:
//   SET TYPE ROWSxCOLS n=N  GMAC/s  us/call  (packed|unpacked)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/bigalloc.h"
#include "base/cpu.h"
#include "base/rng.h"
#include "engine/matmul.h"
#include "engine/matmul_kernels.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const MmKernels *set_named(const char *name) {
    if (strcmp(name, "ref") == 0) return &MM_KERNELS_REF;
#if defined(__x86_64__)
    CpuFeatures f = cpu_features();
    bool avx2 = f.avx2 && f.fma && f.f16c;
    if (strcmp(name, "avx2") == 0 && avx2) return &MM_KERNELS_AVX2;
    if (strcmp(name, "avxvnni") == 0 && avx2 && f.avxvnni) return &MM_KERNELS_AVXVNNI;
    if (strcmp(name, "avx512vnni") == 0 && avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni)
        return &MM_KERNELS_AVX512VNNI;
#endif
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: matmul_bench SET TYPE ROWS COLS N   (SET ref|avx2|avxvnni|avx512vnni, TYPE q8_0|q4_0|q4_k|q6_k|...)\n");
        return 2;
    }
    (void)mm_kernel_name();  // the process-wide choices (mm_stream_pf) are made as for the engine
    const MmKernels *k = set_named(argv[1]);
    int type = quant_from_name(argv[2]);
    int64_t rows = atoll(argv[3]), cols = atoll(argv[4]), n = atoll(argv[5]);
    if (!k || type < 0 || rows <= 0 || cols <= 0 || cols % 256 || n <= 0) {
        fprintf(stderr, "matmul_bench: unknown set, unsupported type, or a shape that is not rows>0, cols%%256==0, n>0\n");
        return 2;
    }
    QuantType t = (QuantType)type;
    size_t rb = quant_row_bytes(t, cols);
    uint8_t *wdata = malloc(rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)(n * cols)), *row = malloc(sizeof(float) * (size_t)cols);
    float *y = malloc(sizeof(float) * (size_t)(n * rows));
    void *scratch = aligned_alloc(64, (mm_scratch_bytes(cols, n) + 63) & ~(size_t)63);
    Rng r;
    rng_seed(&r, 1);
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t c = 0; c < cols; c++) row[c] = (float)rng_normal(&r);
        quant_quantize_row(t, row, wdata + (size_t)i * rb, cols);
    }
    for (int64_t i = 0; i < n * cols; i++) x[i] = (float)rng_normal(&r);
    WeightView w = {.type = t, .rows = rows, .cols = cols, .data = wdata};
    void *packed = NULL;
    size_t pb = k->pack_bytes ? k->pack_bytes(&w) : 0;
    if (pb) {
        packed = big_alloc(pb);  // as the loader packs a model: 2 MiB pages where the OS grants them
        k->pack(&w, packed, 0, (rows + k->pack_rows - 1) / k->pack_rows);
        w.packed = packed;
        w.packed_layout = k->layout;
    }
    const WeightView *wp = &w;
    double macs = (double)rows * (double)cols * (double)n, rep[5];
    int iters = (int)(2e9 / macs) + 1;  // ~0.05-0.2 s per repetition
    for (int k5 = 0; k5 < 5; k5++) {
        double t0 = cpu_s();
        for (int i = 0; i < iters; i++) mm_matmul_with(k, NULL, scratch, 1, &y, &wp, x, n);
        rep[k5] = (cpu_s() - t0) / iters;
    }
    qsort(rep, 5, sizeof *rep, cmp_double);
    printf("%s %s %lldx%lld n=%lld  %.1f GMAC/s  %.1f us/call  (%s)\n", k->name, argv[2], (long long)rows,
           (long long)cols, (long long)n, macs / rep[2] / 1e9, rep[2] * 1e6, packed ? "packed" : "unpacked");
    free(packed);
    free(scratch);
    free(y);
    free(row);
    free(x);
    free(wdata);
    return 0;
}
