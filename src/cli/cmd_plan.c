// cmd_plan.c — `rightsize plan WORKLOAD.yaml`: search the catalog for the cheapest pipeline that
// meets the workload's SLOs, and report it (text, JSON, HTML, pipeline YAML, --explain).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "cli/cli.h"
#include "plan/benchfit.h"
#include "plan/catalog.h"
#include "plan/emit.h"
#include "plan/pipesim.h"
#include "plan/predict.h"
#include "plan/report.h"
#include "plan/search.h"
#include "plan/workload.h"
#include "review/fit_workload.h"
#include "serve/pipeline.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: rightsize plan WORKLOAD.yaml [options]\n\n"
            "Finds the cheapest deployment (hardware x count x model x quantization x cascade x batching x\n"
            "autoscaling x capacity mix) that meets the workload's SLOs in best, expected and burst scenarios.\n\n"
            "options:\n"
            "  --catalog DIR       hardware.yaml, models.yaml, stacks.yaml (default: $RIGHTSIZE_DATA/catalog,\n"
            "                      ./data/catalog, else the installed share/rightsize/catalog)\n"
            "  --profiles DIR      calibrated step-time profiles (*.yaml from `rightsize calibrate`)\n"
            "  --json              print the result as JSON (schema: docs/plan-json.md) instead of text\n"
            "  --html FILE         also write a self-contained HTML report with charts\n"
            "  --emit FILE         also write the serve pipeline YAML of the chosen plan: the configuration\n"
            "                      that was simulated (prices per capacity kind, replica bounds, autoscaler,\n"
            "                      queue bound, SLOs, batch run window, engine knobs and launch commands)\n"
            "  --emit-k8s DIR      also write Kubernetes manifests of the chosen plan into DIR: a Deployment\n"
            "                      per tier, the gateway (Deployment, Service, ConfigMap), KEDA ScaledObjects,\n"
            "                      PodDisruptionBudgets and Prometheus rules\n"
            "  --image ENGINE=REF  container image for an engine in --emit/--emit-k8s (worker, vllm, vllm-rocm,\n"
            "                      vllm-neuron, vllm-tpu, vllm-gaudi, tei); repeatable\n"
            "  --explain ID        show one candidate's arithmetic step by step (IDs appear in the output);\n"
            "                      with --emit/--emit-k8s, emit that candidate instead of the chosen one\n"
            "  --threads N         simulation threads (default 2)\n"
            "  --seed S            random seed (default 1); a seed gives one result\n"
            "  --horizon-hours H   simulated hours per scenario (default 24)\n"
            "  --keep N            candidates simulated per lever level (default 3)\n"
            "  --quiet             no progress bar (it shows only when stderr is a terminal)\n\n"
            "Evaluate one given deployment instead of searching (prints predicted TTFT, e2e, throughput):\n"
            "  --profile FILE      the tier's calibrated step-time profile (`rightsize calibrate -o FILE`)\n"
            "  --replicas N        fixed replicas (default 1)\n"
            "  --max-num-seqs N    sequences per step, as the worker's flag (default 16)\n"
            "  --max-num-batched-tokens N   tokens per step (default 512)\n"
            "  --max-num-queued-reqs N      waiting requests before 429 (default 64)\n"
            "  --kv-blocks N       KV blocks per replica (default: the profile's, else enough for every sequence)\n"
            "  --warmup-s S        do not count requests arriving in the first S seconds (default 0)\n"
            "  (--horizon-hours defaults to 1 here; --seed, --json apply)\n\n"
            "A given pipeline (the YAML `rightsize serve` runs, hand-written or emitted):\n"
            "  --pipeline FILE     predict this pipeline: its routes, cascades, canaries, tiers and limits,\n"
            "                      each tier timed by its `step:` model; on WORKLOAD (or --workload FILE)\n"
            "  --trace FILE        replay a recorded trace instead (CSV: id,t_s,prompt_chars,in_tokens,\n"
            "                      out_tokens,confidence,status — docs/serve.md)\n"
            "  --endpoint E        the endpoint the trace's requests came in on, for the routes' match:\n"
            "                      chat (default), completions or embeddings\n"
            "  --records FILE      write what happened to each trace request (JSON lines: route, tiers,\n"
            "                      escalation, canary, status, cost in nano-dollars)\n"
            "  (--seed and --horizon-hours default to the file's `planner: {seed, horizon_s}` — an emitted\n"
            "  plan's expected scenario, so plan -> --emit -> --pipeline predicts the same — else 1 and 1 h;\n"
            "  --seed seeds the arrivals and the canary draws, as the gateway's --seed)\n");
    fitwl_cli_help(f);
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
    const EmitPlan *ep;
} Ctx;

