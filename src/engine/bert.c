// bert.c — the encoder's forward pass and pooling. See bert.h for the equations.
#include "engine/bert.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

struct BertBuffers {
    int64_t max_tokens;
    int n_threads;
    float *x;       // (T, n_embd) the residual stream
    float *xb;      // (T, n_embd) projection output
    float *q, *k, *v, *att;  // (T, n_embd) each
    float *qkv;     // (T, 3*n_embd) nomic-bert's fused projection
    float *hb, *hb2;// (T, n_ff)
    float *scores;  // (n_threads, T) one attention row per thread
    int64_t *pos;   // (T) position of each token in its input
    int64_t *seq0;  // (T) first token index of each token's input
    int64_t *seqn;  // (T) length of each token's input
    void *scratch;  // mm_scratch_bytes(max(n_embd, n_ff), T)
    void *block;    // the one allocation
};

BertBuffers *bert_buffers_create(const BertModel *m, int64_t max_tokens, int n_threads) {
    const BertHparams *hp = &m->hp;
    if (max_tokens < 1 || n_threads < 1) return NULL;
    int64_t T = max_tokens, d = hp->n_embd, ff = hp->n_ff, cols = d > ff ? d : ff;
    size_t sizes[] = {
        (size_t)(T * d) * 4, (size_t)(T * d) * 4, (size_t)(T * d) * 4, (size_t)(T * d) * 4, (size_t)(T * d) * 4,
        (size_t)(T * d) * 4, (size_t)(T * 3 * d) * 4, (size_t)(T * ff) * 4, (size_t)(T * ff) * 4,
        (size_t)(n_threads * T) * 4, (size_t)T * 8, (size_t)T * 8, (size_t)T * 8, mm_scratch_bytes(cols, T),
    };
    size_t total = 0;
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) total += (sizes[i] + 63) / 64 * 64;
    BertBuffers *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->block = aligned_alloc(64, total);
    if (!b->block) { free(b); return NULL; }
    char *p = b->block;
    void **dst[] = {(void **)&b->x, (void **)&b->xb, (void **)&b->q, (void **)&b->k, (void **)&b->v,
                    (void **)&b->att, (void **)&b->qkv, (void **)&b->hb, (void **)&b->hb2, (void **)&b->scores,
                    (void **)&b->pos, (void **)&b->seq0, (void **)&b->seqn, &b->scratch};
    _Static_assert(ARRAY_LEN(dst) == ARRAY_LEN(sizes), "one destination per size");
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        *dst[i] = p;
        p += (sizes[i] + 63) / 64 * 64;
    }
    b->max_tokens = T;
    b->n_threads = n_threads;
    return b;
}

void bert_buffers_destroy(BertBuffers *b) {
    if (!b) return;
    free(b->block);
    free(b);
}

int64_t bert_buffers_max_tokens(const BertBuffers *b) { return b->max_tokens; }

int bert_check_input(const BertModel *m, const int32_t *ids, int64_t n, char *err, size_t err_len) {
    if (n < 1) return err_set(err, err_len, ERR_RANGE, "an input has no tokens");
    if (n > m->hp.n_ctx_train)
        return err_set(err, err_len, ERR_RANGE, "an input of %lld tokens is longer than the model's %lld", (long long)n,
                       (long long)m->hp.n_ctx_train);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->hp.n_vocab)
            return err_set(err, err_len, ERR_RANGE, "token id %d is outside the vocabulary (0..%lld)", ids[i],
                           (long long)m->hp.n_vocab - 1);
    return 0;
}

// ---- row kernels ----

// x = LayerNorm(x) · w + b over n features (mean and variance in double, as a reference would).
static void layer_norm(float *x, const float *w, const float *bias, int64_t n, float eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    float inv = (float)(1.0 / sqrt(var / (double)n + eps));
    for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] - mean) * inv * w[i] + bias[i];
}

static void add_bias(float *y, const float *bias, int64_t n_rows, int64_t n) {
    if (!bias) return;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = 0; i < n; i++) y[r * n + i] += bias[i];
}

