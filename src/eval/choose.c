// choose.c — lowest-escalation min_confidence meeting a quality target (see choose.h).
#include "eval/choose.h"

#include <math.h>
#include <stdlib.h>

#include "base/check.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void evaluate(const double *c, const bool *s, const bool *t, int64_t n, double m, double *acc, double *esc) {
    int64_t ok = 0, e = 0;
    for (int64_t i = 0; i < n; i++) {
        bool escalate = c[i] < m;
        e += escalate;
        ok += escalate ? t[i] : s[i];
    }
    *acc = (double)ok / (double)n;
    *esc = (double)e / (double)n;
}

void choose_min_confidence(const double *conf, const bool *student_ok, const bool *teacher_ok, int64_t n,
                           double keep, ChooseResult *out) {
    CHECK(n >= 1);
    double *c = malloc((size_t)n * sizeof *c), *sorted = malloc((size_t)n * sizeof *sorted);
    CHECK(c && sorted);
    int64_t nt = 0, ns = 0;
    for (int64_t i = 0; i < n; i++) {
        c[i] = isnan(conf[i]) ? 0 : conf[i];
        sorted[i] = c[i];
        nt += teacher_ok[i];
        ns += student_ok[i];
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    *out = (ChooseResult){.teacher_accuracy = (double)nt / (double)n, .student_accuracy = (double)ns / (double)n};
    const double target = keep * out->teacher_accuracy - 1e-12;
    // Candidates in increasing order: 0, midpoints between distinct sorted values, above all.
    for (int64_t k = 0; k <= n; k++) {
        double m;
        if (k == 0) m = 0;
        else if (k == n) m = sorted[n - 1] + 1e-4;
        else if (sorted[k] == sorted[k - 1]) continue;
        else m = 0.5 * (sorted[k - 1] + sorted[k]);
        double acc, esc;
        evaluate(c, student_ok, teacher_ok, n, m, &acc, &esc);
        out->min_confidence = m;
        out->accuracy = acc;
        out->escalation = esc;
        if (acc >= target) { out->met = true; break; }
    }
    free(c);
    free(sorted);
}
