// ledger.h — the cost ledger: attributes every replica-second to requests (busy) or to idle time,
// so that attributed + idle equals replica time × rate exactly. Pure: times are parameters.
//
// Money is integer nano-dollars (nUSD). A replica's cost from its open time to t is
//   C(t) = floor(rate_nusd_per_hour × (t − t_open_us) / 3.6e9)
// and every charge is a difference C(t1) − C(t0), so charges telescope: the sum of all busy
// and idle charges of a replica is exactly C(t_close). A busy charge is split over the step's
// rows by weight (tokens) by cumulative rounding — share i = floor(d·W≤i/W) − floor(d·W<i/W) —
// so the shares sum exactly too and each is within one nano-dollar of its exact value.
// The live gateway and the planner's simulator both use it.
#ifndef RS_LEDGER_H
#define RS_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#define LEDGER_KINDS 4   // pricing kinds (on-demand, reserved 1y, reserved 3y, spot)

typedef struct {
    int64_t rate_nusd_per_hour;
    int kind;                // pricing kind index, < LEDGER_KINDS
    int64_t t_open_us;
    int64_t t_last_us;       // charged up to here
    int64_t charged_nusd;    // C(t_last)
    int64_t busy_nusd, idle_nusd;
    int64_t busy_us, idle_us;
    bool open;
} LedgerReplica;

typedef struct {
    int64_t busy_nusd, idle_nusd;            // over all replicas
    int64_t replica_us[LEDGER_KINDS];        // replica time by pricing kind
    int64_t cost_nusd[LEDGER_KINDS];         // cost by pricing kind
} Ledger;

void ledger_init(Ledger *l);
// Starts charging a replica at now_us at usd_per_hour (rounded to the nano-dollar).
void ledger_open(Ledger *l, LedgerReplica *r, int kind, double usd_per_hour, int64_t now_us);
// Charges [t_last, start_us) as idle and [start_us, end_us) as busy, split over n rows by
// weights[i] (>= 0; all zero → equal split); out_nusd[i] gets row i's share. Returns the busy
// charge. Requires t_last <= start_us <= end_us (CHECK).
int64_t ledger_busy(Ledger *l, LedgerReplica *r, int64_t start_us, int64_t end_us, const int64_t *weights,
                    int64_t n, int64_t *out_nusd);
// Charges [t_last, now_us) as idle. Returns the charge.
int64_t ledger_idle(Ledger *l, LedgerReplica *r, int64_t now_us);
// Charges the rest as idle and stops the replica. Returns its total cost C(now_us).
int64_t ledger_close(Ledger *l, LedgerReplica *r, int64_t now_us);
// C(t) for a replica: what its time up to t costs in all (no charge is made).
int64_t ledger_cost_at(const LedgerReplica *r, int64_t t_us);

#endif
