// mix.c — llama-quantize's per-tensor type rules for each file type (see mix.h).
#include "quantize/mix.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"

// llama.cpp's LLAMA_FTYPE_* numbering (include/llama.h).
static const QuantizeFtype FTYPES[] = {
    {"f32", 0, QT_F32},       {"f16", 1, QT_F16},       {"bf16", 32, QT_BF16},    {"q8_0", 7, QT_Q8_0},
    {"q4_0", 2, QT_Q4_0},     {"q4_1", 3, QT_Q4_1},     {"q5_0", 8, QT_Q5_0},     {"q5_1", 9, QT_Q5_1},
    {"iq4_nl", 25, QT_IQ4_NL}, {"q2_k", 10, QT_Q2_K},   {"q3_k_s", 11, QT_Q3_K},  {"q3_k_m", 12, QT_Q3_K},
    {"q3_k_l", 13, QT_Q3_K},  {"q4_k_s", 14, QT_Q4_K},  {"q4_k_m", 15, QT_Q4_K},  {"q5_k_s", 16, QT_Q5_K},
    {"q5_k_m", 17, QT_Q5_K},  {"q6_k", 18, QT_Q6_K},
};

enum {
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
    FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_IQ4_NL = 25,
};

const QuantizeFtype *quantize_ftype_by_name(const char *name) {
    for (size_t i = 0; i < sizeof FTYPES / sizeof FTYPES[0]; i++)
        if (strcasecmp(FTYPES[i].name, name) == 0) return &FTYPES[i];
    // llama-quantize also accepts the plain K names for the mixes it means by them.
    if (strcasecmp(name, "q4_k") == 0) return quantize_ftype_by_name("q4_k_m");
    if (strcasecmp(name, "q5_k") == 0) return quantize_ftype_by_name("q5_k_m");
    if (strcasecmp(name, "q3_k") == 0) return quantize_ftype_by_name("q3_k_m");
    return NULL;
}

const char *quantize_ftype_names(void) {
    return "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, "
           "q5_k_s, q5_k_m, q6_k";
}

// ---- tensor names ----

static bool has(Str s, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.ptr + i, needle, n) == 0) return true;
    return false;
}

static bool is(Str s, const char *lit) { return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0; }

static bool ends_with(Str s, const char *suffix) {
    size_t n = strlen(suffix);
    return s.len >= n && memcmp(s.ptr + s.len - n, suffix, n) == 0;
}

uint32_t quantize_tensor_dims(const GgufTensor *t) {
    uint32_t n = 1;
    for (uint32_t i = 1; i < GGUF_MAX_DIMS; i++)
        if (t->ne[i] > 1) n = i + 1;
    return n;
}

// llama.cpp's tensor_allows_quantization: 2-D+ "*weight" tensors other than these.
static bool allows_quantization(const GgufTensor *t) {
    static const char *const keep[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
        "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
        ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
        "a.rvq.codebook", "mm.a.code_embd"};
    if (quantize_tensor_dims(t) < 2 || !ends_with(t->name, "weight")) return false;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (has(t->name, keep[i])) return false;
    return !is(t->name, "position_embd.weight") && !is(t->name, "token_types.weight");
}

typedef enum { ROLE_OTHER, ROLE_OUTPUT, ROLE_TOKEN_EMBD, ROLE_ATTN_V, ROLE_ATTN_K, ROLE_ATTN_Q, ROLE_ATTN_OUT,
               ROLE_FFN_UP, ROLE_FFN_GATE, ROLE_FFN_DOWN } Role;

// llama.cpp's tensor_get_category, first match wins (attn_qkv and attn_kv_b count as attn_v).
static Role role_of(Str name) {
    if (is(name, "output.weight")) return ROLE_OUTPUT;
    if (is(name, "token_embd.weight") || is(name, "per_layer_token_embd.weight")) return ROLE_TOKEN_EMBD;
    if (has(name, "attn_qkv.weight") || has(name, "attn_kv_b.weight") || has(name, "attn_v.weight")) return ROLE_ATTN_V;
    if (has(name, "attn_k.weight")) return ROLE_ATTN_K;
    if (has(name, "attn_q.weight")) return ROLE_ATTN_Q;
    if (has(name, "attn_output.weight")) return ROLE_ATTN_OUT;
    if (has(name, "ffn_up")) return ROLE_FFN_UP;
    if (has(name, "ffn_gate")) return ROLE_FFN_GATE;
    if (has(name, "ffn_down")) return ROLE_FFN_DOWN;
    return ROLE_OTHER;
}

