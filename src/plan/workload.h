// workload.h — what the planner plans for: arrivals, token lengths, class, SLOs, fixed costs.
//
// File format (YAML; examples in data/workloads/):
//   name: support-assistant
//   class: chat                       # chat | completion | embedding | batch
//   requests_per_month: 2000000       # or rate_per_s (a month is 30 days)
//   arrivals:
//     process: poisson                # poisson | gamma (with cv) | trace
//     cv: 1.0                         # gamma: coefficient of variation of inter-arrival times
//     diurnal: {peak_to_average: 2.5, peak_hour: 14}
//     bursts: [{start_hour: 10, minutes: 15, multiplier: 4}]     # daily windows
//     profile: [0.4, 0.3, ..., 1.2]   # instead of diurnal: relative arrival rate per equal bin of the
//                                     # day from 00:00 UTC (24, 48, 96, 288 or 1440 bins; `plan
//                                     # --from-telemetry` writes it)
//     trace: file.csv                 # "t_s,input_tokens,output_tokens" per line; replayed
//   tokens:
//     input:  {dist: lognormal, mean: 900, cv: 0.8, max: 8000}
//     output: {dist: histogram, bins: [[64, 0.3], [256, 0.5], [1024, 0.2]]}  # [upper, weight]
//   slo: {ttft_p95_ms: 800, tpot_p95_ms: 80, e2e_p95_ms: 10000, e2e_p99_ms: 15000}
//   batch: {requests_per_run: 500000, start_hour: 1, deadline_hours: 4}   # class batch
//   quality_min: 60                   # minimum catalog quality figure
//   success_rate: 0.9                 # fraction of requests that are a successful outcome
//   cascade: {escalation_rate: 0.2}   # or {confidence: {alpha: 5, beta: 2}, threshold: 0.6};
//                                     # without it the search tries no student-first cascade
//   cache: {response_hit_rate: 0.2, shared_prefix_tokens: 512, prefix_hit_rate: 0.9}
//                                     # the gateway's response cache and the workers' prefix cache
//   fixed_costs: {storage_usd_month: 40, network_gb_month: 300, network_usd_per_gb: 0.09,
//                 orchestration_usd_month: 150, engineering_hours_month: 8,
//                 engineering_usd_per_hour: 120}
//   models: [llama-3.1-8b]            # optional: restrict the search to these catalog models
//   constraints:                      # optional; docs/workload.md lists every key
//     hardware: [l4, h100-sxm]        # only these catalog hardware ids
//     classes: [gpu]                  # only these hardware classes (gpu | asic | cpu)
//     providers: [aws]                # only prices from these providers
//     stacks: [vllm, trtllm]          # serving stacks to compare (default: each device's first)
//     allow_spot: false               # no spot capacity (default true)
//     min_replicas: 2                 # never fewer replicas (availability), per tier
//     budget_usd_month: 5000          # plans above it are reported as over budget
//
// Arrivals are a renewal process in "operational time": the intensity profile (diurnal × bursts,
// normalised so the mean rate is the configured one) is integrated per minute of the day, and
// each inter-arrival draws an increment of mean 1 (exponential, or gamma with the given CV) in
// that integrated time. Poisson with a flat profile is therefore exactly a Poisson process.
#ifndef RS_PLAN_WORKLOAD_H
#define RS_PLAN_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "base/yaml.h"

#define WL_MAX_BURSTS 8
#define WL_MAX_BINS 64
#define WL_PROFILE_BINS 1440   // one per minute of the day
#define WL_MONTH_S (30.0 * 86400.0)

typedef enum { WL_CHAT, WL_COMPLETION, WL_EMBEDDING, WL_BATCH, WL_CLASS_COUNT } WlClass;
typedef enum { ARR_POISSON, ARR_GAMMA, ARR_TRACE } ArrProcess;
// exponential: 1 + floor(X), X ~ Exp(mean) — a geometric count (queueing tests use it).
typedef enum { TOK_LOGNORMAL, TOK_HISTOGRAM, TOK_FIXED, TOK_EXPONENTIAL } TokDist;

extern const char *const wl_class_names[WL_CLASS_COUNT];

