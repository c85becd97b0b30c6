// jinja_parse.c — tokens → syntax tree, with @huggingface/jinja's grammar and precedence:
// conditional < or < and < not < comparison/in < + - ~ < * / // % < ** < is-test < |filter <
// unary sign < call/member < primary.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/jinja_impl.h"

typedef struct {
    JxCtx *c;
    const JxTok *t;
    int64_t n, i;
    int depth;
} P;

static const char *const tok_names[] = {
    [JT_TEXT] = "Text", [JT_NUMBER] = "NumericLiteral", [JT_STRING] = "StringLiteral",
    [JT_NAME] = "Identifier", [JT_EQUALS] = "Equals", [JT_LPAREN] = "OpenParen",
    [JT_RPAREN] = "CloseParen", [JT_OPEN_STMT] = "OpenStatement", [JT_CLOSE_STMT] = "CloseStatement",
    [JT_OPEN_EXPR] = "OpenExpression", [JT_CLOSE_EXPR] = "CloseExpression",
    [JT_LBRACKET] = "OpenSquareBracket", [JT_RBRACKET] = "CloseSquareBracket",
    [JT_LBRACE] = "OpenCurlyBracket", [JT_RBRACE] = "CloseCurlyBracket", [JT_COMMA] = "Comma",
    [JT_DOT] = "Dot", [JT_COLON] = "Colon", [JT_PIPE] = "Pipe", [JT_ADD] = "AdditiveBinaryOperator",
    [JT_MUL] = "MultiplicativeBinaryOperator", [JT_POW] = "ExponentiationBinaryOperator",
    [JT_CMP] = "ComparisonBinaryOperator", [JT_UNARY] = "UnaryOperator", [JT_COMMENT] = "Comment",
};

_Noreturn static void perr(P *p, const char *what) {
    if (p->i < p->n) {
        const JxTok *t = &p->t[p->i];
        jx_fail(p->c, ERR_FORMAT, "jinja: %s (at %s '%.*s')", what, tok_names[t->kind],
                (int)(t->text.len > 40 ? 40 : t->text.len), t->text.ptr);
    }
    jx_fail(p->c, ERR_FORMAT, "jinja: %s (at the end of the template)", what);
}

static bool is(const P *p, JxTokKind k) { return p->i < p->n && p->t[p->i].kind == k; }
static bool is_name(const P *p, const char *name) {
    return is(p, JT_NAME) && str_eq_c(p->t[p->i].text, name);
}
static bool is_name2(const P *p, const char *a, const char *b) {
    return is_name(p, a) && p->i + 1 < p->n && p->t[p->i + 1].kind == JT_NAME && str_eq_c(p->t[p->i + 1].text, b);
}
// {% NAME where NAME is one of names
static bool is_stmt(const P *p, const char *const *names) {
    if (!is(p, JT_OPEN_STMT) || p->i + 1 >= p->n || p->t[p->i + 1].kind != JT_NAME) return false;
    for (; *names; names++)
        if (str_eq_c(p->t[p->i + 1].text, *names)) return true;
    return false;
}

static const JxTok *expect(P *p, JxTokKind k, const char *what) {
    if (!is(p, k)) perr(p, what);
    return &p->t[p->i++];
}

static void expect_name(P *p, const char *name) {
    if (!is_name(p, name)) {
        char msg[64];
        snprintf(msg, sizeof msg, "expected %s", name);
        perr(p, msg);
    }
    p->i++;
}

static JxNode *node(P *p, JxNodeKind k) {
    JxNode *n = jx_alloc(p->c, sizeof *n);
    n->kind = k;
    return n;
}

static void list_push(P *p, JxList *l, JxNode *n) {
    if ((l->n & (l->n - 1)) == 0) {  // grow at powers of two
        JxNode **v = jx_alloc(p->c, (size_t)(l->n ? 2 * l->n : 1) * sizeof *v);
        if (l->n) memcpy(v, l->v, (size_t)l->n * sizeof *v);
        l->v = v;
    }
    l->v[l->n++] = n;
}

static JxNode *expr(P *p);
static JxNode *primary(P *p);
static JxNode *any(P *p);

static void enter(P *p) {
    if (++p->depth > 200) perr(p, "template nested too deeply");
}

// Parses statements until {% NAME %} for one of names (not consumed).
static JxList body_until(P *p, const char *const *names) {
    JxList l = {0};
    while (!is_stmt(p, names)) {
        if (p->i >= p->n) perr(p, "unclosed block");
        list_push(p, &l, any(p));
    }
    return l;
}

