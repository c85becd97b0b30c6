// report_html.c — the self-contained HTML report: tables plus four inline SVG charts (Pareto
// frontier, latency CDF, replicas over the simulated day, savings waterfall). No scripts, no
// external files: the page opens anywhere.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/report.h"

#define W 640
#define H 300
#define PAD 50

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

static void axes(FILE *f, const char *title, const char *xl, const char *yl, double x0, double x1, double y0, double y1) {
    fprintf(f, "<h3>");
    esc(f, title);
    fprintf(f, "</h3>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", PAD, H - PAD, W - 10, H - PAD);
    fprintf(f, "<line x1=\"%d\" y1=\"10\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", PAD, PAD, H - PAD);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%.4g</text><text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n",
            PAD, H - PAD + 14, x0, W - 10, H - PAD + 14, x1);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.4g</text><text x=\"%d\" y=\"16\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n",
            PAD - 4, H - PAD, y0, PAD - 4, y1);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n", (W + PAD) / 2, H - 12, xl);
    fprintf(f, "<text x=\"14\" y=\"%d\" font-size=\"12\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">%s</text>\n",
            H / 2, H / 2, yl);
}

static double sx(double v, double a, double b) { return PAD + (b > a ? (v - a) / (b - a) : 0.5) * (W - 10 - PAD); }
static double sy(double v, double a, double b) { return H - PAD - (b > a ? (v - a) / (b - a) : 0.5) * (H - PAD - 10); }

static void pareto_chart(FILE *f, const SearchResult *r) {
    double x0 = INFINITY, x1 = 0, y0 = INFINITY, y1 = 0;
    for (int64_t i = 0; i < r->n_cands; i++) {
        const Candidate *c = &r->cands[i];
        if (!c->simulated) continue;
        x0 = fmin(x0, c->usd_month); x1 = fmax(x1, c->usd_month);
        y0 = fmin(y0, c->sim[SCEN_EXPECTED].e2e_ms.p95); y1 = fmax(y1, c->sim[SCEN_EXPECTED].e2e_ms.p95);
    }
    if (!(x1 > 0)) return;
    x0 = 0; y0 = 0;
    axes(f, "Pareto frontier: monthly cost vs e2e p95 (expected scenario)", "$ per month", "e2e p95 ms", x0, x1, y0, y1);
    for (int64_t i = 0; i < r->n_cands; i++) {
        const Candidate *c = &r->cands[i];
        if (!c->simulated) continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>", sx(c->usd_month, x0, x1),
                sy(c->sim[SCEN_EXPECTED].e2e_ms.p95, y0, y1), c->meets_slo ? "#2a7" : "#c44");
        esc(f, c->id);
        fprintf(f, "</title></circle>\n");
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#26c\" stroke-width=\"2\" points=\"");
    for (int64_t i = 0; i < r->n_pareto; i++) {
        const Candidate *c = &r->cands[r->pareto[i]];
        fprintf(f, "%.1f,%.1f ", sx(c->usd_month, x0, x1), sy(c->sim[SCEN_EXPECTED].e2e_ms.p95, y0, y1));
    }
    fprintf(f, "\"/>\n</svg>\n<p>Green: meets the SLOs in all scenarios; red: misses; blue line: the frontier.</p>\n");
}

static void cdf_chart(FILE *f, const Candidate *c) {
    const SimResult *s = &c->sim[SCEN_EXPECTED];
    double x1 = s->e2e_cdf_ms[SIM_CDF_POINTS - 1];
    if (!(x1 > 0)) return;
    axes(f, "Latency CDF of the chosen plan (end-to-end, expected scenario)", "e2e ms", "fraction of requests", 0, x1, 0, 1);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#26c\" stroke-width=\"2\" points=\"%.1f,%.1f ", sx(0, 0, x1), sy(0, 0, 1));
    for (int i = 0; i < SIM_CDF_POINTS; i++)
        fprintf(f, "%.1f,%.1f ", sx(s->e2e_cdf_ms[i], 0, x1), sy((i + 1.0) / SIM_CDF_POINTS, 0, 1));
    fprintf(f, "\"/>\n</svg>\n");
}

static void replicas_chart(FILE *f, const Candidate *c) {
    const SimResult *s = &c->sim[SCEN_EXPECTED];
    if (s->n_series < 2) return;
    double ymax = 1;
    for (int64_t i = 0; i < s->n_series; i++) ymax = fmax(ymax, s->series_replicas[i]);
    double hours = (double)(s->n_series - 1) / 60.0;
    axes(f, "Replicas over the simulated day (expected scenario)", "hour", "replicas up", 0, hours, 0, ymax + 1);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#2a7\" stroke-width=\"2\" points=\"");
    for (int64_t i = 0; i < s->n_series; i++) fprintf(f, "%.1f,%.1f ", sx(i / 60.0, 0, hours), sy(s->series_replicas[i], 0, ymax + 1));
    fprintf(f, "\"/>\n</svg>\n");
}

static void waterfall_chart(FILE *f, const SearchResult *r) {
    double top = 0;
    for (int l = 0; l < LEVER_COUNT; l++)
        if (r->level_best[l] >= 0) top = fmax(top, r->cands[r->level_best[l]].usd_month);
    if (!(top > 0)) return;
    axes(f, "Savings waterfall: $ per month as each lever is allowed", "lever", "$ per month", 0, LEVER_COUNT, 0, top);
    double bw = (W - 10 - PAD) / (double)LEVER_COUNT, prev = -1;
    for (int l = 0; l < LEVER_COUNT; l++) {
        int64_t i = r->level_best[l];
        if (i < 0) continue;
        double v = r->cands[i].usd_month, x = PAD + l * bw + 6;
        double hi = prev < 0 ? v : prev, lo = prev < 0 ? 0 : v;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s: $%.2f</title></rect>\n", x,
                sy(hi, 0, top), bw - 12, fmax(1, sy(lo, 0, top) - sy(hi, 0, top)), prev < 0 ? "#888" : "#2a7",
                lever_names[l], prev < 0 ? v : prev - v);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" text-anchor=\"middle\">%.12s</text>\n", x + (bw - 12) / 2,
                H - PAD + 26, lever_names[l]);
        prev = v;
    }
    fprintf(f, "</svg>\n");
}

int report_html(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r, const SearchOptions *o) {
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>rightsize plan: ");
    esc(f, wl->name);
    fprintf(f, "</title>\n<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
               "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}svg{border:1px solid #ddd}</style>\n"
               "</head><body>\n<h1>rightsize plan: ");
    esc(f, wl->name);
    fprintf(f, "</h1>\n<h2>Report</h2>\n<pre>");
    // The text report, escaped, is the page's tables.
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) return ERR_NOMEM;
    report_text(mem, cat, wl, r, o);
    fclose(mem);
    esc(f, buf ? buf : "");
    free(buf);
    fprintf(f, "</pre>\n<h2>Charts</h2>\n");
    pareto_chart(f, r);
    if (r->best >= 0) {
        cdf_chart(f, &r->cands[r->best]);
        replicas_chart(f, &r->cands[r->best]);
    }
    waterfall_chart(f, r);
    fprintf(f, "<p>Prices carry their source, date and confidence tag in data/catalog/hardware.yaml; step times come from "
               "the roofline unless a calibrated profile was given.</p>\n</body></html>\n");
    return ferror(f) ? ERR_IO : 0;
}
