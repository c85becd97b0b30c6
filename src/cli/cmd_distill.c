// cmd_distill.c — `rightsize distill`: train a Llama-architecture model in C, from scratch on a
// corpus or distilled from a teacher GGUF; checkpoints are GGUF files the engine runs, resumable.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/check.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "engine/tokenizer.h"
#include "train/ckpt.h"
#include "train/dataset.h"
#include "train/task_eval.h"
#include "train/train.h"
#include "train/vocab_fit.h"

static void distill_usage(FILE *out) {
    fprintf(out,
"usage: rightsize distill (--teacher T.gguf | --from-scratch) --data FILE --out DIR [options]\n"
"       rightsize distill --eval-only MODEL.gguf --eval TASK.jsonl\n"
"\n"
"Trains a Llama-architecture model (tied output) on the CPU. With --teacher the loss is\n"
"  alpha * T^2 * KL(teacher/T || student/T) + (1 - alpha) * cross-entropy\n"
"on the completion tokens; with --from-scratch it is the cross-entropy alone. Every --ckpt-every\n"
"steps and at the end DIR/model.gguf (F32, runs in `rightsize run`/`serve`) and DIR/state.bin\n"
"(optimizer state) are written; --resume continues from them and loses only the steps since.\n"
"Training is deterministic: the same flags give the same bytes whatever -t is.\n"
"\n"
"  --teacher FILE         teacher GGUF (llama, tied output); the student shares its vocabulary\n"
"  --from-scratch         no teacher (how the bundled support-desk teacher is made)\n"
"  --data FILE            .jsonl of {\"prompt\",\"completion\"} (loss on the completion) or text\n"
"                         (each non-empty line one example)\n"
"  --out DIR              checkpoint directory (created)\n"
"  --shape NAME           student shape from `gguf synth --help` (tiny, small, ...), or:\n"
"  --dim N --layers N --heads N --kv-heads N --ffn N --ctx N   explicit dimensions\n"
"  --vocab N              from scratch: a vocabulary of N tokens fitted to --data (bytes, ASCII\n"
"                         characters, then the most frequent words; default 1024), kept as DIR/vocab.gguf\n"
"  --vocab-from FILE      from scratch: copy the tokenizer of this GGUF instead\n"
"  --steps N              optimizer steps in all (default 1000)\n"
"  --batch B              sequences per step (default 8)\n"
"  --seq T                tokens per sequence; longer examples are cut (default 128)\n"
"  --lr X                 peak learning rate (default 1e-3; warmup --warmup steps, then cosine to lr/10)\n"
"  --warmup N             warmup steps (default steps/20)\n"
"  --weight-decay X       AdamW decay on matrices (default 0.01)\n"
"  --clip X               global gradient-norm clip (default 1; 0 = off)\n"
"  --alpha X              weight of the KL term (default 0.5)\n"
"  --temperature T        distillation temperature (default 2)\n"
"  --seed S               initialisation and batch order (default 1)\n"
"  -t, --threads N        threads (default: all cores)\n"
"  --ckpt-every N         checkpoint period in steps (default 100)\n"
"  --log-every N          progress line period in steps (default 10)\n"
"  --resume               continue from DIR's checkpoint (refused if it does not match)\n"
"  --name NAME            general.name of the checkpoint (default: DIR's base name)\n"
"  --eval FILE            after training, intent accuracy on this labelled JSONL (prompt, intent)\n"
"  --eval-limit N         evaluate the first N lines only\n"
"  --eval-only MODEL      no training: print MODEL's accuracy on --eval\n"
"  --dump-grads FILE      compute the first step's loss and gradients, write them with the batch and\n"
"                         the weights to FILE (raw little-endian: u32 B, T, V, n_params; f64 loss;\n"
"                         i32 tokens, i32 targets, u8 mask (B*T each); f32 weights, f32 gradients\n"
"                         (GGUF tensor order); f32 teacher logits (B*T*V, when --teacher)) and stop\n"
"  -h, --help             this help\n"
"\n"
"Progress (stderr): step, loss (ce, kl), lr, gradient norm, tokens/s and GFLOP/s (6·N per token\n"
"plus attention, and the teacher's forward).\n");
}

