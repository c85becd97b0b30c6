// kv_cache.c — paged KV cache: block pool, per-sequence block tables, attention over blocks.
#include "engine/kv_cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigalloc.h"
#include "base/check.h"
#include "engine/kv_attn.h"
#include "engine/vexp.h"

struct KvCache {
    KvCacheConfig cfg;
    size_t elem_bytes;         // 2 (F16) or 4 (F32)
    int64_t kv_dim;            // n_kv_head * head_dim
    size_t tile_elems;         // block_tokens * head_dim: one head's K (or V) in one block
    size_t block_elems;        // n_layer * 2 * n_kv_head * tile_elems
    uint8_t *data;             // (n_blocks, block_elems) elements of cfg.type
    int32_t *free_stack;       // (n_blocks) free block ids; top at free_stack[n_free - 1]
    int64_t n_free;
    int64_t max_blocks_per_seq;
    int32_t *tables;           // (max_seqs, max_blocks_per_seq) block ids in position order
    int64_t *seq_blocks;       // (max_seqs) blocks each sequence holds
    int64_t *seq_len;          // (max_seqs) positions written
    // Prefix caching (all NULL when off):
    int32_t *ref;              // (n_blocks) sequences holding each block
    int32_t *tok;              // (n_blocks, block_tokens) token id of each slot
    uint64_t *bhash, *bparent; // (n_blocks) a full block's name and its parent's name
    bool *named;               // (n_blocks) registered in the table (findable by content)
    int32_t *bucket;           // (n_bucket) first named block of each hash bucket, -1: none
    int32_t *hnext;            // (n_blocks) next named block in the same bucket
    uint64_t bucket_mask;
    int32_t *lru_prev, *lru_next;  // (n_blocks) the evictable list, oldest at lru_head
    int32_t lru_head, lru_tail;
    int64_t n_lru;
    int64_t *seq_sealed;       // (max_seqs) leading full blocks of each sequence already named
    const KvAttnKernels *kern; // dot/axpy over stored rows of cfg.type
    const VexpKernels *vx;     // the softmax's max and exp passes
};

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int32_t take_block(KvCache *kv);
static void lru_push(KvCache *kv, int32_t b);
static int32_t block_of(const KvCache *kv, int64_t seq, int64_t pos);

static bool cfg_valid(const KvCacheConfig *c) {
    return c->n_layer > 0 && c->n_kv_head > 0 && c->head_dim > 0 && c->head_dim <= KV_MAX_HEAD_DIM &&
           c->block_tokens > 0 && c->n_blocks > 0 && c->n_blocks < INT32_MAX && c->max_seqs > 0 &&
           c->max_seq_len > 0 && (c->type == QT_F16 || c->type == QT_F32);
}

size_t kv_cache_block_bytes(const KvCacheConfig *cfg) {
    if (!cfg_valid(cfg)) return 0;
    size_t elem = cfg->type == QT_F16 ? 2 : 4;
    // Every factor is bounded (head_dim <= KV_MAX_HEAD_DIM); guard the product anyway.
    double approx = (double)cfg->n_layer * 2.0 * (double)cfg->n_kv_head * (double)cfg->block_tokens *
                    (double)cfg->head_dim * (double)elem;
    if (approx > (double)SIZE_MAX / 4) return 0;
    return (size_t)cfg->n_layer * 2 * (size_t)cfg->n_kv_head * (size_t)cfg->block_tokens *
           (size_t)cfg->head_dim * elem;
}

