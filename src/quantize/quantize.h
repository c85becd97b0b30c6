// quantize.h — convert a GGUF model's weights to another type, choosing each tensor's type the
// way llama.cpp's llama-quantize does, so the output matches its file byte for byte.
//
// File type ("ftype", llama.cpp's LLAMA_FTYPE_* numbering, stored as general.file_type):
//   f32 (0), f16 (1), q4_0 (2), q8_0 (7), bf16 (32).
// Which tensors change (llama.cpp's rules for these types):
//   * only tensors with >= 2 dimensions whose name ends in "weight", except norms
//     ("*_norm.weight"), MoE gates (ffn_gate_inp), position/token-type embeddings, conv1d and
//     relative-position biases — those keep their type;
//   * float targets: every such tensor becomes the target type;
//   * quantized targets: output.weight (or token_embd.weight when the output is tied to it) gets
//     Q6_K when its rows are a multiple of 256 (else Q8_0), unless --output-type names a type;
//     a tensor whose row length is not a multiple of the block size becomes F16.
// Every tensor is converted with the engine's reference quantizers (quant_quantize_row), which
// equal ggml's for F16/BF16/Q8_0/Q4_0; its Q6_K is not llama.cpp's search, so a Q6_K output.weight
// is the one tensor that can differ from llama-quantize's file.
// Tensors are written in llama.cpp's order: non-layer tensors by name, then blk.0.*, blk.1.*, ...
// by name; metadata is copied in order, then general.quantization_version (2) and
// general.file_type are appended; general.alignment (default 32) pads every tensor.
#ifndef RS_QUANTIZE_H
#define RS_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

typedef struct {
    const char *name;      // "q4_0", as llama-quantize accepts it (case-insensitive)
    uint32_t ftype;        // llama.cpp's LLAMA_FTYPE_* value
    QuantType type;        // the type most weights get
} QuantizeFtype;

// The file type named name (case-insensitive: "Q4_0", "q8_0", "F16", ...), or NULL.
const QuantizeFtype *quantize_ftype_by_name(const char *name);
// Names of all file types this build can write, comma-separated, for error messages.
const char *quantize_ftype_names(void);

typedef struct {
    const QuantizeFtype *ftype;
    int output_type;          // -1: llama.cpp's choice; else a QuantType for the output tensor
    bool allow_requantize;    // allow quantized inputs (quality loss compounds)
    // Called once per tensor before it is written (may be NULL).
    void (*progress)(void *ctx, int64_t i, int64_t n, const char *name, QuantType from, QuantType to,
                     const int64_t *ne);
    void *progress_ctx;
} QuantizeOptions;

typedef struct {
    int64_t n_tensors, n_quantized;
    size_t bytes_in, bytes_out;   // tensor data only
} QuantizeStats;

// Reads in_path, writes out_path (through a temporary file renamed at the end). Refuses when
// out_path is the same file as in_path. Returns 0 or a negative Err with one line in err.
int quantize_file(const char *in_path, const char *out_path, const QuantizeOptions *opt,
                  QuantizeStats *stats, char *err, size_t err_len);

#endif
