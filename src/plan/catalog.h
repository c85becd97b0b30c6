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
// Scale-up link a tensor-parallel all-reduce runs over: NVLink/xGMI-class switch, PCIe peer to
// peer, or a vendor fabric (NeuronLink, TPU ICI, Gaudi RoCE).
typedef enum { LINK_NVLINK, LINK_PCIE, LINK_FABRIC, LINK_COUNT } LinkKind;
typedef enum { KV_BF16, KV_FP8, KV_DTYPE_COUNT } KvDtype;
// How an engine sizes its KV pool (see CatStack).
typedef enum { MEMRULE_UTIL_OF_TOTAL, MEMRULE_FRACTION_OF_FREE, MEMRULE_COUNT } MemRule;

extern const char *const price_kind_names[PRICE_KIND_COUNT];   // "on_demand", ...
extern const char *const plan_quant_names[QUANT_COUNT];        // "bf16", "fp8", "int8", "int4"
extern const char *const hw_class_names[HW_CLASS_COUNT];       // "gpu", "asic", "cpu"
extern const char *const link_kind_names[LINK_COUNT];          // "nvlink", "pcie", "fabric"
extern const char *const kv_dtype_names[KV_DTYPE_COUNT];       // "bf16", "fp8"
extern const char *const mem_rule_names[MEMRULE_COUNT];        // "util_of_total", "fraction_of_free"

typedef struct {
    bool present;
    double usd_per_hour;       // per device-hour
    const char *source, *date, *confidence;
    const char *provider, *region;   // "aws", "us-east-1"; NULL when not given
    int line;                  // in hardware.yaml, for warnings
} CatPrice;

// A rentable instance SKU holding `devices` of one device type, at its own hourly price.
#define CAT_MAX_INSTANCES 8
typedef struct {
    const char *name;          // "g6e.12xlarge"
    int devices;               // 1..64 devices of this hardware
    double usd_per_hour;       // on-demand, whole instance
    const char *provider, *region, *source, *date, *confidence;
    int line;
} CatInstance;

