// jinja_builtins.c — what templates call by name: filters (x|trim, x|tojson(indent=2)), tests
// (x is defined), attribute and item access with the methods of strings and dicts
// (s.startswith(..), d.items()), slices, and the globals (namespace, range, raise_exception,
// strftime_now). Each follows @huggingface/jinja, including which types it refuses.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "engine/jinja_impl.h"
#include "engine/unicode.h"

_Noreturn static void fail(JxRender *r, const char *fmt, const char *a, const char *b) {
    jx_fail(r->c, ERR_FORMAT, fmt, a, b);
}

static JVal bound(JxRender *r, JxNative fn, JVal self, const char *name) {
    JVal f = {.kind = JV_FUNC};
    f.fn = jx_alloc(r->c, sizeof *f.fn);
    f.fn->native = fn, f.fn->self = self, f.fn->name = name;
    return f;
}

static JVal kwarg(const JVal *args, int64_t n, const char *name) {
    JVal v;
    if (n > 0 && args[n - 1].kind == JV_KWARGS && jv_get(args[n - 1], str_from_c(name), &v)) return v;
    return jv_undef();
}

static int64_t npos(const JVal *args, int64_t n) { return n > 0 && args[n - 1].kind == JV_KWARGS ? n - 1 : n; }

// The positional argument i, else the keyword, else def.
static JVal arg(const JVal *args, int64_t n, int64_t i, const char *name, JVal def) {
    if (i < npos(args, n)) return args[i];
    JVal v = name ? kwarg(args, n, name) : jv_undef();
    return v.kind != JV_UNDEF ? v : def;
}

// ---- strings ----

static int64_t cp_count(Str s) {
    int64_t n = 0;
    for (size_t i = 0; i < s.len; i++) n += ((uint8_t)s.ptr[i] & 0xC0) != 0x80;
    return n;
}

