// tokenizer_bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2"): the byte ⇄ code point
// mapping, the ranked merges table, and encoding pre-tokenized words (the split itself is in
// tokenizer_pre.c). See tokenizer.h.
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/tokenizer_impl.h"
#include "engine/unicode.h"

// ---- byte-level mapping (GPT-2's bytes_to_unicode) ----
// Printable bytes stand for themselves; the other 68 (controls, space, 0x7F-0xA0, 0xAD) map to
// U+0100 upwards in byte order, so every byte has a visible, non-space code point.

static bool printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

static void byte_maps(Tokenizer *t) {
    int k = 0;
    for (int i = 0; i < 324; i++) t->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int cp = printable(b) ? b : 256 + k++;
        char buf[4];
        t->bmap_len[b] = (uint8_t)uni_encode((uint32_t)cp, buf);
        memcpy(t->bmap[b], buf, t->bmap_len[b]);
        t->cp_byte[cp] = (int16_t)b;
    }
}

size_t tok_bpe_piece(const Tokenizer *t, Str text, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < text.len;) {
        uint32_t cp;
        int n = uni_decode(text.ptr + i, text.len - i, &cp);
        int b = cp < 324 ? t->cp_byte[cp] : -1;
        if (b >= 0) {
            if (dst) dst[o] = (char)b;
            o++;
        } else {  // not a byte-level code point: keep its bytes
            if (dst) memcpy(dst + o, text.ptr + i, (size_t)n);
            o += (size_t)n;
        }
        i += (size_t)n;
    }
    return o;
}

// ---- merges ----

int tok_bpe_init(Tokenizer *t, const TokSpec *spec, char *err, size_t err_len) {
    if (spec->pre <= TOK_PRE_NONE || spec->pre >= TOK_PRE_COUNT)
        return err_set(err, err_len, ERR_UNSUPP, "tokenizer: BPE needs a pre-tokenizer (TokPre %d is none)", (int)spec->pre);
    byte_maps(t);
    int64_t n = spec->n_merges;
    if (n < 0 || n >= TOK_MAX_TOKENS)
        return err_set(err, err_len, ERR_RANGE, "tokenizer: %lld merges (allowed 0..%d)", (long long)n, TOK_MAX_TOKENS);
    size_t bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        Str m = spec->merges[i];
        if (m.len < 3 || m.len > TOK_MAX_PIECE || !memchr(m.ptr + 1, ' ', m.len - 2))
            return err_set(err, err_len, ERR_FORMAT, "tokenizer: merge %lld is not \"left right\"", (long long)i);
        bytes += m.len;
    }
    if (bytes >= UINT32_MAX) return err_set(err, err_len, ERR_RANGE, "tokenizer: merges too large");
    uint32_t slots = 1;
    while (slots < 2 * (uint64_t)(n ? n : 1)) slots <<= 1;
    t->merge_mask = slots - 1;
    t->n_merges = n;
    t->merge_pool = malloc(bytes + 1);
    t->merge_off = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    t->merge_len = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    t->merge_slots = malloc((size_t)slots * sizeof(int32_t));
    if (!t->merge_pool || !t->merge_off || !t->merge_len || !t->merge_slots)
        return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
    memset(t->merge_slots, 0xff, (size_t)slots * sizeof(int32_t));
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        Str m = spec->merges[i];
        memcpy(t->merge_pool + o, m.ptr, m.len);
        t->merge_off[i] = (uint32_t)o;
        t->merge_len[i] = (uint32_t)m.len;
        // first occurrence keeps the best (lowest) rank
        uint32_t h = tok_hash(m.ptr, m.len) & t->merge_mask;
        for (;;) {
            int32_t cur = t->merge_slots[h];
            if (cur < 0) { t->merge_slots[h] = (int32_t)i; break; }
            if (t->merge_len[cur] == m.len && memcmp(t->merge_pool + t->merge_off[cur], m.ptr, m.len) == 0) break;
            h = (h + 1) & t->merge_mask;
        }
        o += m.len;
    }
    return 0;
}