// ---- state ----

static int64_t meta_or(const GgufFile *f, const char *arch, const char *key, int64_t dflt) {
    int64_t v;
    return gguf_meta_i64(f, arch, key, INT32_MAX, &v, false, NULL, 0) == 0 ? v : dflt;
}

int quantize_mix_init(QuantizeMix *m, const GgufFile *f, const QuantizeFtype *ft, int output_type, char *err,
                      size_t err_len) {
    memset(m, 0, sizeof *m);
    m->ft = ft;
    m->output_type = output_type;
    m->tied = true;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        Role r = role_of(f->tensors[i].name);
        if (r == ROLE_ATTN_V) m->n_attn_v++;
        if (r == ROLE_OUTPUT) m->tied = false;
    }
    Str arch_s = {0};
    char arch[64] = "";
    if (gguf_get_str(f, "general.architecture", &arch_s) == 0) snprintf(arch, sizeof arch, "%.*s", (int)arch_s.len, arch_s.ptr);
    if (QUANT_TRAITS[ft->type].block_size == 1) return 0;   // float file types: no rules apply
    m->n_expert = meta_or(f, arch, "expert_count", 0);
    int rc = gguf_meta_i64(f, arch, "block_count", INT32_MAX, &m->n_layer, true, err, err_len);
    if (rc) return rc;
    int64_t n_head = meta_or(f, arch, "attention.head_count", 0);
    int64_t n_head_kv = meta_or(f, arch, "attention.head_count_kv", n_head);
    m->n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 0;
    m->falcon = strcmp(arch, "falcon") == 0;
    // llama.cpp's LLM_TYPE_70B for the dense families this engine runs: 80 layers (llama: with GQA).
    m->is_70b = m->n_layer == 80 && ((strcmp(arch, "llama") == 0 && n_head != n_head_kv) || strcmp(arch, "qwen2") == 0);
    return 0;
}

// ---- the rules ----

static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// A tensor's layer, from its "blk.N." name; -1 when it has none.
static int layer_of(Str name) {
    if (name.len < 5 || memcmp(name.ptr, "blk.", 4) != 0) return -1;
    int l = 0;
    size_t i = 4;
    for (; i < name.len && name.ptr[i] >= '0' && name.ptr[i] <= '9' && l < 1000000; i++) l = 10 * l + (name.ptr[i] - '0');
    return i > 4 && i < name.len && name.ptr[i] == '.' ? l : -1;
}

static QuantType attn_v_type(QuantizeMix *m, QuantType t) {
    const uint32_t ft = m->ft->ftype;
    const int i = m->i_attn_v++;
    if (ft == FT_Q2_K) t = m->n_gqa >= 4 ? QT_Q4_K : QT_Q3_K;
    else if (ft == FT_Q3_K_M) t = i < 2 ? QT_Q5_K : QT_Q4_K;
    else if (ft == FT_Q3_K_L) t = QT_Q5_K;
    else if (ft == FT_IQ4_NL && m->n_gqa >= 4) t = QT_Q5_K;
    else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(i, m->n_attn_v)) t = QT_Q6_K;
    else if (ft == FT_Q4_K_S && i < 4) t = QT_Q5_K;
    if (m->is_70b && (t == QT_Q3_K || t == QT_Q4_K)) t = QT_Q5_K;
    if (m->n_expert == 8) t = QT_Q8_0;  // llama.cpp: "for the 8-expert model ... just ~128MB"
    return t;
}