static int html_fn(FILE *f, void *p) { Ctx *c = p; return report_html(f, c->cat, c->wl, c->r, c->o); }
static int emit_fn(FILE *f, void *p) { Ctx *c = p; return emit_pipeline(f, c->ep); }

// --emit / --emit-k8s of one simulated candidate. Returns the exit status.
static int emit_candidate(const Catalog *cat, const Workload *wl, const SearchOptions *o, const Candidate *c,
                          const char *const *images, const char *emit, const char *k8s_dir) {
    char err[512];
    if (c->pruned || !c->simulated) {
        fprintf(stderr, "rightsize plan: %s was not simulated (pruned: %s); nothing to emit\n", c->id, c->prune_reason);
        return 1;
    }
    EmitPlan *ep = malloc(sizeof *ep);
    int status = 0;
    if (!ep || emit_plan_init(ep, cat, wl, c, images, err, sizeof err)) {
        fprintf(stderr, "rightsize plan: --emit: %s\n", ep ? err : "out of memory");
        status = 1;
    } else {
        emit_plan_set_run(ep, o->seed, o->horizon_s);   // the run the plan simulated, for plan --pipeline
        Ctx ctx = {cat, wl, NULL, NULL, ep};
        if (emit && write_file(emit, "pipeline", emit_fn, &ctx)) status = 1;
        if (k8s_dir && emit_k8s(ep, k8s_dir, err, sizeof err)) {
            fprintf(stderr, "rightsize plan: --emit-k8s: %s\n", err);
            status = 1;
        }
    }
    free(ep);
    return status;
}

// Prints s as a JSON string (quotes, backslashes and control characters escaped).
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

