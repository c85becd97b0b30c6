// cmd_gguf_tokenize.c — `rightsize gguf tokenize MODEL [options] TEXT`: a vocabulary's token ids
// for a text, printed as llama.cpp's llama-tokenize prints them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

static const char USAGE[] =
    "usage: rightsize gguf tokenize MODEL [options] TEXT\n"
    "       rightsize gguf tokenize MODEL [options] -f FILE\n"
    "\n"
    "Tokenizes TEXT (or the bytes of FILE; - is stdin) with MODEL's vocabulary (any GGUF with\n"
    "tokenizer.ggml.* metadata: a model or a vocabulary-only file) and prints the token ids as\n"
    "llama-tokenize --ids does: [1, 15043, 3186]. Text that spells a special token (<s>,\n"
    "<|im_start|>) becomes that token unless --no-parse-special is given.\n"
    "  --no-bos             do not add the BOS/EOS (or [CLS]/[SEP]) tokens the vocabulary adds\n"
    "  --no-parse-special   treat special-token text as plain text\n"
    "  --pieces             one line per token: ID -> 'piece' (as llama-tokenize without --ids)\n"
    "  --count              print only the number of tokens\n";

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "rightsize gguf tokenize: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, " (see rightsize gguf tokenize --help)\n");
    return 2;
}

static int read_all(const char *path, Buf *b) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(b, chunk, n);
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    return bad ? -1 : 0;
}

static void print_piece(const Tokenizer *t, int32_t id) {
    char buf[512];
    int64_t n = tok_token_to_piece(t, id, true, buf, sizeof buf);
    if (n > (int64_t)sizeof buf) n = sizeof buf;
    printf("%6d -> '", (int)id);
    fwrite(buf, 1, (size_t)n, stdout);
    printf("'\n");
}

int cmd_gguf_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *file = NULL;
    bool bos = true, special = true, pieces = false, count = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(a, "--no-bos") == 0) bos = false;
        else if (strcmp(a, "--no-parse-special") == 0) special = false;
        else if (strcmp(a, "--pieces") == 0) pieces = true;
        else if (strcmp(a, "--count") == 0) count = true;
        else if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
            if (++i >= argc) return usage_error("%s needs a FILE", a);
            file = argv[i];
        } else if (a[0] == '-' && a[1] == '-') return usage_error("unknown option '%s'", a);
        else if (!model) model = a;
        else if (!text) text = a;
        else return usage_error("unexpected argument '%s' (quote TEXT as one argument)", a);
    }
    if (!model) return usage_error("%s", "MODEL is required");
    if (!text == !file) return usage_error("%s", "give TEXT or -f FILE (one of them)");
    Buf in = {0};
    if (file && read_all(file, &in)) {
        fprintf(stderr, "rightsize gguf tokenize: cannot read '%s'\n", file);
        return 1;
    }
    const char *s = file ? (in.data ? in.data : "") : text;
    size_t len = file ? in.len : strlen(text);
    GgufFile f = {0};
    char err[512];
    Tokenizer *t = NULL;
    int32_t *ids = NULL;
    int rc = 1;
    if (gguf_open(&f, model, err, sizeof err)) {
        fprintf(stderr, "rightsize gguf tokenize: %s: %s\n", model, err);
        goto fail;
    }
    if (!(t = tok_create_from_gguf(&f, err, sizeof err))) {
        fprintf(stderr, "rightsize gguf tokenize: %s: %s\n", model, err);
        goto fail;
    }
    int64_t n = tok_encode(t, s, len, bos, special, NULL, 0);
    if (n < 0 || !(ids = malloc((size_t)(n + 1) * sizeof *ids)) ||
        tok_encode(t, s, len, bos, special, ids, n) != n) {
        fprintf(stderr, "rightsize gguf tokenize: cannot tokenize %zu bytes (out of memory or over 512 MiB)\n", len);
        goto fail;
    }
    if (count) {
        printf("%lld\n", (long long)n);
    } else if (pieces) {
        for (int64_t i = 0; i < n; i++) print_piece(t, ids[i]);
    } else {
        putchar('[');
        for (int64_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", (int)ids[i]);
        printf("]\n");
    }
    rc = 0;
fail:
    free(ids);
    tok_destroy(t);
    gguf_close(&f);
    buf_free(&in);
    return rc;
}
