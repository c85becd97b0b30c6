#include "review/review_advice.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// Thresholds (documented in docs/report.md).
#define IDLE_SHARE_HIGH 0.40        // idle cost / total cost
#define ESCALATION_DRIFT_ABS 0.05   // |measured - planned| escalation rate
#define ERROR_RATE_HIGH 0.01
#define REJECT_RATE_HIGH 0.005
#define TRAFFIC_LOW 0.70            // measured / planned arrival rate
#define TRAFFIC_HIGH 1.20
#define COST_DRIFT 0.10             // |prediction error| of $/1K requests
#define SPEED_DRIFT 0.15            // |prediction error| of TPOT p50 (the step profile's speed)
#define CANARY_MIN_N 30
#define CANARY_ERR_WORSE 0.01       // candidate error rate above baseline's
#define CANARY_P95_WORSE 1.20       // candidate e2e p95 / baseline's

static int add(ReviewAdvice *out, int n, int cap, const char *topic, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int add(ReviewAdvice *out, int n, int cap, const char *topic, const char *fmt, ...) {
    if (n >= cap) return n;
    out[n].topic = topic;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out[n].text, sizeof out[n].text, fmt, ap);
    va_end(ap);
    return n + 1;
}

static double err_rate(const ReviewGroup *g) { return g->n ? (double)(g->n - g->n_success) / (double)g->n : NAN; }

int review_canary_verdicts(const Review *rv, ReviewCanary *out, int cap) {
    int n = 0;
    for (int i = 0; i < rv->canary.n && n < cap; i++) {
        const ReviewGroup *c = &rv->canary.g[i];
        size_t len = strlen(c->name);
        if (len < 10 || strcmp(c->name + len - 10, " candidate")) continue;
        ReviewCanary *v = &out[n++];
        memset(v, 0, sizeof *v);
        snprintf(v->route, sizeof v->route, "%.*s", (int)(len - 10), c->name);
        v->candidate = c;
        char base[REVIEW_NAME_LEN + 16];
        snprintf(base, sizeof base, "%.*s baseline", REVIEW_NAME_LEN - 10, v->route);
        for (int j = 0; j < rv->canary.n; j++)
            if (!strcmp(rv->canary.g[j].name, base)) v->baseline = &rv->canary.g[j];
        if (!v->baseline || c->n < CANARY_MIN_N || v->baseline->n < CANARY_MIN_N) {
            v->verdict = "too few requests";
            snprintf(v->why, sizeof v->why, "%lld candidate and %lld baseline requests; %d each are needed",
                     (long long)c->n, (long long)(v->baseline ? v->baseline->n : 0), CANARY_MIN_N);
            continue;
        }
        double ec = err_rate(c), eb = err_rate(v->baseline);
        double pc = loghist_quantile(&c->e2e_ms, 0.95), pb = loghist_quantile(&v->baseline->e2e_ms, 0.95);
        if (ec - eb > CANARY_ERR_WORSE) {
            v->verdict = "roll back";
            snprintf(v->why, sizeof v->why, "error rate %.2f%% vs baseline %.2f%%", 100 * ec, 100 * eb);
        } else if (pb > 0 && pc / pb > CANARY_P95_WORSE) {
            v->verdict = "hold";
            snprintf(v->why, sizeof v->why, "e2e p95 %.0f ms vs baseline %.0f ms (+%.0f%%)", pc, pb, 100 * (pc / pb - 1));
        } else {
            v->verdict = "promote";
            snprintf(v->why, sizeof v->why, "error rate %.2f%% vs %.2f%%, e2e p95 %.0f ms vs %.0f ms", 100 * ec, 100 * eb, pc, pb);
        }
    }
    return n;
}

static int advise_cost(const Review *rv, const ReviewFit *f, ReviewAdvice *out, int n, int cap) {
    if (f->usd_total > 0 && f->usd_idle / f->usd_total > IDLE_SHARE_HIGH)
        n = add(out, n, cap, "cost", "%.0f%% of the cost ($%.2f of $%.2f) paid for idle replicas: lower the minimum replicas, "
                "let the autoscaler scale down sooner, or re-plan for a smaller deployment",
                100 * f->usd_idle / f->usd_total, f->usd_idle, f->usd_total);
    for (int i = 0; i < rv->tiers.n; i++) {
        const ReviewGroup *g = &rv->tiers.g[i];
        double usd = (double)g->cost_nusd / 1e9;
        if (usd > 0 && (double)g->idle_nusd / 1e9 / usd > IDLE_SHARE_HIGH)
            n = add(out, n, cap, "cost", "tier %s is idle-heavy: %.0f%% of its $%.2f is idle time; fewer replicas or autoscaling "
                    "to fewer would cut it", g->name, 100 * (double)g->idle_nusd / 1e9 / usd, usd);
    }
    if (f->usd_total > 0 && f->usd_idle == 0 && !rv->idle_from_metrics)
        n = add(out, n, cap, "data", "the records carry no idle cost, so the cost figures are the busy (attributed) share only; "
                "pass --metrics with a scrape of the gateway's /metrics to add the idle replicas' cost");
    return n;
}

