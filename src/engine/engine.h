// engine.h — the CPU inference engine: a Llama-family GGUF model, a paged KV cache shared by many
// sequences, and one batched forward step over rows of different sequences.
//
// One step = one call to engine_forward with rows (seq_id, pos, token, want_logits). Rows may mix
// prefill chunks (several consecutive positions of one sequence) and decode tokens (one position)
// of different sequences; every weight matrix is read once for all rows of the step. A row attends
// to positions 0..pos of its own sequence, including rows of the same step with smaller pos.
//
// KV memory is a pool of fixed-size blocks (kv_block_tokens positions each, all layers) shared by
// all sequences. A sequence holds ceil(len / kv_block_tokens) blocks; it gains blocks as
// engine_forward appends positions and gives them all back with engine_seq_free. A scheduler may
// keep its own block accounting with the same block size: the numbers here are the truth it can
// check against (engine_kv_blocks_free, engine_seq_blocks, engine_kv_blocks_needed).
//
// Threading: one thread (the "engine thread") calls engine_forward, engine_seq_free and the KV
// accounting functions; they are not safe to call concurrently with each other. engine_info and
// engine_tokenizer return data that is immutable after engine_create, so any thread may read them
// at any time. The engine owns a thread pool of n_threads (the engine thread is thread 0).
//
// Ownership: engine_create maps the GGUF file (weights are never copied) and allocates every
// activation and KV buffer once; engine_forward never allocates. Pointers returned by the getters
// live until engine_destroy.
#ifndef RS_ENGINE_H
#define RS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

typedef struct Engine Engine;
typedef struct Tokenizer Tokenizer;  // engine/tokenizer.h

typedef struct {
    int n_threads;            // compute threads; <= 0: one per online core
    int64_t n_ctx;            // max positions per sequence; 0: min(context_length, 4096)
    int64_t kv_block_tokens;  // positions per KV block; 0: 16
    int64_t kv_blocks;        // blocks in the pool; 0: from kv_mem_bytes
    size_t kv_mem_bytes;      // KV budget when kv_blocks == 0; 0: one full n_ctx sequence
    int64_t max_rows;         // max rows per engine_forward (max_num_batched_tokens); 0: 512
    int64_t max_seqs;         // seq_id must be in [0, max_seqs); 0: 64
    QuantType kv_type;        // QT_F16 (default) or QT_F32 storage for K and V
    bool prefix_caching;      // share full KV blocks of common prompt prefixes (default on)
} EngineOptions;

// Fills o with the defaults above (all zero means "default", except kv_type = QT_F16 and
// prefix_caching = true).
void engine_options_default(EngineOptions *o);

typedef struct {
    char arch[32];            // general.architecture ("llama")
    char name[128];           // general.name, or the file's base name when absent
    char quant[16];           // type holding most weight bytes ("q8_0", "f16", ...)
    int64_t n_vocab;          // rows of token_embd; logits have this many floats
    int64_t n_ctx_train;      // llama.context_length
    int64_t n_ctx;            // max positions per sequence in this engine
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int64_t n_params;         // weights in the file
    size_t weight_bytes;      // bytes of tensor data in the file
    int n_threads;
    int64_t max_rows, max_seqs;
    int64_t kv_block_tokens;  // positions per block
    int64_t kv_blocks_total;  // blocks in the pool
    size_t kv_block_bytes;    // bytes one block takes (all layers, K and V)
    QuantType kv_type;
    bool prefix_caching;
    char tokenizer_error[160]; // why engine_tokenizer is NULL ("" when there is one)
} EngineInfo;

// Maps and validates the model at path and allocates everything the engine needs. Returns NULL
// and one line in err when the file is unreadable, not a supported Llama model ("unsupported
// architecture 'gpt2'"), or the options do not fit (e.g. KV budget below one block).
Engine *engine_create(const char *path, const EngineOptions *opt, char *err, size_t err_len);
// Unmaps and frees everything. NULL is a no-op.
void engine_destroy(Engine *e);

