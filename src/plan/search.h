// search.h — enumerate deployment candidates for a workload, prune them with analytic bounds,
// simulate the survivors in three scenarios, and rank them by monthly cost.
//
// A candidate = hardware × devices per replica (tensor parallel) × model × quantization
//   × (optional cascade student) × batching knob × autoscaling (fixed at peak | autoscaled |
//   scheduled window for batch jobs) × capacity mix (on-demand | reserved floor + on-demand |
//   reserved floor + spot).
// Pruning, in order (each pruned candidate keeps its reason): quality below the workload's
// floor; weights + activations do not fit device memory (KV capacity < one sequence);
// a lone request misses the latency SLO even on an idle replica (roofline lower bound);
// then candidates are ranked by an analytic monthly cost (mean-field capacity per replica,
// replicas per minute of the day's profile) and the best few per lever level are simulated.
// Scenarios: best (0.8× rate), expected (as given), burst (1.25× rate, arrival CV ×1.5).
// A plan meets its SLOs when every scenario does; its cost is the expected scenario's.
#ifndef RS_PLAN_SEARCH_H
#define RS_PLAN_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/catalog.h"
#include "plan/sim.h"
#include "plan/steptime.h"
#include "plan/workload.h"

typedef enum { SCEN_BEST, SCEN_EXPECTED, SCEN_BURST, SCEN_COUNT } Scenario;
typedef enum { SCALE_FIXED, SCALE_AUTO, SCALE_COUNT } ScaleMode;   // AUTO = scheduled window for batch jobs
typedef enum { MIX_ON_DEMAND, MIX_RESERVED, MIX_RESERVED_SPOT, MIX_COUNT } CapMix;
// Lever levels of the savings waterfall: a candidate's level is the highest lever it uses.
// The plan re-simulated without the workload's caches (cachesave.c).
typedef enum { CACHE_NONE, CACHE_NO_RESPONSE, CACHE_NO_PREFIX, CACHE_VARIANTS } CacheVariant;
extern const char *const search_cache_variant_names[CACHE_VARIANTS];

typedef enum { LEVER_BASELINE, LEVER_BATCHING, LEVER_QUANT, LEVER_CASCADE, LEVER_AUTOSCALE, LEVER_MIX, LEVER_COUNT } Lever;
// Workload constraints a candidate can break (workload.h `constraints:`); min_replicas and the
// budget do not exclude candidates: the first raises replica floors, the second flags the plan.
typedef enum { CONS_NONE = -1, CONS_HARDWARE, CONS_CLASS, CONS_PROVIDER, CONS_SPOT, CONS_COUNT } Constraint;
extern const char *const constraint_names[CONS_COUNT];   // "hardware", "classes", "providers", "allow_spot"

extern const char *const scenario_names[SCEN_COUNT];
extern const char *const scale_names[SCALE_COUNT];
extern const char *const mix_names[MIX_COUNT];
extern const char *const lever_names[LEVER_COUNT];

typedef struct {
    // identity
    int hw, model, student;        // catalog indices; student -1 = no cascade
    int student_hw;                // the student tier's hardware (1 device; may differ from hw)
    int devices;                   // per replica (tensor parallel degree)
    int stack;                     // catalog stack index; -1 = the reference stack
    PlanQuant quant, student_quant;
    int64_t batch_knob;            // max_num_seqs (LLM) or max_batch_size (one-shot)
    ScaleMode scale;
    CapMix mix;
    char id[160];                  // "l4x1[@stack]/llama-3.1-8b/int4/b64/auto/reserved+spot[/cascade=...]"
    Lever lever;
    // analytic model
    bool pruned;
    char prune_reason[160];
    Constraint broke;              // the workload constraint that excluded it (CONS_NONE: none)
    bool floor_raised;             // min_replicas raised its replica floor
    StepModel step, student_step;
    StepSource source;
    KvCapacity kv, student_kv;
    double mu_rps;                 // per-replica sustainable request rate (mean-field)
    double student_mu_rps;
    int64_t batch_eff;             // concurrency the SLO allows per replica
    int replicas_peak, replicas_min, student_peak, student_min;
    double analytic_usd_month;
    // simulation
    bool simulated, meets_slo;
    char slo_miss[160];
    SimResult *sim;                // [SCEN_COUNT] once simulated (series kept for the expected one)
    double usd_month;              // accelerators (expected scenario, scaled to 30 days) + fixed
    double burst_usd_month;        // the same month priced at the burst scenario's replica hours
    double accel_usd_month, fixed_usd_month;
    double usd_per_1k_requests, usd_per_1m_tokens, usd_per_success;
    double replica_hours_month[PRICE_KIND_COUNT];
} Candidate;

