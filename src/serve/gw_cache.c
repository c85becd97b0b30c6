// gw_cache.c — the gateway's exact-match response cache: policy/respcache decides which requests
// may be answered from it, names them and chooses what to evict; this file keeps the answers'
// bytes, answers hits (the stored bytes, as JSON or as the stored SSE stream) and stores the
// successful answers of misses. Loop thread only.
//
// An entry is the route, endpoint and stream flag with the canonical request body (compared in
// full on a hit: a hash collision is a miss)
// and the exact bytes the client was sent — a JSON body, or the whole event stream of a streamed
// answer — so a hit returns identical bytes. A hit is charged nothing: no replica worked for it
// (docs/telemetry.md, Response cache).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"
#include "base/log.h"
#include "policy/respcache.h"
#include "serve/gw_int.h"

void gw_finish(Gateway *g, GwReq *r, int64_t now_us);   // gateway.c

typedef struct {
    int rule;               // the route rule and endpoint the answer was for
    int ep;
    char *canon;            // canonical request body (owned)
    size_t canon_len;
    char *body;             // the bytes the client was sent (owned)
    size_t body_len;
    bool stream;
    int64_t prompt_tokens, output_tokens;
    char finish[24];
} Entry;

struct GwCache {
    PipeCache cfg;
    RespCache *rc;
    Entry *entries;         // [cfg.max_entries], by the store's slot
    Metric *hits, *misses, *skipped, *evictions, *bytes, *n_entries;
    int64_t pub_evict, pub_expire;
};

static void entry_free(Entry *e) {
    free(e->canon);
    free(e->body);
    memset(e, 0, sizeof *e);
}

static void on_evict(void *ctx, int64_t slot, bool expired) {
    (void)expired;
    GwCache *c = ctx;
    entry_free(&c->entries[slot]);
}

static void cache_free(GwCache *c) {
    if (!c) return;
    if (c->entries)
        for (int64_t i = 0; i < c->cfg.max_entries; i++) entry_free(&c->entries[i]);
    respcache_destroy(c->rc);
    free(c->entries);
    free(c);
}

// A store for cfg (cfg->enabled), sharing the gateway's metrics. NULL with err set.
static GwCache *cache_new(Gateway *g, const PipeCache *cfg, char *err, size_t err_len) {
    GwCache *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, err_len, ERR_NOMEM, "response cache: out of memory"), NULL;
    c->cfg = *cfg;
    RespCacheConfig rc = {.max_bytes = cfg->max_bytes, .max_entries = cfg->max_entries, .ttl_us = cfg->ttl_us,
                          .on_evict = on_evict, .ctx = c};
    c->rc = respcache_create(&rc, err, err_len);
    c->entries = calloc((size_t)cfg->max_entries, sizeof *c->entries);
    if (!c->rc || !c->entries) {
        if (c->rc) err_set(err, err_len, ERR_NOMEM, "response cache: out of memory");
        cache_free(c);
        return NULL;
    }
    const GwCacheMetrics *m = &g->cm;
    c->hits = m->hits, c->misses = m->misses, c->skipped = m->skipped;
    c->evictions = m->evictions, c->bytes = m->bytes, c->n_entries = m->entries;
    return c;
}

