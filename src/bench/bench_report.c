#include "bench/bench_report.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

static SamplesSummary to_ms(SamplesSummary s) {
    s.mean /= 1000; s.min /= 1000; s.p50 /= 1000; s.p90 /= 1000;
    s.p95 /= 1000; s.p99 /= 1000; s.max /= 1000;
    return s;
}

int bench_report_summarize(LgResult *res, const BenchParams *p, BenchSummary *o) {
    *o = (BenchSummary){.scheduled = res->n, .max_in_flight_seen = res->max_in_flight_seen};
    Samples ttft = {0}, e2e = {0}, tpot = {0}, lag = {0};
    int rc = ERR_NOMEM;
    if (samples_reserve(&ttft, res->n) || samples_reserve(&e2e, res->n) || samples_reserve(&tpot, res->n) ||
        samples_reserve(&lag, res->n))
        goto fail;
    for (int64_t i = 0; i < res->n; i++) {
        const LgRecord *r = &res->rec[i];
        if (r->sent_us < 0) continue;
        o->sent++;
        o->delayed_by_cap += r->delayed_by_cap;
        samples_add(&lag, r->sent_us - r->sched_us);
        if (r->outcome == LG_NOT_SENT) continue;
        o->completed++;
        if (r->cost_seen) { o->cost_usd += r->cost_usd; o->requests_with_cost++; }
        if (r->outcome != LG_OK) { o->errors[r->outcome]++; o->errors_total++; continue; }
        o->ok++;
        o->output_tokens += r->output_tokens;
        if (r->usage_seen) o->requests_with_usage++;
        o->prompt_tokens += r->prompt_tokens >= 0 ? r->prompt_tokens : r->input_tokens;
        samples_add(&e2e, r->e2e_us);
        if (r->ttft_us >= 0) samples_add(&ttft, r->ttft_us);
        if (r->ttft_us >= 0 && r->output_tokens >= 2)
            samples_add(&tpot, (r->e2e_us - r->ttft_us) / (r->output_tokens - 1));
        bool good = (p->slo_ttft_ms <= 0 || (r->ttft_us >= 0 && r->ttft_us <= p->slo_ttft_ms * 1000)) &&
                    (p->slo_e2e_ms <= 0 || r->e2e_us <= p->slo_e2e_ms * 1000);
        o->good += good;
    }
    o->duration_s = (double)res->end_us / 1e6;
    double d = o->duration_s > 0 ? o->duration_s : 1e-9;
    if (p->duration_s > 0) o->offered_rps = (double)o->scheduled / p->duration_s;
    else o->offered_rps = (double)o->sent / d;
    o->rps = (double)o->ok / d;
    o->output_tps = (double)o->output_tokens / d;
    o->input_tps = (double)o->prompt_tokens / d;
    o->goodput_rps = (double)o->good / d;
    o->good_fraction = o->sent ? (double)o->good / (double)o->sent : 0;  // sent == scheduled unless stopped
    o->ttft_ms = to_ms(samples_summary(&ttft));
    o->e2e_ms = to_ms(samples_summary(&e2e));
    o->tpot_ms = to_ms(samples_summary(&tpot));
    o->send_lag_ms = to_ms(samples_summary(&lag));
    o->itl_ms = to_ms(samples_summary(&res->itl_us));
    const struct { const char *metric, *q; double limit, measured; int64_t n; } checks[] = {
        {"ttft", "p95", p->slo_ttft_p95_ms, o->ttft_ms.p95, o->ttft_ms.n},
        {"tpot", "p95", p->slo_tpot_p95_ms, o->tpot_ms.p95, o->tpot_ms.n},
        {"e2e", "p95", p->slo_e2e_p95_ms, o->e2e_ms.p95, o->e2e_ms.n},
        {"e2e", "p99", p->slo_e2e_p99_ms, o->e2e_ms.p99, o->e2e_ms.n},
    };
    o->slo_met = true;
    for (size_t k = 0; k < ARRAY_LEN(checks); k++) {
        if (checks[k].limit <= 0) continue;
        BenchSloCheck *c = &o->slo[o->n_slo++];
        *c = (BenchSloCheck){checks[k].metric, checks[k].q, checks[k].limit, checks[k].measured,
                        checks[k].n > 0 && checks[k].measured <= checks[k].limit};
        o->slo_met &= c->met;
    }
    rc = 0;
fail:
    samples_free(&ttft);
    samples_free(&e2e);
    samples_free(&tpot);
    samples_free(&lag);
    return rc;
}