// Prints one fixed deployment's prediction (text or JSON) to stdout.
static void print_prediction(const char *wl_path, const char *prof_path, const StepProfile *p, const PredictConfig *pc,
                             const Prediction *pr, bool json) {
    const SimResult *r = &pr->sim;
    if (json) {
        printf("{\"schema\": \"rightsize.predict/1\", \"workload\": ");
        json_str(wl_path);
        printf(", \"profile\": ");
        json_str(prof_path);
        printf(",\n");
        printf(" \"config\": {\"replicas\": %d, \"max_num_seqs\": %lld, \"max_num_batched_tokens\": %lld, "
               "\"max_queue\": %lld, \"horizon_s\": %g, \"seed\": %llu},\n", pc->replicas, (long long)pc->max_num_seqs,
               (long long)pc->max_num_batched_tokens, (long long)pc->max_queue, pc->horizon_s,
               (unsigned long long)pc->seed);
        printf(" \"profile_fit_mape\": %.6g, \"request_overhead_ms\": %.6g,\n", p->mape, pr->overhead_ms);
        const struct { const char *name; const SimPct *v; } m[] = {{"ttft", &r->ttft_ms}, {"tpot", &r->tpot_ms},
                                                                   {"e2e", &r->e2e_ms}, {"queue_wait", &r->wait_ms}};
        printf(" \"latency_ms\": {");
        for (size_t i = 0; i < ARRAY_LEN(m); i++)
            printf("%s\"%s\": {\"mean\": %.6g, \"p50\": %.6g, \"p95\": %.6g, \"p99\": %.6g, \"max\": %.6g}",
                   i ? ", " : "", m[i].name, m[i].v->mean, m[i].v->p50, m[i].v->p95, m[i].v->p99, m[i].v->max);
        printf("},\n \"throughput\": {\"requests_per_s\": %.6g, \"tokens_per_s\": %.6g, \"output_tokens_per_s\": %.6g},\n",
               r->throughput_rps, r->tokens_per_s,
               (double)r->out_tokens / (pc->horizon_s - pc->warmup_s));
        printf(" \"requests\": {\"arrived\": %lld, \"completed\": %lld, \"rejected\": %lld, \"unfinished\": %lld},\n",
               (long long)r->arrived, (long long)r->completed, (long long)r->rejected, (long long)r->unfinished);
        printf(" \"utilization\": %.6g, \"steps\": %lld, \"truncated\": %s}\n", r->utilization, (long long)r->steps,
               r->truncated ? "true" : "false");
        return;
    }
    printf("prediction for %s on %s (%s, %s, %s; fit error %.1f%% over %lld points)\n", wl_path, prof_path,
           p->hardware, p->model, p->quantization, 100 * p->mape, (long long)p->n_points);
    printf("  deployment: %d replica(s), max_num_seqs %lld, max_num_batched_tokens %lld, queue %lld; "
           "%.0f s simulated, seed %llu\n", pc->replicas, (long long)pc->max_num_seqs,
           (long long)pc->max_num_batched_tokens, (long long)pc->max_queue, pc->horizon_s, (unsigned long long)pc->seed);
    printf("  step_us = %.1f + %.3f*prefill_tokens + %.3f*decode_rows + %.5f*context_tokens + %.1f*[rows > 1]; "
           "per-request overhead %.2f ms\n", p->b0_us, p->prefill_token_us, p->decode_row_us, p->context_token_us,
           p->multi_row_us, pr->overhead_ms);
    printf("  %-12s %10s %10s %10s %10s\n", "latency_ms", "mean", "p50", "p95", "p99");
    const struct { const char *name; const SimPct *v; } m[] = {{"ttft", &r->ttft_ms}, {"tpot", &r->tpot_ms},
                                                               {"e2e", &r->e2e_ms}, {"queue_wait", &r->wait_ms}};
    for (size_t i = 0; i < ARRAY_LEN(m); i++)
        printf("  %-12s %10.1f %10.1f %10.1f %10.1f\n", m[i].name, m[i].v->mean, m[i].v->p50, m[i].v->p95, m[i].v->p99);
    printf("  throughput: %.3f requests/s, %.1f tokens/s (%.1f output tokens/s); utilization %.0f%%\n",
           r->throughput_rps, r->tokens_per_s, (double)r->out_tokens / (pc->horizon_s - pc->warmup_s),
           100 * r->utilization);
    printf("  requests: %lld arrived, %lld completed, %lld rejected, %lld unfinished%s\n", (long long)r->arrived,
           (long long)r->completed, (long long)r->rejected, (long long)r->unfinished,
           r->truncated ? " (overloaded: simulation truncated)" : "");
}

static const char *tier_name(const Pipeline *p, int t) { return t >= 0 ? p->tiers[t].name : NULL; }

static void json_name(FILE *f, const char *key, const char *v) {
    if (v) fprintf(f, ",\"%s\":\"%s\"", key, v);   // pipeline names are [A-Za-z0-9_.-]
    else fprintf(f, ",\"%s\":null", key);
}

static int write_records(const char *path, const PipeSim *ps, const Pipeline *p, const SimRecord *rec) {
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "rightsize plan: --records: cannot write '%s'\n", path); return 1; }
    for (int64_t i = 0; i < ps->n_trace; i++) {
        const SimRecord *r = &rec[i];
        fprintf(f, "{\"request_id\":\"");
        for (const char *c = ps->trace[i].id; *c; c++) fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        fprintf(f, "\"");
        json_name(f, "route", r->route >= 0 ? p->routes[r->route].name : NULL);
        json_name(f, "first_tier", tier_name(p, r->first_tier));
        json_name(f, "tier", tier_name(p, r->tier));
        fprintf(f, ",\"escalated\":%s,\"canary_candidate\":%s,\"status\":%d,\"cost_nusd\":%lld,\"idle_nusd\":%lld,\"e2e_ms\":%.3f}\n",
                r->escalated ? "true" : "false", r->candidate ? "true" : "false", r->status, (long long)r->cost_nusd,
                (long long)r->idle_nusd, r->e2e_ms);
    }
    return fclose(f) ? 1 : 0;
}

