// model_load.c — reading a model's hyperparameters and weight views out of a GGUF file, for every
// architecture in ARCH_TRAITS. Every shape and type is checked here, so the forward pass can trust
// them. Defaults and key names follow llama.cpp (src/llama-arch.cpp, src/models/<arch>.cpp).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/bigalloc.h"
#include "base/check.h"
#include "engine/model.h"
#include "engine/model_check.h"

// ---- architectures ----

// Where an architecture leaves a value to its model size, llama.cpp decides by block count: the
// 27B Gemma models scale queries by 1/sqrt(n_embd/n_head) (their query_pre_attn_scalar), the
// others by 1/sqrt(head_dim).
const ArchTraits ARCH_TRAITS[ARCH_COUNT] = {
    [ARCH_LLAMA] = {.name = "llama", .window_key = true},
    [ARCH_QWEN2] = {.name = "qwen2", .rope_neox = true, .output_bias = true},
    [ARCH_QWEN3] = {.name = "qwen3", .rope_neox = true, .qk_norm = true},
    [ARCH_GEMMA2] = {.name = "gemma2", .rope_neox = true, .post_norms = true, .geglu = true, .embd_scale = true,
                     .always_tied = true, .window_key = true, .swa_period = 2, .swa_default = 4096,
                     .attn_softcap = 50.0f, .final_softcap = 30.0f, .final_softcap_key = true,
                     .q_scale_embd_layers = 46},
    [ARCH_GEMMA3] = {.name = "gemma3", .rope_neox = true, .qk_norm = true, .post_norms = true, .geglu = true,
                     .embd_scale = true, .window_key = true, .final_softcap_key = true, .swa_period = 6,
                     .rope_base_swa = 10000.0f,
                     .swa_unscaled = true, .q_scale_embd_layers = 62},
    [ARCH_PHI3] = {.name = "phi3", .rope_neox = true, .fused_gate_up = true, .output_bias = true},
    [ARCH_GRANITE] = {.name = "granite", .multipliers = true},
    [ARCH_QWEN3MOE] = {.name = "qwen3moe", .rope_neox = true, .qk_norm = true, .moe = true, .expert_width_key = true},
    [ARCH_GRANITEMOE] = {.name = "granitemoe", .multipliers = true, .moe = true},
    [ARCH_QWEN2MOE] = {.name = "qwen2moe", .rope_neox = true, .moe = true, .expert_width_key = true,
                       .experts_unnormalized = true, .shared_expert = true},
    // llama.cpp fixes the step at 4 (no GGUF key holds it)
    [ARCH_SMOLLM3] = {.name = "smollm3", .no_rope_step = 4},
    [ARCH_GEMMA] = {.name = "gemma", .rope_neox = true, .geglu = true, .embd_scale = true, .always_tied = true},
    [ARCH_GLM4] = {.name = "glm4", .post_norms = true, .fused_gate_up = true},
    // a window only with the key, then 3 local : 1 global by default, local layers' RoPE unscaled
    [ARCH_OLMO2] = {.name = "olmo2", .rope_neox = true, .qk_norm = true, .post_norms = true, .no_pre_norms = true, .qk_norm_whole = true,
                    .window_key = true, .swa_period = 4, .swa_unscaled = true},
    [ARCH_ERNIE4_5] = {.name = "ernie4_5"},
    [ARCH_EXAONE] = {.name = "exaone", .rope_neox = true},
    [ARCH_OLMOE] = {.name = "olmoe", .rope_neox = true, .qk_norm = true, .qk_norm_whole = true, .moe = true,
                    .experts_unnormalized = true},
    // vision-language models' text towers (the engine runs text; their vision encoders are not run)
    [ARCH_QWEN2VL] = {.name = "qwen2vl", .rope_neox = true, .output_bias = true, .mrope = true},
    [ARCH_QWEN3VL] = {.name = "qwen3vl", .rope_neox = true, .qk_norm = true, .mrope = true, .mrope_interleaved = true},
    [ARCH_QWEN3VLMOE] = {.name = "qwen3vlmoe", .rope_neox = true, .qk_norm = true, .mrope = true,
                         .mrope_interleaved = true, .moe = true, .expert_width_key = true},
    [ARCH_STARCODER2] = {.name = "starcoder2", .rope_neox = true, .layer_norm = true, .norm_bias = true,
                         .ffn_plain_gelu = true},
    [ARCH_STABLELM] = {.name = "stablelm", .rope_neox = true, .layer_norm = true, .norm_bias = true},
    [ARCH_PHI2] = {.name = "phi2", .rope_neox = true, .layer_norm = true, .norm_bias = true, .ffn_plain_gelu = true,
                   .parallel_residual = true, .output_bias = true},
    [ARCH_COMMAND_R] = {.name = "command-r", .layer_norm = true, .parallel_residual = true, .always_tied = true,
                        .logit_multiplier = true},
};

int model_arch_find(Str s) {
    for (int i = 0; i < ARCH_COUNT; i++)
        if (str_eq_c(s, ARCH_TRAITS[i].name)) return i;
    return -1;
}

// ---- metadata ----

// Reads "<arch>.<key>" as an integer; ERR_NOTFOUND when absent and !required is not an error.
static int meta_int(const GgufFile *f, const char *arch, const char *key, int64_t *out, bool required, char *err,
                  size_t err_len) {
    return gguf_meta_i64(f, arch, key, (int64_t)1 << 40, out, required, err, err_len);
}


static void str_copy(char *dst, size_t cap, Str s) {
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = 0;
}

