// bert_load.c — reads a BERT-family encoder's hyperparameters and tensors from GGUF. See bert.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/bert.h"

static const char *const POOL_NAMES[] = {
    [BERT_POOL_NONE] = "none", [BERT_POOL_MEAN] = "mean", [BERT_POOL_CLS] = "cls",
    [BERT_POOL_LAST] = "last", [BERT_POOL_RANK] = "rank",
};

const char *bert_pooling_name(BertPooling p) {
    return (unsigned)p < ARRAY_LEN(POOL_NAMES) ? POOL_NAMES[p] : "unknown";
}

bool bert_is_encoder_arch(const GgufFile *f) {
    Str a;
    return gguf_get_str(f, "general.architecture", &a) == 0 && (str_eq_c(a, "bert") || str_eq_c(a, "nomic-bert"));
}

// <arch>.key as a count; ERR_NOTFOUND (no message) when absent and not required.
static int meta_i64(const GgufFile *f, const char *arch, const char *key, int64_t *out, bool required,
                    char *err, size_t err_len) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    uint64_t v;
    int rc = gguf_get_u64(f, full, &v);
    if (rc == ERR_NOTFOUND && !required) return ERR_NOTFOUND;
    if (rc == ERR_NOTFOUND) return err_set(err, err_len, ERR_FORMAT, "missing metadata key '%s'", full);
    if (rc) return err_set(err, err_len, ERR_FORMAT, "metadata key '%s' is not a non-negative integer", full);
    if (v > (uint64_t)1 << 30) return err_set(err, err_len, ERR_RANGE, "metadata key '%s' = %llu is too large", full, (unsigned long long)v);
    *out = (int64_t)v;
    return 0;
}

static int meta_f32(const GgufFile *f, const char *arch, const char *key, float *out, bool required,
                    char *err, size_t err_len) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    int rc = gguf_get_f32(f, full, out);
    if (rc == ERR_NOTFOUND && !required) return ERR_NOTFOUND;
    if (rc == ERR_NOTFOUND) return err_set(err, err_len, ERR_FORMAT, "missing metadata key '%s'", full);
    if (rc) return err_set(err, err_len, ERR_FORMAT, "metadata key '%s' is not a float", full);
    return 0;
}

static int load_hparams(BertModel *m, char *err, size_t err_len) {
    const GgufFile *f = &m->file;
    BertHparams *hp = &m->hp;
    const char *a = m->arch;
    int64_t pool = 0, n_head_kv = 0;
    int rc = 0;
    if ((rc = meta_i64(f, a, "embedding_length", &hp->n_embd, true, err, err_len)) ||
        (rc = meta_i64(f, a, "block_count", &hp->n_layer, true, err, err_len)) ||
        (rc = meta_i64(f, a, "feed_forward_length", &hp->n_ff, true, err, err_len)) ||
        (rc = meta_i64(f, a, "attention.head_count", &hp->n_head, true, err, err_len)) ||
        (rc = meta_i64(f, a, "context_length", &hp->n_ctx_train, true, err, err_len)) ||
        (rc = meta_f32(f, a, "attention.layer_norm_epsilon", &hp->norm_eps, true, err, err_len)))
        return rc;
    rc = meta_i64(f, a, "pooling_type", &pool, false, err, err_len);
    if (rc == ERR_NOTFOUND) pool = BERT_POOL_NONE;
    else if (rc) return rc;
    rc = meta_i64(f, a, "attention.head_count_kv", &n_head_kv, false, err, err_len);
    if (rc && rc != ERR_NOTFOUND) return rc;
    if (rc == 0 && n_head_kv != hp->n_head)
        return err_set(err, err_len, ERR_UNSUPP, "%s.attention.head_count_kv %lld differs from head_count %lld (an encoder has none)",
                       a, (long long)n_head_kv, (long long)hp->n_head);
    if (hp->nomic) {
        hp->rope_base = 10000.0f;
        rc = meta_f32(f, a, "rope.freq_base", &hp->rope_base, false, err, err_len);
        if (rc && rc != ERR_NOTFOUND) return rc;
    }
    if (pool != BERT_POOL_MEAN && pool != BERT_POOL_CLS && pool != BERT_POOL_LAST)
        return err_set(err, err_len, ERR_UNSUPP, "%s.pooling_type %lld (%s) gives no single vector per input (mean=1, cls=2 or last=3 do)",
                       a, (long long)pool, bert_pooling_name((BertPooling)pool));
    hp->pooling = (BertPooling)pool;
    if (hp->n_embd < 1 || hp->n_layer < 1 || hp->n_ff < 1 || hp->n_head < 1 || hp->n_embd % hp->n_head || hp->n_ctx_train < 1)
        return err_set(err, err_len, ERR_FORMAT, "%s: embedding_length %lld, head_count %lld, block_count %lld, feed_forward_length %lld do not make a model",
                       a, (long long)hp->n_embd, (long long)hp->n_head, (long long)hp->n_layer, (long long)hp->n_ff);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->nomic && hp->head_dim % 2) return err_set(err, err_len, ERR_FORMAT, "nomic-bert head size %lld is odd (RoPE needs pairs)", (long long)hp->head_dim);
    if (!(hp->norm_eps > 0.0f)) return err_set(err, err_len, ERR_FORMAT, "%s.attention.layer_norm_epsilon must be positive", a);
    return 0;
}

