// params.c — the trainer's weights: one F32 allocation carved by a table of sizes (llm.c style),
// seeded initialisation, and GGUF load/save with the engine's tensor names and metadata keys.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "engine/quant.h"
#include "train/train.h"

typedef struct {
    char name[48];
    int64_t ne0, ne1;         // GGUF order: ne0 is the row length
    float **ptr, **gptr;      // where the view into params / grads goes
    bool norm;
} TensorSlot;

static const char *const LAYER_NAMES[TP_LAYER_N] = {
    [TP_ATTN_NORM] = "attn_norm", [TP_WQ] = "attn_q", [TP_WK] = "attn_k", [TP_WV] = "attn_v",
    [TP_WO] = "attn_output", [TP_FFN_NORM] = "ffn_norm", [TP_WGATE] = "ffn_gate", [TP_WUP] = "ffn_up",
    [TP_WDOWN] = "ffn_down",
};

// The tensors in the engine's (and llama.cpp's) file order. slots holds 2 + 9 * n_layers.
static int64_t list_slots(TrainModel *m, TensorSlot *s) {
    const SynthShape *sh = &m->shape;
    int64_t D = sh->dim, KV = m->kv_dim, F = sh->ffn, n = 0;
    s[n++] = (TensorSlot){"token_embd.weight", D, sh->vocab, &m->w.tok_embd, &m->g.tok_embd, false};
    for (int64_t l = 0; l < sh->n_layers; l++) {
        TrainLayer *w = &m->w.layers[l], *g = &m->g.layers[l];
        struct { float **p, **gp; int64_t ne0, ne1; } t[TP_LAYER_N] = {
            [TP_ATTN_NORM] = {&w->attn_norm, &g->attn_norm, D, 1}, [TP_WQ] = {&w->wq, &g->wq, D, D},
            [TP_WK] = {&w->wk, &g->wk, D, KV}, [TP_WV] = {&w->wv, &g->wv, D, KV},
            [TP_WO] = {&w->wo, &g->wo, D, D}, [TP_FFN_NORM] = {&w->ffn_norm, &g->ffn_norm, D, 1},
            [TP_WGATE] = {&w->wg, &g->wg, D, F}, [TP_WUP] = {&w->wu, &g->wu, D, F},
            [TP_WDOWN] = {&w->wd, &g->wd, F, D},
        };
        for (int i = 0; i < TP_LAYER_N; i++) {
            TensorSlot *x = &s[n++];
            snprintf(x->name, sizeof x->name, "blk.%lld.%s.weight", (long long)l, LAYER_NAMES[i]);
            x->ne0 = t[i].ne0;
            x->ne1 = t[i].ne1;
            x->ptr = t[i].p;
            x->gptr = t[i].gp;
            x->norm = i == TP_ATTN_NORM || i == TP_FFN_NORM;
        }
    }
    s[n++] = (TensorSlot){"output_norm.weight", D, 1, &m->w.out_norm, &m->g.out_norm, true};
    return n;
}

// Sets shape-derived fields and allocates params carved by the slot table.
static int model_alloc(TrainModel *m, const SynthShape *shape, TensorSlot **slots_out, int64_t *n_out,
                       char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    m->shape = *shape;
    m->shape.tied = true;
    int rc = synth_shape_check(&m->shape, QT_F32, QT_F32, err, err_len);
    if (rc) return rc;
    m->head_dim = shape->dim / shape->n_heads;
    m->kv_dim = m->head_dim * shape->n_kv_heads;
    m->w.layers = calloc((size_t)shape->n_layers, sizeof *m->w.layers);
    m->g.layers = calloc((size_t)shape->n_layers, sizeof *m->g.layers);
    m->inv_freq = calloc((size_t)(m->head_dim / 2), sizeof *m->inv_freq);
    TensorSlot *slots = calloc((size_t)(2 + 9 * shape->n_layers), sizeof *slots);
    if (!m->w.layers || !m->g.layers || !m->inv_freq || !slots) goto nomem;
    int64_t n = list_slots(m, slots);
    for (int64_t i = 0; i < n; i++) m->n_params += (size_t)(slots[i].ne0 * slots[i].ne1);
    m->params = calloc(m->n_params, sizeof(float));
    if (!m->params) goto nomem;
    size_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        *slots[i].ptr = m->params + off;
        off += (size_t)(slots[i].ne0 * slots[i].ne1);
    }
    // As model_buffers_create: freq_scale 1, no rope_freqs.
    for (int64_t i = 0; i < m->head_dim / 2; i++)
        m->inv_freq[i] = pow((double)shape->rope_theta, -2.0 * (double)i / (double)m->head_dim);
    *slots_out = slots;
    *n_out = n;
    return 0;