// granite's multipliers, as llama.cpp reads them: logit_scale is required (logits are divided by
// it); embedding_scale, attention.scale (the q·k multiplier) and residual_scale are optional, and
// absent or 0 means none (the default 1/sqrt(head_dim) for attention). rope.scaling.finetuned
// false would mean no RoPE at all, which the engine does not run.
static int load_multipliers(Model *m, char *err, size_t err_len) {
    const GgufFile *f = &m->file;
    LlamaHparams *hp = &m->hp;
    const char *a = m->arch;
    int rc;
    if ((rc = gguf_meta_f32(f, a, "logit_scale", &hp->logit_scale, true, err, err_len))) return rc;
    if (!(isfinite(hp->logit_scale) && hp->logit_scale != 0.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s.logit_scale = %g must be finite and not 0", a,
                       (double)hp->logit_scale);
    static const char *const keys[3] = {"embedding_scale", "attention.scale", "residual_scale"};
    float *const dst[3] = {&hp->embd_scale, &hp->attn_scale, &hp->residual_scale};
    for (int i = 0; i < 3; i++) {
        float v = 0.0f;
        if ((rc = gguf_meta_f32(f, a, keys[i], &v, false, err, err_len)) && rc != ERR_NOTFOUND) return rc;
        if (!isfinite(v)) return err_set(err, err_len, ERR_FORMAT, "%s.%s = %g must be finite", a, keys[i], (double)v);
        if (v != 0.0f) *dst[i] = v;
    }
    char key[128];
    bool finetuned = true;
    snprintf(key, sizeof key, "%s.rope.scaling.finetuned", a);
    if (gguf_get_bool(f, key, &finetuned) == 0 && !finetuned)
        return err_set(err, err_len, ERR_UNSUPP, "%s = false (a model without RoPE) is not supported", key);
    return 0;
}

// The keys only some architectures have (windows, soft-caps, RoPE extras), with llama.cpp's
// defaults from the trait table.
static int load_arch_hparams(Model *m, char *err, size_t err_len) {
    const GgufFile *f = &m->file;
    LlamaHparams *hp = &m->hp;
    const ArchTraits *at = &ARCH_TRAITS[hp->arch];
    const char *a = m->arch;
    int rc;
    hp->n_ctx_orig = hp->n_ctx_train;
    if ((rc = meta_int(f, a, "rope.scaling.original_context_length", &hp->n_ctx_orig, false, err, err_len)) &&
        rc != ERR_NOTFOUND)
        return rc;
    if (hp->n_ctx_orig <= 0) hp->n_ctx_orig = hp->n_ctx_train;
    hp->rope_attn_factor = 1.0f;
    if ((rc = gguf_meta_f32(f, a, "rope.scaling.attn_factor", &hp->rope_attn_factor, false, err, err_len)) &&
        rc != ERR_NOTFOUND)
        return rc;
    if (!(hp->rope_attn_factor > 0.0f && hp->rope_attn_factor < 16.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s.rope.scaling.attn_factor = %g must be in (0, 16)", a,
                       (double)hp->rope_attn_factor);
    hp->rope_base_swa = at->rope_base_swa > 0 ? at->rope_base_swa : hp->rope_base;
    hp->rope_freq_scale_swa = at->swa_unscaled ? 1.0f : hp->rope_freq_scale;
    if ((rc = gguf_meta_f32(f, a, "rope.freq_base_swa", &hp->rope_base_swa, false, err, err_len)) && rc != ERR_NOTFOUND)
        return rc;
    if (!(hp->rope_base_swa > 1.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s.rope.freq_base_swa = %g must be > 1", a, (double)hp->rope_base_swa);

    // Sliding window: gemma2 has one by default, gemma3 and llama (Mistral) only with the key;
    // phi3's key is ignored, as llama.cpp does (its converters wrote windows the models do not use).
    hp->n_swa = at->swa_default;
    int64_t period = at->swa_period;
    if (at->window_key) {
        if ((rc = meta_int(f, a, "attention.sliding_window", &hp->n_swa, false, err, err_len)) && rc != ERR_NOTFOUND)
            return rc;
        // The pattern is a period, or (newer converters) one bool per layer: true = local.
        char key[128];
        const GgufKv *arr;
        snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", a);
        if (gguf_get_arr(f, key, GGUF_BOOL, &arr) == 0) {
            if (arr->arr_len != (uint64_t)hp->n_layer)
                return err_set(err, err_len, ERR_FORMAT, "%s has %llu entries for %lld layers", key,
                               (unsigned long long)arr->arr_len, (long long)hp->n_layer);
            hp->swa_layers = arr->value;
        } else if ((rc = meta_int(f, a, "attention.sliding_window_pattern", &period, false, err, err_len)) &&
                   rc != ERR_NOTFOUND) {
            return rc;
        }
    }
    if (period < 0 || period > (int64_t)1 << 20)
        return err_set(err, err_len, ERR_FORMAT, "%s.attention.sliding_window_pattern = %lld is out of range", a,
                       (long long)period);
    hp->swa_period = period;

    hp->attn_softcap = at->attn_softcap;
    hp->final_softcap = at->final_softcap;
    if (at->attn_softcap > 0 &&
        (rc = gguf_meta_f32(f, a, "attn_logit_softcapping", &hp->attn_softcap, false, err, err_len)) && rc != ERR_NOTFOUND)
        return rc;
    if (at->final_softcap_key &&
        (rc = gguf_meta_f32(f, a, "final_logit_softcapping", &hp->final_softcap, false, err, err_len)) &&
        rc != ERR_NOTFOUND)
        return rc;
    if (!(hp->attn_softcap >= 0.0f && hp->final_softcap >= 0.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s: soft-capping values must not be negative", a);

    int64_t q_len = hp->n_layer == at->q_scale_embd_layers ? hp->n_embd / hp->n_head : hp->head_dim;
    hp->attn_scale = 1.0f / sqrtf((float)q_len);
    hp->embd_scale = at->embd_scale ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->residual_scale = 1.0f;
    hp->logit_scale = 1.0f;
    if (at->logit_multiplier) {  // command-r: logits times logit_scale (0 or absent: none)
        float v = 0.0f;
        if ((rc = gguf_meta_f32(f, a, "logit_scale", &v, false, err, err_len)) && rc != ERR_NOTFOUND) return rc;
        if (!isfinite(v)) return err_set(err, err_len, ERR_FORMAT, "%s.logit_scale = %g must be finite", a, (double)v);
        if (v != 0.0f) hp->logit_scale = 1.0f / v, hp->logit_multiplier = v;
    }
    if (at->mrope) {  // M-RoPE's sections, required as llama.cpp requires them
        char key[128];
        const GgufKv *arr;
        snprintf(key, sizeof key, "%s.rope.dimension_sections", a);
        if (gguf_get_arr(f, key, GGUF_INT32, &arr) != 0 || arr->arr_len < 1 || arr->arr_len > 4)
            return err_set(err, err_len, ERR_FORMAT, "%s is missing or not an array of 1 to 4 int32", key);
        int64_t sum = 0;
        for (uint64_t i = 0; i < arr->arr_len; i++) {
            memcpy(&hp->mrope_sections[i], arr->value + 4 * i, 4);
            if (hp->mrope_sections[i] < 0)
                return err_set(err, err_len, ERR_FORMAT, "%s[%llu] is negative", key, (unsigned long long)i);
            sum += hp->mrope_sections[i];
        }
        if (sum < 1 || sum > hp->n_rot / 2)
            return err_set(err, err_len, ERR_FORMAT, "%s sums to %lld: must be 1 to the %lld rotated pairs", key,
                           (long long)sum, (long long)(hp->n_rot / 2));
    }
    return at->multipliers ? load_multipliers(m, err, err_len) : 0;
}

// A mixture of experts' sizes, as llama.cpp reads them: expert_count (required by the mixture
// architectures; on llama, its presence makes a Mixtral) and expert_used_count; an expert's width
// is feed_forward_length (llama, granitemoe) or (qwen3moe) expert_feed_forward_length, else
// feed_forward_length / expert_used_count. The chosen
// experts' weights are renormalized (llama, qwen3moe, granitemoe; not qwen2moe, olmoe). A shared expert
// runs for every row when expert_shared_feed_forward_length > 0 (Granite's "MoE shared"), and
// always on qwen2moe (feed_forward_length wide without the key). expert_weights_scale, which no
// supported architecture uses, is refused unless 0 or 1.
#define MAX_EXPERTS 1024
#define MAX_EXPERTS_USED 64
static int load_experts(Model *m, char *err, size_t err_len) {
    const GgufFile *f = &m->file;
    LlamaHparams *hp = &m->hp;
    const char *a = m->arch;
    int rc;
    if ((rc = meta_int(f, a, "expert_count", &hp->n_expert, ARCH_TRAITS[hp->arch].moe, err, err_len))) {
        hp->n_expert = 0;
        return rc == ERR_NOTFOUND ? 0 : rc;  // a dense llama
    }
    if ((rc = meta_int(f, a, "expert_used_count", &hp->n_expert_used, true, err, err_len))) return rc;
    const ArchTraits *at = &ARCH_TRAITS[hp->arch];
    float wscale = 0.0f;
    if ((rc = gguf_meta_f32(f, a, "expert_weights_scale", &wscale, false, err, err_len)) && rc != ERR_NOTFOUND) return rc;
    if (wscale != 0.0f && wscale != 1.0f)
        return err_set(err, err_len, ERR_UNSUPP, "%s.expert_weights_scale = %g is not supported by the engine", a,
                       (double)wscale);
    if (hp->n_expert < 1 || hp->n_expert > MAX_EXPERTS || hp->n_expert_used < 1 ||
        hp->n_expert_used > hp->n_expert || hp->n_expert_used > MAX_EXPERTS_USED)
        return err_set(err, err_len, ERR_FORMAT, "%s.expert_count = %lld and expert_used_count = %lld must satisfy "
                       "1 <= used <= count, count <= %d, used <= %d", a, (long long)hp->n_expert,
                       (long long)hp->n_expert_used, MAX_EXPERTS, MAX_EXPERTS_USED);
    if (!at->expert_width_key) {
        hp->n_ff_exp = hp->n_ff;
    } else if ((rc = meta_int(f, a, "expert_feed_forward_length", &hp->n_ff_exp, false, err, err_len)) == ERR_NOTFOUND) {
        hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
    } else if (rc) {
        return rc;
    }
    if (hp->n_ff_exp <= 0)
        return err_set(err, err_len, ERR_FORMAT, "%s.expert_feed_forward_length is missing or not positive "
                       "(nor can feed_forward_length / expert_used_count stand in for it)", a);
    if (hp->n_ff <= 0) hp->n_ff = hp->n_ff_exp;  // the buffers' FFN width when the file gives none
    hp->n_ff_shexp = 0;
    rc = meta_int(f, a, "expert_shared_feed_forward_length", &hp->n_ff_shexp, false, err, err_len);
    if (rc == ERR_NOTFOUND) hp->n_ff_shexp = at->shared_expert ? hp->n_ff : 0;
    else if (rc) return rc;
    if (hp->n_ff_shexp < 0 || (at->shared_expert && hp->n_ff_shexp == 0))
        return err_set(err, err_len, ERR_FORMAT, "%s.expert_shared_feed_forward_length = %lld must be positive", a,
                       (long long)hp->n_ff_shexp);
    hp->expert_weights_norm = !at->experts_unnormalized;
    return 0;
}

static int load_hparams(Model *m, char *err, size_t err_len) {
    const GgufFile *f = &m->file;
    LlamaHparams *hp = &m->hp;
    const char *a = m->arch;
    int rc;
    bool moe = ARCH_TRAITS[hp->arch].moe;  // a mixture of experts may have no dense FFN width
    char ekey[128];
    snprintf(ekey, sizeof ekey, "%s.expert_count", a);
    if (hp->arch == ARCH_LLAMA && gguf_find_kv(f, ekey)) moe = true;  // Mixtral
    if ((rc = meta_int(f, a, "embedding_length", &hp->n_embd, true, err, err_len)) ||
        (rc = meta_int(f, a, "block_count", &hp->n_layer, true, err, err_len)) ||
        (rc = meta_int(f, a, "feed_forward_length", &hp->n_ff, !moe, err, err_len)) ||
        (rc = meta_int(f, a, "attention.head_count", &hp->n_head, true, err, err_len)) ||
        (rc = meta_int(f, a, "context_length", &hp->n_ctx_train, true, err, err_len)) ||
        (rc = gguf_meta_f32(f, a, ARCH_TRAITS[hp->arch].layer_norm ? "attention.layer_norm_epsilon"
                                                                     : "attention.layer_norm_rms_epsilon",
                            &hp->norm_eps, true, err, err_len)))
        return rc;
    if (moe && (rc = load_experts(m, err, err_len))) return rc;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 || hp->n_ctx_train <= 0)
        return err_set(err, err_len, ERR_FORMAT, "%s: embedding_length, block_count, feed_forward_length, "
                       "head_count and context_length must be positive", a);
    rc = meta_int(f, a, "attention.head_count_kv", &hp->n_head_kv, false, err, err_len);
    if (rc == ERR_NOTFOUND) hp->n_head_kv = hp->n_head;
    else if (rc) return rc;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv)
        return err_set(err, err_len, ERR_FORMAT, "%s.attention.head_count_kv = %lld must divide head_count = %lld",
                       a, (long long)hp->n_head_kv, (long long)hp->n_head);
    rc = meta_int(f, a, "attention.key_length", &hp->head_dim, false, err, err_len);
    if (rc == ERR_NOTFOUND) {
        if (hp->n_embd % hp->n_head)
            return err_set(err, err_len, ERR_FORMAT, "%s.embedding_length %lld is not a multiple of head_count %lld",
                           a, (long long)hp->n_embd, (long long)hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    } else if (rc) {
        return rc;
    }
    int64_t v_len = hp->head_dim;
    rc = meta_int(f, a, "attention.value_length", &v_len, false, err, err_len);
    if (rc && rc != ERR_NOTFOUND) return rc;
    if (hp->head_dim <= 0 || hp->head_dim > 1024 || hp->head_dim % 2 || v_len != hp->head_dim)
        return err_set(err, err_len, ERR_UNSUPP, "%s: head dimension %lld (value %lld) unsupported: must be even, "
                       "at most 1024, keys and values alike", a, (long long)hp->head_dim, (long long)v_len);
    rc = meta_int(f, a, "rope.dimension_count", &hp->n_rot, false, err, err_len);
    if (rc == ERR_NOTFOUND) hp->n_rot = hp->head_dim;
    else if (rc) return rc;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return err_set(err, err_len, ERR_FORMAT, "%s.rope.dimension_count = %lld must be even and at most the head "
                       "dimension %lld", a, (long long)hp->n_rot, (long long)hp->head_dim);
    rc = gguf_meta_f32(f, a, "rope.freq_base", &hp->rope_base, false, err, err_len);
    if (rc == ERR_NOTFOUND) hp->rope_base = 10000.0f;
    else if (rc) return rc;
    if (!(hp->rope_base > 1.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s.rope.freq_base = %g must be > 1", a, (double)hp->rope_base);
    if (!(hp->norm_eps > 0.0f && hp->norm_eps < 1.0f))
        return err_set(err, err_len, ERR_FORMAT, "%s.attention.layer_norm_rms_epsilon = %g must be in (0, 1)", a,
                       (double)hp->norm_eps);

    // RoPE scaling: "linear" (factor f: positions divided by f; llama.cpp's default when the type
    // is absent, and the older rope.scale_linear key means the same), "none" (no factor), or
    // "longrope" (phi3: the factor, if any, as linear, plus the rope_factors tensors). Other kinds
    // (yarn, ...) are refused by name.
    float factor = 1.0f;
    char key[128];
    Str type;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_get_str(f, key, &type) == 0) {
        if (str_eq_c(type, "linear") || str_eq_c(type, "longrope")) {
            rc = gguf_meta_f32(f, a, "rope.scaling.factor", &factor, false, err, err_len);
            if (rc && rc != ERR_NOTFOUND) return rc;
        } else if (!str_eq_c(type, "none")) {
            return err_set(err, err_len, ERR_UNSUPP,
                           "%s.rope.scaling.type '%.*s' is not supported (none, linear, longrope)", a, (int)type.len,
                           type.ptr);
        }
    } else {
        rc = gguf_meta_f32(f, a, "rope.scale_linear", &factor, false, err, err_len);
        if (rc && rc != ERR_NOTFOUND) return rc;
    }
    if (factor == 0.0f) factor = 1.0f;  // llama.cpp treats a zero factor as "no scaling"
    if (!(factor >= 1.0f / 1024 && factor <= 1024.0f))
        return err_set(err, err_len, ERR_FORMAT, "rope scaling factor %g out of range", (double)factor);
    hp->rope_freq_scale = 1.0f / factor;
    return load_arch_hparams(m, err, err_len);
}

// ---- tensors ----

static int weight(const Model *m, const char *name, int64_t cols, int64_t rows, WeightView *out,
                  char *err, size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return err_set(err, err_len, ERR_FORMAT, "missing tensor '%s'", name);
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': shape [%lld, %lld] (%u dims), expected [%lld, %lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], t->n_dims, (long long)cols, (long long)rows);
    const QuantTraits *tr = quant_traits((uint32_t)t->type);
    if (!tr || !tr->supported)
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': type %s is not supported (see `rightsize gguf info`)",
                       name, tr ? tr->name : "unknown");
    size_t row_bytes = quant_row_bytes(t->type, cols);
    if (!row_bytes || t->nbytes < row_bytes * (size_t)rows)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': %zu bytes do not hold [%lld, %lld] of %s", name,
                       t->nbytes, (long long)cols, (long long)rows, tr->name);
    *out = (WeightView){.type = t->type, .rows = rows, .cols = cols, .data = t->data};
    return 0;
}

// A 3-D tensor [cols, rows, n] (a mixture's experts) as n views of (rows, cols), expert e at
// rows e·rows.. of the data.
static int weight_experts(const Model *m, const char *name, int64_t cols, int64_t rows, int64_t n, WeightView *out,
                          char *err, size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return err_set(err, err_len, ERR_FORMAT, "missing tensor '%s'", name);
    if (t->n_dims != 3 || t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != n)
        return err_set(err, err_len, ERR_FORMAT,
                       "tensor '%s': shape [%lld, %lld, %lld] (%u dims), expected [%lld, %lld, %lld]", name,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)(t->n_dims > 2 ? t->ne[2] : 1), t->n_dims,
                       (long long)cols, (long long)rows, (long long)n);
    const QuantTraits *tr = quant_traits((uint32_t)t->type);
    if (!tr || !tr->supported)
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': type %s is not supported (see `rightsize gguf info`)",
                       name, tr ? tr->name : "unknown");
    size_t row_bytes = quant_row_bytes(t->type, cols), expert_bytes = row_bytes * (size_t)rows;
    if (!row_bytes || t->nbytes / (size_t)n < expert_bytes)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': %zu bytes do not hold [%lld, %lld, %lld] of %s", name,
                       t->nbytes, (long long)cols, (long long)rows, (long long)n, tr->name);
    for (int64_t e = 0; e < n; e++)
        out[e] = (WeightView){.type = t->type, .rows = rows, .cols = cols,
                              .data = (const uint8_t *)t->data + expert_bytes * (size_t)e};
    return 0;
}

// A 1-D float vector of n elements: F32 is used in place, F16/BF16 converted into *spare.
static int vector(const Model *m, const char *name, int64_t n, const float **out, float **spare,
                  char *err, size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return err_set(err, err_len, ERR_FORMAT, "missing tensor '%s'", name);
    if (t->n_dims != 1 || t->ne[0] != n)
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s': shape [%lld] (%u dims), expected [%lld]", name,
                       (long long)t->ne[0], t->n_dims, (long long)n);
    if (t->type == QT_F32 && t->nbytes >= (size_t)n * 4 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = t->data;
        return 0;
    }
    if ((t->type != QT_F16 && t->type != QT_BF16 && t->type != QT_F32) || t->nbytes < quant_row_bytes(t->type, n))
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': a vector must be f32, f16 or bf16", name);
    quant_dequantize_row(t->type, t->data, *spare, n);
    *out = *spare;
    *spare += n;
    return 0;
}

