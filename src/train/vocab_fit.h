// vocab_fit.h — a small SentencePiece-style `llama` vocabulary fitted to a training corpus, so
// that tiny models see short sequences: <unk>, <s>, </s>, the 256 byte tokens, '▁' and every
// printable ASCII character (alone and after '▁'), then the corpus's most frequent words. A word
// enters with every prefix ('▁r', '▁re', ... '▁refund'): llama.cpp's SPM tokenizer builds a word
// by merging adjacent pieces whose concatenation is in the vocabulary, so the prefixes are its
// path. Pieces score by order (earlier merges first). Deterministic: ties break by the word.
#ifndef RS_TRAIN_VOCAB_FIT_H
#define RS_TRAIN_VOCAB_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"

// Sets the tokenizer.* keys of an n-token vocabulary fitted to the text of path (a .jsonl's
// "prompt" and "completion" strings, or the whole file). Returns 0 or a negative Err.
int vocab_fit(GgufWriter *w, const char *path, int64_t n, char *err, size_t err_len);

#endif
