// model_load.c — reading a Llama model's hyperparameters and weight views out of a GGUF file.
// Every shape and type is checked here, so the forward pass can trust them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/bigalloc.h"
#include "base/check.h"
#include "engine/model.h"
#include "engine/model_check.h"

// ---- metadata ----

// Reads "<arch>.<key>" as an integer; ERR_NOTFOUND when absent and !required is not an error.
static int meta_int(const GgufFile *f, const char *arch, const char *key, int64_t *out, bool required,
                    char *err, size_t err_len) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    uint64_t v;
    int rc = gguf_get_u64(f, full, &v);
    if (rc == ERR_NOTFOUND && !required) return ERR_NOTFOUND;
    if (rc == ERR_NOTFOUND) return err_set(err, err_len, ERR_FORMAT, "missing metadata key '%s'", full);
    if (rc) return err_set(err, err_len, ERR_FORMAT, "metadata key '%s' is not a non-negative integer", full);
    if (v > (uint64_t)1 << 40) return err_set(err, err_len, ERR_RANGE, "metadata key '%s' = %llu is too large", full, (unsigned long long)v);
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

static void str_copy(char *dst, size_t cap, Str s) {
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = 0;
}

static int load_hparams(Model *m, char *err, size_t err_len) {
    const GgufFile *f = &m->file;
    LlamaHparams *hp = &m->hp;
    const char *a = m->arch;
    int rc;
    if ((rc = meta_int(f, a, "embedding_length", &hp->n_embd, true, err, err_len)) ||
        (rc = meta_int(f, a, "block_count", &hp->n_layer, true, err, err_len)) ||
        (rc = meta_int(f, a, "feed_forward_length", &hp->n_ff, true, err, err_len)) ||
        (rc = meta_int(f, a, "attention.head_count", &hp->n_head, true, err, err_len)) ||
        (rc = meta_int(f, a, "context_length", &hp->n_ctx_train, true, err, err_len)) ||
        (rc = meta_f32(f, a, "attention.layer_norm_rms_epsilon", &hp->norm_eps, true, err, err_len)))
        return rc;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 || hp->n_ctx_train <= 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: embedding_length, block_count, feed_forward_length, "
                       "head_count and context_length must be positive", a);
    rc = meta_int(f, a, "attention.head_count_kv", &hp->n_head_kv, false, err, err_len);
    if (rc == ERR_NOTFOUND) hp->n_head_kv = hp->n_head;
    else if (rc) return rc;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv)
        return err_set(err, err_len, ERR_FORMAT, "%s.attention.head_count_kv = %lld must divide head_count = %lld",
                       a, (long long)hp->n_head_kv, (long long)hp->n_head);
    rc = meta_int(f, a, "attention.key_length", &hp->head_dim, false, err, err_len);
    if (rc == ERR_NOTFOUND) {
        if (hp->n_embd % hp->n_head)
            return err_set(err, err_len, ERR_FORMAT, "%s.embedding_length %lld is not a multiple of head_count %lld",
                           a, (long long)hp->n_embd, (long long)hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    } else if (rc) {
        return rc;
    }
    int64_t v_len = hp->head_dim;
    rc = meta_int(f, a, "attention.value_length", &v_len, false, err, err_len);
    if (rc && rc != ERR_NOTFOUND) return rc;
    if (hp->head_dim <= 0 || hp->head_dim > 1024 || hp->head_dim % 2 || v_len != hp->head_dim)
        return err_set(err, err_len, ERR_UNSUPP, "%s: head dimension %lld (value %lld) unsupported: must be even, "
                       "at most 1024, keys and values alike", a, (long long)hp->head_dim, (long long)v_len);
    rc = meta_int(f, a, "rope.dimension_count", &hp->n_rot, false, err, err_len);
    if (rc == ERR_NOTFOUND) hp->n_rot = hp->head_dim;
    else if (rc) return rc;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return err_set(err, err_len, ERR_FORMAT, "%s.rope.dimension_count = %lld must be even and at most the head "
                       "dimension %lld", a, (long long)hp->n_rot, (long long)hp->head_dim);
    rc = meta_f32(f, a, "rope.freq_base", &hp->rope_base, false, err, err_len);
    if (rc == ERR_NOTFOUND) hp->rope_base = 10000.0f;
    else if (rc) return rc;
    if (!(hp->rope_base > 1.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s.rope.freq_base = %g must be > 1", a, (double)hp->rope_base);
    if (!(hp->norm_eps > 0.0f && hp->norm_eps < 1.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s.attention.layer_norm_rms_epsilon = %g must be in (0, 1)", a,
                       (double)hp->norm_eps);

    // RoPE scaling: "none" or "linear" (factor f: positions divided by f); the older
    // rope.scale_linear key means the same. Other kinds (yarn, longrope) are refused by name.
    float factor = 1.0f;
    char key[128];
    Str type;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_get_str(f, key, &type) == 0) {
        if (str_eq_c(type, "linear")) {
            rc = meta_f32(f, a, "rope.scaling.factor", &factor, false, err, err_len);
            if (rc && rc != ERR_NOTFOUND) return rc;
        } else if (!str_eq_c(type, "none")) {
            return err_set(err, err_len, ERR_UNSUPP, "%s.rope.scaling.type '%.*s' is not supported (none, linear)",
                           a, (int)type.len, type.ptr);
        }
    } else {
        rc = meta_f32(f, a, "rope.scale_linear", &factor, false, err, err_len);
        if (rc && rc != ERR_NOTFOUND) return rc;
    }
    if (factor == 0.0f) factor = 1.0f;  // llama.cpp treats a zero factor as "no scaling"
    if (!(factor >= 1.0f / 1024 && factor <= 1024.0f))
        return err_set(err, err_len, ERR_FORMAT, "rope scaling factor %g out of range", (double)factor);
    hp->rope_freq_scale = 1.0f / factor;
    return 0;
}

// ---- tensors ----

static int weight(const Model *m, const char *name, int64_t cols, int64_t rows, WeightView *out,
                  char *err, size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return err_set(err, err_len, ERR_FORMAT, "missing tensor '%s'", name);
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': shape [%lld, %lld] (%u dims), expected [%lld, %lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], t->n_dims, (long long)cols, (long long)rows);
    const QuantTraits *tr = quant_traits((uint32_t)t->type);
    if (!tr || !tr->supported)
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': type %s is not supported (see `rightsize gguf info`)",
                       name, tr ? tr->name : "unknown");
    size_t row_bytes = quant_row_bytes(t->type, cols);
    if (!row_bytes || t->nbytes < row_bytes * (size_t)rows)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': %zu bytes do not hold [%lld, %lld] of %s", name,
                       t->nbytes, (long long)cols, (long long)rows, tr->name);
    *out = (WeightView){.type = t->type, .rows = rows, .cols = cols, .data = t->data};
    return 0;
}

