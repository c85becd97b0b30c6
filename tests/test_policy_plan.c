// Tests of the pure policies the planner shares with the gateway: the cost ledger (exact
// conservation in nano-dollars against rate × time computed independently), the dynamic batcher
// (Triton's size/delay rule on scripted arrivals) and the autoscaler (delays, windows, clamps).
#include <stdint.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "policy/autoscale.h"
#include "policy/batcher.h"
#include "policy/ledger.h"
#include "test.h"

TEST(ledger_conserves_cost_exactly) {
    Ledger l;
    ledger_init(&l);
    LedgerReplica r;
    ledger_open(&l, &r, 0, 6.88, 1000);
    Rng rng;
    rng_seed(&rng, 11);
    // Engine steps with idle gaps; requests of 1-64 rows each; each row charged when it "ends".
    int64_t t = 1000, attributed = 0, shares[64], w[64], busy_ns_all = 0;
    for (int step = 0; step < 200000; step++) {
        int64_t gap = (int64_t)rng_below(&rng, 3) == 0 ? (int64_t)rng_below(&rng, 50000) : 0;
        int64_t dur = 1 + (int64_t)rng_below(&rng, 40000);
        int64_t n = 1 + (int64_t)rng_below(&rng, 64);
        for (int64_t i = 0; i < n; i++) w[i] = (int64_t)rng_below(&rng, 600), shares[i] = 0;
        ledger_split(dur * 1000, w, n, shares);
        int64_t s = 0;
        for (int64_t i = 0; i < n; i++) s += shares[i];
        EXPECT_EQ_INT(s, dur * 1000);   // shares sum to the step exactly
        t += gap + dur;
        for (int64_t i = 0; i < n; i++) attributed += ledger_charge(&l, &r, shares[i], t);
        busy_ns_all += s;
    }
    int64_t total = ledger_close(&l, &r, t + 123456);
    EXPECT_EQ_INT(attributed, l.busy_nusd);
    EXPECT_EQ_INT(attributed + ledger_idle_nusd(&l), total);
    EXPECT_EQ_INT(l.busy_ns, busy_ns_all);
    // Independent truth: rate × time. 6.88 $/h = 6.88e9 nUSD per 3.6e9 us.
    double hours = (double)(t + 123456 - 1000) / 3.6e9;
    EXPECT_NEAR((double)total, 6.88e9 * hours, 1.0);
    EXPECT_EQ_INT(l.replica_us[0], t + 123456 - 1000);
    // Busy charges: each is floor(rate × share), so their sum is within one nUSD per charge below
    // rate × busy time.
    EXPECT(attributed <= (int64_t)(6.88e9 * (double)busy_ns_all / 3.6e12) + 1);
    EXPECT(attributed >= (int64_t)(6.88e9 * (double)busy_ns_all / 3.6e12) - 200000 * 64);
    // Cumulative rounding by hand: 1000 ns over weights 1:1:1 → 333, 333, 334; by tokens 1:3.
    int64_t ww[3] = {1, 1, 1}, out[3] = {0, 0, 0}, w2[2] = {1, 3}, o2[2] = {0, 0};
    ledger_split(1000, ww, 3, out);
    EXPECT(out[0] == 333 && out[1] == 333 && out[2] == 334);
    ledger_split(1001, w2, 2, o2);
    EXPECT(o2[0] == 250 && o2[1] == 751);
    // A request busy for 1/1000 h at $1/h costs 1e6 nUSD; 1 ns at $1/h is under one nUSD.
    LedgerReplica r2;
    ledger_open(&l, &r2, 1, 1.0, 0);
    EXPECT_EQ_INT(ledger_share_cost(&r2, 3600000000000LL / 1000), 1000000);
    EXPECT_EQ_INT(ledger_share_cost(&r2, 1), 0);
}

// Rule step 5: idle attribution. A replica at $3.6/h (1 nUSD per µs) with charged requests at
// known times: each takes exactly the replica's time since the previous charged request (or the
// open) less the busy charges in between, computed here from the times alone; what follows the
// last charge is the close's unattributed remainder; taken + unattributed = the ledger's idle.
TEST(ledger_idle_attribution_takes_the_gap_since_the_last_request) {
    Ledger l;
    ledger_init(&l);
    LedgerReplica r;
    ledger_open(&l, &r, 0, 3.6, 1000);
    // (charge time µs, busy ns): busy 40 µs at 1 nUSD/µs = 40 nUSD.
    const int64_t at[4] = {1500, 1600, 1600, 5000}, busy[4] = {40000, 10000, 0, 1000000};
    int64_t prev = 1000, busy_since = 0, taken = 0;
    for (int i = 0; i < 4; i++) {
        int64_t c = ledger_charge(&l, &r, busy[i], at[i]);
        EXPECT_EQ_INT(c, busy[i] / 1000);
        busy_since += c;
        int64_t want = (at[i] - prev) - busy_since;   // µs = nUSD at this rate
        int64_t got = ledger_take_idle(&l, &r, at[i]);
        EXPECT_EQ_INT(got, want > 0 ? want : 0);
        if (want > 0) busy_since = 0, prev = at[i];
        taken += got;
    }
    // The last request was busy 1000 µs of a 3400 µs gap: it took 2400. A second take at the same
    // moment finds nothing; the 700 µs after it stay unattributed until the close reports them.
    EXPECT_EQ_INT(ledger_take_idle(&l, &r, 5000), 0);
    int64_t total = ledger_close(&l, &r, 5700);
    EXPECT_EQ_INT(total, 4700);
    EXPECT_EQ_INT(ledger_unattributed_nusd(&r), 700);
    EXPECT_EQ_INT(taken, l.idle_taken_nusd);
    EXPECT_EQ_INT(taken + ledger_unattributed_nusd(&r), ledger_idle_nusd(&l));
    EXPECT_EQ_INT(l.busy_nusd + taken + ledger_unattributed_nusd(&r), total);
}