// vector() for a tensor the model may lack: *out stays NULL when it is absent.
static int opt_vector(const Model *m, const char *name, int64_t n, const float **out, float **spare,
                      char *err, size_t err_len) {
    *out = NULL;
    return gguf_find_tensor(&m->file, name) ? vector(m, name, n, out, spare, err, err_len) : 0;
}

// A view of rows [row0, row0 + rows) of a matrix: a fused tensor's part.
static WeightView weight_part(const WeightView *w, int64_t row0, int64_t rows) {
    WeightView p = *w;
    p.rows = rows;
    p.data = (const uint8_t *)w->data + quant_row_bytes(w->type, w->cols) * (size_t)row0;
    return p;
}

// RoPE frequency divisors (rope_freqs, rope_factors_long/short): f32 [n_rot/2], or absent.
static int rope_factors(const Model *m, const char *name, const float **out, char *err, size_t err_len) {
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    int64_t n = m->hp.n_rot / 2;
    if (!t) return 0;
    if (t->type != QT_F32 || t->n_dims != 1 || t->ne[0] != n || t->nbytes < (size_t)n * 4 ||
        (uintptr_t)t->data % sizeof(float))
        return err_set(err, err_len, ERR_FORMAT, "tensor '%s' must be f32 [%lld]", name, (long long)n);
    *out = t->data;
    for (int64_t i = 0; i < n; i++)
        if (!((*out)[i] > 0.0f))
            return err_set(err, err_len, ERR_FORMAT, "tensor '%s' element %lld = %g must be positive", name,
                           (long long)i, (double)(*out)[i]);
    return 0;
}

