// test_jinja.c — the Jinja interpreter on small templates whose expected text was produced by
// the reference, @huggingface/jinja 0.5.13 (whitespace control, loops, namespaces, macros,
// tojson, JavaScript number printing, slices, string methods, break/continue, filters, tests,
// raise_exception), its refusals, and the limits that bound an untrusted template. The real
// templates are compared with the reference in tests/e2e/chat_templates.mjs.
#include <cjson/cJSON.h>
#include <string.h>

#include "base/buf.h"
#include "base/check.h"
#include "engine/chat.h"
#include "engine/jinja.h"
#include "test.h"

static const char VARS[] =
    "{\"msgs\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"u1\"},"
    " {\"role\": \"user\", \"content\": \"u2\"}], \"y\": null}";

// Renders tmpl with VARS (and limits lim, NULL for the defaults); returns the status, the text
// in out (NUL-terminated) and any message in err.
static int render(const char *tmpl, const JinjaLimits *lim, Buf *out, char *err, size_t err_len) {
    buf_clear(out);
    JinjaTemplate *t = jinja_parse(str_from_c(tmpl), err, err_len);
    if (!t) return -1000;
    cJSON *v = cJSON_Parse(VARS);
    int rc = jinja_render(t, v, lim, out, err, err_len);
    cJSON_Delete(v);
    jinja_free(t);
    buf_append(out, "", 0);
    return rc;
}

