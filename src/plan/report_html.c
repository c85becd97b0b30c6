// report_html.c — the self-contained HTML report: a summary first, then tables and four inline
// SVG charts with labelled axes and units (monthly cost by component, savings by lever, latency
// against load per scenario, cost/latency Pareto frontier). No scripts, no external files, no
// horizontal scrolling: charts scale to the page width (viewBox) and long ids wrap. Every figure
// the summary shows carries a data-k attribute naming its --json key, so a test can compare them.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/report.h"

#define W 720
#define H 320
#define PADL 78    // room for y tick labels and the y axis title
#define PADB 52    // room for x tick labels and the x axis title
#define PADT 14
#define PADR 16

// Escapes text for HTML.
static void esc(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

// A tick or value label without e-notation.
static void num(char *buf, size_t n, double v) {
    double a = fabs(v);
    if (a >= 100 || v == floor(v)) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.3g", v);
}

// A "nice" tick step (1, 2 or 5 × 10^k) giving about 5 ticks over [0, hi].
static double tick_step(double hi) {
    double raw = hi / 5, p = pow(10, floor(log10(raw > 0 ? raw : 1)));
    double m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

typedef struct {
    double x0, x1, y0, y1;
} Frame;

static double sx(const Frame *fr, double v) { return PADL + (fr->x1 > fr->x0 ? (v - fr->x0) / (fr->x1 - fr->x0) : 0.5) * (W - PADL - PADR); }
static double sy(const Frame *fr, double v) { return H - PADB - (fr->y1 > fr->y0 ? (v - fr->y0) / (fr->y1 - fr->y0) : 0.5) * (H - PADB - PADT); }

// Opens a chart: title, axes from 0 with nice ticks on both (x ticks only when x_ticks), axis
// titles with units. Rounds fr->x1 / fr->y1 up to a whole tick.
static void chart_open(FILE *f, const char *id, const char *title, const char *xl, const char *yl, Frame *fr, bool x_ticks) {
    double ys = tick_step(fr->y1), xs = tick_step(fr->x1);
    fr->y1 = ceil(fr->y1 / ys) * ys;
    if (x_ticks) fr->x1 = ceil(fr->x1 / xs) * xs;
    fprintf(f, "<figure id=\"%s\"><figcaption>", id);
    esc(f, title);
    fprintf(f, "</figcaption>\n<svg role=\"img\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">\n", W, H);
    char b[32];
    for (double v = fr->y0; v <= fr->y1 + ys / 2; v += ys) {
        num(b, sizeof b, v);
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", PADL, W - PADR, sy(fr, v), sy(fr, v), PADL - 6,
                sy(fr, v) + 4, b);
    }
    for (double v = fr->x0; x_ticks && v <= fr->x1 + xs / 2; v += xs) {
        num(b, sizeof b, v);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", sx(fr, v), H - PADB + 16, b);
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>", PADL, H - PADB, W - PADR, H - PADB);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", PADL, PADT, PADL, H - PADB);
    fprintf(f, "<text class=\"xl\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"bold\">", (W + PADL) / 2, H - 8);
    esc(f, xl);
    fprintf(f, "</text><text class=\"yl\" x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\" "
               "font-weight=\"bold\">", (H - PADB) / 2, (H - PADB) / 2);
    esc(f, yl);
    fprintf(f, "</text>\n");
}

static void chart_close(FILE *f, const char *note) {
    fprintf(f, "</svg>");
    if (note) { fprintf(f, "<p class=\"note\">"); esc(f, note); fprintf(f, "</p>"); }
    fprintf(f, "</figure>\n");
}

// Vertical bars at category slots; labels under each.
static void bar(FILE *f, const Frame *fr, int slot, int n_slots, int sub, int n_sub, double v, const char *color,
                const char *label, const char *tip) {
    double slot_w = (double)(W - PADL - PADR) / n_slots, w = (slot_w - 16) / n_sub;
    double x = PADL + slot * slot_w + 8 + sub * w;
    double y = sy(fr, fmax(0, v));
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x, y, w - 2,
            fmax(0.5, sy(fr, 0) - y), color);
    esc(f, tip);
    fprintf(f, "</title></rect>\n");
    if (label) {
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", PADL + slot * slot_w + slot_w / 2, H - PADB + 16);
        esc(f, label);
        fprintf(f, "</text>\n");
    }
}

static void cost_chart(FILE *f, const Workload *wl, const Candidate *c) {
    const char *names[] = {"accelerators", "storage", "network", "orchestration", "engineering"};
    double v[] = {c->accel_usd_month, wl->storage_usd_month, wl->network_gb_month * wl->network_usd_per_gb,
                  wl->orchestration_usd_month, wl->engineering_hours_month * wl->engineering_usd_per_hour};
    Frame fr = {0, 5, 0, 1};
    for (int i = 0; i < 5; i++) fr.y1 = fmax(fr.y1, v[i]);
    chart_open(f, "chart-cost", "Monthly cost of the plan by component (expected scenario)", "cost component",
               "US dollars per month", &fr, false);
    for (int i = 0; i < 5; i++) {
        char tip[96];
        snprintf(tip, sizeof tip, "%s: $%.2f per month", names[i], v[i]);
        bar(f, &fr, i, 5, 0, 1, v[i], i ? "#8aa" : "#26c", names[i], tip);
    }
    chart_close(f, NULL);
}

static void savings_chart(FILE *f, const SearchResult *r) {
    const Lever lv[] = {LEVER_QUANT, LEVER_CASCADE, LEVER_AUTOSCALE, LEVER_MIX};
    double add[4] = {0}, rem[4] = {0}, base = search_wf_cost(&r->wf_base), plan = r->cands[r->best].usd_month;
    Frame fr = {0, 4, 0, 1};
    for (int i = 0; i < 4; i++) {
        if (!r->wf_used[lv[i]]) continue;
        double a = search_wf_cost(&r->wf_added[lv[i]]), m = search_wf_cost(&r->wf_removed[lv[i]]);
        add[i] = a >= 0 && base >= 0 ? base - a : 0;
        rem[i] = m >= 0 ? m - plan : 0;
        fr.y1 = fmax(fr.y1, fmax(add[i], rem[i]));
    }
    chart_open(f, "chart-savings", "Savings by lever, each lever alone (order does not matter)", "lever",
               "US dollars saved per month", &fr, false);
    for (int i = 0; i < 4; i++) {
        char tip[128];
        snprintf(tip, sizeof tip, "%s added to the baseline saves $%.2f per month", lever_names[lv[i]], add[i]);
        bar(f, &fr, i, 4, 0, 2, add[i], "#2a7", lever_names[lv[i]], tip);
        snprintf(tip, sizeof tip, "%s in the plan saves $%.2f per month", lever_names[lv[i]], rem[i]);
        bar(f, &fr, i, 4, 1, 2, rem[i], "#26c", NULL, tip);
    }
    chart_close(f, "Green: saving when the lever alone is added to the baseline (on demand, fixed replicas, no cascade, "
                   "stack-default batch). Blue: saving the lever brings in the plan (the plan without it costs this much more).");
}

static void load_chart(FILE *f, const Workload *wl, const Candidate *c) {
    static const double scale[SCEN_COUNT] = {0.8, 1.0, 1.25};
    Frame fr = {0, 0, 0, 1};
    for (int s = 0; s < SCEN_COUNT; s++) {
        fr.x1 = fmax(fr.x1, wl->rate_per_s * scale[s] * 1.1);
        fr.y1 = fmax(fr.y1, c->sim[s].e2e_ms.p99);
    }
    chart_open(f, "chart-load", "Latency against load, one point per scenario (best 0.8x, expected, burst 1.25x)",
               "mean offered load, requests per second", "latency, milliseconds", &fr, true);
    const char *col[] = {"#26c", "#2a7", "#c44"}, *lab[] = {"TTFT p95", "e2e p95", "e2e p99"};
    for (int k = 0; k < 3; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col[k]);
        for (int s = 0; s < SCEN_COUNT; s++) {
            const SimResult *x = &c->sim[s];
            double y = k == 0 ? x->ttft_ms.p95 : k == 1 ? x->e2e_ms.p95 : x->e2e_ms.p99;
            fprintf(f, "%.1f,%.1f ", sx(&fr, wl->rate_per_s * scale[s]), sy(&fr, y));
        }
        fprintf(f, "\"/>");
        for (int s = 0; s < SCEN_COUNT; s++) {
            const SimResult *x = &c->sim[s];
            double y = k == 0 ? x->ttft_ms.p95 : k == 1 ? x->e2e_ms.p95 : x->e2e_ms.p99;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>%s %s: %.0f ms at %.3g req/s</title></circle>",
                    sx(&fr, wl->rate_per_s * scale[s]), sy(&fr, y), col[k], scenario_names[s], lab[k], y, wl->rate_per_s * scale[s]);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", W - PADR - 90, PADT + 14 + 16 * k, col[k], lab[k]);
    }
    chart_close(f, NULL);
}