// Layer l's tensors: attention as attn_qkv (fused, with an optional bias) or attn_q/k/v (each
// with an optional bias), the FFN as ffn_gate + ffn_up or (phi3) one ffn_up holding both, and
// the norms the architecture has.
static int load_layer(Model *m, int64_t l, float **spare, char *err, size_t err_len) {
    const LlamaHparams *hp = &m->hp;
    const ArchTraits *at = &ARCH_TRAITS[hp->arch];
    LlamaLayer *L = &m->layers[l];
    int64_t d = hp->n_embd, q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    char n[96];
    int rc;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%lld." suffix, (long long)l), n)
    if (!at->no_pre_norms && (rc = vector(m, NAME("attn_norm.weight"), d, &L->attn_norm, spare, err, err_len)))
        return rc;
    if (at->layer_norm && ((at->norm_bias && (rc = vector(m, NAME("attn_norm.bias"), d, &L->attn_norm_b, spare, err, err_len))) ||
                           (at->norm_bias && !at->parallel_residual &&
                            (rc = vector(m, NAME("ffn_norm.bias"), d, &L->ffn_norm_b, spare, err, err_len))) ||
                           (rc = opt_vector(m, NAME("attn_output.bias"), d, &L->bo, spare, err, err_len)) ||
                           (rc = opt_vector(m, NAME("ffn_up.bias"), hp->n_ff, &L->b_up, spare, err, err_len)) ||
                           (rc = opt_vector(m, NAME("ffn_down.bias"), d, &L->b_down, spare, err, err_len))))
        return rc;
    // StableLM 2 12B's per-head q/k LayerNorms and parallel residual (no ffn_norm) are not run
    if (at->layer_norm && !at->qk_norm && gguf_find_tensor(&m->file, NAME("attn_q_norm.weight")))
        return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': a per-head q/k LayerNorm is not supported by the engine", n);
    if (gguf_find_tensor(&m->file, NAME("attn_qkv.weight"))) {
        WeightView qkv;
        const float *b;
        if ((rc = weight(m, n, d, q_dim + 2 * kv_dim, &qkv, err, err_len)) ||
            (rc = opt_vector(m, NAME("attn_qkv.bias"), q_dim + 2 * kv_dim, &b, spare, err, err_len)))
            return rc;
        L->wq = weight_part(&qkv, 0, q_dim);
        L->wk = weight_part(&qkv, q_dim, kv_dim);
        L->wv = weight_part(&qkv, q_dim + kv_dim, kv_dim);
        if (b) L->bq = b, L->bk = b + q_dim, L->bv = b + q_dim + kv_dim;
    } else if ((rc = weight(m, NAME("attn_q.weight"), d, q_dim, &L->wq, err, err_len)) ||
               (rc = weight(m, NAME("attn_k.weight"), d, kv_dim, &L->wk, err, err_len)) ||
               (rc = weight(m, NAME("attn_v.weight"), d, kv_dim, &L->wv, err, err_len)) ||
               (rc = opt_vector(m, NAME("attn_q.bias"), q_dim, &L->bq, spare, err, err_len)) ||
               (rc = opt_vector(m, NAME("attn_k.bias"), kv_dim, &L->bk, spare, err, err_len)) ||
               (rc = opt_vector(m, NAME("attn_v.bias"), kv_dim, &L->bv, spare, err, err_len))) {
        return rc;
    }
    int64_t qn = at->qk_norm_whole ? q_dim : hp->head_dim, kn = at->qk_norm_whole ? kv_dim : hp->head_dim;
    if (at->qk_norm && ((rc = vector(m, NAME("attn_q_norm.weight"), qn, &L->q_norm, spare, err, err_len)) ||
                        (rc = vector(m, NAME("attn_k_norm.weight"), kn, &L->k_norm, spare, err, err_len))))
        return rc;
    if ((rc = weight(m, NAME("attn_output.weight"), q_dim, d, &L->wo, err, err_len)) ||
        (!at->no_pre_norms && !at->parallel_residual &&
         (rc = vector(m, NAME("ffn_norm.weight"), d, &L->ffn_norm, spare, err, err_len))))
        return rc;
    if (hp->n_expert) {  // router and experts instead of the dense FFN
        int64_t E = hp->n_expert, f = hp->n_ff_exp;
        L->exp_gate = m->experts + l * 3 * E;
        L->exp_up = L->exp_gate + E;
        L->exp_down = L->exp_up + E;
        if ((rc = weight(m, NAME("ffn_gate_inp.weight"), d, E, &L->router, err, err_len)) ||
            (rc = weight_experts(m, NAME("ffn_gate_exps.weight"), d, f, E, L->exp_gate, err, err_len)) ||
            (rc = weight_experts(m, NAME("ffn_up_exps.weight"), d, f, E, L->exp_up, err, err_len)) ||
            (rc = weight_experts(m, NAME("ffn_down_exps.weight"), f, d, E, L->exp_down, err, err_len)))
            return rc;
        int64_t s = hp->n_ff_shexp;
        if (s && ((rc = weight(m, NAME("ffn_gate_shexp.weight"), d, s, &L->sh_gate, err, err_len)) ||
                  (rc = weight(m, NAME("ffn_up_shexp.weight"), d, s, &L->sh_up, err, err_len)) ||
                  (rc = weight(m, NAME("ffn_down_shexp.weight"), s, d, &L->sh_down, err, err_len))))
            return rc;
        if (s && at->shared_expert && (rc = vector(m, NAME("ffn_gate_inp_shexp.weight"), d, &L->sh_gate_inp, spare, err, err_len)))
            return rc;
    } else if ((rc = weight(m, NAME("ffn_down.weight"), hp->n_ff, d, &L->w_down, err, err_len))) {
        return rc;
    }
    if (at->post_norms &&
        ((rc = vector(m, NAME("post_attention_norm.weight"), d, &L->attn_post_norm, spare, err, err_len)) ||
         (rc = vector(m, NAME("post_ffw_norm.weight"), d, &L->ffn_post_norm, spare, err, err_len))))
        return rc;
    if (!hp->n_expert && at->fused_gate_up) {
        WeightView gate_up;
        if ((rc = weight(m, NAME("ffn_up.weight"), d, 2 * hp->n_ff, &gate_up, err, err_len))) return rc;
        L->w_gate = weight_part(&gate_up, 0, hp->n_ff);
        L->w_up = weight_part(&gate_up, hp->n_ff, hp->n_ff);
    } else if (!hp->n_expert && at->ffn_plain_gelu) {
        if ((rc = weight(m, NAME("ffn_up.weight"), d, hp->n_ff, &L->w_up, err, err_len))) return rc;
    } else if (!hp->n_expert && ((rc = weight(m, NAME("ffn_gate.weight"), d, hp->n_ff, &L->w_gate, err, err_len)) ||
                            (rc = weight(m, NAME("ffn_up.weight"), d, hp->n_ff, &L->w_up, err, err_len)))) {
        return rc;
    }
    // Biases the forward pass has no place for (some llama fine-tunes and granite files may carry
    // them): refused rather than ignored, which would give wrong logits without a word.
    // (the LayerNorm architectures apply theirs but for a gate's, which they have no gate for)
    static const char *const unapplied[4] = {"ffn_gate.bias", "attn_output.bias", "ffn_up.bias", "ffn_down.bias"};
    for (int i = 0; i < (at->layer_norm ? 1 : 4); i++) {
        snprintf(n, sizeof n, "blk.%lld.%s", (long long)l, unapplied[i]);
        if (gguf_find_tensor(&m->file, n))
            return err_set(err, err_len, ERR_UNSUPP, "tensor '%s': this bias is not supported by the engine", n);
    }
#undef NAME
    return 0;
}

