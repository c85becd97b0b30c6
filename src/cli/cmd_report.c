// cmd_report.c — `rightsize report TELEMETRY.jsonl...`: the periodic architecture review of what
// production did (traffic, cost, latency against the SLOs, the plan's predictions against the
// measurements, recommendations), streamed from the gateway's telemetry in bounded memory.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "cli/cli.h"
#include "review/review.h"
#include "review/review_out.h"
#include "review/review_plan.h"
#include "review/review_read.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: rightsize report TELEMETRY.jsonl... [options]\n\n"
            "The periodic architecture review from the gateway's telemetry (`serve --telemetry FILE`): traffic as\n"
            "fitted (arrivals by hour and weekday, burstiness, token lengths, escalation and error rates, share by\n"
            "route and tier), cost by tier, route and day ($/1K requests, $/1M tokens, $/successful outcome, busy vs\n"
            "idle), latency percentiles against the SLOs, and recommendations. Rotated files (FILE, FILE.1, FILE.2 ...)\n"
            "given together are read oldest first as one input. Corrupt lines are counted and skipped.\n\n"
            "options:\n"
            "  --plan FILE         the plan the deployment came from (`plan --json`, or `plan --profile --json`):\n"
            "                      predicted vs measured, each figure with its error; its SLOs are used\n"
            "  --json              print the review as JSON (schema rightsize.report/1, docs/report.md)\n"
            "  --html FILE         also write a self-contained HTML page\n"
            "  --since T, --until T  only records with since <= time < until (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z)\n"
            "  --metrics FILE      a scrape of the gateway's /metrics taken at the end of the period: adds the idle\n"
            "                      replicas' cost (rightsize_cost_usd_total{kind=\"idle\"}) when the records carry none\n"
            "                      (records before schema 2's idle split); given twice (start, end), the idle cost is\n"
            "                      exactly that between the two scrapes, in place of the idle the records carry\n"
            "  --slo-e2e-p95-ms MS, --slo-e2e-p99-ms MS, --slo-ttft-p95-ms MS, --slo-tpot-p95-ms MS\n"
            "                      SLOs to hold latency against (override the plan's)\n"
            "  --quiet             no progress line (it shows on a terminal, or always with --progress)\n"
            "  --progress          a progress line on stderr even when it is not a terminal\n\n"
            "Percentiles come from a log histogram and are within 0.5%% of the exact order statistic.\n");
}

static void progress(void *ctx, int64_t done, int64_t total, int64_t records) {
    (void)ctx;
    fprintf(stderr, "\rreport: %lld records, %.0f/%.0f MB (%.0f%%)", (long long)records, (double)done / 1e6,
            (double)total / 1e6, total ? 100.0 * (double)done / (double)total : 100.0);
    if (done >= total) fprintf(stderr, "\n");
}

static int parse_ms(const char *opt, const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x > 0) || x > 1e9) {
        fprintf(stderr, "rightsize report: %s wants milliseconds > 0, got '%s'\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

typedef struct {
    const char *plan, *html, *metrics, *metrics_start, *since, *until;
    bool json, quiet, force_progress;
    ReviewSlo slo;
    const char **files;
    int n_files;
} ReportArgs;

// Returns 0, or the exit status for a usage error.
static int parse_args(int argc, char **argv, ReportArgs *a) {
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has_val = i + 1 < argc;
#define NEED_VAL() do { if (!has_val) { fprintf(stderr, "rightsize report: %s needs a value (see --help)\n", s); return 2; } } while (0)
        if (!strcmp(s, "--json")) a->json = true;
        else if (!strcmp(s, "--quiet")) a->quiet = true;
        else if (!strcmp(s, "--progress")) a->force_progress = true;
        else if (!strcmp(s, "--plan")) { NEED_VAL(); a->plan = argv[++i]; }
        else if (!strcmp(s, "--html")) { NEED_VAL(); a->html = argv[++i]; }
        else if (!strcmp(s, "--metrics")) {
            NEED_VAL();
            if (a->metrics_start) { fprintf(stderr, "rightsize report: --metrics at most twice (start and end)\n"); return 2; }
            if (a->metrics) a->metrics_start = a->metrics;
            a->metrics = argv[++i];
        }
        else if (!strcmp(s, "--since")) { NEED_VAL(); a->since = argv[++i]; }
        else if (!strcmp(s, "--until")) { NEED_VAL(); a->until = argv[++i]; }
        else if (!strcmp(s, "--slo-e2e-p95-ms")) { NEED_VAL(); if (parse_ms(s, argv[++i], &a->slo.e2e_p95_ms)) return 2; }
        else if (!strcmp(s, "--slo-e2e-p99-ms")) { NEED_VAL(); if (parse_ms(s, argv[++i], &a->slo.e2e_p99_ms)) return 2; }
        else if (!strcmp(s, "--slo-ttft-p95-ms")) { NEED_VAL(); if (parse_ms(s, argv[++i], &a->slo.ttft_p95_ms)) return 2; }
        else if (!strcmp(s, "--slo-tpot-p95-ms")) { NEED_VAL(); if (parse_ms(s, argv[++i], &a->slo.tpot_p95_ms)) return 2; }
        else if (s[0] == '-' && s[1]) { fprintf(stderr, "rightsize report: unknown option '%s' (see --help)\n", s); return 2; }
        else a->files[a->n_files++] = s;
#undef NEED_VAL
    }
    if (!a->n_files) { fprintf(stderr, "rightsize report: give one or more telemetry files (see --help)\n"); return 2; }
    return 0;
}

static int parse_window(const char *opt, const char *v, int64_t *t_us) {
    if (!v) return 0;
    if (telrec_parse_time(v, strlen(v), t_us)) {
        fprintf(stderr, "rightsize report: %s wants a UTC date or time like 2026-01-31 or 2026-01-31T12:00:00Z, got '%s'\n", opt, v);
        return 2;
    }
    return 0;
}

// The plan's SLOs fill in those not given as flags.
static void slo_from_plan(ReviewSlo *s, const ReviewPlan *p) {
    if (!(s->e2e_p95_ms > 0) && p->slo_e2e_p95_ms > 0) s->e2e_p95_ms = p->slo_e2e_p95_ms;
    if (!(s->e2e_p99_ms > 0) && p->slo_e2e_p99_ms > 0) s->e2e_p99_ms = p->slo_e2e_p99_ms;
    if (!(s->ttft_p95_ms > 0) && p->slo_ttft_p95_ms > 0) s->ttft_p95_ms = p->slo_ttft_p95_ms;
    if (!(s->tpot_p95_ms > 0) && p->slo_tpot_p95_ms > 0) s->tpot_p95_ms = p->slo_tpot_p95_ms;
}

static int write_html(const char *path, const ReviewReport *rep) {
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "rightsize report: cannot write HTML '%s': %s\n", path, strerror(errno)); return 1; }
    int rc = review_print_html(f, rep);
    if (fclose(f) != 0 || rc) { fprintf(stderr, "rightsize report: writing HTML '%s' failed\n", path); return 1; }
    return 0;
}

