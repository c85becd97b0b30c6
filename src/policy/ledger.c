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

int64_t ledger_advance(Ledger *l, LedgerReplica *r, int64_t now_us) {
    CHECK(r->open);
    if (now_us <= r->t_last_us) return 0;
    int64_t c = ledger_cost_at(r, now_us);
    int64_t d = c - r->charged_nusd;
    l->replica_us[r->kind] += now_us - r->t_last_us;
    l->cost_nusd[r->kind] += d;
    r->charged_nusd = c;
    r->t_last_us = now_us;
    return d;
}

int64_t ledger_close(Ledger *l, LedgerReplica *r, int64_t now_us) {
    ledger_advance(l, r, now_us);
    r->open = false;
    return r->charged_nusd;
}

void ledger_split(int64_t step_ns, const int64_t *weights, int64_t n, int64_t *out_ns) {
    CHECK(step_ns >= 0 && n >= 0);
    int64_t wsum = 0;
    for (int64_t i = 0; i < n; i++) { CHECK(weights[i] >= 0); wsum += weights[i]; }
    int64_t cum = 0, prev = 0, den = wsum ? wsum : n;
    bool narrow = den == 0 || step_ns <= INT64_MAX / den;   // step_ns × cum fits in 64 bits
    for (int64_t i = 0; i < n; i++) {
        cum += wsum ? weights[i] : 1;
        int64_t upto = narrow ? step_ns * cum / den : (int64_t)((__int128)step_ns * cum / den);
        out_ns[i] += upto - prev;
        prev = upto;
    }
}

int64_t ledger_share_cost(const LedgerReplica *r, int64_t busy_ns) {
    CHECK(busy_ns >= 0);
    unsigned __int128 p = (unsigned __int128)(uint64_t)r->rate_nusd_per_hour * (uint64_t)busy_ns;
    return (int64_t)(p / 3600000000000ull);
}

int64_t ledger_charge(Ledger *l, LedgerReplica *r, int64_t busy_ns, int64_t now_us) {
    if (r->open) ledger_advance(l, r, now_us);
    int64_t c = ledger_share_cost(r, busy_ns);
    r->busy_nusd += c;
    r->busy_ns += busy_ns;
    l->busy_nusd += c;
    l->busy_ns += busy_ns;
    return c;
}

int64_t ledger_unattributed_nusd(const LedgerReplica *r) {
    int64_t v = r->charged_nusd - r->busy_nusd - r->idle_taken_nusd;
    return v > 0 ? v : 0;
}

int64_t ledger_take_idle(Ledger *l, LedgerReplica *r, int64_t now_us) {
    if (r->open) ledger_advance(l, r, now_us);
    int64_t v = ledger_unattributed_nusd(r);
    r->idle_taken_nusd += v;
    l->idle_taken_nusd += v;
    return v;
}

int64_t ledger_total_nusd(const Ledger *l) {
    int64_t t = 0;
    for (int k = 0; k < LEDGER_KINDS; k++) t += l->cost_nusd[k];
    return t;
}

int64_t ledger_idle_nusd(const Ledger *l) { return ledger_total_nusd(l) - l->busy_nusd; }

// ---- in-flight sharing ----

void ledger_share_reset(LedgerShare *p, int64_t now_us) { *p = (LedgerShare){.t_last_us = now_us}; }

// Each of the n calls in flight accrues floor(dt·2^32 / n): n shares never exceed the time.
static void share_advance(LedgerShare *p, int64_t now_us) {
    if (now_us <= p->t_last_us) return;
    if (p->n_in_flight > 0)
        p->s += ((LedgerMark)(uint64_t)((now_us - p->t_last_us) * 1000) << LEDGER_SHARE_FRAC_BITS) /
                (uint64_t)p->n_in_flight;
    p->t_last_us = now_us;
}

LedgerMark ledger_share_enter(LedgerShare *p, int64_t now_us) {
    share_advance(p, now_us);
    p->n_in_flight++;
    return p->s;
}

int64_t ledger_share_leave(LedgerShare *p, LedgerMark m, int64_t now_us) {
    CHECK(p->n_in_flight > 0 && m <= p->s);
    share_advance(p, now_us);
    p->n_in_flight--;
    return (int64_t)((p->s - m) >> LEDGER_SHARE_FRAC_BITS);
}
