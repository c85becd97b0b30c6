// report.c — text, JSON, HTML and --explain output of a plan search (pipeline YAML: plan/emit.c).
#include "plan/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "base/check.h"
#include "plan/emit.h"

// ---- shared pieces ----

static const char *hw_id(const Catalog *cat, const Candidate *c) { return cat->hw[c->hw].id; }

static void slo_line(FILE *f, const Workload *wl) {
    fprintf(f, "SLOs:");
    if (wl->cls == WL_BATCH) fprintf(f, " every nightly run done within %.1f h", wl->batch_deadline_hours);
    if (wl->slo_ttft_p95_ms > 0) fprintf(f, " TTFT p95 <= %.0f ms", wl->slo_ttft_p95_ms);
    if (wl->slo_tpot_p95_ms > 0) fprintf(f, " TPOT p95 <= %.0f ms", wl->slo_tpot_p95_ms);
    if (wl->slo_e2e_p95_ms > 0) fprintf(f, " e2e p95 <= %.0f ms", wl->slo_e2e_p95_ms);
    if (wl->slo_e2e_p99_ms > 0) fprintf(f, " e2e p99 <= %.0f ms", wl->slo_e2e_p99_ms);
    if (wl->quality_min > 0) fprintf(f, "; quality >= %.1f", wl->quality_min);
    fprintf(f, "\n");
}

static void cost_breakdown(FILE *f, const Workload *wl, const Candidate *c) {
    fprintf(f, "  Monthly cost  $%.2f = accelerators $%.2f", c->usd_month, c->accel_usd_month);
    for (int k = 0; k < PRICE_KIND_COUNT; k++)
        if (c->replica_hours_month[k] > 0.01) fprintf(f, " [%.0f h %s]", c->replica_hours_month[k], price_kind_names[k]);
    fprintf(f, "\n                + storage $%.2f + network $%.2f + orchestration $%.2f + engineering $%.2f\n",
            wl->storage_usd_month, wl->network_gb_month * wl->network_usd_per_gb, wl->orchestration_usd_month,
            wl->engineering_hours_month * wl->engineering_usd_per_hour);
    fprintf(f, "  Burst month   $%.2f (every day at the burst scenario's 1.25x rate and 1.5x arrival CV)\n",
            c->burst_usd_month);
    fprintf(f, "  Unit costs    $%.4f per 1K requests, $%.4f per 1M tokens, $%.5f per successful outcome\n",
            c->usd_per_1k_requests, c->usd_per_1m_tokens, c->usd_per_success);
}

// Which workload constraints bound the plan, and the budget verdict.
static void constraints_text(FILE *f, const Workload *wl, const SearchResult *r) {
    bool any = false;
    for (int k = 0; k < CONS_COUNT; k++) {
        if (r->n_excluded[k] == 0) continue;
        any = true;
        const Candidate *x = r->bound_by[k] >= 0 ? &r->cands[r->bound_by[k]] : NULL;
        if (x)
            fprintf(f, "  %-12s BOUND: excluded %lld candidates; the cheapest, %s, rates $%.2f/month analytically\n",
                    constraint_names[k], (long long)r->n_excluded[k], x->id, x->analytic_usd_month);
        else
            fprintf(f, "  %-12s not binding (excluded %lld candidates, none cheaper than the plan)\n", constraint_names[k],
                    (long long)r->n_excluded[k]);
    }
    if (wl->min_replicas > 1) {
        any = true;
        const Candidate *b = r->best >= 0 ? &r->cands[r->best] : NULL;
        fprintf(f, "  %-12s %s: at least %d replicas per tier\n", "min_replicas",
                b && b->floor_raised ? "BOUND" : "not binding", wl->min_replicas);
    }
    if (wl->budget_usd_month > 0) {
        any = true;
        fprintf(f, "  %-12s %s: $%.2f/month\n", "budget", r->over_budget ? "EXCEEDED — no plan meeting the SLOs fits it" : "met",
                wl->budget_usd_month);
    }
    if (!any) fprintf(f, "  (none given)\n");
}

// A batch run's latency is its completion time against the deadline (every request of a run
// arrives at its start, so the run is done when its slowest request is).
static void batch_table(FILE *f, const Workload *wl, const Candidate *c) {
    fprintf(f, "  %-9s %12s %10s %12s %8s %6s %6s\n", "scenario", "run done in", "deadline", "requests/s", "util", "peak",
            "SLO");
    for (int s = 0; s < SCEN_COUNT; s++) {
        const SimResult *r = &c->sim[s];
        bool done = !r->truncated && r->unfinished == 0;
        char took[32];
        if (done) snprintf(took, sizeof took, "%.2f h", r->e2e_ms.max / 3.6e6);
        else snprintf(took, sizeof took, "> %.2f h", wl->batch_deadline_hours);
        fprintf(f, "  %-9s %12s %8.2f h %12.1f %7.0f%% %6d %6s\n", scenario_names[s], took, wl->batch_deadline_hours,
                r->e2e_ms.max > 0 ? (double)r->completed / (r->e2e_ms.max / 1e3) : 0, r->utilization * 100,
                r->peak_replicas[0] + r->peak_replicas[1],
                search_meets(wl, r, (Scenario)s, (char[160]){0}, 160) ? "ok" : "miss");
    }
}

