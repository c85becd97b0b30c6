#include "policy/cascade.h"

#include <math.h>

double cascade_confidence(const double *logprobs, int64_t n, CascadeMode mode) {
    if (n <= 0) return 0.0;
    double sum = 0, lo = 0;
    for (int64_t i = 0; i < n; i++) {
        double lp = logprobs[i];
        if (isnan(lp) || lp > 0) lp = 0;
        sum += lp;
        if (i == 0 || lp < lo) lo = lp;
    }
    double c = mode == CASCADE_MIN ? exp(lo) : exp(sum / (double)n);
    return c < 0 ? 0 : (c > 1 ? 1 : c);
}

bool cascade_escalate(double confidence, double min_confidence) { return confidence < min_confidence; }

bool cascade_decide(int status, double confidence, double min_confidence, bool escalate_on_error) {
    if (status >= 400 && status < 500) return false;
    if (status != 200) return escalate_on_error;
    return cascade_escalate(confidence, min_confidence);
}

bool cascade_call_streams(bool cascade_first_call) { return !cascade_first_call; }
