#include "review/fit_workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "review/review_read.h"

// ---- the day profile ----

// Minutes of minute-of-day m inside [first, last] over the days spanned: the bin's exposure.
static void exposure(const Review *rv, double *exp_min) {
    memset(exp_min, 0, 1440 * sizeof *exp_min);
    int64_t d0 = telrec_day(rv->first_us), d1 = telrec_day(rv->last_us);
    double first_m = (double)rv->first_us / 60e6, last_m = (double)rv->last_us / 60e6;
    for (int64_t d = d0; d <= d1; d++)
        for (int m = 0; m < 1440; m++) {
            double lo = (double)(d * 1440 + m), hi = lo + 1;
            double a = lo > first_m ? lo : first_m, b = hi < last_m ? hi : last_m;
            if (b > a) exp_min[m] += b - a;
        }
}

// The day profile at the finest of 1440/288/96/48/24 bins that gives FITWL_MIN_PER_BIN arrivals
// per bin; bins never observed get the mean of those observed. Returns the bin count; prof[] mean 1;
// *rate_per_s the mean rate over the day (counts over exposure: whole days or not, each time of
// day weighs the same, as in a month).
static int day_profile(const Review *rv, double *prof, double *rate_per_s) {
    static const int choices[] = {1440, 288, 96, 48, 24};
    int nb = 24;
    for (size_t c = 0; c < sizeof choices / sizeof choices[0]; c++)
        if ((double)rv->records / choices[c] >= FITWL_MIN_PER_BIN) { nb = choices[c]; break; }
    double expo[1440];
    exposure(rv, expo);
    int per = 1440 / nb, seen = 0;
    double sum = 0;
    for (int b = 0; b < nb; b++) {
        double n = 0, e = 0;
        for (int m = b * per; m < (b + 1) * per; m++) { n += (double)rv->by_minute[m]; e += expo[m]; }
        prof[b] = e > 0.5 * per ? n / e : -1;   // a bin seen for under half its length: unknown
        if (prof[b] >= 0) { sum += prof[b]; seen++; }
    }
    double mean = seen ? sum / seen : 1;
    *rate_per_s = mean / 60.0;   // arrivals per exposed minute
    for (int b = 0; b < nb; b++) {
        if (prof[b] < 0) prof[b] = mean;
        prof[b] = mean > 0 ? prof[b] / mean : 1;
    }
    return nb;
}

// ---- token histograms ----

static void write_tokens(FILE *o, const char *name, const LogHist *h, double mean) {
    if (h->n == 0) {
        fprintf(o, "  %s: {dist: fixed, mean: %.0f}   # no token counts in the telemetry\n", name, mean > 0 ? mean : 1);
        return;
    }
    // Bin edges at quantiles: evenly to 0.96, then finer into the tail, where a wide last bin
    // (sampled uniformly) would inflate the mean.
    static const double tail[] = {0.97, 0.98, 0.99, 0.995, 0.998, 0.999};
    double qs[FITWL_TOKEN_BINS];
    int nq = 0;
    for (int k = 1; k <= 24; k++) qs[nq++] = k / 25.0;
    for (size_t k = 0; k < sizeof tail / sizeof tail[0]; k++) qs[nq++] = tail[k];
    qs[nq++] = 1.0;
    double edges[FITWL_TOKEN_BINS], w[FITWL_TOKEN_BINS];
    int n = 0;
    double prev_cdf = 0, lo = h->min;
    for (int k = 0; k < nq; k++) {
        double e = qs[k] >= 1 ? h->max : ceil(loghist_quantile(h, qs[k]));
        if (e <= lo || (n && e <= edges[n - 1])) continue;
        double c = qs[k] >= 1 ? 1.0 : loghist_cdf(h, e);
        if (c <= prev_cdf) continue;
        edges[n] = e;
        w[n] = c - prev_cdf;
        prev_cdf = c;
        n++;
    }
    if (n == 0) {   // every count the same
        fprintf(o, "  %s: {dist: fixed, mean: %.0f}\n", name, h->max);
        return;
    }
    fprintf(o, "  %s: {dist: histogram, min: %.0f, bins: [", name, lo > 1 ? lo - 1 : 0);
    for (int i = 0; i < n; i++) fprintf(o, "%s[%.0f, %.6f]", i ? ", " : "", edges[i], w[i]);
    fprintf(o, "]}   # mean %.1f, p50 %.0f, p99 %.0f measured\n", loghist_mean(h), loghist_quantile(h, .5),
            loghist_quantile(h, .99));
}

// ---- the file ----

