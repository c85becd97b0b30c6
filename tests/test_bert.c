// test_bert.c — the encoder against a float64 reference written here from the equations (bert.h),
// reading the same synthesized weights straight from the GGUF: mean, CLS and last pooling and
// nomic-bert; several inputs in one pass equal each input alone; the loader's refusals.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/bert.h"
#include "engine/synth_bert.h"
#include "test.h"

static void synth_model(const char *name, bool nomic, int pooling, char *path, size_t cap) {
    char vocab[512], err[256];
    const char *root = getenv("RS_ROOT");
    snprintf(vocab, sizeof vocab, "%s/tests/data/vocab/ggml-vocab-bert-bge.gguf", root ? root : ".");
    snprintf(path, cap, "%s/%s.gguf", test_tmpdir(), name);
    SynthBertOptions o = {.nomic = nomic, .dim = 32, .n_layers = 2, .n_heads = 4, .ffn = 64, .ctx = 16,
                          .pooling = pooling, .type = QT_F32, .seed = 3, .qk_scale = 8, .vocab_path = vocab};
    int rc = synth_bert_write(&o, path, NULL, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "synth: %s", err);
}

// ---- float64 reference ----

static double *tensor(const BertModel *m, const char *fmt, int l, int64_t *n_out) {
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    const GgufTensor *t = gguf_find_tensor(&m->file, name);
    if (!t) return NULL;
    int64_t n = gguf_tensor_nelements(t);
    float *f = malloc((size_t)n * sizeof *f);
    quant_dequantize_row(t->type, t->data, f, n);
    double *d = malloc((size_t)n * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = f[i];
    free(f);
    if (n_out) *n_out = n;
    return d;
}

// y (rows) = W (rows, cols) · x + b
static void matvec(const double *w, const double *b, const double *x, int64_t rows, int64_t cols, double *y) {
    for (int64_t r = 0; r < rows; r++) {
        double s = b ? b[r] : 0;
        for (int64_t c = 0; c < cols; c++) s += w[r * cols + c] * x[c];
        y[r] = s;
    }
}

static void lnorm(double *x, const double *w, const double *b, int64_t n, double eps) {
    double mu = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mu += x[i];
    mu /= n;
    for (int64_t i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu);
    var /= n;
    for (int64_t i = 0; i < n; i++) x[i] = (x[i] - mu) / sqrt(var + eps) * w[i] + b[i];
}

static void reference(const BertModel *m, const int32_t *ids, int64_t T, double *out) {
    const BertHparams *hp = &m->hp;
    int64_t d = hp->n_embd, ff = hp->n_ff, H = hp->n_head, hd = hp->head_dim;
    double *x = calloc((size_t)(T * d), sizeof *x), *q = malloc((size_t)(T * d) * 8), *k = malloc((size_t)(T * d) * 8),
           *v = malloc((size_t)(T * d) * 8), *att = malloc((size_t)(T * d) * 8), *tmp = malloc((size_t)(3 * d + ff) * 8),
           *h1 = malloc((size_t)ff * 8), *h2 = malloc((size_t)ff * 8);
    double *te = tensor(m, "token_embd.weight", 0, NULL), *ty = tensor(m, "token_types.weight", 0, NULL),
           *pe = tensor(m, "position_embd.weight", 0, NULL), *nw = tensor(m, "token_embd_norm.weight", 0, NULL),
           *nb = tensor(m, "token_embd_norm.bias", 0, NULL);
    for (int64_t t = 0; t < T; t++) {
        for (int64_t i = 0; i < d; i++) x[t * d + i] = te[ids[t] * d + i] + ty[i] + (pe ? pe[t * d + i] : 0);
        lnorm(x + t * d, nw, nb, d, hp->norm_eps);
    }
    for (int l = 0; l < hp->n_layer; l++) {
        double *wqkv = tensor(m, "blk.%d.attn_qkv.weight", l, NULL);
        double *wq = tensor(m, "blk.%d.attn_q.weight", l, NULL), *bq = tensor(m, "blk.%d.attn_q.bias", l, NULL);
        double *wk = tensor(m, "blk.%d.attn_k.weight", l, NULL), *bk = tensor(m, "blk.%d.attn_k.bias", l, NULL);
        double *wv = tensor(m, "blk.%d.attn_v.weight", l, NULL), *bv = tensor(m, "blk.%d.attn_v.bias", l, NULL);
        double *wo = tensor(m, "blk.%d.attn_output.weight", l, NULL), *bo = tensor(m, "blk.%d.attn_output.bias", l, NULL);
        double *l1w = tensor(m, "blk.%d.attn_output_norm.weight", l, NULL), *l1b = tensor(m, "blk.%d.attn_output_norm.bias", l, NULL);
        double *wu = tensor(m, "blk.%d.ffn_up.weight", l, NULL), *bu = tensor(m, "blk.%d.ffn_up.bias", l, NULL);
        double *wg = tensor(m, "blk.%d.ffn_gate.weight", l, NULL);
        double *wd = tensor(m, "blk.%d.ffn_down.weight", l, NULL), *bd = tensor(m, "blk.%d.ffn_down.bias", l, NULL);
        double *l2w = tensor(m, "blk.%d.layer_output_norm.weight", l, NULL), *l2b = tensor(m, "blk.%d.layer_output_norm.bias", l, NULL);
        for (int64_t t = 0; t < T; t++) {
            if (wqkv) {
                matvec(wqkv, NULL, x + t * d, 3 * d, d, tmp);
                memcpy(q + t * d, tmp, (size_t)d * 8), memcpy(k + t * d, tmp + d, (size_t)d * 8), memcpy(v + t * d, tmp + 2 * d, (size_t)d * 8);
                for (int64_t h = 0; h < H; h++)
                    for (int64_t i = 0; i < hd / 2; i++) {  // NeoX pairs (i, i + hd/2)
                        double th = t * pow(hp->rope_base, -2.0 * i / hd), c = cos(th), s = sin(th);
                        for (double *p = q + t * d + h * hd; p; p = (p == q + t * d + h * hd) ? k + t * d + h * hd : NULL) {
                            double a = p[i], b = p[i + hd / 2];
                            p[i] = a * c - b * s, p[i + hd / 2] = a * s + b * c;
                        }
                    }
            } else {
                matvec(wq, bq, x + t * d, d, d, q + t * d);
                matvec(wk, bk, x + t * d, d, d, k + t * d);
                matvec(wv, bv, x + t * d, d, d, v + t * d);
            }
        }
        for (int64_t t = 0; t < T; t++)
            for (int64_t h = 0; h < H; h++) {
                double sc[64], mx = -1e300, sum = 0;
                for (int64_t u = 0; u < T; u++) {
                    double s = 0;
                    for (int64_t e = 0; e < hd; e++) s += q[t * d + h * hd + e] * k[u * d + h * hd + e];
                    sc[u] = s / sqrt((double)hd);
                    if (sc[u] > mx) mx = sc[u];
                }
                for (int64_t u = 0; u < T; u++) sum += (sc[u] = exp(sc[u] - mx));
                for (int64_t e = 0; e < hd; e++) {
                    double o = 0;
                    for (int64_t u = 0; u < T; u++) o += sc[u] / sum * v[u * d + h * hd + e];
                    att[t * d + h * hd + e] = o;
                }
            }
        for (int64_t t = 0; t < T; t++) {
            double *xt = x + t * d;
            matvec(wo, bo, att + t * d, d, d, tmp);
            for (int64_t i = 0; i < d; i++) xt[i] += tmp[i];
            lnorm(xt, l1w, l1b, d, hp->norm_eps);
            matvec(wu, bu, xt, ff, d, h1);
            if (wg) {
                matvec(wg, NULL, xt, ff, d, h2);
                for (int64_t i = 0; i < ff; i++) h1[i] *= h2[i] / (1 + exp(-h2[i]));
            } else {
                for (int64_t i = 0; i < ff; i++)
                    h1[i] = 0.5 * h1[i] * (1 + tanh(sqrt(2 / M_PI) * (h1[i] + 0.044715 * h1[i] * h1[i] * h1[i])));
            }
            matvec(wd, bd, h1, d, ff, tmp);
            for (int64_t i = 0; i < d; i++) xt[i] += tmp[i];
            lnorm(xt, l2w, l2b, d, hp->norm_eps);
        }
        double *all[] = {wqkv, wq, bq, wk, bk, wv, bv, wo, bo, l1w, l1b, wu, bu, wg, wd, bd, l2w, l2b};
        for (size_t i = 0; i < ARRAY_LEN(all); i++) free(all[i]);
    }
    double n2 = 0;
    for (int64_t i = 0; i < d; i++) {
        double s = 0;
        if (hp->pooling == BERT_POOL_CLS) s = x[i];
        else if (hp->pooling == BERT_POOL_LAST) s = x[(T - 1) * d + i];
        else for (int64_t t = 0; t < T; t++) s += x[t * d + i] / T;
        out[i] = s;
        n2 += s * s;
    }
    for (int64_t i = 0; i < d; i++) out[i] /= sqrt(n2);
    double *fr[] = {x, q, k, v, att, tmp, h1, h2, te, ty, pe, nw, nb};
    for (size_t i = 0; i < ARRAY_LEN(fr); i++) free(fr[i]);
}

// ---- tests ----

static void check_against_reference(const char *name, bool nomic, int pooling) {
    char path[512], err[256];
    synth_model(name, nomic, pooling, path, sizeof path);
    BertModel m;
    int rc = bert_load(&m, path, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s: %s", name, err);
    ASSERT(rc == 0);
    const int32_t ids[] = {101, 7592, 2088, 999, 2023, 102, 101, 1037, 102};  // two inputs: 6 and 3 tokens
    const int64_t lens[] = {6, 3};
    float got[2 * 32], alone[32];
    double want[32];
    BertBuffers *b = bert_buffers_create(&m, 16, 1);
    ASSERT(b);
    bert_embed(&m, b, NULL, ids, lens, 2, got);
    for (int s = 0; s < 2; s++) {
        reference(&m, ids + (s ? 6 : 0), lens[s], want);
        double worst = 0;
        for (int i = 0; i < 32; i++) worst = fmax(worst, fabs(got[s * 32 + i] - want[i]));
        if (worst > 2e-5) test_fail(__FILE__, __LINE__, "%s input %d: max |ours - float64| = %g", name, s, worst);
        bert_embed(&m, b, NULL, ids + (s ? 6 : 0), &lens[s], 1, alone);
        EXPECT(memcmp(alone, got + s * 32, sizeof alone) == 0);  // batching changes nothing
    }
    bert_buffers_destroy(b);
    bert_free(&m);
}

TEST(bert_mean_pooling_matches_float64_reference) { check_against_reference("bert-mean", false, BERT_POOL_MEAN); }
TEST(bert_cls_pooling_matches_float64_reference) { check_against_reference("bert-cls", false, BERT_POOL_CLS); }
TEST(bert_last_pooling_matches_float64_reference) { check_against_reference("bert-last", false, BERT_POOL_LAST); }
TEST(nomic_bert_matches_float64_reference) { check_against_reference("nomic", true, BERT_POOL_MEAN); }

TEST(bert_refuses_decoders_and_bad_input) {
    char path[512], err[256];
    synth_model("bert-refuse", false, BERT_POOL_MEAN, path, sizeof path);
    BertModel m;
    ASSERT(bert_load(&m, path, err, sizeof err) == 0);
    int32_t ids[20] = {101, 102};
    EXPECT(bert_check_input(&m, ids, 2, err, sizeof err) == 0);
    EXPECT(bert_check_input(&m, ids, 0, err, sizeof err) == ERR_RANGE);
    EXPECT(bert_check_input(&m, ids, 17, err, sizeof err) == ERR_RANGE && strstr(err, "longer"));
    ids[1] = 40000;
    EXPECT(bert_check_input(&m, ids, 2, err, sizeof err) == ERR_RANGE && strstr(err, "vocabulary"));
    bert_free(&m);
}
