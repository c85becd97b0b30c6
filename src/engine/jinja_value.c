// jinja_value.c — the interpreter's values: allocation under a memory limit, arrays and ordered
// objects, truthiness and equality with JavaScript's rules, and printing and JSON exactly as
// @huggingface/jinja writes them (its numbers are JavaScript numbers).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/jinja_impl.h"
#include "engine/unicode.h"

// ---- allocation and errors ----

void *jx_alloc(JxCtx *c, size_t n) {
    if (n > c->cap || c->used > c->cap - n)
        jx_fail(c, ERR_RANGE, "jinja: template used more than its memory limit (%zu bytes)", c->cap);
    void *p = arena_alloc(&c->arena, n ? n : 1);
    if (!p) jx_fail(c, ERR_NOMEM, "jinja: out of memory");
    c->used += n;
    return p;
}

void jx_fail(JxCtx *c, int code, const char *fmt, ...) {
    if (c->err && c->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_len, fmt, ap);
        va_end(ap);
    }
    c->code = code;
    longjmp(c->jump, 1);
}

struct JxBufNode {
    Buf b;
    JxBufNode *next;
};

Buf *jx_buf(JxCtx *c) {
    JxBufNode *n = jx_alloc(c, sizeof *n);
    n->next = c->bufs;
    c->bufs = n;
    return &n->b;
}

void jx_bufs_free(JxCtx *c) {
    for (JxBufNode *n = c->bufs; n; n = n->next) buf_free(&n->b);
    c->bufs = NULL;
}

// ---- construction ----

JVal jv_new_array(JxCtx *c, JvKind kind) {
    JVal v = {.kind = kind};
    v.arr = jx_alloc(c, sizeof *v.arr);
    return v;
}

JVal jv_new_object(JxCtx *c, JvKind kind) {
    JVal v = {.kind = kind};
    v.obj = jx_alloc(c, sizeof *v.obj);
    return v;
}

void jv_push(JxCtx *c, JVal arr, JVal v) {
    JvArr *a = arr.arr;
    if (a->n == a->cap) {
        int64_t cap = a->cap ? 2 * a->cap : 4;
        JVal *nv = jx_alloc(c, (size_t)cap * sizeof *nv);
        if (a->n) memcpy(nv, a->v, (size_t)a->n * sizeof *nv);
        a->v = nv, a->cap = cap;
    }
    a->v[a->n++] = v;
}

bool jv_get(JVal obj, Str key, JVal *out) {
    const JvObj *o = obj.obj;
    for (int64_t i = 0; i < o->n; i++)
        if (str_eq(o->keys[i], key)) {
            *out = o->vals[i];
            return true;
        }
    return false;
}

void jv_put(JxCtx *c, JVal obj, Str key, JVal v) {
    JvObj *o = obj.obj;
    for (int64_t i = 0; i < o->n; i++)
        if (str_eq(o->keys[i], key)) {
            o->vals[i] = v;
            return;
        }
    if (o->n == o->cap) {
        int64_t cap = o->cap ? 2 * o->cap : 4;
        Str *k = jx_alloc(c, (size_t)cap * sizeof *k);
        JVal *vv = jx_alloc(c, (size_t)cap * sizeof *vv);
        if (o->n) memcpy(k, o->keys, (size_t)o->n * sizeof *k), memcpy(vv, o->vals, (size_t)o->n * sizeof *vv);
        o->keys = k, o->vals = vv, o->cap = cap;
    }
    o->keys[o->n] = key;
    o->vals[o->n++] = v;
}

JVal jv_cstr(JxCtx *c, const char *s) {
    size_t n = strlen(s);
    char *p = jx_alloc(c, n + 1);
    memcpy(p, s, n);
    return jv_str((Str){p, n});
}

JVal jv_concat(JxCtx *c, Str a, Str b) {
    char *p = jx_alloc(c, a.len + b.len + 1);
    if (a.len) memcpy(p, a.ptr, a.len);
    if (b.len) memcpy(p + a.len, b.ptr, b.len);
    return jv_str((Str){p, a.len + b.len});
}

Str jv_buf_str(JxCtx *c, Buf *b) {
    char *p = NULL;
    size_t n = b->len;
    if (b->len) {
        if (n > c->cap || c->used > c->cap - n) {
            buf_free(b);
            jx_fail(c, ERR_RANGE, "jinja: template used more than its memory limit (%zu bytes)", c->cap);
        }
        p = arena_alloc(&c->arena, n + 1);
        if (!p) {
            buf_free(b);
            jx_fail(c, ERR_NOMEM, "jinja: out of memory");
        }
        c->used += n;
        memcpy(p, b->data, n);
    }
    buf_free(b);
    return (Str){p ? p : "", n};
}

