// gw_int.h — the gateway's internal types, shared by gw_front.c (HTTP side), gw_loop.c (routing,
// dispatch, cascade, canary, charging calls) and gw_replica.c (replicas: supervisor, health, cost
// accrual, replica choice). Every decision is a call into src/policy.
// Not a public header.
//
// Out of memory — one policy for src/serve: at start-up (config, replicas, buffers sized once) the
// verb fails with a message; on a request's path the request is answered 500 server_error ("out
// of memory"; the gateway's out_of_memory, the worker's oai_err) and the process keeps serving
// every other request. Optional work (a canary shadow) is skipped. Nothing on a request path
// aborts: CHECK stays for our own invariants.
#ifndef RS_GW_INT_H
#define RS_GW_INT_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/rng.h"
#include "policy/autoscale.h"
#include "policy/batcher.h"
#include "policy/canary.h"
#include "policy/ledger.h"
#include "policy/router.h"
#include "serve/conn_guard.h"
#include "serve/gateway.h"
#include "serve/gw_body.h"
#include "serve/gw_keys.h"
#include "serve/jsonw.h"
#include "serve/metrics.h"
#include "serve/model_id.h"
#include "serve/pipeline.h"
#include "serve/telemetry.h"

#define GW_MAX_HEADERS 24
#define GW_MAX_ATTEMPTS 3

typedef struct GwReq GwReq;
typedef struct GwCall GwCall;
typedef struct Replica Replica;

// Replica states:  STARTING --(health ok)--> READY --(process exits)--> BACKOFF --(delay)--> STARTING
//                  STARTING --(health ok, warm pool)--> WARM --(scale up)--> READY
//                  READY|STARTING --(scale down / drain)--> DRAINING --(idle)--> STOPPED
typedef enum { REP_STARTING = 0, REP_READY, REP_BACKOFF, REP_DRAINING, REP_STOPPED, REP_WARM, REP_STATES } ReplicaState;

struct Replica {
    int kind;                      // always CALL_HEALTH: tells curl's private pointers apart
    int tier;
    int slot;
    ReplicaState state;
    char base_url[560];            // ".../v1"
    pid_t pid;                     // local worker process (0: none)
    int port;
    int64_t t_state_us;
    int64_t backoff_us, restart_at_us;
    int64_t ready_since_us;
    int64_t restarts;
    bool warm;                     // belongs to the warm pool: started and healthy, not dispatched to
    bool term_sent;                // DRAINING: SIGTERM already sent
    CURL *health;                  // in-flight /health probe, or NULL
    struct curl_slist *health_hdrs; // its headers (a remote tier's credentials), or NULL
    int64_t next_health_us;
    LedgerReplica led;
    LedgerShare share;             // in-flight sharing (cost_share: in_flight tiers)
    GwCall **inflight;             // calls running on this replica (a drain waits for none)
    int64_t n_inflight, cap_inflight;
    // ---- health (/health/ready, /metrics) ----
    char why[160];                 // the last failure: how the worker exited, or why it could not start or be reached
    int last_exit;                 // the worker's last exit code (128 + signal when killed), -1: none yet
    bool unreachable;              // remote: the last probe (GET base_url/models) got no HTTP answer
    bool refused;                  // remote: the last probe, sent with the tier's credentials, got 401/403
};

typedef enum { CALL_MAIN = 0, CALL_SHADOW, CALL_BATCH, CALL_HEALTH } CallKind;

