// review.h — the periodic architecture review's accumulator: every telemetry record goes through
// review_add once, in constant memory (histograms are LogHist sketches, arrivals are put back in
// order by a bounded reorder heap, and per-day rows grow with the span, not the record count).
// review_finish then derives the fitted traffic figures the outputs (review_out_*.c) print.
#ifndef RS_REVIEW_REVIEW_H
#define RS_REVIEW_REVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "review/loghist.h"
#include "review/telrec.h"

#define REVIEW_NAME_LEN 64
#define REVIEW_MAX_GROUPS 48     // distinct tiers (or routes, canary arms) kept; the rest: "(other)"
#define REVIEW_MAX_DAYS 3660     // span of days a report covers (ten years)
#define REVIEW_REORDER 8192      // arrivals held back to restore their order (records are written at
                                 // the end of each request, so arrivals come slightly out of order)
#define REVIEW_MAX_EXAMPLES 10   // corrupt lines quoted by file:line

// Counts and sketches of one slice of the traffic (everything, a tier, a route, a canary arm).
typedef struct {
    char name[REVIEW_NAME_LEN];
    int64_t n, n_ok, n_success, n_429, n_4xx, n_5xx, n_no_status, n_stream_error, n_escalated, n_cascade;
    int64_t cost_nusd, busy_nusd, idle_nusd;        // exact sums of the records' 9-decimal figures
    int64_t n_cost;                                  // records that carried a cost
    double prompt_tokens, output_tokens;             // sums (exact: integers below 2^53)
    int64_t n_tokens;                                // records with both token counts
    LogHist e2e_ms, ttft_ms, tpot_ms, queue_ms;      // successful requests only (no 429s, no errors)
} ReviewGroup;

typedef struct {
    ReviewGroup *g;   // owned, allocated on first use (each is ~90 KB)
    int n;
} ReviewGroups;

typedef struct {
    int64_t n, n_err, n_success, cost_nusd, busy_nusd, idle_nusd;
    double tokens;
} ReviewDay;

typedef struct {
    char file[256];
    int64_t line;
    char why[96];
} ReviewBadLine;

// Running mean/variance (Welford).
typedef struct {
    int64_t n;
    double mean, m2;
} Welford;

typedef struct {
    // inputs
    int64_t lines, records, corrupt, blank, filtered_out;
    int n_files, n_empty_files;
    char empty_file[256];                    // the first empty input, to name it
    ReviewBadLine bad[REVIEW_MAX_EXAMPLES];
    int n_bad;
    int64_t schema_count[8];                 // by "schema_version" (0 = records without one)
    int64_t since_us, until_us;              // filter on the record's time; 0 = none
    // everything, and the slices
    ReviewGroup all;
    ReviewGroups tiers, routes, canary;      // canary: "ROUTE candidate" / "ROUTE baseline"
    LogHist prompt_tokens, output_tokens;    // every record with counts
    int64_t n_missing_tokens, n_missing_e2e;
    int64_t ep_chat, ep_completions, ep_embeddings;   // by "endpoint"
    int64_t finish_stop, finish_length, finish_error, finish_other, finish_none;
    // arrivals (time - e2e)
    int64_t first_us, last_us;               // first and last arrival
    int64_t by_hour[24], by_dow[7], by_minute[1440];   // UTC; dow 0 = Monday
    int64_t heap_us[REVIEW_REORDER];
    int heap_n;
    int64_t prev_arrival_us;                 // last arrival out of the heap (0: none yet)
    int64_t late;                            // arrivals older than the heap could reorder
    Welford gap_s, gap_by_hour[24];          // inter-arrival gaps, overall and within each hour of day
    int64_t minute_cur, minute_n;            // per-minute counts, streamed in arrival order
    int64_t minutes_closed;
    Welford per_minute;
    // days
    ReviewDay *days;                         // owned: days[i] is day0 + i
    int64_t day0;
    int n_days;
    int64_t out_of_range_days;
    bool idle_from_metrics;                  // all.idle_nusd came from a /metrics scrape
    int64_t replica_records;                 // replicas' close records (their unattributed idle)
} Review;

// The SLOs latency is held against (from the plan, or flags); 0 = none.
typedef struct {
    double ttft_p95_ms, tpot_p95_ms, e2e_p95_ms, e2e_p99_ms;
} ReviewSlo;

// Derived figures (review_finish).
typedef struct {
    double span_s, days_covered;
    double rate_per_s;                       // records / span
    double gap_cv;                           // CV of inter-arrival times (raw)
    double gap_cv_hourly;                    // CV within hours of day, pooled (diurnal change removed)
    double dispersion_per_minute;            // variance / mean of counts per minute
    double peak_to_average;                  // busiest hour of day / mean hour (over the hours with data)
    int peak_hour;
    double error_rate, rate_429, escalation_rate, success_rate;
    double usd_total, usd_busy, usd_idle;
    double usd_per_1k_requests, usd_per_1m_tokens, usd_per_success;
} ReviewFit;

void review_init(Review *rv);
void review_free(Review *rv);
// Adds one parsed record. Returns false (and counts it in filtered_out) when --since/--until drop it.
bool review_add(Review *rv, const TelRec *r);
// Notes a corrupt line (counted; the first few kept with file:line and the reason).
void review_bad_line(Review *rv, const char *file, int64_t line, const char *why);
// Drains the reorder heap and computes the fitted figures. Call once after the last review_add.
void review_finish(Review *rv, ReviewFit *f);

// Group helpers for the outputs.
double review_group_usd(const ReviewGroup *g);

#endif
