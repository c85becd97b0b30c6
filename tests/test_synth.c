// Tests of src/engine/synth: synthesized models re-open with the metadata and tensors llama.cpp
// expects, are deterministic per seed (and independent of threads and output type), have the
// documented weight statistics, and carry a well-formed tokenizer.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/gguf.h"
#include "engine/synth.h"
#include "test.h"

static int synth_to(const char *file, const char *shape, QuantType type, uint64_t seed, float qk, ThreadPool *pool,
                    char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", test_tmpdir(), file);
    SynthOptions o = {.shape = *synth_shape_find(shape), .type = type, .output_type = type, .seed = seed,
                      .qk_scale = qk, .pool = pool};
    char err[512] = "";
    int rc = synth_write(&o, path, NULL, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "synth %s: %s", shape, err);
    return rc;
}

static bool same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = false;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void expect_u32(const GgufFile *f, const char *key, uint32_t want) {
    uint32_t v = 0;
    int rc = gguf_get_u32(f, key, &v);
    if (rc || v != want) test_fail(__FILE__, __LINE__, "%s = %u (rc %d), expected %u", key, v, rc, want);
}

static void expect_tensor(const GgufFile *f, const char *name, QuantType type, int64_t ne0, int64_t ne1) {
    const GgufTensor *t = gguf_find_tensor(f, name);
    if (!t) { test_fail(__FILE__, __LINE__, "tensor %s missing", name); return; }
    if (t->type != type || t->ne[0] != ne0 || t->ne[1] != ne1 || t->n_dims != (ne1 > 1 ? 2u : 1u))
        test_fail(__FILE__, __LINE__, "tensor %s: type %d [%lld, %lld], expected %d [%lld, %lld]", name, t->type,
                  (long long)t->ne[0], (long long)t->ne[1], type, (long long)ne0, (long long)ne1);
}

TEST(synth_every_small_shape_and_type_reopens) {
    static const QuantType types[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0};
    static const uint32_t ftype[] = {0, 1, 32, 7, 2};
    const char *shapes[] = {"tiny", "small"};
    for (int si = 0; si < 2; si++)
        for (int ti = 0; ti < 5; ti++) {
            char path[512], err[512];
            if (synth_to("m.gguf", shapes[si], types[ti], 7, 1.0f, NULL, path, sizeof path)) continue;
            const SynthShape *s = synth_shape_find(shapes[si]);
            GgufFile f;
            if (gguf_open(&f, path, err, sizeof err)) { test_fail(__FILE__, __LINE__, "%s", err); continue; }
            Str v;
            EXPECT(gguf_get_str(&f, "general.architecture", &v) == 0 && str_eq_c(v, "llama"));
            EXPECT(gguf_get_str(&f, "tokenizer.ggml.model", &v) == 0 && str_eq_c(v, "llama"));
            expect_u32(&f, "llama.embedding_length", (uint32_t)s->dim);
            expect_u32(&f, "llama.block_count", (uint32_t)s->n_layers);
            expect_u32(&f, "llama.feed_forward_length", (uint32_t)s->ffn);
            expect_u32(&f, "llama.attention.head_count", (uint32_t)s->n_heads);
            expect_u32(&f, "llama.attention.head_count_kv", (uint32_t)s->n_kv_heads);
            expect_u32(&f, "llama.context_length", (uint32_t)s->ctx);
            expect_u32(&f, "llama.rope.dimension_count", (uint32_t)(s->dim / s->n_heads));
            expect_u32(&f, "llama.vocab_size", (uint32_t)s->vocab);
            expect_u32(&f, "general.file_type", ftype[ti]);
            expect_u32(&f, "general.alignment", 32);
            expect_u32(&f, "tokenizer.ggml.bos_token_id", 1);
            expect_u32(&f, "tokenizer.ggml.eos_token_id", 2);
            float x;
            EXPECT(gguf_get_f32(&f, "llama.rope.freq_base", &x) == 0 && x == 10000.0f);
            EXPECT(gguf_get_f32(&f, "llama.attention.layer_norm_rms_epsilon", &x) == 0 && x == 1e-5f);
            int64_t kv_dim = s->dim / s->n_heads * s->n_kv_heads;
            EXPECT_EQ_INT(f.n_tensors, 3 + 9 * s->n_layers);
            expect_tensor(&f, "token_embd.weight", types[ti], s->dim, s->vocab);
            expect_tensor(&f, "output.weight", types[ti], s->dim, s->vocab);
            expect_tensor(&f, "output_norm.weight", QT_F32, s->dim, 1);
            for (int l = 0; l < s->n_layers; l++) {
                char n[64];
#define BLK(suffix, ty, a, b) (snprintf(n, sizeof n, "blk.%d." suffix, l), expect_tensor(&f, n, ty, a, b))
                BLK("attn_norm.weight", QT_F32, s->dim, 1);
                BLK("ffn_norm.weight", QT_F32, s->dim, 1);
                BLK("attn_q.weight", types[ti], s->dim, s->dim);
                BLK("attn_k.weight", types[ti], s->dim, kv_dim);
                BLK("attn_v.weight", types[ti], s->dim, kv_dim);
                BLK("attn_output.weight", types[ti], s->dim, s->dim);
                BLK("ffn_gate.weight", types[ti], s->dim, s->ffn);
                BLK("ffn_up.weight", types[ti], s->dim, s->ffn);
                BLK("ffn_down.weight", types[ti], s->ffn, s->dim);
#undef BLK
            }
            gguf_close(&f);
        }
}