static JxNode *binary(P *p, Str op, JxNode *l, JxNode *r) {
    JxNode *n = node(p, JN_BINARY);
    n->s = op, n->a = l, n->b = r;
    return n;
}

// ---- expressions ----

static JxNode *seq(P *p, bool prim) {  // a, b, c → tuple
    JxNode *first = prim ? primary(p) : expr(p);
    if (!is(p, JT_COMMA)) return first;
    JxNode *t = node(p, JN_TUPLE);
    list_push(p, &t->body, first);
    while (is(p, JT_COMMA)) {
        p->i++;
        list_push(p, &t->body, prim ? primary(p) : expr(p));
    }
    return t;
}

static JxList args(P *p, bool params) {
    expect(p, JT_LPAREN, "expected opening parenthesis for arguments list");
    JxList l = {0};
    bool kw = false, spread = false;
    while (!is(p, JT_RPAREN)) {
        if (p->i >= p->n) perr(p, "unclosed argument list");
        bool kwspread = is(p, JT_POW), star = is(p, JT_MUL) && str_eq_c(p->t[p->i].text, "*");
        if (params && (kwspread || star)) perr(p, "argument unpacking is not allowed in parameter declarations");
        if (kwspread) {
            p->i++;
            JxNode *s = node(p, JN_KWSPREAD);
            s->a = expr(p);
            list_push(p, &l, s);
            if (is(p, JT_COMMA)) p->i++;
            if (!is(p, JT_RPAREN)) perr(p, "`**` must be applied to the final argument");
            break;
        }
        JxNode *a;
        if (star) {
            if (spread) perr(p, "only one `*` argument unpacking is allowed");
            spread = true;
            p->i++;
            a = node(p, JN_SPREAD);
            a->a = expr(p);
        } else {
            a = expr(p);
            if (is(p, JT_EQUALS)) {
                p->i++;
                if (a->kind != JN_NAME) perr(p, "expected identifier for keyword argument");
                JxNode *k = node(p, JN_KWARG);
                k->s = a->s, k->a = expr(p);
                a = k;
            }
            if (params && a->kind != JN_NAME && a->kind != JN_KWARG) perr(p, "expected identifier for parameter declaration");
            if (a->kind == JN_KWARG) kw = true;
            else if (kw) perr(p, params ? "non-default argument follows default argument" : "positional arguments must come before keyword arguments");
            else if (spread && a->kind != JN_SPREAD) perr(p, "positional arguments must not follow `*` argument unpacking");
        }
        list_push(p, &l, a);
        if (is(p, JT_COMMA)) p->i++;
    }
    p->i++;
    return l;
}

static JxNode *member_args(P *p) {  // inside [ ]: an index or a slice
    JxNode *sl[3] = {0};
    int k = 0;
    bool slice = false;
    while (!is(p, JT_RBRACKET)) {
        if (p->i >= p->n) perr(p, "unclosed [");
        if (k >= 3) perr(p, "expected 0-3 arguments for slice expression");
        if (is(p, JT_COLON)) {
            k++, p->i++, slice = true;
        } else {
            sl[k++] = expr(p);
            if (is(p, JT_COLON)) p->i++, slice = true;
        }
    }
    if (k == 0) perr(p, "expected at least one argument for member/slice expression");
    if (!slice) return sl[0];
    JxNode *s = node(p, JN_SLICE);
    s->a = sl[0], s->b = sl[1], s->c = sl[2];
    return s;
}

static JxNode *member(P *p, JxNode *obj) {
    int extra = 0;
    while (is(p, JT_DOT) || is(p, JT_LBRACKET)) {
        enter(p), extra++;
        bool computed = is(p, JT_LBRACKET);
        p->i++;
        JxNode *m = node(p, JN_MEMBER);
        m->a = obj, m->flag = computed;
        if (computed) {
            m->b = member_args(p);
            expect(p, JT_RBRACKET, "expected closing square bracket");
        } else {
            m->b = primary(p);
            if (m->b->kind != JN_NAME && m->b->kind != JN_INT) perr(p, "expected identifier or integer following dot operator");
        }
        obj = m;
    }
    p->depth -= extra;
    return obj;
}

