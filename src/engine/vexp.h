// vexp.h — the passes a softmax (and its top-N) makes over a row of logits, as kernel sets:
//   max:     the largest value and the first index holding it (NaN never wins)
//   exp_sum: out[i] = exp((x[i] - shift) · scale), returning Σ out[i] in double
//   above:   the first index whose value exceeds a bar (the skip-ahead of a top-N scan)
// A plain-C set (the truth: libm expf) and an AVX2/FMA set with the same signatures, chosen once
// by CPU feature; RIGHTSIZE_KERNELS=ref forces the plain set (as for matmul and kv_attn).
//
// Masking: an x[i] that is -inf or NaN gives out[i] = 0 exactly and adds nothing to the sum, so a
// masked logit (-inf) never needs a branch in the caller. The AVX2 exp is within 2 ulp of the
// exact exp wherever the result is a normal float (1.23 measured; libm expf: 0.5), within one
// step 2^-149 where it is subnormal, exactly 0 below about -103.97 (where exp rounds to 0) and
// +inf above about 88.72; never NaN. See vexp_avx2.c for the method and the error bound of the sum.
#ifndef RS_VEXP_H
#define RS_VEXP_H

#include <stdint.h>

typedef struct {
    // Largest of x[0..n) ignoring NaN (-inf when n == 0 or all are NaN/-inf); *first receives the
    // lowest index i with x[i] equal to it, or -1 when no x[i] is above -inf. first may be NULL.
    float (*max)(const float *x, int64_t n, int64_t *first);
    // out[i] = exp((x[i] - shift) · scale) for i in [0, n), 0 where x[i] is -inf or NaN; returns
    // the sum of out[0..n) accumulated in double. out may equal x. shift must be finite.
    double (*exp_sum)(const float *x, int64_t n, float shift, float scale, float *out);
    // The lowest i in [0, n) with x[i] > bar (NaN never is), or n when there is none.
    int64_t (*above)(const float *x, int64_t n, float bar);
    const char *name;  // "avx2" or "ref"
} VexpKernels;

// The set for this CPU (AVX2 needs avx2 and fma), chosen once per process; RIGHTSIZE_KERNELS=ref
// forces the plain set. The pointer is static: never freed.
const VexpKernels *vexp_kernels(void);
// The plain-C set, always available.
const VexpKernels *vexp_kernels_ref(void);
// The AVX2/FMA set (vexp_avx2.c); NULL on builds that are not x86. Call its functions only when
// cpu_features() reports avx2 and fma.
const VexpKernels *vexp_kernels_avx2(void);

#endif
