// jinja_filters.c — filters (value|name and value|name(args)) and the global functions, with
// @huggingface/jinja's behaviour per operand type, including the combinations it refuses.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "engine/jinja_impl.h"

_Noreturn static void cannot(JxRender *r, Str f, JVal v) {
    jx_fail(r->c, ERR_FORMAT, "jinja: cannot apply filter \"%.*s\" to type: %s", (int)f.len, f.ptr, jv_type_name(v.kind));
}

_Noreturn static void unknown(JxRender *r, const char *type, Str f) {
    jx_fail(r->c, ERR_FORMAT, "jinja: unknown %s filter: %.*s", type, (int)f.len, f.ptr);
}

static JVal kw_get(JVal kw, const char *name) {
    JVal v;
    return kw.kind == JV_KWARGS && jv_get(kw, str_from_c(name), &v) ? v : jv_undef();
}

static JVal tojson(JxRender *r, JVal v, JVal kw) {
    JvJsonOpts o = {.indent = -1, .undef_as_null = true};
    JVal ind = kw_get(kw, "indent"), asc = kw_get(kw, "ensure_ascii"), sk = kw_get(kw, "sort_keys");
    JVal seps = kw_get(kw, "separators");
    if (ind.kind == JV_INT) o.indent = ind.i > 100 ? 100 : (int)ind.i;
    else if (ind.kind != JV_UNDEF && ind.kind != JV_NULL) jx_fail(r->c, ERR_FORMAT, "jinja: if set, indent must be a number");
    if (asc.kind == JV_BOOL) o.ensure_ascii = asc.b;
    else if (asc.kind != JV_UNDEF) jx_fail(r->c, ERR_FORMAT, "jinja: if set, ensure_ascii must be a boolean");
    if (sk.kind == JV_BOOL) o.sort_keys = sk.b;
    else if (sk.kind != JV_UNDEF) jx_fail(r->c, ERR_FORMAT, "jinja: if set, sort_keys must be a boolean");
    if (jv_is_array(seps)) {
        if (seps.arr->n != 2 || seps.arr->v[0].kind != JV_STR || seps.arr->v[1].kind != JV_STR)
            jx_fail(r->c, ERR_FORMAT, "jinja: separators must be a tuple of two strings");
        o.custom_seps = true, o.item_sep = seps.arr->v[0].s, o.key_sep = seps.arr->v[1].s;
    } else if (seps.kind != JV_UNDEF && seps.kind != JV_NULL) {
        jx_fail(r->c, ERR_FORMAT, "jinja: if set, separators must be a tuple of two strings");
    }
    if (o.indent == 0) o.indent = -1;  // JavaScript: indent 0 is "no indent"
    Buf *b = jx_buf(r->c);
    jv_json(r->c, b, v, &o, 0);
    return jv_str(jv_buf_str(r->c, b));
}

static JVal join(JxRender *r, JVal v, Str sep) {
    Buf *b = jx_buf(r->c);
    if (v.kind == JV_STR) {  // every code point, separated
        for (size_t i = 0; i < v.s.len; i++) {
            if (i && ((uint8_t)v.s.ptr[i] & 0xC0) != 0x80) buf_append(b, sep.ptr, sep.len);
            buf_append(b, v.s.ptr + i, 1);
        }
    } else {
        for (int64_t i = 0; i < v.arr->n; i++) {  // Array.join of the raw values
            if (i) buf_append(b, sep.ptr, sep.len);
            JVal x = v.arr->v[i];
            if (x.kind == JV_NULL || x.kind == JV_UNDEF) continue;
            jv_js_string(r->c, b, x);
        }
    }
    return jv_str(jv_buf_str(r->c, b));
}

static JVal indent(JxRender *r, JVal v, JVal width, bool first, bool blank) {
    Str pad;
    if (width.kind == JV_STR) {
        pad = width.s;
    } else if (width.kind == JV_INT) {
        int64_t w = width.i < 0 ? 0 : width.i > 1000 ? 1000 : width.i;
        char *p = jx_alloc(r->c, (size_t)w + 1);
        memset(p, ' ', (size_t)w);
        pad = (Str){p, (size_t)w};
    } else {
        jx_fail(r->c, ERR_FORMAT, "jinja: width must be an integer or a string");
    }
    Buf *b = jx_buf(r->c);
    Str s = v.s;
    for (int64_t line = 0;; line++) {
        const char *nl = memchr(s.ptr, '\n', s.len);
        size_t n = nl ? (size_t)(nl - s.ptr) : s.len;
        if (!((!first && line == 0) || (!blank && n == 0))) buf_append(b, pad.ptr, pad.len);
        buf_append(b, s.ptr, n);
        if (!nl) break;
        buf_append(b, "\n", 1);
        s = (Str){nl + 1, s.len - n - 1};
    }
    return jv_str(jv_buf_str(r->c, b));
}

