// qref.h — weight quantizers that write the bytes llama.cpp's llama-quantize writes when it runs
// without an importance matrix (ggml's reference quantizers, and its IQ4_NL search).
//
// Byte identity needs more than the same formulas: each type's scale search (Q6_K's signed
// scale sweep, Q4_K/Q5_K/Q2_K's min+scale least-squares sweep, Q3_K's coordinate refinement,
// IQ4_NL's scale sweep over its non-linear levels) is done step for step, in single precision,
// every product and sum in the same order, with no fused multiply-add (this file is built
// without FMA flags), rounding half to even as ggml's nearest_int does.
//
// The engine's own quant_quantize_row stays as it is (a plain round-to-nearest for the
// K-quants): synthesized models and training checkpoints keep their bytes.
#ifndef RS_QREF_H
#define RS_QREF_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/quant.h"

// Whether qref_quantize_row writes type t as llama-quantize does: F32, F16, BF16, Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
bool qref_supported(QuantType t);

// Quantizes one row of n weights (n a multiple of t's block size; t qref_supported) into dst,
// quant_row_bytes(t, n) bytes.
void qref_quantize_row(QuantType t, const float *x, void *dst, int64_t n);

#endif
