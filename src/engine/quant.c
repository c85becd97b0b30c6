#include "engine/quant.h"

#include <math.h>
#include <string.h>

#include "base/check.h"

const QuantTraits QUANT_TRAITS[QT_COUNT] = {
    [QT_F32] = {"f32", 1, 4, true},
    [QT_F16] = {"f16", 1, 2, true},
    [QT_Q4_0] = {"q4_0", QK4_0, sizeof(BlockQ4_0), true},
    [3] = {"q4_1", 32, 20, false},
    [6] = {"q5_0", 32, 22, false},
    [7] = {"q5_1", 32, 24, false},
    [QT_Q8_0] = {"q8_0", QK8_0, sizeof(BlockQ8_0), true},
    [9] = {"q8_1", 32, 36, false},
    [10] = {"q2_k", 256, 84, false},
    [11] = {"q3_k", 256, 110, false},
    [12] = {"q4_k", 256, 144, false},
    [13] = {"q5_k", 256, 176, false},
    [14] = {"q6_k", 256, 210, false},
    [15] = {"q8_k", 256, 292, false},
    [24] = {"i8", 1, 1, false},
    [25] = {"i16", 1, 2, false},
    [26] = {"i32", 1, 4, false},
    [27] = {"i64", 1, 8, false},
    [28] = {"f64", 1, 8, false},
    [QT_BF16] = {"bf16", 1, 2, true},
};

const QuantTraits *quant_traits(uint32_t type) {
    if (type >= QT_COUNT || !QUANT_TRAITS[type].name) return NULL;
    return &QUANT_TRAITS[type];
}

int quant_from_name(const char *name) {
    for (int i = 0; i < QT_COUNT; i++)
        if (QUANT_TRAITS[i].name && QUANT_TRAITS[i].supported && strcmp(QUANT_TRAITS[i].name, name) == 0)
            return i;
    return -1;
}

size_t quant_row_bytes(QuantType t, int64_t n) {
    const QuantTraits *tr = quant_traits((uint32_t)t);
    if (!tr || n < 0 || n % tr->block_size) return 0;
    return (size_t)(n / tr->block_size) * tr->type_size;
}

// ---- 16-bit floats ----

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float quant_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        // zero or subnormal: mant * 2^-24
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t quant_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t au = u & 0x7fffffffu;
    if (au >= 0x7f800000u) return sign | (au > 0x7f800000u ? 0x7e00 : 0x7c00);  // NaN / Inf
    if (au >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: overflow to Inf
    if (au < 0x38800000u) {
        // f16 subnormal or zero: value / 2^-24, rounded to nearest even
        float a = bits_f32(au);
        float q = a * 0x1p24f;
        float r = nearbyintf(q);  // default rounding mode is nearest-even
        return sign | (uint16_t)r;
    }
    uint32_t mant = au & 0x7fffff, exp = (au >> 23) - 112;
    uint32_t half = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

float quant_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t quant_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);  // quiet NaN
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

// ---- row conversions (reference) ----

static void quantize_q8_0(const float *x, BlockQ8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) y[b].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

static void quantize_q4_0(const float *x, BlockQ4_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float *xb = x + b * QK4_0;
        float amax = 0, max = 0;  // max keeps its sign: the scale maps it to -8
        for (int j = 0; j < QK4_0; j++) {
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = (int)(xb[j] * id + 8.5f), q1 = (int)(xb[j + QK4_0 / 2] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void quant_quantize_row(QuantType t, const float *x, void *dst, int64_t n) {
    switch (t) {
    case QT_F32: memcpy(dst, x, (size_t)n * 4); break;
    case QT_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = quant_f32_to_f16(x[i]);
        break;
    case QT_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = quant_f32_to_bf16(x[i]);
        break;
    case QT_Q8_0: CHECK(n % QK8_0 == 0); quantize_q8_0(x, dst, n); break;
    case QT_Q4_0: CHECK(n % QK4_0 == 0); quantize_q4_0(x, dst, n); break;
    default: CHECK(!"quantize: unsupported type");
    }
}

void quant_dequantize_row(QuantType t, const void *src, float *y, int64_t n) {
    switch (t) {
    case QT_F32: memcpy(y, src, (size_t)n * 4); break;
    case QT_F16:
        for (int64_t i = 0; i < n; i++) y[i] = quant_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case QT_BF16:
        for (int64_t i = 0; i < n; i++) y[i] = quant_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case QT_Q8_0: {
        const BlockQ8_0 *b = src;
        for (int64_t i = 0; i < n / QK8_0; i++) {
            float d = quant_f16_to_f32(b[i].d);
            for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = d * b[i].qs[j];
        }
        break;
    }
    case QT_Q4_0: {
        const BlockQ4_0 *b = src;
        for (int64_t i = 0; i < n / QK4_0; i++) {
            float d = quant_f16_to_f32(b[i].d);
            for (int j = 0; j < QK4_0 / 2; j++) {
                y[i * QK4_0 + j] = d * ((b[i].qs[j] & 0x0f) - 8);
                y[i * QK4_0 + j + QK4_0 / 2] = d * ((b[i].qs[j] >> 4) - 8);
            }
        }
        break;
    }
    default: CHECK(!"dequantize: unsupported type");
    }
}
