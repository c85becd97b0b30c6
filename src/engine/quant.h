// quant.h — tensor element types as GGUF stores them, their on-disk block layouts, and the
// reference (plain C) conversions between them and float.
//
// The enum values are GGML's type ids, so a GGUF tensor's type field indexes QUANT_TRAITS
// directly; every id ggml defines has traits (so any valid file opens), and `supported` says
// whether the engine computes with it. Block structs match the file bytes exactly (checked by
// _Static_assert; each struct's comment gives its formula), for example:
//
//   Q8_0: 32 weights = f16 scale d, then 32 int8 q;     w = d * q              (34 bytes)
//   Q4_0: 32 weights = f16 scale d, then 16 bytes qs;   element j (j < 16) is the low nibble of
//         qs[j], element j+16 the high nibble;           w = d * (nibble - 8)   (18 bytes)
//   Q4_K: 256 weights = f16 d, dmin; 12 bytes of six-bit scales and mins for 8 sub-blocks of 32;
//         128 bytes of nibbles;                          w = d * sc * q - dmin * m (144 bytes)
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
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_IQ4_NL = 20,
    QT_BF16 = 30,
    QT_COUNT = 43,  // GGML_TYPE_COUNT: every id below it that ggml defines has traits (name, sizes)
} QuantType;

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK4_NL 32
#define QK_K 256        // weights per K-quant super-block
#define K_SCALE_SIZE 12 // Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins packed in 12 bytes

typedef struct {
    uint16_t d;               // f16 scale
    uint8_t qs[QK4_0 / 2];    // nibbles: low = elements 0..15, high = 16..31
} BlockQ4_0;
_Static_assert(sizeof(BlockQ4_0) == 18, "BlockQ4_0 must match GGUF's 18-byte block");

typedef struct {
    uint16_t d, m;            // f16 scale and minimum: w = d * nibble + m
    uint8_t qs[QK4_1 / 2];    // nibbles as Q4_0
} BlockQ4_1;
_Static_assert(sizeof(BlockQ4_1) == 20, "BlockQ4_1 must match GGUF's 20-byte block");

typedef struct {
    uint16_t d;               // f16 scale: w = d * (q - 16), q = nibble | fifth bit << 4
    uint8_t qh[4];            // fifth bits, element j in bit j (little-endian uint32)
    uint8_t qs[QK5_0 / 2];    // low nibbles as Q4_0
} BlockQ5_0;
_Static_assert(sizeof(BlockQ5_0) == 22, "BlockQ5_0 must match GGUF's 22-byte block");

typedef struct {
    uint16_t d, m;            // f16 scale and minimum: w = d * q + m, q as Q5_0 (0..31)
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} BlockQ5_1;
_Static_assert(sizeof(BlockQ5_1) == 24, "BlockQ5_1 must match GGUF's 24-byte block");

typedef struct {
    uint16_t d;               // f16 scale
    int8_t qs[QK8_0];
} BlockQ8_0;
_Static_assert(sizeof(BlockQ8_0) == 34, "BlockQ8_0 must match GGUF's 34-byte block");

typedef struct {
    uint16_t d;               // f16 scale: w = d * QUANT_IQ4NL_VALUES[nibble]
    uint8_t qs[QK4_NL / 2];   // nibbles as Q4_0
} BlockIQ4NL;
_Static_assert(sizeof(BlockIQ4NL) == 18, "BlockIQ4NL must match GGUF's 18-byte block");

typedef struct {
    uint8_t scales[QK_K / 16]; // per 16 weights: low nibble scale, high nibble min
    uint8_t qs[QK_K / 4];      // 2-bit codes, 4 per byte
    uint16_t d, dmin;          // f16 super-block scales of the scales and of the mins
} BlockQ2K;
_Static_assert(sizeof(BlockQ2K) == 84, "BlockQ2K must match GGUF's 84-byte block");

