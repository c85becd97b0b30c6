// sched.c — continuous-batching scheduler (contracts and the step algorithm in sched.h).
//
// Data layout, all sized at sched_create from the config (P = max_num_seqs + max_num_queued_reqs):
//   pool[P]        request slots (record + scheduler bookkeeping), recycled through free_slots
//   idmap[2^m]     open-addressing map id -> pool index (linear probing, backward-shift delete)
//   heap[P]        waiting queue (WAITING and PREEMPTED) as a binary min-heap on the order key
//   running[S]     running requests sorted by the order key (oldest first, newest last)
//   seq_free[S]    free engine sequence indices
//   rows/row_idx/preempted/finished: the last step's plan and results
// The order key is (priority under SCHED_PRIORITY else 0, add sequence number): the same key
// orders the waiting queue, the running set, and picks the preemption victim (the largest).
//
// Why the pool bound holds: sched_add only succeeds while waiting < max_num_queued_reqs, running
// never exceeds max_num_seqs, and preemption only moves requests from running to waiting, so
// live requests never exceed P.
#include "policy/sched.h"

#include <stdlib.h>
#include <string.h>

#include "base/check.h"

typedef struct {
    ReqInfo info;
    int64_t seq_no;      // add order: the FCFS part of the order key
    int64_t blocks;      // KV blocks held = ceil(info.n_computed / kv_block_tokens)
    int64_t hw;          // high-water mark of n_computed: positions below it were computed before
    int64_t step_sched;  // step number this request was last scheduled in (-1: never)
    int64_t heap_pos;    // index in heap while WAITING/PREEMPTED, else -1
    bool live;
} Slot;

struct Sched {
    SchedConfig cfg;
    int64_t n_pool;
    Slot *pool;
    int64_t *free_slots;   // stack of free pool indices
    int64_t n_free_slots;
    int64_t *idmap;        // pool index + 1, 0 = empty
    uint64_t idmap_mask;
    int64_t *heap;         // pool indices
    int64_t n_heap;
    int64_t *running;      // pool indices, sorted by key
    int64_t n_running;
    int32_t *seq_free;     // stack of free engine sequence indices
    int64_t n_seq_free;
    int64_t blocks_free;
    int64_t next_seq_no;
    int64_t step_no;       // number of the next (or in-flight) step
    bool in_flight;
    bool last_plan_empty;  // the last sched_step planned nothing (and no step_done came since)
    // The last step's plan and results.
    SchedRow *rows;
    int64_t *row_idx;      // pool index of each row
    int64_t n_rows;
    SchedPreempted *preempted;
    int64_t n_preempted;
    ReqInfo *finished;
    int64_t n_finished;
    SchedCounters counters;
};

// ---- small helpers ----

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static int64_t blocks_for(const Sched *s, int64_t positions) {
    return (positions + s->cfg.kv_block_tokens - 1) / s->cfg.kv_block_tokens;
}

static int64_t prio_key(const Sched *s, const Slot *x) {
    return s->cfg.policy == SCHED_PRIORITY ? x->info.priority : 0;
}

// True when pool[a] runs before pool[b].
static bool before(const Sched *s, int64_t a, int64_t b) {
    const Slot *x = &s->pool[a], *y = &s->pool[b];
    int64_t px = prio_key(s, x), py = prio_key(s, y);
    if (px != py) return px < py;
    return x->seq_no < y->seq_no;
}

void sched_config_default(SchedConfig *c) {
    memset(c, 0, sizeof *c);
    c->max_num_seqs = 128;
    c->max_num_batched_tokens = 2048;
    c->max_num_queued_reqs = 256;
    c->max_model_len = 4096;
    c->kv_block_tokens = 16;
    c->kv_blocks_total = 0;
    c->enable_chunked_prefill = true;
    c->long_prefill_token_threshold = 0;
    c->policy = SCHED_FCFS;
}

// ---- id map: open addressing, linear probing, backward-shift deletion ----