// parseInt / parseFloat of a string: a leading number, else NaN (false).
static bool parse_num(Str s, bool integer, double *out) {
    char buf[128];
    s = jv_trim(s, true, false);
    str_to_c((Str){s.ptr, s.len < 127 ? s.len : 127}, buf, sizeof buf);
    char *end;
    double d = integer ? (double)strtoll(buf, &end, 10) : strtod(buf, &end);
    if (end == buf || (!integer && (strchr(buf, 'x') || strchr(buf, 'X')) && end > buf + 1 && buf[1] != '.')) {
        if (end == buf) return false;
    }
    *out = d;
    return true;
}

static JVal number(JxRender *r, Str f, JVal v, JVal def) {
    bool integer = str_eq_c(f, "int");
    double d;
    if (v.kind == JV_STR) {
        if (!parse_num(v.s, integer, &d)) return def.kind != JV_UNDEF ? def : integer ? jv_int(0) : jv_float(0);
        return integer ? jv_int((int64_t)d) : jv_float(d);
    }
    if (v.kind == JV_INT || v.kind == JV_FLOAT) {
        double x = v.kind == JV_INT ? (double)v.i : v.f;
        return integer ? (v.kind == JV_INT ? v : jv_int((int64_t)trunc(x))) : jv_float(x);
    }
    if (v.kind == JV_BOOL) return integer ? jv_int(v.b) : jv_float(v.b);
    cannot(r, f, v);
}

// value|name (no arguments)
static JVal filter_plain(JxRender *r, JVal v, Str f, JxEnv *env) {
    if (str_eq_c(f, "safe")) return v;
    if (str_eq_c(f, "tojson")) return tojson(r, v, jv_undef());
    if (jv_is_array(v)) {
        JvArr *a = v.arr;
        if (str_eq_c(f, "list")) return v;
        if (str_eq_c(f, "first")) return a->n ? a->v[0] : jv_undef();
        if (str_eq_c(f, "last")) return a->n ? a->v[a->n - 1] : jv_undef();
        if (str_eq_c(f, "length")) return jv_int(a->n);
        if (str_eq_c(f, "reverse")) {
            JVal out = jv_new_array(r->c, JV_ARRAY);
            for (int64_t i = a->n - 1; i >= 0; i--) jv_push(r->c, out, a->v[i]);
            return out;
        }
        if (str_eq_c(f, "sort")) return jx_sort(r, v, false, false, STR_LIT(""));
        if (str_eq_c(f, "join")) return join(r, v, STR_LIT(""));
        if (str_eq_c(f, "string")) {
            JvJsonOpts o = {.indent = -1};
            Buf *b = jx_buf(r->c);
            jv_json(r->c, b, v, &o, 0);
            return jv_str(jv_buf_str(r->c, b));
        }
        if (str_eq_c(f, "unique")) {
            JVal out = jv_new_array(r->c, JV_ARRAY);
            for (int64_t i = 0; i < a->n; i++) {
                bool seen = false;
                for (int64_t k = 0; k < out.arr->n && !seen; k++) seen = jv_strict_eq(out.arr->v[k], a->v[i]);
                if (!seen) jv_push(r->c, out, a->v[i]);
            }
            return out;
        }
        unknown(r, "ArrayValue", f);
    }
    if (v.kind == JV_STR) {
        if (str_eq_c(f, "length") || str_eq_c(f, "upper") || str_eq_c(f, "lower") || str_eq_c(f, "title") ||
            str_eq_c(f, "capitalize")) {
            JVal m = jx_member(r, v, jv_str(f));
            return m.kind == JV_FUNC ? jx_call(r, m, NULL, 0, env) : m;
        }
        if (str_eq_c(f, "trim")) return jv_str(jv_trim(v.s, true, true));
        if (str_eq_c(f, "indent")) return indent(r, v, jv_int(4), false, false);
        if (str_eq_c(f, "join") || str_eq_c(f, "string")) return v;
        if (str_eq_c(f, "int") || str_eq_c(f, "float")) return number(r, f, v, jv_undef());
        unknown(r, "StringValue", f);
    }
    if (v.kind == JV_INT || v.kind == JV_FLOAT) {
        if (str_eq_c(f, "abs")) return v.kind == JV_INT ? jv_int(v.i < 0 ? -v.i : v.i) : jv_float(fabs(v.f));
        if (str_eq_c(f, "int") || str_eq_c(f, "float")) return number(r, f, v, jv_undef());
        if (str_eq_c(f, "string")) {
            Buf *b = jx_buf(r->c);
            jv_print(r->c, b, v);
            return jv_str(jv_buf_str(r->c, b));
        }
        unknown(r, "NumericValue", f);
    }
    if (jv_is_object(v)) {
        if (str_eq_c(f, "items")) return jx_call(r, jx_member(r, v, jv_str(STR_LIT("items"))), NULL, 0, env);
        if (str_eq_c(f, "length")) return jv_int(v.obj->n);
        JVal m = jx_obj_method(r, v, f);
        if (m.kind == JV_FUNC) return jx_call(r, m, NULL, 0, env);
        unknown(r, "ObjectValue", f);
    }
    if (v.kind == JV_BOOL) {
        if (str_eq_c(f, "bool")) return v;
        if (str_eq_c(f, "int")) return jv_int(v.b);
        if (str_eq_c(f, "float")) return jv_float(v.b);
        if (str_eq_c(f, "string")) return jv_str(v.b ? STR_LIT("true") : STR_LIT("false"));
        unknown(r, "BooleanValue", f);
    }
    cannot(r, f, v);
}

