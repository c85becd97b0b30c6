// tokenizer_pre.c — BPE pre-tokenizers: how text is split into words before merging.
//
// A pre-tokenizer is a sequence of passes; each pass splits every piece the previous one made,
// keeping both what its pattern matches and the gaps between matches as pieces (llama.cpp's
// rule). The patterns are those of each model family's tokenizer.json, as llama.cpp applies them:
// hand-coded matchers here, no regex engine. Patterns written with \p{..} classes see a
// "collapsed" character: ASCII as itself, any other code point as its class (non-ASCII
// white space counts as \s; a code point of no listed class matches none); patterns written with
// literal ranges see the code point itself (non-ASCII white space still counts as \s).
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/tokenizer_impl.h"
#include "engine/unicode.h"

// ---- character classes ----

// Exclusive class used by the whole-pattern matchers (gpt2, llama3, qwen2, qwen35).
enum { C_OTHER = 0, C_LETTER, C_NUMBER, C_SPACE };
// Collapsed class of a non-ASCII code point (the category sets of \p{..}).
enum { K_ASCII = 0, K_SPACE, K_NUMBER, K_LETTER, K_PUNCT, K_MARK, K_SYMBOL, K_NONE };

typedef struct {
    const uint32_t *cp;  // code points (UNI_INVALID for a stray byte)
    const uint8_t *cls;  // C_*
    const uint8_t *col;  // K_*
    int64_t n;           // end of the piece being split (matchers never look past it)
} Chars;

static bool is_ascii_space(uint32_t c) { return c == ' ' || (c >= 9 && c <= 13); }

// \s as both regex flavours see it: ASCII white space, or any non-ASCII White_Space.
static bool s_at(const Chars *c, int64_t i) {
    return i < c->n && (is_ascii_space(c->cp[i]) || c->col[i] == K_SPACE);
}

// \p{N}, \p{L}, \p{P} on the collapsed text: the ASCII subset llama.cpp substitutes, or a
// non-ASCII code point of that category.
static bool pn_at(const Chars *c, int64_t i) {
    return i < c->n && ((c->cp[i] >= '0' && c->cp[i] <= '9') || c->col[i] == K_NUMBER);
}

