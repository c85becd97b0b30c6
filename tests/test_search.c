// Tests of src/plan/search and report: pruning reasons against hand arithmetic, the waterfall's
// nesting (each lever level can only get cheaper), search determinism for a seed, and the
// emitted pipeline reading back through our YAML loader with the DESIGN.md §4 keys.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/yaml.h"
#include "plan/emit.h"
#include "plan/report.h"
#include "plan/search.h"
#include "plan/search_int.h"
#include "test.h"

TEST(search_prunes_with_reasons) {
    Catalog cat;
    Workload wl;
    char err[512];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    ASSERT(wl_load(&wl, "data/workloads/support-assistant.yaml", err, sizeof err) == 0);
    Candidate c;
    // 70B bf16: 70.554e9 x 2 = 141.1 GB of weights > 0.9 x 24 GB on one L4.
    ASSERT(search_parse_id(&cat, &wl, "l4x1/llama-3.1-70b/bf16/b16/fixed/od", &c, err, sizeof err) == 0);
    EXPECT(c.pruned);
    EXPECT(strstr(c.prune_reason, "does not fit: 141.1 GB weights") != NULL);
    // Llama 3.2 1B has quality 49.3 < the workload's floor of 65.
    ASSERT(search_parse_id(&cat, &wl, "h100-sxmx1/llama-3.2-1b/bf16/b16/fixed/od", &c, err, sizeof err) == 0);
    EXPECT(c.pruned && strstr(c.prune_reason, "quality 49.3 < floor 65.0"));
    // 8B fits one H100: TP 2 is dominated.
    ASSERT(search_parse_id(&cat, &wl, "h100-sxmx2/llama-3.1-8b/bf16/b16/fixed/od", &c, err, sizeof err) == 0);
    EXPECT(c.pruned && strstr(c.prune_reason, "fits on 1 device"));
    ASSERT(search_parse_id(&cat, &wl, "h100-sxmx1/llama-3.1-8b/fp8/b64/auto/reserved+spot", &c, err, sizeof err) == 0);
    EXPECT(!c.pruned);
    EXPECT(c.replicas_peak >= c.replicas_min && c.replicas_min >= 1);
    EXPECT(c.mu_rps > 0 && c.analytic_usd_month > wl_fixed_usd_month(&wl));
    EXPECT(search_parse_id(&cat, &wl, "h100-sxm/llama-3.1-8b/fp8", &c, err, sizeof err) == ERR_FORMAT);
    wl_free(&wl);
    catalog_free(&cat);
}

