// cmd_run.c — `rightsize run`: generate from a GGUF model on the terminal, streaming text, then
// one timing line on stderr (parsed by the benchmarks).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/rng.h"
#include "cli/cli.h"
#include "engine/chat.h"
#include "engine/matmul.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"
#include "serve/textout.h"

static void run_usage(FILE *out) {
    fprintf(out,
"usage: rightsize run -m FILE (-p PROMPT | --prompt-ids IDS | --prompt-tokens N) [options]\n"
"       rightsize run -m FILE --chat [--system TEXT] [-p MESSAGE] [options]\n"
"\n"
"Generates from a GGUF model (llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, granite, qwen3moe,\n"
"granitemoe, qwen2moe, smollm3, glm4, olmo2, ernie4_5, exaone, olmoe, qwen2vl, qwen3vl, qwen3vlmoe,\n"
"starcoder2, stablelm, phi2, command-r; of a vision-language model, its text) with the CPU engine.\n"
"Text streams to stdout as tokens arrive; at the end one line goes to stderr:\n"
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
"                         renders it) around it, ending where the assistant's reply begins.\n"
"                         Without -p, a conversation: each line on stdin is the next user\n"
"                         message, answered with the whole conversation as context (the KV of\n"
"                         what earlier turns share is reused); the timing line follows each\n"
"                         answer; end of input ends it\n"
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
    if (o->chat && (o->prompt_ids || o->prompt_tokens > 0)) {
        fprintf(stderr, "run: --chat takes text (-p MESSAGE, or a conversation on stdin), not --prompt-ids/--prompt-tokens\n");
        return 2;
    }
    if (o->chat && !o->prompt && o->dump_path) {
        fprintf(stderr, "run: --dump-logits applies to one generation, not to a --chat conversation\n");
        return 2;
    }
    if (n_src != 1 && !(o->chat && n_src == 0)) {
        fprintf(stderr, "run: give exactly one of -p PROMPT, --prompt-ids IDS, --prompt-tokens N\n");
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

// What one generation needs, set up once.
typedef struct {
    const RunOpts *o;
    Engine *e;
    const Tokenizer *tok;
    int64_t n_ctx, n_vocab, batch;
    float *logits;
    EngineRow *rows;
    FILE *dump;
    char *text;
    size_t text_cap;
    SamplerParams sp;
    SamplerWork work;
    Rng rng;
} Run;

// Runs ids[start, n) through sequence 0 (its positions [0, start) already cached), then samples
// up to n_predict tokens, streaming them to stdout and appending their text to reply (when not
// NULL), and prints the timing line on stderr. Returns 0, or 1 with a message printed.
static int generate(Run *r, const int32_t *ids, int64_t n_prompt, int64_t start, Buf *reply) {
    const RunOpts *o = r->o;
    char err[1024] = "";
    // ---- prefill, in chunks of up to `batch` rows; logits of the last row (all rows when dumping)
    int64_t t0 = clock_now_us();
    const float *last = NULL;
    for (int64_t s = start; s < n_prompt; s += r->batch) {
        int64_t n = n_prompt - s < r->batch ? n_prompt - s : r->batch;
        for (int64_t i = 0; i < n; i++)
            r->rows[i] = (EngineRow){0, s + i, ids[s + i], r->dump != NULL || s + i == n_prompt - 1};
        if (engine_forward(r->e, r->rows, n, r->logits, err, sizeof err)) {
            fprintf(stderr, "run: %s\n", err);
            return 1;
        }
        int64_t n_out = r->dump ? n : (s + n == n_prompt);
        if (r->dump && fwrite(r->logits, sizeof(float) * (size_t)r->n_vocab, (size_t)n_out, r->dump) != (size_t)n_out)
            goto dump_fail;
        if (s + n == n_prompt) last = r->logits + (n_out - 1) * r->n_vocab;
    }
    int64_t t_prompt_us = clock_now_us() - t0;

    // ---- generation: sample, stream, feed the token back
    TokStream ts;
    if (r->tok) tok_stream_init(&ts, r->tok, false, false, false);
    int64_t n_gen = 0, pos = n_prompt;
    t0 = clock_now_us();
    while (n_gen < o->n_predict && pos < r->n_ctx) {
        SampleResult res;
        if (sampler_sample(&r->sp, last, r->n_vocab, NULL, 0, 0, &r->rng, &r->work, &res)) {
            fprintf(stderr, "run: sampling failed (logits are all -inf or NaN)\n");
            return 1;
        }
        bool eog = r->tok && tok_is_eog(r->tok, res.token);
        if (eog && !o->ignore_eos) break;
        n_gen++;
        if (o->print_ids || !r->tok) {
            printf(n_gen > 1 ? " %d" : "%d", res.token);
        } else {
            int64_t k = tok_stream_feed(&ts, res.token, r->text, r->text_cap);
            if (k > 0) fwrite(r->text, 1, (size_t)k, stdout);
            if (k > 0 && reply && buf_append(reply, r->text, (size_t)k)) {
                fprintf(stderr, "run: out of memory\n");
                return 1;
            }
        }
        fflush(stdout);
        EngineRow row = {0, pos++, res.token, true};
        if (engine_forward(r->e, &row, 1, r->logits, err, sizeof err)) {
            fprintf(stderr, "run: %s\n", err);
            return 1;
        }
        if (r->dump && fwrite(r->logits, sizeof(float) * (size_t)r->n_vocab, 1, r->dump) != 1) goto dump_fail;
        last = r->logits;
    }
    int64_t t_gen_us = clock_now_us() - t0;
    if (r->tok && !o->print_ids) {
        int64_t k = tok_stream_flush(&ts, r->text, r->text_cap);
        if (k > 0) fwrite(r->text, 1, (size_t)k, stdout);
        if (k > 0 && reply && buf_append(reply, r->text, (size_t)k)) {
            fprintf(stderr, "run: out of memory\n");
            return 1;
        }
    }
    printf("\n");
    fflush(stdout);
    if (n_gen < o->n_predict && pos >= r->n_ctx)
        fprintf(stderr, "run: stopped at the context limit (%lld positions; raise --ctx)\n", (long long)r->n_ctx);
    fprintf(stderr,
            "prompt eval: %lld tokens in %.2f ms (%.2f tokens/s); generation: %lld tokens in %.2f ms (%.2f tokens/s); "
            "kernels %s\n",
            (long long)(n_prompt - start), (double)t_prompt_us / 1000.0, rate(n_prompt - start, t_prompt_us),
            (long long)n_gen, (double)t_gen_us / 1000.0, rate(n_gen, t_gen_us), mm_kernel_name());
    return 0;
dump_fail:
    fprintf(stderr, "run: writing '%s' failed: %s\n", o->dump_path, strerror(errno));
    return 1;
}

// The reply as the conversation keeps it: invalid UTF-8 (a maximal subpart at a time) as U+FFFD,
// the text a chat client receives from the worker's JSON.
static int utf8_clean(const Buf *in, Buf *out) {
    int rc = 0;
    for (size_t i = 0; i < in->len && !rc;) {
        int n = textout_utf8_char_len(in->data + i, in->len - i);
        if (n > 0) rc = buf_append(out, in->data + i, (size_t)n), i += (size_t)n;
        else rc = buf_append(out, "\xef\xbf\xbd", 3), i += (size_t)textout_utf8_invalid_len(in->data + i, in->len - i);
    }
    return rc ? rc : buf_append(out, "", 0);
}

// The messages so far, each content an owned copy.
typedef struct {
    ChatMsg *v;
    int64_t n, cap;
} Conversation;

// Appends a copy of text as the next message: 0, or -1 (out of memory, printed).
static int conv_add(Conversation *c, ChatRole role, const char *text) {
    char *copy = NULL;
    if (c->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 16;
        ChatMsg *v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v) goto oom;
        c->v = v, c->cap = cap;
    }
    if (!(copy = strdup(text))) goto oom;
    c->v[c->n++] = (ChatMsg){role, str_from_c(copy)};
    return 0;
oom:
    fprintf(stderr, "run: out of memory\n");
    return -1;
}

static void conv_free(Conversation *c) {
    for (int64_t i = 0; i < c->n; i++) free((char *)c->v[i].content.ptr);
    free(c->v);
}

// The conversation of `run --chat` without -p: a user message per stdin line, each answered with
// the whole conversation in the model's chat template as the prompt. Sequence 0 is freed between
// turns and the new prompt re-attaches the KV blocks it shares with the last one (prefix caching),
// so a turn computes only what is new. Returns 0 at end of input, 1 on an error (printed).
static int chat_loop(Run *r, int32_t *ids) {
    const RunOpts *o = r->o;
    ChatPrompt cp;
    char err[300];
    if (chat_prompt_init(&cp, o->chat_template, o->model, r->tok, err, sizeof err) || !cp.ok) {
        fprintf(stderr, "run: --chat: %s\n", cp.ok ? err : cp.why[0] ? cp.why : err);
        chat_prompt_free(&cp);
        return 1;
    }
    Conversation conv = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int status = o->system && conv_add(&conv, CHAT_SYSTEM, o->system) ? 1 : 0;
    bool tty = isatty(STDIN_FILENO);
    if (tty) fprintf(stderr, "chat with %s (%s template); one message per line, end with Ctrl-D\n",
                     engine_info(r->e)->name, chat_prompt_name(&cp));
    while (!status) {
        if (tty) fputs("> ", stderr);
        ssize_t len = getline(&line, &line_cap, stdin);
        if (len < 0) break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (conv_add(&conv, CHAT_USER, line)) {
            status = 1;
            break;
        }
        Buf prompt = {0}, reply = {0}, kept = {0};
        if (chat_prompt_render(&cp, conv.v, conv.n, true, &prompt, err, sizeof err)) {
            fprintf(stderr, "run: --chat: %s\n", err);
            buf_free(&prompt);
            status = 1;
            break;
        }
        int64_t n = tok_encode(r->tok, prompt.data, prompt.len, true, true, ids, r->n_ctx);
        buf_free(&prompt);
        if (n < 1 || n >= r->n_ctx) {
            fprintf(stderr, "run: --chat: the conversation is %lld tokens, beyond the context (%lld; raise --ctx)\n",
                    (long long)n, (long long)r->n_ctx);
            status = 1;
            break;
        }
        engine_seq_free(r->e, 0);
        int64_t start = engine_seq_attach_prefix(r->e, 0, ids, engine_prefix_lookup(r->e, ids, n));
        if (generate(r, ids, n, start, &reply)) status = 1;
        else if (utf8_clean(&reply, &kept)) status = 1, fprintf(stderr, "run: out of memory\n");
        else if (conv_add(&conv, CHAT_ASSISTANT, kept.data ? kept.data : "")) status = 1;
        buf_free(&kept);
        buf_free(&reply);
    }
    conv_free(&conv);
    free(line);
    chat_prompt_free(&cp);
    return status;
}

int cmd_run(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        run_usage(stdout);
        return 0;
    }
    RunOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;

    int status = 1;
    Run r = {.o = &o};
    int32_t *ids = NULL;
    char err[1024] = "";

    EngineOptions eo;
    engine_options_default(&eo);
    eo.n_threads = o.threads;
    eo.n_ctx = o.n_ctx;
    eo.max_rows = o.batch;
    eo.max_seqs = 1;
    eo.kv_type = o.kv_type;
    r.e = engine_create(o.model, &eo, err, sizeof err);
    if (!r.e) {
        fprintf(stderr, "run: %s\n", err);
        goto done;
    }
    const EngineInfo *info = engine_info(r.e);
    r.tok = engine_tokenizer(r.e);
    r.n_ctx = info->n_ctx, r.n_vocab = info->n_vocab, r.batch = info->max_rows;
    ids = malloc((size_t)r.n_ctx * sizeof *ids);
    // Logits for every prompt row only when dumping them; else just the last row's.
    r.logits = malloc((size_t)(o.dump_path ? r.batch : 1) * (size_t)r.n_vocab * sizeof *r.logits);
    r.rows = malloc((size_t)r.batch * sizeof *r.rows);
    r.text_cap = r.tok ? tok_stream_min_cap(r.tok) : 0;
    r.text = malloc(r.text_cap + 1);
    if (!ids || !r.logits || !r.rows || !r.text || sampler_work_init(&r.work, r.n_vocab)) {
        fprintf(stderr, "run: out of memory\n");
        goto done;
    }
    r.sp = sampler_params_default();
    r.sp.temperature = o.temp;
    r.sp.top_k = o.top_k;
    r.sp.top_p = o.top_p;
    r.sp.min_p = o.min_p;
    if (sampler_params_validate(&r.sp, err, sizeof err)) {
        fprintf(stderr, "run: %s\n", err);
        status = 2;
        goto done;
    }
    rng_seed(&r.rng, o.have_seed ? o.seed : (uint64_t)clock_wall_us());
    if (o.chat && !o.prompt) {  // a conversation from stdin
        if (!r.tok) {
            fprintf(stderr, "run: --chat needs the model's tokenizer (%s)\n", info->tokenizer_error);
            goto done;
        }
        status = chat_loop(&r, ids);
        goto done;
    }
    int64_t n_prompt = build_prompt(&o, r.e, ids, r.n_ctx);
    if (n_prompt < 0) {
        status = 2;
        goto done;
    }
    if (o.dump_path && !(r.dump = fopen(o.dump_path, "wb"))) {
        fprintf(stderr, "run: cannot write --dump-logits file '%s': %s\n", o.dump_path, strerror(errno));
        goto done;
    }
    status = generate(&r, ids, n_prompt, 0, NULL);
done:
    if (r.dump && fclose(r.dump) && status == 0) {
        fprintf(stderr, "run: closing '%s' failed: %s\n", o.dump_path, strerror(errno));
        status = 1;
    }
    sampler_work_free(&r.work);
    free(r.text);
    free(r.rows);
    free(r.logits);
    free(ids);
    engine_destroy(r.e);
    return status;
}
