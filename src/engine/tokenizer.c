// tokenizer.c — SentencePiece-style (`llama`) vocabulary: encode by score-ordered bigram merges,
// byte fallback, special-token partitioning; decode piece by piece. See tokenizer.h.
#include "engine/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/tokenizer_impl.h"

// ---- lookup ----

uint32_t tok_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static Str text_of(const Tokenizer *t, int32_t id) {
    return (Str){t->pool + t->text_off[id], t->text_len[id]};
}

// Id whose text is exactly s[0..n), or -1. With duplicate texts the highest id wins (as in
// llama.cpp, whose map is filled in id order).
int32_t tok_lookup(const Tokenizer *t, const char *s, size_t n) {
    uint32_t i = tok_hash(s, n) & t->slot_mask;
    for (;;) {
        int32_t id = t->slots[i];
        if (id < 0) return -1;
        if (t->text_len[id] == n && memcmp(t->pool + t->text_off[id], s, n) == 0) return id;
        i = (i + 1) & t->slot_mask;
    }
}

static void tok_insert(Tokenizer *t, int32_t id) {
    Str s = text_of(t, id);
    uint32_t i = tok_hash(s.ptr, s.len) & t->slot_mask;
    for (;;) {
        int32_t cur = t->slots[i];
        if (cur < 0) { t->slots[i] = id; return; }
        if (str_eq(text_of(t, cur), s)) { t->slots[i] = id; return; }
        i = (i + 1) & t->slot_mask;
    }
}

// ---- construction ----

