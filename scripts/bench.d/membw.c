// membw.c — STREAM-like read bandwidth: T threads each sum their slice of one large buffer
// (much larger than the last-level cache), repeated R times; prints the best and median GB/s.
//   cc -O3 -march=native -pthread -Isrc scripts/bench.d/membw.c src/base/bigalloc.c -o build/membw
//   build/membw THREADS MIB REPS
// Built and run by scripts/bench.d/20-engine and 21-kquant; decode of a quantized model is such a
// read of the weights once per token, so this is the ceiling the engine's decode speed is compared
// to. The buffer comes from big_alloc, as the engine's packed weights do (2 MiB pages where the OS
// grants them): read through 4 KiB pages the same loop is slower (an AMX Xeon: ~11.4 against
// ~13 GB/s on one thread, ~21 against ~26 on two), which would flatter the engine's share of it.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/bigalloc.h"

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} Slice;

static pthread_barrier_t g_start, g_end;
static int g_reps;
static Slice g_slices[64];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Eight independent lanes so the compiler vectorizes and the loop is bound by memory, not adds.
static uint64_t read_slice(const uint64_t *p, size_t n) {
    uint64_t s[8] = {0};
    for (size_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += p[i + k];
    return s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7];
}

static void *worker(void *arg) {
    Slice *sl = arg;
    for (int r = 0; r < g_reps; r++) {
        pthread_barrier_wait(&g_start);
        sl->sum += read_slice(sl->p, sl->n);
        pthread_barrier_wait(&g_end);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: membw THREADS MIB REPS\n");
        return 2;
    }
    int threads = atoi(argv[1]), reps = atoi(argv[3]);
    size_t mib = (size_t)atol(argv[2]);
    if (threads < 1 || threads > 64 || reps < 1 || reps > 1000 || mib < 1 || mib > 65536) {
        fprintf(stderr, "membw: THREADS in 1..64, MIB in 1..65536, REPS in 1..1000\n");
        return 2;
    }
    size_t bytes = mib << 20, n = bytes / 8;
    uint64_t *buf = big_alloc(bytes);
    if (!buf) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++) buf[i] = i * 0x9e3779b97f4a7c15ull;  // touch every page
    g_reps = reps;
    pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&g_end, NULL, (unsigned)threads + 1);
    pthread_t tid[64];
    size_t per = (n / (size_t)threads) & ~(size_t)7;
    for (int t = 0; t < threads; t++) {
        g_slices[t] = (Slice){buf + (size_t)t * per, per, 0};
        pthread_create(&tid[t], NULL, worker, &g_slices[t]);
    }
    double gbs[1000];
    for (int r = 0; r < reps; r++) {
        pthread_barrier_wait(&g_start);
        double t0 = now_s();
        pthread_barrier_wait(&g_end);
        gbs[r] = (double)(per * (size_t)threads * 8) / (now_s() - t0) / 1e9;
    }
    uint64_t check = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        check ^= g_slices[t].sum;
    }
    qsort(gbs, (size_t)reps, sizeof gbs[0], cmp_d);
    printf("threads=%d mib=%zu reps=%d best_gbs=%.2f median_gbs=%.2f check=%llx\n", threads, mib, reps,
           gbs[reps - 1], gbs[reps / 2], (unsigned long long)(check & 0xff));
    free(buf);
    return 0;
}
