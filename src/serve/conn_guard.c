#include "serve/conn_guard.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "serve/metrics.h"

typedef enum { PH_HEADER = 0, PH_BODY, PH_IDLE, PH_SERVING, PH_CLOSING, PH_COUNT } Phase;

typedef struct GuardConn {
    int fd;
    Phase phase;
    int64_t t_phase_us;             // when the current phase began
    struct GuardConn *prev, *next;  // the list of its phase (HEADER and BODY only)
} GuardConn;

typedef struct {
    GuardConn *head, *tail;
} GuardList;

struct ConnGuard {
    ConnGuardConfig cfg;
    pthread_mutex_t mu;
    GuardList lists[PH_COUNT];      // HEADER, BODY and IDLE are kept in order; SERVING/CLOSING unlinked
    int64_t n_phase[PH_COUNT];
    int64_t n_open;
    ConnGuardStats st;
    ConnGuardStats published;       // closed counts already added to the metric
    size_t body_bytes;              // reserved now
    int64_t drain_start_us;         // when the drain began (0: not draining)
    size_t freed_since_trim;        // body bytes released since the last malloc_trim
    int64_t closed_since_trim;
    int64_t t_trim_us;              // the last malloc_trim
};

// ---- process limits ----

int64_t conn_guard_conn_limit(int64_t reserve) {
    struct rlimit rl;
    int64_t n = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t old = rl.rlim_cur;
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
        }
        n = rl.rlim_cur == RLIM_INFINITY ? (int64_t)1 << 20 : (int64_t)rl.rlim_cur;
    }
    // Request bodies and answers (up to a few MiB) come from the heap, whose freed chunks the next
    // body reuses: with a mapping of their own each 1 MiB body cost its pages' faults and zeroing
    // and an munmap, ~30% of the loop's time per 1 MiB request. What stalled uploads leave behind
    // is given back by conn_guard_sweep's malloc_trim (every arena, free pages inside the heap
    // too), not by munmap. A fixed threshold: glibc's sliding one would follow the largest body
    // freed. Bigger buffers (a 32 MiB answer) still get their own mapping.
    // (The trim threshold stays glibc's 128 KiB: a thread arena's top — where the worker's HTTP
    // threads' freed bodies end up — is given back only by free(), never by malloc_trim.)
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    n -= reserve;
    return n < 64 ? 64 : n;
}

// ---- lists ----

static bool listed(Phase p) { return p == PH_HEADER || p == PH_BODY || p == PH_IDLE; }

static void list_del(ConnGuard *g, GuardConn *c) {
    g->n_phase[c->phase]--;
    if (!listed(c->phase)) return;
    GuardList *l = &g->lists[c->phase];
    if (c->prev) c->prev->next = c->next;
    else l->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else l->tail = c->prev;
    c->prev = c->next = NULL;
}

static void list_add(ConnGuard *g, GuardConn *c, Phase p, int64_t now_us) {
    c->phase = p;
    c->t_phase_us = now_us;
    g->n_phase[p]++;
    if (!listed(p)) return;
    GuardList *l = &g->lists[p];
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail) l->tail->next = c;
    else l->head = c;
    l->tail = c;
}

// Under mu: moves c to phase p (a closing connection stays closing).
static void move(ConnGuard *g, GuardConn *c, Phase p, int64_t now_us) {
    if (!c || c->phase == PH_CLOSING) return;
    list_del(g, c);
    list_add(g, c, p, now_us);
}

// Under mu: hangs the connection up; MHD sees the shutdown and closes it.
static void hang_up(ConnGuard *g, GuardConn *c, int64_t *counter) {
    move(g, c, PH_CLOSING, 0);
    shutdown(c->fd, SHUT_RDWR);
    (*counter)++;
    g->closed_since_trim++;
}

// ---- lifecycle ----

