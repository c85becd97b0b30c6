// model.h — the Llama architecture as GGUF describes it (general.architecture = "llama"), and its
// batched forward pass over a paged KV cache.
//
// Hyperparameters come only from the file's metadata (llama.embedding_length, block_count,
// feed_forward_length, attention.head_count, attention.head_count_kv, attention.key_length,
// attention.layer_norm_rms_epsilon, context_length, rope.freq_base, rope.dimension_count,
// rope.scaling.type/factor or rope.scale_linear); weights are WeightViews into the mmap'ed file.
// When the chosen matmul kernel set has a packed layout (mm_pack_bytes, matmul.h), model_pack
// copies the quantized matrices once into that layout (one allocation, `packed`) and releases
// their pages of the mapping; token_embd keeps serving embedding lookups from the mapping.
// output.weight absent means the output projection is tied to token_embd.
// RoPE is GGUF's `llama` style ("normal", mode 0): it rotates ADJACENT pairs (x[2i], x[2i+1])
// by pos · base^(-2i/n_rot) (divided by the linear scaling factor and by rope_freqs[i] when the
// file has a rope_freqs.weight tensor, as Llama 3.1+ files do).
#ifndef RS_MODEL_H
#define RS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/kv_cache.h"
#include "engine/matmul.h"

typedef struct {
    int64_t n_vocab, n_embd, n_layer, n_ff;
    int64_t n_head, n_head_kv, head_dim;  // q has n_head*head_dim features, k and v n_head_kv*head_dim
    int64_t n_rot;                        // leading features of each head that RoPE rotates
    int64_t n_ctx_train;
    float rope_base;                      // theta
    float rope_freq_scale;                // 1 / linear scaling factor (1 when none)
    float norm_eps;                       // RMSNorm epsilon
} LlamaHparams;

typedef struct {
    const float *attn_norm;          // (n_embd)
    WeightView wq;                   // (n_head*head_dim, n_embd)
    WeightView wk, wv;               // (n_head_kv*head_dim, n_embd)
    WeightView wo;                   // (n_embd, n_head*head_dim)
    const float *ffn_norm;           // (n_embd)
    WeightView w_gate, w_up;         // (n_ff, n_embd)
    WeightView w_down;               // (n_embd, n_ff)
} LlamaLayer;

typedef struct {
    GgufFile file;                   // the mapping all views point into
    LlamaHparams hp;
    WeightView tok_embd;             // (n_vocab, n_embd) — rows are token embeddings
    LlamaLayer *layers;              // (n_layer)
    const float *output_norm;        // (n_embd)
    WeightView output;               // (n_vocab, n_embd); token_embd when tied
    const float *rope_freqs;         // (n_rot/2) frequency divisors, or NULL
    float *owned;                    // norms stored as F16/BF16 in the file, converted to F32
    void *packed;                    // the packed copies of the matrices (NULL when none)
    size_t packed_bytes;
    char arch[32], name[128], quant[16];
    int64_t n_params;
    size_t weight_bytes;
} Model;

// Opens path and loads a Llama model from it. Returns 0, or a negative Err with one line in err
// ("unsupported architecture 'gpt2' (only llama)", "tensor 'blk.3.attn_k.weight': shape ...").
int model_load(Model *m, const char *path, char *err, size_t err_len);
// The same over caller-owned GGUF bytes (tests, fuzzing); data must outlive m.
int model_load_mem(Model *m, const void *data, size_t size, char *err, size_t err_len);
// Packs the multiplied matrices for the chosen kernel set (see the top; the engine calls it once
// after load), split over tp's threads; a no-op when the set has no packed layout or when packed
// already. Without it the model runs from the file's layout, only slower. Returns 0 or ERR_NOMEM.
int model_pack(Model *m, ThreadPool *tp, char *err, size_t err_len);
// Unmaps the file and frees what model_load took. Safe on a zeroed Model.
void model_free(Model *m);

// Activation buffers for up to max_rows rows per step, allocated once (one allocation carved by a
// table of sizes) and reused by every model_forward.
typedef struct ModelBuffers ModelBuffers;
ModelBuffers *model_buffers_create(const Model *m, int64_t max_rows, int64_t n_ctx, int n_threads);
void model_buffers_destroy(ModelBuffers *b);

// One batched forward step. The caller (engine.c) has validated rows, reserved KV blocks for
// them and set each sequence's KV length to include them. Writes every row's K/V into kv and
// (n rows with want_logits, n_vocab) logits in row order. Never allocates.
void model_forward(const Model *m, ModelBuffers *b, KvCache *kv, ThreadPool *tp,
                   const EngineRow *rows, int64_t n_rows, float *logits);

#endif
