// emit.c — the serve pipeline YAML (DESIGN.md §4) of a chosen plan.
#include "plan/emit.h"

#include <string.h>

#include "base/check.h"

static void emit_tier(FILE *f, const Catalog *cat, const Workload *wl, const Candidate *c, bool student) {
    const CatHardware *hw = &cat->hw[c->hw];
    const CatModel *m = &cat->models[student ? c->student : c->model];
    PlanQuant q = student ? c->student_quant : c->quant;
    int devices = student ? 1 : c->devices;
    int mn = student ? c->student_min : c->replicas_min, mx = student ? c->student_peak : c->replicas_peak;
    if (c->scale == SCALE_FIXED) mn = mx;
    if (wl->cls == WL_BATCH && c->scale == SCALE_AUTO) mn = 0;
    PriceKind k = c->mix == MIX_RESERVED_SPOT ? PRICE_SPOT : PRICE_ON_DEMAND;
    double price = (hw->price[k].present ? hw->price[k].usd_per_hour : hw->price[PRICE_ON_DEMAND].usd_per_hour) * devices;
    fprintf(f, "  - name: %s\n", student ? "student" : (c->student >= 0 ? "teacher" : "main"));
    if (hw->cls == HW_CPU && !m->encoder)
        fprintf(f, "    model: data/models/%s.%s.gguf             # embedded engine, run as local workers\n", m->id,
                q == QUANT_INT4 ? "q4_0" : q == QUANT_INT8 ? "q8_0" : "bf16");
    else
        fprintf(f, "    url: http://127.0.0.1:%d/v1                     # an OpenAI-compatible server (vLLM, TGI, ...)\n"
                   "    model: %s\n", student ? 8001 : 8002, m->id);
    fprintf(f, "    accelerator: %s%s\n", hw->id, devices > 1 ? "" : "");
    if (devices > 1) fprintf(f, "    tensor_parallel: %d\n", devices);
    fprintf(f, "    quantization: %s\n", plan_quant_names[q]);
    fprintf(f, "    cost_per_hour: %.4f                          # $ per replica-hour (%s)\n", price, price_kind_names[k]);
    fprintf(f, "    replicas: {min: %d, max: %d}\n", mn, mx);
    if (m->encoder)
        fprintf(f, "    batching: {max_batch_size: %lld, max_queue_delay_microseconds: 2000}\n", (long long)c->batch_knob);
    else
        fprintf(f, "    scheduler: {max_num_seqs: %lld, max_num_batched_tokens: %lld}\n", (long long)c->batch_knob,
                (long long)(c->batch_knob > 2048 ? c->batch_knob : 2048));
}

int emit_pipeline(FILE *f, const Catalog *cat, const Workload *wl, const Candidate *c) {
    fprintf(f, "# Pipeline for workload '%s', emitted by `rightsize plan` (candidate %s).\n", wl->name, c->id);
    fprintf(f, "# Predicted: $%.2f/month; serve it with `rightsize serve THIS_FILE`.\n", c->usd_month);
    fprintf(f, "listen: 127.0.0.1:8080\n");
    fprintf(f, "slo: {");
    int n = 0;
    if (wl->slo_ttft_p95_ms > 0) fprintf(f, "%sttft_p95_ms: %.0f", n++ ? ", " : "", wl->slo_ttft_p95_ms);
    if (wl->slo_tpot_p95_ms > 0) fprintf(f, "%stpot_p95_ms: %.0f", n++ ? ", " : "", wl->slo_tpot_p95_ms);
    if (wl->slo_e2e_p95_ms > 0) fprintf(f, "%se2e_p95_ms: %.0f", n++ ? ", " : "", wl->slo_e2e_p95_ms);
    if (wl->slo_e2e_p99_ms > 0) fprintf(f, "%se2e_p99_ms: %.0f", n++ ? ", " : "", wl->slo_e2e_p99_ms);
    fprintf(f, "}\ntiers:\n");
    if (c->student >= 0) emit_tier(f, cat, wl, c, true);
    emit_tier(f, cat, wl, c, false);
    fprintf(f, "routes:\n");
    const char *endpoint = wl->cls == WL_EMBEDDING ? "embeddings" : wl->cls == WL_COMPLETION ? "completions" : "chat";
    if (c->student >= 0) {
        double thr = wl->escalation_rate < 0 ? wl->conf_threshold : 0.60;
        fprintf(f, "  - match: {endpoint: %s}\n    cascade: {first: student, then: teacher, min_confidence: %.2f}\n", endpoint, thr);
    } else {
        fprintf(f, "  - match: {endpoint: %s}\n    tier: main\n", endpoint);
    }
    if (c->scale == SCALE_AUTO && wl->cls != WL_BATCH)
        fprintf(f, "autoscaling: {metric: num_requests_waiting, target_per_replica: %lld,\n"
                   "              upscale_delay_s: 15, downscale_delay_s: 300, warm_pool: 1}\n",
                (long long)(c->batch_eff > 1 ? (int64_t)(0.8 * (double)c->batch_eff) : 1));
    fprintf(f, "limits: {max_queue: 256, max_body_bytes: 1048576, max_tokens: %lld, request_timeout_s: 60}\n",
            (long long)(wl->out.max > 0 && wl->out.max < 1000000 ? wl->out.max : 2048));
    return ferror(f) ? ERR_IO : 0;
}
