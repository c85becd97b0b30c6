// synth_bert.c — random-weight BERT-family encoders (general.architecture "bert" or "nomic-bert")
// with llama.cpp's metadata keys and tensor names, for tests and speed measurements. See
// synth_bert.h.
#include "engine/synth_bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"

typedef enum { INIT_MATRIX, INIT_QK, INIT_NORM, INIT_BIAS } InitKind;

typedef struct {
    char name[48];
    QuantType type;
    uint32_t n_dims;
    int64_t ne[2];
    InitKind init;
} BTensor;

static void add(BTensor *t, int64_t *n, const char *name, QuantType type, uint32_t n_dims, int64_t ne0, int64_t ne1,
                InitKind init) {
    BTensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->type = type;
    x->n_dims = n_dims;
    x->ne[0] = ne0;
    x->ne[1] = ne1;
    x->init = init;
}

// The tensors in llama.cpp's converter order; returns the count (t holds 5 + 16 * layers).
static int64_t list_tensors(const SynthBertOptions *o, BTensor *t) {
    int64_t n = 0, d = o->dim, ff = o->ffn;
    // Embedding tables stay float: the quantized type applies to the multiplied matrices.
    QuantType et = (o->type == QT_F16 || o->type == QT_BF16) ? o->type : QT_F32;
    char nm[48];
    add(t, &n, "token_embd.weight", et, 2, d, o->vocab, INIT_MATRIX);
    add(t, &n, "token_types.weight", QT_F32, 2, d, 2, INIT_MATRIX);  // llama.cpp adds its row 0 as f32
    if (!o->nomic) add(t, &n, "position_embd.weight", et, 2, d, o->ctx, INIT_MATRIX);
    add(t, &n, "token_embd_norm.weight", QT_F32, 1, d, 1, INIT_NORM);
    add(t, &n, "token_embd_norm.bias", QT_F32, 1, d, 1, INIT_BIAS);
#define L(suffix, ty, nd, e0, e1, ini) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), add(t, &n, nm, ty, nd, e0, e1, ini))
    for (int l = 0; l < (int)o->n_layers; l++) {
        if (o->nomic) {
            L("attn_qkv.weight", o->type, 2, d, 3 * d, INIT_QK);
        } else {
            L("attn_q.weight", o->type, 2, d, d, INIT_QK);
            L("attn_q.bias", QT_F32, 1, d, 1, INIT_BIAS);
            L("attn_k.weight", o->type, 2, d, d, INIT_QK);
            L("attn_k.bias", QT_F32, 1, d, 1, INIT_BIAS);
            L("attn_v.weight", o->type, 2, d, d, INIT_MATRIX);
            L("attn_v.bias", QT_F32, 1, d, 1, INIT_BIAS);
        }
        L("attn_output.weight", o->type, 2, d, d, INIT_MATRIX);
        if (!o->nomic) L("attn_output.bias", QT_F32, 1, d, 1, INIT_BIAS);
        L("attn_output_norm.weight", QT_F32, 1, d, 1, INIT_NORM);
        L("attn_output_norm.bias", QT_F32, 1, d, 1, INIT_BIAS);
        if (o->nomic) L("ffn_gate.weight", o->type, 2, d, ff, INIT_MATRIX);
        L("ffn_up.weight", o->type, 2, d, ff, INIT_MATRIX);
        if (!o->nomic) L("ffn_up.bias", QT_F32, 1, ff, 1, INIT_BIAS);
        L("ffn_down.weight", o->type, 2, ff, d, INIT_MATRIX);
        if (!o->nomic) L("ffn_down.bias", QT_F32, 1, d, 1, INIT_BIAS);
        L("layer_output_norm.weight", QT_F32, 1, d, 1, INIT_NORM);
        L("layer_output_norm.bias", QT_F32, 1, d, 1, INIT_BIAS);
    }
#undef L
    return n;
}

// Writes one tensor row by row (each row its own stream: values independent of the type).
static int write_tensor(const SynthBertOptions *o, GgufWriter *w, const BTensor *t, float *x, uint8_t *q, char *err,
                        size_t err_len) {
    uint64_t stream = synth_stream_seed(o->seed, t->name);
    size_t row_bytes = quant_row_bytes(t->type, t->ne[0]);
    float std = o->init_std > 0 ? o->init_std : 0.02f, qk = o->qk_scale > 0 ? o->qk_scale : 1.0f;
    for (int64_t row = 0; row < t->ne[1]; row++) {
        Rng r;
        rng_seed(&r, stream + (uint64_t)row * 0xD1B54A32D192ED03ull);
        switch (t->init) {
        case INIT_NORM: synth_fill_normal(&r, x, t->ne[0], 1.0f, 0.02f); break;
        case INIT_BIAS: synth_fill_normal(&r, x, t->ne[0], 0.0f, 0.1f); break;
        case INIT_QK: synth_fill_normal(&r, x, t->ne[0], 0.0f, std * qk); break;
        case INIT_MATRIX: synth_fill_normal(&r, x, t->ne[0], 0.0f, std); break;
        }
        const void *src = x;
        if (t->type != QT_F32) {
            quant_quantize_row(t->type, x, q, t->ne[0]);
            src = q;
        }
        int rc = gguf_writer_put_data(w, src, row_bytes, err, err_len);
        if (rc) return rc;
    }
    return 0;
}

