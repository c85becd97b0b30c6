// quant_impl.h — the per-type reference conversions behind quant_quantize_row and
// quant_dequantize_row (internal to src/engine; quant.c dispatches to them by QuantType).
#ifndef RS_QUANT_IMPL_H
#define RS_QUANT_IMPL_H

#include <stdint.h>

#include "engine/quant.h"

// Rounding helpers shared by the quantizers (quant.c).
int8_t quant_sat_i8_rne(float v);            // nearest-even, saturated to int8; NaN -> -128
int quant_nearest_clamp(float v, int lo, int hi);

// K-quants (quant_k.c); n is a multiple of QK_K.
void quant_quantize_q2_k(const float *x, void *dst, int64_t n);
void quant_dequantize_q2_k(const void *src, float *y, int64_t n);
void quant_quantize_q3_k(const float *x, void *dst, int64_t n);
void quant_dequantize_q3_k(const void *src, float *y, int64_t n);
void quant_quantize_q4_k(const float *x, void *dst, int64_t n);
void quant_dequantize_q4_k(const void *src, float *y, int64_t n);
void quant_quantize_q5_k(const float *x, void *dst, int64_t n);
void quant_dequantize_q5_k(const void *src, float *y, int64_t n);
void quant_quantize_q6_k(const float *x, void *dst, int64_t n);
void quant_dequantize_q6_k(const void *src, float *y, int64_t n);
void quant_quantize_q8_k(const float *x, void *dst, int64_t n);

#endif
