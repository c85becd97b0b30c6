#include "review/review_plan.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

static double num_at(const cJSON *o, const char *path) {
    // path: "a.b.c" through nested objects.
    char key[64];
    const cJSON *cur = o;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key) return NAN;
        memcpy(key, path, n);
        key[n] = 0;
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        path += n + (path[n] == '.');
    }
    return cur && cJSON_IsNumber(cur) ? cur->valuedouble : NAN;
}

static void str_at(const cJSON *o, const char *key, char *out, size_t cap) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(out, cap, "%s", cJSON_IsString(s) ? s->valuestring : "");
}

static char *slurp(const char *path, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) { err_set(err, err_len, ERR_IO, "cannot open plan '%s': %s", path, strerror(errno)); return NULL; }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            if (cap > (256u << 20)) { err_set(err, err_len, ERR_FORMAT, "plan '%s' is larger than 256 MiB", path); free(buf); fclose(f); return NULL; }
            cap = cap ? cap * 2 : 131072;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); fclose(f); err_set(err, err_len, ERR_NOMEM, "out of memory reading '%s'", path); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    buf[len] = 0;
    return buf;
}

// The "workload" object both schemas carry: name, traffic, token means, SLOs.
static void load_workload(ReviewPlan *p, const cJSON *wl) {
    str_at(wl, "name", p->workload, sizeof p->workload);
    p->requests_per_month = num_at(wl, "requests_per_month");
    p->rate_per_s = p->requests_per_month / (30.0 * 86400.0);
    p->input_tokens_mean = num_at(wl, "input_tokens_mean");
    p->output_tokens_mean = num_at(wl, "output_tokens_mean");
    p->slo_ttft_p95_ms = num_at(wl, "slo.ttft_p95_ms");
    p->slo_tpot_p95_ms = num_at(wl, "slo.tpot_p95_ms");
    p->slo_e2e_p95_ms = num_at(wl, "slo.e2e_p95_ms");
    p->slo_e2e_p99_ms = num_at(wl, "slo.e2e_p99_ms");
}

static void load_plan1(ReviewPlan *p, const cJSON *root) {
    const cJSON *wl = cJSON_GetObjectItemCaseSensitive(root, "workload");
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(root, "plan");
    load_workload(p, wl);
    if (!cJSON_IsObject(best)) return;
    str_at(best, "id", p->id, sizeof p->id);
    p->cascade = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(best, "cascade"));
    p->usd_month = num_at(best, "cost.usd_month");
    p->accelerator_usd_month = num_at(best, "cost.accelerator_usd_month");
    p->fixed_usd_month = num_at(best, "cost.fixed_usd_month");
    p->usd_per_1k_requests = num_at(best, "cost.usd_per_1k_requests");
    p->usd_per_1m_tokens = num_at(best, "cost.usd_per_1m_tokens");
    p->usd_per_success = num_at(best, "cost.usd_per_successful_outcome");
    p->accel_usd_per_1k_requests = p->accelerator_usd_month / p->requests_per_month * 1000.0;
    p->e2e_p50 = num_at(best, "scenarios.expected.e2e_ms.p50");
    p->e2e_p95 = num_at(best, "scenarios.expected.e2e_ms.p95");
    p->e2e_p99 = num_at(best, "scenarios.expected.e2e_ms.p99");
    p->ttft_p50 = num_at(best, "scenarios.expected.ttft_ms.p50");
    p->ttft_p95 = num_at(best, "scenarios.expected.ttft_ms.p95");
    p->tpot_p50 = num_at(best, "scenarios.expected.tpot_ms.p50");
    p->tpot_p95 = num_at(best, "scenarios.expected.tpot_ms.p95");
    p->utilization = num_at(best, "scenarios.expected.utilization");
    double done = num_at(best, "scenarios.expected.completed"), rej = num_at(best, "scenarios.expected.rejected");
    double esc = num_at(best, "scenarios.expected.escalated");
    if (done > 0 && p->cascade) p->escalation_rate = esc / done;
    if (done + rej > 0) p->reject_rate = rej / (done + rej);
}

