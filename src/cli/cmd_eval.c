// cmd_eval.c — `rightsize eval`: a model's quality on a text (perplexity, divergence from a
// reference model) or an endpoint's accuracy and cost on a labelled task; results to a file
// that `plan` reads as measured quality.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/tokenizer.h"
#include "eval/choose.h"
#include "eval/ppl.h"
#include "eval/results.h"
#include "eval/task.h"


static void eval_usage(FILE *out) {
    fprintf(out,
"usage: rightsize eval --perplexity FILE.txt -m MODEL [--kl-reference REF.gguf] [options]\n"
"       rightsize eval --task FILE.jsonl --url ENDPOINT [--model NAME] [options]\n"
"\n"
"Measures quality, and writes it where `plan` can read it (--out).\n"
"\n"
"Perplexity (chunked exactly as llama.cpp's llama-perplexity, so the numbers compare):\n"
"  the text is tokenized (BOS first), cut into non-overlapping chunks of --ctx tokens (the\n"
"  remainder is dropped), each chunk evaluated from an empty cache with BOS first, and only its\n"
"  second half scored. ppl = exp(mean negative log-likelihood of the scored tokens).\n"
"  --perplexity FILE      the text (UTF-8)\n"
"  -m, --model FILE       GGUF model\n"
"  --kl-reference FILE    also run this reference (same vocabulary) on the same chunks and report\n"
"                         KL(reference || model) mean and p99 (nats), top-1 agreement and\n"
"                         delta ppl: what quantizing or distilling cost\n"
"  --ctx N                tokens per chunk (default 512)\n"
"  --batch N              rows per forward step (default 512, at most --ctx)\n"
"  --chunks N             evaluate only the first N chunks (default all)\n"
"  -t, --threads N        compute threads (default all cores)\n"
"  --kv-type f16|f32      KV cache storage (default f16)\n"
"  --save-tokens FILE     write the text's token ids (one line, space-separated)\n"
"\n"
"Task accuracy of any OpenAI-compatible endpoint (a worker, or a whole `serve` pipeline):\n"
"  --task FILE.jsonl      labelled prompts, one JSON object a line:\n"
"                           {\"prompt\": \"...\" | \"messages\": [...], \"label\": \"...\",\n"
"                            \"match\": \"exact\"|\"contains\"|\"regex\"}   (match default exact)\n"
"                         the first line of the reply (trimmed; case-insensitive for exact and\n"
"                         contains) is matched against label\n"
"  --url URL              the endpoint's base (http://127.0.0.1:8080); /v1/chat/completions is\n"
"                         used, or /v1/completions for prompt lines with --completions\n"
"  --model NAME           the request's model field (default: the endpoint's choice)\n"
"  --concurrency N        requests in flight (default 4)\n"
"  --max-tokens N         per request (default 16)\n"
"  --timeout S            per request (default 60)\n"
"  --label-field KEY      read each line's label from KEY instead of \"label\" (the bundled\n"
"                         data/tasks/support-desk files: --label-field intent or priority)\n"
"  --completions          send prompt lines to /v1/completions instead of as one user message\n"
"  --predictions FILE     write one JSON line per prompt: label, reply (the first line), text (the\n"
"                         whole answer), correct, tier, cost\n"
"  --send-labels          send each exact-match label in the x-rightsize-label header, so a serve\n"
"                         canary with rollback.min_accuracy scores its candidate on them\n"
"\n"
"Choosing a cascade's min_confidence for a target quality (on a dev set):\n"
"  --choose-min-confidence  ask --url (the cascade's first tier) with logprobs and --teacher-url\n"
"                         the same prompts; sweep thresholds and print the lowest-escalation\n"
"                         min_confidence whose cascade keeps >= --keep of the teacher's accuracy\n"
"  --teacher-url URL      the second tier's endpoint    --teacher-model NAME  its model field\n"
"  --keep F               fraction of teacher accuracy to keep (default 0.97)\n"
"  cost comes from the x-rightsize-cost-usd response header that `serve` sets, so accuracy\n"
"  and cost per 1K requests come from the same run\n"
"\n"
"  --out FILE             results as YAML (or JSON when FILE ends in .json); `plan --measured\n"
"                         FILE` (and a catalog model's quality_file) read it\n"
"  --name NAME            the model name recorded in the results (default general.name)\n"
"  -q, --quiet            no progress lines\n"
"  -h, --help             this help\n");
}