static bool pl_at(const Chars *c, int64_t i) {
    uint32_t x = i < c->n ? c->cp[i] : 0;
    return i < c->n && ((x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z') || c->col[i] == K_LETTER);
}

static bool ascii_punct(uint32_t x) {  // !-#%-*,-/:;?@[-]_{}
    return (x >= '!' && x <= '#') || (x >= '%' && x <= '*') || (x >= ',' && x <= '/') ||
           x == ':' || x == ';' || x == '?' || x == '@' || (x >= '[' && x <= ']') || x == '_' ||
           x == '{' || x == '}';
}

static bool pp_at(const Chars *c, int64_t i) {
    return i < c->n && (ascii_punct(c->cp[i]) || c->col[i] == K_PUNCT);
}

// ---- whole-pattern matchers (one alternative list each) ----
// Each returns the end of the match at i: the regex's leftmost alternative that matches there.

static int64_t run_of(const Chars *c, int64_t k, int cls) {
    while (k < c->n && c->cls[k] == cls) k++;
    return k;
}

// \s+(?!\S) then \s+: a run of spaces, leaving its last one to the next word if one follows.
static int64_t match_spaces(const Chars *c, int64_t i) {
    int64_t k = run_of(c, i, C_SPACE);
    if (k < c->n && k - i >= 2) return k - 1;
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

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+ — Llama 3 with D = 3; Qwen2 with D = 1; Qwen3.5 also with D = 1 and
// marks counted as letters (its [\p{L}\p{M}]), which the caller does in cls.
static int64_t match_llama3(const Chars *c, int64_t i, int digits) {
    int64_t k = contraction(c, i, true);
    if (k) return k;
    uint32_t cp = c->cp[i];
    uint8_t cl = c->cls[i];
    if (cl == C_LETTER) return run_of(c, i, C_LETTER);
    if (cp != '\r' && cp != '\n' && cl != C_NUMBER && i + 1 < c->n && c->cls[i + 1] == C_LETTER)
        return run_of(c, i + 1, C_LETTER);
    if (cl == C_NUMBER) {
        for (k = i; k < c->n && k < i + digits && c->cls[k] == C_NUMBER; k++) {}
        return k;
    }
    int64_t j = cp == ' ' && i + 1 < c->n && c->cls[i + 1] == C_OTHER ? i + 1 : i;
    if (c->cls[j] == C_OTHER) {
        k = run_of(c, j, C_OTHER);
        while (k < c->n && (c->cp[k] == '\r' || c->cp[k] == '\n')) k++;
        return k;
    }
    int64_t end = run_of(c, i, C_SPACE), last_nl = -1;  // \s*[\r\n]+: up to the run's last newline
    for (k = i; k < end; k++)
        if (c->cp[k] == '\r' || c->cp[k] == '\n') last_nl = k;
    if (last_nl >= 0) return last_nl + 1;
    return match_spaces(c, i);
}

// ---- single-pattern matchers: end of a match starting exactly at i, or -1 ----

static bool in_list(const UniRange *r, int n, uint32_t x) {
    for (int i = 0; i < n; i++)
        if (x >= r[i].lo && x <= r[i].hi) return true;
    return false;
}

// DeepSeek LLM's cased-letter class (literal ranges in its tokenizer.json).
static const UniRange dsk_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
    {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
    {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
    {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
    {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
    {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
// DeepSeek's punctuation class: ASCII punctuation and symbols, their full-width forms, quotes,
// the ideographic space, comma and full stop.
static const UniRange dsk_punct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};
// CJK ideographs (U+4E00..U+9FA5), U+0800..U+4E00 and Hangul syllables (U+AC00..U+D7FF).
static const UniRange dsk_cjk[] = {{0x4E00, 0x9FA5}, {0x800, 0x4E00}, {0xAC00, 0xD7FF}};

// A code point as a literal-range pattern sees it: non-ASCII white space is never in a range.
static bool lit_in(const Chars *c, int64_t i, const UniRange *r, int n) {
    return i < c->n && c->col[i] != K_SPACE && in_list(r, n, c->cp[i]);
}

typedef enum {
    P_NEWLINE,      // [\r\n]
    P_DSK_LETTERS,  // \s?[cased letters]+
    P_DSK_PUNCT,    // \s?[punctuation]+
    P_TRAIL_SPACE,  // \s+$
    P_CJK,          // [CJK ranges]+
    P_NUMBERS,      // \p{N}+
    P_NUMBER,       // \p{N}
    P_LETTERS,      // \s?\p{L}+
    P_PUNCTS,       // \s?\p{P}+
    P_FALCON_PUNCT, // [\p{P}\$\+<=>\^~\|`]+
    P_DIGITS3,      // [0-9][0-9][0-9]
} Pattern;

static bool falcon_punct_at(const Chars *c, int64_t i) {
    return pp_at(c, i) || (i < c->n && c->cp[i] < 128 && c->cp[i] != 0 && strchr("$+<=>^~|`", (int)c->cp[i]));
}

static bool digit_at(const Chars *c, int64_t i) { return i < c->n && c->cp[i] >= '0' && c->cp[i] <= '9'; }

static int64_t match_at(Pattern p, const Chars *c, int64_t i) {
    int64_t k = i;
    switch (p) {
    case P_NEWLINE: return c->cp[i] == '\r' || c->cp[i] == '\n' ? i + 1 : -1;
    case P_NUMBER: return pn_at(c, i) ? i + 1 : -1;
    case P_DIGITS3: return digit_at(c, i) && digit_at(c, i + 1) && digit_at(c, i + 2) ? i + 3 : -1;
    case P_NUMBERS:
        while (pn_at(c, k)) k++;
        break;
    case P_CJK:
        while (lit_in(c, k, dsk_cjk, 3)) k++;
        break;
    case P_FALCON_PUNCT:
        while (falcon_punct_at(c, k)) k++;
        break;
    case P_DSK_LETTERS:
    case P_DSK_PUNCT:
    case P_LETTERS:
    case P_PUNCTS: {
        // \s? is greedy but gives its character back when the class does not follow
        for (int64_t s = s_at(c, i) ? i + 1 : i; s >= i; s--) {
            k = s;
            for (;;) {
                bool in = p == P_DSK_LETTERS ? lit_in(c, k, dsk_letters, ARRAY_LEN(dsk_letters))
                          : p == P_DSK_PUNCT ? lit_in(c, k, dsk_punct, ARRAY_LEN(dsk_punct))
                          : p == P_LETTERS   ? pl_at(c, k)
                                             : pp_at(c, k);
                if (!in) break;
                k++;
            }
            if (k > s) return k;
        }
        return -1;
    }
    case P_TRAIL_SPACE:
        while (s_at(c, k)) k++;
        return k > i && k == c->n ? k : -1;
    }
    return k > i ? k : -1;
}

// ---- passes ----

typedef enum { S_GPT2, S_LLAMA3, S_QWEN2, S_QWEN35, S_PATTERN } SplitKind;

typedef struct {
    SplitKind kind;
    Pattern pat;  // S_PATTERN
} Pass;

#define MAX_PASSES 6
static const struct {
    int n;
    Pass p[MAX_PASSES];
} pre_passes[TOK_PRE_COUNT] = {
    [TOK_PRE_GPT2] = {1, {{S_GPT2, 0}}},
    [TOK_PRE_LLAMA3] = {1, {{S_LLAMA3, 0}}},
    [TOK_PRE_QWEN2] = {1, {{S_QWEN2, 0}}},
    [TOK_PRE_QWEN35] = {1, {{S_QWEN35, 0}}},
    [TOK_PRE_STARCODER] = {2, {{S_PATTERN, P_NUMBER}, {S_GPT2, 0}}},
    [TOK_PRE_FALCON] = {3, {{S_PATTERN, P_FALCON_PUNCT}, {S_GPT2, 0}, {S_PATTERN, P_DIGITS3}}},
    [TOK_PRE_DEEPSEEK_LLM] = {6, {{S_PATTERN, P_NEWLINE}, {S_PATTERN, P_DSK_LETTERS},
                                  {S_PATTERN, P_DSK_PUNCT}, {S_PATTERN, P_TRAIL_SPACE},
                                  {S_PATTERN, P_CJK}, {S_PATTERN, P_NUMBERS}}},
    [TOK_PRE_DEEPSEEK_CODER] = {5, {{S_PATTERN, P_NEWLINE}, {S_PATTERN, P_LETTERS},
                                    {S_PATTERN, P_PUNCTS}, {S_PATTERN, P_CJK}, {S_PATTERN, P_NUMBER}}},
};

// Splits piece [s, e) by one pass, appending piece ends to out.
static int64_t split_piece(const Pass *ps, const Chars *all, int64_t s, int64_t e, int64_t *out,
                           int64_t no) {
    Chars c = *all;
    c.n = e;
    if (ps->kind != S_PATTERN) {  // a whole-pattern matcher covers every character
        for (int64_t i = s; i < e;) {
            int64_t k = ps->kind == S_GPT2     ? match_gpt2(&c, i)
                        : ps->kind == S_LLAMA3 ? match_llama3(&c, i, 3)
                                               : match_llama3(&c, i, 1);
            CHECK(k > i && k <= e);
            out[no++] = i = k;
        }
        return no;
    }
    int64_t pos = s;
    for (int64_t i = s; i < e; i++) {
        int64_t k = match_at(ps->pat, &c, i);
        if (k < 0) {  // \s+$ fails for every start inside a run that stops short of the end
            if (ps->pat == P_TRAIL_SPACE)
                while (i + 1 < e && s_at(&c, i + 1)) i++;
            continue;
        }
        if (i > pos) out[no++] = i;  // the gap before the match
        out[no++] = k;
        pos = k;
        i = k - 1;
    }
    if (pos < e) out[no++] = e;
    return no;
}

int64_t tok_pre_split(TokPre pre, const uint32_t *cp, int64_t n, int64_t *ends, int64_t *tmp) {
    CHECK(pre > TOK_PRE_NONE && pre < TOK_PRE_COUNT);
    uint8_t *cls = malloc((size_t)n + 1), *col = malloc((size_t)n + 1);
    if (!cls || !col) {
        free(cls), free(col);
        return ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t x = cp[i];
        bool sp = x != UNI_INVALID && uni_is_space(x);
        bool le = x != UNI_INVALID && uni_is_letter(x), nu = x != UNI_INVALID && uni_is_number(x);
        if (pre == TOK_PRE_QWEN35 && x != UNI_INVALID && uni_is_mark(x)) le = true;
        cls[i] = sp ? C_SPACE : le ? C_LETTER : nu ? C_NUMBER : C_OTHER;
        col[i] = x < 128               ? K_ASCII
                 : x == UNI_INVALID    ? K_NONE
                 : sp                  ? K_SPACE
                 : uni_is_number(x)    ? K_NUMBER
                 : uni_is_letter(x)    ? K_LETTER
                 : uni_is_punct(x)     ? K_PUNCT
                 : uni_is_mark(x)      ? K_MARK
                 : uni_is_symbol(x)    ? K_SYMBOL
                                       : K_NONE;
    }
    Chars c = {cp, cls, col, n};
    int64_t ne = 0;
    if (n > 0) ends[ne++] = n;
    for (int p = 0; p < pre_passes[pre].n; p++) {
        int64_t nt = 0, s = 0;
        for (int64_t j = 0; j < ne; j++) {
            nt = split_piece(&pre_passes[pre].p[p], &c, s, ends[j], tmp, nt);
            s = ends[j];
        }
        memcpy(ends, tmp, (size_t)nt * sizeof *ends);
        ne = nt;
    }
    free(cls), free(col);
    return ne;
}