typedef struct {
    const char *teacher, *data, *out, *vocab_from, *name, *eval, *eval_only, *shape_name, *dump;
    bool scratch, resume;
    SynthShape shape;
    int64_t vocab, steps, batch, seq, warmup, ckpt_every, log_every, eval_limit;
    float lr, wd, clip, alpha, temp;
    uint64_t seed;
    int threads;
} DistillOpts;

static int num(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "distill: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, DistillOpts *o) {
    *o = (DistillOpts){.vocab = 1024, .steps = 1000, .batch = 8, .seq = 128, .warmup = -1, .ckpt_every = 100,
                       .log_every = 10, .lr = 1e-3f, .wd = 0.01f, .clip = 1.0f, .alpha = 0.5f, .temp = 2.0f, .seed = 1};
    o->shape = (SynthShape){NULL, 0, 0, 0, 0, 0, 0, 0, 10000.0f, 1e-5f, true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        struct { const char *flag; const char **dst; } strs[] = {
            {"--teacher", &o->teacher}, {"--data", &o->data}, {"--out", &o->out}, {"--vocab-from", &o->vocab_from},
            {"--name", &o->name}, {"--eval", &o->eval}, {"--eval-only", &o->eval_only}, {"--shape", &o->shape_name},
            {"--dump-grads", &o->dump}};
        struct { const char *flag; int64_t *dst; double lo, hi; } ints[] = {
            {"--dim", &o->shape.dim, 1, 65536}, {"--layers", &o->shape.n_layers, 1, 1024},
            {"--heads", &o->shape.n_heads, 1, 1024}, {"--kv-heads", &o->shape.n_kv_heads, 1, 1024},
            {"--ffn", &o->shape.ffn, 1, 262144}, {"--ctx", &o->shape.ctx, 1, 1 << 20}, {"--vocab", &o->vocab, 259, 1 << 20},
            {"--steps", &o->steps, 0, 1e9}, {"--batch", &o->batch, 1, 4096}, {"--seq", &o->seq, 2, 1 << 16},
            {"--warmup", &o->warmup, 0, 1e9}, {"--ckpt-every", &o->ckpt_every, 1, 1e9},
            {"--log-every", &o->log_every, 1, 1e9}, {"--eval-limit", &o->eval_limit, 1, 1e12}};
        struct { const char *flag; float *dst; double lo, hi; } flts[] = {
            {"--lr", &o->lr, 1e-8, 10}, {"--weight-decay", &o->wd, 0, 10}, {"--clip", &o->clip, 0, 1e6},
            {"--alpha", &o->alpha, 0, 1}, {"--temperature", &o->temp, 0.05, 100}};
        bool done = false;
        for (size_t k = 0; k < ARRAY_LEN(strs) && !done; k++)
            if (!strcmp(a, strs[k].flag)) { if (!v) goto need; *strs[k].dst = v; i++; done = true; }
        for (size_t k = 0; k < ARRAY_LEN(ints) && !done; k++)
            if (!strcmp(a, ints[k].flag)) {
                if (!v) goto need;
                if (num(a, v, ints[k].lo, ints[k].hi, &x)) return 2;
                if (x != floor(x)) { fprintf(stderr, "distill: %s expects an integer, got '%s'\n", a, v); return 2; }
                *ints[k].dst = (int64_t)x; i++; done = true;
            }
        for (size_t k = 0; k < ARRAY_LEN(flts) && !done; k++)
            if (!strcmp(a, flts[k].flag)) { if (!v) goto need; if (num(a, v, flts[k].lo, flts[k].hi, &x)) return 2; *flts[k].dst = (float)x; i++; done = true; }
        if (done) continue;
        if (!strcmp(a, "--from-scratch")) o->scratch = true;
        else if (!strcmp(a, "--resume")) o->resume = true;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            if (!v || !*v || *v == '-' || ((o->seed = strtoull(v, &end, 10)), errno || *end)) {
                fprintf(stderr, "distill: --seed expects a non-negative integer\n");
                return 2;
            }
            i++;
        }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!v || num(a, v, 1, 1024, &x)) return 2; o->threads = (int)x; i++; }
        else { fprintf(stderr, "distill: unknown option '%s' (see --help)\n", a); return 2; }
        continue;
    need:
        fprintf(stderr, "distill: %s needs a value (see --help)\n", a);
        return 2;
    }
    return 0;
}

