// quant_k.c — reference conversions of the K-quants (256-weight super-blocks) and of Q8_K, the
// activation format their products use.
//
// Dequantization follows ggml's dequantize_row_q*_K operation for operation (products taken in
// the same order, no fused multiply-add), so it agrees bit for bit with llama.cpp and gguf-py.
// Quantization is a plain one: per sub-block min/max (or signed extreme), sub-block scales
// rounded to their 4/6/8-bit codes against the super-block scale, then each weight to the
// nearest code under the rounded scales. llama-quantize searches harder; files from either read
// the same way.
#include <math.h>
#include <string.h>

#include "engine/quant.h"
#include "engine/quant_impl.h"

// ---- shared ----

// Q4_K/Q5_K scale and min j (0..7), six bits each, from the 12 packed bytes.
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void pack_scale_min_k4(const int sc[8], const int m[8], uint8_t *q) {
    memset(q, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] = (uint8_t)sc[j];
            q[j + 4] = (uint8_t)m[j];
        } else {
            q[j + 4] = (uint8_t)((sc[j] & 0x0f) | ((m[j] & 0x0f) << 4));
            q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            q[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

// Asymmetric sub-blocks (Q2_K, Q4_K, Q5_K): nsub sub-blocks of len weights with codes 0..qmax.
// Each gets scale (max-min)/qmax and min -min (min clamped to <= 0, so the min is >= 0); those are
// coded in 0..smax against the super-block's d and dmin (f16); the codes L[] are then taken
// against the rounded values.
static void quantize_asym(const float *x, int nsub, int len, int qmax, int smax, uint16_t *d16, uint16_t *dmin16,
                          int *sc, int *mc, uint8_t *L) {
    float scale[16], mins[16], max_scale = 0, max_min = 0;
    for (int s = 0; s < nsub; s++) {
        float mn = 0, mx = x[s * len];
        for (int l = 0; l < len; l++) {
            mn = fminf(mn, x[s * len + l]);
            mx = fmaxf(mx, x[s * len + l]);
        }
        scale[s] = (mx - mn) / (float)qmax;
        mins[s] = -mn;
        max_scale = fmaxf(max_scale, scale[s]);
        max_min = fmaxf(max_min, mins[s]);
    }
    *d16 = quant_f32_to_f16(max_scale / (float)smax);
    *dmin16 = quant_f32_to_f16(max_min / (float)smax);
    float d = quant_f16_to_f32(*d16), dmin = quant_f16_to_f32(*dmin16);
    for (int s = 0; s < nsub; s++) {
        sc[s] = d > 0 ? quant_nearest_clamp(scale[s] / d, 0, smax) : 0;
        mc[s] = dmin > 0 ? quant_nearest_clamp(mins[s] / dmin, 0, smax) : 0;
        float ds = d * (float)sc[s], dm = dmin * (float)mc[s];
        for (int l = 0; l < len; l++)
            L[s * len + l] = (uint8_t)(ds > 0 ? quant_nearest_clamp((x[s * len + l] + dm) / ds, 0, qmax) : 0);
    }
}

// Symmetric sub-blocks (Q3_K, Q6_K): scale = signed extreme / -qneg (the extreme maps to -qneg),
// coded as a signed integer in [-smax-1, smax] against the super-block's d (f16, positive); codes
// q in [-qneg, qneg-1] against the rounded scale.
static void quantize_sym(const float *x, int nsub, int len, int qneg, int smax, uint16_t *d16, int *sc, int *q) {
    float scale[16], amax = 0;
    for (int s = 0; s < nsub; s++) {
        float e = 0, ae = 0;
        for (int l = 0; l < len; l++)
            if (fabsf(x[s * len + l]) > ae) {
                ae = fabsf(x[s * len + l]);
                e = x[s * len + l];
            }
        scale[s] = e / (float)-qneg;
        amax = fmaxf(amax, fabsf(scale[s]));
    }
    *d16 = quant_f32_to_f16(amax / (float)smax);
    float d = quant_f16_to_f32(*d16);
    for (int s = 0; s < nsub; s++) {
        sc[s] = d > 0 ? quant_nearest_clamp(scale[s] / d, -smax - 1, smax) : 0;
        float ds = d * (float)sc[s];
        for (int l = 0; l < len; l++)
            q[s * len + l] = ds != 0 ? quant_nearest_clamp(x[s * len + l] / ds, -qneg, qneg - 1) : 0;
    }
}

// ---- Q2_K: w = d * (scale & 15) * q - dmin * (scale >> 4), q in 0..3 ----
// Element e (0..255): chunk n = e / 128 of 32 bytes, bit pair (e % 128) / 32, byte e % 32; its
// 4-bit scale and min are scales[e / 16].

void quant_quantize_q2_k(const float *x, void *dst, int64_t n) {
    BlockQ2K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int sc[16], mc[16];
        uint8_t L[QK_K];
        quantize_asym(x + b * QK_K, 16, 16, 3, 15, &y[b].d, &y[b].dmin, sc, mc, L);
        for (int s = 0; s < 16; s++) y[b].scales[s] = (uint8_t)(sc[s] | (mc[s] << 4));
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int e = 0; e < QK_K; e++) y[b].qs[(e / 128) * 32 + e % 32] |= (uint8_t)(L[e] << (2 * ((e % 128) / 32)));
    }
}