int gw_cache_start(Gateway *g, char *err, size_t err_len) {
    MetricsRegistry *r = g->m.reg;
    GwCacheMetrics *m = &g->cm;
    m->hits = metrics_add(r, METRIC_COUNTER, "response_cache_hits_total", "Requests answered from the response cache.", NULL, NULL, 0);
    m->misses = metrics_add(r, METRIC_COUNTER, "response_cache_misses_total", "Cacheable requests not found in the response cache (sent to a tier).", NULL, NULL, 0);
    m->skipped = metrics_add(r, METRIC_COUNTER, "response_cache_skipped_total", "Requests not looked up in the response cache, by reason (sampled, no_store).", "reason", NULL, 0);
    m->evictions = metrics_add(r, METRIC_COUNTER, "response_cache_evictions_total", "Entries removed from the response cache: lru (byte or entry bound), ttl (expired).", "reason", NULL, 0);
    m->bytes = metrics_add(r, METRIC_GAUGE, "response_cache_bytes", "Bytes held by the response cache (answers and canonical requests).", NULL, NULL, 0);
    m->entries = metrics_add(r, METRIC_GAUGE, "response_cache_entries", "Entries in the response cache.", NULL, NULL, 0);
    if (!m->hits || !m->misses || !m->skipped || !m->evictions || !m->bytes || !m->entries)
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    metric_inc(m->evictions, "lru", 0);
    metric_inc(m->evictions, "ttl", 0);
    if (!g->p.cache.enabled) return 0;
    g->cache = cache_new(g, &g->p.cache, err, err_len);
    return g->cache ? 0 : ERR_NOMEM;
}

void gw_cache_stop(Gateway *g) {
    cache_free(g->cache);
    g->cache = NULL;
}

void gw_cache_reload(Gateway *g) {
    const PipeCache *n = &g->p.cache;
    GwCache *c = g->cache;
    if (c && n->enabled && c->cfg.max_bytes == n->max_bytes && c->cfg.max_entries == n->max_entries &&
        c->cfg.ttl_us == n->ttl_us && c->cfg.max_entry_bytes == n->max_entry_bytes)
        return;
    gw_cache_stop(g);   // a changed bound starts an empty cache
    if (!n->enabled) return;
    char err[200];
    g->cache = cache_new(g, n, err, sizeof err);
    if (!g->cache) LOG_E("response cache off after the reload: %s", err);
    else LOG_I("response cache: %lld bytes, %lld entries, ttl %.3f s", (long long)n->max_bytes,
               (long long)n->max_entries, (double)n->ttl_us / 1e6);
}

// ---- the canonical request ----

static int obj_key_cmp(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static int canon_str(Buf *b, const char *s) {
    int rc = buf_append_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        if (*p == '"' || *p == '\\') rc = buf_printf(b, "\\%c", *p);
        else if (*p < 0x20) rc = buf_printf(b, "\\u%04x", *p);
        else rc = buf_append(b, p, 1);
    }
    return rc ? rc : buf_append_str(b, "\"");
}

// JSON with object keys sorted and numbers in one spelling (%.17g); at the top level, the fields
// that never change the answer are left out. 0 or ERR_NOMEM.
static int canon(Buf *b, const cJSON *v, bool top) {
    if (cJSON_IsObject(v)) {
        int n = cJSON_GetArraySize(v), k = 0, rc = 0;
        const cJSON **kids = malloc((size_t)(n ? n : 1) * sizeof *kids), *x;
        if (!kids) return ERR_NOMEM;
        cJSON_ArrayForEach(x, v) if (!top || !respcache_field_ignored(x->string)) kids[k++] = x;
        qsort(kids, (size_t)k, sizeof *kids, obj_key_cmp);
        rc = buf_append_str(b, "{");
        for (int i = 0; i < k && !rc; i++) {
            if (i) rc = buf_append_str(b, ",");
            if (!rc) rc = canon_str(b, kids[i]->string);
            if (!rc) rc = buf_append_str(b, ":");
            if (!rc) rc = canon(b, kids[i], false);
        }
        free(kids);
        return rc ? rc : buf_append_str(b, "}");
    }
    if (cJSON_IsArray(v)) {
        int rc = buf_append_str(b, "[");
        const cJSON *x;
        bool first = true;
        cJSON_ArrayForEach(x, v) {
            if (!rc && !first) rc = buf_append_str(b, ",");
            if (!rc) rc = canon(b, x, false);
            first = false;
        }
        return rc ? rc : buf_append_str(b, "]");
    }
    if (cJSON_IsString(v)) return canon_str(b, v->valuestring);
    if (cJSON_IsNumber(v)) return buf_printf(b, "%.17g", v->valuedouble);
    if (cJSON_IsTrue(v)) return buf_append_str(b, "true");
    if (cJSON_IsFalse(v)) return buf_append_str(b, "false");
    return buf_append_str(b, "null");
}

