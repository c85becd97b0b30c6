// loss.c — the distillation loss and its gradient with respect to the student's logits.
//   CE:  −log softmax(z)[y]                         d/dz = softmax(z) − onehot(y)
//   KL:  T² · Σ pt·(log pt − log ps), p· = softmax(·/T)   d/dz = T · (ps − pt)
#include <math.h>
#include <string.h>

#include "train/train.h"

double train_distill_loss(const float *logits, const float *teacher, const int32_t *targets,
                          const uint8_t *mask, int64_t n_rows, int64_t V, float alpha, float temp,
                          float *dlogits, double *ce_out, double *kl_out) {
    int64_t n = 0;
    for (int64_t r = 0; r < n_rows; r++) n += mask[r] != 0;
    memset(dlogits, 0, (size_t)(n_rows * V) * sizeof(float));
    if (!teacher) alpha = 0.0f;
    double ce = 0, kl = 0;
    for (int64_t r = 0; r < n_rows && n > 0; r++) {
        if (!mask[r]) continue;
        const float *z = logits + r * V;
        float *dz = dlogits + r * V;
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        for (int64_t i = 0; i < V; i++) sum += exp(z[i] - mx);
        double lse = mx + log(sum);
        ce += lse - z[targets[r]];
        for (int64_t i = 0; i < V; i++) dz[i] = (float)((1.0 - alpha) * exp(z[i] - lse) / (double)n);
        dz[targets[r]] -= (float)((1.0 - alpha) / (double)n);
        if (alpha > 0.0f) {
            const float *zt = teacher + r * V;
            double ms = -INFINITY, mt = -INFINITY, ss = 0, st = 0;
            for (int64_t i = 0; i < V; i++) {
                ms = z[i] / temp > ms ? z[i] / temp : ms;
                mt = zt[i] / temp > mt ? zt[i] / temp : mt;
            }
            for (int64_t i = 0; i < V; i++) { ss += exp(z[i] / temp - ms); st += exp(zt[i] / temp - mt); }
            double ls_ = ms + log(ss), lt = mt + log(st), k = 0;
            for (int64_t i = 0; i < V; i++) {
                double lps = z[i] / temp - ls_, lpt = zt[i] / temp - lt, pt = exp(lpt);
                k += pt * (lpt - lps);
                dz[i] += (float)(alpha * temp * (exp(lps) - pt) / (double)n);
            }
            kl += (double)temp * temp * k;
        }
    }
    if (n > 0) { ce /= (double)n; kl /= (double)n; }
    if (ce_out) *ce_out = ce;
    if (kl_out) *kl_out = kl;
    return alpha * kl + (1.0 - alpha) * ce;
}