static void summarize(Model *m) {
    size_t by_type[QT_COUNT] = {0};
    for (uint64_t i = 0; i < m->file.n_tensors; i++) {
        const GgufTensor *t = &m->file.tensors[i];
        int64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) n *= t->ne[d];
        m->n_params += n;
        m->weight_bytes += t->nbytes;
        if ((uint32_t)t->type < QT_COUNT && t->n_dims >= 2) by_type[t->type] += t->nbytes;
    }
    int best = QT_F32;
    for (int i = 0; i < QT_COUNT; i++)
        if (by_type[i] > by_type[best]) best = i;
    snprintf(m->quant, sizeof m->quant, "%s", QUANT_TRAITS[best].name ? QUANT_TRAITS[best].name : "?");
}

static int load_opened(Model *m, const char *path, char *err, size_t err_len);

// Every matrix the forward pass multiplies (token_embd is only looked up, never multiplied).
static int matrices(Model *m, WeightView **out) {
    int n = 0;
    for (int64_t l = 0; l < m->hp.n_layer; l++) {
        LlamaLayer *L = &m->layers[l];
        WeightView *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down, &L->router,
                            &L->sh_gate, &L->sh_up, &L->sh_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) out[n++] = ws[i];
    }
    for (int64_t i = 0; m->experts && i < m->hp.n_layer * 3 * m->hp.n_expert; i++) out[n++] = &m->experts[i];
    out[n++] = &m->output;
    return n;
}