static void scenario_table(FILE *f, const Workload *wl, const Candidate *c) {
    if (wl->cls == WL_BATCH) {
        batch_table(f, wl, c);
        return;
    }
    fprintf(f, "  %-9s %9s %9s %9s %9s %9s %8s %6s %6s\n", "scenario", "TTFT p95", "TPOT p95", "e2e p50", "e2e p95",
            "e2e p99", "util", "peak", "SLO");
    for (int s = 0; s < SCEN_COUNT; s++) {
        const SimResult *r = &c->sim[s];
        fprintf(f, "  %-9s %7.0fms %7.1fms %7.0fms %7.0fms %7.0fms %7.0f%% %6d %6s\n", scenario_names[s], r->ttft_ms.p95,
                r->tpot_ms.p95, r->e2e_ms.p50, r->e2e_ms.p95, r->e2e_ms.p99, r->utilization * 100,
                r->peak_replicas[0] + r->peak_replicas[1], search_meets(wl, r, (Scenario)s, (char[160]){0}, 160) ? "ok" : "miss");
    }
}

static void describe(FILE *f, const Catalog *cat, const Workload *wl, const Candidate *c) {
    const CatHardware *hw = &cat->hw[c->hw];
    const CatModel *m = &cat->models[c->model];
    fprintf(f, "  Candidate     %s\n", c->id);
    // The bounds the simulation ran with (what --emit writes), not the analytic sizing alone.
    SimConfig sc;
    search_sim_config(cat, wl, c, SCEN_EXPECTED, 86400, 0, &sc);
    const SimTier *main_t = &sc.tier[sc.n_tiers - 1];
    fprintf(f, "  Hardware      %s x%d per replica (%s), replicas %d..%d (sized for a peak of %d; %s, %s)\n", hw->name,
            c->devices, hw_class_names[hw->cls], main_t->as.min_replicas, main_t->as.max_replicas, c->replicas_peak,
            c->scale == SCALE_FIXED ? "fixed" : wl->cls == WL_BATCH ? "run window" : "autoscaled", mix_names[c->mix]);
    const CatModelQuant *mq = &m->quant[c->quant];
    char qual[160];
    if (mq->measured) snprintf(qual, sizeof qual, "quality %.1f, measured %s on %s", mq->quality, mq->measured_date, mq->measured_dataset);
    else snprintf(qual, sizeof qual, "quality %.1f", mq->quality);
    fprintf(f, "  Model         %s at %s (%s), batch knob %lld, step times from %s\n", m->name,
            plan_quant_names[c->quant], qual, (long long)c->batch_knob,
            c->source == STEP_PROFILE ? "a calibrated profile" : "the roofline (uncalibrated)");
    if (hw->published_points > 0 && hw->published_heldout > 0)
        fprintf(f, "  Derates       fitted or checked against %lld published benchmark points for %s (data/benchmarks);\n"
                   "                on the %lld held out the step model is off by x%.2f (median), x%.2f (worst)\n",
                (long long)hw->published_points, hw->id, (long long)hw->published_heldout, hw->published_median_ratio,
                hw->published_worst_ratio);
    else if (hw->published_points > 0)
        fprintf(f, "  Derates       fitted or checked against %lld published benchmark points for %s (data/benchmarks)\n",
                (long long)hw->published_points, hw->id);
    else if (hw->published_points == 0)
        fprintf(f, "  Derates       estimates: no published benchmark point for %s in data/benchmarks; its step times\n"
                   "                are the roofline at reference derates (`rightsize calibrate` a replica, then plan --profile)\n",
                hw->id);
    const CatStack *st = search_stack(cat, c);
    fprintf(f, "  Stack         %s: %s KV cache, %s %.2f, %lld blocks of %lld tokens per replica\n", st->name,
            kv_dtype_names[c->kv.kv_dtype], mem_rule_names[st->mem_rule], st->mem_fraction,
            (long long)c->kv.kv_blocks_total, (long long)c->kv.kv_block_tokens);
    const CatInstance *in = NULL;
    double od = cat_replica_usd_per_hour(hw, c->devices, PRICE_ON_DEMAND, &in);
    if (in)
        fprintf(f, "  Instance      %s (%d device(s), %s %s, $%.3f/h [%s, %s]); a replica pays $%.3f/h on demand\n", in->name,
                in->devices, in->provider, in->region ? in->region : "", in->usd_per_hour, in->confidence, in->date, od);
    fprintf(f, "  Prices        per device-hour:");
    for (int k = 0; k < PRICE_KIND_COUNT; k++)
        if (hw->price[k].present)
            fprintf(f, " %s $%.3f [%s, %s]", price_kind_names[k], hw->price[k].usd_per_hour, hw->price[k].confidence,
                    hw->price[k].date);
    fprintf(f, "\n");
    if (c->student >= 0)
        fprintf(f, "  Cascade       student %s (%s) first, %d..%d replicas; escalations go to the model above\n",
                cat->models[c->student].name, plan_quant_names[c->student_quant], sc.tier[0].as.min_replicas,
                sc.tier[0].as.max_replicas);
}

// ---- text ----

