// Tests of src/policy/sched (continuous batching) and src/policy/request (lifecycle), on a
// virtual clock with scripted or seeded arrivals.
//
// The truths are independent of the scheduler's internals:
//   - hand-derived schedules for small scripted cases (worked out step by step in comments);
//   - a shadow model (Driver) that knows only the batch plans and results — what a worker sees —
//     and re-derives every request's cached positions, generated tokens, KV blocks
//     (ceil(c / block_size)) and engine-sequence occupancy, checking the budgets and the engine's
//     "positions continue their sequence" contract at every step;
//   - two schedulers fed the same workload, one stepped singly and one fast-forwarded with
//     sched_advance_decode, which must agree on every record.
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "policy/sched.h"
#include "test.h"

// ---- the shadow driver ----

typedef struct {
    int64_t n_prompt, max_new, arrival_step;
    int32_t prio;
    int64_t gen, computed, slot;  // slot: engine sequence, -1 when not running
    bool added, rejected, done, aborted, ever_scheduled;
    int64_t first_sched_step, first_token_step;
} Shadow;

typedef struct {
    Sched *s;
    SchedConfig cfg;
    Shadow *req;                 // request i has id i + 1
    int64_t n_req, next_add;     // requests are added in index order when their step comes
    int64_t *eng_len;            // [max_num_seqs] positions cached per engine sequence
    int64_t *eng_owner;          // [max_num_seqs] request index, -1 when free
    int64_t step, n_steps, n_done, last_first_sched_seq;  // step: virtual time (jumps when idle)
    uint64_t hash;
    Rng rng;
    double p_stop, p_abort;
    bool fcfs_monotone;          // first scheduling happens in add order
    int64_t max_steps;
} Driver;

