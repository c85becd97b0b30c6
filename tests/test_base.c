// Tests of src/base: buffers, arena, RNG distributions (against their closed-form moments),
// f16/bf16 conversions (against exhaustive round trips) and the thread pool.
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/rng.h"
#include "base/threadpool.h"
#include "engine/quant.h"
#include "test.h"

TEST(buf_grows_and_formats) {
    Buf b = {0};
    for (int i = 0; i < 1000; i++) EXPECT(buf_printf(&b, "%d,", i) == 0);
    EXPECT(strncmp(b.data, "0,1,2,", 6) == 0);
    EXPECT(b.data[b.len] == 0);
    EXPECT(strstr(b.data, "999,") != NULL);
    buf_free(&b);
    buf_free(&b);  // no-op on a zeroed buffer
}

TEST(arena_aligned_zeroed_and_large) {
    Arena a;
    arena_init(&a, 128);
    for (int i = 1; i < 200; i++) {
        unsigned char *p = arena_alloc(&a, (size_t)i * 7);
        ASSERT(p);
        EXPECT(((uintptr_t)p & 15) == 0);
        for (int j = 0; j < i * 7; j++) EXPECT(p[j] == 0);
        memset(p, 0xab, (size_t)i * 7);
    }
    EXPECT(arena_alloc(&a, (size_t)1 << 20) != NULL);
    EXPECT(arena_array(&a, SIZE_MAX / 2, 4) == NULL);  // overflow refused
    arena_free(&a);
}

TEST(rng_deterministic_and_moments) {
    Rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) EXPECT(rng_u64(&a) == rng_u64(&b));
    // Means and variances over 200k draws vs closed forms (tolerance ~5 standard errors).
    int n = 200000;
    double s = 0, s2 = 0, e = 0, g = 0, g2 = 0;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&a);
        s += x;
        s2 += x * x;
        e += rng_exponential(&a, 3.0);
        double y = rng_gamma(&a, 0.5, 2.0);  // mean k*theta = 1, variance k*theta^2 = 2
        g += y;
        g2 += y * y;
    }
    EXPECT_NEAR(s / n, 0.0, 0.012);
    EXPECT_NEAR(s2 / n, 1.0, 0.02);
    EXPECT_NEAR(e / n, 3.0, 0.035);
    EXPECT_NEAR(g / n, 1.0, 0.02);
    EXPECT_NEAR(g2 / n - (g / n) * (g / n), 2.0, 0.1);
    for (int i = 0; i < 1000; i++) EXPECT(rng_below(&a, 7) < 7);
}

TEST(f16_roundtrip_exhaustive) {
    // Every finite f16 converts to f32 and back unchanged.
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 10) & 0x1f) == 0x1f) continue;
        float f = quant_f16_to_f32((uint16_t)h);
        if (quant_f32_to_f16(f) != (uint16_t)h) {
            EXPECT(quant_f32_to_f16(f) == (uint16_t)h);
            break;
        }
    }
    EXPECT_NEAR(quant_f16_to_f32(quant_f32_to_f16(1.0f / 3)), 0.333251953125, 0);
    EXPECT(quant_f32_to_f16(1e6f) == 0x7c00);
    EXPECT(quant_f32_to_f16(-0.0f) == 0x8000);
    // Ties round to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
    EXPECT(quant_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);
    EXPECT(quant_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    EXPECT(quant_bf16_to_f32(quant_f32_to_bf16(1.5f)) == 1.5f);
    EXPECT(quant_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);  // tie to even
}

static void add_task(void *ctx, int64_t t, int thread) {
    (void)thread;
    atomic_fetch_add((_Atomic int64_t *)ctx, t + 1);
}

TEST(threadpool_runs_every_task_once) {
    ThreadPool *tp = tp_create(3);
    ASSERT(tp);
    for (int rep = 0; rep < 200; rep++) {
        _Atomic int64_t sum = 0;
        int64_t n = 1 + rep * 7;
        tp_run(tp, add_task, (void *)&sum, n);
        EXPECT_EQ_INT(atomic_load(&sum), n * (n + 1) / 2);
    }
    tp_destroy(tp);
    _Atomic int64_t sum = 0;
    tp_run(NULL, add_task, (void *)&sum, 10);
    EXPECT_EQ_INT(atomic_load(&sum), 55);
}