static void wf_cell(FILE *f, double saved, const Candidate *v) {
    double cost = search_wf_cost(v);
    if (cost < 0) fprintf(f, "  %-26s", v->pruned ? "(does not fit)" : "(misses the SLOs)");
    else fprintf(f, "  $%9.2f ($%9.2f/mo) ", saved, cost);
}

// Savings by lever, each alone (waterfall.c): added to the baseline, and removed from the plan.
static void savings_text(FILE *f, const Catalog *cat, const SearchResult *r) {
    (void)cat;
    fprintf(f, "\n== Savings by lever (each lever alone, so the order does not matter)\n");
    if (!r->wf_done) { fprintf(f, "  (no plan)\n"); return; }
    const Candidate *b = &r->wf_base, *p = &r->cands[r->best];
    double base = search_wf_cost(b), plan = p->usd_month;
    if (base < 0) fprintf(f, "  baseline %s %s\n", b->id, b->pruned ? "does not fit" : "misses the SLOs");
    else fprintf(f, "  baseline  $%9.2f/month  %s  (on demand, fixed replicas, no cascade, stack-default batch)\n", base, b->id);
    fprintf(f, "  %-22s %-26s %-26s\n", "lever", "saves added to baseline", "saves in the plan");
    const Lever levers[] = {LEVER_QUANT, LEVER_CASCADE, LEVER_AUTOSCALE, LEVER_MIX};
    for (size_t i = 0; i < sizeof levers / sizeof levers[0]; i++) {
        Lever l = levers[i];
        fprintf(f, "  %-22s", lever_names[l]);
        if (l == LEVER_QUANT && r->wf_quant_required) {
            fprintf(f, " required: bf16 does not fit one replica, so the baseline is %s too\n", plan_quant_names[p->quant]);
            continue;
        }
        if (!r->wf_used[l]) { fprintf(f, " not used by the plan\n"); continue; }
        const Candidate *a = &r->wf_added[l], *m = &r->wf_removed[l];
        wf_cell(f, base >= 0 && search_wf_cost(a) >= 0 ? base - search_wf_cost(a) : 0, a);
        wf_cell(f, search_wf_cost(m) >= 0 ? search_wf_cost(m) - plan : 0, m);
        fprintf(f, "\n");
    }
    fprintf(f, "  plan      $%9.2f/month  %s\n", plan, p->id);
}

// What the workload's caches save (cachesave.c): the plan without each.
static void cache_text(FILE *f, const Workload *wl, const SearchResult *r) {
    if (!r->cache_done) return;
    double plan = r->cands[r->best].usd_month;
    fprintf(f, "\n== Caches (workload cache: response hit rate %.3f, shared prefix %lld tokens at hit rate %.3f)\n",
            wl->cache_response_hit_rate, (long long)wl->cache_shared_prefix_tokens,
            wl->cache_shared_prefix_tokens > 0 ? wl->cache_prefix_hit_rate : 0.0);
    fprintf(f, "  %-28s %-16s %-18s %s\n", "", "plan cost", "busy replica time", "saved by the cache(s)");
    fprintf(f, "  %-28s $%9.2f/mo   $%9.2f/mo\n", "with the caches (the plan)", plan, r->plan_busy_usd_month);
    for (int v = 0; v < CACHE_VARIANTS; v++) {
        if (!r->cache_used[v]) continue;
        const Candidate *c = &r->cache_var[v];
        double cost = search_wf_cost(c);
        fprintf(f, "  %-28s", search_cache_variant_names[v]);
        if (cost < 0) fprintf(f, " %s\n", c->pruned ? "(does not fit)" : "(misses the SLOs)");
        else fprintf(f, " $%9.2f/mo   $%9.2f/mo      $%.2f/mo (busy $%.2f/mo)\n", cost, r->cache_busy_usd_month[v],
                     fabs(cost - plan) < 0.005 ? 0.0 : cost - plan, r->cache_busy_usd_month[v] - r->plan_busy_usd_month);
    }
    fprintf(f, "  (busy time is what the requests used; the plan cost falls only when fewer replicas are needed)\n");
}

// The expected scenario's latency in a line: e2e p95, or for batch work the run's completion time.
static const char *lat_text(char *buf, size_t cap, const Workload *wl, const Candidate *c) {
    const SimResult *r = &c->sim[SCEN_EXPECTED];
    if (wl->cls == WL_BATCH) snprintf(buf, cap, "run %5.2f h", r->e2e_ms.max / 3.6e6);
    else snprintf(buf, cap, "%7.0f ms", r->e2e_ms.p95);
    return buf;
}
#define LAT(c) lat_text((char[40]){0}, 40, wl, (c))

