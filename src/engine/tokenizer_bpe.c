// tokenizer_bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2"): the GPT-2 and Llama 3
// pre-tokenizers, the byte ⇄ code point mapping, and the ranked merges table. See tokenizer.h.
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
    if (spec->pre != TOK_PRE_GPT2 && spec->pre != TOK_PRE_LLAMA3)
        return err_set(err, err_len, ERR_UNSUPP, "tokenizer: BPE needs a pre-tokenizer (gpt-2 or llama-bpe)");
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

// ---- pre-tokenizers ----
// Each returns the end (in characters) of the match at i, the regex's leftmost alternative that
// matches, as the pattern in tokenizer.h's TokPre comment reads.

enum { C_OTHER = 0, C_LETTER, C_NUMBER, C_SPACE };

typedef struct {
    const uint32_t *cp;  // (n) code points (UNI_INVALID for a stray byte)
    const uint8_t *cls;  // (n) C_*
    int64_t n;
} Chars;

static int64_t space_run_end(const Chars *c, int64_t i) {
    while (i < c->n && c->cls[i] == C_SPACE) i++;
    return i;
}

// \s+(?!\S) then \s+: a run of spaces, leaving its last one to the next word if one follows.
static int64_t match_spaces(const Chars *c, int64_t i) {
    int64_t k = space_run_end(c, i);
    if (k < c->n && k - i >= 2) return k - 1;
    return k;
}

static int64_t run_of(const Chars *c, int64_t k, int cls) {
    while (k < c->n && c->cls[k] == cls) k++;
    return k;
}

static int64_t contraction(const Chars *c, int64_t i, bool fold) {
    if (c->cp[i] != '\'' || i + 1 >= c->n) return 0;
    uint32_t a = c->cp[i + 1], b = i + 2 < c->n ? c->cp[i + 2] : 0;
    if (fold) {
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
static int64_t match_gpt2(const Chars *c, int64_t i) {
    int64_t k = contraction(c, i, false);
    if (k) return k;
    int64_t j = c->cp[i] == ' ' && i + 1 < c->n ? i + 1 : i;  // the optional leading space
    if (c->cls[j] != C_SPACE) return run_of(c, j, c->cls[j]);
    return match_spaces(c, i);
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
static int64_t match_llama3(const Chars *c, int64_t i) {
    int64_t k = contraction(c, i, true);
    if (k) return k;
    uint32_t cp = c->cp[i];
    uint8_t cl = c->cls[i];
    if (cl == C_LETTER) return run_of(c, i, C_LETTER);
    if (cp != '\r' && cp != '\n' && cl != C_NUMBER && i + 1 < c->n && c->cls[i + 1] == C_LETTER)
        return run_of(c, i + 1, C_LETTER);
    if (cl == C_NUMBER) {
        for (k = i; k < c->n && k < i + 3 && c->cls[k] == C_NUMBER; k++) {}
        return k;
    }
    int64_t j = cp == ' ' && i + 1 < c->n && c->cls[i + 1] == C_OTHER ? i + 1 : i;
    if (c->cls[j] == C_OTHER) {
        k = run_of(c, j, C_OTHER);
        while (k < c->n && (c->cp[k] == '\r' || c->cp[k] == '\n')) k++;
        return k;
    }
    int64_t end = space_run_end(c, i), last_nl = -1;  // \s*[\r\n]+: up to the run's last newline
    for (k = i; k < end; k++)
        if (c->cp[k] == '\r' || c->cp[k] == '\n') last_nl = k;
    if (last_nl >= 0) return last_nl + 1;
    return match_spaces(c, i);
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
    uint8_t *cls = malloc(len + 1);
    int64_t *off = malloc((len + 2) * sizeof *off);
    char *mapped = malloc(2 * len + 1);
    TokSym *sym = malloc((2 * len + 1) * sizeof *sym);
    TokHeap h = {malloc(3 * (2 * len + 1) * sizeof(TokBigram)), 0, 3 * (int64_t)(2 * len + 1)};
    char *key = malloc(2 * t->max_text + 2);
    int rc = 0;
    if (!cp || !cls || !off || !mapped || !sym || !h.a || !key) {
        rc = ERR_NOMEM;
        goto done;
    }
    int64_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int k = uni_decode(text + i, len - i, &c);
        cp[n] = c;
        cls[n] = c == UNI_INVALID ? C_OTHER
                 : uni_is_space(c) ? C_SPACE
                 : uni_is_letter(c) ? C_LETTER
                 : uni_is_number(c) ? C_NUMBER
                 : C_OTHER;
        off[n++] = (int64_t)i;
        i += (size_t)k;
    }
    off[n] = (int64_t)len;
    Chars chars = {cp, cls, n};
    for (int64_t i = 0; i < n;) {
        int64_t e = t->pre == TOK_PRE_LLAMA3 ? match_llama3(&chars, i) : match_gpt2(&chars, i);
        CHECK(e > i);
        bpe_word(t, text + off[i], (size_t)(off[e] - off[i]), mapped, sym, &h, key, o);
        i = e;
    }
done:
    free(cp), free(cls), free(off), free(mapped), free(sym), free(h.a), free(key);
    return rc;
}