// A 1-D float vector of n elements: F32 is used in place, F16/BF16 converted into *spare.
static int vector(const Model *m, const char *name, int64_t n, const float **out, float **spare,
                  char *err, size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return err_set(err, err_len, ERR_FORMAT, "missing tensor '%s'", name);
    if (t->n_dims != 1 || t->ne[0] != n)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': shape [%lld] (%u dims), expected [%lld]", name,
                       (long long)t->ne[0], t->n_dims, (long long)n);
    if (t->type == QT_F32 && t->nbytes >= (size_t)n * 4 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = t->data;
        return 0;
    }
    if ((t->type != QT_F16 && t->type != QT_BF16 && t->type != QT_F32) || t->nbytes < quant_row_bytes(t->type, n))
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': a vector must be f32, f16 or bf16", name);
    quant_dequantize_row(t->type, t->data, *spare, n);
    *out = *spare;
    *spare += n;
    return 0;
}

static void summarize(Model *m) {
    size_t by_type[QT_COUNT] = {0};
    for (uint64_t i = 0; i < m->file.n_tensors; i++) {
        const GgufTensor *t = &m->file.tensors[i];
        int64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) n *= t->ne[d];
        m->n_params += n;
        m->weight_bytes += t->nbytes;
        if ((uint32_t)t->type < QT_COUNT && t->n_dims == 2) by_type[t->type] += t->nbytes;
    }
    int best = QT_F32;
    for (int i = 0; i < QT_COUNT; i++)
        if (by_type[i] > by_type[best]) best = i;
    snprintf(m->quant, sizeof m->quant, "%s", QUANT_TRAITS[best].name ? QUANT_TRAITS[best].name : "?");
}