typedef struct {
    const char *text, *model, *ref, *task, *url, *req_model, *out, *save_tokens, *name, *predictions, *teacher_url, *teacher_model, *label_field;
    double keep;
    bool choose;
    int64_t n_ctx, batch, chunks, concurrency, max_tokens, timeout_s;
    int threads;
    bool quiet, completions, send_labels;
    QuantType kv_type;
} EvalOpts;

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "eval: %s expects an integer in [%lld, %lld], got '%s'\n", opt, (long long)lo,
                (long long)hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, EvalOpts *o) {
    *o = (EvalOpts){.keep = 0.97, .n_ctx = 512, .batch = 512, .concurrency = 4, .max_tokens = 16, .timeout_s = 60,
                    .kv_type = QT_F16};
    bool batch_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
#define NEED_VAL() do { if (!v) { fprintf(stderr, "eval: %s needs a value (see --help)\n", a); return 2; } i++; } while (0)
        if (!strcmp(a, "--perplexity")) { NEED_VAL(); o->text = v; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model-file")) { NEED_VAL(); o->model = v; }
        else if (!strcmp(a, "--kl-reference")) { NEED_VAL(); o->ref = v; }
        else if (!strcmp(a, "--task")) { NEED_VAL(); o->task = v; }
        else if (!strcmp(a, "--url")) { NEED_VAL(); o->url = v; }
        else if (!strcmp(a, "--model")) { NEED_VAL(); o->req_model = v; }
        else if (!strcmp(a, "--out")) { NEED_VAL(); o->out = v; }
        else if (!strcmp(a, "--name")) { NEED_VAL(); o->name = v; }
        else if (!strcmp(a, "--save-tokens")) { NEED_VAL(); o->save_tokens = v; }
        else if (!strcmp(a, "--predictions")) { NEED_VAL(); o->predictions = v; }
        else if (!strcmp(a, "--label-field")) { NEED_VAL(); o->label_field = v; }
        else if (!strcmp(a, "--teacher-url")) { NEED_VAL(); o->teacher_url = v; }
        else if (!strcmp(a, "--teacher-model")) { NEED_VAL(); o->teacher_model = v; }
        else if (!strcmp(a, "--choose-min-confidence")) o->choose = true;
        else if (!strcmp(a, "--keep")) {
            NEED_VAL();
            char *end;
            o->keep = strtod(v, &end);
            if (*end || !(o->keep > 0 && o->keep <= 1)) { fprintf(stderr, "eval: --keep expects a fraction in (0, 1], got '%s'\n", v); return 2; }
        }
        else if (!strcmp(a, "--ctx")) { NEED_VAL(); if (parse_i64(a, v, 4, 1 << 20, &o->n_ctx)) return 2; }
        else if (!strcmp(a, "--batch")) { NEED_VAL(); if (parse_i64(a, v, 1, 1 << 16, &o->batch)) return 2; batch_set = true; }
        else if (!strcmp(a, "--chunks")) { NEED_VAL(); if (parse_i64(a, v, 1, INT32_MAX, &o->chunks)) return 2; }
        else if (!strcmp(a, "--concurrency")) { NEED_VAL(); if (parse_i64(a, v, 1, 256, &o->concurrency)) return 2; }
        else if (!strcmp(a, "--max-tokens")) { NEED_VAL(); if (parse_i64(a, v, 1, 1 << 20, &o->max_tokens)) return 2; }
        else if (!strcmp(a, "--timeout")) { NEED_VAL(); if (parse_i64(a, v, 1, 3600, &o->timeout_s)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEED_VAL(); if (parse_i64(a, v, 1, 1024, &n)) return 2; o->threads = (int)n; }
        else if (!strcmp(a, "--kv-type")) {
            NEED_VAL();
            if (!strcmp(v, "f16")) o->kv_type = QT_F16;
            else if (!strcmp(v, "f32")) o->kv_type = QT_F32;
            else { fprintf(stderr, "eval: --kv-type must be f16 or f32, got '%s'\n", v); return 2; }
        }
        else if (!strcmp(a, "--completions")) o->completions = true;
        else if (!strcmp(a, "--send-labels")) o->send_labels = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = true;
        else { fprintf(stderr, "eval: unknown option '%s' (see rightsize eval --help)\n", a); return 2; }
#undef NEED_VAL
    }
    if (!batch_set || o->batch > o->n_ctx) o->batch = o->n_ctx < 512 ? o->n_ctx : 512;
    if (!o->text == !o->task) {
        fprintf(stderr, "eval: give one of --perplexity FILE.txt (with -m MODEL) or --task FILE.jsonl (with --url)\n");
        return 2;
    }
    if (o->text && !o->model) { fprintf(stderr, "eval: --perplexity needs -m MODEL (a GGUF file)\n"); return 2; }
    if (o->task && !o->url) { fprintf(stderr, "eval: --task needs --url ENDPOINT (e.g. http://127.0.0.1:8080)\n"); return 2; }
    if (o->choose && (!o->task || !o->teacher_url)) {
        fprintf(stderr, "eval: --choose-min-confidence needs --task FILE (a dev set), --url FIRST_TIER and --teacher-url TEACHER\n");
        return 2;
    }
    if (o->ref && !o->text) { fprintf(stderr, "eval: --kl-reference goes with --perplexity FILE.txt\n"); return 2; }
    return 0;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

// Reads a whole file; caller frees. NULL with a message on failure.
static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "eval: cannot read '%s': %s\n", path, strerror(errno)); return NULL; }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 > cap) {
            cap = (cap + 65536) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); fprintf(stderr, "eval: out of memory reading '%s'\n", path); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); fprintf(stderr, "eval: error reading '%s'\n", path); return NULL; }
    *len = n;
    return buf;
}