void quant_dequantize_q2_k(const void *src, float *y, int64_t n) {
    const BlockQ2K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = quant_f16_to_f32(b[i].d), dmin = quant_f16_to_f32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            uint8_t s = b[i].scales[e / 16];
            float dl = d * (float)(s & 0x0f), ml = dmin * (float)(s >> 4);
            int q = (b[i].qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            y[i * QK_K + e] = dl * (float)q - ml;
        }
    }
}

// ---- Q3_K: w = d * (scale - 32) * (q - 4), q = low 2 bits (as Q2_K) | hmask bit << 2 ----
// The hmask bit of element e is bit (e / 32) of hmask[e % 32]. Scale i (of 16, per 16 weights):
// low nibble in byte i % 8 (nibble i / 8), high 2 bits in byte 8 + i % 4 at bit 2 * (i / 4).

static int q3_scale(const uint8_t *s, int i) {
    int lo = (s[i % 8] >> (4 * (i / 8))) & 0x0f, hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

void quant_quantize_q3_k(const float *x, void *dst, int64_t n) {
    BlockQ3K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int sc[16], q[QK_K];
        quantize_sym(x + b * QK_K, 16, 16, 4, 31, &y[b].d, sc, q);
        memset(y[b].scales, 0, sizeof y[b].scales);
        for (int i = 0; i < 16; i++) {
            int u = sc[i] + 32;
            y[b].scales[i % 8] |= (uint8_t)((u & 0x0f) << (4 * (i / 8)));
            y[b].scales[8 + i % 4] |= (uint8_t)((u >> 4) << (2 * (i / 4)));
        }
        memset(y[b].qs, 0, sizeof y[b].qs);
        memset(y[b].hmask, 0, sizeof y[b].hmask);
        for (int e = 0; e < QK_K; e++) {
            int u = q[e] + 4;
            y[b].qs[(e / 128) * 32 + e % 32] |= (uint8_t)((u & 3) << (2 * ((e % 128) / 32)));
            y[b].hmask[e % 32] |= (uint8_t)((u >> 2) << (e / 32));
        }
    }
}

void quant_dequantize_q3_k(const void *src, float *y, int64_t n) {
    const BlockQ3K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = quant_f16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            float dl = d * (float)q3_scale(b[i].scales, e / 16);
            int lo = (b[i].qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            int hi = (b[i].hmask[e % 32] >> (e / 32)) & 1;
            y[i * QK_K + e] = dl * (float)(lo - (hi ? 0 : 4));
        }
    }
}

// ---- Q4_K: w = d * sc[s] * q - dmin * m[s], sub-block s = e / 32, q in 0..15 ----
// Per 64 weights, 32 bytes of qs: the low nibbles are the first 32 weights, the high the next 32.

void quant_quantize_q4_k(const float *x, void *dst, int64_t n) {
    BlockQ4K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int sc[8], mc[8];
        uint8_t L[QK_K];
        quantize_asym(x + b * QK_K, 8, 32, 15, 63, &y[b].d, &y[b].dmin, sc, mc, L);
        pack_scale_min_k4(sc, mc, y[b].scales);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) y[b].qs[c * 32 + l] = (uint8_t)(L[c * 64 + l] | (L[c * 64 + 32 + l] << 4));
    }
}