static void pareto_chart(FILE *f, const SearchResult *r) {
    Frame fr = {0, 0, 0, 0};
    for (int64_t i = 0; i < r->n_cands; i++) {
        const Candidate *c = &r->cands[i];
        if (!c->simulated) continue;
        fr.x1 = fmax(fr.x1, c->usd_month);
        fr.y1 = fmax(fr.y1, c->sim[SCEN_EXPECTED].e2e_ms.p95);
    }
    if (!(fr.x1 > 0)) return;
    chart_open(f, "chart-pareto", "Pareto frontier: monthly cost against end-to-end p95 latency (expected scenario)",
               "US dollars per month", "e2e p95 latency, milliseconds", &fr, true);
    for (int64_t i = 0; i < r->n_cands; i++) {
        const Candidate *c = &r->cands[i];
        if (!c->simulated) continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", sx(&fr, c->usd_month),
                sy(&fr, c->sim[SCEN_EXPECTED].e2e_ms.p95), c->meets_slo ? "#2a7" : "#c44");
        esc(f, c->id);
        fprintf(f, "</title></circle>\n");
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#26c\" stroke-width=\"2\" points=\"");
    for (int64_t i = 0; i < r->n_pareto; i++) {
        const Candidate *c = &r->cands[r->pareto[i]];
        fprintf(f, "%.1f,%.1f ", sx(&fr, c->usd_month), sy(&fr, c->sim[SCEN_EXPECTED].e2e_ms.p95));
    }
    fprintf(f, "\"/>\n");
    chart_close(f, "Green: meets the SLOs in all three scenarios; red: misses; blue line: the frontier.");
}