// Checks the combination of flags and fills the student's shape. Returns 0 or 2.
static int check_opts(DistillOpts *o) {
    if (o->eval_only) {
        if (!o->eval) { fprintf(stderr, "distill: --eval-only needs --eval TASK.jsonl\n"); return 2; }
        return 0;
    }
    if (!!o->teacher == o->scratch) { fprintf(stderr, "distill: give exactly one of --teacher FILE and --from-scratch\n"); return 2; }
    if (!o->data || !o->out) { fprintf(stderr, "distill: --data FILE and --out DIR are required (see --help)\n"); return 2; }
    if (o->shape_name) {
        const SynthShape *s = synth_shape_find(o->shape_name);
        if (!s) { fprintf(stderr, "distill: unknown --shape '%s' (see rightsize gguf synth --help)\n", o->shape_name); return 2; }
        o->shape = *s;
        o->shape.tied = true;
    } else if (!o->resume && (!o->shape.dim || !o->shape.n_layers || !o->shape.n_heads || !o->shape.ffn)) {
        fprintf(stderr, "distill: give --shape NAME or --dim, --layers, --heads and --ffn\n");
        return 2;
    }
    if (!o->shape.n_kv_heads) o->shape.n_kv_heads = o->shape.n_heads;
    if (!o->shape.ctx) o->shape.ctx = o->seq;
    if (o->seq > o->shape.ctx && o->shape.dim) { fprintf(stderr, "distill: --seq %lld exceeds the model's context %lld\n", (long long)o->seq, (long long)o->shape.ctx); return 2; }
    if (o->warmup < 0) o->warmup = o->steps / 20;
    return 0;
}

static int run_eval(const char *model, const DistillOpts *o) {
    TaskEvalResult r;
    char err[512] = "";
    if (task_eval_intent(model, o->eval, o->threads, o->eval_limit, &r, err, sizeof err)) {
        fprintf(stderr, "distill: eval: %s\n", err);
        return 1;
    }
    printf("eval %s on %s: intent accuracy %.2f%% (%lld/%lld), priority %.2f%% (%lld/%lld); greedy generated labels, "
           "engine, %.1f s\n", model, o->eval, r.n ? 100.0 * (double)r.correct / (double)r.n : 0.0, (long long)r.correct,
           (long long)r.n, r.n_priority ? 100.0 * (double)r.priority_correct / (double)r.n_priority : 0.0,
           (long long)r.priority_correct, (long long)r.n_priority, r.seconds);
    return 0;
}

typedef struct {
    TrainModel m, teacher;
    bool have_teacher, vocab_open;
    AdamState s;
    GgufFile vocab;
    Tokenizer *tok;
    Dataset d;
    TrainActs *a, *ta;
    ThreadPool *tp;
    int32_t *tokens, *targets;
    uint8_t *mask;
    float *dlogits;
} Run;