// Copies the matrices into the kernel set's packed layout (see model.h). The mapping's pages of a
// packed matrix are dropped from this process (MADV_DONTNEED: they are clean file pages, read
// back only if touched again), so resident memory holds one copy; a tied output keeps its pages,
// which embedding lookups still read.
int model_pack(Model *m, ThreadPool *tp, char *err, size_t err_len) {
    if (m->packed) return 0;  // done already
    int cap = (int)(m->hp.n_layer * (11 + 3 * m->hp.n_expert)) + 1;
    WeightView **ws = malloc((size_t)cap * sizeof *ws);
    if (!ws) return err_set(err, err_len, ERR_NOMEM, "out of memory packing %s's weights", m->name);
    int n = matrices(m, ws);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += mm_pack_bytes(ws[i]);
    if (total == 0) {
        free(ws);
        return 0;
    }
    m->packed = big_alloc(total);
    if (!m->packed) {
        free(ws);
        return err_set(err, err_len, ERR_NOMEM, "out of memory packing %s's weights (%zu MiB)", m->name, total >> 20);
    }
    m->packed_bytes = total;
    size_t off = 0, page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < n; i++) {
        size_t b = mm_pack_bytes(ws[i]);
        if (!b) continue;
        mm_pack(tp, ws[i], (uint8_t *)m->packed + off);
        off += b;
        if (!m->file.mapped || ws[i]->data == m->tok_embd.data) continue;
        uintptr_t lo = ((uintptr_t)ws[i]->data + page - 1) & ~(uintptr_t)(page - 1);
        uintptr_t hi = ((uintptr_t)ws[i]->data + quant_row_bytes(ws[i]->type, ws[i]->cols) * (size_t)ws[i]->rows) &
                       ~(uintptr_t)(page - 1);
        if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    free(ws);
    return 0;
}