// ---- tables ----

static void summary(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r) {
    const Candidate *c = &r->cands[r->best];
    const CatHardware *hw = &cat->hw[c->hw];
    const SimResult *e = &c->sim[SCEN_EXPECTED];
    fprintf(f, "<section id=\"summary\"><h2>Summary</h2>\n<p>Run <code data-k=\"plan.id\">");
    esc(f, c->id);
    fprintf(f, "</code>: %d to %d replica(s) of %d &times; ", c->scale == SCALE_FIXED ? c->replicas_peak : c->replicas_min,
            c->replicas_peak, c->devices);
    esc(f, hw->name);
    fprintf(f, " serving ");
    esc(f, cat->models[c->model].name);
    fprintf(f, " at %s on ", plan_quant_names[c->quant]);
    esc(f, search_stack(cat, c)->name);
    fprintf(f, ".</p>\n<dl class=\"kpi\">\n");
    fprintf(f, "<div><dt>Expected month</dt><dd>$<span data-k=\"plan.cost.usd_month\">%.2f</span></dd></div>\n", c->usd_month);
    fprintf(f, "<div><dt>Burst month</dt><dd>$<span data-k=\"plan.cost.burst_usd_month\">%.2f</span></dd></div>\n",
            c->burst_usd_month);
    fprintf(f, "<div><dt>Per 1M tokens</dt><dd>$<span data-k=\"plan.cost.usd_per_1m_tokens\">%.4f</span></dd></div>\n",
            c->usd_per_1m_tokens);
    fprintf(f, "<div><dt>e2e p95 (expected)</dt><dd><span data-k=\"plan.scenarios.expected.e2e_ms.p95\">%.0f</span> ms",
            e->e2e_ms.p95);
    if (wl->slo_e2e_p95_ms > 0) fprintf(f, " (SLO %.0f ms)", wl->slo_e2e_p95_ms);
    fprintf(f, "</dd></div>\n<div><dt>TTFT p95 (expected)</dt><dd><span data-k=\"plan.scenarios.expected.ttft_ms.p95\">%.0f</span> ms",
            e->ttft_ms.p95);
    if (wl->slo_ttft_p95_ms > 0) fprintf(f, " (SLO %.0f ms)", wl->slo_ttft_p95_ms);
    fprintf(f, "</dd></div>\n</dl>\n");
    if (r->over_budget) fprintf(f, "<p class=\"warn\">Over the workload's budget of $%.2f per month.</p>\n", wl->budget_usd_month);
    for (int k = 0; k < CONS_COUNT; k++)
        if (r->bound_by[k] >= 0) {
            fprintf(f, "<p>The constraint <b>%s</b> bound: without it the analytic model rates ", constraint_names[k]);
            esc(f, r->cands[r->bound_by[k]].id);
            fprintf(f, " at $%.2f per month.</p>\n", r->cands[r->bound_by[k]].analytic_usd_month);
        }
    fprintf(f, "<p>Step times come from %s; prices are per device-hour with their source and date in the catalog.</p>"
               "</section>\n", c->source == STEP_PROFILE ? "a calibrated profile" : "the roofline fitted to published benchmarks");
}

