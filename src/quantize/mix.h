// mix.h — which type each tensor gets for a file type, as llama.cpp's llama-quantize decides
// (its llama_tensor_get_type, no importance matrix, no per-tensor overrides).
//
// A "mix" such as Q4_K_M is a default type (Q4_K) plus rules by tensor role and layer:
//   * output.weight (or token_embd.weight when the output is tied to it): Q6_K, or Q8_0 when its
//     rows are not a multiple of the default type's block (and always for falcon);
//   * attn_v (and fused attn_qkv): Q4_K_M/Q5_K_M give Q6_K to the layers use_more_bits picks
//     (the first and last eighth, and every third in between); Q4_K_S gives Q5_K to the first 4;
//     Q3_K_M gives Q5_K to the first 2 and Q4_K to the rest; Q3_K_L Q5_K; Q2_K Q3_K (Q4_K when
//     n_head/n_head_kv >= 4); IQ4_NL Q5_K when n_head/n_head_kv >= 4; 80-layer llama/qwen2
//     ("70B") lift Q3_K/Q4_K to Q5_K;
//   * ffn_down: Q4_K_M/Q5_K_M Q6_K on use_more_bits layers; Q4_K_S Q5_K on the first eighth;
//     Q3_K_M Q5_K on the first sixteenth, Q4_K elsewhere; Q3_K_L Q5_K; Q2_K Q3_K; IQ4_NL Q5_K
//     on the first eighth (falcon has its own rules, followed here too);
//   * attn_output: Q2_K Q3_K, Q3_K_M Q4_K, Q3_K_L Q5_K;
//   * then the fallback for rows a block does not divide: Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0,
//     Q5_K -> Q5_1, Q6_K -> Q8_0, and F16 when 32 does not divide them either;
//   * tensors llama.cpp never quantizes (1-D tensors, norms, MoE gates, position embeddings...)
//     keep their type; float file types convert every other weight.
// Layer counters advance in llama.cpp's tensor order (quantize.c sorts into it), so the types
// must be asked for in that order. Mixture-of-experts models are refused.
#ifndef RS_QUANTIZE_MIX_H
#define RS_QUANTIZE_MIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/quant.h"

typedef struct {
    const char *name;      // "q4_k_m", as llama-quantize accepts it (case-insensitive)
    uint32_t ftype;        // llama.cpp's LLAMA_FTYPE_* value, written as general.file_type
    QuantType type;        // the default type (what most weights get)
} QuantizeFtype;

// Per-file state of the rules: model shape and the running layer counters.
typedef struct {
    const QuantizeFtype *ft;
    int output_type;               // -1: the rule above; else a QuantType for the output tensor
    bool falcon, is_70b, tied;
    int64_t n_layer, n_gqa;        // block_count; head_count / head_count_kv (0 when unknown)
    int64_t n_expert;              // expert_count (0: a dense model)
    int n_attn_v, i_attn_v, i_ffn_down;
} QuantizeMix;

// The file type named name (case-insensitive), or NULL; quantize_ftype_names lists them all.
const QuantizeFtype *quantize_ftype_by_name(const char *name);
const char *quantize_ftype_names(void);

// Dimensions as GGML counts them (up to the last one above 1).
uint32_t quantize_tensor_dims(const GgufTensor *t);

// Reads the shape the rules need from f. Returns 0 or a negative Err with one line in err.
int quantize_mix_init(QuantizeMix *m, const GgufFile *f, const QuantizeFtype *ft, int output_type, char *err,
                      size_t err_len);
// The type tensor t gets (call once per tensor, in llama.cpp's order: it advances the counters).
QuantType quantize_mix_type(QuantizeMix *m, const GgufTensor *t);

#endif