// Model and engine facts; immutable, thread-safe, valid until engine_destroy.
const EngineInfo *engine_info(const Engine *e);
// The model's tokenizer (built from the GGUF metadata), or NULL when the file has none usable
// (info->tokenizer_error says why); immutable, thread-safe, valid until engine_destroy.
const Tokenizer *engine_tokenizer(const Engine *e);

// ---- KV block accounting (engine thread only) ----

int64_t engine_kv_block_tokens(const Engine *e);
int64_t engine_kv_blocks_total(const Engine *e);
int64_t engine_kv_blocks_free(const Engine *e);
// Positions cached for seq_id (its next row must have pos == this); 0 for an unknown/free seq.
int64_t engine_seq_len(const Engine *e, int64_t seq_id);
// Blocks seq_id holds now.
int64_t engine_seq_blocks(const Engine *e, int64_t seq_id);
// Extra blocks seq_id needs to grow by n_tokens positions (0 when its last block has room).
int64_t engine_kv_blocks_needed(const Engine *e, int64_t seq_id, int64_t n_tokens);
// True when seq_id can grow by n_tokens: within n_ctx and enough free blocks right now.
bool engine_seq_can_grow(const Engine *e, int64_t seq_id, int64_t n_tokens);
// Drops seq_id's cached positions and returns its blocks to the pool (finished or preempted).
// An unknown or already-free seq_id is a no-op.
void engine_seq_free(Engine *e, int64_t seq_id);

// ---- prefix caching (engine thread only; see kv_cache.h) ----
// Every full block an engine_forward completes is kept by content; a freed sequence's blocks stay
// in the pool as evictable (they count as free) until a block is needed. A new sequence whose
// tokens start with cached blocks attaches them and continues at the first uncached position.

// Positions of tokens[0, n) already cached: a multiple of kv_block_tokens, below n (the last
// token is always computed, for its logits). 0 when prefix caching is off. Changes nothing.
int64_t engine_prefix_lookup(const Engine *e, const int32_t *tokens, int64_t n);
// Gives the free sequence seq_id the cached blocks of tokens[0, n_pos), n_pos from
// engine_prefix_lookup with no engine_forward in between; its length becomes the positions
// attached, which it returns (n_pos in that case).
int64_t engine_seq_attach_prefix(Engine *e, int64_t seq_id, const int32_t *tokens, int64_t n_pos);
// Free blocks that hold a cached prefix (evictable, least recently freed first).
int64_t engine_kv_blocks_cached(const Engine *e);

// ---- the batched forward step (engine thread only) ----

typedef struct {
    int64_t seq_id;     // [0, max_seqs)
    int64_t pos;        // position in the sequence, 0-based
    int32_t token;      // [0, n_vocab)
    bool want_logits;   // copy this row's logits out
} EngineRow;

// Runs rows[0..n_rows) through the model (1 <= n_rows <= max_rows), appends each row's K/V to its
// sequence, and writes n_vocab float logits for every row with want_logits into `logits`, in row
// order: logits must hold (number of rows with want_logits) × n_vocab floats.
// Positions of each sequence must continue it: the rows of one seq_id appear in increasing pos
// order, the first at engine_seq_len(seq_id), each next one +1 (rows of different sequences may
// interleave freely). Everything is checked before anything is computed or changed:
//   ERR_ARG   a seq_id, token or position is out of range or does not continue its sequence,
//             or n_rows is outside [1, max_rows];
//   ERR_RANGE a sequence would exceed n_ctx;
//   ERR_FULL  the free blocks cannot hold every sequence's growth.
// On error nothing changed (no KV written, no block taken) and err says which row failed.
int engine_forward(Engine *e, const EngineRow *rows, int64_t n_rows, float *logits,
                   char *err, size_t err_len);

#endif
