// jinja_eval.c — running the syntax tree: scopes, statements (if, for, set, macro, call and
// filter blocks, break/continue), expressions and operators, with @huggingface/jinja's rules
// (JavaScript arithmetic and comparisons; a loop iteration that ends in break or continue
// loses the output it made). Every statement, iteration and call is a step against the limit.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "engine/jinja_impl.h"

typedef enum { FLOW_NORMAL = 0, FLOW_BREAK, FLOW_CONTINUE } Flow;

static Flow render(JxRender *r, const JxList *l, JxEnv *env, Buf *b);

// ---- scopes ----

JxEnv *jx_env_new(JxRender *r, JxEnv *parent) {
    JxEnv *e = jx_alloc(r->c, sizeof *e);
    e->parent = parent;
    return e;
}

void jx_env_set(JxRender *r, JxEnv *e, Str name, JVal v) {
    for (int64_t i = 0; i < e->n; i++)
        if (str_eq(e->names[i], name)) {
            e->vals[i] = v;
            return;
        }
    if (e->n == e->cap) {
        int64_t cap = e->cap ? 2 * e->cap : 8;
        Str *nn = jx_alloc(r->c, (size_t)cap * sizeof *nn);
        JVal *nv = jx_alloc(r->c, (size_t)cap * sizeof *nv);
        if (e->n) memcpy(nn, e->names, (size_t)e->n * sizeof *nn), memcpy(nv, e->vals, (size_t)e->n * sizeof *nv);
        e->names = nn, e->vals = nv, e->cap = cap;
    }
    e->names[e->n] = name;
    e->vals[e->n++] = v;
}

JVal jx_env_get(const JxEnv *e, Str name) {
    for (; e; e = e->parent)
        for (int64_t i = 0; i < e->n; i++)
            if (str_eq(e->names[i], name)) return e->vals[i];
    return jv_undef();
}

void jx_step(JxRender *r) {
    if (++r->steps > r->lim->max_steps)
        jx_fail(r->c, ERR_RANGE, "jinja: template ran more than its step limit (%lld)", (long long)r->lim->max_steps);
}

static void enter(JxRender *r) {
    if (++r->depth > r->lim->max_depth)
        jx_fail(r->c, ERR_RANGE, "jinja: template nested deeper than its depth limit (%d)", r->lim->max_depth);
}

static void emit(JxRender *r, Buf *b, const char *p, size_t n) {
    r->out_bytes += n;
    if (r->out_bytes > r->lim->max_output)
        jx_fail(r->c, ERR_RANGE, "jinja: template output exceeds its limit (%zu bytes)", r->lim->max_output);
    if (n && buf_append(b, p, n)) jx_fail(r->c, ERR_NOMEM, "jinja: out of memory");
}

static void emit_value(JxRender *r, Buf *b, JVal v) {
    Buf *t = jx_buf(r->c);
    jv_print(r->c, t, v);
    emit(r, b, t->data, t->len);
    buf_free(t);
}

// ---- operators ----

_Noreturn static void op_error(JxRender *r, Str op, JVal a, JVal b) {
    jx_fail(r->c, ERR_FORMAT, "jinja: unknown operator \"%.*s\" between %s and %s", (int)op.len, op.ptr,
            jv_type_name(a.kind), jv_type_name(b.kind));
}

static JVal js_concat(JxRender *r, JVal a, JVal b) {
    Buf *t = jx_buf(r->c);
    if (a.kind != JV_UNDEF) jv_js_string(r->c, t, a);
    if (b.kind != JV_UNDEF) jv_js_string(r->c, t, b);
    return jv_str(jv_buf_str(r->c, t));
}