static JxNode *call(P *p, JxNode *callee) {
    enter(p);
    JxNode *c = node(p, JN_CALL);
    c->a = callee;
    c->body = args(p, false);
    JxNode *e = member(p, c);
    e = is(p, JT_LPAREN) ? call(p, e) : e;
    p->depth--;
    return e;
}

static JxNode *primary(P *p) {
    if (p->i >= p->n) perr(p, "unexpected end of template");
    const JxTok *t = &p->t[p->i++];
    JxNode *n;
    switch (t->kind) {
    case JT_NUMBER: {
        char buf[64];
        str_to_c(t->text, buf, sizeof buf);
        if (memchr(t->text.ptr, '.', t->text.len)) {
            n = node(p, JN_FLOAT);
            n->f = strtod(buf, NULL);
        } else {
            n = node(p, JN_INT);
            n->i = strtoll(buf, NULL, 10);
        }
        return n;
    }
    case JT_STRING: {
        Str v = t->text;
        while (is(p, JT_STRING)) v = jv_concat(p->c, v, p->t[p->i++].text).s;
        n = node(p, JN_STRING);
        n->s = v;
        return n;
    }
    case JT_NAME:
        n = node(p, JN_NAME);
        n->s = t->text;
        return n;
    case JT_LPAREN:
        n = seq(p, false);
        expect(p, JT_RPAREN, "expected closing parenthesis");
        return n;
    case JT_LBRACKET:
        n = node(p, JN_ARRAY);
        while (!is(p, JT_RBRACKET)) {
            if (p->i >= p->n) perr(p, "unclosed [");
            list_push(p, &n->body, expr(p));
            if (is(p, JT_COMMA)) p->i++;
        }
        p->i++;
        return n;
    case JT_LBRACE:
        n = node(p, JN_OBJECT);
        while (!is(p, JT_RBRACE)) {
            if (p->i >= p->n) perr(p, "unclosed {");
            list_push(p, &n->body, expr(p));
            expect(p, JT_COLON, "expected colon between key and value in object literal");
            list_push(p, &n->alt, expr(p));
            if (is(p, JT_COMMA)) p->i++;
        }
        p->i++;
        return n;
    default:
        p->i--;
        perr(p, "unexpected token");
    }
}

static JxNode *unary_sign(P *p) {
    if ((is(p, JT_UNARY) || is(p, JT_ADD)) &&
        (str_eq_c(p->t[p->i].text, "-") || str_eq_c(p->t[p->i].text, "+"))) {
        JxNode *u = node(p, JN_UNARY);
        u->s = p->t[p->i++].text;
        enter(p);
        u->a = unary_sign(p);
        p->depth--;
        return u;
    }
    JxNode *e = member(p, primary(p));
    return is(p, JT_LPAREN) ? call(p, e) : e;
}

static JxNode *filter_expr(P *p) {
    int extra = 0;
    JxNode *e = unary_sign(p);
    while (is(p, JT_PIPE)) {
        enter(p), extra++;
        p->i++;
        JxNode *f = primary(p);
        if (f->kind != JN_NAME) perr(p, "expected identifier for the filter");
        if (is(p, JT_LPAREN)) f = call(p, f);
        JxNode *n = node(p, JN_FILTER);
        n->a = e, n->b = f;
        e = n;
    }
    p->depth -= extra;
    return e;
}

static JxNode *test_expr(P *p) {
    int extra = 0;
    JxNode *e = filter_expr(p);
    while (is_name(p, "is")) {
        enter(p), extra++;
        p->i++;
        JxNode *t = node(p, JN_TEST);
        t->flag = is_name(p, "not");
        if (t->flag) p->i++;
        JxNode *name = primary(p);
        if (name->kind != JN_NAME) perr(p, "expected identifier for the test");
        t->a = e, t->s = name->s;
        e = t;
    }
    p->depth -= extra;
    return e;
}

static JxNode *power(P *p) {
    int extra = 0;
    JxNode *l = test_expr(p);
    while (is(p, JT_POW)) {
        enter(p), extra++;
        Str op = p->t[p->i++].text;
        l = binary(p, op, l, test_expr(p));
    }
    p->depth -= extra;
    return l;
}

static JxNode *mult(P *p) {
    int extra = 0;
    JxNode *l = power(p);
    while (is(p, JT_MUL)) {
        enter(p), extra++;
        Str op = p->t[p->i++].text;
        l = binary(p, op, l, power(p));
    }
    p->depth -= extra;
    return l;
}

