// review_out.h — the review printed three ways: text (the terminal), JSON (schema
// "rightsize.report/1", docs/report.md) and a self-contained HTML page (inline CSS and SVG).
#ifndef RS_REVIEW_OUT_H
#define RS_REVIEW_OUT_H

#include <stdio.h>

#include "review/review.h"
#include "review/review_advice.h"
#include "review/review_plan.h"

typedef struct {
    const Review *rv;
    const ReviewFit *f;
    const ReviewPlan *plan;        // NULL without --plan
    const char *plan_path;
    ReviewSlo slo;
    const char *const *files;
    int n_files;
} ReviewReport;

// Each returns 0, or -1 when writing failed.
int review_print_text(FILE *out, const ReviewReport *r);
int review_print_json(FILE *out, const ReviewReport *r);
int review_print_html(FILE *out, const ReviewReport *r);

#endif
