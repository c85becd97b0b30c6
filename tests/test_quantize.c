// Tests of src/quantize: the quantizers write llama.cpp's bytes (golden hashes taken from
// ggml_quantize_chunk of the libggml-base in node-llama-cpp@3.21.1, no importance matrix, on the
// input fill() makes), and the mixes give each tensor the type llama-quantize's rules give it
// (layer lists worked out by hand from its use_more_bits: i < n/8, i >= 7n/8, (i - n/8) % 3 == 2).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "quantize/mix.h"
#include "quantize/qref.h"
#include "test.h"

#define ROWS 4
#define COLS 512

// Four rows: small, wide with outliers every 97th weight, tiny (2e-3), and one with an all-zero
// block of 32 and an all-positive block (a minimum above zero).
static void fill(float *x) {
    uint32_t s = 12345u;
    for (int i = 0; i < ROWS * COLS; i++) {
        s = s * 1664525u + 1013904223u;
        float u = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
        int row = i / COLS, k = i % COLS;
        float scale = row == 0 ? 0.05f : row == 1 ? 1.0f : row == 2 ? 0.002f : 0.3f;
        x[i] = u * scale;
        if (row == 1 && k % 97 == 0) x[i] *= 8.0f;
        if (row == 3 && k < 32) x[i] = 0.0f;
        if (row == 3 && k >= 256 && k < 288) x[i] = 0.25f + u * 0.01f;
    }
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

TEST(quantize_ref_matches_ggml) {
    static const struct { QuantType t; size_t bytes; uint64_t hash; } want[] = {
        {QT_Q4_1, 1280, 0x8d03f87dee1c7e46ull},   {QT_Q5_0, 1408, 0x86d52a338a4b86d0ull},
        {QT_Q5_1, 1536, 0xec70d733b00d6d30ull},   {QT_IQ4_NL, 1152, 0x138ab1fb33801797ull},
        {QT_Q2_K, 672, 0xff62268fee32b4fbull},    {QT_Q3_K, 880, 0x493991c3b846de61ull},
        {QT_Q4_K, 1152, 0x003286ce8f666f01ull},   {QT_Q5_K, 1408, 0x416f97ec314e03c7ull},
        {QT_Q6_K, 1680, 0x959ed83ded4b735cull},   {QT_Q8_0, 2176, 0xe0bd0bb61c16271full},
        {QT_Q4_0, 1152, 0x9ac6fcad94cb1788ull},
    };
    static float x[ROWS * COLS];
    static uint8_t out[ROWS * 1024];
    fill(x);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        QuantType t = want[i].t;
        size_t row = quant_row_bytes(t, COLS);
        EXPECT(qref_supported(t) && row * ROWS == want[i].bytes);
        for (int r = 0; r < ROWS; r++) qref_quantize_row(t, x + r * COLS, out + r * row, COLS);
        uint64_t h = fnv1a(out, row * ROWS);
        if (h != want[i].hash)
            test_fail(__FILE__, __LINE__, "%s: hash %016llx, ggml's %016llx", QUANT_TRAITS[t].name, (unsigned long long)h,
                      (unsigned long long)want[i].hash);
    }
    EXPECT(!qref_supported(QT_Q8_K));
}

// A llama skeleton: n_layer blocks of 256-wide, 2-row matrices (the rules read names, shapes
// and metadata only), 1-D norms, an untied output; with n_expert, llama.expert_count and (as
// qwen2moe's shared expert) a second ffn_down per layer, ffn_down_shexp.
static int write_skeleton(const char *path, int n_layer, int n_head, int n_head_kv, int n_expert) {
    static const char *const mats[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    GgufWriter *w = gguf_writer_create();
    float data[256 * 2] = {0};
    int64_t ne[2] = {256, 2};
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", (uint32_t)n_layer);
    gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)n_head);
    gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)n_head_kv);
    if (n_expert) gguf_writer_set_u32(w, "llama.expert_count", (uint32_t)n_expert);
    gguf_writer_add_tensor(w, "token_embd.weight", QT_F32, 2, ne, data, sizeof data);
    gguf_writer_add_tensor(w, "output.weight", QT_F32, 2, ne, data, sizeof data);
    gguf_writer_add_tensor(w, "output_norm.weight", QT_F32, 1, ne, data, 256 * sizeof(float));
    for (int l = 0; l < n_layer; l++) {
        char name[64];
        for (size_t m = 0; m < sizeof mats / sizeof mats[0]; m++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, mats[m]);
            gguf_writer_add_tensor(w, name, QT_F32, 2, ne, data, sizeof data);
        }
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        gguf_writer_add_tensor(w, name, QT_F32, 1, ne, data, 256 * sizeof(float));
        snprintf(name, sizeof name, "blk.%d.ffn_down_shexp.weight", l);
        if (n_expert) gguf_writer_add_tensor(w, name, QT_F32, 2, ne, data, sizeof data);
    }
    char err[256];
    int rc = gguf_writer_write(w, path, err, sizeof err);
    gguf_writer_destroy(w);
    return rc;
}

