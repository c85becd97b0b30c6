// sim_event.c — the simulator's event heap, request pool and tier queues (layout in sim_int.h).
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/sim_int.h"

// ---- event heap ----

static bool ev_less(const Event *a, const Event *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

int sim_push_ev(Sim *s, int64_t t, int type, int tier, int rep, int64_t ver) {
    if (s->n_heap == s->cap_heap) {
        int64_t cap = s->cap_heap ? s->cap_heap * 2 : 256;
        Event *h = realloc(s->heap, (size_t)cap * sizeof *h);
        if (!h) return ERR_NOMEM;
        s->heap = h;
        s->cap_heap = cap;
    }
    Event e = {.t = t, .seq = s->ev_seq++, .ver = ver, .type = type, .tier = tier, .rep = rep};
    int64_t i = s->n_heap++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
    return 0;
}

Event sim_pop_ev(Sim *s) {
    Event top = s->heap[0], last = s->heap[--s->n_heap];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= s->n_heap) break;
        if (c + 1 < s->n_heap && ev_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!ev_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->n_heap > 0) s->heap[i] = last;
    return top;
}

// ---- requests ----

SimReq *sim_req(Sim *s, uint64_t id) {
    SimReq *r = &s->reqs[id & 0xffffffffu];
    CHECK(r->live && r->gen == (uint32_t)(id >> 32));
    return r;
}

int sim_req_new(Sim *s, uint64_t *id) {
    if (s->n_free == 0) {
        int64_t old = s->n_reqs, cap = old ? old * 2 : 1024;
        if (cap > 0xffffffffLL) return ERR_FULL;
        SimReq *r = realloc(s->reqs, (size_t)cap * sizeof *r);
        if (!r) return ERR_NOMEM;
        s->reqs = r;
        uint32_t *f = realloc(s->free_slots, (size_t)cap * sizeof *f);
        if (!f) return ERR_NOMEM;
        s->free_slots = f;
        memset(s->reqs + old, 0, (size_t)(cap - old) * sizeof *r);
        for (int64_t i = cap - 1; i >= old; i--) s->free_slots[s->n_free++] = (uint32_t)i;
        s->n_reqs = cap;
    }
    uint32_t slot = s->free_slots[--s->n_free];
    SimReq *r = &s->reqs[slot];
    uint32_t gen = r->gen + 1;
    *r = (SimReq){.gen = gen, .live = true, .rep = -1, .rep_pos = -1, .trace_i = -1, .first_tier = -1, .then = -1,
                  .canary = -1, .route = -1, .confidence = -1, .status = 200};
    *id = (uint64_t)gen << 32 | slot;
    return 0;
}

void sim_req_free(Sim *s, uint64_t id) {
    SimReq *r = sim_req(s, id);
    r->live = false;
    s->free_slots[s->n_free++] = (uint32_t)(id & 0xffffffffu);
}

void sim_area_to(Sim *s, int64_t t) {
    s->area += (double)s->in_system * (double)(t - s->last_area_t);
    s->last_area_t = t;
}

// ---- tier queue ----

int sim_queue_push(TierState *ts, uint64_t id, bool front) {
    if (ts->qlen == ts->qcap) {
        int64_t cap = ts->qcap ? ts->qcap * 2 : 64;
        uint64_t *q = malloc((size_t)cap * sizeof *q);
        if (!q) return ERR_NOMEM;
        for (int64_t i = 0; i < ts->qlen; i++) q[i] = ts->queue[(ts->qhead + i) % ts->qcap];
        free(ts->queue);
        ts->queue = q;
        ts->qhead = 0;
        ts->qcap = cap;
    }
    if (front) {
        ts->qhead = (ts->qhead + ts->qcap - 1) % ts->qcap;
        ts->queue[ts->qhead] = id;
    } else {
        ts->queue[(ts->qhead + ts->qlen) % ts->qcap] = id;
    }
    ts->qlen++;
    return 0;
}

uint64_t sim_queue_pop(TierState *ts) {
    uint64_t id = ts->queue[ts->qhead];
    ts->qhead = (ts->qhead + 1) % ts->qcap;
    ts->qlen--;
    return id;
}
