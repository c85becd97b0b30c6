// ops.c — forward and backward kernels of the trainer (see ops.h).
#include "train/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "train/ops_kernels.h"

// ---- matmul ----

// Reference dot product: 8 partial sums in a fixed order (same result on any thread).
static float dot_ref(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_ref(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static const OpsKernels OPS_REF = {"ref", dot_ref, axpy_ref};
static const OpsKernels OPS_AVX2 = {"avx2", ops_dot_avx2, ops_axpy_avx2};

const OpsKernels *ops_kernels(void) {
    static const OpsKernels *chosen;
    if (!chosen) {
        CpuFeatures f = cpu_features();
        const char *cap = getenv("RIGHTSIZE_KERNELS");
        bool ref = cap && !strcmp(cap, "ref");
        chosen = f.avx2 && f.fma && !ref ? &OPS_AVX2 : &OPS_REF;
    }
    return chosen;
}

static float dot(const float *a, const float *b, int64_t n) { return ops_kernels()->dot(a, b, n); }

typedef struct {
    float *out, *dinp, *dw;
    const float *inp, *w, *dout;
    int64_t N, I, O;
} MmJob;

#define MM_ROWS 4

// Task: MM_ROWS rows of out; each row of W is read once for the block.
static void mm_fwd_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const MmJob *j = ctx;
    int64_t r0 = task * MM_ROWS, r1 = r0 + MM_ROWS < j->N ? r0 + MM_ROWS : j->N;
    for (int64_t o = 0; o < j->O; o++) {
        const float *wr = j->w + o * j->I;
        for (int64_t r = r0; r < r1; r++) j->out[r * j->O + o] = dot(j->inp + r * j->I, wr, j->I);
    }
}

void op_matmul(ThreadPool *tp, float *out, const float *inp, const float *w, int64_t N, int64_t I, int64_t O) {
    MmJob j = {.out = out, .inp = inp, .w = w, .N = N, .I = I, .O = O};
    tp_run(tp, mm_fwd_task, &j, (N + MM_ROWS - 1) / MM_ROWS);
}

// Task t < n_in_tasks: rows of dinp (dinp[r] += Σ_o dout[r,o] W[o]);
// else: rows of dw (dw[o] += Σ_r dout[r,o] inp[r]). Both are axpy loops in a fixed order.
static void mm_bwd_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const MmJob *j = ctx;
    int64_t n_in = (j->N + MM_ROWS - 1) / MM_ROWS;
    if (task < n_in) {
        int64_t r0 = task * MM_ROWS, r1 = r0 + MM_ROWS < j->N ? r0 + MM_ROWS : j->N;
        for (int64_t r = r0; r < r1; r++) {
            float *di = j->dinp + r * j->I;
            const float *d = j->dout + r * j->O;
            for (int64_t o = 0; o < j->O; o++) {
                float s = d[o];
                if (s == 0.0f) continue;
                ops_kernels()->axpy(di, s, j->w + o * j->I, j->I);
            }
        }
        return;
    }
    int64_t o0 = (task - n_in) * MM_ROWS, o1 = o0 + MM_ROWS < j->O ? o0 + MM_ROWS : j->O;
    for (int64_t o = o0; o < o1; o++) {
        float *dwr = j->dw + o * j->I;
        for (int64_t r = 0; r < j->N; r++) {
            float s = j->dout[r * j->O + o];
            if (s == 0.0f) continue;
            ops_kernels()->axpy(dwr, s, j->inp + r * j->I, j->I);
        }
    }
}

void op_matmul_bwd(ThreadPool *tp, float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                   int64_t N, int64_t I, int64_t O) {
    MmJob j = {.dinp = dinp, .dw = dw, .dout = dout, .inp = inp, .w = w, .N = N, .I = I, .O = O};
    tp_run(tp, mm_bwd_task, &j, (N + MM_ROWS - 1) / MM_ROWS + (O + MM_ROWS - 1) / MM_ROWS);
}

// ---- RMSNorm ----

void op_rmsnorm(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t D, float eps) {
    for (int64_t r = 0; r < N; r++) {
        const float *xr = x + r * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float s = (float)(1.0 / sqrt(ss / (double)D + eps));
        rstd[r] = s;
        for (int64_t i = 0; i < D; i++) out[r * D + i] = xr[i] * s * w[i];
    }
}

// y = x·s·w, s = (mean x² + eps)^-½:  dx = s·(w∘dy) − s³/D · x · Σ(w∘dy∘x);  dw = Σ_rows dy∘x·s
void op_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                    int64_t N, int64_t D) {
    for (int64_t r = 0; r < N; r++) {
        const float *xr = x + r * D, *dy = dout + r * D;
        float s = rstd[r];
        double dot_ = 0;
        for (int64_t i = 0; i < D; i++) dot_ += (double)w[i] * dy[i] * xr[i];
        float c = (float)(dot_ * s * s * s / (double)D);
        for (int64_t i = 0; i < D; i++) {
            dx[r * D + i] += s * w[i] * dy[i] - c * xr[i];
            dw[i] += dy[i] * xr[i] * s;
        }
    }
}

// ---- RoPE ----

