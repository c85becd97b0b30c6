// Tests of src/train: the backward pass against central finite differences of the loss (the
// distillation loss with a teacher, masked rows, GQA, RoPE at several positions), the trainer's
// forward against the engine's on a checkpoint it wrote, AdamW's schedule, and that a few hundred
// steps learn a tiny copying task.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "engine/engine.h"
#include "train/train.h"
#include "test.h"

static const SynthShape TINY = {NULL, 16, 2, 4, 2, 24, 260, 32, 10000.0f, 1e-5f, true};
enum { GB = 2, GT = 6 };

typedef struct {
    int32_t tok[GB * GT], tgt[GB * GT];
    uint8_t mask[GB * GT];
    float teacher[GB * GT * 260];
} Batch;

static void make_batch(Batch *b, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < GB * GT; i++) {
        b->tok[i] = (int32_t)rng_below(&r, 260);
        b->tgt[i] = (int32_t)rng_below(&r, 260);
        b->mask[i] = i % 5 != 1;
    }
    for (int i = 0; i < GB * GT * 260; i++) b->teacher[i] = (float)rng_normal(&r) * 2.0f;
}

static double loss_of(TrainModel *m, TrainActs *a, const Batch *b, float *dlogits) {
    float *logits = train_forward(m, a, NULL, b->tok);
    return train_distill_loss(logits, b->teacher, b->tgt, b->mask, GB * GT, 260, 0.4f, 2.0f, dlogits, NULL, NULL);
}

TEST(train_gradients_match_finite_differences) {
    TrainModel m;
    char err[256] = "";
    ASSERT(train_model_init(&m, &TINY, 7, err, sizeof err) == 0);
    ASSERT(train_model_alloc_grads(&m) == 0);
    // Larger weights than the 0.02 init so every path carries signal (attention far from uniform).
    Rng r;
    rng_seed(&r, 99);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] = m.params[i] * 5.0f + (float)rng_normal(&r) * 0.02f;
    TrainActs *a = train_acts_create(&m, GB, GT, 1);
    ASSERT(a);
    static Batch b;
    make_batch(&b, 3);
    static float dl[GB * GT * 260];
    loss_of(&m, a, &b, dl);
    train_backward(&m, a, NULL, b.tok, dl);
    // Every parameter of a few tensors of each kind, plus a stride over all of them.
    double num = 0, den = 0, worst = 0;
    int checked = 0;
    for (size_t i = 0; i < m.n_params; i += 37) {
        float keep = m.params[i], h = 2e-3f;
        m.params[i] = keep + h;
        double lp = loss_of(&m, a, &b, dl);
        m.params[i] = keep - h;
        double lm = loss_of(&m, a, &b, dl);
        m.params[i] = keep;
        double fd = (lp - lm) / ((double)(keep + h) - (double)(keep - h)), g = m.grads[i];
        num += (fd - g) * (fd - g);
        den += g * g;
        double e = fabs(fd - g) / (fabs(g) + 1e-3);
        if (e > worst) worst = e;
        if (getenv("TRAIN_GRAD_DEBUG") && e > 0.05) printf("  param %zu: fd %.6g grad %.6g\n", i, fd, g);
        checked++;
    }
    double rel = sqrt(num / den);
    printf("  %d parameters, relative error of the gradient %.2e, worst element %.2e\n", checked, rel, worst);
    EXPECT(checked > 100);
    EXPECT(rel < 5e-3);
    EXPECT(worst < 0.1);
    train_acts_destroy(a);
    train_model_free(&m);
}