static void scenario_rows(FILE *f, const Workload *wl, const Candidate *c) {
    fprintf(f, "<h2>Scenarios of the plan</h2>\n<table><thead><tr><th>scenario</th><th>TTFT p95 (ms)</th><th>TPOT p95 (ms)</th>"
               "<th>e2e p50 (ms)</th><th>e2e p95 (ms)</th><th>e2e p99 (ms)</th><th>utilization</th><th>peak replicas</th>"
               "<th>SLOs</th></tr></thead><tbody>\n");
    for (int s = 0; s < SCEN_COUNT; s++) {
        const SimResult *x = &c->sim[s];
        char why[160];
        fprintf(f, "<tr><td>%s</td><td>%.0f</td><td>%.1f</td><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>%.0f%%</td>"
                   "<td>%d</td><td>%s</td></tr>\n", scenario_names[s], x->ttft_ms.p95, x->tpot_ms.p95, x->e2e_ms.p50,
                x->e2e_ms.p95, x->e2e_ms.p99, x->utilization * 100, x->peak_replicas[0] + x->peak_replicas[1],
                search_meets(wl, x, (Scenario)s, why, sizeof why) ? "met" : "missed");
    }
    fprintf(f, "</tbody></table>\n");
}

static void savings_rows(FILE *f, const SearchResult *r) {
    double base = search_wf_cost(&r->wf_base), plan = r->cands[r->best].usd_month;
    fprintf(f, "<h2>Savings by lever</h2>\n<p>Baseline <code>");
    esc(f, r->wf_base.id);
    if (base >= 0) fprintf(f, "</code>: $%.2f per month.</p>\n", base);
    else fprintf(f, "</code>: cannot meet the SLOs.</p>\n");
    fprintf(f, "<table><thead><tr><th>lever</th><th>saves added to the baseline ($/month)</th>"
               "<th>saves in the plan ($/month)</th></tr></thead><tbody>\n");
    const Lever lv[] = {LEVER_QUANT, LEVER_CASCADE, LEVER_AUTOSCALE, LEVER_MIX};
    for (int i = 0; i < 4; i++) {
        fprintf(f, "<tr><td>%s</td>", lever_names[lv[i]]);
        if (!r->wf_used[lv[i]]) { fprintf(f, "<td colspan=\"2\">%s</td></tr>\n", lv[i] == LEVER_QUANT && r->wf_quant_required ? "required: bf16 does not fit" : "not used by the plan"); continue; }
        double a = search_wf_cost(&r->wf_added[lv[i]]), m = search_wf_cost(&r->wf_removed[lv[i]]);
        if (a >= 0 && base >= 0) fprintf(f, "<td>%.2f</td>", base - a); else fprintf(f, "<td>cannot meet the SLOs</td>");
        if (m >= 0) fprintf(f, "<td>%.2f</td></tr>\n", m - plan); else fprintf(f, "<td>needed to meet the SLOs</td></tr>\n");
    }
    fprintf(f, "</tbody></table>\n");
}