// A (rows, cols) matrix of any supported type; rows < 0 accepts the file's row count.
static int weight(const BertModel *m, const char *name, int64_t cols, int64_t rows, WeightView *out, char *err,
                  size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return err_set(err, err_len, ERR_FORMAT, "missing tensor '%s'", name);
    if (rows < 0 && t->n_dims == 2) rows = t->ne[1];
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows || rows < 1)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': shape [%lld, %lld] (%u dims), expected [%lld, %lld]", name,
                       (long long)t->ne[0], (long long)t->ne[1], t->n_dims, (long long)cols, (long long)rows);
    const QuantTraits *tr = quant_traits((uint32_t)t->type);
    if (!tr || !tr->supported)
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': type %s is not supported", name, tr ? tr->name : "unknown");
    size_t row_bytes = quant_row_bytes(t->type, cols);
    if (!row_bytes || t->nbytes < row_bytes * (size_t)rows)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': %zu bytes do not hold [%lld, %lld] of %s", name, t->nbytes,
                       (long long)cols, (long long)rows, tr->name);
    *out = (WeightView){.type = t->type, .rows = rows, .cols = cols, .data = t->data};
    return 0;
}

// A 1-D float vector of n elements: F32 in place, F16/BF16 converted into *spare (n floats).
static int vector(const BertModel *m, const char *name, int64_t n, const float **out, float **spare, char *err,
                  size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return err_set(err, err_len, ERR_FORMAT, "missing tensor '%s'", name);
    if (t->n_dims != 1 || t->ne[0] != n)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': shape [%lld] (%u dims), expected [%lld]", name,
                       (long long)t->ne[0], t->n_dims, (long long)n);
    if ((t->type != QT_F16 && t->type != QT_BF16 && t->type != QT_F32) || t->nbytes < quant_row_bytes(t->type, n))
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': a vector must be f32, f16 or bf16", name);
    if (t->type == QT_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = t->data;
        return 0;
    }
    quant_dequantize_row(t->type, t->data, *spare, n);
    *out = *spare;
    *spare += n;
    return 0;
}

// An optional vector: NULL when the file has no tensor of that name.
static int vector_opt(const BertModel *m, const char *name, int64_t n, const float **out, float **spare, char *err,
                      size_t err_len) {
    *out = NULL;
    return gguf_find_tensor(&m->file, name) ? vector(m, name, n, out, spare, err, err_len) : 0;
}