// ---- kinds ----

const char *jv_type_name(JvKind k) {
    static const char *const names[] = {
        [JV_UNDEF] = "UndefinedValue", [JV_NULL] = "NullValue", [JV_BOOL] = "BooleanValue",
        [JV_INT] = "IntegerValue", [JV_FLOAT] = "FloatValue", [JV_STR] = "StringValue",
        [JV_ARRAY] = "ArrayValue", [JV_TUPLE] = "TupleValue", [JV_OBJECT] = "ObjectValue",
        [JV_NAMESPACE] = "NamespaceValue", [JV_KWARGS] = "KeywordArgumentsValue",
        [JV_FUNC] = "FunctionValue",
    };
    return names[k];
}

bool jv_is_array(JVal v) { return v.kind == JV_ARRAY || v.kind == JV_TUPLE; }
bool jv_is_object(JVal v) { return v.kind == JV_OBJECT || v.kind == JV_KWARGS; }
bool jv_is_attr(JVal v) { return jv_is_object(v) || v.kind == JV_NAMESPACE; }

bool jv_truthy(JVal v) {
    switch (v.kind) {
    case JV_UNDEF:
    case JV_NULL: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0 && !isnan(v.f);
    case JV_STR: return v.s.len > 0;
    case JV_ARRAY:
    case JV_TUPLE: return v.arr->n > 0;
    case JV_OBJECT:
    case JV_KWARGS: return v.obj->n > 0;
    case JV_NAMESPACE:
    case JV_FUNC: return true;
    }
    return false;
}

static bool is_num(JVal v) { return v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL; }
static double num(JVal v) { return v.kind == JV_INT ? (double)v.i : v.kind == JV_FLOAT ? v.f : v.b; }

// JavaScript's Number(string): trimmed decimal (or 0x hex, Infinity); "" is 0; else NaN.
static double js_to_number(Str s) {
    s = jv_trim(s, true, true);
    if (s.len == 0) return 0;
    char buf[128];
    if (s.len >= sizeof buf) return NAN;
    str_to_c(s, buf, sizeof buf);
    char *end;
    double d = strtod(buf, &end);
    if (*end || strchr(buf, 'n') || strchr(buf, 'N') || strchr(buf, 'p') || strchr(buf, 'P')) return NAN;
    return d;
}

bool jv_loose_eq(JVal a, JVal b) {
    bool an = a.kind == JV_NULL || a.kind == JV_UNDEF, bn = b.kind == JV_NULL || b.kind == JV_UNDEF;
    if (an || bn) return an && bn;
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a.kind == JV_STR && b.kind == JV_STR) return str_eq(a.s, b.s);
    if (a.kind == JV_STR && is_num(b)) return js_to_number(a.s) == num(b);
    if (b.kind == JV_STR && is_num(a)) return js_to_number(b.s) == num(a);
    if (jv_is_array(a) && jv_is_array(b)) return a.arr == b.arr;
    if (jv_is_attr(a) && jv_is_attr(b)) return a.obj == b.obj;
    if (a.kind == JV_FUNC && b.kind == JV_FUNC) return a.fn == b.fn;
    return false;
}

bool jv_strict_eq(JVal a, JVal b) {
    bool an = a.kind == JV_NULL || a.kind == JV_UNDEF, bn = b.kind == JV_NULL || b.kind == JV_UNDEF;
    if (an || bn) return an && bn;  // both hold JavaScript's undefined
    if ((a.kind == JV_INT || a.kind == JV_FLOAT) && (b.kind == JV_INT || b.kind == JV_FLOAT)) return num(a) == num(b);
    if (a.kind != b.kind && !(jv_is_array(a) && jv_is_array(b)) && !(jv_is_attr(a) && jv_is_attr(b))) return false;
    return jv_loose_eq(a, b);
}

// ---- text ----

