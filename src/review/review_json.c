// review_json.c — `report --json`: one object, schema "rightsize.report/1" (docs/report.md).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "review/review_out.h"

// NaN (a figure the data cannot give) becomes null.
static void num(cJSON *o, const char *k, double v) {
    if (isnan(v) || isinf(v)) cJSON_AddNullToObject(o, k);
    else cJSON_AddNumberToObject(o, k, v);
}

static cJSON *pct(const LogHist *h) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)h->n);
    num(o, "mean", loghist_mean(h));
    num(o, "p50", loghist_quantile(h, 0.50));
    num(o, "p90", loghist_quantile(h, 0.90));
    num(o, "p95", loghist_quantile(h, 0.95));
    num(o, "p99", loghist_quantile(h, 0.99));
    num(o, "max", h->n ? h->max : NAN);
    return o;
}

static cJSON *group(const ReviewGroup *g, int64_t total) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", g->name);
    cJSON_AddNumberToObject(o, "requests", (double)g->n);
    num(o, "share", total ? (double)g->n / (double)total : NAN);
    cJSON_AddNumberToObject(o, "ok", (double)g->n_ok);
    cJSON_AddNumberToObject(o, "successful", (double)g->n_success);
    cJSON_AddNumberToObject(o, "rejected_429", (double)g->n_429);
    cJSON_AddNumberToObject(o, "client_errors_4xx", (double)g->n_4xx);
    cJSON_AddNumberToObject(o, "server_errors_5xx", (double)g->n_5xx);
    cJSON_AddNumberToObject(o, "stream_errors", (double)g->n_stream_error);
    cJSON_AddNumberToObject(o, "escalated", (double)g->n_escalated);
    num(o, "error_rate", g->n ? (double)(g->n - g->n_success) / (double)g->n : NAN);
    cJSON_AddNumberToObject(o, "cost_usd", (double)g->cost_nusd / 1e9);
    cJSON_AddNumberToObject(o, "cost_busy_usd", (double)g->busy_nusd / 1e9);
    cJSON_AddNumberToObject(o, "cost_idle_usd", (double)g->idle_nusd / 1e9);
    num(o, "usd_per_1k_requests", g->n ? (double)g->cost_nusd / 1e9 / (double)g->n * 1000 : NAN);
    double tok = g->prompt_tokens + g->output_tokens;
    num(o, "usd_per_1m_tokens", tok > 0 ? (double)g->cost_nusd / 1e9 / tok * 1e6 : NAN);
    num(o, "usd_per_successful_outcome", g->n_success ? (double)g->cost_nusd / 1e9 / (double)g->n_success : NAN);
    cJSON_AddNumberToObject(o, "prompt_tokens", g->prompt_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", g->output_tokens);
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    cJSON_AddItemToObject(lat, "e2e", pct(&g->e2e_ms));
    cJSON_AddItemToObject(lat, "ttft", pct(&g->ttft_ms));
    cJSON_AddItemToObject(lat, "tpot", pct(&g->tpot_ms));
    cJSON_AddItemToObject(lat, "queue", pct(&g->queue_ms));
    return o;
}

static cJSON *groups(const ReviewGroups *gs, int64_t total) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < gs->n; i++) cJSON_AddItemToArray(a, group(&gs->g[i], total));
    return a;
}

static cJSON *counts(const int64_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static void add_inputs(cJSON *root, const ReviewReport *r) {
    const Review *rv = r->rv;
    cJSON *in = cJSON_AddObjectToObject(root, "inputs");
    cJSON *files = cJSON_AddArrayToObject(in, "files");
    for (int i = 0; i < r->n_files; i++) cJSON_AddItemToArray(files, cJSON_CreateString(r->files[i]));
    cJSON_AddNumberToObject(in, "empty_files", rv->n_empty_files);
    cJSON_AddNumberToObject(in, "lines", (double)rv->lines);
    cJSON_AddNumberToObject(in, "records", (double)rv->records);
    cJSON_AddNumberToObject(in, "replica_records", (double)rv->replica_records);
    cJSON_AddNumberToObject(in, "corrupt_lines", (double)rv->corrupt);
    cJSON_AddNumberToObject(in, "blank_lines", (double)rv->blank);
    cJSON_AddNumberToObject(in, "filtered_out", (double)rv->filtered_out);
    cJSON_AddNumberToObject(in, "late_arrivals", (double)rv->late);
    cJSON *bad = cJSON_AddArrayToObject(in, "corrupt_examples");
    for (int i = 0; i < rv->n_bad; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "file", rv->bad[i].file);
        cJSON_AddNumberToObject(b, "line", (double)rv->bad[i].line);
        cJSON_AddStringToObject(b, "error", rv->bad[i].why);
        cJSON_AddItemToArray(bad, b);
    }
    cJSON *sv = cJSON_AddObjectToObject(in, "schema_versions");
    for (int i = 0; i < 8; i++)
        if (rv->schema_count[i]) {
            char k[12];
            snprintf(k, sizeof k, "%d", i);
            cJSON_AddNumberToObject(sv, k, (double)rv->schema_count[i]);
        }
    cJSON_AddNumberToObject(in, "records_without_tokens", (double)rv->n_missing_tokens);
    cJSON_AddNumberToObject(in, "records_without_e2e", (double)rv->n_missing_e2e);
}

