// gw_keys_shared.c — several gateway replicas share their client keys' counters (requests and
// tokens per minute, spend per day and month) through Redis, on a thread of their own so the
// gateway's loop never waits for Redis.
//
// Every sync period, per key and counter: the pending count (what this replica added since the
// last sync) is read under mu and sent as `INCRBY PREFIX:key:NAME:KIND:WINDOW DELTA` (+ EXPIRE
// after twice the window), pipelined in one round trip; each reply is the total every replica has
// added in that window, which becomes the counter's `shared` part (quota.h), and the delta leaves
// `pending` (it is never out of both, so the loop never undercounts). So a replica sees the
// others' use within one period plus a round trip, and the overshoot of a limit is bounded by
// what the replicas admit in that time. A failed round leaves the unconfirmed deltas in pending:
// they are counted here, and sent again when Redis returns (a delta applied whose reply was lost
// is counted twice — an overcount, never an undercount).
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "serve/gw_int.h"
#include "serve/gw_keys.h"

#define SYNC_MAX (GW_KEY_STATES * QUOTA_N)

typedef struct {
    int slot, kind;
    char name[48];                 // the key's name, copied under mu
    int64_t window, delta;
    bool confirmed;
    int64_t total;
} SyncItem;

static const int64_t window_ttl_s[QUOTA_N] = {
    [QUOTA_RPM] = 120, [QUOTA_TPM] = 120, [QUOTA_DAY_NUSD] = 2 * 86400, [QUOTA_MONTH_NUSD] = 62 * 86400};

static void sleep_us(int64_t us) {
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static redisContext *connect_redis(GwKeys *k, char *why, size_t cap) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};
    redisContext *c = redisConnectWithTimeout(k->redis_host, k->redis_port, tv);
    if (!c || c->err) {
        snprintf(why, cap, "%s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (k->redis_password[0]) {
        redisReply *r = redisCommand(c, "AUTH %s", k->redis_password);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        snprintf(why, cap, "AUTH refused: %s", r && r->str ? r->str : c->errstr);
        if (r) freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

// Snapshots every key's pending counts (they stay counted here until Redis confirms them).
// Returns the item count.
static int take_pending(GwKeys *k, SyncItem *items, int64_t wall_s) {
    int n = 0;
    pthread_mutex_lock(&k->mu);
    for (int s = 0; s < k->n_states; s++) {
        KeyState *ks = &k->states[s];
        if (ks->cfg < 0 && ks->inflight == 0) continue;
        quota_roll(&ks->use, wall_s);
        for (int q = 0; q < QUOTA_N; q++) {
            items[n] = (SyncItem){.slot = s, .kind = q, .window = ks->use.window[q], .delta = ks->use.pending[q]};
            memcpy(items[n++].name, ks->name, sizeof ks->name);
        }
    }
    pthread_mutex_unlock(&k->mu);
    return n;
}

// One pipelined round trip. False when Redis failed (items not confirmed stay unconfirmed).
static bool round_trip(GwKeys *k, redisContext *c, SyncItem *items, int n) {
    char key[256];
    for (int i = 0; i < n; i++) {
        SyncItem *it = &items[i];
        snprintf(key, sizeof key, "%s:key:%s:%s:%lld", k->redis_prefix, it->name,
                 quota_kind_name((QuotaKind)it->kind), (long long)it->window);
        if (redisAppendCommand(c, "INCRBY %s %lld", key, (long long)it->delta) != REDIS_OK) return false;
        if (redisAppendCommand(c, "EXPIRE %s %lld", key, (long long)window_ttl_s[it->kind]) != REDIS_OK) return false;
    }
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) return false;
        bool ok = r->type == REDIS_REPLY_INTEGER;
        items[i].total = ok ? r->integer : 0;
        freeReplyObject(r);
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) return false;
        freeReplyObject(r);
        if (!ok) return false;
        items[i].confirmed = true;
    }
    return true;
}