typedef struct {
    uint8_t hmask[QK_K / 8];   // third bit of each code (set: code - 0, clear: code - 4)
    uint8_t qs[QK_K / 4];      // low 2 bits, 4 per byte
    uint8_t scales[12];        // 16 six-bit scales (bias 32)
    uint16_t d;                // f16 super-block scale
} BlockQ3K;
_Static_assert(sizeof(BlockQ3K) == 110, "BlockQ3K must match GGUF's 110-byte block");

typedef struct {
    uint16_t d, dmin;               // f16 super-block scales of the scales and of the mins
    uint8_t scales[K_SCALE_SIZE];   // 8 sub-blocks of 32: six-bit scale and six-bit min each
    uint8_t qs[QK_K / 2];           // per 64 weights: 32 bytes, low nibbles first 32, high next 32
} BlockQ4K;
_Static_assert(sizeof(BlockQ4K) == 144, "BlockQ4K must match GGUF's 144-byte block");

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];           // fifth bits: sub-block s uses bit s of qh[l]
    uint8_t qs[QK_K / 2];           // low nibbles as Q4_K
} BlockQ5K;
_Static_assert(sizeof(BlockQ5K) == 176, "BlockQ5K must match GGUF's 176-byte block");

typedef struct {
    uint8_t ql[QK_K / 2];      // low 4 bits
    uint8_t qh[QK_K / 4];      // high 2 bits
    int8_t scales[QK_K / 16];  // per 16 weights, signed 8-bit
    uint16_t d;                // f16 super-block scale: w = d * scale * (q - 32)
} BlockQ6K;
_Static_assert(sizeof(BlockQ6K) == 210, "BlockQ6K must match GGUF's 210-byte block");

// Activations for K-quant products (never stored in model files by us): float scale, 256 codes,
// and the sum of each 16 codes (the K-quant kernels apply their per-sub-block minimums with it).
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} BlockQ8K;
_Static_assert(sizeof(BlockQ8K) == 292, "BlockQ8K must match ggml's 292-byte block");

// IQ4_NL's 16 non-linear levels (ggml's kvalues_iq4nl).
extern const int8_t QUANT_IQ4NL_VALUES[16];

// What a weight type's products multiply with: float activations, or activations quantized to
// Q8_0 blocks of 32 (the 32-weight types) or Q8_K blocks of 256 (the K-quants), as llama.cpp does.
typedef enum { QA_FLOAT, QA_Q8_0, QA_Q8_K } QuantAct;

typedef struct {
    const char *name;     // "q8_0", as llama.cpp prints it; NULL for ids ggml does not define
    int64_t block_size;   // weights per block (1 for float types)
    size_t type_size;     // bytes per block
    bool supported;       // this engine can compute with it (matmul and dequantize)
    QuantAct act;         // for supported types: the activation format of its products
} QuantTraits;

extern const QuantTraits QUANT_TRAITS[QT_COUNT];

// Traits for an id read from a file, or NULL when the id is out of range or unknown.
const QuantTraits *quant_traits(uint32_t type);
// Supported QuantType by its name ("f32", "q4_k", ...; case-insensitive); -1 when unknown or
// not supported.
int quant_from_name(const char *name);
// Bytes for n weights (n must be a multiple of the block size), or 0 when it is not.
size_t quant_row_bytes(QuantType t, int64_t n);

float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);      // round to nearest even, as the F16C instruction does
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);     // round to nearest even; NaN stays NaN

// Reference conversions of one row of n weights (n a multiple of the block size), for supported
// types. Dequantization defines the formats (it matches ggml's dequantize_row_* bit for bit);
// quantization is a plain round-to-nearest per block (K-quants: per sub-block min/max, scales
// rounded to their 6- or 8-bit codes), good for synthesized models, not llama-quantize's search.
// Q8_K is an activation format only: quantized as ggml's quantize_row_q8_K_ref (bsums filled).
void quant_quantize_row(QuantType t, const float *x, void *dst, int64_t n);
void quant_dequantize_row(QuantType t, const void *src, float *y, int64_t n);

#endif
