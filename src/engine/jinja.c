// jinja.c — the interpreter's entry points: parse once into a syntax tree, render many times
// (each render with its own arena, scopes and limits). See jinja.h.
#include "engine/jinja.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/jinja_impl.h"

const JinjaLimits JINJA_DEFAULT_LIMITS = {
    .max_output = 1u << 20, .max_depth = 200, .max_steps = 1000000, .max_memory = 64u << 20};

struct JinjaTemplate {
    JxCtx c;      // owns the syntax tree's memory
    JxList prog;
};

JinjaTemplate *jinja_parse(Str src, char *err, size_t err_len) {
    JinjaTemplate *volatile t = calloc(1, sizeof *t);
    if (!t) {
        err_set(err, err_len, ERR_NOMEM, "jinja: out of memory");
        return NULL;
    }
    arena_init(&t->c.arena, 0);
    t->c.cap = (64u << 20) + 64 * src.len;  // tokens and nodes are a small multiple of the text
    t->c.err = err, t->c.err_len = err_len;
    if (setjmp(t->c.jump)) {
        jx_bufs_free(&t->c);
        arena_free(&t->c.arena);
        free(t);
        return NULL;
    }
    char *copy = jx_alloc(&t->c, src.len + 1);
    if (src.len) memcpy(copy, src.ptr, src.len);
    JxTok *toks;
    int64_t n = jx_lex(&t->c, (Str){copy, src.len}, &toks);
    t->prog = jx_parse(&t->c, toks, n);
    jx_bufs_free(&t->c);
    t->c.err = NULL, t->c.err_len = 0;  // rendering never touches this context
    return t;
}

void jinja_free(JinjaTemplate *t) {
    if (!t) return;
    arena_free(&t->c.arena);
    free(t);
}

static JVal from_json(JxRender *r, const cJSON *j, int depth) {
    if (depth > 100) jx_fail(r->c, ERR_RANGE, "jinja: variables nested too deeply");
    if (cJSON_IsObject(j)) {
        JVal o = jv_new_object(r->c, JV_OBJECT);
        for (const cJSON *x = j->child; x; x = x->next)
            jv_put(r->c, o, jv_cstr(r->c, x->string ? x->string : "").s, from_json(r, x, depth + 1));
        return o;
    }
    if (cJSON_IsArray(j)) {
        JVal a = jv_new_array(r->c, JV_ARRAY);
        for (const cJSON *x = j->child; x; x = x->next) jv_push(r->c, a, from_json(r, x, depth + 1));
        return a;
    }
    if (cJSON_IsString(j)) return jv_cstr(r->c, j->valuestring ? j->valuestring : "");
    if (cJSON_IsNumber(j)) {  // JavaScript: an integral number is an IntegerValue
        double d = j->valuedouble;
        return d == floor(d) && fabs(d) < 9007199254740992.0 ? jv_int((int64_t)d) : jv_float(d);
    }
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNull(j)) return jv_null();
    return jv_undef();
}

int jinja_render(const JinjaTemplate *t, const cJSON *vars, const JinjaLimits *lim, Buf *out,
                 char *err, size_t err_len) {
    if (!lim) lim = &JINJA_DEFAULT_LIMITS;
    JxCtx c = {0};
    arena_init(&c.arena, 0);
    c.cap = lim->max_memory;
    c.err = err, c.err_len = err_len;
    JxRender r = {.c = &c, .lim = lim};
    int rc = 0;
    if (setjmp(c.jump)) {
        rc = c.code ? c.code : ERR_FORMAT;
        goto done;
    }
    JxEnv *g = jx_env_new(&r, NULL);
    jx_install_globals(&r, g);
    JxEnv *top = jx_env_new(&r, g);
    if (vars && !cJSON_IsObject(vars)) jx_fail(&c, ERR_ARG, "jinja: the variables must be a JSON object");
    for (const cJSON *x = vars ? vars->child : NULL; x; x = x->next) {
        Str name = jv_cstr(&c, x->string ? x->string : "").s;
        for (int64_t i = 0; i < top->n; i++)
            if (str_eq(top->names[i], name)) jx_fail(&c, ERR_ARG, "jinja: variable already declared: %s", x->string);
        jx_env_set(&r, top, name, from_json(&r, x, 0));
    }
    Buf *b = jx_buf(&c);
    jx_render_block(&r, &t->prog, top, b);
    if (b->len && buf_append(out, b->data, b->len)) jx_fail(&c, ERR_NOMEM, "jinja: out of memory");
done:
    jx_bufs_free(&c);
    arena_free(&c.arena);
    return rc;
}
