// test_eval.c — the eval module's math against closed forms.
#include <math.h>

#include "eval/ppl.h"
#include "test.h"

TEST(eval_logsumexp_closed_form) {
    float x[3] = {0.0f, (float)log(3.0), 1000.0f};
    EXPECT_NEAR(ppl_logsumexp(x, 2), log(4.0), 1e-7);
    // Large logits do not overflow: log(e^1000 + 4) = 1000 + log(1 + 4e^-1000) = 1000.
    EXPECT_NEAR(ppl_logsumexp(x, 3), 1000.0, 1e-9);
}

TEST(eval_kl_closed_form) {
    // p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3).
    float a[2] = {0.0f, 0.0f}, b[2] = {0.0f, (float)log(3.0)};
    EXPECT_NEAR(ppl_kl(a, b, 2), 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0), 1e-7);
    EXPECT_NEAR(ppl_kl(b, b, 2), 0.0, 1e-12);
    // Shifting all logits changes nothing.
    float c[2] = {5.0f, 5.0f};
    EXPECT_NEAR(ppl_kl(a, c, 2), 0.0, 1e-12);
}