static uint64_t id_hash(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Pool index of id, or -1.
static int64_t idmap_find(const Sched *s, uint64_t id) {
    for (uint64_t h = id_hash(id) & s->idmap_mask;; h = (h + 1) & s->idmap_mask) {
        int64_t v = s->idmap[h];
        if (v == 0) return -1;
        if (s->pool[v - 1].info.id == id) return v - 1;
    }
}

static void idmap_put(Sched *s, uint64_t id, int64_t idx) {
    uint64_t h = id_hash(id) & s->idmap_mask;
    while (s->idmap[h] != 0) h = (h + 1) & s->idmap_mask;
    s->idmap[h] = idx + 1;
}

static void idmap_del(Sched *s, uint64_t id) {
    uint64_t h = id_hash(id) & s->idmap_mask;
    while (s->pool[s->idmap[h] - 1].info.id != id) h = (h + 1) & s->idmap_mask;
    // Backward shift: move later entries of the probe chain into the hole when their home
    // bucket does not lie (cyclically) in (hole, j].
    uint64_t hole = h;
    for (uint64_t j = (h + 1) & s->idmap_mask; s->idmap[j] != 0; j = (j + 1) & s->idmap_mask) {
        uint64_t home = id_hash(s->pool[s->idmap[j] - 1].info.id) & s->idmap_mask;
        bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            s->idmap[hole] = s->idmap[j];
            hole = j;
        }
    }
    s->idmap[hole] = 0;
}

// ---- waiting queue: binary min-heap of pool indices on the order key ----

static void heap_set(Sched *s, int64_t pos, int64_t idx) {
    s->heap[pos] = idx;
    s->pool[idx].heap_pos = pos;
}

static void heap_up(Sched *s, int64_t pos) {
    int64_t idx = s->heap[pos];
    while (pos > 0) {
        int64_t parent = (pos - 1) / 2;
        if (!before(s, idx, s->heap[parent])) break;
        heap_set(s, pos, s->heap[parent]);
        pos = parent;
    }
    heap_set(s, pos, idx);
}

static void heap_down(Sched *s, int64_t pos) {
    int64_t idx = s->heap[pos];
    for (;;) {
        int64_t c = 2 * pos + 1;
        if (c >= s->n_heap) break;
        if (c + 1 < s->n_heap && before(s, s->heap[c + 1], s->heap[c])) c++;
        if (!before(s, s->heap[c], idx)) break;
        heap_set(s, pos, s->heap[c]);
        pos = c;
    }
    heap_set(s, pos, idx);
}

static void heap_push(Sched *s, int64_t idx) {
    CHECK(s->n_heap < s->n_pool);
    s->n_heap++;
    heap_set(s, s->n_heap - 1, idx);
    heap_up(s, s->n_heap - 1);
}

static void heap_remove(Sched *s, int64_t idx) {
    int64_t pos = s->pool[idx].heap_pos;
    CHECK(pos >= 0 && pos < s->n_heap && s->heap[pos] == idx);
    s->pool[idx].heap_pos = -1;
    s->n_heap--;
    if (pos == s->n_heap) return;
    int64_t moved = s->heap[s->n_heap];  // the last leaf fills the hole, then sifts either way
    heap_set(s, pos, moved);
    heap_up(s, pos);
    if (s->pool[moved].heap_pos == pos) heap_down(s, pos);
}

// ---- running set: sorted by the order key ----

static void running_insert(Sched *s, int64_t idx) {
    CHECK(s->n_running < s->cfg.max_num_seqs);
    int64_t i = s->n_running;
    while (i > 0 && before(s, idx, s->running[i - 1])) {
        s->running[i] = s->running[i - 1];
        i--;
    }
    s->running[i] = idx;
    s->n_running++;
}

static void running_remove(Sched *s, int64_t idx) {
    int64_t i = 0;
    while (i < s->n_running && s->running[i] != idx) i++;
    CHECK(i < s->n_running);
    memmove(&s->running[i], &s->running[i + 1], (size_t)(s->n_running - i - 1) * sizeof *s->running);
    s->n_running--;
}

// ---- create / destroy ----

#define KNOB_MAX ((int64_t)1 << 40)