bool jv_js_space(uint32_t c) {
    return c == ' ' || (c >= 9 && c <= 13) || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

Str jv_trim(Str s, bool left, bool right) {
    while (left && s.len > 0) {
        uint32_t cp;
        int n = uni_decode(s.ptr, s.len, &cp);
        if (cp == UNI_INVALID || !jv_js_space(cp)) break;
        s.ptr += n, s.len -= (size_t)n;
    }
    while (right && s.len > 0) {
        size_t k = s.len - 1;
        while (k > 0 && ((uint8_t)s.ptr[k] & 0xC0) == 0x80 && s.len - k < 4) k--;
        uint32_t cp;
        int n = uni_decode(s.ptr + k, s.len - k, &cp);
        if (cp == UNI_INVALID || (size_t)n != s.len - k || !jv_js_space(cp)) break;
        s.len = k;
    }
    return s;
}

void jv_fmt_double(Buf *b, double d) {
    if (isnan(d)) { buf_append_str(b, "NaN"); return; }
    if (isinf(d)) { buf_append_str(b, d < 0 ? "-Infinity" : "Infinity"); return; }
    if (d == 0) { buf_append_str(b, "0"); return; }
    char e[40];
    int p;
    for (p = 1; p <= 17; p++) {  // the shortest digits that read back as d
        snprintf(e, sizeof e, "%.*e", p - 1, d);
        if (strtod(e, NULL) == d) break;
    }
    // e is "-d.ddde+XX": digits and exponent
    char dig[24];
    int nd = 0, neg = e[0] == '-';
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') dig[nd++] = *q;
    int exp = atoi(q + 1);
    if (neg) buf_append_str(b, "-");
    if (exp >= 21 || exp <= -7) {
        buf_append(b, dig, 1);
        if (nd > 1) buf_append_str(b, "."), buf_append(b, dig + 1, (size_t)nd - 1);
        buf_printf(b, "e%c%d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        buf_append_str(b, "0.");
        for (int i = -1; i > exp; i--) buf_append_str(b, "0");
        buf_append(b, dig, (size_t)nd);
    } else if (nd <= exp + 1) {
        buf_append(b, dig, (size_t)nd);
        for (int i = nd; i <= exp; i++) buf_append_str(b, "0");
    } else {
        buf_append(b, dig, (size_t)exp + 1);
        buf_append_str(b, ".");
        buf_append(b, dig + exp + 1, (size_t)(nd - exp - 1));
    }
}

static void fmt_float_value(Buf *b, double f) {  // FloatValue.toString: 1 → "1.0"
    if (f == 0 && signbit(f)) buf_append_str(b, "-0.0");
    else if (isfinite(f) && f == floor(f) && fabs(f) < 1e21) buf_printf(b, "%.1f", f);
    else jv_fmt_double(b, f);
}

_Noreturn static void no_json(JxCtx *c, JvKind k) {
    jx_fail(c, ERR_FORMAT, "jinja: cannot convert to JSON: %s", jv_type_name(k));
}

void jv_print(JxCtx *c, Buf *b, JVal v) {
    switch (v.kind) {
    case JV_UNDEF:
    case JV_NULL: return;
    case JV_BOOL: buf_append_str(b, v.b ? "true" : "false"); return;
    case JV_INT: buf_printf(b, "%lld", (long long)v.i); return;
    case JV_FLOAT: fmt_float_value(b, v.f); return;
    case JV_STR: buf_append(b, v.s.ptr, v.s.len); return;
    case JV_ARRAY:
    case JV_OBJECT:
    case JV_NAMESPACE: {
        JvJsonOpts o = {.indent = -1};
        jv_json(c, b, v, &o, 0);
        return;
    }
    default: no_json(c, v.kind);
    }
}

// RuntimeValue.toString() of an element inside an array being joined by JavaScript.
static void element_string(JxCtx *c, Buf *b, JVal v) {
    if (v.kind == JV_NULL || v.kind == JV_UNDEF) buf_append_str(b, "undefined");
    else jv_print(c, b, v);
}

void jv_js_string(JxCtx *c, Buf *b, JVal v) {
    switch (v.kind) {
    case JV_INT: buf_printf(b, "%lld", (long long)v.i); return;
    case JV_FLOAT: jv_fmt_double(b, v.f); return;
    case JV_BOOL: buf_append_str(b, v.b ? "true" : "false"); return;
    case JV_STR: buf_append(b, v.s.ptr, v.s.len); return;
    case JV_ARRAY:
    case JV_TUPLE:
        for (int64_t i = 0; i < v.arr->n; i++) {
            if (i) buf_append_str(b, ",");
            element_string(c, b, v.arr->v[i]);
        }
        return;
    case JV_OBJECT:
    case JV_KWARGS:
    case JV_NAMESPACE: buf_append_str(b, "[object Map]"); return;
    default: jx_fail(c, ERR_FORMAT, "jinja: cannot read properties of undefined (reading 'toString')");
    }
}

// JSON.stringify of a string, then \uXXXX for everything past U+007E when ensure_ascii is set.
static void json_string(Buf *b, Str s, bool ascii) {
    buf_append_str(b, "\"");
    for (size_t i = 0; i < s.len;) {
        uint8_t ch = (uint8_t)s.ptr[i];
        if (ch < 0x80) {
            i++;
            if (ch == '"') buf_append_str(b, "\\\"");
            else if (ch == '\\') buf_append_str(b, "\\\\");
            else if (ch == '\n') buf_append_str(b, "\\n");
            else if (ch == '\r') buf_append_str(b, "\\r");
            else if (ch == '\t') buf_append_str(b, "\\t");
            else if (ch == '\b') buf_append_str(b, "\\b");
            else if (ch == '\f') buf_append_str(b, "\\f");
            else if (ch < 0x20) buf_printf(b, "\\u%04x", ch);
            else if (ch == 0x7F && ascii) buf_append_str(b, "\\u007f");
            else buf_append(b, &ch, 1);
            continue;
        }
        uint32_t cp;
        int n = uni_decode(s.ptr + i, s.len - i, &cp);
        if (!ascii || cp == UNI_INVALID) {
            buf_append(b, s.ptr + i, (size_t)n);
        } else if (cp < 0x10000) {
            buf_printf(b, "\\u%04x", cp);
        } else {  // a surrogate pair, as JavaScript strings hold it
            cp -= 0x10000;
            buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
        }
        i += (size_t)n;
    }
    buf_append_str(b, "\"");
}

static int cmp_keys(const void *x, const void *y) {  // localeCompare on plain keys
    const Str *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->ptr, b->ptr, n);
    return r ? r : (a->len > b->len) - (a->len < b->len);
}

static void newline_pad(Buf *b, int indent, int depth) {
    buf_append_str(b, "\n");
    for (int i = 0; i < indent * depth; i++) buf_append_str(b, " ");
}

void jv_json(JxCtx *c, Buf *b, JVal v, const JvJsonOpts *o, int depth) {
    if (depth > 200) jx_fail(c, ERR_RANGE, "jinja: value nested too deeply for tojson");
    Str isep = o->custom_seps ? o->item_sep : o->indent > 0 ? STR_LIT(",") : STR_LIT(", ");
    Str ksep = o->custom_seps ? o->key_sep : STR_LIT(": ");
    bool ind = o->indent > 0;
    switch (v.kind) {
    case JV_NULL: buf_append_str(b, "null"); return;
    case JV_UNDEF: buf_append_str(b, o->undef_as_null ? "null" : "undefined"); return;
    case JV_BOOL: buf_append_str(b, v.b ? "true" : "false"); return;
    case JV_INT: buf_printf(b, "%lld", (long long)v.i); return;
    case JV_FLOAT:
        if (!isfinite(v.f)) buf_append_str(b, "null");
        else jv_fmt_double(b, v.f);
        return;
    case JV_STR: json_string(b, v.s, o->ensure_ascii); return;
    case JV_ARRAY: {
        buf_append_str(b, "[");
        for (int64_t i = 0; i < v.arr->n; i++) {
            if (i) buf_append(b, isep.ptr, isep.len);
            if (ind) newline_pad(b, o->indent, depth + 1);
            jv_json(c, b, v.arr->v[i], o, depth + 1);
        }
        if (ind && v.arr->n) newline_pad(b, o->indent, depth);
        buf_append_str(b, "]");
        return;
    }
    case JV_OBJECT:
    case JV_NAMESPACE: {
        const JvObj *ob = v.obj;
        int64_t *order = jx_alloc(c, (size_t)(ob->n ? ob->n : 1) * sizeof *order);
        for (int64_t i = 0; i < ob->n; i++) order[i] = i;
        if (o->sort_keys)  // insertion sort by key (objects here are small)
            for (int64_t i = 1; i < ob->n; i++)
                for (int64_t j = i; j > 0 && cmp_keys(&ob->keys[order[j - 1]], &ob->keys[order[j]]) > 0; j--) {
                    int64_t t = order[j];
                    order[j] = order[j - 1], order[j - 1] = t;
                }
        buf_append_str(b, "{");
        for (int64_t k = 0; k < ob->n; k++) {
            int64_t i = order[k];
            if (k) buf_append(b, isep.ptr, isep.len);
            if (ind) newline_pad(b, o->indent, depth + 1);
            json_string(b, ob->keys[i], o->ensure_ascii);
            buf_append(b, ksep.ptr, ksep.len);
            jv_json(c, b, ob->vals[i], o, depth + 1);
        }
        if (ind && ob->n) newline_pad(b, o->indent, depth);
        buf_append_str(b, "}");
        return;
    }
    default: no_json(c, v.kind);
    }
}