TEST(train_forward_matches_engine_on_written_checkpoint) {
    TrainModel m;
    char err[256] = "", path[512], vpath[512];
    ASSERT(train_model_init(&m, &TINY, 11, err, sizeof err) == 0);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 10.0f;  // non-trivial attention
    // A vocabulary file (synth's), copied into the checkpoint.
    snprintf(vpath, sizeof vpath, "%s/train-vocab.gguf", test_tmpdir());
    GgufWriter *w = gguf_writer_create();
    ASSERT(w && synth_vocab_set(w, 260) == 0);
    ASSERT(gguf_writer_write(w, vpath, err, sizeof err) == 0);
    gguf_writer_destroy(w);
    GgufFile vf;
    ASSERT(gguf_open(&vf, vpath, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/train-ckpt.gguf", test_tmpdir());
    ASSERT(train_model_save(&m, path, &vf, "train-test", err, sizeof err) == 0);
    gguf_close(&vf);

    enum { T = 20 };
    int32_t tok[T];
    for (int i = 0; i < T; i++) tok[i] = (int32_t)((i * 37 + 5) % 260);
    TrainActs *a = train_acts_create(&m, 1, T, 1);
    ASSERT(a);
    float *logits = train_forward(&m, a, NULL, tok);

    EngineOptions o;
    engine_options_default(&o);
    o.n_threads = 2;
    o.kv_type = QT_F32;
    o.n_ctx = 32;
    Engine *e = engine_create(path, &o, err, sizeof err);
    if (!e) printf("  engine_create: %s\n", err);
    ASSERT(e);
    static float el[T * 260];
    EngineRow rows[T];
    for (int i = 0; i < T; i++) rows[i] = (EngineRow){0, i, tok[i], true};
    ASSERT(engine_forward(e, rows, T, el, err, sizeof err) == 0);
    double maxd = 0, maxv = 0;
    for (int i = 0; i < T * 260; i++) {
        maxd = fmax(maxd, fabs((double)el[i] - logits[i]));
        maxv = fmax(maxv, fabs((double)logits[i]));
    }
    printf("  max |logit| %.3f, max |engine - trainer| %.2e\n", maxv, maxd);
    EXPECT(maxv > 0.5);
    EXPECT(maxd < 1e-4 * fmax(1.0, maxv));
    // The file reloads into the trainer bit for bit.
    TrainModel m2;
    ASSERT(train_model_load(&m2, path, err, sizeof err) == 0);
    EXPECT(m2.n_params == m.n_params && memcmp(m2.params, m.params, m.n_params * sizeof(float)) == 0);
    EXPECT(train_model_same_shape(&m.shape, &m2.shape, err, sizeof err) == 0);
    SynthShape other = m.shape;
    other.vocab = 300;
    EXPECT(train_model_same_shape(&m.shape, &other, err, sizeof err) != 0 && strstr(err, "vocabulary"));
    engine_destroy(e);
    train_model_free(&m2);
    train_acts_destroy(a);
    train_model_free(&m);
}

TEST(train_adamw_schedule_warms_up_then_decays) {
    AdamCfg c = {.lr = 1e-3f, .lr_min_frac = 0.1f, .warmup = 10, .total_steps = 110};
    EXPECT_NEAR(adam_lr(&c, 0), 1e-4, 1e-9);
    EXPECT_NEAR(adam_lr(&c, 9), 1e-3, 1e-9);
    EXPECT_NEAR(adam_lr(&c, 60), 0.55e-3, 1e-7);   // half way: midpoint of lr and lr_min
    EXPECT_NEAR(adam_lr(&c, 110), 1e-4, 1e-9);
}

TEST(train_learns_a_copy_task) {
    TrainModel m;
    char err[256] = "";
    ASSERT(train_model_init(&m, &TINY, 5, err, sizeof err) == 0);
    ASSERT(train_model_alloc_grads(&m) == 0);
    AdamState s;
    ASSERT(adam_init(&s, m.n_params) == 0);
    AdamCfg c = {.lr = 1e-2f, .lr_min_frac = 0.1f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f,
                 .weight_decay = 0.0f, .clip = 1.0f, .warmup = 10, .total_steps = 300};
    enum { B = 4, T = 8 };
    TrainActs *a = train_acts_create(&m, B, T, 1);
    ASSERT(a);
    static float dl[B * T * 260];
    int32_t tok[B * T], tgt[B * T];
    uint8_t mask[B * T];
    Rng r;
    rng_seed(&r, 1);
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        // Second half of each row repeats the first: the targets there are predictable.
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                tok[b * T + t] = t < T / 2 ? 3 + (int32_t)rng_below(&r, 8) : tok[b * T + t - T / 2];
                mask[b * T + t] = t >= T / 2 - 1 && t < T - 1;
            }
        for (int i = 0; i < B * T; i++) tgt[i] = i % T < T - 1 ? tok[i + 1] : 0;
        float *lg = train_forward(&m, a, NULL, tok);
        double loss = train_distill_loss(lg, NULL, tgt, mask, B * T, 260, 0.0f, 1.0f, dl, NULL, NULL);
        train_backward(&m, a, NULL, tok, dl);
        adam_step(&c, &s, &m, NULL);
        if (step == 0) first = loss;
        last = loss;
    }
    printf("  loss %.3f -> %.3f\n", first, last);
    EXPECT(first > 4.0);
    EXPECT(last < 0.5);
    train_acts_destroy(a);
    adam_free(&s);
    train_model_free(&m);
}