typedef struct {
    const char *id, *name, *spec_source;
    HwClass cls;
    double tflops_bf16, tflops_fp8, tflops_int8;   // dense peaks; 0 = not supported
    double memory_gb;          // per device, 10^9 bytes
    double memory_bw_gbs;      // per device, 10^9 bytes/s
    double interconnect_gbs;   // per device per direction
    LinkKind link;             // what the all-reduce runs over (default: nvlink if >= 100 GB/s, else pcie)
    int max_devices;           // largest tensor-parallel group on one node
    bool quant_ok[QUANT_COUNT];
    double derate_compute;     // achieved / peak FLOP/s in prefill
    double derate_bandwidth;   // achieved / peak bytes/s in decode
    double step_overhead_us;   // fixed cost per scheduler step
    double startup_s;          // new replica: boot + weights load
    double spot_interruptions_per_day;
    CatPrice price[PRICE_KIND_COUNT];
    CatInstance inst[CAT_MAX_INSTANCES];
    int n_inst;
    // Published benchmark points for this device in the benchmarks file beside the catalog
    // (data/benchmarks/published.csv, what its derates were fitted or checked against); -1 when
    // that file was not read. catalog_load sets -1; benchfit.h's bench_count_points fills it, and
    // the held-out points' error with the catalog as loaded (ratios: exp |ln(predicted/published)|).
    int64_t published_points, published_heldout;
    double published_median_ratio, published_worst_ratio;
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

// A serving stack (data/catalog/stacks.yaml): the engine a replica runs, with what changes the
// arithmetic — KV dtype, how the KV pool is budgeted, scheduler defaults, and per-phase efficiency.
// Efficiencies for prefill compute, decode bandwidth and step overhead multiply the hardware's
// reference derates (1.0 = the reference engine the derates describe); all-reduce efficiencies are
// absolute fractions of the link's bandwidth. Every group names its source.
#define CAT_STACK_MAX_RUNS_ON 32
typedef struct {
    const char *id, *name;
    const char *runs_on[CAT_STACK_MAX_RUNS_ON];   // hardware ids or class names ("gpu")
    int n_runs_on;
    bool kv_ok[KV_DTYPE_COUNT];
    bool kv_auto;              // kv_dtype: auto = fp8 cache with fp8 weights, else bf16
    KvDtype kv_default;        // when not auto
    MemRule mem_rule;
    double mem_fraction;       // gpu_memory_utilization (of total) or free_gpu_memory_fraction (of free)
    bool logits_buffer;        // profiling run reserves max_num_seqs x vocab fp32 logits
    int64_t max_num_seqs, max_num_batched_tokens, block_tokens;
    bool whole_prompts;        // scheduler chunked_prefill: false — a prompt is admitted only whole, in one
                               // step (vLLM on Neuron); else prefills are split across steps in the budget
    double eff_prefill, eff_decode, eff_overhead;          // x hardware derate_compute/_bandwidth/step_overhead
    double allreduce_alpha_us, allreduce_eff[LINK_COUNT];  // per all-reduce latency; achieved link fraction
    const char *memory_source, *scheduler_source, *efficiency_source;
} CatStack;

typedef struct {
    YamlDoc hw_doc, model_doc, stack_doc;
    CatHardware *hw;
    int64_t n_hw;
    CatModel *models;
    int64_t n_models;
    CatStack *stacks;
    int64_t n_stacks;
    const char *quality_metric;
    // Price sanity warnings found at load ("hardware.yaml:LINE: ..."), for the CLI to print.
    char warnings[32][256];
    int n_warnings;
} Catalog;

// Loads DIR/hardware.yaml, DIR/models.yaml and DIR/stacks.yaml (optional: without it every
// candidate runs the reference stack, cat_stack_reference). Returns 0 or a negative Err with a
// "FILE:LINE: key '...': ..." message in err.
int catalog_load(Catalog *cat, const char *dir, char *err, size_t err_len);
void catalog_free(Catalog *cat);
// The catalog directory a command uses when none is given, first that holds hardware.yaml of:
// $RIGHTSIZE_DATA/catalog, ./data/catalog (a source tree), <binary's dir>/../share/rightsize/catalog
// (an install, as `make install` lays it out), RS_DATADIR/catalog (the PREFIX compiled in).
// Writes it into buf; returns 0, or ERR_NOTFOUND with every place tried in err.
int catalog_find_dir(char *buf, size_t len, char *err, size_t err_len);
const CatHardware *catalog_hw(const Catalog *cat, const char *id);
const CatModel *catalog_model(const Catalog *cat, const char *id);
const CatStack *catalog_stack(const Catalog *cat, const char *id);
// The stack every figure in hardware.yaml describes (efficiencies 1.0, vLLM-style budgeting).
const CatStack *cat_stack_reference(void);
// True when stack s runs on hw (its runs_on names the hardware id or its class).
bool cat_stack_runs_on(const CatStack *s, const CatHardware *hw);
// The KV-cache dtype a stack uses for weights at quantization q on hw.
KvDtype cat_stack_kv_dtype(const CatStack *s, const CatHardware *hw, PlanQuant q);

// What one replica of `devices` devices costs per hour at price kind k. With instance SKUs from
// the on-demand price's provider: the cheapest SKU holding a multiple of `devices` devices,
// sharing it among devices-sized replicas (price × devices / instance devices); reserved and spot
// apply the device's discount ratio (k / on_demand) to the SKU's on-demand rate. Without SKUs:
// devices × the per-device price. *used (may be NULL) gets the SKU or NULL.
double cat_replica_usd_per_hour(const CatHardware *hw, int devices, PriceKind k, const CatInstance **used);

// Peak dense FLOP/s a quantization computes at on this hardware: fp8 and int8 use their own
// units when present (W8A8), int8 without them and int4 compute in bf16 (weight-only quant).
double cat_peak_flops(const CatHardware *hw, PlanQuant q);
// Weight bytes of the whole model at a quantization.
double cat_weight_bytes(const CatModel *m, PlanQuant q);
// KV-cache bytes per token for the whole model (K and V, every layer) in a cache of dtype kv.
double cat_kv_bytes_per_token(const CatModel *m, KvDtype kv);

#endif
