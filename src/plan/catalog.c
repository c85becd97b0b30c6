#include "plan/catalog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"

const char *const price_kind_names[PRICE_KIND_COUNT] = {
    [PRICE_ON_DEMAND] = "on_demand", [PRICE_RESERVED_1Y] = "reserved_1y",
    [PRICE_RESERVED_3Y] = "reserved_3y", [PRICE_SPOT] = "spot",
};
const char *const plan_quant_names[QUANT_COUNT] = {
    [QUANT_BF16] = "bf16", [QUANT_FP8] = "fp8", [QUANT_INT8] = "int8", [QUANT_INT4] = "int4",
};
const char *const hw_class_names[HW_CLASS_COUNT] = {[HW_GPU] = "gpu", [HW_ASIC] = "asic", [HW_CPU] = "cpu"};
const char *const link_kind_names[LINK_COUNT] = {[LINK_NVLINK] = "nvlink", [LINK_PCIE] = "pcie", [LINK_FABRIC] = "fabric"};
const char *const kv_dtype_names[KV_DTYPE_COUNT] = {[KV_BF16] = "bf16", [KV_FP8] = "fp8"};
const char *const mem_rule_names[MEMRULE_COUNT] = {[MEMRULE_UTIL_OF_TOTAL] = "util_of_total",
                                                   [MEMRULE_FRACTION_OF_FREE] = "fraction_of_free"};

static const char *const confidence_tags[] = {"V", "D", "3P", "R", "est"};