// The request's facts for policy/respcache's rule.
static RespCacheSkip cacheable(const GwReq *r, const cJSON *json) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(json, "temperature");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(json, "seed");
    RespCacheReq q = {.endpoint = r->ep,
                      .has_temperature = cJSON_IsNumber(t),
                      .temperature = cJSON_IsNumber(t) ? t->valuedouble : 1,
                      .has_seed = cJSON_IsNumber(s) && s->valuedouble == floor(s->valuedouble)};
    return respcache_cacheable(&q);
}

void gw_cache_prepare(GwReq *r, const cJSON *json) {
    r->cache_skip = cacheable(r, json);
    if (r->cache_skip == RESPCACHE_OK) {
        Buf b = {0};
        if (canon(&b, json, true) || !b.data) {   // no memory for it: the request goes on uncached
            buf_free(&b);
            return;
        }
        r->cache_canon = b.data;
        r->cache_canon_len = b.len;
        r->cache_body_hash = respcache_hash(RESPCACHE_HASH_INIT, b.data, b.len);
    }
    r->cache_ready = true;
}

// ---- lookups and answers ----

static void answer_hit(Gateway *g, GwReq *r, const Entry *e, int rule, int64_t now_us) {
    // routed (the decision's draw was made, as the planner makes it), but no tier answers
    r->dec.tier = r->dec.then = -1;
    r->dec.candidate = false;
    (void)rule;
    snprintf(r->reason, sizeof r->reason, "cache_hit");
    r->prompt_tokens = e->prompt_tokens;
    r->output_tokens = e->output_tokens;
    r->usage_source = "cache";
    snprintf(r->finish, sizeof r->finish, "%s", e->finish);
    r->t_first_token_us = r->t_last_token_us = now_us;
    pthread_mutex_lock(&r->mu);
    snprintf(r->h_cost, sizeof r->h_cost, "%.9f", 0.0);
    pthread_mutex_unlock(&r->mu);
    if (e->stream) {
        gw_req_stream_begin(r);
        gw_req_stream_append(r, e->body, e->body_len);
        gw_req_stream_end(r);
    } else {
        gw_req_respond(r, 200, "application/json", e->body, e->body_len);
    }
    r->status = 200;
    metric_inc(g->cache->hits, NULL, 1);
    gw_finish(g, r, now_us);
}

// Whether a Cache-Control request header holds directive d.
static bool cache_control_has(const GwReq *r, const char *d) {
    const char *h = gw_req_header(r, "cache-control");
    return h && strcasestr(h, d) != NULL;
}

bool gw_cache_lookup(Gateway *g, GwReq *r, int rule, int64_t now_us) {
    GwCache *c = g->cache;
    if (!c || rule < 0 || !r->cache_ready) return false;   // not ready: checked before the cache came on
    RespCacheSkip why = (RespCacheSkip)r->cache_skip;
    if (why == RESPCACHE_OK && cache_control_has(r, "no-store")) why = RESPCACHE_SKIP_NO_STORE;
    if (why != RESPCACHE_OK) {
        metric_inc(c->skipped, respcache_skip_name(why), 1);
        return false;
    }
    if (!r->cache_canon) return false;
    // The key: the body's hash (taken where the body was checked) with the route, endpoint and
    // stream flag; a hit must match all four (a hash collision is a miss).
    char pre[96];
    int pl = snprintf(pre, sizeof pre, "route=%d endpoint=%s stream=%d\n", rule, router_endpoint_name(r->ep),
                      r->stream ? 1 : 0);
    uint64_t key = respcache_hash(r->cache_body_hash, pre, (size_t)pl);
    r->cache_state = "miss";
    // Cache-Control: no-cache asks for a fresh answer (which is then stored).
    int64_t slot = cache_control_has(r, "no-cache") ? -1 : respcache_lookup(c->rc, key, now_us);
    if (slot >= 0) {
        const Entry *e = &c->entries[slot];
        if (e->rule == rule && e->ep == (int)r->ep && e->stream == r->stream && e->canon_len == r->cache_canon_len &&
            memcmp(e->canon, r->cache_canon, r->cache_canon_len) == 0) {
            r->cache_state = "hit";
            answer_hit(g, r, e, rule, now_us);
            return true;
        }
    }
    metric_inc(c->misses, NULL, 1);
    r->cache_key = key;
    r->cache_rule = rule;
    r->cache_capture = r->stream;
    return false;
}