int sched_config_check(const SchedConfig *c, char *err, size_t err_len) {
    const struct { const char *name; int64_t v, lo, hi; } knobs[] = {
        {"max_num_seqs", c->max_num_seqs, 1, (int64_t)1 << 20},
        {"max_num_batched_tokens", c->max_num_batched_tokens, 1, KNOB_MAX},
        {"max_num_queued_reqs", c->max_num_queued_reqs, 1, (int64_t)1 << 24},
        {"max_model_len", c->max_model_len, 2, KNOB_MAX},
        {"kv_block_tokens", c->kv_block_tokens, 1, (int64_t)1 << 20},
        {"kv_blocks_total", c->kv_blocks_total, 0, KNOB_MAX},
        {"long_prefill_token_threshold", c->long_prefill_token_threshold, 0, KNOB_MAX},
    };
    for (size_t i = 0; i < ARRAY_LEN(knobs); i++) {
        if (knobs[i].v < knobs[i].lo || knobs[i].v > knobs[i].hi) {
            return err_set(err, err_len, ERR_RANGE, "scheduler: %s = %lld is outside [%lld, %lld]",
                           knobs[i].name, (long long)knobs[i].v, (long long)knobs[i].lo,
                           (long long)knobs[i].hi);
        }
    }
    if (c->max_num_batched_tokens < c->max_num_seqs)
        return err_set(err, err_len, ERR_RANGE,
                       "scheduler: max_num_batched_tokens (%lld) < max_num_seqs (%lld): every running "
                       "sequence needs one token of budget per step; raise it or lower max_num_seqs",
                       (long long)c->max_num_batched_tokens, (long long)c->max_num_seqs);
    if (c->policy != SCHED_FCFS && c->policy != SCHED_PRIORITY)
        return err_set(err, err_len, ERR_RANGE, "scheduler: unknown policy %d (fcfs or priority)",
                       (int)c->policy);
    return 0;
}

Sched *sched_create(const SchedConfig *cfg, char *err, size_t err_len) {
    Sched *s = NULL;
    const SchedConfig *c = cfg;
    if (sched_config_check(c, err, err_len)) return NULL;
    if (c->kv_blocks_total < 1) {
        err_set(err, err_len, ERR_RANGE, "scheduler: kv_blocks_total = %lld: the KV pool needs at least one block",
                (long long)c->kv_blocks_total);
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->cfg = *c;
    s->n_pool = c->max_num_seqs + c->max_num_queued_reqs;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)s->n_pool) cap <<= 1;
    s->idmap_mask = cap - 1;
    s->pool = calloc((size_t)s->n_pool, sizeof *s->pool);
    s->free_slots = calloc((size_t)s->n_pool, sizeof *s->free_slots);
    s->idmap = calloc((size_t)cap, sizeof *s->idmap);
    s->heap = calloc((size_t)s->n_pool, sizeof *s->heap);
    s->running = calloc((size_t)c->max_num_seqs, sizeof *s->running);
    s->seq_free = calloc((size_t)c->max_num_seqs, sizeof *s->seq_free);
    s->rows = calloc((size_t)c->max_num_seqs, sizeof *s->rows);
    s->row_idx = calloc((size_t)c->max_num_seqs, sizeof *s->row_idx);
    s->preempted = calloc((size_t)c->max_num_seqs, sizeof *s->preempted);
    s->finished = calloc((size_t)c->max_num_seqs, sizeof *s->finished);
    if (!s->pool || !s->free_slots || !s->idmap || !s->heap || !s->running || !s->seq_free ||
        !s->rows || !s->row_idx || !s->preempted || !s->finished)
        goto nomem;
    // Free stacks hand out low indices first (pop from the end).
    for (int64_t i = 0; i < s->n_pool; i++) s->free_slots[i] = s->n_pool - 1 - i;
    s->n_free_slots = s->n_pool;
    for (int64_t i = 0; i < c->max_num_seqs; i++) s->seq_free[i] = (int32_t)(c->max_num_seqs - 1 - i);
    s->n_seq_free = c->max_num_seqs;
    s->blocks_free = c->kv_blocks_total;
    return s;
nomem:
    sched_destroy(s);
    err_set(err, err_len, ERR_NOMEM, "scheduler: out of memory for %lld request slots",
            (long long)(c->max_num_seqs + c->max_num_queued_reqs));
    return NULL;
}

