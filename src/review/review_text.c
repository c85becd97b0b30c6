// review_text.c — the review on a terminal: one section per question the review answers.
#include <math.h>
#include <string.h>

#include "review/review_out.h"

static const char *const DOW[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

// "12.3" or "-" for a figure the data cannot give.
static const char *fmt(char *buf, size_t cap, const char *f, double v) {
    if (isnan(v) || isinf(v)) snprintf(buf, cap, "-");
    else snprintf(buf, cap, f, v);
    return buf;
}

static void bar_row(FILE *out, const char *label, int64_t v, int64_t max) {
    int w = max ? (int)(40.0 * (double)v / (double)max + 0.5) : 0;
    fprintf(out, "    %-5s %10lld %.*s\n", label, (long long)v, w, "########################################");
}

static void print_inputs(FILE *out, const ReviewReport *r) {
    const Review *rv = r->rv;
    char a[32], b[32];
    telrec_time_str(rv->first_us, a, sizeof a);
    telrec_time_str(rv->last_us, b, sizeof b);
    fprintf(out, "rightsize report — %lld requests, %s to %s (%.2f days)\n", (long long)rv->records, a, b, r->f->days_covered);
    fprintf(out, "inputs: %d file(s), %lld lines: %lld records, %lld corrupt, %lld blank, %lld outside --since/--until\n",
            rv->n_files, (long long)rv->lines, (long long)rv->records, (long long)rv->corrupt, (long long)rv->blank,
            (long long)rv->filtered_out);
    for (int i = 0; i < rv->n_bad; i++)
        fprintf(out, "  corrupt: %s:%lld: %s\n", rv->bad[i].file, (long long)rv->bad[i].line, rv->bad[i].why);
    if (rv->corrupt > rv->n_bad) fprintf(out, "  ... and %lld more corrupt line(s)\n", (long long)(rv->corrupt - rv->n_bad));
    if (rv->n_empty_files) fprintf(out, "  %d empty file(s), e.g. %s\n", rv->n_empty_files, rv->empty_file);
    fprintf(out, "  schema versions:");
    for (int i = 0; i < 8; i++)
        if (rv->schema_count[i]) fprintf(out, " v%d: %lld", i, (long long)rv->schema_count[i]);
    fprintf(out, "%s\n", rv->schema_count[0] ? " (v0 = records without schema_version)" : "");
}

static void print_dist(FILE *out, const char *name, const LogHist *h) {
    char b[6][32];
    fprintf(out, "  %-14s mean %s  p50 %s  p90 %s  p99 %s  max %s  (n %lld)\n", name, fmt(b[0], 32, "%.1f", loghist_mean(h)),
            fmt(b[1], 32, "%.0f", loghist_quantile(h, .5)), fmt(b[2], 32, "%.0f", loghist_quantile(h, .9)),
            fmt(b[3], 32, "%.0f", loghist_quantile(h, .99)), fmt(b[4], 32, "%.0f", h->n ? h->max : NAN), (long long)h->n);
}

static void print_traffic(FILE *out, const ReviewReport *r) {
    const Review *rv = r->rv;
    const ReviewFit *f = r->f;
    char b[4][32];
    fprintf(out, "\ntraffic (as fitted; arrival = record time - e2e, UTC)\n");
    fprintf(out, "  rate %s req/s (%s requests/month); peak hour %02d:00 at %s x the mean hour\n",
            fmt(b[0], 32, "%.4g", f->rate_per_s), fmt(b[1], 32, "%.4g", f->rate_per_s * 30 * 86400), f->peak_hour,
            fmt(b[2], 32, "%.2f", f->peak_to_average));
    fprintf(out, "  burstiness: inter-arrival CV %s (within the hour %s; Poisson = 1), index of dispersion per minute %s\n",
            fmt(b[0], 32, "%.2f", f->gap_cv), fmt(b[1], 32, "%.2f", f->gap_cv_hourly),
            fmt(b[2], 32, "%.2f", f->dispersion_per_minute));
    int64_t mx = 0;
    for (int h = 0; h < 24; h++) if (rv->by_hour[h] > mx) mx = rv->by_hour[h];
    fprintf(out, "  arrivals by hour of day:\n");
    for (int h = 0; h < 24; h++) {
        char l[16];
        snprintf(l, sizeof l, "%02d", h);
        bar_row(out, l, rv->by_hour[h], mx);
    }
    mx = 0;
    for (int d = 0; d < 7; d++) if (rv->by_dow[d] > mx) mx = rv->by_dow[d];
    fprintf(out, "  arrivals by day of week:\n");
    for (int d = 0; d < 7; d++) bar_row(out, DOW[d], rv->by_dow[d], mx);
    print_dist(out, "prompt tokens", &rv->prompt_tokens);
    print_dist(out, "output tokens", &rv->output_tokens);
    fprintf(out, "  escalation %s, errors %s (429s %s), successful outcomes %s\n",
            fmt(b[0], 32, "%.2f%%", 100 * f->escalation_rate), fmt(b[1], 32, "%.2f%%", 100 * f->error_rate),
            fmt(b[2], 32, "%.2f%%", 100 * f->rate_429), fmt(b[3], 32, "%.2f%%", 100 * f->success_rate));
    fprintf(out, "  finish_reason: stop %lld, length %lld, error %lld, other %lld, none %lld\n", (long long)rv->finish_stop,
            (long long)rv->finish_length, (long long)rv->finish_error, (long long)rv->finish_other, (long long)rv->finish_none);
}

static void print_groups(FILE *out, const char *title, const ReviewGroups *gs, int64_t total) {
    if (!gs->n) return;
    fprintf(out, "\nshare by %s\n  %-24s %10s %7s %12s %10s %10s %10s %8s\n", title, "name", "requests", "share", "cost $",
            "$/1K req", "e2e p50", "e2e p95", "errors");
    for (int i = 0; i < gs->n; i++) {
        const ReviewGroup *g = &gs->g[i];
        char b[4][32];
        fprintf(out, "  %-24s %10lld %6.1f%% %12.4f %10s %10s %10s %7.2f%%\n", g->name, (long long)g->n,
                total ? 100.0 * (double)g->n / (double)total : 0, (double)g->cost_nusd / 1e9,
                fmt(b[0], 32, "%.4f", g->n ? (double)g->cost_nusd / 1e9 / (double)g->n * 1000 : NAN),
                fmt(b[1], 32, "%.1f", loghist_quantile(&g->e2e_ms, .5)), fmt(b[2], 32, "%.1f", loghist_quantile(&g->e2e_ms, .95)),
                g->n ? 100.0 * (double)(g->n - g->n_success) / (double)g->n : 0);
    }
}

static void print_cost(FILE *out, const ReviewReport *r) {
    const Review *rv = r->rv;
    const ReviewFit *f = r->f;
    char b[4][32];
    fprintf(out, "\ncost\n  total $%.6f: busy $%.6f, idle $%.6f%s\n", f->usd_total, f->usd_busy, f->usd_idle,
            rv->idle_from_metrics ? " (idle from the /metrics scrape)" : "");
    fprintf(out, "  $%s per 1K requests, $%s per 1M tokens, $%s per successful outcome\n",
            fmt(b[0], 32, "%.4f", f->usd_per_1k_requests), fmt(b[1], 32, "%.4f", f->usd_per_1m_tokens),
            fmt(b[2], 32, "%.6f", f->usd_per_success));
    fprintf(out, "  by day (arrival date, UTC):\n    %-10s %10s %12s %12s\n", "date", "requests", "cost $", "tokens");
    for (int i = 0; i < rv->n_days; i++) {
        char d[16];
        telrec_day_str(rv->day0 + i, d, sizeof d);
        fprintf(out, "    %-10s %10lld %12.4f %12.0f\n", d, (long long)rv->days[i].n, (double)rv->days[i].cost_nusd / 1e9,
                rv->days[i].tokens);
    }
}

static void print_latency(FILE *out, const ReviewReport *r) {
    const ReviewGroup *a = &r->rv->all;
    fprintf(out, "\nlatency, ms (successful requests)\n  %-6s %10s %10s %10s %10s %10s %s\n", "", "p50", "p90", "p95", "p99", "max", "SLO");
    const struct { const char *n; const LogHist *h; double slo; const char *which; } rows[] = {
        {"e2e", &a->e2e_ms, r->slo.e2e_p95_ms, "p95"}, {"ttft", &a->ttft_ms, r->slo.ttft_p95_ms, "p95"},
        {"tpot", &a->tpot_ms, r->slo.tpot_p95_ms, "p95"}, {"queue", &a->queue_ms, 0, ""}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const LogHist *h = rows[i].h;
        char b[5][32], s[96] = "";
        double p95 = loghist_quantile(h, .95);
        if (rows[i].slo > 0)
            snprintf(s, sizeof s, "p95 <= %.0f: %s", rows[i].slo, p95 > rows[i].slo ? "MISSED" : "met");
        if (i == 0 && r->slo.e2e_p99_ms > 0)
            snprintf(s + strlen(s), sizeof s - strlen(s), "%sp99 <= %.0f: %s", s[0] ? "; " : "", r->slo.e2e_p99_ms,
                     loghist_quantile(h, .99) > r->slo.e2e_p99_ms ? "MISSED" : "met");
        fprintf(out, "  %-6s %10s %10s %10s %10s %10s %s\n", rows[i].n, fmt(b[0], 32, "%.1f", loghist_quantile(h, .5)),
                fmt(b[1], 32, "%.1f", loghist_quantile(h, .9)), fmt(b[2], 32, "%.1f", p95),
                fmt(b[3], 32, "%.1f", loghist_quantile(h, .99)), fmt(b[4], 32, "%.1f", h->n ? h->max : NAN), s);
    }
    fprintf(out, "  (percentiles from a log histogram: within %.1f%% of the exact order statistic)\n", 100 * LOGHIST_REL_ERR);
}

static void print_plan(FILE *out, const ReviewReport *r) {
    if (!r->plan) return;
    ReviewCompare rows[REVIEW_MAX_COMPARE];
    int n = review_plan_compare(r->plan, r->rv, r->f, rows, REVIEW_MAX_COMPARE);
    fprintf(out, "\npredicted vs measured (%s%s%s); error = (predicted - measured) / measured\n  %-28s %14s %14s %9s\n",
            r->plan_path, r->plan->id[0] ? ": " : "", r->plan->id, "figure", "predicted", "measured", "error");
    for (int i = 0; i < n; i++) {
        char b[3][32];
        fprintf(out, "  %-28s %14s %14s %9s\n", rows[i].name, fmt(b[0], 32, "%.5g", rows[i].predicted),
                fmt(b[1], 32, "%.5g", rows[i].measured), fmt(b[2], 32, "%+.1f%%", 100 * rows[i].error));
    }
}

int review_print_text(FILE *out, const ReviewReport *r) {
    print_inputs(out, r);
    print_traffic(out, r);
    print_groups(out, "tier", &r->rv->tiers, r->rv->all.n);
    print_groups(out, "route", &r->rv->routes, r->rv->all.n);
    print_cost(out, r);
    print_latency(out, r);
    print_plan(out, r);
    ReviewCanary cv[REVIEW_MAX_GROUPS];
    int nc = review_canary_verdicts(r->rv, cv, REVIEW_MAX_GROUPS);
    if (nc) fprintf(out, "\ncanaries\n");
    for (int i = 0; i < nc; i++)
        fprintf(out, "  route %s: %s (%s)\n", cv[i].route, cv[i].verdict, cv[i].why);
    ReviewAdvice adv[REVIEW_MAX_ADVICE];
    int na = review_advise(r->rv, r->f, r->plan, &r->slo, adv, REVIEW_MAX_ADVICE);
    fprintf(out, "\nrecommendations\n");
    if (!na) fprintf(out, "  none: the figures above are within every threshold (docs/report.md lists them)\n");
    for (int i = 0; i < na; i++) fprintf(out, "  - [%s] %s\n", adv[i].topic, adv[i].text);
    return ferror(out) ? -1 : 0;
}
