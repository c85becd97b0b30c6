// dashboard.c — the gateway's live dashboard: GET /dashboard (one self-contained HTML page,
// dashboard_page.c) and GET /admin/dashboard.json (what /metrics does not say: the SLOs, the
// tiers, cost and requests by hour, the canaries' state). Both need the admin key, as the admin
// API: `Authorization: Bearer KEY`, `x-admin-key: KEY`, or HTTP Basic with the key as the
// password (what a browser sends after its login prompt, and then on the page's own fetches).
// The page polls /metrics and the JSON and computes every figure from them in the browser.
// Loop thread (MHD runs on the gateway's loop).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/check.h"
#include "serve/gw_int.h"

extern const char gw_dashboard_page[];   // dashboard_page.c

// ---- hourly buckets ----

// At every tick: the bucket of the current UTC hour holds the counters' values at its start and
// now, so an hour's figures are differences of the same counters /metrics shows.
void gw_dash_tick(Gateway *g, int64_t wall_us) {
    GwDash *d = &g->dash;
    int64_t hour = wall_us / 3600000000LL;
    int64_t req = g->n_done, busy = g->ledger.busy_nusd, cost = busy + ledger_idle_nusd(&g->ledger);
    GwDashHour *cur = d->n ? &d->hours[(d->head + d->n - 1) % GW_DASH_HOURS] : NULL;
    if (!cur || cur->hour != hour) {
        if (d->n == GW_DASH_HOURS) d->head = (d->head + 1) % GW_DASH_HOURS, d->n--;
        cur = &d->hours[(d->head + d->n++) % GW_DASH_HOURS];
        // a new hour starts where the last one ended (or at zero: the gateway's start)
        GwDashHour *prev = d->n > 1 ? &d->hours[(d->head + d->n - 2) % GW_DASH_HOURS] : NULL;
        *cur = (GwDashHour){.hour = hour};
        if (prev) cur->req0 = prev->req1, cur->cost0 = prev->cost1, cur->busy0 = prev->busy1;
    }
    cur->req1 = req, cur->cost1 = cost, cur->busy1 = busy;
}

// ---- auth ----

static int b64_val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

// Decodes base64 s into out (NUL-terminated); false when malformed or too long.
static bool b64_decode(const char *s, char *out, size_t cap) {
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        int v = b64_val((unsigned char)*s);
        if (v < 0) return false;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap) return false;
            out[n++] = (char)(acc >> bits & 0xff);
        }
    }
    out[n] = 0;
    return true;
}

static bool same(const char *a, const char *b) {   // constant time in the key's length
    size_t x = strlen(a), y = strlen(b);
    unsigned diff = (unsigned)(x ^ y);
    for (size_t i = 0; i < x && i < y; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool dash_auth(const Gateway *g, struct MHD_Connection *mc) {
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0) return same(h + 7, g->admin_key);
    if (h && strncasecmp(h, "Basic ", 6) == 0) {
        char dec[256];
        const char *colon = b64_decode(h + 6, dec, sizeof dec) ? strchr(dec, ':') : NULL;
        return colon && same(colon + 1, g->admin_key);
    }
    const char *k = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "x-admin-key");
    return k && same(k, g->admin_key);
}

static enum MHD_Result dash_send(struct MHD_Connection *mc, unsigned status, const char *ctype, const char *body,
                            size_t len, bool challenge) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (challenge) MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"rightsize admin\", charset=\"UTF-8\"");
    enum MHD_Result ok = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result refuse(struct MHD_Connection *mc, unsigned status, const char *code, const char *msg) {
    char b[400];
    int n = snprintf(b, sizeof b, "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"%s\"}}",
                     msg, code);
    return dash_send(mc, status, "application/json", b, (size_t)n, status == 401);
}

// ---- the JSON ----

static void json_text(Buf *b, const char *s) {
    buf_append_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') buf_printf(b, "\\%c", *p);
        else if (*p < 0x20) buf_printf(b, "\\u%04x", *p);
        else buf_append(b, p, 1);
    }
    buf_append_str(b, "\"");
}

static int dash_json(Gateway *g, Buf *b) {
    const Pipeline *p = &g->p;
    buf_printf(b, "{\"slo\":{\"ttft_p95_ms\":%g,\"ttft_p99_ms\":%g,\"tpot_p95_ms\":%g,\"e2e_p95_ms\":%g,\"e2e_p99_ms\":%g},",
               p->slo_ttft_p95_ms, p->slo_ttft_p99_ms, p->slo_tpot_p95_ms, p->slo_e2e_p95_ms, p->slo_e2e_p99_ms);
    buf_append_str(b, "\"tiers\":[");
    for (int i = 0; i < p->n_tiers; i++) {
        buf_printf(b, "%s{\"name\":", i ? "," : "");
        json_text(b, p->tiers[i].name);
        buf_printf(b, ",\"min_replicas\":%d,\"max_replicas\":%d,\"cost_per_hour\":%g}", p->tiers[i].min_replicas,
                   p->tiers[i].max_replicas, p->tiers[i].cost_per_hour);
    }
    // hours: requests finished by the loop and cost accrued (busy + idle; busy alone) per UTC hour
    buf_append_str(b, "],\"hours\":[");
    const GwDash *d = &g->dash;
    for (int i = 0; i < d->n; i++) {
        const GwDashHour *h = &d->hours[(d->head + i) % GW_DASH_HOURS];
        buf_printf(b, "%s{\"hour_start\":%lld,\"requests\":%lld,\"cost_nusd\":%lld,\"busy_nusd\":%lld}", i ? "," : "",
                   (long long)(h->hour * 3600), (long long)(h->req1 - h->req0), (long long)(h->cost1 - h->cost0),
                   (long long)(h->busy1 - h->busy0));
    }
    pthread_mutex_lock(&g->inbox_mu);
    buf_printf(b, "],\"canaries\":%s,\"ledger\":%s", g->canary_status[0] ? g->canary_status : "[]",
               g->ledger_status[0] ? g->ledger_status : "{}");
    pthread_mutex_unlock(&g->inbox_mu);
    buf_printf(b, ",\"cache\":%s,\"draining\":%s}", g->cache ? "true" : "false",
               atomic_load(&g->draining) ? "true" : "false");
    return b->data ? 0 : ERR_NOMEM;
}

enum MHD_Result gw_dash_get(Gateway *g, struct MHD_Connection *mc, const char *url) {
    if (!g->admin_key[0])
        return refuse(mc, 403, "admin_disabled", "the dashboard needs the admin API: start serve with --admin-key KEY");
    if (!dash_auth(g, mc))
        return refuse(mc, 401, "invalid_admin_key", "missing or wrong admin key (Authorization: Bearer KEY, or the browser's login with the key as password)");
    if (strcmp(url, "/dashboard") == 0)
        return dash_send(mc, 200, "text/html; charset=utf-8", gw_dashboard_page, strlen(gw_dashboard_page), false);
    Buf b = {0};
    enum MHD_Result ok = dash_json(g, &b) ? MHD_NO : dash_send(mc, 200, "application/json", b.data, b.len, false);
    buf_free(&b);
    return ok;
}