static void expect_text(const char *tmpl, const char *want) {
    Buf out = {0};
    char err[300] = "";
    int rc = render(tmpl, NULL, &out, err, sizeof err);
    if (rc != 0 || out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
        test_fail(__FILE__, __LINE__, "'%s': rc %d (%s) gave '%s', want '%s'", tmpl, rc, err,
                  out.data ? out.data : "", want);
    buf_free(&out);
}

TEST(jinja_matches_reference_outputs) {
    static const char *const cases[][2] = {
        {"a\n  {% if true %}\nb\n  {% endif %}\nc\n", "a\nb\nc"},
        {"x  {{- ' y ' -}}  z", "x y z"},
        {"{% for x in [1,2,3] %}{{ loop.index0 }}{{ ',' if not loop.last }}{% endfor %}", "0,1,2"},
        {"{% set ns = namespace(n=0) %}{% for x in [1,2,3] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "6"},
        {"{% macro f(a, b='x') %}{{ a }}{{ b }}{% endmacro %}{{ f(1) }}{{ f(2, b='y') }}", "1x2y"},
        {"{{ {'a': [1, 2.5, none, true, '\xC3\xA9\"']}|tojson }}|{{ {'k': [1, {'z': 2}]}|tojson(indent=2) }}",
         "{\"a\": [1, 2.5, null, true, \"\xC3\xA9\\\"\"]}|{\n  \"k\": [\n    1,\n    {\n      \"z\": 2\n    }\n  ]\n}"},
        {"{{ 1.0 }} {{ 3/2 }} {{ 7//2 }} {{ -7//2 }} {{ 'a' ~ 1.0 }} {{ 2**10 }} {{ 7 % 3 }} {{ [1,2] }} {{ true }} {{ none }}",
         "1.0 1.5 3 -4 a1 1024 1 [1, 2] true "},
        {"{{ 'hello'[1:3] }} {{ [1,2,3][::-1]|join(',') }} {{ 'hello'[-1] }} {{ [1,2,3,4][1:] }}", "el 3,2,1 o [2, 3, 4]"},
        {"[{{ '  x '.strip() }}] {{ 'a,b,,c'.split(',')|length }} {{ 'a b  c'.split() }} {{ 'Hello'.startswith('He') }} {{ 'x'.upper() }}",
         "[x] 4 [\"a\", \"b\", \"c\"] true X"},
        // an iteration ended by continue or break loses its output
        {"{% for x in [1,2,3,4] %}{{ x }}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}-{% endfor %}",
         "1-3-"},
        {"{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{{ {'a':1}|length }}", "a=1;b=2;1"},
        {"{% for m in msgs if m.role != 'system' %}{{ m.role }}{% else %}none{% endfor %}", "useruser"},
        {"{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(' ') }}", "u1 u2"},
        {"{% if x is not defined and y is none %}ok{% endif %} {{ z|default('dflt') }} {{ '' or 'e' }} {{ 1 == 1.0 }} {{ 'a' in ['a'] }}",
         "ok dflt e true true"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) expect_text(cases[i][0], cases[i][1]);
}

static void expect_error(const char *tmpl, const JinjaLimits *lim, int code, const char *msg) {
    Buf out = {0};
    char err[300] = "";
    int rc = render(tmpl, lim, &out, err, sizeof err);
    if (rc != code || !strstr(err, msg))
        test_fail(__FILE__, __LINE__, "'%.60s': rc %d '%s', want %d '%s'", tmpl, rc, err, code, msg);
    buf_free(&out);
}

TEST(jinja_refuses_what_the_reference_refuses) {
    expect_error("{{ raise_exception('bad role ' ~ 3) }}", NULL, ERR_ARG, "bad role 3");
    expect_error("{% if %}x{% endif %}", NULL, -1000, "unexpected token");
    expect_error("{{ 'abc", NULL, -1000, "unexpected end of input");
    expect_error("{% for x in z %}{% endfor %}", NULL, ERR_FORMAT, "expected iterable or object type in for loop: got UndefinedValue");
    expect_error("{{ y + 1 }}", NULL, ERR_FORMAT, "cannot perform operation on null values");
    expect_error("{{ 'a' < 'b' }}", NULL, ERR_FORMAT, "unknown operator \"<\" between StringValue and StringValue");
    expect_error("{{ x|length }}", NULL, ERR_FORMAT, "cannot apply filter \"length\" to type: UndefinedValue");
    expect_error("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}", NULL, ERR_FORMAT, "takes not more than 1 argument");
    expect_error("{% set x = (1, 2) %}{{ x }}", NULL, ERR_FORMAT, "cannot convert to JSON: TupleValue");
}

TEST(jinja_limits_bound_untrusted_templates) {
    JinjaLimits lim = JINJA_DEFAULT_LIMITS;
    // unbounded recursion
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", &lim, ERR_RANGE, "depth limit");
    // a loop of loops
    lim.max_steps = 100000;
    expect_error("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", &lim, ERR_RANGE, "step limit");
    // output
    lim = JINJA_DEFAULT_LIMITS;
    lim.max_output = 1000;
    expect_error("{% for a in range(200) %}0123456789{% endfor %}", &lim, ERR_RANGE, "output exceeds its limit");
    // memory: a string doubled 40 times
    lim = JINJA_DEFAULT_LIMITS;
    lim.max_memory = 1 << 20;
    expect_error("{% set ns = namespace(s='x') %}{% for a in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
                 &lim, ERR_RANGE, "memory limit");
    // deep nesting in the source itself is refused at parse time
    Buf deep = {0};
    buf_append_str(&deep, "{{ ");
    for (int i = 0; i < 5000; i++) buf_append_str(&deep, "(");
    expect_error(deep.data, NULL, -1000, "nested too deeply");
    buf_free(&deep);
}

TEST(jinja_chat_render_strips_the_leading_bos) {
    const char *tmpl = "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                       "{% if add_generation_prompt %}[assistant:{% endif %}";
    char err[200];
    JinjaTemplate *t = jinja_parse(str_from_c(tmpl), err, sizeof err);
    ASSERT(t);
    ChatMsg m[2] = {{CHAT_SYSTEM, STR_LIT("be brief")}, {CHAT_USER, STR_LIT("hi")}};
    Buf out = {0};
    EXPECT_EQ_INT(chat_render_jinja(t, m, 2, true, STR_LIT("<s>"), STR_LIT("</s>"), &out, err, sizeof err), 0);
    buf_append(&out, "", 0);
    EXPECT(out.data && strcmp(out.data, "[system:be brief][user:hi][assistant:") == 0);
    jinja_free(t);
    // a template's own refusal reaches the caller as its message
    t = jinja_parse(STR_LIT("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"),
                    err, sizeof err);
    ASSERT(t);
    size_t len = out.len;
    EXPECT_EQ_INT(chat_render_jinja(t, m, 2, true, STR_LIT("<s>"), STR_LIT("</s>"), &out, err, sizeof err), ERR_ARG);
    EXPECT(strcmp(err, "System role not supported") == 0 && out.len == len);
    jinja_free(t);
    buf_free(&out);
}
