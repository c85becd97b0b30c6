#include "engine/quant.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"
#include "engine/quant_impl.h"

// Every type ggml defines (ggml.h, ggml-common.h), so any valid file opens and `gguf info` can
// name what it holds; ids 4, 5, 31-33 and 36-38 were removed from ggml and are refused.
#define T(name, bs, ts) {name, bs, ts, false, QA_FLOAT}
#define S(name, bs, ts, act) {name, bs, ts, true, act}
const QuantTraits QUANT_TRAITS[QT_COUNT] = {
    [QT_F32] = S("f32", 1, 4, QA_FLOAT),
    [QT_F16] = S("f16", 1, 2, QA_FLOAT),
    [QT_Q4_0] = S("q4_0", QK4_0, sizeof(BlockQ4_0), QA_Q8_0),
    [QT_Q4_1] = S("q4_1", QK4_1, sizeof(BlockQ4_1), QA_Q8_0),
    [QT_Q5_0] = S("q5_0", QK5_0, sizeof(BlockQ5_0), QA_Q8_0),
    [QT_Q5_1] = S("q5_1", QK5_1, sizeof(BlockQ5_1), QA_Q8_0),
    [QT_Q8_0] = S("q8_0", QK8_0, sizeof(BlockQ8_0), QA_Q8_0),
    [QT_Q8_1] = T("q8_1", 32, 36),
    [QT_Q2_K] = S("q2_k", QK_K, sizeof(BlockQ2K), QA_Q8_K),
    [QT_Q3_K] = S("q3_k", QK_K, sizeof(BlockQ3K), QA_Q8_K),
    [QT_Q4_K] = S("q4_k", QK_K, sizeof(BlockQ4K), QA_Q8_K),
    [QT_Q5_K] = S("q5_k", QK_K, sizeof(BlockQ5K), QA_Q8_K),
    [QT_Q6_K] = S("q6_k", QK_K, sizeof(BlockQ6K), QA_Q8_K),
    [QT_Q8_K] = T("q8_k", QK_K, sizeof(BlockQ8K)),
    [16] = T("iq2_xxs", 256, 66),
    [17] = T("iq2_xs", 256, 74),
    [18] = T("iq3_xxs", 256, 98),
    [19] = T("iq1_s", 256, 50),
    [QT_IQ4_NL] = S("iq4_nl", QK4_NL, sizeof(BlockIQ4NL), QA_Q8_0),
    [21] = T("iq3_s", 256, 110),
    [22] = T("iq2_s", 256, 82),
    [23] = T("iq4_xs", 256, 136),
    [24] = T("i8", 1, 1),
    [25] = T("i16", 1, 2),
    [26] = T("i32", 1, 4),
    [27] = T("i64", 1, 8),
    [28] = T("f64", 1, 8),
    [29] = T("iq1_m", 256, 56),
    [QT_BF16] = S("bf16", 1, 2, QA_FLOAT),
    [34] = T("tq1_0", 256, 54),
    [35] = T("tq2_0", 256, 66),
    [39] = T("mxfp4", 32, 17),
    [40] = T("nvfp4", 64, 36),
    [41] = T("q1_0", 128, 18),
    [42] = T("q2_0", 64, 18),
};
#undef T
#undef S

const int8_t QUANT_IQ4NL_VALUES[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

const QuantTraits *quant_traits(uint32_t type) {
    if (type >= QT_COUNT || !QUANT_TRAITS[type].name) return NULL;
    return &QUANT_TRAITS[type];
}

int quant_from_name(const char *name) {
    for (int i = 0; i < QT_COUNT; i++)
        if (QUANT_TRAITS[i].name && QUANT_TRAITS[i].supported && strcasecmp(QUANT_TRAITS[i].name, name) == 0)
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


// ---- codes from floats ----

// x86's float-to-int32 conversion (cvtps2dq: nearest-even; NaN and out of range give INT32_MIN)
// saturated to int8, as the SIMD activation quantizers do with packs: the reference and the SIMD
// paths then agree on every input, non-finite ones included (they give -128, never UB).
int8_t quant_sat_i8_rne(float v) {
    if (!(fabsf(v) < 2147483648.0f)) return -128;
    float r = nearbyintf(v);
    return r > 127.0f ? 127 : r < -128.0f ? -128 : (int8_t)r;
}

// The same with roundf (half away from zero), the Q8_0 rounding.
static int8_t sat_i8_away(float v) {
    if (!(fabsf(v) < 2147483648.0f)) return -128;
    float r = roundf(v);
    return r > 127.0f ? 127 : r < -128.0f ? -128 : (int8_t)r;
}

// Nearest integer of a finite weight-quantizer value, clamped to [lo, hi].
int quant_nearest_clamp(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo;  // NaN too
    if (v >= (float)hi) return hi;
    return (int)nearbyintf(v);
}

// ---- 32-weight blocks (reference) ----

static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    BlockQ8_0 *y = dst;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) y[b].qs[j] = sat_i8_away(xb[j] * id);
    }
}