TEST(search_is_deterministic_and_waterfall_nests) {
    Catalog cat;
    Workload wl;
    char err[512];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    ASSERT(wl_load(&wl, "data/workloads/support-assistant.yaml", err, sizeof err) == 0);
    SearchOptions o;
    search_options_default(&o);
    o.horizon_s = 3 * 3600;
    o.keep_per_level = 6;   // enough simulated candidates that some miss an SLO (the early exit below)
    SearchResult a, b;
    ASSERT(search_run(&cat, &wl, &o, &a, err, sizeof err) == 0);
    o.threads = 1;   // a different thread count must not change the answer
    ASSERT(search_run(&cat, &wl, &o, &b, err, sizeof err) == 0);
    EXPECT(a.n_cands >= 1000);
    ASSERT(a.best >= 0 && b.best >= 0);
    EXPECT(strcmp(a.cands[a.best].id, b.cands[b.best].id) == 0);
    EXPECT(a.cands[a.best].usd_month == b.cands[b.best].usd_month);
    // The repair loop's early exit (hardest scenario first, stop at the first miss) changes no
    // result: every scenario on every attempt gives the same candidates, costs and verdicts.
    SearchResult full;
    o.every_scenario = true;
    ASSERT(search_run(&cat, &wl, &o, &full, err, sizeof err) == 0);
    ASSERT(full.n_cands == a.n_cands && full.best == a.best);
    int64_t n_missed = 0;
    for (int64_t i = 0; i < a.n_cands; i++) {
        const Candidate *x = &a.cands[i], *y = &full.cands[i];
        if (!x->simulated) continue;
        EXPECT(y->simulated && x->meets_slo == y->meets_slo && !strcmp(x->slo_miss, y->slo_miss));
        EXPECT(x->usd_month == y->usd_month && x->replicas_peak == y->replicas_peak);
        EXPECT(x->sim[SCEN_BEST].e2e_ms.p95 == y->sim[SCEN_BEST].e2e_ms.p95);
        n_missed += !x->meets_slo;
    }
    EXPECT(n_missed >= 1);   // the early exit was exercised
    search_free(&full);
    double prev = INFINITY;
    for (int l = 0; l < LEVER_COUNT; l++) {
        if (a.level_best[l] < 0) continue;
        const Candidate *c = &a.cands[a.level_best[l]];
        EXPECT(c->meets_slo && (int)c->lever <= l);
        EXPECT(c->usd_month <= prev);
        prev = c->usd_month;
    }
    EXPECT(a.level_best[LEVER_COUNT - 1] == a.best);
    // Savings by lever: each variant differs from the baseline (added) or the plan (removed) in
    // that lever alone, and each was simulated like a candidate.
    ASSERT(a.wf_done);
    const Candidate *pl = &a.cands[a.best];
    EXPECT(a.wf_base.mix == MIX_ON_DEMAND && a.wf_base.scale == SCALE_FIXED && a.wf_base.student < 0);
    EXPECT(a.wf_base.hw == pl->hw && a.wf_base.model == pl->model);
    for (int l = 0; l < LEVER_COUNT; l++) {
        if (!a.wf_used[l]) continue;
        const Candidate *ad = &a.wf_added[l], *rm = &a.wf_removed[l];
        EXPECT(ad->simulated || ad->pruned);
        EXPECT(rm->simulated || rm->pruned);
        if (l == LEVER_MIX) { EXPECT(ad->mix == pl->mix && ad->scale == SCALE_FIXED); EXPECT(rm->mix == MIX_ON_DEMAND && rm->scale == pl->scale); }
        if (l == LEVER_AUTOSCALE) { EXPECT(ad->scale == pl->scale && ad->mix == MIX_ON_DEMAND); EXPECT(rm->scale == SCALE_FIXED && rm->mix == pl->mix); }
    }
    // Monthly cost = accelerators + the workload's fixed costs (the seed's formula).
    const Candidate *best = &a.cands[a.best];
    EXPECT_NEAR(best->usd_month, best->accel_usd_month + wl_fixed_usd_month(&wl), 1e-6);
    EXPECT_NEAR(best->usd_per_1k_requests, best->usd_month / 2000000.0 * 1000, 1e-9);
    // The emitted pipeline reads back with the keys `serve` expects.
    char path[512];
    snprintf(path, sizeof path, "%s/pipeline.yaml", test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    EmitPlan ep;
    ASSERT(emit_plan_init(&ep, &cat, &wl, best, NULL, err, sizeof err) == 0);
    EXPECT(emit_pipeline(f, &ep) == 0);
    fclose(f);
    YamlDoc d;
    ASSERT(yaml_load_file(&d, path, err, sizeof err) == 0);
    const YamlNode *tiers = yaml_get(d.root, "tiers");
    ASSERT(tiers && tiers->kind == YAML_SEQ && tiers->n >= 1);
    EXPECT(yaml_get(tiers->vals[0], "cost_per_hour") != NULL);
    EXPECT(yaml_get(tiers->vals[0], "replicas") != NULL);
    EXPECT(yaml_get(d.root, "routes") != NULL && yaml_at(d.root, "slo.ttft_p95_ms") != NULL);
    yaml_doc_free(&d);
    search_free(&a);
    search_free(&b);
    wl_free(&wl);
    catalog_free(&cat);
}

// A cascade's student may sit on other hardware than its teacher: named in the id after '@', or
// chosen (the cheapest device that holds it and meets the SLO alone) when not named.
TEST(search_cascade_student_on_other_hardware) {
    Catalog cat;
    Workload wl;
    char err[512];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    ASSERT(wl_load(&wl, "data/workloads/support-assistant.yaml", err, sizeof err) == 0);
    Candidate c;
    int rc = search_parse_id(&cat, &wl, "h100-sxmx1/llama-3.1-8b/fp8/b64/fixed/od/cascade=support-student-1b:int4@l4", &c,
                             err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    EXPECT(!c.pruned);
    EXPECT(strcmp(cat.hw[c.student_hw].id, "l4") == 0 && strcmp(cat.hw[c.hw].id, "h100-sxm") == 0);
    EXPECT(strstr(c.id, "cascade=support-student-1b:int4@l4") != NULL);
    SimConfig cfg;
    search_sim_config(&cat, &wl, &c, SCEN_EXPECTED, 3600, 1, &cfg);
    ASSERT(cfg.n_tiers == 2);
    // The student tier pays an L4 replica (g6.xlarge), the teacher an H100 (p5.48xlarge / 8).
    EXPECT_NEAR(cfg.tier[0].usd_per_hour[PRICE_ON_DEMAND], 0.805, 1e-9);
    EXPECT_NEAR(cfg.tier[1].usd_per_hour[PRICE_ON_DEMAND], 55.04 / 8, 1e-9);
    // Without '@' the search picks the student's device itself.
    ASSERT(search_parse_id(&cat, &wl, "h100-sxmx1/llama-3.1-8b/fp8/b64/fixed/od/cascade=support-student-1b", &c, err,
                           sizeof err) == 0);
    EXPECT(!c.pruned && c.student_hw >= 0);
    wl_free(&wl);
    catalog_free(&cat);
}

// Constraints: the support assistant's cheapest plan is a GPU (A10G) one; restricted to ASICs
// without spot, with two replicas at least and a budget it cannot meet, the plan is an ASIC one,
// pays no spot hour, keeps two replicas, says the class constraint bound (an excluded GPU
// candidate undercuts it) and flags the budget.
TEST(search_constraints_exclude_and_say_which_bound) {
    Catalog cat;
    Workload wl;
    char err[512], path[512], cmd[1200];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/constrained.yaml", test_tmpdir());
    snprintf(cmd, sizeof cmd, "cp data/workloads/support-assistant.yaml %s && printf '%%s\\n' 'constraints:' "
             "'  classes: [asic]' '  allow_spot: false' '  min_replicas: 2' '  budget_usd_month: 100' >> %s", path, path);
    ASSERT(system(cmd) == 0);
    int rc = wl_load(&wl, path, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    EXPECT(wl.forbid_spot && wl.min_replicas == 2 && wl.n_allow_classes == 1);
    SearchOptions o;
    search_options_default(&o);
    o.horizon_s = 3 * 3600;
    o.keep_per_level = 4;
    SearchResult r;
    ASSERT(search_run(&cat, &wl, &o, &r, err, sizeof err) == 0);
    ASSERT(r.best >= 0);
    const Candidate *b = &r.cands[r.best];
    EXPECT(cat.hw[b->hw].cls == HW_ASIC);
    EXPECT(b->mix != MIX_RESERVED_SPOT);
    EXPECT(b->replica_hours_month[PRICE_SPOT] == 0);
    EXPECT((b->scale == SCALE_FIXED ? b->replicas_peak : b->replicas_min) >= 2);
    EXPECT(r.n_excluded[CONS_CLASS] > 0 && r.n_excluded[CONS_SPOT] > 0);
    ASSERT(r.bound_by[CONS_CLASS] >= 0);
    EXPECT(cat.hw[r.cands[r.bound_by[CONS_CLASS]].hw].cls != HW_ASIC);
    EXPECT(r.cands[r.bound_by[CONS_CLASS]].analytic_usd_month < b->analytic_usd_month);
    EXPECT(r.over_budget);
    EXPECT(b->burst_usd_month >= b->usd_month * 0.999);
    search_free(&r);
    wl_free(&wl);
    catalog_free(&cat);
}

// A plan predicts the engine it deploys: on every device of the catalog, the stack the search
// picks when the workload names none (search_default_stack, which search_stack_on falls back to)
// is the stack of the engine `plan --emit` writes for a decoder there (emit_engine_of).
TEST(search_default_stack_is_the_emitted_engine) {
    Catalog cat;
    char err[512];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    const CatModel *dec = catalog_model(&cat, "llama-3.1-8b");
    ASSERT(dec && !dec->encoder);
    Candidate c = {.stack = -1};
    int n_neuron = 0;
    for (int64_t h = 0; h < cat.n_hw; h++) {
        const CatHardware *hw = &cat.hw[h];
        int d = search_default_stack(&cat, hw);
        EmitEngine e = emit_engine_of(hw, dec);
        const char *want = emit_engine_stack(e);
        ASSERT(want != NULL);
        if (d < 0 || strcmp(cat.stacks[d].id, want))
            test_fail(__FILE__, __LINE__, "%s: default stack '%s', but plan --emit deploys %s (stack '%s')", hw->id,
                      d >= 0 ? cat.stacks[d].id : "(none)", emit_engine_names[e], want);
        EXPECT(search_stack_on(&cat, &c, hw) == &cat.stacks[d]);
        n_neuron += e == ENGINE_VLLM_NEURON;
    }
    EXPECT(n_neuron >= 2);   // inferentia2 and trainium1
    catalog_free(&cat);
}
