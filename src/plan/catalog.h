// catalog.h — the hardware and model catalog (data/catalog/{hardware,models}.yaml), validated.
//
// Every hardware entry has specs, derates and prices per pricing kind, each price with its source,
// date and confidence tag; every model has its shape and bytes-per-weight and quality per
// quantization. See the comments at the top of the two YAML files for units.
// Ownership: a Catalog owns its entries and their strings until catalog_free.
#ifndef RS_PLAN_CATALOG_H
#define RS_PLAN_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/yaml.h"

typedef enum { PRICE_ON_DEMAND, PRICE_RESERVED_1Y, PRICE_RESERVED_3Y, PRICE_SPOT, PRICE_KIND_COUNT } PriceKind;
typedef enum { QUANT_BF16, QUANT_FP8, QUANT_INT8, QUANT_INT4, QUANT_COUNT } PlanQuant;
typedef enum { HW_GPU, HW_ASIC, HW_CPU, HW_CLASS_COUNT } HwClass;

extern const char *const price_kind_names[PRICE_KIND_COUNT];   // "on_demand", ...
extern const char *const plan_quant_names[QUANT_COUNT];        // "bf16", "fp8", "int8", "int4"
extern const char *const hw_class_names[HW_CLASS_COUNT];       // "gpu", "asic", "cpu"

typedef struct {
    bool present;
    double usd_per_hour;       // per device-hour
    const char *source, *date, *confidence;
} CatPrice;

typedef struct {
    const char *id, *name, *spec_source;
    HwClass cls;
    double tflops_bf16, tflops_fp8, tflops_int8;   // dense peaks; 0 = not supported
    double memory_gb;          // per device, 10^9 bytes
    double memory_bw_gbs;      // per device, 10^9 bytes/s
    double interconnect_gbs;   // per device per direction
    int max_devices;           // largest tensor-parallel group on one node
    bool quant_ok[QUANT_COUNT];
    double derate_compute;     // achieved / peak FLOP/s in prefill
    double derate_bandwidth;   // achieved / peak bytes/s in decode
    double step_overhead_us;   // fixed cost per scheduler step
    double startup_s;          // new replica: boot + weights load
    double spot_interruptions_per_day;
    CatPrice price[PRICE_KIND_COUNT];
} CatHardware;

typedef struct {
    bool present;
    double bytes_per_weight;
    double quality;            // on the catalog's quality_metric
    // Set when the entry names a `rightsize eval --out` results file (`measured: FILE`): quality
    // is then 100 x that file's quality (a fraction), measured on measured_dataset.
    bool measured;
    char measured_date[16], measured_dataset[96];
} CatModelQuant;

typedef struct {
    const char *id, *name, *source;
    bool encoder;              // embeddings model: no KV cache, no decode
    bool student;              // small distilled model usable as a cascade's first tier
    double params_b;
    int64_t layers, hidden, heads, kv_heads, head_dim, ffn, vocab, context;
    CatModelQuant quant[QUANT_COUNT];
} CatModel;

typedef struct {
    YamlDoc hw_doc, model_doc;
    CatHardware *hw;
    int64_t n_hw;
    CatModel *models;
    int64_t n_models;
    const char *quality_metric;
} Catalog;

// Loads DIR/hardware.yaml and DIR/models.yaml. Returns 0 or a negative Err with a
// "FILE:LINE: key '...': ..." message in err.
int catalog_load(Catalog *cat, const char *dir, char *err, size_t err_len);
void catalog_free(Catalog *cat);
const CatHardware *catalog_hw(const Catalog *cat, const char *id);
const CatModel *catalog_model(const Catalog *cat, const char *id);

// Peak dense FLOP/s a quantization computes at on this hardware: fp8 and int8 use their own
// units when present (W8A8), int8 without them and int4 compute in bf16 (weight-only quant).
double cat_peak_flops(const CatHardware *hw, PlanQuant q);
// Weight bytes of the whole model at a quantization.
double cat_weight_bytes(const CatModel *m, PlanQuant q);
// KV-cache bytes per token for the whole model (K and V, every layer, bf16 cache).
double cat_kv_bytes_per_token(const CatModel *m);

#endif