static JxNode *additive(P *p) {
    int extra = 0;
    JxNode *l = mult(p);
    while (is(p, JT_ADD)) {
        enter(p), extra++;
        Str op = p->t[p->i++].text;
        l = binary(p, op, l, mult(p));
    }
    p->depth -= extra;
    return l;
}

static JxNode *comparison(P *p) {
    int extra = 0;
    JxNode *l = additive(p);
    for (;;) {
        Str op;
        if (is_name2(p, "not", "in")) op = STR_LIT("not in"), p->i += 2;
        else if (is_name(p, "in") || is(p, JT_CMP)) op = p->t[p->i++].text;
        else break;
        enter(p), extra++;
        l = binary(p, op, l, additive(p));
    }
    p->depth -= extra;
    return l;
}

static JxNode *negation(P *p) {
    if (!is_name(p, "not")) return comparison(p);
    JxNode *u = node(p, JN_UNARY);
    u->s = p->t[p->i++].text;
    enter(p);
    u->a = negation(p);
    p->depth--;
    return u;
}

static JxNode *and_expr(P *p) {
    int extra = 0;
    JxNode *l = negation(p);
    while (is_name(p, "and")) {
        enter(p), extra++;
        Str op = p->t[p->i++].text;
        l = binary(p, op, l, negation(p));
    }
    p->depth -= extra;
    return l;
}

static JxNode *or_expr(P *p) {
    int extra = 0;
    JxNode *l = and_expr(p);
    while (is_name(p, "or")) {
        enter(p), extra++;
        Str op = p->t[p->i++].text;
        l = binary(p, op, l, and_expr(p));
    }
    p->depth -= extra;
    return l;
}

static JxNode *expr(P *p) {
    enter(p);
    JxNode *a = or_expr(p);
    if (is_name(p, "if")) {
        p->i++;
        JxNode *test = or_expr(p);
        if (is_name(p, "else")) {
            p->i++;
            JxNode *t = node(p, JN_TERNARY);
            t->a = test, t->b = a, t->c = expr(p);
            a = t;
        } else {
            JxNode *s = node(p, JN_SELECT);
            s->a = a, s->b = test;
            a = s;
        }
    }
    p->depth--;
    return a;
}

// ---- statements ----

static void close_stmt(P *p) { expect(p, JT_CLOSE_STMT, "expected closing statement token"); }

static void end_block(P *p, const char *name) {
    expect(p, JT_OPEN_STMT, "expected {% token");
    expect_name(p, name);
    close_stmt(p);
}

static JxNode *if_stmt(P *p) {
    static const char *const stops[] = {"elif", "else", "endif", NULL};
    static const char *const endif[] = {"endif", NULL};
    JxNode *n = node(p, JN_IF);
    n->a = expr(p);
    close_stmt(p);
    n->body = body_until(p, stops);
    if (is_stmt(p, (const char *const[]){"elif", NULL})) {
        p->i += 2;
        list_push(p, &n->alt, if_stmt(p));
    } else if (is_stmt(p, (const char *const[]){"else", NULL})) {
        p->i += 2;
        close_stmt(p);
        n->alt = body_until(p, endif);
    }
    return n;
}

static JxNode *for_stmt(P *p) {
    static const char *const stops[] = {"endfor", "else", NULL};
    static const char *const endfor[] = {"endfor", NULL};
    JxNode *n = node(p, JN_FOR);
    n->a = seq(p, true);
    if (n->a->kind != JN_NAME && n->a->kind != JN_TUPLE) perr(p, "expected identifier/tuple for the loop variable");
    if (!is_name(p, "in")) perr(p, "expected `in` keyword following loop variable");
    p->i++;
    n->b = expr(p);
    close_stmt(p);
    n->body = body_until(p, stops);
    if (is_stmt(p, (const char *const[]){"else", NULL})) {
        p->i += 2;
        close_stmt(p);
        n->alt = body_until(p, endfor);
    }
    return n;
}

static JxNode *set_stmt(P *p) {
    static const char *const endset[] = {"endset", NULL};
    JxNode *n = node(p, JN_SET);
    n->a = seq(p, false);
    if (is(p, JT_EQUALS)) {
        p->i++;
        n->b = seq(p, false);
    } else {
        close_stmt(p);
        n->body = body_until(p, endset);
        p->i++;
        expect_name(p, "endset");
    }
    close_stmt(p);
    return n;
}

