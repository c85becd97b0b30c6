// model.c — the forward pass of every architecture in ARCH_TRAITS over a batch of rows (prefill
// chunks and decode tokens of any sequences together). Reads top to bottom: embed, then per layer
// attention and a gated FFN (SwiGLU or GeGLU) with residuals, then the final norm and the output
// projection for the rows that want logits. The architectures differ only where a trait or a
// hyperparameter says so (biases, q/k norms, RoPE style, post-norms, windows, soft-caps).
// Every matrix product goes through mm_matmul over all rows at once, so each weight is read once
// per step. Elementwise work and attention are spread over the thread pool by row / (row, head),
// the gated activations by (row, column chunk).
#include "engine/model.h"
#include "engine/vexp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

struct ModelBuffers {
    int64_t max_rows, n_ctx, group;  // group: query heads per KV head
    int n_threads;
    float *x;           // (R, n_embd)            residual stream
    float *xb;          // (R, n_embd)            normed sublayer input, then sublayer output
    float *q;           // (R, n_head*head_dim)   queries (rotated in place)
    float *k, *v;       // (R, n_head_kv*head_dim) new keys (rotated) and values
    float *att;         // (R, n_head*head_dim)   attention output, heads side by side
    float *hb, *hb2;    // (R, max(n_ff, n_ff_exp)) gate, up; then silu(gate)*up or gelu(gate)*up in hb
    // mixture of experts (allocated only for one)
    float *moe_logits;  // (R, n_expert)          router logits, then probabilities
    int32_t *moe_sel;   // (R, n_expert_used)     each row's chosen experts
    float *moe_w;       // (R, n_expert_used)     and their weights
    float *moe_in;      // (R, n_embd)            the FFN's normed input (xb before the experts add into it)
    float *moe_x;       // (R, n_embd)            the rows routed to one expert, gathered
    float *moe_y;       // (R, n_embd)            that expert's output for them
    int64_t *moe_rows;  // (R)                    their row indices
    float *moe_rw;      // (R)                    and weights
    float *par_att;     // (R, n_embd)            parallel residual (phi2, command-r): the attention's
                        //                        output, while the FFN reads the normed input in xb
    float *xl;          // (R, n_embd)            final-normed rows that want logits
    float *rope_cs;     // (R, n_rot/2, 2)        cos, sin of each row's rotation angles (global layers)
    float *rope_cs_swa; // (R, n_rot/2, 2)        the same for sliding-window layers
    double *inv_freq;   // (n_rot/2)              freq_scale · base^(-2i/n_rot) / factor[i]
    double *inv_freq_swa; // (n_rot/2)            the same with the local layers' base and scale
    float *scores;      // (n_threads, group, n_ctx) attention probabilities, per thread
    void *mm_scratch;   // mm_matmul's quantized-activation scratch, for R rows
    int64_t *want;      // (R)                    indices of the rows that want logits
    void *mem;          // the one allocation everything above is carved from
};

// M-RoPE (qwen2vl, qwen3vl) turns each rotated pair by one of a token's four positions (time,
// height, width, extra), the pair's "sector" (pair i % the sections' sum) choosing which, as
// ggml's rope_multi does. A text token's first three positions are its position and its extra
// one is 0, so the pairs that take the extra position do not turn; every other pair turns as in
// NeoX RoPE. True for pair i when it is such a still pair.
static bool mrope_static(const Model *m, int64_t i) {
    const LlamaHparams *hp = &m->hp;
    const ArchTraits *at = &ARCH_TRAITS[hp->arch];
    if (!at->mrope) return false;
    const int32_t *s = hp->mrope_sections;
    int64_t sum = (int64_t)s[0] + s[1] + s[2] + s[3], sector = i % sum;
    if (at->mrope_interleaved)  // t, h, w in turn while each section lasts
        return !((sector % 3 == 0 && sector < 3 * s[0]) || (sector % 3 == 1 && sector < 3 * s[1]) ||
                 (sector % 3 == 2 && sector < 3 * s[2]));
    return sector >= (int64_t)s[0] + s[1] + s[2];
}

// ---- buffers: one allocation carved by a table of sizes (llm.c style) ----

