// test_pipeline_access.c — the pipeline keys about access (serve/pipeline_access.c): `models:`,
// client `keys:` / `keys_file:`, and remote tiers' upstream credentials. Truths: hand-written
// configs whose error lines and keys are known, and SHA-256 digests from sha256sum.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/pipeline.h"
#include "test.h"

#define BASE                                                                   \
    "tiers:\n"                                                                 \
    "  - {name: small, url: \"http://127.0.0.1:9/v1\", model: m}\n"            \
    "  - {name: big, url: \"http://127.0.0.1:9/v1\", model: m2}\n"             \
    "routes:\n"                                                                \
    "  - {name: chat, match: {endpoint: chat}, tier: small}\n"                 \
    "  - {name: large, match: {endpoint: chat}, tier: big}\n"

// printf %s sk-a | sha256sum
#define SHA_A "a4a6d307ad00fa67176e1099fdbc4f4a09bb527a7f24718a5030f2f173d11f7f"

static int load(Pipeline *p, const char *text, bool check, char *err, size_t cap) {
    return pipeline_load_buf(p, "p.yaml", text, strlen(text), check, err, cap);
}

TEST(pipeline_models_and_keys_load) {
    static Pipeline p;
    char err[600];
    const char *text = BASE
        "models: {support-bot: chat, big-bot: large}\n"
        "keys:\n"
        "  - {name: team-a, sha256: \"" SHA_A "\", models: [big-bot], rpm: 60, tpm: 1000,\n"
        "     budget_usd: {day: 2.5, month: 40}}\n"
        "  - {name: team-b, sha256: \"0000000000000000000000000000000000000000000000000000000000000001\",\n"
        "     routes: [chat]}\n";
    int rc = load(&p, text, false, err, sizeof err);
    if (rc) printf("%s\n", err);
    ASSERT(rc == 0);
    EXPECT_EQ_INT(p.n_models, 2);
    EXPECT_EQ_INT(pipeline_model(&p, "big-bot"), 1);
    EXPECT_EQ_INT(p.models[1].route, 1);
    EXPECT_EQ_INT(pipeline_model(&p, "gpt-4o"), -1);
    EXPECT_EQ_INT(p.n_keys, 2);
    EXPECT(!p.keys[0].all_models && p.keys[0].models == 2 && p.keys[0].all_routes);
    EXPECT(p.keys[0].rpm == 60 && p.keys[0].tpm == 1000);
    EXPECT(p.keys[0].budget_day_nusd == 2500000000LL && p.keys[0].budget_month_nusd == 40000000000LL);
    EXPECT(p.keys[1].all_models && !p.keys[1].all_routes && p.keys[1].routes == 1 && p.keys[1].rpm == -1 &&
           p.keys[1].budget_day_nusd == -1);
    EXPECT(p.keys[0].sha256[0] == 0xa4 && p.keys[0].sha256[31] == 0x7f);
    EXPECT_EQ_INT(pipeline_key_by_hash(&p, p.keys[1].sha256), 1);
}