KvCache *kv_cache_create(const KvCacheConfig *cfg) {
    size_t block_bytes = kv_cache_block_bytes(cfg);
    if (!block_bytes) return NULL;
    if ((double)block_bytes * (double)cfg->n_blocks > (double)SIZE_MAX / 4) return NULL;
    KvCache *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->cfg = *cfg;
    kv->elem_bytes = cfg->type == QT_F16 ? 2 : 4;
    kv->kv_dim = cfg->n_kv_head * cfg->head_dim;
    kv->tile_elems = (size_t)(cfg->block_tokens * cfg->head_dim);
    kv->block_elems = (size_t)cfg->n_layer * 2 * (size_t)cfg->n_kv_head * kv->tile_elems;
    kv->max_blocks_per_seq = ceil_div(cfg->max_seq_len, cfg->block_tokens);
    kv->kern = kv_attn_kernels(cfg->type);
    kv->vx = vexp_kernels();
    // 64-byte aligned pool so tiles start on cache lines (tile sizes are multiples of 32 bytes
    // for the usual head_dim of 64/128).
    size_t pool = block_bytes * (size_t)cfg->n_blocks;
    kv->data = big_alloc(pool);
    kv->free_stack = malloc((size_t)cfg->n_blocks * sizeof *kv->free_stack);
    kv->tables = malloc((size_t)cfg->max_seqs * (size_t)kv->max_blocks_per_seq * sizeof *kv->tables);
    kv->seq_blocks = calloc((size_t)cfg->max_seqs, sizeof *kv->seq_blocks);
    kv->seq_len = calloc((size_t)cfg->max_seqs, sizeof *kv->seq_len);
    if (!kv->data || !kv->free_stack || !kv->tables || !kv->seq_blocks || !kv->seq_len) goto fail;
    kv->lru_head = kv->lru_tail = -1;
    if (cfg->prefix_caching) {
        uint64_t nb = 16;
        while (nb < 2 * (uint64_t)cfg->n_blocks) nb <<= 1;
        size_t n = (size_t)cfg->n_blocks;
        kv->bucket_mask = nb - 1;
        kv->ref = calloc(n, sizeof *kv->ref);
        kv->tok = calloc(n * (size_t)cfg->block_tokens, sizeof *kv->tok);
        kv->bhash = calloc(n, sizeof *kv->bhash);
        kv->bparent = calloc(n, sizeof *kv->bparent);
        kv->named = calloc(n, sizeof *kv->named);
        kv->bucket = malloc((size_t)nb * sizeof *kv->bucket);
        kv->hnext = calloc(n, sizeof *kv->hnext);
        kv->lru_prev = calloc(n, sizeof *kv->lru_prev);
        kv->lru_next = calloc(n, sizeof *kv->lru_next);
        kv->seq_sealed = calloc((size_t)cfg->max_seqs, sizeof *kv->seq_sealed);
        if (!kv->ref || !kv->tok || !kv->bhash || !kv->bparent || !kv->named || !kv->bucket || !kv->hnext ||
            !kv->lru_prev || !kv->lru_next || !kv->seq_sealed)
            goto fail;
        for (uint64_t i = 0; i < nb; i++) kv->bucket[i] = -1;
    }
    // Block 0 on top of the stack, so a fresh cache hands out 0, 1, 2, ...
    for (int64_t i = 0; i < cfg->n_blocks; i++) kv->free_stack[i] = (int32_t)(cfg->n_blocks - 1 - i);
    kv->n_free = cfg->n_blocks;
    return kv;
fail:
    kv_cache_destroy(kv);
    return NULL;
}

void kv_cache_destroy(KvCache *kv) {
    if (!kv) return;
    free(kv->data);
    free(kv->free_stack);
    free(kv->tables);
    free(kv->seq_blocks);
    free(kv->seq_len);
    free(kv->ref);
    free(kv->tok);
    free(kv->bhash);
    free(kv->bparent);
    free(kv->named);
    free(kv->bucket);
    free(kv->hnext);
    free(kv->lru_prev);
    free(kv->lru_next);
    free(kv->seq_sealed);
    free(kv);
}

// ---- accounting ----

int64_t kv_cache_blocks_total(const KvCache *kv) { return kv->cfg.n_blocks; }
int64_t kv_cache_blocks_free(const KvCache *kv) { return kv->n_free + kv->n_lru; }
int64_t kv_cache_blocks_cached(const KvCache *kv) { return kv->n_lru; }

int64_t kv_cache_seq_len(const KvCache *kv, int64_t seq) {
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs);
    return kv->seq_len[seq];
}

int64_t kv_cache_seq_blocks(const KvCache *kv, int64_t seq) {
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs);
    return kv->seq_blocks[seq];
}

int64_t kv_cache_blocks_needed(const KvCache *kv, int64_t seq, int64_t new_len) {
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs && new_len >= 0);
    int64_t need = ceil_div(new_len, kv->cfg.block_tokens) - kv->seq_blocks[seq];
    return need > 0 ? need : 0;
}

int kv_cache_reserve(KvCache *kv, int64_t seq, int64_t new_len) {
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs && new_len >= 0);
    if (new_len > kv->cfg.max_seq_len) return ERR_RANGE;
    int64_t need = kv_cache_blocks_needed(kv, seq, new_len);
    if (need > kv_cache_blocks_free(kv)) return ERR_FULL;
    int32_t *table = kv->tables + seq * kv->max_blocks_per_seq;
    for (int64_t i = 0; i < need; i++) table[kv->seq_blocks[seq]++] = take_block(kv);
    return 0;
}

void kv_cache_set_len(KvCache *kv, int64_t seq, int64_t len) {
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs && len >= 0);
    CHECK(ceil_div(len, kv->cfg.block_tokens) <= kv->seq_blocks[seq]);
    kv->seq_len[seq] = len;
}

