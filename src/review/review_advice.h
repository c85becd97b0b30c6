// review_advice.h — plain recommendations derived from the review's numbers: each names the
// figure that triggered it and the threshold, so a reader can check the reasoning.
#ifndef RS_REVIEW_ADVICE_H
#define RS_REVIEW_ADVICE_H

#include "review/review.h"
#include "review/review_plan.h"

#define REVIEW_MAX_ADVICE 24

typedef struct {
    const char *topic;    // "cost", "capacity", "cascade", "canary", "slo", "errors", "data", "plan"
    char text[400];
} ReviewAdvice;

// Canary verdict for one route's two arms.
typedef struct {
    char route[REVIEW_NAME_LEN];
    const ReviewGroup *candidate, *baseline;
    const char *verdict;  // "promote", "hold", "roll back", "too few requests"
    char why[200];
} ReviewCanary;

// Fills verdicts for every route with a candidate arm; returns how many.
int review_canary_verdicts(const Review *rv, ReviewCanary *out, int cap);

// Fills out with the recommendations (plan may be NULL); returns how many.
int review_advise(const Review *rv, const ReviewFit *f, const ReviewPlan *plan, const ReviewSlo *slo,
                  ReviewAdvice *out, int cap);

#endif
