// Tests of the engine's batched forward and its all-or-nothing checks, on tiny Llama models
// written here with the GGUF writer (random weights). The truth for batching is the same engine
// code run one sequence at a time, one row per step — a different order of every operation that
// must not change any result beyond float rounding. The numerics of the forward pass itself are
// checked against an independent numpy float64 model in tests/e2e/forward_vs_numpy.py.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "engine/engine.h"
#include "engine/gguf.h"
#include "test.h"

enum { T_EMBD = 64, T_HEAD = 4, T_KV = 2, T_FF = 96, T_LAYER = 2, T_VOCAB = 80, T_CTX = 256 };

// Writes a random-weight Llama model of the shape above with weights of type wt and
// general.architecture = arch. Returns 0 on success.
// tied: 0 = own random output.weight, 1 = none (tied), 2 = output.weight a copy of token_embd.
static int write_model(const char *path, QuantType wt, int tied, const char *arch, uint64_t seed) {
    GgufWriter *w = gguf_writer_create();
    if (!w) return -1;
    Rng rng;
    rng_seed(&rng, seed);
    gguf_writer_set_str(w, "general.architecture", arch);
    gguf_writer_set_str(w, "general.name", "test-tiny");
    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "%s." s, arch), k)
    gguf_writer_set_u32(w, KEY("embedding_length"), T_EMBD);
    gguf_writer_set_u32(w, KEY("block_count"), T_LAYER);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), T_FF);
    gguf_writer_set_u32(w, KEY("attention.head_count"), T_HEAD);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), T_KV);
    gguf_writer_set_u32(w, KEY("context_length"), T_CTX);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    gguf_writer_set_f32(w, KEY("rope.freq_base"), 10000.0f);
#undef KEY
    static float buf[T_VOCAB * T_EMBD > T_FF * T_EMBD ? T_VOCAB * T_EMBD : T_FF * T_EMBD];
    static uint8_t qbuf[sizeof buf], embd[sizeof buf];
    int rc = 0;
    // Adds a (rows, cols) tensor of N(0, sd²) weights converted to type t.
#define ADD(name, t, cols, rows, sd)                                                          \
    do {                                                                                      \
        int64_t ne_[2] = {(cols), (rows)};                                                    \
        for (int64_t i_ = 0; i_ < (cols) * (rows); i_++) buf[i_] = (float)(rng_normal(&rng) * (sd)); \
        size_t rb_ = quant_row_bytes((t), (cols));                                            \
        for (int64_t r_ = 0; r_ < (rows); r_++)                                               \
            quant_quantize_row((t), buf + r_ * (cols), qbuf + (size_t)r_ * rb_, (cols));      \
        rc |= gguf_writer_add_tensor(w, (name), (t), (rows) == 1 ? 1 : 2, ne_, qbuf, rb_ * (size_t)(rows)); \
    } while (0)
