// cmd_gguf.c — `rightsize gguf info FILE`, `rightsize gguf dump FILE TENSOR` and `rightsize gguf synth ...`.
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/threadpool.h"
#include "cli/cli.h"
#include "engine/gguf.h"
#include "engine/synth.h"

static const char USAGE[] =
    "usage: rightsize gguf info FILE\n"
    "       rightsize gguf dump FILE TENSOR\n"
    "       rightsize gguf synth [SHAPE] -o FILE [options]\n"
    "       rightsize gguf synth --list-shapes\n"
    "       rightsize gguf tokenize MODEL [--no-bos] TEXT   (see rightsize gguf tokenize --help)\n"
    "       rightsize gguf render-chat SOURCE --messages FILE  (see rightsize gguf render-chat --help)\n"
    "       rightsize gguf embed MODEL [--threads N] TEXT...  (see rightsize gguf embed --help)\n"
    "\n"
    "embed  prints each TEXT's embedding, one JSON line each (bert, nomic-bert models)\n"
    "synth --arch bert|nomic-bert  writes a random-weight encoder (llama.cpp's keys and tensor\n"
    "       names) with the WordPiece vocabulary of --vocab-from FILE (required); options --dim,\n"
    "       --layers, --heads, --ffn, --ctx, --pooling mean|cls|last, --type f32|f16|bf16|q8_0, --seed\n"
    "\n"
    "info   prints a GGUF file's metadata (long arrays abbreviated) and its tensor table\n"
    "       (name, type, shape, bytes, offset), with totals: parameters, bytes, bits per weight;\n"
    "       for a mixture of experts, the parameters a token runs (its chosen experts only).\n"
    "       Any valid file opens, whatever its tensor types (every type ggml defines: f32, f16,\n"
    "       bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_k..q8_k, iq*, i8..i64, f64, tq1_0, tq2_0,\n"
    "       mxfp4, ...); a type the engine cannot compute with is marked '*' and listed at the end.\n"
    "       The engine runs f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k,\n"
    "       q4_k, q5_k and q6_k (so Q4_K_M, Q5_K_M, Q6_K and the other K-quant mixes load).\n"
    "\n"
    "dump   prints one tensor's values, dequantized to float (%.9g, exact), one row per line.\n"
    "\n"
    "synth  writes a random-weight model with a valid tokenizer, seeded and deterministic, with\n"
    "       the metadata keys and tensor names llama.cpp uses for its architecture. Matrices are\n"
    "       N(0, 0.02^2), norms 1 + N(0, 0.02^2), biases N(0, 0.1^2) (vectors always f32).\n"
    "  --arch A              llama (default), qwen2 (q/k/v biases), qwen3 (q/k norms), gemma\n"
    "                        (GeGLU, sqrt(dim) embeddings, tied output), gemma2\n"
    "                        (post-norms, soft-caps, window every other layer, tied output), gemma3\n"
    "                        (q/k norms, post-norms, 5 local : 1 global layers), phi3 (fused qkv\n"
    "                        and gate_up, rope_factors_long/short), granite (embedding 12x,\n"
    "                        attention 1/head_dim, residual 0.22x, logits /8), qwen3moe (qwen3\n"
    "                        with a mixture of --experts N (default 8), --experts-used K (default\n"
    "                        2) of them per token, each --ffn wide; the router in f32), granitemoe\n"
    "                        (granite's multipliers and such a mixture), qwen2moe (qwen2's biases,\n"
    "                        a mixture without renormalized weights, and a shared expert gated by\n"
    "                        sigmoid(ffn_gate_inp_shexp . x), --shared-expert-ffn wide, default 4 x\n"
    "                        --ffn; on granitemoe the option adds an ungated one); llama with\n"
    "                        --experts N is a Mixtral-style mixture; smollm3 (llama with every\n"
    "                        4th layer unrotated), glm4 (post-norms, fused gate_up, q/k/v biases),\n"
    "                        olmo2 (post-norms only, whole-vector q/k norms; with\n"
    "                        --sliding-window, 3 local : 1 global layers), ernie4_5 (llama's layout),\n"
    "                        exaone (llama's layout, NeoX RoPE), olmoe (whole-vector q/k norms and\n"
    "                        a mixture whose weights are not renormalized), qwen2vl and qwen3vl\n"
    "                        (text towers with M-RoPE sections, Qwen's proportions), qwen3vlmoe\n"
    "                        (qwen3moe's mixture with qwen3vl's M-RoPE), starcoder2 (LayerNorm,\n"
    "                        biases everywhere, gateless GELU FFN), stablelm (LayerNorm, q/k/v\n"
    "                        biases, SwiGLU; use --rope-dim for its partial rotary), phi2\n"
    "                        (starcoder2's layer, attention and FFN in parallel, output bias),\n"
    "                        command-r (LayerNorm without biases, parallel, logits x 0.0625)\n"
    "  --sliding-window N    attention.sliding_window (gemma2 default 4096; gemma3, llama: none)\n"
    "  --attn-softcap F --final-softcap F       gemma2 soft-caps (default 50, 30); gemma3 final\n"
    "  --rope-attn-factor F  phi3 rope.scaling.attn_factor (default: absent, i.e. 1)\n"
    "  --rope-dim N          rope.dimension_count: RoPE turns only a head's first N features\n"
    "                        (partial rotary, as GLM-4 and Phi-2; default the whole head)\n"
    "  SHAPE, --shape NAME   a named shape (see --list-shapes); explicit options below override it\n"
    "  --dim N --layers N --heads N --kv-heads N --ffn N --vocab N --ctx N\n"
    "  --rope-theta F --rms-eps F --tied        explicit dimensions (without SHAPE: --dim, --layers,\n"
    "                                           --heads, --ffn and --vocab are required)\n"
    "  --type T              weight type (token_embd too): f32 (default), f16, bf16, q8_0, q4_0,\n"
    "                        q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k (K-quants need\n"
    "                        --dim and --ffn multiples of 256; a plain round-to-nearest quantizer)\n"
    "  --output-type T       type of output.weight (default: --type)\n"
    "  --seed N              random seed (default 1)\n"
    "  --qk-scale S          multiply attn_q/attn_k weights by S (default 1; >1 sharpens attention)\n"
    "  --init-std S          standard deviation of the matrices (default 0.02)\n"
    "  --vocab-from FILE     copy every tokenizer.* key from another GGUF (vocab size comes from it)\n"
    "                        (--vocab FILE.gguf is accepted as well)\n"
    "  --chat-template NAME  set tokenizer.chat_template: llama2, llama3, chatml, zephyr, mistral\n"
    "  --name NAME           general.name (default synth-SHAPE)\n"
    "  --threads N           threads generating weights (default: all cores)\n"
    "  -o, --output FILE     where to write (required); --force overwrites an existing file\n"
    "  -q, --quiet           no progress on stderr\n";

