// jinja_impl.h — internals of the Jinja-subset interpreter shared by jinja_lex.c (tokens),
// jinja_parse.c (syntax tree), jinja_value.c (values, printing, JSON), jinja_eval.c (statements
// and expressions) and jinja_builtins.c (filters, tests, methods, global functions). Not API.
//
// Errors unwind with longjmp to the entry point (jinja_parse / jinja_render), which owns every
// allocation through one arena: nothing is freed on the way, so an error leaks nothing.
#ifndef RS_JINJA_IMPL_H
#define RS_JINJA_IMPL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "engine/jinja.h"

// ---- allocation and errors (one per parse or render) ----

typedef struct JxBufNode JxBufNode;
typedef struct {
    Arena arena;
    size_t used, cap;  // bytes allocated, and the limit
    jmp_buf jump;
    char *err;
    size_t err_len;
    int code;          // ERR_* of the failure
    JxBufNode *bufs;   // every scratch Buf handed out, freed by jx_bufs_free
} JxCtx;

void *jx_alloc(JxCtx *c, size_t n);  // zeroed; fails (longjmp) past the memory limit
// A scratch text buffer (malloc-backed) that jx_bufs_free releases however the run ends.
Buf *jx_buf(JxCtx *c);
void jx_bufs_free(JxCtx *c);
_Noreturn void jx_fail(JxCtx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// ---- tokens ----

typedef enum {
    JT_TEXT, JT_NUMBER, JT_STRING, JT_NAME, JT_EQUALS, JT_LPAREN, JT_RPAREN, JT_OPEN_STMT,
    JT_CLOSE_STMT, JT_OPEN_EXPR, JT_CLOSE_EXPR, JT_LBRACKET, JT_RBRACKET, JT_LBRACE, JT_RBRACE,
    JT_COMMA, JT_DOT, JT_COLON, JT_PIPE, JT_ADD, JT_MUL, JT_POW, JT_CMP, JT_UNARY, JT_COMMENT,
} JxTokKind;

typedef struct {
    JxTokKind kind;
    Str text;  // the value: text, name, operator, or a string literal's unescaped bytes
} JxTok;

// Tokenizes src the way @huggingface/jinja does (trim_blocks and lstrip_blocks on, one final
// newline dropped, whitespace control by "-"). Returns the count; *out is arena memory.
int64_t jx_lex(JxCtx *c, Str src, JxTok **out);

// ---- syntax tree ----

typedef enum {
    JN_TEXT, JN_OUTPUT_LIT, JN_IF, JN_FOR, JN_SET, JN_MACRO, JN_CALL_BLOCK, JN_FILTER_BLOCK,
    JN_BREAK, JN_CONTINUE, JN_COMMENT,
    // expressions
    JN_NAME, JN_INT, JN_FLOAT, JN_STRING, JN_ARRAY, JN_TUPLE, JN_OBJECT, JN_MEMBER, JN_SLICE,
    JN_CALL, JN_FILTER, JN_TEST, JN_UNARY, JN_BINARY, JN_TERNARY, JN_SELECT, JN_KWARG,
    JN_SPREAD, JN_KWSPREAD,
} JxNodeKind;

typedef struct JxNode JxNode;
typedef struct {
    JxNode **v;
    int64_t n;
} JxList;

struct JxNode {
    JxNodeKind kind;
    Str s;            // text, name, string value, operator, test/filter name
    int64_t i;        // integer value
    double f;         // float value
    bool flag;        // member: computed; test: negated
    int uses;         // macro and call block: JX_USES_* its body mentions
    JxNode *a, *b, *c;  // operands: (left, right), (object, property), (cond, then, else), ...
    JxList body, alt;   // statement bodies; array/tuple items; call args; object keys (body) and values (alt)
};

enum { JX_USES_KWARGS = 1, JX_USES_VARARGS = 2, JX_USES_CALLER = 4 };

// Parses tokens into the program's statement list.
JxList jx_parse(JxCtx *c, const JxTok *t, int64_t n);

// ---- values ----

typedef enum {
    JV_UNDEF = 0, JV_NULL, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_ARRAY, JV_TUPLE, JV_OBJECT,
    JV_NAMESPACE, JV_KWARGS, JV_FUNC,
} JvKind;

typedef struct JvArr JvArr;
typedef struct JvObj JvObj;
typedef struct JvFunc JvFunc;

typedef struct {
    JvKind kind;
    union {
        bool b;
        int64_t i;
        double f;
        Str s;
        JvArr *arr;   // ARRAY, TUPLE
        JvObj *obj;   // OBJECT, NAMESPACE, KWARGS
        JvFunc *fn;
    };
} JVal;

struct JvArr {
    JVal *v;
    int64_t n, cap;
};

struct JvObj {
    Str *keys;
    JVal *vals;
    int64_t n, cap;
};

typedef struct JxEnv JxEnv;
typedef struct JxRender JxRender;
typedef JVal (*JxNative)(JxRender *r, JVal self, const JVal *args, int64_t n);

struct JvFunc {
    JxNative native;      // a built-in or a bound method (self below), or NULL for a macro
    JVal self;
    const JxNode *macro;  // a macro, its definition
    JxEnv *closure;       // where the macro was defined
    JVal caller;          // the call block a {% call %} passes (UNDEF when none)
    const char *name;
};

static inline JVal jv_undef(void) { return (JVal){.kind = JV_UNDEF}; }
static inline JVal jv_null(void) { return (JVal){.kind = JV_NULL}; }
static inline JVal jv_bool(bool b) { return (JVal){.kind = JV_BOOL, .b = b}; }
static inline JVal jv_int(int64_t i) { return (JVal){.kind = JV_INT, .i = i}; }
static inline JVal jv_float(double f) { return (JVal){.kind = JV_FLOAT, .f = f}; }
static inline JVal jv_str(Str s) { return (JVal){.kind = JV_STR, .s = s}; }

JVal jv_new_array(JxCtx *c, JvKind kind);  // ARRAY or TUPLE
JVal jv_new_object(JxCtx *c, JvKind kind); // OBJECT, NAMESPACE or KWARGS
void jv_push(JxCtx *c, JVal arr, JVal v);
void jv_put(JxCtx *c, JVal obj, Str key, JVal v);  // insert or replace, keeping the first position
bool jv_get(JVal obj, Str key, JVal *out);
JVal jv_cstr(JxCtx *c, const char *s);
JVal jv_concat(JxCtx *c, Str a, Str b);
const char *jv_type_name(JvKind k);  // @huggingface/jinja's names: "StringValue", ...
bool jv_truthy(JVal v);
bool jv_is_array(JVal v);  // ARRAY or TUPLE
bool jv_is_attr(JVal v);   // OBJECT, NAMESPACE or KWARGS (KWARGS is an object)
bool jv_is_object(JVal v); // OBJECT or KWARGS
// JavaScript's `a.value == b.value` (loose) and `===` (strict) on these values.
bool jv_loose_eq(JVal a, JVal b);
bool jv_strict_eq(JVal a, JVal b);
// Appends what `{{ v }}` prints (nothing for undefined and none).
void jv_print(JxCtx *c, Buf *b, JVal v);
// JavaScript's String(v.value) as the `+` and `~` operators use it.
void jv_js_string(JxCtx *c, Buf *b, JVal v);
// The tojson filter: indent < 0 for none; item/key separators NULL for the defaults.
typedef struct {
    int indent;
    bool ensure_ascii, sort_keys, undef_as_null;
    Str item_sep, key_sep;
    bool custom_seps;
} JvJsonOpts;
void jv_json(JxCtx *c, Buf *b, JVal v, const JvJsonOpts *o, int depth);
Str jv_buf_str(JxCtx *c, Buf *b);  // copies b into the arena and empties it

// JavaScript number formatting (String(n)) for a double.
void jv_fmt_double(Buf *b, double d);
// Unicode white space as JavaScript's trim() sees it.
bool jv_js_space(uint32_t cp);
Str jv_trim(Str s, bool left, bool right);

// ---- rendering ----

struct JxEnv {
    JxEnv *parent;
    bool call_block;  // the scope a {% call %} passes to the macro it calls
    Str *names;
    JVal *vals;
    int64_t n, cap;
};

struct JxRender {
    JxCtx *c;
    const JinjaLimits *lim;
    int depth;
    int64_t steps;
    size_t out_bytes;
    JxEnv *globals;
};

JxEnv *jx_env_new(JxRender *r, JxEnv *parent);
void jx_env_set(JxRender *r, JxEnv *e, Str name, JVal v);
JVal jx_env_get(const JxEnv *e, Str name);

// Renders statements into b.
void jx_render_block(JxRender *r, const JxList *stmts, JxEnv *env, Buf *b);
JVal jx_eval(JxRender *r, const JxNode *n, JxEnv *env);
// Calls a function value with evaluated arguments (a trailing KWARGS value carries keywords).
JVal jx_call(JxRender *r, JVal fn, const JVal *args, int64_t n, JxEnv *site);
void jx_step(JxRender *r);  // counts one unit of work against the limit

// jinja_builtins.c
JVal jx_filter(JxRender *r, JVal v, const JxNode *filter, JxEnv *env);
bool jx_test(JxRender *r, JVal v, Str name);
JVal jx_member(JxRender *r, JVal obj, JVal prop);  // attribute, item or method
JVal jx_obj_method(JxRender *r, JVal obj, Str name);  // a dict's get/items/keys/values/dictsort, bound
JVal jx_attr_path(JVal item, Str path);            // "a.b.0": attributes and indexes
JVal jx_sort(JxRender *r, JVal arr, bool reverse, bool case_sensitive, Str attr);
void jx_install_globals(JxRender *r, JxEnv *e);
int jx_compare(JxRender *r, JVal a, JVal b, bool case_sensitive);  // for sort / dictsort
JVal jx_slice(JxRender *r, JVal v, JVal start, JVal stop, JVal step);
// Evaluates call arguments: positional values, then one KWARGS value when keywords are given.
JVal *jx_eval_args(JxRender *r, const JxList *args, JxEnv *env, int64_t *n);

#endif