static int text_row(Buf *b, const char *name, const SamplesSummary *s) {
    if (s->n == 0) return buf_printf(b, "  %-10s %8s\n", name, "-");
    return buf_printf(b, "  %-10s %8lld %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, (long long)s->n,
                      s->mean, s->p50, s->p90, s->p95, s->p99, s->max);
}

int bench_report_text(const BenchParams *p, const BenchSummary *s, Buf *b) {
    int rc = 0;
    if (strcmp(p->mode, "open") == 0 && p->workload)
        rc |= buf_printf(b, "bench: open loop from workload %s (%s): %.3f s window at %02d:%02d, rate x %g, "
                            "%.3f req/s offered, %s endpoint, model %s\n",
                         p->workload_name, p->workload, p->duration_s, (int)(p->window_start_s / 3600),
                         (int)fmod(p->window_start_s / 60, 60), p->rate_scale, p->rate_rps, p->endpoint, p->model);
    else if (strcmp(p->mode, "open") == 0)
        rc |= buf_printf(b, "bench: open loop, %.3f req/s for %.3f s, %s endpoint, model %s\n",
                         p->rate_rps, p->duration_s, p->endpoint, p->model);
    else
        rc |= buf_printf(b, "bench: closed loop, concurrency %lld, %lld requests, %s endpoint, model %s\n",
                         (long long)p->concurrency, (long long)p->requests, p->endpoint, p->model);
    rc |= buf_printf(b, "requests: scheduled %lld, sent %lld, completed %lld, ok %lld, errors %lld\n",
                     (long long)s->scheduled, (long long)s->sent, (long long)s->completed,
                     (long long)s->ok, (long long)s->errors_total);
    if (s->errors_total) {
        rc |= buf_printf(b, "errors:");
        for (int k = 1; k < LG_N_OUTCOMES; k++)
            if (s->errors[k]) rc |= buf_printf(b, " %s %lld", lg_outcome_name(k), (long long)s->errors[k]);
        rc |= buf_printf(b, "\n");
    }
    rc |= buf_printf(b, "duration: %.3f s (offered %.3f req/s, max in flight %lld, delayed by cap %lld)\n",
                     s->duration_s, s->offered_rps, (long long)s->max_in_flight_seen,
                     (long long)s->delayed_by_cap);
    rc |= buf_printf(b, "throughput: %.3f req/s, %.3f output tok/s, %.3f input tok/s (usage from server on %lld of %lld)\n",
                     s->rps, s->output_tps, s->input_tps, (long long)s->requests_with_usage, (long long)s->ok);
    rc |= buf_printf(b, "goodput: %.3f req/s, %lld good = %.4f of sent (SLO ttft %s%.1f ms, e2e %s%.1f ms)\n",
                     s->goodput_rps, (long long)s->good, s->good_fraction,
                     p->slo_ttft_ms > 0 ? "<= " : "none ", p->slo_ttft_ms,
                     p->slo_e2e_ms > 0 ? "<= " : "none ", p->slo_e2e_ms);
    rc |= buf_printf(b, "latency ms    %8s %9s %9s %9s %9s %9s %9s\n", "n", "mean", "p50", "p90", "p95", "p99", "max");
    rc |= text_row(b, "ttft", &s->ttft_ms);
    rc |= text_row(b, "itl", &s->itl_ms);
    rc |= text_row(b, "tpot", &s->tpot_ms);
    rc |= text_row(b, "e2e", &s->e2e_ms);
    rc |= text_row(b, "send_lag", &s->send_lag_ms);
    for (int k = 0; k < s->n_slo; k++)
        rc |= buf_printf(b, "slo: %s %s %.2f ms <= %.2f ms: %s\n", s->slo[k].metric, s->slo[k].quantile,
                         s->slo[k].measured_ms, s->slo[k].limit_ms, s->slo[k].met ? "met" : "MISSED");
    rc |= buf_printf(b, "cost: %.6f USD summed over %lld responses with x-rightsize-cost-usd\n",
                     s->cost_usd, (long long)s->requests_with_cost);
    return rc ? ERR_NOMEM : 0;
}

