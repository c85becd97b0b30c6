// cmd_run.c — `rightsize run`: generate from a GGUF model on the terminal, streaming text, then
// one timing line on stderr (parsed by the benchmarks).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/rng.h"
#include "cli/cli.h"
#include "engine/chat.h"
#include "engine/matmul.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"

static void run_usage(FILE *out) {
    fprintf(out,
"usage: rightsize run -m FILE (-p PROMPT | --prompt-ids IDS | --prompt-tokens N) [options]\n"
"       rightsize run -m FILE --chat [--system TEXT] -p MESSAGE [options]\n"
"\n"
"Generates from a GGUF model (llama, qwen2, qwen3, gemma2, gemma3, phi3, granite, qwen3moe,\n"
"granitemoe) with the CPU engine. Text streams to stdout as tokens\n"
"arrive; at the end one line goes to stderr:\n"
"  prompt eval: N tokens in X ms (Y tokens/s); generation: M tokens in X ms (Z tokens/s); kernels K\n"
"(generation time counts sampling and the forward pass of each generated token; K is the matrix\n"
"kernel set this CPU got: amx, avx512vnni, avxvnni, avx2 or ref — RIGHTSIZE_KERNELS=ref|avx2|\n"
"avxvnni|avx512vnni caps it; RIGHTSIZE_STREAM_PREFETCH=l1|l2|l2l1 sets where a decode step\n"
"prefetches its weights: by default l1 on AMD CPUs, l2l1 (into L2, then L1) on others).\n"
"\n"
"  -m, --model FILE       GGUF model\n"
"  -p, --prompt TEXT      prompt, tokenized with the model's tokenizer (BOS added as it asks;\n"
"                         special-token texts such as <|im_start|> become those tokens)\n"
"  --chat                 -p is a user message: the prompt is the model's chat template\n"
"                         (tokenizer.chat_template, as the worker's /v1/chat/completions\n"
"                         renders it) around it, ending where the assistant's reply begins\n"
"  --system TEXT          with --chat: a system message before the user's\n"
"  --chat-template NAME   with --chat: use a built-in family instead of the model's template\n"
"                         (llama2, mistral, llama3, chatml, zephyr)\n"
"  --prompt-ids IDS       prompt as comma-separated token ids (skips the tokenizer)\n"
"  --prompt-tokens N      synthetic prompt of N ids (BOS then seeded pseudo-random ids), for\n"
"                         speed measurements like llama-bench -p N\n"
"  -n, --n-predict N      tokens to generate (default 128; stops early at end-of-generation)\n"
"  --temp T               temperature (default 0.8; 0 = greedy argmax)\n"
"  --top-k K              keep the K most likely (default 40; 0 = off)\n"
"  --top-p P              nucleus sampling (default 0.95; 1 = off)\n"
"  --min-p P              drop tokens below P x the top probability (default 0.05; 0 = off)\n"
"  --seed S               sampling seed (default: from the clock)\n"
"  -t, --threads N        compute threads (default: all cores)\n"
"  --ctx N                context positions (default: min(model context, 4096))\n"
"  --batch N              max prompt rows per forward step (default 512)\n"
"  --kv-type f16|f32      KV cache storage (default f16)\n"
"  --ignore-eos           keep generating past end-of-generation tokens\n"
"  --print-ids            print generated token ids (space-separated) instead of text\n"
"  --dump-logits FILE     write raw little-endian float32 logits: one row of n_vocab floats\n"
"                         per position of the sequence (prompt + generated tokens): row i holds\n"
"                         the logits computed at position i, i.e. the prediction of token i+1.\n"
"                         P + G rows for a P-token prompt and G generated tokens (every\n"
"                         generated token is fed back, so its row exists too).\n"
"  -h, --help             this help\n");
}