ModelBuffers *model_buffers_create(const Model *m, int64_t max_rows, int64_t n_ctx, int n_threads) {
    const LlamaHparams *hp = &m->hp;
    ModelBuffers *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    int64_t R = max_rows, q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    b->max_rows = R;
    b->n_ctx = n_ctx;
    b->group = hp->n_head / hp->n_head_kv;
    b->n_threads = n_threads < 1 ? 1 : n_threads;
    size_t mm = mm_scratch_bytes(hp->n_embd, R);
    int64_t ff = hp->n_ff_exp > hp->n_ff ? hp->n_ff_exp : hp->n_ff, E = hp->n_expert, K = hp->n_expert_used;
    ff = hp->n_ff_shexp > ff ? hp->n_ff_shexp : ff;
    size_t mm2 = mm_scratch_bytes(q_dim, R), mm3 = mm_scratch_bytes(ff, R);
    mm = mm2 > mm ? mm2 : mm;
    mm = mm3 > mm ? mm3 : mm;
    struct { void **ptr; size_t bytes; } table[] = {
        {(void **)&b->x, (size_t)(R * hp->n_embd) * sizeof(float)},
        {(void **)&b->xb, (size_t)(R * hp->n_embd) * sizeof(float)},
        {(void **)&b->q, (size_t)(R * q_dim) * sizeof(float)},
        {(void **)&b->k, (size_t)(R * kv_dim) * sizeof(float)},
        {(void **)&b->v, (size_t)(R * kv_dim) * sizeof(float)},
        {(void **)&b->att, (size_t)(R * q_dim) * sizeof(float)},
        {(void **)&b->hb, (size_t)(R * ff) * sizeof(float)},
        {(void **)&b->hb2, (size_t)(R * ff) * sizeof(float)},
        {(void **)&b->moe_logits, (size_t)(R * E) * sizeof(float)},
        {(void **)&b->moe_sel, (size_t)(R * K) * sizeof(int32_t)},
        {(void **)&b->moe_w, (size_t)(R * K) * sizeof(float)},
        {(void **)&b->moe_in, (size_t)(E ? R * hp->n_embd : 0) * sizeof(float)},
        {(void **)&b->moe_x, (size_t)(E ? R * hp->n_embd : 0) * sizeof(float)},
        {(void **)&b->moe_y, (size_t)(E ? R * hp->n_embd : 0) * sizeof(float)},
        {(void **)&b->moe_rows, (size_t)(E ? R : 0) * sizeof(int64_t)},
        {(void **)&b->moe_rw, (size_t)(E ? R : 0) * sizeof(float)},
        {(void **)&b->par_att, (size_t)(ARCH_TRAITS[hp->arch].parallel_residual ? R * hp->n_embd : 0) * sizeof(float)},
        {(void **)&b->xl, (size_t)(R * hp->n_embd) * sizeof(float)},
        {(void **)&b->rope_cs, (size_t)(R * hp->n_rot) * sizeof(float)},
        {(void **)&b->rope_cs_swa, (size_t)(R * hp->n_rot) * sizeof(float)},
        {(void **)&b->inv_freq, (size_t)(hp->n_rot / 2) * sizeof(double)},
        {(void **)&b->inv_freq_swa, (size_t)(hp->n_rot / 2) * sizeof(double)},
        {(void **)&b->scores, (size_t)b->n_threads * (size_t)(b->group * n_ctx) * sizeof(float)},
        {&b->mm_scratch, mm},
        {(void **)&b->want, (size_t)R * sizeof(int64_t)},
    };
    size_t total = 0;
    for (size_t i = 0; i < ARRAY_LEN(table); i++) total += (table[i].bytes + 63) & ~(size_t)63;
    if (posix_memalign(&b->mem, 64, total)) {
        free(b);
        return NULL;
    }
    uint8_t *p = b->mem;
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        *table[i].ptr = p;
        p += (table[i].bytes + 63) & ~(size_t)63;
    }
    // Frequency divisors as llama.cpp picks them: rope_freqs, else phi3's long factors when this
    // context is longer than the one the model was trained at, else the short ones (or none).
    const float *factors = m->rope_freqs ? m->rope_freqs : n_ctx > hp->n_ctx_orig ? m->rope_long : m->rope_short;
    for (int64_t i = 0; i < hp->n_rot / 2; i++) {
        double e = -2.0 * (double)i / (double)hp->n_rot;
        b->inv_freq[i] = hp->rope_freq_scale * pow((double)hp->rope_base, e);
        b->inv_freq_swa[i] = hp->rope_freq_scale_swa * pow((double)hp->rope_base_swa, e);
        if (factors) b->inv_freq[i] /= factors[i], b->inv_freq_swa[i] /= factors[i];
        if (mrope_static(m, i)) b->inv_freq[i] = b->inv_freq_swa[i] = 0.0;
    }
    return b;
}

