// Tests of the per-architecture switches: what the loader reads from each arch's synthesized file
// (gguf synth --arch writes llama.cpp's keys and tensor names), that the batched forward of every
// arch — sliding windows across KV blocks included — equals running each sequence alone, and
// that a file missing an arch's tensor is refused by name. The numerics of each arch are checked
// against llama.cpp (tests/e2e/arch_llamacpp.mjs) and a float64 reference
// (tests/e2e/forward_vs_numpy.py).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/engine.h"
#include "engine/model.h"
#include "engine/synth.h"
#include "test.h"

enum { A_VOCAB = 300 };

// Synthesizes a tiny model of arch (64 wide, 4 heads / 2 KV heads, window 5 where the arch has
// one, 6 layers for gemma3 so it has a global layer) to a file named after it.
static const char *synth_arch(ModelArch arch, QuantType t, int64_t window) {
    static char path[512];
    snprintf(path, sizeof path, "%s/arch-%s-%s-%lld.gguf", test_tmpdir(), ARCH_TRAITS[arch].name,
             QUANT_TRAITS[t].name, (long long)window);
    SynthOptions o = {.shape = {NULL, 64, arch == ARCH_GEMMA3 ? 6 : 2, 4, 2, 128, A_VOCAB, 256, 10000.0f, 1e-5f, false},
                      .arch = arch, .sliding_window = window, .type = t, .output_type = t, .seed = 3,
                      .qk_scale = 4.0f, .attn_softcap = 3.0f, .final_softcap = 2.0f, .rope_attn_factor = 1.1f};
    char err[256] = "";
    if (synth_write(&o, path, NULL, err, sizeof err)) {
        printf("  synth %s: %s\n", ARCH_TRAITS[arch].name, err);
        return NULL;
    }
    return path;
}

TEST(model_arch_names_round_trip) {
    for (int a = 0; a < ARCH_COUNT; a++) {
        Str s = {ARCH_TRAITS[a].name, strlen(ARCH_TRAITS[a].name)};
        EXPECT_EQ_INT(model_arch_find(s), a);
        EXPECT(strstr(MODEL_ARCH_NAMES, ARCH_TRAITS[a].name) != NULL);
    }
    EXPECT_EQ_INT(model_arch_find(STR_LIT("gpt2")), -1);
    EXPECT_EQ_INT(model_arch_find(STR_LIT("qwen")), -1);
}

