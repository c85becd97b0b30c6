// pipeline.h — the `serve` pipeline config (DESIGN.md §4): tiers, routes, canaries, autoscaling,
// limits. pipeline_load reads and validates the whole file before anything starts; every error
// names the file, the line and the key ("p.yaml:14: key 'routes[1].cascade.then': unknown tier
// 'teachr' (tiers: student, teacher)"). The result is a plain value (fixed arrays, copied
// strings): it owns nothing and may be copied or freed with free().
#ifndef RS_PIPELINE_H
#define RS_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/autoscale.h"
#include "policy/batcher.h"
#include "policy/canary.h"
#include "policy/router.h"
#include "serve/listen_addr.h"

#define PIPE_MAX_TIERS 16
#define PIPE_MAX_ROUTES 32
#define PIPE_MAX_CANARIES 8
#define PIPE_MAX_REPLICAS 128   // per tier (the planner sizes tiers up to ~100 replicas)
#define PIPE_MAX_MODELS 64      // public model names (`models:`)
#define PIPE_MAX_HEADERS 8      // extra headers sent to one remote tier
#define PIPE_MAX_KEYS 256       // client API keys (`keys:` + `keys_file:`)
#define PIPE_STEP_COLD_MAX 6    // rows of a tier's step.cold (plan/steptime.h STEP_COLD_MAX)
#define PIPE_STEP_SPREAD_MAX 32 // factors of a tier's step.spread (plan/steptime.h STEP_SPREAD_MAX)

// Pricing kinds of a replica, as the ledger counts them (LedgerReplica.kind; the planner's
// PriceKind has the same order).
enum { PIPE_ON_DEMAND, PIPE_RESERVED_1Y, PIPE_RESERVED_3Y, PIPE_SPOT, PIPE_PRICE_KINDS };
extern const char *const pipe_price_kind_names[PIPE_PRICE_KINDS];   // "on_demand", "reserved_1y", ...

