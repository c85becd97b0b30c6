// gw_keys.c — who may call the gateway and how it calls its backends: client API keys (hashed
// at rest; 401 without a known key), the `models:` map (public model names → routes, 404
// model_not_found for others, /v1/models), each key's allowed models and routes (403), its rate
// limits and USD budgets charged from the ledger (429 + Retry-After), spend per key in metrics,
// telemetry and GET /admin/keys, and each remote tier's upstream credentials and headers.
//
// Everything here runs on the gateway's loop thread except the shared-counter sync
// (gw_keys_shared.c), which reads and writes the key states under `mu`.
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "serve/gw_int.h"
#include "serve/gw_keys.h"
#include "serve/openai_err.h"
#include "serve/openai_resp.h"

void gw_finish(Gateway *g, GwReq *r, int64_t now_us);   // gateway.c

static int64_t wall_s(void) { return clock_wall_us() / 1000000; }

// ---- replies from the MHD side ----

static enum MHD_Result reply_json(struct MHD_Connection *mc, unsigned status, const char *body, size_t len,
                                  int retry_after_s) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");   // RFC 9110 15.5.2
    if (retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%d", retry_after_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ok = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result reply_oai(struct MHD_Connection *mc, int status, const char *type, const char *code,
                                 const char *msg) {
    OaiError e;
    oai_err(&e, status, type, NULL, code, "%s", msg);
    Buf b = {0};
    enum MHD_Result ok = oai_resp_error(&b, &e) ? MHD_NO : reply_json(mc, (unsigned)status, b.data, b.len, 0);
    buf_free(&b);
    return ok;
}

// ---- key states ----

// The state slot of a configured key name (found, or a new one).
static int slot_for(GwKeys *k, const char *name) {
    for (int i = 0; i < k->n_states; i++)
        if (strcmp(k->states[i].name, name) == 0) return i;
    int s = -1;
    if (k->n_states < GW_KEY_STATES) s = k->n_states++;
    else   // full of removed keys: reuse one that no request holds
        for (int i = 0; i < k->n_states && s < 0; i++)
            if (k->states[i].cfg < 0 && k->states[i].inflight == 0) s = i;
    CHECK(s >= 0);   // PIPE_MAX_KEYS configured + as many removed ones in flight at most
    memset(&k->states[s], 0, sizeof k->states[s]);
    snprintf(k->states[s].name, sizeof k->states[s].name, "%s", name);
    return s;
}

static void limits_of(const PipeKey *pk, QuotaLimits *l) {
    l->limit[QUOTA_RPM] = pk->rpm;
    l->limit[QUOTA_TPM] = pk->tpm;
    l->limit[QUOTA_DAY_NUSD] = pk->budget_day_nusd;
    l->limit[QUOTA_MONTH_NUSD] = pk->budget_month_nusd;
}

// Binds the configured keys to their states (by name: counters survive a reload).
static void bind_keys(Gateway *g) {
    GwKeys *k = g->keys;
    pthread_mutex_lock(&k->mu);
    for (int i = 0; i < k->n_states; i++) k->states[i].cfg = -1;
    for (int i = 0; i < g->p.n_keys; i++) {
        int s = slot_for(k, g->p.keys[i].name);
        k->states[s].cfg = i;
        limits_of(&g->p.keys[i], &k->states[s].limits);
        k->slot_of[i] = s;
    }
    pthread_mutex_unlock(&k->mu);
}

// ---- upstream credentials ----

static void free_upstream(GwKeys *k) {
    for (int t = 0; t < PIPE_MAX_TIERS; t++) {
        for (int i = 0; i < k->n_up[t]; i++) {
            memset(k->up[t][i], 0, strlen(k->up[t][i]));   // the key does not outlive its use
            free(k->up[t][i]);
        }
        k->n_up[t] = 0;
    }
}

