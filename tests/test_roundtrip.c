// The plan's round trip: plan -> `plan --emit` -> `plan --pipeline` is the same simulation. For
// every shipped workload (data/workloads/*.yaml) the chosen plan, and a cascade candidate with a
// reserved floor and spot burst, are emitted as pipeline YAML, loaded back as serve loads it
// (pipeline_load_buf), turned into a simulator config (pipesim_build, with the file's
// `planner:` run) and simulated: every count, percentile and nano-dollar equals the plan's
// expected scenario exactly. A key the emitter forgot, a default the two sides read differently
// or a decision written twice makes this fail.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/emit.h"
#include "plan/pipesim.h"
#include "plan/search.h"
#include "serve/pipeline.h"
#include "test.h"

#define SAME(field)                                                                                           \
    do {                                                                                                      \
        if (a->field != b->field)                                                                             \
            test_fail(__FILE__, __LINE__, "%s: %s: plan %.17g, emitted pipeline %.17g", what, #field,          \
                      (double)a->field, (double)b->field);                                                    \
    } while (0)

static void same_pct(const char *what, const char *name, const SimPct *x, const SimPct *y) {
    if (x->p50 != y->p50 || x->p95 != y->p95 || x->p99 != y->p99 || x->mean != y->mean || x->max != y->max)
        test_fail(__FILE__, __LINE__, "%s: %s p50/p95/p99 plan %.17g/%.17g/%.17g, pipeline %.17g/%.17g/%.17g", what,
                  name, x->p50, x->p95, x->p99, y->p50, y->p95, y->p99);
}

static void same_result(const char *what, const SimResult *a, const SimResult *b) {
    SAME(arrived);
    SAME(completed);
    SAME(rejected);
    SAME(escalated);
    SAME(interruptions);
    SAME(unfinished);
    SAME(extrapolated);
    SAME(accel_nusd);
    SAME(attributed_nusd);
    SAME(idle_nusd);
    SAME(in_tokens);
    SAME(out_tokens);
    SAME(end_s);
    SAME(peak_replicas[0]);
    SAME(peak_replicas[1]);
    for (int k = 0; k < PRICE_KIND_COUNT; k++) SAME(replica_hours[k]);
    same_pct(what, "ttft_ms", &a->ttft_ms, &b->ttft_ms);
    same_pct(what, "e2e_ms", &a->e2e_ms, &b->e2e_ms);
    same_pct(what, "tpot_ms", &a->tpot_ms, &b->tpot_ms);
}

// Emits c, loads the file back and simulates it; compares with c's expected scenario.
static void round_trip(const Catalog *cat, const Workload *wl, const SearchOptions *o, const Candidate *c) {
    char what[256], err[1024];
    snprintf(what, sizeof what, "%s: %s", wl->name, c->id);
    EmitPlan *ep = malloc(sizeof *ep);
    Pipeline *p = malloc(sizeof *p);
    PipeSim *ps = calloc(1, sizeof *ps);
    char *text = NULL;
    size_t len = 0;
    SimResult res = {0};
    ASSERT(ep && p && ps);
    if (emit_plan_init(ep, cat, wl, c, NULL, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s: emit: %s", what, err);
        goto done;
    }
    emit_plan_set_run(ep, o->seed, o->horizon_s);
    FILE *f = open_memstream(&text, &len);
    ASSERT(f);
    EXPECT(emit_pipeline(f, ep) == 0);
    fclose(f);
    if (pipeline_load_buf(p, "emitted.yaml", text, len, false, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s: the emitted pipeline does not load: %s", what, err);
        goto done;
    }
    EXPECT(p->has_plan_run && p->plan_horizon_s == o->horizon_s);
    if (pipesim_build(ps, p, "emitted.yaml", wl, p->plan_seed, p->plan_horizon_s, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s: %s", what, err);
        goto done;
    }
    if (sim_run(&ps->cfg, &res, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "%s: %s", what, err);
        goto done;
    }
    EXPECT(res.completed > 0);
    same_result(what, &c->sim[SCEN_EXPECTED], &res);
done:
    sim_result_free(&res);
    pipesim_free(ps);
    free(ps);
    free(p);
    free(ep);
    free(text);
}

TEST(roundtrip_every_shipped_workload_exactly) {
    Catalog cat;
    char err[512];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    DIR *d = opendir("data/workloads");
    ASSERT(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".yaml")) continue;
        char path[512];
        snprintf(path, sizeof path, "data/workloads/%s", e->d_name);
        Workload wl;
        if (wl_load(&wl, path, err, sizeof err)) { test_fail(__FILE__, __LINE__, "%s", err); continue; }
        SearchOptions o;
        search_options_default(&o);
        o.horizon_s = 1800;
        o.seed = 3;
        SearchResult r;
        if (search_run(&cat, &wl, &o, &r, err, sizeof err) == 0) {
            EXPECT(r.best >= 0);
            if (r.best >= 0) round_trip(&cat, &wl, &o, &r.cands[r.best]);
            search_free(&r);
            n++;
        } else {
            test_fail(__FILE__, __LINE__, "%s: %s", path, err);
        }
        wl_free(&wl);
    }
    closedir(d);
    EXPECT(n >= 4);
    catalog_free(&cat);
}

// A cascade (student on other hardware, the escalation drawn per answer) with a reserved floor,
// spot burst and an autoscaler, and a one-tier plan whose autoscaler starts replicas through the
// 14:00 peak (from the warm pool, then cold): routes, prices, start-up times and spot
// interruptions all go through the file.
TEST(roundtrip_cascade_and_scaling_exactly) {
    static const char *const ids[] = {
        "l4x1/qwen2.5-7b/int4/b16/auto/reserved+spot/cascade=support-student-1b:int4@t4",
        "tpu-v5ex1/llama-3.1-8b/int8/b16/auto/reserved+spot",
    };
    Catalog cat;
    Workload wl;
    char err[512];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    ASSERT(wl_load(&wl, "data/workloads/support-assistant.yaml", err, sizeof err) == 0);
    SearchOptions o;
    search_options_default(&o);
    o.horizon_s = 16 * 3600;   // through the 14:00 peak
    o.seed = 5;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        Candidate c;
        int rc = search_parse_id(&cat, &wl, ids[i], &c, err, sizeof err);
        if (rc) test_fail(__FILE__, __LINE__, "%s", err);
        if (rc || c.pruned) continue;
        ASSERT(search_simulate(&cat, &wl, &o, &c, false, err, sizeof err) == 0);
        const SimResult *e = &c.sim[SCEN_EXPECTED];
        if (c.student >= 0) EXPECT(e->escalated > 0);
        else EXPECT(e->peak_replicas[0] > c.replicas_min + 1);   // past the warm pool: a cold start
        round_trip(&cat, &wl, &o, &c);
        search_free_candidate(&c);
    }
    wl_free(&wl);
    catalog_free(&cat);
}