static void load_predict1(ReviewPlan *p, const cJSON *root) {
    p->rate_per_s = NAN;
    double arrived = num_at(root, "requests.arrived"), horizon = num_at(root, "config.horizon_s");
    if (arrived > 0 && horizon > 0) p->rate_per_s = arrived / horizon;
    p->requests_per_month = p->rate_per_s * 30 * 86400;
    p->e2e_p50 = num_at(root, "latency_ms.e2e.p50");
    p->e2e_p95 = num_at(root, "latency_ms.e2e.p95");
    p->e2e_p99 = num_at(root, "latency_ms.e2e.p99");
    p->ttft_p50 = num_at(root, "latency_ms.ttft.p50");
    p->ttft_p95 = num_at(root, "latency_ms.ttft.p95");
    p->tpot_p50 = num_at(root, "latency_ms.tpot.p50");
    p->tpot_p95 = num_at(root, "latency_ms.tpot.p95");
    p->utilization = num_at(root, "utilization");
    double done = num_at(root, "requests.completed"), rej = num_at(root, "requests.rejected");
    if (done + rej > 0) p->reject_rate = rej / (done + rej);
}

// `plan WORKLOAD --pipeline FILE --json`: a given pipeline's prediction (its cascades, canaries
// and tiers as served), its money over the simulated span scaled to a month.
static void load_pipeline1(ReviewPlan *p, const cJSON *root) {
    const cJSON *wl = cJSON_GetObjectItemCaseSensitive(root, "workload");
    load_workload(p, wl);
    double end_s = num_at(root, "end_s");
    if (end_s > 0) p->accelerator_usd_month = num_at(root, "cost_nusd") / 1e9 * (30.0 * 86400.0) / end_s;
    p->accel_usd_per_1k_requests = p->accelerator_usd_month / p->requests_per_month * 1000.0;
    p->e2e_p50 = num_at(root, "e2e_ms.p50");
    p->e2e_p95 = num_at(root, "e2e_ms.p95");
    p->e2e_p99 = num_at(root, "e2e_ms.p99");
    p->ttft_p50 = num_at(root, "ttft_ms.p50");
    p->ttft_p95 = num_at(root, "ttft_ms.p95");
    p->tpot_p50 = num_at(root, "tpot_ms.p50");
    p->tpot_p95 = num_at(root, "tpot_ms.p95");
    p->utilization = num_at(root, "utilization");
    double done = num_at(root, "completed"), rej = num_at(root, "rejected"), esc = num_at(root, "escalated");
    p->cascade = esc > 0;
    if (done > 0 && p->cascade) p->escalation_rate = esc / done;
    if (done + rej > 0) p->reject_rate = rej / (done + rej);
}

int review_plan_load(ReviewPlan *p, const char *path, char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    double *nums[] = {&p->requests_per_month, &p->rate_per_s, &p->input_tokens_mean, &p->output_tokens_mean,
                      &p->usd_month, &p->accelerator_usd_month, &p->fixed_usd_month, &p->usd_per_1k_requests,
                      &p->usd_per_1m_tokens, &p->usd_per_success, &p->accel_usd_per_1k_requests, &p->e2e_p50,
                      &p->e2e_p95, &p->e2e_p99, &p->ttft_p50, &p->ttft_p95, &p->tpot_p50, &p->tpot_p95,
                      &p->escalation_rate, &p->reject_rate, &p->utilization};
    for (size_t i = 0; i < ARRAY_LEN(nums); i++) *nums[i] = NAN;
    char *text = slurp(path, err, err_len);
    if (!text) return ERR_IO;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(err, err_len, ERR_FORMAT, "plan '%s' is not JSON (write it with `rightsize plan WORKLOAD --json > %s`)", path, path);
    }
    str_at(root, "schema", p->schema, sizeof p->schema);
    int rc = 0;
    if (!strcmp(p->schema, "rightsize.plan/1")) load_plan1(p, root);
    else if (!strcmp(p->schema, "rightsize.predict/1")) load_predict1(p, root);
    else if (!strcmp(p->schema, "rightsize.pipeline/1")) load_pipeline1(p, root);
    else rc = err_set(err, err_len, ERR_FORMAT, "plan '%s': schema '%s' is not rightsize.plan/1, rightsize.predict/1 or "
                      "rightsize.pipeline/1", path, p->schema[0] ? p->schema : "(none)");
    if (!rc && !strcmp(p->schema, "rightsize.plan/1") && !p->id[0])
        rc = err_set(err, err_len, ERR_FORMAT, "plan '%s' has no chosen plan (\"plan\": null: no candidate met the SLOs)", path);
    cJSON_Delete(root);
    return rc;
}