static int advise_plan(const ReviewFit *f, const ReviewPlan *p, ReviewAdvice *out, int n, int cap) {
    if (!p) {
        n = add(out, n, cap, "plan", "re-plan the workload as measured: `rightsize plan --from-telemetry FILES` fits it "
                "(rate %.3g req/s, arrival CV %.2f) and searches for the cheapest deployment that meets the SLOs",
                f->rate_per_s, f->gap_cv_hourly);
        return n;
    }
    double ratio = f->rate_per_s / p->rate_per_s;
    if (ratio < TRAFFIC_LOW)
        n = add(out, n, cap, "plan", "traffic is %.0f%% of what the plan was sized for (%.3g vs %.3g req/s): re-plan with "
                "`rightsize plan --from-telemetry` for a cheaper deployment", 100 * ratio, f->rate_per_s, p->rate_per_s);
    else if (ratio > TRAFFIC_HIGH)
        n = add(out, n, cap, "plan", "traffic is %.0f%% of what the plan was sized for (%.3g vs %.3g req/s): re-plan before the "
                "SLOs slip (`rightsize plan --from-telemetry`)", 100 * ratio, f->rate_per_s, p->rate_per_s);
    if (!isnan(p->escalation_rate) && !isnan(f->escalation_rate) &&
        fabs(f->escalation_rate - p->escalation_rate) > ESCALATION_DRIFT_ABS)
        n = add(out, n, cap, "cascade", "escalation rate %.1f%% has drifted from the plan's %.1f%%: the cascade's cost and "
                "latency were planned for the latter; retune the confidence threshold or re-plan",
                100 * f->escalation_rate, 100 * p->escalation_rate);
    return n;
}

int review_advise(const Review *rv, const ReviewFit *f, const ReviewPlan *plan, const ReviewSlo *slo,
                  ReviewAdvice *out, int cap) {
    int n = 0;
    const ReviewGroup *a = &rv->all;
    const struct { const char *name; double slo; double q; const LogHist *h; } s[] = {
        {"e2e p95", slo->e2e_p95_ms, 0.95, &a->e2e_ms}, {"e2e p99", slo->e2e_p99_ms, 0.99, &a->e2e_ms},
        {"TTFT p95", slo->ttft_p95_ms, 0.95, &a->ttft_ms}, {"TPOT p95", slo->tpot_p95_ms, 0.95, &a->tpot_ms}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        double v = loghist_quantile(s[i].h, s[i].q);
        if (s[i].slo > 0 && v > s[i].slo)
            n = add(out, n, cap, "slo", "%s is %.0f ms against an SLO of %.0f ms: add capacity or re-plan", s[i].name, v, s[i].slo);
    }
    if (f->rate_429 > REJECT_RATE_HIGH)
        n = add(out, n, cap, "capacity", "%.2f%% of requests were rejected (429): the deployment ran out of queue; add replicas "
                "or raise the autoscaler's ceiling", 100 * f->rate_429);
    if (f->error_rate - f->rate_429 > ERROR_RATE_HIGH) {
        const ReviewGroup *worst = NULL;
        for (int i = 0; i < rv->tiers.n; i++)
            if (!worst || err_rate(&rv->tiers.g[i]) > err_rate(worst)) worst = &rv->tiers.g[i];
        n = add(out, n, cap, "errors", "%.2f%% of requests failed (besides 429s)%s%s", 100 * (f->error_rate - f->rate_429),
                worst ? "; the worst tier is " : "", worst ? worst->name : "");
    }
    n = advise_cost(rv, f, out, n, cap);
    if (plan) {
        ReviewCompare rows[REVIEW_MAX_COMPARE];
        int k = review_plan_compare(plan, rv, f, rows, REVIEW_MAX_COMPARE);
        for (int i = 0; i < k; i++)
            if (!strcmp(rows[i].name, "accelerator $/1K requests") && fabs(rows[i].error) > COST_DRIFT)
                n = add(out, n, cap, "cost", "measured accelerator cost $%.4g per 1K requests is %.0f%% %s the plan's $%.4g",
                        rows[i].measured, 100 * fabs(rows[i].error), rows[i].error > 0 ? "below" : "above", rows[i].predicted);
            else if (!strcmp(rows[i].name, "TPOT p50") && fabs(rows[i].error) > SPEED_DRIFT)
                n = add(out, n, cap, "speed", "decode ran %s than the plan's step profile (TPOT p50 %.3g ms measured, %.3g ms "
                        "predicted): its latency predictions are off by about as much; recalibrate the hardware "
                        "(`rightsize calibrate --url`) and re-plan", rows[i].error > 0 ? "faster" : "slower",
                        rows[i].measured, rows[i].predicted);
    }
    n = advise_plan(f, plan, out, n, cap);
    ReviewCanary cv[REVIEW_MAX_GROUPS];
    int nc = review_canary_verdicts(rv, cv, REVIEW_MAX_GROUPS);
    for (int i = 0; i < nc; i++)
        n = add(out, n, cap, "canary", "canary on route %s: %s (%s)", cv[i].route, cv[i].verdict, cv[i].why);
    if (a->n && (double)rv->n_missing_tokens / (double)a->n > 0.10)
        n = add(out, n, cap, "data", "%lld of %lld records have no token counts (older telemetry, or a backend that reported "
                "none): length distributions and $/1M tokens cover the rest only", (long long)rv->n_missing_tokens, (long long)a->n);
    if (rv->corrupt)
        n = add(out, n, cap, "data", "%lld corrupt line(s) were skipped (first at %s:%lld: %s)", (long long)rv->corrupt,
                rv->bad[0].file, (long long)rv->bad[0].line, rv->bad[0].why);
    return n;
}