ConnGuard *conn_guard_create(const ConnGuardConfig *cfg) {
    ConnGuard *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->cfg = *cfg;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void conn_guard_destroy(ConnGuard *g) {
    if (!g) return;
    // MHD reported every close before this (it is stopped first); anything left is a leak of ours.
    for (int p = 0; p < PH_COUNT; p++) CHECK(!listed((Phase)p) || !g->lists[p].head);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void conn_guard_configure(ConnGuard *g, const ConnGuardConfig *cfg) {
    pthread_mutex_lock(&g->mu);
    int64_t max_conns = g->cfg.max_conns;
    g->cfg = *cfg;
    g->cfg.max_conns = max_conns;
    pthread_mutex_unlock(&g->mu);
}

static GuardConn *conn_of(struct MHD_Connection *mc) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? (GuardConn *)ci->socket_context : NULL;
}

void conn_guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                       enum MHD_ConnectionNotificationCode code) {
    ConnGuard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        GuardConn *c = ci ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            // Untracked, it could hold its slot forever: refuse it.
            if (ci) shutdown(ci->connect_fd, SHUT_RDWR);
            return;
        }
        c->fd = ci->connect_fd;
        *socket_context = c;
        pthread_mutex_lock(&g->mu);
        list_add(g, c, PH_HEADER, clock_now_us());
        g->n_open++;
        // Full: make room by closing whoever has been reading a request the longest.
        if (g->n_open > g->cfg.max_conns) {
            GuardConn *old = NULL;
            for (Phase p = PH_HEADER; p <= PH_IDLE; p++) {
                GuardConn *h = g->lists[p].head;
                if (h && h != c && (!old || h->t_phase_us < old->t_phase_us)) old = h;
            }
            if (old) hang_up(g, old, &g->st.closed_evicted);
        }
        pthread_mutex_unlock(&g->mu);
        return;
    }
    GuardConn *c = *socket_context;
    if (!c) return;
    *socket_context = NULL;
    pthread_mutex_lock(&g->mu);
    list_del(g, c);
    g->n_open--;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

void conn_guard_header_done(ConnGuard *g, struct MHD_Connection *mc, int64_t now_us) {
    GuardConn *c = conn_of(mc);
    pthread_mutex_lock(&g->mu);
    move(g, c, PH_BODY, now_us);
    pthread_mutex_unlock(&g->mu);
}

void conn_guard_body_done(ConnGuard *g, struct MHD_Connection *mc, int64_t now_us) {
    GuardConn *c = conn_of(mc);
    pthread_mutex_lock(&g->mu);
    move(g, c, PH_SERVING, now_us);
    pthread_mutex_unlock(&g->mu);
}

void conn_guard_request_done(ConnGuard *g, struct MHD_Connection *mc, int64_t now_us) {
    GuardConn *c = conn_of(mc);
    pthread_mutex_lock(&g->mu);
    move(g, c, PH_IDLE, now_us);
    pthread_mutex_unlock(&g->mu);
}

// ---- the body budget ----

