// adamw.c — AdamW with decoupled weight decay (matrices only), linear warmup then cosine decay,
// and global-norm gradient clipping.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "train/train.h"

int adam_init(AdamState *s, size_t n_params) {
    memset(s, 0, sizeof *s);
    s->m = calloc(2 * n_params, sizeof(float));
    if (!s->m) return ERR_NOMEM;
    s->v = s->m + n_params;
    return 0;
}

void adam_free(AdamState *s) {
    free(s->m);
    memset(s, 0, sizeof *s);
}

float adam_lr(const AdamCfg *c, int64_t step) {
    if (step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    int64_t span = c->total_steps - c->warmup;
    double frac = span > 0 ? (double)(step - c->warmup) / (double)span : 1.0;
    if (frac > 1.0) frac = 1.0;
    double lo = c->lr * c->lr_min_frac;
    return (float)(lo + 0.5 * (c->lr - lo) * (1.0 + cos(M_PI * frac)));
}

typedef struct {
    const AdamCfg *c;
    AdamState *s;
    TrainModel *m;
    float lr, gscale, bc1, bc2;
    size_t chunk;
} AdamJob;

// Norm weights (the 1-D tensors) are not decayed: they are the attn_norm/ffn_norm/output_norm
// ranges of the layout, found by address.
static bool is_norm(const TrainModel *m, size_t i) {
    const float *p = m->params + i;
    int64_t D = m->shape.dim;
    if (p >= m->w.out_norm && p < m->w.out_norm + D) return true;
    for (int64_t l = 0; l < m->shape.n_layers; l++) {
        const TrainLayer *w = &m->w.layers[l];
        if ((p >= w->attn_norm && p < w->attn_norm + D) || (p >= w->ffn_norm && p < w->ffn_norm + D)) return true;
    }
    return false;
}

static void adam_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const AdamJob *j = ctx;
    size_t i0 = (size_t)task * j->chunk, i1 = i0 + j->chunk < j->m->n_params ? i0 + j->chunk : j->m->n_params;
    const AdamCfg *c = j->c;
    float *p = j->m->params, *g = j->m->grads, *m1 = j->s->m, *v = j->s->v;
    for (size_t i = i0; i < i1; i++) {
        float gi = g[i] * j->gscale;
        m1[i] = c->beta1 * m1[i] + (1.0f - c->beta1) * gi;
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * gi * gi;
        float mh = m1[i] / j->bc1, vh = v[i] / j->bc2;
        float wd = is_norm(j->m, i) ? 0.0f : c->weight_decay;
        p[i] -= j->lr * (mh / (sqrtf(vh) + c->eps) + wd * p[i]);
        g[i] = 0.0f;
    }
}

double adam_step(const AdamCfg *c, AdamState *s, TrainModel *m, ThreadPool *tp) {
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++) ss += (double)m->grads[i] * m->grads[i];
    double norm = sqrt(ss);
    AdamJob j = {.c = c, .s = s, .m = m, .lr = adam_lr(c, s->step), .gscale = 1.0f, .chunk = 1 << 14};
    if (c->clip > 0 && norm > c->clip) j.gscale = (float)(c->clip / norm);
    s->step++;
    j.bc1 = 1.0f - powf(c->beta1, (float)s->step);
    j.bc2 = 1.0f - powf(c->beta2, (float)s->step);
    tp_run(tp, adam_task, &j, (int64_t)((m->n_params + j.chunk - 1) / j.chunk));
    return norm;
}