// ---- info ----

// Prints s with quotes and C escapes, at most max bytes of it.
static void print_quoted(Str s, size_t max) {
    putchar('"');
    for (size_t i = 0; i < s.len && i < max; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c == '\t') printf("\\t");
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
    if (s.len > max) printf("... (%zu bytes)", s.len);
}

// Prints one scalar element at p of type t; returns the pointer past it.
static const uint8_t *print_scalar(GgufType t, const uint8_t *p, size_t max_str) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
            uint64_t u64; int64_t i64; double f64; } v;
    if (t == GGUF_STRING) {
        Str s;
        const uint8_t *q = gguf_str_next(p, &s);
        print_quoted(s, max_str);
        return q;
    }
    memcpy(&v, p, gguf_type_size(t));
    switch (t) {
    case GGUF_UINT8: printf("%u", v.u8); break;
    case GGUF_INT8: printf("%d", v.i8); break;
    case GGUF_UINT16: printf("%u", v.u16); break;
    case GGUF_INT16: printf("%d", v.i16); break;
    case GGUF_UINT32: printf("%" PRIu32, v.u32); break;
    case GGUF_INT32: printf("%" PRId32, v.i32); break;
    case GGUF_FLOAT32: printf("%.9g", v.f32); break;
    case GGUF_BOOL: printf("%s", v.u8 ? "true" : "false"); break;
    case GGUF_UINT64: printf("%" PRIu64, v.u64); break;
    case GGUF_INT64: printf("%" PRId64, v.i64); break;
    case GGUF_FLOAT64: printf("%.17g", v.f64); break;
    default: break;
    }
    return p + gguf_type_size(t);
}