static JVal arith(JxRender *r, char op, bool div2, JVal a, JVal b) {
    bool fl = a.kind == JV_FLOAT || b.kind == JV_FLOAT;
    double x = a.kind == JV_INT ? (double)a.i : a.f, y = b.kind == JV_INT ? (double)b.i : b.f;
    int64_t k;
    switch (op) {
    case '+':
        if (!fl && !__builtin_add_overflow(a.i, b.i, &k)) return jv_int(k);
        return fl ? jv_float(x + y) : jv_float(x + y);
    case '-':
        if (!fl && !__builtin_sub_overflow(a.i, b.i, &k)) return jv_int(k);
        return jv_float(x - y);
    case '*':
        if (!fl && !__builtin_mul_overflow(a.i, b.i, &k)) return jv_int(k);
        return jv_float(x * y);
    case '/':
        if (div2) {
            if (!fl && b.i != 0 && !(a.i == INT64_MIN && b.i == -1)) {
                int64_t q = a.i / b.i;
                if ((a.i % b.i != 0) && ((a.i < 0) != (b.i < 0))) q--;
                return jv_int(q);
            }
            return jv_float(floor(x / y));
        }
        return jv_float(x / y);
    case '%':
        if (!fl && b.i != 0 && b.i != -1) return jv_int(a.i % b.i);
        return jv_float(fmod(x, y));
    }
    (void)r;
    return jv_undef();
}

static bool member_of(JVal x, JVal arr) {
    for (int64_t i = 0; i < arr.arr->n; i++)
        if (jv_strict_eq(arr.arr->v[i], x)) return true;
    return false;
}

static JVal binary(JxRender *r, const JxNode *n, JxEnv *env) {
    Str op = n->s;
    JVal a = jx_eval(r, n->a, env);
    if (str_eq_c(op, "and")) return jv_truthy(a) ? jx_eval(r, n->b, env) : a;
    if (str_eq_c(op, "or")) return jv_truthy(a) ? a : jx_eval(r, n->b, env);
    JVal b = jx_eval(r, n->b, env);
    if (str_eq_c(op, "==")) return jv_bool(jv_loose_eq(a, b));
    if (str_eq_c(op, "!=")) return jv_bool(!jv_loose_eq(a, b));
    bool in = str_eq_c(op, "in"), notin = str_eq_c(op, "not in"), tilde = str_eq_c(op, "~");
    bool an = a.kind == JV_INT || a.kind == JV_FLOAT, bn = b.kind == JV_INT || b.kind == JV_FLOAT;
    if (an && bn && !tilde && !str_eq_c(op, "**")) {
        double x = a.kind == JV_INT ? (double)a.i : a.f, y = b.kind == JV_INT ? (double)b.i : b.f;
        if (str_eq_c(op, "<")) return jv_bool(x < y);
        if (str_eq_c(op, ">")) return jv_bool(x > y);
        if (str_eq_c(op, "<=")) return jv_bool(x <= y);
        if (str_eq_c(op, ">=")) return jv_bool(x >= y);
        if (op.len == 1 && strchr("+-*/%", op.ptr[0])) return arith(r, op.ptr[0], false, a, b);
        if (str_eq_c(op, "//")) return arith(r, '/', true, a, b);
    } else if (a.kind == JV_UNDEF || b.kind == JV_UNDEF) {
        if (b.kind == JV_UNDEF && (in || notin)) return jv_bool(notin);
        if (tilde && a.kind != JV_NULL && b.kind != JV_NULL) return js_concat(r, a, b);
        jx_fail(r->c, ERR_FORMAT, "jinja: cannot perform operation %.*s on undefined values", (int)op.len, op.ptr);
    } else if (a.kind == JV_NULL || b.kind == JV_NULL) {
        jx_fail(r->c, ERR_FORMAT, "jinja: cannot perform operation on null values");
    } else if (tilde) {
        return js_concat(r, a, b);
    } else if (str_eq_c(op, "**") && (an || a.kind == JV_BOOL) && (bn || b.kind == JV_BOOL)) {
        double x = a.kind == JV_INT ? (double)a.i : a.kind == JV_FLOAT ? a.f : a.b;
        double y = b.kind == JV_INT ? (double)b.i : b.kind == JV_FLOAT ? b.f : b.b;
        if (x == 0 && y < 0) jx_fail(r->c, ERR_FORMAT, "jinja: 0.0 cannot be raised to a negative power");
        double p = pow(x, y);
        if (!isfinite(p)) jx_fail(r->c, ERR_FORMAT, "jinja: exponentiation result is not a finite real number");
        if (a.kind == JV_FLOAT || b.kind == JV_FLOAT || y < 0 || fabs(p) >= 9007199254740992.0) return jv_float(p);
        return jv_int((int64_t)p);
    } else if (jv_is_array(a) && jv_is_array(b)) {
        if (str_eq_c(op, "+")) {
            JVal out = jv_new_array(r->c, JV_ARRAY);
            for (int64_t i = 0; i < a.arr->n; i++) jv_push(r->c, out, a.arr->v[i]);
            for (int64_t i = 0; i < b.arr->n; i++) jv_push(r->c, out, b.arr->v[i]);
            return out;
        }
    } else if (jv_is_array(b) && (in || notin)) {
        return jv_bool(member_of(a, b) == in);
    }
    if ((a.kind == JV_STR || b.kind == JV_STR) && str_eq_c(op, "+")) return js_concat(r, a, b);
    if (a.kind == JV_STR && b.kind == JV_STR && (in || notin)) {
        bool has = a.s.len == 0 || (b.s.len >= a.s.len && memmem(b.s.ptr, b.s.len, a.s.ptr, a.s.len));
        return jv_bool(has == in);
    }
    if (a.kind == JV_STR && jv_is_object(b) && (in || notin)) {
        JVal dummy;
        return jv_bool(jv_get(b, a.s, &dummy) == in);
    }
    op_error(r, op, a, b);
}