// Types of blk.L.<role>.weight for L = 0..n-1 under file type ft, asked in llama.cpp's order
// (the layer counters only need the layers in order, as the skeleton writes them).
static void mix_types(const char *path, const char *ft, const char *role, QuantType *types, int n) {
    GgufFile f;
    char err[256];
    QuantizeMix m;
    if (gguf_open(&f, path, err, sizeof err)) { test_fail(__FILE__, __LINE__, "%s", err); return; }
    if (quantize_mix_init(&m, &f, quantize_ftype_by_name(ft), -1, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s", err);
        gguf_close(&f);
        return;
    }
    char want[64];
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const GgufTensor *t = &f.tensors[i];
        QuantType q = quantize_mix_type(&m, t);
        for (int l = 0; l < n; l++) {
            snprintf(want, sizeof want, "blk.%d.%s.weight", l, role);
            if (t->name.len == strlen(want) && memcmp(t->name.ptr, want, t->name.len) == 0) types[l] = q;
        }
    }
    gguf_close(&f);
}

static void expect_layers(const QuantType *got, int n, const int *hi_layers, int n_hi, QuantType hi, QuantType lo,
                          const char *what) {
    for (int l = 0; l < n; l++) {
        QuantType want = lo;
        for (int k = 0; k < n_hi; k++)
            if (hi_layers[k] == l) want = hi;
        if (got[l] != want)
            test_fail(__FILE__, __LINE__, "%s layer %d: %s, want %s", what, l, QUANT_TRAITS[got[l]].name,
                      QUANT_TRAITS[want].name);
    }
}

