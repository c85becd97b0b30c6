// request.h — the lifecycle of one generation request inside the continuous-batching scheduler:
// its states, the legal moves between them, and the per-request record (token counts and the
// timestamps metrics need). Pure: no clock, no I/O; times are the caller's now_us values.
//
//                 sched_add
//                     │
//                     ▼
//                 WAITING ───────────────────────┐
//                     │ first scheduled           │
//                     ▼                           │
//      ┌─────────► RUNNING ──────► FINISHED       │ sched_abort
//      │ rescheduled │   │  (stop / length)       │ (from WAITING,
//      │ (recompute) │   └──────────────────────► ABORTED  RUNNING or
//      │             ▼ preempted (KV blocks freed)  ▲       PREEMPTED)
//      └────────── PREEMPTED ───────────────────────┘
//
// PREEMPTED is a waiting state: the request sits in the waiting queue again, holds no KV blocks,
// and when rescheduled recomputes its prompt and every token it had generated as prefill (vLLM's
// recompute preemption), then continues decoding at the position where it stopped.
// FINISHED and ABORTED are terminal: the scheduler frees the request's slot right after moving
// it there (the caller gets a copy of the final record).
#ifndef RS_REQUEST_H
#define RS_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    REQ_WAITING = 0,  // in the waiting queue, never scheduled; holds no KV blocks
    REQ_RUNNING,      // in the running set; holds ceil(n_computed / block_size) KV blocks
    REQ_PREEMPTED,    // back in the waiting queue after preemption; holds no KV blocks
    REQ_FINISHED,     // produced its last token (stop or length); blocks freed
    REQ_ABORTED,      // cancelled by the caller (client gone, shutdown); blocks freed
    REQ_STATE_COUNT
} ReqState;

typedef enum {
    REQ_FINISH_NONE = 0,  // not finished
    REQ_FINISH_STOP,      // the caller saw EOS or a stop sequence
    REQ_FINISH_LENGTH,    // n_generated reached max_new_tokens
    REQ_FINISH_ABORT,     // sched_abort
} ReqFinish;

// Timestamps are the now_us values the caller passed to the scheduler call in which the event
// happened; -1 until it happens.
typedef struct {
    uint64_t id;              // the caller's id, unique among live requests
    int32_t priority;         // lower runs first under the priority policy (vLLM's meaning)
    ReqState state;
    ReqFinish finish;
    int64_t n_prompt;         // prompt tokens (>= 1)
    int64_t max_new_tokens;   // generation stops by length after this many tokens (>= 1)
    int64_t n_generated;      // tokens produced so far
    int64_t n_computed;       // tokens whose KV is cached (positions [0, n_computed))
    int64_t n_preemptions;    // times preempted (each costs a recompute of n_prompt+n_generated)
    int64_t n_recomputed;     // tokens computed again after preemptions (wasted work)
    int64_t n_cached;         // prompt tokens taken from the prefix cache at its last admission
    int32_t seq_slot;         // engine sequence index in [0, max_num_seqs) while RUNNING, else -1;
                              // a FINISHED/ABORTED record keeps the slot it held when it ended
                              // (-1 if it held none) so the worker can free that engine sequence
    int64_t arrival_us;       // given to sched_add
    int64_t first_scheduled_us;  // first step that computed any of its tokens (queue time ends)
    int64_t first_token_us;   // step_done that produced its first token (TTFT ends)
    int64_t last_token_us;    // step_done that produced its latest token
    int64_t finish_us;        // moved to FINISHED or ABORTED
} ReqInfo;

// Total tokens the request knows now: prompt plus generated. The next step computes positions
// [n_computed, req_n_tokens) (a prefill chunk, a recompute chunk, or the one decode token).
int64_t req_n_tokens(const ReqInfo *r);

// True when `from -> to` is a move drawn above.
bool req_can_move(ReqState from, ReqState to);

// Moves r to state `to`. An illegal move is a bug in the scheduler: CHECK aborts with file:line.
void req_move(ReqInfo *r, ReqState to);

// "waiting", "running", "preempted", "finished", "aborted".
const char *req_state_name(ReqState s);
// "none", "stop", "length", "abort" (OpenAI's finish_reason uses "stop" and "length").
const char *req_finish_name(ReqFinish f);

#endif