void tok_bpe_free(Tokenizer *t) {
    free(t->merge_pool);
    free(t->merge_off);
    free(t->merge_len);
    free(t->merge_slots);
}

int32_t tok_bpe_rank(const Tokenizer *t, const char *l, size_t ln, const char *r, size_t rn, char *key) {
    if (ln + rn > 2 * t->max_text) return -1;  // longer than any merge
    memcpy(key, l, ln);
    key[ln] = ' ';
    memcpy(key + ln + 1, r, rn);
    size_t n = ln + rn + 1;
    uint32_t h = tok_hash(key, n) & t->merge_mask;
    for (;;) {
        int32_t cur = t->merge_slots[h];
        if (cur < 0) return -1;
        if (t->merge_len[cur] == n && memcmp(t->merge_pool + t->merge_off[cur], key, n) == 0) return cur;
        h = (h + 1) & t->merge_mask;
    }
}

// BPE of one pre-token: its bytes, mapped, merged by rank; each surviving symbol is a token (or,
// failing that, its single characters are, as llama.cpp falls back).
static void bpe_word(const Tokenizer *t, const char *w, size_t len, char *mapped, TokSym *sym,
                     TokHeap *h, char *key, TokOut *o) {
    int32_t ml = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)w[i];
        memcpy(mapped + ml, t->bmap[b], t->bmap_len[b]);
        ml += t->bmap_len[b];
    }
    int32_t id = t->ignore_merges ? tok_lookup(t, mapped, (size_t)ml) : -1;
    if (id >= 0) {
        tok_out_push(o, id);
        return;
    }
    int32_t ns = tok_merge(t, mapped, ml, sym, h, key);
    for (int32_t i = ns > 0 ? 0 : -1; i >= 0; i = sym[i].next) {
        const char *s = mapped + sym[i].off;
        id = tok_lookup(t, s, (size_t)sym[i].n);
        if (id >= 0) {
            tok_out_push(o, id);
            continue;
        }
        for (int32_t j = 0; j < sym[i].n; j++) tok_out_push(o, tok_lookup(t, s + j, 1));
    }
}

int tok_bpe_encode(const Tokenizer *t, const char *text, size_t len, TokOut *o) {
    // scratch: per character (≤ len); mapped text ≤ 2 bytes per byte; 3 bigrams per symbol
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    int64_t *off = malloc((len + 2) * sizeof *off);
    int64_t *ends = malloc((len + 1) * sizeof *ends), *tmp = malloc((len + 1) * sizeof *tmp);
    char *mapped = malloc(2 * len + 1);
    TokSym *sym = malloc((2 * len + 1) * sizeof *sym);
    TokHeap h = {malloc(3 * (2 * len + 1) * sizeof(TokBigram)), 0, 3 * (int64_t)(2 * len + 1)};
    char *key = malloc(2 * t->max_text + 2);
    int rc = 0;
    if (!cp || !off || !ends || !tmp || !mapped || !sym || !h.a || !key) {
        rc = ERR_NOMEM;
        goto done;
    }
    int64_t n = 0;
    for (size_t i = 0; i < len;) {
        off[n] = (int64_t)i;
        i += (size_t)uni_decode(text + i, len - i, &cp[n++]);
    }
    off[n] = (int64_t)len;
    int64_t ne = tok_pre_split(t->pre, cp, n, ends, tmp);
    if (ne < 0) {
        rc = (int)ne;
        goto done;
    }
    for (int64_t j = 0, s = 0; j < ne; s = ends[j++])
        bpe_word(t, text + off[s], (size_t)(off[ends[j]] - off[s]), mapped, sym, &h, key, o);
done:
    free(cp), free(off), free(ends), free(tmp), free(mapped), free(sym), free(h.a), free(key);
    return rc;
}