static int load_opened(Model *m, const char *path, char *err, size_t err_len);

// Every matrix the forward pass multiplies (token_embd is only looked up, never multiplied).
static int matrices(Model *m, WeightView **out) {
    int n = 0;
    for (int64_t l = 0; l < m->hp.n_layer; l++) {
        LlamaLayer *L = &m->layers[l];
        WeightView *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) out[n++] = ws[i];
    }
    out[n++] = &m->output;
    return n;
}

// Copies the matrices into the kernel set's packed layout (see model.h). The mapping's pages of a
// packed matrix are dropped from this process (MADV_DONTNEED: they are clean file pages, read
// back only if touched again), so resident memory holds one copy; a tied output keeps its pages,
// which embedding lookups still read.
int model_pack(Model *m, ThreadPool *tp, char *err, size_t err_len) {
    if (m->packed) return 0;  // done already
    int cap = (int)m->hp.n_layer * 7 + 1;
    WeightView **ws = malloc((size_t)cap * sizeof *ws);
    if (!ws) return err_set(err, err_len, ERR_NOMEM, "out of memory packing %s's weights", m->name);
    int n = matrices(m, ws);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += mm_pack_bytes(ws[i]);
    if (total == 0) {
        free(ws);
        return 0;
    }
    m->packed = big_alloc(total);
    if (!m->packed) {
        free(ws);
        return err_set(err, err_len, ERR_NOMEM, "out of memory packing %s's weights (%zu MiB)", m->name, total >> 20);
    }
    m->packed_bytes = total;
    size_t off = 0, page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < n; i++) {
        size_t b = mm_pack_bytes(ws[i]);
        if (!b) continue;
        mm_pack(tp, ws[i], (uint8_t *)m->packed + off);
        off += b;
        if (!m->file.mapped || ws[i]->data == m->tok_embd.data) continue;
        uintptr_t lo = ((uintptr_t)ws[i]->data + page - 1) & ~(uintptr_t)(page - 1);
        uintptr_t hi = ((uintptr_t)ws[i]->data + quant_row_bytes(ws[i]->type, ws[i]->cols) * (size_t)ws[i]->rows) &
                       ~(uintptr_t)(page - 1);
        if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    free(ws);
    return 0;
}

int model_load(Model *m, const char *path, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    int rc = gguf_open(&m->file, path, err, err_len);
    return rc ? rc : load_opened(m, path, err, err_len);
}

int model_load_mem(Model *m, const void *data, size_t size, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    int rc = gguf_open_mem(&m->file, data, size, err, err_len);
    return rc ? rc : load_opened(m, "(memory)", err, err_len);
}

