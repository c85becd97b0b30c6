// review_html.c — `report --html FILE`: the review as one self-contained page (inline CSS, inline
// SVG charts; no scripts, no external resources), for the quarterly review's slides and e-mail.
#include <math.h>
#include <string.h>

#include "review/review_out.h"

static void esc(FILE *o, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '&': fputs("&amp;", o); break;
        case '"': fputs("&quot;", o); break;
        default: fputc(*s, o);
        }
    }
}

static void cell(FILE *o, const char *f, double v) {
    fputs("<td>", o);
    if (isnan(v) || isinf(v)) fputs("&ndash;", o);
    else fprintf(o, f, v);
    fputs("</td>", o);
}

// A bar chart of n values with labels, as inline SVG.
static void bars(FILE *o, const char *title, const double *v, const char *const *labels, int n, const char *unit) {
    double mx = 0;
    for (int i = 0; i < n; i++) if (v[i] > mx) mx = v[i];
    int W = 720, H = 180, pad = 28;
    double bw = (double)(W - pad) / (n ? n : 1);
    fprintf(o, "<figure><figcaption>");
    esc(o, title);
    fprintf(o, "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">", W, H + 20);
    for (int i = 0; i < n; i++) {
        double h = mx > 0 ? (H - 10) * v[i] / mx : 0;
        fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#3b6ea5\"><title>", pad + i * bw,
                H - h, bw * 0.8, h);
        esc(o, labels[i]);
        fprintf(o, ": %.6g %s</title></rect>", v[i], unit);
        if (n <= 31 || i % (n / 24 + 1) == 0) {
            fprintf(o, "<text x=\"%.1f\" y=\"%d\" font-size=\"9\">", pad + i * bw, H + 12);
            esc(o, labels[i]);
            fputs("</text>", o);
        }
    }
    fprintf(o, "<text x=\"0\" y=\"10\" font-size=\"9\">%.4g</text></svg></figure>\n", mx);
}

static void group_table(FILE *o, const char *title, const ReviewGroups *gs, int64_t total) {
    if (!gs->n) return;
    fprintf(o, "<h3>%s</h3><table><tr><th>name</th><th>requests</th><th>share</th><th>cost $</th><th>$/1K req</th>"
               "<th>e2e p50 ms</th><th>e2e p95 ms</th><th>error rate</th></tr>\n", title);
    for (int i = 0; i < gs->n; i++) {
        const ReviewGroup *g = &gs->g[i];
        fputs("<tr><td>", o);
        esc(o, g->name);
        fprintf(o, "</td><td>%lld</td>", (long long)g->n);
        cell(o, "%.1f%%", total ? 100.0 * (double)g->n / (double)total : NAN);
        cell(o, "%.4f", (double)g->cost_nusd / 1e9);
        cell(o, "%.4f", g->n ? (double)g->cost_nusd / 1e9 / (double)g->n * 1000 : NAN);
        cell(o, "%.1f", loghist_quantile(&g->e2e_ms, .5));
        cell(o, "%.1f", loghist_quantile(&g->e2e_ms, .95));
        cell(o, "%.2f%%", g->n ? 100.0 * (double)(g->n - g->n_success) / (double)g->n : NAN);
        fputs("</tr>\n", o);
    }
    fputs("</table>\n", o);
}