// Reads every remote tier's key and headers into "Name: value" lines. 0, or an error naming
// the tier (the lines already read are kept until free_upstream).
static int load_upstream(const Pipeline *p, GwKeys *k, char *err, size_t err_len) {
    for (int t = 0; t < p->n_tiers; t++) {
        const PipeTier *pt = &p->tiers[t];
        char key[1024], line[1200];
        int rc = pipeline_tier_api_key(pt, key, sizeof key, err, err_len);
        if (rc < 0) return rc;
        if (rc == 1) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", key);
            k->up[t][k->n_up[t]++] = strdup(line);
            memset(key, 0, sizeof key);
            memset(line, 0, sizeof line);
        }
        for (int i = 0; i < pt->n_headers; i++) {
            snprintf(line, sizeof line, "%s: %s", pt->header_name[i], pt->header_value[i]);
            k->up[t][k->n_up[t]++] = strdup(line);
        }
        for (int i = 0; i < k->n_up[t]; i++)
            if (!k->up[t][i]) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    return 0;
}

struct curl_slist *gw_keys_upstream_headers(Gateway *g, int tier, struct curl_slist *h) {
    GwKeys *k = g->keys;
    for (int i = 0; h && i < k->n_up[tier]; i++) h = curl_slist_append(h, k->up[tier][i]);
    return h;
}

// ---- life cycle ----

int gw_keys_start(Gateway *g, char *err, size_t err_len) {
    GwKeys *k = calloc(1, sizeof *k);
    if (!k) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    g->keys = k;
    pthread_mutex_init(&k->mu, NULL);
    MetricsRegistry *r = g->m.reg;
    k->m_spend = metrics_add(r, METRIC_COUNTER, "key_spend_usd_total", "Cost charged to each client key's requests (the ledger's busy share), USD.", "key", NULL, 0);
    k->m_requests = metrics_add(r, METRIC_COUNTER, "key_requests_total", "Requests each client key made that were admitted.", "key", NULL, 0);
    k->m_tokens = metrics_add(r, METRIC_COUNTER, "key_tokens_total", "Prompt + generated tokens of each client key's requests (every call).", "key", NULL, 0);
    k->m_rejected = metrics_add(r, METRIC_COUNTER, "key_rejected_total", "Requests refused for a client key (403 not allowed, 429 rate limit or budget).", "key", NULL, 0);
    if (!k->m_spend || !k->m_requests || !k->m_tokens || !k->m_rejected)
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    bind_keys(g);
    if (load_upstream(&g->p, k, err, err_len)) return ERR_ARG;
    return gw_keys_shared_start(g, err, err_len);
}

void gw_keys_reload(Gateway *g) {
    bind_keys(g);
    GwKeys *k = g->keys, fresh;
    memset(fresh.n_up, 0, sizeof fresh.n_up);
    char err[600];
    if (load_upstream(&g->p, &fresh, err, sizeof err)) {
        LOG_E("reload: keeping the upstream credentials in use: %s", err);
        free_upstream(&fresh);
        return;
    }
    free_upstream(k);
    memcpy(k->up, fresh.up, sizeof k->up);
    memcpy(k->n_up, fresh.n_up, sizeof k->n_up);
}

void gw_keys_stop(Gateway *g) {
    GwKeys *k = g->keys;
    if (!k) return;
    gw_keys_shared_stop(k);
    free_upstream(k);
    pthread_mutex_destroy(&k->mu);
    free(k);
    g->keys = NULL;
}

// ---- authentication (the front, first call of a request) ----

