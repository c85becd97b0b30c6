// sched.h — the continuous-batching scheduler (vLLM's knobs and meaning), pure policy code.
//
// The live worker drives it with the real clock and the real engine; the planner's simulator
// drives the very same functions with a virtual clock and a step-time model. So it reads no
// clock, does no I/O, starts no thread and never allocates after sched_create: every array
// (request slots, queues, batch rows) is sized once from the config.
//
// One step:
//   1. Running requests, oldest first (FCFS: add order; priority: lower value, then add order):
//      each decodes one token, or — if it is still prefilling — takes its next prefill chunk,
//      leaving one token of budget for every running request behind it, so a long prompt never
//      stalls running streams (hence max_num_batched_tokens >= max_num_seqs). A request that needs a KV block when none is free preempts the
//      NEWEST running request (the last in that order, possibly itself): its blocks are freed,
//      it goes back to the waiting queue (ahead of every request that came after it), and when
//      rescheduled it recomputes its prompt and generated tokens as prefill (recompute policy).
//   2. If nothing was preempted this step: waiting requests in the same order, while running <
//      max_num_seqs, token budget remains, and the first chunk's KV blocks are free (the head of
//      the queue blocks the rest: no overtaking). A chunk is min(tokens left to compute,
//      long_prefill_token_threshold if > 0, remaining budget); without chunked prefill a request
//      only starts when its whole remaining prefill fits in the budget.
// Budgets hold in every step: rows <= max_num_seqs, Σ tokens <= max_num_batched_tokens, KV blocks
// held <= kv_blocks_total, where a request with c cached positions holds ceil(c / kv_block_tokens).
//
// Typical use (worker):
//   Sched *s = sched_create(&cfg, err, sizeof err);
//   sched_add(s, id, n_prompt, max_tokens, priority, now_us);        // 0, ERR_FULL→429, ERR_RANGE→400
//   for (;;) {
//       SchedBatch b;
//       sched_step(s, now_us, &b);
//       if (b.n_rows == 0) { wait for an arrival; continue; }            // empty: nothing to close
//       for preempted p: engine_seq_free(p.seq_slot);                  // before the forward
//       expand rows into engine rows; engine_forward; sample rows with logits; stop[i] = EOS/stop?
//       sched_step_done(s, now_us, stop);
//       for each record in sched_finished(): end the response, metrics from its timestamps,
//                                           engine_seq_free(record seq slot, see below)
//   }
// Finished/aborted requests free their scheduler blocks at once; the worker frees the engine
// sequence of a finished request using the row's seq_slot (ReqInfo.seq_slot keeps it as it was
// while RUNNING in the records sched_finished and sched_abort hand back).
//
// Not thread-safe: one thread (the worker's engine thread, or the simulator) makes every call.
#ifndef RS_SCHED_H
#define RS_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/request.h"

typedef enum {
    SCHED_FCFS = 0,     // first come, first served (add order)
    SCHED_PRIORITY,     // lower `priority` first, add order among equals (vLLM --scheduling-policy priority)
} SchedPolicy;

typedef struct {
    int64_t max_num_seqs;             // running requests (rows' sequences) per step; >= 1
    int64_t max_num_batched_tokens;   // tokens computed per step; >= max_num_seqs
    int64_t max_num_queued_reqs;      // waiting-queue bound for sched_add (ERR_FULL past it); >= 1
    int64_t max_model_len;            // max positions of one request: n_prompt + max_new_tokens
    int64_t kv_block_tokens;          // positions per KV block (vLLM block_size); >= 1
    int64_t kv_blocks_total;          // KV blocks in the pool; >= 1
    bool enable_chunked_prefill;      // split prefills across steps (vLLM's default: on)
    int64_t long_prefill_token_threshold;  // > 0: cap on one prefill chunk; 0: budget only
    SchedPolicy policy;
    // Prefix caching (vLLM's automatic prefix caching): when set, admitting a waiting request asks
    // how many of its first n_tokens positions the KV cache already holds (a multiple of
    // kv_block_tokens, < n_tokens); the request starts with that many computed and prefills only
    // the rest. Must have no side effect: the caller attaches the cached blocks when it runs the
    // row (SchedRow.n_cached). Blocks stay counted as if each request held its own (shared ones
    // included), so every budget above still holds for the engine, which holds fewer. NULL: off
    // (the planner's simulator).
    int64_t (*prefix_lookup)(void *ctx, uint64_t id, int64_t n_tokens);
    void *prefix_ctx;
} SchedConfig;