static cJSON *json_stats(const SamplesSummary *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)s->n);
    cJSON_AddNumberToObject(o, "mean", s->mean);
    cJSON_AddNumberToObject(o, "min", s->min);
    cJSON_AddNumberToObject(o, "p50", s->p50);
    cJSON_AddNumberToObject(o, "p90", s->p90);
    cJSON_AddNumberToObject(o, "p95", s->p95);
    cJSON_AddNumberToObject(o, "p99", s->p99);
    cJSON_AddNumberToObject(o, "max", s->max);
    return o;
}

int bench_report_json(const BenchParams *p, const BenchSummary *s, Buf *out) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return ERR_NOMEM;
    cJSON_AddStringToObject(root, "schema", "rightsize.bench/1");
    cJSON *c = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(c, "url", p->url);
    cJSON_AddStringToObject(c, "endpoint", p->endpoint);
    cJSON_AddStringToObject(c, "model", p->model);
    cJSON_AddStringToObject(c, "mode", p->mode);
    if (p->workload) {
        cJSON_AddStringToObject(c, "workload", p->workload);
        cJSON_AddStringToObject(c, "workload_name", p->workload_name);
        cJSON_AddNumberToObject(c, "window_start_s", p->window_start_s);
        cJSON_AddNumberToObject(c, "rate_scale", p->rate_scale);
    } else {
        cJSON_AddNullToObject(c, "workload");
        cJSON_AddNullToObject(c, "workload_name");
        cJSON_AddNullToObject(c, "window_start_s");
        cJSON_AddNullToObject(c, "rate_scale");
    }
    cJSON_AddNumberToObject(c, "rate_rps", p->rate_rps);
    cJSON_AddNumberToObject(c, "duration_s", p->duration_s);
    cJSON_AddNumberToObject(c, "concurrency", (double)p->concurrency);
    cJSON_AddNumberToObject(c, "requests", (double)p->requests);
    cJSON_AddNumberToObject(c, "input_tokens", (double)p->input_tokens);
    cJSON_AddNumberToObject(c, "output_tokens", (double)p->output_tokens);
    cJSON_AddNumberToObject(c, "max_in_flight", (double)p->max_in_flight);
    cJSON_AddNumberToObject(c, "timeout_s", p->timeout_s);
    cJSON_AddNumberToObject(c, "seed", (double)p->seed);
    cJSON_AddNumberToObject(c, "slo_ttft_ms", p->slo_ttft_ms);
    cJSON_AddNumberToObject(c, "slo_e2e_ms", p->slo_e2e_ms);
    cJSON *r = cJSON_AddObjectToObject(root, "requests");
    cJSON_AddNumberToObject(r, "scheduled", (double)s->scheduled);
    cJSON_AddNumberToObject(r, "sent", (double)s->sent);
    cJSON_AddNumberToObject(r, "completed", (double)s->completed);
    cJSON_AddNumberToObject(r, "ok", (double)s->ok);
    cJSON_AddNumberToObject(r, "good", (double)s->good);
    cJSON_AddNumberToObject(r, "delayed_by_cap", (double)s->delayed_by_cap);
    cJSON_AddNumberToObject(r, "max_in_flight_seen", (double)s->max_in_flight_seen);
    cJSON *e = cJSON_AddObjectToObject(root, "errors");
    cJSON_AddNumberToObject(e, "total", (double)s->errors_total);
    for (int k = 1; k < LG_N_OUTCOMES; k++)
        if (k != LG_NOT_SENT) cJSON_AddNumberToObject(e, lg_outcome_name(k), (double)s->errors[k]);
    cJSON_AddNumberToObject(root, "duration_s", s->duration_s);
    cJSON_AddNumberToObject(root, "offered_rps", s->offered_rps);
    cJSON *t = cJSON_AddObjectToObject(root, "throughput");
    cJSON_AddNumberToObject(t, "requests_per_s", s->rps);
    cJSON_AddNumberToObject(t, "output_tokens_per_s", s->output_tps);
    cJSON_AddNumberToObject(t, "input_tokens_per_s", s->input_tps);
    cJSON_AddNumberToObject(t, "output_tokens", (double)s->output_tokens);
    cJSON_AddNumberToObject(t, "input_tokens", (double)s->prompt_tokens);
    cJSON_AddNumberToObject(t, "requests_with_usage", (double)s->requests_with_usage);
    cJSON *g = cJSON_AddObjectToObject(root, "goodput");
    cJSON_AddNumberToObject(g, "requests_per_s", s->goodput_rps);
    cJSON_AddNumberToObject(g, "fraction", s->good_fraction);
    cJSON *l = cJSON_AddObjectToObject(root, "latency_ms");
    cJSON_AddItemToObject(l, "ttft", json_stats(&s->ttft_ms));
    cJSON_AddItemToObject(l, "itl", json_stats(&s->itl_ms));
    cJSON_AddItemToObject(l, "tpot", json_stats(&s->tpot_ms));
    cJSON_AddItemToObject(l, "e2e", json_stats(&s->e2e_ms));
    cJSON_AddItemToObject(l, "send_lag", json_stats(&s->send_lag_ms));
    cJSON *checks = cJSON_AddArrayToObject(root, "slo_checks");
    for (int k = 0; k < s->n_slo; k++) {
        cJSON *ck = cJSON_CreateObject();
        cJSON_AddStringToObject(ck, "metric", s->slo[k].metric);
        cJSON_AddStringToObject(ck, "quantile", s->slo[k].quantile);
        cJSON_AddNumberToObject(ck, "limit_ms", s->slo[k].limit_ms);
        cJSON_AddNumberToObject(ck, "measured_ms", s->slo[k].measured_ms);
        cJSON_AddBoolToObject(ck, "met", s->slo[k].met);
        cJSON_AddItemToArray(checks, ck);
    }
    cJSON_AddBoolToObject(root, "slo_met", s->slo_met);
    cJSON *cost = cJSON_AddObjectToObject(root, "cost_usd");
    cJSON_AddNumberToObject(cost, "total", s->cost_usd);
    cJSON_AddNumberToObject(cost, "responses_with_cost", (double)s->requests_with_cost);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return ERR_NOMEM;
    int rc = buf_append_str(out, text);
    if (!rc) rc = buf_append(out, "\n", 1);
    free(text);
    return rc;
}

int bench_report_trace_csv(const LgResult *res, Buf *b) {
    int rc = buf_printf(b, "# t0_mono_us=%lld\nid,sched_us,sent_us,ttft_us,e2e_us,outcome,http_status,"
                           "input_tokens,max_tokens,output_tokens,content_chunks,prompt_tokens,cost_usd\n",
                        (long long)res->t0_mono_us);
    for (int64_t i = 0; i < res->n && !rc; i++) {
        const LgRecord *r = &res->rec[i];
        rc = buf_printf(b, "%lld,%lld,%lld,%lld,%lld,%s,%d,%d,%d,%lld,%lld,%lld,%.9g\n", (long long)i,
                        (long long)r->sched_us, (long long)r->sent_us, (long long)r->ttft_us,
                        (long long)r->e2e_us, lg_outcome_name(r->outcome), r->http_status,
                        r->input_tokens, r->max_tokens, (long long)r->output_tokens,
                        (long long)r->content_chunks, (long long)r->prompt_tokens, r->cost_usd);
    }
    return rc;
}