static int gguf_info(const char *path) {
    GgufFile f;
    char err[512];
    if (gguf_open(&f, path, err, sizeof err)) {
        fprintf(stderr, "rightsize gguf info: %s\n", err);
        return 1;
    }
    printf("file: %s\n", path);
    printf("size: %zu bytes, GGUF v%u, alignment %u, %" PRIu64 " metadata keys, %" PRIu64 " tensors, data at %zu\n",
           f.size, f.version, f.alignment, f.n_kv, f.n_tensors, f.data_offset);
    printf("\nmetadata:\n");
    for (uint64_t i = 0; i < f.n_kv; i++) {
        const GgufKv *kv = &f.kv[i];
        char type[32];
        if (kv->type == GGUF_ARRAY)
            snprintf(type, sizeof type, "%s[%" PRIu64 "]", gguf_type_name(kv->arr_type), kv->arr_len);
        else
            snprintf(type, sizeof type, "%s", gguf_type_name(kv->type));
        printf("  %-44.*s %-14s ", (int)kv->key.len, kv->key.ptr, type);
        if (kv->type != GGUF_ARRAY) {
            print_scalar(kv->type, kv->value, 160);
        } else {
            const uint8_t *p = kv->value;
            uint64_t show = kv->arr_len < 8 ? kv->arr_len : 6;
            putchar('[');
            for (uint64_t j = 0; j < show; j++) {
                if (j) printf(", ");
                p = print_scalar(kv->arr_type, p, 40);
            }
            if (show < kv->arr_len) printf(", ... (%" PRIu64 " items)", kv->arr_len);
            putchar(']');
        }
        putchar('\n');
    }
    printf("\ntensors:\n  %-32s %-8s %-24s %14s %14s\n", "name", "type", "shape", "bytes", "offset");
    int64_t params = 0, expert_params = 0;
    size_t bytes = 0;
    int64_t unsupported[QT_COUNT] = {0};
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const GgufTensor *t = &f.tensors[i];
        char shape[96];
        int n = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t->n_dims && n > 0 && (size_t)n < sizeof shape; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        if (n > 0 && (size_t)n < sizeof shape) snprintf(shape + n, sizeof shape - (size_t)n, "]");
        char type[16];
        bool ok = QUANT_TRAITS[t->type].supported;
        snprintf(type, sizeof type, "%s%s", QUANT_TRAITS[t->type].name, ok ? "" : "*");
        if (!ok) unsupported[t->type]++;
        printf("  %-32.*s %-8s %-24s %14zu %14" PRIu64 "\n", (int)t->name.len, t->name.ptr, type, shape, t->nbytes,
               t->offset);
        params += gguf_tensor_nelements(t);
        if (t->n_dims == 3 && t->name.len > 12 && memcmp(t->name.ptr + t->name.len - 12, "_exps.weight", 12) == 0)
            expert_params += gguf_tensor_nelements(t);
        bytes += t->nbytes;
    }
    printf("\ntotals: %" PRIu64 " tensors, %" PRId64 " parameters (%.2f M), %zu bytes (%.2f MiB), %.3f bits per weight\n",
           f.n_tensors, params, (double)params / 1e6, bytes, (double)bytes / (1024.0 * 1024.0),
           params ? 8.0 * (double)bytes / (double)params : 0.0);
    // A mixture of experts: a token runs only expert_used_count of each layer's expert_count experts.
    Str arch_s;
    char arch[64] = "", key[128];
    int64_t n_exp = 0, n_used = 0;
    if (gguf_get_str(&f, "general.architecture", &arch_s) == 0)
        snprintf(arch, sizeof arch, "%.*s", (int)arch_s.len, arch_s.ptr);
    if (expert_params && arch[0] &&
        gguf_meta_i64(&f, arch, "expert_count", 1 << 20, &n_exp, false, key, sizeof key) == 0 &&
        gguf_meta_i64(&f, arch, "expert_used_count", 1 << 20, &n_used, false, key, sizeof key) == 0 && n_exp > 0) {
        int64_t active = params - expert_params + expert_params / n_exp * n_used;
        printf("mixture of experts: %" PRId64 " experts, %" PRId64 " per token: %" PRId64
               " parameters (%.2f M) active per token of %.2f M\n", n_exp, n_used, active, (double)active / 1e6,
               (double)params / 1e6);
    }
    int n_unsupported = 0;
    for (int t = 0; t < QT_COUNT; t++) n_unsupported += unsupported[t] > 0;
    if (n_unsupported) {
        printf("\n* the engine cannot compute with:");
        for (int t = 0; t < QT_COUNT; t++)
            if (unsupported[t]) printf(" %s (%" PRId64 " tensors)", QUANT_TRAITS[t].name, unsupported[t]);
        printf("\n");
    }
    gguf_close(&f);
    return 0;
}

