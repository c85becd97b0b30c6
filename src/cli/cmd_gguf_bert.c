// cmd_gguf_bert.c — `rightsize gguf synth --arch bert|nomic-bert ...` (random-weight encoders) and
// `rightsize gguf embed MODEL TEXT...` (one unit-length embedding per TEXT, as JSON lines).
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/threadpool.h"
#include "cli/cli.h"
#include "engine/bert.h"
#include "engine/synth_bert.h"
#include "engine/tokenizer.h"

static int fail_usage(const char *verb, const char *msg, const char *arg) {
    fprintf(stderr, "rightsize gguf %s: %s%s%s\n", verb, msg, arg ? " " : "", arg ? arg : "");
    return 2;
}

static bool parse_i64(const char *v, int64_t *out) {
    if (!v || !*v) return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < 0) return false;
    *out = x;
    return true;
}

int gguf_synth_is_encoder(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--arch") == 0 && (strcmp(argv[i + 1], "bert") == 0 || strcmp(argv[i + 1], "nomic-bert") == 0))
            return 1;
    return 0;
}

int gguf_synth_encoder(int argc, char **argv) {
    SynthBertOptions o = {.dim = 64, .n_layers = 2, .n_heads = 4, .ffn = 256, .ctx = 128, .pooling = 1, .type = QT_F32, .seed = 1};
    const char *out = NULL;
    bool force = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *num = NULL;
        if (strcmp(a, "--force") == 0) { force = true; continue; }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) { quiet = true; continue; }
        if (!v) return fail_usage("synth", "missing value after", a);
        i++;
        if (strcmp(a, "--arch") == 0) o.nomic = strcmp(v, "nomic-bert") == 0;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) out = v;
        else if (strcmp(a, "--vocab-from") == 0 || strcmp(a, "--vocab") == 0) o.vocab_path = v;
        else if (strcmp(a, "--name") == 0) o.name = v;
        else if (strcmp(a, "--type") == 0) {
            int t = quant_from_name(v);
            if (t != QT_F32 && t != QT_F16 && t != QT_BF16 && t != QT_Q8_0)
                return fail_usage("synth", "--type for an encoder must be f32, f16, bf16 or q8_0, not", v);
            o.type = (QuantType)t;
        } else if (strcmp(a, "--pooling") == 0) {
            o.pooling = strcmp(v, "mean") == 0 ? 1 : strcmp(v, "cls") == 0 ? 2 : strcmp(v, "last") == 0 ? 3 : 0;
            if (!o.pooling) return fail_usage("synth", "--pooling must be mean, cls or last, not", v);
        } else if (strcmp(a, "--qk-scale") == 0) o.qk_scale = strtof(v, NULL);
        else if (strcmp(a, "--dim") == 0) num = &o.dim;
        else if (strcmp(a, "--layers") == 0) num = &o.n_layers;
        else if (strcmp(a, "--heads") == 0) num = &o.n_heads;
        else if (strcmp(a, "--ffn") == 0) num = &o.ffn;
        else if (strcmp(a, "--ctx") == 0) num = &o.ctx;
        else if (strcmp(a, "--seed") == 0) {
            int64_t s;
            if (!parse_i64(v, &s)) return fail_usage("synth", "--seed must be a non-negative integer, not", v);
            o.seed = (uint64_t)s;
        } else return fail_usage("synth", "unknown option for an encoder:", a);
        if (num && !parse_i64(v, num)) return fail_usage("synth", "expected a non-negative integer after", a);
    }
    if (!out) return fail_usage("synth", "-o FILE is required", NULL);
    FILE *exists = fopen(out, "rb");
    if (exists && !force) {
        fclose(exists);
        return fail_usage("synth", "output exists (add --force to overwrite it):", out);
    }
    if (exists) fclose(exists);
    char err[512];
    int64_t nv = 0;
    int rc = synth_bert_write(&o, out, &nv, err, sizeof err);
    if (rc) {
        fprintf(stderr, "rightsize gguf synth: %s\n", err);
        return rc == ERR_ARG ? 2 : 1;
    }
    if (!quiet)
        fprintf(stderr, "synth: wrote %s (%s %s, %" PRId64 " parameters, vocab %" PRId64 ", seed %" PRIu64 ")\n", out,
                o.nomic ? "nomic-bert" : "bert", QUANT_TRAITS[o.type].name, synth_bert_params(&o, nv), nv, o.seed);
    return 0;
}

// ---- embed ----

static const char EMBED_USAGE[] =
    "usage: rightsize gguf embed MODEL [--threads N] TEXT...\n"
    "Encodes each TEXT (with [CLS] and [SEP]) with a bert or nomic-bert model and prints one JSON\n"
    "line per TEXT: {\"tokens\": N, \"embedding\": [...]} (pooled as the model says, unit length).\n";

int cmd_gguf_embed(int argc, char **argv) {
    const char *model = NULL;
    int64_t threads = 1;
    int first_text = 0;
    for (int i = 1; i < argc && !first_text; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) { fputs(EMBED_USAGE, stdout); return 0; }
        if (strcmp(argv[i], "--threads") == 0) {
            if (++i >= argc || !parse_i64(argv[i], &threads) || threads < 1 || threads > 256)
                return fail_usage("embed", "--threads needs a count in 1..256", NULL);
        } else if (!model) model = argv[i];
        else first_text = i;
    }
    if (!model || !first_text) { fputs(EMBED_USAGE, stderr); return 2; }
    BertModel m = {0};
    Tokenizer *tok = NULL;
    BertBuffers *b = NULL;
    ThreadPool *tp = NULL;
    int32_t *ids = NULL;
    float *emb = NULL;
    char err[512];
    int rc = 1;
    if (bert_load(&m, model, err, sizeof err) || !(tok = tok_create_from_gguf(&m.file, err, sizeof err))) {
        fprintf(stderr, "rightsize gguf embed: %s: %s\n", model, err);
        goto fail;
    }
    int64_t cap = m.hp.n_ctx_train, d = m.hp.n_embd;
    tp = tp_create((int)threads);
    b = bert_buffers_create(&m, cap, (int)threads);
    ids = malloc((size_t)cap * sizeof *ids);
    emb = malloc((size_t)d * sizeof *emb);
    if (!tp || !b || !ids || !emb) { fprintf(stderr, "rightsize gguf embed: out of memory\n"); goto fail; }
    for (int i = first_text; i < argc; i++) {
        int64_t n = tok_encode(tok, argv[i], strlen(argv[i]), true, false, ids, cap);
        if (n < 0 || bert_check_input(&m, ids, n, err, sizeof err)) {
            fprintf(stderr, "rightsize gguf embed: TEXT %d: %s\n", i - first_text + 1, n < 0 ? "cannot tokenize" : err);
            goto fail;
        }
        bert_embed(&m, b, tp, ids, &n, 1, emb);
        printf("{\"tokens\": %" PRId64 ", \"embedding\": [", n);
        for (int64_t k = 0; k < d; k++) printf("%s%.9g", k ? ", " : "", (double)emb[k]);
        printf("]}\n");
    }
    rc = 0;
fail:
    free(ids);
    free(emb);
    bert_buffers_destroy(b);
    tp_destroy(tp);
    tok_destroy(tok);
    bert_free(&m);
    return rc;
}
