// model_check.h — everything in a GGUF file that this engine cannot run, reported at once, so a
// user learns from one attempt all that stands between the file and the engine (the loader calls
// it before it reads any weight).
#ifndef RS_MODEL_CHECK_H
#define RS_MODEL_CHECK_H

#include <stddef.h>

#include "engine/gguf.h"

// 0 when the file's tensor types are all supported and arch_error is NULL. Otherwise ERR_UNSUPP
// with one message naming, in this order: arch_error (the loader's words about the architecture,
// NULL when it is supported), every unsupported tensor type with its tensor count and the first
// tensor names, and the tokenizer's own error when the file has one the engine cannot build.
int model_check_support(const GgufFile *f, const char *arch_error, char *err, size_t err_len);

#endif
