// ledger.h — the cost ledger and the one cost-attribution rule, shared by the live gateway and the
// planner's simulator. Pure: times are parameters.
//
// Money is integer nano-dollars (nUSD). A replica's cost from its open time to t is
//   C(t) = floor(rate_nusd_per_hour × (t − t_open_us) / 3.6e9)
// and it accrues in differences C(t1) − C(t0), so the replica's charges telescope to C(t_close).
//
// The rule — charge by step share:
//   1. every engine step's replica time (ns) is split over the rows it served by their tokens
//      (ledger_split: cumulative rounding, so the shares sum to the step exactly);
//   2. a request's busy share on a replica is the sum of its shares over the steps it was in (the
//      worker reports it in the final response as timings.rightsize.busy_ns; the simulator adds
//      the same shares of its virtual steps, a fast-forwarded decode run split as one unit);
//   3. its charge is floor(rate_nusd_per_hour × busy_ns / 3.6e12) (ledger_charge);
//   4. whatever of C that no request was charged — time between steps, failed calls, rounding —
//      is idle (ledger_idle_nusd). A call that fails reports nothing and is charged nothing.
//   5. idle is attributed too: a request charged on a replica also takes that replica's idle that
//      no request took yet — its cost from the replica's open (or the previous charged request
//      there) to now, less the charges (ledger_take_idle). What a replica accrues after its last
//      charged request stays unattributed; its close reports it (ledger_unattributed_nusd).
// So Σ charges + idle = Σ C exactly, Σ taken idle + unattributed = idle, and both clocks charge
// the same traffic the same.
//
// Backends that report no busy share (vLLM, TGI, llama.cpp's server: a tier with
// `cost_share: in_flight`) are charged by the same steps 3 and 4 with step 2's share taken from
// the replica's in-flight intervals instead — processor sharing, equal shares: while n calls
// are in flight on the replica each accrues 1/n of the time (LedgerShare). A call's share is
// what it accrued from the moment it was sent to the moment its answer ended; time with no call
// in flight, failed calls and rounding stay idle. The gateway feeds it its own clock (call sent,
// call done); the simulator its simulated intervals (dispatched to the replica, left it).
#ifndef RS_LEDGER_H
#define RS_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#define LEDGER_KINDS 4   // pricing kinds (on-demand, reserved 1y, reserved 3y, spot)

typedef struct {
    int64_t rate_nusd_per_hour;
    int kind;                // pricing kind index, < LEDGER_KINDS
    int64_t t_open_us;
    int64_t t_last_us;       // cost accrued up to here
    int64_t charged_nusd;    // C(t_last)
    int64_t busy_nusd;       // charged to requests
    int64_t busy_ns;         // busy shares charged to requests
    int64_t idle_taken_nusd; // idle attributed to requests (rule step 5)
    bool open;
} LedgerReplica;

typedef struct {
    int64_t busy_nusd, busy_ns;              // charged to requests, over all replicas
    int64_t idle_taken_nusd;                 // idle attributed to requests, over all replicas
    int64_t replica_us[LEDGER_KINDS];        // replica time by pricing kind
    int64_t cost_nusd[LEDGER_KINDS];         // cost by pricing kind (Σ C)
} Ledger;

void ledger_init(Ledger *l);
// Starts a replica's clock at now_us at usd_per_hour (rounded to the nano-dollar).
void ledger_open(Ledger *l, LedgerReplica *r, int kind, double usd_per_hour, int64_t now_us);
// Accrues the replica's cost up to now_us (no-op for an earlier time). Returns the accrued amount.
int64_t ledger_advance(Ledger *l, LedgerReplica *r, int64_t now_us);
// Accrues the rest and stops the replica. Returns its total cost C(now_us).
int64_t ledger_close(Ledger *l, LedgerReplica *r, int64_t now_us);
// C(t) for a replica (no charge is made).
int64_t ledger_cost_at(const LedgerReplica *r, int64_t t_us);

// Rule step 1: splits step_ns over n rows by weights[i] (>= 0; all zero → equal split) with
// cumulative rounding — out_ns[i] = floor(d·W≤i/W) − floor(d·W<i/W) — and ADDS to out_ns[i].
void ledger_split(int64_t step_ns, const int64_t *weights, int64_t n, int64_t *out_ns);
// Rule step 3: what busy_ns of this replica's time costs a request (no charge is made).
int64_t ledger_share_cost(const LedgerReplica *r, int64_t busy_ns);
// Charges a request's busy share on replica r (accruing the replica's cost to now_us first).
// Returns the request's charge.
int64_t ledger_charge(Ledger *l, LedgerReplica *r, int64_t busy_ns, int64_t now_us);
// Rule step 5: accrues the replica to now_us and gives the caller (a request just charged there)
// the replica's idle no request took yet: C − charges − taken, never below 0.
int64_t ledger_take_idle(Ledger *l, LedgerReplica *r, int64_t now_us);
// The replica's idle no request has taken (after its close: what it reports as unattributed).
int64_t ledger_unattributed_nusd(const LedgerReplica *r);
// Rule step 4: Σ C − Σ charges over all replicas so far.
int64_t ledger_idle_nusd(const Ledger *l);
int64_t ledger_total_nusd(const Ledger *l);

// ---- in-flight sharing (backends that report no busy share) ----

// A point on a replica's share clock: Σ over its in-flight time of dt_ns / n, in ns × 2^32.
typedef unsigned __int128 LedgerMark;
#define LEDGER_SHARE_FRAC_BITS 32

typedef struct {
    int64_t t_last_us;       // accrued up to here
    int64_t n_in_flight;
    LedgerMark s;            // the share clock at t_last_us
} LedgerShare;

// Starts the share clock of a replica with nothing in flight (a zeroed LedgerShare is one too);
// only when no call that entered it can still leave.
void ledger_share_reset(LedgerShare *p, int64_t now_us);
// A call is sent to the replica at now_us: returns its mark (the share clock then).
LedgerMark ledger_share_enter(LedgerShare *p, int64_t now_us);
// The call that entered at mark m ends at now_us: returns its share in ns (floor).
int64_t ledger_share_leave(LedgerShare *p, LedgerMark m, int64_t now_us);

#endif