TEST(pipeline_access_errors_name_line_and_key) {
    static Pipeline p;
    static const struct { const char *extra, *want; } cases[] = {
        {"models: {bot: chatt}\n", "p.yaml:7: key 'models.bot': unknown route 'chatt' (routes: chat, large)"},
        {"models: {bot: chat}\nkeys:\n  - {name: a, sha256: \"abc\"}\n", "p.yaml:9: key 'keys[0].sha256': expected 64 hex"},
        {"models: {bot: chat}\nkeys:\n  - {name: a, sha256: \"" SHA_A "\", models: [gpt]}\n",
         "p.yaml:9: key 'keys[0].models[0]': unknown model 'gpt' (models: bot)"},
        {"keys:\n  - {name: a, sha256: \"" SHA_A "\", routes: [x]}\n", "key 'keys[0].routes[0]': unknown route 'x'"},
        {"keys:\n  - {name: a, sha256: \"" SHA_A "\"}\n  - {name: b, sha256: \"" SHA_A "\"}\n",
         "p.yaml:9: key 'keys[1].sha256': the same key hash is given twice"},
        {"keys:\n  - {name: a, sha256: \"" SHA_A "\", rpm: -1}\n", "key 'keys[0].rpm'"},
        {"keys:\n  - {name: a, sha256: \"" SHA_A "\", budget_usd: {week: 1}}\n", "key 'keys[0].budget_usd.week'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048], err[600] = "";
        snprintf(text, sizeof text, "%s%s", BASE, cases[i].extra);
        EXPECT(load(&p, text, false, err, sizeof err) != 0);
        if (!strstr(err, cases[i].want)) printf("case %zu: got \"%s\", want \"%s\"\n", i, err, cases[i].want);
        EXPECT(strstr(err, cases[i].want) != NULL);
    }
}

TEST(pipeline_keys_file_errors_name_the_keys_file) {
    static Pipeline p;
    char path[] = "/tmp/rs-keys-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    const char *keys = "keys:\n  - {name: a, sha256: \"" SHA_A "\"}\n  - {name: a, sha256: \"" SHA_A "\"}\n";
    ASSERT(write(fd, keys, strlen(keys)) == (ssize_t)strlen(keys));
    close(fd);
    char text[1024], err[600] = "";
    snprintf(text, sizeof text, BASE "keys_file: %s\n", path);
    EXPECT(load(&p, text, false, err, sizeof err) == 0);   // plan --pipeline does not read it
    EXPECT(load(&p, text, true, err, sizeof err) != 0);
    char want[300];
    snprintf(want, sizeof want, "%s:3: key 'keys[1].name': duplicate key name 'a'", path);
    if (!strstr(err, want)) printf("got \"%s\"\n", err);
    EXPECT(strstr(err, want) != NULL);
    unlink(path);
    snprintf(text, sizeof text, BASE "keys_file: /nonexistent/keys.yaml\n");
    EXPECT(load(&p, text, true, err, sizeof err) != 0);
    EXPECT(strstr(err, "p.yaml:7: key 'keys_file'") != NULL);
}

TEST(pipeline_upstream_credentials) {
    static Pipeline p;
    char err[600] = "", key[256];
    const char *text =
        "tiers:\n"
        "  - name: up\n"
        "    url: \"http://127.0.0.1:9/v1\"\n"
        "    model: m\n"
        "    api_key_env: RS_TEST_NO_SUCH_VAR_42\n"
        "    headers: {X-Org: acme, OpenAI-Project: p1}\n"
        "routes:\n  - {match: {endpoint: any}, tier: up}\n";
    unsetenv("RS_TEST_NO_SUCH_VAR_42");
    EXPECT(load(&p, text, true, err, sizeof err) != 0);   // serve --check: the variable must be set
    EXPECT(strstr(err, "p.yaml:5: key 'tiers[0].api_key_env': tier 'up': environment variable RS_TEST_NO_SUCH_VAR_42") != NULL);
    ASSERT(load(&p, text, false, err, sizeof err) == 0);   // plan --pipeline does not need it
    EXPECT_EQ_INT(p.tiers[0].n_headers, 2);
    EXPECT(strcmp(p.tiers[0].header_name[1], "OpenAI-Project") == 0 && strcmp(p.tiers[0].header_value[1], "p1") == 0);
    setenv("RS_TEST_NO_SUCH_VAR_42", "sk-up-1", 1);
    ASSERT(load(&p, text, true, err, sizeof err) == 0);
    EXPECT_EQ_INT(pipeline_tier_api_key(&p.tiers[0], key, sizeof key, err, sizeof err), 1);
    EXPECT(strcmp(key, "sk-up-1") == 0);
    unsetenv("RS_TEST_NO_SUCH_VAR_42");
    static const struct { const char *tier, *want; } bad[] = {
        {"{name: up, url: \"http://127.0.0.1:9/v1\", model: m, api_key_file: /nonexistent/k}",
         "key 'tiers[0].api_key_file': tier 'up': api_key_file: cannot read '/nonexistent/k'"},
        {"{name: up, url: \"http://127.0.0.1:9/v1\", model: m, api_key_env: A, api_key_file: B}", "not both"},
        {"{name: up, url: \"http://127.0.0.1:9/v1\", model: m, headers: {\"Bad Name\": x}}", "is not a header name"},
        {"{name: up, url: \"http://127.0.0.1:9/v1\", model: m, headers: {Host: x}}", "set by the gateway itself"},
        {"{name: up, model: x.gguf, api_key_env: A}", "for remote (url:) tiers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[1024];
        snprintf(t, sizeof t, "tiers:\n  - %s\nroutes:\n  - {match: {endpoint: any}, tier: up}\n", bad[i].tier);
        err[0] = 0;
        EXPECT(load(&p, t, i == 0, err, sizeof err) != 0);   // only the key file needs reading
        if (!strstr(err, bad[i].want)) printf("case %zu: got \"%s\"\n", i, err);
        EXPECT(strstr(err, bad[i].want) != NULL);
    }
}
