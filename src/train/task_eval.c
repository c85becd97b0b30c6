// task_eval.c — greedy label accuracy through the engine (see task_eval.h).
#include "train/task_eval.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/clock.h"
#include "engine/engine.h"
#include "engine/tokenizer.h"

#define EVAL_MAX_GEN 16
#define EVAL_MAX_PROMPT 1024

static int32_t argmax(const float *x, int64_t n) {
    int32_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = (int32_t)i;
    return b;
}

// Generates greedily after one prompt into out (NUL-terminated): up to the second newline (the
// intent line and the priority line), end of generation or EVAL_MAX_GEN tokens.
static int label_for(Engine *e, const Tokenizer *t, const char *prompt, float *logits, char *out, size_t cap,
                     char *err, size_t err_len) {
    static int32_t ids[EVAL_MAX_PROMPT + EVAL_MAX_GEN];
    static EngineRow rows[EVAL_MAX_PROMPT];
    int64_t n = tok_encode(t, prompt, strlen(prompt), true, false, ids, EVAL_MAX_PROMPT);
    if (n <= 0) return err_set(err, err_len, ERR_ARG, "prompt does not tokenize into 1..%d tokens", EVAL_MAX_PROMPT);
    int64_t ctx = engine_info(e)->n_ctx;
    if (n + EVAL_MAX_GEN > ctx) n = ctx - EVAL_MAX_GEN;  // keep the prompt's start, as training truncates
    for (int64_t i = 0; i < n; i++) rows[i] = (EngineRow){0, i, ids[i], i == n - 1};
    int rc = engine_forward(e, rows, n, logits, err, err_len);
    int64_t g = 0;
    size_t len = 0;
    int lines = 0;
    out[0] = 0;
    while (!rc && g < EVAL_MAX_GEN && lines < 2) {
        int32_t id = argmax(logits, engine_info(e)->n_vocab);
        if (tok_is_eog(t, id)) break;
        char piece[64];
        int64_t pl = tok_token_to_piece(t, id, false, piece, sizeof piece);
        if (pl < 0) pl = 0;
        for (int64_t i = 0; i < pl && lines < 2; i++) {
            if (piece[i] == '\n') lines++;
            if (lines < 2 && len + 2 < cap) out[len++] = piece[i];
        }
        out[len] = 0;
        EngineRow row = {0, n + g, id, true};
        rc = engine_forward(e, &row, 1, logits, err, err_len);
        g++;
    }
    engine_seq_free(e, 0);
    return rc;
}

// The trimmed text of s up to its first newline into out.
static void first_line(const char *s, char *out, size_t cap) {
    while (*s == ' ') s++;
    size_t n = strcspn(s, "\n");
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

int task_eval_intent(const char *model_path, const char *jsonl, int n_threads, int64_t limit, TaskEvalResult *r,
                     char *err, size_t err_len) {
    memset(r, 0, sizeof *r);
    EngineOptions o;
    engine_options_default(&o);
    o.n_threads = n_threads;
    o.max_seqs = 1;
    o.max_rows = EVAL_MAX_PROMPT;
    o.kv_type = QT_F32;
    Engine *e = engine_create(model_path, &o, err, err_len);
    if (!e) return ERR_ARG;
    const Tokenizer *t = engine_tokenizer(e);
    FILE *f = fopen(jsonl, "r");
    float *logits = malloc((size_t)engine_info(e)->n_vocab * sizeof *logits);
    char *line = NULL, text[512], label[256], prio[64];
    size_t lcap = 0;
    int64_t lineno = 0;
    int rc = 0;
    if (!t) { rc = err_set(err, err_len, ERR_FORMAT, "%s has no usable tokenizer: %s", model_path, engine_info(e)->tokenizer_error); goto out; }
    if (!f) { rc = err_set(err, err_len, ERR_IO, "cannot open %s", jsonl); goto out; }
    if (!logits) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto out; }
    int64_t t0 = clock_now_us();
    while (!rc && getline(&line, &lcap, f) >= 0 && (limit <= 0 || r->n < limit)) {
        lineno++;
        if (line[0] == '\n' || !line[0]) continue;
        cJSON *j = cJSON_Parse(line);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt"), *in = cJSON_GetObjectItemCaseSensitive(j, "intent");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "priority");
        if (!cJSON_IsString(p) || !cJSON_IsString(in)) {
            rc = err_set(err, err_len, ERR_FORMAT, "%s:%lld: needs \"prompt\" and \"intent\" strings", jsonl, (long long)lineno);
        } else {
            rc = label_for(e, t, p->valuestring, logits, text, sizeof text, err, err_len);
            first_line(text, label, sizeof label);
            const char *nl = strchr(text, '\n'), *pp = nl ? strstr(nl, "Priority:") : NULL;
            prio[0] = 0;
            if (pp) first_line(pp + 9, prio, sizeof prio);
            r->n++;
            r->correct += !rc && strcmp(label, in->valuestring) == 0;
            if (cJSON_IsString(pr)) {
                r->n_priority++;
                r->priority_correct += !rc && strcmp(prio, pr->valuestring) == 0;
            }
        }
        cJSON_Delete(j);
    }
    r->seconds = (double)(clock_now_us() - t0) / 1e6;
out:
    free(line);
    free(logits);
    if (f) fclose(f);
    engine_destroy(e);
    return rc;
}
