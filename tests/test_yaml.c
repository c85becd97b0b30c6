// Tests of src/base/yaml: tree shape and line numbers against the literal text, typed getters,
// and the exact error messages a user sees (file, line, key path, what was expected).
#include <string.h>

#include "base/check.h"
#include "base/yaml.h"
#include "test.h"

static const char DOC[] =
    "name: support\n"                    // 1
    "slo:\n"                             // 2
    "  ttft_p95_ms: 800\n"               // 3
    "  e2e_p99_ms: abc\n"                // 4
    "count: 2_000_000\n"                 // 5
    "ratio: 1.5e-3\n"                    // 6
    "flag: yes\n"                        // 7
    "quoted: \"42\"\n"                   // 8
    "tiers:\n"                           // 9
    "  - name: a\n"                      // 10
    "    replicas: {min: 1, max: x}\n"   // 11
    "  - [1, 2, 3]\n"                    // 12
    "empty: ~\n";                        // 13

TEST(yaml_tree_shape_and_lines) {
    YamlDoc d;
    char err[256];
    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), err, sizeof err) == 0);
    ASSERT(d.root && d.root->kind == YAML_MAP);
    EXPECT_EQ_INT(d.root->n, 8);
    const YamlNode *t = yaml_at(d.root, "slo.ttft_p95_ms");
    ASSERT(t && t->kind == YAML_SCALAR);
    EXPECT(strcmp(t->str, "800") == 0);
    EXPECT_EQ_INT(t->line, 3);
    const YamlNode *tiers = yaml_get(d.root, "tiers");
    ASSERT(tiers && tiers->kind == YAML_SEQ && tiers->n == 2);
    EXPECT_EQ_INT(tiers->vals[1]->kind, YAML_SEQ);
    EXPECT_EQ_INT(tiers->vals[1]->n, 3);
    EXPECT_EQ_INT(tiers->vals[1]->line, 12);
    char path[128];
    const YamlNode *mx = yaml_at(tiers->vals[0], "replicas.max");
    ASSERT(mx);
    EXPECT(strcmp(yaml_path(mx, path, sizeof path), "tiers[0].replicas.max") == 0);
    EXPECT(yaml_is_null(yaml_get(d.root, "empty")));
    EXPECT(!yaml_is_null(yaml_get(d.root, "quoted")));
    yaml_doc_free(&d);
    yaml_doc_free(&d);  // idempotent
}

TEST(yaml_typed_getters) {
    YamlDoc d;
    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    EXPECT_NEAR(yaml_f64_req(&d, yaml_get(d.root, "slo"), "ttft_p95_ms", 0, 1e9), 800, 0);
    EXPECT_EQ_INT(yaml_i64_req(&d, d.root, "count", 0, INT64_MAX), 2000000);
    EXPECT_NEAR(yaml_f64_opt(&d, d.root, "ratio", 0, 0, 1), 1.5e-3, 1e-15);
    EXPECT(yaml_bool_opt(&d, d.root, "flag", false));
    EXPECT_NEAR(yaml_f64_opt(&d, d.root, "absent", 7.5, 0, 10), 7.5, 0);
    EXPECT_NEAR(yaml_f64_opt(&d, d.root, "empty", 3, 0, 10), 3, 0);
    EXPECT(strcmp(yaml_str_req(&d, d.root, "name"), "support") == 0);
    static const char *const kinds[] = {"chat", "support", "batch"};
    EXPECT_EQ_INT(yaml_enum_opt(&d, d.root, "name", kinds, 3, 0), 1);
    EXPECT_EQ_INT(d.rc, 0);
    yaml_doc_free(&d);
}