void kv_cache_seq_free(KvCache *kv, int64_t seq) {
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs);
    const int32_t *table = kv->tables + seq * kv->max_blocks_per_seq;
    // Last block first: a freed sequence's first block is handed out first next time, and with
    // prefix caching its tail blocks are evicted before the prefix they extend.
    for (int64_t i = kv->seq_blocks[seq] - 1; i >= 0; i--) {
        int32_t b = table[i];
        if (kv->ref) {
            CHECK(kv->ref[b] > 0);
            if (--kv->ref[b] > 0) continue;
            if (kv->named[b]) {
                lru_push(kv, b);
                continue;
            }
        }
        kv->free_stack[kv->n_free++] = b;
    }
    CHECK(kv->n_free + kv->n_lru <= kv->cfg.n_blocks);
    kv->seq_blocks[seq] = 0;
    kv->seq_len[seq] = 0;
    if (kv->seq_sealed) kv->seq_sealed[seq] = 0;
}

// ---- prefix caching ----

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

#define ROOT_HASH 0x9e3779b97f4a7c15ULL  // the parent name of a sequence's first block

// The name of a block holding tokens[0, block_tokens) after the block named parent.
static uint64_t block_name(const KvCache *kv, uint64_t parent, const int32_t *tokens) {
    uint64_t h = mix64(parent);
    for (int64_t i = 0; i < kv->cfg.block_tokens; i++) h = mix64(h ^ (uint64_t)(uint32_t)tokens[i]);
    return h;
}

// The named block with this name, parent and tokens, or -1.
static int32_t find_named(const KvCache *kv, uint64_t name, uint64_t parent, const int32_t *tokens) {
    size_t bt = (size_t)kv->cfg.block_tokens;
    for (int32_t b = kv->bucket[name & kv->bucket_mask]; b >= 0; b = kv->hnext[b])
        if (kv->bhash[b] == name && kv->bparent[b] == parent &&
            !memcmp(kv->tok + (size_t)b * bt, tokens, bt * sizeof *tokens))
            return b;
    return -1;
}

static void unname(KvCache *kv, int32_t b) {
    int32_t *link = &kv->bucket[kv->bhash[b] & kv->bucket_mask];
    while (*link != b) link = &kv->hnext[*link];
    *link = kv->hnext[b];
    kv->named[b] = false;
}

static void lru_push(KvCache *kv, int32_t b) {
    kv->lru_prev[b] = kv->lru_tail;
    kv->lru_next[b] = -1;
    if (kv->lru_tail >= 0) kv->lru_next[kv->lru_tail] = b;
    else kv->lru_head = b;
    kv->lru_tail = b;
    kv->n_lru++;
}

static void lru_remove(KvCache *kv, int32_t b) {
    if (kv->lru_prev[b] >= 0) kv->lru_next[kv->lru_prev[b]] = kv->lru_next[b];
    else kv->lru_head = kv->lru_next[b];
    if (kv->lru_next[b] >= 0) kv->lru_prev[kv->lru_next[b]] = kv->lru_prev[b];
    else kv->lru_tail = kv->lru_prev[b];
    kv->n_lru--;
}

// A block for a reserve: a never-named free one, else the least recently freed cached one
// (forgotten: it is no longer findable). Caller checked kv_cache_blocks_free.
static int32_t take_block(KvCache *kv) {
    int32_t b;
    if (kv->n_free > 0) {
        b = kv->free_stack[--kv->n_free];
    } else {
        b = kv->lru_head;
        CHECK(b >= 0);
        lru_remove(kv, b);
        unname(kv, b);
    }
    if (kv->ref) kv->ref[b] = 1;
    return b;
}

void kv_cache_set_token(KvCache *kv, int64_t seq, int64_t pos, int32_t token) {
    if (!kv->tok) return;
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs && pos >= 0);
    kv->tok[(size_t)block_of(kv, seq, pos) * (size_t)kv->cfg.block_tokens + (size_t)(pos % kv->cfg.block_tokens)] =
        token;
}

void kv_cache_seal(KvCache *kv, int64_t seq) {
    if (!kv->tok) return;
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs);
    const int32_t *table = kv->tables + seq * kv->max_blocks_per_seq;
    size_t bt = (size_t)kv->cfg.block_tokens;
    for (int64_t i = kv->seq_sealed[seq]; i < kv->seq_len[seq] / kv->cfg.block_tokens; i++) {
        int32_t b = table[i];
        uint64_t parent = i > 0 ? kv->bhash[table[i - 1]] : ROOT_HASH;
        const int32_t *tokens = kv->tok + (size_t)b * bt;
        kv->bhash[b] = block_name(kv, parent, tokens);
        kv->bparent[b] = parent;
        if (find_named(kv, kv->bhash[b], parent, tokens) >= 0) continue;  // a twin is shared already
        int32_t *head = &kv->bucket[kv->bhash[b] & kv->bucket_mask];
        kv->hnext[b] = *head;
        *head = b;
        kv->named[b] = true;
    }
    kv->seq_sealed[seq] = kv->seq_len[seq] / kv->cfg.block_tokens;
}

