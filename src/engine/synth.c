// synth.c — the shape table and the streaming writer of random-weight models of every
// architecture in ARCH_TRAITS (tensor names and metadata keys as llama.cpp's converter writes them).
#include "engine/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"

// name, dim, layers, heads, kv heads, ffn, vocab, ctx, rope theta, rms eps, tied
const SynthShape SYNTH_SHAPES[] = {
    {"tiny", 64, 2, 4, 2, 192, 512, 256, 10000.0f, 1e-5f, false},
    {"small", 256, 4, 8, 4, 768, 4096, 512, 10000.0f, 1e-5f, false},
    {"110m", 768, 12, 12, 12, 2048, 32000, 1024, 10000.0f, 1e-5f, false},  // llama2.c stories110M
    {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f, 1e-5f, false},
    {"llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, 8192, 500000.0f, 1e-5f, true},
    {"llama-3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f, 1e-5f, false},
};
const size_t SYNTH_N_SHAPES = ARRAY_LEN(SYNTH_SHAPES);

const SynthShape *synth_shape_find(const char *name) {
    for (size_t i = 0; i < SYNTH_N_SHAPES; i++)
        if (strcmp(SYNTH_SHAPES[i].name, name) == 0) return &SYNTH_SHAPES[i];
    return NULL;
}

// Upper bounds keep every size computation far from overflow (the largest real Llama has
// dim 16384, ffn 53248, 126 layers, vocab 128256).
#define SYNTH_MAX_DIM (1 << 16)
#define SYNTH_MAX_FFN (1 << 18)
#define SYNTH_MAX_LAYERS 1024
#define SYNTH_MAX_VOCAB (1 << 22)

int synth_shape_check(const SynthShape *s, QuantType type, QuantType output_type, char *err, size_t err_len) {
    const QuantTraits *t = quant_traits((uint32_t)type), *ot = quant_traits((uint32_t)output_type);
    if (!t || !t->supported || !ot || !ot->supported)
        return err_set(err, err_len, ERR_ARG, "unsupported weight type (see rightsize gguf --help for the types the engine writes)");
    if (s->dim < 1 || s->dim > SYNTH_MAX_DIM) return err_set(err, err_len, ERR_ARG, "--dim %lld is outside 1..%d", (long long)s->dim, SYNTH_MAX_DIM);
    if (s->n_layers < 1 || s->n_layers > SYNTH_MAX_LAYERS)
        return err_set(err, err_len, ERR_ARG, "--layers %lld is outside 1..%d", (long long)s->n_layers, SYNTH_MAX_LAYERS);
    if (s->n_heads < 1 || s->dim % s->n_heads)
        return err_set(err, err_len, ERR_ARG, "--heads %lld must be positive and divide --dim %lld", (long long)s->n_heads, (long long)s->dim);
    if ((s->dim / s->n_heads) % 2)
        return err_set(err, err_len, ERR_ARG, "head size %lld (dim/heads) must be even for RoPE", (long long)(s->dim / s->n_heads));
    if (s->n_kv_heads < 1 || s->n_heads % s->n_kv_heads)
        return err_set(err, err_len, ERR_ARG, "--kv-heads %lld must be positive and divide --heads %lld",
                       (long long)s->n_kv_heads, (long long)s->n_heads);
    if (s->ffn < 1 || s->ffn > SYNTH_MAX_FFN) return err_set(err, err_len, ERR_ARG, "--ffn %lld is outside 1..%d", (long long)s->ffn, SYNTH_MAX_FFN);
    if (s->vocab < 259 || s->vocab > SYNTH_MAX_VOCAB)
        return err_set(err, err_len, ERR_ARG, "--vocab %lld is outside 259..%d (3 special + 256 byte tokens at least)",
                       (long long)s->vocab, SYNTH_MAX_VOCAB);
    if (s->ctx < 1 || s->ctx > (1 << 24)) return err_set(err, err_len, ERR_ARG, "--ctx %lld is outside 1..16777216", (long long)s->ctx);
    if (!(s->rope_theta > 0.0f) || !isfinite(s->rope_theta)) return err_set(err, err_len, ERR_ARG, "--rope-theta must be positive");
    if (!(s->rms_eps > 0.0f) || !isfinite(s->rms_eps)) return err_set(err, err_len, ERR_ARG, "rms epsilon must be positive");
    int64_t bs = t->block_size > ot->block_size ? t->block_size : ot->block_size;
    if (s->dim % t->block_size || s->dim % ot->block_size || s->ffn % t->block_size)
        return err_set(err, err_len, ERR_ARG, "--dim %lld and --ffn %lld must be multiples of %lld for %s weights",
                       (long long)s->dim, (long long)s->ffn, (long long)bs, t->block_size > 1 ? t->name : ot->name);
    return 0;
}

int64_t synth_shape_params(const SynthShape *s) {
    int64_t kv_dim = s->dim / s->n_heads * s->n_kv_heads;
    int64_t per_layer = 2 * s->dim                       // attn_norm, ffn_norm
                        + 2 * s->dim * s->dim            // attn_q, attn_output
                        + 2 * s->dim * kv_dim            // attn_k, attn_v
                        + 3 * s->dim * s->ffn;           // ffn_gate, ffn_up, ffn_down
    return s->n_layers * per_layer + s->dim * s->vocab * (s->tied ? 1 : 2) + s->dim;
}

// llama.cpp's general.file_type (LLAMA_FTYPE_*) for a weight type.
static uint32_t file_type(QuantType t) {
    switch (t) {
    case QT_F32: return 0;
    case QT_F16: return 1;
    case QT_Q4_0: return 2;
    case QT_Q8_0: return 7;
    case QT_BF16: return 32;
    default: return 0;
    }
}

// ---- tensor list ----

typedef enum { INIT_MATRIX, INIT_QK, INIT_NORM, INIT_BIAS, INIT_FACTOR, INIT_ROUTER } InitKind;

typedef struct {
    char name[64];
    QuantType type;
    uint32_t n_dims;
    int64_t ne[3];  // ne[2] > 1: a 3-D tensor (a mixture's experts), written as ne[1]·ne[2] rows
    InitKind init;
} TensorSpec;

static void add_spec(TensorSpec *t, const char *name, QuantType type, uint32_t n_dims, int64_t ne0, int64_t ne1,
                     InitKind init) {
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = 1;
    t->init = init;
}

static int64_t spec_rows(const TensorSpec *t) { return t->ne[1] * t->ne[2]; }

// A mixture of experts: the mixture architectures, and llama given --experts (a Mixtral).
static bool synth_moe(const SynthOptions *o) {
    return ARCH_TRAITS[o->arch].moe || (o->arch == ARCH_LLAMA && o->n_expert > 0);
}

// A mixture's expert count and experts per token, the options' or the defaults.
static int64_t synth_experts(const SynthOptions *o) { return o->n_expert ? o->n_expert : SYNTH_MOE_EXPERTS; }
static int64_t synth_experts_used(const SynthOptions *o) {
    return o->n_expert_used ? o->n_expert_used : SYNTH_MOE_USED;
}

// The shared expert's width: --shared-expert-ffn, else (qwen2moe, which always has one) the
// experts' 4x, as Qwen1.5-MoE's 5632 to 1408; 0 for none.
static int64_t synth_shexp(const SynthOptions *o) {
    if (!synth_moe(o)) return 0;
    return o->n_ff_shexp ? o->n_ff_shexp : ARCH_TRAITS[o->arch].shared_expert ? 4 * o->shape.ffn : 0;
}

// The most tensors one layer has (qwen2moe: 17), and outside the layers (phi3, starcoder2: 6 at most).
#define SYNTH_LAYER_TENSORS 17
#define SYNTH_OTHER_TENSORS 6

// The tensors of o's architecture in llama.cpp's order. Returns the count (specs must hold
// SYNTH_OTHER_TENSORS + SYNTH_LAYER_TENSORS * n_layers).
static int64_t list_tensors(const SynthOptions *o, TensorSpec *specs) {
    const SynthShape *s = &o->shape;
    const ArchTraits *at = &ARCH_TRAITS[o->arch];
    int64_t hd = s->dim / s->n_heads, kv_dim = hd * s->n_kv_heads, n = 0;
    bool fused = o->arch == ARCH_PHI3, biases = o->arch == ARCH_QWEN2 || o->arch == ARCH_QWEN2MOE ||
                                                o->arch == ARCH_GLM4 || o->arch == ARCH_QWEN2VL || at->norm_bias;
    int64_t shexp = synth_shexp(o);
#define ADD(nm, ty, nd, e0, e1, ini) add_spec(&specs[n++], nm, ty, nd, e0, e1, ini)
#define BLK(suffix, ty, nd, e0, e1, ini) \
    (snprintf(name, sizeof name, "blk.%d." suffix, l), ADD(name, ty, nd, e0, e1, ini))
    char name[64];
    ADD("token_embd.weight", o->type, 2, s->dim, s->vocab, INIT_MATRIX);
    for (int l = 0; l < (int)s->n_layers; l++) {
        if (!at->no_pre_norms) BLK("attn_norm.weight", QT_F32, 1, s->dim, 1, INIT_NORM);
        if (at->norm_bias) BLK("attn_norm.bias", QT_F32, 1, s->dim, 1, INIT_BIAS);
        if (fused) {
            BLK("attn_qkv.weight", o->type, 2, s->dim, s->dim + 2 * kv_dim, INIT_QK);
        } else {
            BLK("attn_q.weight", o->type, 2, s->dim, s->dim, INIT_QK);
            BLK("attn_k.weight", o->type, 2, s->dim, kv_dim, INIT_QK);
            BLK("attn_v.weight", o->type, 2, s->dim, kv_dim, INIT_MATRIX);
        }
        if (biases) {
            BLK("attn_q.bias", QT_F32, 1, s->dim, 1, INIT_BIAS);
            BLK("attn_k.bias", QT_F32, 1, kv_dim, 1, INIT_BIAS);
            BLK("attn_v.bias", QT_F32, 1, kv_dim, 1, INIT_BIAS);
        }
        if (at->qk_norm) {
            BLK("attn_q_norm.weight", QT_F32, 1, at->qk_norm_whole ? s->dim : hd, 1, INIT_NORM);
            BLK("attn_k_norm.weight", QT_F32, 1, at->qk_norm_whole ? kv_dim : hd, 1, INIT_NORM);
        }
        BLK("attn_output.weight", o->type, 2, s->dim, s->dim, INIT_MATRIX);
        if (at->ffn_plain_gelu) BLK("attn_output.bias", QT_F32, 1, s->dim, 1, INIT_BIAS);  // starcoder2
        if (at->post_norms) BLK("post_attention_norm.weight", QT_F32, 1, s->dim, 1, INIT_NORM);
        if (!at->no_pre_norms && !at->parallel_residual) BLK("ffn_norm.weight", QT_F32, 1, s->dim, 1, INIT_NORM);
        if (at->norm_bias && !at->parallel_residual) BLK("ffn_norm.bias", QT_F32, 1, s->dim, 1, INIT_BIAS);
        if (synth_moe(o)) {  // the router (F32, as llama-quantize leaves it) and the experts, 3-D
            int64_t E = synth_experts(o);
            BLK("ffn_gate_inp.weight", QT_F32, 2, s->dim, E, INIT_ROUTER);
            BLK("ffn_gate_exps.weight", o->type, 3, s->dim, s->ffn, INIT_MATRIX);
            specs[n - 1].ne[2] = E;
            BLK("ffn_down_exps.weight", o->type, 3, s->ffn, s->dim, INIT_MATRIX);
            specs[n - 1].ne[2] = E;
            BLK("ffn_up_exps.weight", o->type, 3, s->dim, s->ffn, INIT_MATRIX);
            specs[n - 1].ne[2] = E;
            if (shexp) {  // the shared expert (qwen2moe: with its gate vector)
                if (at->shared_expert) BLK("ffn_gate_inp_shexp.weight", QT_F32, 1, s->dim, 1, INIT_ROUTER);
                BLK("ffn_gate_shexp.weight", o->type, 2, s->dim, shexp, INIT_MATRIX);
                BLK("ffn_down_shexp.weight", o->type, 2, shexp, s->dim, INIT_MATRIX);
                BLK("ffn_up_shexp.weight", o->type, 2, s->dim, shexp, INIT_MATRIX);
            }
        } else if (at->ffn_plain_gelu) {
            BLK("ffn_up.weight", o->type, 2, s->dim, s->ffn, INIT_MATRIX);
            BLK("ffn_up.bias", QT_F32, 1, s->ffn, 1, INIT_BIAS);
        } else if (at->fused_gate_up) {
            BLK("ffn_up.weight", o->type, 2, s->dim, 2 * s->ffn, INIT_MATRIX);
        } else {
            BLK("ffn_gate.weight", o->type, 2, s->dim, s->ffn, INIT_MATRIX);
            BLK("ffn_up.weight", o->type, 2, s->dim, s->ffn, INIT_MATRIX);
        }
        if (!synth_moe(o)) BLK("ffn_down.weight", o->type, 2, s->ffn, s->dim, INIT_MATRIX);
        if (at->ffn_plain_gelu) BLK("ffn_down.bias", QT_F32, 1, s->dim, 1, INIT_BIAS);
        if (at->post_norms) BLK("post_ffw_norm.weight", QT_F32, 1, s->dim, 1, INIT_NORM);
    }
    ADD("output_norm.weight", QT_F32, 1, s->dim, 1, INIT_NORM);
    if (at->norm_bias) ADD("output_norm.bias", QT_F32, 1, s->dim, 1, INIT_BIAS);
    if (!s->tied && !at->always_tied) ADD("output.weight", o->output_type, 2, s->dim, s->vocab, INIT_MATRIX);
    if (o->arch == ARCH_PHI2) ADD("output.bias", QT_F32, 1, s->vocab, 1, INIT_BIAS);  // llama.cpp requires it
    if (o->arch == ARCH_PHI3) {
        ADD("rope_factors_long.weight", QT_F32, 1, hd / 2, 1, INIT_FACTOR);
        ADD("rope_factors_short.weight", QT_F32, 1, hd / 2, 1, INIT_FACTOR);
    }
#undef BLK
#undef ADD
    return n;
}

int64_t synth_params(const SynthOptions *o) {
    TensorSpec *specs = calloc((size_t)(SYNTH_OTHER_TENSORS + SYNTH_LAYER_TENSORS * o->shape.n_layers), sizeof *specs);
    if (!specs) return synth_shape_params(&o->shape);
    int64_t n = list_tensors(o, specs), total = 0;
    for (int64_t i = 0; i < n; i++) total += specs[i].ne[0] * spec_rows(&specs[i]);
    free(specs);
    return total;
}

// ---- generation ----

typedef struct {
    const TensorSpec *t;
    uint64_t stream;   // per-tensor seed (seed mixed with the tensor name)
    int64_t row0;      // first row of this chunk
    float *x;          // (rows, ne0) floats
    uint8_t *q;        // (rows, row_bytes) output
    size_t row_bytes;
    float std, qk_scale;
} ChunkJob;

uint64_t synth_stream_seed(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
    while (*name) h = (h ^ (unsigned char)*name++) * 1099511628211ull;
    return h;
}

void synth_fill_normal(Rng *r, float *x, int64_t n, float mean, float std) {
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = rng_uniform(r), u2 = rng_uniform(r);
        if (u1 < 1e-300) u1 = 1e-300;
        double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
        x[i] = mean + std * (float)(rad * cos(th));
        if (i + 1 < n) x[i + 1] = mean + std * (float)(rad * sin(th));
    }
}

// One row: its own stream, so the values do not depend on chunking or threads.
static void gen_row(void *ctx, int64_t task, int thread) {
    (void)thread;
    const ChunkJob *j = ctx;
    int64_t ne0 = j->t->ne[0], row = j->row0 + task;
    float *x = j->x + task * ne0;
    Rng r;
    rng_seed(&r, j->stream + (uint64_t)row * 0xD1B54A32D192ED03ull);
    switch (j->t->init) {
    case INIT_NORM: synth_fill_normal(&r, x, ne0, 1.0f, 0.02f); break;
    case INIT_QK: synth_fill_normal(&r, x, ne0, 0.0f, j->std * j->qk_scale); break;
    case INIT_MATRIX: synth_fill_normal(&r, x, ne0, 0.0f, j->std); break;
    case INIT_BIAS: synth_fill_normal(&r, x, ne0, 0.0f, 0.1f); break;
    case INIT_ROUTER: synth_fill_normal(&r, x, ne0, 0.0f, 0.5f); break;  // well-separated expert choices
    case INIT_FACTOR:
        synth_fill_normal(&r, x, ne0, 0.0f, 2.0f);
        for (int64_t i = 0; i < ne0; i++) x[i] = 1.0f + fabsf(x[i]);
        break;
    }
    if (j->t->type != QT_F32) quant_quantize_row(j->t->type, x, j->q + (size_t)task * j->row_bytes, ne0);
}

#define SYNTH_CHUNK_FLOATS ((int64_t)1 << 24)  // 64 MB of floats per chunk at most

static int write_tensors(const SynthOptions *o, GgufWriter *w, const TensorSpec *specs, int64_t n,
                         char *err, size_t err_len) {
    uint64_t total = 0, done = 0;
    int64_t max_ne0 = 1;
    for (int64_t i = 0; i < n; i++) {
        total += quant_row_bytes(specs[i].type, specs[i].ne[0]) * (uint64_t)spec_rows(&specs[i]);
        if (specs[i].ne[0] > max_ne0) max_ne0 = specs[i].ne[0];
    }
    int64_t chunk_rows = SYNTH_CHUNK_FLOATS / max_ne0;
    if (chunk_rows < 1) chunk_rows = 1;
    float *x = malloc((size_t)(chunk_rows * max_ne0) * sizeof *x);
    uint8_t *q = malloc((size_t)(chunk_rows * max_ne0) * sizeof(float));
    int rc = 0;
    if (!x || !q) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory for a %lld-row chunk", (long long)chunk_rows); goto fail; }
    for (int64_t i = 0; i < n && !rc; i++) {
        const TensorSpec *t = &specs[i];
        ChunkJob j = {.t = t, .stream = synth_stream_seed(o->seed, t->name), .x = x, .q = q,
                      .row_bytes = quant_row_bytes(t->type, t->ne[0]),
                      .std = o->init_std > 0 ? o->init_std : 0.02f, .qk_scale = o->qk_scale > 0 ? o->qk_scale : 1.0f};
        if (t->type == QT_F32) j.q = (uint8_t *)x;  // the floats are the data
        for (int64_t r0 = 0; r0 < spec_rows(t) && !rc; r0 += chunk_rows) {
            int64_t rows = spec_rows(t) - r0 < chunk_rows ? spec_rows(t) - r0 : chunk_rows;
            j.row0 = r0;
            tp_run(o->pool, gen_row, &j, rows);
            rc = gguf_writer_put_data(w, j.q, (size_t)rows * j.row_bytes, err, err_len);
            done += (uint64_t)rows * j.row_bytes;
            if (!rc && o->progress) o->progress(o->progress_ctx, done, total, t->name);
        }
    }
fail:
    free(x);
    free(q);
    return rc;
}

// The hyperparameters under "<arch>." (llama.cpp's key order), plus each architecture's extras.
static int set_metadata(const SynthOptions *o, GgufWriter *w, const SynthShape *s) {
    const char *arch = ARCH_TRAITS[o->arch].name;
    char name[96], key[96];
    snprintf(name, sizeof name, "synth-%s", s->name ? s->name : "custom");
#define KEY(k) (snprintf(key, sizeof key, "%s." k, arch), key)
    int rc = gguf_writer_set_str(w, "general.architecture", arch);
    if (!rc) rc = gguf_writer_set_str(w, "general.name", o->name ? o->name : name);
    if (!rc) rc = gguf_writer_set_u32(w, "general.alignment", 32);
    if (!rc) rc = gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)s->ctx);
    if (!rc) rc = gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->dim);
    if (!rc) rc = gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layers);
    if (!rc) {
        int64_t K = synth_experts_used(o);
        bool wide = synth_moe(o) && ARCH_TRAITS[o->arch].expert_width_key;  // else the experts' own width
        rc = gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)(s->ffn * (wide ? K : 1)));
    }
    if (!rc) rc = gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_heads);
    if (!rc) rc = gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_kv_heads);
    if (!rc) rc = gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_theta);
    if (!rc) rc = gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)(o->rope_dim ? o->rope_dim : s->dim / s->n_heads));
    if (!rc)
        rc = gguf_writer_set_f32(w, ARCH_TRAITS[o->arch].layer_norm ? KEY("attention.layer_norm_epsilon")
                                                                    : KEY("attention.layer_norm_rms_epsilon"), s->rms_eps);
    if (!rc) rc = gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)s->vocab);
    if (!rc && (o->arch == ARCH_GEMMA2 || o->arch == ARCH_GEMMA3))
        rc = gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)(s->dim / s->n_heads));
    if (!rc && (o->arch == ARCH_GEMMA2 || o->arch == ARCH_GEMMA3))
        rc = gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)(s->dim / s->n_heads));
    if (!rc && o->arch == ARCH_GEMMA2) {
        rc = gguf_writer_set_f32(w, KEY("attn_logit_softcapping"), o->attn_softcap > 0 ? o->attn_softcap : 50.0f);
        if (!rc)
            rc = gguf_writer_set_f32(w, KEY("final_logit_softcapping"), o->final_softcap > 0 ? o->final_softcap : 30.0f);
    }
    if (!rc && o->arch == ARCH_GEMMA3 && o->final_softcap > 0)
        rc = gguf_writer_set_f32(w, KEY("final_logit_softcapping"), o->final_softcap);
    int64_t window = o->sliding_window ? o->sliding_window : o->arch == ARCH_GEMMA2 ? 4096 : 0;
    if (!rc && window) rc = gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)window);
    if (!rc && o->arch == ARCH_PHI3) {
        rc = gguf_writer_set_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)s->ctx);
        if (!rc && o->rope_attn_factor > 0)
            rc = gguf_writer_set_f32(w, KEY("rope.scaling.attn_factor"), o->rope_attn_factor);
    }
    if (!rc && synth_moe(o)) {  // the mixture (feed_forward_length above: used x expert on qwen3moe, as its converter writes)
        rc = gguf_writer_set_u32(w, KEY("expert_count"), (uint32_t)synth_experts(o));
        if (!rc) rc = gguf_writer_set_u32(w, KEY("expert_used_count"), (uint32_t)synth_experts_used(o));
        if (!rc && ARCH_TRAITS[o->arch].expert_width_key)
            rc = gguf_writer_set_u32(w, KEY("expert_feed_forward_length"), (uint32_t)s->ffn);
        if (!rc && synth_shexp(o))
            rc = gguf_writer_set_u32(w, KEY("expert_shared_feed_forward_length"), (uint32_t)synth_shexp(o));
    }
    if (!rc && ARCH_TRAITS[o->arch].mrope) {  // Qwen's proportions, [24, 20, 20, 0] of 64 pairs: 3/8, 5/16, 5/16
        int32_t half = (int32_t)((o->rope_dim ? o->rope_dim : s->dim / s->n_heads) / 2), hw = half * 5 / 16;
        const int32_t sec[4] = {half - 2 * hw, hw, hw, 0};
        rc = gguf_writer_set_arr_i32(w, KEY("rope.dimension_sections"), sec, 4);
    }
    if (!rc && ARCH_TRAITS[o->arch].logit_multiplier)  // Command-R's 0.0625
        rc = gguf_writer_set_f32(w, KEY("logit_scale"), 0.0625f);
    if (!rc && ARCH_TRAITS[o->arch].multipliers) {  // Granite 3.x's kind of multipliers (attention: 1/head_dim)
        rc = gguf_writer_set_f32(w, KEY("embedding_scale"), SYNTH_GRANITE_EMBEDDING_SCALE);
        if (!rc) rc = gguf_writer_set_f32(w, KEY("residual_scale"), SYNTH_GRANITE_RESIDUAL_SCALE);
        if (!rc) rc = gguf_writer_set_f32(w, KEY("attention.scale"), 1.0f / (float)(s->dim / s->n_heads));
        if (!rc) rc = gguf_writer_set_f32(w, KEY("logit_scale"), SYNTH_GRANITE_LOGIT_SCALE);
    }
    if (!rc) rc = gguf_writer_set_u32(w, "general.file_type", file_type(o->type));
