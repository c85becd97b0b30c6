// qref.c — llama-quantize's weight quantizers (no importance matrix), reproduced operation for
// operation so the bytes match (see qref.h). Every expression below keeps the evaluation order
// of the reference (left to right, int operands converted to float where they meet a float);
// rearranging one product changes the last bit of a sum and then, sometimes, a chosen code.
#include "quantize/qref.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "base/check.h"

#define QREF_EPS 1e-15f   // a group whose largest magnitude is below this is all zero

// ---- shared helpers ----

// Round half to even for |v| < 2^22: adding 1.5 * 2^23 leaves round(v) in the low mantissa bits
// (the float adder rounds to nearest even). Larger magnitudes give what ggml's nearest_int gives.
static int round_even(float v) {
    float biased = v + 12582912.f;
    int32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static uint16_t to_f16(float f) { return quant_f32_to_f16(f); }
static float from_f16(uint16_t h) { return quant_f16_to_f32(h); }

// The element with the largest magnitude (the first one on ties), with its sign; *amax gets |it|.
static float signed_extreme(const float *x, int n, float *amax) {
    float max = 0, a = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > a) { a = ax; max = x[i]; }
    }
    *amax = a;
    return max;
}

// Packs four 2-bit code planes: byte l of each 32 holds codes l, l+32, l+64, l+96 of a 128.
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// Q4_K/Q5_K: six-bit scale ls and min lm of sub-block j into the 12 packed bytes (which start
// zeroed for j < 4 and are completed by j >= 4).
static void put_scale_min(uint8_t *q, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

static void get_scale_min(const uint8_t *q, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// ---- 32-weight blocks ----

static void q4_1_row(const float *x, BlockQ4_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = to_f16(d);
        y[i].m = to_f16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int a = (int8_t)(int)((x[j] - min) * id + 0.5f), b = (int8_t)(int)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((a < 15 ? a : 15) | ((b < 15 ? b : 15) << 4));
        }
    }
}

