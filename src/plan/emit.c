// emit.c — the serve pipeline YAML (docs/serve.md) of a chosen plan, printed from the simulator's
// own configuration (model in emit.h).
#include "plan/emit.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

const char *const emit_engine_names[ENGINE_COUNT] = {
    [ENGINE_WORKER] = "worker", [ENGINE_VLLM] = "vllm", [ENGINE_VLLM_ROCM] = "vllm-rocm",
    [ENGINE_VLLM_NEURON] = "vllm-neuron", [ENGINE_VLLM_TPU] = "vllm-tpu", [ENGINE_VLLM_GAUDI] = "vllm-gaudi",
    [ENGINE_TEI] = "tei",
};

// Default images (override with `plan --image ENGINE=REF`); pin your own in production.
static const char *const default_images[ENGINE_COUNT] = {
    [ENGINE_WORKER] = "rightsize:0.1.0",   // deploy/Dockerfile
    [ENGINE_VLLM] = "vllm/vllm-openai:v0.10.1.1",
    [ENGINE_VLLM_ROCM] = "rocm/vllm:latest",
    [ENGINE_VLLM_NEURON] = "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:0.9.1-neuronx-py310-sdk2.25.0-ubuntu22.04",
    [ENGINE_VLLM_TPU] = "vllm/vllm-tpu:nightly",
    [ENGINE_VLLM_GAUDI] = "vault.habana.ai/gaudi-docker/1.22.0/ubuntu24.04/habanalabs/vllm-installer-2.7.1:latest",
    [ENGINE_TEI] = "ghcr.io/huggingface/text-embeddings-inference:1.8",
};
#define TEI_CPU_IMAGE "ghcr.io/huggingface/text-embeddings-inference:cpu-1.8"
#define MEM_UTIL "0.90"   // the simulated KV pool's memory fraction (search.c MEM_UTIL)

// ---- numbers: the shortest text that reads back as the same double ----

static const char *num(char *buf, size_t cap, double v) {
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}
#define NUM(v) num((char[40]){0}, 40, (v))

// ---- engines and their command lines ----

static bool has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

// The serving stack (stacks.yaml id) each engine's command deploys: the stack a plan must have been
// simulated with for the emitted deployment to be the one predicted. TEI serves encoders, which
// the planner prices per batch, not per stack.
static const char *const engine_stacks[ENGINE_COUNT] = {
    [ENGINE_WORKER] = "rightsize-worker", [ENGINE_VLLM] = "vllm", [ENGINE_VLLM_ROCM] = "vllm-rocm",
    [ENGINE_VLLM_NEURON] = "vllm-neuron", [ENGINE_VLLM_TPU] = "vllm", [ENGINE_VLLM_GAUDI] = "vllm",
    [ENGINE_TEI] = NULL,
};

const char *emit_engine_stack(EmitEngine e) {
    CHECK(e >= 0 && e < ENGINE_COUNT);
    return engine_stacks[e];
}

EmitEngine emit_engine_of(const CatHardware *hw, const CatModel *m) {
    if (hw->cls == HW_CPU) return m->encoder ? ENGINE_TEI : ENGINE_WORKER;
    if (hw->cls == HW_GPU) return m->encoder ? ENGINE_TEI : has_prefix(hw->id, "mi") ? ENGINE_VLLM_ROCM : ENGINE_VLLM;
    if (has_prefix(hw->id, "inferentia") || has_prefix(hw->id, "trainium")) return ENGINE_VLLM_NEURON;
    if (has_prefix(hw->id, "tpu")) return ENGINE_VLLM_TPU;
    return ENGINE_VLLM_GAUDI;
}

// The Hugging Face repository named at the start of the catalog's source ("org/name config.json").
static void repo_of(const CatModel *m, char *out, size_t cap) {
    out[0] = 0;
    const char *s = m->source ? m->source : "";
    size_t n = strcspn(s, " ;");
    if (n == 0 || n >= cap || !memchr(s, '/', n)) return;
    memcpy(out, s, n);
    out[n] = 0;
}

