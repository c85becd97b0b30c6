// ops_kernels.h — the two inner loops every trainer matmul and attention spends its time in, as a
// portable reference and an AVX2+FMA pair; ops_kernels() picks one at first use (the AVX2 set
// when the CPU has AVX2 and FMA; RIGHTSIZE_KERNELS=ref forces the reference). Each sums in a fixed
// order, so results do not depend on the thread count; the two sets differ by FMA rounding.
#ifndef RS_TRAIN_OPS_KERNELS_H
#define RS_TRAIN_OPS_KERNELS_H

#include <stdint.h>

typedef struct {
    const char *name;
    float (*dot)(const float *a, const float *b, int64_t n);       // Σ a[i]·b[i]
    void (*axpy)(float *y, float a, const float *x, int64_t n);    // y += a·x
} OpsKernels;

const OpsKernels *ops_kernels(void);
float ops_dot_avx2(const float *a, const float *b, int64_t n);
void ops_axpy_avx2(float *y, float a, const float *x, int64_t n);

#endif