#define NORM(name)                                                                            \
    do {                                                                                      \
        int64_t ne_[1] = {T_EMBD};                                                            \
        for (int64_t i_ = 0; i_ < T_EMBD; i_++) buf[i_] = (float)(1.0 + 0.1 * rng_normal(&rng)); \
        rc |= gguf_writer_add_tensor(w, (name), QT_F32, 1, ne_, buf, sizeof(float) * T_EMBD);  \
    } while (0)
    ADD("token_embd.weight", wt, T_EMBD, T_VOCAB, 1.0);
    memcpy(embd, qbuf, quant_row_bytes(wt, T_EMBD) * T_VOCAB);
    for (int l = 0; l < T_LAYER; l++) {
        char n[64];
        snprintf(n, sizeof n, "blk.%d.attn_norm.weight", l);   NORM(n);
        snprintf(n, sizeof n, "blk.%d.attn_q.weight", l);      ADD(n, wt, T_EMBD, T_EMBD, 0.5);
        snprintf(n, sizeof n, "blk.%d.attn_k.weight", l);      ADD(n, wt, T_EMBD, T_KV * 16, 0.5);
        snprintf(n, sizeof n, "blk.%d.attn_v.weight", l);      ADD(n, wt, T_EMBD, T_KV * 16, 0.2);
        snprintf(n, sizeof n, "blk.%d.attn_output.weight", l); ADD(n, wt, T_EMBD, T_EMBD, 0.1);
        snprintf(n, sizeof n, "blk.%d.ffn_norm.weight", l);    NORM(n);
        snprintf(n, sizeof n, "blk.%d.ffn_gate.weight", l);    ADD(n, wt, T_EMBD, T_FF, 0.15);
        snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l);      ADD(n, wt, T_EMBD, T_FF, 0.15);
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", l);    ADD(n, wt, T_FF, T_EMBD, 0.1);
    }
    NORM("output_norm.weight");
    if (tied == 0) ADD("output.weight", wt, T_EMBD, T_VOCAB, 0.2);
    if (tied == 2) {
        int64_t ne[2] = {T_EMBD, T_VOCAB};
        rc |= gguf_writer_add_tensor(w, "output.weight", wt, 2, ne, embd, quant_row_bytes(wt, T_EMBD) * T_VOCAB);
    }
#undef ADD
#undef NORM
    char err[256];
    if (!rc) rc = gguf_writer_write(w, path, err, sizeof err);
    if (rc) printf("  write_model: %s\n", err);
    gguf_writer_destroy(w);
    return rc;
}

static const char *model_path(const char *name, QuantType wt, int tied) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s-%s-%d.gguf", test_tmpdir(), name, QUANT_TRAITS[wt].name, tied);
    return path;
}

static Engine *open_engine(const char *path, int64_t block_tokens, int64_t n_blocks, QuantType kv, int threads) {
    EngineOptions o;
    engine_options_default(&o);
    o.n_threads = threads;
    o.kv_block_tokens = block_tokens;
    o.kv_blocks = n_blocks;
    o.max_rows = 64;
    o.max_seqs = 8;
    o.n_ctx = 128;
    o.kv_type = kv;
    char err[256] = "";
    Engine *e = engine_create(path, &o, err, sizeof err);
    if (!e) printf("  engine_create: %s\n", err);
    return e;
}

// Three sequences with prompts of 7, 21 and 3 tokens, then 4 generated (fixed) tokens each.
enum { N_SEQ = 3, N_GEN = 4 };
static const int prompt_len[N_SEQ] = {7, 21, 3};
static int32_t token_at(int s, int p) { return (int32_t)((s * 31 + p * 17 + 5) % T_VOCAB); }
#define MAX_POS 25

// Alone: each sequence in a fresh engine, one row per call; logits of every position.
static void run_alone(const char *path, QuantType kv, float *out /* (N_SEQ, MAX_POS, VOCAB) */) {
    for (int s = 0; s < N_SEQ; s++) {
        Engine *e = open_engine(path, 4, 64, kv, 1);
        CHECK(e);
        for (int p = 0; p < prompt_len[s] + N_GEN; p++) {
            EngineRow row = {.seq_id = 0, .pos = p, .token = token_at(s, p), .want_logits = true};
            CHECK(engine_forward(e, &row, 1, out + ((size_t)s * MAX_POS + p) * T_VOCAB, NULL, 0) == 0);
        }
        engine_destroy(e);
    }
}