static Engine *open_engine(const char *path, const EvalOpts *o, char *err, size_t err_len) {
    EngineOptions eo;
    engine_options_default(&eo);
    eo.n_threads = o->threads;
    eo.n_ctx = o->n_ctx;
    eo.max_rows = o->batch;
    eo.max_seqs = 1;
    eo.kv_type = o->kv_type;
    return engine_create(path, &eo, err, err_len);
}

static void progress(void *ctx, int64_t chunk, int64_t n_chunks, double ppl) {
    (void)ctx;
    fprintf(stderr, "\reval: chunk %lld/%lld  ppl %.4f", (long long)chunk, (long long)n_chunks, ppl);
    if (chunk == n_chunks) fputc('\n', stderr);
}

static int save_tokens(const char *path, const int32_t *ids, int64_t n) {
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "eval: cannot write '%s': %s\n", path, strerror(errno)); return 1; }
    for (int64_t i = 0; i < n; i++) fprintf(f, i ? " %d" : "%d", ids[i]);
    fputc('\n', f);
    if (fclose(f)) { fprintf(stderr, "eval: cannot write '%s'\n", path); return 1; }
    return 0;
}

// Tokenizes the text as llama-perplexity does (BOS as the vocabulary asks, no special parsing).
static int32_t *tokenize_text(const Tokenizer *tok, const char *text, size_t len, int64_t *n_out) {
    int64_t n = tok_encode(tok, text, len, true, false, NULL, 0);
    if (n < 0) { fprintf(stderr, "eval: cannot tokenize the text (error %lld)\n", (long long)n); return NULL; }
    int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids) { fprintf(stderr, "eval: out of memory for %lld tokens\n", (long long)n); return NULL; }
    tok_encode(tok, text, len, true, false, ids, n);
    *n_out = n;
    return ids;
}

