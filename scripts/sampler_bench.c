// sampler_bench.c — timing of sampler_sample on one 32000-float row of N(0, 3²) logits (a
// Llama-2 vocabulary's size), median of 5 repetitions per setting. Run by `make bench`
// (scripts/bench.d/25-sampler, which builds it and compares with numpy); by hand:
//   make
//   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc scripts/sampler_bench.c build/librightsize.a -lm -pthread -o build/sampler_bench
//   build/sampler_bench                          (the kernels this CPU runs)
//   RIGHTSIZE_KERNELS=ref build/sampler_bench    (the plain-C kernels)
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/sampler.h"

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median over 5 repetitions of the mean µs per call over iters calls.
static double time_us(const SamplerParams *p, const float *l, int n, int n_top, SamplerWork *w, int iters) {
    Rng r;
    rng_seed(&r, 5);
    SampleResult res;
    double rep[5];
    volatile int sink = 0;
    for (int k = 0; k < 5; k++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            if (sampler_sample(p, l, n, NULL, 0, n_top, &r, w, &res) != 0) return -1;
            sink += res.token;
        }
        rep[k] = (now_us() - t0) / iters;
    }
    qsort(rep, 5, sizeof *rep, cmp_double);
    return rep[2];
}

static SamplerParams settings(float t, int top_k, float top_p) {
    SamplerParams p = sampler_params_default();
    p.temperature = t, p.top_k = top_k, p.top_p = top_p;
    return p;
}

int main(void) {
    const int n = 32000;
    float *l = malloc((size_t)n * sizeof *l);
    SamplerWork w;
    if (!l || sampler_work_init(&w, n) != 0) return 1;
    Rng g;
    rng_seed(&g, 42);
    for (int i = 0; i < n; i++) l[i] = (float)(rng_normal(&g) * 3.0);
    struct {
        const char *name;
        SamplerParams p;
        int n_top, iters;
    } cases[] = {
        {"greedy, n_top 0", settings(0.0f, 0, 1.0f), 0, 2000},
        {"greedy, n_top 5", settings(0.0f, 0, 1.0f), 5, 2000},
        {"T 1 (defaults), n_top 0", settings(1.0f, 0, 1.0f), 0, 500},
        {"T 0.8 top_p 0.95, n_top 0", settings(0.8f, 0, 0.95f), 0, 500},
        {"T 0.8 top_p 0.95, n_top 5", settings(0.8f, 0, 0.95f), 5, 500},
        {"T 0.7 top_k 40 top_p 0.9, n_top 0", settings(0.7f, 40, 0.9f), 0, 500},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        printf("%-36s %8.1f us/call\n", cases[c].name, time_us(&cases[c].p, l, n, cases[c].n_top, &w, cases[c].iters));
    sampler_work_free(&w);
    free(l);
    return 0;
}