void sched_destroy(Sched *s) {
    if (!s) return;
    free(s->pool);
    free(s->free_slots);
    free(s->idmap);
    free(s->heap);
    free(s->running);
    free(s->seq_free);
    free(s->rows);
    free(s->row_idx);
    free(s->preempted);
    free(s->finished);
    free(s);
}

const SchedConfig *sched_config(const Sched *s) { return &s->cfg; }

// ---- requests ----

int64_t sched_max_request_tokens(const Sched *s) {
    int64_t cap = s->cfg.max_model_len;
    // kv_blocks_total, kv_block_tokens <= 2^40 and 2^20: the product fits only when checked.
    if (s->cfg.kv_blocks_total <= INT64_MAX / s->cfg.kv_block_tokens)
        cap = min64(cap, s->cfg.kv_blocks_total * s->cfg.kv_block_tokens);
    if (!s->cfg.enable_chunked_prefill) cap = min64(cap, s->cfg.max_num_batched_tokens);
    return cap;
}

int sched_add(Sched *s, uint64_t id, int64_t n_prompt, int64_t max_new_tokens, int32_t priority,
              int64_t arrival_us) {
    if (n_prompt < 1 || max_new_tokens < 1 || idmap_find(s, id) >= 0) return ERR_ARG;
    int64_t cap = sched_max_request_tokens(s);
    if (n_prompt > cap || max_new_tokens > cap - n_prompt) {
        s->counters.rejected_range++;
        return ERR_RANGE;
    }
    if (s->n_heap >= s->cfg.max_num_queued_reqs || s->n_free_slots == 0) {
        s->counters.rejected_full++;
        return ERR_FULL;
    }
    int64_t idx = s->free_slots[--s->n_free_slots];
    Slot *x = &s->pool[idx];
    memset(x, 0, sizeof *x);
    x->live = true;
    x->seq_no = s->next_seq_no++;
    x->step_sched = -1;
    x->heap_pos = -1;
    x->info = (ReqInfo){
        .id = id, .priority = priority, .state = REQ_WAITING, .finish = REQ_FINISH_NONE,
        .n_prompt = n_prompt, .max_new_tokens = max_new_tokens, .seq_slot = -1,
        .arrival_us = arrival_us, .first_scheduled_us = -1, .first_token_us = -1,
        .last_token_us = -1, .finish_us = -1,
    };
    idmap_put(s, id, idx);
    heap_push(s, idx);
    s->counters.added++;
    return 0;
}

// Gives back a RUNNING request's KV blocks and engine sequence (its record keeps the slot).
static void release_running(Sched *s, int64_t idx) {
    Slot *x = &s->pool[idx];
    s->blocks_free += x->blocks;
    x->blocks = 0;
    x->info.n_computed = 0;
    s->seq_free[s->n_seq_free++] = x->info.seq_slot;
    running_remove(s, idx);
}

// Moves a live request to a terminal state and recycles its pool slot.
static void end_request(Sched *s, int64_t idx, ReqState to, ReqFinish why, int64_t now_us) {
    Slot *x = &s->pool[idx];
    if (x->info.state == REQ_RUNNING) release_running(s, idx);
    else heap_remove(s, idx);
    req_move(&x->info, to);
    x->info.finish = why;
    x->info.finish_us = now_us;
    idmap_del(s, x->info.id);
    x->live = false;
    s->free_slots[s->n_free_slots++] = idx;
}

int sched_abort(Sched *s, uint64_t id, int64_t now_us, ReqInfo *out) {
    int64_t idx = idmap_find(s, id);
    if (idx < 0) return ERR_NOTFOUND;
    end_request(s, idx, REQ_ABORTED, REQ_FINISH_ABORT, now_us);
    s->counters.aborted++;
    if (out) *out = s->pool[idx].info;
    return 0;
}

int sched_get(const Sched *s, uint64_t id, ReqInfo *out) {
    int64_t idx = idmap_find(s, id);
    if (idx < 0) return ERR_NOTFOUND;
    *out = s->pool[idx].info;
    return 0;
}

// ---- one step ----