// The cached blocks holding tokens[0, n), up to max_pos positions, in order: their count, and
// their ids into out when out is non-NULL.
static int64_t prefix_walk(const KvCache *kv, const int32_t *tokens, int64_t n, int64_t max_pos, int32_t *out) {
    if (!kv->tok) return 0;
    int64_t bt = kv->cfg.block_tokens, i = 0;
    uint64_t parent = ROOT_HASH;
    for (; (i + 1) * bt <= n && (i + 1) * bt <= max_pos; i++) {
        uint64_t name = block_name(kv, parent, tokens + i * bt);
        int32_t b = find_named(kv, name, parent, tokens + i * bt);
        if (b < 0) break;
        if (out) out[i] = b;
        parent = name;
    }
    return i;
}

int64_t kv_cache_prefix_lookup(const KvCache *kv, const int32_t *tokens, int64_t n, int64_t max_pos) {
    CHECK(n >= 0);
    return prefix_walk(kv, tokens, n, max_pos, NULL) * kv->cfg.block_tokens;
}

int64_t kv_cache_seq_attach(KvCache *kv, int64_t seq, const int32_t *tokens, int64_t n_pos) {
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs && n_pos >= 0 && n_pos <= kv->cfg.max_seq_len);
    CHECK(kv->seq_blocks[seq] == 0 && kv->seq_len[seq] == 0);
    int32_t *table = kv->tables + seq * kv->max_blocks_per_seq;
    int64_t nb = prefix_walk(kv, tokens, n_pos, n_pos, table);
    for (int64_t i = 0; i < nb; i++)
        if (kv->ref[table[i]]++ == 0) lru_remove(kv, table[i]);  // cached → in use again
    kv->seq_blocks[seq] = nb;
    kv->seq_len[seq] = nb * kv->cfg.block_tokens;
    if (kv->seq_sealed) kv->seq_sealed[seq] = nb;
    return kv->seq_len[seq];
}

// ---- storage ----

// Start of the (block_tokens, head_dim) tile of one head, K (sel 0) or V (sel 1), in a block.
static uint8_t *tile_ptr(const KvCache *kv, int32_t block, int64_t layer, int sel, int64_t head) {
    size_t idx = (size_t)block * kv->block_elems +
                 ((size_t)(layer * 2 + sel) * (size_t)kv->cfg.n_kv_head + (size_t)head) * kv->tile_elems;
    return kv->data + idx * kv->elem_bytes;
}

#define KV_PREFETCH_TILES 32  // tiles of K (and of V) kv_cache_attend requests ahead, per head

static int32_t block_of(const KvCache *kv, int64_t seq, int64_t pos) {
    int64_t bi = pos / kv->cfg.block_tokens;
    CHECK(bi < kv->seq_blocks[seq]);
    return kv->tables[seq * kv->max_blocks_per_seq + bi];
}

void kv_cache_write(KvCache *kv, int64_t layer, int64_t seq, int64_t pos, const float *k,
                    const float *v) {
    CHECK(layer >= 0 && layer < kv->cfg.n_layer && seq >= 0 && seq < kv->cfg.max_seqs && pos >= 0);
    int32_t b = block_of(kv, seq, pos);
    size_t slot = (size_t)(pos % kv->cfg.block_tokens) * (size_t)kv->cfg.head_dim * kv->elem_bytes;
    for (int64_t h = 0; h < kv->cfg.n_kv_head; h++) {
        kv->kern->store(tile_ptr(kv, b, layer, 0, h) + slot, k + h * kv->cfg.head_dim, kv->cfg.head_dim);
        kv->kern->store(tile_ptr(kv, b, layer, 1, h) + slot, v + h * kv->cfg.head_dim, kv->cfg.head_dim);
    }
}