int report_text(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r, const SearchOptions *o) {
    fprintf(f, "rightsize plan — %s (%s, %.0f requests/month, %.0f input / %.0f output tokens on average)\n", wl->name,
            wl_class_names[wl->cls], wl->rate_per_s * WL_MONTH_S, wl_token_mean(&wl->in), wl_token_mean(&wl->out));
    slo_line(f, wl);
    fprintf(f, "Searched %lld candidates: %lld pruned analytically, %lld simulated in 3 scenarios (%.0f h each, seed %llu)\n\n",
            (long long)r->n_cands, (long long)r->n_pruned, (long long)r->n_simulated, o->horizon_s / 3600,
            (unsigned long long)o->seed);
    fprintf(f, "== Recommended plan\n");
    if (r->best < 0) {
        fprintf(f, "  No simulated candidate met the SLOs in all three scenarios. Closest misses:\n");
        int shown = 0;
        for (int64_t i = 0; i < r->n_cands && shown < 5; i++)
            if (r->cands[i].simulated) { fprintf(f, "  %-70s %s\n", r->cands[i].id, r->cands[i].slo_miss); shown++; }
        return ferror(f) ? ERR_IO : 0;
    }
    const Candidate *b = &r->cands[r->best];
    describe(f, cat, wl, b);
    cost_breakdown(f, wl, b);
    scenario_table(f, wl, b);
    fprintf(f, "\n== Constraints\n");
    constraints_text(f, wl, r);
    fprintf(f, "\n== Runners-up\n");
    // Collect feasible simulated candidates by cost.
    int64_t idx[64];
    int n = 0;
    for (int64_t i = 0; i < r->n_cands && n < 64; i++)
        if (r->cands[i].simulated && r->cands[i].meets_slo && i != r->best) idx[n++] = i;
    for (int a = 1; a < n; a++)
        for (int k = a; k > 0 && r->cands[idx[k]].usd_month < r->cands[idx[k - 1]].usd_month; k--) {
            int64_t t = idx[k]; idx[k] = idx[k - 1]; idx[k - 1] = t;
        }
    for (int i = 0, shown = 0; i < n && shown < 5; i++) {
        const Candidate *c = &r->cands[idx[i]];
        const Candidate *p = i ? &r->cands[idx[i - 1]] : b;
        // Knobs the SLO leaves unused give identical plans: show one of them.
        if (c->hw == p->hw && c->model == p->model && c->quant == p->quant && c->usd_month == p->usd_month &&
            c->sim[SCEN_EXPECTED].e2e_ms.p95 == p->sim[SCEN_EXPECTED].e2e_ms.p95)
            continue;
        shown++;
        fprintf(f, "  %d. %-66s $%9.2f/month  %s %s  (+$%.2f)\n", shown + 1, c->id, c->usd_month,
                wl->cls == WL_BATCH ? "" : "e2e p95", LAT(c), c->usd_month - b->usd_month);
    }
    if (n == 0) fprintf(f, "  (no other simulated candidate met the SLOs)\n");
    fprintf(f, "\n== Pareto frontier (monthly cost vs %s, expected scenario)\n",
            wl->cls == WL_BATCH ? "run completion time" : "e2e p95");
    for (int64_t i = 0; i < r->n_pareto; i++) {
        const Candidate *c = &r->cands[r->pareto[i]];
        fprintf(f, "  $%9.2f  %s  %s\n", c->usd_month, LAT(c), c->id);
    }
    fprintf(f, "\n== Decision matrix (cheapest simulated plan per hardware class)\n");
    fprintf(f, "  %-5s %-58s %11s %9s %10s %10s %s\n", "class", "candidate", "$/month", "TTFT p95",
            wl->cls == WL_BATCH ? "run" : "e2e p95", "$/1M tok", "verdict");
    for (int k = 0; k < HW_CLASS_COUNT; k++) {
        int64_t i = r->class_best[k];
        if (i < 0) { fprintf(f, "  %-5s %-58s %s\n", hw_class_names[k], "-", "no candidate fits (memory or SLO on an idle replica)"); continue; }
        const Candidate *c = &r->cands[i];
        char ttft[24];
        snprintf(ttft, sizeof ttft, wl->cls == WL_BATCH ? "-" : "%.0fms", c->sim[SCEN_EXPECTED].ttft_ms.p95);
        fprintf(f, "  %-5s %-58s %11.2f %9s %s %10.4f %s\n", hw_class_names[k], c->id, c->usd_month, ttft, LAT(c),
                c->usd_per_1m_tokens,
                c->meets_slo ? (i == r->best ? "chosen" : "meets SLOs, costs more") : c->slo_miss);
    }
    savings_text(f, cat, r);
    cache_text(f, wl, r);
    return ferror(f) ? ERR_IO : 0;
}

// ---- JSON ----

static cJSON *pct_json(const SimPct *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "p50", p->p50);
    cJSON_AddNumberToObject(o, "p95", p->p95);
    cJSON_AddNumberToObject(o, "p99", p->p99);
    cJSON_AddNumberToObject(o, "mean", p->mean);
    return o;
}

