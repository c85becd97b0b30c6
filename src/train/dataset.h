// dataset.h — training examples as token sequences with a loss mask, and seeded batches.
//
// A JSONL file holds one object per line with "prompt" and "completion" strings: the loss covers
// the completion's tokens (and the end-of-sequence token) only. Any other file is text: each
// non-empty line is one example and the loss covers all of it. Every example starts with the
// vocabulary's BOS token when it has one, as the engine's prompts do.
#ifndef RS_TRAIN_DATASET_H
#define RS_TRAIN_DATASET_H

#include <stdint.h>

#include "engine/tokenizer.h"

typedef struct {
    int32_t *tok;      // all examples' tokens back to back
    uint8_t *loss;     // per token: 1 when the token is a target (predicted from the one before)
    int64_t *start;    // (n + 1) offsets into tok
    int64_t n, n_tokens;
} Dataset;

// Loads and tokenizes path. Returns 0 or a negative Err with the file and line in err.
int dataset_load(Dataset *d, const char *path, const Tokenizer *tok, char *err, size_t err_len);
void dataset_free(Dataset *d);

// Fills a (B, T) batch for step: B examples drawn with a stream seeded by (seed, step) — so a
// resumed run draws what an uninterrupted one would — each truncated or padded to T. tok: inputs,
// tgt: next tokens, mask: 1 where tgt is a target. Returns the number of target tokens.
int64_t dataset_batch(const Dataset *d, uint64_t seed, int64_t step, int64_t B, int64_t T, int32_t *tok,
                      int32_t *tgt, uint8_t *mask);

#endif