// Recompute preemption of the newest running request (the last of the running order).
static void preempt_newest(Sched *s) {
    int64_t idx = s->running[s->n_running - 1];
    Slot *x = &s->pool[idx];
    CHECK(s->n_preempted < s->cfg.max_num_seqs);
    s->preempted[s->n_preempted++] = (SchedPreempted){.id = x->info.id, .seq_slot = x->info.seq_slot};
    release_running(s, idx);
    req_move(&x->info, REQ_PREEMPTED);
    x->info.seq_slot = -1;
    x->info.n_preemptions++;
    heap_push(s, idx);
    s->counters.preemptions++;
}

// Appends a row computing n tokens of pool[idx] and takes its KV blocks (already checked free).
static void emit_row(Sched *s, int64_t idx, int64_t n, int64_t now_us, SchedBatch *b) {
    Slot *x = &s->pool[idx];
    ReqInfo *r = &x->info;
    int64_t start = r->n_computed, end = start + n;
    int64_t need = blocks_for(s, end) - x->blocks;
    CHECK(n >= 1 && end <= req_n_tokens(r) && need <= s->blocks_free);
    s->blocks_free -= need;
    x->blocks += need;
    bool logits = end == req_n_tokens(r);
    SchedRow *row = &s->rows[s->n_rows];
    *row = (SchedRow){
        .id = r->id, .seq_slot = r->seq_slot, .pos_start = start, .n_tokens = n,
        .n_prompt = r->n_prompt, .logits = logits,
        .last = logits && r->n_generated + 1 == r->max_new_tokens,
        .kind = (n == 1 && logits && r->n_generated >= 1) ? SCHED_ROW_DECODE : SCHED_ROW_PREFILL,
    };
    s->row_idx[s->n_rows++] = idx;
    // Positions below the high-water mark were computed before a preemption: recompute.
    int64_t again = x->hw > start ? min64(x->hw, end) - start : 0;
    int64_t fresh_lo = start + again;
    s->counters.recomputed_tokens += again;
    r->n_recomputed += again;
    if (fresh_lo < r->n_prompt) s->counters.prompt_tokens += min64(end, r->n_prompt) - fresh_lo;
    if (end > x->hw) x->hw = end;
    r->n_computed = end;
    x->step_sched = s->step_no;
    if (r->first_scheduled_us < 0) r->first_scheduled_us = now_us;
    b->n_tokens += n;
    b->ctx_tokens += end;
    if (row->kind == SCHED_ROW_DECODE) b->n_decode_rows++;
    else b->n_prefill_tokens += n;
}

// Positions the prefix cache holds for waiting pool[idx] (0 without prefix caching).
static int64_t cached_for(const Sched *s, int64_t idx) {
    if (!s->cfg.prefix_lookup) return 0;
    const ReqInfo *r = &s->pool[idx].info;
    int64_t c = s->cfg.prefix_lookup(s->cfg.prefix_ctx, r->id, req_n_tokens(r));
    CHECK(c >= 0 && c < req_n_tokens(r));
    return c;
}

// Tokens of pool[idx]'s next chunk given `budget`, before KV blocks are considered.
static int64_t chunk_len(const Sched *s, int64_t idx, int64_t budget) {
    const ReqInfo *r = &s->pool[idx].info;
    int64_t n = req_n_tokens(r) - r->n_computed;
    if (s->cfg.enable_chunked_prefill) {
        if (s->cfg.long_prefill_token_threshold > 0) n = min64(n, s->cfg.long_prefill_token_threshold);
        n = min64(n, budget);
    }
    return n;
}

