// llama_quantize.c — calls llama.cpp's own quantizer (llama_model_quantize, the function behind
// its llama-quantize tool) from the prebuilt libllama that the node-llama-cpp npm package ships,
// so tests can compare `rightsize quantize` with it byte for byte. Built by
// tests/e2e/quantize_llamacpp.py against the llama.h of the same release.
//
// usage: llama_quantize BACKEND_DIR IN.gguf OUT.gguf FTYPE [OUTPUT_GGML_TYPE]
#include <stdio.h>
#include <stdlib.h>

#include "ggml-backend.h"
#include "llama.h"

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: llama_quantize BACKEND_DIR IN.gguf OUT.gguf FTYPE [OUTPUT_GGML_TYPE]\n");
        return 2;
    }
    ggml_backend_load_all_from_path(argv[1]);
    llama_backend_init();
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = (enum llama_ftype)atoi(argv[4]);
    p.nthread = 1;
    if (argc == 6) p.output_tensor_type = (enum ggml_type)atoi(argv[5]);
    uint32_t rc = llama_model_quantize(argv[2], argv[3], &p);
    llama_backend_free();
    return rc == 0 ? 0 : 1;
}