// wl: the workload predicted (NULL for a trace replay).
static void print_pipeline_result(const char *what, const Workload *wl, const SimResult *r, bool json) {
    if (json) {
        // rightsize.pipeline/1 (docs/plan-json.md): `report --plan` reads it beside telemetry.
        printf("{\"schema\":\"rightsize.pipeline/1\",");
        if (wl) {
            printf("\"workload\":{\"name\":");
            json_str(wl->name);
            printf(",\"requests_per_month\":%.17g,\"input_tokens_mean\":%.17g,\"output_tokens_mean\":%.17g,"
                   "\"slo\":{\"ttft_p95_ms\":%.17g,\"tpot_p95_ms\":%.17g,\"e2e_p95_ms\":%.17g,\"e2e_p99_ms\":%.17g}},",
                   wl->rate_per_s * WL_MONTH_S, wl_token_mean(&wl->in), wl_token_mean(&wl->out), wl->slo_ttft_p95_ms,
                   wl->slo_tpot_p95_ms, wl->slo_e2e_p95_ms, wl->slo_e2e_p99_ms);
        }
        printf("\"end_s\":%.17g,\"tpot_ms\":{\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f},", r->end_s, r->tpot_ms.p50,
               r->tpot_ms.p95, r->tpot_ms.p99);
        printf("\"input\":\"%s\",\"arrived\":%lld,\"completed\":%lld,\"failed\":%lld,\"rejected\":%lld,"
               "\"unrouted\":%lld,\"escalated\":%lld,\"canary_rollbacks\":%lld,\"unfinished\":%lld,"
               "\"ttft_ms\":{\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f},\"e2e_ms\":{\"p50\":%.3f,\"p95\":%.3f,"
               "\"p99\":%.3f},\"cost_nusd\":%lld,\"attributed_nusd\":%lld,\"idle_nusd\":%lld,"
               "\"utilization\":%.4f,\"peak_replicas\":[",
               what, (long long)r->arrived, (long long)r->completed, (long long)r->failed, (long long)r->rejected,
               (long long)r->unrouted, (long long)r->escalated, (long long)r->rollbacks, (long long)r->unfinished,
               r->ttft_ms.p50, r->ttft_ms.p95, r->ttft_ms.p99, r->e2e_ms.p50, r->e2e_ms.p95, r->e2e_ms.p99,
               (long long)r->accel_nusd, (long long)r->attributed_nusd, (long long)r->idle_nusd, r->utilization);
        for (int t = 0; t < SIM_MAX_TIERS; t++) printf("%s%d", t ? "," : "", r->peak_replicas[t]);
        printf("]}\n");
        return;
    }
    printf("pipeline prediction (%s)\n", what);
    printf("  requests: %lld arrived, %lld completed, %lld failed, %lld rejected (429), %lld unrouted (404), "
           "%lld escalated, %lld unfinished\n", (long long)r->arrived, (long long)r->completed, (long long)r->failed,
           (long long)r->rejected, (long long)r->unrouted, (long long)r->escalated, (long long)r->unfinished);
    printf("  canary rollbacks: %lld\n", (long long)r->rollbacks);
    printf("  ttft ms p50 %.1f  p95 %.1f  p99 %.1f | e2e ms p50 %.1f  p95 %.1f  p99 %.1f\n", r->ttft_ms.p50,
           r->ttft_ms.p95, r->ttft_ms.p99, r->e2e_ms.p50, r->e2e_ms.p95, r->e2e_ms.p99);
    printf("  cost $%.9f = attributed $%.9f + idle $%.9f (utilization %.1f%%)\n", (double)r->accel_nusd / 1e9,
           (double)r->attributed_nusd / 1e9, (double)r->idle_nusd / 1e9, 100 * r->utilization);
}

