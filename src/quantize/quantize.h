// quantize.h — convert a GGUF model's weights to another file type, choosing each tensor's type
// as llama.cpp's llama-quantize does (mix.h) and quantizing with its reference quantizers
// (qref.h), so the output is llama-quantize's file byte for byte (no importance matrix).
//
// File types (llama.cpp's LLAMA_FTYPE_* numbering, stored as general.file_type): f32, f16, bf16,
// q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s,
// q5_k_m, q6_k. Tensors are written in llama.cpp's order: non-layer tensors by name, then
// blk.0.*, blk.1.*, ... by name; metadata is copied in order, then general.quantization_version
// (2) and general.file_type are appended; general.alignment (default 32) pads every tensor.
#ifndef RS_QUANTIZE_H
#define RS_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"
#include "quantize/mix.h"

typedef struct {
    const QuantizeFtype *ftype;
    int output_type;          // -1: llama.cpp's choice; else a QuantType for the output tensor
    bool allow_requantize;    // allow quantized inputs (quality loss compounds)
    int n_threads;            // conversion threads: 0 = one per core, 1 = the calling thread only
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