static JVal unary(JxRender *r, const JxNode *n, JxEnv *env) {
    JVal a = jx_eval(r, n->a, env);
    if (str_eq_c(n->s, "not")) return jv_bool(!jv_truthy(a));
    double sign = str_eq_c(n->s, "-") ? -1 : 1;
    if (a.kind == JV_FLOAT) return jv_float(sign * a.f);
    if (a.kind == JV_INT) return jv_int(sign < 0 ? -a.i : a.i);
    if (a.kind == JV_BOOL) return jv_int(sign < 0 ? -(int64_t)a.b : (int64_t)a.b);
    jx_fail(r->c, ERR_FORMAT, "jinja: unknown operator \"%.*s\" for %s", (int)n->s.len, n->s.ptr, jv_type_name(a.kind));
}

// ---- calls ----

JVal *jx_eval_args(JxRender *r, const JxList *args, JxEnv *env, int64_t *n) {
    JVal *v = jx_alloc(r->c, (size_t)(args->n + 1) * sizeof *v);
    JVal kw = {0}, pos = jv_new_array(r->c, JV_ARRAY);
    bool special = false;
    for (int64_t i = 0; i < args->n; i++) {
        const JxNode *a = args->v[i];
        if (a->kind == JN_KWARG || a->kind == JN_KWSPREAD) {
            special = true;
            continue;
        }
        if (a->kind == JN_SPREAD) {
            special = true;
            JVal s = jx_eval(r, a->a, env);
            if (!jv_is_array(s)) jx_fail(r->c, ERR_FORMAT, "jinja: cannot unpack non-iterable type: %s", jv_type_name(s.kind));
            for (int64_t k = 0; k < s.arr->n; k++) jv_push(r->c, pos, s.arr->v[k]);
            continue;
        }
        jv_push(r->c, pos, jx_eval(r, a, env));
    }
    for (int64_t i = 0; i < args->n; i++) {
        const JxNode *a = args->v[i];
        if (a->kind != JN_KWARG && a->kind != JN_KWSPREAD) continue;
        if (kw.kind == JV_UNDEF) kw = jv_new_object(r->c, JV_KWARGS);
        JVal tmp;
        if (a->kind == JN_KWARG) {
            if (jv_get(kw, a->s, &tmp)) jx_fail(r->c, ERR_FORMAT, "jinja: got multiple values for keyword argument '%.*s'", (int)a->s.len, a->s.ptr);
            jv_put(r->c, kw, a->s, jx_eval(r, a->a, env));
        } else {
            JVal m = jx_eval(r, a->a, env);
            if (!jv_is_object(m)) jx_fail(r->c, ERR_FORMAT, "jinja: argument after ** must be a mapping, not %s", jv_type_name(m.kind));
            for (int64_t k = 0; k < m.obj->n; k++) {
                if (jv_get(kw, m.obj->keys[k], &tmp)) jx_fail(r->c, ERR_FORMAT, "jinja: got multiple values for keyword argument");
                jv_put(r->c, kw, m.obj->keys[k], m.obj->vals[k]);
            }
        }
    }
    v = jx_alloc(r->c, (size_t)(pos.arr->n + 1) * sizeof *v);
    if (pos.arr->n) memcpy(v, pos.arr->v, (size_t)pos.arr->n * sizeof *v);
    *n = pos.arr->n;
    if (special && kw.kind != JV_UNDEF && kw.obj->n > 0) v[(*n)++] = kw;
    return v;
}