// GELU in its tanh form, the one ggml_gelu computes.
static float gelu(float x) {
    const float c = 0.7978845608028654f;  // sqrt(2/pi)
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

// NeoX RoPE (nomic-bert): rotates (x[i], x[i + hd/2]) by pos · base^(-2i/hd), every head.
static void rope_neox(float *x, int64_t n_head, int64_t hd, int64_t pos, float base) {
    for (int64_t i = 0; i < hd / 2; i++) {
        double th = (double)pos * pow((double)base, -2.0 * (double)i / (double)hd);
        float c = (float)cos(th), s = (float)sin(th);
        for (int64_t h = 0; h < n_head; h++) {
            float *p = x + h * hd;
            float a = p[i], bb = p[i + hd / 2];
            p[i] = a * c - bb * s;
            p[i + hd / 2] = a * s + bb * c;
        }
    }
}

// ---- attention: one task per (token, head), within the token's own input ----

typedef struct {
    const BertModel *m;
    BertBuffers *b;
} AttnJob;

static void attn_task(void *ctx, int64_t task, int thread) {
    const AttnJob *j = ctx;
    const BertHparams *hp = &j->m->hp;
    BertBuffers *b = j->b;
    int64_t d = hp->n_embd, hd = hp->head_dim, t = task / hp->n_head, h = task % hp->n_head;
    int64_t s0 = b->seq0[t], n = b->seqn[t];
    float *sc = b->scores + (int64_t)thread * b->max_tokens;
    const float *q = b->q + t * d + h * hd;
    float scale = 1.0f / sqrtf((float)hd), mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        const float *k = b->k + (s0 + i) * d + h * hd;
        float dot = 0;
        for (int64_t e = 0; e < hd; e++) dot += q[e] * k[e];
        sc[i] = dot * scale;
        if (sc[i] > mx) mx = sc[i];
    }
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (sc[i] = expf(sc[i] - mx));
    float *o = b->att + t * d + h * hd;
    memset(o, 0, (size_t)hd * sizeof *o);
    for (int64_t i = 0; i < n; i++) {
        const float *v = b->v + (s0 + i) * d + h * hd;
        float w = sc[i] / sum;
        for (int64_t e = 0; e < hd; e++) o[e] += w * v[e];
    }
}

// ---- forward ----

static void embed_tokens(const BertModel *m, BertBuffers *b, const int32_t *ids, int64_t T) {
    int64_t d = m->hp.n_embd;
    float *tmp = b->xb;  // a spare row
    for (int64_t t = 0; t < T; t++) {
        float *x = b->x + t * d;
        quant_dequantize_row(m->tok_embd.type, (const uint8_t *)m->tok_embd.data + quant_row_bytes(m->tok_embd.type, d) * (size_t)ids[t], x, d);
        quant_dequantize_row(m->type_embd.type, m->type_embd.data, tmp, d);  // token type 0
        for (int64_t i = 0; i < d; i++) x[i] += tmp[i];
        if (m->pos_embd.rows) {
            quant_dequantize_row(m->pos_embd.type, (const uint8_t *)m->pos_embd.data + quant_row_bytes(m->pos_embd.type, d) * (size_t)b->pos[t], tmp, d);
            for (int64_t i = 0; i < d; i++) x[i] += tmp[i];
        }
        layer_norm(x, m->embd_ln_w, m->embd_ln_b, d, m->hp.norm_eps);
    }
}

static void attention_block(const BertModel *m, const BertLayer *L, BertBuffers *b, ThreadPool *tp, int64_t T) {
    const BertHparams *hp = &m->hp;
    int64_t d = hp->n_embd;
    if (hp->nomic) {
        mm_matmul(tp, b->scratch, b->qkv, &L->wqkv, b->x, T);
        add_bias(b->qkv, L->bqkv, T, 3 * d);
        for (int64_t t = 0; t < T; t++) {
            memcpy(b->q + t * d, b->qkv + t * 3 * d, (size_t)d * 4);
            memcpy(b->k + t * d, b->qkv + t * 3 * d + d, (size_t)d * 4);
            memcpy(b->v + t * d, b->qkv + t * 3 * d + 2 * d, (size_t)d * 4);
            rope_neox(b->q + t * d, hp->n_head, hp->head_dim, b->pos[t], hp->rope_base);
            rope_neox(b->k + t * d, hp->n_head, hp->head_dim, b->pos[t], hp->rope_base);
        }
    } else {
        float *const ys[] = {b->q, b->k, b->v};
        const WeightView *const ws[] = {&L->wq, &L->wk, &L->wv};
        mm_matmul_many(tp, b->scratch, 3, ys, ws, b->x, T);
        add_bias(b->q, L->bq, T, d);
        add_bias(b->k, L->bk, T, d);
        add_bias(b->v, L->bv, T, d);
    }
    AttnJob j = {m, b};
    tp_run(tp, attn_task, &j, T * hp->n_head);
    mm_matmul(tp, b->scratch, b->xb, &L->wo, b->att, T);
    add_bias(b->xb, L->bo, T, d);
    for (int64_t t = 0; t < T; t++) {
        float *x = b->x + t * d;
        for (int64_t i = 0; i < d; i++) x[i] += b->xb[t * d + i];
        layer_norm(x, L->ln1_w, L->ln1_b, d, hp->norm_eps);
    }
}

