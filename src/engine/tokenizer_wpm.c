// tokenizer_wpm.c — WordPiece (tokenizer.ggml.model = "bert"): BERT's normalization and word
// split, then greedy longest-piece cover of each word. See tokenizer.h.
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/tokenizer_impl.h"
#include "engine/unicode.h"

#define WORD_START "\xE2\x96\x81"  // ▁, how the vocabulary marks a piece that starts a word

// BERT's "Chinese character" blocks (CJK ideographs and their extensions and compatibility forms).
static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Covers word w[0..n) (which starts with ▁) by the longest pieces, left to right; a position no
// piece starts at makes the whole word [UNK].
static void cover_word(const Tokenizer *t, const char *w, size_t n, TokOut *o) {
    int64_t first = o->n;
    for (size_t i = 0; i < n;) {
        size_t j = i + t->max_text < n ? i + t->max_text : n;
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = tok_lookup(t, w + i, j - i)) >= 0) break;
        if (id < 0) {
            o->n = first;  // discard the word's pieces
            tok_out_push(o, t->unk);
            return;
        }
        tok_out_push(o, id);
        i = j;
    }
}

int tok_wpm_encode(const Tokenizer *t, const char *text, size_t len, TokOut *o) {
    // a word: ▁ then up to 4 bytes per input byte (lowercasing may lengthen a code point)
    char *w = malloc(4 * len + 8);
    if (!w) return ERR_NOMEM;
    size_t wn = 3;
    memcpy(w, WORD_START, 3);
    for (size_t i = 0; i < len;) {
        uint32_t c;
        i += (size_t)uni_decode(text + i, len - i, &c);
        if (c == UNI_INVALID) continue;  // invalid UTF-8 is dropped, as llama.cpp does
        if (t->lowercase) c = uni_nfd_first(c);
        if (uni_is_space(c)) {
            if (wn > 3) cover_word(t, w, wn, o);
            wn = 3;
            continue;
        }
        if (c == 0 || c == 0xFFFD || uni_is_control(c)) continue;
        if (t->lowercase && uni_is_mark(c)) continue;
        bool alone = uni_is_punct(c) || (c < 0x7F && uni_is_symbol(c)) || is_cjk(c);
        if (t->lowercase) c = uni_tolower(c);
        if (alone && wn > 3) {
            cover_word(t, w, wn, o);
            wn = 3;
        }
        wn += (size_t)uni_encode(c, w + wn);
        if (alone) {
            cover_word(t, w, wn, o);
            wn = 3;
        }
    }
    if (wn > 3) cover_word(t, w, wn, o);
    free(w);
    return 0;
}