TEST(synth_is_deterministic_per_seed_and_thread_count) {
    char a[512], b[512], c[512], d[512];
    ThreadPool *tp = tp_create(2);
    ASSERT(tp);
    synth_to("a.gguf", "tiny", QT_Q4_0, 42, 1.0f, NULL, a, sizeof a);
    synth_to("b.gguf", "tiny", QT_Q4_0, 42, 1.0f, tp, b, sizeof b);
    synth_to("c.gguf", "tiny", QT_Q4_0, 43, 1.0f, NULL, c, sizeof c);
    synth_to("d.gguf", "tiny", QT_Q4_0, 42, 1.0f, NULL, d, sizeof d);
    tp_destroy(tp);
    EXPECT(same_bytes(a, b));   // threads do not change the values
    EXPECT(same_bytes(a, d));   // a rerun gives the same bytes
    EXPECT(!same_bytes(a, c));  // another seed another model
}

// Mean and standard deviation of a tensor's dequantized weights.
static void tensor_stats(const GgufTensor *t, double *mean, double *std) {
    int64_t n = gguf_tensor_nelements(t);
    float *x = malloc((size_t)n * sizeof *x);
    quant_dequantize_row(t->type, t->data, x, n);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) { s += x[i]; s2 += (double)x[i] * x[i]; }
    *mean = s / (double)n;
    *std = sqrt(s2 / (double)n - *mean * *mean);
    free(x);
}