typedef struct {
    double horizon_s;              // simulated span per scenario (default one day)
    uint64_t seed;
    int threads;
    int keep_per_level;            // analytic survivors per lever level (default 3)
    const char *profiles_dir;      // calibrated step-time profiles (*.yaml), or NULL
    bool every_scenario;           // simulate all three scenarios on every repair attempt (slower;
                                   // the reference the early exit is tested against: same results)
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
} SearchOptions;

typedef struct {
    Candidate *cands;
    int64_t n_cands, n_pruned, n_simulated;
    int64_t best;                  // index of the cheapest plan meeting the SLOs (-1: none)
    int64_t level_best[LEVER_COUNT];   // cheapest feasible with levers up to this level
    int64_t class_best[HW_CLASS_COUNT];
    int64_t *pareto;               // indices, by cost
    int64_t n_pareto;
    StepProfile *profiles;
    int64_t n_profiles;
    // Constraints that bound: the cheapest (analytic) excluded candidate per constraint that
    // undercuts the chosen plan's analytic cost, or -1; and whether the plan exceeds the budget.
    int64_t bound_by[CONS_COUNT];
    int64_t n_excluded[CONS_COUNT];
    bool over_budget;
    // Order-independent savings (waterfall.c): each lever both added alone to the baseline and
    // removed alone from the plan, every variant simulated. Levers: quantization, cascade,
    // autoscaling, capacity mix (batching at the stack's defaults is part of the baseline).
    bool wf_done;
    Candidate wf_base;                   // on demand, fixed, bf16, no cascade, stack-default batch
    Candidate wf_added[LEVER_COUNT], wf_removed[LEVER_COUNT];
    bool wf_used[LEVER_COUNT];           // the plan uses this lever
    bool wf_quant_required;              // bf16 does not fit: the baseline keeps the plan's quantization
    // What the workload's caches save (cachesave.c): the plan simulated without them.
    bool cache_done;
    Candidate cache_var[CACHE_VARIANTS];
    bool cache_used[CACHE_VARIANTS];
    double cache_busy_usd_month[CACHE_VARIANTS];   // replica time the requests used, per month
    double plan_busy_usd_month;
} SearchResult;

void search_options_default(SearchOptions *o);
// Runs the whole search. Returns 0 or a negative Err with one line in err.
int search_run(const Catalog *cat, const Workload *wl, const SearchOptions *o, SearchResult *out, char *err,
               size_t err_len);
void search_free(SearchResult *r);
// Frees one candidate's simulation results (search_free does it for every candidate).
void search_free_candidate(Candidate *c);
// The stack a candidate runs (the catalog's, or the reference stack).
const CatStack *search_stack(const Catalog *cat, const Candidate *c);
// Builds (analytically) the candidate named by id ("l4x1/llama-3.1-8b/int4/b64/auto/od"; a stack
// is named as "l4x1@vllm/..."; without it the hardware's default stack);
// for --explain. Returns 0 or ERR_NOTFOUND / ERR_FORMAT with the reason in err.
int search_parse_id(const Catalog *cat, const Workload *wl, const char *id, Candidate *c, char *err, size_t err_len);
// Analytic evaluation of one candidate (fills the analytic fields; may mark it pruned).
void search_analyze(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                    Candidate *c);
// Simulates one candidate in the three scenarios and fills the cost fields.
int search_simulate(const Catalog *cat, const Workload *wl, const SearchOptions *o, Candidate *c, bool keep_series,
                    char *err, size_t err_len);
// True when one scenario's result meets the workload's SLOs; else writes the first miss into why.
bool search_meets(const Workload *wl, const SimResult *r, Scenario sc, char *why, size_t len);
// Builds and simulates the waterfall variants of r->best (fills r->wf_*). Returns 0 or an Err.
int search_waterfall(const Catalog *cat, const Workload *wl, const SearchOptions *o, SearchResult *r, char *err,
                     size_t err_len);
// Simulates r->best without the workload's caches (none / no response cache / no prefix cache)
// when the workload has a cache: section (fills r->cache_*). Returns 0 or an Err.
int search_cache_savings(const Catalog *cat, const Workload *wl, const SearchOptions *o, SearchResult *r, char *err,
                         size_t err_len);
// A waterfall variant's monthly cost, or -1 when it cannot meet the SLOs (or does not fit).
double search_wf_cost(const Candidate *c);
// Builds the simulator config of a candidate for one scenario (the caller owns nothing new).
void search_sim_config(const Catalog *cat, const Workload *wl, const Candidate *c, Scenario sc, double horizon_s,
                       uint64_t seed, SimConfig *cfg);

#endif