// One backend HTTP exchange. Owned by the loop.
struct GwCall {
    int kind;                      // CallKind (first, like Replica.kind)
    GwReq *req;                    // MAIN/SHADOW: the request (a shadow's is loop-owned)
    GwReq **members;               // BATCH: the requests in the batch
    int64_t *member_weight;        // BATCH: input sizes (the cost split's weights)
    int64_t *member_share;         // BATCH: each member's busy share (ns)
    int64_t n_members;
    Replica *rep;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;                    // request body sent (owned)
    Buf resp;                      // buffered response
    bool pass_stream;              // bytes go straight to the client
    size_t max_resp_bytes;         // limits.max_response_bytes for a buffered answer
    bool too_large;                // cut off at max_resp_bytes (502 response_too_large)
    long status;
    int64_t t_start_us, t_first_byte_us;
    int64_t bytes;
    int64_t cost_nusd;             // this call's charge (policy/ledger's rule)
    int64_t idle_nusd;             // the replica's idle its request takes (the rule's step 5)
    LedgerMark share_mark;         // its entry on the replica's share clock
    int64_t share_ns;              // its in-flight share once ended (cost_share: in_flight)
    // pass-through streams (gw_stream.c)
    Buf sse;                       // bytes of the SSE event not yet complete
    bool drop_usage;               // usage was asked for the gateway, not the client: drop that chunk
    bool saw_done, saw_finish, saw_error;
    int64_t n_events;              // whole events received
    char chunk_id[64], chunk_model[128];
    double chunk_created;
    bool chunk_chat;
    bool chunk_read;               // a chunk was parsed in full: later plain text deltas are only scanned
};

typedef enum { FRONT_READING = 0, FRONT_WAITING, FRONT_STREAMING, FRONT_ANSWERED } FrontState;

struct GwReq {
    Gateway *gw;
    uint64_t id;
    atomic_int refs;               // front + loop
    // ---- set by the front before submit, read-only afterwards ----
    struct MHD_Connection *mc;
    RouterEndpoint ep;
    const char *suffix;            // "/completions", "/chat/completions", "/embeddings"
    Buf body;                      // the client's bytes, forwarded with the gateway's edits spliced in
    GwBody parts;                  // what the check found in body (gw_body.h)
    bool cache_on;                 // the response cache is on: the check prepares the cache's view of the body
    bool rewrite_model;            // the `models:` map resolved r->model: answers carry it as their "model"
    // the client key's reservation at admission (gw_keys.c): tokens and nano-dollars counted in
    // the key's windows while the request runs, settled against what it used when it ends
    int64_t resv_tokens, resv_nusd;
    int64_t resv_window[3];        // the TPM, day and month windows they were counted in
    bool stream, client_logprobs;
    char model[96];
    int64_t prompt_chars;
    int n_hdrs;
    char *hdr_name[GW_MAX_HEADERS], *hdr_val[GW_MAX_HEADERS];   // point into hdr_text
    Buf hdr_text;                  // the copied headers, "name\0value\0" each
    int64_t t_arrival_us;
    int64_t t_head_us;             // its headers were read (the gateway's own time starts)
    int64_t backend_us;            // summed over its calls: request sent to answer received
    bool shadow;                   // loop-owned shadow copy (no client)
    FrontState fstate;
    bool too_large, over_budget;
    bool http11;                   // may be sent a 1xx probe (conn_peer_check)
    size_t reserved;               // bytes of the body budget held for body
    PeerProbe probe;
    GwReq *lprev, *lnext;          // Gateway.live: requests whose client may still be waiting (loop thread)
    int key;                       // client key state slot (gw_keys.h), -1: none
    int retry_after_s;             // > 0: Retry-After for this refusal (else limits.retry_after_s)
    int early_status;
    char early_msg[200];
    GwReq *check_next;             // the check thread's lists (Gateway.check_mu)
    int check_status;              // its verdict: 0, or the HTTP status of check_msg
    char check_msg[240];
    // ---- shared (mu) ----
    pthread_mutex_t mu;
    bool suspended, resp_ready, out_done, client_gone;
    int status;
    Buf out;                       // whole body, or SSE bytes not yet handed to MHD
    size_t out_off;
    char h_tier[48], h_queue[32], h_cost[40];
    char h_ttft[32];   // x-rightsize-ttft-ms: the record's TTFT ("" until the first text)
    bool retry_after;
    struct MHD_Response *stream_resp;
    // ---- loop only ----
    GwCall *call;                  // the main call running for it, or NULL
    GwReq *qnext;                  // tier queue / inbox link
    RouteDecision dec;
    int tier, first_tier;
    int attempts;
    int64_t t_enqueue_us, t_dispatch_us, t_first_byte_us, queue_us;
    int64_t cost_nusd, first_cost_nusd;   // busy charges (all tiers; the first tier's)
    int64_t idle_nusd, first_idle_nusd;   // idle taken (the ledger's step 5)
    double confidence;
    bool escalated, cascade_first_call;
    int replica_slot;
    int64_t prompt_tokens, output_tokens;
    char finish[24];
    int64_t batch_size;
    char *shadow_text;             // shadow: the candidate's answer to compare with
    int canary;                    // shadow: which canary
    char reason[48];
    // ---- telemetry (loop only; docs/telemetry.md) ----
    int64_t t_first_token_us, t_last_token_us;   // first/last event with generated text (streams)
    int64_t n_content_events;      // pass-through events with generated text
    int64_t first_prompt_tokens, first_output_tokens;   // an escalated cascade's first tier
    const char *usage_source;      // "backend", "counted", NULL (none)
    double backend_ttft_ms, backend_tpot_ms, backend_queue_ms, batch_size_mean;   // -1: not reported
    int tel_status;                // outcome when it differs from the HTTP status (a stream that broke: 502)
    char error[200];               // why the request failed
    // ---- response cache (gw_cache.c; loop only) ----
    const char *cache_state;       // "hit", "miss" (looked up, not found), NULL (not looked up)
    uint64_t cache_key;
    int cache_rule;                // the route rule a miss was looked up for
    bool cache_ready;              // gw_cache_prepare ran: cache_skip, and the canonical body when cacheable
    int cache_skip;                // RespCacheSkip of the body (RESPCACHE_OK: cacheable)
    uint64_t cache_body_hash;      // respcache_hash of cache_canon
    char *cache_canon;             // the canonical body (sorted keys), kept by a miss to store its answer (owned)
    size_t cache_canon_len;
    bool cache_capture;            // a streamed miss: copy what the client is sent into cache_cap
    Buf cache_cap;
};