static cJSON *ppl_json(const EvalOpts *o, const Engine *e, const PplResult *r) {
    char date[16];
    results_date(date, sizeof date);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", o->model);
    cJSON_AddStringToObject(root, "name", o->name ? o->name : engine_info(e)->name);
    cJSON_AddStringToObject(root, "dataset", base_name(o->text));
    cJSON_AddStringToObject(root, "date", date);
    if (r->has_ref) cJSON_AddNumberToObject(root, "quality", r->top1_agree);
    cJSON *p = cJSON_AddObjectToObject(root, "perplexity");
    cJSON_AddNumberToObject(p, "ctx", (double)o->n_ctx);
    cJSON_AddNumberToObject(p, "chunks", (double)r->n_chunks);
    cJSON_AddNumberToObject(p, "tokens", (double)r->n_tokens);
    cJSON_AddNumberToObject(p, "scored", (double)r->n_scored);
    cJSON_AddNumberToObject(p, "ppl", r->ppl);
    cJSON_AddNumberToObject(p, "ppl_stderr", r->ppl_stderr);
    if (r->has_ref) {
        cJSON *k = cJSON_AddObjectToObject(root, "kl_reference");
        cJSON_AddStringToObject(k, "reference", o->ref);
        cJSON_AddNumberToObject(k, "ref_ppl", r->ref_ppl);
        cJSON_AddNumberToObject(k, "delta_ppl", r->ppl - r->ref_ppl);
        cJSON_AddNumberToObject(k, "kl_mean", r->kl_mean);
        cJSON_AddNumberToObject(k, "kl_p99", r->kl_p99);
        cJSON_AddNumberToObject(k, "kl_max", r->kl_max);
        cJSON_AddNumberToObject(k, "top1_agree", r->top1_agree);
    }
    return root;
}

static int write_results(const EvalOpts *o, cJSON *root) {
    int rc = 0;
    if (o->out) {
        char err[256];
        if (results_write(root, o->out, err, sizeof err)) { fprintf(stderr, "eval: %s\n", err); rc = 1; }
    }
    cJSON_Delete(root);
    return rc;
}

static int run_perplexity(const EvalOpts *o) {
    char err[256];
    int rc = 1;
    size_t len = 0;
    int32_t *ids = NULL;
    Engine *ref = NULL, *e = open_engine(o->model, o, err, sizeof err);
    char *text = NULL;
    if (!e) { fprintf(stderr, "eval: %s: %s\n", o->model, err); return 1; }
    const Tokenizer *tok = engine_tokenizer(e);
    if (!tok) { fprintf(stderr, "eval: %s has no usable tokenizer: %s\n", o->model, engine_info(e)->tokenizer_error); goto fail; }
    if (o->ref && !(ref = open_engine(o->ref, o, err, sizeof err))) { fprintf(stderr, "eval: %s: %s\n", o->ref, err); goto fail; }
    if (!(text = read_all(o->text, &len))) goto fail;
    int64_t n = 0;
    if (!(ids = tokenize_text(tok, text, len, &n))) goto fail;
    if (o->save_tokens && save_tokens(o->save_tokens, ids, n)) goto fail;
    PplOptions po = {.n_ctx = o->n_ctx, .batch = o->batch, .max_chunks = o->chunks,
                     .progress = o->quiet ? NULL : progress};
    PplResult r;
    int32_t bos = tok_add_bos(tok) ? tok_bos(tok) : -1;
    if (ppl_run(e, ref, ids, n, bos, &po, &r, err, sizeof err)) { fprintf(stderr, "eval: %s\n", err); goto fail; }
    printf("perplexity: %.4f +/- %.4f  (%lld chunks of %lld tokens, %lld scored, %s)\n", r.ppl, r.ppl_stderr,
           (long long)r.n_chunks, (long long)o->n_ctx, (long long)r.n_scored, base_name(o->text));
    if (r.has_ref)
        printf("reference:  ppl %.4f  delta ppl %+.4f  KL mean %.6f p99 %.6f max %.6f nats  top-1 agreement %.2f%%\n",
               r.ref_ppl, r.ppl - r.ref_ppl, r.kl_mean, r.kl_p99, r.kl_max, 100 * r.top1_agree);
    rc = write_results(o, ppl_json(o, e, &r));
fail:
    free(ids);
    free(text);
    engine_destroy(ref);
    engine_destroy(e);
    return rc;
}

