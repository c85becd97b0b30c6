// quota.c — usage windows and the admission rule for client keys (quota.h).
#include "policy/quota.h"

#include "base/check.h"

static const char *const kind_names[QUOTA_N] = {
    [QUOTA_RPM] = "rpm", [QUOTA_TPM] = "tpm", [QUOTA_DAY_NUSD] = "budget_day", [QUOTA_MONTH_NUSD] = "budget_month"};

const char *quota_kind_name(QuotaKind k) { return k < QUOTA_N ? kind_names[k] : "?"; }

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// Days since 1970-01-01 → civil year and month (proleptic Gregorian; 400-year eras).
static void civil_from_days(int64_t z, int64_t *y, int64_t *m) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      // [0, 146096]
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
    int64_t mp = (5 * doy + 2) / 153;                                    // [0, 11], March first
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

// Civil date → days since 1970-01-01.
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t quota_window(QuotaKind k, int64_t wall_s) {
    switch (k) {
    case QUOTA_RPM:
    case QUOTA_TPM: return floor_div(wall_s, 60);
    case QUOTA_DAY_NUSD: return floor_div(wall_s, 86400);
    default: {
        int64_t y, m;
        civil_from_days(floor_div(wall_s, 86400), &y, &m);
        return (y - 1970) * 12 + (m - 1);
    }
    }
}

int64_t quota_window_end_s(QuotaKind k, int64_t w) {
    switch (k) {
    case QUOTA_RPM:
    case QUOTA_TPM: return (w + 1) * 60;
    case QUOTA_DAY_NUSD: return (w + 1) * 86400;
    default: {
        int64_t next = w + 1, y = 1970 + floor_div(next, 12), m = next - floor_div(next, 12) * 12 + 1;
        return days_from_civil(y, m, 1) * 86400;
    }
    }
}

void quota_roll(QuotaUsage *u, int64_t wall_s) {
    for (int k = 0; k < QUOTA_N; k++) {
        int64_t w = quota_window((QuotaKind)k, wall_s);
        if (u->window[k] != w) u->window[k] = w, u->shared[k] = 0, u->pending[k] = 0;
    }
}

int64_t quota_used(const QuotaUsage *u, QuotaKind k, int64_t wall_s) {
    CHECK(k < QUOTA_N);
    return u->window[k] == quota_window(k, wall_s) ? u->shared[k] + u->pending[k] : 0;
}

int quota_admit(const QuotaLimits *l, QuotaUsage *u, int64_t wall_s, int64_t *retry_after_s) {
    quota_roll(u, wall_s);
    for (int k = 0; k < QUOTA_N; k++) {
        if (l->limit[k] < 0 || u->shared[k] + u->pending[k] < l->limit[k]) continue;
        int64_t left = quota_window_end_s((QuotaKind)k, u->window[k]) - wall_s;
        *retry_after_s = left > 0 ? left : 1;
        return k;
    }
    return -1;
}

void quota_add(QuotaUsage *u, QuotaKind k, int64_t v, int64_t wall_s) {
    CHECK(k < QUOTA_N);
    quota_roll(u, wall_s);
    u->pending[k] += v;
}