static void candidate_rows(FILE *f, const SearchResult *r) {
    fprintf(f, "<h2>Simulated candidates</h2>\n<table class=\"ids\"><thead><tr><th>candidate</th><th>$/month</th>"
               "<th>burst $/month</th><th>e2e p95 (ms)</th><th>SLOs</th></tr></thead><tbody>\n");
    for (int64_t i = 0; i < r->n_cands; i++) {
        const Candidate *c = &r->cands[i];
        if (!c->simulated) continue;
        fprintf(f, "<tr%s><td><code>", i == r->best ? " class=\"chosen\"" : "");
        esc(f, c->id);
        fprintf(f, "</code></td><td>%.2f</td><td>%.2f</td><td>%.0f</td><td>", c->usd_month, c->burst_usd_month,
                c->sim[SCEN_EXPECTED].e2e_ms.p95);
        esc(f, c->meets_slo ? "met" : c->slo_miss);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</tbody></table>\n");
}

int report_html(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r, const SearchOptions *o) {
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>rightsize plan: ");
    esc(f, wl->name);
    fprintf(f, "</title>\n<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;"
               "color:#222;line-height:1.4}table{border-collapse:collapse;width:100%%;table-layout:fixed;margin:.5rem 0 1.5rem}"
               "th,td{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;overflow-wrap:anywhere;font-size:.9rem}"
               "code{overflow-wrap:anywhere}table.ids td:first-child{width:50%%}tr.chosen{background:#eef6ee}"
               "figure{margin:1rem 0 2rem}figcaption{font-weight:bold;margin-bottom:.3rem}svg{width:100%%;height:auto;"
               "border:1px solid #ddd;background:#fff}dl.kpi{display:flex;flex-wrap:wrap;gap:1rem}dl.kpi div{flex:1 1 10rem;"
               "border:1px solid #ddd;padding:.5rem}dt{font-size:.8rem;color:#555}dd{margin:0;font-size:1.3rem}"
               ".note{font-size:.85rem;color:#555}.warn{color:#a00;font-weight:bold}</style>\n</head><body>\n<h1>rightsize plan: ");
    esc(f, wl->name);
    fprintf(f, "</h1>\n<p>%s, %.0f requests per month, %.0f input / %.0f output tokens on average. Searched %lld candidates, "
               "simulated %lld in three scenarios of %.0f h (seed %llu).</p>\n", wl_class_names[wl->cls],
            wl->rate_per_s * WL_MONTH_S, wl_token_mean(&wl->in), wl_token_mean(&wl->out), (long long)r->n_cands,
            (long long)r->n_simulated, o->horizon_s / 3600, (unsigned long long)o->seed);
    if (r->best < 0) {
        fprintf(f, "<section id=\"summary\"><h2>Summary</h2><p>No simulated candidate met the SLOs in all three scenarios.</p>"
                   "</section>\n");
        candidate_rows(f, r);
        fprintf(f, "</body></html>\n");
        return ferror(f) ? ERR_IO : 0;
    }
    const Candidate *c = &r->cands[r->best];
    summary(f, cat, wl, r);
    cost_chart(f, wl, c);
    scenario_rows(f, wl, c);
    load_chart(f, wl, c);
    if (r->wf_done) { savings_rows(f, r); savings_chart(f, r); }
    pareto_chart(f, r);
    candidate_rows(f, r);
    fprintf(f, "</body></html>\n");
    return ferror(f) ? ERR_IO : 0;
}