static int write_predictions(const char *path, const Task *t, const TaskResult *r) {
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "eval: cannot write '%s': %s\n", path, strerror(errno)); return 1; }
    for (int64_t i = 0; i < r->n; i++) {
        const TaskOutcome *oc = &r->outcomes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)i);
        if (t->items[i].id) cJSON_AddRawToObject(o, "id", t->items[i].id);
        cJSON_AddStringToObject(o, "label", t->items[i].label);
        cJSON_AddStringToObject(o, "reply", oc->reply);
        if (oc->text) cJSON_AddStringToObject(o, "text", oc->text);
        cJSON_AddBoolToObject(o, "correct", oc->correct);
        cJSON_AddBoolToObject(o, "error", oc->error);
        cJSON_AddStringToObject(o, "tier", oc->tier);
        if (!isnan(oc->cost_usd)) cJSON_AddNumberToObject(o, "cost_usd", oc->cost_usd);
        cJSON_AddNumberToObject(o, "latency_s", oc->latency_s);
        char *line = cJSON_PrintUnformatted(o);
        if (line) fprintf(f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    }
    if (fclose(f)) { fprintf(stderr, "eval: cannot write '%s'\n", path); return 1; }
    return 0;
}

static cJSON *task_json(const EvalOpts *o, const TaskResult *r) {
    char date[16];
    results_date(date, sizeof date);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", o->req_model ? o->req_model : o->url);
    cJSON_AddStringToObject(root, "name", o->name ? o->name : (o->req_model ? o->req_model : o->url));
    cJSON_AddStringToObject(root, "dataset", base_name(o->task));
    cJSON_AddStringToObject(root, "date", date);
    cJSON_AddNumberToObject(root, "quality", r->accuracy);
    cJSON *k = cJSON_AddObjectToObject(root, "task");
    cJSON_AddStringToObject(k, "url", o->url);
    cJSON_AddNumberToObject(k, "requests", (double)r->n);
    cJSON_AddNumberToObject(k, "correct", (double)r->correct);
    cJSON_AddNumberToObject(k, "errors", (double)r->errors);
    cJSON_AddNumberToObject(k, "accuracy", r->accuracy);
    if (r->n_cost) {
        cJSON_AddNumberToObject(k, "cost_usd", r->cost_usd);
        cJSON_AddNumberToObject(k, "cost_per_1k_usd", r->cost_per_1k_usd);
        cJSON_AddNumberToObject(k, "priced_requests", (double)r->n_cost);
    }
    cJSON_AddNumberToObject(k, "latency_mean_s", r->latency_mean_s);
    cJSON_AddNumberToObject(k, "wall_s", r->wall_s);
    cJSON *tiers = cJSON_AddObjectToObject(k, "tiers");
    for (int64_t i = 0; i < r->n; i++) {
        const char *tn = r->outcomes[i].tier[0] ? r->outcomes[i].tier : "(none)";
        cJSON *c = cJSON_GetObjectItemCaseSensitive(tiers, tn);
        if (c) cJSON_SetNumberValue(c, c->valuedouble + 1);
        else cJSON_AddNumberToObject(tiers, tn, 1);
    }
    return root;
}

static int run_task(const EvalOpts *o) {
    char err[512];
    Task t;
    if (task_load(&t, o->task, o->label_field, err, sizeof err)) { fprintf(stderr, "eval: %s\n", err); return 1; }
    TaskOptions to = {.url = o->url, .model = o->req_model, .concurrency = o->concurrency,
                      .max_tokens = o->max_tokens, .timeout_s = o->timeout_s, .completions = o->completions,
                      .send_labels = o->send_labels};
    TaskResult r;
    if (task_run(&t, &to, &r, err, sizeof err)) { fprintf(stderr, "eval: %s\n", err); task_free(&t); return 1; }
    printf("accuracy: %.4f  (%lld of %lld correct, %lld errors, %s)\n", r.accuracy, (long long)r.correct,
           (long long)r.n, (long long)r.errors, base_name(o->task));
    if (r.n_cost)
        printf("cost: $%.6f for %lld priced requests = $%.6f per 1K requests\n", r.cost_usd, (long long)r.n_cost,
               r.cost_per_1k_usd);
    else
        printf("cost: no x-rightsize-cost-usd headers (not a rightsize serve endpoint?)\n");
    int rc = 0;
    if (r.errors == r.n) { fprintf(stderr, "eval: every request failed (first: %s)\n", r.outcomes[0].reply); rc = 1; }
    if (o->predictions && write_predictions(o->predictions, &t, &r)) rc = 1;
    if (write_results(o, task_json(o, &r))) rc = 1;
    task_result_free(&r);
    task_free(&t);
    return rc;
}