bool conn_guard_reserve(ConnGuard *g, size_t bytes) {
    pthread_mutex_lock(&g->mu);
    bool ok = bytes <= g->cfg.body_budget_bytes && g->body_bytes <= g->cfg.body_budget_bytes - bytes;
    if (ok) g->body_bytes += bytes;
    else g->st.refused_budget++;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

void conn_guard_release(ConnGuard *g, size_t bytes) {
    pthread_mutex_lock(&g->mu);
    CHECK(bytes <= g->body_bytes);
    g->body_bytes -= bytes;
    g->freed_since_trim += bytes;
    pthread_mutex_unlock(&g->mu);
}

// ---- sweeping ----

int64_t conn_guard_sweep(ConnGuard *g, int64_t now_us, bool draining) {
    int64_t before, after;
    pthread_mutex_lock(&g->mu);
    before = g->st.closed_header + g->st.closed_body + g->st.closed_idle + g->st.closed_drain;
    if (!draining) g->drain_start_us = 0;
    else if (!g->drain_start_us) g->drain_start_us = now_us;
    // On drain, whoever was reading a request (or idle) when it began goes at once; a connection
    // that arrives later keeps its deadlines, so a new request still gets its 503 "draining".
    int64_t ds = g->drain_start_us;
    const int64_t limit[3] = {g->cfg.header_timeout_us, g->cfg.body_timeout_us, g->cfg.idle_timeout_us};
    int64_t *counter[3] = {&g->st.closed_header, &g->st.closed_body, &g->st.closed_idle};
    for (Phase p = PH_HEADER; p <= PH_IDLE; p++) {
        GuardConn *c;
        while ((c = g->lists[p].head)) {
            if (ds && c->t_phase_us <= ds) hang_up(g, c, &g->st.closed_drain);
            else if (now_us - c->t_phase_us > limit[p]) hang_up(g, c, counter[p]);
            else break;
        }
    }
    after = g->st.closed_header + g->st.closed_body + g->st.closed_idle + g->st.closed_drain;
    // Give freed memory back to the system once enough of it went (stalled uploads that closed),
    // and at least once a second while any went.
    bool some = g->freed_since_trim > 0 || g->closed_since_trim > 0;
    bool trim = g->freed_since_trim >= ((size_t)8 << 20) || g->closed_since_trim >= 1024 ||
                (some && now_us - g->t_trim_us >= 1000000);
    if (trim) g->freed_since_trim = 0, g->closed_since_trim = 0, g->t_trim_us = now_us;
    pthread_mutex_unlock(&g->mu);
    if (trim) malloc_trim(0);
    return after - before;
}

void conn_guard_stats(ConnGuard *g, ConnGuardStats *out) {
    pthread_mutex_lock(&g->mu);
    *out = g->st;
    out->open = g->n_open;
    out->reading = g->n_phase[PH_HEADER] + g->n_phase[PH_BODY] + g->n_phase[PH_IDLE];
    out->serving = g->n_phase[PH_SERVING];
    out->body_bytes = g->body_bytes;
    pthread_mutex_unlock(&g->mu);
}

void conn_guard_publish(ConnGuard *g, Metric *conns, Metric *closed) {
    pthread_mutex_lock(&g->mu);
    ConnGuardStats now = g->st, was = g->published;
    g->published = g->st;
    int64_t reading = g->n_phase[PH_HEADER] + g->n_phase[PH_BODY] + g->n_phase[PH_IDLE];
    int64_t serving = g->n_phase[PH_SERVING];
    pthread_mutex_unlock(&g->mu);
    if (conns) {
        metric_set(conns, "reading", (double)reading);
        metric_set(conns, "serving", (double)serving);
    }
    if (closed) {
        metric_inc(closed, "header_deadline", (double)(now.closed_header - was.closed_header));
        metric_inc(closed, "body_deadline", (double)(now.closed_body - was.closed_body));
        metric_inc(closed, "idle_deadline", (double)(now.closed_idle - was.closed_idle));
        metric_inc(closed, "evicted", (double)(now.closed_evicted - was.closed_evicted));
        metric_inc(closed, "drain", (double)(now.closed_drain - was.closed_drain));
    }
}

// ---- parked connections ----

#define PROBE_EVERY_US 2000000

// The socket's TCP state: after a FIN, CLOSE_WAIT while the peer may still read; CLOSE once
// the peer answered with a reset. (recv reports end-of-file, never the reset, after a FIN.)
static int tcp_state(int fd) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
    return ti.tcpi_state;
}

PeerState conn_peer_check(struct MHD_Connection *mc, PeerProbe *pp, bool answer_started, bool http11,
                          int64_t now_us) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return PEER_PRESENT;
    int fd = ci->connect_fd;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return PEER_PRESENT;
    if (n < 0) return PEER_GONE;                 // reset before any FIN
    int st = tcp_state(fd);
    if (st == TCP_CLOSE || st < 0) return PEER_GONE;
    if (answer_started) return PEER_PRESENT;     // the answer's own bytes will draw the reset
    if (!http11) return PEER_GONE;
    if (pp->t_probe_us && now_us - pp->t_probe_us < PROBE_EVERY_US) return PEER_PRESENT;
    static const char probe[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t w = send(fd, probe, sizeof probe - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w != (ssize_t)(sizeof probe - 1)) return PEER_GONE;
    pp->t_probe_us = now_us;
    // On loopback a closed peer's reset is back already; elsewhere the next check sees it.
    return tcp_state(fd) == TCP_CLOSE ? PEER_GONE : PEER_PRESENT;
}