void model_buffers_destroy(ModelBuffers *b) {
    if (!b) return;
    free(b->mem);
    free(b);
}

// ---- building blocks (plain C, per row) ----

// Four floats as one value (GCC/Clang vector extension: SSE on x86-64, NEON on ARM), for the
// elementwise loops of a step, which -O2 does not vectorize by itself.
typedef float F4 __attribute__((vector_size(16)));
static inline F4 f4_load(const float *p) {
    F4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void f4_store(float *p, F4 v) { memcpy(p, &v, sizeof v); }

// out = x / rms(x) * w   (sum of squares in double, as ggml does; in four chains, as one chain of
// dependent double adds was most of a decode step's norm time)
static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(((s0 + s1) + (s2 + s3)) / (double)n + eps));
    for (i = 0; i + 4 <= n; i += 4) f4_store(out + i, f4_load(x + i) * scale * f4_load(w + i));
    for (; i < n; i++) out[i] = x[i] * scale * w[i];
}

// out = (x - mean(x)) / sqrt(var(x) + eps) · w + b   (LayerNorm; mean and variance in double, as
// ggml's norm does)
static void layernorm(float *out, const float *x, const float *w, const float *b, int64_t n, float eps) {
    double sum = 0, var = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    float mean = (float)(sum / (double)n);
    for (int64_t i = 0; i < n; i++) var += (double)(x[i] - mean) * (x[i] - mean);
    float scale = (float)(1.0 / sqrt(var / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
}

// Rotates each of n_heads heads by the row's angles, cs: (n_rot/2, 2) cos, sin. Pair i is
// (x[2i], x[2i+1]) in GGUF's `llama` style (mode 0), (x[i], x[i + n_rot/2]) in NeoX style.
static void rope(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs, bool neox) {
    int64_t half = n_rot / 2, stride = neox ? 1 : 2, off = neox ? half : 1;
    for (int64_t h = 0; h < n_heads; h++) {
        float *xh = x + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            float *pa = xh + i * stride, *pb = pa + off;
            float a = *pa, b = *pb;
            *pa = a * c - b * s;
            *pb = a * s + b * c;
        }
    }
}

// RMSNorm of each of n_heads heads of x in place, with the head's weights w (head_dim).
static void head_norm(float *x, int64_t n_heads, int64_t head_dim, const float *w, float eps) {
    for (int64_t h = 0; h < n_heads; h++) rmsnorm(x + h * head_dim, x + h * head_dim, w, head_dim, eps);
}

static void add_bias(float *x, const float *b, int64_t n) {
    if (b)
        for (int64_t i = 0; i < n; i++) x[i] += b[i];
}

// gelu(x) with the tanh approximation, as ggml and Gemma's gelu_pytorch_tanh define it.
static float gelu_tanh(float x) {
    const float k = 0.79788456080286535588f;  // sqrt(2/pi)
    return 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x)));
}

// ---- row jobs for the thread pool ----

typedef struct {
    const Model *m;
    ModelBuffers *b;
    KvCache *kv;
    const EngineRow *rows;
    int64_t layer;
    const float *norm_w;   // norm weight of the current job
    const float *norm_b;   // its LayerNorm bias (LayerNorm architectures), or NULL
    bool add;              // residual add before the norm
    int64_t ffn_width;     // columns of hb/hb2 rows: n_ff, or n_ff_exp in an expert
} Job;

// x += xb · residual_scale (granite's multiplier; 1 elsewhere), over d features
static void residual_add(float *x, const float *xb, int64_t d, float scale) {
    int64_t i = 0;
    if (scale == 1.0f) {
        for (; i + 4 <= d; i += 4) f4_store(x + i, f4_load(x + i) + f4_load(xb + i));
        for (; i < d; i++) x[i] += xb[i];
        return;
    }
    for (; i + 4 <= d; i += 4) f4_store(x + i, f4_load(x + i) + f4_load(xb + i) * scale);
    for (; i < d; i++) x[i] += xb[i] * scale;
}

// out = the model's pre-norm of x: RMSNorm, or LayerNorm (+ bias b) on the LayerNorm archs
static void pre_norm(const Model *m, float *out, const float *x, const float *w, const float *b) {
    if (ARCH_TRAITS[m->hp.arch].layer_norm) layernorm(out, x, w, b, m->hp.n_embd, m->hp.norm_eps);
    else rmsnorm(out, x, w, m->hp.n_embd, m->hp.norm_eps);
}

