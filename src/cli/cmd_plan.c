// cmd_plan.c — `rightsize plan WORKLOAD.yaml`: search the catalog for the cheapest pipeline that
// meets the workload's SLOs, and report it (text, JSON, HTML, pipeline YAML, --explain).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plan/catalog.h"
#include "plan/report.h"
#include "plan/search.h"
#include "plan/workload.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: rightsize plan WORKLOAD.yaml [options]\n\n"
            "Finds the cheapest deployment (hardware x count x model x quantization x cascade x batching x\n"
            "autoscaling x capacity mix) that meets the workload's SLOs in best, expected and burst scenarios.\n\n"
            "options:\n"
            "  --catalog DIR       hardware.yaml + models.yaml (default: data/catalog)\n"
            "  --profiles DIR      calibrated step-time profiles (*.yaml from `rightsize calibrate`)\n"
            "  --json              print the result as JSON (schema: docs/plan-json.md) instead of text\n"
            "  --html FILE         also write a self-contained HTML report with charts\n"
            "  --emit FILE         also write the serve pipeline YAML of the chosen plan\n"
            "  --explain ID        show one candidate's arithmetic step by step (IDs appear in the output)\n"
            "  --threads N         simulation threads (default 2)\n"
            "  --seed S            random seed (default 1); a seed gives one result\n"
            "  --horizon-hours H   simulated hours per scenario (default 24)\n"
            "  --keep N            candidates simulated per savings lever (default 8)\n"
            "  --quiet             no progress bar (it shows only when stderr is a terminal)\n");
}

static void progress(void *ctx, int64_t done, int64_t total) {
    (void)ctx;
    int w = 30, k = total ? (int)(w * done / total) : w;
    fprintf(stderr, "\rsimulating [%.*s%*s] %lld/%lld", k, "##############################", w - k, "", (long long)done,
            (long long)total);
    if (done == total) fprintf(stderr, "\n");
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "rightsize plan: %s wants a number in [%g, %g], got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int write_file(const char *path, const char *what, int (*fn)(FILE *, void *), void *ctx) {
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "rightsize plan: cannot write %s '%s': %s\n", what, path, strerror(errno)); return 1; }
    int rc = fn(f, ctx);
    if (fclose(f) != 0 || rc) { fprintf(stderr, "rightsize plan: writing %s '%s' failed\n", what, path); return 1; }
    return 0;
}

typedef struct {
    const Catalog *cat;
    const Workload *wl;
    const SearchResult *r;
    const SearchOptions *o;
} Ctx;

static int html_fn(FILE *f, void *p) { Ctx *c = p; return report_html(f, c->cat, c->wl, c->r, c->o); }
static int emit_fn(FILE *f, void *p) { Ctx *c = p; return report_emit_pipeline(f, c->cat, c->wl, &c->r->cands[c->r->best]); }

int cmd_plan(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *wl_path = NULL, *cat_dir = "data/catalog", *html = NULL, *emit = NULL, *explain = NULL, *profiles = NULL;
    bool json = false, quiet = false;
    SearchOptions o;
    search_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        double v;
#define NEED_VAL() do { if (!has_val) { fprintf(stderr, "rightsize plan: %s needs a value (see --help)\n", a); return 2; } } while (0)
        if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--catalog")) { NEED_VAL(); cat_dir = argv[++i]; }
        else if (!strcmp(a, "--profiles")) { NEED_VAL(); profiles = argv[++i]; }
        else if (!strcmp(a, "--html")) { NEED_VAL(); html = argv[++i]; }
        else if (!strcmp(a, "--emit")) { NEED_VAL(); emit = argv[++i]; }
        else if (!strcmp(a, "--explain")) { NEED_VAL(); explain = argv[++i]; }
        else if (!strcmp(a, "--threads")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 256, &v)) return 2; o.threads = (int)v; }
        else if (!strcmp(a, "--seed")) { NEED_VAL(); if (parse_num(a, argv[++i], 0, 9e15, &v)) return 2; o.seed = (uint64_t)v; }
        else if (!strcmp(a, "--horizon-hours")) { NEED_VAL(); if (parse_num(a, argv[++i], 0.1, 24 * 31, &v)) return 2; o.horizon_s = v * 3600; }
        else if (!strcmp(a, "--keep")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 1000, &v)) return 2; o.keep_per_level = (int)v; }
        else if (a[0] == '-') { fprintf(stderr, "rightsize plan: unknown option '%s' (see --help)\n", a); return 2; }
        else if (!wl_path) wl_path = a;
        else { fprintf(stderr, "rightsize plan: one workload file only (got '%s' and '%s')\n", wl_path, a); return 2; }
#undef NEED_VAL
    }
    if (!wl_path) { fprintf(stderr, "rightsize plan: missing WORKLOAD.yaml (see --help)\n"); return 2; }
    char err[1024];
    Catalog cat;
    Workload wl;
    if (catalog_load(&cat, cat_dir, err, sizeof err)) { fprintf(stderr, "rightsize plan: catalog: %s\n", err); return 1; }
    if (wl_load(&wl, wl_path, err, sizeof err)) {
        fprintf(stderr, "rightsize plan: %s\n", err);
        catalog_free(&cat);
        return 1;
    }
    int status = 0;
    o.profiles_dir = profiles;
    if (explain) {
        Candidate c;
        if (search_parse_id(&cat, &wl, explain, &c, err, sizeof err)) {
            fprintf(stderr, "rightsize plan: --explain: %s\n", err);
            status = 2;
        } else {
            if (!c.pruned && search_simulate(&cat, &wl, &o, &c, false, err, sizeof err)) {
                fprintf(stderr, "rightsize plan: %s\n", err);
                status = 1;
            }
            if (!status && report_explain(stdout, &cat, &wl, &c)) status = 1;
            if (c.sim) { for (int s = 0; s < SCEN_COUNT; s++) sim_result_free(&c.sim[s]); free(c.sim); }
        }
        wl_free(&wl);
        catalog_free(&cat);
        return status;
    }
    if (!quiet && isatty(2)) o.progress = progress;   // a bar only on a terminal; logs stay clean
    SearchResult r;
    if (search_run(&cat, &wl, &o, &r, err, sizeof err)) {
        fprintf(stderr, "rightsize plan: %s\n", err);
        status = 1;
        goto done;
    }
    Ctx ctx = {&cat, &wl, &r, &o};
    if (json ? report_json(stdout, &cat, &wl, &r, &o) : report_text(stdout, &cat, &wl, &r, &o)) status = 1;
    if (html && write_file(html, "HTML report", html_fn, &ctx)) status = 1;
    if (emit) {
        if (r.best < 0) { fprintf(stderr, "rightsize plan: no plan met the SLOs; nothing to --emit\n"); status = 1; }
        else if (write_file(emit, "pipeline", emit_fn, &ctx)) status = 1;
    }
    if (r.best < 0 && !status) status = 1;
done:
    search_free(&r);
    wl_free(&wl);
    catalog_free(&cat);
    return status;
}