static cJSON *cand_json(const Catalog *cat, const Workload *wl, const Candidate *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "hardware", hw_id(cat, c));
    cJSON_AddStringToObject(o, "hardware_class", hw_class_names[cat->hw[c->hw].cls]);
    cJSON_AddNumberToObject(o, "devices_per_replica", c->devices);
    cJSON_AddStringToObject(o, "model", cat->models[c->model].id);
    cJSON_AddStringToObject(o, "quantization", plan_quant_names[c->quant]);
    cJSON_AddStringToObject(o, "stack", search_stack(cat, c)->id);
    const CatInstance *inst = NULL;
    cJSON_AddNumberToObject(o, "replica_on_demand_usd_per_hour",
                            cat_replica_usd_per_hour(&cat->hw[c->hw], c->devices, PRICE_ON_DEMAND, &inst));
    if (inst) cJSON_AddStringToObject(o, "instance", inst->name);
    cJSON_AddStringToObject(o, "kv_cache_dtype", kv_dtype_names[c->kv.kv_dtype]);
    cJSON_AddNumberToObject(o, "batch_knob", (double)c->batch_knob);
    cJSON_AddStringToObject(o, "scaling", scale_names[c->scale]);
    cJSON_AddStringToObject(o, "capacity_mix", mix_names[c->mix]);
    cJSON_AddStringToObject(o, "lever", lever_names[c->lever]);
    cJSON_AddStringToObject(o, "step_time_source", c->source == STEP_PROFILE ? "profile" : "roofline");
    if (c->student >= 0) {
        cJSON *s = cJSON_AddObjectToObject(o, "cascade");
        cJSON_AddStringToObject(s, "student", cat->models[c->student].id);
        cJSON_AddStringToObject(s, "student_quantization", plan_quant_names[c->student_quant]);
        cJSON_AddNumberToObject(s, "student_replicas_min", c->student_min);
        cJSON_AddNumberToObject(s, "student_replicas_peak", c->student_peak);
    }
    cJSON *rep = cJSON_AddObjectToObject(o, "replicas");
    cJSON_AddNumberToObject(rep, "min", c->scale == SCALE_FIXED ? c->replicas_peak : c->replicas_min);
    cJSON_AddNumberToObject(rep, "max", c->replicas_peak);
    cJSON_AddNumberToObject(o, "analytic_usd_month", c->analytic_usd_month);
    cJSON_AddBoolToObject(o, "meets_slo", c->meets_slo);
    if (!c->meets_slo && c->slo_miss[0]) cJSON_AddStringToObject(o, "slo_miss", c->slo_miss);
    if (!c->simulated) return o;
    cJSON *cost = cJSON_AddObjectToObject(o, "cost");
    cJSON_AddNumberToObject(cost, "usd_month", c->usd_month);
    cJSON_AddNumberToObject(cost, "burst_usd_month", c->burst_usd_month);
    cJSON_AddNumberToObject(cost, "accelerator_usd_month", c->accel_usd_month);
    cJSON_AddNumberToObject(cost, "fixed_usd_month", c->fixed_usd_month);
    cJSON_AddNumberToObject(cost, "usd_per_1k_requests", c->usd_per_1k_requests);
    cJSON_AddNumberToObject(cost, "usd_per_1m_tokens", c->usd_per_1m_tokens);
    cJSON_AddNumberToObject(cost, "usd_per_successful_outcome", c->usd_per_success);
    cJSON *hours = cJSON_AddObjectToObject(cost, "replica_hours_month");
    for (int k = 0; k < PRICE_KIND_COUNT; k++) cJSON_AddNumberToObject(hours, price_kind_names[k], c->replica_hours_month[k]);
    cJSON *sc = cJSON_AddObjectToObject(o, "scenarios");
    for (int s = 0; s < SCEN_COUNT; s++) {
        const SimResult *r = &c->sim[s];
        cJSON *x = cJSON_AddObjectToObject(sc, scenario_names[s]);
        cJSON_AddItemToObject(x, "ttft_ms", pct_json(&r->ttft_ms));
        cJSON_AddItemToObject(x, "tpot_ms", pct_json(&r->tpot_ms));
        cJSON_AddItemToObject(x, "e2e_ms", pct_json(&r->e2e_ms));
        if (wl->cls == WL_BATCH)   // -1: not done by the deadline
            cJSON_AddNumberToObject(x, "run_completion_hours", r->truncated || r->unfinished ? -1 : r->e2e_ms.max / 3.6e6);
        cJSON_AddNumberToObject(x, "throughput_rps", r->throughput_rps);
        cJSON_AddNumberToObject(x, "utilization", r->utilization);
        cJSON_AddNumberToObject(x, "completed", (double)r->completed);
        cJSON_AddNumberToObject(x, "rejected", (double)r->rejected);
        cJSON_AddNumberToObject(x, "escalated", (double)r->escalated);
        cJSON_AddNumberToObject(x, "spot_interruptions", (double)r->interruptions);
        cJSON_AddNumberToObject(x, "peak_replicas", r->peak_replicas[0] + r->peak_replicas[1]);
        cJSON_AddNumberToObject(x, "accelerator_usd", r->accel_usd);
    }
    return o;
}

