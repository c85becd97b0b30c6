// emit.h — what `rightsize plan --emit` and `--emit-k8s` write: the deployment that was simulated.
//
// The emitter prints the simulator's own configuration (the SimConfig that search_sim_config
// built for the chosen candidate, expected scenario) in the serve pipeline's words — it never
// recomputes a knob: per tier the replica bounds, the reserved floor and its price, the burst
// capacity (spot or on-demand) and its price, the autoscaler's target, delays, warm pool and
// schedule windows, the queue bound, the continuous-batching or dynamic-batching knobs — and,
// for tiers served by another engine, the command that starts that engine with the same knobs
// (vLLM on CUDA/ROCm/TPU/Gaudi/Neuron, TGI and TensorRT-LLM equivalents, TEI for embeddings).
// `--json` carries the same SimConfig (emit_sim_config_json) so tests compare the two.
#ifndef RS_PLAN_EMIT_H
#define RS_PLAN_EMIT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "plan/catalog.h"
#include "plan/search.h"
#include "plan/sim.h"
#include "plan/workload.h"

typedef enum {
    ENGINE_WORKER,       // rightsize worker (CPU, GGUF decoder): a local tier run by serve
    ENGINE_VLLM,         // vLLM on NVIDIA GPUs
    ENGINE_VLLM_ROCM,    // vLLM on AMD GPUs
    ENGINE_VLLM_NEURON,  // vLLM on AWS Inferentia2 / Trainium (Neuron)
    ENGINE_VLLM_TPU,     // vLLM on Google TPUs
    ENGINE_VLLM_GAUDI,   // vLLM on Intel Gaudi
    ENGINE_TEI,          // Hugging Face text-embeddings-inference (encoders)
    ENGINE_COUNT
} EmitEngine;

extern const char *const emit_engine_names[ENGINE_COUNT];

// The engine `plan --emit` launches for model m on hardware hw (encoders: TEI; CPU decoders: the
// worker; GPUs: vLLM, on ROCm for AMD; Inferentia2/Trainium: vLLM on Neuron; TPU, Gaudi: vLLM).
EmitEngine emit_engine_of(const CatHardware *hw, const CatModel *m);
// The stacks.yaml id of the serving stack engine e deploys (NULL for TEI). search_default_stack
// must pick that stack on every device, so a default plan predicts the engine it emits
// (tests/test_search.c checks every hardware of the catalog).
const char *emit_engine_stack(EmitEngine e);

#define EMIT_MAX_ARGS 48

// One tier of the emitted deployment, derived from the simulated SimTier.
typedef struct {
    const char *name;            // "main", or "student" / "teacher" in a cascade
    const CatHardware *hw;
    const CatModel *model;
    PlanQuant quant;
    int devices;                 // per replica
    int cores;                   // CPU hardware: cores per replica (engine threads), else 0
    const SimTier *sim;          // the simulated tier (owned by the EmitPlan's SimConfig)
    EmitEngine engine;
    const char *image;           // container image of the engine
    int port;                    // where the engine listens (local default URL)
    char repo[128];              // Hugging Face repository of the weights ("" when unknown)
    char gguf[160];              // GGUF file name of a worker tier's model
    int argc;                    // the engine's command line (argv[0] = program)
    const char *argv[EMIT_MAX_ARGS];
    char argbuf[2048];
    char alt[2][512];            // the same knobs for TGI and TensorRT-LLM (NVIDIA GPUs), else ""
    int burst_kind, reserved_kind;   // PriceKind of replicas above / inside the reserved floor
    double burst_usd_per_hour, reserved_usd_per_hour;
    double target_per_replica;   // autoscaler target; 0 when the tier is not autoscaled
} EmitTier;

typedef struct {
    const Catalog *cat;
    const Workload *wl;
    const Candidate *c;
    SimConfig cfg;               // what was simulated (expected scenario)
    EmitTier tier[2];
    int n_tiers;
    double request_timeout_s;    // twice the longest simulated request, at least 60 s
    double autoscale_interval_s;
    int64_t max_queue;
    const char *images[ENGINE_COUNT];   // overrides of the default images (NULL = default)
    uint64_t seed;               // the expected scenario's seed (0 until emit_plan_set_run)
    double horizon_s;            // the search's simulated horizon (0 until emit_plan_set_run)
} EmitPlan;

// Builds the plan of a simulated candidate; images (may be NULL) overrides engines' images.
// 0, or ERR_ARG with the reason in err.
int emit_plan_init(EmitPlan *p, const Catalog *cat, const Workload *wl, const Candidate *c,
                   const char *const images[ENGINE_COUNT], char *err, size_t err_len);
// Names the run the plan simulated (the search's seed and horizon): the emitted pipeline then
// carries `planner: {seed, horizon_s}` so `plan --pipeline` replays exactly that run.
void emit_plan_set_run(EmitPlan *p, uint64_t search_seed, double horizon_s);
// Parses `ENGINE=IMAGE` (plan --image) into images[engine]. 0 or ERR_ARG.
int emit_parse_image(const char *spec, const char *images[ENGINE_COUNT], char *err, size_t err_len);
// The serve pipeline config (docs/serve.md). Returns 0 or ERR_IO.
int emit_pipeline(FILE *f, const EmitPlan *p);
// The simulated configuration in JSON (docs/plan-json.md "simulated_config").
cJSON *emit_sim_config_json(const EmitPlan *p);
// Kubernetes manifests for the plan into dir (created if missing): one file per object kind
// group (emit_k8s.c). Returns 0 or a negative Err with one line in err.
int emit_k8s(const EmitPlan *p, const char *dir, char *err, size_t err_len);

#endif