// A date must read YYYY-MM-DD with a plausible month and day.
static bool valid_date(const char *s) {
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return false;
    return y >= 2000 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static void load_price(YamlDoc *d, const YamlNode *p, CatHardware *hw) {
    static const char *const keys[] = {"kind", "usd_per_hour", "source", "date", "confidence", "provider", "region", NULL};
    if (p->kind != YAML_MAP) { yaml_error(d, p, "expected a map {kind, usd_per_hour, source, date, confidence}"); return; }
    yaml_check_keys(d, p, keys);
    int kind = yaml_enum_opt(d, p, "kind", price_kind_names, PRICE_KIND_COUNT, -1);
    if (kind < 0) { if (!d->rc) yaml_error(d, p, "price without 'kind'"); return; }
    CatPrice *cp = &hw->price[kind];
    if (cp->present) { yaml_error(d, yaml_get(p, "kind"), "price kind '%s' given twice", price_kind_names[kind]); return; }
    cp->present = true;
    cp->usd_per_hour = yaml_f64_req(d, p, "usd_per_hour", 1e-6, 1e4);
    cp->source = yaml_str_req(d, p, "source");
    cp->date = yaml_str_req(d, p, "date");
    if (!d->rc && !valid_date(cp->date)) yaml_error(d, yaml_get(p, "date"), "expected a date YYYY-MM-DD, got '%s'", cp->date);
    int tag = yaml_enum_opt(d, p, "confidence", confidence_tags, (int)ARRAY_LEN(confidence_tags), -1);
    if (tag < 0) { if (!d->rc) yaml_error(d, p, "price without 'confidence' (V, D, 3P, R or est)"); return; }
    cp->confidence = confidence_tags[tag];
    cp->provider = yaml_str_opt(d, p, "provider", NULL);
    cp->line = p->line;
    cp->region = yaml_str_opt(d, p, "region", NULL);
}

static void load_instance(YamlDoc *d, const YamlNode *p, CatHardware *hw) {
    static const char *const keys[] = {"name", "devices", "provider", "region", "on_demand", "source", "date",
                                       "confidence", NULL};
    if (p->kind != YAML_MAP) { yaml_error(d, p, "expected {name, devices, provider, region, on_demand, source, date, confidence}"); return; }
    if (hw->n_inst == CAT_MAX_INSTANCES) { yaml_error(d, p, "at most %d instances per device", CAT_MAX_INSTANCES); return; }
    yaml_check_keys(d, p, keys);
    CatInstance *in = &hw->inst[hw->n_inst++];
    in->name = yaml_str_req(d, p, "name");
    in->devices = (int)yaml_i64_req(d, p, "devices", 1, 64);
    in->provider = yaml_str_req(d, p, "provider");
    in->region = yaml_str_opt(d, p, "region", NULL);
    in->usd_per_hour = yaml_f64_req(d, p, "on_demand", 1e-6, 1e5);
    in->source = yaml_str_req(d, p, "source");
    in->date = yaml_str_req(d, p, "date");
    if (!d->rc && !valid_date(in->date)) yaml_error(d, yaml_get(p, "date"), "expected a date YYYY-MM-DD, got '%s'", in->date);
    int tag = yaml_enum_opt(d, p, "confidence", confidence_tags, (int)ARRAY_LEN(confidence_tags), -1);
    if (tag < 0) { if (!d->rc) yaml_error(d, p, "instance without 'confidence' (V, D, 3P, R or est)"); return; }
    in->confidence = confidence_tags[tag];
    in->line = p->line;
}

static void load_hw(YamlDoc *d, const YamlNode *n, CatHardware *hw) {
    static const char *const keys[] = {"id", "name", "class", "tflops", "memory_gb", "memory_bw_gbs",
        "interconnect_gbs", "link", "max_devices", "quantizations", "derate", "startup_s",
        "spot_interruptions_per_day", "spec_source", "prices", "instances", NULL};
    if (n->kind != YAML_MAP) { yaml_error(d, n, "expected a map describing one device"); return; }
    yaml_check_keys(d, n, keys);
    hw->id = yaml_str_req(d, n, "id");
    hw->name = yaml_str_opt(d, n, "name", hw->id);
    hw->spec_source = yaml_str_req(d, n, "spec_source");
    hw->cls = (HwClass)yaml_enum_opt(d, n, "class", hw_class_names, HW_CLASS_COUNT, HW_GPU);
    const YamlNode *tf = yaml_map_req(d, n, "tflops");
    static const char *const tkeys[] = {"bf16", "fp8", "int8", NULL};
    yaml_check_keys(d, tf, tkeys);
    hw->tflops_bf16 = yaml_f64_req(d, tf, "bf16", 0.01, 1e5);
    hw->tflops_fp8 = yaml_f64_opt(d, tf, "fp8", 0, 0, 1e5);
    hw->tflops_int8 = yaml_f64_opt(d, tf, "int8", 0, 0, 1e5);
    hw->memory_gb = yaml_f64_req(d, n, "memory_gb", 0.1, 1e5);
    hw->memory_bw_gbs = yaml_f64_req(d, n, "memory_bw_gbs", 0.1, 1e6);
    hw->interconnect_gbs = yaml_f64_req(d, n, "interconnect_gbs", 0.01, 1e6);
    hw->link = (LinkKind)yaml_enum_opt(d, n, "link", link_kind_names, LINK_COUNT,
                                       hw->interconnect_gbs >= 100 ? LINK_NVLINK : LINK_PCIE);
    hw->max_devices = (int)yaml_i64_req(d, n, "max_devices", 1, 64);
    const YamlNode *qs = yaml_seq_opt(d, n, "quantizations");
    if (!qs && !d->rc) yaml_error(d, n, "missing 'quantizations' (a list such as [bf16, int8])");
    for (int64_t i = 0; qs && i < qs->n && !d->rc; i++) {
        const YamlNode *q = qs->vals[i];
        int k = -1;
        for (int j = 0; j < QUANT_COUNT && q->kind == YAML_SCALAR; j++)
            if (!strcmp(q->str, plan_quant_names[j])) k = j;
        if (k < 0) { yaml_error(d, q, "expected one of: bf16, fp8, int8, int4"); break; }
        hw->quant_ok[k] = true;
    }
    if (!d->rc && hw->quant_ok[QUANT_FP8] && hw->tflops_fp8 <= 0)
        yaml_error(d, qs, "lists fp8 but tflops has no fp8 figure");
    const YamlNode *dr = yaml_map_req(d, n, "derate");
    static const char *const dkeys[] = {"compute", "bandwidth", "step_overhead_us", NULL};
    yaml_check_keys(d, dr, dkeys);
    hw->derate_compute = yaml_f64_req(d, dr, "compute", 0.01, 1.0);
    hw->derate_bandwidth = yaml_f64_req(d, dr, "bandwidth", 0.01, 1.0);
    hw->step_overhead_us = yaml_f64_req(d, dr, "step_overhead_us", 0, 1e6);
    hw->startup_s = yaml_f64_req(d, n, "startup_s", 0, 86400);
    hw->spot_interruptions_per_day = yaml_f64_opt(d, n, "spot_interruptions_per_day", 0.5, 0, 1000);
    const YamlNode *ps = yaml_seq_opt(d, n, "prices");
    if (!ps && !d->rc) yaml_error(d, n, "missing 'prices' (a list of {kind, usd_per_hour, source, date, confidence})");
    for (int64_t i = 0; ps && i < ps->n && !d->rc; i++) load_price(d, ps->vals[i], hw);
    if (!d->rc && !hw->price[PRICE_ON_DEMAND].present) yaml_error(d, ps, "an on_demand price is required");
    const YamlNode *is = yaml_seq_opt(d, n, "instances");
    for (int64_t i = 0; is && i < is->n && !d->rc; i++) load_instance(d, is->vals[i], hw);
}

// `measured: FILE` (relative to the catalog file's folder): a `rightsize eval --out` results
// file whose `quality` (a fraction in [0, 1]) replaces the entry's quality, as percent.
static void load_measured(YamlDoc *d, const YamlNode *at, const char *file, CatModelQuant *mq) {
    char path[1024];
    const char *slash = strrchr(d->file, '/');
    if (file[0] == '/' || !slash) snprintf(path, sizeof path, "%s", file);
    else snprintf(path, sizeof path, "%.*s/%s", (int)(slash - d->file), d->file, file);
    YamlDoc r;
    char err[512];
    if (yaml_load_file(&r, path, err, sizeof err)) {
        yaml_error(d, at, "measured results: %s", err);
        yaml_doc_free(&r);
        return;
    }
    const YamlNode *qn = yaml_get(r.root, "quality");
    const char *date = yaml_str_opt(&r, r.root, "date", NULL), *ds = yaml_str_opt(&r, r.root, "dataset", NULL);
    double v = qn ? yaml_node_f64(&r, qn, 0, 1) : -1;
    if (r.rc || v < 0 || !date || !ds || !valid_date(date))
        yaml_error(d, at, "measured results '%s' need quality (0..1), date (YYYY-MM-DD) and dataset (write them with "
                   "rightsize eval --out)", path);
    else {
        mq->measured = true;
        mq->quality = 100.0 * v;
        snprintf(mq->measured_date, sizeof mq->measured_date, "%s", date);
        snprintf(mq->measured_dataset, sizeof mq->measured_dataset, "%s", ds);
    }
    yaml_doc_free(&r);
}

static void load_model(YamlDoc *d, const YamlNode *n, CatModel *m) {
    static const char *const keys[] = {"id", "name", "kind", "params_b", "layers", "hidden", "heads",
        "kv_heads", "head_dim", "ffn", "vocab", "context", "student", "source", "quant", NULL};
    static const char *const kinds[] = {"decoder", "encoder"};
    if (n->kind != YAML_MAP) { yaml_error(d, n, "expected a map describing one model"); return; }
    yaml_check_keys(d, n, keys);
    m->id = yaml_str_req(d, n, "id");
    m->name = yaml_str_opt(d, n, "name", m->id);
    m->source = yaml_str_req(d, n, "source");
    m->encoder = yaml_enum_opt(d, n, "kind", kinds, 2, 0) == 1;
    m->student = yaml_bool_opt(d, n, "student", false);
    m->params_b = yaml_f64_req(d, n, "params_b", 1e-4, 1e4);
    m->layers = yaml_i64_req(d, n, "layers", 1, 1000);
    m->hidden = yaml_i64_req(d, n, "hidden", 1, 1 << 20);
    m->heads = yaml_i64_req(d, n, "heads", 1, 1024);
    m->kv_heads = yaml_i64_req(d, n, "kv_heads", 1, 1024);
    m->head_dim = yaml_i64_req(d, n, "head_dim", 1, 4096);
    m->ffn = yaml_i64_req(d, n, "ffn", 1, 1 << 22);
    m->vocab = yaml_i64_req(d, n, "vocab", 1, 1 << 24);
    m->context = yaml_i64_req(d, n, "context", 16, 1 << 24);
    if (!d->rc && m->heads % m->kv_heads)
        yaml_error(d, yaml_get(n, "kv_heads"), "heads (%lld) must be a multiple of kv_heads (%lld)",
                   (long long)m->heads, (long long)m->kv_heads);
    const YamlNode *qs = yaml_seq_opt(d, n, "quant");
    if (!qs && !d->rc) yaml_error(d, n, "missing 'quant' (a list of {name, bytes_per_weight, quality})");
    static const char *const qkeys[] = {"name", "bytes_per_weight", "quality", "measured", NULL};
    for (int64_t i = 0; qs && i < qs->n && !d->rc; i++) {
        const YamlNode *q = qs->vals[i];
        if (q->kind != YAML_MAP) { yaml_error(d, q, "expected {name, bytes_per_weight, quality}"); break; }
        yaml_check_keys(d, q, qkeys);
        int k = yaml_enum_opt(d, q, "name", plan_quant_names, QUANT_COUNT, -1);
        if (k < 0) { if (!d->rc) yaml_error(d, q, "quant entry without 'name'"); break; }
        m->quant[k].present = true;
        m->quant[k].bytes_per_weight = yaml_f64_req(d, q, "bytes_per_weight", 0.1, 8);
        m->quant[k].quality = yaml_f64_opt(d, q, "quality", 0, 0, 1e6);
        const char *mf = yaml_str_opt(d, q, "measured", NULL);
        if (mf && !d->rc) load_measured(d, yaml_get(q, "measured"), mf, &m->quant[k]);
    }
    if (!d->rc && !m->quant[QUANT_BF16].present) yaml_error(d, qs, "a bf16 entry is required");
}

// Loads one list-of-maps file; fills *items (calloc'ed, n elements of size sz) via fn.
typedef void (*LoadFn)(YamlDoc *d, const YamlNode *n, void *item);
static void load_hw_fn(YamlDoc *d, const YamlNode *n, void *item) { load_hw(d, n, item); }
static void load_model_fn(YamlDoc *d, const YamlNode *n, void *item) { load_model(d, n, item); }

static int load_list(YamlDoc *d, const char *dir, const char *file, const char *list_key,
                     LoadFn fn, size_t sz, void **items, int64_t *n, char *err, size_t err_len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int rc = yaml_load_file(d, path, err, err_len);
    if (rc) return rc;
    if (!d->root || d->root->kind != YAML_MAP) {
        yaml_error(d, NULL, "expected a map with a '%s' list at the top", list_key);
        goto done;
    }
    const YamlNode *list = yaml_seq_opt(d, d->root, list_key);
    if (!list && !d->rc) yaml_error(d, d->root, "missing '%s' list", list_key);
    if (d->rc) goto done;
    *items = calloc((size_t)(list->n ? list->n : 1), sz);
    if (!*items) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    *n = list->n;
    for (int64_t i = 0; i < list->n && !d->rc; i++) fn(d, list->vals[i], (char *)*items + (size_t)i * sz);
    // Ids must be unique: the id is what workloads and plans refer to.
    for (int64_t i = 0; i < list->n && !d->rc; i++)
        for (int64_t j = 0; j < i && !d->rc; j++) {
            const char *a = *(const char **)((char *)*items + (size_t)i * sz);
            const char *b = *(const char **)((char *)*items + (size_t)j * sz);
            if (!strcmp(a, b)) yaml_error(d, yaml_get(list->vals[i], "id"), "duplicate id '%s'", a);
        }
done:
    if (d->rc) snprintf(err, err_len, "%s", d->err);
    return d->rc;
}

// ---- price sanity ----

static void warn(Catalog *cat, const char *path, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void warn(Catalog *cat, const char *path, int line, const char *fmt, ...) {
    if (cat->n_warnings >= (int)ARRAY_LEN(cat->warnings)) return;
    char *w = cat->warnings[cat->n_warnings++];
    int k = snprintf(w, sizeof cat->warnings[0], "%s:%d: ", path, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w + k, sizeof cat->warnings[0] - (size_t)k, fmt, ap);
    va_end(ap);
}

// Prices of one device must be comparable: a commitment cheaper than on-demand from the same
// provider, a 3-year rate at most the 1-year one, spot below on-demand and from the same provider
// (mixing one marketplace's spot with another's on-demand overstates the saving).
static void check_prices(Catalog *cat, const char *path) {
    for (int64_t i = 0; i < cat->n_hw; i++) {
        const CatHardware *hw = &cat->hw[i];
        const CatPrice *od = &hw->price[PRICE_ON_DEMAND];
        for (int k = 0; k < PRICE_KIND_COUNT; k++) {
            const CatPrice *p = &hw->price[k];
            if (!p->present) continue;
            if (!p->provider) { warn(cat, path, p->line, "%s %s price has no provider", hw->id, price_kind_names[k]); continue; }
            if (k == PRICE_ON_DEMAND || !od->provider) continue;
            if (strcmp(p->provider, od->provider))
                warn(cat, path, p->line, "%s %s price is from %s but on_demand is from %s: not comparable", hw->id,
                     price_kind_names[k], p->provider, od->provider);
            if (p->usd_per_hour > od->usd_per_hour)
                warn(cat, path, p->line, "%s %s $%.3f/h is above on_demand $%.3f/h", hw->id, price_kind_names[k],
                     p->usd_per_hour, od->usd_per_hour);
        }
        for (int j = 0; j < hw->n_inst; j++)
            if (od->provider && strcmp(hw->inst[j].provider, od->provider))
                warn(cat, path, hw->inst[j].line, "%s instance %s is from %s but on_demand is from %s: not used", hw->id,
                     hw->inst[j].name, hw->inst[j].provider, od->provider);
        const CatPrice *r1 = &hw->price[PRICE_RESERVED_1Y], *r3 = &hw->price[PRICE_RESERVED_3Y];
        if (r1->present && r3->present && r3->usd_per_hour > r1->usd_per_hour)
            warn(cat, path, r3->line, "%s reserved_3y $%.3f/h is above reserved_1y $%.3f/h", hw->id, r3->usd_per_hour,
                 r1->usd_per_hour);
    }
}

// ---- serving stacks ----

// The reference stack: what hardware.yaml's derates describe (a vLLM-class engine, bf16 KV
// unless the weights are fp8, gpu_memory_utilization 0.90 of total). Used when a catalog has no
// stacks.yaml and by tests.
static const CatStack reference_stack = {
    .id = "reference", .name = "reference engine (hardware.yaml derates)", .runs_on = {"gpu", "asic", "cpu"},
    .n_runs_on = 3, .kv_ok = {[KV_BF16] = true, [KV_FP8] = true}, .kv_auto = true,
    .mem_rule = MEMRULE_UTIL_OF_TOTAL, .mem_fraction = 0.90, .logits_buffer = true,
    .max_num_seqs = 256, .max_num_batched_tokens = 2048, .block_tokens = 16,
    .eff_prefill = 1.0, .eff_decode = 1.0, .eff_overhead = 1.0, .allreduce_alpha_us = 8.0,
    .allreduce_eff = {[LINK_NVLINK] = 1.0, [LINK_PCIE] = 1.0, [LINK_FABRIC] = 1.0},
    .memory_source = "built in", .scheduler_source = "built in", .efficiency_source = "built in",
};

const CatStack *cat_stack_reference(void) { return &reference_stack; }

static void load_stack(YamlDoc *d, const YamlNode *n, CatStack *s) {
    static const char *const keys[] = {"id", "name", "runs_on", "kv_dtypes", "kv_dtype", "memory", "scheduler",
                                       "efficiency", NULL};
    if (n->kind != YAML_MAP) { yaml_error(d, n, "expected a map describing one serving stack"); return; }
    yaml_check_keys(d, n, keys);
    s->id = yaml_str_req(d, n, "id");
    s->name = yaml_str_opt(d, n, "name", s->id);
    const YamlNode *ro = yaml_seq_opt(d, n, "runs_on");
    if (!ro && !d->rc) yaml_error(d, n, "missing 'runs_on' (hardware ids or classes: gpu, asic, cpu)");
    for (int64_t i = 0; ro && i < ro->n && !d->rc; i++) {
        if (ro->vals[i]->kind != YAML_SCALAR || i >= CAT_STACK_MAX_RUNS_ON) {
            yaml_error(d, ro->vals[i], "expected a hardware id or class (at most %d)", CAT_STACK_MAX_RUNS_ON);
            break;
        }
        s->runs_on[s->n_runs_on++] = ro->vals[i]->str;
    }
    const YamlNode *kd = yaml_seq_opt(d, n, "kv_dtypes");
    if (!kd && !d->rc) yaml_error(d, n, "missing 'kv_dtypes' (a list such as [bf16, fp8])");
    for (int64_t i = 0; kd && i < kd->n && !d->rc; i++) {
        int k = -1;
        for (int j = 0; j < KV_DTYPE_COUNT && kd->vals[i]->kind == YAML_SCALAR; j++)
            if (!strcmp(kd->vals[i]->str, kv_dtype_names[j])) k = j;
        if (k < 0) { yaml_error(d, kd->vals[i], "expected one of: bf16, fp8"); break; }
        s->kv_ok[k] = true;
    }
    static const char *const kv_choice[] = {"bf16", "fp8", "auto"};
    int kc = yaml_enum_opt(d, n, "kv_dtype", kv_choice, 3, 2);
    s->kv_auto = kc == 2;
    s->kv_default = kc == 1 ? KV_FP8 : KV_BF16;
    if (!d->rc && !s->kv_auto && !s->kv_ok[s->kv_default])
        yaml_error(d, yaml_get(n, "kv_dtype"), "kv_dtype '%s' is not in kv_dtypes", kv_choice[kc]);
    const YamlNode *me = yaml_map_req(d, n, "memory");
    static const char *const mkeys[] = {"rule", "fraction", "logits_buffer", "source", NULL};
    yaml_check_keys(d, me, mkeys);
    s->mem_rule = (MemRule)yaml_enum_opt(d, me, "rule", mem_rule_names, MEMRULE_COUNT, -1);
    if (!d->rc && (int)s->mem_rule < 0) yaml_error(d, me, "missing 'rule' (util_of_total or fraction_of_free)");
    s->mem_fraction = yaml_f64_req(d, me, "fraction", 0.05, 1.0);
    s->logits_buffer = yaml_bool_opt(d, me, "logits_buffer", false);
    s->memory_source = yaml_str_req(d, me, "source");
    const YamlNode *sc = yaml_map_req(d, n, "scheduler");
    static const char *const skeys[] = {"max_num_seqs", "max_num_batched_tokens", "block_tokens", "chunked_prefill",
                                        "source", NULL};
    yaml_check_keys(d, sc, skeys);
    s->max_num_seqs = yaml_i64_req(d, sc, "max_num_seqs", 1, 1 << 20);
    s->max_num_batched_tokens = yaml_i64_req(d, sc, "max_num_batched_tokens", 1, 1 << 24);
    s->block_tokens = yaml_i64_opt(d, sc, "block_tokens", 16, 1, 1 << 16);
    s->whole_prompts = !yaml_bool_opt(d, sc, "chunked_prefill", true);
    s->scheduler_source = yaml_str_req(d, sc, "source");
    const YamlNode *ef = yaml_map_req(d, n, "efficiency");
    static const char *const ekeys[] = {"prefill_compute", "decode_bandwidth", "step_overhead", "allreduce_alpha_us",
                                        "allreduce_nvlink", "allreduce_pcie", "allreduce_fabric", "source", NULL};
    yaml_check_keys(d, ef, ekeys);
    s->eff_prefill = yaml_f64_req(d, ef, "prefill_compute", 0.05, 5.0);
    s->eff_decode = yaml_f64_req(d, ef, "decode_bandwidth", 0.05, 5.0);
    s->eff_overhead = yaml_f64_req(d, ef, "step_overhead", 0.0, 20.0);
    s->allreduce_alpha_us = yaml_f64_req(d, ef, "allreduce_alpha_us", 0.0, 1e4);
    s->allreduce_eff[LINK_NVLINK] = yaml_f64_req(d, ef, "allreduce_nvlink", 0.01, 1.0);
    s->allreduce_eff[LINK_PCIE] = yaml_f64_req(d, ef, "allreduce_pcie", 0.01, 1.0);
    s->allreduce_eff[LINK_FABRIC] = yaml_f64_req(d, ef, "allreduce_fabric", 0.01, 1.0);
    s->efficiency_source = yaml_str_req(d, ef, "source");
}

static void load_stack_fn(YamlDoc *d, const YamlNode *n, void *item) { load_stack(d, n, item); }

static int load_stacks(Catalog *cat, const char *dir, char *err, size_t err_len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/stacks.yaml", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;   // optional: the reference stack serves every candidate
    fclose(f);
    int rc = load_list(&cat->stack_doc, dir, "stacks.yaml", "stacks", load_stack_fn, sizeof(CatStack),
                       (void **)&cat->stacks, &cat->n_stacks, err, err_len);
    if (rc) return rc;
    // A runs_on entry that names neither a class nor a catalog hardware id is a typo or a device
    // this catalog leaves out: warn (a trimmed hardware.yaml must still load).
    YamlDoc *d = &cat->stack_doc;
    const YamlNode *list = yaml_get(d->root, "stacks");
    for (int64_t i = 0; i < cat->n_stacks; i++)
        for (int j = 0; j < cat->stacks[i].n_runs_on; j++) {
            const char *r = cat->stacks[i].runs_on[j];
            bool ok = catalog_hw(cat, r) != NULL;
            for (int k = 0; k < HW_CLASS_COUNT; k++) ok |= !strcmp(r, hw_class_names[k]);
            if (!ok)
                warn(cat, path, yaml_get(list->vals[i], "runs_on")->vals[j]->line,
                     "stack %s runs_on '%s': neither a hardware id in hardware.yaml nor a class (gpu, asic, cpu)",
                     cat->stacks[i].id, r);
        }
    return 0;
}

const CatStack *catalog_stack(const Catalog *cat, const char *id) {
    for (int64_t i = 0; i < cat->n_stacks; i++)
        if (!strcmp(cat->stacks[i].id, id)) return &cat->stacks[i];
    if (!strcmp(id, reference_stack.id)) return &reference_stack;
    return NULL;
}

bool cat_stack_runs_on(const CatStack *s, const CatHardware *hw) {
    for (int i = 0; i < s->n_runs_on; i++)
        if (!strcmp(s->runs_on[i], hw->id) || !strcmp(s->runs_on[i], hw_class_names[hw->cls])) return true;
    return false;
}

KvDtype cat_stack_kv_dtype(const CatStack *s, const CatHardware *hw, PlanQuant q) {
    bool fp8_ok = s->kv_ok[KV_FP8] && hw->quant_ok[QUANT_FP8];
    if (s->kv_auto) return q == QUANT_FP8 && fp8_ok ? KV_FP8 : KV_BF16;
    return s->kv_default == KV_FP8 && fp8_ok ? KV_FP8 : KV_BF16;
}

int catalog_load(Catalog *cat, const char *dir, char *err, size_t err_len) {
    *cat = (Catalog){0};
    int rc = load_list(&cat->hw_doc, dir, "hardware.yaml", "hardware", load_hw_fn, sizeof(CatHardware),
                       (void **)&cat->hw, &cat->n_hw, err, err_len);
    if (rc) goto fail;
    rc = load_list(&cat->model_doc, dir, "models.yaml", "models", load_model_fn, sizeof(CatModel),
                   (void **)&cat->models, &cat->n_models, err, err_len);
    if (rc) goto fail;
    cat->quality_metric = yaml_str_opt(&cat->model_doc, cat->model_doc.root, "quality_metric", "quality");
    rc = load_stacks(cat, dir, err, err_len);
    if (rc) goto fail;
    for (int64_t i = 0; i < cat->n_hw; i++) cat->hw[i].published_points = -1;
    char path[1024];
    snprintf(path, sizeof path, "%s/hardware.yaml", dir);
    check_prices(cat, path);
    return 0;
fail:
    catalog_free(cat);
    return rc;
}

#ifndef RS_DATADIR
#define RS_DATADIR "/usr/local/share/rightsize"
#endif

static bool has_hardware_yaml(const char *dir) {
    char path[1200];
    int n = snprintf(path, sizeof path, "%s/hardware.yaml", dir);
    if (n < 0 || (size_t)n >= sizeof path) return false;
    FILE *f = fopen(path, "r");
    if (f) fclose(f);
    return f != NULL;
}

int catalog_find_dir(char *buf, size_t len, char *err, size_t err_len) {
    char cand[4][1024] = {{0}};
    const char *env = getenv("RIGHTSIZE_DATA");
    if (env && *env) snprintf(cand[0], sizeof cand[0], "%s/catalog", env);
    snprintf(cand[1], sizeof cand[1], "data/catalog");
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(cand[2], sizeof cand[2], "%s/../share/rightsize/catalog", exe);
    }
    snprintf(cand[3], sizeof cand[3], "%s/catalog", RS_DATADIR);
    for (int i = 0; i < 4; i++)
        if (cand[i][0] && has_hardware_yaml(cand[i])) { snprintf(buf, len, "%s", cand[i]); return 0; }
    return err_set(err, err_len, ERR_NOTFOUND,
                   "no catalog found (tried $RIGHTSIZE_DATA/catalog%s%s, ./data/catalog, %s, %s); give --catalog DIR or set "
                   "RIGHTSIZE_DATA to the folder holding catalog/", env ? "=" : "", env ? cand[0] : "", cand[2], cand[3]);
}

void catalog_free(Catalog *cat) {
    if (!cat) return;
    free(cat->hw);
    free(cat->models);
    free(cat->stacks);
    yaml_doc_free(&cat->hw_doc);
    yaml_doc_free(&cat->model_doc);
    yaml_doc_free(&cat->stack_doc);
    *cat = (Catalog){0};
}

const CatHardware *catalog_hw(const Catalog *cat, const char *id) {
    for (int64_t i = 0; i < cat->n_hw; i++)
        if (!strcmp(cat->hw[i].id, id)) return &cat->hw[i];
    return NULL;
}

const CatModel *catalog_model(const Catalog *cat, const char *id) {
    for (int64_t i = 0; i < cat->n_models; i++)
        if (!strcmp(cat->models[i].id, id)) return &cat->models[i];
    return NULL;
}

double cat_replica_usd_per_hour(const CatHardware *hw, int devices, PriceKind k, const CatInstance **used) {
    const CatPrice *od = &hw->price[PRICE_ON_DEMAND];
    const CatPrice *pk = hw->price[k].present ? &hw->price[k] : od;
    double ratio = pk->usd_per_hour / od->usd_per_hour;   // the device's discount at this kind
    const CatInstance *best = NULL;
    double best_usd = 0;
    for (int i = 0; i < hw->n_inst; i++) {
        const CatInstance *in = &hw->inst[i];
        if (in->devices % devices || (od->provider && strcmp(in->provider, od->provider))) continue;
        double usd = in->usd_per_hour * devices / in->devices;
        if (!best || usd < best_usd) { best = in; best_usd = usd; }
    }
    if (used) *used = best;
    return best ? best_usd * ratio : pk->usd_per_hour * devices;
}

double cat_peak_flops(const CatHardware *hw, PlanQuant q) {
    double tf = hw->tflops_bf16;
    if (q == QUANT_FP8 && hw->tflops_fp8 > 0) tf = hw->tflops_fp8;
    if (q == QUANT_INT8 && hw->tflops_int8 > 0) tf = hw->tflops_int8;
    return tf * 1e12;
}

double cat_weight_bytes(const CatModel *m, PlanQuant q) {
    CHECK(m->quant[q].present);
    return m->params_b * 1e9 * m->quant[q].bytes_per_weight;
}

double cat_kv_bytes_per_token(const CatModel *m, KvDtype kv) {
    static const double elem_bytes[KV_DTYPE_COUNT] = {[KV_BF16] = 2.0, [KV_FP8] = 1.0};
    if (m->encoder) return 0;
    return 2.0 * (double)m->layers * (double)m->kv_heads * (double)m->head_dim * elem_bytes[kv];
}