nomem:
    free(slots);
    train_model_free(m);
    return err_set(err, err_len, ERR_NOMEM, "out of memory for the model's weights");
}

int train_model_alloc_grads(TrainModel *m) {
    m->grads = calloc(m->n_params, sizeof(float));
    if (!m->grads) return ERR_NOMEM;
    ptrdiff_t d = m->grads - m->params;
    m->g.tok_embd = m->w.tok_embd + d;
    m->g.out_norm = m->w.out_norm + d;
    for (int64_t l = 0; l < m->shape.n_layers; l++) {
        TrainLayer *w = &m->w.layers[l], *g = &m->g.layers[l];
        *g = (TrainLayer){w->attn_norm + d, w->wq + d, w->wk + d, w->wv + d, w->wo + d,
                          w->ffn_norm + d, w->wg + d, w->wu + d, w->wd + d};
    }
    return 0;
}

int train_model_init(TrainModel *m, const SynthShape *shape, uint64_t seed, char *err, size_t err_len) {
    TensorSlot *slots;
    int64_t n;
    int rc = model_alloc(m, shape, &slots, &n, err, err_len);
    if (rc) return rc;
    Rng r;
    rng_seed(&r, seed);
    // Residual-branch outputs (wo, w_down) scaled by 1/sqrt(2·layers), as GPT-2 does.
    float resid = 0.02f / sqrtf(2.0f * (float)shape->n_layers);
    for (int64_t i = 0; i < n; i++) {
        float *p = *slots[i].ptr;
        int64_t cnt = slots[i].ne0 * slots[i].ne1;
        bool out = strstr(slots[i].name, "attn_output") || strstr(slots[i].name, "ffn_down");
        for (int64_t k = 0; k < cnt; k++)
            p[k] = slots[i].norm ? 1.0f : (float)rng_normal(&r) * (out ? resid : 0.02f);
    }
    free(slots);
    return 0;
}

static int get_u32(const GgufFile *f, const char *key, int64_t *out, char *err, size_t err_len) {
    uint32_t v;
    if (gguf_get_u32(f, key, &v)) return err_set(err, err_len, ERR_FORMAT, "missing or non-u32 key %s", key);
    *out = v;
    return 0;
}

int train_model_load(TrainModel *m, const char *path, char *err, size_t err_len) {
    GgufFile f;
    int rc = gguf_open(&f, path, err, err_len);
    if (rc) return rc;
    SynthShape s = {.tied = true};
    Str arch;
    TensorSlot *slots = NULL;
    int64_t n = 0;
    if (gguf_get_str(&f, "general.architecture", &arch) || arch.len != 5 || memcmp(arch.ptr, "llama", 5)) {
        rc = err_set(err, err_len, ERR_UNSUPP, "%s: not a llama model (distill trains the llama architecture)", path);
        goto out;
    }
    if ((rc = get_u32(&f, "llama.embedding_length", &s.dim, err, err_len)) ||
        (rc = get_u32(&f, "llama.block_count", &s.n_layers, err, err_len)) ||
        (rc = get_u32(&f, "llama.feed_forward_length", &s.ffn, err, err_len)) ||
        (rc = get_u32(&f, "llama.attention.head_count", &s.n_heads, err, err_len)) ||
        (rc = get_u32(&f, "llama.attention.head_count_kv", &s.n_kv_heads, err, err_len)) ||
        (rc = get_u32(&f, "llama.context_length", &s.ctx, err, err_len)))
        goto out;
    if (gguf_get_f32(&f, "llama.rope.freq_base", &s.rope_theta)) s.rope_theta = 10000.0f;
    if (gguf_get_f32(&f, "llama.attention.layer_norm_rms_epsilon", &s.rms_eps)) s.rms_eps = 1e-5f;
    const GgufTensor *emb = gguf_find_tensor(&f, "token_embd.weight");
    if (!emb || emb->n_dims != 2) { rc = err_set(err, err_len, ERR_FORMAT, "%s: no 2-D token_embd.weight", path); goto out; }
    s.vocab = emb->ne[1];
    if (gguf_find_tensor(&f, "output.weight")) {
        rc = err_set(err, err_len, ERR_UNSUPP, "%s: has an untied output.weight (distill trains tied-output models)", path);
        goto out;
    }
    if ((rc = model_alloc(m, &s, &slots, &n, err, err_len))) goto out;
    for (int64_t i = 0; i < n && !rc; i++) {
        const GgufTensor *t = gguf_find_tensor(&f, slots[i].name);
        if (!t || gguf_tensor_nelements(t) != slots[i].ne0 * slots[i].ne1 || t->ne[0] != slots[i].ne0) {
            rc = err_set(err, err_len, ERR_FORMAT, "%s: tensor %s is missing or not %lld x %lld", path,
                         slots[i].name, (long long)slots[i].ne0, (long long)slots[i].ne1);
            break;
        }
        const QuantTraits *q = quant_traits((uint32_t)t->type);
        if (!q || !q->supported) { rc = err_set(err, err_len, ERR_UNSUPP, "%s: tensor %s has an unsupported type", path, slots[i].name); break; }
        size_t rb = quant_row_bytes(t->type, t->ne[0]);
        for (int64_t r = 0; r < slots[i].ne1; r++)
            quant_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * rb, *slots[i].ptr + r * slots[i].ne0, slots[i].ne0);
    }
    if (rc) train_model_free(m);
