// promptgen.h — prompts of a requested length in tokens, without a tokenizer.
//
// Assumption (documented in --help): one word ≈ one token. The built-in list holds common short
// English words that GPT-2/Llama/Qwen BPE vocabularies encode as a single token when preceded by a
// space, so an N-word prompt is N tokens give or take a few percent (chat templates add their own
// fixed overhead on top). Words are drawn at random per request so that servers with prefix
// caching cannot serve the prompt from cache. With a prompt file, its whitespace-separated words
// are used in file order, cyclically, starting at a random word per request. When the server
// returns usage.prompt_tokens, the report gives the real count beside the requested one.
#ifndef RS_BENCH_PROMPTGEN_H
#define RS_BENCH_PROMPTGEN_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/rng.h"

typedef struct {
    char *text;         // owned copy of the prompt file (NULL for the built-in list)
    const char **words; // owned array of pointers to NUL-terminated words (as in the source)
    int64_t n_words;
    // Every word JSON-escaped once up front, so building a prompt is copying: word i is
    // esc[esc_off[i] .. esc_off[i] + esc_len[i]).
    char *esc;          // owned
    size_t *esc_off;    // owned, n_words
    uint32_t *esc_len;  // owned, n_words
    uint32_t esc_max;   // longest escaped word
} PromptGen;

// The built-in word list. Always succeeds except ERR_NOMEM.
int promptgen_init_builtin(PromptGen *p);
// Words of a text file. 0, ERR_IO (cannot read; message in err), ERR_FORMAT (no words), ERR_NOMEM.
int promptgen_init_file(PromptGen *p, const char *path, char *err, size_t err_len);
void promptgen_free(PromptGen *p);
// Appends n_words words separated by single spaces to out, JSON-string-escaped (no quotes around).
// Words are picked with rng as described above. 0 or ERR_NOMEM.
int promptgen_append_json(const PromptGen *p, int64_t n_words, Rng *rng, Buf *out);

// Appends s JSON-string-escaped (quotes, backslashes, control bytes), without surrounding quotes.
// 0 or ERR_NOMEM.
int promptgen_append_escaped(Buf *out, const char *s);

#endif
