// bert.h — the BERT-family encoder (GGUF general.architecture "bert": bge, e5, all-MiniLM as
// llama.cpp's converter writes them; and "nomic-bert"), turning token ids into one embedding per
// input.
//
// The forward pass is llama.cpp's: x = token_embd[id] + token_types[0] + position_embd[pos]
// (nomic-bert has no position_embd: it rotates q and k with NeoX RoPE instead), LayerNorm with
// bias (token_embd_norm), then per layer, post-norm:
//   q, k, v = x·Wqᵀ + bq, … (nomic-bert: one fused attn_qkv, no biases)
//   x = LayerNorm(x + (softmax(q·kᵀ/√head_dim) · v)·Woᵀ + bo)        attn_output_norm
//   x = LayerNorm(x + FFN(x))                                          layer_output_norm
// where FFN is GELU(x·Wupᵀ + bup)·Wdownᵀ + bdown (bert; GELU's tanh form, as ggml computes it) or
// (SiLU(x·Wgateᵀ) ⊙ x·Wupᵀ)·Wdownᵀ (nomic-bert). Attention is bidirectional within each input and
// never crosses inputs. The per-token states are pooled as <arch>.pooling_type says (1 mean over
// every token, [CLS] and [SEP] included; 2 the first token, [CLS]; 3 the last token) and scaled to
// unit L2 norm. pooling_type 0 (none) and 4 (rank) are refused at load: they do not give one vector
// per input.
// Hyperparameters come from <arch>.embedding_length, block_count, feed_forward_length,
// attention.head_count, attention.layer_norm_epsilon, context_length, pooling_type and (nomic-bert)
// rope.freq_base; weights are WeightViews into the mmap'ed file, multiplied by the engine's
// matmul kernels (any type they support).
#ifndef RS_BERT_H
#define RS_BERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "engine/gguf.h"
#include "engine/matmul.h"

typedef enum {
    BERT_POOL_NONE = 0,  // GGUF's values (llama.cpp's LLAMA_POOLING_TYPE_*)
    BERT_POOL_MEAN = 1,
    BERT_POOL_CLS = 2,
    BERT_POOL_LAST = 3,
    BERT_POOL_RANK = 4,
} BertPooling;

typedef struct {
    int64_t n_vocab, n_embd, n_layer, n_ff, n_head, head_dim;
    int64_t n_ctx_train;    // longest input (position_embd rows for bert)
    int64_t n_token_types;  // rows of token_types
    float norm_eps;         // LayerNorm epsilon
    float rope_base;        // nomic-bert only
    BertPooling pooling;
    bool nomic;             // nomic-bert: fused qkv, SwiGLU, RoPE, no biases but the norms'
} BertHparams;

typedef struct {
    WeightView wq, wk, wv;           // (n_embd, n_embd) each (bert)
    WeightView wqkv;                 // (3*n_embd, n_embd) q rows, k rows, v rows (nomic-bert)
    const float *bq, *bk, *bv;       // (n_embd) each, or NULL (every bias is optional, as in llama.cpp)
    const float *bqkv;               // (3*n_embd) or NULL (nomic-bert)
    WeightView wo;                   // (n_embd, n_embd)
    const float *bo;                 // (n_embd) or NULL
    const float *ln1_w, *ln1_b;      // attn_output_norm (n_embd)
    WeightView w_up, w_gate;         // (n_ff, n_embd); w_gate only for nomic-bert
    const float *b_up;               // (n_ff) or NULL
    WeightView w_down;               // (n_embd, n_ff)
    const float *b_down;             // (n_embd) or NULL
    const float *ln2_w, *ln2_b;      // layer_output_norm (n_embd)
} BertLayer;

typedef struct {
    GgufFile file;                   // the mapping all views point into
    BertHparams hp;
    WeightView tok_embd;             // (n_vocab, n_embd)
    WeightView type_embd;            // (n_token_types, n_embd)
    WeightView pos_embd;             // (n_ctx_train, n_embd); rows == 0 for nomic-bert
    const float *embd_ln_w, *embd_ln_b;  // token_embd_norm (n_embd)
    BertLayer *layers;               // (n_layer)
    float *owned;                    // vectors stored as F16/BF16 in the file, converted to F32
    char arch[32], name[128];
    int64_t n_params;
    size_t weight_bytes;
} BertModel;

// True when the GGUF's general.architecture is one this encoder runs ("bert", "nomic-bert").
bool bert_is_encoder_arch(const GgufFile *f);
// Loads an encoder from path. Returns 0, or a negative Err with one line in err naming the key or
// tensor that is missing or wrong ("tensor 'blk.0.attn_q.bias': shape [...]").
int bert_load(BertModel *m, const char *path, char *err, size_t err_len);
// Unmaps the file and frees what bert_load took. Safe on a zeroed BertModel.
void bert_free(BertModel *m);
// The name of a pooling type ("mean", "cls", "last", "none", "rank").
const char *bert_pooling_name(BertPooling p);

// Activation buffers for up to max_tokens tokens per call (all inputs together), allocated once.
typedef struct BertBuffers BertBuffers;
BertBuffers *bert_buffers_create(const BertModel *m, int64_t max_tokens, int n_threads);
void bert_buffers_destroy(BertBuffers *b);
int64_t bert_buffers_max_tokens(const BertBuffers *b);

// Encodes n_seq inputs in one forward pass: input s is ids[off_s .. off_s + lens[s]) where off_s is
// the sum of the earlier lens. Writes (n_seq, n_embd) unit-norm pooled embeddings to out. The caller
// keeps every lens[s] in 1..n_ctx_train, their sum <= max_tokens and every id in 0..n_vocab-1
// (bert_check_input says which is wrong). Never allocates.
void bert_embed(const BertModel *m, BertBuffers *b, ThreadPool *tp, const int32_t *ids, const int64_t *lens,
                int64_t n_seq, float *out);
// 0 when one input of n ids can be encoded, else ERR_RANGE with the reason in err.
int bert_check_input(const BertModel *m, const int32_t *ids, int64_t n, char *err, size_t err_len);

#endif