int model_load(Model *m, const char *path, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    int rc = gguf_open(&m->file, path, err, err_len);
    return rc ? rc : load_opened(m, path, err, err_len);
}

int model_load_mem(Model *m, const void *data, size_t size, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    int rc = gguf_open_mem(&m->file, data, size, err, err_len);
    return rc ? rc : load_opened(m, "(memory)", err, err_len);
}

// Everything after the file is open; on failure frees what it took, the file included.
static int load_opened(Model *m, const char *path, char *err, size_t err_len) {
    int rc;
    Str s;
    if (gguf_get_str(&m->file, "general.architecture", &s)) {
        rc = err_set(err, err_len, ERR_FORMAT, "%s: no general.architecture key", path);
        goto fail;
    }
    str_copy(m->arch, sizeof m->arch, s);
    // Everything this engine cannot run (architecture, tensor types, tokenizer) in one message.
    int arch = model_arch_find(s);
    char arch_err[256];
    snprintf(arch_err, sizeof arch_err, "unsupported architecture '%.*s' (supported: %s)", (int)s.len, s.ptr,
             MODEL_ARCH_NAMES);
    if ((rc = model_check_support(&m->file, arch < 0 ? arch_err : NULL, err, err_len))) goto fail;
    m->hp.arch = (ModelArch)arch;
    if (gguf_get_str(&m->file, "general.name", &s) == 0) {
        str_copy(m->name, sizeof m->name, s);
    } else {
        const char *base = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
    }
    if ((rc = load_hparams(m, err, err_len))) goto fail;

    LlamaHparams *hp = &m->hp;
    const ArchTraits *at = &ARCH_TRAITS[hp->arch];
    const GgufTensor *te = gguf_find_tensor(&m->file, "token_embd.weight");
    if (!te || te->n_dims != 2) {
        rc = err_set(err, err_len, ERR_FORMAT, "missing 2-D tensor 'token_embd.weight'");
        goto fail;
    }
    hp->n_vocab = te->ne[1];
    if (hp->n_vocab < 1 || hp->n_vocab > INT32_MAX) {
        rc = err_set(err, err_len, ERR_FORMAT, "token_embd.weight has %lld rows; a vocabulary needs 1..2^31-1",
                     (long long)hp->n_vocab);
        goto fail;
    }
    if ((rc = weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err, err_len))) goto fail;
    if (!at->always_tied && gguf_find_tensor(&m->file, "output.weight")) {
        if ((rc = weight(m, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err, err_len))) goto fail;
    } else {
        m->output = m->tok_embd;  // tied embeddings
    }

    // Every layer holds at least 6 tensors and every norm n_embd floats of file data: a
    // block_count or an embedding width the file cannot back is refused before anything is sized
    // from it.
    if ((uint64_t)hp->n_layer > m->file.n_tensors / 6 || (uint64_t)hp->n_embd > m->file.size / sizeof(float)) {
        rc = err_set(err, err_len, ERR_FORMAT,
                     "%s.block_count %lld and embedding_length %lld need more tensors or data than the file has "
                     "(%llu tensors, %zu bytes)",
                     m->arch, (long long)hp->n_layer, (long long)hp->n_embd, (unsigned long long)m->file.n_tensors,
                     m->file.size);
        goto fail;
    }
    int64_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    // Room for every vector the file may store as F16/BF16: per layer 4 norms, their 2 LayerNorm
    // biases, a shared expert's gate, the attn_output and FFN biases, 2 head (or whole-vector)
    // norms and the q/k/v biases; the output norm and its bias, the output bias and 3 RoPE factor
    // vectors.
    int64_t per_layer = 9 * hp->n_embd + hp->n_ff + 2 * hp->head_dim + 2 * q_dim + 3 * kv_dim;
    int64_t n_owned = hp->n_layer * per_layer + 2 * hp->n_embd + hp->n_vocab + 3 * hp->n_rot;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    m->owned = malloc((size_t)n_owned * sizeof(float));
    if (hp->n_expert) m->experts = calloc((size_t)(hp->n_layer * 3 * hp->n_expert), sizeof *m->experts);
    if (!m->layers || !m->owned || (hp->n_expert && !m->experts)) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory loading %s", path);
        goto fail;
    }
    float *spare = m->owned;
    if ((rc = vector(m, "output_norm.weight", hp->n_embd, &m->output_norm, &spare, err, err_len))) goto fail;
    if (at->norm_bias && (rc = vector(m, "output_norm.bias", hp->n_embd, &m->output_norm_b, &spare, err, err_len)))
        goto fail;
    if (at->output_bias && (rc = opt_vector(m, "output.bias", hp->n_vocab, &m->output_b, &spare, err, err_len)))
        goto fail;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        m->layers[l].swa = hp->n_swa > 0 && (hp->swa_layers ? hp->swa_layers[l] != 0
                                                            : hp->swa_period == 0 || l % hp->swa_period < hp->swa_period - 1);
        m->layers[l].no_rope = at->no_rope_step > 0 && (l + 1) % at->no_rope_step == 0;
        if ((rc = load_layer(m, l, &spare, err, err_len))) goto fail;
    }
    if ((rc = rope_factors(m, "rope_freqs.weight", &m->rope_freqs, err, err_len)) ||
        (rc = rope_factors(m, "rope_factors_long.weight", &m->rope_long, err, err_len)) ||
        (rc = rope_factors(m, "rope_factors_short.weight", &m->rope_short, err, err_len)))
        goto fail;
    summarize(m);
    return 0;
fail:
    model_free(m);
    return rc;
}

void model_free(Model *m) {
    gguf_close(&m->file);
    free(m->layers);
    free(m->experts);
    free(m->owned);
    free(m->packed);
    memset(m, 0, sizeof *m);
}