// x[r] += xb[r] · residual_scale (when add); xb[r] = pre_norm(x[r]), or x[r] as it is when there
// is no pre-norm (w NULL: olmo2)
static void job_residual_norm(void *ctx, int64_t r, int thread) {
    (void)thread;
    const Job *j = ctx;
    int64_t d = j->m->hp.n_embd;
    float *x = j->b->x + r * d, *xb = j->b->xb + r * d;
    if (j->add) residual_add(x, xb, d, j->m->hp.residual_scale);
    if (j->norm_w) pre_norm(j->m, xb, x, j->norm_w, j->norm_b);
    else memcpy(xb, x, (size_t)d * sizeof *x);
}

// xb[r] = rmsnorm(xb[r]) · w — a sublayer's post-norm (gemma), before the residual add
static void job_post_norm(void *ctx, int64_t r, int thread) {
    (void)thread;
    const Job *j = ctx;
    int64_t d = j->m->hp.n_embd;
    float *xb = j->b->xb + r * d;
    rmsnorm(xb, xb, j->norm_w, d, j->m->hp.norm_eps);
}

// Row r's q, k, v: add the biases, norm each head of q and k, rotate them, then store k and v at
// (seq, pos) of the current layer.
static void job_rope_store(void *ctx, int64_t r, int thread) {
    (void)thread;
    const Job *j = ctx;
    const LlamaHparams *hp = &j->m->hp;
    const LlamaLayer *L = &j->m->layers[j->layer];
    int64_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    const float *cs = (L->swa ? j->b->rope_cs_swa : j->b->rope_cs) + r * hp->n_rot;
    float *q = j->b->q + r * q_dim, *k = j->b->k + r * kv_dim, *v = j->b->v + r * kv_dim;
    add_bias(q, L->bq, q_dim);
    add_bias(k, L->bk, kv_dim);
    add_bias(v, L->bv, kv_dim);
    if (ARCH_TRAITS[hp->arch].qk_norm_whole) {  // olmo2: one RMSNorm over all of q, one over k
        if (L->q_norm) rmsnorm(q, q, L->q_norm, q_dim, hp->norm_eps);
        if (L->k_norm) rmsnorm(k, k, L->k_norm, kv_dim, hp->norm_eps);
    } else {
        if (L->q_norm) head_norm(q, hp->n_head, hp->head_dim, L->q_norm, hp->norm_eps);
        if (L->k_norm) head_norm(k, hp->n_head_kv, hp->head_dim, L->k_norm, hp->norm_eps);
    }
    bool neox = ARCH_TRAITS[hp->arch].rope_neox;
    if (!L->no_rope) {
        rope(q, hp->n_head, hp->head_dim, hp->n_rot, cs, neox);
        rope(k, hp->n_head_kv, hp->head_dim, hp->n_rot, cs, neox);
    }
    kv_cache_write(j->kv, j->layer, j->rows[r].seq_id, j->rows[r].pos, k, v);
}

// Task (r, h): the `group` query heads of row r that share KV head h attend over positions
// 0..pos of the row's sequence (the last n_swa of them in a sliding-window layer).
static void job_attention(void *ctx, int64_t task, int thread) {
    const Job *j = ctx;
    const LlamaHparams *hp = &j->m->hp;
    const ModelBuffers *b = j->b;
    int64_t r = task / hp->n_head_kv, h = task % hp->n_head_kv;
    int64_t q_dim = hp->n_head * hp->head_dim, hd = hp->head_dim;
    const float *q = b->q + r * q_dim + h * b->group * hd;
    float *out = b->att + r * q_dim + h * b->group * hd;
    float *scores = b->scores + (size_t)thread * (size_t)(b->group * b->n_ctx);
    int64_t pos = j->rows[r].pos, pos0 = 0;
    if (j->m->layers[j->layer].swa && hp->n_swa > 0 && pos >= hp->n_swa) pos0 = pos - hp->n_swa + 1;
    kv_cache_attend(j->kv, j->layer, j->rows[r].seq_id, h, pos0, pos + 1, q, b->group, hp->attn_scale,
                    hp->attn_softcap, scores, out);
}

// The gated activations are split by columns as well as rows, FFN_COLS per task, so a decode
// step's one row is shared by the pool instead of one thread working while the others wait.
// A multiple of 256 (job_swiglu's exp chunk): the chunks, and so the results, are the same
// whatever the split.
#define FFN_COLS 1024