static void ffn_block(const BertModel *m, const BertLayer *L, BertBuffers *b, ThreadPool *tp, int64_t T) {
    const BertHparams *hp = &m->hp;
    int64_t d = hp->n_embd, ff = hp->n_ff;
    if (hp->nomic) {
        float *const ys[] = {b->hb, b->hb2};
        const WeightView *const ws[] = {&L->w_gate, &L->w_up};
        mm_matmul_many(tp, b->scratch, 2, ys, ws, b->x, T);
        for (int64_t i = 0; i < T * ff; i++) b->hb[i] = b->hb[i] / (1.0f + expf(-b->hb[i])) * b->hb2[i];
    } else {
        mm_matmul(tp, b->scratch, b->hb, &L->w_up, b->x, T);
        add_bias(b->hb, L->b_up, T, ff);
        for (int64_t i = 0; i < T * ff; i++) b->hb[i] = gelu(b->hb[i]);
    }
    mm_matmul(tp, b->scratch, b->xb, &L->w_down, b->hb, T);
    add_bias(b->xb, L->b_down, T, d);
    for (int64_t t = 0; t < T; t++) {
        float *x = b->x + t * d;
        for (int64_t i = 0; i < d; i++) x[i] += b->xb[t * d + i];
        layer_norm(x, L->ln2_w, L->ln2_b, d, hp->norm_eps);
    }
}

// Pools input s's token states into out (n_embd) and scales it to unit length.
static void pool(const BertModel *m, const BertBuffers *b, int64_t t0, int64_t n, float *out) {
    int64_t d = m->hp.n_embd;
    switch (m->hp.pooling) {
    case BERT_POOL_CLS: memcpy(out, b->x + t0 * d, (size_t)d * 4); break;
    case BERT_POOL_LAST: memcpy(out, b->x + (t0 + n - 1) * d, (size_t)d * 4); break;
    default: {
        CHECK(m->hp.pooling == BERT_POOL_MEAN);
        for (int64_t i = 0; i < d; i++) {
            double s = 0;
            for (int64_t t = 0; t < n; t++) s += b->x[(t0 + t) * d + i];
            out[i] = (float)(s / (double)n);
        }
    }
    }
    double ss = 0;
    for (int64_t i = 0; i < d; i++) ss += (double)out[i] * out[i];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int64_t i = 0; i < d; i++) out[i] *= inv;
}

void bert_embed(const BertModel *m, BertBuffers *b, ThreadPool *tp, const int32_t *ids, const int64_t *lens,
                int64_t n_seq, float *out) {
    int64_t T = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        CHECK(lens[s] >= 1 && lens[s] <= m->hp.n_ctx_train && T + lens[s] <= b->max_tokens);
        for (int64_t i = 0; i < lens[s]; i++) {
            b->pos[T + i] = i;
            b->seq0[T + i] = T;
            b->seqn[T + i] = lens[s];
        }
        T += lens[s];
    }
    CHECK(tp_size(tp) <= b->n_threads);
    embed_tokens(m, b, ids, T);
    for (int64_t l = 0; l < m->hp.n_layer; l++) {
        attention_block(m, &m->layers[l], b, tp, T);
        ffn_block(m, &m->layers[l], b, tp, T);
    }
    for (int64_t s = 0, t0 = 0; s < n_seq; t0 += lens[s], s++) pool(m, b, t0, lens[s], out + s * m->hp.n_embd);
}