// Runs the dev set on the first tier (with logprobs) and the teacher, then picks min_confidence.
static int run_choose(const EvalOpts *o) {
    char err[512];
    Task t;
    if (task_load(&t, o->task, o->label_field, err, sizeof err)) { fprintf(stderr, "eval: %s\n", err); return 1; }
    TaskOptions so = {.url = o->url, .model = o->req_model, .concurrency = o->concurrency, .max_tokens = o->max_tokens,
                      .timeout_s = o->timeout_s, .completions = o->completions, .want_logprobs = true};
    TaskOptions to = so;
    to.url = o->teacher_url;
    to.model = o->teacher_model;
    to.want_logprobs = false;
    TaskResult rs = {0}, rt = {0};
    int rc = 1;
    double *conf = malloc((size_t)t.n * sizeof *conf);
    bool *sok = malloc((size_t)t.n * sizeof *sok), *tok = malloc((size_t)t.n * sizeof *tok);
    if (!conf || !sok || !tok) { fprintf(stderr, "eval: out of memory\n"); goto fail; }
    if (task_run(&t, &so, &rs, err, sizeof err) || task_run(&t, &to, &rt, err, sizeof err)) {
        fprintf(stderr, "eval: %s\n", err);
        goto fail;
    }
    int64_t no_lp = 0;
    for (int64_t i = 0; i < t.n; i++) {
        conf[i] = rs.outcomes[i].confidence;
        no_lp += isnan(conf[i]) && !rs.outcomes[i].error;
        sok[i] = rs.outcomes[i].correct;
        tok[i] = rt.outcomes[i].correct;
    }
    if (rs.errors == t.n || rt.errors == t.n) { fprintf(stderr, "eval: every request to the %s failed\n", rs.errors == t.n ? "first tier" : "teacher"); goto fail; }
    if (no_lp) fprintf(stderr, "eval: warning: %lld first-tier replies carried no logprobs (counted as confidence 0)\n", (long long)no_lp);
    ChooseResult c;
    choose_min_confidence(conf, sok, tok, t.n, o->keep, &c);
    printf("first tier accuracy %.4f, teacher %.4f (%lld prompts, %s)\n", c.student_accuracy, c.teacher_accuracy,
           (long long)t.n, base_name(o->task));
    printf("min_confidence: %.9f  escalates %.1f%%, cascade accuracy %.4f = %.1f%% of the teacher's (target %.1f%%)%s\n",
           c.min_confidence, 100 * c.escalation, c.accuracy,
           c.teacher_accuracy > 0 ? 100 * c.accuracy / c.teacher_accuracy : 100.0, 100 * o->keep,
           c.met ? "" : "  -- NOT MET even escalating everything");
    printf("pipeline:   cascade: {first: ..., then: ..., min_confidence: %.9f}\n", c.min_confidence);
    char date[16];
    results_date(date, sizeof date);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", o->req_model ? o->req_model : o->url);
    cJSON_AddStringToObject(root, "name", o->name ? o->name : "cascade");
    cJSON_AddStringToObject(root, "dataset", base_name(o->task));
    cJSON_AddStringToObject(root, "date", date);
    cJSON_AddNumberToObject(root, "quality", c.accuracy);
    cJSON *k = cJSON_AddObjectToObject(root, "cascade_choice");
    cJSON_AddNumberToObject(k, "min_confidence", c.min_confidence);
    cJSON_AddNumberToObject(k, "keep", o->keep);
    cJSON_AddBoolToObject(k, "met", c.met);
    cJSON_AddNumberToObject(k, "escalation", c.escalation);
    cJSON_AddNumberToObject(k, "cascade_accuracy", c.accuracy);
    cJSON_AddNumberToObject(k, "student_accuracy", c.student_accuracy);
    cJSON_AddNumberToObject(k, "teacher_accuracy", c.teacher_accuracy);
    rc = write_results(o, root) || !c.met;
fail:
    free(conf);
    free(sok);
    free(tok);
    task_result_free(&rs);
    task_result_free(&rt);
    task_free(&t);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { eval_usage(stdout); return 0; }
    EvalOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    if (o.text) return run_perplexity(&o);
    if (o.choose) return run_choose(&o);
    return run_task(&o);
}
