// synth_bert.h — random-weight BERT-family encoders for tests and speed measurements.
//
// The file carries the metadata keys and tensor names llama.cpp's converter writes for a `bert`
// (bge, e5, all-MiniLM) or `nomic-bert` model, and copies a WordPiece vocabulary (every
// tokenizer.* key) from another GGUF, so both our encoder and llama.cpp load it. Weights are
// seeded and deterministic per (seed, tensor name, row), as in synth.h: matrices N(0, init_std²)
// (attn_q/k, or the fused attn_qkv, further × qk_scale), norm weights 1 + N(0, 0.02²), biases
// N(0, 0.1²); vectors are F32, token_types F32 (llama.cpp adds its row as f32), the
// token and position tables F32 (F16/BF16 in F16/BF16 files), the multiplied
// matrices in the chosen type. LayerNorm epsilon 1e-12, as BERT's.
#ifndef RS_SYNTH_BERT_H
#define RS_SYNTH_BERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"
#include "engine/synth.h"

typedef struct {
    bool nomic;              // nomic-bert (fused qkv, SwiGLU, RoPE) instead of bert
    int64_t dim, n_layers, n_heads, ffn;
    int64_t ctx;             // context_length (position_embd rows for bert)
    int64_t vocab;           // set from the vocabulary file
    int pooling;             // 1 mean, 2 cls, 3 last (bert.h's BertPooling)
    QuantType type;          // the multiplied matrices
    uint64_t seed;
    float init_std, qk_scale;// 0 → 0.02, 1
    const char *name;        // general.name; NULL → "synth-bert"
    const char *vocab_path;  // required: a GGUF with a tokenizer.ggml.model "bert" vocabulary
} SynthBertOptions;

// Writes the model to path (via path.tmp). Returns 0 or a negative Err with a one-line message;
// *vocab_out (may be NULL) gets the token count.
int synth_bert_write(const SynthBertOptions *o, const char *path, int64_t *vocab_out, char *err, size_t err_len);
// Parameter count of the model o describes with vocab tokens.
int64_t synth_bert_params(const SynthBertOptions *o, int64_t vocab);

#endif