static int64_t ffn_tasks(int64_t width, int64_t n) { return n * ((width + FFN_COLS - 1) / FFN_COLS); }

// Task t's row r and columns [*c0, *c1) of the (n, width) gate/up buffers.
static int64_t ffn_task(int64_t width, int64_t t, int64_t *c0, int64_t *c1) {
    int64_t per_row = (width + FFN_COLS - 1) / FFN_COLS;
    *c0 = t % per_row * FFN_COLS;
    *c1 = *c0 + FFN_COLS < width ? *c0 + FFN_COLS : width;
    return t / per_row;
}

// hb[r] = silu(hb[r]) * hb2[r], columns c0..c1 of task t's row r
static void job_swiglu(void *ctx, int64_t t, int thread) {
    (void)thread;
    const Job *j = ctx;
    int64_t f = j->ffn_width, c0, c1;
    int64_t r = ffn_task(f, t, &c0, &c1);
    float *g = j->b->hb + r * f;
    const float *u = j->b->hb2 + r * f;
    const VexpKernels *vx = vexp_kernels();
    float e[256];  // exp(-g), a chunk at a time
    for (int64_t c = c0; c < c1; c += 256) {
        int64_t len = c1 - c < 256 ? c1 - c : 256;
        vx->exp_sum(g + c, len, 0.0f, -1.0f, e);
        int64_t i = 0;
        for (; i + 4 <= len; i += 4)
            f4_store(g + c + i, f4_load(g + c + i) / (1.0f + f4_load(e + i)) * f4_load(u + c + i));
        for (; i < len; i++) g[c + i] = g[c + i] / (1.0f + e[i]) * u[c + i];
    }
}

// hb[r] = gelu(hb[r] + b_up), columns c0..c1 of task t's row r: a plain (gateless) GELU FFN
static void job_gelu(void *ctx, int64_t t, int thread) {
    (void)thread;
    const Job *j = ctx;
    int64_t f = j->ffn_width, c0, c1;
    int64_t r = ffn_task(f, t, &c0, &c1);
    float *g = j->b->hb + r * f;
    const float *bias = j->m->layers[j->layer].b_up;
    for (int64_t i = c0; i < c1; i++) g[i] = gelu_tanh(g[i] + (bias ? bias[i] : 0.0f));
}

// hb[r] = gelu(hb[r]) * hb2[r], columns c0..c1 of task t's row r
static void job_geglu(void *ctx, int64_t t, int thread) {
    (void)thread;
    const Job *j = ctx;
    int64_t f = j->ffn_width, c0, c1;
    int64_t r = ffn_task(f, t, &c0, &c1);
    float *g = j->b->hb + r * f;
    const float *u = j->b->hb2 + r * f;
    for (int64_t i = c0; i < c1; i++) g[i] = gelu_tanh(g[i]) * u[i];
}

// ---- mixture of experts ----

// Row r's experts from its router logits (overwritten with the probabilities): p = softmax, the
// K largest (a tie to the lower index), their p as weights, renormalized to sum 1 when norm (the
// sum clamped below at 2^-14, as llama.cpp's build_moe_ffn does).
static void choose_experts(float *p, int64_t E, int64_t K, bool norm, int32_t *sel, float *w) {
    float mx = p[0];
    for (int64_t e = 1; e < E; e++) mx = p[e] > mx ? p[e] : mx;
    double sum = 0;
    for (int64_t e = 0; e < E; e++) sum += (p[e] = expf(p[e] - mx));
    for (int64_t e = 0; e < E; e++) p[e] = (float)(p[e] / sum);
    float wsum = 0;
    for (int64_t k = 0; k < K; k++) {  // K <= 64: selection by repeated scans
        int32_t best = -1;
        for (int64_t e = 0; e < E; e++) {
            bool taken = false;
            for (int64_t i = 0; i < k && !taken; i++) taken = sel[i] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = (int32_t)e;
        }
        sel[k] = best;
        w[k] = p[best];
        wsum += w[k];
    }
    if (norm) {
        wsum = wsum > 6.103515625e-5f ? wsum : 6.103515625e-5f;
        for (int64_t k = 0; k < K; k++) w[k] /= wsum;
    }
}

