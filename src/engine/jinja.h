// jinja.h — a small Jinja interpreter for chat templates (tokenizer.chat_template).
//
// It implements the subset real chat templates use, with the semantics of @huggingface/jinja
// (the JavaScript implementation Hugging Face uses, and our reference in tests): text with
// whitespace control ({%- -%}, {{- -}}, {#- -#}; trim_blocks and lstrip_blocks on, as HF sets
// them), {% if/elif/else %}, {% for x in xs if cond %} with loop.index/index0/first/last/length/
// revindex/previtem/nextitem, {% else %} and break/continue, {% set %} (also tuples, namespace
// attributes and blocks), {% macro %} with defaults, keyword arguments, varargs/kwargs and
// {% call %}, {% filter %}, the expression grammar (arithmetic, comparisons, in/not in, and/or/not,
// ~, conditional expressions, slices, list/tuple/dict literals), filters (length, trim, upper,
// lower, title, capitalize, tojson with indent/ensure_ascii/sort_keys/separators, default, items,
// join, first, last, list, reverse, sort, unique, string, int, float, abs, indent, replace,
// selectattr/rejectattr, map(attribute=), dictsort, safe), tests (defined, undefined, none,
// string, number, integer, boolean, mapping, iterable, sequence, true, false, odd, even, lower,
// upper, callable, eq), string methods (strip/lstrip/rstrip, startswith/endswith, split,
// replace, upper, lower, title, capitalize), dict methods (get, items, keys, values), and the
// globals namespace(), range(), raise_exception(), strftime_now(), true/false/none.
// Differences from the reference: string lengths, indexes and slices count code points (the
// reference counts UTF-16 units: they differ only for characters outside the BMP), and upper/
// lower case only ASCII letters (lower also the simple Unicode mappings).
//
// Templates come from untrusted files: rendering is bounded by JinjaLimits (output bytes,
// evaluation depth, work steps, memory), and every failure is an error message, never a crash.
#ifndef RS_JINJA_H
#define RS_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

typedef struct cJSON cJSON;

typedef struct {
    size_t max_output;   // bytes of rendered text
    int max_depth;       // nesting of expressions, blocks and macro calls
    int64_t max_steps;   // statements, loop iterations and calls executed
    size_t max_memory;   // bytes the render may allocate (values, strings)
} JinjaLimits;

// 1 MiB of output, depth 200, 1,000,000 steps, 64 MiB of memory.
extern const JinjaLimits JINJA_DEFAULT_LIMITS;

typedef struct JinjaTemplate JinjaTemplate;

// Parses src (it is copied). NULL with a message in err on a syntax error, e.g.
// "jinja: line 3: expected closing statement token (got Name 'x')", or on ERR_NOMEM.
JinjaTemplate *jinja_parse(Str src, char *err, size_t err_len);
void jinja_free(JinjaTemplate *t);

// Renders with the variables of a JSON object (e.g. {"messages": [...], "bos_token": "<s>",
// "add_generation_prompt": true}); JSON null is none, numbers with a fraction or exponent are
// floats. Appends the text to out and returns 0, or an error code with a message: a template's
// raise_exception("msg") gives ERR_ARG and "msg"; a limit gives ERR_RANGE naming it; anything
// the reference would refuse (e.g. a filter on the wrong type) gives ERR_FORMAT. On error out
// is left as it was. lim NULL: JINJA_DEFAULT_LIMITS. t may be used by many threads at once.
int jinja_render(const JinjaTemplate *t, const cJSON *vars, const JinjaLimits *lim, Buf *out,
                 char *err, size_t err_len);

#endif
