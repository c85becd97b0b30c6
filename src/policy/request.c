// request.c — the request lifecycle: legal moves (the diagram in request.h) and names.
#include "policy/request.h"

#include "base/check.h"

// legal[from][to]: the arrows of the diagram in request.h, and nothing else.
static const bool legal[REQ_STATE_COUNT][REQ_STATE_COUNT] = {
    [REQ_WAITING]   = {[REQ_RUNNING] = true, [REQ_ABORTED] = true},
    [REQ_RUNNING]   = {[REQ_PREEMPTED] = true, [REQ_FINISHED] = true, [REQ_ABORTED] = true},
    [REQ_PREEMPTED] = {[REQ_RUNNING] = true, [REQ_ABORTED] = true},
    [REQ_FINISHED]  = {0},
    [REQ_ABORTED]   = {0},
};

int64_t req_n_tokens(const ReqInfo *r) { return r->n_prompt + r->n_generated; }

bool req_can_move(ReqState from, ReqState to) {
    if ((unsigned)from >= REQ_STATE_COUNT || (unsigned)to >= REQ_STATE_COUNT) return false;
    return legal[from][to];
}

void req_move(ReqInfo *r, ReqState to) {
    CHECK(req_can_move(r->state, to));
    r->state = to;
}

const char *req_state_name(ReqState s) {
    static const char *names[REQ_STATE_COUNT] = {
        [REQ_WAITING] = "waiting",   [REQ_RUNNING] = "running", [REQ_PREEMPTED] = "preempted",
        [REQ_FINISHED] = "finished", [REQ_ABORTED] = "aborted",
    };
    return (unsigned)s < REQ_STATE_COUNT ? names[s] : "invalid";
}

const char *req_finish_name(ReqFinish f) {
    static const char *names[] = {
        [REQ_FINISH_NONE] = "none",     [REQ_FINISH_STOP] = "stop",
        [REQ_FINISH_LENGTH] = "length", [REQ_FINISH_ABORT] = "abort",
    };
    return (unsigned)f < ARRAY_LEN(names) ? names[f] : "invalid";
}
