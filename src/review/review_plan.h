// review_plan.h — the plan a deployment was built from (`plan --json`, docs/plan-json.md, a
// one-deployment `plan --profile --json` prediction, or a given pipeline's `plan --pipeline
// --json` prediction), read back to set it beside what telemetry
// measured: each figure predicted, measured, and the prediction's error.
#ifndef RS_REVIEW_PLAN_H
#define RS_REVIEW_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "review/review.h"

// What a plan predicted. NAN where the plan does not say.
typedef struct {
    char schema[32];                 // "rightsize.plan/1", "rightsize.predict/1" or "rightsize.pipeline/1"
    char id[160];                    // the chosen candidate's id ("" for a prediction)
    char workload[64];
    double requests_per_month, rate_per_s, input_tokens_mean, output_tokens_mean;
    double slo_ttft_p95_ms, slo_tpot_p95_ms, slo_e2e_p95_ms, slo_e2e_p99_ms;   // 0 = none
    double usd_month, accelerator_usd_month, fixed_usd_month;
    double usd_per_1k_requests, usd_per_1m_tokens, usd_per_success;
    double accel_usd_per_1k_requests;    // accelerator cost only (what telemetry attributes)
    double e2e_p50, e2e_p95, e2e_p99, ttft_p50, ttft_p95, tpot_p50, tpot_p95;
    double escalation_rate, reject_rate, utilization;
    bool cascade;
} ReviewPlan;

// Loads a plan or prediction JSON file. 0, or ERR_IO / ERR_FORMAT with a message naming the file.
int review_plan_load(ReviewPlan *p, const char *path, char *err, size_t err_len);

// One row of the predicted-vs-measured table. error = (predicted - measured) / measured.
typedef struct {
    const char *name, *unit;
    double predicted, measured, error;
} ReviewCompare;

#define REVIEW_MAX_COMPARE 20
// Fills rows from the plan and the measured figures; returns the number of rows.
int review_plan_compare(const ReviewPlan *p, const Review *rv, const ReviewFit *f, ReviewCompare *rows, int cap);

// Reads the idle cost from a Prometheus text scrape of the gateway (`rightsize_cost_usd_total`
// with kind="idle", summed over its series). 0 or an Err with a message; *idle_usd set.
int review_scrape_idle(const char *path, double *idle_usd, char *err, size_t err_len);

#endif
