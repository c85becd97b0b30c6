// plan_fit: fits every serving stack's efficiencies on the train split of
// data/benchmarks/published.csv and prints (1) the fitted values, (2) the held-out error of the
// catalog's committed values per stack, per hardware and per point, as markdown.
// Usage: plan_fit [--joint STACK:HW[,HW...][:overhead]]... [CATALOG_DIR] [POINTS_CSV]
//   --joint fits the stack and those devices' derates in turn until both settle (bench_fit_joint)
//   and prints the result to copy into stacks.yaml and hardware.yaml (scripts/bench.d/45-plan-fit);
//   ":overhead" fits each device's step_overhead_us as well
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "plan/benchfit.h"

static void row(const char *what, BenchErr e) {
    if (!e.n) return;
    printf("| %s | %lld | %.3f | %.3f (x%.2f) | %.2f |\n", what, (long long)e.n, e.median_abs_log, e.max_abs_log,
           exp(e.max_abs_log), e.geo_mean_ratio);
}

// Prints the joint fit of "STACK:HW,HW" on a copy of the catalog. Returns 0, or 1 on a bad spec.
static int joint(const char *spec, const char *dir, const BenchPoint *pts, int64_t n) {
    Catalog c;
    char err[512], buf[256];
    if (catalog_load(&c, dir, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    snprintf(buf, sizeof buf, "%s", spec);
    char *colon = strchr(buf, ':');
    int hw[16], n_hw = 0, rc = 0;
    if (colon) *colon = 0;
    const CatStack *st = catalog_stack(&c, buf);
    if (!colon || !st) { fprintf(stderr, "--joint %s: expected STACK:HW[,HW...] with a stack of stacks.yaml\n", spec); catalog_free(&c); return 1; }
    char *opt = strchr(colon + 1, ':');
    bool overhead = opt && !strcmp(opt + 1, "overhead");
    if (opt) *opt = 0;
    if (opt && !overhead) { fprintf(stderr, "--joint %s: the only option is ':overhead'\n", spec); catalog_free(&c); return 1; }
    for (char *t = strtok(colon + 1, ","); t && n_hw < 16; t = strtok(NULL, ",")) {
        const CatHardware *h = catalog_hw(&c, t);
        if (!h) { fprintf(stderr, "--joint %s: no hardware '%s' in hardware.yaml\n", spec, t); rc = 1; break; }
        hw[n_hw++] = (int)(h - c.hw);
    }
    int s = (int)(st - c.stacks);
    int rounds = rc ? 0 : bench_fit_joint(&c, pts, n, s, hw, n_hw, overhead);
    if (rounds) {
        printf("| %s | %d | %.3f / %.3f / %.3f | %.2f / %.2f / %.2f, %.2f us |", st->id, rounds, st->eff_prefill, st->eff_decode,
               st->eff_overhead, st->allreduce_eff[LINK_NVLINK], st->allreduce_eff[LINK_PCIE], st->allreduce_eff[LINK_FABRIC],
               st->allreduce_alpha_us);
        for (int i = 0; i < n_hw; i++)
            printf(overhead ? " %s %.3f / %.3f / %.0f us;" : " %s %.3f / %.3f;", c.hw[hw[i]].id, c.hw[hw[i]].derate_compute,
                   c.hw[hw[i]].derate_bandwidth, c.hw[hw[i]].step_overhead_us);
        printf(" %.3f |", bench_error(&c, pts, n, false, -1, s).median_abs_log);
        BenchErr hs = bench_error(&c, pts, n, true, -1, s);
        printf(" stack %.3f / x%.2f;", hs.median_abs_log, exp(hs.max_abs_log));
        for (int i = 0; i < n_hw; i++) {
            BenchErr he = bench_error(&c, pts, n, true, hw[i], -1);
            if (he.n) printf(" %s %.3f / x%.2f;", c.hw[hw[i]].id, he.median_abs_log, exp(he.max_abs_log));
        }
        printf(" |\n");
    }
    catalog_free(&c);
    return rc;
}

// The held-out (withdrawn = false) or withdrawn points, one table row each.
static void print_points(const Catalog *cat, const BenchPoint *pts, int64_t n, bool withdrawn) {
    printf("\n| %s point (CSV line) | hardware x tp | stack | model | quant | isl/osl | conc | metric | published | predicted | ratio |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n", withdrawn ? "withdrawn" : "held-out");
    for (int64_t i = 0; i < n; i++) {
        const BenchPoint *p = &pts[i];
        if (!p->test || p->withdrawn != withdrawn) continue;
        double pred = bench_predict(cat, &cat->stacks[p->stack], p);
        printf("| %d | %s x%d | %s | %s | %s | %lld/%lld | %lld | %s | %.6g | %.6g | %.2f |\n", p->line, cat->hw[p->hw].id,
               p->tp, cat->stacks[p->stack].id, cat->models[p->model].id, plan_quant_names[p->quant], (long long)p->isl,
               (long long)p->osl, (long long)p->concurrency, bench_metric_names[p->metric], p->value, pred, pred / p->value);
    }
}

int main(int argc, char **argv) {
    const char *joints[8];
    int n_joint = 0, a = 1;
    for (; a + 1 < argc && !strcmp(argv[a], "--joint") && n_joint < 8; a += 2) joints[n_joint++] = argv[a + 1];
    const char *dir = argc > a ? argv[a] : "data/catalog";
    const char *csv = argc > a + 1 ? argv[a + 1] : "data/benchmarks/published.csv";
    Catalog cat;
    char err[512];
    if (catalog_load(&cat, dir, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    BenchPoint *pts;
    int64_t n;
    if (bench_points_load(csv, &cat, &pts, &n, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    printf("### Fitted on the train split (copy into data/catalog/stacks.yaml)\n\n");
    printf("| stack | train points | prefill_compute | decode_bandwidth | step_overhead | allreduce nvlink / pcie / fabric | allreduce alpha us | train median abs log err (committed -> fitted) |\n|---|---|---|---|---|---|---|---|\n");
    for (int64_t s = 0; s < cat.n_stacks; s++) {
        CatStack fit;
        int64_t nt = bench_fit(&cat, pts, n, (int)s, &fit);
        if (!nt) continue;
        BenchErr before = bench_error(&cat, pts, n, false, -1, (int)s);
        CatStack keep = cat.stacks[s];
        cat.stacks[s] = fit;
        BenchErr after = bench_error(&cat, pts, n, false, -1, (int)s);
        cat.stacks[s] = keep;
        printf("| %s | %lld | %.3f | %.3f | %.3f | %.2f / %.2f / %.2f | %.2f | %.3f -> %.3f |\n", fit.id, (long long)nt,
               fit.eff_prefill, fit.eff_decode, fit.eff_overhead, fit.allreduce_eff[LINK_NVLINK],
               fit.allreduce_eff[LINK_PCIE], fit.allreduce_eff[LINK_FABRIC], fit.allreduce_alpha_us, before.median_abs_log,
               after.median_abs_log);
    }
    if (n_joint) {
        printf("\n### Stack and device derates fitted in turn until both settle (copy into stacks.yaml and hardware.yaml)\n\n");
        printf("| stack | rounds | prefill_compute / decode_bandwidth / step_overhead | allreduce nvlink / pcie / fabric, alpha | device derate.compute / derate.bandwidth | train median abs log err | held-out median / worst with these figures |\n|---|---|---|---|---|---|---|\n");
        for (int j = 0; j < n_joint; j++)
            if (joint(joints[j], dir, pts, n)) { free(pts); catalog_free(&cat); return 1; }
    }
    printf("\n### Device derates fitted on each device's train points, stack factors as committed (copy into hardware.yaml)\n\n");
    printf("| hardware | train points | derate.compute | derate.bandwidth | committed | train median abs log err (committed -> fitted) |\n|---|---|---|---|---|---|\n");
    for (int64_t h = 0; h < cat.n_hw; h++) {
        double c, b;
        int64_t nt = bench_fit_hw(&cat, pts, n, (int)h, &c, &b);
        if (!nt) continue;
        BenchErr before = bench_error(&cat, pts, n, false, (int)h, -1);
        double kc = cat.hw[h].derate_compute, kb = cat.hw[h].derate_bandwidth;
        cat.hw[h].derate_compute = c;
        cat.hw[h].derate_bandwidth = b;
        BenchErr after = bench_error(&cat, pts, n, false, (int)h, -1);
        cat.hw[h].derate_compute = kc;
        cat.hw[h].derate_bandwidth = kb;
        printf("| %s | %lld | %.3f | %.3f | %.3f / %.3f | %.3f -> %.3f |\n", cat.hw[h].id, (long long)nt, c, b, kc, kb,
               before.median_abs_log, after.median_abs_log);
    }
    printf("\n### Held-out error of the committed catalog (test split, never used by the fit)\n\n");
    printf("| slice | points | median abs log err | max abs log err | geo-mean pred/published |\n|---|---|---|---|---|\n");
    row("**all held-out**", bench_error(&cat, pts, n, true, -1, -1));
    char what[128];
    for (int64_t s = 0; s < cat.n_stacks; s++) {
        snprintf(what, sizeof what, "stack %s", cat.stacks[s].id);
        row(what, bench_error(&cat, pts, n, true, -1, (int)s));
    }
    for (int64_t h = 0; h < cat.n_hw; h++) {
        snprintf(what, sizeof what, "hardware %s", cat.hw[h].id);
        row(what, bench_error(&cat, pts, n, true, (int)h, -1));
    }
    for (int64_t h = 0; h < cat.n_hw; h++)   // devices the planner may recommend on estimates alone
        if (!bench_error(&cat, pts, n, true, (int)h, -1).n && !bench_error(&cat, pts, n, false, (int)h, -1).n)
            printf("| hardware %s | 0 | no published point yet: reference derates (est) | - | - |\n", cat.hw[h].id);
    row("(train split, for comparison)", bench_error(&cat, pts, n, false, -1, -1));
    for (int w = 0; w < 2; w++) {
        if (w) printf("\nWithdrawn by their publisher (split `withdrawn`: kept for the record, neither fitted nor scored; "
                      "data/benchmarks/README.md says why):\n");
        print_points(&cat, pts, n, w);
    }
    free(pts);
    catalog_free(&cat);
    return 0;
}
