// jinja_lex.c — template text → tokens, with @huggingface/jinja's preprocessing: one final
// newline dropped, lstrip_blocks (spaces and tabs before a {% or {# that starts a line go),
// trim_blocks (the newline after %} or #} goes), {% generation %} markers removed, and "-"
// whitespace control on every tag.
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/jinja_impl.h"
#include "engine/unicode.h"

// Byte length of the white-space character at s[i] (JavaScript's \s), or 0.
static int ws_len(Str s, size_t i) {
    if (i >= s.len) return 0;
    uint8_t c = (uint8_t)s.ptr[i];
    if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13) ? 1 : 0;
    uint32_t cp;
    int n = uni_decode(s.ptr + i, s.len - i, &cp);
    return cp != UNI_INVALID && jv_js_space(cp) ? n : 0;
}

static bool line_start(Str s, size_t i) {
    if (i == 0) return true;
    char p = s.ptr[i - 1];
    if (p == '\n' || p == '\r') return true;
    // U+2028 / U+2029 end lines for JavaScript's multiline ^ too
    return i >= 3 && (uint8_t)s.ptr[i - 3] == 0xE2 && (uint8_t)s.ptr[i - 2] == 0x80 &&
           ((uint8_t)s.ptr[i - 1] == 0xA8 || (uint8_t)s.ptr[i - 1] == 0xA9);
}

static bool tag_open_at(Str s, size_t i) {  // "{%", "{#" or "{-"
    return i + 1 < s.len && s.ptr[i] == '{' && (s.ptr[i + 1] == '%' || s.ptr[i + 1] == '#' || s.ptr[i + 1] == '-');
}

// {%-? \s* (end)?generation \s* -?%} at i: its end, and its strip flags; 0 when none.
static size_t generation_tag(Str s, size_t i, bool *lstrip, bool *rstrip) {
    if (i + 1 >= s.len || s.ptr[i] != '{' || s.ptr[i + 1] != '%') return 0;
    size_t k = i + 2;
    *lstrip = k < s.len && s.ptr[k] == '-';
    if (*lstrip) k++;
    for (int w; (w = ws_len(s, k)) > 0;) k += (size_t)w;
    if (k + 3 <= s.len && memcmp(s.ptr + k, "end", 3) == 0 && k + 13 <= s.len &&
        memcmp(s.ptr + k + 3, "generation", 10) == 0)
        k += 3;
    if (k + 10 > s.len || memcmp(s.ptr + k, "generation", 10) != 0) return 0;
    k += 10;
    for (int w; (w = ws_len(s, k)) > 0;) k += (size_t)w;
    *rstrip = k < s.len && s.ptr[k] == '-';
    if (*rstrip) k++;
    if (k + 2 > s.len || s.ptr[k] != '%' || s.ptr[k + 1] != '}') return 0;
    return k + 2;
}

static Str preprocess(JxCtx *c, Str src) {
    if (src.len > 0 && src.ptr[src.len - 1] == '\n') src.len--;
    char *a = jx_alloc(c, src.len + 1), *b = jx_alloc(c, src.len + 1), *d = jx_alloc(c, src.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < src.len;) {  // lstrip_blocks
        if (line_start(src, i)) {
            size_t k = i;
            while (k < src.len && (src.ptr[k] == ' ' || src.ptr[k] == '\t')) k++;
            if (tag_open_at(src, k)) i = k;
        }
        a[n++] = src.ptr[i++];
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) {  // trim_blocks
        if (i + 2 < n && (a[i] == '#' || a[i] == '%' || a[i] == '-') && a[i + 1] == '}' && a[i + 2] == '\n') {
            b[m++] = a[i], b[m++] = '}';
            i += 3;
            continue;
        }
        b[m++] = a[i++];
    }
    Str s = {b, m};
    size_t o = 0, last = 0;
    for (size_t i = 0; i < m;) {  // {% generation %} markers
        bool ls, rs;
        size_t e = generation_tag(s, i, &ls, &rs);
        if (!e) {
            i++;
            continue;
        }
        size_t end = i;
        while (ls && end > last) {  // strip white space before (ASCII and the common others)
            size_t k = end - 1;
            while (k > last && ((uint8_t)b[k] & 0xC0) == 0x80) k--;
            if (!ws_len(s, k)) break;
            end = k;
        }
        memcpy(d + o, b + last, end - last), o += end - last;
        size_t after = e;
        for (int w; (w = ws_len(s, after)) > 0;) after += (size_t)w;
        if (!rs) memcpy(d + o, b + e, after - e), o += after - e;
        last = i = after;
    }
    memcpy(d + o, b + last, m - last), o += m - last;
    return (Str){d, o};
}

typedef struct {
    JxCtx *c;
    Str s;
    size_t pos;
    JxTok *t;
    int64_t n, cap;
} Lexer;