// Batched: all three in one engine, prefill chunks and decodes interleaved in shared steps.
static double run_batched_max_diff(const char *path, QuantType kv, const float *alone) {
    Engine *e = open_engine(path, 4, 64, kv, 2);
    CHECK(e);
    static float logits[64 * T_VOCAB];
    int done[N_SEQ] = {0};   // positions fed so far
    int64_t seq_ids[N_SEQ] = {5, 0, 3};
    double max_diff = 0;
    // Each step: seq 0 and 2 feed up to `chunk` positions, seq 1 up to 6; rows interleave.
    for (int step = 0; step < 40; step++) {
        EngineRow rows[64];
        int owner[64];
        int n = 0;
        for (int k = 0; k < 6; k++)
            for (int s = 0; s < N_SEQ; s++) {
                int limit = s == 1 ? 6 : (step % 2 ? 1 : 3);
                if (k >= limit || done[s] >= prompt_len[s] + N_GEN) continue;
                rows[n] = (EngineRow){seq_ids[s], done[s], token_at(s, done[s]), true};
                owner[n++] = s;
                done[s]++;
            }
        if (!n) break;
        CHECK(engine_forward(e, rows, n, logits, NULL, 0) == 0);
        for (int i = 0; i < n; i++) {
            const float *ref = alone + ((size_t)owner[i] * MAX_POS + rows[i].pos) * T_VOCAB;
            for (int v = 0; v < T_VOCAB; v++) {
                double d = fabs((double)logits[i * T_VOCAB + v] - ref[v]) / (1.0 + fabs(ref[v]));
                max_diff = d > max_diff ? d : max_diff;
            }
        }
    }
    for (int s = 0; s < N_SEQ; s++) EXPECT_EQ_INT(engine_seq_len(e, seq_ids[s]), prompt_len[s] + N_GEN);
    engine_destroy(e);
    return max_diff;
}

static void batched_matches_alone(QuantType wt, QuantType kv) {
    const char *path = model_path("batch", wt, 0);
    ASSERT(write_model(path, wt, 0, "llama", 7) == 0);
    float *alone = calloc((size_t)N_SEQ * MAX_POS * T_VOCAB, sizeof(float));
    ASSERT(alone);
    run_alone(path, kv, alone);
    double d = run_batched_max_diff(path, kv, alone);
    // Same arithmetic per row in either order, except float summation order inside the kernels
    // (tiles over several rows): F32 differences stay at float rounding (~1e-6). For quantized
    // weights a last-bit difference can flip one int8 rounding of an activation, which moves a
    // logit by ~1e-3 relative. A mixed-up row, position or KV block shows as O(1).
    double tol = wt == QT_F32 ? 1e-4 : 5e-3;
    if (d >= tol) printf("  max relative diff %g\n", d);
    EXPECT(d < tol);
    free(alone);
}

TEST(model_batched_equals_alone_f32) { batched_matches_alone(QT_F32, QT_F32); }
TEST(model_batched_equals_alone_q8_0_kv_f16) { batched_matches_alone(QT_Q8_0, QT_F16); }
TEST(model_batched_equals_alone_q4_0) { batched_matches_alone(QT_Q4_0, QT_F16); }

// The tied model (no output.weight) computes exactly what the untied model computes when its
// output.weight is a copy of token_embd (same seed: every other weight is the same).
TEST(model_tied_output_uses_token_embd) {
    char tied[512];
    snprintf(tied, sizeof tied, "%s", model_path("tie", QT_Q8_0, 1));
    ASSERT(write_model(tied, QT_Q8_0, 1, "llama", 9) == 0);
    const char *copy = model_path("tie", QT_Q8_0, 2);
    ASSERT(write_model(copy, QT_Q8_0, 2, "llama", 9) == 0);
    Engine *e = open_engine(tied, 16, 8, QT_F32, 1), *u = open_engine(copy, 16, 8, QT_F32, 1);
    ASSERT(e && u);
    EXPECT_EQ_INT(engine_info(e)->n_vocab, T_VOCAB);
    EXPECT(engine_info(e)->n_params < engine_info(u)->n_params);
    EngineRow rows[3] = {{0, 0, 11, true}, {0, 1, 12, true}, {0, 2, 13, true}};
    static float lt[3 * T_VOCAB], lu[3 * T_VOCAB];
    ASSERT(engine_forward(e, rows, 3, lt, NULL, 0) == 0);
    ASSERT(engine_forward(u, rows, 3, lu, NULL, 0) == 0);
    int same = 0;
    double spread = 0;
    for (int v = 0; v < 3 * T_VOCAB; v++) {
        same += lt[v] == lu[v];
        spread += fabs(lt[v] - lt[0]);
    }
    EXPECT_EQ_INT(same, 3 * T_VOCAB);
    EXPECT(spread > 1.0);  // real, varied logits
    engine_destroy(e);
    engine_destroy(u);
}