// ---- dump ----

static int gguf_dump(const char *path, const char *name) {
    GgufFile f;
    char err[512];
    if (gguf_open(&f, path, err, sizeof err)) {
        fprintf(stderr, "rightsize gguf dump: %s\n", err);
        return 1;
    }
    int rc = 1;
    float *row = NULL;
    const GgufTensor *t = gguf_find_tensor(&f, name);
    if (!t) {
        fprintf(stderr, "rightsize gguf dump: no tensor '%s' in %s (see rightsize gguf info)\n", name, path);
        goto done;
    }
    if (!QUANT_TRAITS[t->type].supported) {
        fprintf(stderr, "rightsize gguf dump: tensor '%s' is %s, which this engine cannot dequantize\n", name,
                QUANT_TRAITS[t->type].name);
        goto done;
    }
    int64_t cols = t->ne[0], rows = gguf_tensor_nelements(t) / cols;
    size_t rb = quant_row_bytes(t->type, cols);
    row = malloc(sizeof(float) * (size_t)cols);
    if (!row) {
        fprintf(stderr, "rightsize gguf dump: out of memory\n");
        goto done;
    }
    for (int64_t r = 0; r < rows; r++) {
        quant_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * rb, row, cols);
        for (int64_t c = 0; c < cols; c++) printf(c ? " %.9g" : "%.9g", row[c]);
        putchar('\n');
    }
    rc = 0;
done:
    free(row);
    gguf_close(&f);
    return rc;
}

// ---- synth ----

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "rightsize gguf synth: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see rightsize gguf --help)\n");
    return 2;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_f32(const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 3e38) return false;
    *out = (float)v;
    return true;
}

static void list_shapes(void) {
    printf("%-16s %6s %6s %6s %8s %6s %7s %6s %9s %5s %14s\n", "shape", "dim", "layers", "heads", "kv_heads",
           "ffn", "vocab", "ctx", "theta", "tied", "parameters");
    for (size_t i = 0; i < SYNTH_N_SHAPES; i++) {
        const SynthShape *s = &SYNTH_SHAPES[i];
        printf("%-16s %6" PRId64 " %6" PRId64 " %6" PRId64 " %8" PRId64 " %6" PRId64 " %7" PRId64 " %6" PRId64
               " %9.0f %5s %14" PRId64 "\n",
               s->name, s->dim, s->n_layers, s->n_heads, s->n_kv_heads, s->ffn, s->vocab, s->ctx,
               (double)s->rope_theta, s->tied ? "yes" : "no", synth_shape_params(s));
    }
}

typedef struct {
    int last_pct;
    const char *path;
} Progress;

static void on_progress(void *ctx, uint64_t done, uint64_t total, const char *tensor) {
    Progress *p = ctx;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    if (pct == p->last_pct) return;
    p->last_pct = pct;
    fprintf(stderr, "\rsynth: %s %3d%% (%.2f / %.2f GB) %-28s", p->path, pct, (double)done / 1e9,
            (double)total / 1e9, tensor);
    if (done == total) fputc('\n', stderr);
}