static JVal select_attr(JxRender *r, JVal v, const JxNode *f, bool select, JxEnv *env) {
    Str name = f->a->s;
    for (int64_t i = 0; i < v.arr->n; i++)
        if (!jv_is_attr(v.arr->v[i]))
            jx_fail(r->c, ERR_FORMAT, "jinja: `%.*s` can only be applied to array of objects", (int)name.len, name.ptr);
    for (int64_t i = 0; i < f->body.n; i++)
        if (f->body.v[i]->kind != JN_STRING)
            jx_fail(r->c, ERR_FORMAT, "jinja: arguments of `%.*s` must be strings", (int)name.len, name.ptr);
    JVal attr = f->body.n > 0 ? jx_eval(r, f->body.v[0], env) : jv_undef();
    JVal test = f->body.n > 1 ? jx_eval(r, f->body.v[1], env) : jv_undef();
    JVal val = f->body.n > 2 ? jx_eval(r, f->body.v[2], env) : jv_undef();
    if (attr.kind != JV_STR) jx_fail(r->c, ERR_FORMAT, "jinja: `%.*s` needs an attribute name", (int)name.len, name.ptr);
    JVal out = jv_new_array(r->c, JV_ARRAY);
    for (int64_t i = 0; i < v.arr->n; i++) {
        jx_step(r);
        JVal a;
        bool res = false;
        if (jv_get(v.arr->v[i], attr.s, &a)) {
            if (test.kind == JV_UNDEF) res = jv_truthy(a);
            else if (str_eq_c(test.s, "equalto") || str_eq_c(test.s, "eq")) res = jv_strict_eq(a, val);
            else res = jx_test(r, a, test.s);
        }
        if (res == select) jv_push(r->c, out, v.arr->v[i]);
    }
    return out;
}