void kv_cache_read(const KvCache *kv, int64_t layer, int64_t seq, int64_t pos, int kv_sel,
                   float *out) {
    CHECK(layer >= 0 && layer < kv->cfg.n_layer && seq >= 0 && seq < kv->cfg.max_seqs && pos >= 0);
    CHECK(kv_sel == 0 || kv_sel == 1);
    int32_t b = block_of(kv, seq, pos);
    int64_t hd = kv->cfg.head_dim;
    size_t slot = (size_t)(pos % kv->cfg.block_tokens) * (size_t)hd * kv->elem_bytes;
    for (int64_t h = 0; h < kv->cfg.n_kv_head; h++) {
        const uint8_t *src = tile_ptr(kv, b, layer, kv_sel, h) + slot;
        for (int64_t i = 0; i < hd; i++)
            out[h * hd + i] = kv->cfg.type == QT_F32 ? ((const float *)src)[i]
                                                     : quant_f16_to_f32(((const uint16_t *)src)[i]);
    }
}

// ---- attention ----

void kv_cache_attend(const KvCache *kv, int64_t layer, int64_t seq, int64_t kv_head, int64_t pos0,
                     int64_t n_pos, const float *q, int64_t n_q, float scale, float softcap, float *scores,
                     float *out) {
    CHECK(layer >= 0 && layer < kv->cfg.n_layer && kv_head >= 0 && kv_head < kv->cfg.n_kv_head);
    CHECK(seq >= 0 && seq < kv->cfg.max_seqs && n_pos > 0 && n_pos <= kv->seq_len[seq]);
    CHECK(pos0 >= 0 && pos0 < n_pos);
    int64_t hd = kv->cfg.head_dim, bt = kv->cfg.block_tokens;
    size_t row_bytes = (size_t)hd * kv->elem_bytes;
    const int32_t *table = kv->tables + seq * kv->max_blocks_per_seq;
    // Whole blocks from the one holding pos0: scores[g][t] covers positions base + t.
    int64_t b0 = pos0 / bt, base = b0 * bt, n = n_pos - base, skip = pos0 - base;
    int64_t n_blk = ceil_div(n_pos, bt);

    // A block holds every layer, so one head's tiles are short runs (2 KiB at 16 x 64 F16) far
    // apart, which the hardware prefetcher does not follow: read one after another, a decode
    // step's attention waited on DRAM latency tile by tile. Ask for this head's K and V tiles up
    // front, K first, into L2 (the first KV_PREFETCH_TILES of each: a long context's would not fit
    // there). A decode step's attention on TinyLlama's shape at depth ~160: -11% CPU time.
    for (int sel = 0; sel < 2; sel++)
        for (int64_t bi = b0; bi < n_blk && bi < b0 + KV_PREFETCH_TILES; bi++) {
            const uint8_t *t = tile_ptr(kv, table[bi], layer, sel, kv_head);
            int64_t nt = n_pos - bi * bt < bt ? n_pos - bi * bt : bt;
            for (size_t off = 0; off < (size_t)nt * row_bytes; off += 64) __builtin_prefetch(t + off, 0, 2);
        }

    // scores[g][t] = q_g · k_t, reading each key tile once for all query heads
    for (int64_t bi = b0; bi < n_blk; bi++) {
        const uint8_t *kt = tile_ptr(kv, table[bi], layer, 0, kv_head);
        int64_t t0 = bi * bt, nt = n_pos - t0 < bt ? n_pos - t0 : bt;
        kv->kern->dots(q, n_q, kt, nt, row_bytes, hd, scores + (t0 - base), n);
    }
    // softmax per query head over the window [skip, n): exp((s - max) · scale) / sum (scale > 0,
    // so the raw maximum is the scaled one's); soft-capped scores are scaled first. The masked
    // leading positions get probability 0.
    const VexpKernels *vx = kv->vx;
    for (int64_t g = 0; g < n_q; g++) {
        float *s = scores + g * n + skip, sc = scale;
        int64_t len = n - skip;
        if (softcap > 0) {
            for (int64_t t = 0; t < len; t++) s[t] = softcap * tanhf(s[t] * scale / softcap);
            sc = 1.0f;
        }
        float mx = vx->max(s, len, NULL);
        float inv = (float)(1.0 / vx->exp_sum(s, len, mx, sc, s));
        for (int64_t t = 0; t < len; t++) s[t] *= inv;
        for (int64_t t = 0; t < skip; t++) s[t - skip] = 0.0f;
    }
    // out_g = Σ_t p[g][t] · v_t
    memset(out, 0, (size_t)(n_q * hd) * sizeof(float));
    for (int64_t bi = b0; bi < n_blk; bi++) {
        const uint8_t *vt = tile_ptr(kv, table[bi], layer, 1, kv_head);
        int64_t t0 = bi * bt, nt = n_pos - t0 < bt ? n_pos - t0 : bt;
        kv->kern->axpys(out, n_q, scores + (t0 - base), n, vt, nt, row_bytes, hd);
    }
}