int gw_keys_auth(Gateway *g, struct MHD_Connection *mc, int *slot, char *msg, size_t cap) {
    *slot = -1;
    if (g->p.n_keys == 0) return 0;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
        return snprintf(msg, cap, "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'."), 401;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(h + 7, strlen(h + 7), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return snprintf(msg, cap, "cannot hash the API key"), 500;
    int i = pipeline_key_by_hash(&g->p, md);
    if (i < 0) return snprintf(msg, cap, "Incorrect API key provided."), 401;
    *slot = g->keys->slot_of[i];
    return 0;
}

enum MHD_Result gw_keys_reply_auth(struct MHD_Connection *mc, int status, const char *msg) {
    return reply_oai(mc, status, status == 401 ? "invalid_request_error" : "server_error",
                     status == 401 ? "invalid_api_key" : "server_error", msg);
}

// ---- routing, permissions and limits (loop) ----

static const PipeKey *key_cfg(const Gateway *g, int slot) {
    int c = slot >= 0 ? g->keys->states[slot].cfg : -1;
    return c >= 0 ? &g->p.keys[c] : NULL;
}

static bool model_allowed(const Gateway *g, const PipeKey *pk, int model) {
    if (!pk) return true;
    if (!pk->all_models && (model < 0 || !(pk->models >> model & 1))) return false;
    return pk->all_routes || model < 0 || (pk->routes >> g->p.models[model].route & 1);
}

static void refuse(Gateway *g, GwReq *r, int status, const char *type, const char *code, const char *reason,
                   const char *msg, int64_t now_us) {
    metric_inc(g->m.rejected, reason, 1);
    if (r->key >= 0) metric_inc(g->keys->m_rejected, g->keys->states[r->key].name, 1);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    gw_req_error(r, status, type, code, "%s", msg);
    gw_finish(g, r, now_us);
}

// What a request may cost before it runs, reserved in its key's windows at admission: tokens, its
// max_tokens (given or defaulted) plus its prompt at ~4 characters a token; dollars, the recent
// cost per request of the tier it was routed to (0 until one has finished there).
static void estimate(const Gateway *g, const GwReq *r, int64_t *tokens, int64_t *nusd) {
    *tokens = r->parts.max_tokens + (r->prompt_chars + 3) / 4;
    int tier = r->dec.tier >= 0 && r->dec.tier < g->p.n_tiers ? r->dec.tier : -1;
    *nusd = tier >= 0 ? g->keys->cost_est_nusd[tier] : 0;
}

static const QuotaKind resv_kind[3] = {QUOTA_TPM, QUOTA_DAY_NUSD, QUOTA_MONTH_NUSD};

// The key's rate limits and budgets: counts the request and reserves what it may cost (so the
// requests in flight count against the limits), or refuses it with 429 + Retry-After.
static bool admit_limits(Gateway *g, GwReq *r, int64_t now_us) {
    GwKeys *k = g->keys;
    char msg[240];
    int64_t ra = 0, t = wall_s(), tok, nusd;
    estimate(g, r, &tok, &nusd);
    KeyState *ks = &k->states[r->key];
    pthread_mutex_lock(&k->mu);
    int over = quota_admit(&ks->limits, &ks->use, t, &ra);
    int64_t used = over >= 0 ? quota_used(&ks->use, (QuotaKind)over, t) : 0;
    if (over < 0) {
        quota_add(&ks->use, QUOTA_RPM, 1, t);
        const int64_t v[3] = {tok, nusd, nusd};
        for (int i = 0; i < 3; i++) {
            quota_add(&ks->use, resv_kind[i], v[i], t);
            r->resv_window[i] = ks->use.window[resv_kind[i]];
        }
        r->resv_tokens = tok;
        r->resv_nusd = nusd;
    }
    pthread_mutex_unlock(&k->mu);
    if (over < 0) {
        metric_inc(k->m_requests, ks->name, 1);
        return true;
    }
    bool budget = over == QUOTA_DAY_NUSD || over == QUOTA_MONTH_NUSD;
    if (budget)
        snprintf(msg, sizeof msg, "API key '%s' spent $%.6f of its %s budget of $%.6f; retry after %lld s", ks->name,
                 (double)used / 1e9, over == QUOTA_DAY_NUSD ? "daily" : "monthly", (double)ks->limits.limit[over] / 1e9,
                 (long long)ra);
    else
        snprintf(msg, sizeof msg, "Rate limit reached for API key '%s': %lld of %lld %s; retry after %lld s", ks->name,
                 (long long)used, (long long)ks->limits.limit[over],
                 over == QUOTA_RPM ? "requests per minute" : "tokens per minute", (long long)ra);
    r->retry_after_s = (int)(ra < 1 ? 1 : ra > 86400 * 31 ? 86400 * 31 : ra);
    // OpenAI's shapes: type "requests"/"tokens" + code rate_limit_exceeded, or insufficient_quota
    const char *type = budget ? "insufficient_quota" : over == QUOTA_RPM ? "requests" : "tokens";
    refuse(g, r, 429, type, budget ? "insufficient_quota" : "rate_limit_exceeded", quota_kind_name((QuotaKind)over), msg,
           now_us);
    return false;
}

bool gw_keys_route(Gateway *g, GwReq *r, const RouteInput *in, int64_t now_us) {
    GwKeys *k = g->keys;
    if (r->key >= 0) {   // held until gw_keys_finish (a removed key's state is not reused meanwhile)
        pthread_mutex_lock(&k->mu);
        k->states[r->key].inflight++;
        pthread_mutex_unlock(&k->mu);
    }
    int model = r->model[0] && g->p.n_models ? pipeline_model(&g->p, r->model) : -1;
    const PipeKey *pk = key_cfg(g, r->key);
    char msg[240];
    if (r->model[0] && g->p.n_models && model < 0) {
        snprintf(msg, sizeof msg, "The model `%.80s` does not exist or you do not have access to it.", r->model);
        refuse(g, r, 404, "invalid_request_error", "model_not_found", "unknown_model", msg, now_us);
        return false;
    }
    r->rewrite_model = model >= 0;   // answers name the public model the client asked for
    if (model >= 0) {   // the map names the route: its other conditions (endpoint, ...) still hold
        RouteRule rule = g->p.routes[g->p.models[model].route];
        rule.model[0] = 0;
        r->dec = router_decide(&rule, 1, g->canaries, g->candidate_of, in, &g->rng);
        if (r->dec.rule == 0) r->dec.rule = g->p.models[model].route;
    } else {
        r->dec = router_decide(g->p.routes, g->p.n_routes, g->canaries, g->candidate_of, in, &g->rng);
    }
    if (!pk) return true;
    bool model_ok = pk->all_models || (model >= 0 && (pk->models >> model & 1));
    if (!model_ok || (r->dec.rule >= 0 && !pk->all_routes && !(pk->routes >> r->dec.rule & 1))) {
        snprintf(msg, sizeof msg, "this API key ('%s') may not use %s '%.80s'", pk->name, model_ok ? "route" : "model",
                 model_ok ? g->p.routes[r->dec.rule].name : (r->model[0] ? r->model : "(none)"));
        refuse(g, r, 403, "permission_error", "model_not_allowed", "key_forbidden", msg, now_us);
        return false;
    }
    return admit_limits(g, r, now_us);
}

void gw_keys_finish(Gateway *g, GwReq *r) {
    GwKeys *k = g->keys;
    int tier = r->dec.tier;   // the estimate is per tier routed to (a cascade's escalations included)
    if (!r->shadow && tier >= 0 && tier < g->p.n_tiers && r->cost_nusd > 0) {
        int64_t *e = &k->cost_est_nusd[tier];
        *e = *e ? (3 * *e + r->cost_nusd) / 4 : r->cost_nusd;
    }
    if (r->key < 0 || r->shadow) return;
    KeyState *ks = &k->states[r->key];
    int64_t tok = 0, t = wall_s();
    const int64_t parts[] = {r->prompt_tokens, r->output_tokens, r->escalated ? r->first_prompt_tokens : -1,
                             r->escalated ? r->first_output_tokens : -1};
    for (size_t i = 0; i < ARRAY_LEN(parts); i++) tok += parts[i] > 0 ? parts[i] : 0;
    pthread_mutex_lock(&k->mu);
    ks->inflight--;
    // Settle the reservation: in the window it was counted in, the difference; in a later one
    // (the minute passed), what was used.
    const int64_t used[3] = {tok, r->cost_nusd, r->cost_nusd}, resv[3] = {r->resv_tokens, r->resv_nusd, r->resv_nusd};
    for (int i = 0; i < 3; i++) {
        bool same = resv[i] && quota_window(resv_kind[i], t) == r->resv_window[i];
        quota_add(&ks->use, resv_kind[i], same ? used[i] - resv[i] : used[i], t);
    }
    ks->spend_nusd += r->cost_nusd;
    ks->tokens += tok;
    pthread_mutex_unlock(&k->mu);
    metric_inc(k->m_spend, ks->name, (double)r->cost_nusd / 1e9);
    metric_inc(k->m_tokens, ks->name, (double)tok);
}

const char *gw_keys_name(const Gateway *g, const GwReq *r) { return r->key >= 0 ? g->keys->states[r->key].name : NULL; }

// ---- GET /v1/models and GET /admin/keys ----

enum MHD_Result gw_keys_models(Gateway *g, struct MHD_Connection *mc) {
    int slot = -1;
    char msg[200];
    int st = gw_keys_auth(g, mc, &slot, msg, sizeof msg);
    if (st) return gw_keys_reply_auth(mc, st, msg);
    const PipeKey *pk = key_cfg(g, slot);
    Buf b = {0};
    buf_append_str(&b, "{\"object\":\"list\",\"data\":[");
    int n = g->p.n_models ? g->p.n_models : g->p.n_tiers, shown = 0;
    for (int i = 0; i < n; i++) {
        if (g->p.n_models && !model_allowed(g, pk, i)) continue;
        const char *id = g->p.n_models ? g->p.models[i].name : g->p.tiers[i].name;
        buf_append_str(&b, shown++ ? ",{\"id\":\"" : "{\"id\":\"");
        for (const char *c = id; *c; c++) {   // names are printable; quote what JSON needs
            if (*c == '"' || *c == '\\') buf_printf(&b, "\\%c", *c);
            else buf_append(&b, c, 1);
        }
        buf_append_str(&b, "\",\"object\":\"model\",\"created\":0,\"owned_by\":\"rightsize\"}");
    }
    buf_append_str(&b, "]}");
    enum MHD_Result ok = b.data ? reply_json(mc, 200, b.data, b.len, 0) : MHD_NO;
    buf_free(&b);
    return ok;
}

void gw_keys_status(Gateway *g, Buf *out) {
    GwKeys *k = g->keys;
    int64_t t = wall_s();
    buf_append_str(out, "{\"keys\":[");
    pthread_mutex_lock(&k->mu);
    for (int i = 0; i < g->p.n_keys; i++) {
        KeyState *ks = &k->states[k->slot_of[i]];
        const PipeKey *pk = &g->p.keys[i];
        quota_roll(&ks->use, t);
        buf_printf(out,
                   "%s{\"name\":\"%s\",\"requests_minute\":%lld,\"tokens_minute\":%lld,\"spend_day_usd\":%.9f,"
                   "\"spend_month_usd\":%.9f,\"spend_total_usd\":%.9f,\"tokens_total\":%lld,\"in_flight\":%lld",
                   i ? "," : "", ks->name, (long long)quota_used(&ks->use, QUOTA_RPM, t),
                   (long long)quota_used(&ks->use, QUOTA_TPM, t), (double)quota_used(&ks->use, QUOTA_DAY_NUSD, t) / 1e9,
                   (double)quota_used(&ks->use, QUOTA_MONTH_NUSD, t) / 1e9, (double)ks->spend_nusd / 1e9,
                   (long long)ks->tokens, (long long)ks->inflight);
        const struct { const char *name; int64_t v; double scale; } lim[] = {
            {"rpm", pk->rpm, 1}, {"tpm", pk->tpm, 1}, {"budget_day_usd", pk->budget_day_nusd, 1e9},
            {"budget_month_usd", pk->budget_month_nusd, 1e9}};
        for (size_t j = 0; j < ARRAY_LEN(lim); j++)
            if (lim[j].v < 0) buf_printf(out, ",\"%s\":null", lim[j].name);
            else buf_printf(out, ",\"%s\":%.9g", lim[j].name, (double)lim[j].v / lim[j].scale);
        buf_append_str(out, "}");
    }
    pthread_mutex_unlock(&k->mu);
    buf_append_str(out, "]}");
}