TEST(quantize_mix_layers) {
    char path[512];
    snprintf(path, sizeof path, "%s/skel32.gguf", test_tmpdir());
    ASSERT(write_skeleton(path, 32, 8, 8, 0) == 0);
    QuantType got[32];
    static const int more[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    static const int first4[] = {0, 1, 2, 3}, first2[] = {0, 1};
    mix_types(path, "q4_k_m", "attn_v", got, 32);
    expect_layers(got, 32, more, 16, QT_Q6_K, QT_Q4_K, "q4_k_m attn_v");
    mix_types(path, "q4_k_m", "ffn_down", got, 32);
    expect_layers(got, 32, more, 16, QT_Q6_K, QT_Q4_K, "q4_k_m ffn_down");
    mix_types(path, "q5_k_m", "ffn_down", got, 32);
    expect_layers(got, 32, more, 16, QT_Q6_K, QT_Q5_K, "q5_k_m ffn_down");
    mix_types(path, "q4_k_m", "attn_q", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q4_K, QT_Q4_K, "q4_k_m attn_q");
    mix_types(path, "q4_k_s", "attn_v", got, 32);
    expect_layers(got, 32, first4, 4, QT_Q5_K, QT_Q4_K, "q4_k_s attn_v");
    mix_types(path, "q4_k_s", "ffn_down", got, 32);
    expect_layers(got, 32, first4, 4, QT_Q5_K, QT_Q4_K, "q4_k_s ffn_down");
    mix_types(path, "q5_k_s", "ffn_down", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q5_K, QT_Q5_K, "q5_k_s ffn_down");
    mix_types(path, "q3_k_m", "attn_v", got, 32);
    expect_layers(got, 32, first2, 2, QT_Q5_K, QT_Q4_K, "q3_k_m attn_v");
    mix_types(path, "q3_k_m", "ffn_down", got, 32);
    expect_layers(got, 32, first2, 2, QT_Q5_K, QT_Q4_K, "q3_k_m ffn_down");
    mix_types(path, "q3_k_m", "attn_output", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q4_K, QT_Q4_K, "q3_k_m attn_output");
    mix_types(path, "q2_k", "attn_v", got, 32);    // n_head / n_head_kv = 1
    expect_layers(got, 32, NULL, 0, QT_Q3_K, QT_Q3_K, "q2_k attn_v");
    mix_types(path, "q4_k_m", "attn_norm", got, 32);
    expect_layers(got, 32, NULL, 0, QT_F32, QT_F32, "q4_k_m attn_norm");

    // 80 layers with grouped-query attention is llama.cpp's "70B": Q4_K attn_v becomes Q5_K.
    snprintf(path, sizeof path, "%s/skel80.gguf", test_tmpdir());
    ASSERT(write_skeleton(path, 80, 64, 8, 0) == 0);
    QuantType got80[80];
    mix_types(path, "q3_k_m", "attn_v", got80, 80);
    expect_layers(got80, 80, NULL, 0, QT_Q5_K, QT_Q5_K, "70B q3_k_m attn_v");
    mix_types(path, "q2_k", "attn_v", got80, 80);   // n_head / n_head_kv = 8
    expect_layers(got80, 80, NULL, 0, QT_Q5_K, QT_Q5_K, "70B q2_k attn_v");

    // Mixtures of experts. With 8 experts (Mixtral) llama.cpp gives attn_v and attn_k Q8_0 and
    // attn_output Q5_K; with any count it takes ffn_down's layer from the name, so a layer's two
    // ffn_down tensors (here the shared expert's too) follow use_more_bits by layer, not by count.
    snprintf(path, sizeof path, "%s/moe8.gguf", test_tmpdir());
    ASSERT(write_skeleton(path, 32, 8, 8, 8) == 0);
    mix_types(path, "q4_k_m", "attn_v", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q8_0, QT_Q8_0, "8 experts q4_k_m attn_v");
    mix_types(path, "q4_k_m", "attn_k", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q8_0, QT_Q8_0, "8 experts q4_k_m attn_k");
    mix_types(path, "q4_k_m", "attn_output", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q5_K, QT_Q5_K, "8 experts q4_k_m attn_output");
    mix_types(path, "q5_k_m", "attn_output", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q5_K, QT_Q5_K, "8 experts q5_k_m attn_output (unchanged)");
    mix_types(path, "q4_k_m", "ffn_down", got, 32);
    expect_layers(got, 32, more, 16, QT_Q6_K, QT_Q4_K, "8 experts q4_k_m ffn_down");
    mix_types(path, "q4_k_m", "ffn_down_shexp", got, 32);
    expect_layers(got, 32, more, 16, QT_Q6_K, QT_Q4_K, "8 experts q4_k_m ffn_down_shexp");
    snprintf(path, sizeof path, "%s/moe128.gguf", test_tmpdir());
    ASSERT(write_skeleton(path, 32, 8, 8, 128) == 0);
    mix_types(path, "q4_k_m", "attn_v", got, 32);
    expect_layers(got, 32, more, 16, QT_Q6_K, QT_Q4_K, "128 experts q4_k_m attn_v");
    mix_types(path, "q4_k_m", "attn_k", got, 32);
    expect_layers(got, 32, NULL, 0, QT_Q4_K, QT_Q4_K, "128 experts q4_k_m attn_k");
    mix_types(path, "q4_k_m", "ffn_down_shexp", got, 32);
    expect_layers(got, 32, more, 16, QT_Q6_K, QT_Q4_K, "128 experts q4_k_m ffn_down_shexp");
}

TEST(quantize_ftype_lookup) {
    EXPECT(quantize_ftype_by_name("Q4_K_M")->ftype == 15 && quantize_ftype_by_name("Q4_K_M")->type == QT_Q4_K);
    EXPECT(quantize_ftype_by_name("q4_k")->ftype == 15);   // llama-quantize's alias
    EXPECT(quantize_ftype_by_name("q6_k")->ftype == 18 && quantize_ftype_by_name("iq4_nl")->ftype == 25);
    EXPECT(quantize_ftype_by_name("q2_k_s") == NULL && quantize_ftype_by_name("iq2_xxs") == NULL);
}