TEST(synth_weights_have_documented_statistics) {
    char p32[512], p8[512], pqk[512], err[512];
    synth_to("s32.gguf", "small", QT_F32, 5, 1.0f, NULL, p32, sizeof p32);
    synth_to("s8.gguf", "small", QT_Q8_0, 5, 1.0f, NULL, p8, sizeof p8);
    synth_to("sqk.gguf", "small", QT_F32, 5, 4.0f, NULL, pqk, sizeof pqk);
    GgufFile f32, f8, fqk;
    ASSERT(gguf_open(&f32, p32, err, sizeof err) == 0);
    ASSERT(gguf_open(&f8, p8, err, sizeof err) == 0);
    ASSERT(gguf_open(&fqk, pqk, err, sizeof err) == 0);
    double m, s;
    // N(0, 0.02²) over 256*256 = 65536 samples: the sample std is within ~1% (5 sigma).
    tensor_stats(gguf_find_tensor(&f32, "blk.1.attn_output.weight"), &m, &s);
    EXPECT_NEAR(m, 0.0, 5 * 0.02 / 256);
    EXPECT_NEAR(s, 0.02, 0.02 * 5 / sqrt(2 * 65536.0));
    tensor_stats(gguf_find_tensor(&f32, "blk.2.ffn_norm.weight"), &m, &s);
    EXPECT_NEAR(m, 1.0, 5 * 0.02 / 16);
    EXPECT_NEAR(s, 0.02, 0.006);
    // --qk-scale multiplies q and k exactly, and nothing else.
    const GgufTensor *q1 = gguf_find_tensor(&f32, "blk.0.attn_k.weight"), *q4 = gguf_find_tensor(&fqk, "blk.0.attn_k.weight");
    const float *x1 = q1->data, *x4 = q4->data;
    int bad = 0;
    for (int64_t i = 0; i < gguf_tensor_nelements(q1); i++) bad += fabsf(x4[i] - 4.0f * x1[i]) > 1e-7f;
    EXPECT_EQ_INT(bad, 0);
    const GgufTensor *v1 = gguf_find_tensor(&f32, "blk.0.attn_v.weight"), *v4 = gguf_find_tensor(&fqk, "blk.0.attn_v.weight");
    EXPECT(memcmp(v1->data, v4->data, v1->nbytes) == 0);
    // The Q8_0 file holds the same floats up to quantization: with d = amax/127 per block, rounding
    // costs d/2 and storing d as f16 (relative error 2^-11) up to 127 * d * 2^-11 more.
    const GgufTensor *a = gguf_find_tensor(&f32, "blk.3.ffn_down.weight"), *b = gguf_find_tensor(&f8, "blk.3.ffn_down.weight");
    int64_t n = gguf_tensor_nelements(a);
    float *y = malloc((size_t)n * sizeof *y);
    quant_dequantize_row(QT_Q8_0, b->data, y, n);
    const float *x = a->data;
    int over = 0;
    for (int64_t blk = 0; blk < n / 32; blk++) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[blk * 32 + i]));
        for (int i = 0; i < 32; i++) over += fabsf(y[blk * 32 + i] - x[blk * 32 + i]) > amax / 127.0f * (0.5f + 127.0f / 2048.0f) + 1e-9f;
    }
    EXPECT_EQ_INT(over, 0);
    free(y);
    gguf_close(&f32);
    gguf_close(&f8);
    gguf_close(&fqk);
}

TEST(synth_vocab_is_wellformed) {
    char path[512], err[512];
    synth_to("v.gguf", "small", QT_Q8_0, 1, 1.0f, NULL, path, sizeof path);
    GgufFile f;
    ASSERT(gguf_open(&f, path, err, sizeof err) == 0);
    const GgufKv *tok, *sc, *ty;
    ASSERT(gguf_get_arr(&f, "tokenizer.ggml.tokens", GGUF_STRING, &tok) == 0);
    ASSERT(gguf_get_arr(&f, "tokenizer.ggml.scores", GGUF_FLOAT32, &sc) == 0);
    ASSERT(gguf_get_arr(&f, "tokenizer.ggml.token_type", GGUF_INT32, &ty) == 0);
    EXPECT_EQ_INT(tok->arr_len, 4096);
    EXPECT_EQ_INT(sc->arr_len, 4096);
    EXPECT_EQ_INT(ty->arr_len, 4096);
    const uint8_t *p = tok->value;
    Str s, prev_piece = {0};
    float prev_score = 1.0f;
    int dup = 0, bad_type = 0, bad_score = 0, with_mark = 0;
    Str *all = malloc(4096 * sizeof *all);
    for (int i = 0; i < 4096; i++) {
        p = gguf_str_next(p, &s);
        all[i] = s;
        int32_t t;
        float score;
        memcpy(&t, ty->value + 4 * i, 4);
        memcpy(&score, sc->value + 4 * i, 4);
        if (i == 0) EXPECT(str_eq_c(s, "<unk>") && t == 2);
        else if (i < 3) EXPECT(str_eq_c(s, i == 1 ? "<s>" : "</s>") && t == 3);
        else if (i < 259) {
            char want[8];
            snprintf(want, sizeof want, "<0x%02X>", i - 3);
            if (!str_eq_c(s, want) || t != 6) bad_type++;
        } else {
            if (t != 1 || s.len == 0) bad_type++;
            if (!(score < prev_score)) bad_score++;
            prev_score = score;
            with_mark += str_starts_with(s, "\xe2\x96\x81");
            prev_piece = s;
        }
    }
    (void)prev_piece;
    for (int i = 0; i < 4096; i++)  // every token is distinct (n² over 4096 is fine here)
        for (int j = i + 1; j < 4096; j++) dup += str_eq(all[i], all[j]);
    free(all);
    EXPECT_EQ_INT(dup, 0);
    EXPECT_EQ_INT(bad_type, 0);
    EXPECT_EQ_INT(bad_score, 0);
    EXPECT(with_mark > 1000);
    bool add_bos = false;
    EXPECT(gguf_get_bool(&f, "tokenizer.ggml.add_bos_token", &add_bos) == 0 && add_bos);
    gguf_close(&f);
}