TEST(yaml_error_messages_name_file_line_and_key) {
    YamlDoc d;
    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    yaml_f64_req(&d, yaml_get(d.root, "slo"), "e2e_p99_ms", 0, 1e9);
    EXPECT(d.rc == ERR_FORMAT);
    EXPECT(strcmp(d.err, "w.yaml:4: key 'slo.e2e_p99_ms': expected a number, got 'abc'") == 0);
    // The first error sticks.
    yaml_f64_req(&d, d.root, "nope", 0, 1);
    EXPECT(strstr(d.err, "e2e_p99_ms") != NULL);
    yaml_doc_free(&d);

    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    const YamlNode *tier = yaml_get(d.root, "tiers")->vals[0];
    yaml_i64_req(&d, yaml_get(tier, "replicas"), "max", 1, 100);
    EXPECT(strcmp(d.err, "w.yaml:11: key 'tiers[0].replicas.max': expected a whole number, got 'x'") == 0);
    yaml_doc_free(&d);

    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    yaml_f64_req(&d, yaml_get(d.root, "slo"), "tpot_ms", 0, 1);
    if (strcmp(d.err, "w.yaml:2: key 'slo.tpot_ms': missing (expected a number)") != 0) test_fail(__FILE__, __LINE__, "got %s", d.err);
    yaml_doc_free(&d);

    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    yaml_i64_req(&d, d.root, "quoted", 0, 100);   // "42" quoted is a string, not a number
    EXPECT(strstr(d.err, "w.yaml:8: key 'quoted': expected a whole number") == d.err);
    yaml_doc_free(&d);

    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    yaml_f64_req(&d, yaml_get(d.root, "slo"), "ttft_p95_ms", 0, 500);
    EXPECT(strcmp(d.err, "w.yaml:3: key 'slo.ttft_p95_ms': 800 is out of range [0, 500]") == 0);
    yaml_doc_free(&d);

    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    static const char *const allowed[] = {"name", "slo", "count", "ratio", "flag", "quoted", "tiers", NULL};
    EXPECT(yaml_check_keys(&d, d.root, allowed) == ERR_FORMAT);
    EXPECT(strstr(d.err, "w.yaml:13: key 'empty': unknown key") == d.err);
    yaml_doc_free(&d);

    ASSERT(yaml_load_buf(&d, "w.yaml", DOC, strlen(DOC), NULL, 0) == 0);
    static const char *const kinds[] = {"chat", "batch"};
    yaml_enum_opt(&d, d.root, "name", kinds, 2, 0);
    EXPECT(strcmp(d.err, "w.yaml:1: key 'name': expected one of: chat, batch; got 'support'") == 0);
    yaml_doc_free(&d);
}

TEST(yaml_rejects_bad_documents) {
    static const char *bad[] = {
        "a: [1, 2\n",                 // unclosed flow sequence
        "a: 1\na: 2\n",               // duplicate key
        "a: &x 1\nb: *x\n",           // anchors refused
        "? [1]\n: v\n",               // complex key
        "a: 1\n---\nb: 2\n",          // two documents
        "\t- x\n",                    // tab indentation
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        YamlDoc d;
        char err[256] = {0};
        int rc = yaml_load_buf(&d, "bad.yaml", bad[i], strlen(bad[i]), err, sizeof err);
        EXPECT(rc < 0);
        EXPECT(strncmp(err, "bad.yaml:", 9) == 0);
        yaml_doc_free(&d);
    }
    // Depth limit: 100 nested flow sequences.
    char deep[256];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = 0;
    YamlDoc d;
    EXPECT(yaml_load_buf(&d, "deep.yaml", deep, 200, NULL, 0) == ERR_RANGE);
    yaml_doc_free(&d);
    EXPECT(yaml_load_file(&d, "/nonexistent/x.yaml", NULL, 0) == ERR_IO);
    EXPECT(strstr(d.err, "/nonexistent/x.yaml: cannot open") == d.err);
    yaml_doc_free(&d);
}

TEST(yaml_numbers_are_strict) {
    static const struct { const char *text; int ok; double v; } cases[] = {
        {"1", 1, 1}, {"-2.5", 1, -2.5}, {"1e3", 1, 1000}, {"1_000", 1, 1000},
        {"0x10", 0, 0}, {"inf", 0, 0}, {"nan", 0, 0}, {"1__0", 0, 0}, {"_1", 0, 0},
        {"1.5ms", 0, 0}, {".", 0, 0}, {"--1", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "v: %s\n", cases[i].text);
        YamlDoc d;
        ASSERT(yaml_load_buf(&d, "n.yaml", text, strlen(text), NULL, 0) == 0);
        double v = yaml_f64_req(&d, d.root, "v", -1e300, 1e300);
        if (cases[i].ok) {
            EXPECT(d.rc == 0);
            EXPECT_NEAR(v, cases[i].v, 1e-12);
        } else {
            EXPECT(d.rc == ERR_FORMAT);
        }
        yaml_doc_free(&d);
    }
}
