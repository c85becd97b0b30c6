// engine.c — the engine API: options, the model, the KV pool, the thread pool, and the checks
// that make engine_forward all-or-nothing.
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/threadpool.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

struct Engine {
    Model model;
    EngineInfo info;
    KvCache *kv;
    ModelBuffers *buf;
    ThreadPool *tp;
    Tokenizer *tok;
    // Per-call validation scratch (engine thread only), indexed by seq_id:
    uint64_t *seen_call;   // (max_seqs) call number that last touched the seq
    int64_t *next_pos;     // (max_seqs) the position the seq's next row must have in this call
    int64_t *touched;      // (max_rows) seq ids touched by this call, in first-touch order
    uint64_t call;
};

void engine_options_default(EngineOptions *o) {
    memset(o, 0, sizeof *o);
    o->kv_type = QT_F16;
    o->prefix_caching = true;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

Engine *engine_create(const char *path, const EngineOptions *opt_in, char *err, size_t err_len) {
    EngineOptions opt;
    if (opt_in) opt = *opt_in;
    else engine_options_default(&opt);
    Engine *e = calloc(1, sizeof *e);
    if (!e) {
        err_set(err, err_len, ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (model_load(&e->model, path, err, err_len)) goto fail;
    const LlamaHparams *hp = &e->model.hp;

    // Resolve the options against the model.
    if (opt.n_ctx < 0 || opt.kv_block_tokens < 0 || opt.kv_blocks < 0 || opt.max_rows < 0 || opt.max_seqs < 0) {
        err_set(err, err_len, ERR_ARG, "engine options must not be negative");
        goto fail;
    }
    if (opt.kv_type != QT_F16 && opt.kv_type != QT_F32) {
        err_set(err, err_len, ERR_ARG, "KV cache type must be f16 or f32");
        goto fail;
    }
    int64_t n_ctx = opt.n_ctx ? opt.n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    int64_t bt = opt.kv_block_tokens ? opt.kv_block_tokens : 16;
    int64_t max_rows = opt.max_rows ? opt.max_rows : 512;
    int64_t max_seqs = opt.max_seqs ? opt.max_seqs : 64;
    if (n_ctx > (int64_t)1 << 24 || bt > 4096 || max_rows > (int64_t)1 << 20 || max_seqs > (int64_t)1 << 20) {
        err_set(err, err_len, ERR_RANGE, "engine options out of range (n_ctx <= 16M, block <= 4096 tokens, "
                "max_rows and max_seqs <= 1M)");
        goto fail;
    }
    KvCacheConfig kc = {.n_layer = hp->n_layer, .n_kv_head = hp->n_head_kv, .head_dim = hp->head_dim,
                        .block_tokens = bt, .n_blocks = 1, .max_seqs = max_seqs, .max_seq_len = n_ctx,
                        .type = opt.kv_type, .prefix_caching = opt.prefix_caching};
    size_t block_bytes = kv_cache_block_bytes(&kc);
    if (!block_bytes) {
        err_set(err, err_len, ERR_RANGE, "KV block size overflows");
        goto fail;
    }
    int64_t n_blocks = opt.kv_blocks;
    if (!n_blocks && opt.kv_mem_bytes) n_blocks = (int64_t)(opt.kv_mem_bytes / block_bytes);
    if (!n_blocks && !opt.kv_mem_bytes) n_blocks = ceil_div(n_ctx, bt);
    if (n_blocks < 1) {
        err_set(err, err_len, ERR_RANGE, "KV budget of %zu bytes is below one block (%zu bytes: %lld tokens x %lld "
                "layers x K,V)", opt.kv_mem_bytes, block_bytes, (long long)bt, (long long)hp->n_layer);
        goto fail;
    }
    kc.n_blocks = n_blocks;
    e->kv = kv_cache_create(&kc);
    if (!e->kv) {
        err_set(err, err_len, ERR_NOMEM, "cannot allocate the KV cache (%lld blocks of %zu bytes)",
                (long long)n_blocks, block_bytes);
        goto fail;
    }
    e->tp = tp_create(opt.n_threads);
    if (!e->tp) {
        err_set(err, err_len, ERR_NOMEM, "cannot start %d threads", opt.n_threads);
        goto fail;
    }
    if (model_pack(&e->model, e->tp, err, err_len)) goto fail;
    e->buf = model_buffers_create(&e->model, max_rows, n_ctx, tp_size(e->tp));
    e->seen_call = calloc((size_t)max_seqs, sizeof *e->seen_call);
    e->next_pos = calloc((size_t)max_seqs, sizeof *e->next_pos);
    e->touched = calloc((size_t)max_rows, sizeof *e->touched);
    if (!e->buf || !e->seen_call || !e->next_pos || !e->touched) {
        err_set(err, err_len, ERR_NOMEM, "cannot allocate activation buffers for %lld rows", (long long)max_rows);
        goto fail;
    }

    EngineInfo *in = &e->info;
    // The tokenizer is optional: without one (or with one we do not support) the engine still
    // runs on token ids; the reason is kept for the caller to show.
    char terr[160] = "";
    if (!gguf_find_kv(&e->model.file, "tokenizer.ggml.model")) {
        snprintf(in->tokenizer_error, sizeof in->tokenizer_error, "the file has no tokenizer.ggml.model");
    } else if (!(e->tok = tok_create_from_gguf(&e->model.file, terr, sizeof terr))) {
        snprintf(in->tokenizer_error, sizeof in->tokenizer_error, "%s", terr);
    } else if (tok_n_vocab(e->tok) > hp->n_vocab) {
        snprintf(in->tokenizer_error, sizeof in->tokenizer_error, "tokenizer has %lld tokens, the model %lld",
                 (long long)tok_n_vocab(e->tok), (long long)hp->n_vocab);
        tok_destroy(e->tok);
        e->tok = NULL;
    }
    snprintf(in->arch, sizeof in->arch, "%s", e->model.arch);
    snprintf(in->name, sizeof in->name, "%s", e->model.name);
    snprintf(in->quant, sizeof in->quant, "%s", e->model.quant);
    in->n_vocab = hp->n_vocab;
    in->n_ctx_train = hp->n_ctx_train;
    in->n_ctx = n_ctx;
    in->n_embd = hp->n_embd;
    in->n_layer = hp->n_layer;
    in->n_head = hp->n_head;
    in->n_head_kv = hp->n_head_kv;
    in->head_dim = hp->head_dim;
    in->n_ff = hp->n_ff;
    in->n_params = e->model.n_params;
    in->weight_bytes = e->model.weight_bytes;
    in->n_threads = tp_size(e->tp);
    in->max_rows = max_rows;
    in->max_seqs = max_seqs;
    in->kv_block_tokens = bt;
    in->kv_blocks_total = n_blocks;
    in->kv_block_bytes = block_bytes;
    in->kv_type = opt.kv_type;
    in->prefix_caching = opt.prefix_caching;
    return e;
fail:
    engine_destroy(e);
    return NULL;
}

void engine_destroy(Engine *e) {
    if (!e) return;
    model_buffers_destroy(e->buf);
    kv_cache_destroy(e->kv);
    tp_destroy(e->tp);
    tok_destroy(e->tok);
    model_free(&e->model);
    free(e->seen_call);
    free(e->next_pos);
    free(e->touched);
    free(e);
}

const EngineInfo *engine_info(const Engine *e) { return &e->info; }
const Tokenizer *engine_tokenizer(const Engine *e) { return e->tok; }

// ---- KV accounting ----

static bool seq_ok(const Engine *e, int64_t seq_id) { return seq_id >= 0 && seq_id < e->info.max_seqs; }

int64_t engine_kv_block_tokens(const Engine *e) { return e->info.kv_block_tokens; }
int64_t engine_kv_blocks_total(const Engine *e) { return kv_cache_blocks_total(e->kv); }
int64_t engine_kv_blocks_free(const Engine *e) { return kv_cache_blocks_free(e->kv); }

int64_t engine_seq_len(const Engine *e, int64_t seq_id) {
    return seq_ok(e, seq_id) ? kv_cache_seq_len(e->kv, seq_id) : 0;
}

int64_t engine_seq_blocks(const Engine *e, int64_t seq_id) {
    return seq_ok(e, seq_id) ? kv_cache_seq_blocks(e->kv, seq_id) : 0;
}

int64_t engine_kv_blocks_needed(const Engine *e, int64_t seq_id, int64_t n_tokens) {
    if (!seq_ok(e, seq_id) || n_tokens < 0) return 0;
    return kv_cache_blocks_needed(e->kv, seq_id, kv_cache_seq_len(e->kv, seq_id) + n_tokens);
}

bool engine_seq_can_grow(const Engine *e, int64_t seq_id, int64_t n_tokens) {
    if (!seq_ok(e, seq_id) || n_tokens < 0) return false;
    if (kv_cache_seq_len(e->kv, seq_id) + n_tokens > e->info.n_ctx) return false;
    return engine_kv_blocks_needed(e, seq_id, n_tokens) <= kv_cache_blocks_free(e->kv);
}

void engine_seq_free(Engine *e, int64_t seq_id) {
    if (seq_ok(e, seq_id)) kv_cache_seq_free(e->kv, seq_id);
}

int64_t engine_prefix_lookup(const Engine *e, const int32_t *tokens, int64_t n) {
    if (n < 1) return 0;
    return kv_cache_prefix_lookup(e->kv, tokens, n, (n - 1 < e->info.n_ctx ? n - 1 : e->info.n_ctx));
}

int64_t engine_seq_attach_prefix(Engine *e, int64_t seq_id, const int32_t *tokens, int64_t n_pos) {
    CHECK(seq_ok(e, seq_id) && n_pos >= 0 && n_pos <= e->info.n_ctx);
    return kv_cache_seq_attach(e->kv, seq_id, tokens, n_pos);
}

int64_t engine_kv_blocks_cached(const Engine *e) { return kv_cache_blocks_cached(e->kv); }

// ---- forward ----

int engine_forward(Engine *e, const EngineRow *rows, int64_t n_rows, float *logits, char *err,
                   size_t err_len) {
    if (n_rows < 1 || n_rows > e->info.max_rows)
        return err_set(err, err_len, ERR_ARG, "%lld rows in one step; allowed 1..%lld", (long long)n_rows,
                       (long long)e->info.max_rows);
    // Pass 1: every row in range and continuing its sequence; collect the touched sequences.
    uint64_t call = ++e->call;
    int64_t n_touched = 0;
    for (int64_t r = 0; r < n_rows; r++) {
        const EngineRow *row = &rows[r];
        if (!seq_ok(e, row->seq_id))
            return err_set(err, err_len, ERR_ARG, "row %lld: seq_id %lld outside [0, %lld)", (long long)r,
                           (long long)row->seq_id, (long long)e->info.max_seqs);
        if (row->token < 0 || row->token >= e->info.n_vocab)
            return err_set(err, err_len, ERR_ARG, "row %lld: token %d outside [0, %lld)", (long long)r, row->token,
                           (long long)e->info.n_vocab);
        if (e->seen_call[row->seq_id] != call) {
            e->seen_call[row->seq_id] = call;
            e->next_pos[row->seq_id] = kv_cache_seq_len(e->kv, row->seq_id);
            e->touched[n_touched++] = row->seq_id;
        }
        if (row->pos != e->next_pos[row->seq_id])
            return err_set(err, err_len, ERR_ARG, "row %lld: seq %lld position %lld, expected %lld", (long long)r,
                           (long long)row->seq_id, (long long)row->pos, (long long)e->next_pos[row->seq_id]);
        if (row->pos >= e->info.n_ctx)
            return err_set(err, err_len, ERR_RANGE, "row %lld: seq %lld position %lld beyond the context (%lld)",
                           (long long)r, (long long)row->seq_id, (long long)row->pos, (long long)e->info.n_ctx);
        e->next_pos[row->seq_id]++;
    }
    // Pass 2: the pool must hold every sequence's growth at once.
    int64_t need = 0;
    for (int64_t i = 0; i < n_touched; i++) {
        int64_t s = e->touched[i];
        need += kv_cache_blocks_needed(e->kv, s, e->next_pos[s]);
    }
    if (need > kv_cache_blocks_free(e->kv))
        return err_set(err, err_len, ERR_FULL, "KV cache full: this step needs %lld blocks, %lld free",
                       (long long)need, (long long)kv_cache_blocks_free(e->kv));
    // Commit: take the blocks, extend the lengths (attention reads positions written this step),
    // then compute. Nothing below can fail.
    for (int64_t i = 0; i < n_touched; i++) {
        int64_t s = e->touched[i];
        CHECK(kv_cache_reserve(e->kv, s, e->next_pos[s]) == 0);
        kv_cache_set_len(e->kv, s, e->next_pos[s]);
    }
    for (int64_t r = 0; r < n_rows; r++) kv_cache_set_token(e->kv, rows[r].seq_id, rows[r].pos, rows[r].token);
    model_forward(&e->model, e->buf, e->kv, e->tp, rows, n_rows, logits);
    // The step's full blocks are written: name them so later sequences can share them.
    for (int64_t i = 0; i < n_touched; i++) kv_cache_seal(e->kv, e->touched[i]);
    return 0;
}