// ---- predicted vs measured ----

static int row(ReviewCompare *rows, int n, int cap, const char *name, const char *unit, double pred, double meas) {
    if (n >= cap || isnan(pred) || isnan(meas)) return n;
    rows[n] = (ReviewCompare){name, unit, pred, meas, meas != 0 ? (pred - meas) / meas : NAN};
    return n + 1;
}

int review_plan_compare(const ReviewPlan *p, const Review *rv, const ReviewFit *f, ReviewCompare *rows, int cap) {
    const ReviewGroup *a = &rv->all;
    int n = 0;
    n = row(rows, n, cap, "arrival rate", "req/s", p->rate_per_s, f->rate_per_s);
    double in_mean = a->n_tokens ? a->prompt_tokens / (double)a->n_tokens : NAN;
    double out_mean = a->n_tokens ? a->output_tokens / (double)a->n_tokens : NAN;
    n = row(rows, n, cap, "prompt tokens, mean", "tokens", p->input_tokens_mean, in_mean);
    n = row(rows, n, cap, "output tokens, mean", "tokens", p->output_tokens_mean, out_mean);
    n = row(rows, n, cap, "accelerator $/1K requests", "USD", p->accel_usd_per_1k_requests,
            (double)(a->busy_nusd + a->idle_nusd) / 1e9 / (double)a->n * 1000.0);
    // The same prediction for the traffic that came (arrivals are random: a short run's count is
    // off the planned rate by its Poisson noise, and a fixed deployment costs the same either way).
    n = row(rows, n, cap, "accelerator $/1K at the measured rate", "USD",
            p->accelerator_usd_month / (f->rate_per_s * 30.0 * 86400.0) * 1000.0,
            (double)(a->busy_nusd + a->idle_nusd) / 1e9 / (double)a->n * 1000.0);
    n = row(rows, n, cap, "all-in $/1K requests", "USD", p->usd_per_1k_requests,
            a->n ? ((double)a->cost_nusd / 1e9 + (isnan(p->fixed_usd_month) ? 0 : p->fixed_usd_month) * f->span_s / (30.0 * 86400.0)) / (double)a->n * 1000.0 : NAN);
    n = row(rows, n, cap, "e2e p50", "ms", p->e2e_p50, loghist_quantile(&a->e2e_ms, 0.50));
    n = row(rows, n, cap, "e2e p95", "ms", p->e2e_p95, loghist_quantile(&a->e2e_ms, 0.95));
    n = row(rows, n, cap, "e2e p99", "ms", p->e2e_p99, loghist_quantile(&a->e2e_ms, 0.99));
    n = row(rows, n, cap, "TTFT p50", "ms", p->ttft_p50, loghist_quantile(&a->ttft_ms, 0.50));
    n = row(rows, n, cap, "TTFT p95", "ms", p->ttft_p95, loghist_quantile(&a->ttft_ms, 0.95));
    n = row(rows, n, cap, "TPOT p50", "ms", p->tpot_p50, loghist_quantile(&a->tpot_ms, 0.50));
    n = row(rows, n, cap, "TPOT p95", "ms", p->tpot_p95, loghist_quantile(&a->tpot_ms, 0.95));
    n = row(rows, n, cap, "escalation rate", "fraction", p->escalation_rate, f->escalation_rate);
    n = row(rows, n, cap, "rejected (429) rate", "fraction", p->reject_rate, f->rate_429);
    return n;
}

// ---- a /metrics scrape ----

int review_scrape_idle(const char *path, double *idle_usd, char *err, size_t err_len) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot open metrics scrape '%s': %s", path, strerror(errno));
    char line[4096];
    double sum = 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "rightsize_cost_usd_total{", 25) != 0) continue;
        char *close = strchr(line, '}');
        if (!close) continue;
        *close = 0;
        if (!strstr(line, "kind=\"idle\"")) continue;
        sum += strtod(close + 1, NULL);
        found++;
    }
    fclose(f);
    if (!found) return err_set(err, err_len, ERR_FORMAT, "metrics scrape '%s' has no rightsize_cost_usd_total{kind=\"idle\"} series", path);
    *idle_usd = sum;
    return 0;
}