typedef struct {
    char name[48];
    bool local;                    // model: a GGUF run by supervised `rightsize worker` processes
    char model_path[512];          // local
    char url[512];                 // remote: base URL ending in /v1 (".../v1" appended when missing)
    char model[128];               // model name sent to the backend (local: the tier name)
    char accelerator[32];          // label for telemetry, metrics and cost
    char quantization[16];         // label ("q8_0"); local: from the file name when not given
    double cost_per_hour;          // $ per replica-hour above the reserved floor (burst capacity)
    int capacity_kind;             // what cost_per_hour buys: PIPE_ON_DEMAND or PIPE_SPOT
    int reserved_replicas;         // the first replicas up are billed as reserved (<= min_replicas)
    int reserved_kind;             // PIPE_RESERVED_1Y or PIPE_RESERVED_3Y
    double reserved_cost_per_hour; // $ per reserved replica-hour
    char launch[1024];             // remote tiers: the command that starts the backend ("" = none)
    int min_replicas, max_replicas;
    int64_t max_num_seqs, max_num_batched_tokens;   // local workers' scheduler
    int64_t max_model_len, kv_blocks;               // local workers' (0: the worker's default)
    int threads;                   // local workers' engine threads
    char chat_template[16];        // local workers' --chat-template ("" = from the model)
    int64_t max_concurrency;       // in-flight requests per replica before the tier queues
    bool batching;                 // dynamic batching (batchable endpoints: embeddings)
    BatcherConfig batch;
    bool autoscaled;               // the pipeline's or the tier's own `autoscaling:` applies
    AutoscaleConfig autoscale;     // the pipeline's section, overridden by the tier's; min/max = replicas
    // step: the planner's step-time model (µs; plan --pipeline), unused by serve: the linear part
    // (calibrated betas) plus an optional roofline max(memory, compute) part (steptime.h)
    bool has_step;
    double step_b0_us, step_prefill_token_us, step_decode_row_us, step_context_token_us, step_multi_row_us;
    double step_mem_fixed_us, step_mem_ctx_us, step_comp_token_us, step_comp_pair_us;
    double step_request_overhead_us;   // per call outside engine steps (HTTP, the gateway's hop)
    // step.cold: rows of (after_us, wake_us, step_factor), what waking an idle replica costs
    // (plan/steptime.h's StepCold, as a calibrated profile has them); serve ignores them.
    double step_cold[PIPE_STEP_COLD_MAX * 3];
    int step_n_cold;
    // step.spread, step.spread_window_us: equally likely step-time factors, each held that long
    // (steptime.h's spread, as a profile from `calibrate --url` has it); serve ignores them.
    double step_spread[PIPE_STEP_SPREAD_MAX], step_spread_window_us;
    int step_n_spread;
    // step.colocated: a step's time x this per busy replica of another tier on the same host
    // (steptime.h's colocated, from `calibrate --url --neighbour-model`); 0 = none; serve ignores it.
    double step_colocated;
    int step_line;
    // planner: the rest of what the planner simulated for this tier (plan --pipeline; serve
    // ignores it): replica start-up (cold, and from the warm pool), spot interruptions and their
    // replacement delay, the KV block size. Absent: replicas ready at once, no interruptions.
    double plan_startup_s, plan_warm_start_s;
    double plan_spot_interruptions_per_hour, plan_spot_replace_s;
    int64_t plan_kv_block_tokens;          // 0: the scheduler's default
    // planner.host: tiers naming the same host share one machine (their replicas contend for it:
    // step.colocated); "" = the tier's replicas have machines of their own.
    char plan_host[48];
    // cost_share: in_flight — the backend reports no busy share (vLLM, TGI, llama.cpp's server):
    // the ledger charges each call its in-flight share of the replica's time (policy/ledger).
    bool cost_in_flight;
    // upstream credentials (remote tiers; pipeline_access.c): the key is read when serve starts,
    // never kept in the Pipeline, and sent as "Authorization: Bearer KEY"
    char api_key_env[64];          // environment variable holding the key ("" = none)
    char api_key_file[256];        // file whose first line is the key ("" = none)
    int n_headers;                 // extra headers sent with every call
    char header_name[PIPE_MAX_HEADERS][64];
    char header_value[PIPE_MAX_HEADERS][256];
    int line;
} PipeTier;

// A public model name clients ask for (`models: {NAME: ROUTE}`): the request goes to that route.
typedef struct {
    char name[96];
    int route;                     // rule index
    int line;
} PipeModel;

// A client API key: only its SHA-256 is configured. Limits < 0 mean none.
typedef struct {
    char name[48];                 // telemetry, metrics and the admin API show this, never the key
    unsigned char sha256[32];
    uint64_t models;               // allowed public models (bit i: models[i]); all_models: any
    uint32_t routes;               // allowed routes (bit i: routes[i]); all_routes: any
    bool all_models, all_routes;
    int64_t rpm, tpm;              // requests / tokens per minute (-1: no limit)
    int64_t budget_day_nusd, budget_month_nusd;   // USD budgets in nano-dollars (-1: none)
    int line;
} PipeKey;

typedef struct {
    int route;                     // rule index
    int baseline, candidate;       // tier indexes
    double weight_percent, shadow_percent;
    CanaryGuards guards;
    int line;
} PipeCanary;

// The gateway's exact-match response cache (`cache:`; policy/respcache).
typedef struct {
    bool enabled;                  // the section is present and not `enabled: false`
    int64_t max_bytes;             // all entries (answer + canonical request), bytes
    int64_t max_entries;
    int64_t max_entry_bytes;       // one answer larger than this is not stored
    int64_t ttl_us;
    int line;
} PipeCache;