TEST(model_refuses_other_architectures_by_name) {
    const char *path = model_path("gpt2", QT_F32, 0);
    ASSERT(write_model(path, QT_F32, 0, "gpt2", 1) == 0);
    char err[256] = "";
    EngineOptions o;
    engine_options_default(&o);
    Engine *e = engine_create(path, &o, err, sizeof err);
    EXPECT(e == NULL);
    EXPECT(strstr(err, "gpt2") != NULL);
    engine_destroy(e);
}

// Errors are checked before anything is computed: after each failing call the KV state is as
// before, and the next valid step gives the same logits as in an engine that never saw the errors.
TEST(engine_forward_errors_change_nothing) {
    const char *path = model_path("err", QT_F32, 0);
    ASSERT(write_model(path, QT_F32, 0, "llama", 3) == 0);
    Engine *e = open_engine(path, 4, 3, QT_F32, 1);   // 3 blocks of 4 positions
    Engine *clean = open_engine(path, 4, 3, QT_F32, 1);
    ASSERT(e && clean);
    EXPECT_EQ_INT(engine_kv_block_tokens(e), 4);
    EXPECT_EQ_INT(engine_kv_blocks_total(e), 3);
    EngineRow pre[6];
    for (int p = 0; p < 6; p++) pre[p] = (EngineRow){1, p, token_at(0, p), p == 5};
    static float l1[T_VOCAB], l2[T_VOCAB];
    ASSERT(engine_forward(e, pre, 6, l1, NULL, 0) == 0);
    ASSERT(engine_forward(clean, pre, 6, l2, NULL, 0) == 0);
    EXPECT_EQ_INT(engine_seq_blocks(e, 1), 2);
    EXPECT_EQ_INT(engine_kv_blocks_free(e), 1);
    EXPECT_EQ_INT(engine_kv_blocks_needed(e, 1, 2), 0);
    EXPECT_EQ_INT(engine_kv_blocks_needed(e, 1, 3), 1);
    EXPECT(engine_seq_can_grow(e, 1, 6));
    EXPECT(!engine_seq_can_grow(e, 1, 7));

    char err[256];
    // seq 2 needs 2 blocks (5 positions) while seq 1 grows within its block: only 1 free.
    EngineRow full[6] = {{1, 6, 3, true}};
    for (int p = 0; p < 5; p++) full[1 + p] = (EngineRow){2, p, 4, false};
    EXPECT_EQ_INT(engine_forward(e, full, 6, l1, err, sizeof err), ERR_FULL);
    EngineRow bad_pos = {1, 7, 3, true};           // skips position 6
    EXPECT_EQ_INT(engine_forward(e, &bad_pos, 1, l1, err, sizeof err), ERR_ARG);
    EngineRow bad_tok = {1, 6, T_VOCAB, true};
    EXPECT_EQ_INT(engine_forward(e, &bad_tok, 1, l1, err, sizeof err), ERR_ARG);
    EngineRow bad_seq = {8, 0, 1, true};
    EXPECT_EQ_INT(engine_forward(e, &bad_seq, 1, l1, err, sizeof err), ERR_ARG);
    EngineRow dup[2] = {{1, 6, 3, false}, {1, 6, 3, true}};  // same position twice
    EXPECT_EQ_INT(engine_forward(e, dup, 2, l1, err, sizeof err), ERR_ARG);
    EXPECT_EQ_INT(engine_forward(e, pre, 0, l1, err, sizeof err), ERR_ARG);
    EXPECT_EQ_INT(engine_seq_len(e, 1), 6);
    EXPECT_EQ_INT(engine_seq_len(e, 2), 0);
    EXPECT_EQ_INT(engine_kv_blocks_free(e), 1);

    EngineRow next = {1, 6, 3, true};
    ASSERT(engine_forward(e, &next, 1, l1, NULL, 0) == 0);
    ASSERT(engine_forward(clean, &next, 1, l2, NULL, 0) == 0);
    for (int v = 0; v < T_VOCAB; v++) EXPECT(l1[v] == l2[v]);

    // Freeing returns the blocks; a new sequence reuses them and sees none of the old data.
    engine_seq_free(e, 1);
    EXPECT_EQ_INT(engine_kv_blocks_free(e), 3);
    EXPECT_EQ_INT(engine_seq_len(e, 1), 0);
    engine_seq_free(e, 1);
    engine_seq_free(e, -1);
    EngineRow fresh = {4, 0, 9, true};
    Engine *f = open_engine(path, 4, 3, QT_F32, 1);
    ASSERT(f);
    ASSERT(engine_forward(e, &fresh, 1, l1, NULL, 0) == 0);
    ASSERT(engine_forward(f, &fresh, 1, l2, NULL, 0) == 0);
    for (int v = 0; v < T_VOCAB; v++) EXPECT(l1[v] == l2[v]);
    engine_destroy(f);
    engine_destroy(e);
    engine_destroy(clean);
}