// Binds a macro's (or call block's) parameters in scope, as the reference does.
static void bind_params(JxRender *r, const char *name, const JxList *params, int uses, const JVal *args,
                        int64_t n, JxEnv *scope) {
    JVal kw = jv_new_object(r->c, JV_KWARGS);
    if (n > 0 && args[n - 1].kind == JV_KWARGS) {
        JVal src = args[--n];
        for (int64_t i = 0; i < src.obj->n; i++) jv_put(r->c, kw, src.obj->keys[i], src.obj->vals[i]);
    }
    const JxNode **pending = jx_alloc(r->c, (size_t)(params->n + 1) * sizeof *pending);
    int64_t np = 0;
    for (int64_t i = 0; i < params->n; i++) {
        const JxNode *p = params->v[i];
        Str pname = p->s;
        JVal v = jv_undef();
        bool have = i < n;
        if (have) v = args[i];
        else if (jv_get(kw, pname, &v)) {  // take it out of the keywords
            have = true;
            JvObj *o = kw.obj;
            for (int64_t k = 0; k < o->n; k++)
                if (str_eq(o->keys[k], pname)) {
                    memmove(o->keys + k, o->keys + k + 1, (size_t)(o->n - k - 1) * sizeof *o->keys);
                    memmove(o->vals + k, o->vals + k + 1, (size_t)(o->n - k - 1) * sizeof *o->vals);
                    o->n--;
                    break;
                }
        }
        if (!have && p->kind == JN_KWARG) pending[np++] = p;
        jx_env_set(r, scope, pname, have ? v : jv_undef());
    }
    if (uses & JX_USES_KWARGS) jx_env_set(r, scope, STR_LIT("kwargs"), (JVal){.kind = JV_OBJECT, .obj = kw.obj});
    else if (kw.obj->n > 0)
        jx_fail(r->c, ERR_FORMAT, "jinja: macro %s takes no keyword argument '%.*s'", name, (int)kw.obj->keys[0].len, kw.obj->keys[0].ptr);
    if (uses & JX_USES_VARARGS) {
        JVal va = jv_new_array(r->c, JV_ARRAY);
        for (int64_t i = params->n; i < n; i++) jv_push(r->c, va, args[i]);
        jx_env_set(r, scope, STR_LIT("varargs"), va);
    } else if (n > params->n) {
        jx_fail(r->c, ERR_FORMAT, "jinja: macro %s takes not more than %lld argument(s)", name, (long long)params->n);
    }
    for (int64_t i = 0; i < np; i++) jx_env_set(r, scope, pending[i]->s, jx_eval(r, pending[i]->a, scope));
}

static JVal render_to_string(JxRender *r, const JxList *body, JxEnv *env) {
    Buf *b = jx_buf(r->c);
    if (render(r, body, env, b) != FLOW_NORMAL) jx_fail(r->c, ERR_FORMAT, "jinja: break or continue outside a loop");
    return jv_str(jv_buf_str(r->c, b));
}

JVal jx_call(JxRender *r, JVal fn, const JVal *args, int64_t n, JxEnv *site) {
    if (fn.kind != JV_FUNC) jx_fail(r->c, ERR_FORMAT, "jinja: cannot call something that is not a function: got %s", jv_type_name(fn.kind));
    jx_step(r);
    enter(r);
    JvFunc *f = fn.fn;
    JVal out;
    if (f->native) {
        out = f->native(r, f->self, args, n);
    } else if (f->macro->kind == JN_CALL_BLOCK) {  // a call block's body, invoked by caller()
        JxEnv *scope = jx_env_new(r, f->closure);
        bind_params(r, "None", &f->macro->alt, f->macro->uses, args, n, scope);
        out = render_to_string(r, &f->macro->body, scope);
    } else {
        JxEnv *parent = f->closure;
        if (f->macro->uses & JX_USES_CALLER) {
            JVal caller = site && site->call_block ? jx_env_get(site, STR_LIT("caller")) : jv_undef();
            parent = jx_env_new(r, f->closure);
            jx_env_set(r, parent, STR_LIT("caller"), caller);
        }
        JxEnv *scope = jx_env_new(r, parent);
        char name[80];
        snprintf(name, sizeof name, "'%.*s'", (int)(f->macro->s.len > 60 ? 60 : f->macro->s.len), f->macro->s.ptr);
        bind_params(r, name, &f->macro->alt, f->macro->uses, args, n, scope);
        out = render_to_string(r, &f->macro->body, scope);
    }
    r->depth--;
    return out;
}