// `plan --pipeline FILE (WORKLOAD | --trace FILE)`: predict a given pipeline. Returns the exit status.
// seed / horizon_s < 0: the file's `planner:` run (an emitted plan's), else 1 and one hour.
static int run_pipeline(const char *pipe_path, const char *wl_path, const char *trace, int trace_endpoint,
                        const char *records, int64_t seed, double horizon_s, bool json) {
    char err[1024];
    Pipeline *p = malloc(sizeof *p);
    PipeSim *ps = calloc(1, sizeof *ps);
    Workload wl;
    bool have_wl = false;
    int status = 1;
    SimRecord *rec = NULL;
    SimResult res = {0};
    if (!p || !ps) { fprintf(stderr, "rightsize plan: out of memory\n"); goto done; }
    if (pipeline_load(p, pipe_path, false, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); goto done; }
    if (seed < 0) seed = p->has_plan_run ? (int64_t)p->plan_seed : 1;
    if (horizon_s < 0) horizon_s = p->has_plan_run ? p->plan_horizon_s : 3600;
    if (trace && pipesim_trace_load(ps, trace, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); goto done; }
    if (!trace) {
        if (wl_load(&wl, wl_path, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); goto done; }
        have_wl = true;
    } else {
        horizon_s = ps->trace[ps->n_trace - 1].t_s + 1;
    }
    if (pipesim_build(ps, p, pipe_path, have_wl ? &wl : NULL, (uint64_t)seed, horizon_s, err, sizeof err)) {
        fprintf(stderr, "rightsize plan: %s\n", err);
        status = 2;
        goto done;
    }
    if (trace_endpoint >= 0) ps->cfg.endpoint = (RouterEndpoint)trace_endpoint;
    if (records) {
        if (!trace) { fprintf(stderr, "rightsize plan: --records needs --trace\n"); status = 2; goto done; }
        rec = calloc((size_t)ps->n_trace, sizeof *rec);
        if (!rec) { fprintf(stderr, "rightsize plan: out of memory\n"); goto done; }
        ps->cfg.records = rec;
    }
    if (sim_run(&ps->cfg, &res, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); goto done; }
    print_pipeline_result(trace ? trace : wl_path, have_wl ? &wl : NULL, &res, json);
    status = records ? write_records(records, ps, p, rec) : 0;
done:
    sim_result_free(&res);
    free(rec);
    if (have_wl) wl_free(&wl);
    pipesim_free(ps);
    free(ps);
    free(p);
    return status;
}

// `plan WORKLOAD --profile FILE ...`: evaluate the one deployment. Returns the exit status.
static int run_prediction(const char *wl_path, const char *prof_path, PredictConfig *pc, bool json) {
    char err[1024];
    Workload wl;
    StepProfile p;
    if (step_profile_load(&p, prof_path, err, sizeof err)) { fprintf(stderr, "rightsize plan: --profile: %s\n", err); return 1; }
    if (wl_load(&wl, wl_path, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); return 1; }
    Prediction pr;
    int rc = predict_run(&wl, &p, pc, &pr, err, sizeof err);
    if (rc) {
        fprintf(stderr, "rightsize plan: %s\n", err);
        wl_free(&wl);
        return rc == ERR_ARG ? 2 : 1;
    }
    print_prediction(wl_path, prof_path, &p, pc, &pr, json);
    int status = pr.sim.completed > 0 ? 0 : 1;
    if (!status && (pr.sim.truncated || pr.sim.unfinished > 0))
        fprintf(stderr, "rightsize plan: the deployment cannot keep up with this workload (requests left unfinished)\n");
    predict_free(&pr);
    wl_free(&wl);
    return status;
}