// value|name(args)
static JVal filter_call(JxRender *r, JVal v, const JxNode *f, JxEnv *env) {
    if (f->a->kind != JN_NAME) jx_fail(r->c, ERR_FORMAT, "jinja: unknown filter");
    Str name = f->a->s;
    int64_t n;
    JVal *a = jx_eval_args(r, &f->body, env, &n);
    JVal kw = n > 0 && a[n - 1].kind == JV_KWARGS ? a[n - 1] : jv_undef();
    int64_t np = kw.kind == JV_KWARGS ? n - 1 : n;
#define ARG(i, key, def) (np > (i) ? a[i] : kw_get(kw, key).kind != JV_UNDEF ? kw_get(kw, key) : (def))
    if (str_eq_c(name, "tojson")) return tojson(r, v, kw);
    if (str_eq_c(name, "join")) {
        if (v.kind != JV_STR && !jv_is_array(v)) cannot(r, name, v);
        JVal sep = ARG(0, "separator", jv_str(STR_LIT("")));
        if (sep.kind != JV_STR) jx_fail(r->c, ERR_FORMAT, "jinja: separator must be a string");
        return join(r, v, sep.s);
    }
    if (str_eq_c(name, "int") || str_eq_c(name, "float")) return number(r, name, v, ARG(0, "default", jv_undef()));
    if (str_eq_c(name, "default")) {
        JVal def = np > 0 ? a[0] : jv_str(STR_LIT(""));
        JVal boolean = ARG(1, "boolean", jv_bool(false));
        if (boolean.kind != JV_BOOL) jx_fail(r->c, ERR_FORMAT, "jinja: `default` filter flag must be a boolean");
        return v.kind == JV_UNDEF || (boolean.b && !jv_truthy(v)) ? def : v;
    }
    if (jv_is_array(v)) {
        if (str_eq_c(name, "sort")) {
            JVal rev = ARG(0, "reverse", jv_bool(false)), cs = ARG(1, "case_sensitive", jv_bool(false));
            JVal at = ARG(2, "attribute", jv_null());
            if (rev.kind != JV_BOOL) jx_fail(r->c, ERR_FORMAT, "jinja: reverse must be a boolean");
            if (cs.kind != JV_BOOL) jx_fail(r->c, ERR_FORMAT, "jinja: case_sensitive must be a boolean");
            Str path = {0};
            char num[32];
            if (at.kind == JV_STR) path = at.s;
            else if (at.kind == JV_INT) snprintf(num, sizeof num, "%lld", (long long)at.i), path = str_from_c(num);
            else if (at.kind != JV_NULL) jx_fail(r->c, ERR_FORMAT, "jinja: attribute must be a string, integer, or null");
            if (path.len && path.ptr == num) path = jv_cstr(r->c, num).s;
            return jx_sort(r, v, rev.b, cs.b, path);
        }
        if (str_eq_c(name, "selectattr") || str_eq_c(name, "rejectattr"))
            return select_attr(r, v, f, str_eq_c(name, "selectattr"), env);
        if (str_eq_c(name, "map")) {
            JVal at = kw_get(kw, "attribute"), def = kw_get(kw, "default");
            if (at.kind == JV_UNDEF)
                jx_fail(r->c, ERR_FORMAT, "jinja: `map` expressions without `attribute` set are not currently supported.");
            if (at.kind != JV_STR) jx_fail(r->c, ERR_FORMAT, "jinja: attribute must be a string");
            JVal out = jv_new_array(r->c, JV_ARRAY);
            for (int64_t i = 0; i < v.arr->n; i++) {
                if (!jv_is_attr(v.arr->v[i])) jx_fail(r->c, ERR_FORMAT, "jinja: items in map must be an object");
                JVal x = jx_attr_path(v.arr->v[i], at.s);
                jv_push(r->c, out, x.kind == JV_UNDEF ? def : x);
            }
            return out;
        }
        unknown(r, "ArrayValue", name);
    }
    if (v.kind == JV_STR) {
        if (str_eq_c(name, "indent"))
            return indent(r, v, ARG(0, "width", jv_int(4)), jv_truthy(ARG(1, "first", jv_bool(false))),
                          jv_truthy(ARG(2, "blank", jv_bool(false))));
        if (str_eq_c(name, "replace")) {
            JVal *b = jx_alloc(r->c, (size_t)(np + 1) * sizeof *b);
            memcpy(b, a, (size_t)np * sizeof *b);
            b[np] = kw.kind == JV_KWARGS ? kw : jv_new_object(r->c, JV_KWARGS);
            return jx_call(r, jx_member(r, v, jv_str(STR_LIT("replace"))), b, np + 1, env);
        }
        unknown(r, "StringValue", name);
    }
    if (jv_is_object(v)) {
        JVal m = jx_obj_method(r, v, name);
        if (m.kind == JV_FUNC) return jx_call(r, m, a, n, env);
        unknown(r, "ObjectValue", name);
    }
    cannot(r, name, v);
#undef ARG
}

JVal jx_filter(JxRender *r, JVal v, const JxNode *f, JxEnv *env) {
    jx_step(r);
    if (f->kind == JN_NAME) return filter_plain(r, v, f->s, env);
    if (f->kind == JN_CALL) return filter_call(r, v, f, env);
    jx_fail(r->c, ERR_FORMAT, "jinja: unknown filter");
}

// ---- globals ----

static JVal g_raise(JxRender *r, JVal self, const JVal *a, int64_t n) {
    (void)self;
    Buf *b = jx_buf(r->c);
    if (n > 0 && a[0].kind != JV_UNDEF && a[0].kind != JV_NULL) jv_js_string(r->c, b, a[0]);
    else buf_append_str(b, n > 0 ? "undefined" : "");
    buf_append(b, "", 1);  // NUL for the message
    jx_fail(r->c, ERR_ARG, "%s", b->data);
}