// Whether an identifier named name appears anywhere under n (macros bind kwargs/varargs/caller
// only when their body mentions them, as the reference does).
static bool mentions(const JxNode *n, const char *name) {
    if (!n) return false;
    if (n->kind == JN_NAME && str_eq_c(n->s, name)) return true;
    if (mentions(n->a, name) || mentions(n->b, name) || mentions(n->c, name)) return true;
    for (int64_t i = 0; i < n->body.n; i++)
        if (mentions(n->body.v[i], name)) return true;
    for (int64_t i = 0; i < n->alt.n; i++)
        if (mentions(n->alt.v[i], name)) return true;
    return false;
}

static int uses(const JxNode *n) {
    JxNode probe = {.kind = JN_COMMENT, .body = n->body};
    return (mentions(&probe, "kwargs") ? JX_USES_KWARGS : 0) | (mentions(&probe, "varargs") ? JX_USES_VARARGS : 0) |
           (mentions(&probe, "caller") ? JX_USES_CALLER : 0);
}

static JxNode *macro_stmt(P *p) {
    static const char *const endmacro[] = {"endmacro", NULL};
    JxNode *n = node(p, JN_MACRO);
    JxNode *name = primary(p);
    if (name->kind != JN_NAME) perr(p, "expected identifier following macro statement");
    n->s = name->s;
    n->alt = args(p, true);  // parameters
    close_stmt(p);
    n->body = body_until(p, endmacro);
    n->uses = uses(n);
    return n;
}

static JxNode *statement(P *p) {
    expect(p, JT_OPEN_STMT, "expected opening statement token");
    if (!is(p, JT_NAME)) perr(p, "unknown statement");
    Str name = p->t[p->i++].text;
    JxNode *n;
    if (str_eq_c(name, "set")) return set_stmt(p);
    if (str_eq_c(name, "if")) {
        n = if_stmt(p);
        end_block(p, "endif");
    } else if (str_eq_c(name, "for")) {
        n = for_stmt(p);
        end_block(p, "endfor");
    } else if (str_eq_c(name, "macro")) {
        n = macro_stmt(p);
        end_block(p, "endmacro");
    } else if (str_eq_c(name, "call")) {
        static const char *const endcall[] = {"endcall", NULL};
        n = node(p, JN_CALL_BLOCK);
        if (is(p, JT_LPAREN)) n->alt = args(p, true);  // the caller's parameters
        JxNode *callee = primary(p);
        if (callee->kind != JN_NAME) perr(p, "expected identifier following call statement");
        JxNode *c = node(p, JN_CALL);
        c->a = callee, c->body = args(p, false);
        n->a = c;
        close_stmt(p);
        n->body = body_until(p, endcall);
        n->uses = uses(n);
        end_block(p, "endcall");
    } else if (str_eq_c(name, "filter")) {
        static const char *const endfilter[] = {"endfilter", NULL};
        n = node(p, JN_FILTER_BLOCK);
        JxNode *f = primary(p);
        if (f->kind == JN_NAME && is(p, JT_LPAREN)) f = call(p, f);
        n->b = f;
        close_stmt(p);
        n->body = body_until(p, endfilter);
        end_block(p, "endfilter");
    } else if (str_eq_c(name, "break") || str_eq_c(name, "continue")) {
        n = node(p, str_eq_c(name, "break") ? JN_BREAK : JN_CONTINUE);
        close_stmt(p);
    } else {
        p->i--;
        perr(p, "unknown statement type");
    }
    return n;
}

static JxNode *any(P *p) {
    const JxTok *t = &p->t[p->i];
    JxNode *n;
    switch (t->kind) {
    case JT_COMMENT:
        p->i++;
        return node(p, JN_COMMENT);
    case JT_TEXT:
        p->i++;
        n = node(p, JN_TEXT);
        n->s = t->text;
        return n;
    case JT_OPEN_STMT:
        enter(p);
        n = statement(p);
        p->depth--;
        return n;
    case JT_OPEN_EXPR:
        p->i++;
        n = expr(p);
        expect(p, JT_CLOSE_EXPR, "expected closing expression token");
        return n;
    default:
        perr(p, "unexpected token");
    }
}

JxList jx_parse(JxCtx *c, const JxTok *t, int64_t n) {
    P p = {c, t, n, 0, 0};
    JxList prog = {0};
    while (p.i < p.n) list_push(&p, &prog, any(&p));
    return prog;
}