static void charts(FILE *o, const Review *rv) {
    double v[168];
    const char *lab[168];
    char names[32][16];   // "HH:00", sized for any int the compiler can see
    for (int h = 0; h < 24; h++) {
        v[h] = (double)rv->by_hour[h];
        snprintf(names[h], sizeof names[h], "%02d:00", h);
        lab[h] = names[h];
    }
    bars(o, "Arrivals by hour of day (UTC)", v, lab, 24, "requests");
    static const char *const DOW[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    for (int d = 0; d < 7; d++) v[d] = (double)rv->by_dow[d];
    bars(o, "Arrivals by day of week", v, DOW, 7, "requests");
}

static void day_chart(FILE *o, const Review *rv) {
    int n = rv->n_days > 366 ? 366 : rv->n_days;   // the last year of a longer span
    int off = rv->n_days - n;
    double v[366];
    const char *lab[366];
    static char names[366][16];
    for (int i = 0; i < n; i++) {
        v[i] = (double)rv->days[off + i].cost_nusd / 1e9;
        telrec_day_str(rv->day0 + off + i, names[i], sizeof names[i]);
        lab[i] = names[i];
    }
    bars(o, "Cost by day (USD, arrival date)", v, lab, n, "USD");
}

static void latency_table(FILE *o, const ReviewReport *r) {
    const Review *rv = r->rv;
    fputs("<h2>Latency (successful requests, ms)</h2><table><tr><th></th><th>p50</th><th>p95</th><th>p99</th><th>SLO</th></tr>", o);
    const struct { const char *n; const LogHist *h; double slo; } l[] = {
        {"e2e", &rv->all.e2e_ms, r->slo.e2e_p95_ms}, {"TTFT", &rv->all.ttft_ms, r->slo.ttft_p95_ms},
        {"TPOT", &rv->all.tpot_ms, r->slo.tpot_p95_ms}, {"queue", &rv->all.queue_ms, 0}};
    for (int i = 0; i < 4; i++) {
        double p95 = loghist_quantile(l[i].h, .95);
        fprintf(o, "<tr><td>%s</td>", l[i].n);
        cell(o, "%.1f", loghist_quantile(l[i].h, .5));
        cell(o, "%.1f", p95);
        cell(o, "%.1f", loghist_quantile(l[i].h, .99));
        if (l[i].slo > 0) fprintf(o, "<td%s>p95 &le; %.0f</td></tr>", p95 > l[i].slo ? " class=\"miss\"" : "", l[i].slo);
        else fputs("<td>&ndash;</td></tr>", o);
    }
    fputs("</table>\n", o);
}

static void plan_table(FILE *o, const ReviewReport *r) {
    const Review *rv = r->rv;
    const ReviewFit *f = r->f;
    if (r->plan) {
        ReviewCompare rows[REVIEW_MAX_COMPARE];
        int n = review_plan_compare(r->plan, rv, f, rows, REVIEW_MAX_COMPARE);
        fputs("<h2>Predicted vs measured</h2><p>", o);
        esc(o, r->plan_path);
        fputs(" ", o);
        esc(o, r->plan->id);
        fputs("</p><table><tr><th>figure</th><th>predicted</th><th>measured</th><th>error</th></tr>", o);
        for (int i = 0; i < n; i++) {
            fprintf(o, "<tr><td>%s</td>", rows[i].name);
            cell(o, "%.5g", rows[i].predicted);
            cell(o, "%.5g", rows[i].measured);
            cell(o, "%+.1f%%", 100 * rows[i].error);
            fputs("</tr>", o);
        }
        fputs("</table>\n", o);
    }
}

static void advice_list(FILE *o, const ReviewReport *r) {
    ReviewAdvice adv[REVIEW_MAX_ADVICE];
    int na = review_advise(r->rv, r->f, r->plan, &r->slo, adv, REVIEW_MAX_ADVICE);
    fputs("<h2>Recommendations</h2><ul>", o);
    if (!na) fputs("<li>None: every figure is within the thresholds.</li>", o);
    for (int i = 0; i < na; i++) {
        fprintf(o, "<li><b>%s</b>: ", adv[i].topic);
        esc(o, adv[i].text);
        fputs("</li>", o);
    }
    fputs("</ul>", o);
}

int review_print_html(FILE *o, const ReviewReport *r) {
    const Review *rv = r->rv;
    const ReviewFit *f = r->f;
    char a[32], b[32];
    telrec_time_str(rv->first_us, a, sizeof a);
    telrec_time_str(rv->last_us, b, sizeof b);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rightsize report</title><style>"
          "body{font:14px/1.4 system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
          "td:first-child,th:first-child{text-align:left}figure{margin:1em 0}figcaption{font-weight:600}"
          ".miss{color:#b00020;font-weight:600}</style></head><body>\n", o);
    fprintf(o, "<h1>Architecture review</h1><p>%lld requests from %d file(s), %s to %s (%.2f days). %lld corrupt line(s) "
               "skipped, %lld outside the time window.</p>\n", (long long)rv->records, rv->n_files, a, b, f->days_covered,
            (long long)rv->corrupt, (long long)rv->filtered_out);
    fprintf(o, "<h2>Traffic</h2><p>Rate %.4g req/s (%.4g requests/month); peak hour %02d:00 UTC at %.2f&times; the mean hour. "
               "Inter-arrival CV %.2f (%.2f within the hour), index of dispersion per minute %.2f. Escalation %.2f%%, "
               "errors %.2f%% (429s %.2f%%).</p>\n", f->rate_per_s, f->rate_per_s * 30 * 86400, f->peak_hour,
            f->peak_to_average, f->gap_cv, f->gap_cv_hourly, f->dispersion_per_minute, 100 * f->escalation_rate,
            100 * f->error_rate, 100 * f->rate_429);
    charts(o, rv);
    fputs("<table><tr><th>tokens</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>", o);
    const struct { const char *n; const LogHist *h; } d[] = {{"prompt", &rv->prompt_tokens}, {"output", &rv->output_tokens}};
    for (int i = 0; i < 2; i++) {
        fprintf(o, "<tr><td>%s</td>", d[i].n);
        cell(o, "%.1f", loghist_mean(d[i].h));
        cell(o, "%.0f", loghist_quantile(d[i].h, .5));
        cell(o, "%.0f", loghist_quantile(d[i].h, .9));
        cell(o, "%.0f", loghist_quantile(d[i].h, .99));
        cell(o, "%.0f", d[i].h->n ? d[i].h->max : NAN);
        fputs("</tr>", o);
    }
    fputs("</table>\n", o);
    fprintf(o, "<h2>Cost</h2><p>Total $%.4f: busy $%.4f, idle $%.4f. $%.4f per 1K requests, $%.4f per 1M tokens, "
               "$%.6f per successful outcome.</p>\n", f->usd_total, f->usd_busy, f->usd_idle, f->usd_per_1k_requests,
            f->usd_per_1m_tokens, f->usd_per_success);
    day_chart(o, rv);
    group_table(o, "By tier", &rv->tiers, rv->all.n);
    group_table(o, "By route", &rv->routes, rv->all.n);
    latency_table(o, r);
    plan_table(o, r);
    advice_list(o, r);
    fputs("</body></html>\n", o);
    return ferror(o) ? -1 : 0;
}