static void dequantize_q8_0(const void *src, float *y, int64_t n) {
    const BlockQ8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = quant_f16_to_f32(b[i].d);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = b[i].qs[j] * d;
    }
}

// Largest |x| of a block, returned with its sign (ggml's scale for the symmetric types maps it
// to the most negative code).
static float signed_amax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void quantize_q4_0(const float *x, void *dst, int64_t n) {
    BlockQ4_0 *y = dst;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float *xb = x + b * QK4_0;
        float d = signed_amax(xb, QK4_0) / -8.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = (int)(xb[j] * id + 8.5f), q1 = (int)(xb[j + QK4_0 / 2] * id + 8.5f);  // ggml's rounding
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void dequantize_q4_0(const void *src, float *y, int64_t n) {
    const BlockQ4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        float d = quant_f16_to_f32(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[i * QK4_0 + j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
            y[i * QK4_0 + j + QK4_0 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    *mn = *mx = x[0];
    for (int j = 1; j < n; j++) {
        *mn = fminf(*mn, x[j]);
        *mx = fmaxf(*mx, x[j]);
    }
}

static void quantize_q4_1(const float *x, void *dst, int64_t n) {
    BlockQ4_1 *y = dst;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        const float *xb = x + b * QK4_1;
        float mn, mx;
        min_max(xb, QK4_1, &mn, &mx);
        float d = (mx - mn) / 15.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = quant_f32_to_f16(d);
        y[b].m = quant_f32_to_f16(mn);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = quant_nearest_clamp((xb[j] - mn) * id, 0, 15);
            int q1 = quant_nearest_clamp((xb[j + QK4_1 / 2] - mn) * id, 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void dequantize_q4_1(const void *src, float *y, int64_t n) {
    const BlockQ4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        float d = quant_f16_to_f32(b[i].d), m = quant_f16_to_f32(b[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[i * QK4_1 + j] = d * (float)(b[i].qs[j] & 0x0f) + m;
            y[i * QK4_1 + j + QK4_1 / 2] = d * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}

// Q5_0/Q5_1 share the layout: 5-bit codes q[32] -> low nibbles in qs, fifth bits in qh.
static void pack5(const int *q, uint8_t *qs, uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
        h |= (uint32_t)(q[j] >> 4) << j;
        h |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

static int code5(const uint8_t *qs, const uint8_t qh[4], int j) {
    uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    int lo = j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;
    return lo | (int)((h >> j) & 1) << 4;
}

static void quantize_q5_0(const float *x, void *dst, int64_t n) {
    BlockQ5_0 *y = dst;
    for (int64_t b = 0; b < n / QK5_0; b++) {
        const float *xb = x + b * QK5_0;
        float d = signed_amax(xb, QK5_0) / -16.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = quant_f32_to_f16(d);
        int q[QK5_0];
        for (int j = 0; j < QK5_0; j++) q[j] = quant_nearest_clamp(xb[j] * id + 16.0f, 0, 31);
        pack5(q, y[b].qs, y[b].qh);
    }
}

static void dequantize_q5_0(const void *src, float *y, int64_t n) {
    const BlockQ5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        float d = quant_f16_to_f32(b[i].d);
        for (int j = 0; j < QK5_0; j++) y[i * QK5_0 + j] = d * (float)(code5(b[i].qs, b[i].qh, j) - 16);
    }
}

static void quantize_q5_1(const float *x, void *dst, int64_t n) {
    BlockQ5_1 *y = dst;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        const float *xb = x + b * QK5_1;
        float mn, mx;
        min_max(xb, QK5_1, &mn, &mx);
        float d = (mx - mn) / 31.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = quant_f32_to_f16(d);
        y[b].m = quant_f32_to_f16(mn);
        int q[QK5_1];
        for (int j = 0; j < QK5_1; j++) q[j] = quant_nearest_clamp((xb[j] - mn) * id, 0, 31);
        pack5(q, y[b].qs, y[b].qh);
    }
}

static void dequantize_q5_1(const void *src, float *y, int64_t n) {
    const BlockQ5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        float d = quant_f16_to_f32(b[i].d), m = quant_f16_to_f32(b[i].m);
        for (int j = 0; j < QK5_1; j++) y[i * QK5_1 + j] = d * (float)code5(b[i].qs, b[i].qh, j) + m;
    }
}

// IQ4_NL: the scale maps the block's signed extreme to the level -127; each weight takes the
// nearest of the 16 levels.
static void quantize_iq4_nl(const float *x, void *dst, int64_t n) {
    BlockIQ4NL *y = dst;
    for (int64_t b = 0; b < n / QK4_NL; b++) {
        const float *xb = x + b * QK4_NL;
        float d = signed_amax(xb, QK4_NL) / -127.0f;
        y[b].d = quant_f32_to_f16(d);
        float df = quant_f16_to_f32(y[b].d), id = df ? 1.0f / df : 0.0f;
        uint8_t q[QK4_NL];
        for (int j = 0; j < QK4_NL; j++) {
            float v = xb[j] * id;
            int best = 0;
            for (int k = 1; k < 16; k++)
                if (fabsf(v - QUANT_IQ4NL_VALUES[k]) < fabsf(v - QUANT_IQ4NL_VALUES[best])) best = k;
            q[j] = (uint8_t)best;
        }
        for (int j = 0; j < QK4_NL / 2; j++) y[b].qs[j] = (uint8_t)(q[j] | (q[j + QK4_NL / 2] << 4));
    }
}

static void dequantize_iq4_nl(const void *src, float *y, int64_t n) {
    const BlockIQ4NL *b = src;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        float d = quant_f16_to_f32(b[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[i * QK4_NL + j] = d * (float)QUANT_IQ4NL_VALUES[b[i].qs[j] & 0x0f];
            y[i * QK4_NL + j + QK4_NL / 2] = d * (float)QUANT_IQ4NL_VALUES[b[i].qs[j] >> 4];
        }
    }
}

// ---- float types ----

static void quantize_f32(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * 4); }
static void dequantize_f32(const void *src, float *y, int64_t n) { memcpy(y, src, (size_t)n * 4); }
static void quantize_f16(const float *x, void *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = quant_f32_to_f16(x[i]);
}
static void dequantize_f16(const void *src, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = quant_f16_to_f32(((const uint16_t *)src)[i]);
}
static void quantize_bf16(const float *x, void *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = quant_f32_to_bf16(x[i]);
}
static void dequantize_bf16(const void *src, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = quant_bf16_to_f32(((const uint16_t *)src)[i]);
}

// ---- dispatch ----

typedef struct {
    void (*quantize)(const float *x, void *dst, int64_t n);
    void (*dequantize)(const void *src, float *y, int64_t n);
} QuantRowFns;

static const QuantRowFns ROW_FNS[QT_COUNT] = {
    [QT_F32] = {quantize_f32, dequantize_f32},
    [QT_F16] = {quantize_f16, dequantize_f16},
    [QT_BF16] = {quantize_bf16, dequantize_bf16},
    [QT_Q4_0] = {quantize_q4_0, dequantize_q4_0},
    [QT_Q4_1] = {quantize_q4_1, dequantize_q4_1},
    [QT_Q5_0] = {quantize_q5_0, dequantize_q5_0},
    [QT_Q5_1] = {quantize_q5_1, dequantize_q5_1},
    [QT_Q8_0] = {quantize_q8_0, dequantize_q8_0},
    [QT_IQ4_NL] = {quantize_iq4_nl, dequantize_iq4_nl},
    [QT_Q2_K] = {quant_quantize_q2_k, quant_dequantize_q2_k},
    [QT_Q3_K] = {quant_quantize_q3_k, quant_dequantize_q3_k},
    [QT_Q4_K] = {quant_quantize_q4_k, quant_dequantize_q4_k},
    [QT_Q5_K] = {quant_quantize_q5_k, quant_dequantize_q5_k},
    [QT_Q6_K] = {quant_quantize_q6_k, quant_dequantize_q6_k},
    [QT_Q8_K] = {quant_quantize_q8_k, NULL},
};

void quant_quantize_row(QuantType t, const float *x, void *dst, int64_t n) {
    CHECK((unsigned)t < QT_COUNT && ROW_FNS[t].quantize && QUANT_TRAITS[t].name);
    CHECK(n % QUANT_TRAITS[t].block_size == 0);
    ROW_FNS[t].quantize(x, dst, n);
}

void quant_dequantize_row(QuantType t, const void *src, float *y, int64_t n) {
    CHECK((unsigned)t < QT_COUNT && ROW_FNS[t].dequantize);
    CHECK(n % QUANT_TRAITS[t].block_size == 0);
    ROW_FNS[t].dequantize(src, y, n);
}
