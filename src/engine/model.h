// model.h — decoder-only transformers as GGUF describes them, and their one batched forward pass
// over a paged KV cache.
//
// general.architecture picks a row of ARCH_TRAITS (MODEL_ARCH_NAMES; a Mistral or Mixtral file says
// "llama"): the per-architecture switches of one forward pass, not copies of it.
// Hyperparameters come only from the file's metadata under that prefix (<arch>.embedding_length,
// block_count, feed_forward_length, attention.head_count, attention.head_count_kv,
// attention.key_length, attention.layer_norm_rms_epsilon, context_length, rope.freq_base,
// rope.dimension_count, rope.scaling.type/factor or rope.scale_linear, attention.sliding_window,
// attention.sliding_window_pattern, rope.freq_base_swa, rope.scaling.original_context_length,
// rope.scaling.attn_factor, attn_logit_softcapping, final_logit_softcapping; granite's
// logit_scale, embedding_scale, attention.scale, residual_scale), with llama.cpp's
// defaults where a key is optional. Weights are WeightViews into the mmap'ed file; a fused
// attn_qkv (any arch) or a fused ffn_up holding gate then up (phi3) is viewed as its parts.
// When the chosen matmul kernel set has a packed layout (mm_pack_bytes, matmul.h), model_pack
// copies the quantized matrices once into that layout (one allocation, `packed`) and releases
// their pages of the mapping; token_embd keeps serving embedding lookups from the mapping.
// output.weight absent (always, for gemma2) means the output projection is tied to token_embd.
//
// RoPE: GGUF's `llama` style (mode 0) rotates ADJACENT pairs (x[2i], x[2i+1]); NeoX style (qwen2,
// qwen3, gemma, phi3) rotates (x[i], x[i + n_rot/2]). Either way pair i turns by
// pos · freq_scale · base^(-2i/n_rot) / factor[i], where factor is rope_freqs.weight (Llama 3.1+)
// or phi3's rope_factors_long/short.weight (long when the engine's context exceeds
// rope.scaling.original_context_length), and cos/sin are multiplied by rope.scaling.attn_factor.
// Sliding-window layers attend to the last n_swa positions only (and gemma3's use their own
// RoPE base); the KV cache still keeps every position (masking, not eviction).
#ifndef RS_MODEL_H
#define RS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/kv_cache.h"
#include "engine/matmul.h"

// The architectures the forward pass runs, by general.architecture.
typedef enum {
    ARCH_LLAMA,    // llama (also Mistral, whose files say "llama")
    ARCH_QWEN2,    // q/k/v biases, NeoX RoPE
    ARCH_QWEN3,    // per-head q/k RMSNorm, NeoX RoPE
    ARCH_GEMMA2,   // GeGLU, sqrt(dim) embedding scale, post-norms, soft-capping, SWA every other layer
    ARCH_GEMMA3,   // gemma2 less the soft-caps, plus q/k norm; SWA 5 local : 1 global, own local RoPE base
    ARCH_PHI3,     // fused qkv and gate_up, longrope factors
    ARCH_GRANITE,  // llama with multipliers: embeddings, attention scores, residual branches, logits
    ARCH_QWEN3MOE, // qwen3 with a mixture-of-experts FFN: a router picks expert_used_count of expert_count
    ARCH_GRANITEMOE, // granite with a mixture-of-experts FFN
    ARCH_QWEN2MOE, // qwen2 with a mixture of experts (weights not renormalized) and a gated shared expert
    ARCH_SMOLLM3,  // llama whose every 4th layer has no RoPE (NoPE)
    ARCH_GEMMA,    // Gemma 1 (CodeGemma): GeGLU, sqrt(dim) embedding scale, tied output; no post-norms
    ARCH_GLM4,     // GLM-4-0414: post-norms after both sublayers, fused gate_up, q/k/v biases
    ARCH_OLMO2,    // OLMo 2/3: post-norms only (no pre-norms), whole-vector q/k norms, optional windows
    ARCH_ERNIE4_5, // ERNIE 4.5 (dense): llama's layout
    ARCH_EXAONE,   // EXAONE 3/3.5: llama's layout with NeoX RoPE
    ARCH_OLMOE,    // OLMoE: whole-vector q/k norms and a mixture of experts (weights not renormalized)
    ARCH_QWEN2VL,  // Qwen2-VL/2.5-VL's language model: qwen2 with M-RoPE
    ARCH_QWEN3VL,  // Qwen3-VL's language model: qwen3 with interleaved M-RoPE
    ARCH_QWEN3VLMOE, // Qwen3-VL-30B-A3B's: qwen3moe with interleaved M-RoPE
    ARCH_STARCODER2, // StarCoder2: LayerNorm with biases, biases on every matrix, a plain GELU FFN
    ARCH_STABLELM, // StableLM 2: LayerNorm with biases, partial rotary, SwiGLU
    ARCH_PHI2,     // Phi-2: starcoder2's LayerNorm, biases and GELU FFN, in parallel with attention
    ARCH_COMMAND_R, // Command-R, Aya: LayerNorm without bias, attention and SwiGLU in parallel, logits scaled
    ARCH_COUNT
} ModelArch;