typedef struct {
    GwReq *head, *tail;
    int64_t n;
    Batcher *batcher;              // batching tiers: waiting requests by id (the queue is unused)
    GwReq **bslots;                // batching: id % cap → request
    int64_t bcap;
    Replica reps[PIPE_MAX_REPLICAS];
    int n_reps;
    Autoscaler as;
    int desired;
    ModelId id;                    // quantization, version, digest (local: from the GGUF; remote: config)
} TierState;

typedef struct {
    MetricsRegistry *reg;
    Metric *requests, *rejected, *decisions, *escalations, *cost, *replicas, *desired, *waiting, *running, *e2e,
        *ttft, *queue, *batch, *prompt_tok, *gen_tok, *rollbacks, *canary_weight, *restarts, *retries, *tpot,
        *req_cost, *conns, *conns_closed, *tier_ready, *last_exit, *reloads, *overhead;
} GwMetrics;

typedef struct {   // gw_cache.c
    Metric *hits, *misses, *skipped, *evictions, *bytes, *entries;
} GwCacheMetrics;

typedef struct GwCache GwCache;

// The dashboard's hourly buckets (dashboard.c): counters at the start of each UTC hour and now.
#define GW_DASH_HOURS 24
typedef struct {
    int64_t hour;                            // hours since the epoch
    int64_t req0, cost0, busy0, req1, cost1, busy1;
} GwDashHour;
typedef struct {
    GwDashHour hours[GW_DASH_HOURS];         // ring: oldest at head
    int head, n;
} GwDash;

// The loop's epoll set (gw_io.c): what it knows of each libcurl socket, by descriptor.
typedef struct {
    uint8_t flags;                            // in the epoll set; opened through gw_io's callback
    bool wanted;                              // curl waits on it (else an event takes it out)
    uint32_t events;                          // EPOLLIN/EPOLLOUT while in the set
} GwIoSock;
typedef struct {
    int epfd;                                 // the loop's one epoll set
    int wake_fd;                              // eventfd: the check thread wakes the loop
    int64_t timer_at_us;                      // curl's next timeout (-1: none)
    GwIoSock *socks;                          // by descriptor (n_socks)
    int n_socks;
} GwIo;