// What each arch's file turns into: the switches llama.cpp applies to that arch.
TEST(model_arch_loader_reads_each_archs_switches) {
    char err[256];
    Model m;
    const char *p = synth_arch(ARCH_QWEN2, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.arch == ARCH_QWEN2 && m.layers[1].bq && m.layers[1].bk && m.layers[1].bv && !m.layers[0].q_norm);
    EXPECT(m.hp.n_swa == 0 && !m.layers[0].swa && m.hp.embd_scale == 1.0f);
    model_free(&m);

    p = synth_arch(ARCH_QWEN3, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.layers[0].q_norm && m.layers[0].k_norm && !m.layers[0].bq && !m.layers[0].attn_post_norm);
    model_free(&m);

    p = synth_arch(ARCH_GEMMA2, QT_F32, 5);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.n_swa == 5 && m.layers[0].swa && !m.layers[1].swa);  // every other layer, from 0
    EXPECT(m.hp.attn_softcap == 3.0f && m.hp.final_softcap == 2.0f && m.hp.embd_scale == 8.0f);
    EXPECT(m.output.data == m.tok_embd.data && m.layers[1].attn_post_norm && m.layers[1].ffn_post_norm);
    EXPECT_NEAR(m.hp.attn_scale, 1.0 / 4.0, 1e-7);  // 1/sqrt(head_dim 16)
    model_free(&m);

    p = synth_arch(ARCH_GEMMA3, QT_F32, 5);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    for (int l = 0; l < 6; l++) EXPECT(m.layers[l].swa == (l != 5));  // 5 local : 1 global
    EXPECT(m.hp.rope_base_swa == 10000.0f && m.hp.rope_freq_scale_swa == 1.0f && m.hp.attn_softcap == 0.0f);
    EXPECT(m.hp.final_softcap == 2.0f && m.layers[0].q_norm);
    model_free(&m);

    // phi3: q, k, v and gate, up are consecutive row ranges of the fused tensors.
    p = synth_arch(ARCH_PHI3, QT_Q8_0, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    const LlamaLayer *L = &m.layers[1];
    size_t rb = quant_row_bytes(QT_Q8_0, 64);
    EXPECT((const uint8_t *)L->wk.data == (const uint8_t *)L->wq.data + 64 * rb && L->wq.rows == 64);
    EXPECT((const uint8_t *)L->wv.data == (const uint8_t *)L->wk.data + 32 * rb && L->wv.rows == 32);
    EXPECT((const uint8_t *)L->w_up.data == (const uint8_t *)L->w_gate.data + 128 * rb && L->w_up.rows == 128);
    EXPECT(m.rope_long && m.rope_short && m.hp.rope_attn_factor == 1.1f && m.hp.n_ctx_orig == 256);
    model_free(&m);

    // granite: the four multipliers from their keys; elsewhere residual and logit scales are 1.
    p = synth_arch(ARCH_GRANITE, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.embd_scale == SYNTH_GRANITE_EMBEDDING_SCALE && m.hp.residual_scale == SYNTH_GRANITE_RESIDUAL_SCALE);
    EXPECT(m.hp.logit_scale == SYNTH_GRANITE_LOGIT_SCALE && m.hp.n_swa == 0 && !m.layers[0].bq);
    EXPECT_NEAR(m.hp.attn_scale, 1.0 / 16.0, 1e-9);  // 1/head_dim, not 1/sqrt(head_dim)
    model_free(&m);
    p = synth_arch(ARCH_QWEN3, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.residual_scale == 1.0f && m.hp.logit_scale == 1.0f && m.hp.n_expert == 0);
    model_free(&m);

    // qwen3moe: the router and, per expert, views one expert apart into the 3-D tensors.
    p = synth_arch(ARCH_QWEN3MOE, QT_Q8_0, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.n_expert == SYNTH_MOE_EXPERTS && m.hp.n_expert_used == SYNTH_MOE_USED && m.hp.n_ff_exp == 128);
    EXPECT(m.hp.n_ff == 128 * SYNTH_MOE_USED && m.hp.expert_weights_norm && m.layers[1].q_norm);
    const LlamaLayer *M = &m.layers[1];
    EXPECT(M->router.rows == SYNTH_MOE_EXPERTS && M->router.cols == 64 && M->router.type == QT_F32);
    EXPECT(M->w_gate.rows == 0 && M->exp_up[3].rows == 128 && M->exp_down[3].rows == 64 && M->exp_down[3].cols == 128);
    EXPECT((const uint8_t *)M->exp_gate[5].data == (const uint8_t *)M->exp_gate[4].data + 128 * rb);
    model_free(&m);

    // A llama file with llama.expert_count is a Mixtral: its experts are feed_forward_length wide.
    SynthOptions o = {.shape = {NULL, 64, 2, 4, 2, 128, A_VOCAB, 256, 10000.0f, 1e-5f, false}, .arch = ARCH_LLAMA,
                      .type = QT_F32, .output_type = QT_F32, .seed = 3, .n_expert = 4, .n_expert_used = 2};
    char mpath[512];
    snprintf(mpath, sizeof mpath, "%s/mixtral.gguf", test_tmpdir());
    ASSERT(synth_write(&o, mpath, NULL, err, sizeof err) == 0 && model_load(&m, mpath, err, sizeof err) == 0);
    EXPECT(m.hp.arch == ARCH_LLAMA && m.hp.n_expert == 4 && m.hp.n_expert_used == 2 && m.hp.n_ff_exp == 128);
    EXPECT(m.hp.n_ff == 128 && m.layers[0].exp_down[3].cols == 128 && m.layers[0].w_down.rows == 0);
    model_free(&m);
    p = synth_arch(ARCH_GRANITEMOE, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.n_expert == SYNTH_MOE_EXPERTS && m.hp.n_ff_exp == 128 && m.hp.logit_scale == SYNTH_GRANITE_LOGIT_SCALE);
    EXPECT(m.hp.n_ff_shexp == 0 && m.layers[0].sh_gate.rows == 0 && m.hp.expert_weights_norm);
    model_free(&m);
    // gemma (1): gemma2's embedding scale and tied output, without its post-norms, caps or window
    p = synth_arch(ARCH_GEMMA, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.embd_scale == 8.0f && m.output.data == m.tok_embd.data && !m.layers[1].attn_post_norm);
    EXPECT(m.hp.attn_softcap == 0.0f && m.hp.final_softcap == 0.0f && m.hp.n_swa == 0);
    model_free(&m);
    // glm4: post-norms, biases, gate then up rows of one ffn_up
    p = synth_arch(ARCH_GLM4, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.layers[1].attn_post_norm && m.layers[1].ffn_post_norm && m.layers[1].bq && m.layers[1].bv);
    EXPECT(m.layers[1].w_gate.rows == 128 && (const uint8_t *)m.layers[1].w_up.data ==
           (const uint8_t *)m.layers[1].w_gate.data + 128 * quant_row_bytes(QT_F32, 64));
    model_free(&m);
    // olmo2: no pre-norms, whole-vector q/k norms, post-norms; a window makes 3 of 4 layers local
    p = synth_arch(ARCH_OLMO2, QT_F32, 5);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(!m.layers[0].attn_norm && !m.layers[0].ffn_norm && m.layers[0].q_norm && m.layers[0].attn_post_norm);
    EXPECT(m.hp.n_swa == 5 && m.layers[0].swa && m.layers[1].swa && m.hp.rope_freq_scale_swa == 1.0f);
    model_free(&m);
    // qwen2vl/qwen3vl: the M-RoPE sections gguf synth writes (Qwen's proportions of 8 pairs: 4, 2, 2, 0)
    p = synth_arch(ARCH_QWEN3VL, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.mrope_sections[0] == 4 && m.hp.mrope_sections[1] == 2 && m.hp.mrope_sections[2] == 2 &&
           m.hp.mrope_sections[3] == 0 && m.layers[0].q_norm);
    model_free(&m);
    // starcoder2: LayerNorm biases, biases on every matrix, no gate
    p = synth_arch(ARCH_STARCODER2, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.layers[1].attn_norm_b && m.layers[1].ffn_norm_b && m.layers[1].bo && m.layers[1].b_up &&
           m.layers[1].b_down && m.layers[1].bq && m.output_norm_b && m.layers[1].w_gate.rows == 0);
    model_free(&m);
    // stablelm: LayerNorm biases and q/k/v biases, but no attn_output/FFN biases and a gated FFN
    p = synth_arch(ARCH_STABLELM, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.layers[1].attn_norm_b && m.layers[1].bq && !m.layers[1].bo && !m.layers[1].b_up &&
           m.layers[1].w_gate.rows == 128 && m.output_norm_b);
    model_free(&m);
    // phi2: no ffn_norm (the FFN reads the attention's input), an output bias
    p = synth_arch(ARCH_PHI2, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(!m.layers[1].ffn_norm && m.layers[1].attn_norm_b && m.layers[1].b_up && m.output_b && m.output_norm_b);
    model_free(&m);
    // command-r: LayerNorm without biases, parallel, tied, logits times logit_scale
    p = synth_arch(ARCH_COMMAND_R, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(!m.layers[1].ffn_norm && !m.layers[1].attn_norm_b && !m.output_norm_b && m.output.data == m.tok_embd.data);
    EXPECT(m.hp.logit_multiplier == 0.0625f && m.hp.logit_scale == 16.0f);
    model_free(&m);
    // smollm3: layer 3 of 4 (and every 4th) rotates nothing
    p = synth_arch(ARCH_SMOLLM3, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.hp.n_layer == 2 && !m.layers[0].no_rope && !m.layers[1].no_rope);
    model_free(&m);
    o.arch = ARCH_SMOLLM3, o.shape.n_layers = 8, o.n_expert = 0, o.n_expert_used = 0;
    snprintf(mpath, sizeof mpath, "%s/smollm3-8.gguf", test_tmpdir());
    ASSERT(synth_write(&o, mpath, NULL, err, sizeof err) == 0 && model_load(&m, mpath, err, sizeof err) == 0);
    for (int l = 0; l < 8; l++) EXPECT(m.layers[l].no_rope == (l == 3 || l == 7));
    model_free(&m);
    // qwen2moe: biases, weights as the router gives them, and a gated shared expert 4 x 128 wide
    p = synth_arch(ARCH_QWEN2MOE, QT_F32, 0);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(!m.hp.expert_weights_norm && m.hp.n_ff_shexp == 512 && m.layers[1].sh_gate_inp && m.layers[1].bq);
    EXPECT(m.layers[1].sh_up.rows == 512 && m.layers[1].sh_down.cols == 512 && m.layers[1].exp_up[0].rows == 128);
    model_free(&m);
}

// Every arch, batched (three sequences in shared steps, KV blocks of 4 so windows start inside
// blocks) against each sequence alone: equal up to float rounding.
static void batched_equals_alone(ModelArch arch, int64_t window) {
    const char *path = synth_arch(arch, QT_F32, window);
    ASSERT(path);
    enum { NS = 3, LEN = 19 };
    static float alone[NS][LEN][A_VOCAB], logits[64 * A_VOCAB];
    EngineOptions o;
    engine_options_default(&o);
    o.n_threads = 2, o.kv_block_tokens = 4, o.kv_blocks = 64, o.max_rows = 64, o.max_seqs = 8, o.n_ctx = 128;
    o.kv_type = QT_F32;
    char err[256] = "";
    for (int s = 0; s < NS; s++) {
        Engine *e = engine_create(path, &o, err, sizeof err);
        ASSERT(e);
        for (int p = 0; p < LEN; p++) {
            EngineRow row = {0, p, (s * 37 + p * 11 + 3) % A_VOCAB, true};
            ASSERT(engine_forward(e, &row, 1, alone[s][p], NULL, 0) == 0);
        }
        engine_destroy(e);
    }
    Engine *e = engine_create(path, &o, err, sizeof err);
    ASSERT(e);
    int done[NS] = {0};
    double worst = 0;
    for (int step = 0; step < 40; step++) {
        EngineRow rows[64];
        int owner[64], n = 0;
        for (int s = 0; s < NS; s++)
            for (int k = 0; k < 2 + 3 * s && done[s] < LEN; k++, done[s]++) {
                rows[n] = (EngineRow){s * 2 + 1, done[s], (s * 37 + done[s] * 11 + 3) % A_VOCAB, true};
                owner[n++] = s;
            }
        if (!n) break;
        ASSERT(engine_forward(e, rows, n, logits, NULL, 0) == 0);
        for (int i = 0; i < n; i++)
            for (int v = 0; v < A_VOCAB; v++) {
                double ref = alone[owner[i]][rows[i].pos][v];
                double d = fabs(logits[i * A_VOCAB + v] - ref) / (1.0 + fabs(ref));
                worst = d > worst ? d : worst;
            }
    }
    engine_destroy(e);
    if (worst >= 1e-4) printf("  %s: max relative diff %g\n", ARCH_TRAITS[arch].name, worst);
    EXPECT(worst < 1e-4);
}

TEST(model_arch_batched_equals_alone_every_arch) {
    for (int a = 0; a < ARCH_COUNT; a++) batched_equals_alone((ModelArch)a, a == ARCH_PHI3 ? 0 : 5);
}

// A file that lacks a tensor its architecture needs is refused with the tensor's name; an
// architecture the engine lacks is refused with the list of those it has.
TEST(model_arch_refuses_missing_tensors_and_unknown_archs) {
    const char *p = synth_arch(ARCH_LLAMA, QT_F32, 0);
    ASSERT(p);
    GgufFile f;
    char err[512] = "";  // the unknown-arch message lists every architecture
    ASSERT(gguf_open(&f, p, err, sizeof err) == 0);
    // Relabel the llama file: as qwen3 it lacks attn_q_norm; as gemma2 it lacks post norms;
    // as phi3 its ffn_up is half the fused size; as falcon it is an unknown architecture.
    struct { const char *arch, *want; } cases[] = {
        {"qwen3", "blk.0.attn_q_norm.weight"}, {"gemma2", "post_attention_norm.weight"},
        {"phi3", "ffn_up.weight"}, {"granite", "granite.logit_scale"}, {"qwen3moe", "qwen3moe.expert_count"},
        {"falcon", "supported: " MODEL_ARCH_NAMES}};
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        GgufWriter *w = gguf_writer_create();
        ASSERT(w);
        char key[128];
#define KEY(k) (snprintf(key, sizeof key, "%s." k, cases[c].arch), key)
        gguf_writer_set_str(w, "general.architecture", cases[c].arch);
        gguf_writer_set_u32(w, KEY("embedding_length"), 64);
        gguf_writer_set_u32(w, KEY("block_count"), 2);
        gguf_writer_set_u32(w, KEY("feed_forward_length"), 128);
        gguf_writer_set_u32(w, KEY("attention.head_count"), 4);
        gguf_writer_set_u32(w, KEY("attention.head_count_kv"), 2);
        gguf_writer_set_u32(w, KEY("context_length"), 256);
        gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
#undef KEY
        for (uint64_t i = 0; i < f.n_tensors; i++) {
            const GgufTensor *t = &f.tensors[i];
            char name[96];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            ASSERT(gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->nbytes) == 0);
        }
        char out[512];
        snprintf(out, sizeof out, "%s/relabel-%s.gguf", test_tmpdir(), cases[c].arch);
        ASSERT(gguf_writer_write(w, out, err, sizeof err) == 0);
        gguf_writer_destroy(w);
        Model m;
        EXPECT(model_load(&m, out, err, sizeof err) != 0);
        if (!strstr(err, cases[c].want)) printf("  %s: '%s' lacks '%s'\n", cases[c].arch, err, cases[c].want);
        EXPECT(strstr(err, cases[c].want) != NULL);
    }
    gguf_close(&f);
}