// In a mixture the layer comes from the name (llama.cpp's layer_info: experts, and a shared
// expert's ffn_down, are not one tensor per layer in order).
static QuantType ffn_down_type(QuantizeMix *m, QuantType t, int layer) {
    const uint32_t ft = m->ft->ftype;
    const int i = m->n_expert > 1 && layer >= 0 ? layer : m->i_ffn_down, n = (int)m->n_layer;
    m->i_ffn_down++;
    if (ft == FT_Q2_K) t = QT_Q3_K;
    else if (ft == FT_Q3_K_M) t = i < n / 16 ? QT_Q5_K : !m->falcon || use_more_bits(i, n) ? QT_Q4_K : QT_Q3_K;
    else if (ft == FT_Q3_K_L) t = m->falcon ? QT_Q4_K : QT_Q5_K;
    else if (ft == FT_Q4_K_M && m->falcon) t = i < n / 16 ? QT_Q6_K : use_more_bits(i, n) ? QT_Q5_K : QT_Q4_K;
    else if (ft == FT_Q4_K_M) t = use_more_bits(i, n) ? QT_Q6_K : t;
    else if (i < n / 8 && ft == FT_IQ4_NL) t = QT_Q5_K;
    else if (ft == FT_Q5_K_M && use_more_bits(i, n)) t = QT_Q6_K;
    else if (ft == FT_Q4_K_S && !m->falcon && i < n / 8) t = QT_Q5_K;
    return t;
}

static QuantType attn_out_type(const QuantizeMix *m, QuantType t) {
    const uint32_t ft = m->ft->ftype;
    if (m->falcon) return ft == FT_Q3_K_L ? QT_Q4_K : t;
    if (m->n_expert == 8)
        return ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL || ft == FT_Q4_K_S ||
                       ft == FT_Q4_K_M
                   ? QT_Q5_K
                   : t;
    if (ft == FT_Q2_K) return QT_Q3_K;
    if (ft == FT_Q3_K_M) return QT_Q4_K;
    if (ft == FT_Q3_K_L) return QT_Q5_K;
    return t;
}

// Rows the block does not divide: a smaller block of similar size, else F16.
static QuantType fallback(QuantType t, int64_t ncols) {
    if (ncols % QUANT_TRAITS[t].block_size == 0) return t;
    static const QuantType smaller[QT_COUNT] = {[QT_Q2_K] = QT_Q4_0, [QT_Q3_K] = QT_Q4_0, [QT_Q4_K] = QT_Q5_0,
                                                [QT_Q5_K] = QT_Q5_1, [QT_Q6_K] = QT_Q8_0};
    QuantType r = QUANT_TRAITS[t].block_size <= 32 ? t : smaller[t];
    CHECK(QUANT_TRAITS[r].block_size > 1);
    return ncols % QUANT_TRAITS[r].block_size == 0 ? r : QT_F16;
}

QuantType quantize_mix_type(QuantizeMix *m, const GgufTensor *t) {
    if (!allows_quantization(t)) return t->type;
    const Role role = role_of(t->name);
    const bool is_output = role == ROLE_OUTPUT || (m->tied && role == ROLE_TOKEN_EMBD);
    if (role == ROLE_OUTPUT && m->output_type >= 0) return (QuantType)m->output_type;
    QuantType type = m->ft->type;
    if (QUANT_TRAITS[type].block_size == 1) return type;
    if (is_output) {
        if (m->output_type >= 0) type = (QuantType)m->output_type;   // a tied token_embd: still falls back
        else if (m->falcon || t->ne[0] % QUANT_TRAITS[type].block_size != 0) type = QT_Q8_0;
        else if (type != QT_Q8_0) type = QT_Q6_K;
    } else if (role == ROLE_ATTN_V) {
        type = attn_v_type(m, type);
    } else if (role == ROLE_ATTN_K && m->n_expert == 8) {
        type = QT_Q8_0;
    } else if (role == ROLE_FFN_DOWN) {
        type = ffn_down_type(m, type, layer_of(t->name));
    } else if (role == ROLE_ATTN_OUT) {
        type = attn_out_type(m, type);
    }
    return fallback(type, t->ne[0]);
}