// What sets one architecture apart; ARCH_TRAITS is indexed by ModelArch.
typedef struct {
    const char *name;          // general.architecture
    bool rope_neox;            // rotate (x[i], x[i + n_rot/2]) instead of adjacent pairs
    bool qk_norm;              // attn_q_norm/attn_k_norm: RMSNorm of each head of q and k before RoPE
    bool post_norms;           // post_attention_norm/post_ffw_norm: RMSNorm of each sublayer's output
    bool geglu;                // FFN gelu(gate)·up (tanh approximation) instead of silu(gate)·up
    bool embd_scale;           // token embeddings multiplied by sqrt(n_embd)
    bool fused_gate_up;        // ffn_up is (2·n_ff, n_embd): gate rows then up rows; no ffn_gate
    bool always_tied;          // output.weight is never read: the output projection is token_embd
    bool output_bias;          // output.bias is read when present
    bool window_key;           // reads attention.sliding_window (and applies it)
    int64_t swa_period;        // default sliding-window pattern: layer l is local when l % p < p-1
    int64_t swa_default;       // window when the key is absent (0: no sliding window)
    float attn_softcap;        // default attn_logit_softcapping (0: none, and the key is not read)
    float final_softcap;       // default final_logit_softcapping (0: none)
    bool final_softcap_key;    // reads final_logit_softcapping
    float rope_base_swa;       // default RoPE base of local layers (0: the global one)
    bool swa_unscaled;         // local layers ignore the RoPE scaling factor
    int64_t q_scale_embd_layers; // at this block count q is scaled by 1/sqrt(n_embd/n_head), not 1/sqrt(head_dim)
    bool multipliers;          // reads embedding_scale, attention.scale, residual_scale, logit_scale
    bool moe;                  // FFN of experts: ffn_gate_inp router, ffn_{gate,up,down}_exps (3-D);
                               // llama too when the file has llama.expert_count (Mixtral)
    bool expert_width_key;     // an expert is expert_feed_forward_length wide (else feed_forward_length)
    bool experts_unnormalized; // the chosen experts' weights are their router probabilities as they are
    bool shared_expert;        // always a shared expert (ffn_*_shexp), gated by sigmoid(ffn_gate_inp_shexp·x)
    int64_t no_rope_step;      // layer l rotates no q/k when (l + 1) % step == 0 (0: every layer rotates)
    bool no_pre_norms;         // no attn_norm/ffn_norm: each sublayer reads the residual stream as it is
    bool qk_norm_whole;        // attn_q_norm/attn_k_norm: RMSNorm of all of q (and of k), not per head
    bool mrope;                // multimodal RoPE (rope.dimension_sections), run for text: see mrope_static
    bool mrope_interleaved;    // its sections interleave (qwen3vl) instead of following each other
    bool layer_norm;           // LayerNorm (mean and variance, weight and bias; layer_norm_epsilon)
                               // instead of RMSNorm, and biases on attn_output and the FFN when
                               // the file has them
    bool norm_bias;            // the LayerNorms have biases (attn_norm.bias, ffn_norm.bias, output_norm.bias)
    bool ffn_plain_gelu;       // FFN down(gelu(up x)), no gate
    bool parallel_residual;    // the FFN reads the attention's normed input, x += attn + ffn (no ffn_norm)
    bool logit_multiplier;     // logits multiplied by logit_scale (command-r; granite divides)
} ArchTraits;

extern const ArchTraits ARCH_TRAITS[ARCH_COUNT];
#define MODEL_ARCH_NAMES "llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, granite, qwen3moe, granitemoe, qwen2moe, smollm3, glm4, olmo2, ernie4_5, exaone, olmoe, qwen2vl, qwen3vl, qwen3vlmoe, starcoder2, stablelm, phi2, command-r"
// The architecture named s, or -1.
int model_arch_find(Str s);