struct Gateway {
    Pipeline p;
    GatewayOptions o;
    char admin_key[128];
    char config_path[512];
    char worker_exe[512];
    struct MHD_Daemon *daemon;
    int port;
    CURLM *multi;
    atomic_bool draining;
    atomic_uint_fast64_t next_id;
    atomic_size_t max_body;
    atomic_llong max_tokens;
    int mhd_fd;                               // MHD's epoll fd, polled by the loop
    ConnGuard *guard;                         // deadlines, connection cap, body budget, drain (conn_guard.h)
    GwReq *live;                              // POSTs whose connection is open (gw_front_watch checks them)
    GwReq *req_pool;                          // finished request objects for reuse (linked by qnext; loop thread)
    int n_req_pool;
    bool mhd_dirty;                           // a connection was resumed: run MHD before sleeping
    GwIo io;                                  // the loop's epoll set (gw_io.c)
    // admin commands and status snapshots
    pthread_mutex_t inbox_mu;
    double admin_weight[PIPE_MAX_CANARIES];   // -1: none pending
    bool admin_rollback, admin_drain;
    char canary_status[1024];                 // JSON for GET /admin/canary (under inbox_mu)
    char ledger_status[1024];                 // JSON for GET /admin/ledger (under inbox_mu)
    char reload_status[12288];                // JSON for GET /admin/reload: the last reload's result (under inbox_mu)
    ListenAddr file_listen;                   // the listen address the file gave at start
    // loop state
    TierState tiers[PIPE_MAX_TIERS];
    Canary canaries[PIPE_MAX_CANARIES];
    int candidate_of[PIPE_MAX_CANARIES];
    Rng rng;                                  // routing: one canary draw per routed request
    Rng shadow_rng;                           // shadow sampling (kept apart so routing draws match the planner's)
    Ledger ledger;
    int64_t shadow_nusd;
    int64_t in_flight;                        // requests the loop holds
    int64_t n_open_reqs;                      // POSTs MHD has not finished sending (drain waits for 0)
    Telemetry tel;
    GwMetrics m;
    int64_t next_tick_us, next_scale_us;
    int64_t ledger_attr_nusd;                 // cost of finished requests
    int64_t closed_nusd;                      // cost of replica slots closed and reopened
    int64_t n_done;
    JsonwClock rec_clock;                     // telemetry records' time text, its calendar part per second
    Buf rec;                                  // the telemetry record being formatted (kept: no allocation per request)
    int64_t pub_busy, pub_idle, pub_shadow;   // cost_usd_total already published
    GwKeys *keys;                             // client keys, models map, upstream credentials (gw_keys.c)
    CURL *easy_pool[256];                     // reset easy handles kept for the next calls
    int n_easy_pool;
    // the check thread (gw_front.c): bodies over GW_INLINE_CHECK_BYTES are checked off the loop
    pthread_t check_thread;
    bool check_started, check_stop;           // check_stop under check_mu
    pthread_mutex_t check_mu;
    pthread_cond_t check_cv;
    GwReq *check_todo, *check_todo_tail;      // waiting for the check thread
    GwReq *check_done, *check_done_tail;      // checked, waiting for the loop
    GwCache *cache;                           // the response cache, or NULL when off
    GwCacheMetrics cm;
    GwDash dash;
};

// Bodies up to this size are checked on the loop thread (well under a millisecond); bigger ones
// on the check thread, so a 1 MiB body never holds the loop that every other client waits on.
#define GW_INLINE_CHECK_BYTES (16 * 1024)

// ---- gw_front.c ----
int gw_front_start(Gateway *g, char *err, size_t err_len);

