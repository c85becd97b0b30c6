// quota.h — a client key's usage windows and the admission rule for its limits: requests and
// tokens per minute, spend per day and per month (UTC calendar), pure policy (wall time in
// seconds is a parameter).
//
// Every counter lives in its window (the minute, the day, the month it counts); a counter whose
// window has passed reads zero. A count is `shared + pending`: `shared` is the total the replicas'
// common store (Redis) last reported, `pending` what this replica added since and has not pushed.
// A replica alone only ever has `pending`. Losing the store keeps both, so limits stay enforced
// per replica: never unlimited.
#ifndef RS_QUOTA_H
#define RS_QUOTA_H

#include <stdint.h>

typedef enum { QUOTA_RPM = 0, QUOTA_TPM, QUOTA_DAY_NUSD, QUOTA_MONTH_NUSD, QUOTA_N } QuotaKind;

typedef struct {
    int64_t limit[QUOTA_N];        // per window; -1: none
} QuotaLimits;

typedef struct {
    int64_t window[QUOTA_N];       // the window index each counter belongs to
    int64_t shared[QUOTA_N];       // the common store's total for that window
    int64_t pending[QUOTA_N];      // added here, not yet pushed to the store
} QuotaUsage;

// The window index of wall_s (seconds since 1970, UTC) for a counter: minutes, days or months
// (year × 12 + month − 1) since 1970.
int64_t quota_window(QuotaKind k, int64_t wall_s);
// The first second after window w.
int64_t quota_window_end_s(QuotaKind k, int64_t w);
// Zeroes the counters whose window is over at wall_s.
void quota_roll(QuotaUsage *u, int64_t wall_s);
// The counter's value in the window of wall_s.
int64_t quota_used(const QuotaUsage *u, QuotaKind k, int64_t wall_s);
// The admission rule: -1 when every limit has room (some counter under its limit), else the
// first exhausted counter, with *retry_after_s = seconds until its window ends (>= 1).
int quota_admit(const QuotaLimits *l, QuotaUsage *u, int64_t wall_s, int64_t *retry_after_s);
// Adds v to a counter in the window of wall_s.
void quota_add(QuotaUsage *u, QuotaKind k, int64_t v, int64_t wall_s);
// "rpm", "tpm", "budget_day", "budget_month".
const char *quota_kind_name(QuotaKind k);

#endif