typedef struct {
    ModelArch arch;
    int64_t n_vocab, n_embd, n_layer, n_ff;
    int64_t n_head, n_head_kv, head_dim;  // q has n_head*head_dim features, k and v n_head_kv*head_dim
    int64_t n_rot;                        // leading features of each head that RoPE rotates
    int64_t n_ctx_train;
    int64_t n_ctx_orig;                   // rope.scaling.original_context_length (n_ctx_train when absent)
    float rope_base;                      // theta of global layers
    float rope_freq_scale;                // 1 / linear scaling factor (1 when none)
    float rope_base_swa;                  // theta of sliding-window layers
    float rope_freq_scale_swa;            // their scaling (1: gemma3's local layers are not scaled)
    float rope_attn_factor;               // cos/sin multiplier (rope.scaling.attn_factor, 1 when none)
    float norm_eps;                       // RMSNorm epsilon
    float attn_scale;                     // multiplier of q·k before the softmax
    float attn_softcap;                   // scores become c·tanh(s/c) (0: none)
    float final_softcap;                  // logits become c·tanh(l/c) (0: none)
    float embd_scale;                     // token embeddings multiplied by this (1: none)
    float residual_scale;                 // each sublayer's output multiplied by this before its residual add
    float logit_scale;                    // logits divided by this (1: none)
    float logit_multiplier;               // or multiplied by this (command-r; 0: none)
    int64_t n_expert, n_expert_used;      // mixture of experts (0, 0: a dense FFN)
    int64_t n_ff_exp;                     // an expert's FFN width
    bool expert_weights_norm;             // the chosen experts' weights renormalized to sum 1
    int32_t mrope_sections[4];            // M-RoPE's rotated pairs per position component (t, h, w, e)
    int64_t n_ff_shexp;                   // the shared expert's FFN width (0: none)
    int64_t n_swa;                        // sliding window of local layers, in positions (0: none)
    int64_t swa_period;                   // layer l is local when l % p < p - 1 (p = 0: every layer)
    const uint8_t *swa_layers;            // or, when the pattern key is a bool array, (n_layer) flags
} LlamaHparams;

typedef struct {
    const float *attn_norm;          // (n_embd), or NULL (olmo2: no pre-norm)
    WeightView wq;                   // (n_head*head_dim, n_embd)
    WeightView wk, wv;               // (n_head_kv*head_dim, n_embd)
    const float *bq, *bk, *bv;       // (n_head*head_dim), (n_head_kv*head_dim) ×2, or NULL
    const float *q_norm, *k_norm;    // (head_dim) per-head RMSNorm weights ((n_head*head_dim),
                                     // (n_head_kv*head_dim) whole-vector on olmo2), or NULL
    WeightView wo;                   // (n_embd, n_head*head_dim)
    const float *bo;                 // (n_embd) its bias (starcoder2), or NULL
    const float *attn_norm_b, *ffn_norm_b; // (n_embd) LayerNorm biases (starcoder2), or NULL
    const float *b_up, *b_down;      // (n_ff), (n_embd) FFN biases (starcoder2), or NULL
    const float *attn_post_norm;     // (n_embd) or NULL
    const float *ffn_norm;           // (n_embd), or NULL (olmo2)
    WeightView w_gate, w_up;         // (n_ff, n_embd)
    WeightView w_down;               // (n_embd, n_ff)
    const float *ffn_post_norm;      // (n_embd) or NULL
    // Mixture of experts (hp.n_expert > 0; then w_gate/w_up/w_down are empty): the router and
    // each expert's matrices, views into the 3-D ffn_*_exps tensors (expert e: rows e·n_ff_exp..)
    WeightView router;               // (n_expert, n_embd) ffn_gate_inp
    WeightView *exp_gate, *exp_up;   // (n_expert) views of (n_ff_exp, n_embd)
    WeightView *exp_down;            // (n_expert) views of (n_embd, n_ff_exp)
    WeightView sh_gate, sh_up;       // (n_ff_shexp, n_embd) the shared expert, run for every row
    WeightView sh_down;              // (n_embd, n_ff_shexp)
    const float *sh_gate_inp;        // (n_embd) its gate, sigmoid(sh_gate_inp·x) (qwen2moe), or NULL
    bool swa;                        // a sliding-window (local) layer
    bool no_rope;                    // q and k are not rotated in this layer (smollm3's NoPE layers)
} LlamaLayer;

typedef struct {
    GgufFile file;                   // the mapping all views point into
    LlamaHparams hp;
    WeightView tok_embd;             // (n_vocab, n_embd) — rows are token embeddings
    LlamaLayer *layers;              // (n_layer)
    const float *output_norm;        // (n_embd)
    const float *output_norm_b;      // (n_embd) its LayerNorm bias, or NULL
    WeightView output;               // (n_vocab, n_embd); token_embd when tied
    const float *output_b;           // (n_vocab) or NULL
    const float *rope_freqs;         // (n_rot/2) frequency divisors, or NULL
    const float *rope_long, *rope_short; // (n_rot/2) phi3 longrope divisors, or NULL
    float *owned;                    // vectors stored as F16/BF16 in the file, converted to F32
    WeightView *experts;             // every layer's expert views (3 · n_expert per layer), or NULL
    void *packed;                    // the packed copies of the matrices (NULL when none)
    size_t packed_bytes;
    char arch[32], name[128], quant[16];
    int64_t n_params;
    size_t weight_bytes;
} Model;

// Opens path and loads a model of any architecture in ARCH_TRAITS from it. Returns 0, or a negative
// Err with one line in err ("unsupported architecture 'gpt2' (supported: llama, ...)",
// "tensor 'blk.3.attn_k.weight': shape ...").
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
