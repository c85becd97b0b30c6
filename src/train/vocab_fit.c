// vocab_fit.c — a vocabulary fitted to a corpus (see vocab_fit.h).
#include "train/vocab_fit.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

#define SPACE "\xe2\x96\x81"
#define MAX_WORD 24

typedef struct {
    char w[MAX_WORD + 1];
    int64_t count;
} Word;

typedef struct {
    Word *v;
    size_t n, cap;     // open addressing, cap a power of two
} WordTable;

static int wt_add(WordTable *t, const char *w, size_t len) {
    if (2 * (t->n + 1) > t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 4096;
        Word *nv = calloc(nc, sizeof *nv);
        if (!nv) return ERR_NOMEM;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->v[i].count) continue;
            uint64_t h = 1469598103934665603ull;
            for (const char *p = t->v[i].w; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
            size_t k = h & (nc - 1);
            while (nv[k].count) k = (k + 1) & (nc - 1);
            nv[k] = t->v[i];
        }
        free(t->v);
        t->v = nv;
        t->cap = nc;
    }
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)w[i]) * 1099511628211ull;
    size_t k = h & (t->cap - 1);
    while (t->v[k].count && (strlen(t->v[k].w) != len || memcmp(t->v[k].w, w, len))) k = (k + 1) & (t->cap - 1);
    if (!t->v[k].count) {
        memcpy(t->v[k].w, w, len);
        t->v[k].w[len] = 0;
        t->n++;
    }
    t->v[k].count++;
    return 0;
}

// Counts the letter runs (a word starts after a space or at the start) of s.
static int count_words(WordTable *t, const char *s) {
    for (const char *p = s; *p;) {
        bool start = p == s || p[-1] == ' ';
        const char *q = p;
        while (isalpha((unsigned char)*q) || *q == '\'') q++;
        if (q > p && start && q - p <= MAX_WORD) {
            int rc = wt_add(t, p, (size_t)(q - p));
            if (rc) return rc;
        }
        p = q > p ? q : p + 1;
    }
    return 0;
}

static int by_count(const void *a, const void *b) {
    const Word *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->w, y->w);
}

static int read_corpus(WordTable *t, const char *path, char *err, size_t err_len) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot open --data %s", path);
    size_t n = strlen(path);
    bool json = n > 6 && strcmp(path + n - 6, ".jsonl") == 0;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (!rc && getline(&line, &cap, f) >= 0) {
        if (!json) { rc = count_words(t, line); continue; }
        cJSON *o = cJSON_Parse(line);
        const char *keys[2] = {"prompt", "completion"};
        for (int k = 0; k < 2 && !rc; k++) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, keys[k]);
            if (cJSON_IsString(s)) rc = count_words(t, s->valuestring);
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return rc ? err_set(err, err_len, rc, "out of memory counting the words of %s", path) : 0;
}

// Appends piece if absent (linear check: vocabularies here are small) and room is left.
static int add_piece(char **pieces, int64_t *n, int64_t cap, const char *s) {
    if (*n >= cap) return 0;
    for (int64_t i = 0; i < *n; i++)
        if (!strcmp(pieces[i], s)) return 0;
    pieces[*n] = strdup(s);
    if (!pieces[*n]) return ERR_NOMEM;
    (*n)++;
    return 0;
}

static int build_pieces(WordTable *t, char **pieces, int64_t *n, int64_t cap) {
    char s[8 + 3 * MAX_WORD];
    int rc = add_piece(pieces, n, cap, SPACE);
    for (int c = 0x21; c < 0x7f && !rc; c++) { s[0] = (char)c; s[1] = 0; rc = add_piece(pieces, n, cap, s); }
    for (int c = 0x21; c < 0x7f && !rc; c++) { snprintf(s, sizeof s, SPACE "%c", c); rc = add_piece(pieces, n, cap, s); }
    Word *words = malloc((t->n ? t->n : 1) * sizeof *words);
    if (!words) return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->v[i].count) words[k++] = t->v[i];
    qsort(words, k, sizeof *words, by_count);
    for (size_t i = 0; i < k && !rc && *n < cap; i++) {
        size_t len = strlen(words[i].w);
        int64_t need = 0;  // prefixes not yet present
        for (size_t l = 2; l <= len; l++) {
            snprintf(s, sizeof s, SPACE "%.*s", (int)l, words[i].w);
            bool have = false;
            for (int64_t j = 0; j < *n && !have; j++) have = !strcmp(pieces[j], s);
            need += !have;
        }
        if (*n + need > cap) continue;   // only whole words (a partial path would split it oddly)
        for (size_t l = 2; l <= len && !rc; l++) {
            snprintf(s, sizeof s, SPACE "%.*s", (int)l, words[i].w);
            rc = add_piece(pieces, n, cap, s);
        }
    }
    free(words);
    return rc;
}

int vocab_fit(GgufWriter *w, const char *path, int64_t n, char *err, size_t err_len) {
    const int64_t n_fixed = 3 + 256, n_chars = 1 + 2 * 94;
    if (n < n_fixed + n_chars || n > (1 << 20))
        return err_set(err, err_len, ERR_ARG, "--vocab %lld: a fitted vocabulary needs %lld..%d tokens", (long long)n,
                       (long long)(n_fixed + n_chars), 1 << 20);
    WordTable t = {0};
    char **tokens = calloc((size_t)n, sizeof *tokens), bytes[256][8];
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    int64_t np = 0;
    int rc = !tokens || !scores || !types ? err_set(err, err_len, ERR_NOMEM, "out of memory") : 0;
    if (!rc) rc = read_corpus(&t, path, err, err_len);
    if (!rc && (rc = build_pieces(&t, tokens + n_fixed, &np, n - n_fixed))) err_set(err, err_len, rc, "out of memory");
    if (rc) goto out;
    const char *special[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) { tokens[i] = strdup(special[i]); types[i] = i ? 3 : 2; }
    for (int i = 0; i < 256; i++) {
        snprintf(bytes[i], sizeof bytes[i], "<0x%02X>", i);
        tokens[3 + i] = strdup(bytes[i]);
        types[3 + i] = 6;
    }
    // Unused slots (a corpus with few words) become never-produced pieces.
    for (int64_t i = n_fixed + np; i < n; i++) {
        char s[32];
        snprintf(s, sizeof s, "<unused%lld>", (long long)(i - n_fixed - np));
        tokens[i] = strdup(s);
    }
    for (int64_t i = 0; i < n; i++) {
        if (!tokens[i]) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto out; }
        if (i >= n_fixed) { scores[i] = -(float)(i - n_fixed); types[i] = i < n_fixed + np ? 1 : 5; }
    }
    rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!rc) rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!rc) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    if (rc) err_set(err, err_len, rc, "out of memory");
out:
    for (int64_t i = 0; tokens && i < n; i++) free(tokens[i]);
    free(tokens);
    free(scores);
    free(types);
    free(t.v);
    return rc;
}