// Everything after the file is open; on failure frees what it took, the file included.
static int load_opened(Model *m, const char *path, char *err, size_t err_len) {
    int rc;
    Str s;
    if (gguf_get_str(&m->file, "general.architecture", &s)) {
        rc = err_set(err, err_len, ERR_FORMAT, "%s: no general.architecture key", path);
        goto fail;
    }
    str_copy(m->arch, sizeof m->arch, s);
    // Everything this engine cannot run (architecture, tensor types, tokenizer) in one message.
    char arch_err[160];
    snprintf(arch_err, sizeof arch_err, "unsupported architecture '%.*s' (only llama)", (int)s.len, s.ptr);
    if ((rc = model_check_support(&m->file, str_eq_c(s, "llama") ? NULL : arch_err, err, err_len))) goto fail;
    if (gguf_get_str(&m->file, "general.name", &s) == 0) {
        str_copy(m->name, sizeof m->name, s);
    } else {
        const char *base = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
    }
    if ((rc = load_hparams(m, err, err_len))) goto fail;

    LlamaHparams *hp = &m->hp;
    const GgufTensor *te = gguf_find_tensor(&m->file, "token_embd.weight");
    if (!te || te->n_dims != 2) {
        rc = err_set(err, err_len, ERR_FORMAT, "missing 2-D tensor 'token_embd.weight'");
        goto fail;
    }
    hp->n_vocab = te->ne[1];
    if (hp->n_vocab < 1 || hp->n_vocab > INT32_MAX) {
        rc = err_set(err, err_len, ERR_FORMAT, "token_embd.weight has %lld rows; a vocabulary needs 1..2^31-1",
                     (long long)hp->n_vocab);
        goto fail;
    }
    int64_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    if ((rc = weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err, err_len))) goto fail;
    if (gguf_find_tensor(&m->file, "output.weight")) {
        if ((rc = weight(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err, err_len))) goto fail;
    } else {
        m->output = m->tok_embd;  // tied embeddings
    }

    // Every layer holds 9 tensors and every norm n_embd floats of file data: a block_count or an
    // embedding width the file cannot back is refused before anything is sized from it.
    if ((uint64_t)hp->n_layer > m->file.n_tensors / 9 ||
        (uint64_t)hp->n_embd > m->file.size / sizeof(float)) {
        rc = err_set(err, err_len, ERR_FORMAT,
                     "llama.block_count %lld and embedding_length %lld need more tensors or data than the file has "
                     "(%llu tensors, %zu bytes)",
                     (long long)hp->n_layer, (long long)hp->n_embd, (unsigned long long)m->file.n_tensors,
                     m->file.size);
        goto fail;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    m->owned = malloc((size_t)(2 * hp->n_layer + 1) * (size_t)hp->n_embd * sizeof(float));
    if (!m->layers || !m->owned) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory loading %s", path);
        goto fail;
    }
    float *spare = m->owned;
    if ((rc = vector(m, "output_norm.weight", hp->n_embd, &m->output_norm, &spare, err, err_len))) goto fail;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        LlamaLayer *L = &m->layers[l];
        char n[96];
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%lld." suffix, (long long)l), n)
        if ((rc = vector(m, NAME("attn_norm.weight"), hp->n_embd, &L->attn_norm, &spare, err, err_len)) ||
            (rc = weight(m, NAME("attn_q.weight"), hp->n_embd, q_dim, &L->wq, err, err_len)) ||
            (rc = weight(m, NAME("attn_k.weight"), hp->n_embd, kv_dim, &L->wk, err, err_len)) ||
            (rc = weight(m, NAME("attn_v.weight"), hp->n_embd, kv_dim, &L->wv, err, err_len)) ||
            (rc = weight(m, NAME("attn_output.weight"), q_dim, hp->n_embd, &L->wo, err, err_len)) ||
            (rc = vector(m, NAME("ffn_norm.weight"), hp->n_embd, &L->ffn_norm, &spare, err, err_len)) ||
            (rc = weight(m, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff, &L->w_gate, err, err_len)) ||
            (rc = weight(m, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff, &L->w_up, err, err_len)) ||
            (rc = weight(m, NAME("ffn_down.weight"), hp->n_ff, hp->n_embd, &L->w_down, err, err_len)))
            goto fail;
#undef NAME
    }
    const GgufTensor *rf = gguf_find_tensor(&m->file, "rope_freqs.weight");
    if (rf) {
        if (rf->type != QT_F32 || rf->n_dims != 1 || rf->ne[0] != hp->n_rot / 2 || rf->nbytes < (size_t)rf->ne[0] * 4) {
            rc = err_set(err, err_len, ERR_FORMAT, "tensor 'rope_freqs.weight' must be f32 [%lld]",
                         (long long)(hp->n_rot / 2));
            goto fail;
        }
        m->rope_freqs = rf->data;
    }
    summarize(m);
    return 0;
fail:
    model_free(m);
    return rc;
}

void model_free(Model *m) {
    gguf_close(&m->file);
    free(m->layers);
    free(m->owned);
    free(m->packed);
    memset(m, 0, sizeof *m);
}