static JVal call_block(JxRender *r, const JxNode *n, JxEnv *env) {
    JVal caller = {.kind = JV_FUNC};
    caller.fn = jx_alloc(r->c, sizeof *caller.fn);
    caller.fn->macro = n, caller.fn->closure = env, caller.fn->name = "caller";
    const JxNode *c = n->a;
    int64_t na;
    JVal *a = jx_eval_args(r, &c->body, env, &na);
    JVal *args = jx_alloc(r->c, (size_t)(na + 1) * sizeof *args);
    if (na) memcpy(args, a, (size_t)na * sizeof *args);
    if (na == 0 || args[na - 1].kind != JV_KWARGS) args[na++] = jv_new_object(r->c, JV_KWARGS);
    JVal fn = jx_eval(r, c->a, env);
    if (fn.kind != JV_FUNC) jx_fail(r->c, ERR_FORMAT, "jinja: cannot call something that is not a function: got %s", jv_type_name(fn.kind));
    JxEnv *site = jx_env_new(r, env);
    site->call_block = true;
    jx_env_set(r, site, STR_LIT("caller"), caller);
    return jx_call(r, fn, args, na, site);
}

// ---- expressions ----

JVal jx_eval(JxRender *r, const JxNode *n, JxEnv *env) {
    if (!n) return jv_undef();
    enter(r);
    JVal v = jv_undef();
    switch (n->kind) {
    case JN_NAME: v = jx_env_get(env, n->s); break;
    case JN_INT: v = jv_int(n->i); break;
    case JN_FLOAT: v = jv_float(n->f); break;
    case JN_STRING:
    case JN_TEXT: v = jv_str(n->s); break;
    case JN_ARRAY:
    case JN_TUPLE:
        v = jv_new_array(r->c, n->kind == JN_ARRAY ? JV_ARRAY : JV_TUPLE);
        for (int64_t i = 0; i < n->body.n; i++) jv_push(r->c, v, jx_eval(r, n->body.v[i], env));
        break;
    case JN_OBJECT:
        v = jv_new_object(r->c, JV_OBJECT);
        for (int64_t i = 0; i < n->body.n; i++) {
            JVal k = jx_eval(r, n->body.v[i], env);
            if (k.kind != JV_STR) jx_fail(r->c, ERR_FORMAT, "jinja: object keys must be strings: got %s", jv_type_name(k.kind));
            jv_put(r->c, v, k.s, jx_eval(r, n->alt.v[i], env));
        }
        break;
    case JN_MEMBER: {
        JVal obj = jx_eval(r, n->a, env);
        if (n->flag && n->b->kind == JN_SLICE)
            v = jx_slice(r, obj, jx_eval(r, n->b->a, env), jx_eval(r, n->b->b, env), jx_eval(r, n->b->c, env));
        else if (n->flag) v = jx_member(r, obj, jx_eval(r, n->b, env));
        else v = jx_member(r, obj, n->b->kind == JN_INT ? jv_int(n->b->i) : jv_str(n->b->s));
        break;
    }
    case JN_CALL: {
        int64_t na;
        JVal *args = jx_eval_args(r, &n->body, env, &na);
        v = jx_call(r, jx_eval(r, n->a, env), args, na, env);
        break;
    }
    case JN_FILTER: v = jx_filter(r, jx_eval(r, n->a, env), n->b, env); break;
    case JN_TEST: {
        bool t = jx_test(r, jx_eval(r, n->a, env), n->s);
        v = jv_bool(n->flag ? !t : t);
        break;
    }
    case JN_UNARY: v = unary(r, n, env); break;
    case JN_BINARY: v = binary(r, n, env); break;
    case JN_TERNARY: v = jv_truthy(jx_eval(r, n->a, env)) ? jx_eval(r, n->b, env) : jx_eval(r, n->c, env); break;
    case JN_SELECT: v = jv_truthy(jx_eval(r, n->b, env)) ? jx_eval(r, n->a, env) : jv_undef(); break;
    case JN_CALL_BLOCK: v = call_block(r, n, env); break;
    case JN_FILTER_BLOCK: v = jx_filter(r, render_to_string(r, &n->body, env), n->b, env); break;
    default: jx_fail(r->c, ERR_FORMAT, "jinja: a statement cannot be used as a value");
    }
    r->depth--;
    return v;
}