// In-flight sharing (backends that report no busy share): random overlapping calls on one
// replica; each call's share against a float64 processor-sharing reference computed here from
// the intervals alone (Σ over the elementary intervals it spans of length / calls in flight), the
// shares never exceeding the time something was in flight, and a closed-form case by hand.
TEST(ledger_in_flight_shares_match_processor_sharing) {
    enum { N = 400 };
    int64_t t_in[N], t_out[N], got[N];
    Rng rng;
    rng_seed(&rng, 5);
    for (int i = 0; i < N; i++) {
        t_in[i] = (i ? t_in[i - 1] : 0) + (int64_t)rng_below(&rng, 30000);
        t_out[i] = t_in[i] + 1 + (int64_t)rng_below(&rng, 200000);
    }
    // Replay the enters and leaves in time order (a leave before an enter at the same time).
    LedgerShare sh;
    ledger_share_reset(&sh, 0);
    LedgerMark mark[N];
    int next_in = 0;
    bool left[N] = {false};
    for (int done = 0; done < N;) {
        int64_t best = INT64_MAX;
        int who = -1;
        for (int i = 0; i < next_in; i++)
            if (!left[i] && t_out[i] < best) { best = t_out[i]; who = i; }
        if (next_in < N && t_in[next_in] < best) {
            mark[next_in] = ledger_share_enter(&sh, t_in[next_in]);
            next_in++;
            continue;
        }
        got[who] = ledger_share_leave(&sh, mark[who], t_out[who]);
        left[who] = true;
        done++;
    }
    EXPECT_EQ_INT(sh.n_in_flight, 0);
    // Reference: elementary intervals between consecutive event times, in float64.
    static int64_t ev[2 * N];
    for (int i = 0; i < N; i++) ev[2 * i] = t_in[i], ev[2 * i + 1] = t_out[i];
    for (int i = 1; i < 2 * N; i++)   // insertion sort
        for (int j = i; j > 0 && ev[j - 1] > ev[j]; j--) { int64_t x = ev[j]; ev[j] = ev[j - 1]; ev[j - 1] = x; }
    static double ref[N];
    double busy_ns = 0, sum_got = 0;
    for (int k = 0; k + 1 < 2 * N; k++) {
        int64_t a = ev[k], b = ev[k + 1];
        if (b == a) continue;
        int n = 0;
        for (int i = 0; i < N; i++) n += t_in[i] <= a && t_out[i] >= b;
        if (n == 0) continue;
        busy_ns += (double)(b - a) * 1000;
        for (int i = 0; i < N; i++)
            if (t_in[i] <= a && t_out[i] >= b) ref[i] += (double)(b - a) * 1000 / n;
    }
    for (int i = 0; i < N; i++) {
        // floor per elementary interval: at most one ns short per interval it spans
        if (!(got[i] <= ref[i] + 1e-6 && got[i] >= ref[i] - 2 * N))
            test_fail(__FILE__, __LINE__, "call %d: share %lld ns, processor sharing %.3f ns", i, (long long)got[i], ref[i]);
        sum_got += (double)got[i];
    }
    EXPECT(sum_got <= busy_ns);
    // By hand: A alone 0..10 us, A and B 10..40, B alone 40..50: A = 10 + 15 = 25 us, B = 15 + 10.
    ledger_share_reset(&sh, 0);
    LedgerMark a = ledger_share_enter(&sh, 0), b = ledger_share_enter(&sh, 10);
    EXPECT_EQ_INT(ledger_share_leave(&sh, a, 40), 25000);
    EXPECT_EQ_INT(ledger_share_leave(&sh, b, 50), 25000);
    // Three calls over 1 us: a third each, floored (333 ns), never more than the time.
    ledger_share_reset(&sh, 100);
    LedgerMark m3[3];
    for (int i = 0; i < 3; i++) m3[i] = ledger_share_enter(&sh, 100);
    for (int i = 0; i < 3; i++) EXPECT_EQ_INT(ledger_share_leave(&sh, m3[i], 101), 333);
}