static JVal g_range(JxRender *r, JVal self, const JVal *a, int64_t n) {
    (void)self;
    for (int64_t i = 0; i < n; i++)
        if (a[i].kind != JV_INT) jx_fail(r->c, ERR_FORMAT, "jinja: range() takes integers");
    int64_t start = 0, stop, step = n > 2 ? a[2].i : 1;
    if (n == 0) jx_fail(r->c, ERR_FORMAT, "jinja: range() needs at least one argument");
    if (n == 1) stop = a[0].i;
    else start = a[0].i, stop = a[1].i;
    if (step == 0) jx_fail(r->c, ERR_FORMAT, "jinja: range() step must not be zero");
    JVal out = jv_new_array(r->c, JV_ARRAY);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        jx_step(r);
        jv_push(r->c, out, jv_int(i));
    }
    return out;
}

static JVal g_strftime_now(JxRender *r, JVal self, const JVal *a, int64_t n) {
    (void)self;
    if (n < 1 || a[0].kind != JV_STR) jx_fail(r->c, ERR_FORMAT, "jinja: strftime_now() takes a format string");
    static const char *const mon[] = {"January", "February", "March", "April", "May", "June", "July",
                                      "August", "September", "October", "November", "December"};
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    Buf *b = jx_buf(r->c);
    Str f = a[0].s;
    for (size_t i = 0; i < f.len; i++) {
        char c = i + 1 < f.len && f.ptr[i] == '%' ? f.ptr[i + 1] : 0;
        if (c && strchr("YmdbBHM%", c)) {
            if (c == 'Y') buf_printf(b, "%d", tm.tm_year + 1900);
            else if (c == 'm') buf_printf(b, "%02d", tm.tm_mon + 1);
            else if (c == 'd') buf_printf(b, "%02d", tm.tm_mday);
            else if (c == 'b') buf_printf(b, "%.3s", mon[tm.tm_mon]);
            else if (c == 'B') buf_append_str(b, mon[tm.tm_mon]);
            else if (c == 'H') buf_printf(b, "%02d", tm.tm_hour);
            else if (c == 'M') buf_printf(b, "%02d", tm.tm_min);
            else buf_append_str(b, "%");
            i++;
        } else {
            buf_append(b, f.ptr + i, 1);
        }
    }
    return jv_str(jv_buf_str(r->c, b));
}

static JVal g_namespace(JxRender *r, JVal self, const JVal *a, int64_t n) {
    (void)self;
    JVal kw = n > 0 && a[n - 1].kind == JV_KWARGS ? a[--n] : jv_undef();
    if (n > 1) jx_fail(r->c, ERR_FORMAT, "jinja: namespace expected at most 1 argument, got %lld", (long long)n);
    JVal ns = jv_new_object(r->c, JV_NAMESPACE);
    if (n == 1) {
        if (jv_is_object(a[0])) {
            for (int64_t i = 0; i < a[0].obj->n; i++) jv_put(r->c, ns, a[0].obj->keys[i], a[0].obj->vals[i]);
        } else if (jv_is_array(a[0])) {
            for (int64_t i = 0; i < a[0].arr->n; i++) {
                JVal p = a[0].arr->v[i];
                if (!jv_is_array(p) || p.arr->n != 2 || p.arr->v[0].kind != JV_STR)
                    jx_fail(r->c, ERR_FORMAT, "jinja: namespace expected an object or an iterable of [key, value] pairs");
                jv_put(r->c, ns, p.arr->v[0].s, p.arr->v[1]);
            }
        } else {
            jx_fail(r->c, ERR_FORMAT, "jinja: '%s' object is not iterable", jv_type_name(a[0].kind));
        }
    }
    if (kw.kind == JV_KWARGS)
        for (int64_t i = 0; i < kw.obj->n; i++) jv_put(r->c, ns, kw.obj->keys[i], kw.obj->vals[i]);
    return ns;
}

void jx_install_globals(JxRender *r, JxEnv *e) {
    static const struct {
        const char *name;
        JxNative fn;
    } fns[] = {{"raise_exception", g_raise}, {"range", g_range}, {"strftime_now", g_strftime_now},
               {"namespace", g_namespace}};
    for (size_t i = 0; i < ARRAY_LEN(fns); i++) {
        JVal f = {.kind = JV_FUNC};
        f.fn = jx_alloc(r->c, sizeof *f.fn);
        f.fn->native = fns[i].fn, f.fn->name = fns[i].name;
        jx_env_set(r, e, str_from_c(fns[i].name), f);
    }
    jx_env_set(r, e, STR_LIT("true"), jv_bool(true));
    jx_env_set(r, e, STR_LIT("false"), jv_bool(false));
    jx_env_set(r, e, STR_LIT("none"), jv_null());
    jx_env_set(r, e, STR_LIT("True"), jv_bool(true));
    jx_env_set(r, e, STR_LIT("False"), jv_bool(false));
    jx_env_set(r, e, STR_LIT("None"), jv_null());
}