// The layer's tensors under llama.cpp's names (blk.N.attn_q.weight, ...).
static int load_layer(BertModel *m, int l, float **spare, char *err, size_t err_len) {
    const BertHparams *hp = &m->hp;
    BertLayer *L = &m->layers[l];
    int64_t d = hp->n_embd, ff = hp->n_ff;
    char n[96];
    int rc = 0;
#define W(suffix, cols, rows, dst) \
    (snprintf(n, sizeof n, "blk.%d." suffix, l), weight(m, n, cols, rows, dst, err, err_len))
#define V(suffix, len, dst) (snprintf(n, sizeof n, "blk.%d." suffix, l), vector(m, n, len, dst, spare, err, err_len))
#define O(suffix, len, dst) (snprintf(n, sizeof n, "blk.%d." suffix, l), vector_opt(m, n, len, dst, spare, err, err_len))
    if (hp->nomic) {
        if ((rc = W("attn_qkv.weight", d, 3 * d, &L->wqkv)) || (rc = O("attn_qkv.bias", 3 * d, &L->bqkv)) ||
            (rc = W("ffn_gate.weight", d, ff, &L->w_gate)))
            return rc;
    } else {
        if ((rc = W("attn_q.weight", d, d, &L->wq)) || (rc = W("attn_k.weight", d, d, &L->wk)) ||
            (rc = W("attn_v.weight", d, d, &L->wv)) || (rc = O("attn_q.bias", d, &L->bq)) ||
            (rc = O("attn_k.bias", d, &L->bk)) || (rc = O("attn_v.bias", d, &L->bv)))
            return rc;
    }
    if ((rc = O("attn_output.bias", d, &L->bo)) || (rc = O("ffn_up.bias", ff, &L->b_up)) ||
        (rc = O("ffn_down.bias", d, &L->b_down)))
        return rc;
    if ((rc = W("attn_output.weight", d, d, &L->wo)) || (rc = V("attn_output_norm.weight", d, &L->ln1_w)) ||
        (rc = V("attn_output_norm.bias", d, &L->ln1_b)) || (rc = W("ffn_up.weight", d, ff, &L->w_up)) ||
        (rc = W("ffn_down.weight", ff, d, &L->w_down)) || (rc = V("layer_output_norm.weight", d, &L->ln2_w)) ||
        (rc = V("layer_output_norm.bias", d, &L->ln2_b)))
        return rc;
#undef W
#undef V
#undef O
    return 0;
}

static int load_tensors(BertModel *m, char *err, size_t err_len) {
    const BertHparams *hp = &m->hp;
    int64_t d = hp->n_embd;
    // Room for every vector converted from F16/BF16 (an upper bound: all of them).
    size_t n_spare = (size_t)(2 * d + hp->n_layer * (12 * d + hp->n_ff));
    m->owned = malloc(n_spare * sizeof(float));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->owned || !m->layers) return err_set(err, err_len, ERR_NOMEM, "out of memory for %lld layers", (long long)hp->n_layer);
    float *spare = m->owned;
    int rc = 0;
    if ((rc = weight(m, "token_embd.weight", d, -1, &m->tok_embd, err, err_len)) ||
        (rc = weight(m, "token_types.weight", d, -1, &m->type_embd, err, err_len)) ||
        (rc = vector(m, "token_embd_norm.weight", d, &m->embd_ln_w, &spare, err, err_len)) ||
        (rc = vector(m, "token_embd_norm.bias", d, &m->embd_ln_b, &spare, err, err_len)))
        return rc;
    if (!hp->nomic && (rc = weight(m, "position_embd.weight", d, -1, &m->pos_embd, err, err_len))) return rc;
    if (!hp->nomic && m->pos_embd.rows < hp->n_ctx_train) m->hp.n_ctx_train = m->pos_embd.rows;
    m->hp.n_vocab = m->tok_embd.rows;
    m->hp.n_token_types = m->type_embd.rows;
    for (int l = 0; l < (int)hp->n_layer && !rc; l++) rc = load_layer(m, l, &spare, err, err_len);
    return rc;
}

int bert_load(BertModel *m, const char *path, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    int rc = gguf_open(&m->file, path, err, err_len);
    if (rc) return rc;
    Str a = {0}, name = {0};
    if (gguf_get_str(&m->file, "general.architecture", &a) != 0) {
        rc = err_set(err, err_len, ERR_FORMAT, "%s: no general.architecture", path);
        goto fail;
    }
    if (!str_eq_c(a, "bert") && !str_eq_c(a, "nomic-bert")) {
        rc = err_set(err, err_len, ERR_UNSUPP, "architecture '%.*s' is not an encoder (bert, nomic-bert)", (int)a.len, a.ptr);
        goto fail;
    }
    snprintf(m->arch, sizeof m->arch, "%.*s", (int)a.len, a.ptr);
    if (gguf_get_str(&m->file, "general.name", &name) == 0) snprintf(m->name, sizeof m->name, "%.*s", (int)name.len, name.ptr);
    m->hp.nomic = str_eq_c(a, "nomic-bert");
    if ((rc = load_hparams(m, err, err_len)) || (rc = load_tensors(m, err, err_len))) goto fail;
    for (uint64_t i = 0; i < m->file.n_tensors; i++) {
        const GgufTensor *t = &m->file.tensors[i];
        m->n_params += gguf_tensor_nelements(t);
        m->weight_bytes += t->nbytes;
    }
    return 0;
fail:
    bert_free(m);
    return rc;
}

void bert_free(BertModel *m) {
    if (!m) return;
    free(m->layers);
    free(m->owned);
    gguf_close(&m->file);
    memset(m, 0, sizeof *m);
}