// The shared expert, when the layer has one: xb[r] += g_r · down(silu(gate · x_r) · up · x_r) over
// the FFN input x_r (moe_in), g_r = sigmoid(sh_gate_inp · x_r) (qwen2moe) or 1 (granitemoe). Leaves
// job->ffn_width at n_ff.
static void shared_expert(Job *job, ThreadPool *tp, const LlamaLayer *L, int64_t n) {
    const LlamaHparams *hp = &job->m->hp;
    ModelBuffers *b = job->b;
    int64_t d = hp->n_embd, s = hp->n_ff_shexp;
    job->ffn_width = s;
    if (s) {
        float *const out[2] = {b->hb, b->hb2};
        const WeightView *const w[2] = {&L->sh_gate, &L->sh_up};
        mm_matmul_many(tp, b->mm_scratch, 2, out, w, b->moe_in, n);
        tp_run(tp, job_swiglu, job, ffn_tasks(s, n));
        mm_matmul(tp, b->mm_scratch, b->moe_y, &L->sh_down, b->hb, n);
        for (int64_t r = 0; r < n; r++) {
            const float *x = b->moe_in + r * d, *y = b->moe_y + r * d;
            float g = 1.0f;
            if (L->sh_gate_inp) {
                float dot = 0.0f;
                for (int64_t c = 0; c < d; c++) dot += L->sh_gate_inp[c] * x[c];
                g = 1.0f / (1.0f + expf(-dot));
            }
            float *o = b->xb + r * d;
            for (int64_t c = 0; c < d; c++) o[c] += g * y[c];
        }
    }
    job->ffn_width = hp->n_ff;
}

// The FFN of a mixture of experts over rows [0, n): xb (the normed input) becomes
// Σ_k w_k · down_k(silu(gate_k · x) · up_k · x) over each row's chosen experts, as llama.cpp's
// build_moe_ffn with softmax gating. Experts run one at a time, each over the rows that chose
// it (gathered), so every expert's weights are read once per step whatever the batch.
static void moe_ffn(Job *job, ThreadPool *tp, const LlamaLayer *L, int64_t n) {
    const LlamaHparams *hp = &job->m->hp;
    ModelBuffers *b = job->b;
    int64_t d = hp->n_embd, E = hp->n_expert, K = hp->n_expert_used, f = hp->n_ff_exp;
    mm_matmul(tp, b->mm_scratch, b->moe_logits, &L->router, b->xb, n);
    for (int64_t r = 0; r < n; r++)
        choose_experts(b->moe_logits + r * E, E, K, hp->expert_weights_norm, b->moe_sel + r * K, b->moe_w + r * K);
    memcpy(b->moe_in, b->xb, (size_t)(n * d) * sizeof(float));
    memset(b->xb, 0, (size_t)(n * d) * sizeof(float));
    job->ffn_width = f;
    if (n == 1 && K <= b->max_rows) {
        // A decode step: every chosen expert reads the same row, so their gate/up products go out
        // MM_MANY_MAX / 2 experts per job (hb row k: expert k's), one SwiGLU job covers them all,
        // then each expert's down product; the outputs add up in the order of k.
        const int32_t *sel = b->moe_sel;
        for (int64_t k0 = 0; k0 < K; k0 += MM_MANY_MAX / 2) {
            int64_t kn = K - k0 < MM_MANY_MAX / 2 ? K - k0 : MM_MANY_MAX / 2;
            float *out[MM_MANY_MAX];
            const WeightView *w[MM_MANY_MAX];
            for (int64_t i = 0; i < kn; i++) {
                out[2 * i] = b->hb + (k0 + i) * f, out[2 * i + 1] = b->hb2 + (k0 + i) * f;
                w[2 * i] = &L->exp_gate[sel[k0 + i]], w[2 * i + 1] = &L->exp_up[sel[k0 + i]];
            }
            mm_matmul_many(tp, b->mm_scratch, (int)(2 * kn), out, w, b->moe_in, 1);
        }
        tp_run(tp, job_swiglu, job, ffn_tasks(f, K));
        for (int64_t k = 0; k < K; k++) {
            mm_matmul(tp, b->mm_scratch, b->moe_y, &L->exp_down[sel[k]], b->hb + k * f, 1);
            for (int64_t c = 0; c < d; c++) b->xb[c] += b->moe_w[k] * b->moe_y[c];
        }
        shared_expert(job, tp, L, n);
        return;
    }
    for (int64_t e = 0; e < E; e++) {
        int64_t ne = 0;
        for (int64_t r = 0; r < n; r++)
            for (int64_t k = 0; k < K; k++)
                if (b->moe_sel[r * K + k] == e) b->moe_rows[ne] = r, b->moe_rw[ne++] = b->moe_w[r * K + k];
        if (ne == 0) continue;
        const float *xe = b->moe_in + b->moe_rows[0] * d;
        if (ne > 1) {
            for (int64_t i = 0; i < ne; i++) memcpy(b->moe_x + i * d, b->moe_in + b->moe_rows[i] * d, (size_t)d * sizeof(float));
            xe = b->moe_x;
        }
        float *const out[2] = {b->hb, b->hb2};
        const WeightView *const w[2] = {&L->exp_gate[e], &L->exp_up[e]};
        mm_matmul_many(tp, b->mm_scratch, 2, out, w, xe, ne);
        tp_run(tp, job_swiglu, job, ffn_tasks(f, ne));
        mm_matmul(tp, b->mm_scratch, b->moe_y, &L->exp_down[e], b->hb, ne);
        for (int64_t i = 0; i < ne; i++) {
            float *y = b->xb + b->moe_rows[i] * d;
            const float *ye = b->moe_y + i * d;
            for (int64_t c = 0; c < d; c++) y[c] += b->moe_rw[i] * ye[c];
        }
    }
    shared_expert(job, tp, L, n);
}

