// matmul.c — placeholder float path until the kernel set lands: dequantizes each 32-weight block
// into a local buffer and takes float dot products. Correct for every supported type.
#include "engine/matmul.h"

#include "base/check.h"

typedef struct {
    float *y;
    const WeightView *w;
    const float *x;
    int64_t n;
} RefJob;

static void ref_row(void *ctx, int64_t r, int thread) {
    (void)thread;
    const RefJob *j = ctx;
    const WeightView *w = j->w;
    size_t row_bytes = quant_row_bytes(w->type, w->cols);
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * row_bytes;
    int64_t bs = QUANT_TRAITS[w->type].block_size == 1 ? 32 : QUANT_TRAITS[w->type].block_size;
    size_t blk_bytes = quant_row_bytes(w->type, bs);
    for (int64_t i = 0; i < j->n; i++) {
        const float *x = j->x + i * w->cols;
        float acc = 0;
        float tmp[32];
        for (int64_t c = 0; c < w->cols; c += bs) {
            int64_t m = w->cols - c < bs ? w->cols - c : bs;
            if (m == bs) quant_dequantize_row(w->type, row + (c / bs) * blk_bytes, tmp, bs);
            else quant_dequantize_row(w->type, row + (c / bs) * blk_bytes, tmp, m);
            for (int64_t k = 0; k < m; k++) acc += tmp[k] * x[c + k];
        }
        j->y[i * w->rows + r] = acc;
    }
}

size_t mm_scratch_bytes(int64_t cols, int64_t n_max) { return (size_t)(cols * n_max) * 2 + 64; }

void mm_matmul_ref(ThreadPool *tp, void *scratch, float *y, const WeightView *w, const float *x, int64_t n) {
    (void)scratch;
    CHECK(quant_traits((uint32_t)w->type) && QUANT_TRAITS[w->type].supported);
    RefJob j = {y, w, x, n};
    tp_run(tp, ref_row, &j, w->rows);
}

void mm_matmul(ThreadPool *tp, void *scratch, float *y, const WeightView *w, const float *x, int64_t n) {
    mm_matmul_ref(tp, scratch, y, w, x, n);
}

const char *mm_kernel_name(void) { return "ref"; }