// vLLM's CPU defaults where they exist: max_num_seqs 128, max_num_batched_tokens 2048,
// max_num_queued_reqs 256, max_model_len 4096, kv_block_tokens 16, chunked prefill on, no
// threshold, FCFS. kv_blocks_total is 0 ("not set"): the caller must give it.
void sched_config_default(SchedConfig *c);

typedef struct Sched Sched;

// Validates cfg and allocates everything the scheduler will ever use (request slots for
// max_num_seqs + max_num_queued_reqs requests, queues, batch rows). Returns NULL with one line
// in err when a knob is out of range ("max_num_batched_tokens (64) < max_num_seqs (128)") or
// memory runs out. The config is copied.
Sched *sched_create(const SchedConfig *cfg, char *err, size_t err_len);

// The checks sched_create makes on a config, for callers that validate before anything starts
// (`serve --check` on a local tier's scheduler knobs). kv_blocks_total 0 means "sized later" here.
// Returns 0, or a negative Err with the reason in err.
int sched_config_check(const SchedConfig *c, char *err, size_t err_len);
// Frees everything. NULL is a no-op.
void sched_destroy(Sched *s);
const SchedConfig *sched_config(const Sched *s);

// ---- requests ----

// Queues a new request (state WAITING) that arrived at arrival_us. id must not belong to a live
// request. Returns
//   0          queued;
//   ERR_FULL   the waiting queue holds max_num_queued_reqs requests (the worker answers 429);
//   ERR_RANGE  it can never run: n_prompt + max_new_tokens > sched_max_request_tokens();
//   ERR_ARG    n_prompt < 1, max_new_tokens < 1, or id is already live.
// Nothing changes unless it returns 0.
int sched_add(Sched *s, uint64_t id, int64_t n_prompt, int64_t max_new_tokens, int32_t priority,
              int64_t arrival_us);

// The largest n_prompt + max_new_tokens sched_add accepts: min(max_model_len, KV capacity
// kv_blocks_total * kv_block_tokens, and max_num_batched_tokens when chunked prefill is off).
int64_t sched_max_request_tokens(const Sched *s);

// Cancels a live request in any state (client disconnected, shutdown): it moves to ABORTED and
// its KV blocks are free at once. Copies its final record into *out when out is non-NULL.
// Allowed while a step is in flight: that request's row is then ignored by sched_step_done. The
// worker frees engine sequence out->seq_slot (when >= 0) before its next forward: the scheduler
// may hand that slot to another request in the next sched_step. Returns 0 or ERR_NOTFOUND.
int sched_abort(Sched *s, uint64_t id, int64_t now_us, ReqInfo *out);

// Copies the record of a live request into *out. Returns 0 or ERR_NOTFOUND.
int sched_get(const Sched *s, uint64_t id, ReqInfo *out);

// ---- steps ----

typedef enum {
    SCHED_ROW_PREFILL = 0,  // a prompt chunk, or a recompute chunk after preemption
    SCHED_ROW_DECODE,       // the one newest generated token of a request past its prefill
} SchedRowKind;

// One request's share of a step: compute positions [pos_start, pos_start + n_tokens).
typedef struct {
    uint64_t id;
    int32_t seq_slot;     // engine sequence index, [0, max_num_seqs); stable while RUNNING
    SchedRowKind kind;
    int64_t pos_start;    // = positions already cached for this request
    int64_t n_tokens;     // >= 1; 1 for DECODE
    int64_t n_prompt;     // positions < n_prompt are prompt tokens, the rest generated tokens
    bool logits;          // the chunk ends at the newest known token: sample one token from the
                          // last position (false for a prefill chunk that is not the last)
    bool last;            // logits and the sampled token will be number max_new_tokens: the
                          // request finishes by length at sched_step_done
    int64_t n_cached;     // > 0 only on a request's first row after admission: positions
                          // [0, n_cached) = [0, pos_start) come from the prefix cache; the caller
                          // attaches them to the (empty) engine sequence before the forward
} SchedRow;

typedef struct {
    uint64_t id;
    int32_t seq_slot;     // the engine sequence to free before running this step's rows
} SchedPreempted;

// The plan of one step. The arrays belong to the scheduler and stay valid until the next
// sched_step (they are left untouched by sched_step_done, sched_add and sched_abort).
typedef struct {
    int64_t step;                   // 0, 1, 2, ... (advance_decode counts its steps too)
    const SchedRow *rows;           // n_rows rows: running decodes and chunks, then new requests
    int64_t n_rows;                 // <= max_num_seqs
    const SchedPreempted *preempted;  // requests preempted while building this step
    int64_t n_preempted;
    int64_t n_tokens;               // Σ rows[i].n_tokens <= max_num_batched_tokens
    int64_t n_prefill_tokens;       // Σ n_tokens over PREFILL rows
    int64_t n_decode_rows;          // DECODE rows
    int64_t ctx_tokens;             // Σ (pos_start + n_tokens) over rows: the KV positions the
                                    // step attends to (the step-time model's Σ context)
} SchedBatch;