// A confirmed delta leaves pending and its total becomes `shared` (same window only); an
// unconfirmed one stays pending.
static void settle(GwKeys *k, const SyncItem *items, int n) {
    pthread_mutex_lock(&k->mu);
    for (int i = 0; i < n; i++) {
        const SyncItem *it = &items[i];
        QuotaUsage *u = &k->states[it->slot].use;
        if (u->window[it->kind] != it->window) continue;   // the window passed meanwhile
        if (!it->confirmed) continue;
        u->pending[it->kind] -= it->delta;
        u->shared[it->kind] = it->total;
    }
    pthread_mutex_unlock(&k->mu);
}

static void *sync_main(void *arg) {
    GwKeys *k = arg;
    SyncItem *items = calloc(SYNC_MAX, sizeof *items);
    CHECK(items);
    redisContext *c = NULL;
    bool up = true, warned = false;
    int64_t retry_at = 0;
    char why[256] = "";
    while (!atomic_load(&k->sync_stop)) {
        int64_t t0 = clock_now_us();
        if (!c && t0 >= retry_at) {
            c = connect_redis(k, why, sizeof why);
            if (!c) retry_at = t0 + 1000000;
        }
        int n = take_pending(k, items, clock_wall_us() / 1000000);
        bool ok = c && round_trip(k, c, items, n);
        settle(k, items, n);
        memset(items, 0, (size_t)n * sizeof *items);
        if (!ok && c) {
            snprintf(why, sizeof why, "%s", c->errstr[0] ? c->errstr : "unexpected reply");
            redisFree(c);
            c = NULL;
            retry_at = t0 + 1000000;
            metric_inc(k->m_store_errors, NULL, 1);
        }
        if (ok != up || !warned) {
            if (!ok)
                LOG_W("shared key counters: Redis at %s:%d unreachable (%s); each replica enforces the key limits "
                      "with its own counts and the last totals seen until it returns", k->redis_host, k->redis_port, why);
            else if (warned)
                LOG_I("shared key counters: Redis at %s:%d is back", k->redis_host, k->redis_port);
            warned = true;
            up = ok;
        }
        metric_set(k->m_store_up, NULL, ok ? 1 : 0);
        int64_t left = k->sync_us - (clock_now_us() - t0);
        if (left > 0) sleep_us(left);
    }
    if (c) {   // push what is pending once more, so a drained replica's last requests count
        int n = take_pending(k, items, clock_wall_us() / 1000000);
        if (round_trip(k, c, items, n)) settle(k, items, n);
        redisFree(c);
    }
    free(items);
    return NULL;
}

int gw_keys_shared_start(Gateway *g, char *err, size_t err_len) {
    GwKeys *k = g->keys;
    if (!g->p.redis_host[0]) return 0;
    snprintf(k->redis_host, sizeof k->redis_host, "%s", g->p.redis_host);
    snprintf(k->redis_prefix, sizeof k->redis_prefix, "%s", g->p.redis_prefix);
    k->redis_port = g->p.redis_port;
    k->sync_us = g->p.shared_sync_us;
    if (g->p.redis_password_env[0]) {
        const char *pw = getenv(g->p.redis_password_env);
        if (!pw || strlen(pw) >= sizeof k->redis_password)
            return err_set(err, err_len, ERR_ARG, "shared: environment variable %s (Redis's password) is not set",
                           g->p.redis_password_env);
        snprintf(k->redis_password, sizeof k->redis_password, "%s", pw);
    }
    k->m_store_up = metrics_add(g->m.reg, METRIC_GAUGE, "shared_store_up", "1 while the keys' counters are shared through Redis; 0: this replica enforces key limits on its own counts.", NULL, NULL, 0);
    k->m_store_errors = metrics_add(g->m.reg, METRIC_COUNTER, "shared_store_errors_total", "Failed syncs of the keys' counters with Redis.", NULL, NULL, 0);
    if (!k->m_store_up || !k->m_store_errors) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    atomic_store(&k->sync_stop, false);
    if (pthread_create(&k->sync_thread, NULL, sync_main, k)) return err_set(err, err_len, ERR_NOMEM, "cannot start a thread");
    k->sync_on = true;
    return 0;
}

void gw_keys_shared_stop(GwKeys *k) {
    if (!k->sync_on) return;
    atomic_store(&k->sync_stop, true);
    pthread_join(k->sync_thread, NULL);
    k->sync_on = false;
    memset(k->redis_password, 0, sizeof k->redis_password);
}
