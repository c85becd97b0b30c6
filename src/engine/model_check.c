#include "engine/model_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "engine/quant.h"
#include "engine/tokenizer.h"

#define NAMES_SHOWN 2  // tensor names quoted per unsupported type

typedef struct {
    char *buf;
    size_t len, used;
} Msg;

static void msg_add(Msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg_add(Msg *m, const char *fmt, ...) {
    if (m->used + 1 >= m->len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->used, m->len - m->used, fmt, ap);
    va_end(ap);
    if (n > 0) m->used += (size_t)n < m->len - m->used ? (size_t)n : m->len - m->used - 1;
}

int model_check_support(const GgufFile *f, const char *arch_error, char *err, size_t err_len) {
    int64_t count[QT_COUNT] = {0};
    int n_types = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        QuantType t = f->tensors[i].type;
        if (QUANT_TRAITS[t].supported) continue;
        if (count[t]++ == 0) n_types++;
    }
    if (!arch_error && n_types == 0) return 0;
    char buf[1024];
    Msg m = {buf, sizeof buf, 0};
    buf[0] = 0;
    msg_add(&m, "cannot run this file:");
    if (arch_error) msg_add(&m, " %s;", arch_error);
    if (n_types) {
        msg_add(&m, " %d tensor type%s the engine cannot compute with:", n_types, n_types > 1 ? "s" : "");
        for (int t = 0; t < QT_COUNT; t++) {
            if (!count[t]) continue;
            msg_add(&m, " %s (%lld tensor%s: ", QUANT_TRAITS[t].name, (long long)count[t], count[t] > 1 ? "s" : "");
            int shown = 0;
            for (uint64_t i = 0; i < f->n_tensors && shown < NAMES_SHOWN; i++)
                if ((int)f->tensors[i].type == t)
                    msg_add(&m, "%s%.*s", shown++ ? ", " : "", (int)f->tensors[i].name.len, f->tensors[i].name.ptr);
            msg_add(&m, "%s),", count[t] > NAMES_SHOWN ? ", ..." : "");
        }
        if (m.used && buf[m.used - 1] == ',') buf[--m.used] = 0;
        msg_add(&m, " (supported: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k, q4_k, q5_k, "
                    "q6_k; `rightsize gguf info` lists every tensor);");
    }
    if (gguf_find_kv(f, "tokenizer.ggml.model")) {
        char terr[256] = "";
        Tokenizer *tok = tok_create_from_gguf(f, terr, sizeof terr);
        if (tok) tok_destroy(tok);
        else msg_add(&m, " tokenizer: %s;", terr);
    }
    if (m.used && buf[m.used - 1] == ';') buf[--m.used] = 0;
    return err_set(err, err_len, ERR_UNSUPP, "%s", buf);
}
