// embed_service.h — `/v1/embeddings` for a worker started on an encoder (bert, nomic-bert).
//
// The request is OpenAI's: "input" is a string, an array of strings, an array of token ids, or an
// array of such arrays; "encoding_format" is "float" (default) or "base64" (the little-endian
// float32 bytes, base64-encoded); "model" must name the served model when given. Strings get
// [CLS] ... [SEP] as the vocabulary says; token ids are used as they are. The answer is
// {"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],"model":...,
//  "usage":{"prompt_tokens":N,"total_tokens":N}}.
//
// Batching: HTTP threads parse and tokenize, then queue the request and wait for it. One encoder
// thread takes everything that is waiting (whole requests, up to max_tokens tokens together) into
// one forward pass, so concurrent requests share the matrix products. A request waits at most one
// pass behind another; an input longer than the model's context is a 400 naming "input".
#ifndef RS_EMBED_SERVICE_H
#define RS_EMBED_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "serve/openai_err.h"

typedef struct EmbedService EmbedService;

// Loads the encoder and its tokenizer from model_path and starts the encoder thread with n_threads
// compute threads (<= 0: one per core) and room for max_tokens tokens per pass (at least the model's context). NULL
// with a message on failure.
EmbedService *embed_service_create(const char *model_path, int n_threads, int64_t max_tokens, char *err,
                                   size_t err_len);
// Stops the encoder thread (requests still queued get a 503) and frees everything. NULL is a no-op.
void embed_service_destroy(EmbedService *s);
// True when the GGUF at path is an encoder this service runs (general.architecture bert or
// nomic-bert); false when it is not or cannot be read.
bool embed_service_is_encoder(const char *path);
// The model's general.name, context length, embedding width, parameter count and weight type.
const char *embed_service_name(const EmbedService *s);
int64_t embed_service_n_ctx(const EmbedService *s);
int64_t embed_service_dim(const EmbedService *s);
int64_t embed_service_n_params(const EmbedService *s);

// Answers one request body: 0 with the JSON answer appended to out, or -1 with e filled (400 for a
// bad field, naming it; 503 while stopping). model_name is the served name. Blocks the calling
// thread until its batch has run.
int embed_service_handle(EmbedService *s, const char *model_name, const char *body, size_t len, Buf *out,
                         OaiError *e);

#endif