static int gguf_synth(int argc, char **argv) {
    SynthShape s = {0};
    const char *shape_name = NULL, *out = NULL, *type_s = "f32", *otype_s = NULL;
    SynthOptions o = {.seed = 1};
    bool force = false, quiet = false, list = false;
    int64_t threads = 0;
    // Explicit dimensions are collected first and applied over the shape afterwards.
    int64_t dim = 0, layers = 0, heads = 0, kvh = 0, ffn = 0, vocab = 0, ctx = 0;
    float theta = 0, eps = 0;
    bool tied = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *num = NULL, lo = 1, hi = INT32_MAX;
        float *fnum = NULL;
        if (strcmp(a, "--list-shapes") == 0) { list = true; continue; }
        if (strcmp(a, "--force") == 0) { force = true; continue; }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) { quiet = true; continue; }
        if (strcmp(a, "--tied") == 0) { tied = true; continue; }
        if (a[0] != '-') {
            if (shape_name) return usage_error("unexpected argument '%s' (one SHAPE at most)", a);
            shape_name = a;
            continue;
        }
        if (!v) return usage_error("option %s needs a value", a);
        i++;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) out = v;
        else if (strcmp(a, "--shape") == 0) {
            if (shape_name) return usage_error("shape given twice ('%s')", v);
            shape_name = v;
        } else if (strcmp(a, "--type") == 0) type_s = v;
        else if (strcmp(a, "--output-type") == 0) otype_s = v;
        else if (strcmp(a, "--name") == 0) o.name = v;
        else if (strcmp(a, "--arch") == 0) {
            Str as = {v, strlen(v)};
            int ai = model_arch_find(as);
            if (ai < 0) return usage_error("--arch '%s' is not one of " MODEL_ARCH_NAMES, v);
            o.arch = (ModelArch)ai;
        } else if (strcmp(a, "--sliding-window") == 0) num = &o.sliding_window;
        else if (strcmp(a, "--attn-softcap") == 0) fnum = &o.attn_softcap;
        else if (strcmp(a, "--final-softcap") == 0) fnum = &o.final_softcap;
        else if (strcmp(a, "--rope-attn-factor") == 0) fnum = &o.rope_attn_factor;
        else if (strcmp(a, "--experts") == 0) num = &o.n_expert;
        else if (strcmp(a, "--experts-used") == 0) num = &o.n_expert_used;
        else if (strcmp(a, "--shared-expert-ffn") == 0) num = &o.n_ff_shexp;
        else if (strcmp(a, "--rope-dim") == 0) num = &o.rope_dim;
        else if (strcmp(a, "--vocab-from") == 0) o.vocab_path = v;
        else if (strcmp(a, "--chat-template") == 0) o.chat_template = v;
        else if (strcmp(a, "--vocab") == 0 && v[strspn(v, "0123456789")] != 0) o.vocab_path = v;  // a file
        else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            o.seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') return usage_error("--seed '%s' is not a non-negative integer", v);
        } else if (strcmp(a, "--qk-scale") == 0) fnum = &o.qk_scale;
        else if (strcmp(a, "--init-std") == 0) fnum = &o.init_std;
        else if (strcmp(a, "--rope-theta") == 0) fnum = &theta;
        else if (strcmp(a, "--rms-eps") == 0) fnum = &eps;
        else if (strcmp(a, "--threads") == 0) { num = &threads; hi = 1024; }
        else if (strcmp(a, "--dim") == 0) num = &dim;
        else if (strcmp(a, "--layers") == 0) num = &layers;
        else if (strcmp(a, "--heads") == 0) num = &heads;
        else if (strcmp(a, "--kv-heads") == 0) num = &kvh;
        else if (strcmp(a, "--ffn") == 0) num = &ffn;
        else if (strcmp(a, "--vocab") == 0) num = &vocab;
        else if (strcmp(a, "--ctx") == 0) num = &ctx;
        else return usage_error("unknown option '%s'", a);
        if (num && !parse_i64(v, lo, hi, num)) {
            fprintf(stderr, "rightsize gguf synth: %s '%s' must be an integer in %lld..%lld\n", a, v, (long long)lo,
                    (long long)hi);
            return 2;
        }
        if (fnum && !parse_f32(v, fnum)) {
            fprintf(stderr, "rightsize gguf synth: %s '%s' must be a positive number\n", a, v);
            return 2;
        }
    }
    if (list) { list_shapes(); return 0; }
    if (shape_name) {
        const SynthShape *base = synth_shape_find(shape_name);
        if (!base) {
            fprintf(stderr, "rightsize gguf synth: unknown shape '%s' (rightsize gguf synth --list-shapes lists them)\n",
                    shape_name);
            return 2;
        }
        s = *base;
    } else {
        if (!dim || !layers || !heads || !ffn || (!vocab && !o.vocab_path))
            return usage_error("%s", "give a SHAPE, or --dim, --layers, --heads, --ffn and --vocab");
        s = (SynthShape){NULL, 0, 0, 0, 0, 0, 0, 2048, 10000.0f, 1e-5f, false};
    }
    if (dim) s.dim = dim;
    if (layers) s.n_layers = layers;
    if (heads) { s.n_heads = heads; if (!kvh) s.n_kv_heads = heads; }
    if (kvh) s.n_kv_heads = kvh;
    if (ffn) s.ffn = ffn;
    if (vocab) s.vocab = vocab;
    if (ctx) s.ctx = ctx;
    if (theta > 0) s.rope_theta = theta;
    if (eps > 0) s.rms_eps = eps;
    if (tied) s.tied = true;
    if (shape_name && (dim || layers || heads || kvh || ffn || vocab || ctx || theta > 0 || eps > 0 || tied))
        s.name = NULL;  // a modified shape is no longer the named one
    if (o.vocab_path && !s.vocab) s.vocab = 32000;  // placeholder until the file's count is known
    int t = quant_from_name(type_s);
    if (t < 0) return usage_error("--type '%s' is not a type the engine writes (see rightsize gguf --help)", type_s);
    int ot = otype_s ? quant_from_name(otype_s) : t;
    if (ot < 0) return usage_error("--output-type '%s' is not a type the engine writes (see rightsize gguf --help)", otype_s);
    o.type = (QuantType)t;
    o.output_type = (QuantType)ot;
    if (o.chat_template && !synth_chat_template(o.chat_template)) {
        fprintf(stderr, "rightsize gguf synth: unknown --chat-template '%s' (known: %s)\n", o.chat_template,
                synth_chat_template_names);
        return 2;
    }
    if (!out) return usage_error("%s", "-o FILE is required");
    char err[512];
    SynthShape check = s;
    if (o.vocab_path) check.vocab = 32000;  // its real size is checked when the file is read
    if (synth_shape_check(&check, o.type, o.output_type, err, sizeof err)) {
        fprintf(stderr, "rightsize gguf synth: %s\n", err);
        return 2;
    }
    if (!force && access(out, F_OK) == 0) {
        fprintf(stderr, "rightsize gguf synth: %s exists (add --force to overwrite it)\n", out);
        return 1;
    }
    o.shape = s;
    Progress pr = {-1, out};
    int64_t total_bytes = synth_params(&o) * (int64_t)QUANT_TRAITS[o.type].type_size /
                          QUANT_TRAITS[o.type].block_size;
    if (!quiet && total_bytes > (64 << 20)) { o.progress = on_progress; o.progress_ctx = &pr; }
    ThreadPool *pool = tp_create((int)threads);
    o.pool = pool;
    int64_t nv = 0;
    int rc = synth_write(&o, out, &nv, err, sizeof err);
    tp_destroy(pool);
    if (rc) {
        fprintf(stderr, "rightsize gguf synth: %s\n", err);
        return rc == ERR_ARG ? 2 : 1;
    }
    o.shape.vocab = nv;
    if (!quiet)
        fprintf(stderr, "synth: wrote %s (%s %s, %" PRId64 " parameters, vocab %" PRId64 ", seed %" PRIu64 ")\n", out,
                ARCH_TRAITS[o.arch].name, QUANT_TRAITS[o.type].name, synth_params(&o), nv, o.seed);
    return 0;
}

int cmd_gguf(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "embed") == 0) return cmd_gguf_embed(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "synth") == 0 && gguf_synth_is_encoder(argc - 1, argv + 1))
        return gguf_synth_encoder(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "tokenize") == 0) return cmd_gguf_tokenize(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "render-chat") == 0) return cmd_gguf_render_chat(argc - 1, argv + 1);
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "info") == 0) {
        if (argc != 3) {
            fprintf(stderr, "rightsize gguf info: expected exactly one FILE (usage: rightsize gguf info FILE)\n");
            return 2;
        }
        return gguf_info(argv[2]);
    }
    if (strcmp(argv[1], "dump") == 0) {
        if (argc != 4) {
            fprintf(stderr, "rightsize gguf dump: expected FILE and TENSOR (usage: rightsize gguf dump FILE TENSOR)\n");
            return 2;
        }
        return gguf_dump(argv[2], argv[3]);
    }
    if (strcmp(argv[1], "synth") == 0) return gguf_synth(argc - 1, argv + 1);
    fprintf(stderr,
            "rightsize gguf: unknown subcommand '%s' (info, dump, synth, tokenize or render-chat; see rightsize gguf --help)\n",
            argv[1]);
    return 2;
}