typedef struct {
    TokDist dist;
    double mean, cv;           // lognormal / fixed
    double mean_eff;           // mean after clamping (cached by wl_load; 0 = not computed)
    int64_t min, max;          // clamp
    int n_bins;                // histogram: upper edges and cumulative weights
    double upper[WL_MAX_BINS], cum[WL_MAX_BINS];
} TokSpec;

typedef struct {
    double start_hour, minutes, multiplier;
} BurstWindow;

typedef struct {
    double t_s;
    int32_t in_tokens, out_tokens;
} TraceRow;

typedef struct {
    char name[64];
    WlClass cls;
    double rate_per_s;             // mean over a month
    ArrProcess process;
    double cv;
    double peak_to_average;        // 1 = flat
    double peak_hour;
    BurstWindow bursts[WL_MAX_BURSTS];
    int n_bursts;
    double day_profile[WL_PROFILE_BINS];   // arrivals.profile as given (n_day_profile bins; 0 = none)
    int n_day_profile;
    TraceRow *trace;               // owned
    int64_t n_trace;
    double trace_period_s;
    TokSpec in, out;
    double slo_ttft_p95_ms, slo_tpot_p95_ms, slo_e2e_p95_ms, slo_e2e_p99_ms;   // 0 = none
    int64_t batch_requests_per_run;
    double batch_start_hour, batch_deadline_hours;
    double quality_min;
    double success_rate;
    double escalation_rate;        // cascade: fraction escalated; < 0 when a confidence model is given
    double conf_alpha, conf_beta, conf_threshold;
    // cache: (0 = no cache modelled) the fraction answered by the gateway's response cache; the
    // prompt tokens every request shares (a system prompt) and the fraction of requests that find
    // them in the replica's prefix cache
    double cache_response_hit_rate;
    int64_t cache_shared_prefix_tokens;
    double cache_prefix_hit_rate;
    double storage_usd_month, network_gb_month, network_usd_per_gb, orchestration_usd_month;
    double engineering_hours_month, engineering_usd_per_hour;
    char models[8][64];
    int n_models;
    // constraints (empty lists = no restriction)
    char allow_hw[16][64], allow_classes[3][16], allow_providers[8][32], stacks[8][32];
    int n_allow_hw, n_allow_classes, n_allow_providers, n_stacks;
    bool forbid_spot;              // allow_spot: false
    int min_replicas;              // >= 1
    double budget_usd_month;       // 0 = none
    double profile[WL_PROFILE_BINS];   // intensity multiplier per minute of day, mean 1
} Workload;

// Loads and validates a workload file. Returns 0, or a negative Err with a
// "FILE:LINE: key '...': ..." message in err. wl_free releases the trace.
int wl_load(Workload *wl, const char *path, char *err, size_t err_len);
void wl_free(Workload *wl);
// Builds wl->profile from peak_to_average, peak_hour and bursts (wl_load calls it).
void wl_build_profile(Workload *wl);

// Arrival generator state (one per simulated stream).
typedef struct {
    double t_s;          // time of the last arrival
    double scale;        // rate multiplier (scenarios)
    double cv;           // inter-arrival CV in operational time
    int64_t trace_i;
    double trace_base_s;
    int64_t batch_day;   // batch class: next run's day
} WlArrivals;

typedef struct {
    double t_s;
    int32_t in_tokens, out_tokens;
} WlRequest;

void wl_arrivals_init(WlArrivals *a, const Workload *wl, double rate_scale, double cv_override);
// Next request (time, token counts). Times never decrease.
WlRequest wl_next(const Workload *wl, WlArrivals *a, Rng *rng);
// Draws token counts from a spec.
int32_t wl_sample_tokens(const TokSpec *t, Rng *rng);
// Mean of a token spec after clamping (numerical for lognormal, exact for the others).
double wl_token_mean(const TokSpec *t);
// The p-quantile of a token spec after clamping.
double wl_token_quantile(const TokSpec *t, double p);
// Monthly fixed costs (storage + network + orchestration + engineering).
double wl_fixed_usd_month(const Workload *wl);
// Peak intensity multiplier of the profile (max over minutes).
double wl_profile_peak(const Workload *wl);

#endif