// Opens the vocabulary: the teacher's, --vocab-from, or DIR/vocab.gguf (fitted to --data once).
static int open_vocab(const DistillOpts *o, Run *r, char *err, size_t err_len) {
    char path[4096];
    const char *src = o->teacher ? o->teacher : o->vocab_from;
    if (!src) {
        snprintf(path, sizeof path, "%s/vocab.gguf", o->out);
        struct stat st;
        if (stat(path, &st) != 0) {
            if (o->resume) return err_set(err, err_len, ERR_NOTFOUND, "cannot resume: %s is missing", path);
            GgufWriter *w = gguf_writer_create();
            int rc = !w ? err_set(err, err_len, ERR_NOMEM, "out of memory") : vocab_fit(w, o->data, o->vocab, err, err_len);
            if (!rc) rc = gguf_writer_write(w, path, err, err_len);
            gguf_writer_destroy(w);
            if (rc) return rc;
        }
        src = path;
    }
    int rc = gguf_open(&r->vocab, src, err, err_len);
    if (rc) return rc;
    r->vocab_open = true;
    r->tok = tok_create_from_gguf(&r->vocab, err, err_len);
    return r->tok ? 0 : ERR_FORMAT;
}

static int open_models(DistillOpts *o, Run *r, char *err, size_t err_len) {
    int64_t nv = tok_n_vocab(r->tok);
    int rc = 0;
    char why[300];
    if (o->teacher) {
        if ((rc = train_model_load(&r->teacher, o->teacher, err, err_len))) return rc;
        r->have_teacher = true;
        if (r->teacher.shape.vocab != nv)
            return err_set(err, err_len, ERR_FORMAT, "teacher %s: token_embd has %lld rows but its tokenizer %lld tokens",
                           o->teacher, (long long)r->teacher.shape.vocab, (long long)nv);
        if (o->seq > r->teacher.shape.ctx)
            return err_set(err, err_len, ERR_ARG, "--seq %lld exceeds the teacher's context %lld", (long long)o->seq, (long long)r->teacher.shape.ctx);
    }
    o->shape.vocab = nv;
    if (o->resume) {
        if ((rc = ckpt_load(o->out, &r->m, &r->s, o->seed, o->shape.dim ? &o->shape : NULL, err, err_len))) return rc;
        if ((rc = train_model_same_shape(&o->shape, &r->m.shape, why, sizeof why)) && r->m.shape.vocab != nv)
            return err_set(err, err_len, ERR_ARG, "checkpoint in %s does not match this run's vocabulary: %s", o->out, why);
        if (o->seq > r->m.shape.ctx) return err_set(err, err_len, ERR_ARG, "--seq %lld exceeds the checkpoint's context %lld", (long long)o->seq, (long long)r->m.shape.ctx);
        fprintf(stderr, "distill: resuming %s/model.gguf at step %lld\n", o->out, (long long)r->s.step);
    } else {
        if ((rc = train_model_init(&r->m, &o->shape, o->seed, err, err_len))) return rc;
        if (adam_init(&r->s, r->m.n_params)) return err_set(err, err_len, ERR_NOMEM, "out of memory for AdamW");
    }
    if (train_model_alloc_grads(&r->m)) return err_set(err, err_len, ERR_NOMEM, "out of memory for gradients");
    return 0;
}

static int alloc_batch(const DistillOpts *o, Run *r, char *err, size_t err_len) {
    int64_t N = o->batch * o->seq;
    r->tp = tp_create(o->threads);
    if (!r->tp) return err_set(err, err_len, ERR_NOMEM, "cannot start %d threads", o->threads);
    r->a = train_acts_create(&r->m, o->batch, o->seq, tp_size(r->tp));
    if (r->have_teacher) r->ta = train_acts_create(&r->teacher, o->batch, o->seq, tp_size(r->tp));
    r->tokens = malloc((size_t)N * sizeof *r->tokens);
    r->targets = malloc((size_t)N * sizeof *r->targets);
    r->mask = malloc((size_t)N);
    r->dlogits = malloc((size_t)(N * r->m.shape.vocab) * sizeof *r->dlogits);
    if (!r->a || (r->have_teacher && !r->ta) || !r->tokens || !r->targets || !r->mask || !r->dlogits)
        return err_set(err, err_len, ERR_NOMEM, "out of memory for a %lld x %lld batch (lower --batch or --seq)",
                       (long long)o->batch, (long long)o->seq);
    return 0;
}