typedef struct {
    ListenAddr listen;                         // where serve listens (`listen:`, --listen)
    double slo_ttft_p95_ms, slo_e2e_p99_ms;   // 0: not set
    double slo_ttft_p99_ms, slo_tpot_p95_ms, slo_e2e_p95_ms;
    double slo_job_deadline_hours; // batch work: every run done within this many hours
    PipeTier tiers[PIPE_MAX_TIERS];
    int n_tiers;
    RouteRule routes[PIPE_MAX_ROUTES];
    int n_routes;
    PipeCanary canaries[PIPE_MAX_CANARIES];
    int n_canaries;
    bool has_autoscaling;          // some tier is autoscaled
    AutoscaleConfig autoscale;     // the top-level section (each tier's resolved copy: PipeTier.autoscale)
    int64_t autoscale_interval_us;
    int64_t max_queue;             // waiting requests per tier
    size_t max_body_bytes;
    int64_t max_tokens;            // cap on a request's max_tokens
    int64_t request_timeout_us;
    int retry_after_s;
    int64_t header_timeout_us;     // accept → complete request header (not reset by each byte)
    int64_t body_timeout_us;       // complete header → complete body
    int64_t idle_timeout_us;       // keep-alive: previous answer → next complete header
    size_t max_buffered_body_bytes;   // request bodies buffered at once, all connections
    size_t max_response_bytes;     // a backend answer larger than this is cut: 502 response_too_large
    char admin_key[128];           // "" = admin API disabled unless --admin-key
    // planner: the run the planner simulated (plan --pipeline's defaults; serve ignores it): the
    // arrivals' seed and the simulated horizon. has_plan_run false: none given.
    bool has_plan_run;
    uint64_t plan_seed;
    double plan_horizon_s;
    PipeModel models[PIPE_MAX_MODELS];         // `models:`; none: the request's model only feeds match.model
    int n_models;
    PipeKey keys[PIPE_MAX_KEYS];   // `keys:` and `keys_file:`; none: no client key is asked for
    int n_keys;
    char keys_file[256];
    // `shared:` — replicas of this gateway share the keys' counters through Redis (gw_keys_shared.c)
    char redis_host[128];          // "" = none: each gateway counts alone
    int redis_port;
    char redis_password_env[64];   // environment variable holding Redis's AUTH password ("" = none)
    char redis_prefix[64];         // prefix of every Redis key (default "rightsize")
    int64_t shared_sync_us;        // how often local counts are pushed and totals pulled
    PipeCache cache;
} Pipeline;

// Loads and validates path (check_files: local model files must exist). 0, or a negative Err with
// a one-line message in err.
int pipeline_load(Pipeline *p, const char *path, bool check_files, char *err, size_t err_len);
// Same from memory (name is used in messages). For tests and the fuzz target.
int pipeline_load_buf(Pipeline *p, const char *name, const char *text, size_t len, bool check_files, char *err,
                      size_t err_len);
// The pricing kind and $/hour of the next replica a tier opens while reserved_up of its replicas
// are billed as reserved: the first reserved_replicas are reserved, the rest burst capacity.
int pipeline_tier_price(const PipeTier *t, int reserved_up, double *usd_per_hour);
// Index of the tier with this name, or -1.
int pipeline_tier(const Pipeline *p, const char *name);
// Index of the public model name in `models:`, or -1.
int pipeline_model(const Pipeline *p, const char *name);
// Index of the client key whose SHA-256 is sha256, or -1.
int pipeline_key_by_hash(const Pipeline *p, const unsigned char sha256[32]);
// Reads a tier's upstream API key (api_key_env or api_key_file) into out: 1 when found, 0 when
// the tier has none, a negative Err with a message naming the tier when it cannot be read.
int pipeline_tier_api_key(const PipeTier *t, char *out, size_t cap, char *err, size_t err_len);

// Whether a running gateway configured by `cur` can take `next` on SIGHUP. Routes, canaries,
// autoscaling, replica bounds, SLOs and limits apply live; a change to anything that lives in a
// started process or in the ledger's running segments (a tier's name, kind, model, url, batching
// and its batcher's sizes, quantization label, price, worker scheduler, threads or chat template;
// a remote tier's fixed replica count) cannot, and is named (the listen address is the caller's:
// it applies at start only, and --listen may override it):
// returns 0, or -1 with why = "tiers[1].cost_per_hour changed (0.3 -> 0.4): restart serve ...".
int pipeline_reload_check(const Pipeline *cur, const Pipeline *next, char *why, size_t cap);

#endif
