// kv_cache.h — paged key/value cache: fixed-size blocks shared by all sequences.
//
// The pool holds n_blocks blocks; a block stores block_tokens consecutive positions of one
// sequence for every layer, K and V. Layout of one block (elements of `type`, F16 or F32):
//
//   block b: [layer][K|V][kv_head][token in block][head_dim]
//
// so the keys of one head inside a block are one contiguous (block_tokens, head_dim) tile — the
// attention loop streams them. Each sequence has a block table (its blocks in position order)
// and a length; position p lives in table[p / block_tokens], slot p % block_tokens. Free blocks
// sit on a stack (LIFO), so a freed block is the next one handed out.
//
// Prefix caching (cfg.prefix_caching, vLLM's automatic prefix caching): every full block of a
// sequence is named by a hash chained over (the previous block's hash, the block's token ids),
// and the first block with a given name is registered in a table. Blocks are reference-counted:
// a sequence that frees a registered block leaves it in the pool, on an LRU list of evictable
// blocks (ref 0), and a new sequence whose first tokens match registered blocks takes them
// (ref++, kv_cache_seq_attach) and computes only the rest. Only full blocks are ever shared and
// a full block is never written again, so no copy-on-write is needed; K is stored after RoPE at
// the same absolute positions (a prefix always starts at 0), so a shared block is exactly what
// the sequence would have computed. Free blocks = never-named free blocks + evictable cached
// ones; reserve takes a never-named one first, else evicts the least recently freed cached one.
// A match compares the parent hash and every token id, not only the 64-bit name.
//
// Not thread-safe for mutation (reserve, set_len, seq_free, write): one thread owns those. Reads
// (kv_cache_attend) of different sequences/heads may run in parallel with each other.
#ifndef RS_KV_CACHE_H
#define RS_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

typedef struct KvCache KvCache;

typedef struct {
    int64_t n_layer, n_kv_head, head_dim;
    int64_t block_tokens;   // positions per block (> 0)
    int64_t n_blocks;       // blocks in the pool (> 0)
    int64_t max_seqs;       // seq ids in [0, max_seqs)
    int64_t max_seq_len;    // positions one sequence may hold (n_ctx)
    QuantType type;         // QT_F16 or QT_F32
    bool prefix_caching;    // keep and share full blocks by content (see above)
} KvCacheConfig;

// Bytes of one block for cfg (all layers, K and V); 0 when cfg is invalid or overflows.
size_t kv_cache_block_bytes(const KvCacheConfig *cfg);
// Allocates the pool and the block tables. NULL when cfg is invalid or memory is short.
KvCache *kv_cache_create(const KvCacheConfig *cfg);
void kv_cache_destroy(KvCache *kv);

int64_t kv_cache_blocks_total(const KvCache *kv);
// Blocks a reserve can take: never-named free blocks plus evictable cached ones.
int64_t kv_cache_blocks_free(const KvCache *kv);
// Of the free blocks, those holding a cached prefix block (ref 0, evicted LRU-first).
int64_t kv_cache_blocks_cached(const KvCache *kv);
int64_t kv_cache_seq_len(const KvCache *kv, int64_t seq);
int64_t kv_cache_seq_blocks(const KvCache *kv, int64_t seq);
// Extra blocks seq needs to hold new_len positions (0 when it already holds enough).
int64_t kv_cache_blocks_needed(const KvCache *kv, int64_t seq, int64_t new_len);

// Makes seq hold blocks for new_len positions (its length is unchanged). ERR_RANGE when new_len
// exceeds max_seq_len, ERR_FULL when the pool is short — in both cases nothing changes.
int kv_cache_reserve(KvCache *kv, int64_t seq, int64_t new_len);
// Sets seq's length (positions written); its blocks must already cover len.
void kv_cache_set_len(KvCache *kv, int64_t seq, int64_t len);
// Returns every block of seq to the pool and sets its length to 0 (with prefix caching, named
// blocks whose last user this was go to the evictable LRU, last block first).
void kv_cache_seq_free(KvCache *kv, int64_t seq);

// ---- prefix caching (no-ops returning 0 when cfg.prefix_caching is off) ----

// Records the token id at position pos of seq (pos must be covered by seq's blocks); the engine
// calls it for every position it writes, before kv_cache_seal.
void kv_cache_set_token(KvCache *kv, int64_t seq, int64_t pos, int32_t token);
// Names every block of seq that is now full (positions [0, seq_len) written) and registers it
// when no block with that content is registered yet.
void kv_cache_seal(KvCache *kv, int64_t seq);
// Positions of tokens[0, n) found cached: a multiple of block_tokens, at most max_pos. No change.
int64_t kv_cache_prefix_lookup(const KvCache *kv, const int32_t *tokens, int64_t n, int64_t max_pos);
// Gives the empty sequence seq the cached blocks of its first `n_pos` tokens (n_pos as returned by
// kv_cache_prefix_lookup for the same tokens, with no reserve in between) and sets its length to
// n_pos. Returns the positions attached (n_pos, or fewer when blocks were evicted meanwhile).
int64_t kv_cache_seq_attach(KvCache *kv, int64_t seq, const int32_t *tokens, int64_t n_pos);

// Stores K and V of one position: k, v are (n_kv_head * head_dim) floats. pos must be covered by
// seq's reserved blocks.
void kv_cache_write(KvCache *kv, int64_t layer, int64_t seq, int64_t pos, const float *k,
                    const float *v);

// Causal attention for one KV head and the n_q query heads that share it (grouped-query):
//   q:      (n_q, head_dim)    queries, already rotated
//   out:    (n_q, head_dim)    softmax(s) · v over positions [pos0, n_pos) of seq, where
//                              s = q·kᵀ · scale, or softcap · tanh(q·kᵀ · scale / softcap) when
//                              softcap > 0 (Gemma 2's attention logit soft-capping)
//   scores: (n_q, n_pos)       caller's scratch
// pos0 > 0 is a sliding window (the positions before it are masked out). n_pos must be covered by
// seq's blocks and written. Reads each key and value once for all n_q.
void kv_cache_attend(const KvCache *kv, int64_t layer, int64_t seq, int64_t kv_head, int64_t pos0,
                     int64_t n_pos, const float *q, int64_t n_q, float scale, float softcap, float *scores,
                     float *out);

// Reads back K (kv = 0) or V (kv = 1) of one position as floats (head-major, n_kv_head*head_dim);
// for tests and debugging.
void kv_cache_read(const KvCache *kv, int64_t layer, int64_t seq, int64_t pos, int kv_sel,
                   float *out);

#endif