static uint64_t mix(uint64_t h, int64_t v) {
    for (int i = 0; i < 8; i++) h = (h ^ (uint64_t)((v >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    return h;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
// ASSERT for helpers that return a value: records the failure and returns ret.
#define REQUIRE(cond, ret) \
    do { if (!(cond)) { test_fail(__FILE__, __LINE__, "required %s", #cond); return ret; } } while (0)

static void driver_init(Driver *d, const SchedConfig *cfg, int64_t n_req) {
    memset(d, 0, sizeof *d);
    d->cfg = *cfg;
    char err[256] = "";
    d->s = sched_create(cfg, err, sizeof err);
    CHECK(d->s);
    d->req = calloc((size_t)n_req, sizeof *d->req);
    d->n_req = n_req;
    d->eng_len = calloc((size_t)cfg->max_num_seqs, sizeof *d->eng_len);
    d->eng_owner = calloc((size_t)cfg->max_num_seqs, sizeof *d->eng_owner);
    for (int64_t i = 0; i < cfg->max_num_seqs; i++) d->eng_owner[i] = -1;
    d->hash = 0xcbf29ce484222325ull;
    d->last_first_sched_seq = -1;
    d->fcfs_monotone = true;
    d->max_steps = 2000000;
}

static void driver_free(Driver *d) {
    sched_destroy(d->s);
    free(d->req);
    free(d->eng_len);
    free(d->eng_owner);
}

// Fills a random workload: arrivals as a Poisson process in steps, lognormal-ish lengths.
static void driver_random_workload(Driver *d, Rng *r, double mean_gap_steps, int64_t max_prompt,
                                   int64_t max_new) {
    double t = 0;
    int64_t cap = sched_max_request_tokens(d->s);
    for (int64_t i = 0; i < d->n_req; i++) {
        t += rng_exponential(r, mean_gap_steps);
        Shadow *q = &d->req[i];
        q->arrival_step = (int64_t)t;
        q->n_prompt = 1 + (int64_t)rng_below(r, (uint64_t)max_prompt);
        q->max_new = 1 + (int64_t)rng_below(r, (uint64_t)max_new);
        q->prio = (int32_t)rng_below(r, 4);
        if (rng_uniform(r) < 0.03) q->n_prompt = cap;  // sometimes a request that cannot fit
        q->slot = -1;
    }
}

static void engine_free_seq(Driver *d, int64_t slot) {
    ASSERT(slot >= 0 && slot < d->cfg.max_num_seqs);
    d->eng_owner[slot] = -1;
    d->eng_len[slot] = 0;
}

// Adds every request whose arrival step has come. Each add is checked against what the
// scheduler must answer.
static void driver_arrivals(Driver *d) {
    while (d->next_add < d->n_req && d->req[d->next_add].arrival_step <= d->step) {
        Shadow *q = &d->req[d->next_add];
        int64_t waiting = sched_n_waiting(d->s);
        int rc = sched_add(d->s, (uint64_t)d->next_add + 1, q->n_prompt, q->max_new, q->prio,
                           d->step * 1000);
        if (q->n_prompt + q->max_new > sched_max_request_tokens(d->s)) EXPECT_EQ_INT(rc, ERR_RANGE);
        else if (waiting >= d->cfg.max_num_queued_reqs) EXPECT_EQ_INT(rc, ERR_FULL);
        else EXPECT_EQ_INT(rc, 0);
        q->added = rc == 0;
        q->rejected = rc != 0;
        d->next_add++;
    }
}

// Blocks the shadow says are held: Σ ceil(computed / block) over running requests.
static int64_t shadow_blocks(const Driver *d) {
    int64_t b = 0;
    for (int64_t i = 0; i < d->n_req; i++)
        if (d->req[i].slot >= 0) b += ceil_div(d->req[i].computed, d->cfg.kv_block_tokens);
    return b;
}

// One step through the scheduler, checking the plan against the shadow. Returns rows.
static int64_t driver_step(Driver *d) {
    SchedBatch b;
    EXPECT_EQ_INT(sched_step(d->s, d->step * 1000, &b), 0);
    EXPECT_EQ_INT(b.step, d->n_steps);
    EXPECT(b.n_rows <= d->cfg.max_num_seqs);
    EXPECT(b.n_tokens <= d->cfg.max_num_batched_tokens);
    d->hash = mix(d->hash, d->step);
    // Preempted requests: the worker frees their engine sequences first.
    for (int64_t i = 0; i < b.n_preempted; i++) {
        int64_t qi = (int64_t)b.preempted[i].id - 1;
        REQUIRE(qi >= 0 && qi < d->n_req, -1);
        Shadow *q = &d->req[qi];
        EXPECT(q->slot == b.preempted[i].seq_slot);
        engine_free_seq(d, q->slot);
        q->slot = -1;
        q->computed = 0;
        d->hash = mix(d->hash, -(int64_t)b.preempted[i].id);
    }
    bool *seen = calloc((size_t)d->n_req, 1);
    int64_t tokens = 0, prefill = 0, decode_rows = 0, ctx = 0;
    for (int64_t i = 0; i < b.n_rows; i++) {
        const SchedRow *w = &b.rows[i];
        int64_t qi = (int64_t)w->id - 1;
        REQUIRE(qi >= 0 && qi < d->n_req && !seen[qi], -1);
        seen[qi] = true;
        Shadow *q = &d->req[qi];
        REQUIRE(q->added && !q->done, -1);
        REQUIRE(w->seq_slot >= 0 && w->seq_slot < d->cfg.max_num_seqs, -1);
        if (q->slot < 0) {  // newly running: its engine sequence must be free
            EXPECT(d->eng_owner[w->seq_slot] == -1);
            EXPECT(b.n_preempted == 0);  // no admission in a step that had to preempt
            q->slot = w->seq_slot;
            d->eng_owner[q->slot] = qi;
            if (!q->ever_scheduled) {
                q->ever_scheduled = true;
                q->first_sched_step = d->step;
                if (qi < d->last_first_sched_seq) d->fcfs_monotone = false;
                d->last_first_sched_seq = qi;
            }
        }
        EXPECT(w->seq_slot == q->slot && d->eng_owner[q->slot] == qi);
        int64_t known = q->n_prompt + q->gen, end = w->pos_start + w->n_tokens;
        EXPECT(w->pos_start == q->computed && w->pos_start == d->eng_len[q->slot]);
        EXPECT(w->n_tokens >= 1 && end <= known);
        EXPECT(w->logits == (end == known));
        EXPECT(w->last == (w->logits && q->gen + 1 == q->max_new));
        EXPECT(w->n_prompt == q->n_prompt);
        bool decode = w->n_tokens == 1 && w->logits && q->gen >= 1;
        EXPECT(w->kind == (decode ? SCHED_ROW_DECODE : SCHED_ROW_PREFILL));
        q->computed = end;
        d->eng_len[q->slot] = end;
        tokens += w->n_tokens;
        ctx += end;
        if (decode) decode_rows++;
        else prefill += w->n_tokens;
        d->hash = mix(mix(mix(d->hash, (int64_t)w->id), w->pos_start), w->n_tokens);
    }
    EXPECT_EQ_INT(b.n_tokens, tokens);
    EXPECT_EQ_INT(b.n_prefill_tokens, prefill);
    EXPECT_EQ_INT(b.n_decode_rows, decode_rows);
    EXPECT_EQ_INT(b.ctx_tokens, ctx);
    // Every request running before this step that was not preempted got a row: decodes continue.
    for (int64_t i = 0; i < d->n_req; i++)
        if (d->req[i].slot >= 0 && !seen[i]) test_fail(__FILE__, __LINE__, "step %lld: running request %lld skipped", (long long)d->step, (long long)i + 1);
    int64_t held = shadow_blocks(d);
    EXPECT(held <= d->cfg.kv_blocks_total);
    EXPECT_EQ_INT(sched_kv_blocks_used(d->s), held);

    if (b.n_rows == 0) {  // an empty plan is not a step
        EXPECT(!sched_in_flight(d->s));
        free(seen);
        d->step++;
        return 0;
    }
    EXPECT(sched_in_flight(d->s));
    // Results: sample a stop with probability p_stop on rows with logits.
    bool *stop = calloc((size_t)(b.n_rows > 0 ? b.n_rows : 1), 1);
    for (int64_t i = 0; i < b.n_rows; i++) stop[i] = b.rows[i].logits && rng_uniform(&d->rng) < d->p_stop;
    int64_t n_fin = sched_step_done(d->s, d->step * 1000 + 999, stop);
    int64_t n_rec = 0;
    const ReqInfo *fin = sched_finished(d->s, &n_rec);
    EXPECT_EQ_INT(n_fin, n_rec);
    int64_t k = 0;
    for (int64_t i = 0; i < b.n_rows; i++) {
        if (!b.rows[i].logits) continue;
        Shadow *q = &d->req[b.rows[i].id - 1];
        if (q->gen++ == 0) q->first_token_step = d->step;
        if (!stop[i] && q->gen < q->max_new) continue;
        REQUIRE(k < n_rec, -1);
        EXPECT(fin[k].id == b.rows[i].id && fin[k].state == REQ_FINISHED);
        EXPECT(fin[k].finish == (stop[i] ? REQ_FINISH_STOP : REQ_FINISH_LENGTH));
        EXPECT_EQ_INT(fin[k].n_generated, q->gen);
        EXPECT_EQ_INT(fin[k].seq_slot, q->slot);
        EXPECT_EQ_INT(fin[k].finish_us, d->step * 1000 + 999);
        k++;
        engine_free_seq(d, q->slot);
        q->slot = -1;
        q->done = true;
        d->n_done++;
    }
    EXPECT_EQ_INT(k, n_rec);
    EXPECT_EQ_INT(sched_kv_blocks_used(d->s), shadow_blocks(d));
    int64_t rows = b.n_rows;
    free(seen);
    free(stop);
    d->step++;
    d->n_steps++;
    return rows;
}

// Aborts a random live request with probability p_abort (a client going away between steps).
static void driver_maybe_abort(Driver *d) {
    if (d->p_abort <= 0 || rng_uniform(&d->rng) >= d->p_abort || d->next_add == 0) return;
    int64_t qi = (int64_t)rng_below(&d->rng, (uint64_t)d->next_add);
    Shadow *q = &d->req[qi];
    ReqInfo out;
    int rc = sched_abort(d->s, (uint64_t)qi + 1, d->step * 1000, &out);
    if (!q->added || q->done) { EXPECT_EQ_INT(rc, ERR_NOTFOUND); return; }
    EXPECT_EQ_INT(rc, 0);
    EXPECT(out.state == REQ_ABORTED && out.finish == REQ_FINISH_ABORT);
    EXPECT_EQ_INT(out.seq_slot, q->slot);
    if (q->slot >= 0) engine_free_seq(d, q->slot);
    q->slot = -1;
    q->done = q->aborted = true;
    d->n_done++;
    EXPECT_EQ_INT(sched_kv_blocks_used(d->s), shadow_blocks(d));  // freed at once
}

// Runs until every request has arrived and every accepted one has ended. Returns false when it
// did not end within max_steps (starvation or livelock).
static bool driver_run(Driver *d) {
    while (d->step < d->max_steps) {
        driver_arrivals(d);
        driver_maybe_abort(d);
        int64_t accepted = 0;
        for (int64_t i = 0; i < d->next_add; i++) accepted += d->req[i].added;
        if (d->next_add == d->n_req && d->n_done == accepted) return true;
        if (sched_n_running(d->s) == 0 && sched_n_waiting(d->s) == 0) {  // idle: jump ahead
            if (d->next_add < d->n_req) d->step = d->req[d->next_add].arrival_step;
            continue;
        }
        int64_t rows = driver_step(d);
        if (rows < 0) return false;  // the shadow found an inconsistency (already reported)
        if (rows == 0 && sched_n_running(d->s) == 0 && d->next_add == d->n_req)
            return false;  // work waits but nothing can ever run
    }
    return false;
}

// ---- the lifecycle ----

TEST(request_moves_are_exactly_the_drawn_ones) {
    const ReqState W = REQ_WAITING, R = REQ_RUNNING, P = REQ_PREEMPTED, F = REQ_FINISHED,
                   A = REQ_ABORTED;
    const ReqState legal[][2] = {{W, R}, {W, A}, {R, P}, {R, F}, {R, A}, {P, R}, {P, A}};
    int n_legal = 0;
    for (int from = 0; from < REQ_STATE_COUNT; from++)
        for (int to = 0; to < REQ_STATE_COUNT; to++) {
            bool want = false;
            for (size_t i = 0; i < ARRAY_LEN(legal); i++)
                want |= legal[i][0] == (ReqState)from && legal[i][1] == (ReqState)to;
            EXPECT(req_can_move((ReqState)from, (ReqState)to) == want);
            n_legal += want;
        }
    EXPECT_EQ_INT(n_legal, 7);
    EXPECT(!req_can_move(REQ_STATE_COUNT, W));
    ReqInfo r = {.state = W};
    req_move(&r, R);
    req_move(&r, P);
    req_move(&r, R);
    req_move(&r, F);
    EXPECT(r.state == F);
    EXPECT(strcmp(req_state_name(P), "preempted") == 0);
    EXPECT(strcmp(req_finish_name(REQ_FINISH_LENGTH), "length") == 0);
}

// ---- configuration and admission ----

static SchedConfig small_cfg(void) {
    SchedConfig c;
    sched_config_default(&c);
    c.max_num_seqs = 4;
    c.max_num_batched_tokens = 64;
    c.max_num_queued_reqs = 3;
    c.max_model_len = 100;
    c.kv_block_tokens = 4;
    c.kv_blocks_total = 6;  // 24 positions
    return c;
}

TEST(sched_create_rejects_bad_knobs) {
    char err[256];
    SchedConfig c;
    sched_config_default(&c);
    EXPECT(sched_create(&c, err, sizeof err) == NULL);  // kv_blocks_total not set
    EXPECT(strstr(err, "kv_blocks_total") != NULL);
    c = small_cfg();
    c.max_num_batched_tokens = 2;
    EXPECT(sched_create(&c, err, sizeof err) == NULL);
    EXPECT(strstr(err, "max_num_batched_tokens (2) < max_num_seqs (4)") != NULL);
    c = small_cfg();
    c.kv_block_tokens = 0;
    EXPECT(sched_create(&c, err, sizeof err) == NULL);
    c = small_cfg();
    c.policy = (SchedPolicy)7;
    EXPECT(sched_create(&c, err, sizeof err) == NULL);
    c = small_cfg();
    Sched *s = sched_create(&c, err, sizeof err);
    EXPECT(s != NULL);
    sched_destroy(s);
    sched_destroy(NULL);
}

TEST(sched_add_rejects_what_can_never_run_and_bounds_the_queue) {
    SchedConfig c = small_cfg();
    Sched *s = sched_create(&c, NULL, 0);
    ASSERT(s);
    EXPECT_EQ_INT(sched_max_request_tokens(s), 24);            // KV capacity 6 blocks × 4
    EXPECT_EQ_INT(sched_add(s, 1, 20, 5, 0, 0), ERR_RANGE);    // 25 > 24 positions
    EXPECT_EQ_INT(sched_add(s, 1, 0, 5, 0, 0), ERR_ARG);
    EXPECT_EQ_INT(sched_add(s, 1, 5, 0, 0, 0), ERR_ARG);
    EXPECT_EQ_INT(sched_add(s, 1, INT64_MAX, INT64_MAX, 0, 0), ERR_RANGE);
    EXPECT_EQ_INT(sched_add(s, 1, 20, 4, 0, 0), 0);            // exactly fits
    EXPECT_EQ_INT(sched_add(s, 1, 2, 2, 0, 0), ERR_ARG);       // id already live
    EXPECT_EQ_INT(sched_add(s, 2, 2, 2, 0, 0), 0);
    EXPECT_EQ_INT(sched_add(s, 3, 2, 2, 0, 0), 0);
    EXPECT_EQ_INT(sched_add(s, 4, 2, 2, 0, 0), ERR_FULL);      // 3 waiting = the bound
    EXPECT_EQ_INT(sched_n_waiting(s), 3);
    EXPECT_EQ_INT(sched_counters(s)->rejected_full, 1);
    EXPECT_EQ_INT(sched_counters(s)->rejected_range, 2);
    SchedBatch b;
    sched_step(s, 0, &b);
    EXPECT_EQ_INT(b.n_rows, 2);  // 1 takes 5 blocks, 2 takes the sixth; 3 waits for a block
    sched_step_done(s, 10, NULL);
    EXPECT_EQ_INT(sched_add(s, 4, 2, 2, 0, 0), 0);             // the queue has room again
    sched_destroy(s);

    // Context bound, and the budget bound when prefill cannot be chunked.
    c = small_cfg();
    c.kv_blocks_total = 1000;
    c.max_model_len = 50;
    s = sched_create(&c, NULL, 0);
    EXPECT_EQ_INT(sched_add(s, 1, 40, 11, 0, 0), ERR_RANGE);
    EXPECT_EQ_INT(sched_add(s, 1, 40, 10, 0, 0), 0);
    sched_destroy(s);
    c.enable_chunked_prefill = false;
    c.max_num_batched_tokens = 32;
    s = sched_create(&c, NULL, 0);
    EXPECT_EQ_INT(sched_max_request_tokens(s), 32);
    EXPECT_EQ_INT(sched_add(s, 1, 30, 3, 0, 0), ERR_RANGE);  // a recompute of 32 tokens must fit
    EXPECT_EQ_INT(sched_add(s, 1, 30, 2, 0, 0), 0);
    sched_destroy(s);
}

// ---- scripted schedules (expected values derived by hand) ----

TEST(sched_single_request_chunks_then_decodes) {
    SchedConfig c = small_cfg();
    c.long_prefill_token_threshold = 4;
    Sched *s = sched_create(&c, NULL, 0);
    ASSERT(s);
    SchedBatch e;
    sched_step(s, 0, &e);  // nothing to run: an empty plan, not a step
    EXPECT(e.n_rows == 0 && e.step == 0 && !sched_in_flight(s));
    EXPECT_EQ_INT(sched_step_done(s, 0, NULL), 0);  // closing it anyway is a no-op
    EXPECT_EQ_INT(sched_add(s, 7, 10, 3, 0, 100), 0);
    // Prompt 10 in chunks of 4: [0,4) [4,8) [8,10)+logits → token 1; then decodes at 10, 11.
    const int64_t want_pos[] = {0, 4, 8, 10, 11}, want_n[] = {4, 4, 2, 1, 1};
    const bool want_logits[] = {false, false, true, true, true};
    const int64_t want_blocks[] = {1, 2, 3, 3, 3};  // ceil(end / 4) while running
    for (int i = 0; i < 5; i++) {
        SchedBatch b;
        sched_step(s, 1000 * (i + 1), &b);
        ASSERT(b.n_rows == 1);
        EXPECT_EQ_INT(b.step, i);
        EXPECT_EQ_INT(b.rows[0].pos_start, want_pos[i]);
        EXPECT_EQ_INT(b.rows[0].n_tokens, want_n[i]);
        EXPECT(b.rows[0].logits == want_logits[i]);
        EXPECT(b.rows[0].kind == (i >= 3 ? SCHED_ROW_DECODE : SCHED_ROW_PREFILL));
        EXPECT(b.rows[0].last == (i == 4));
        EXPECT_EQ_INT(sched_kv_blocks_used(s), want_blocks[i]);
        sched_step_done(s, 1000 * (i + 1) + 500, NULL);
    }
    int64_t n;
    const ReqInfo *f = sched_finished(s, &n);
    ASSERT(n == 1);
    EXPECT(f[0].id == 7 && f[0].finish == REQ_FINISH_LENGTH && f[0].n_generated == 3);
    EXPECT_EQ_INT(f[0].arrival_us, 100);
    EXPECT_EQ_INT(f[0].first_scheduled_us, 1000);
    EXPECT_EQ_INT(f[0].first_token_us, 3500);
    EXPECT_EQ_INT(f[0].finish_us, 5500);
    EXPECT_EQ_INT(sched_kv_blocks_used(s), 0);
    EXPECT_EQ_INT(sched_n_running(s), 0);
    EXPECT_EQ_INT(sched_counters(s)->prompt_tokens, 10);
    EXPECT_EQ_INT(sched_counters(s)->generation_tokens, 3);
    sched_destroy(s);
}

// Three requests (prompt 4, 12 new tokens) in 6 blocks of 4. Worked out by hand:
//   step 0     A, B, C prefill 4 tokens (1 block each), token 1 each; 3 blocks free
//   step 1     decodes at pos 4 need a 2nd block each: 0 free
//   steps 2-4  pos 5..7 fit
//   step 5     pos 8 needs a 3rd block: A preempts the newest, C (frees 2); A, B take one each
//   steps 6-8  A, B at pos 9..11; C (9 tokens → 3 blocks) cannot be admitted
//   step 9     pos 12 needs a 4th block: A preempts B (frees 3); A takes one; 2 free
//   steps 10-11 A decodes; A's 12th token at step 11 → finished; 6 free
//   step 12    B recomputes 13 tokens ([0,13), 4 blocks) → token 10; C (3 blocks) waits
//   steps 13-14 B → 12 tokens at step 14, finished
//   step 15    C recomputes 9 tokens → token 6; steps 16-21 decode → finished at step 21
static void preemption_script(SchedPolicy policy, const int32_t prio[3], const uint64_t want_victims[2]) {
    SchedConfig c = small_cfg();
    c.policy = policy;
    Sched *s = sched_create(&c, NULL, 0);
    ASSERT(s);
    for (int i = 0; i < 3; i++) EXPECT_EQ_INT(sched_add(s, (uint64_t)i + 1, 4, 12, prio[i], 0), 0);
    uint64_t victims[4] = {0};
    int n_victims = 0;
    int64_t finish_step[4] = {0};
    for (int64_t step = 0; step < 40 && sched_n_running(s) + sched_n_waiting(s) > 0; step++) {
        SchedBatch b;
        sched_step(s, step, &b);
        for (int64_t i = 0; i < b.n_preempted; i++) {
            EXPECT(step == 5 || step == 9);
            if (n_victims < 4) victims[n_victims++] = b.preempted[i].id;
        }
        if (step == 12 || step == 15) {  // the recompute row: whole history as one prefill
            ASSERT(b.n_rows == 1);
            EXPECT_EQ_INT(b.rows[0].pos_start, 0);
            EXPECT_EQ_INT(b.rows[0].n_tokens, step == 12 ? 13 : 9);
            EXPECT(b.rows[0].logits && b.rows[0].kind == SCHED_ROW_PREFILL);
        }
        if (step == 13) {  // continues right after the recomputed positions
            ASSERT(b.n_rows == 1);
            EXPECT_EQ_INT(b.rows[0].pos_start, 13);
            EXPECT(b.rows[0].kind == SCHED_ROW_DECODE);
        }
        sched_step_done(s, step, NULL);
        int64_t n;
        const ReqInfo *f = sched_finished(s, &n);
        for (int64_t i = 0; i < n; i++) {
            EXPECT_EQ_INT(f[i].n_generated, 12);
            finish_step[f[i].id] = step;
        }
    }
    EXPECT_EQ_INT(n_victims, 2);
    EXPECT(victims[0] == want_victims[0] && victims[1] == want_victims[1]);
    uint64_t first = 6 - want_victims[0] - want_victims[1];  // the one never preempted
    EXPECT_EQ_INT(finish_step[first], 11);
    EXPECT_EQ_INT(finish_step[want_victims[1]], 14);
    EXPECT_EQ_INT(finish_step[want_victims[0]], 21);
    EXPECT_EQ_INT(sched_counters(s)->preemptions, 2);
    EXPECT_EQ_INT(sched_counters(s)->recomputed_tokens, 12 + 8);
    EXPECT_EQ_INT(sched_counters(s)->prompt_tokens, 12);
    EXPECT_EQ_INT(sched_counters(s)->generation_tokens, 36);
    EXPECT_EQ_INT(sched_kv_blocks_used(s), 0);
    sched_destroy(s);
}

TEST(sched_preempts_newest_first_and_recomputes) {
    const int32_t prio[3] = {0, 0, 0};
    const uint64_t victims[2] = {3, 2};  // C, then B
    preemption_script(SCHED_FCFS, prio, victims);
}

TEST(sched_priority_preempts_lowest_priority_first) {
    // Same script; the running order is B (0), C (1), A (2): A plays C's part, C plays B's.
    const int32_t prio[3] = {2, 0, 1};
    const uint64_t victims[2] = {1, 3};
    preemption_script(SCHED_PRIORITY, prio, victims);
}

TEST(sched_priority_orders_admission_fcfs_among_equals) {
    SchedConfig c = small_cfg();
    c.policy = SCHED_PRIORITY;
    c.max_num_seqs = 1;
    c.max_num_queued_reqs = 8;
    c.kv_blocks_total = 100;
    Sched *s = sched_create(&c, NULL, 0);
    ASSERT(s);
    EXPECT_EQ_INT(sched_add(s, 99, 4, 3, 5, 0), 0);  // runs first: alone when it arrives
    SchedBatch b;
    sched_step(s, 0, &b);
    sched_step_done(s, 0, NULL);
    const int32_t prio[] = {3, 1, 3, 0, 1};
    for (int i = 0; i < 5; i++) EXPECT_EQ_INT(sched_add(s, 10 + (uint64_t)i, 4, 3, prio[i], 1), 0);
    const uint64_t want[] = {99, 13, 11, 14, 10, 12};  // 99 is never preempted by a waiting one
    int k = 0;
    uint64_t prev = 0;
    for (int64_t step = 1; step < 100 && sched_n_running(s) + sched_n_waiting(s) > 0; step++) {
        sched_step(s, step, &b);
        ASSERT(b.n_rows == 1);
        if (b.rows[0].id != prev) {
            ASSERT(k < 6);
            EXPECT_EQ_INT(b.rows[0].id, want[k]);
            k++;
            prev = b.rows[0].id;
        }
        sched_step_done(s, step, NULL);
    }
    EXPECT_EQ_INT(k, 6);
    sched_destroy(s);
}

TEST(sched_chunked_prefill_keeps_decodes_running) {
    for (int variant = 0; variant < 2; variant++) {
        SchedConfig c = small_cfg();
        c.max_num_batched_tokens = 32;
        c.kv_blocks_total = 1000;
        c.max_model_len = 1000;
        c.long_prefill_token_threshold = variant ? 8 : 0;
        Sched *s = sched_create(&c, NULL, 0);
        ASSERT(s);
        EXPECT_EQ_INT(sched_add(s, 1, 4, 100, 0, 0), 0);
        SchedBatch b;
        for (int i = 0; i < 2; i++) { sched_step(s, i, &b); sched_step_done(s, i, NULL); }
        EXPECT_EQ_INT(sched_add(s, 2, 300, 5, 0, 2), 0);
        // Chunk = min(threshold, 32 - 1 for the decode): 31 → 10 chunks; 8 → 38 chunks.
        int64_t chunk = variant ? 8 : 31, n_chunks = (300 + chunk - 1) / chunk, done = 0;
        for (int64_t i = 0; i < n_chunks; i++) {
            sched_step(s, 2 + i, &b);
            ASSERT(b.n_rows == 2);
            EXPECT(b.rows[0].id == 1 && b.rows[0].kind == SCHED_ROW_DECODE);
            EXPECT(b.rows[1].id == 2 && b.rows[1].pos_start == done);
            EXPECT_EQ_INT(b.rows[1].n_tokens, i + 1 < n_chunks ? chunk : 300 - done);
            EXPECT(b.rows[1].logits == (i + 1 == n_chunks));
            done += b.rows[1].n_tokens;
            sched_step_done(s, 2 + i, NULL);
        }
        ReqInfo r;
        EXPECT_EQ_INT(sched_get(s, 2, &r), 0);
        EXPECT_EQ_INT(r.n_generated, 1);
        EXPECT_EQ_INT(r.first_token_us, 2 + n_chunks - 1);
        sched_destroy(s);
    }
}

TEST(sched_abort_frees_blocks_at_once) {
    SchedConfig c = small_cfg();
    Sched *s = sched_create(&c, NULL, 0);
    ASSERT(s);
    EXPECT_EQ_INT(sched_add(s, 1, 10, 4, 0, 0), 0);  // 3 blocks
    EXPECT_EQ_INT(sched_add(s, 2, 5, 4, 0, 0), 0);   // 2 blocks
    EXPECT_EQ_INT(sched_add(s, 3, 9, 4, 0, 0), 0);   // needs 3: waits
    SchedBatch b;
    sched_step(s, 0, &b);
    EXPECT_EQ_INT(b.n_rows, 2);
    sched_step_done(s, 1, NULL);
    EXPECT_EQ_INT(sched_kv_blocks_used(s), 5);
    ReqInfo r;
    EXPECT_EQ_INT(sched_abort(s, 1, 2, &r), 0);
    EXPECT_EQ_INT(sched_kv_blocks_used(s), 2);
    EXPECT(r.state == REQ_ABORTED && r.finish == REQ_FINISH_ABORT && r.finish_us == 2);
    EXPECT(r.seq_slot >= 0 && r.n_generated == 1);
    EXPECT_EQ_INT(sched_get(s, 1, &r), ERR_NOTFOUND);
    EXPECT_EQ_INT(sched_abort(s, 1, 2, NULL), ERR_NOTFOUND);
    EXPECT_EQ_INT(sched_abort(s, 3, 2, NULL), 0);  // a waiting one
    EXPECT_EQ_INT(sched_n_waiting(s), 0);
    // Abort while a step is in flight: the row is ignored at step_done.
    sched_step(s, 3, &b);
    ASSERT(b.n_rows == 1 && b.rows[0].id == 2);
    EXPECT_EQ_INT(sched_abort(s, 2, 3, NULL), 0);
    EXPECT_EQ_INT(sched_add(s, 2, 3, 3, 0, 3), 0);  // same id again, maybe the same slot
    EXPECT_EQ_INT(sched_step_done(s, 4, NULL), 0);
    EXPECT_EQ_INT(sched_get(s, 2, &r), 0);
    EXPECT(r.state == REQ_WAITING && r.n_generated == 0);
    EXPECT_EQ_INT(sched_kv_blocks_used(s), 0);
    EXPECT_EQ_INT(sched_counters(s)->aborted, 3);
    sched_destroy(s);
}

// ---- properties over random workloads ----

static SchedConfig random_cfg(Rng *r, bool tight_kv) {
    SchedConfig c;
    sched_config_default(&c);
    c.max_num_seqs = 1 + (int64_t)rng_below(r, 12);
    c.max_num_batched_tokens = c.max_num_seqs + (int64_t)rng_below(r, 100);
    c.max_num_queued_reqs = 1 + (int64_t)rng_below(r, 64);
    c.kv_block_tokens = 1 + (int64_t)rng_below(r, 16);
    c.max_model_len = 40 + (int64_t)rng_below(r, 200);
    c.kv_blocks_total = tight_kv ? ceil_div(c.max_model_len, c.kv_block_tokens) + (int64_t)rng_below(r, 4)
                                 : 20 + (int64_t)rng_below(r, 400);
    c.enable_chunked_prefill = rng_below(r, 4) != 0;
    c.long_prefill_token_threshold = rng_below(r, 2) ? 0 : 1 + (int64_t)rng_below(r, 40);
    c.policy = rng_below(r, 3) ? SCHED_FCFS : SCHED_PRIORITY;
    return c;
}

TEST(sched_property_budgets_hold_and_everything_finishes) {
    Rng r;
    rng_seed(&r, 20261129);
    int64_t total_preempt = 0, total_done = 0, total_full = 0;
    for (int trial = 0; trial < 300; trial++) {
        bool tight = trial % 2 == 1;  // half the trials preempt heavily
        SchedConfig c = random_cfg(&r, tight);
        Driver d;
        driver_init(&d, &c, 60);
        rng_seed(&d.rng, (uint64_t)trial);
        d.p_stop = trial % 3 == 0 ? 0.05 : 0;
        d.p_abort = trial % 5 == 0 ? 0.02 : 0;
        driver_random_workload(&d, &r, 1.0 + rng_uniform(&r) * 6, 120, 80);
        bool ok = driver_run(&d);
        if (!ok) test_fail(__FILE__, __LINE__, "trial %d did not finish by step %lld", trial, (long long)d.step);
        if (c.policy == SCHED_FCFS && !d.fcfs_monotone)
            test_fail(__FILE__, __LINE__, "trial %d: FCFS first-scheduled out of add order", trial);
        EXPECT_EQ_INT(sched_kv_blocks_used(d.s), 0);
        EXPECT_EQ_INT(sched_n_running(d.s) + sched_n_waiting(d.s), 0);
        const SchedCounters *k = sched_counters(d.s);
        EXPECT_EQ_INT(k->finished + k->aborted, d.n_done);
        total_preempt += k->preemptions;
        total_done += d.n_done;
        total_full += k->rejected_full;
        driver_free(&d);
    }
    EXPECT(total_preempt > 5000);  // the tight half really exercised preemption
    EXPECT(total_done > 5000);
    EXPECT(total_full > 100);      // and overload met the queue bound
}

// Under FCFS with equal requests, first tokens come in arrival order.
TEST(sched_fcfs_first_tokens_in_arrival_order) {
    SchedConfig c = small_cfg();
    c.max_num_seqs = 3;
    c.max_num_queued_reqs = 50;
    c.kv_blocks_total = 12;
    c.max_model_len = 40;
    Driver d;
    driver_init(&d, &c, 40);
    for (int64_t i = 0; i < 40; i++)
        d.req[i] = (Shadow){.arrival_step = i / 3, .n_prompt = 9, .max_new = 1 + (i * 7) % 15, .slot = -1};
    ASSERT(driver_run(&d));
    int64_t prev = -1;
    for (int64_t i = 0; i < 40; i++) {
        EXPECT(d.req[i].first_token_step >= prev);
        EXPECT(d.req[i].first_token_step == d.req[i].first_sched_step);  // whole prompt in one step
        prev = d.req[i].first_token_step;
    }
    EXPECT(sched_counters(d.s)->preemptions > 0);
    driver_free(&d);
}

static uint64_t trace_hash(uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    SchedConfig c = random_cfg(&r, true);
    c.max_num_seqs = 8;
    c.max_num_batched_tokens = 64;
    c.policy = SCHED_PRIORITY;
    Driver d;
    driver_init(&d, &c, 200);
    rng_seed(&d.rng, seed);
    d.p_stop = 0.02;
    driver_random_workload(&d, &r, 2.0, 100, 60);
    CHECK(driver_run(&d));
    uint64_t h = d.hash;
    driver_free(&d);
    return h;
}

TEST(sched_is_deterministic_for_a_seed) {
    EXPECT(trace_hash(42) == trace_hash(42));
    EXPECT(trace_hash(42) != trace_hash(43));
}

// ---- fast-forward equals single steps ----

// Compares every live record and the counters of two schedulers.
static void expect_same_state(const Sched *a, const Sched *b, int64_t n_ids) {
    EXPECT_EQ_INT(sched_n_running(a), sched_n_running(b));
    EXPECT_EQ_INT(sched_n_waiting(a), sched_n_waiting(b));
    EXPECT_EQ_INT(sched_kv_blocks_used(a), sched_kv_blocks_used(b));
    EXPECT(memcmp(sched_counters(a), sched_counters(b), sizeof(SchedCounters)) == 0);
    for (int64_t id = 1; id <= n_ids; id++) {
        ReqInfo x, y;
        int ra = sched_get(a, (uint64_t)id, &x), rb = sched_get(b, (uint64_t)id, &y);
        EXPECT_EQ_INT(ra, rb);
        if (ra == 0 && rb == 0 && memcmp(&x, &y, sizeof x) != 0)
            test_fail(__FILE__, __LINE__, "request %lld differs", (long long)id);
    }
}

TEST(sched_advance_decode_equals_single_steps) {
    Rng r;
    rng_seed(&r, 77);
    int64_t advanced = 0, runs = 0, limited_by_kv = 0;
    for (int trial = 0; trial < 60; trial++) {
        SchedConfig c = random_cfg(&r, trial % 2 == 0);
        Driver slow, fast;  // the fast one only uses its workload and sched
        driver_init(&slow, &c, 40);
        driver_init(&fast, &c, 40);
        driver_random_workload(&slow, &r, 8.0, 60, 200);
        memcpy(fast.req, slow.req, (size_t)slow.n_req * sizeof *slow.req);
        int64_t fin_slow = 0, fin_fast = 0;
        uint64_t fin_hash_slow = 1, fin_hash_fast = 1;
        for (int64_t step = 0; step < 100000; step++) {
            // Arrivals for this step go to both.
            slow.step = fast.step = step;
            driver_arrivals(&slow);
            driver_arrivals(&fast);
            if (slow.next_add == slow.n_req && sched_n_running(slow.s) + sched_n_waiting(slow.s) == 0) break;
            int64_t next_arrival = slow.next_add < slow.n_req ? slow.req[slow.next_add].arrival_step : INT64_MAX;
            SchedDecodeRun run;
            int64_t k = sched_steps_until_change(fast.s, &run);
            if (k > 0) {
                int64_t kk = min_i64(k, next_arrival - step);
                if (kk > 1 && rng_below(&r, 4) == 0) kk = 1 + (int64_t)rng_below(&r, (uint64_t)kk);
                // The slow one takes the same kk steps singly; each must be the promised decode step.
                for (int64_t j = 0; j < kk; j++) {
                    SchedBatch b;
                    sched_step(slow.s, (step + j) * 1000, &b);
                    EXPECT(b.n_preempted == 0 && b.n_rows == run.n_rows && b.n_decode_rows == run.n_rows);
                    EXPECT_EQ_INT(b.ctx_tokens, run.ctx_tokens + j * run.n_rows);
                    int64_t nf = sched_step_done(slow.s, (step + j) * 1000 + 999, NULL);
                    if (j + 1 < kk) EXPECT_EQ_INT(nf, 0);
                    int64_t n;
                    const ReqInfo *f = sched_finished(slow.s, &n);
                    for (int64_t i = 0; i < n; i++) fin_hash_slow = fin_hash_slow * 31 + f[i].id;
                    fin_slow += nf;
                }
                fin_fast += sched_advance_decode(fast.s, kk, (step + kk - 1) * 1000 + 999);
                int64_t n;
                const ReqInfo *f = sched_finished(fast.s, &n);
                for (int64_t i = 0; i < n; i++) fin_hash_fast = fin_hash_fast * 31 + f[i].id;
                EXPECT_EQ_INT(run.n_steps, k);
                if (kk == k && n == 0) {
                    // Maximal: the run ended without a finish, so the KV bound cut it and the
                    // very next step must preempt.
                    limited_by_kv++;
                    EXPECT_EQ_INT(sched_steps_until_change(fast.s, NULL), 0);
                }
                advanced += kk;
                runs++;
                step += kk - 1;
            } else {
                SchedBatch b1, b2;
                sched_step(slow.s, step * 1000, &b1);
                sched_step(fast.s, step * 1000, &b2);
                EXPECT_EQ_INT(b1.n_rows, b2.n_rows);
                if (b1.n_rows == 0 || b2.n_rows == 0) continue;  // idle until the next arrival
                int64_t n1 = sched_step_done(slow.s, step * 1000 + 999, NULL);
                int64_t n2 = sched_step_done(fast.s, step * 1000 + 999, NULL);
                EXPECT_EQ_INT(n1, n2);
                int64_t n;
                const ReqInfo *f = sched_finished(slow.s, &n);
                for (int64_t i = 0; i < n; i++) fin_hash_slow = fin_hash_slow * 31 + f[i].id;
                f = sched_finished(fast.s, &n);
                for (int64_t i = 0; i < n; i++) fin_hash_fast = fin_hash_fast * 31 + f[i].id;
                fin_slow += n1;
                fin_fast += n2;
            }
            expect_same_state(slow.s, fast.s, slow.n_req);
        }
        EXPECT_EQ_INT(fin_slow, fin_fast);
        EXPECT(fin_hash_slow == fin_hash_fast);
        driver_free(&slow);
        driver_free(&fast);
    }
    EXPECT(runs > 100 && advanced > 5 * runs);  // the fast path really skipped many steps
    EXPECT(limited_by_kv > 0);                  // and the KV bound was exercised
}

// A prefix-cache query that says request 2 has 8 positions cached (of any length > 8).
static int64_t fake_lookup(void *ctx, uint64_t id, int64_t n_tokens) {
    (*(int64_t *)ctx)++;
    return id == 2 && n_tokens > 8 ? 8 : 0;
}

TEST(sched_prefix_cache_admits_after_the_cached_prefix) {
    SchedConfig c = small_cfg();
    c.kv_blocks_total = 10;
    int64_t calls = 0;
    c.prefix_lookup = fake_lookup;
    c.prefix_ctx = &calls;
    char err[256];
    Sched *s = sched_create(&c, err, sizeof err);
    ASSERT(s);
    ASSERT(sched_add(s, 1, 13, 2, 0, 0) == 0);
    ASSERT(sched_add(s, 2, 13, 2, 0, 0) == 0);
    SchedBatch b;
    sched_step(s, 1, &b);
    ASSERT(b.n_rows == 2);
    EXPECT_EQ_INT(b.rows[0].pos_start, 0);
    EXPECT_EQ_INT(b.rows[0].n_cached, 0);
    EXPECT_EQ_INT(b.rows[1].pos_start, 8);   // computes only positions 8..12
    EXPECT_EQ_INT(b.rows[1].n_tokens, 5);
    EXPECT_EQ_INT(b.rows[1].n_cached, 8);
    EXPECT(b.rows[1].logits);
    EXPECT_EQ_INT(b.n_prefill_tokens, 13 + 5);
    // Blocks are counted as if each request held its own: ceil(13/4) each.
    EXPECT_EQ_INT(sched_kv_blocks_used(s), 8);
    const SchedCounters *k = sched_counters(s);
    EXPECT_EQ_INT(k->prefix_queries, 26);
    EXPECT_EQ_INT(k->prefix_hits, 8);
    EXPECT_EQ_INT(k->prompt_tokens, 18);
    EXPECT(calls >= 2);
    ReqInfo info;
    ASSERT(sched_get(s, 2, &info) == 0);
    EXPECT_EQ_INT(info.n_cached, 8);
    sched_step_done(s, 2, NULL);
    sched_step(s, 3, &b);  // decodes: no n_cached on later rows
    for (int64_t i = 0; i < b.n_rows; i++) EXPECT_EQ_INT(b.rows[i].n_cached, 0);
    sched_step_done(s, 4, NULL);
    sched_destroy(s);
}