static void add_traffic(cJSON *root, const ReviewReport *r) {
    const Review *rv = r->rv;
    const ReviewFit *f = r->f;
    cJSON *t = cJSON_AddObjectToObject(root, "traffic");
    char a[32], b[32];
    telrec_time_str(rv->first_us, a, sizeof a);
    telrec_time_str(rv->last_us, b, sizeof b);
    cJSON_AddStringToObject(t, "first_arrival", a);
    cJSON_AddStringToObject(t, "last_arrival", b);
    num(t, "span_s", f->span_s);
    num(t, "rate_per_s", f->rate_per_s);
    num(t, "requests_per_month", f->rate_per_s * 30 * 86400);
    cJSON_AddItemToObject(t, "by_hour_utc", counts(rv->by_hour, 24));
    cJSON_AddItemToObject(t, "by_day_of_week", counts(rv->by_dow, 7));
    num(t, "peak_hour_utc", f->peak_hour);
    num(t, "peak_to_average", f->peak_to_average);
    cJSON *bu = cJSON_AddObjectToObject(t, "burstiness");
    num(bu, "interarrival_cv", f->gap_cv);
    num(bu, "interarrival_cv_within_hour", f->gap_cv_hourly);
    num(bu, "dispersion_index_per_minute", f->dispersion_per_minute);
    cJSON_AddItemToObject(t, "prompt_tokens", pct(&rv->prompt_tokens));
    cJSON_AddItemToObject(t, "output_tokens", pct(&rv->output_tokens));
    num(t, "escalation_rate", f->escalation_rate);
    num(t, "error_rate", f->error_rate);
    num(t, "rejected_429_rate", f->rate_429);
    num(t, "success_rate", f->success_rate);
    cJSON *fr = cJSON_AddObjectToObject(t, "finish_reason");
    cJSON_AddNumberToObject(fr, "stop", (double)rv->finish_stop);
    cJSON_AddNumberToObject(fr, "length", (double)rv->finish_length);
    cJSON_AddNumberToObject(fr, "error", (double)rv->finish_error);
    cJSON_AddNumberToObject(fr, "other", (double)rv->finish_other);
    cJSON_AddNumberToObject(fr, "none", (double)rv->finish_none);
}

static void add_cost(cJSON *root, const ReviewReport *r) {
    const Review *rv = r->rv;
    const ReviewFit *f = r->f;
    cJSON *c = cJSON_AddObjectToObject(root, "cost");
    cJSON_AddNumberToObject(c, "usd", f->usd_total);
    cJSON_AddNumberToObject(c, "busy_usd", f->usd_busy);
    cJSON_AddNumberToObject(c, "idle_usd", f->usd_idle);
    cJSON_AddStringToObject(c, "idle_source", rv->idle_from_metrics ? "metrics" : "records");
    num(c, "usd_per_1k_requests", f->usd_per_1k_requests);
    num(c, "usd_per_1m_tokens", f->usd_per_1m_tokens);
    num(c, "usd_per_successful_outcome", f->usd_per_success);
    cJSON *days = cJSON_AddArrayToObject(c, "by_day");
    for (int i = 0; i < rv->n_days; i++) {
        const ReviewDay *d = &rv->days[i];
        cJSON *o = cJSON_CreateObject();
        char s[16];
        telrec_day_str(rv->day0 + i, s, sizeof s);
        cJSON_AddStringToObject(o, "date", s);
        cJSON_AddNumberToObject(o, "requests", (double)d->n);
        cJSON_AddNumberToObject(o, "successful", (double)d->n_success);
        cJSON_AddNumberToObject(o, "usd", (double)d->cost_nusd / 1e9);
        cJSON_AddNumberToObject(o, "busy_usd", (double)d->busy_nusd / 1e9);
        cJSON_AddNumberToObject(o, "idle_usd", (double)d->idle_nusd / 1e9);
        cJSON_AddNumberToObject(o, "tokens", d->tokens);
        cJSON_AddItemToArray(days, o);
    }
}

