#include "plan/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

const char *const price_kind_names[PRICE_KIND_COUNT] = {
    [PRICE_ON_DEMAND] = "on_demand", [PRICE_RESERVED_1Y] = "reserved_1y",
    [PRICE_RESERVED_3Y] = "reserved_3y", [PRICE_SPOT] = "spot",
};
const char *const plan_quant_names[QUANT_COUNT] = {
    [QUANT_BF16] = "bf16", [QUANT_FP8] = "fp8", [QUANT_INT8] = "int8", [QUANT_INT4] = "int4",
};
const char *const hw_class_names[HW_CLASS_COUNT] = {[HW_GPU] = "gpu", [HW_ASIC] = "asic", [HW_CPU] = "cpu"};

static const char *const confidence_tags[] = {"V", "D", "3P", "R", "est"};

// A date must read YYYY-MM-DD with a plausible month and day.
static bool valid_date(const char *s) {
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return false;
    return y >= 2000 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static void load_price(YamlDoc *d, const YamlNode *p, CatHardware *hw) {
    static const char *const keys[] = {"kind", "usd_per_hour", "source", "date", "confidence", NULL};
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
}

static void load_hw(YamlDoc *d, const YamlNode *n, CatHardware *hw) {
    static const char *const keys[] = {"id", "name", "class", "tflops", "memory_gb", "memory_bw_gbs",
        "interconnect_gbs", "max_devices", "quantizations", "derate", "startup_s",
        "spot_interruptions_per_day", "spec_source", "prices", NULL};
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

int catalog_load(Catalog *cat, const char *dir, char *err, size_t err_len) {
    *cat = (Catalog){0};
    int rc = load_list(&cat->hw_doc, dir, "hardware.yaml", "hardware", load_hw_fn, sizeof(CatHardware),
                       (void **)&cat->hw, &cat->n_hw, err, err_len);
    if (rc) goto fail;
    rc = load_list(&cat->model_doc, dir, "models.yaml", "models", load_model_fn, sizeof(CatModel),
                   (void **)&cat->models, &cat->n_models, err, err_len);
    if (rc) goto fail;
    cat->quality_metric = yaml_str_opt(&cat->model_doc, cat->model_doc.root, "quality_metric", "quality");
    return 0;
fail:
    catalog_free(cat);
    return rc;
}

void catalog_free(Catalog *cat) {
    if (!cat) return;
    free(cat->hw);
    free(cat->models);
    yaml_doc_free(&cat->hw_doc);
    yaml_doc_free(&cat->model_doc);
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

double cat_kv_bytes_per_token(const CatModel *m) {
    if (m->encoder) return 0;
    return 2.0 * (double)m->layers * (double)m->kv_heads * (double)m->head_dim * 2.0;
}
