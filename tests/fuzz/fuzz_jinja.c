// fuzz_jinja.c — libFuzzer target for the Jinja interpreter on arbitrary template text (chat
// templates come from untrusted model files). Each input is parsed and, when it parses, rendered
// with a small conversation under tight limits; ASan/UBSan watch memory, and the contracts are
// checked: a failure always comes with a message, a success never exceeds the output limit, and
// rendering twice gives the same text. Seeds: tests/fuzz/corpus/fuzz_jinja/ (real templates).
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "engine/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char VARS[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"},"
    " {\"role\": \"assistant\", \"content\": \"Hello!\"}, {\"role\": \"user\", \"content\": \"2+2?\"}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"a\": [1, 2.5, null]}}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cJSON *vars;
    if (!vars && !(vars = cJSON_Parse(VARS))) __builtin_trap();
    char err[256] = "";
    JinjaTemplate *t = jinja_parse((Str){(const char *)data, size}, err, sizeof err);
    if (!t) {
        if (!err[0]) __builtin_trap();  // a refusal names its reason
        return 0;
    }
    JinjaLimits lim = {.max_output = 1 << 16, .max_depth = 64, .max_steps = 20000, .max_memory = 8 << 20};
    Buf a = {0}, b = {0};
    err[0] = 0;
    int rc = jinja_render(t, vars, &lim, &a, err, sizeof err);
    if (rc != 0 && !err[0]) __builtin_trap();
    if (rc == 0 && a.len > lim.max_output) __builtin_trap();
    if (rc != 0 && a.len != 0) __builtin_trap();  // nothing half-written on failure
    int rc2 = jinja_render(t, vars, &lim, &b, err, sizeof err);
    // deterministic (strftime_now aside, which only the clock can change)
    if (rc2 != rc || (rc == 0 && (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) &&
                      !memmem(data, size, "strftime", 8)))
        __builtin_trap();
    buf_free(&a);
    buf_free(&b);
    jinja_free(t);
    return 0;
}
