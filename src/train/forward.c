// forward.c — the model graph: the forward pass that keeps every activation the backward pass
// needs, and the backward pass, over a batch of B rows of T tokens (positions 0..T-1).
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "train/ops.h"
#include "train/train.h"

struct TrainActs {
    int64_t B, T, L;
    float *res;              // (L+1, BT, D) residual stream entering each layer; [L] leaves the last
    float *mid;              // (L, BT, D) residual after the attention sublayer
    float *xn1, *xn2;        // (L, BT, D) normed sublayer inputs
    float *rstd1, *rstd2;    // (L, BT)
    float *q, *att_out;      // (L, BT, D) rotated queries, attention output
    float *k, *v;            // (L, BT, KV) rotated keys, values
    float *att;              // (L, B, H, T, T) attention probabilities
    float *g, *u, *h;        // (L, BT, F) gate, up, silu(gate)·up
    float *xnf, *rstdf;      // (BT, D), (BT) final norm
    float *logits;           // (BT, V)
    float *tmp;              // (BT, D) a projection before its residual add
    float *dres, *dxn, *dq, *datt;   // (BT, D) backward buffers
    float *dk, *dv;          // (BT, KV)
    float *dg, *du, *dh;     // (BT, F)
    float *scratch;          // (threads, T)
    void *mem;
};

TrainActs *train_acts_create(const TrainModel *m, int64_t B, int64_t T, int n_threads) {
    const SynthShape *s = &m->shape;
    TrainActs *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    int64_t N = B * T, D = s->dim, KV = m->kv_dim, F = s->ffn, L = s->n_layers, V = s->vocab;
    a->B = B;
    a->T = T;
    a->L = L;
    if (n_threads < 1) n_threads = 1;
    struct { float **p; int64_t n; } table[] = {
        {&a->res, (L + 1) * N * D}, {&a->mid, L * N * D}, {&a->xn1, L * N * D}, {&a->xn2, L * N * D},
        {&a->rstd1, L * N}, {&a->rstd2, L * N}, {&a->q, L * N * D}, {&a->att_out, L * N * D},
        {&a->k, L * N * KV}, {&a->v, L * N * KV}, {&a->att, L * B * s->n_heads * T * T},
        {&a->g, L * N * F}, {&a->u, L * N * F}, {&a->h, L * N * F}, {&a->xnf, N * D}, {&a->rstdf, N},
        {&a->logits, N * V}, {&a->tmp, N * D}, {&a->dres, N * D}, {&a->dxn, N * D}, {&a->dq, N * D},
        {&a->datt, N * D}, {&a->dk, N * KV}, {&a->dv, N * KV}, {&a->dg, N * F}, {&a->du, N * F},
        {&a->dh, N * F}, {&a->scratch, (int64_t)n_threads * T},
    };
    size_t total = 0;
    for (size_t i = 0; i < ARRAY_LEN(table); i++) total += ((size_t)table[i].n * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign(&a->mem, 64, total)) {
        free(a);
        return NULL;
    }
    uint8_t *p = a->mem;
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        *table[i].p = (float *)p;
        p += ((size_t)table[i].n * sizeof(float) + 63) & ~(size_t)63;
    }
    return a;
}

void train_acts_destroy(TrainActs *a) {
    if (!a) return;
    free(a->mem);
    free(a);
}

static void add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

float *train_forward(const TrainModel *m, TrainActs *a, ThreadPool *tp, const int32_t *tokens) {
    const SynthShape *s = &m->shape;
    int64_t N = a->B * a->T, T = a->T, D = s->dim, KV = m->kv_dim, F = s->ffn, H = s->n_heads, hd = m->head_dim;
    for (int64_t r = 0; r < N; r++) {
        CHECK(tokens[r] >= 0 && tokens[r] < s->vocab);
        memcpy(a->res + r * D, m->w.tok_embd + (int64_t)tokens[r] * D, (size_t)D * sizeof(float));
    }
    for (int64_t l = 0; l < s->n_layers; l++) {
        const TrainLayer *w = &m->w.layers[l];
        float *x = a->res + l * N * D, *mid = a->mid + l * N * D, *xn1 = a->xn1 + l * N * D, *xn2 = a->xn2 + l * N * D;
        float *q = a->q + l * N * D, *k = a->k + l * N * KV, *v = a->v + l * N * KV, *ao = a->att_out + l * N * D;
        float *g = a->g + l * N * F, *u = a->u + l * N * F, *h = a->h + l * N * F, *next = a->res + (l + 1) * N * D;
        // attention sublayer: mid = x + attn(rmsnorm(x))·Woᵀ
        op_rmsnorm(xn1, a->rstd1 + l * N, x, w->attn_norm, N, D, s->rms_eps);
        op_matmul(tp, q, xn1, w->wq, N, D, D);
        op_matmul(tp, k, xn1, w->wk, N, D, KV);
        op_matmul(tp, v, xn1, w->wv, N, D, KV);
        op_rope(q, m->inv_freq, N, T, H, hd, 0);
        op_rope(k, m->inv_freq, N, T, s->n_kv_heads, hd, 0);
        op_attention(tp, ao, a->att + l * a->B * H * T * T, q, k, v, a->B, T, H, s->n_kv_heads, hd);
        op_matmul(tp, a->tmp, ao, w->wo, N, D, D);
        memcpy(mid, x, (size_t)(N * D) * sizeof(float));
        add(mid, a->tmp, N * D);
        // FFN sublayer: next = mid + (silu(xn2·Wgᵀ) ∘ xn2·Wuᵀ)·Wdᵀ
        op_rmsnorm(xn2, a->rstd2 + l * N, mid, w->ffn_norm, N, D, s->rms_eps);
        op_matmul(tp, g, xn2, w->wg, N, D, F);
        op_matmul(tp, u, xn2, w->wu, N, D, F);
        op_swiglu(h, g, u, N * F);
        op_matmul(tp, a->tmp, h, w->wd, N, F, D);
        memcpy(next, mid, (size_t)(N * D) * sizeof(float));
        add(next, a->tmp, N * D);
    }
    op_rmsnorm(a->xnf, a->rstdf, a->res + s->n_layers * N * D, m->w.out_norm, N, D, s->rms_eps);
    op_matmul(tp, a->logits, a->xnf, m->w.tok_embd, N, D, s->vocab);
    return a->logits;
}