int cmd_report(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    ReportArgs a = {0};
    a.files = calloc((size_t)argc, sizeof *a.files);
    Review *rv = calloc(1, sizeof *rv);
    ReviewPlan plan;
    char err[1024];
    int status = 1;
    if (!a.files || !rv) { fprintf(stderr, "rightsize report: out of memory\n"); goto done; }
    review_init(rv);
    if ((status = parse_args(argc, argv, &a)) != 0) goto done;
    if ((status = parse_window("--since", a.since, &rv->since_us)) || (status = parse_window("--until", a.until, &rv->until_us)))
        goto done;
    status = 1;
    if (a.plan && review_plan_load(&plan, a.plan, err, sizeof err)) { fprintf(stderr, "rightsize report: %s\n", err); goto done; }
    if (a.plan) slo_from_plan(&a.slo, &plan);
    review_order_files(a.files, a.n_files);
    bool show = !a.quiet && (a.force_progress || isatty(2));
    if (review_read_files(rv, a.files, a.n_files, show ? progress : NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "rightsize report: %s\n", err);
        goto done;
    }
    if (rv->n_empty_files)
        fprintf(stderr, "rightsize report: %d of %d file(s) empty (e.g. '%s')\n", rv->n_empty_files, rv->n_files, rv->empty_file);
    if (rv->corrupt)
        fprintf(stderr, "rightsize report: skipped %lld corrupt line(s); first at %s:%lld: %s\n", (long long)rv->corrupt,
                rv->bad[0].file, (long long)rv->bad[0].line, rv->bad[0].why);
    if (rv->records == 0) {
        fprintf(stderr, "rightsize report: no telemetry records to report%s (%lld lines read, %lld corrupt, %lld outside the window)\n",
                rv->lines == 0 ? ": the input is empty" : "", (long long)rv->lines, (long long)rv->corrupt,
                (long long)rv->filtered_out);
        goto done;
    }
    if (a.metrics) {
        double idle, idle0 = 0;
        if (review_scrape_idle(a.metrics, &idle, err, sizeof err) ||
            (a.metrics_start && review_scrape_idle(a.metrics_start, &idle0, err, sizeof err))) {
            fprintf(stderr, "rightsize report: %s\n", err);
            goto done;
        }
        idle -= idle0;
        // A window (start and end scrapes) replaces the records' idle: a request takes the idle
        // before it, which for the first ones can lie before the window.
        if (rv->all.idle_nusd == 0 || a.metrics_start) {
            int64_t n = (int64_t)llround(idle * 1e9);
            rv->all.cost_nusd += n - rv->all.idle_nusd;
            rv->all.idle_nusd = n;
            rv->idle_from_metrics = true;
        }
    }
    ReviewFit fit;
    review_finish(rv, &fit);
    ReviewReport rep = {rv, &fit, a.plan ? &plan : NULL, a.plan, a.slo, a.files, a.n_files};
    status = (a.json ? review_print_json(stdout, &rep) : review_print_text(stdout, &rep)) ? 1 : 0;
    if (a.html && write_html(a.html, &rep)) status = 1;
done:
    if (rv) review_free(rv);
    free(rv);
    free(a.files);
    return status;
}