// ---- the loop's epoll set (gw_io.c) ----
// gw_io_start after the multi handle and MHD exist (g->mhd_fd): one epoll set for MHD, the wake-up
// eventfd and curl's sockets; curl is driven by socket_action from then on.
int gw_io_start(Gateway *g, char *err, size_t err_len);
void gw_io_stop(Gateway *g);
// Sets the socket callbacks gw_io needs on an easy handle (each call and probe, after any reset).
void gw_io_easy(Gateway *g, CURL *easy);
// Wakes the loop from another thread.
void gw_io_wake(Gateway *g);
// Waits up to timeout_ms and hands each ready curl socket to curl. True when MHD (or the wake-up)
// has work.
bool gw_io_wait(Gateway *g, int timeout_ms);
// curl's own timeout: due, when (-1: none), and running it.
bool gw_io_timer_due(const Gateway *g, int64_t now_us);
int64_t gw_io_timer_at(const Gateway *g);
void gw_io_curl_timeout(Gateway *g);
void gw_front_stop(Gateway *g);
// Publishes a response (status, body) to the request's connection. Loop thread.
void gw_req_respond(GwReq *r, int status, const char *ctype, const char *body, size_t len);
// Streams: headers ready (status 200); bytes appended; end.
void gw_req_stream_begin(GwReq *r);
void gw_req_stream_append(GwReq *r, const char *data, size_t len);
void gw_req_stream_end(GwReq *r);
// OpenAI error JSON response.
void gw_req_error(GwReq *r, int status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void gw_req_unref(GwReq *r);
// A zeroed request object (from the pool of finished ones, else calloc), or NULL.
GwReq *gw_req_alloc(Gateway *g);
// Frees the pool (gateway_destroy, after the last request is released).
void gw_req_pool_free(Gateway *g);
bool gw_req_gone(GwReq *r);
// Loop thread: routes the requests the check thread has finished (or answers their 400s).
void gw_front_collect(Gateway *g);
// Checks the sockets of parked requests (a client that left: gw_abandon) and sweeps the
// connection deadlines; on drain closes every connection without a complete request. Loop thread.
void gw_front_watch(Gateway *g, int64_t now_us);

// ---- gw_replica.c ----
int gw_replicas_start(Gateway *g, char *err, size_t err_len);
void gw_replicas_tick(Gateway *g, int64_t now_us);
void gw_replicas_stop(Gateway *g);
// Stops charging replica r (ledger_close) and writes its telemetry record: its cost, busy
// charges, idle taken by requests and the idle after its last request (unattributed). gateway.c.
void gw_replica_close_ledger(Gateway *g, Replica *r, int64_t now_us);
// Least-loaded READY replica of a tier with room, or NULL.
Replica *gw_replica_pick(Gateway *g, int tier);
// A call starts/ends on a replica (in-flight list; the replica's cost accrues).
int gw_replica_call_start(Gateway *g, Replica *r, GwCall *c, int64_t now_us);   // 0 or ERR_NOMEM
void gw_replica_call_end(Gateway *g, Replica *r, GwCall *c, int64_t now_us);
void gw_replica_failed(Gateway *g, Replica *r, int64_t now_us);
void gw_health_done(Gateway *g, CURL *easy, CURLcode rc);
int gw_tier_active(Gateway *g, int tier);
// now_us: the loop's monotonic clock (replica state times); utc_us: wall-clock UTC, which the
// autoscaler's time-of-day schedule windows and delays read (as the simulator's clock does).
void gw_autoscale(Gateway *g, int64_t now_us, int64_t utc_us);
const char *gw_replica_state_name(ReplicaState s);
// Whether the tier has a replica that takes calls now (local: READY; remote: READY and its last
// probe answered). When not, why says what is wrong ("worker 0 exited with status 1; 3 restarts,
// next try in 2.0 s", "no replica is ready (1 starting)").
bool gw_tier_ready(const Gateway *g, int tier, int64_t now_us, char *why, size_t cap);
// GET /health/ready's answer: 200 when every route's tiers are ready (a cascade's both, an active
// canary's candidate), else 503 naming each route and tier that is not and why. Loop thread.
int gw_health_ready(const Gateway *g, int64_t now_us, Buf *out);

// ---- gw_stream.c ----
// Pass-through stream bytes from a backend: framed by SSE event boundaries, each whole event
// read for telemetry (usage, finish_reason, first content token, errors) and forwarded as
// received (one event per backend event).
void gw_stream_feed(GwCall *c, const char *p, size_t len, int64_t now_us);
// The transfer ended. ok: the backend closed cleanly. Forwards any incomplete tail; a stream that
// ended without its final chunk (or with a transport error) gets a final chunk with
// finish_reason "error", an error event and [DONE], and the request's telemetry status becomes
// `status` (502, 504 on a timeout; the client's HTTP status stays 200). A client that left first
// is recorded as 499.
void gw_stream_end(GwCall *c, bool ok, int status, const char *why);
// Reads usage, finish_reason and the backend's timings from a whole (non-streamed) answer.
void gw_read_answer(GwReq *r, const cJSON *resp);
// gw_answer.c: choice 0 of an answer; its text ("" when none); its token logprobs (malloc'ed, *n of
// them; NULL when absent); the kept answer replayed to a streaming client as SSE chunks.
const cJSON *gw_answer_choice0(const cJSON *resp);
const char *gw_answer_text(const cJSON *resp);
double *gw_answer_logprobs(const cJSON *resp, int64_t *n);
void gw_answer_replay_sse(GwReq *r, cJSON *resp);
// The same, read from the answer's bytes without a tree (only the small members are parsed): what
// the loop uses when it needs nothing else of the answer, so a big one is not parsed on it.
void gw_read_answer_raw(GwReq *r, const char *s, size_t len);
// timings.rightsize.busy_ns of a buffered answer (walked, the one small member parsed), or -1.
int64_t gw_answer_busy_ns(const char *s, size_t len);
// The JSON object text s with its top-level "model" member's value replaced by the string name,
// appended to out: 0; 1 when s has no "model" member (out untouched); ERR_NOMEM.
int gw_json_set_model(Buf *out, const char *s, size_t len, const char *name);

// ---- gw_reload.c ----
// SIGHUP: re-reads the config; applies it (each change named in the log and GET /admin/reload)
// or refuses it by name and keeps the running config. Loop thread.
void gw_reload(Gateway *g);
// ---- gw_cache.c ----
// Registers the cache's metrics and creates the cache when the pipeline turns it on.
int gw_cache_start(Gateway *g, char *err, size_t err_len);
void gw_cache_stop(Gateway *g);
// After a reload: a changed `cache:` section starts an empty cache (or turns it off).
void gw_cache_reload(Gateway *g);
// A routed-to-be request (rule: router_match's index): true when it was answered from the cache
// (and finished); else a cacheable miss keeps its key to store its answer at the end.
bool gw_cache_lookup(Gateway *g, GwReq *r, int rule, int64_t now_us);
// The cache's view of a checked body, taken from its tree where the body was checked (the check
// thread for a big one): whether it is cacheable and its canonical text and hash. No tree is
// kept, so the loop neither walks nor frees one. Thread-safe (touches only r).
void gw_cache_prepare(GwReq *r, const cJSON *json);
// Bytes sent to a streaming client (called as they are appended).
void gw_cache_capture(GwReq *r, const char *data, size_t len);
// At the end of a request: stores a successful miss's answer.
void gw_cache_store(Gateway *g, GwReq *r, int status, int64_t now_us);
void gw_cache_req_free(GwReq *r);
// Expires entries past their TTL and publishes the gauges and eviction counters.
void gw_cache_tick(Gateway *g, int64_t now_us);

// ---- dashboard.c ----
// GET /dashboard and /admin/dashboard.json (admin key required).
enum MHD_Result gw_dash_get(Gateway *g, struct MHD_Connection *mc, const char *url);
// Updates the hourly buckets (every tick).
void gw_dash_tick(Gateway *g, int64_t wall_us);

// ---- gw_loop.c ----
void gw_dispatch(Gateway *g, int tier, int64_t now_us);
// A request header's value (case-insensitive name), or NULL.
const char *gw_req_header(const GwReq *r, const char *name);
// A request whose body was read and checked: route, admit, dispatch (or answer at once).
void gw_route(Gateway *g, GwReq *r, int64_t now_us);
// The client of r left while the loop held r: its backend call is stopped (the backend's
// connection closes, so a worker frees the sequence) or it leaves its queue; recorded as 499.
void gw_abandon(Gateway *g, GwReq *r, int64_t now_us);

#endif