int report_json(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r, const SearchOptions *o) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "rightsize.plan/1");
    cJSON *w = cJSON_AddObjectToObject(root, "workload");
    cJSON_AddStringToObject(w, "name", wl->name);
    cJSON_AddStringToObject(w, "class", wl_class_names[wl->cls]);
    cJSON_AddNumberToObject(w, "requests_per_month", wl->rate_per_s * WL_MONTH_S);
    cJSON_AddNumberToObject(w, "input_tokens_mean", wl_token_mean(&wl->in));
    cJSON_AddNumberToObject(w, "output_tokens_mean", wl_token_mean(&wl->out));
    cJSON *slo = cJSON_AddObjectToObject(w, "slo");
    if (wl->slo_ttft_p95_ms > 0) cJSON_AddNumberToObject(slo, "ttft_p95_ms", wl->slo_ttft_p95_ms);
    if (wl->slo_tpot_p95_ms > 0) cJSON_AddNumberToObject(slo, "tpot_p95_ms", wl->slo_tpot_p95_ms);
    if (wl->slo_e2e_p95_ms > 0) cJSON_AddNumberToObject(slo, "e2e_p95_ms", wl->slo_e2e_p95_ms);
    if (wl->slo_e2e_p99_ms > 0) cJSON_AddNumberToObject(slo, "e2e_p99_ms", wl->slo_e2e_p99_ms);
    if (wl->cls == WL_BATCH) cJSON_AddNumberToObject(slo, "deadline_hours", wl->batch_deadline_hours);
    cJSON_AddNumberToObject(w, "fixed_usd_month", wl_fixed_usd_month(wl));
    cJSON *s = cJSON_AddObjectToObject(root, "search");
    cJSON_AddNumberToObject(s, "candidates", (double)r->n_cands);
    cJSON_AddNumberToObject(s, "pruned", (double)r->n_pruned);
    cJSON_AddNumberToObject(s, "simulated", (double)r->n_simulated);
    cJSON_AddNumberToObject(s, "horizon_hours", o->horizon_s / 3600);
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON *cons = cJSON_AddObjectToObject(root, "constraints");
    for (int k = 0; k < CONS_COUNT; k++) {
        if (!r->n_excluded[k]) continue;
        cJSON *x = cJSON_AddObjectToObject(cons, constraint_names[k]);
        cJSON_AddNumberToObject(x, "excluded", (double)r->n_excluded[k]);
        cJSON_AddBoolToObject(x, "bound", r->bound_by[k] >= 0);
        if (r->bound_by[k] >= 0) {
            cJSON_AddStringToObject(x, "cheapest_excluded", r->cands[r->bound_by[k]].id);
            cJSON_AddNumberToObject(x, "cheapest_excluded_analytic_usd_month", r->cands[r->bound_by[k]].analytic_usd_month);
        }
    }
    if (wl->min_replicas > 1) {
        cJSON *x = cJSON_AddObjectToObject(cons, "min_replicas");
        cJSON_AddNumberToObject(x, "value", wl->min_replicas);
        cJSON_AddBoolToObject(x, "bound", r->best >= 0 && r->cands[r->best].floor_raised);
    }
    if (wl->budget_usd_month > 0) {
        cJSON *x = cJSON_AddObjectToObject(cons, "budget_usd_month");
        cJSON_AddNumberToObject(x, "value", wl->budget_usd_month);
        cJSON_AddBoolToObject(x, "exceeded", r->over_budget);
    }
    cJSON *plan = r->best >= 0 ? cand_json(cat, wl, &r->cands[r->best]) : cJSON_CreateNull();
    if (r->best >= 0) {   // queue depth and replicas over the simulated horizon (expected scenario)
        EmitPlan ep;   // the configuration the simulation ran (what --emit writes)
        char err[160];
        if (!emit_plan_init(&ep, cat, wl, &r->cands[r->best], NULL, err, sizeof err))
            cJSON_AddItemToObject(plan, "simulated_config", emit_sim_config_json(&ep));
        const SimResult *e = &r->cands[r->best].sim[SCEN_EXPECTED];
        cJSON *ser = cJSON_AddObjectToObject(plan, "series");
        cJSON_AddNumberToObject(ser, "step_s", 60);
        cJSON *q = cJSON_AddArrayToObject(ser, "queue_depth"), *rep = cJSON_AddArrayToObject(ser, "replicas");
        for (int64_t i = 0; i < e->n_series; i++) {
            cJSON_AddItemToArray(q, cJSON_CreateNumber(e->series_queue[i]));
            cJSON_AddItemToArray(rep, cJSON_CreateNumber(e->series_replicas[i]));
        }
    }
    cJSON_AddItemToObject(root, "plan", plan);
    cJSON *ru = cJSON_AddArrayToObject(root, "candidates");
    for (int64_t i = 0; i < r->n_cands; i++)
        if (r->cands[i].simulated) cJSON_AddItemToArray(ru, cand_json(cat, wl, &r->cands[i]));
    cJSON *pa = cJSON_AddArrayToObject(root, "pareto");
    for (int64_t i = 0; i < r->n_pareto; i++) cJSON_AddItemToArray(pa, cJSON_CreateString(r->cands[r->pareto[i]].id));
    cJSON *dm = cJSON_AddArrayToObject(root, "decision_matrix");
    for (int k = 0; k < HW_CLASS_COUNT; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "class", hw_class_names[k]);
        int64_t i = r->class_best[k];
        if (i >= 0) {
            cJSON_AddStringToObject(e, "candidate", r->cands[i].id);
            cJSON_AddNumberToObject(e, "usd_month", r->cands[i].usd_month);
            cJSON_AddBoolToObject(e, "meets_slo", r->cands[i].meets_slo);
            cJSON_AddNumberToObject(e, "e2e_p95_ms", r->cands[i].sim[SCEN_EXPECTED].e2e_ms.p95);
            cJSON_AddNumberToObject(e, "usd_per_1m_tokens", r->cands[i].usd_per_1m_tokens);
        } else {
            cJSON_AddNullToObject(e, "candidate");
        }
        cJSON_AddItemToArray(dm, e);
    }
    cJSON *wf = cJSON_AddArrayToObject(root, "waterfall");
    double prev = -1;
    for (int l = 0; l < LEVER_COUNT; l++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "lever", lever_names[l]);
        int64_t i = r->level_best[l];
        if (i >= 0) {
            cJSON_AddStringToObject(e, "candidate", r->cands[i].id);
            cJSON_AddNumberToObject(e, "usd_month", r->cands[i].usd_month);
            cJSON_AddNumberToObject(e, "saved_usd_month", prev < 0 ? 0 : prev - r->cands[i].usd_month);
            prev = r->cands[i].usd_month;
        } else {
            cJSON_AddNullToObject(e, "candidate");
        }
        cJSON_AddItemToArray(wf, e);
    }
    if (r->wf_done) {
        cJSON *sv = cJSON_AddObjectToObject(root, "savings_by_lever");
        cJSON_AddStringToObject(sv, "baseline", r->wf_base.id);
        double base = search_wf_cost(&r->wf_base), plan_usd = r->cands[r->best].usd_month;
        if (base >= 0) cJSON_AddNumberToObject(sv, "baseline_usd_month", base); else cJSON_AddNullToObject(sv, "baseline_usd_month");
        cJSON_AddNumberToObject(sv, "plan_usd_month", plan_usd);
        cJSON *lv = cJSON_AddArrayToObject(sv, "levers");
        const Lever levers[] = {LEVER_QUANT, LEVER_CASCADE, LEVER_AUTOSCALE, LEVER_MIX};
        for (size_t i = 0; i < sizeof levers / sizeof levers[0]; i++) {
            Lever l = levers[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "lever", lever_names[l]);
            cJSON_AddBoolToObject(e, "used", r->wf_used[l]);
            if (l == LEVER_QUANT) cJSON_AddBoolToObject(e, "required_to_fit", r->wf_quant_required);
            if (r->wf_used[l]) {
                double a = search_wf_cost(&r->wf_added[l]), m = search_wf_cost(&r->wf_removed[l]);
                cJSON_AddStringToObject(e, "added_candidate", r->wf_added[l].id);
                cJSON_AddStringToObject(e, "removed_candidate", r->wf_removed[l].id);
                if (a >= 0 && base >= 0) cJSON_AddNumberToObject(e, "saves_added_to_baseline_usd_month", base - a);
                else cJSON_AddNullToObject(e, "saves_added_to_baseline_usd_month");
                if (m >= 0) cJSON_AddNumberToObject(e, "saves_in_plan_usd_month", m - plan_usd);
                else cJSON_AddNullToObject(e, "saves_in_plan_usd_month");
            }
            cJSON_AddItemToArray(lv, e);
        }
    }
    if (r->cache_done) {
        cJSON *cs = cJSON_AddObjectToObject(root, "cache_savings");
        double plan_usd = r->cands[r->best].usd_month;
        cJSON_AddNumberToObject(cs, "response_hit_rate", wl->cache_response_hit_rate);
        cJSON_AddNumberToObject(cs, "shared_prefix_tokens", (double)wl->cache_shared_prefix_tokens);
        cJSON_AddNumberToObject(cs, "prefix_hit_rate", wl->cache_prefix_hit_rate);
        cJSON_AddNumberToObject(cs, "plan_usd_month", plan_usd);
        cJSON_AddNumberToObject(cs, "plan_busy_usd_month", r->plan_busy_usd_month);
        static const char *const keys[CACHE_VARIANTS] = {"without_caches", "without_response_cache", "without_prefix_cache"};
        for (int v = 0; v < CACHE_VARIANTS; v++) {
            if (!r->cache_used[v]) continue;
            cJSON *e = cJSON_AddObjectToObject(cs, keys[v]);
            double c = search_wf_cost(&r->cache_var[v]);
            cJSON_AddStringToObject(e, "candidate", r->cache_var[v].id);
            cJSON_AddNumberToObject(e, "busy_usd_month", r->cache_busy_usd_month[v]);
            cJSON_AddNumberToObject(e, "saves_busy_usd_month", r->cache_busy_usd_month[v] - r->plan_busy_usd_month);
            if (c >= 0) {
                cJSON_AddNumberToObject(e, "usd_month", c);
                cJSON_AddNumberToObject(e, "saves_usd_month", c - plan_usd);
            } else {
                cJSON_AddNullToObject(e, "usd_month");
                cJSON_AddNullToObject(e, "saves_usd_month");
            }
        }
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return ERR_NOMEM;
    fputs(text, f);
    fputc('\n', f);
    cJSON_free(text);
    return ferror(f) ? ERR_IO : 0;
}