void gw_cache_capture(GwReq *r, const char *data, size_t len) {
    if (!r->cache_capture) return;
    if (buf_append(&r->cache_cap, data, len)) r->cache_capture = false, buf_free(&r->cache_cap);
}

void gw_cache_store(Gateway *g, GwReq *r, int status, int64_t now_us) {
    GwCache *c = g->cache;
    bool missed = r->cache_state && strcmp(r->cache_state, "miss") == 0;   // looked up for this request, not found
    if (!c || !r->cache_canon || !missed || status != 200 || r->tel_status || gw_req_gone(r)) return;
    if (strcmp(r->finish, "error") == 0) return;
    Buf body = {0};
    pthread_mutex_lock(&r->mu);
    if (r->stream && r->cache_cap.len) body = r->cache_cap, r->cache_cap = (Buf){0};
    else if (r->stream && !r->cache_capture) body.len = 0;   // the capture gave up: nothing to store
    else if (r->out_off == 0 && r->out_done && r->out.len) buf_append(&body, r->out.data, r->out.len);
    pthread_mutex_unlock(&r->mu);
    int64_t bytes = (int64_t)(body.len + r->cache_canon_len);
    if (!body.len || bytes > c->cfg.max_entry_bytes) {
        buf_free(&body);
        return;
    }
    int64_t slot = respcache_insert(c->rc, r->cache_key, bytes, now_us);
    if (slot < 0) {
        buf_free(&body);
        return;
    }
    Entry *e = &c->entries[slot];
    *e = (Entry){.rule = r->cache_rule, .ep = (int)r->ep, .canon = r->cache_canon, .canon_len = r->cache_canon_len, .body = body.data, .body_len = body.len,
                 .stream = r->stream, .prompt_tokens = r->prompt_tokens, .output_tokens = r->output_tokens};
    snprintf(e->finish, sizeof e->finish, "%s", r->finish);
    r->cache_canon = NULL;   // the entry owns it now
    r->cache_canon_len = 0;
}

void gw_cache_req_free(GwReq *r) {
    free(r->cache_canon);
    r->cache_canon = NULL;
    buf_free(&r->cache_cap);
}

void gw_cache_tick(Gateway *g, int64_t now_us) {
    GwCache *c = g->cache;
    if (!c) {
        metric_set(g->cm.bytes, NULL, 0);
        metric_set(g->cm.entries, NULL, 0);
        return;
    }
    respcache_expire(c->rc, now_us);
    RespCacheStats st = respcache_stats(c->rc);
    metric_set(c->bytes, NULL, (double)st.bytes);
    metric_set(c->n_entries, NULL, (double)st.entries);
    if (st.evictions > c->pub_evict) metric_inc(c->evictions, "lru", (double)(st.evictions - c->pub_evict));
    if (st.expirations > c->pub_expire) metric_inc(c->evictions, "ttl", (double)(st.expirations - c->pub_expire));
    c->pub_evict = st.evictions;
    c->pub_expire = st.expirations;
}