int cmd_plan(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { usage(stdout); return 0; }
    const char *wl_path = NULL, *cat_dir = NULL, *html = NULL, *emit = NULL, *explain = NULL, *profiles = NULL;
    const char *emit_k8s_dir = NULL, *images[ENGINE_COUNT] = {0};
    char err[1024];
    bool json = false, quiet = false;
    const char *profile = NULL, *pipeline = NULL, *trace = NULL, *records = NULL;
    int trace_endpoint = -1;   // --endpoint: the trace requests' (RouterEndpoint), -1 unset
    bool horizon_set = false, seed_set = false;
    PredictConfig pc;
    predict_config_default(&pc);
    SearchOptions o;
    search_options_default(&o);
    FitWlArgs fit = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        double v;
        int fr = fitwl_cli_arg(&fit, argc, argv, &i);
        if (fr < 0) return 2;
        if (fr > 0) continue;
#define NEED_VAL() do { if (!has_val) { fprintf(stderr, "rightsize plan: %s needs a value (see --help)\n", a); return 2; } } while (0)
        if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--catalog")) { NEED_VAL(); cat_dir = argv[++i]; }
        else if (!strcmp(a, "--profiles")) { NEED_VAL(); profiles = argv[++i]; }
        else if (!strcmp(a, "--html")) { NEED_VAL(); html = argv[++i]; }
        else if (!strcmp(a, "--emit")) { NEED_VAL(); emit = argv[++i]; }
        else if (!strcmp(a, "--emit-k8s")) { NEED_VAL(); emit_k8s_dir = argv[++i]; }
        else if (!strcmp(a, "--image")) {
            NEED_VAL();
            if (emit_parse_image(argv[++i], images, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); return 2; }
        }
        else if (!strcmp(a, "--explain")) { NEED_VAL(); explain = argv[++i]; }
        else if (!strcmp(a, "--threads")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 256, &v)) return 2; o.threads = (int)v; }
        else if (!strcmp(a, "--seed")) { NEED_VAL(); if (parse_num(a, argv[++i], 0, 9e15, &v)) return 2; o.seed = (uint64_t)v; seed_set = true; }
        else if (!strcmp(a, "--horizon-hours")) { NEED_VAL(); if (parse_num(a, argv[++i], 0.001, 24 * 31, &v)) return 2; o.horizon_s = v * 3600; horizon_set = true; }
        else if (!strcmp(a, "--profile")) { NEED_VAL(); profile = argv[++i]; }
        else if (!strcmp(a, "--pipeline")) { NEED_VAL(); pipeline = argv[++i]; }
        else if (!strcmp(a, "--workload")) { NEED_VAL(); if (wl_path) { fprintf(stderr, "rightsize plan: one workload file only\n"); return 2; } wl_path = argv[++i]; }
        else if (!strcmp(a, "--trace")) { NEED_VAL(); trace = argv[++i]; }
        else if (!strcmp(a, "--endpoint")) {
            NEED_VAL();
            trace_endpoint = router_endpoint_parse(argv[++i]);
            if (trace_endpoint < 0 || trace_endpoint == RT_EP_ANY) {
                fprintf(stderr, "rightsize plan: --endpoint '%s': use chat, completions or embeddings\n", argv[i]);
                return 2;
            }
        }
        else if (!strcmp(a, "--records")) { NEED_VAL(); records = argv[++i]; }
        else if (!strcmp(a, "--replicas")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 4096, &v)) return 2; pc.replicas = (int)v; }
        else if (!strcmp(a, "--max-num-seqs")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 65536, &v)) return 2; pc.max_num_seqs = (int64_t)v; }
        else if (!strcmp(a, "--max-num-batched-tokens")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 1 << 20, &v)) return 2; pc.max_num_batched_tokens = (int64_t)v; }
        else if (!strcmp(a, "--max-num-queued-reqs")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 1 << 20, &v)) return 2; pc.max_queue = (int64_t)v; }
        else if (!strcmp(a, "--kv-blocks")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 1e12, &v)) return 2; pc.kv_blocks = (int64_t)v; }
        else if (!strcmp(a, "--warmup-s")) { NEED_VAL(); if (parse_num(a, argv[++i], 0, 1e7, &v)) return 2; pc.warmup_s = v; }
        else if (!strcmp(a, "--keep")) { NEED_VAL(); if (parse_num(a, argv[++i], 1, 1000, &v)) return 2; o.keep_per_level = (int)v; }
        else if (a[0] == '-') { fprintf(stderr, "rightsize plan: unknown option '%s' (see --help)\n", a); return 2; }
        else if (!wl_path) wl_path = a;
        else { fprintf(stderr, "rightsize plan: one workload file only (got '%s' and '%s')\n", wl_path, a); return 2; }