static void push(Lexer *L, JxTokKind k, Str text) {
    if (L->n == L->cap) {
        int64_t cap = L->cap ? 2 * L->cap : 256;
        JxTok *t = jx_alloc(L->c, (size_t)cap * sizeof *t);
        if (L->n) memcpy(t, L->t, (size_t)L->n * sizeof *t);
        L->t = t, L->cap = cap;
    }
    L->t[L->n++] = (JxTok){k, text};
}

static bool last_is(const Lexer *L, JxTokKind k) { return L->n > 0 && L->t[L->n - 1].kind == k; }

static void strip_trailing(Lexer *L) {  // "{%-": the text before loses its trailing white space
    if (!last_is(L, JT_TEXT)) return;
    JxTok *t = &L->t[L->n - 1];
    t->text = jv_trim(t->text, false, true);
    if (t->text.len == 0) L->n--;
}

static void skip_ws(Lexer *L) {
    for (int w; (w = ws_len(L->s, L->pos)) > 0;) L->pos += (size_t)w;
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_word(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_';
}

static Str digits(Lexer *L) {
    size_t st = L->pos;
    while (L->pos < L->s.len && is_digit(L->s.ptr[L->pos])) L->pos++;
    if (L->pos >= L->s.len) jx_fail(L->c, ERR_FORMAT, "jinja: unexpected end of input");
    return (Str){L->s.ptr + st, L->pos - st};
}

static int hexval(char ch) {
    if (is_digit(ch)) return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static Str string_lit(Lexer *L, char quote) {
    Buf *b = jx_buf(L->c);
    for (;;) {
        if (L->pos >= L->s.len) {
            jx_fail(L->c, ERR_FORMAT, "jinja: unexpected end of input in a string");
        }
        char ch = L->s.ptr[L->pos++];
        if (ch == quote) break;
        if (ch != '\\') {
            buf_append(b, &ch, 1);
            continue;
        }
        if (L->pos >= L->s.len) {
            jx_fail(L->c, ERR_FORMAT, "jinja: unexpected end of input in a string");
        }
        char e = L->s.ptr[L->pos++];
        static const char from[] = "ntrbfv'\"\\", to[] = "\n\t\r\b\f\v'\"\\";
        const char *k = e ? strchr(from, e) : NULL;
        if (e == 'x' || e == 'u') {
            int len = e == 'x' ? 2 : 4;
            uint32_t cp = 0;
            for (int j = 0; j < len; j++) {
                int h = L->pos + (size_t)j < L->s.len ? hexval(L->s.ptr[L->pos + (size_t)j]) : -1;
                if (h < 0) {
                            jx_fail(L->c, ERR_FORMAT, "jinja: invalid hexadecimal escape sequence");
                }
                cp = cp * 16 + (uint32_t)h;
            }
            L->pos += (size_t)len;
            char u[4];
            buf_append(b, u, (size_t)uni_encode(cp, u));
        } else if (k) {
            buf_append(b, &to[k - from], 1);
        } else {
            jx_fail(L->c, ERR_FORMAT, "jinja: unexpected escaped character '%c'", e);
        }
    }
    return jv_buf_str(L->c, b);
}

// Operators and punctuation, longest first within a first character.
static const struct {
    const char *s;
    JxTokKind k;
} ops[] = {
    {"{%", JT_OPEN_STMT}, {"%}", JT_CLOSE_STMT}, {"{{", JT_OPEN_EXPR}, {"}}", JT_CLOSE_EXPR},
    {"(", JT_LPAREN}, {")", JT_RPAREN}, {"{", JT_LBRACE}, {"}", JT_RBRACE}, {"[", JT_LBRACKET},
    {"]", JT_RBRACKET}, {",", JT_COMMA}, {".", JT_DOT}, {":", JT_COLON}, {"|", JT_PIPE},
    {"<=", JT_CMP}, {">=", JT_CMP}, {"==", JT_CMP}, {"!=", JT_CMP}, {"<", JT_CMP}, {">", JT_CMP},
    {"+", JT_ADD}, {"-", JT_ADD}, {"~", JT_ADD}, {"**", JT_POW}, {"*", JT_MUL}, {"//", JT_MUL},
    {"/", JT_MUL}, {"%", JT_MUL}, {"=", JT_EQUALS},
};

// One token inside a tag; returns false at a tag boundary handled by the caller.
static void tag_token(Lexer *L, int *curly) {
    Str s = L->s;
    char ch = s.ptr[L->pos];
    if (ch == '-' && L->pos + 2 < s.len + 0 && s.ptr[L->pos + 2] == '}' &&
        (s.ptr[L->pos + 1] == '%' || s.ptr[L->pos + 1] == '}')) {
        push(L, s.ptr[L->pos + 1] == '%' ? JT_CLOSE_STMT : JT_CLOSE_EXPR, STR_LIT("}"));
        L->pos += 3;
        skip_ws(L);
        return;
    }
    if (ch == '-' || ch == '+') {
        if (L->n == 0 || last_is(L, JT_TEXT)) jx_fail(L->c, ERR_FORMAT, "jinja: unexpected character: %c", ch);
        JxTokKind lk = L->t[L->n - 1].kind;
        if (lk != JT_NAME && lk != JT_NUMBER && lk != JT_STRING && lk != JT_RPAREN && lk != JT_RBRACKET) {
            size_t st = L->pos++;
            Str num = digits(L);
            if (num.len > 0 && L->pos + 1 < s.len && s.ptr[L->pos] == '.' && is_digit(s.ptr[L->pos + 1])) {
                L->pos++;
                digits(L);
            }
            push(L, num.len ? JT_NUMBER : JT_UNARY, (Str){s.ptr + st, L->pos - st});
            return;
        }
    }
    for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
        size_t k = strlen(ops[i].s);
        if (ops[i].s[0] != ch || L->pos + k > s.len || memcmp(s.ptr + L->pos, ops[i].s, k) != 0) continue;
        if (ops[i].k == JT_CLOSE_EXPR && *curly > 0) continue;
        push(L, ops[i].k, (Str){s.ptr + L->pos, k});
        if (ops[i].k == JT_OPEN_EXPR) *curly = 0;
        else if (ops[i].k == JT_LBRACE) ++*curly;
        else if (ops[i].k == JT_RBRACE) --*curly;
        L->pos += k;
        return;
    }
    if (ch == '\'' || ch == '"') {
        L->pos++;
        push(L, JT_STRING, string_lit(L, ch));
        return;
    }
    if (is_digit(ch)) {
        size_t st = L->pos;
        digits(L);
        if (!last_is(L, JT_DOT) && L->pos + 1 < s.len && s.ptr[L->pos] == '.' && is_digit(s.ptr[L->pos + 1])) {
            L->pos++;
            digits(L);
        }
        push(L, JT_NUMBER, (Str){s.ptr + st, L->pos - st});
        return;
    }
    if (is_word(ch)) {
        size_t st = L->pos;
        while (L->pos < s.len && is_word(s.ptr[L->pos])) L->pos++;
        if (L->pos >= s.len) jx_fail(L->c, ERR_FORMAT, "jinja: unexpected end of input");
        push(L, JT_NAME, (Str){s.ptr + st, L->pos - st});
        return;
    }
    jx_fail(L->c, ERR_FORMAT, "jinja: unexpected character: '%c'", ch);
}

int64_t jx_lex(JxCtx *c, Str src, JxTok **out) {
    Lexer L = {.c = c, .s = preprocess(c, src)};
    Str s = L.s;
    int curly = 0;
    while (L.pos < s.len) {
        if (L.n == 0 || last_is(&L, JT_CLOSE_STMT) || last_is(&L, JT_CLOSE_EXPR) || last_is(&L, JT_COMMENT)) {
            size_t end = L.pos;
            for (;;) {  // text runs to the next {%, {{ or {#
                const char *q = memchr(s.ptr + end, '{', s.len - end);
                if (!q) {
                    end = s.len;
                    break;
                }
                end = (size_t)(q - s.ptr);
                char nx = end + 1 < s.len ? s.ptr[end + 1] : 0;
                if (nx == '%' || nx == '{' || nx == '#') break;
                end++;
            }
            if (end > L.pos) {
                push(&L, JT_TEXT, (Str){s.ptr + L.pos, end - L.pos});
                L.pos = end;
                continue;
            }
        }
        if (s.ptr[L.pos] == '{' && L.pos + 1 < s.len) {
            char nx = s.ptr[L.pos + 1];
            if (nx == '#') {
                L.pos += 2;
                bool before = L.pos < s.len && s.ptr[L.pos] == '-';
                if (before) L.pos++;
                const char *e = memmem(s.ptr + L.pos, s.len - L.pos, "#}", 2);
                if (!e) jx_fail(c, ERR_FORMAT, "jinja: missing end of comment tag");
                size_t end = (size_t)(e - s.ptr);
                bool after = end > L.pos && s.ptr[end - 1] == '-';
                if (before) strip_trailing(&L);
                push(&L, JT_COMMENT, (Str){s.ptr + L.pos, end - L.pos - (after ? 1 : 0)});
                L.pos = end + 2;
                if (after) skip_ws(&L);
                continue;
            }
            if (L.pos + 2 < s.len && s.ptr[L.pos + 2] == '-' && (nx == '%' || nx == '{')) {
                strip_trailing(&L);
                push(&L, nx == '%' ? JT_OPEN_STMT : JT_OPEN_EXPR, (Str){s.ptr + L.pos, 2});
                if (nx == '{') curly = 0;
                L.pos += 3;
                continue;
            }
        }
        skip_ws(&L);
        if (L.pos >= s.len) jx_fail(c, ERR_FORMAT, "jinja: unexpected end of input");
        tag_token(&L, &curly);
    }
    *out = L.t;
    return L.n;
}