// ---- the forward pass ----

void model_forward(const Model *m, ModelBuffers *b, KvCache *kv, ThreadPool *tp,
                   const EngineRow *rows, int64_t n, float *logits) {
    const LlamaHparams *hp = &m->hp;
    const ArchTraits *at = &ARCH_TRAITS[hp->arch];
    CHECK(n >= 1 && n <= b->max_rows);
    int64_t d = hp->n_embd;
    Job job = {.m = m, .b = b, .kv = kv, .rows = rows, .ffn_width = hp->n_ff};

    // Token embeddings: x[r] = token_embd[token_r] · embd_scale           x: (n, n_embd)
    size_t emb_row = quant_row_bytes(m->tok_embd.type, d);
    for (int64_t r = 0; r < n; r++) {
        float *x = b->x + r * d;
        quant_dequantize_row(m->tok_embd.type, (const uint8_t *)m->tok_embd.data + (size_t)rows[r].token * emb_row,
                             x, d);
        if (hp->embd_scale != 1.0f)
            for (int64_t i = 0; i < d; i++) x[i] *= hp->embd_scale;
    }

    // RoPE angles per row, shared by every layer of a kind: pos · inv_freq[i], cos and sin times
    // the attention factor                                rope_cs, rope_cs_swa: (n, n_rot/2, 2)
    for (int64_t r = 0; r < n; r++) {
        float *cs = b->rope_cs + r * hp->n_rot, *cs_swa = b->rope_cs_swa + r * hp->n_rot;
        for (int64_t i = 0; i < hp->n_rot / 2; i++) {
            double theta = (double)rows[r].pos * b->inv_freq[i], theta_swa = (double)rows[r].pos * b->inv_freq_swa[i];
            cs[2 * i] = (float)cos(theta) * hp->rope_attn_factor;
            cs[2 * i + 1] = (float)sin(theta) * hp->rope_attn_factor;
            cs_swa[2 * i] = (float)cos(theta_swa) * hp->rope_attn_factor;
            cs_swa[2 * i + 1] = (float)sin(theta_swa) * hp->rope_attn_factor;
        }
    }

    for (int64_t l = 0; l < hp->n_layer; l++) {
        const LlamaLayer *L = &m->layers[l];
        job.layer = l;

        // Attention sublayer. xb = rmsnorm(x) (adding the previous FFN output first)
        job.norm_w = L->attn_norm;
        job.norm_b = L->attn_norm_b;
        job.add = l > 0;
        tp_run(tp, job_residual_norm, &job, n);
        // q = xb·Wqᵀ (n, n_head*hd); k, v = xb·Wkᵀ, xb·Wvᵀ (n, n_head_kv*hd) — one job
        float *const qkv_out[3] = {b->q, b->k, b->v};
        const WeightView *const qkv_w[3] = {&L->wq, &L->wk, &L->wv};
        mm_matmul_many(tp, b->mm_scratch, 3, qkv_out, qkv_w, b->xb, n);
        // biases, q/k head norms; rotate q, k; append k, v to each row's sequence in the KV cache
        tp_run(tp, job_rope_store, &job, n);
        // att = softmax(q·Kᵀ/√hd)·V per (row, kv head)                  att: (n, n_head*hd)
        tp_run(tp, job_attention, &job, n * hp->n_head_kv);
        // xb = att·Woᵀ (+ bo)                                           xb: (n, n_embd)
        // (par_att in parallel, xb keeping the normed input the FFN reads too)
        float *attn_out = at->parallel_residual ? b->par_att : b->xb;
        mm_matmul(tp, b->mm_scratch, attn_out, &L->wo, b->att, n);
        for (int64_t r = 0; L->bo && r < n; r++) add_bias(attn_out + r * d, L->bo, d);
        if (L->attn_post_norm) {  // xb = rmsnorm(xb) (gemma)
            job.norm_w = L->attn_post_norm;
            tp_run(tp, job_post_norm, &job, n);
        }

        // FFN sublayer. x += xb; xb = rmsnorm(x) — or, in parallel (phi2, command-r), the FFN
        // reads the attention's normed input, still in xb, and the layer adds both outputs
        if (!at->parallel_residual) {
            job.norm_w = L->ffn_norm;
            job.norm_b = L->ffn_norm_b;
            job.add = true;
            tp_run(tp, job_residual_norm, &job, n);
        }
        if (hp->n_expert) {
            moe_ffn(&job, tp, L, n);
        } else if (at->ffn_plain_gelu) {
            // xb = gelu(xb·Wupᵀ + b_up)·Wdownᵀ + b_down (starcoder2)
            mm_matmul(tp, b->mm_scratch, b->hb, &L->w_up, b->xb, n);
            tp_run(tp, job_gelu, &job, ffn_tasks(hp->n_ff, n));
            mm_matmul(tp, b->mm_scratch, b->xb, &L->w_down, b->hb, n);
            for (int64_t r = 0; L->b_down && r < n; r++) add_bias(b->xb + r * d, L->b_down, d);
        } else {
            // hb = xb·Wgateᵀ, hb2 = xb·Wupᵀ (n, n_ff); hb = silu(hb)·hb2, or gelu(hb)·hb2
            float *const ffn_out[2] = {b->hb, b->hb2};
            const WeightView *const ffn_w[2] = {&L->w_gate, &L->w_up};
            mm_matmul_many(tp, b->mm_scratch, 2, ffn_out, ffn_w, b->xb, n);
            tp_run(tp, at->geglu ? job_geglu : job_swiglu, &job, ffn_tasks(hp->n_ff, n));
            // xb = hb·Wdownᵀ                                            xb: (n, n_embd)
            mm_matmul(tp, b->mm_scratch, b->xb, &L->w_down, b->hb, n);
        }
        if (L->ffn_post_norm) {  // xb = rmsnorm(xb) (gemma)
            job.norm_w = L->ffn_post_norm;
            tp_run(tp, job_post_norm, &job, n);
        }
        if (at->parallel_residual)
            for (int64_t i = 0; i < n * d; i++) b->xb[i] += b->par_att[i];
    }

    // Final norm, only for the rows that want logits: xl[j] = rmsnorm(x[r] + xb[r])
    int64_t n_want = 0;
    for (int64_t r = 0; r < n; r++)
        if (rows[r].want_logits) b->want[n_want++] = r;
    for (int64_t j = 0; j < n_want; j++) {
        int64_t r = b->want[j];
        float *x = b->x + r * d;
        residual_add(x, b->xb + r * d, d, hp->residual_scale);
        pre_norm(m, b->xl + j * d, x, m->output_norm, m->output_norm_b);
    }
    // logits = xl·Woutputᵀ (+ bias), soft-capped as c·tanh(l/c) (gemma2)  (n_want, n_vocab)
    if (n_want == 0) return;
    mm_matmul(tp, b->mm_scratch, logits, &m->output, b->xl, n_want);
    if (m->output_b)
        for (int64_t j = 0; j < n_want; j++) add_bias(logits + j * hp->n_vocab, m->output_b, hp->n_vocab);
    if (hp->logit_scale != 1.0f) {  // granite: logits / logit_scale, as a multiply by its inverse (llama.cpp's);
        // command-r: times its logit_scale
        float inv = hp->logit_multiplier != 0.0f ? hp->logit_multiplier : 1.0f / hp->logit_scale;
        for (int64_t i = 0; i < n_want * hp->n_vocab; i++) logits[i] *= inv;
    }
    if (hp->final_softcap > 0) {
        float c = hp->final_softcap, inv = 1.0f / c;
        for (int64_t i = 0; i < n_want * hp->n_vocab; i++) logits[i] = tanhf(logits[i] * inv) * c;
    }
}