#undef NEED_VAL
    }
    if (fit.n_files) {   // --from-telemetry: fit the workload, then plan it like any other
        if (wl_path) { fprintf(stderr, "rightsize plan: give WORKLOAD.yaml or --from-telemetry, not both\n"); return 2; }
        if (fitwl_run(&fit, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); return 1; }
        wl_path = fit.out_path;
    }
    if (pipeline || trace || records) {
        if (!pipeline) { fprintf(stderr, "rightsize plan: --trace/--records replay through a --pipeline FILE\n"); return 2; }
        if (profile || html || emit || emit_k8s_dir || explain || profiles) {
            fprintf(stderr, "rightsize plan: --pipeline predicts the given pipeline; drop --profile/--html/--emit/--emit-k8s/--explain/--profiles\n");
            return 2;
        }
        if (!wl_path == !trace) {
            fprintf(stderr, "rightsize plan: --pipeline needs a workload (WORKLOAD.yaml or --workload FILE) or a --trace FILE, not both\n");
            return 2;
        }
        if (trace_endpoint >= 0 && !trace) {
            fprintf(stderr, "rightsize plan: --endpoint is the endpoint of a --trace's requests (a workload's is its class)\n");
            return 2;
        }
        return run_pipeline(pipeline, wl_path, trace, trace_endpoint, records, seed_set ? (int64_t)o.seed : -1,
                            horizon_set ? o.horizon_s : -1, json);
    }
    if (!wl_path) { fprintf(stderr, "rightsize plan: missing WORKLOAD.yaml (see --help)\n"); return 2; }
    if (profile) {
        if (html || emit || emit_k8s_dir || explain || profiles) {
            fprintf(stderr, "rightsize plan: --profile evaluates one deployment; drop --html/--emit/--emit-k8s/--explain/--profiles\n");
            return 2;
        }
        pc.seed = o.seed;
        if (horizon_set) pc.horizon_s = o.horizon_s;
        return run_prediction(wl_path, profile, &pc, json);
    }
    Catalog cat;
    Workload wl;
    char found[1024];
    if (!cat_dir) {
        if (catalog_find_dir(found, sizeof found, err, sizeof err)) { fprintf(stderr, "rightsize plan: %s\n", err); return 1; }
        cat_dir = found;
    }
    if (catalog_load(&cat, cat_dir, err, sizeof err)) { fprintf(stderr, "rightsize plan: catalog: %s\n", err); return 1; }
    for (int i = 0; i < cat.n_warnings; i++) fprintf(stderr, "rightsize plan: warning: %s\n", cat.warnings[i]);
    {   // the published points beside the catalog (data/benchmarks): the report says which devices have none
        char csv[1200], berr[256];
        snprintf(csv, sizeof csv, "%s/../benchmarks/published.csv", cat_dir);
        if (access(csv, R_OK) == 0 && bench_count_points(csv, &cat, berr, sizeof berr))
            fprintf(stderr, "rightsize plan: warning: %s (the report will not say which devices were fitted)\n", berr);
    }
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
            if (!status && (emit || emit_k8s_dir)) status = emit_candidate(&cat, &wl, &o, &c, images, emit, emit_k8s_dir);
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
    Ctx ctx = {&cat, &wl, &r, &o, NULL};
    if (json ? report_json(stdout, &cat, &wl, &r, &o) : report_text(stdout, &cat, &wl, &r, &o)) status = 1;
    if (html && write_file(html, "HTML report", html_fn, &ctx)) status = 1;
    if ((emit || emit_k8s_dir) && r.best < 0) {
        fprintf(stderr, "rightsize plan: no plan met the SLOs; nothing to --emit\n");
        status = 1;
    } else if ((emit || emit_k8s_dir) && emit_candidate(&cat, &wl, &o, &r.cands[r.best], images, emit, emit_k8s_dir)) {
        status = 1;
    }
    if (r.best < 0 && !status) status = 1;
done:
    search_free(&r);
    wl_free(&wl);
    catalog_free(&cat);
    return status;
}