void op_rope(float *x, const double *inv_freq, int64_t N, int64_t T, int64_t n_heads, int64_t head_dim, int inverse) {
    for (int64_t r = 0; r < N; r++) {
        int64_t pos = r % T;
        for (int64_t i = 0; i < head_dim / 2; i++) {
            double th = (double)pos * inv_freq[i];
            float c = (float)cos(th), s = (float)sin(th);
            if (inverse) s = -s;
            for (int64_t h = 0; h < n_heads; h++) {
                float *p = x + r * n_heads * head_dim + h * head_dim + 2 * i;
                float a = p[0], b = p[1];
                p[0] = a * c - b * s;
                p[1] = a * s + b * c;
            }
        }
    }
}

// ---- SwiGLU ----

void op_swiglu(float *h, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void op_swiglu_bwd(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float sg = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * sg;
        du[i] = dh[i] * silu;
        dg[i] = dh[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
    }
}

// ---- attention ----

typedef struct {
    float *out, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *catt;
    int64_t B, T, H, KVH, hd;
} AttJob;

// Task (b, h): every query position of one head.
static void att_fwd_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const AttJob *j = ctx;
    int64_t b = task / j->H, h = task % j->H, T = j->T, hd = j->hd, kh = h / (j->H / j->KVH);
    int64_t qs = j->H * hd, ks = j->KVH * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t t = 0; t < T; t++) {
        const float *q = j->q + (b * T + t) * qs + h * hd;
        float *p = j->att + ((b * j->H + h) * T + t) * T;
        float mx = -INFINITY;
        for (int64_t u = 0; u <= t; u++) {
            p[u] = dot(q, j->k + (b * T + u) * ks + kh * hd, hd) * scale;
            if (p[u] > mx) mx = p[u];
        }
        double sum = 0;
        for (int64_t u = 0; u <= t; u++) { p[u] = expf(p[u] - mx); sum += p[u]; }
        float inv = (float)(1.0 / sum);
        for (int64_t u = 0; u <= t; u++) p[u] *= inv;
        for (int64_t u = t + 1; u < T; u++) p[u] = 0.0f;
        float *o = j->out + (b * T + t) * qs + h * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int64_t u = 0; u <= t; u++) {
            const float *v = j->v + (b * T + u) * ks + kh * hd;
            for (int64_t i = 0; i < hd; i++) o[i] += p[u] * v[i];
        }
    }
}

void op_attention(ThreadPool *tp, float *out, float *att, const float *q, const float *k, const float *v,
                  int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t hd) {
    AttJob j = {.out = out, .att = att, .q = q, .k = k, .v = v, .B = B, .T = T, .H = H, .KVH = KVH, .hd = hd};
    tp_run(tp, att_fwd_task, &j, B * H);
}

// Task (b, kv head): the query heads that share it, so dk and dv have one writer.
static void att_bwd_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const AttJob *j = ctx;
    int64_t group = j->H / j->KVH, b = task / j->KVH, kh = task % j->KVH, T = j->T, hd = j->hd;
    int64_t qs = j->H * hd, ks = j->KVH * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t t = 0; t < T; t++) {
        memset(j->dk + (b * T + t) * ks + kh * hd, 0, (size_t)hd * sizeof(float));
        memset(j->dv + (b * T + t) * ks + kh * hd, 0, (size_t)hd * sizeof(float));
    }
    float *dp = j->scratch + thread * T;
    for (int64_t h = kh * group; h < (kh + 1) * group; h++) {
        for (int64_t t = 0; t < T; t++) {
            const float *p = j->catt + ((b * j->H + h) * T + t) * T;
            const float *dout = j->dout + (b * T + t) * qs + h * hd, *q = j->q + (b * T + t) * qs + h * hd;
            float *dq = j->dq + (b * T + t) * qs + h * hd;
            double s = 0;
            for (int64_t u = 0; u <= t; u++) {
                const float *v = j->v + (b * T + u) * ks + kh * hd;
                float *dv = j->dv + (b * T + u) * ks + kh * hd;
                dp[u] = dot(dout, v, hd);
                s += (double)p[u] * dp[u];
                for (int64_t i = 0; i < hd; i++) dv[i] += p[u] * dout[i];
            }
            memset(dq, 0, (size_t)hd * sizeof *dq);
            for (int64_t u = 0; u <= t; u++) {
                float ds = p[u] * (dp[u] - (float)s) * scale;
                const float *k = j->k + (b * T + u) * ks + kh * hd;
                float *dk = j->dk + (b * T + u) * ks + kh * hd;
                for (int64_t i = 0; i < hd; i++) {
                    dq[i] += ds * k[i];
                    dk[i] += ds * q[i];
                }
            }
        }
    }
}

void op_attention_bwd(ThreadPool *tp, float *dq, float *dk, float *dv, const float *dout, const float *att,
                      const float *q, const float *k, const float *v, int64_t B, int64_t T, int64_t H, int64_t KVH,
                      int64_t hd, float *scratch) {
    AttJob j = {.scratch = scratch, .dq = dq, .dk = dk, .dv = dv, .dout = dout, .catt = att, .q = q, .k = k, .v = v,
                .B = B, .T = T, .H = H, .KVH = KVH, .hd = hd};
    tp_run(tp, att_bwd_task, &j, B * KVH);
}