static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The byte a "<0xXX>" text stands for, or -1.
static int byte_of_text(Str s) {
    if (s.len != 6 || memcmp(s.ptr, "<0x", 3) != 0 || s.ptr[5] != '>') return -1;
    int hi = hex_val(s.ptr[3]), lo = hex_val(s.ptr[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static bool is_special_type(uint8_t ty) {
    return ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_USER_DEFINED || ty == TOK_TYPE_UNKNOWN;
}

// Decoded length of a token (see tok_token_to_piece for the rules, special = true), and the
// bytes when dst is non-NULL.
static size_t piece_bytes(const Tokenizer *t, Str text, uint8_t ty, char *dst) {
    if (ty == TOK_TYPE_BYTE && byte_of_text(text) >= 0) {
        if (dst) dst[0] = (char)byte_of_text(text);
        return 1;
    }
    if (ty == TOK_TYPE_UNUSED || ty == TOK_TYPE_UNDEFINED) return 0;
    if (ty != TOK_TYPE_NORMAL && ty != TOK_TYPE_BYTE) {  // control, unknown, user-defined
        if (dst) memcpy(dst, text.ptr, text.len);
        return text.len;
    }
    if (t->kind == TOK_VOCAB_BPE) return tok_bpe_piece(t, text, dst);
    size_t o = 0;  // normal: U+2581 (E2 96 81) → ' '
    for (size_t i = 0; i < text.len;) {
        if (i + 2 < text.len && (uint8_t)text.ptr[i] == 0xE2 && (uint8_t)text.ptr[i + 1] == 0x96 &&
            (uint8_t)text.ptr[i + 2] == 0x81) {
            if (dst) dst[o] = ' ';
            o++, i += 3;
        } else {
            if (dst) dst[o] = text.ptr[i];
            o++, i++;
        }
    }
    return o;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// Orders t->specials longest text first, then by id (llama.cpp sorts by length only; ties
// between equal-length specials that overlap in a text are not exercised by real vocabularies).
static int sort_specials(Tokenizer *t) {
    uint64_t *keys = malloc((size_t)(t->n_specials ? t->n_specials : 1) * sizeof(uint64_t));
    if (!keys) return ERR_NOMEM;
    for (int64_t i = 0; i < t->n_specials; i++) {
        int32_t id = t->specials[i];
        keys[i] = ((uint64_t)(UINT32_MAX - t->text_len[id]) << 32) | (uint32_t)id;
    }
    qsort(keys, (size_t)t->n_specials, sizeof(uint64_t), cmp_u64);
    for (int64_t i = 0; i < t->n_specials; i++) t->specials[i] = (int32_t)(keys[i] & 0xffffffffu);
    free(keys);
    return 0;
}

static int check_id(int32_t id, int64_t n, const char *what, char *err, size_t err_len) {
    if (id < -1 || id >= n)
        return err_set(err, err_len, ERR_RANGE, "tokenizer: %s id %d out of range [0, %lld)", what,
                       (int)id, (long long)n);
    return 0;
}

Tokenizer *tok_create_from_arrays(const TokSpec *spec, char *err, size_t err_len) {
    Tokenizer *t = NULL;
    int64_t n = spec->n_tokens;
    if (spec->kind != TOK_VOCAB_SPM && spec->kind != TOK_VOCAB_BPE && spec->kind != TOK_VOCAB_WPM) {
        err_set(err, err_len, ERR_UNSUPP, "tokenizer: unsupported vocabulary kind %d", (int)spec->kind);
        goto fail;
    }
    if (n <= 0 || n > TOK_MAX_TOKENS) {
        err_set(err, err_len, ERR_RANGE, "tokenizer: %lld tokens (allowed 1..%d)", (long long)n,
                TOK_MAX_TOKENS);
        goto fail;
    }
    if (check_id(spec->bos_id, n, "bos", err, err_len) || check_id(spec->eos_id, n, "eos", err, err_len) ||
        check_id(spec->unk_id, n, "unknown", err, err_len) || check_id(spec->eot_id, n, "eot", err, err_len))
        goto fail;
    size_t pool_bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        if (spec->tokens[i].len == 0 || spec->tokens[i].len > TOK_MAX_PIECE) {
            err_set(err, err_len, ERR_FORMAT, "tokenizer: token %lld has length %zu (allowed 1..%d)",
                    (long long)i, spec->tokens[i].len, TOK_MAX_PIECE);
            goto fail;
        }
        int32_t ty = spec->types ? spec->types[i] : TOK_TYPE_NORMAL;
        if (ty < TOK_TYPE_UNDEFINED || ty > TOK_TYPE_BYTE) {
            err_set(err, err_len, ERR_FORMAT, "tokenizer: token %lld has unknown type %d", (long long)i,
                    (int)ty);
            goto fail;
        }
        pool_bytes += 2 * spec->tokens[i].len;  // text + decoded piece (never longer)
    }
    if (pool_bytes >= UINT32_MAX) {
        err_set(err, err_len, ERR_RANGE, "tokenizer: vocabulary text too large (%zu bytes)", pool_bytes);
        goto fail;
    }
    t = calloc(1, sizeof *t);
    if (!t) goto nomem;
    t->kind = spec->kind;
    t->pre = spec->pre;
    t->ignore_merges = spec->pre == TOK_PRE_LLAMA3;
    t->n = n;
    uint32_t slots = 1;
    while (slots < 2 * (uint64_t)n) slots <<= 1;
    t->slot_mask = slots - 1;
    t->pool = malloc(pool_bytes + 1);
    t->text_off = malloc((size_t)n * sizeof(uint32_t));
    t->text_len = malloc((size_t)n * sizeof(uint32_t));
    t->piece_off = malloc((size_t)n * sizeof(uint32_t));
    t->piece_len = malloc((size_t)n * sizeof(uint32_t));
    t->scores = malloc((size_t)n * sizeof(float));
    t->types = malloc((size_t)n);
    t->slots = malloc((size_t)slots * sizeof(int32_t));
    t->specials = malloc((size_t)n * sizeof(int32_t));
    if (!t->pool || !t->text_off || !t->text_len || !t->piece_off || !t->piece_len || !t->scores ||
        !t->types || !t->slots || !t->specials)
        goto nomem;
    memset(t->slots, 0xff, (size_t)slots * sizeof(int32_t));
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        Str s = spec->tokens[i];
        memcpy(t->pool + o, s.ptr, s.len);
        t->text_off[i] = (uint32_t)o;
        t->text_len[i] = (uint32_t)s.len;
        o += s.len;
        if (s.len > t->max_text) t->max_text = s.len;
        t->scores[i] = spec->scores ? spec->scores[i] : 0.0f;
        t->types[i] = (uint8_t)(spec->types ? spec->types[i] : TOK_TYPE_NORMAL);
    }
    if (t->kind == TOK_VOCAB_BPE && tok_bpe_init(t, spec, err, err_len)) goto fail;
    for (int64_t i = 0; i < n; i++) {
        size_t len = piece_bytes(t, text_of(t, (int32_t)i), t->types[i], t->pool + o);
        t->piece_off[i] = (uint32_t)o;
        t->piece_len[i] = (uint32_t)len;
        o += len;
        if (len > t->max_piece) t->max_piece = len;
        tok_insert(t, (int32_t)i);
        if (is_special_type(t->types[i])) t->specials[t->n_specials++] = (int32_t)i;
    }
    if (sort_specials(t)) goto nomem;
    t->bos = spec->bos_id, t->eos = spec->eos_id, t->unk = spec->unk_id, t->eot = spec->eot_id;
    t->add_bos = spec->add_bos && t->bos >= 0;
    t->add_eos = spec->add_eos && t->eos >= 0;
    t->add_space_prefix = spec->add_space_prefix && t->kind == TOK_VOCAB_SPM;
    t->lowercase = spec->lowercase;
    for (int b = 0; b < 256; b++) {
        char hex[7];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = tok_lookup(t, hex, 6);
        if (id < 0) {
            char c = (char)b;
            id = tok_lookup(t, &c, 1);
        }
        t->byte_tok[b] = id >= 0 ? id : t->unk;
    }
    return t;
nomem:
    err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
fail:
    tok_destroy(t);
    return NULL;
}

void tok_destroy(Tokenizer *t) {
    if (!t) return;
    free(t->pool);
    free(t->text_off);
    free(t->text_len);
    free(t->piece_off);
    free(t->piece_len);
    free(t->scores);
    free(t->types);
    free(t->slots);
    free(t->specials);
    tok_bpe_free(t);
    free(t);
}

// ---- accessors ----

int64_t tok_n_vocab(const Tokenizer *t) { return t->n; }
int32_t tok_bos(const Tokenizer *t) { return t->bos; }
int32_t tok_eos(const Tokenizer *t) { return t->eos; }
int32_t tok_eot(const Tokenizer *t) { return t->eot; }
bool tok_add_bos(const Tokenizer *t) { return t->add_bos; }
size_t tok_max_piece_bytes(const Tokenizer *t) { return t->max_piece; }

TokType tok_type(const Tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n ? (TokType)t->types[id] : TOK_TYPE_UNDEFINED;
}

Str tok_text(const Tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n ? text_of(t, id) : (Str){"", 0};
}

bool tok_is_eog(const Tokenizer *t, int32_t id) {
    static const char *const markers[] = {"</s>", "<|eot_id|>", "<|im_end|>", "<|end|>",
                                          "<|endoftext|>", "<end_of_turn>", "<|end_of_text|>"};
    if (id < 0 || id >= t->n) return false;
    if (id == t->eos || id == t->eot) return true;
    if (t->types[id] != TOK_TYPE_CONTROL) return false;
    for (size_t i = 0; i < ARRAY_LEN(markers); i++)
        if (str_eq_c(text_of(t, id), markers[i])) return true;
    return false;
}

// ---- merging symbols (SPM and BPE) ----

// Heap order: higher score first; equal scores: lower left index first (llama.cpp's order).
static bool bg_before(const TokBigram *x, const TokBigram *y) {
    return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static void heap_push(TokHeap *h, TokBigram b) {
    CHECK(h->n < h->cap);
    int64_t i = h->n++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!bg_before(&b, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
}

static TokBigram heap_pop(TokHeap *h) {
    TokBigram top = h->a[0], last = h->a[--h->n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bg_before(&h->a[c + 1], &h->a[c])) c++;
        if (!bg_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

// Queues the merge of symbols l and r when the vocabulary allows it: SPM when their
// concatenation is a token (its score), BPE when "l r" is a merge (score −rank, exact in float
// below 2^24).
static void try_bigram(const Tokenizer *t, const char *s, const TokSym *sym, TokHeap *h, int32_t l,
                       int32_t r, char *key) {
    if (l < 0 || r < 0) return;
    float score;
    if (t->kind == TOK_VOCAB_SPM) {
        int32_t id = tok_lookup(t, s + sym[l].off, (size_t)(sym[l].n + sym[r].n));
        if (id < 0) return;
        score = t->scores[id];
    } else {
        int32_t rank = tok_bpe_rank(t, s + sym[l].off, (size_t)sym[l].n, s + sym[r].off,
                                    (size_t)sym[r].n, key);
        if (rank < 0) return;
        score = -(float)rank;
    }
    heap_push(h, (TokBigram){score, l, r, sym[l].n + sym[r].n});
}

static int utf8_len(uint8_t c) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

void tok_out_push(TokOut *o, int32_t id) {
    if (id < 0) return;  // a byte with neither a byte token nor an unknown token
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

int32_t tok_merge(const Tokenizer *t, const char *s, int32_t len, TokSym *sym, TokHeap *h, char *key) {
    int32_t ns = 0;
    for (int32_t i = 0; i < len;) {
        // One symbol per UTF-8 character. llama.cpp takes the length from the lead byte alone;
        // stopping at the first non-continuation byte is the same on valid UTF-8 and keeps an
        // invalid lead byte from swallowing the next character (e.g. half of an escaped space).
        int32_t n = utf8_len((uint8_t)s[i]);
        if (n > len - i) n = len - i;
        for (int32_t j = 1; j < n; j++)
            if (((uint8_t)s[i + j] & 0xC0) != 0x80) { n = j; break; }
        sym[ns] = (TokSym){i, n, ns - 1, -1};
        if (ns > 0) sym[ns - 1].next = ns;
        ns++;
        i += n;
    }
    h->n = 0;
    for (int32_t i = 1; i < ns; i++) try_bigram(t, s, sym, h, i - 1, i, key);
    while (h->n > 0) {
        TokBigram b = heap_pop(h);
        TokSym *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;  // stale
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        try_bigram(t, s, sym, h, l->prev, b.left, key);
        try_bigram(t, s, sym, h, b.left, l->next, key);
    }
    return ns;
}

// Encodes s (already escaped: spaces as ▁); symbols with no token fall back to byte tokens.
static void spm_encode(const Tokenizer *t, const char *s, int32_t len, TokSym *sym, TokHeap *h, TokOut *o) {
    int32_t ns = tok_merge(t, s, len, sym, h, NULL);
    for (int32_t i = ns > 0 ? 0 : -1; i >= 0; i = sym[i].next) {
        const char *txt = s + sym[i].off;
        int32_t id = tok_lookup(t, txt, (size_t)sym[i].n);
        if (id >= 0) {
            tok_out_push(o, id);
        } else {  // no token for this symbol: one byte token per byte
            for (int32_t j = 0; j < sym[i].n; j++) tok_out_push(o, t->byte_tok[(uint8_t)txt[j]]);
        }
    }
}

// ---- special-token partitioning ----

typedef struct {
    size_t off, len;  // raw text range when id < 0
    int32_t id;       // a special token, or -1 for raw text
} Frag;

typedef struct {
    Frag *a;
    int64_t n, cap;
} FragList;

static int frag_push(FragList *l, Frag f) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        Frag *a = realloc(l->a, (size_t)cap * sizeof *a);
        if (!a) return ERR_NOMEM;
        l->a = a, l->cap = cap;
    }
    l->a[l->n++] = f;
    return 0;
}

// Splits raw fragments on every occurrence of each special text, longest specials first (the
// order llama.cpp uses); the result is in *fr. tmp is scratch.
static int partition(const Tokenizer *t, const char *text, size_t len, bool parse_special,
                     FragList *fr, FragList *tmp) {
    fr->n = 0;
    if (frag_push(fr, (Frag){0, len, -1})) return ERR_NOMEM;
    for (int64_t s = 0; s < t->n_specials; s++) {
        int32_t id = t->specials[s];
        if (!parse_special && t->types[id] != TOK_TYPE_USER_DEFINED) continue;
        Str st = text_of(t, id);
        bool any = false;
        tmp->n = 0;
        for (int64_t f = 0; f < fr->n; f++) {
            Frag g = fr->a[f];
            const char *m = g.id < 0 ? memmem(text + g.off, g.len, st.ptr, st.len) : NULL;
            if (!m) {
                if (frag_push(tmp, g)) return ERR_NOMEM;
                continue;
            }
            size_t pos = g.off, end = g.off + g.len;
            while (m) {
                size_t at = (size_t)(m - text);
                if (at > pos && frag_push(tmp, (Frag){pos, at - pos, -1})) return ERR_NOMEM;
                if (frag_push(tmp, (Frag){at, st.len, id})) return ERR_NOMEM;
                pos = at + st.len;
                m = memmem(text + pos, end - pos, st.ptr, st.len);
            }
            if (pos < end && frag_push(tmp, (Frag){pos, end - pos, -1})) return ERR_NOMEM;
            any = true;
        }
        if (any) {
            FragList x = *fr;
            *fr = *tmp;
            *tmp = x;
        }
    }
    return 0;
}

// Bytes of a raw fragment once escaped (spaces → ▁, optional prefix).
static size_t escaped_len(const char *p, size_t n, bool prefix) {
    size_t e = prefix ? 3 : 0;
    for (size_t i = 0; i < n; i++) e += p[i] == ' ' ? 3 : 1;
    return e;
}

int64_t tok_encode(const Tokenizer *t, const char *text, size_t len, bool add_special,
                   bool parse_special, int32_t *ids, int64_t cap) {
    TokOut o = {ids, ids ? cap : 0, 0};
    FragList fr = {0}, tmp = {0};
    char *esc = NULL;
    TokSym *sym = NULL;
    TokHeap h = {0};
    int rc = 0;
    if (add_special && t->add_bos) tok_out_push(&o, t->bos);
    if (len > (size_t)INT32_MAX / 4) return ERR_RANGE;
    if (len > 0) {
        if ((rc = partition(t, text, len, parse_special, &fr, &tmp))) goto done;
        if (t->kind != TOK_VOCAB_SPM) {
            for (int64_t f = 0; f < fr.n && !rc; f++) {
                if (fr.a[f].id >= 0) tok_out_push(&o, fr.a[f].id);
                else if (t->kind == TOK_VOCAB_BPE) rc = tok_bpe_encode(t, text + fr.a[f].off, fr.a[f].len, &o);
                else rc = tok_wpm_encode(t, text + fr.a[f].off, fr.a[f].len, &o);
            }
            if (rc) goto done;
            goto specials;
        }
        size_t max_esc = 0;  // scratch sized once for the longest fragment
        bool prev_special = true;
        for (int64_t f = 0; f < fr.n; f++) {
            if (fr.a[f].id >= 0) { prev_special = true; continue; }
            size_t e = escaped_len(text + fr.a[f].off, fr.a[f].len, t->add_space_prefix && prev_special);
            if (e > max_esc) max_esc = e;
            prev_special = false;
        }
        // Each merge pushes at most two bigrams: at most 3 per symbol in all.
        esc = malloc(max_esc + 1);
        sym = malloc((max_esc + 1) * sizeof *sym);
        h = (TokHeap){malloc(3 * (max_esc + 1) * sizeof(TokBigram)), 0, 3 * (int64_t)(max_esc + 1)};
        if (!esc || !sym || !h.a) { rc = ERR_NOMEM; goto done; }
        prev_special = true;  // the first raw fragment gets the space prefix
        for (int64_t f = 0; f < fr.n; f++) {
            Frag g = fr.a[f];
            if (g.id >= 0) {
                tok_out_push(&o, g.id);
                prev_special = true;
                continue;
            }
            int32_t el = 0;
            if (t->add_space_prefix && prev_special) memcpy(esc, "\xE2\x96\x81", 3), el = 3;
            for (size_t i = 0; i < g.len; i++) {
                char c = text[g.off + i];
                if (c == ' ') memcpy(esc + el, "\xE2\x96\x81", 3), el += 3;
                else esc[el++] = c;
            }
            spm_encode(t, esc, el, sym, &h, &o);
            prev_special = false;
        }
    }
specials:
    if (add_special && t->add_eos) tok_out_push(&o, t->eos);
done:
    free(fr.a), free(tmp.a), free(esc), free(sym), free(h.a);
    return rc ? rc : o.n;
}

// ---- decoding ----

static Str piece_of(const Tokenizer *t, int32_t id, bool special) {
    if (id < 0 || id >= t->n) return (Str){"", 0};
    uint8_t ty = t->types[id];
    if (!special && (ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_UNKNOWN)) return (Str){"", 0};
    return (Str){t->pool + t->piece_off[id], t->piece_len[id]};
}

int64_t tok_token_to_piece(const Tokenizer *t, int32_t id, bool special, char *buf, size_t cap) {
    Str p = piece_of(t, id, special);
    if (buf) memcpy(buf, p.ptr, p.len < cap ? p.len : cap);
    return (int64_t)p.len;
}

int64_t tok_decode(const Tokenizer *t, const int32_t *ids, int64_t n, bool special, char *out,
                   size_t cap) {
    size_t total = 0;
    bool strip = t->add_space_prefix || t->kind == TOK_VOCAB_WPM;  // WordPiece: ▁ of the first word
    for (int64_t i = 0; i < n; i++) {
        Str p = piece_of(t, ids[i], special);
        if (p.len == 0) continue;
        if (strip && p.ptr[0] == ' ') p.ptr++, p.len--;
        strip = false;
        if (out && total < cap) memcpy(out + total, p.ptr, p.len < cap - total ? p.len : cap - total);
        total += p.len;
    }
    if (out && cap > 0) out[total < cap ? total : cap - 1] = 0;
    return (int64_t)total;
}

// ---- streaming decode ----

void tok_stream_init(TokStream *s, const Tokenizer *t, bool special, bool strip_leading_space,
                     bool replace_invalid) {
    *s = (TokStream){.tok = t, .special = special,
                     .strip_space = strip_leading_space && (t->add_space_prefix || t->kind == TOK_VOCAB_WPM),
                     .replace_invalid = replace_invalid};
}

size_t tok_stream_min_cap(const Tokenizer *t) { return t->max_piece * 3 + 16; }

// Emits an invalid run of bytes: as is, or one U+FFFD per byte.
static size_t emit_invalid(const TokStream *s, const uint8_t *b, int n, char *out) {
    if (!s->replace_invalid) {
        memcpy(out, b, (size_t)n);
        return (size_t)n;
    }
    for (int i = 0; i < n; i++) memcpy(out + 3 * i, "\xEF\xBF\xBD", 3);
    return 3 * (size_t)n;
}

// Expected sequence length for a lead byte, or 0 when it cannot start one.
static int utf8_need(uint8_t c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

// Whether c may follow held[0..held_len) in a valid sequence (overlongs and surrogates refused).
static bool utf8_fits(const TokStream *s, uint8_t c) {
    if ((c & 0xC0) != 0x80) return false;
    if (s->held_len != 1) return true;
    uint8_t l = s->held[0];
    if (l == 0xE0) return c >= 0xA0;
    if (l == 0xED) return c <= 0x9F;
    if (l == 0xF0) return c >= 0x90;
    if (l == 0xF4) return c <= 0x8F;
    return true;
}

int64_t tok_stream_feed(TokStream *s, int32_t id, char *out, size_t cap) {
    if (cap < tok_stream_min_cap(s->tok)) return ERR_ARG;
    Str p = piece_of(s->tok, id, s->special);
    if (p.len == 0) return 0;
    if (s->strip_space && !s->started && p.ptr[0] == ' ') p.ptr++, p.len--;
    s->started = true;
    size_t o = 0;
    for (size_t i = 0; i < p.len; i++) {
        uint8_t c = (uint8_t)p.ptr[i];
        if (s->held_len > 0) {
            if (utf8_fits(s, c)) {
                s->held[s->held_len++] = c;
                if (s->held_len == s->held_need) {
                    memcpy(out + o, s->held, (size_t)s->held_len);
                    o += (size_t)s->held_len;
                    s->held_len = 0;
                }
                continue;
            }
            o += emit_invalid(s, s->held, s->held_len, out + o);
            s->held_len = 0;
        }
        int need = utf8_need(c);
        if (need == 1) {
            out[o++] = (char)c;
        } else if (need == 0) {
            o += emit_invalid(s, &c, 1, out + o);
        } else {
            s->held[0] = c;
            s->held_len = 1;
            s->held_need = need;
        }
    }
    return (int64_t)o;
}

int64_t tok_stream_flush(TokStream *s, char *out, size_t cap) {
    if (cap < tok_stream_min_cap(s->tok)) return ERR_ARG;
    size_t o = emit_invalid(s, s->held, s->held_len, out);
    s->held_len = 0;
    return (int64_t)o;
}
