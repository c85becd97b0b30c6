// quant.h — tensor element types as GGUF stores them, their on-disk block layouts, and the
// reference (plain C) conversions between them and float.
//
// The enum values are GGML's type ids, so a GGUF tensor's type field indexes QUANT_TRAITS
// directly. Block structs match the file bytes exactly (checked by _Static_assert):
//
//   Q8_0: 32 weights = f16 scale d, then 32 int8 q;     w = d * q              (34 bytes)
//   Q4_0: 32 weights = f16 scale d, then 16 bytes qs;   element j (j < 16) is the low nibble of
//         qs[j], element j+16 the high nibble;           w = d * (nibble - 8)   (18 bytes)
//   F16 / BF16: one 16-bit value per weight; F32: one float.
#ifndef RS_QUANT_H
#define RS_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q8_0 = 8,
    QT_BF16 = 30,
    QT_COUNT = 40,  // ids below this may appear in files; only those with traits.supported load
} QuantType;

#define QK4_0 32
#define QK8_0 32

typedef struct {
    uint16_t d;               // f16 scale
    uint8_t qs[QK4_0 / 2];    // nibbles: low = elements 0..15, high = 16..31
} BlockQ4_0;
_Static_assert(sizeof(BlockQ4_0) == 18, "BlockQ4_0 must match GGUF's 18-byte block");

typedef struct {
    uint16_t d;               // f16 scale
    int8_t qs[QK8_0];
} BlockQ8_0;
_Static_assert(sizeof(BlockQ8_0) == 34, "BlockQ8_0 must match GGUF's 34-byte block");

typedef struct {
    const char *name;     // "q8_0", as llama.cpp prints it; NULL for ids we do not know
    int64_t block_size;   // weights per block (1 for float types)
    size_t type_size;     // bytes per block
    bool supported;       // this engine can compute with it
} QuantTraits;

extern const QuantTraits QUANT_TRAITS[QT_COUNT];

// Traits for an id read from a file, or NULL when the id is out of range or unknown.
const QuantTraits *quant_traits(uint32_t type);
// QuantType by its name ("f32", "f16", "bf16", "q8_0", "q4_0"); -1 when unknown.
int quant_from_name(const char *name);
// Bytes for n weights (n must be a multiple of the block size), or 0 when it is not.
size_t quant_row_bytes(QuantType t, int64_t n);

float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);      // round to nearest even, as the F16C instruction does
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);     // round to nearest even; NaN stays NaN

// Reference conversions of one row of n weights (n a multiple of the block size).
// These define the formats; SIMD versions must agree with them.
void quant_quantize_row(QuantType t, const float *x, void *dst, int64_t n);
void quant_dequantize_row(QuantType t, const void *src, float *y, int64_t n);

#endif