// Byte offset of code point k (k ≤ count).
static size_t cp_offset(Str s, int64_t k) {
    size_t i = 0;
    for (; i < s.len && k > 0; k--) {
        i++;
        while (i < s.len && ((uint8_t)s.ptr[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

static JVal map_case(JxRender *r, Str s, int mode) {  // 0 lower, 1 upper, 2 title, 3 capitalize
    char *p = jx_alloc(r->c, s.len * 2 + 1);
    size_t o = 0;
    bool word = false;
    for (size_t i = 0; i < s.len;) {
        uint32_t cp;
        int n = uni_decode(s.ptr + i, s.len - i, &cp);
        if (cp == UNI_INVALID) {
            p[o++] = s.ptr[i++];
            continue;
        }
        bool w = (cp < 128 && ((cp | 32) - 'a' < 26 || (cp - '0') < 10 || cp == '_'));
        uint32_t out = cp;
        bool up = mode == 1 || (mode == 2 && w && !word) || (mode == 3 && i == 0);
        if (up && cp >= 'a' && cp <= 'z') out = cp - 32;
        else if (mode == 0) out = uni_tolower(cp);
        word = mode == 2 ? w : word;
        o += (size_t)uni_encode(out, p + o);
        i += (size_t)n;
    }
    return jv_str((Str){p, o});
}

static bool affix(Str s, Str x, bool end) {
    if (x.len > s.len) return false;
    return memcmp(s.ptr + (end ? s.len - x.len : 0), x.ptr, x.len) == 0;
}

static JVal m_affix(JxRender *r, JVal self, const JVal *a, int64_t n, bool end) {
    if (n == 0) fail(r, "jinja: %s() requires at least one argument", end ? "endswith" : "startswith", "");
    if (a[0].kind == JV_STR) return jv_bool(affix(self.s, a[0].s, end));
    if (jv_is_array(a[0])) {
        for (int64_t i = 0; i < a[0].arr->n; i++) {
            if (a[0].arr->v[i].kind != JV_STR) fail(r, "jinja: %s() tuple elements must be strings", end ? "endswith" : "startswith", "");
            if (affix(self.s, a[0].arr->v[i].s, end)) return jv_bool(true);
        }
        return jv_bool(false);
    }
    fail(r, "jinja: %s() argument must be a string or tuple of strings", end ? "endswith" : "startswith", "");
}

static JVal m_startswith(JxRender *r, JVal s, const JVal *a, int64_t n) { return m_affix(r, s, a, n, false); }
static JVal m_endswith(JxRender *r, JVal s, const JVal *a, int64_t n) { return m_affix(r, s, a, n, true); }
static JVal m_upper(JxRender *r, JVal s, const JVal *a, int64_t n) { (void)a, (void)n; return map_case(r, s.s, 1); }
static JVal m_lower(JxRender *r, JVal s, const JVal *a, int64_t n) { (void)a, (void)n; return map_case(r, s.s, 0); }
static JVal m_title(JxRender *r, JVal s, const JVal *a, int64_t n) { (void)a, (void)n; return map_case(r, s.s, 2); }
static JVal m_capitalize(JxRender *r, JVal s, const JVal *a, int64_t n) { (void)a, (void)n; return map_case(r, s.s, 3); }
static JVal m_strip(JxRender *r, JVal s, const JVal *a, int64_t n) { (void)r, (void)a, (void)n; return jv_str(jv_trim(s.s, true, true)); }
static JVal m_lstrip(JxRender *r, JVal s, const JVal *a, int64_t n) { (void)r, (void)a, (void)n; return jv_str(jv_trim(s.s, true, false)); }
static JVal m_rstrip(JxRender *r, JVal s, const JVal *a, int64_t n) { (void)r, (void)a, (void)n; return jv_str(jv_trim(s.s, false, true)); }

static JVal m_split(JxRender *r, JVal self, const JVal *a, int64_t n) {
    JVal sep = n > 0 ? a[0] : jv_null(), max = n > 1 ? a[1] : jv_int(-1);
    if (sep.kind != JV_STR && sep.kind != JV_NULL) fail(r, "jinja: sep argument must be a string or null%s%s", "", "");
    if (max.kind != JV_INT) fail(r, "jinja: maxsplit argument must be a number%s%s", "", "");
    JVal out = jv_new_array(r->c, JV_ARRAY);
    Str s = self.s;
    if (sep.kind == JV_NULL) {  // runs of white space; maxsplit keeps the rest whole
        s = jv_trim(s, true, false);
        while (s.len > 0) {
            if (max.i >= 0 && out.arr->n >= max.i) {
                jv_push(r->c, out, jv_str(s));
                break;
            }
            size_t k = 0;
            while (k < s.len && jv_trim((Str){s.ptr + k, s.len - k}, true, false).ptr == s.ptr + k) {
                uint32_t cp;
                k += (size_t)uni_decode(s.ptr + k, s.len - k, &cp);
            }
            jv_push(r->c, out, jv_str((Str){s.ptr, k}));
            s = jv_trim((Str){s.ptr + k, s.len - k}, true, false);
        }
        return out;
    }
    if (sep.s.len == 0) fail(r, "jinja: empty separator%s%s", "", "");
    for (;;) {
        if (max.i >= 0 && out.arr->n >= max.i) break;
        const char *q = memmem(s.ptr, s.len, sep.s.ptr, sep.s.len);
        if (!q) break;
        jv_push(r->c, out, jv_str((Str){s.ptr, (size_t)(q - s.ptr)}));
        s = (Str){q + sep.s.len, s.len - (size_t)(q - s.ptr) - sep.s.len};
    }
    jv_push(r->c, out, jv_str(s));
    return out;
}

static JVal m_replace(JxRender *r, JVal self, const JVal *a, int64_t n) {
    if (npos(a, n) < 2) fail(r, "jinja: replace() requires at least two arguments%s%s", "", "");
    if (a[0].kind != JV_STR || a[1].kind != JV_STR) fail(r, "jinja: replace() arguments must be strings%s%s", "", "");
    JVal cnt = npos(a, n) > 2 ? a[2] : kwarg(a, n, "count");
    if (cnt.kind == JV_UNDEF) cnt = jv_null();
    if (cnt.kind != JV_INT && cnt.kind != JV_NULL) fail(r, "jinja: replace() count argument must be a number or null%s%s", "", "");
    int64_t left = cnt.kind == JV_NULL || cnt.i < 0 ? INT64_MAX : cnt.i;
    Str s = self.s, from = a[0].s, to = a[1].s;
    Buf *b = jx_buf(r->c);
    if (from.len == 0) {  // between every code point, and at both ends
        size_t i = 0;
        for (;;) {
            if (left > 0) buf_append(b, to.ptr, to.len), left--;
            if (i >= s.len) break;
            size_t k = cp_offset((Str){s.ptr + i, s.len - i}, 1);
            buf_append(b, s.ptr + i, k);
            i += k;
        }
        return jv_str(jv_buf_str(r->c, b));
    }
    while (s.len > 0) {
        const char *q = left > 0 ? memmem(s.ptr, s.len, from.ptr, from.len) : NULL;
        if (!q) break;
        buf_append(b, s.ptr, (size_t)(q - s.ptr));
        buf_append(b, to.ptr, to.len);
        left--;
        s = (Str){q + from.len, s.len - (size_t)(q - s.ptr) - from.len};
    }
    buf_append(b, s.ptr, s.len);
    return jv_str(jv_buf_str(r->c, b));
}

// ---- dicts ----

static JVal pairs(JxRender *r, JVal o) {
    JVal out = jv_new_array(r->c, JV_ARRAY);
    for (int64_t i = 0; i < o.obj->n; i++) {
        JVal p = jv_new_array(r->c, JV_ARRAY);
        jv_push(r->c, p, jv_str(o.obj->keys[i]));
        jv_push(r->c, p, o.obj->vals[i]);
        jv_push(r->c, out, p);
    }
    return out;
}

static JVal m_items(JxRender *r, JVal o, const JVal *a, int64_t n) { (void)a, (void)n; return pairs(r, o); }
static JVal m_keys(JxRender *r, JVal o, const JVal *a, int64_t n) {
    (void)a, (void)n;
    JVal out = jv_new_array(r->c, JV_ARRAY);
    for (int64_t i = 0; i < o.obj->n; i++) jv_push(r->c, out, jv_str(o.obj->keys[i]));
    return out;
}
static JVal m_values(JxRender *r, JVal o, const JVal *a, int64_t n) {
    (void)a, (void)n;
    JVal out = jv_new_array(r->c, JV_ARRAY);
    for (int64_t i = 0; i < o.obj->n; i++) jv_push(r->c, out, o.obj->vals[i]);
    return out;
}
static JVal m_get(JxRender *r, JVal o, const JVal *a, int64_t n) {
    if (n < 1 || a[0].kind != JV_STR) fail(r, "jinja: object key must be a string: got %s%s", n < 1 ? "UndefinedValue" : jv_type_name(a[0].kind), "");
    JVal v;
    if (jv_get(o, a[0].s, &v)) return v;
    return n > 1 ? a[1] : jv_null();
}

int jx_compare(JxRender *r, JVal a, JVal b, bool cs) {
    if (a.kind == JV_NULL && b.kind == JV_NULL) return 0;
    if (a.kind == JV_UNDEF && b.kind == JV_UNDEF) return 0;
    if (a.kind == JV_NULL || b.kind == JV_NULL || a.kind == JV_UNDEF || b.kind == JV_UNDEF)
        fail(r, "jinja: cannot compare %s with %s", jv_type_name(a.kind), jv_type_name(b.kind));
    bool an = a.kind == JV_INT || a.kind == JV_FLOAT || a.kind == JV_BOOL;
    bool bn = b.kind == JV_INT || b.kind == JV_FLOAT || b.kind == JV_BOOL;
    if (an && bn) {
        double x = a.kind == JV_INT ? (double)a.i : a.kind == JV_FLOAT ? a.f : a.b;
        double y = b.kind == JV_INT ? (double)b.i : b.kind == JV_FLOAT ? b.f : b.b;
        return x < y ? -1 : x > y;
    }
    if (a.kind != b.kind) fail(r, "jinja: cannot compare different types: %s and %s", jv_type_name(a.kind), jv_type_name(b.kind));
    if (a.kind != JV_STR) fail(r, "jinja: cannot compare type: %s%s", jv_type_name(a.kind), "");
    Str x = cs ? a.s : map_case(r, a.s, 0).s, y = cs ? b.s : map_case(r, b.s, 0).s;
    size_t m = x.len < y.len ? x.len : y.len;
    int c = memcmp(x.ptr, y.ptr, m);
    return c ? (c < 0 ? -1 : 1) : (x.len > y.len) - (x.len < y.len);
}

typedef struct {
    JxRender *r;
    bool cs, rev;
    Str attr;   // sort key path ("" = the item itself)
    int index;  // dictsort: 0 key, 1 value; -1 otherwise
} SortKey;

JVal jx_attr_path(JVal item, Str path) {
    for (;;) {
        const char *dot = memchr(path.ptr, '.', path.len);
        Str part = {path.ptr, dot ? (size_t)(dot - path.ptr) : path.len};
        if (jv_is_attr(item)) {
            if (!jv_get(item, part, &item)) return jv_undef();
        } else if (jv_is_array(item)) {
            char buf[32];
            str_to_c(part, buf, sizeof buf);
            char *end;
            long long k = strtoll(buf, &end, 10);
            if (end == buf || k < 0 || k >= item.arr->n) return jv_undef();
            item = item.arr->v[k];
        } else {
            return jv_undef();
        }
        if (!dot) return item;
        path = (Str){dot + 1, path.len - part.len - 1};
    }
}

static JVal sort_key(const SortKey *k, JVal v) {
    if (k->index >= 0) return v.arr->v[k->index];
    return k->attr.len ? jx_attr_path(v, k->attr) : v;
}

// Stable merge sort (JavaScript's sort is stable).
static void msort(const SortKey *k, JVal *v, JVal *tmp, int64_t n) {
    if (n < 2) return;
    int64_t h = n / 2;
    msort(k, v, tmp, h);
    msort(k, v + h, tmp, n - h);
    int64_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        jx_step(k->r);
        int c = jx_compare(k->r, sort_key(k, v[j]), sort_key(k, v[i]), k->cs);
        if (k->rev) c = -c;
        tmp[o++] = c < 0 ? v[j++] : v[i++];
    }
    while (i < h) tmp[o++] = v[i++];
    while (j < n) tmp[o++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

static JVal sorted(JxRender *r, JVal arr, SortKey k) {
    JVal out = jv_new_array(r->c, JV_ARRAY);
    for (int64_t i = 0; i < arr.arr->n; i++) jv_push(r->c, out, arr.arr->v[i]);
    JVal *tmp = jx_alloc(r->c, (size_t)(arr.arr->n + 1) * sizeof *tmp);
    msort(&k, out.arr->v, tmp, out.arr->n);
    return out;
}

JVal jx_sort(JxRender *r, JVal arr, bool reverse, bool case_sensitive, Str attr) {
    return sorted(r, arr, (SortKey){r, case_sensitive, reverse, attr, -1});
}

static JVal m_dictsort(JxRender *r, JVal o, const JVal *a, int64_t n) {
    JVal cs = arg(a, n, 0, "case_sensitive", jv_bool(false)), by = arg(a, n, 1, "by", jv_str(STR_LIT("key")));
    JVal rev = arg(a, n, 2, "reverse", jv_bool(false));
    if (cs.kind != JV_BOOL) fail(r, "jinja: case_sensitive must be a boolean%s%s", "", "");
    if (by.kind != JV_STR) fail(r, "jinja: by must be a string%s%s", "", "");
    if (!str_eq_c(by.s, "key") && !str_eq_c(by.s, "value")) fail(r, "jinja: by must be either 'key' or 'value'%s%s", "", "");
    if (rev.kind != JV_BOOL) fail(r, "jinja: reverse must be a boolean%s%s", "", "");
    return sorted(r, pairs(r, o), (SortKey){r, cs.b, rev.b, {0}, str_eq_c(by.s, "key") ? 0 : 1});
}

// ---- member access ----

static const struct {
    const char *name;
    JxNative fn;
} str_methods[] = {
    {"upper", m_upper}, {"lower", m_lower}, {"strip", m_strip}, {"title", m_title},
    {"capitalize", m_capitalize}, {"rstrip", m_rstrip}, {"lstrip", m_lstrip},
    {"startswith", m_startswith}, {"endswith", m_endswith}, {"split", m_split}, {"replace", m_replace},
}, obj_methods[] = {
    {"get", m_get}, {"items", m_items}, {"keys", m_keys}, {"values", m_values}, {"dictsort", m_dictsort},
};

static JVal str_at(JxRender *r, Str s, int64_t i) {
    int64_t n = cp_count(s);
    if (i < 0) i += n;
    if (i < 0 || i >= n) return jv_undef();
    size_t a = cp_offset(s, i), b = cp_offset(s, i + 1);
    (void)r;
    return jv_str((Str){s.ptr + a, b - a});
}

JVal jx_obj_method(JxRender *r, JVal obj, Str name) {
    for (size_t i = 0; i < ARRAY_LEN(obj_methods); i++)
        if (str_eq_c(name, obj_methods[i].name)) return bound(r, obj_methods[i].fn, obj, obj_methods[i].name);
    return jv_undef();
}

JVal jx_member(JxRender *r, JVal obj, JVal prop) {
    if (jv_is_attr(obj)) {
        if (prop.kind != JV_STR) fail(r, "jinja: cannot access property with non-string: got %s%s", jv_type_name(prop.kind), "");
        JVal v;
        if (jv_get(obj, prop.s, &v)) return v;
        return obj.kind != JV_NAMESPACE ? jx_obj_method(r, obj, prop.s) : jv_undef();
    }
    if (jv_is_array(obj) || obj.kind == JV_STR) {
        if (prop.kind == JV_INT) {
            if (obj.kind == JV_STR) return str_at(r, obj.s, prop.i);
            int64_t i = prop.i < 0 ? prop.i + obj.arr->n : prop.i;
            return i >= 0 && i < obj.arr->n ? obj.arr->v[i] : jv_undef();
        }
        if (prop.kind != JV_STR)
            fail(r, "jinja: cannot access property with non-string/non-number: got %s%s", jv_type_name(prop.kind), "");
        if (str_eq_c(prop.s, "length")) return jv_int(obj.kind == JV_STR ? cp_count(obj.s) : obj.arr->n);
        if (obj.kind == JV_STR)
            for (size_t i = 0; i < ARRAY_LEN(str_methods); i++)
                if (str_eq_c(prop.s, str_methods[i].name)) return bound(r, str_methods[i].fn, obj, str_methods[i].name);
        return jv_undef();
    }
    if (prop.kind != JV_STR) fail(r, "jinja: cannot access property with non-string: got %s%s", jv_type_name(prop.kind), "");
    return jv_undef();
}

JVal jx_slice(JxRender *r, JVal v, JVal start, JVal stop, JVal step) {
    if (!jv_is_array(v) && v.kind != JV_STR) fail(r, "jinja: slice object must be an array or string%s%s", "", "");
    if ((start.kind != JV_INT && start.kind != JV_UNDEF) || (stop.kind != JV_INT && stop.kind != JV_UNDEF) ||
        (step.kind != JV_INT && step.kind != JV_UNDEF))
        fail(r, "jinja: slice indices must be integers or undefined%s%s", "", "");
    int64_t st = step.kind == JV_INT ? step.i : 1;
    if (st == 0) st = 1;  // (the reference loops forever on a zero step)
    int64_t len = v.kind == JV_STR ? cp_count(v.s) : v.arr->n, a, b;
    if (st > 0) {
        a = start.kind == JV_UNDEF ? 0 : start.i < 0 ? (len + start.i > 0 ? len + start.i : 0) : (start.i < len ? start.i : len);
        b = stop.kind == JV_UNDEF ? len : stop.i < 0 ? (len + stop.i > 0 ? len + stop.i : 0) : (stop.i < len ? stop.i : len);
    } else {
        a = start.kind == JV_UNDEF ? len - 1 : start.i < 0 ? (len + start.i > -1 ? len + start.i : -1) : (start.i < len - 1 ? start.i : len - 1);
        b = stop.kind == JV_UNDEF ? -1 : stop.i < -1 ? (len + stop.i > -1 ? len + stop.i : -1) : (stop.i < len - 1 ? stop.i : len - 1);
    }
    JVal out = v.kind == JV_STR ? jv_undef() : jv_new_array(r->c, JV_ARRAY);
    Buf *bs = v.kind == JV_STR ? jx_buf(r->c) : NULL;
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) {
        jx_step(r);
        if (bs) {
            size_t x = cp_offset(v.s, i), y = cp_offset(v.s, i + 1);
            buf_append(bs, v.s.ptr + x, y - x);
        } else {
            jv_push(r->c, out, v.arr->v[i]);
        }
    }
    return bs ? jv_str(jv_buf_str(r->c, bs)) : out;
}

// ---- tests ----

bool jx_test(JxRender *r, JVal v, Str name) {
    bool num = v.kind == JV_INT || v.kind == JV_FLOAT;
    if (str_eq_c(name, "defined")) return v.kind != JV_UNDEF;
    if (str_eq_c(name, "undefined")) return v.kind == JV_UNDEF;
    if (str_eq_c(name, "none")) return v.kind == JV_NULL;
    if (str_eq_c(name, "string")) return v.kind == JV_STR;
    if (str_eq_c(name, "number")) return num;
    if (str_eq_c(name, "integer")) return v.kind == JV_INT;
    if (str_eq_c(name, "boolean")) return v.kind == JV_BOOL;
    if (str_eq_c(name, "true")) return v.kind == JV_BOOL && v.b;
    if (str_eq_c(name, "false")) return v.kind == JV_BOOL && !v.b;
    if (str_eq_c(name, "callable")) return v.kind == JV_FUNC;
    if (str_eq_c(name, "iterable")) return v.kind == JV_ARRAY || v.kind == JV_STR;
    if (str_eq_c(name, "mapping")) return jv_is_object(v);
    if (str_eq_c(name, "sequence")) return jv_is_array(v) || jv_is_object(v) || v.kind == JV_STR;
    if (str_eq_c(name, "lower") || str_eq_c(name, "upper")) {
        if (v.kind != JV_STR) return false;
        return str_eq(map_case(r, v.s, str_eq_c(name, "upper")).s, v.s);
    }
    if (str_eq_c(name, "odd") || str_eq_c(name, "even")) {
        if (v.kind != JV_INT) fail(r, "jinja: cannot %s on %s", name.ptr[0] == 'o' ? "odd" : "even", jv_type_name(v.kind));
        return (v.i % 2 != 0) == (name.ptr[0] == 'o');
    }
    if (str_eq_c(name, "equalto") || str_eq_c(name, "eq")) return jv_strict_eq(v, jv_undef());
    jx_fail(r->c, ERR_FORMAT, "jinja: unknown test: %.*s", (int)name.len, name.ptr);
}