void quant_dequantize_q4_k(const void *src, float *y, int64_t n) {
    const BlockQ4K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = quant_f16_to_f32(b[i].d), dmin = quant_f16_to_f32(b[i].dmin);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            scale_min_k4(s, b[i].scales, &sc, &m);
            float d1 = d * (float)sc, m1 = dmin * (float)m;
            const uint8_t *q = b[i].qs + (s / 2) * 32;
            for (int l = 0; l < 32; l++) {
                int v = s % 2 ? q[l] >> 4 : q[l] & 0x0f;
                y[i * QK_K + s * 32 + l] = d1 * (float)v - m1;
            }
        }
    }
}

// ---- Q5_K: Q4_K plus a fifth bit: bit s of qh[l] for weight l of sub-block s ----

void quant_quantize_q5_k(const float *x, void *dst, int64_t n) {
    BlockQ5K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int sc[8], mc[8];
        uint8_t L[QK_K];
        quantize_asym(x + b * QK_K, 8, 32, 31, 63, &y[b].d, &y[b].dmin, sc, mc, L);
        pack_scale_min_k4(sc, mc, y[b].scales);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = L[c * 64 + l], hi = L[c * 64 + 32 + l];
                y[b].qs[c * 32 + l] = (uint8_t)((lo & 0x0f) | ((hi & 0x0f) << 4));
                y[b].qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
    }
}

void quant_dequantize_q5_k(const void *src, float *y, int64_t n) {
    const BlockQ5K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = quant_f16_to_f32(b[i].d), dmin = quant_f16_to_f32(b[i].dmin);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            scale_min_k4(s, b[i].scales, &sc, &m);
            float d1 = d * (float)sc, m1 = dmin * (float)m;
            const uint8_t *q = b[i].qs + (s / 2) * 32;
            for (int l = 0; l < 32; l++) {
                int v = (s % 2 ? q[l] >> 4 : q[l] & 0x0f) | (((b[i].qh[l] >> s) & 1) << 4);
                y[i * QK_K + s * 32 + l] = d1 * (float)v - m1;
            }
        }
    }
}

// ---- Q6_K: w = d * scales[e / 16] * (q - 32), q in 0..63 ----
// Per 128 weights (half h): 64 bytes of ql and 32 of qh. Weight h*128 + g*32 + l (g = 0..3, l <
// 32) has low nibble ql[h*64 + (g % 2) * 32 + l] (g < 2 low nibble, else high) and high bits
// (qh[h*32 + l] >> 2g) & 3.

static int q6_code(const BlockQ6K *b, int e) {
    int h = e / 128, g = (e % 128) / 32, l = e % 32;
    int lo = b->ql[h * 64 + (g % 2) * 32 + l] >> (4 * (g / 2)) & 0x0f;
    int hi = (b->qh[h * 32 + l] >> (2 * g)) & 3;
    return lo | hi << 4;
}

void quant_quantize_q6_k(const float *x, void *dst, int64_t n) {
    BlockQ6K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int sc[16], q[QK_K];
        quantize_sym(x + b * QK_K, 16, 16, 32, 127, &y[b].d, sc, q);
        for (int s = 0; s < 16; s++) y[b].scales[s] = (int8_t)sc[s];
        memset(y[b].ql, 0, sizeof y[b].ql);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int e = 0; e < QK_K; e++) {
            int u = q[e] + 32, h = e / 128, g = (e % 128) / 32, l = e % 32;
            y[b].ql[h * 64 + (g % 2) * 32 + l] |= (uint8_t)((u & 0x0f) << (4 * (g / 2)));
            y[b].qh[h * 32 + l] |= (uint8_t)((u >> 4) << (2 * g));
        }
    }
}

void quant_dequantize_q6_k(const void *src, float *y, int64_t n) {
    const BlockQ6K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = quant_f16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++)
            y[i * QK_K + e] = d * (float)b[i].scales[e / 16] * (float)(q6_code(&b[i], e) - 32);
    }
}

// ---- Q8_K (activations): ggml's quantize_row_q8_K_ref ----
// iscale = -127 / (signed extreme), codes nearest-even (saturated: non-finite input gives -128,
// never UB), d = 1 / iscale; bsums are the sums of each 16 codes.

void quant_quantize_q8_k(const float *x, void *dst, int64_t n) {
    BlockQ8K *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K;
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        if (amax == 0) {  // NaN compares false: a block with NaNs is coded below
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            y[b].qs[j] = quant_sat_i8_rne(iscale * xb[j]);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += y[b].qs[g * 16 + j];
            y[b].bsums[g] = (int16_t)s;
        }
        y[b].d = 1.0f / iscale;
    }
}