// ---- statements ----

static void set_stmt(JxRender *r, const JxNode *n, JxEnv *env) {
    JVal v = n->b ? jx_eval(r, n->b, env) : render_to_string(r, &n->body, env);
    const JxNode *t = n->a;
    if (t->kind == JN_NAME) {
        jx_env_set(r, env, t->s, v);
    } else if (t->kind == JN_TUPLE) {
        if (!jv_is_array(v)) jx_fail(r->c, ERR_FORMAT, "jinja: cannot unpack non-iterable type in set: %s", jv_type_name(v.kind));
        if (v.arr->n != t->body.n)
            jx_fail(r->c, ERR_FORMAT, "jinja: too %s items to unpack in set", t->body.n > v.arr->n ? "few" : "many");
        for (int64_t i = 0; i < t->body.n; i++) {
            if (t->body.v[i]->kind != JN_NAME) jx_fail(r->c, ERR_FORMAT, "jinja: cannot unpack to non-identifier in set");
            jx_env_set(r, env, t->body.v[i]->s, v.arr->v[i]);
        }
    } else if (t->kind == JN_MEMBER) {
        JVal obj = jx_eval(r, t->a, env);
        if (obj.kind != JV_NAMESPACE) jx_fail(r->c, ERR_FORMAT, "jinja: cannot assign attribute on non-namespace object");
        if (t->flag || t->b->kind != JN_NAME) jx_fail(r->c, ERR_FORMAT, "jinja: cannot assign to member with non-identifier property");
        jv_put(r->c, obj, t->b->s, v);
    } else {
        jx_fail(r->c, ERR_FORMAT, "jinja: invalid left-hand side in an assignment");
    }
}

static void bind_loop_var(JxRender *r, const JxNode *var, JVal cur, JxEnv *scope) {
    if (var->kind == JN_NAME) {
        jx_env_set(r, scope, var->s, cur);
        return;
    }
    for (int64_t j = 0; j < var->body.n; j++) {
        if (var->body.v[j]->kind != JN_NAME) jx_fail(r->c, ERR_FORMAT, "jinja: cannot unpack non-identifier type");
        jx_env_set(r, scope, var->body.v[j]->s, jv_is_array(cur) && j < cur.arr->n ? cur.arr->v[j] : jv_undef());
    }
}

static JVal loop_value(JxRender *r, const JVal *items, int64_t i, int64_t n) {
    JVal o = jv_new_object(r->c, JV_OBJECT);
    jv_put(r->c, o, STR_LIT("index"), jv_int(i + 1));
    jv_put(r->c, o, STR_LIT("index0"), jv_int(i));
    jv_put(r->c, o, STR_LIT("revindex"), jv_int(n - i));
    jv_put(r->c, o, STR_LIT("revindex0"), jv_int(n - i - 1));
    jv_put(r->c, o, STR_LIT("first"), jv_bool(i == 0));
    jv_put(r->c, o, STR_LIT("last"), jv_bool(i == n - 1));
    jv_put(r->c, o, STR_LIT("length"), jv_int(n));
    jv_put(r->c, o, STR_LIT("previtem"), i > 0 ? items[i - 1] : jv_undef());
    jv_put(r->c, o, STR_LIT("nextitem"), i < n - 1 ? items[i + 1] : jv_undef());
    return o;
}