TEST(synth_copies_a_real_vocab_and_chat_template) {
    const char *root = getenv("RS_ROOT");
    char vocab[1024], path[512], err[512] = "";
    snprintf(vocab, sizeof vocab, "%s/tests/data/vocab/ggml-vocab-llama-spm.gguf", root ? root : ".");
    snprintf(path, sizeof path, "%s/rv.gguf", test_tmpdir());
    SynthOptions o = {.shape = *synth_shape_find("tiny"), .type = QT_Q8_0, .output_type = QT_F16, .seed = 3,
                      .vocab_path = vocab, .chat_template = "llama2"};
    int64_t nv = 0;
    int rc = synth_write(&o, path, &nv, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    EXPECT_EQ_INT(nv, 32000);
    GgufFile f, v;
    ASSERT(gguf_open(&f, path, err, sizeof err) == 0);
    ASSERT(gguf_open(&v, vocab, err, sizeof err) == 0);
    expect_u32(&f, "llama.vocab_size", 32000);
    expect_tensor(&f, "token_embd.weight", QT_Q8_0, 64, 32000);
    expect_tensor(&f, "output.weight", QT_F16, 64, 32000);
    int copied = 0;
    for (uint64_t i = 0; i < v.n_kv; i++) {
        if (!str_starts_with(v.kv[i].key, "tokenizer.")) continue;
        char key[256];
        str_to_c(v.kv[i].key, key, sizeof key);
        const GgufKv *kv = gguf_find_kv(&f, key);
        size_t n = gguf_kv_value_bytes(&v.kv[i]);
        if (kv && kv->type == v.kv[i].type && gguf_kv_value_bytes(kv) == n && memcmp(kv->value, v.kv[i].value, n - (kv->type == GGUF_ARRAY ? 12 : 0)) == 0)
            copied++;
        else
            test_fail(__FILE__, __LINE__, "key %s not copied exactly", key);
    }
    EXPECT(copied >= 6);
    Str t;
    EXPECT(gguf_get_str(&f, "tokenizer.chat_template", &t) == 0);
    EXPECT(t.len > 100 && memmem(t.ptr, t.len, "[INST]", 6) && memmem(t.ptr, t.len, "<<SYS>>\\n", 9));
    gguf_close(&v);
    gguf_close(&f);
}

TEST(synth_refuses_bad_shapes_with_reasons) {
    char err[512];
    SynthShape s = *synth_shape_find("tiny");
    EXPECT(synth_shape_check(&s, QT_Q4_0, QT_Q4_0, err, sizeof err) == 0);
    s.dim = 48;  // 48 / 4 heads = 12, even, but not a multiple of 32
    EXPECT(synth_shape_check(&s, QT_F32, QT_F32, err, sizeof err) == 0);
    EXPECT(synth_shape_check(&s, QT_Q8_0, QT_Q8_0, err, sizeof err) == ERR_ARG && strstr(err, "multiples of 32"));
    s = *synth_shape_find("tiny");
    s.n_kv_heads = 3;
    EXPECT(synth_shape_check(&s, QT_F32, QT_F32, err, sizeof err) == ERR_ARG && strstr(err, "--kv-heads 3"));
    s = *synth_shape_find("tiny");
    s.n_heads = 5;
    EXPECT(synth_shape_check(&s, QT_F32, QT_F32, err, sizeof err) == ERR_ARG && strstr(err, "--heads 5"));
    s = *synth_shape_find("tiny");
    s.vocab = 100;
    EXPECT(synth_shape_check(&s, QT_F32, QT_F32, err, sizeof err) == ERR_ARG && strstr(err, "--vocab 100"));
    EXPECT(synth_chat_template("llama3") && !synth_chat_template("nope"));
    // The shape table matches the published model sizes.
    EXPECT_EQ_INT(synth_shape_params(synth_shape_find("tinyllama-1.1b")), 1100048384);
    EXPECT_EQ_INT(synth_shape_params(synth_shape_find("llama-3-8b")), 8030261248);
    EXPECT_EQ_INT(synth_shape_params(synth_shape_find("llama-3.2-1b")), 1235814400);
}