static void add_plan(cJSON *root, const ReviewReport *r) {
    if (!r->plan) { cJSON_AddNullToObject(root, "plan"); return; }
    const ReviewPlan *p = r->plan;
    cJSON *o = cJSON_AddObjectToObject(root, "plan");
    cJSON_AddStringToObject(o, "file", r->plan_path);
    cJSON_AddStringToObject(o, "schema", p->schema);
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON *rows = cJSON_AddArrayToObject(o, "compare");
    ReviewCompare cmp[REVIEW_MAX_COMPARE];
    int n = review_plan_compare(p, r->rv, r->f, cmp, REVIEW_MAX_COMPARE);
    for (int i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "figure", cmp[i].name);
        cJSON_AddStringToObject(x, "unit", cmp[i].unit);
        num(x, "predicted", cmp[i].predicted);
        num(x, "measured", cmp[i].measured);
        num(x, "error", cmp[i].error);
        cJSON_AddItemToArray(rows, x);
    }
}

int review_print_json(FILE *out, const ReviewReport *r) {
    const Review *rv = r->rv;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "rightsize.report/1");
    add_inputs(root, r);
    add_traffic(root, r);
    add_cost(root, r);
    cJSON_AddItemToObject(root, "overall", group(&rv->all, rv->all.n));
    cJSON_AddItemToObject(root, "tiers", groups(&rv->tiers, rv->all.n));
    cJSON_AddItemToObject(root, "routes", groups(&rv->routes, rv->all.n));
    cJSON *slo = cJSON_AddObjectToObject(root, "slo");
    const struct { const char *k; double slo, q; const LogHist *h; } s[] = {
        {"e2e_p95_ms", r->slo.e2e_p95_ms, 0.95, &rv->all.e2e_ms}, {"e2e_p99_ms", r->slo.e2e_p99_ms, 0.99, &rv->all.e2e_ms},
        {"ttft_p95_ms", r->slo.ttft_p95_ms, 0.95, &rv->all.ttft_ms}, {"tpot_p95_ms", r->slo.tpot_p95_ms, 0.95, &rv->all.tpot_ms}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        if (!(s[i].slo > 0)) continue;
        cJSON *x = cJSON_AddObjectToObject(slo, s[i].k);
        double v = loghist_quantile(s[i].h, s[i].q);
        cJSON_AddNumberToObject(x, "target", s[i].slo);
        num(x, "measured", v);
        cJSON_AddBoolToObject(x, "met", !(v > s[i].slo));
    }
    add_plan(root, r);
    ReviewCanary cv[REVIEW_MAX_GROUPS];
    int nc = review_canary_verdicts(rv, cv, REVIEW_MAX_GROUPS);
    cJSON *can = cJSON_AddArrayToObject(root, "canaries");
    for (int i = 0; i < nc; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "route", cv[i].route);
        cJSON_AddStringToObject(x, "verdict", cv[i].verdict);
        cJSON_AddStringToObject(x, "why", cv[i].why);
        cJSON_AddItemToObject(x, "candidate", group(cv[i].candidate, rv->all.n));
        if (cv[i].baseline) cJSON_AddItemToObject(x, "baseline", group(cv[i].baseline, rv->all.n));
        cJSON_AddItemToArray(can, x);
    }
    ReviewAdvice adv[REVIEW_MAX_ADVICE];
    int na = review_advise(rv, r->f, r->plan, &r->slo, adv, REVIEW_MAX_ADVICE);
    cJSON *ra = cJSON_AddArrayToObject(root, "recommendations");
    for (int i = 0; i < na; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "topic", adv[i].topic);
        cJSON_AddStringToObject(x, "text", adv[i].text);
        cJSON_AddItemToArray(ra, x);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return -1;
    int rc = fputs(text, out) < 0 || fputc('\n', out) == EOF ? -1 : 0;
    free(text);
    return rc;
}