static void q5_0_row(const float *x, BlockQ5_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK5_0) {
        float amax;
        const float max = signed_extreme(x, QK5_0, &amax);
        const float d = max / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int a = (int8_t)(int)(x[j] * id + 16.5f), b = (int8_t)(int)(x[j + 16] * id + 16.5f);
            a = a < 31 ? a : 31;
            b = b < 31 ? b : 31;
            y[i].qs[j] = (uint8_t)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint32_t)((a & 0x10) >> 4) << j;
            qh |= (uint32_t)((b & 0x10) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

static void q5_1_row(const float *x, BlockQ5_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31, id = d ? 1.0f / d : 0.0f;
        y[i].d = to_f16(d);
        y[i].m = to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int a = (uint8_t)(int)((x[j] - min) * id + 0.5f), b = (uint8_t)(int)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint32_t)((a & 0x10) >> 4) << j;
            qh |= (uint32_t)((b & 0x10) >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

// ---- IQ4_NL: a scale sweep over the 16 non-linear levels ----

// Index of the level nearest v (the lower one on a tie), by bisection as the reference does.
static int iq4_level(float v) {
    const int8_t *lv = QUANT_IQ4NL_VALUES;
    if (v <= lv[0]) return 0;
    if (v >= lv[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < lv[mid]) hi = mid; else lo = mid;
    }
    return v - lv[hi - 1] < lv[hi] - v ? hi - 1 : hi;
}

// Weighted (w = x²) least-squares scale for the levels chosen under inverse scale id; returns
// sum(w q x) and sets *sumq2 = sum(w q q).
static float iq4_fit(const float *x, float id, float *sumq2, uint8_t *L) {
    float sqx = 0, sq2 = 0;
    for (int j = 0; j < QK4_NL; j++) {
        int l = iq4_level(id * x[j]);
        if (L) L[j] = (uint8_t)l;
        float q = QUANT_IQ4NL_VALUES[l], w = x[j] * x[j];
        sqx += w * q * x[j];
        sq2 += w * q * q;
    }
    *sumq2 = sq2;
    return sqx;
}

static void iq4_nl_block(const float *x, BlockIQ4NL *y) {
    uint8_t L[QK4_NL];
    float amax, d = 0;
    const float max = signed_extreme(x, QK4_NL, &amax);
    if (amax >= QREF_EPS) {
        const int ntry = 7, v0 = QUANT_IQ4NL_VALUES[0];
        float sumq2, sumqx = iq4_fit(x, 1 / (-max / v0), &sumq2, NULL);
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int t = -ntry; t <= ntry; t++) {
            sumqx = iq4_fit(x, (t + v0) / max, &sumq2, NULL);
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
    }
    y->d = to_f16(d);
    float sumq2;
    (void)iq4_fit(x, d ? 1 / d : 0, &sumq2, L);
    for (int j = 0; j < QK4_NL / 2; j++) y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

// ---- K-quant searches ----

// Symmetric codes in [-nmax, nmax-1] for n weights, weighted by x²: the inverse scale -nmax/max
// and 18 nearby ones (nmax ± 0.1·k) are tried and the best least-squares fit kept. L gets
// code + nmax; returns the scale (0 for an all-zero group).
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = signed_extreme(x, n, &amax);
    if (amax < QREF_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_even(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_even(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clampi(round_even(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q3_K's symmetric fit: codes in [-nmax, nmax-1] from -nmax/max, then up to five passes that
// move single codes while the weighted (x²) fit improves. L gets code + nmax.
static float fit_symmetric_refined(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = signed_extreme(x, n, &amax);
    if (amax < QREF_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_even(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int nl = clampi(round_even(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

typedef struct {
    int nmax;       // codes 0..nmax
    float rmin, rdelta;
    int nstep;      // inverse scales (rmin + rdelta·k + nmax)/(max - min), k = 0..nstep, are tried
    bool mad;       // error is the weighted absolute difference (else squared)
} AsymSearch;

static float asym_error(int n, const float *x, const float *w, const uint8_t *L, float scale, float min, bool mad) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * L[i] + min - x[i];
        diff = mad ? fabsf(diff) : diff * diff;
        err += w[i] * diff;
    }
    return err;
}

// Codes 0..nmax with a scale and a minimum (min <= 0): the range fit first, then a sweep of
// inverse scales each followed by the weighted least-squares scale and minimum for its codes,
// keeping the fit with the least weighted error. Returns the scale; *neg_min = -min.
static float fit_asymmetric(int n, const float *x, const float *w, const AsymSearch *s, uint8_t *L, float *neg_min) {
    uint8_t Laux[32];
    CHECK(n <= 32);
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = s->nmax / (max - min), scale = 1 / iscale;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)clampi(round_even(iscale * (x[i] - min)), 0, s->nmax);
    float best = asym_error(n, x, w, L, scale, min, s->mad);
    for (int is = 0; is <= s->nstep; is++) {
        iscale = (s->rmin + s->rdelta * is + s->nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_even(iscale * (x[i] - min)), 0, s->nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D, this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = asym_error(n, x, w, Laux, this_scale, this_min, s->mad);
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

// ---- K-quant blocks ----

static void q2_k_block(const float *x, BlockQ2K *y) {
    static const AsymSearch search = {.nmax = 3, .rmin = -0.5f, .rdelta = 0.1f, .nstep = 15, .mad = true};
    uint8_t L[QK_K];
    float w[16], mins[QK_K / 16], scales[QK_K / 16], max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 16; j++) {
        for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
        scales[j] = fit_asymmetric(16, x + 16 * j, w, &search, L + 16 * j, &mins[j]);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    memset(y->scales, 0, sizeof y->scales);
    y->d = to_f16(0.f);
    y->dmin = to_f16(0.f);
    if (max_scale > 0) {
        float iscale = 15.f / max_scale;
        for (int j = 0; j < QK_K / 16; j++) y->scales[j] = (uint8_t)round_even(iscale * scales[j]);
        y->d = to_f16(max_scale / 15.f);
    }
    if (max_min > 0) {
        float iscale = 15.f / max_min;
        for (int j = 0; j < QK_K / 16; j++) y->scales[j] |= (uint8_t)(round_even(iscale * mins[j]) << 4);
        y->dmin = to_f16(max_min / 15.f);
    }
    for (int j = 0; j < QK_K / 16; j++) {
        const float d = from_f16(y->d) * (y->scales[j] & 0xF);
        if (!d) continue;
        const float dm = from_f16(y->dmin) * (y->scales[j] >> 4);
        for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)clampi(round_even((x[16 * j + i] + dm) / d), 0, 3);
    }
    pack_2bit(L, y->qs);
}

// The six-bit scale of Q3_K sub-block j (0..15), minus its bias of 32.
static int q3_k_scale(const uint8_t *s, int j) {
    int sc = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (sc | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

static void q3_k_block(const float *x, BlockQ3K *y) {
    int8_t L[QK_K];
    float scales[QK_K / 16], max_scale = 0, amax = 0;
    for (int j = 0; j < QK_K / 16; j++) {
        scales[j] = fit_symmetric_refined(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max_scale = scales[j]; }
    }
    memset(y->scales, 0, sizeof y->scales);
    y->d = to_f16(0.f);
    if (max_scale) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < QK_K / 16; j++) {
            int8_t l = (int8_t)round_even(iscale * scales[j]);
            l = (int8_t)(clampi(l, -32, 31) + 32);
            if (j < 8) y->scales[j] = l & 0xF;
            else y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            y->scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        y->d = to_f16(1 / iscale);
    }
    for (int j = 0; j < QK_K / 16; j++) {
        const float d = from_f16(y->d) * (int8_t)q3_k_scale(y->scales, j);
        if (!d) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(clampi(round_even(x[16 * j + i] / d), -4, 3) + 4);
    }
    memset(y->hmask, 0, sizeof y->hmask);
    uint8_t codes[QK_K];
    for (int j = 0; j < QK_K; j++) {
        codes[j] = (uint8_t)L[j];
        if (codes[j] > 3) {
            y->hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            codes[j] -= 4;
        }
    }
    pack_2bit(codes, y->qs);
}

// Q4_K and Q5_K share everything but the code width (nmax 15 / 31) and the search range.
static void q45_k_scales(const float *x, const AsymSearch *s, uint16_t *d16, uint16_t *dmin16, uint8_t *packed,
                         uint8_t *L) {
    float w[32], mins[QK_K / 32], scales[QK_K / 32], max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_asymmetric(32, xs, w, s, L + 32 * j, &mins[j]);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(packed, 0, K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)round_even(inv_scale * scales[j]), lm = (uint8_t)round_even(inv_min * mins[j]);
        put_scale_min(packed, j, ls < 63 ? ls : 63, lm < 63 ? lm : 63);
    }
    *d16 = to_f16(max_scale / 63.f);
    *dmin16 = to_f16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        get_scale_min(packed, j, &sc, &m);
        const float d = from_f16(*d16) * sc;
        if (!d) continue;
        const float dm = from_f16(*dmin16) * m;
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clampi(round_even((x[32 * j + i] + dm) / d), 0, s->nmax);
    }
}

static void q4_k_block(const float *x, BlockQ4K *y) {
    static const AsymSearch search = {.nmax = 15, .rmin = -1.f, .rdelta = 0.1f, .nstep = 20, .mad = false};
    uint8_t L[QK_K];
    q45_k_scales(x, &search, &y->d, &y->dmin, y->scales, L);
    for (int j = 0; j < QK_K; j += 64)
        for (int l = 0; l < 32; l++) y->qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

static void q5_k_block(const float *x, BlockQ5K *y) {
    static const AsymSearch search = {.nmax = 31, .rmin = -0.5f, .rdelta = 0.1f, .nstep = 15, .mad = false};
    uint8_t L[QK_K];
    q45_k_scales(x, &search, &y->d, &y->dmin, y->scales, L);
    memset(y->qh, 0, sizeof y->qh);
    for (int n = 0, bit = 0; n < QK_K; n += 64, bit += 2) {
        for (int j = 0; j < 32; j++) {
            int lo = L[n + j], hi = L[n + j + 32];
            if (lo > 15) { lo -= 16; y->qh[j] |= (uint8_t)(1u << bit); }
            if (hi > 15) { hi -= 16; y->qh[j] |= (uint8_t)(2u << bit); }
            y->qs[n / 2 + j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

static void q6_k_block(const float *x, BlockQ6K *y) {
    int8_t L[QK_K];
    float scales[QK_K / 16], max_scale = 0, max_abs = 0;
    for (int j = 0; j < QK_K / 16; j++) {
        scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > max_abs) { max_abs = fabsf(scales[j]); max_scale = scales[j]; }
    }
    memset(y, 0, sizeof *y);
    if (max_abs < QREF_EPS) return;
    const float iscale = -128.f / max_scale;
    y->d = to_f16(1 / iscale);
    for (int j = 0; j < QK_K / 16; j++) {
        int s = round_even(iscale * scales[j]);
        y->scales[j] = (int8_t)(s < 127 ? s : 127);
    }
    for (int j = 0; j < QK_K / 16; j++) {
        const float d = from_f16(y->d) * y->scales[j];
        if (!d) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(clampi(round_even(x[16 * j + i] / d), -32, 31) + 32);
    }
    for (int j = 0; j < QK_K; j += 128) {
        uint8_t *ql = y->ql + j / 2, *qh = y->qh + j / 4;
        const int8_t *q = L + j;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
            ql[l + 32] = (uint8_t)((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
            qh[l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
        }
    }
}

// ---- dispatch ----

bool qref_supported(QuantType t) {
    switch (t) {
    case QT_F32: case QT_F16: case QT_BF16: case QT_Q4_0: case QT_Q8_0: case QT_Q4_1: case QT_Q5_0: case QT_Q5_1:
    case QT_IQ4_NL: case QT_Q2_K: case QT_Q3_K: case QT_Q4_K: case QT_Q5_K: case QT_Q6_K:
        return true;
    default:
        return false;
    }
}

void qref_quantize_row(QuantType t, const float *x, void *dst, int64_t n) {
    CHECK(qref_supported(t) && n % QUANT_TRAITS[t].block_size == 0);
    const int64_t nb = n / QUANT_TRAITS[t].block_size;
    switch (t) {
    case QT_Q4_1: q4_1_row(x, dst, nb); return;
    case QT_Q5_0: q5_0_row(x, dst, nb); return;
    case QT_Q5_1: q5_1_row(x, dst, nb); return;
    case QT_IQ4_NL: for (int64_t i = 0; i < nb; i++) iq4_nl_block(x + i * QK4_NL, (BlockIQ4NL *)dst + i); return;
    case QT_Q2_K: for (int64_t i = 0; i < nb; i++) q2_k_block(x + i * QK_K, (BlockQ2K *)dst + i); return;
    case QT_Q3_K: for (int64_t i = 0; i < nb; i++) q3_k_block(x + i * QK_K, (BlockQ3K *)dst + i); return;
    case QT_Q4_K: for (int64_t i = 0; i < nb; i++) q4_k_block(x + i * QK_K, (BlockQ4K *)dst + i); return;
    case QT_Q5_K: for (int64_t i = 0; i < nb; i++) q5_k_block(x + i * QK_K, (BlockQ5K *)dst + i); return;
    case QT_Q6_K: for (int64_t i = 0; i < nb; i++) q6_k_block(x + i * QK_K, (BlockQ6K *)dst + i); return;
    default: quant_quantize_row(t, x, dst, n); return;   // F32/F16/BF16/Q8_0/Q4_0: already ggml's
    }
}