typedef struct {
    const char *model, *prompt, *prompt_ids, *dump_path, *system, *chat_template;
    bool chat;
    int64_t n_predict, prompt_tokens, n_ctx, batch;
    int threads;
    float temp, top_p, min_p;
    int32_t top_k;
    uint64_t seed;
    bool have_seed, ignore_eos, print_ids;
    QuantType kv_type;
} RunOpts;

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "run: %s expects an integer in [%lld, %lld], got '%s'\n", opt, (long long)lo,
                (long long)hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_f32(const char *opt, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "run: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

// Returns 0, 2 on a usage error (message printed).
static int parse_opts(int argc, char **argv, RunOpts *o) {
    *o = (RunOpts){.n_predict = 128, .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                   .batch = 512, .kv_type = QT_F16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        const char *v = has_val ? argv[i + 1] : NULL;
        int64_t n;
#define NEED_VAL() do { if (!has_val) { fprintf(stderr, "run: %s needs a value (see --help)\n", a); return 2; } i++; } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VAL(); o->model = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { NEED_VAL(); o->prompt = v; }
        else if (!strcmp(a, "--prompt-ids")) { NEED_VAL(); o->prompt_ids = v; }
        else if (!strcmp(a, "--dump-logits")) { NEED_VAL(); o->dump_path = v; }
        else if (!strcmp(a, "--prompt-tokens")) { NEED_VAL(); if (parse_i64(a, v, 1, 1 << 24, &o->prompt_tokens)) return 2; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { NEED_VAL(); if (parse_i64(a, v, 0, 1 << 24, &o->n_predict)) return 2; }
        else if (!strcmp(a, "--ctx")) { NEED_VAL(); if (parse_i64(a, v, 1, 1 << 24, &o->n_ctx)) return 2; }
        else if (!strcmp(a, "--batch")) { NEED_VAL(); if (parse_i64(a, v, 1, 1 << 16, &o->batch)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEED_VAL(); if (parse_i64(a, v, 1, 1024, &n)) return 2; o->threads = (int)n; }
        else if (!strcmp(a, "--top-k")) { NEED_VAL(); if (parse_i64(a, v, 0, INT32_MAX, &n)) return 2; o->top_k = (int32_t)n; }
        else if (!strcmp(a, "--seed")) { NEED_VAL(); if (parse_i64(a, v, 0, INT64_MAX, &n)) return 2; o->seed = (uint64_t)n; o->have_seed = true; }
        else if (!strcmp(a, "--temp")) { NEED_VAL(); if (parse_f32(a, v, 0, 100, &o->temp)) return 2; }
        else if (!strcmp(a, "--top-p")) { NEED_VAL(); if (parse_f32(a, v, 1e-6, 1, &o->top_p)) return 2; }
        else if (!strcmp(a, "--min-p")) { NEED_VAL(); if (parse_f32(a, v, 0, 1, &o->min_p)) return 2; }
        else if (!strcmp(a, "--kv-type")) {
            NEED_VAL();
            if (!strcmp(v, "f16")) o->kv_type = QT_F16;
            else if (!strcmp(v, "f32")) o->kv_type = QT_F32;
            else { fprintf(stderr, "run: --kv-type must be f16 or f32, got '%s'\n", v); return 2; }
        }
        else if (!strcmp(a, "--system")) { NEED_VAL(); o->system = v; }
        else if (!strcmp(a, "--chat-template")) { NEED_VAL(); o->chat_template = v; }
        else if (!strcmp(a, "--chat")) o->chat = true;
        else if (!strcmp(a, "--ignore-eos")) o->ignore_eos = true;
        else if (!strcmp(a, "--print-ids")) o->print_ids = true;
        else { fprintf(stderr, "run: unknown option '%s' (see rightsize run --help)\n", a); return 2; }
#undef NEED_VAL
    }
    if (!o->model) { fprintf(stderr, "run: -m FILE is required (a GGUF model)\n"); return 2; }
    int n_src = (o->prompt != NULL) + (o->prompt_ids != NULL) + (o->prompt_tokens > 0);
    if (n_src != 1) {
        fprintf(stderr, "run: give exactly one of -p PROMPT, --prompt-ids IDS, --prompt-tokens N\n");
        return 2;
    }
    if (o->chat && !o->prompt) {
        fprintf(stderr, "run: --chat takes the user's message from -p MESSAGE\n");
        return 2;
    }
    if (!o->chat && (o->system || o->chat_template)) {
        fprintf(stderr, "run: --system and --chat-template apply to --chat (add --chat)\n");
        return 2;
    }
    return 0;
}

// Parses "1,2,3" into ids (all < n_vocab). Returns the count, or -1 with a message.
static int64_t parse_ids(const char *s, int64_t n_vocab, int32_t *ids, int64_t cap) {
    int64_t n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v < 0 || v >= n_vocab || (*end && *end != ',')) {
            fprintf(stderr, "run: --prompt-ids: '%s' is not a comma-separated list of ids in [0, %lld)\n", s,
                    (long long)n_vocab);
            return -1;
        }
        if (n == cap) {
            fprintf(stderr, "run: --prompt-ids: more than %lld ids (the context)\n", (long long)cap);
            return -1;
        }
        ids[n++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) fprintf(stderr, "run: --prompt-ids: no ids given\n");
    return n ? n : -1;
}

// Builds the prompt into ids (capacity cap = n_ctx). Returns its length or -1 (message printed).
static int64_t build_prompt(const RunOpts *o, const Engine *e, int32_t *ids, int64_t cap) {
    const EngineInfo *info = engine_info(e);
    const Tokenizer *tok = engine_tokenizer(e);
    if (o->prompt_ids) return parse_ids(o->prompt_ids, info->n_vocab, ids, cap);
    if (o->prompt_tokens > 0) {
        if (o->prompt_tokens > cap) {
            fprintf(stderr, "run: --prompt-tokens %lld exceeds the context (%lld; raise --ctx)\n",
                    (long long)o->prompt_tokens, (long long)cap);
            return -1;
        }
        Rng rng;
        rng_seed(&rng, 1234);
        for (int64_t i = 0; i < o->prompt_tokens; i++) ids[i] = (int32_t)rng_below(&rng, (uint64_t)info->n_vocab);
        if (tok && tok_bos(tok) >= 0) ids[0] = tok_bos(tok);
        return o->prompt_tokens;
    }
    if (!tok) {
        fprintf(stderr, "run: the model has no usable tokenizer (%s); use --prompt-ids or --prompt-tokens\n",
                info->tokenizer_error);
        return -1;
    }
    Buf chat = {0};
    const char *text = o->prompt;
    size_t len = strlen(o->prompt);
    if (o->chat) {  // [system,] user → the model's template, ending at the assistant's turn
        ChatPrompt cp;
        char err[300];
        ChatMsg msgs[2];
        int64_t n_msgs = 0;
        if (o->system) msgs[n_msgs++] = (ChatMsg){CHAT_SYSTEM, str_from_c(o->system)};
        msgs[n_msgs++] = (ChatMsg){CHAT_USER, str_from_c(o->prompt)};
        int rc = chat_prompt_init(&cp, o->chat_template, o->model, tok, err, sizeof err);
        if (!rc) rc = chat_prompt_render(&cp, msgs, n_msgs, true, &chat, err, sizeof err);
        chat_prompt_free(&cp);
        if (rc) {
            fprintf(stderr, "run: --chat: %s\n", err);
            buf_free(&chat);
            return -1;
        }
        text = chat.data;
        len = chat.len;
    }
    int64_t n = tok_encode(tok, text, len, true, true, ids, cap);
    buf_free(&chat);
    if (n < 0) {
        fprintf(stderr, "run: tokenizing the prompt failed (%s)\n", err_str((int)n));
        return -1;
    }
    if (n > cap) {
        fprintf(stderr, "run: the prompt is %lld tokens, beyond the context (%lld; raise --ctx)\n", (long long)n,
                (long long)cap);
        return -1;
    }
    if (n == 0) fprintf(stderr, "run: the prompt encodes to no tokens\n");
    return n ? n : -1;
}

static double rate(int64_t n, int64_t us) { return us > 0 ? (double)n * 1e6 / (double)us : 0.0; }

int cmd_run(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        run_usage(stdout);
        return 0;
    }
    RunOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;

    int status = 1;
    Engine *e = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    EngineRow *rows = NULL;
    FILE *dump = NULL;
    SamplerWork work = {0};
    char err[1024] = "", *text = NULL;

    EngineOptions eo;
    engine_options_default(&eo);
    eo.n_threads = o.threads;
    eo.n_ctx = o.n_ctx;
    eo.max_rows = o.batch;
    eo.max_seqs = 1;
    eo.kv_type = o.kv_type;
    e = engine_create(o.model, &eo, err, sizeof err);
    if (!e) {
        fprintf(stderr, "run: %s\n", err);
        goto done;
    }
    const EngineInfo *info = engine_info(e);
    const Tokenizer *tok = engine_tokenizer(e);
    int64_t n_ctx = info->n_ctx, n_vocab = info->n_vocab, batch = info->max_rows;
    ids = malloc((size_t)n_ctx * sizeof *ids);
    // Logits for every prompt row only when dumping them; else just the last row's.
    logits = malloc((size_t)(o.dump_path ? batch : 1) * (size_t)n_vocab * sizeof *logits);
    rows = malloc((size_t)batch * sizeof *rows);
    size_t text_cap = tok ? tok_stream_min_cap(tok) : 0;
    text = malloc(text_cap + 1);
    if (!ids || !logits || !rows || !text || sampler_work_init(&work, n_vocab)) {
        fprintf(stderr, "run: out of memory\n");
        goto done;
    }
    int64_t n_prompt = build_prompt(&o, e, ids, n_ctx);
    if (n_prompt < 0) {
        status = 2;
        goto done;
    }
    if (o.dump_path && !(dump = fopen(o.dump_path, "wb"))) {
        fprintf(stderr, "run: cannot write --dump-logits file '%s': %s\n", o.dump_path, strerror(errno));
        goto done;
    }
    SamplerParams sp = sampler_params_default();
    sp.temperature = o.temp;
    sp.top_k = o.top_k;
    sp.top_p = o.top_p;
    sp.min_p = o.min_p;
    if (sampler_params_validate(&sp, err, sizeof err)) {
        fprintf(stderr, "run: %s\n", err);
        status = 2;
        goto done;
    }
    Rng rng;
    rng_seed(&rng, o.have_seed ? o.seed : (uint64_t)clock_wall_us());

    // ---- prefill, in chunks of up to `batch` rows; logits of the last row (all rows when dumping)
    int64_t t0 = clock_now_us();
    const float *last = NULL;
    for (int64_t start = 0; start < n_prompt; start += batch) {
        int64_t n = n_prompt - start < batch ? n_prompt - start : batch;
        for (int64_t i = 0; i < n; i++)
            rows[i] = (EngineRow){0, start + i, ids[start + i], dump != NULL || start + i == n_prompt - 1};
        if (engine_forward(e, rows, n, logits, err, sizeof err)) {
            fprintf(stderr, "run: %s\n", err);
            goto done;
        }
        int64_t n_out = dump ? n : (start + n == n_prompt);
        if (dump && fwrite(logits, sizeof(float) * (size_t)n_vocab, (size_t)n_out, dump) != (size_t)n_out) goto dump_fail;
        if (start + n == n_prompt) last = logits + (n_out - 1) * n_vocab;
    }
    int64_t t_prompt_us = clock_now_us() - t0;

    // ---- generation: sample, stream, feed the token back
    TokStream ts;
    if (tok) tok_stream_init(&ts, tok, false, false, false);
    int64_t n_gen = 0, pos = n_prompt;
    t0 = clock_now_us();
    while (n_gen < o.n_predict && pos < n_ctx) {
        SampleResult res;
        if (sampler_sample(&sp, last, n_vocab, NULL, 0, 0, &rng, &work, &res)) {
            fprintf(stderr, "run: sampling failed (logits are all -inf or NaN)\n");
            goto done;
        }
        bool eog = tok && tok_is_eog(tok, res.token);
        if (eog && !o.ignore_eos) break;
        n_gen++;
        if (o.print_ids || !tok) {
            printf(n_gen > 1 ? " %d" : "%d", res.token);
        } else {
            int64_t k = tok_stream_feed(&ts, res.token, text, text_cap);
            if (k > 0) fwrite(text, 1, (size_t)k, stdout);
        }
        fflush(stdout);
        EngineRow row = {0, pos++, res.token, true};
        if (engine_forward(e, &row, 1, logits, err, sizeof err)) {
            fprintf(stderr, "run: %s\n", err);
            goto done;
        }
        if (dump && fwrite(logits, sizeof(float) * (size_t)n_vocab, 1, dump) != 1) goto dump_fail;
        last = logits;
    }
    int64_t t_gen_us = clock_now_us() - t0;
    if (tok && !o.print_ids) {
        int64_t k = tok_stream_flush(&ts, text, text_cap);
        if (k > 0) fwrite(text, 1, (size_t)k, stdout);
    }
    printf("\n");
    fflush(stdout);
    if (n_gen < o.n_predict && pos >= n_ctx)
        fprintf(stderr, "run: stopped at the context limit (%lld positions; raise --ctx)\n", (long long)n_ctx);
    fprintf(stderr,
            "prompt eval: %lld tokens in %.2f ms (%.2f tokens/s); generation: %lld tokens in %.2f ms (%.2f tokens/s); "
            "kernels %s\n",
            (long long)n_prompt, (double)t_prompt_us / 1000.0, rate(n_prompt, t_prompt_us), (long long)n_gen,
            (double)t_gen_us / 1000.0, rate(n_gen, t_gen_us), mm_kernel_name());
    status = 0;
    goto done;
dump_fail:
    fprintf(stderr, "run: writing '%s' failed: %s\n", o.dump_path, strerror(errno));
done:
    if (dump && fclose(dump) && status == 0) {
        fprintf(stderr, "run: closing '%s' failed: %s\n", o.dump_path, strerror(errno));
        status = 1;
    }
    sampler_work_free(&work);
    free(text);
    free(rows);
    free(logits);
    free(ids);
    engine_destroy(e);
    return status;
}