void train_backward(TrainModel *m, TrainActs *a, ThreadPool *tp, const int32_t *tokens, float *dlogits) {
    const SynthShape *s = &m->shape;
    int64_t N = a->B * a->T, T = a->T, D = s->dim, KV = m->kv_dim, F = s->ffn, H = s->n_heads, hd = m->head_dim;
    size_t ND = (size_t)(N * D) * sizeof(float);
    CHECK(m->grads);
    // logits = xnf·Eᵀ; xnf = rmsnorm(res[L])
    memset(a->dxn, 0, ND);
    op_matmul_bwd(tp, a->dxn, m->g.tok_embd, dlogits, a->xnf, m->w.tok_embd, N, D, s->vocab);
    memset(a->dres, 0, ND);
    op_rmsnorm_bwd(a->dres, m->g.out_norm, a->dxn, a->res + s->n_layers * N * D, m->w.out_norm, a->rstdf, N, D);
    for (int64_t l = s->n_layers - 1; l >= 0; l--) {
        const TrainLayer *w = &m->w.layers[l];
        TrainLayer *gw = &m->g.layers[l];
        float *x = a->res + l * N * D, *mid = a->mid + l * N * D, *xn1 = a->xn1 + l * N * D, *xn2 = a->xn2 + l * N * D;
        float *q = a->q + l * N * D, *k = a->k + l * N * KV, *v = a->v + l * N * KV, *ao = a->att_out + l * N * D;
        float *g = a->g + l * N * F, *u = a->u + l * N * F, *h = a->h + l * N * F;
        // FFN: dres is d next = d mid (residual) + through the sublayer
        memset(a->dh, 0, (size_t)(N * F) * sizeof(float));
        op_matmul_bwd(tp, a->dh, gw->wd, a->dres, h, w->wd, N, F, D);
        op_swiglu_bwd(a->dg, a->du, a->dh, g, u, N * F);
        memset(a->dxn, 0, ND);
        op_matmul_bwd(tp, a->dxn, gw->wg, a->dg, xn2, w->wg, N, D, F);
        op_matmul_bwd(tp, a->dxn, gw->wu, a->du, xn2, w->wu, N, D, F);
        op_rmsnorm_bwd(a->dres, gw->ffn_norm, a->dxn, mid, w->ffn_norm, a->rstd2 + l * N, N, D);
        // attention: dres is now d mid = d x (residual) + through the sublayer
        memset(a->datt, 0, ND);
        op_matmul_bwd(tp, a->datt, gw->wo, a->dres, ao, w->wo, N, D, D);
        op_attention_bwd(tp, a->dq, a->dk, a->dv, a->datt, a->att + l * a->B * H * T * T, q, k, v, a->B, T, H,
                         s->n_kv_heads, hd, a->scratch);
        op_rope(a->dq, m->inv_freq, N, T, H, hd, 1);
        op_rope(a->dk, m->inv_freq, N, T, s->n_kv_heads, hd, 1);
        memset(a->dxn, 0, ND);
        op_matmul_bwd(tp, a->dxn, gw->wq, a->dq, xn1, w->wq, N, D, D);
        op_matmul_bwd(tp, a->dxn, gw->wk, a->dk, xn1, w->wk, N, D, KV);
        op_matmul_bwd(tp, a->dxn, gw->wv, a->dv, xn1, w->wv, N, D, KV);
        op_rmsnorm_bwd(a->dres, gw->attn_norm, a->dxn, x, w->attn_norm, a->rstd1 + l * N, N, D);
    }
    for (int64_t r = 0; r < N; r++) add(m->g.tok_embd + (int64_t)tokens[r] * D, a->dres + r * D, D);
}