#undef KEY
    return rc;
}

int synth_write(const SynthOptions *o, const char *path, int64_t *vocab_out, char *err, size_t err_len) {
    SynthShape s = o->shape;
    GgufWriter *w = gguf_writer_create();
    TensorSpec *specs = NULL;
    int rc = 0;
    if (!w) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    if ((unsigned)o->arch >= ARCH_COUNT) {
        rc = err_set(err, err_len, ERR_ARG, "unknown architecture %d", (int)o->arch);
        goto fail;
    }
    int64_t E = synth_experts(o), K = synth_experts_used(o);
    if (o->rope_dim && (o->rope_dim % 2 || o->rope_dim > o->shape.dim / (o->shape.n_heads ? o->shape.n_heads : 1))) {
        rc = err_set(err, err_len, ERR_ARG, "--rope-dim %lld must be even and at most the head dimension",
                     (long long)o->rope_dim);
        goto fail;
    }
    if ((o->n_expert || o->n_expert_used || o->n_ff_shexp) && !synth_moe(o)) {
        rc = err_set(err, err_len, ERR_ARG, "--experts/--experts-used/--shared-expert-ffn make a mixture of experts of "
                     "llama (Mixtral), qwen3moe, granitemoe or qwen2moe, not %s", ARCH_TRAITS[o->arch].name);
        goto fail;
    }
    if (synth_moe(o) && (E < 1 || E > 1024 || K < 1 || K > E || K > 64)) {
        rc = err_set(err, err_len, ERR_ARG, "--experts %lld and --experts-used %lld must satisfy 1 <= used <= experts, "
                     "experts <= 1024, used <= 64", (long long)E, (long long)K);
        goto fail;
    }
    if (o->chat_template && !synth_chat_template(o->chat_template)) {
        rc = err_set(err, err_len, ERR_ARG, "unknown chat template '%s' (known: %s)", o->chat_template,
                     synth_chat_template_names);
        goto fail;
    }
    // Metadata first (llama.cpp's key order), then the tokenizer; a copied vocabulary decides the
    // vocab size, and setting llama.vocab_size again replaces the value in place.
    if ((rc = set_metadata(o, w, &s))) { err_set(err, err_len, rc, "out of memory"); goto fail; }
    if (o->vocab_path) {
        if ((rc = synth_vocab_copy(w, o->vocab_path, &s.vocab, err, err_len))) goto fail;
        char key[64];
        snprintf(key, sizeof key, "%s.vocab_size", ARCH_TRAITS[o->arch].name);
        if ((rc = gguf_writer_set_u32(w, key, (uint32_t)s.vocab))) goto fail;
    }
    if ((rc = synth_shape_check(&s, o->type, o->output_type, err, err_len))) goto fail;
    if (!o->vocab_path && (rc = synth_vocab_set(w, s.vocab))) {
        err_set(err, err_len, rc, "cannot build a %lld-token vocabulary", (long long)s.vocab);
        goto fail;
    }
    if (o->chat_template &&
        (rc = gguf_writer_set_str(w, "tokenizer.chat_template", synth_chat_template(o->chat_template)))) {
        err_set(err, err_len, rc, "out of memory");
        goto fail;
    }

    SynthOptions eff = *o;
    eff.shape = s;
    specs = calloc((size_t)(SYNTH_OTHER_TENSORS + SYNTH_LAYER_TENSORS * s.n_layers), sizeof *specs);
    if (!specs) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto fail; }
    int64_t n = list_tensors(&eff, specs);
    for (int64_t i = 0; i < n && !rc; i++)
        if ((rc = gguf_writer_add_tensor_info(w, specs[i].name, specs[i].type, specs[i].n_dims, specs[i].ne)))
            err_set(err, err_len, rc, "cannot declare tensor %s", specs[i].name);
    if (!rc) rc = gguf_writer_begin(w, path, err, err_len);
    if (!rc) rc = write_tensors(&eff, w, specs, n, err, err_len);
    if (!rc) rc = gguf_writer_finish(w, err, err_len);
    if (!rc && vocab_out) *vocab_out = s.vocab;
fail:
    free(specs);
    gguf_writer_destroy(w);  // aborts (removes path.tmp) if the write did not finish
    return rc;
}