static void run_free(Run *r) {
    train_acts_destroy(r->a);
    train_acts_destroy(r->ta);
    tp_destroy(r->tp);
    free(r->tokens);
    free(r->targets);
    free(r->mask);
    free(r->dlogits);
    dataset_free(&r->d);
    tok_destroy(r->tok);
    if (r->vocab_open) gguf_close(&r->vocab);
    adam_free(&r->s);
    train_model_free(&r->m);
    train_model_free(&r->teacher);
}

// Training FLOPs per token: 6 per matmul weight (forward 2, backward 4) plus causal attention
// (q·k and p·v: 2·2·T/2·D forward per layer, ×3), plus the teacher's forward when distilling.
static double flops_per_token(const TrainModel *m, const TrainModel *t, int64_t T) {
    const SynthShape *s = &m->shape;
    double mat = (double)s->n_layers * (2.0 * s->dim * s->dim + 2.0 * s->dim * m->kv_dim + 3.0 * s->dim * s->ffn) +
                 (double)s->vocab * s->dim;
    double f = 6.0 * mat + 3.0 * 2.0 * (double)s->n_layers * (double)T * s->dim;
    if (t) {
        const SynthShape *u = &t->shape;
        double tm = (double)u->n_layers * (2.0 * u->dim * u->dim + 2.0 * u->dim * t->kv_dim + 3.0 * u->dim * u->ffn) +
                    (double)u->vocab * u->dim;
        f += 2.0 * tm + 2.0 * (double)u->n_layers * (double)T * u->dim;
    }
    return f;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

static int dump_grads(const DistillOpts *o, const Run *r, double loss, const float *tl, char *err, size_t err_len) {
    FILE *f = fopen(o->dump, "wb");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot write --dump-grads %s: %s", o->dump, strerror(errno));
    size_t N = (size_t)(o->batch * o->seq), V = (size_t)r->m.shape.vocab, P = r->m.n_params;
    uint32_t hdr[4] = {(uint32_t)o->batch, (uint32_t)o->seq, (uint32_t)V, (uint32_t)P};
    bool ok = fwrite(hdr, 4, 4, f) == 4 && fwrite(&loss, 8, 1, f) == 1 && fwrite(r->tokens, 4, N, f) == N &&
              fwrite(r->targets, 4, N, f) == N && fwrite(r->mask, 1, N, f) == N && fwrite(r->m.params, 4, P, f) == P &&
              fwrite(r->m.grads, 4, P, f) == P && (!tl || fwrite(tl, 4, N * V, f) == N * V);
    if (fclose(f) || !ok) return err_set(err, err_len, ERR_IO, "cannot write --dump-grads %s", o->dump);
    fprintf(stderr, "distill: wrote the first step's loss %.6f and gradients to %s\n", loss, o->dump);
    return 0;
}

static int train_loop(const DistillOpts *o, Run *r, char *err, size_t err_len) {
    AdamCfg c = {.lr = o->lr, .lr_min_frac = 0.1f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                 .weight_decay = o->wd, .clip = o->clip, .warmup = o->warmup, .total_steps = o->steps};
    int64_t N = o->batch * o->seq, V = r->m.shape.vocab;
    double fpt = flops_per_token(&r->m, r->have_teacher ? &r->teacher : NULL, o->seq);
    const char *name = o->name ? o->name : base_name(o->out);
    int64_t t0 = clock_now_us(), last_step = r->s.step;
    double loss_sum = 0, ce_sum = 0, kl_sum = 0;
    int64_t n_sum = 0;
    fprintf(stderr, "distill: %zu parameters (dim %lld, %lld layers, %lld/%lld heads, ffn %lld, vocab %lld); %lld examples "
            "(%lld tokens); %lld steps of %lld x %lld on %d threads\n", r->m.n_params, (long long)r->m.shape.dim,
            (long long)r->m.shape.n_layers, (long long)r->m.shape.n_heads, (long long)r->m.shape.n_kv_heads,
            (long long)r->m.shape.ffn, (long long)V, (long long)r->d.n, (long long)r->d.n_tokens, (long long)o->steps,
            (long long)o->batch, (long long)o->seq, tp_size(r->tp));
    for (int64_t step = r->s.step; step < o->steps; step++) {
        dataset_batch(&r->d, o->seed, step, o->batch, o->seq, r->tokens, r->targets, r->mask);
        float *logits = train_forward(&r->m, r->a, r->tp, r->tokens);
        const float *tl = r->have_teacher ? train_forward(&r->teacher, r->ta, r->tp, r->tokens) : NULL;
        double ce, kl, loss = train_distill_loss(logits, tl, r->targets, r->mask, N, V, o->alpha, o->temp, r->dlogits, &ce, &kl);
        train_backward(&r->m, r->a, r->tp, r->tokens, r->dlogits);
        if (o->dump) return dump_grads(o, r, loss, tl, err, err_len);
        float lr = adam_lr(&c, r->s.step);
        double norm = adam_step(&c, &r->s, &r->m, r->tp);
        if (!isfinite(loss)) return err_set(err, err_len, ERR_RANGE, "loss is not finite at step %lld (lower --lr)", (long long)step);
        loss_sum += loss; ce_sum += ce; kl_sum += kl; n_sum++;
        if ((step + 1) % o->log_every == 0 || step + 1 == o->steps) {
            double secs = (double)(clock_now_us() - t0) / 1e6, tps = (double)((step + 1 - last_step) * N) / (secs > 0 ? secs : 1e-9);
            fprintf(stderr, "step %lld/%lld loss %.4f (ce %.4f kl %.4f) lr %.2e norm %.3f | %.0f tok/s %.2f GFLOP/s\n",
                    (long long)(step + 1), (long long)o->steps, loss_sum / (double)n_sum, ce_sum / (double)n_sum,
                    kl_sum / (double)n_sum, lr, norm, tps, tps * fpt / 1e9);
            t0 = clock_now_us();
            last_step = step + 1;
            loss_sum = ce_sum = kl_sum = 0;
            n_sum = 0;
        }
        if ((step + 1) % o->ckpt_every == 0 || step + 1 == o->steps) {
            int rc = ckpt_save(o->out, &r->m, &r->s, o->seed, &r->vocab, name, err, err_len);
            if (rc) return rc;
        }
    }
    return 0;
}

int cmd_distill(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        distill_usage(stdout);
        return 0;
    }
    DistillOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (!rc) rc = check_opts(&o);
    if (rc) return rc;
    if (o.eval_only) return run_eval(o.eval_only, &o);
    if (mkdir(o.out, 0777) && errno != EEXIST) {
        fprintf(stderr, "distill: cannot create --out %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    Run r;
    memset(&r, 0, sizeof r);
    char err[1024] = "";
    rc = open_vocab(&o, &r, err, sizeof err);
    if (!rc) rc = open_models(&o, &r, err, sizeof err);
    if (!rc) rc = dataset_load(&r.d, o.data, r.tok, err, sizeof err);
    if (!rc) rc = alloc_batch(&o, &r, err, sizeof err);
    if (!rc) rc = train_loop(&o, &r, err, sizeof err);
    run_free(&r);
    if (rc) {
        fprintf(stderr, "distill: %s\n", err);
        return 1;
    }
    if (o.dump) return 0;
    char model[4200];
    snprintf(model, sizeof model, "%s/model.gguf", o.out);
    fprintf(stderr, "distill: wrote %s\n", model);
    return o.eval ? run_eval(model, &o) : 0;
}
