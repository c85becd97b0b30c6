#include "policy/ledger.h"

#include <math.h>
#include <string.h>

#include "base/check.h"

void ledger_init(Ledger *l) { memset(l, 0, sizeof *l); }

void ledger_open(Ledger *l, LedgerReplica *r, int kind, double usd_per_hour, int64_t now_us) {
    (void)l;
    CHECK(kind >= 0 && kind < LEDGER_KINDS && usd_per_hour >= 0);
    *r = (LedgerReplica){.rate_nusd_per_hour = llround(usd_per_hour * 1e9), .kind = kind,
                         .t_open_us = now_us, .t_last_us = now_us, .open = true};
}

int64_t ledger_cost_at(const LedgerReplica *r, int64_t t_us) {
    // 128-bit product: a $100/h rate (1e11 nUSD) times a year of microseconds overflows 64 bits.
    unsigned __int128 p = (unsigned __int128)(uint64_t)r->rate_nusd_per_hour * (uint64_t)(t_us - r->t_open_us);
    return (int64_t)(p / 3600000000u);
}

// Advances the charged point to t; returns C(t) − C(t_last).
static int64_t advance(Ledger *l, LedgerReplica *r, int64_t t) {
    CHECK(r->open && t >= r->t_last_us);
    int64_t c = ledger_cost_at(r, t);
    int64_t d = c - r->charged_nusd;
    l->replica_us[r->kind] += t - r->t_last_us;
    l->cost_nusd[r->kind] += d;
    r->charged_nusd = c;
    r->t_last_us = t;
    return d;
}

int64_t ledger_idle(Ledger *l, LedgerReplica *r, int64_t now_us) {
    int64_t t0 = r->t_last_us;
    int64_t d = advance(l, r, now_us);
    r->idle_nusd += d;
    r->idle_us += now_us - t0;
    l->idle_nusd += d;
    return d;
}

int64_t ledger_busy(Ledger *l, LedgerReplica *r, int64_t start_us, int64_t end_us, const int64_t *weights,
                    int64_t n, int64_t *out_nusd) {
    CHECK(start_us <= end_us && n >= 0);
    ledger_idle(l, r, start_us);
    int64_t d = advance(l, r, end_us);
    r->busy_nusd += d;
    r->busy_us += end_us - start_us;
    l->busy_nusd += d;
    if (n == 0 || !out_nusd) return d;
    // Cumulative rounding: shares telescope to d exactly.
    int64_t wsum = 0;
    for (int64_t i = 0; i < n; i++) { CHECK(weights[i] >= 0); wsum += weights[i]; }
    int64_t cum = 0, prev = 0, den = wsum ? wsum : n;
    bool narrow = d >= 0 && (den == 0 || d <= INT64_MAX / den);   // d·cum fits in 64 bits
    for (int64_t i = 0; i < n; i++) {
        cum += wsum ? weights[i] : 1;
        int64_t upto = narrow ? d * cum / den : (int64_t)((__int128)d * cum / den);
        out_nusd[i] = upto - prev;
        prev = upto;
    }
    return d;
}

int64_t ledger_close(Ledger *l, LedgerReplica *r, int64_t now_us) {
    ledger_idle(l, r, now_us);
    r->open = false;
    return r->charged_nusd;
}