static int set_metadata(const SynthBertOptions *o, GgufWriter *w, const char *a) {
    char k[96];
    int rc = gguf_writer_set_str(w, "general.architecture", a);
    if (!rc) rc = gguf_writer_set_str(w, "general.name", o->name ? o->name : "synth-bert");
    if (!rc) rc = gguf_writer_set_u32(w, "general.alignment", 32);
#define U32(key, v) (snprintf(k, sizeof k, "%s." key, a), gguf_writer_set_u32(w, k, (uint32_t)(v)))
    if (!rc) rc = U32("context_length", o->ctx);
    if (!rc) rc = U32("embedding_length", o->dim);
    if (!rc) rc = U32("feed_forward_length", o->ffn);
    if (!rc) rc = U32("block_count", o->n_layers);
    if (!rc) rc = U32("attention.head_count", o->n_heads);
    if (!rc) rc = (snprintf(k, sizeof k, "%s.attention.layer_norm_epsilon", a), gguf_writer_set_f32(w, k, 1e-12f));
    if (!rc) rc = (snprintf(k, sizeof k, "%s.attention.causal", a), gguf_writer_set_bool(w, k, false));
    if (!rc) rc = U32("pooling_type", o->pooling);
    if (!rc && o->nomic) rc = (snprintf(k, sizeof k, "%s.rope.freq_base", a), gguf_writer_set_f32(w, k, 1000.0f));
#undef U32
    if (!rc) rc = gguf_writer_set_u32(w, "general.file_type", o->type == QT_F32 ? 0 : o->type == QT_F16 ? 1 : o->type == QT_Q8_0 ? 7 : o->type == QT_BF16 ? 32 : 0);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", 2);
    return rc;
}

static int check_options(const SynthBertOptions *o, char *err, size_t err_len) {
    const QuantTraits *t = quant_traits((uint32_t)o->type);
    if (!t || !t->supported) return err_set(err, err_len, ERR_ARG, "unsupported weight type");
    if (!o->vocab_path)
        return err_set(err, err_len, ERR_ARG, "an encoder needs a WordPiece vocabulary: add --vocab-from FILE (e.g. tests/data/vocab/ggml-vocab-bert-bge.gguf)");
    if (o->dim < 1 || o->dim > (1 << 14) || o->n_heads < 1 || o->dim % o->n_heads)
        return err_set(err, err_len, ERR_ARG, "--dim %lld must be in 1..16384 and a multiple of --heads %lld", (long long)o->dim, (long long)o->n_heads);
    if (o->nomic && (o->dim / o->n_heads) % 2) return err_set(err, err_len, ERR_ARG, "nomic-bert: head size dim/heads must be even for RoPE");
    if (o->n_layers < 1 || o->n_layers > 256) return err_set(err, err_len, ERR_ARG, "--layers %lld is outside 1..256", (long long)o->n_layers);
    if (o->ffn < 1 || o->ffn > (1 << 16)) return err_set(err, err_len, ERR_ARG, "--ffn %lld is outside 1..65536", (long long)o->ffn);
    if (o->ctx < 2 || o->ctx > 8192) return err_set(err, err_len, ERR_ARG, "--ctx %lld is outside 2..8192", (long long)o->ctx);
    if (o->pooling < 1 || o->pooling > 3) return err_set(err, err_len, ERR_ARG, "pooling must be mean, cls or last");
    if (o->dim % t->block_size || o->ffn % t->block_size)
        return err_set(err, err_len, ERR_ARG, "--dim and --ffn must be multiples of %lld for %s weights", (long long)t->block_size, t->name);
    return 0;
}

int synth_bert_write(const SynthBertOptions *opt, const char *path, int64_t *vocab_out, char *err, size_t err_len) {
    SynthBertOptions o = *opt;
    int rc = check_options(&o, err, err_len);
    if (rc) return rc;
    const char *arch = o.nomic ? "nomic-bert" : "bert";
    GgufWriter *w = gguf_writer_create();
    BTensor *ts = NULL;
    float *x = NULL;
    uint8_t *q = NULL;
    if (!w) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    if ((rc = set_metadata(&o, w, arch))) { err_set(err, err_len, rc, "out of memory"); goto fail; }
    if ((rc = synth_vocab_copy(w, o.vocab_path, &o.vocab, err, err_len))) goto fail;
    int64_t max_ne0 = o.dim > o.ffn ? o.dim : o.ffn;
    ts = calloc((size_t)(5 + 16 * o.n_layers), sizeof *ts);
    x = malloc((size_t)max_ne0 * sizeof *x);
    q = malloc((size_t)max_ne0 * sizeof(float));
    if (!ts || !x || !q) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto fail; }
    int64_t n = list_tensors(&o, ts);
    for (int64_t i = 0; i < n && !rc; i++)
        if ((rc = gguf_writer_add_tensor_info(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne)))
            err_set(err, err_len, rc, "cannot declare tensor %s", ts[i].name);
    if (!rc) rc = gguf_writer_begin(w, path, err, err_len);
    for (int64_t i = 0; i < n && !rc; i++) rc = write_tensor(&o, w, &ts[i], x, q, err, err_len);
    if (!rc) rc = gguf_writer_finish(w, err, err_len);
    if (!rc && vocab_out) *vocab_out = o.vocab;
fail:
    free(ts);
    free(x);
    free(q);
    gguf_writer_destroy(w);
    return rc;
}

int64_t synth_bert_params(const SynthBertOptions *o, int64_t vocab) {
    int64_t d = o->dim, ff = o->ffn;
    int64_t per_layer = o->nomic ? 3 * d * d + d * d + 4 * d + 3 * d * ff : 4 * d * d + 4 * d + 4 * d + 2 * d * ff + ff + d;
    return d * vocab + 2 * d + (o->nomic ? 0 : d * o->ctx) + 2 * d + o->n_layers * per_layer;
}