// ---- prefix caching ----

// Prompts sharing a 30-token base: in full, 11 tokens (not a block multiple), 8 (two blocks), 3
// (under one block), and again in full.
enum { PC_N = 5, PC_MAXLEN = 32 };
static const int pc_len[PC_N] = {30, 20, 14, 16, 30};
static const int pc_shared[PC_N] = {30, 11, 8, 3, 30};
static int32_t pc_token(int s, int p) {
    return p < pc_shared[s] ? (int32_t)((p * 13 + 7) % T_VOCAB) : (int32_t)((s * 29 + p * 5 + 1) % T_VOCAB);
}

static Engine *open_engine_pc(const char *path, int64_t n_blocks, bool prefix_caching) {
    EngineOptions o;
    engine_options_default(&o);
    o.n_threads = 1;
    o.kv_block_tokens = 4;
    o.kv_blocks = n_blocks;
    o.max_rows = 64;
    o.max_seqs = 8;
    o.n_ctx = 128;
    o.kv_type = QT_F32;
    o.prefix_caching = prefix_caching;
    char err[256] = "";
    Engine *e = engine_create(path, &o, err, sizeof err);
    if (!e) printf("  engine_create: %s\n", err);
    return e;
}

// Runs prompt s in seq 0 one row per step from its cached prefix on; logits of every computed
// position into out (PC_MAXLEN, VOCAB). Returns the cached positions.
static int64_t pc_run_one(Engine *e, int s, float *out) {
    int32_t toks[PC_MAXLEN];
    for (int p = 0; p < pc_len[s]; p++) toks[p] = pc_token(s, p);
    int64_t c = engine_prefix_lookup(e, toks, pc_len[s]);
    CHECK(engine_seq_attach_prefix(e, 0, toks, c) == c);
    for (int p = (int)c; p < pc_len[s]; p++) {
        EngineRow row = {.seq_id = 0, .pos = p, .token = toks[p], .want_logits = true};
        CHECK(engine_forward(e, &row, 1, out + (size_t)p * T_VOCAB, NULL, 0) == 0);
    }
    engine_seq_free(e, 0);
    return c;
}