int fitwl_write(FILE *o, const Review *rv, const ReviewFit *f, const ReviewPlan *slo_plan, const ReviewSlo *flags,
                const char *source) {
    const char *cls = rv->ep_embeddings > rv->ep_chat && rv->ep_embeddings > rv->ep_completions ? "embedding"
                      : rv->ep_completions > rv->ep_chat ? "completion" : "chat";
    char a[32], b[32];
    telrec_time_str(rv->first_us, a, sizeof a);
    telrec_time_str(rv->last_us, b, sizeof b);
    fprintf(o, "# Fitted by `rightsize plan --from-telemetry` from %s:\n# %lld requests, %s to %s (%.2f days). "
               "Edit freely; `rightsize plan FILE` re-plans it.\n", source, (long long)rv->records, a, b, f->days_covered);
    double prof[1440], rate;
    int nb = day_profile(rv, prof, &rate);
    fprintf(o, "name: fitted-from-telemetry\nclass: %s\nrate_per_s: %.6g   # %.0f requests/month (over the span: %.6g)\n",
            cls, rate, rate * 30 * 86400, f->rate_per_s);
    double cv = isnan(f->gap_cv_hourly) ? 1.0 : f->gap_cv_hourly;
    cv = cv < 0.05 ? 0.05 : cv > 20 ? 20 : cv;
    fprintf(o, "arrivals:\n  process: gamma\n  cv: %.3f   # inter-arrival CV within the hour (raw: %.3f; index of "
               "dispersion per minute %.2f)\n", cv, f->gap_cv, f->dispersion_per_minute);
    fprintf(o, "  # arrivals per %d-minute bin of the day (UTC) over the mean bin%s\n  profile: [", 1440 / nb,
            f->days_covered < 1 ? "; under a day observed: unseen bins take the mean" : "");
    for (int i = 0; i < nb; i++) fprintf(o, "%s%.4f", i ? (i % 12 ? ", " : ",\n            ") : "", prof[i]);
    fprintf(o, "]\ntokens:\n");
    const ReviewGroup *all = &rv->all;
    write_tokens(o, "input", &rv->prompt_tokens, all->n_tokens ? all->prompt_tokens / (double)all->n_tokens : 1);
    if (strcmp(cls, "embedding"))
        write_tokens(o, "output", &rv->output_tokens, all->n_tokens ? all->output_tokens / (double)all->n_tokens : 1);
    ReviewSlo s = *flags;
    if (slo_plan) {
        if (!(s.ttft_p95_ms > 0)) s.ttft_p95_ms = slo_plan->slo_ttft_p95_ms;
        if (!(s.tpot_p95_ms > 0)) s.tpot_p95_ms = slo_plan->slo_tpot_p95_ms;
        if (!(s.e2e_p95_ms > 0)) s.e2e_p95_ms = slo_plan->slo_e2e_p95_ms;
        if (!(s.e2e_p99_ms > 0)) s.e2e_p99_ms = slo_plan->slo_e2e_p99_ms;
    }
    const struct { const char *k; double v; } sl[] = {{"ttft_p95_ms", s.ttft_p95_ms}, {"tpot_p95_ms", s.tpot_p95_ms},
                                                      {"e2e_p95_ms", s.e2e_p95_ms}, {"e2e_p99_ms", s.e2e_p99_ms}};
    int ns = 0;
    for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++)
        if (sl[i].v > 0) fprintf(o, "%s%s: %.6g", ns++ ? ", " : "slo: {", sl[i].k, sl[i].v);
    if (ns) fprintf(o, "}\n");
    else fprintf(o, "# slo: none given (--slo-from PLAN.json or --slo-e2e-p95-ms ...); the plan is the cheapest that keeps up\n");
    if (f->success_rate > 0) fprintf(o, "success_rate: %.4f   # 2xx and not an error finish\n", f->success_rate);
    if (!isnan(f->escalation_rate) && all->n_cascade > 0)
        fprintf(o, "cascade: {escalation_rate: %.4f}   # %lld of %lld cascade requests escalated\n", f->escalation_rate,
                (long long)all->n_escalated, (long long)all->n_cascade);
    if (slo_plan && slo_plan->fixed_usd_month > 0)
        fprintf(o, "fixed_costs: {orchestration_usd_month: %.6g}   # the plan's fixed costs, as one figure\n",
                slo_plan->fixed_usd_month);
    return ferror(o) ? -1 : 0;
}

// ---- the CLI side ----