// ---- --explain ----

int report_explain(FILE *f, const Catalog *cat, const Workload *wl, const Candidate *c) {
    const CatHardware *hw = &cat->hw[c->hw];
    const CatModel *m = &cat->models[c->model];
    double in = wl_token_mean(&wl->in), out = wl_token_mean(&wl->out);
    fprintf(f, "Candidate %s\n\n", c->id);
    fprintf(f, "1. Model and memory\n");
    fprintf(f, "   weights      = %.3f B params x %.4f bytes (%s) / %d device(s) = %.2f GB per device\n", m->params_b,
            m->quant[c->quant].bytes_per_weight, plan_quant_names[c->quant], c->devices, c->kv.weight_bytes_per_dev / 1e9);
    const CatStack *xst = search_stack(cat, c);
    fprintf(f, "   stack        = %s (KV pool: %s %.2f; %s)\n", xst->name, mem_rule_names[xst->mem_rule], xst->mem_fraction,
            xst->memory_source);
    fprintf(f, "   activations  = %.2f GB (the profiling forward of max_num_batched_tokens%s)\n", c->kv.activation_bytes / 1e9,
            xst->logits_buffer ? " + max_num_seqs x vocab fp32 logits" : "");
    if (xst->mem_rule == MEMRULE_UTIL_OF_TOTAL)
        fprintf(f, "   usable for KV= %.0f GB x %.2f - weights - activations = %.2f GB\n", hw->memory_gb, xst->mem_fraction,
                c->kv.usable_bytes / 1e9);
    else
        fprintf(f, "   usable for KV= (%.0f GB - weights - activations) x %.2f = %.2f GB\n", hw->memory_gb, xst->mem_fraction,
                c->kv.usable_bytes / 1e9);
    if (!m->encoder)
        fprintf(f, "   KV per token = 2 x %lld layers x %lld kv heads x %lld dims x %d B (%s) / %d = %.0f B; blocks of %lld tokens = %lld blocks\n",
                (long long)m->layers, (long long)m->kv_heads, (long long)m->head_dim, c->kv.kv_dtype == KV_FP8 ? 1 : 2,
                kv_dtype_names[c->kv.kv_dtype], c->devices,
                c->kv.kv_bytes_per_token_per_dev, (long long)c->kv.kv_block_tokens, (long long)c->kv.kv_blocks_total);
    if (c->pruned) { fprintf(f, "\nPruned: %s\n", c->prune_reason); return ferror(f) ? ERR_IO : 0; }
    fprintf(f, "   sequences of %.0f tokens that fit at once: %lld (batch knob %lld)\n\n", in + out,
            (long long)c->kv.max_seqs_at_mean, (long long)c->batch_knob);
    fprintf(f, "2. Step time (%s)\n", c->source == STEP_PROFILE ? "calibrated profile" : "roofline over catalog specs");
    if (c->source == STEP_ROOFLINE)
        fprintf(f, "   memory  = %.1f us weights + %.5f us per KV position read  (%.0f GB/s x %.2f derate)\n"
                   "   compute = %.3f us per token + %.6f us per attention pair  (%.0f TFLOPS x %.2f derate)\n"
                   "   fixed   = %.0f us per step (overhead + TP all-reduce latency)\n",
                c->step.mem_fixed_us, c->step.mem_ctx_us, hw->memory_bw_gbs, step_eff_bandwidth(hw, search_stack(cat, c)), c->step.comp_token_us,
                c->step.comp_pair_us, cat_peak_flops(hw, c->quant) / 1e12, step_eff_compute(hw, search_stack(cat, c)), c->step.b0_us);
    int64_t b = c->batch_eff;
    double ctx = (double)b * (in + out / 2);
    StepShape d = {.decode_rows = b, .ctx_tokens = (int64_t)ctx, .attn_pairs = ctx};
    StepShape p = {.prefill_tokens = (int64_t)in, .ctx_tokens = (int64_t)in, .attn_pairs = in * (in + 1) / 2};
    fprintf(f, "   a %lld-row decode step at mean context %.0f: %.2f ms;  a %.0f-token prefill alone: %.2f ms\n\n",
            (long long)b, in + out / 2, step_time_us(&c->step, &d) / 1e3, in, step_time_us(&c->step, &p) / 1e3);
    fprintf(f, "3. Capacity per replica (mean field): concurrency %lld meets the latency targets -> %.3f requests/s\n", (long long)b,
            c->mu_rps);
    fprintf(f, "   replicas = ceil(rate x profile x 1.25 burst / (%.3f x 0.80 utilisation)): peak %d, floor %d\n",
            c->mu_rps, c->replicas_peak, c->replicas_min);
    if (c->student >= 0)
        fprintf(f, "   cascade: student capacity %.3f req/s -> %d..%d replicas; teacher sized for the escalated share\n",
                c->student_mu_rps, c->student_min, c->student_peak);
    fprintf(f, "4. Analytic monthly cost: $%.2f (prices per device-hour: on-demand $%.3f, reserved-1y $%.3f, spot $%.3f; %s)\n\n",
            c->analytic_usd_month, hw->price[PRICE_ON_DEMAND].usd_per_hour, hw->price[PRICE_RESERVED_1Y].usd_per_hour,
            hw->price[PRICE_SPOT].usd_per_hour, hw->price[PRICE_ON_DEMAND].source);
    if (!c->simulated) return ferror(f) ? ERR_IO : 0;
    fprintf(f, "5. Simulation (scenario rates 0.8x / 1x / 1.25x, same arrivals seed for every candidate)\n");
    scenario_table(f, wl, c);
    cost_breakdown(f, wl, c);
    fprintf(f, "   verdict: %s%s\n", c->meets_slo ? "meets the SLOs in all three scenarios" : "misses: ", c->slo_miss);
    return ferror(f) ? ERR_IO : 0;
}
