// gw_keys.h — the gateway's access layer (gw_keys.c): client keys, the `models:` map, per-key
// permissions, rate limits and budgets, upstream credentials. Not a public header: included by
// gw_int.h users only.
#ifndef RS_GW_KEYS_H
#define RS_GW_KEYS_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "base/buf.h"
#include "policy/quota.h"
#include "policy/router.h"
#include "serve/metrics.h"
#include "serve/pipeline.h"

#define GW_KEY_STATES (2 * PIPE_MAX_KEYS)   // configured keys + removed ones still in flight

typedef struct Gateway Gateway;
typedef struct GwReq GwReq;

// One client key's counters, bound to the configured key by name (a reload keeps them).
typedef struct {
    char name[48];
    int cfg;                     // index in Pipeline.keys, -1 once the key was removed
    int64_t inflight;            // admitted requests not finished
    QuotaLimits limits;
    QuotaUsage use;              // windows (minute, day, month); under mu
    int64_t spend_nusd, tokens;  // since start
} KeyState;

typedef struct {
    pthread_mutex_t mu;          // guards states[].use against the shared-counter sync thread
    KeyState states[GW_KEY_STATES];
    int n_states;
    int slot_of[PIPE_MAX_KEYS];  // configured key → state slot
    char *up[PIPE_MAX_TIERS][PIPE_MAX_HEADERS + 1];   // "Name: value" lines per tier (owned; secret)
    int n_up[PIPE_MAX_TIERS];
    Metric *m_spend, *m_requests, *m_tokens, *m_rejected;
    // shared counters (gw_keys_shared.c): a thread syncs states[].use with Redis
    bool sync_on;
    atomic_bool sync_stop;
    pthread_t sync_thread;
    char redis_host[128], redis_prefix[64], redis_password[256];
    int redis_port;
    int64_t sync_us;
    Metric *m_store_up, *m_store_errors;
    int64_t cost_est_nusd[PIPE_MAX_TIERS];   // the tier's recent cost per request (reservations' estimate; loop)
} GwKeys;

// Start-up: key states, metrics, upstream credentials read (an error names the tier).
int gw_keys_start(Gateway *g, char *err, size_t err_len);
// After g->p was replaced by a reload: keys rebound by name, upstream credentials re-read.
void gw_keys_reload(Gateway *g);
void gw_keys_stop(Gateway *g);
// The front, when a /v1 request arrives: 0 with *slot = the client key's state (-1 when no keys
// are configured), or an HTTP status (401) with msg.
int gw_keys_auth(Gateway *g, struct MHD_Connection *mc, int *slot, char *msg, size_t cap);
enum MHD_Result gw_keys_reply_auth(struct MHD_Connection *mc, int status, const char *msg);
// The loop: model map → route decision (r->dec), then the key's permissions and limits. False
// when r was refused (404 model_not_found, 403, 429 + Retry-After) and finished.
bool gw_keys_route(Gateway *g, GwReq *r, const RouteInput *in, int64_t now_us);
// The loop, when a request ends: its tokens and cost count against its key.
void gw_keys_finish(Gateway *g, GwReq *r);
// The request's key name (never the key), or NULL.
const char *gw_keys_name(const Gateway *g, const GwReq *r);
// GET /v1/models: the public model names the key may use (tier names without a `models:` map).
enum MHD_Result gw_keys_models(Gateway *g, struct MHD_Connection *mc);
// GET /admin/keys: every configured key's usage and limits, JSON.
void gw_keys_status(Gateway *g, Buf *out);
// ---- gw_keys_shared.c ----
// Starts the thread that shares the keys' counters through Redis when the pipeline has `shared:`
// (nothing otherwise). It never blocks the loop: every sync_us it moves each counter's pending
// count to Redis (INCRBY on a per-window key that expires) and reads back the total every replica
// has added; the loop only takes `mu` for a few loads and stores. Unreachable Redis: a warning,
// rightsize_shared_store_up 0, and the counts stay local (pending), so every limit still holds
// per replica with the last totals seen. 0, or an error (a missing password variable).
int gw_keys_shared_start(Gateway *g, char *err, size_t err_len);
void gw_keys_shared_stop(GwKeys *k);

// Adds a tier's upstream Authorization and extra headers to h (NULL stays NULL).
struct curl_slist *gw_keys_upstream_headers(Gateway *g, int tier, struct curl_slist *h);

#endif
