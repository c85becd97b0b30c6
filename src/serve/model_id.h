// model_id.h — what a model file says it is, for telemetry and metrics: its quantization (from
// the GGUF header's general.file_type, else the type holding most bytes of its 2-D weights, not
// from the file name), its version (general.version) and a content digest (sha256 of the file).
#ifndef RS_MODEL_ID_H
#define RS_MODEL_ID_H

#include <stddef.h>

typedef struct {
    char quantization[24];   // "q8_0", "q4_k_m", "f16", ... ("" when unknown)
    char version[64];        // general.version ("" when absent)
    char digest[80];         // "sha256:<64 hex>" ("" when not computed)
} ModelId;

// Reads path's GGUF header and hashes the file. 0, or an Err with a message naming the file.
int model_id_read(const char *path, ModelId *out, char *err, size_t err_len);
// llama.cpp's name of a general.file_type value ("q4_k_m"), or NULL when unknown.
const char *model_id_ftype_name(unsigned ftype);

#endif