static int parse_ms(const char *opt, const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x > 0) || x > 1e9) {
        fprintf(stderr, "rightsize plan: %s wants milliseconds > 0, got '%s'\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

int fitwl_cli_arg(FitWlArgs *a, int argc, char **argv, int *i) {
    const char *s = argv[*i];
    static const char *const opts[] = {"--from-telemetry", "--fitted-workload", "--slo-from", "--slo-e2e-p95-ms",
                                       "--slo-e2e-p99-ms", "--slo-ttft-p95-ms", "--slo-tpot-p95-ms"};
    size_t k = 0;
    while (k < ARRAY_LEN(opts) && strcmp(s, opts[k])) k++;
    if (k == ARRAY_LEN(opts)) return 0;
    if (*i + 1 >= argc) { fprintf(stderr, "rightsize plan: %s needs a value (see --help)\n", s); return -1; }
    const char *v = argv[++*i];
    switch (k) {
    case 0:
        if (a->n_files == (int)ARRAY_LEN(a->files)) { fprintf(stderr, "rightsize plan: at most 64 telemetry files\n"); return -1; }
        a->files[a->n_files++] = v;
        return 1;
    case 1: a->out_path = v; return 1;
    case 2: a->slo_from = v; return 1;
    case 3: return parse_ms(s, v, &a->slo.e2e_p95_ms) ? -1 : 1;
    case 4: return parse_ms(s, v, &a->slo.e2e_p99_ms) ? -1 : 1;
    case 5: return parse_ms(s, v, &a->slo.ttft_p95_ms) ? -1 : 1;
    default: return parse_ms(s, v, &a->slo.tpot_p95_ms) ? -1 : 1;
    }
}

void fitwl_cli_help(FILE *f) {
    fprintf(f, "\nRe-plan from production (instead of WORKLOAD.yaml):\n"
               "  --from-telemetry FILE   the gateway's telemetry (repeat for rotated files): fit a workload and plan it\n"
               "  --fitted-workload OUT   where the fitted workload YAML goes (default: FILE.workload.yaml)\n"
               "  --slo-from PLAN.json    carry the SLOs of the plan the deployment came from\n"
               "  --slo-e2e-p95-ms MS, --slo-e2e-p99-ms MS, --slo-ttft-p95-ms MS, --slo-tpot-p95-ms MS   SLOs as flags\n");
}

int fitwl_run(FitWlArgs *a, char *err, size_t err_len) {
    ReviewPlan plan;
    int rc = 0;
    FILE *o = NULL;
    Review *rv = calloc(1, sizeof *rv);
    if (!rv) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    review_init(rv);
    if (a->slo_from && (rc = review_plan_load(&plan, a->slo_from, err, err_len))) goto fail;
    review_order_files(a->files, a->n_files);
    if ((rc = review_read_files(rv, a->files, a->n_files, NULL, NULL, err, err_len))) goto fail;
    if (rv->records < 2) {
        rc = err_set(err, err_len, ERR_FORMAT, "--from-telemetry: %lld usable record(s) in %s%s (%lld corrupt); at least 2 "
                     "are needed to fit arrivals", (long long)rv->records, a->files[0], a->n_files > 1 ? " ..." : "",
                     (long long)rv->corrupt);
        goto fail;
    }
    if (rv->corrupt)
        fprintf(stderr, "rightsize plan: skipped %lld corrupt telemetry line(s); first at %s:%lld: %s\n",
                (long long)rv->corrupt, rv->bad[0].file, (long long)rv->bad[0].line, rv->bad[0].why);
    ReviewFit fit;
    review_finish(rv, &fit);
    if (!a->out_path) {
        snprintf(a->out_buf, sizeof a->out_buf, "%s.workload.yaml", a->files[a->n_files - 1]);
        a->out_path = a->out_buf;
    }
    o = fopen(a->out_path, "w");
    if (!o) { rc = err_set(err, err_len, ERR_IO, "cannot write the fitted workload '%s': %s", a->out_path, strerror(errno)); goto fail; }
    char src[400];
    snprintf(src, sizeof src, "%s%s", a->files[a->n_files - 1], a->n_files > 1 ? " and its rotated files" : "");
    if (fitwl_write(o, rv, &fit, a->slo_from ? &plan : NULL, &a->slo, src) || fclose(o)) {
        o = NULL;
        rc = err_set(err, err_len, ERR_IO, "writing the fitted workload '%s' failed", a->out_path);
        goto fail;
    }
    o = NULL;
    fprintf(stderr, "rightsize plan: fitted %s from %lld requests (%.3g req/s, CV %.2f, peak hour %02d:00 at %.2fx); "
                    "planning it\n", a->out_path, (long long)rv->records, fit.rate_per_s, fit.gap_cv_hourly, fit.peak_hour,
            fit.peak_to_average);
fail:
    if (o) fclose(o);
    review_free(rv);
    free(rv);
    return rc;
}
