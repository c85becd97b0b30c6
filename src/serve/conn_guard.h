// conn_guard.h — the connection layer's defences, shared by the worker (http_server.c) and the
// gateway (gw_front.c): every libmicrohttpd connection is tracked from accept to close, so that
//
//  - a client must send a complete request header within header_timeout of being accepted
//    (within idle_timeout of its previous answer, on a keep-alive connection) and the body within
//    body_timeout of the header: fixed deadlines, not idle timeouts reset by every byte, so a
//    client that trickles one byte at a time (slowloris) is closed all the same;
//  - at max_conns the oldest connection still reading its request is closed to make room, so
//    half-open connections can never lock well-behaved clients out (all from one IP included);
//  - the bytes of request bodies buffered across every connection stay under a budget: a POST
//    that would pass it is refused early (503) instead of growing the process;
//  - on drain every connection that has not delivered a complete request is closed at once,
//    while requests already accepted finish (and later arrivals are answered 503).
//
// A connection is closed by shutdown(2) of its socket under the guard's lock: libmicrohttpd
// wakes on the hang-up and closes it itself (the descriptor stays MHD's, so it cannot be reused
// under us: MHD reports the close through conn_guard_notify, which takes the same lock, before it
// close(2)s the descriptor).
//
// Connection phases (one per connection; the lists are FIFO by phase start, so the head of each
// is the first to pass its deadline):
//   HEADER --(header complete)--> BODY --(body complete)--> SERVING --(answer done)--> IDLE
//   IDLE --(next header complete)--> BODY
//   HEADER|BODY|IDLE --(deadline, eviction, drain)--> CLOSING --(MHD closes)--> (freed)
#ifndef RS_CONN_GUARD_H
#define RS_CONN_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t header_timeout_us;   // accept / previous answer → complete request header
    int64_t body_timeout_us;     // complete header → complete body
    int64_t idle_timeout_us;     // previous answer → next complete header (keep-alive)
    int64_t max_conns;           // tracked connections at most (see conn_guard_conn_limit)
    size_t body_budget_bytes;    // request-body bytes buffered across all connections
} ConnGuardConfig;

typedef struct ConnGuard ConnGuard;

typedef struct ConnGuardStats {
    int64_t open, reading, serving;        // connections now (reading: HEADER + BODY + IDLE)
    int64_t closed_header, closed_body, closed_idle;   // closed for missing a deadline
    int64_t closed_evicted, closed_drain;  // closed to make room / on drain
    int64_t refused_budget;                // POSTs refused by the body budget
    size_t body_bytes;                     // body bytes reserved now
} ConnGuardStats;

// Raises the soft RLIMIT_NOFILE to the hard limit and returns how many client connections the
// process can hold: the limit less `reserve` descriptors kept for everything else (model files,
// backend sockets, logs), at least 64. Also fixes glibc's mmap threshold at 4 MiB, so body and
// answer buffers come from the heap (reused, not faulted in afresh per request) and what stalled
// uploads leave behind goes back through free() (a heap top past 128 KiB) and conn_guard_sweep's
// malloc_trim (free pages inside the heaps).
int64_t conn_guard_conn_limit(int64_t reserve);

// NULL when out of memory. Destroy after MHD_stop_daemon (MHD reports every close first).
ConnGuard *conn_guard_create(const ConnGuardConfig *cfg);
void conn_guard_destroy(ConnGuard *g);
// New deadlines and budget (a reload); max_conns stays what it was.
void conn_guard_configure(ConnGuard *g, const ConnGuardConfig *cfg);

// MHD_OPTION_NOTIFY_CONNECTION callback (cls: the guard). STARTED begins HEADER (and may evict
// the oldest reader when full); CLOSED forgets the connection.
void conn_guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

// The first handler call of a request (its header is complete) / its body is complete / MHD
// finished it (keep-alive: the idle deadline for the next request starts now). Any thread.
void conn_guard_header_done(ConnGuard *g, struct MHD_Connection *mc, int64_t now_us);
void conn_guard_body_done(ConnGuard *g, struct MHD_Connection *mc, int64_t now_us);
void conn_guard_request_done(ConnGuard *g, struct MHD_Connection *mc, int64_t now_us);

// Reserves bytes of the body budget; false when the budget would be passed (nothing taken).
bool conn_guard_reserve(ConnGuard *g, size_t bytes);
// Gives back bytes reserved; memory freed by the caller is returned to the system in batches.
void conn_guard_release(ConnGuard *g, size_t bytes);

// Closes the connections past their deadline; draining: also, at once, every connection that was
// not serving a request when the drain began (one that arrives later keeps its deadlines, so its
// request is answered 503 "draining"). Call a few times a second from any thread. Returns how
// many were closed.
int64_t conn_guard_sweep(ConnGuard *g, int64_t now_us, bool draining);

void conn_guard_stats(ConnGuard *g, ConnGuardStats *out);

// Publishes the guard's figures into a metrics registry (call before rendering /metrics):
// the gauge `connections{state}` (reading, serving) and the counter
// `connections_closed_total{reason}` (header_deadline, body_deadline, idle_deadline, evicted,
// drain). Either metric may be NULL.
struct Metric;
void conn_guard_publish(ConnGuard *g, struct Metric *conns, struct Metric *closed);

// ---- is the client of a parked (suspended) connection still there? ----
//
// libmicrohttpd does not watch a suspended connection's socket, so the server peeks at it. A FIN
// alone does not say the client left: one that closed and one that only shut its sending side
// down (shutdown(SHUT_WR), then reads the answer) send the same FIN. So on end-of-file, while no
// answer has started, an HTTP/1.1 interim response "100 Continue" is sent as a probe (clients
// must accept and skip 1xx responses): a closed socket answers it with a reset, which the next
// peek sees (GONE); a half-closed client just reads past it and keeps waiting (PRESENT; probed
// again every 2 s). Once an answer has started only a reset counts (the answer's own bytes are
// the probe). An HTTP/1.0 client cannot be sent a 1xx: its end-of-file counts as GONE.
typedef enum { PEER_PRESENT = 0, PEER_GONE } PeerState;
typedef struct {
    int64_t t_probe_us;   // last probe sent (0: none)
} PeerProbe;

// Never consumes request bytes. Call with the connection suspended (nothing else writes to it).
PeerState conn_peer_check(struct MHD_Connection *mc, PeerProbe *pp, bool answer_started, bool http11,
                          int64_t now_us);

#endif