static void for_stmt(JxRender *r, const JxNode *n, JxEnv *env, Buf *b) {
    JxEnv *scope = jx_env_new(r, env);
    const JxNode *test = NULL;
    JVal it;
    if (n->b->kind == JN_SELECT) {
        it = jx_eval(r, n->b->a, scope);
        test = n->b->b;
    } else {
        it = jx_eval(r, n->b, scope);
    }
    if (jv_is_object(it)) {  // a mapping iterates over its keys
        JVal keys = jv_new_array(r->c, JV_ARRAY);
        for (int64_t i = 0; i < it.obj->n; i++) jv_push(r->c, keys, jv_str(it.obj->keys[i]));
        it = keys;
    } else if (!jv_is_array(it)) {
        jx_fail(r->c, ERR_FORMAT, "jinja: expected iterable or object type in for loop: got %s", jv_type_name(it.kind));
    }
    const JxNode *var = n->a;
    JVal items = jv_new_array(r->c, JV_ARRAY);
    for (int64_t i = 0; i < it.arr->n; i++) {
        JVal cur = it.arr->v[i];
        jx_step(r);
        if (var->kind == JN_TUPLE) {
            if (cur.kind != JV_ARRAY) jx_fail(r->c, ERR_FORMAT, "jinja: cannot unpack non-iterable type: %s", jv_type_name(cur.kind));
            if (cur.arr->n != var->body.n)
                jx_fail(r->c, ERR_FORMAT, "jinja: too %s items to unpack", var->body.n > cur.arr->n ? "few" : "many");
        }
        if (test) {
            JxEnv *ls = jx_env_new(r, scope);
            bind_loop_var(r, var, cur, ls);
            if (!jv_truthy(jx_eval(r, test, ls))) continue;
        }
        jv_push(r->c, items, cur);
    }
    bool none = true;
    int64_t cnt = items.arr->n;
    for (int64_t i = 0; i < cnt; i++) {
        jx_step(r);
        jx_env_set(r, scope, STR_LIT("loop"), loop_value(r, items.arr->v, i, cnt));
        bind_loop_var(r, var, items.arr->v[i], scope);
        Buf *t = jx_buf(r->c);
        Flow f = render(r, &n->body, scope, t);
        if (f == FLOW_NORMAL) {
            if (t->len && buf_append(b, t->data, t->len)) jx_fail(r->c, ERR_NOMEM, "jinja: out of memory");
            none = false;
        }
        buf_free(t);
        if (f == FLOW_BREAK) break;
    }
    if (none && render(r, &n->alt, scope, b) != FLOW_NORMAL)
        jx_fail(r->c, ERR_FORMAT, "jinja: break or continue outside a loop");
}

static void define_macro(JxRender *r, const JxNode *n, JxEnv *env) {
    JVal f = {.kind = JV_FUNC};
    f.fn = jx_alloc(r->c, sizeof *f.fn);
    f.fn->macro = n, f.fn->closure = env, f.fn->name = "macro";
    jx_env_set(r, env, n->s, f);
}

static Flow render(JxRender *r, const JxList *l, JxEnv *env, Buf *b) {
    enter(r);
    Flow flow = FLOW_NORMAL;
    for (int64_t i = 0; i < l->n && flow == FLOW_NORMAL; i++) {
        const JxNode *n = l->v[i];
        jx_step(r);
        switch (n->kind) {
        case JN_TEXT: emit(r, b, n->s.ptr, n->s.len); break;
        case JN_IF: flow = render(r, jv_truthy(jx_eval(r, n->a, env)) ? &n->body : &n->alt, env, b); break;
        case JN_FOR: for_stmt(r, n, env, b); break;
        case JN_SET: set_stmt(r, n, env); break;
        case JN_MACRO: define_macro(r, n, env); break;
        case JN_COMMENT: break;
        case JN_BREAK: flow = FLOW_BREAK; break;
        case JN_CONTINUE: flow = FLOW_CONTINUE; break;
        default: emit_value(r, b, jx_eval(r, n, env));
        }
    }
    r->depth--;
    return flow;
}

void jx_render_block(JxRender *r, const JxList *stmts, JxEnv *env, Buf *b) {
    if (render(r, stmts, env, b) != FLOW_NORMAL) jx_fail(r->c, ERR_FORMAT, "jinja: break or continue outside a loop");
}