int sched_step(Sched *s, int64_t now_us, SchedBatch *out) {
    CHECK(!s->in_flight);
    s->n_rows = 0;
    s->n_preempted = 0;
    memset(out, 0, sizeof *out);
    int64_t budget = s->cfg.max_num_batched_tokens;

    // 1. Running requests, oldest first; each keeps one token of budget for each one behind it.
    for (int64_t i = 0; i < s->n_running; i++) {
        int64_t idx = s->running[i];
        Slot *x = &s->pool[idx];
        int64_t n = chunk_len(s, idx, budget - (s->n_running - 1 - i));
        CHECK(n >= 1);
        bool self_preempted = false;
        while (blocks_for(s, x->info.n_computed + n) - x->blocks > s->blocks_free) {
            self_preempted = s->running[s->n_running - 1] == idx;
            preempt_newest(s);
            if (self_preempted) break;
        }
        if (self_preempted) break;  // it was the newest: nothing runs behind it
        emit_row(s, idx, n, now_us, out);
        budget -= n;
    }

    // 2. Waiting requests in order, unless this step had to preempt (vLLM: no admission then,
    //    which also keeps a just-freed engine sequence from being reused in the same step).
    while (s->n_preempted == 0 && s->n_heap > 0 && s->n_running < s->cfg.max_num_seqs &&
           budget > 0) {
        int64_t idx = s->heap[0];
        Slot *x = &s->pool[idx];
        int64_t cached = cached_for(s, idx);
        x->info.n_computed = cached;  // the chunk starts after the cached prefix
        int64_t n = chunk_len(s, idx, budget);
        if (n > budget || blocks_for(s, cached + n) > s->blocks_free) {  // head of line waits
            x->info.n_computed = 0;
            break;
        }
        heap_remove(s, idx);
        req_move(&x->info, REQ_RUNNING);
        x->info.seq_slot = s->seq_free[--s->n_seq_free];
        x->info.n_cached = cached;
        if (s->cfg.prefix_lookup) {
            s->counters.prefix_queries += req_n_tokens(&x->info);
            s->counters.prefix_hits += cached;
        }
        running_insert(s, idx);
        emit_row(s, idx, n, now_us, out);
        s->rows[s->n_rows - 1].n_cached = cached;
        budget -= n;
    }

    // An empty plan is not a step: nothing to run, nothing to close (a sched_step_done after it
    // is accepted as a no-op).
    s->in_flight = s->n_rows > 0;
    s->last_plan_empty = s->n_rows == 0;
    out->step = s->step_no;
    out->rows = s->rows;
    out->n_rows = s->n_rows;
    out->preempted = s->preempted;
    out->n_preempted = s->n_preempted;
    CHECK(out->n_tokens <= s->cfg.max_num_batched_tokens && out->n_rows <= s->cfg.max_num_seqs);
    return 0;
}

// A running request produced a token at now_us; ends it when it stopped or hit its length.
static void take_token(Sched *s, int64_t idx, bool stop, int64_t now_us) {
    ReqInfo *r = &s->pool[idx].info;
    r->n_generated++;
    s->counters.generation_tokens++;
    if (r->first_token_us < 0) r->first_token_us = now_us;
    r->last_token_us = now_us;
    ReqFinish why = stop ? REQ_FINISH_STOP
                  : r->n_generated >= r->max_new_tokens ? REQ_FINISH_LENGTH : REQ_FINISH_NONE;
    if (why == REQ_FINISH_NONE) return;
    end_request(s, idx, REQ_FINISHED, why, now_us);
    s->counters.finished++;
    s->finished[s->n_finished++] = *r;
}

int64_t sched_step_done(Sched *s, int64_t now_us, const bool *stop) {
    s->n_finished = 0;
    if (!s->in_flight) {  // closing an empty plan: nothing happened
        CHECK(s->last_plan_empty);
        s->last_plan_empty = false;
        return 0;
    }
    for (int64_t i = 0; i < s->n_rows; i++) {
        int64_t idx = s->row_idx[i];
        const Slot *x = &s->pool[idx];
        // Skip rows whose request was aborted (and its slot perhaps reused) meanwhile.
        if (!x->live || x->step_sched != s->step_no || x->info.id != s->rows[i].id) continue;
        if (!s->rows[i].logits) continue;
        take_token(s, idx, stop && stop[i], now_us);
    }
    s->in_flight = false;
    s->step_no++;
    s->counters.steps++;
    return s->n_finished;
}

const ReqInfo *sched_finished(const Sched *s, int64_t *n) {
    *n = s->n_finished;
    return s->finished;
}

// ---- fast-forward ----

// Blocks the running set gains over k more decode steps (step j computes position c + j - 1).
static int64_t decode_blocks_needed(const Sched *s, int64_t k) {
    int64_t need = 0;
    for (int64_t i = 0; i < s->n_running; i++) {
        const Slot *x = &s->pool[s->running[i]];
        need += blocks_for(s, x->info.n_computed + k) - x->blocks;
    }
    return need;
}