static void arg(EmitTier *t, size_t *used, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void arg(EmitTier *t, size_t *used, const char *fmt, ...) {
    CHECK(t->argc < EMIT_MAX_ARGS);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(t->argbuf + *used, sizeof t->argbuf - *used, fmt, ap);
    va_end(ap);
    CHECK(w >= 0 && (size_t)w < sizeof t->argbuf - *used);
    t->argv[t->argc++] = t->argbuf + *used;
    *used += (size_t)w + 1;
}

// vLLM's quantization for a planner quantization: fp8 quantizes at load; int4 expects an AWQ
// checkpoint; int8 a W8A8 checkpoint (vLLM reads its method from the checkpoint).
static const char *vllm_quant(PlanQuant q) { return q == QUANT_FP8 ? "fp8" : q == QUANT_INT4 ? "awq" : NULL; }

static void scheduler_args(EmitTier *t, size_t *u) {
    const SimTier *s = t->sim;
    arg(t, u, "--max-num-seqs");
    arg(t, u, "%lld", (long long)s->sched.max_num_seqs);
    arg(t, u, "--max-num-batched-tokens");
    arg(t, u, "%lld", (long long)s->sched.max_num_batched_tokens);
    arg(t, u, "--max-model-len");
    arg(t, u, "%lld", (long long)s->sched.max_model_len);
}

// rightsize worker on a CPU: the simulated scheduler, queue and KV pool.
static void worker_command(EmitTier *t, size_t *u) {
    const SimTier *s = t->sim;
    arg(t, u, "rightsize");
    arg(t, u, "worker");
    arg(t, u, "-m");
    arg(t, u, "/models/%s", t->gguf);
    arg(t, u, "--listen");
    arg(t, u, "0.0.0.0:%d", t->port);
    arg(t, u, "--served-model-name");
    arg(t, u, "%s", t->model->id);
    scheduler_args(t, u);
    arg(t, u, "--max-num-queued-reqs");
    arg(t, u, "%lld", (long long)s->sched.max_num_queued_reqs);
    arg(t, u, "--kv-blocks");
    arg(t, u, "%lld", (long long)s->sched.kv_blocks_total);
    if (t->cores > 0) {   // the roofline's compute is the whole instance's
        arg(t, u, "-t");
        arg(t, u, "%d", t->cores);
    }
    arg(t, u, "--shutdown-timeout");
    arg(t, u, "30");
}

// Cores of a CPU instance, from its catalog name ("AWS c7i.8xlarge (16 cores ...)"); 0 if unsaid.
static int cores_of(const CatHardware *hw) {
    if (hw->cls != HW_CPU || !hw->name) return 0;
    for (const char *p = hw->name; *p; p++)
        if (*p == '(' || *p == ' ') {
            char *end;
            long n = strtol(p + 1, &end, 10);
            if (end != p + 1 && n > 0 && n < 1024 && strncmp(end, " core", 5) == 0) return (int)n;
        }
    return 0;
}

// text-embeddings-inference: the gateway batches (batching: in the pipeline) and sends a batch
// as one call, so the server takes batches of that size.
static void tei_command(EmitTier *t, size_t *u, const Workload *wl) {
    int64_t b = t->sim->batch.max_batch_size;
    arg(t, u, "text-embeddings-router");
    arg(t, u, "--model-id");
    arg(t, u, "%s", t->repo[0] ? t->repo : t->model->id);
    arg(t, u, "--port");
    arg(t, u, "%d", t->port);
    arg(t, u, "--served-model-name");
    arg(t, u, "%s", t->model->id);
    arg(t, u, "--max-client-batch-size");
    arg(t, u, "%lld", (long long)b);
    arg(t, u, "--max-batch-requests");
    arg(t, u, "%lld", (long long)b);
    arg(t, u, "--max-batch-tokens");
    int64_t longest = wl->in.max > 0 && (int64_t)wl->in.max < t->model->context ? (int64_t)wl->in.max : t->model->context;
    arg(t, u, "%lld", (long long)(b * (longest > 0 ? longest : 512)));
}

// vLLM (any device): the simulated KV pool (block size, blocks), batch and model length.
static void vllm_command(EmitTier *t, size_t *u) {
    const SimTier *s = t->sim;
    arg(t, u, "vllm");
    arg(t, u, "serve");
    arg(t, u, "%s", t->repo[0] ? t->repo : t->model->id);
    arg(t, u, "--host");
    arg(t, u, "0.0.0.0");
    arg(t, u, "--port");
    arg(t, u, "%d", t->port);
    arg(t, u, "--served-model-name");
    arg(t, u, "%s", t->model->id);
    if (t->engine == ENGINE_VLLM_NEURON) {
        arg(t, u, "--device");
        arg(t, u, "neuron");
    }
    arg(t, u, "--tensor-parallel-size");   // Neuron: two NeuronCores per chip
    arg(t, u, "%d", t->engine == ENGINE_VLLM_NEURON ? 2 * t->devices : t->devices);
    if (t->model->encoder) {
        arg(t, u, "--task");
        arg(t, u, "embed");
        arg(t, u, "--max-num-seqs");
        arg(t, u, "%lld", (long long)s->batch.max_batch_size);
        return;
    }
    arg(t, u, "--dtype");
    arg(t, u, "bfloat16");
    if (vllm_quant(t->quant)) {
        arg(t, u, "--quantization");
        arg(t, u, "%s", vllm_quant(t->quant));
    }
    arg(t, u, "--kv-cache-dtype");
    arg(t, u, "auto");   // bf16, as the simulated KV pool
    arg(t, u, "--gpu-memory-utilization");
    arg(t, u, MEM_UTIL);
    arg(t, u, "--block-size");
    arg(t, u, "%lld", (long long)s->sched.kv_block_tokens);
    arg(t, u, "--num-gpu-blocks-override");
    arg(t, u, "%lld", (long long)s->sched.kv_blocks_total);
    scheduler_args(t, u);
}

static void build_command(EmitTier *t, const Workload *wl) {
    size_t u = 0;
    t->argc = 0;
    if (t->engine == ENGINE_WORKER) worker_command(t, &u);
    else if (t->engine == ENGINE_TEI) tei_command(t, &u, wl);
    else vllm_command(t, &u);
}

// TGI and TensorRT-LLM with the same knobs (NVIDIA GPU decoders).
static void build_alternatives(EmitTier *t) {
    t->alt[0][0] = t->alt[1][0] = 0;
    if (t->engine != ENGINE_VLLM) return;
    const SimTier *s = t->sim;
    const char *weights = t->repo[0] ? t->repo : t->model->id;
    const char *tq = t->quant == QUANT_FP8 ? " --quantize fp8" : t->quant == QUANT_INT4 ? " --quantize awq" : "";
    snprintf(t->alt[0], sizeof t->alt[0],
             "text-generation-launcher --model-id %s --port %d --num-shard %d --max-batch-size %lld "
             "--max-batch-prefill-tokens %lld --max-total-tokens %lld --cuda-memory-fraction %s%s",
             weights, t->port, t->devices, (long long)s->sched.max_num_seqs, (long long)s->sched.max_num_batched_tokens,
             (long long)s->sched.max_model_len, MEM_UTIL, tq);
    snprintf(t->alt[1], sizeof t->alt[1],
             "trtllm-serve %s --host 0.0.0.0 --port %d --tp_size %d --max_batch_size %lld --max_num_tokens %lld "
             "--max_seq_len %lld --kv_cache_free_gpu_memory_fraction %s",
             weights, t->port, t->devices, (long long)s->sched.max_num_seqs, (long long)s->sched.max_num_batched_tokens,
             (long long)s->sched.max_model_len, MEM_UTIL);
}

// ---- the plan ----

static void fill_tier(EmitPlan *p, int i, bool student) {
    const Candidate *c = p->c;
    EmitTier *t = &p->tier[i];
    const SimTier *s = &p->cfg.tier[i];
    memset(t, 0, sizeof *t);
    t->name = student ? "student" : (c->student >= 0 ? "teacher" : "main");
    t->hw = &p->cat->hw[student && c->student_hw >= 0 ? c->student_hw : c->hw];   // a student may sit on other hardware
    t->model = &p->cat->models[student ? c->student : c->model];
    t->quant = student ? c->student_quant : c->quant;
    t->devices = student ? 1 : c->devices;
    t->cores = cores_of(t->hw);
    t->sim = s;
    t->engine = emit_engine_of(t->hw, t->model);
    t->image = p->images[t->engine] ? p->images[t->engine]
               : t->engine == ENGINE_TEI && t->hw->cls == HW_CPU ? TEI_CPU_IMAGE : default_images[t->engine];
    snprintf(t->gguf, sizeof t->gguf, "%s.%s.gguf", t->model->id,
             t->quant == QUANT_INT4 ? "q4_0" : t->quant == QUANT_INT8 ? "q8_0" : "bf16");
    t->port = student ? 8001 : 8002;
    repo_of(t->model, t->repo, sizeof t->repo);
    build_command(t, p->wl);
    build_alternatives(t);
    t->reserved_kind = s->reserved_kind;
    t->reserved_usd_per_hour = s->usd_per_hour[s->reserved_kind];
    t->burst_kind = s->spot ? PRICE_SPOT : PRICE_ON_DEMAND;
    t->burst_usd_per_hour = s->usd_per_hour[t->burst_kind];
    bool fixed = s->as.min_replicas == s->as.max_replicas && s->as.n_windows == 0;
    t->target_per_replica = fixed ? 0 : s->as.target_per_replica;
}

int emit_plan_init(EmitPlan *p, const Catalog *cat, const Workload *wl, const Candidate *c,
                   const char *const images[ENGINE_COUNT], char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    for (int e = 0; images && e < ENGINE_COUNT; e++) p->images[e] = images[e];
    if (!c->simulated || !c->sim) return err_set(err, err_len, ERR_ARG, "candidate %s was not simulated", c->id);
    p->cat = cat;
    p->wl = wl;
    p->c = c;
    search_sim_config(cat, wl, c, SCEN_EXPECTED, 0, 0, &p->cfg);
    p->n_tiers = p->cfg.n_tiers;
    for (int i = 0; i < p->n_tiers; i++) fill_tier(p, i, c->student >= 0 && i == 0);
    p->max_queue = p->cfg.tier[0].max_queue;
    for (int i = 1; i < p->n_tiers; i++)
        if (p->cfg.tier[i].max_queue != p->max_queue)
            return err_set(err, err_len, ERR_ARG, "tiers were simulated with different queue bounds; serve has one");
    p->autoscale_interval_s = p->cfg.tier[0].autoscale_period_s > 0 ? p->cfg.tier[0].autoscale_period_s : 5;
    double longest_ms = 0;
    for (int s = 0; s < SCEN_COUNT; s++) longest_ms = fmax(longest_ms, c->sim[s].e2e_ms.max);
    p->request_timeout_s = fmax(60, ceil(2 * longest_ms / 1e3));
    return 0;
}

void emit_plan_set_run(EmitPlan *p, uint64_t search_seed, double horizon_s) {
    // The same configuration again (the tiers do not depend on the seed or the horizon), now with
    // the run's seed; EmitTier.sim points into p->cfg and stays valid.
    search_sim_config(p->cat, p->wl, p->c, SCEN_EXPECTED, horizon_s, search_seed, &p->cfg);
    p->seed = p->cfg.seed;
    p->horizon_s = horizon_s;
}

int emit_parse_image(const char *spec, const char *images[ENGINE_COUNT], char *err, size_t err_len) {
    const char *eq = strchr(spec, '=');
    for (int e = 0; eq && eq[1] && e < ENGINE_COUNT; e++)
        if (strlen(emit_engine_names[e]) == (size_t)(eq - spec) && !strncmp(spec, emit_engine_names[e], (size_t)(eq - spec))) {
            images[e] = eq + 1;
            return 0;
        }
    return err_set(err, err_len, ERR_ARG,
                   "--image wants ENGINE=IMAGE with ENGINE one of worker, vllm, vllm-rocm, vllm-neuron, vllm-tpu, "
                   "vllm-gaudi, tei; got '%s'", spec);
}

// ---- pipeline YAML ----

static void yaml_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void command_text(const EmitTier *t, char *out, size_t cap) {
    size_t u = 0;
    out[0] = 0;
    for (int i = 0; i < t->argc && u < cap; i++) {
        int w = snprintf(out + u, cap - u, "%s%s", i ? " " : "", t->argv[i]);
        if (w < 0) break;
        u += (size_t)w;
    }
}

static void emit_autoscaling(FILE *f, const EmitTier *t) {
    const AutoscaleConfig *a = &t->sim->as;
    fprintf(f, "    autoscaling: {target_per_replica: %s, upscale_delay_s: %s, downscale_delay_s: %s, warm_pool: %d",
            NUM(a->target_per_replica), NUM((double)a->upscale_delay_us / 1e6), NUM((double)a->downscale_delay_us / 1e6),
            a->warm_pool);
    if (a->n_windows) {
        fprintf(f, ",\n                  schedule: [");
        for (int w = 0; w < a->n_windows; w++)
            fprintf(f, "%s{start_hour: %s, end_hour: %s, min_replicas: %d}", w ? ", " : "", NUM(a->windows[w].start_hour),
                    NUM(a->windows[w].end_hour), a->windows[w].min_replicas);
        fprintf(f, "]");
    }
    fprintf(f, "}\n");
    if (a->n_windows && a->target_per_replica >= 1e9)
        fprintf(f, "    # batch work: replicas exist only in the run window (hours UTC); load never adds more\n");
}

static void emit_tier(FILE *f, const EmitPlan *p, const EmitTier *t, bool k8s) {
    const SimTier *s = t->sim;
    fprintf(f, "  - name: %s\n", t->name);
    if (t->engine == ENGINE_WORKER && !k8s) {
        fprintf(f, "    model: data/models/%s          # run as local workers (rightsize worker)\n", t->gguf);
        if (t->cores > 0) fprintf(f, "    threads: %d                        # the instance's cores, as simulated\n", t->cores);
    } else {
        if (k8s) fprintf(f, "    url: http://rightsize-%s:%d/v1\n", t->name, t->port);
        else fprintf(f, "    url: http://127.0.0.1:%d/v1\n", t->port);
        fprintf(f, "    model: %s\n", t->model->id);
        char cmd[2048];
        command_text(t, cmd, sizeof cmd);
        fprintf(f, "    launch: ");
        yaml_quoted(f, cmd);
        fprintf(f, "\n");
        for (int i = 0; i < 2; i++)
            if (t->alt[i][0]) fprintf(f, "    # or %s\n", t->alt[i]);
    }
    fprintf(f, "    accelerator: %s\n", t->hw->id);
    if (s->cost_in_flight) fprintf(f, "    cost_share: in_flight              # the engine reports no busy share\n");
    fprintf(f, "    quantization: %s\n", plan_quant_names[t->quant]);
    fprintf(f, "    replicas: {min: %d, max: %d}\n", s->as.min_replicas, s->as.max_replicas);
    fprintf(f, "    capacity: %s\n", price_kind_names[t->burst_kind]);
    fprintf(f, "    cost_per_hour: %s                  # $ per replica-hour above the reserved floor (%d x %s)\n",
            NUM(t->burst_usd_per_hour), t->devices, t->hw->id);
    if (s->reserved > 0)
        fprintf(f, "    reserved: {replicas: %d, term: %s, cost_per_hour: %s}\n", s->reserved,
                t->reserved_kind == PRICE_RESERVED_3Y ? "3y" : "1y", NUM(t->reserved_usd_per_hour));
    if (s->one_shot) {
        fprintf(f, "    max_concurrency: 1                 # one batch call in flight per replica, as simulated\n");
        fprintf(f, "    batching: {max_batch_size: %lld, max_queue_delay_microseconds: %lld}\n",
                (long long)s->batch.max_batch_size, (long long)s->batch.max_queue_delay_us);
    } else {
        fprintf(f, "    max_concurrency: %lld\n", (long long)s->sched.max_num_seqs);
        // The simulated KV pool and model length: a local worker runs them; for other engines
        // they are the launch command's (e.g. vLLM's --max-model-len, --num-gpu-blocks-override).
        fprintf(f, "    scheduler: {max_num_seqs: %lld, max_num_batched_tokens: %lld, max_model_len: %lld, "
                "kv_blocks: %lld}\n", (long long)s->sched.max_num_seqs, (long long)s->sched.max_num_batched_tokens,
                (long long)s->sched.max_model_len, (long long)s->sched.kv_blocks_total);
    }
    // The step-time model simulated, exactly (%.17g), for `plan --pipeline` (serve ignores it).
    const StepModel *m = &s->step;
    fprintf(f, "    step: {b0_us: %.17g, prefill_token_us: %.17g, decode_row_us: %.17g, context_token_us: %.17g",
            m->b0_us, m->prefill_token_us, m->decode_row_us, m->context_token_us);
    if (m->multi_row_us > 0) fprintf(f, ", multi_row_us: %.17g", m->multi_row_us);
    if (m->source == STEP_ROOFLINE)
        fprintf(f, ",\n           mem_fixed_us: %.17g, mem_ctx_us: %.17g, comp_token_us: %.17g, comp_pair_us: %.17g",
                m->mem_fixed_us, m->mem_ctx_us, m->comp_token_us, m->comp_pair_us);
    if (m->request_overhead_us > 0) fprintf(f, ",\n           request_overhead_us: %.17g", m->request_overhead_us);
    for (int i = 0; i < m->n_cold; i++)
        fprintf(f, "%s{after_us: %.17g, wake_us: %.17g, step_factor: %.17g}%s", i ? ",\n                  " : ",\n           cold: [",
                m->cold[i].after_us, m->cold[i].wake_us, m->cold[i].step_factor, i + 1 == m->n_cold ? "]" : "");
    for (int i = 0; i < m->n_spread; i++) fprintf(f, "%s%.17g", i ? ", " : ",\n           spread: [", m->spread[i]);
    if (m->n_spread > 0) fprintf(f, "], spread_window_us: %.17g", m->spread_window_us);
    if (m->colocated > 0) fprintf(f, ",\n           colocated: %.17g", m->colocated);
    fprintf(f, "}\n");
    // The rest of the simulated tier (plan --pipeline; serve ignores it).
    fprintf(f, "    planner: {startup_s: %s, warm_start_s: %s, spot_interruptions_per_hour: %s, spot_replace_s: %s",
            NUM(s->startup_s), NUM(s->warm_start_s), NUM(s->spot_interruptions_per_hour), NUM(s->spot_replace_s));
    if (!s->one_shot) fprintf(f, ", kv_block_tokens: %lld", (long long)s->sched.kv_block_tokens);
    fprintf(f, "}\n");
    if (t->target_per_replica > 0) emit_autoscaling(f, t);
    (void)p;
}

static int write_pipeline(FILE *f, const EmitPlan *p, bool k8s) {
    const Workload *wl = p->wl;
    const Candidate *c = p->c;
    fprintf(f, "# Pipeline for workload '%s', emitted by `rightsize plan` (candidate %s).\n", wl->name, c->id);
    fprintf(f, "# The configuration that was simulated: predicted $%.2f/month. Serve it with `rightsize serve THIS_FILE`.\n",
            c->usd_month);
    fprintf(f, "listen: %s\n", k8s ? "0.0.0.0:8080" : "127.0.0.1:8080");
    fprintf(f, "slo: {");
    int n = 0;
    if (wl->cls == WL_BATCH) fprintf(f, "%sjob_deadline_hours: %s", n++ ? ", " : "", NUM(wl->batch_deadline_hours));
    if (wl->slo_ttft_p95_ms > 0) fprintf(f, "%sttft_p95_ms: %s", n++ ? ", " : "", NUM(wl->slo_ttft_p95_ms));
    if (wl->slo_tpot_p95_ms > 0) fprintf(f, "%stpot_p95_ms: %s", n++ ? ", " : "", NUM(wl->slo_tpot_p95_ms));
    if (wl->slo_e2e_p95_ms > 0) fprintf(f, "%se2e_p95_ms: %s", n++ ? ", " : "", NUM(wl->slo_e2e_p95_ms));
    if (wl->slo_e2e_p99_ms > 0) fprintf(f, "%se2e_p99_ms: %s", n++ ? ", " : "", NUM(wl->slo_e2e_p99_ms));
    fprintf(f, "}\n");
    if (p->horizon_s > 0)   // the run the plan simulated: `plan WORKLOAD --pipeline THIS_FILE` replays it
        fprintf(f, "planner: {seed: %llu, horizon_s: %s}     # the expected scenario's run, for plan --pipeline\n",
                (unsigned long long)p->seed, NUM(p->horizon_s));
    fprintf(f, "tiers:\n");
    for (int i = 0; i < p->n_tiers; i++) emit_tier(f, p, &p->tier[i], k8s);
    fprintf(f, "routes:\n");
    static const char *const ep_names[RT_EP_COUNT] = {
        [RT_EP_ANY] = "any", [RT_EP_COMPLETIONS] = "completions", [RT_EP_CHAT] = "chat", [RT_EP_EMBEDDINGS] = "embeddings"};
    const char *endpoint = ep_names[sim_class_endpoint(wl->cls)];   // what the simulated requests asked
    if (p->n_tiers == 2) {
        double thr = p->cfg.conf_model ? p->cfg.conf_threshold : 0.60;
        fprintf(f, "  - match: {endpoint: %s}\n    cascade: {first: student, then: teacher, min_confidence: %s}\n", endpoint,
                NUM(thr));
        if (!p->cfg.conf_model)
            fprintf(f, "    # simulated with a fixed escalation rate of %s; set min_confidence to the student's\n"
                       "    # confidence quantile at that rate (measure it with `rightsize bench`)\n",
                    NUM(p->cfg.escalation_rate));
    } else {
        fprintf(f, "  - match: {endpoint: %s}\n    tier: main\n", endpoint);
    }
    bool any_auto = false;
    for (int i = 0; i < p->n_tiers; i++) any_auto |= p->tier[i].target_per_replica > 0;
    if (any_auto)   // the autoscaler counts waiting + running requests per replica
        fprintf(f, "autoscaling: {metric: num_requests_in_flight, interval_s: %s}\n", NUM(p->autoscale_interval_s));
    fprintf(f, "limits: {max_queue: %lld, max_body_bytes: 1048576, max_tokens: %lld, request_timeout_s: %s}\n",
            (long long)p->max_queue, (long long)(wl->out.max > 0 && wl->out.max < 1000000 ? wl->out.max : 2048),
            NUM(p->request_timeout_s));
    return ferror(f) ? ERR_IO : 0;
}

int emit_pipeline(FILE *f, const EmitPlan *p) { return write_pipeline(f, p, false); }

// Used by emit_k8s.c for the gateway's ConfigMap (every tier is a Service there).
int emit_pipeline_k8s(FILE *f, const EmitPlan *p);
int emit_pipeline_k8s(FILE *f, const EmitPlan *p) { return write_pipeline(f, p, true); }

// ---- JSON: the SimConfig itself ----

cJSON *emit_sim_config_json(const EmitPlan *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "autoscale_interval_s", p->autoscale_interval_s);
    cJSON_AddNumberToObject(o, "max_queue", (double)p->max_queue);
    if (p->n_tiers == 2) {
        cJSON_AddBoolToObject(o, "confidence_model", p->cfg.conf_model);
        cJSON_AddNumberToObject(o, p->cfg.conf_model ? "confidence_threshold" : "escalation_rate",
                                p->cfg.conf_model ? p->cfg.conf_threshold : p->cfg.escalation_rate);
    }
    cJSON *tiers = cJSON_AddArrayToObject(o, "tiers");
    for (int i = 0; i < p->n_tiers; i++) {
        const EmitTier *t = &p->tier[i];
        const SimTier *s = t->sim;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", t->name);
        cJSON_AddStringToObject(x, "engine", emit_engine_names[t->engine]);
        cJSON_AddNumberToObject(x, "min_replicas", s->as.min_replicas);
        cJSON_AddNumberToObject(x, "max_replicas", s->as.max_replicas);
        cJSON_AddNumberToObject(x, "reserved_replicas", s->reserved);
        cJSON_AddStringToObject(x, "reserved_kind", price_kind_names[s->reserved_kind]);
        cJSON_AddStringToObject(x, "burst_kind", price_kind_names[s->spot ? PRICE_SPOT : PRICE_ON_DEMAND]);
        cJSON *pr = cJSON_AddObjectToObject(x, "usd_per_replica_hour");
        for (int k = 0; k < PRICE_KIND_COUNT; k++) cJSON_AddNumberToObject(pr, price_kind_names[k], s->usd_per_hour[k]);
        cJSON *as = cJSON_AddObjectToObject(x, "autoscaler");
        cJSON_AddNumberToObject(as, "target_per_replica", s->as.target_per_replica);
        cJSON_AddNumberToObject(as, "upscale_delay_s", (double)s->as.upscale_delay_us / 1e6);
        cJSON_AddNumberToObject(as, "downscale_delay_s", (double)s->as.downscale_delay_us / 1e6);
        cJSON_AddNumberToObject(as, "warm_pool", s->as.warm_pool);
        cJSON *ws = cJSON_AddArrayToObject(as, "windows");
        for (int w = 0; w < s->as.n_windows; w++) {
            cJSON *wj = cJSON_CreateObject();
            cJSON_AddNumberToObject(wj, "start_hour", s->as.windows[w].start_hour);
            cJSON_AddNumberToObject(wj, "end_hour", s->as.windows[w].end_hour);
            cJSON_AddNumberToObject(wj, "min_replicas", s->as.windows[w].min_replicas);
            cJSON_AddItemToArray(ws, wj);
        }
        cJSON_AddNumberToObject(x, "max_queue", (double)s->max_queue);
        cJSON_AddNumberToObject(x, "startup_s", s->startup_s);
        cJSON_AddNumberToObject(x, "warm_start_s", s->warm_start_s);
        cJSON_AddNumberToObject(x, "spot_interruptions_per_hour", s->spot_interruptions_per_hour);
        cJSON_AddNumberToObject(x, "spot_replace_s", s->spot_replace_s);
        cJSON_AddBoolToObject(x, "cost_in_flight", s->cost_in_flight);
        if (s->one_shot) {
            cJSON *b = cJSON_AddObjectToObject(x, "batcher");
            cJSON_AddNumberToObject(b, "max_batch_size", (double)s->batch.max_batch_size);
            cJSON_AddNumberToObject(b, "max_queue_delay_us", (double)s->batch.max_queue_delay_us);
        } else {
            cJSON *sc = cJSON_AddObjectToObject(x, "scheduler");
            cJSON_AddNumberToObject(sc, "max_num_seqs", (double)s->sched.max_num_seqs);
            cJSON_AddNumberToObject(sc, "max_num_batched_tokens", (double)s->sched.max_num_batched_tokens);
            cJSON_AddNumberToObject(sc, "max_num_queued_reqs", (double)s->sched.max_num_queued_reqs);
            cJSON_AddNumberToObject(sc, "max_model_len", (double)s->sched.max_model_len);
            cJSON_AddNumberToObject(sc, "kv_block_tokens", (double)s->sched.kv_block_tokens);
            cJSON_AddNumberToObject(sc, "kv_blocks_total", (double)s->sched.kv_blocks_total);
        }
        cJSON_AddNumberToObject(x, "tensor_parallel", t->devices);
        cJSON_AddItemToArray(tiers, x);
    }
    return o;
}
