// matmul_qref.c — plain-C (`_ref`) products of the quantized types beyond Q8_0/Q4_0, the truth the
// SIMD kernels are tested against (MM_KERNELS_REF uses them; see matmul_kernels.h).
//
// Each weight block is first unpacked to small integer codes and integer scales, then multiplied
// with the activation codes in int32, as llama.cpp does, so the only float rounding is in applying
// the scales:
//   32-weight types × Q8_0:  d_w d_x Σ q x  (+ m_w s_x for Q4_1/Q5_1, s_x = d_x Σ x codes)
//   K-quants × Q8_K:         d_x (d_w Σ_g sc_g Σ_16 q x  -  doff Σ_g off_g bsum_g)
// where for the K-quants q is the unsigned code, sc_g the integer scale of 16-weight group g and
// off_g its integer offset in units of doff (the min term: dmin m_g, or d sc_g times the code
// bias), all integer sums exact.
#include "base/check.h"
#include "engine/matmul_kernels.h"
#include "engine/quant.h"

// ---- 32-weight blocks ----

// Block b of a row of type t as 32 signed codes (bias removed), its scale and its min (0 for the
// symmetric types).
static void unpack32(QuantType t, const uint8_t *row, int64_t b, int8_t q[32], float *d, float *m) {
    *m = 0;
    switch (t) {
    case QT_Q4_1: {
        const BlockQ4_1 *w = (const BlockQ4_1 *)row + b;
        *d = quant_f16_to_f32(w->d);
        *m = quant_f16_to_f32(w->m);
        for (int j = 0; j < 16; j++) {
            q[j] = (int8_t)(w->qs[j] & 0x0f);
            q[j + 16] = (int8_t)(w->qs[j] >> 4);
        }
        break;
    }
    case QT_Q5_0:
    case QT_Q5_1: {
        const uint8_t *qs, *qh;
        int bias = 0;
        if (t == QT_Q5_0) {
            const BlockQ5_0 *w = (const BlockQ5_0 *)row + b;
            *d = quant_f16_to_f32(w->d);
            qs = w->qs, qh = w->qh, bias = 16;
        } else {
            const BlockQ5_1 *w = (const BlockQ5_1 *)row + b;
            *d = quant_f16_to_f32(w->d);
            *m = quant_f16_to_f32(w->m);
            qs = w->qs, qh = w->qh;
        }
        for (int j = 0; j < 32; j++) {
            int lo = j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4, hi = (qh[j / 8] >> (j % 8)) & 1;
            q[j] = (int8_t)((lo | hi << 4) - bias);
        }
        break;
    }
    case QT_IQ4_NL: {
        const BlockIQ4NL *w = (const BlockIQ4NL *)row + b;
        *d = quant_f16_to_f32(w->d);
        for (int j = 0; j < 16; j++) {
            q[j] = QUANT_IQ4NL_VALUES[w->qs[j] & 0x0f];
            q[j + 16] = QUANT_IQ4NL_VALUES[w->qs[j] >> 4];
        }
        break;
    }
    default: CHECK(!"unpack32: not a 32-weight type handled here");
    }
}

static void rows32_ref(const MmArgs *a, int64_t r0, int64_t r1, QuantType t) {
    int64_t nb = a->cols / QK8_0;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = a->w + (size_t)r * a->row_bytes;
        for (int64_t i = 0; i < a->n; i++) {
            const BlockQ8_0 *x = (const BlockQ8_0 *)a->x + i * nb;
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                int8_t q[32];
                float d, m;
                unpack32(t, row, b, q, &d, &m);
                int32_t s = 0;
                for (int j = 0; j < 32; j++) s += (int32_t)q[j] * x[b].qs[j];
                float dx = a->xd[i * nb + b];
                acc += (float)s * (d * dx) + m * (dx * (float)-a->xnsum[i * nb + b]);
            }
            a->y[i * a->ldy + r] = acc;
        }
    }
}

void mm_rows_q4_1_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows32_ref(a, r0, r1, QT_Q4_1); }
void mm_rows_q5_0_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows32_ref(a, r0, r1, QT_Q5_0); }
void mm_rows_q5_1_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows32_ref(a, r0, r1, QT_Q5_1); }
void mm_rows_iq4_nl_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows32_ref(a, r0, r1, QT_IQ4_NL); }

// ---- K-quants ----

static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