int64_t sched_steps_until_change(const Sched *s, SchedDecodeRun *run) {
    if (run) memset(run, 0, sizeof *run);
    if (s->in_flight || s->n_running == 0) return 0;
    int64_t kmax = INT64_MAX, ctx = 0;
    for (int64_t i = 0; i < s->n_running; i++) {
        const ReqInfo *r = &s->pool[s->running[i]].info;
        // Every row must be a DECODE row (one token, logits, past its first token).
        if (req_n_tokens(r) - r->n_computed != 1 || r->n_generated < 1) return 0;
        kmax = min64(kmax, r->max_new_tokens - r->n_generated);
        ctx += r->n_computed + 1;
    }
    // Admission of the waiting head: checked after each step's decodes took their blocks, so
    // with f(1) taken it either happens in the first step or, as free blocks only shrink and the
    // budget and running count stay fixed, in none of them.
    int64_t f1 = decode_blocks_needed(s, 1);
    if (f1 > s->blocks_free) return 0;  // the first decode step preempts
    int64_t budget = s->cfg.max_num_batched_tokens - s->n_running;
    if (s->n_heap > 0 && s->n_running < s->cfg.max_num_seqs && budget > 0) {
        const ReqInfo *h = &s->pool[s->heap[0]].info;
        int64_t cached = cached_for(s, s->heap[0]);
        int64_t n = req_n_tokens(h) - cached;  // chunk_len with n_computed = cached
        if (s->cfg.enable_chunked_prefill) {
            if (s->cfg.long_prefill_token_threshold > 0) n = min64(n, s->cfg.long_prefill_token_threshold);
            n = min64(n, budget);
        }
        if (n <= budget && blocks_for(s, cached + n) <= s->blocks_free - f1) return 0;
    }
    // Largest k <= kmax whose cumulative block need fits (need is nondecreasing in k).
    int64_t k = kmax;
    if (decode_blocks_needed(s, kmax) > s->blocks_free) {
        int64_t lo = 1, hi = kmax;  // need(lo) fits, need(hi) does not
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (decode_blocks_needed(s, mid) <= s->blocks_free) lo = mid;
            else hi = mid;
        }
        k = lo;
    }
    if (run) *run = (SchedDecodeRun){.n_steps = k, .n_rows = s->n_running, .ctx_tokens = ctx};
    return k;
}

int64_t sched_advance_decode(Sched *s, int64_t k, int64_t now_us) {
    CHECK(k >= 1 && k <= sched_steps_until_change(s, NULL));
    s->n_finished = 0;
    // The k-th step's rows are the running set in order; finishing removes from `running`, so
    // walk a snapshot of it (rows/row_idx are the last planned step's and must stay untouched).
    int64_t n = s->n_running;
    for (int64_t i = 0, done = 0; i < n; i++) {
        int64_t idx = s->running[i - done];
        Slot *x = &s->pool[idx];
        ReqInfo *r = &x->info;
        int64_t end = r->n_computed + k;
        int64_t need = blocks_for(s, end) - x->blocks;
        s->blocks_free -= need;
        x->blocks += need;
        if (end > x->hw) x->hw = end;  // decode positions are always new (hw <= n_computed + 1)
        r->n_computed = end;
        x->step_sched = s->step_no + k - 1;
        r->n_generated += k - 1;
        s->counters.generation_tokens += k - 1;
        int64_t before_n = s->n_running;
        take_token(s, idx, false, now_us);
        done += before_n - s->n_running;
    }
    CHECK(s->blocks_free >= 0);
    s->step_no += k;
    s->counters.steps += k;
    return s->n_finished;
}

// ---- gauges ----

int64_t sched_n_waiting(const Sched *s) { return s->n_heap; }
int64_t sched_n_running(const Sched *s) { return s->n_running; }
int64_t sched_kv_blocks_used(const Sched *s) { return s->cfg.kv_blocks_total - s->blocks_free; }
double sched_kv_usage(const Sched *s) {
    return (double)sched_kv_blocks_used(s) / (double)s->cfg.kv_blocks_total;
}
bool sched_in_flight(const Sched *s) { return s->in_flight; }
const SchedCounters *sched_counters(const Sched *s) { return &s->counters; }