// Builds the next step's batch plan at now_us into *out. Requests scheduled for the first time
// get first_scheduled_us = now_us; KV blocks for every row are taken now. A plan with rows must be
// closed with sched_step_done before the next sched_step (CHECK); an empty plan (n_rows == 0:
// nothing to run) is not a step — no step number, nothing to close (a sched_step_done right after
// it is accepted and does nothing). Returns 0.
int sched_step(Sched *s, int64_t now_us, SchedBatch *out);

// Closes the step planned by the last sched_step; now_us is when its forward finished. Every row
// with logits produced one token (n_generated += 1; first_token_us / last_token_us = now_us).
// stop is NULL or holds one flag per row of that batch: true when the row's sampled token ended
// the request (EOS or a stop sequence; ignored on rows without logits). Requests that stop, or
// reach max_new_tokens, move to FINISHED and free their blocks. Returns how many finished; their
// records are in sched_finished().
int64_t sched_step_done(Sched *s, int64_t now_us, const bool *stop);

// Records of the requests that finished in the last sched_step_done or sched_advance_decode, in
// row order; *n gets the count. Valid until the next sched_step_done / sched_advance_decode.
const ReqInfo *sched_finished(const Sched *s, int64_t *n);

// ---- fast-forward for the simulator ----

// A run of identical pure-decode steps: every step has the same n_rows DECODE rows (the whole
// running set), no prefill, no admission, no preemption. Step j (0-based) attends to
// ctx_tokens + j * n_rows positions in all.
typedef struct {
    int64_t n_steps;     // k
    int64_t n_rows;      // rows per step (= running requests)
    int64_t ctx_tokens;  // Σ context of the first step of the run
} SchedDecodeRun;

// How many upcoming steps are identical pure-decode steps of the current running set, without
// new arrivals (the simulator bounds the run by its next arrival itself). 0 when the next step
// is not one (a prefill or recompute is pending, a waiting request could be admitted, a decode
// would need a block that is not free, nothing runs, or a step is in flight). Otherwise k >= 1:
// the smallest tokens-left among running requests (the k-th step finishes those by length),
// further limited so the KV blocks every request gains over the k steps are free. Fills *run when
// non-NULL. O(running · log k).
int64_t sched_steps_until_change(const Sched *s, SchedDecodeRun *run);

// Applies k identical decode steps in one move, k <= sched_steps_until_change(s) (CHECK). The
// result — every record, block count, step number, counters and sched_finished() — is the same
// as k rounds of sched_step + sched_step_done(stop = NULL) whose last step_done is at now_us
// (earlier intermediate times only ever land in last_token_us, which the last step overwrites).
// Returns how many finished (by length) at the k-th step.
int64_t sched_advance_decode(Sched *s, int64_t k, int64_t now_us);

// ---- gauges and counters (metrics) ----

int64_t sched_n_waiting(const Sched *s);     // WAITING + PREEMPTED
int64_t sched_n_running(const Sched *s);
int64_t sched_kv_blocks_used(const Sched *s);
// Used / total KV blocks, in [0, 1] (vllm:kv_cache_usage_perc).
double sched_kv_usage(const Sched *s);
// True between sched_step and sched_step_done.
bool sched_in_flight(const Sched *s);

typedef struct {
    int64_t steps;              // steps taken (including advanced ones)
    int64_t added;              // accepted by sched_add
    int64_t rejected_full;      // sched_add → ERR_FULL
    int64_t rejected_range;     // sched_add → ERR_RANGE
    int64_t finished;           // moved to FINISHED
    int64_t aborted;            // moved to ABORTED
    int64_t preemptions;        // RUNNING → PREEMPTED moves (vllm:num_preemptions_total)
    int64_t prompt_tokens;      // prompt tokens computed the first time
    int64_t recomputed_tokens;  // tokens computed again after preemption
    int64_t generation_tokens;  // tokens produced
    int64_t prefix_queries;     // tokens looked up in the prefix cache at admission
    int64_t prefix_hits;        // of those, tokens found cached (not computed)
} SchedCounters;

const SchedCounters *sched_counters(const Sched *s);

#endif
