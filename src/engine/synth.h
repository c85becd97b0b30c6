// synth.h — random-weight GGUF models of every architecture the engine runs (llama, qwen2, qwen3,
// gemma2, gemma3, phi3), for tests, benchmarks and for measuring a model's speed before
// downloading its weights.
//
// A synthesized file carries exactly the metadata keys and tensor names llama.cpp's converter
// writes for that architecture (and no other tensor, since llama.cpp refuses extra ones), so both
// our engine and llama.cpp load it. Per architecture, beyond Llama's tensors: qwen2 q/k/v biases;
// qwen3 and gemma3 attn_q_norm/attn_k_norm; gemma2/3 post_attention_norm and post_ffw_norm (and
// gemma2 never an output.weight); phi3 a fused attn_qkv, a fused ffn_up (gate rows then up rows)
// and rope_factors_long/short. Weights are seeded and deterministic:
// every row of every tensor draws from its own xoshiro stream seeded by (seed, tensor name, row),
// so the same seed gives the same floats whatever the output type or thread count — a Q8_0 file
// and an F32 file of one seed hold the same model up to quantization error.
//
//   matrices (attn_q/k/v/output, ffn_gate/up/down, token_embd, output): N(0, init_std²), std 0.02
//     as in GPT-2/Llama initialisation; attn_q and attn_k are further multiplied by qk_scale
//     (larger values make attention far from uniform, which tests of RoPE/attention need);
//   norms (attn_norm, ffn_norm, output_norm, q/k and post norms): 1 + N(0, 0.02²), always F32
//     (Gemma's GGUF norms hold 1 + w already: llama.cpp's converter adds the 1);
//   biases: N(0, 0.1²), F32; phi3 RoPE factors: 1 + |N(0, 2²)|, F32.
#ifndef RS_SYNTH_H
#define RS_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "base/threadpool.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/quant.h"

typedef struct {
    const char *name;   // "tiny", "110m", ...; NULL for explicit dimensions
    int64_t dim;        // embedding length
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t ffn;        // feed-forward hidden length
    int64_t vocab;
    int64_t ctx;        // context length
    float rope_theta;
    float rms_eps;
    bool tied;          // output.weight absent: the output projection reuses token_embd
} SynthShape;

extern const SynthShape SYNTH_SHAPES[];
extern const size_t SYNTH_N_SHAPES;

// The named shape, or NULL.
const SynthShape *synth_shape_find(const char *name);
// Checks a shape for the given weight types; 0 or ERR_ARG with a message saying what to change.
int synth_shape_check(const SynthShape *s, QuantType type, QuantType output_type, char *err, size_t err_len);
// Parameter count of a llama model of that shape (every tensor, norms included).
int64_t synth_shape_params(const SynthShape *s);

// The multipliers a synthesized granite model carries (granite-3.x-like; its attention.scale is
// 1/head_dim, as Granite 3.x's 1/128 at head_dim 128).
#define SYNTH_GRANITE_EMBEDDING_SCALE 12.0f
#define SYNTH_GRANITE_RESIDUAL_SCALE 0.22f
#define SYNTH_GRANITE_LOGIT_SCALE 8.0f
// A synthesized mixture's default expert count and experts per token (--experts, --experts-used);
// each expert's FFN is the shape's ffn wide.
#define SYNTH_MOE_EXPERTS 8
#define SYNTH_MOE_USED 2

typedef void (*SynthProgressFn)(void *ctx, uint64_t done_bytes, uint64_t total_bytes, const char *tensor);

typedef struct {
    SynthShape shape;
    ModelArch arch;           // general.architecture (ARCH_LLAMA when zeroed)
    int64_t sliding_window;   // attention.sliding_window: 0 → gemma2 4096, none elsewhere (phi3 and
                              // llama write it only when set)
    float attn_softcap;       // gemma2 attn_logit_softcapping (0 → 50)
    float final_softcap;      // gemma2/3 final_logit_softcapping (0 → 30 on gemma2, absent on gemma3)
    float rope_attn_factor;   // phi3 rope.scaling.attn_factor (0 → absent)
    int64_t n_expert;         // expert_count of qwen3moe/granitemoe (0 → SYNTH_MOE_EXPERTS); on
                              // llama, > 0 makes a Mixtral-style mixture
    int64_t n_expert_used;    // expert_used_count (0 → SYNTH_MOE_USED)
    int64_t n_ff_shexp;       // a shared expert's width (0: qwen2moe 4 x ffn, none elsewhere)
    int64_t rope_dim;         // rope.dimension_count: leading features of a head RoPE turns (0: all)
    QuantType type;           // matrices and token_embd
    QuantType output_type;    // output.weight (ignored when tied)
    uint64_t seed;
    float init_std;           // 0 → 0.02
    float qk_scale;           // 0 → 1
    const char *name;         // general.name; NULL → "synth-<shape>"
    const char *vocab_path;   // copy every tokenizer.* key from this GGUF (vocab then comes from it)
    const char *chat_template;// family name (see synth_chat_template) or NULL
    ThreadPool *pool;         // NULL → the calling thread only
    SynthProgressFn progress; // called after each chunk of tensor data; may be NULL
    void *progress_ctx;
} SynthOptions;

// Parameter count of the model o describes (its architecture's tensors).
int64_t synth_params(const SynthOptions *o);

// Writes the model to path (via path.tmp, renamed on success), streaming tensor by tensor so
// memory stays bounded (~64 MB of floats) whatever the model size. Returns 0 or a negative Err
// with a one-line message. When vocab_path is set, o->shape.vocab is ignored (the file's token
// count is used); `vocab_out` (may be NULL) receives the vocab size written.
int synth_write(const SynthOptions *o, const char *path, int64_t *vocab_out, char *err, size_t err_len);

// ---- tokenizer (synth_vocab.c) ----

// Sets the keys of a synthetic SentencePiece-style `llama` vocabulary of exactly n tokens
// (n >= 259): <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then pieces by decreasing
// score. Returns 0, ERR_ARG (n too small) or ERR_NOMEM.
int synth_vocab_set(GgufWriter *w, int64_t n);
// Copies every tokenizer.* key of the GGUF at path into w; *n_vocab = its token count.
int synth_vocab_copy(GgufWriter *w, const char *path, int64_t *n_vocab, char *err, size_t err_len);
// The chat template a model family ships ("llama2", "llama3", "chatml", "zephyr", "mistral"),
// or NULL for an unknown name. synth_chat_template_names lists the names, comma-separated.
const char *synth_chat_template(const char *family);

// The seed of one tensor's random stream: a hash of (seed, tensor name), so a tensor's values do
// not depend on which other tensors a file holds (synth.c and synth_bert.c both draw from it).
uint64_t synth_stream_seed(uint64_t seed, const char *name);
// Fills x[0..n) with N(mean, std²) draws: Box–Muller, both values of each pair used.
void synth_fill_normal(Rng *r, float *x, int64_t n, float mean, float std);
extern const char *const synth_chat_template_names;

#endif