// Same rows in the same steps: the logits with the cache on are bit-for-bit those with it off,
// for every sharing length, with a pool of 10 blocks small enough that later prompts evict
// earlier prefixes (prompt 4 repeats prompt 0 but finds only what survived).
TEST(model_prefix_cache_bit_exact_with_evictions) {
    const char *path = model_path("prefix", QT_F32, 0);
    ASSERT(write_model(path, QT_F32, 0, "llama", 11) == 0);
    Engine *on = open_engine_pc(path, 10, true), *off = open_engine_pc(path, 10, false);
    ASSERT(on && off);
    static float lon[PC_MAXLEN * T_VOCAB], loff[PC_MAXLEN * T_VOCAB];
    static const int64_t want[PC_N] = {0, 8, 8, 0, 8};
    for (int s = 0; s < PC_N; s++) {
        int64_t c = pc_run_one(on, s, lon);
        EXPECT_EQ_INT(pc_run_one(off, s, loff), 0);
        EXPECT_EQ_INT(c, want[s]);
        EXPECT(memcmp(lon + c * T_VOCAB, loff + c * T_VOCAB, (size_t)(pc_len[s] - c) * T_VOCAB * sizeof(float)) == 0);
    }
    EXPECT(engine_kv_blocks_cached(on) > 0);
    EXPECT_EQ_INT(engine_kv_blocks_cached(off), 0);
    EXPECT_EQ_INT(engine_kv_blocks_free(on), 10);
    engine_destroy(on);
    engine_destroy(off);
}

// Prompts 1, 2 and 4 attached to prompt 0's cached blocks and then prefilled and decoded
// interleaved in shared multi-row steps: every logit matches each prompt computed alone with the
// cache off (float rounding of multi-row kernels only), and the greedy token is the same.
TEST(model_prefix_cache_interleaved_matches_alone) {
    const char *path = model_path("prefix", QT_F32, 0);
    ASSERT(write_model(path, QT_F32, 0, "llama", 11) == 0);
    Engine *off = open_engine_pc(path, 64, false), *on = open_engine_pc(path, 64, true);
    ASSERT(on && off);
    static float ref[PC_N][PC_MAXLEN * T_VOCAB], lg[64 * T_VOCAB];
    for (int s = 0; s < PC_N; s++) pc_run_one(off, s, ref[s]);
    pc_run_one(on, 0, lg);  // fills the cache
    static const int run[3] = {1, 2, 4};
    int done[3];
    for (int i = 0; i < 3; i++) {
        int32_t toks[PC_MAXLEN];
        int s = run[i];
        for (int p = 0; p < pc_len[s]; p++) toks[p] = pc_token(s, p);
        int64_t c = engine_prefix_lookup(on, toks, pc_len[s]);
        EXPECT_EQ_INT(c, s == 4 ? 28 : 8);
        ASSERT(engine_seq_attach_prefix(on, 1 + i, toks, c) == c);
        done[i] = (int)c;
    }
    double max_diff = 0;
    int argmax_differs = 0;
    for (int step = 0; step < 20; step++) {
        EngineRow rows[64];
        int owner[64], n = 0;
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 3; i++) {
                int s = run[i];
                if (k >= (i == 1 ? 3 : 2) || done[i] >= pc_len[s]) continue;
                rows[n] = (EngineRow){1 + i, done[i], pc_token(s, done[i]), true};
                owner[n++] = s;
                done[i]++;
            }
        if (!n) break;
        ASSERT(engine_forward(on, rows, n, lg, NULL, 0) == 0);
        for (int r = 0; r < n; r++) {
            const float *a = lg + r * T_VOCAB, *b = ref[owner[r]] + rows[r].pos * T_VOCAB;
            int ia = 0, ib = 0;
            for (int v = 0; v < T_VOCAB; v++) {
                double d = fabs((double)a[v] - b[v]) / (1.0 + fabs(b[v]));
                max_diff = d > max_diff ? d : max_diff;
                if (a[v] > a[ia]) ia = v;
                if (b[v] > b[ib]) ib = v;
            }
            argmax_differs += ia != ib;
        }
    }
    for (int i = 0; i < 3; i++) EXPECT_EQ_INT(done[i], pc_len[run[i]]);
    if (max_diff >= 1e-4) printf("  max relative diff %g\n", max_diff);
    EXPECT(max_diff < 1e-4);
    EXPECT_EQ_INT(argmax_differs, 0);
    engine_destroy(on);
    engine_destroy(off);
}