void mm_unpack_k_ref(QuantType t, const void *blk, MmKUnpacked *u) {
    switch (t) {
    case QT_Q2_K: {
        const BlockQ2K *w = blk;
        float d = quant_f16_to_f32(w->d), dmin = quant_f16_to_f32(w->dmin);
        u->d = d;
        u->doff = dmin;
        for (int e = 0; e < QK_K; e++) u->q[e] = (uint8_t)((w->qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3);
        for (int g = 0; g < 16; g++) {
            u->sc[g] = (int16_t)(w->scales[g] & 0x0f);
            u->off[g] = (int16_t)(w->scales[g] >> 4);
        }
        break;
    }
    case QT_Q3_K: {
        const BlockQ3K *w = blk;
        float d = quant_f16_to_f32(w->d);
        u->d = u->doff = d;
        for (int e = 0; e < QK_K; e++) {
            int lo = (w->qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            int hi = (w->hmask[e % 32] >> (e / 32)) & 1;
            u->q[e] = (uint8_t)(lo | hi << 2);  // code + 4
        }
        for (int g = 0; g < 16; g++) {
            int lo = (w->scales[g % 8] >> (4 * (g / 8))) & 0x0f, hi = (w->scales[8 + g % 4] >> (2 * (g / 4))) & 3;
            u->sc[g] = (int16_t)((lo | hi << 4) - 32);
            u->off[g] = (int16_t)(4 * u->sc[g]);
        }
        break;
    }
    case QT_Q4_K:
    case QT_Q5_K: {
        const uint8_t *scales, *qs, *qh = NULL;
        uint16_t d16, dmin16;
        if (t == QT_Q4_K) {
            const BlockQ4K *w = blk;
            scales = w->scales, qs = w->qs, d16 = w->d, dmin16 = w->dmin;
        } else {
            const BlockQ5K *w = blk;
            scales = w->scales, qs = w->qs, qh = w->qh, d16 = w->d, dmin16 = w->dmin;
        }
        u->d = quant_f16_to_f32(d16);
        u->doff = quant_f16_to_f32(dmin16);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            scale_min_k4(s, scales, &sc, &m);
            u->sc[2 * s] = u->sc[2 * s + 1] = (int16_t)sc;
            u->off[2 * s] = u->off[2 * s + 1] = (int16_t)m;
            for (int l = 0; l < 32; l++) {
                int v = s % 2 ? qs[(s / 2) * 32 + l] >> 4 : qs[(s / 2) * 32 + l] & 0x0f;
                if (qh) v |= ((qh[l] >> s) & 1) << 4;
                u->q[s * 32 + l] = (uint8_t)v;
            }
        }
        break;
    }
    case QT_Q6_K: {
        const BlockQ6K *w = blk;
        u->d = u->doff = quant_f16_to_f32(w->d);
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, g = (e % 128) / 32, l = e % 32;
            int lo = w->ql[h * 64 + (g % 2) * 32 + l] >> (4 * (g / 2)) & 0x0f;
            u->q[e] = (uint8_t)(lo | ((w->qh[h * 32 + l] >> (2 * g)) & 3) << 4);  // code + 32
        }
        for (int g = 0; g < 16; g++) {
            u->sc[g] = w->scales[g];
            u->off[g] = (int16_t)(32 * w->scales[g]);
        }
        break;
    }
    default: CHECK(!"mm_unpack_k_ref: not a K-quant");
    }
}

static void rows_k_ref(const MmArgs *a, int64_t r0, int64_t r1, QuantType t) {
    int64_t nb = a->cols / QK_K;
    size_t bs = QUANT_TRAITS[t].type_size;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = a->w + (size_t)r * a->row_bytes;
        for (int64_t i = 0; i < a->n; i++) {
            const BlockQ8K *x = (const BlockQ8K *)a->x + i * nb;
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                MmKUnpacked u;
                mm_unpack_k_ref(t, row + (size_t)b * bs, &u);
                int32_t isum = 0, ioff = 0;
                for (int g = 0; g < 16; g++) {
                    int32_t s = 0;
                    for (int j = 0; j < 16; j++) s += (int32_t)u.q[g * 16 + j] * x[b].qs[g * 16 + j];
                    isum += u.sc[g] * s;
                    ioff += u.off[g] * x[b].bsums[g];
                }
                acc += x[b].d * (u.d * (float)isum - u.doff * (float)ioff);
            }
            a->y[i * a->ldy + r] = acc;
        }
    }
}

void mm_rows_q2_k_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows_k_ref(a, r0, r1, QT_Q2_K); }
void mm_rows_q3_k_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows_k_ref(a, r0, r1, QT_Q3_K); }
void mm_rows_q4_k_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows_k_ref(a, r0, r1, QT_Q4_K); }
void mm_rows_q5_k_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows_k_ref(a, r0, r1, QT_Q5_K); }
void mm_rows_q6_k_ref(const MmArgs *a, int64_t r0, int64_t r1) { rows_k_ref(a, r0, r1, QT_Q6_K); }