out:
    free(slots);
    gguf_close(&f);
    return rc;
}

void train_model_free(TrainModel *m) {
    free(m->params);
    free(m->grads);
    free(m->w.layers);
    free(m->g.layers);
    free(m->inv_freq);
    memset(m, 0, sizeof *m);
}

int train_model_same_shape(const SynthShape *a, const SynthShape *b, char *err, size_t err_len) {
    if (a->vocab != b->vocab)
        return err_set(err, err_len, ERR_ARG, "vocabulary differs: %lld tokens vs %lld", (long long)a->vocab, (long long)b->vocab);
    if (a->dim != b->dim || a->n_layers != b->n_layers || a->n_heads != b->n_heads || a->n_kv_heads != b->n_kv_heads ||
        a->ffn != b->ffn)
        return err_set(err, err_len, ERR_ARG,
                       "shape differs: dim %lld layers %lld heads %lld/%lld ffn %lld vs dim %lld layers %lld heads %lld/%lld ffn %lld",
                       (long long)a->dim, (long long)a->n_layers, (long long)a->n_heads, (long long)a->n_kv_heads, (long long)a->ffn,
                       (long long)b->dim, (long long)b->n_layers, (long long)b->n_heads, (long long)b->n_kv_heads, (long long)b->ffn);
    return 0;
}

int train_model_save(const TrainModel *m, const char *path, const GgufFile *vocab, const char *name,
                     char *err, size_t err_len) {
    const SynthShape *s = &m->shape;
    GgufWriter *w = gguf_writer_create();
    TensorSlot *slots = calloc((size_t)(2 + 9 * s->n_layers), sizeof *slots);
    int rc = 0;
    if (!w || !slots) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto out; }
    // The keys engine/synth.c writes, in its order.
    rc = gguf_writer_set_str(w, "general.architecture", "llama");
    if (!rc) rc = gguf_writer_set_str(w, "general.name", name);
    if (!rc) rc = gguf_writer_set_u32(w, "general.alignment", 32);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)s->ctx);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)s->dim);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)s->n_layers);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)s->ffn);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)s->n_heads);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)s->n_kv_heads);
    if (!rc) rc = gguf_writer_set_f32(w, "llama.rope.freq_base", s->rope_theta);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)m->head_dim);
    if (!rc) rc = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", s->rms_eps);
    if (!rc) rc = gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)s->vocab);
    if (!rc) rc = gguf_writer_set_u32(w, "general.file_type", 0);
    if (rc) { err_set(err, err_len, rc, "out of memory"); goto out; }
    for (uint64_t i = 0; vocab && i < vocab->n_kv && !rc; i++)
        if (vocab->kv[i].key.len > 10 && memcmp(vocab->kv[i].key.ptr, "tokenizer.", 10) == 0) rc = gguf_writer_copy_kv(w, vocab, &vocab->kv[i]);
    if (rc) { err_set(err, err_len, rc, "cannot copy the tokenizer keys"); goto out; }
    TrainModel view = *m;   // list_slots only reads the views' addresses
    int64_t n = list_slots(&view, slots);
    for (int64_t i = 0; i < n && !rc; i++) {
        int64_t ne[2] = {slots[i].ne0, slots[i].ne1};
        rc = gguf_writer_add_tensor(w, slots[i].name, QT_F32, slots[i].ne1 == 1 ? 1 : 2, ne, *slots[i].ptr,
                                    (size_t)(ne[0] * ne[1]) * sizeof(float));
        if (rc) err_set(err, err_len, rc, "cannot add tensor %s", slots[i].name);
    }
    if (!rc) rc = gguf_writer_write(w, path, err, err_len);
out:
    free(slots);
    gguf_writer_destroy(w);
    return rc;
}