// Copies the GGUF at src to dst with one more key set by add (a pattern), for the loader to read.
static const char *with_key(const char *src, const char *dst_name, void (*add)(GgufWriter *)) {
    static char dst[512];
    snprintf(dst, sizeof dst, "%s/%s", test_tmpdir(), dst_name);
    GgufFile f;
    char err[256];
    if (gguf_open(&f, src, err, sizeof err)) return NULL;
    GgufWriter *w = gguf_writer_create();
    int rc = w ? 0 : -1;
    for (uint64_t i = 0; i < f.n_kv && !rc; i++) rc = gguf_writer_copy_kv(w, &f, &f.kv[i]);
    if (!rc) add(w);
    for (uint64_t i = 0; i < f.n_tensors && !rc; i++) {
        const GgufTensor *t = &f.tensors[i];
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        rc = gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    if (!rc) rc = gguf_writer_write(w, dst, err, sizeof err);
    gguf_writer_destroy(w);
    gguf_close(&f);
    return rc ? NULL : dst;
}

static void add_bool_pattern(GgufWriter *w) {
    const bool local[6] = {true, false, true, false, false, true};
    gguf_writer_set_arr(w, "gemma3.attention.sliding_window_pattern", GGUF_BOOL, local, 6);
}
static void add_period_3(GgufWriter *w) { gguf_writer_set_u32(w, "gemma2.attention.sliding_window_pattern", 3); }
static void add_no_rope(GgufWriter *w) { gguf_writer_set_bool(w, "granite.rope.scaling.finetuned", false); }
static void add_too_many_used(GgufWriter *w) { gguf_writer_set_u32(w, "qwen3moe.expert_used_count", 9); }
static void add_shared_expert(GgufWriter *w) { gguf_writer_set_u32(w, "granitemoe.expert_shared_feed_forward_length", 64); }
static void add_out_bias(GgufWriter *w) {
    static const float b[64];
    const int64_t ne[1] = {64};
    gguf_writer_add_tensor(w, "blk.1.attn_output.bias", QT_F32, 1, ne, b, sizeof b);
}

// What granite (and any arch) files may hold that the engine cannot apply is refused by name,
// not ignored: no RoPE (rope.scaling.finetuned = false), a bias on attn_output or the FFN; and a
// mixture's impossible sizes, or a shared expert the file declares without its tensors.
TEST(model_arch_refuses_what_it_cannot_apply) {
    char err[256] = "";
    Model m;
    const char *p = with_key(synth_arch(ARCH_GRANITE, QT_F32, 0), "granite-norope.gguf", add_no_rope);
    ASSERT(p);
    EXPECT(model_load(&m, p, err, sizeof err) != 0 && strstr(err, "granite.rope.scaling.finetuned"));
    p = with_key(synth_arch(ARCH_GRANITE, QT_F32, 0), "granite-bo.gguf", add_out_bias);
    ASSERT(p);
    EXPECT(model_load(&m, p, err, sizeof err) != 0 && strstr(err, "blk.1.attn_output.bias"));
    p = with_key(synth_arch(ARCH_LLAMA, QT_F32, 0), "llama-bo.gguf", add_out_bias);
    ASSERT(p);
    EXPECT(model_load(&m, p, err, sizeof err) != 0 && strstr(err, "not supported"));
    // more experts per token than there are (the key set again replaces the synthesized one)
    p = with_key(synth_arch(ARCH_QWEN3MOE, QT_F32, 0), "moe-used9.gguf", add_too_many_used);
    ASSERT(p);
    EXPECT(model_load(&m, p, err, sizeof err) != 0 && strstr(err, "expert_used_count = 9"));
    p = with_key(synth_arch(ARCH_GRANITEMOE, QT_F32, 0), "moe-shared.gguf", add_shared_expert);
    ASSERT(p);
    EXPECT(model_load(&m, p, err, sizeof err) != 0 && strstr(err, "blk.0.ffn_gate_shexp.weight"));
}

// attention.sliding_window_pattern: a period (l % p < p - 1 is local) or one bool per layer.
TEST(model_arch_window_pattern_key) {
    char err[256];
    Model m;
    const char *p = with_key(synth_arch(ARCH_GEMMA3, QT_F32, 5), "g3-bools.gguf", add_bool_pattern);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    const bool want[6] = {true, false, true, false, false, true};
    for (int l = 0; l < 6; l++) EXPECT(m.layers[l].swa == want[l]);
    model_free(&m);
    p = with_key(synth_arch(ARCH_GEMMA2, QT_F32, 5), "g2-period3.gguf", add_period_3);
    ASSERT(p && model_load(&m, p, err, sizeof err) == 0);
    EXPECT(m.layers[0].swa && m.layers[1].swa);  // 2 layers: 0 % 3 and 1 % 3 are < 2
    model_free(&m);
}