TEST(batcher_follows_size_and_delay) {
    BatcherConfig c = {.max_batch_size = 4, .max_queue_delay_us = 2000, .max_queue = 8};
    char err[128];
    Batcher *b = batcher_create(&c, err, sizeof err);
    ASSERT(b);
    BatchItem out[8];
    EXPECT_EQ_INT(batcher_ready_at(b), -1);
    EXPECT_EQ_INT(batcher_add(b, 1, 10, 100), 0);
    EXPECT_EQ_INT(batcher_ready_at(b), 2100);
    EXPECT_EQ_INT(batcher_take(b, 2099, out, 8), 0);   // not due yet
    EXPECT_EQ_INT(batcher_take(b, 2100, out, 8), 1);   // delay elapsed: partial batch
    for (int i = 0; i < 6; i++) EXPECT_EQ_INT(batcher_add(b, 10 + (uint64_t)i, 5, 3000 + i), 0);
    EXPECT_EQ_INT(batcher_ready_at(b), 3000);          // a full batch is due at once
    EXPECT_EQ_INT(batcher_take(b, 3005, out, 8), 4);
    EXPECT(out[0].id == 10 && out[3].id == 13);
    EXPECT_EQ_INT(batcher_ready_at(b), 3004 + 2000);
    for (int i = 0; i < 6; i++) batcher_add(b, 20 + (uint64_t)i, 1, 4000);
    EXPECT_EQ_INT(batcher_len(b), 8);
    EXPECT_EQ_INT(batcher_add(b, 99, 1, 4000), ERR_FULL);
    batcher_destroy(b);
    c.max_queue = 2;
    EXPECT(batcher_create(&c, err, sizeof err) == NULL);
    EXPECT(strstr(err, "max_queue") != NULL);
}

// A request whose client left is pulled out of the ring (wrapped around its end too): the others
// keep their order, the due time follows the new oldest, and an unknown id changes nothing.
TEST(batcher_remove_keeps_the_order_of_the_rest) {
    BatcherConfig c = {.max_batch_size = 4, .max_queue_delay_us = 1000, .max_queue = 4};
    char err[128];
    Batcher *b = batcher_create(&c, err, sizeof err);
    ASSERT(b);
    BatchItem out[4];
    for (int i = 0; i < 3; i++) batcher_add(b, 1 + (uint64_t)i, 1, 10 + i);
    EXPECT_EQ_INT(batcher_take(b, 2000, out, 2), 2);   // head moves to slot 2: the ring wraps below
    for (int i = 0; i < 3; i++) EXPECT_EQ_INT(batcher_add(b, 4 + (uint64_t)i, 1, 20 + i), 0);
    EXPECT(batcher_remove(b, 3));                       // the oldest: the due time moves
    EXPECT_EQ_INT(batcher_ready_at(b), 20 + 1000);
    EXPECT(batcher_remove(b, 5));                       // one in the middle, across the wrap
    EXPECT(!batcher_remove(b, 5));
    EXPECT(!batcher_remove(b, 99));
    EXPECT_EQ_INT(batcher_len(b), 2);
    EXPECT_EQ_INT(batcher_take(b, 5000, out, 4), 2);
    EXPECT(out[0].id == 4 && out[1].id == 6);
    EXPECT_EQ_INT(batcher_ready_at(b), -1);
    batcher_destroy(b);
}

TEST(autoscale_delays_windows_and_clamps) {
    AutoscaleConfig c = {.min_replicas = 1, .max_replicas = 10, .target_per_replica = 4,
                         .upscale_delay_us = 10000000, .downscale_delay_us = 120000000};
    c.windows[0] = (AutoscaleWindow){.start_hour = 9, .end_hour = 17, .min_replicas = 3};
    c.n_windows = 1;
    Autoscaler a;
    autoscale_init(&a);
    int64_t s = 1000000;
    // 20 in flight → desired 5, but only after 10 s of sustained demand.
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 0, 1, 12, 8), 1);
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 9 * s, 1, 12, 8), 1);
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 10 * s, 1, 12, 8), 5);
    // Load gone: scale down only after 120 s, to the largest desire seen meanwhile (2).
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 20 * s, 5, 0, 0), 5);
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 60 * s, 5, 0, 7), 5);
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 140 * s, 5, 0, 0), 2);
    // Clamp to max.
    autoscale_init(&a);
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 200 * s, 2, 1000, 0), 2);
    EXPECT_EQ_INT(autoscale_eval(&a, &c, 210 * s, 2, 1000, 0), 10);
    // Business-hours window raises the floor at once (10:00 on day 3).
    int64_t ten = (2 * 24 + 10) * 3600 * s;
    EXPECT_EQ_INT(autoscale_min_at(&c, ten), 3);
    EXPECT_EQ_INT(autoscale_eval(&a, &c, ten, 1, 0, 0), 3);
    EXPECT_EQ_INT(autoscale_min_at(&c, ten + 8 * 3600 * s), 1);   // 18:00
}
