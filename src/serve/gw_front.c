// gw_front.c — the gateway's HTTP side: libmicrohttpd driven from the gateway's one event loop
// (external epoll mode, no threads of its own): reads and checks requests, routes them, parks
// (suspends) their connections, and sends what the loop publishes (whole bodies or SSE).
#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "serve/gw_int.h"
#include "serve/openai_err.h"
#include "serve/openai_resp.h"

#define GW_CHECK_NICE 10

// ---- request objects ----

// Finished requests are kept for reuse (up to REQ_POOL_MAX): a GwReq is ~2 KiB, and allocating
// one per request made glibc consolidate its fast bins on the loop every time. Their body, answer
// and header buffers keep their memory when it is small.
#define REQ_POOL_MAX 256
#define REQ_KEEP_BYTES 4096

GwReq *gw_req_alloc(Gateway *g) {
    GwReq *r = g->req_pool;
    if (!r) return calloc(1, sizeof *r);
    g->req_pool = r->qnext;
    g->n_req_pool--;
    Buf body = r->body, out = r->out, hdr = r->hdr_text;
    memset(r, 0, sizeof *r);
    r->body = body, r->out = out, r->hdr_text = hdr;   // emptied by gw_req_unref, capacity kept
    return r;
}

void gw_req_pool_free(Gateway *g) {
    for (GwReq *r = g->req_pool, *next; r; r = next) {
        next = r->qnext;
        buf_free(&r->body);
        buf_free(&r->out);
        buf_free(&r->hdr_text);
        free(r);
    }
    g->req_pool = NULL;
    g->n_req_pool = 0;
}

// Empties b, keeping its memory when it is small.
static void buf_recycle(Buf *b) {
    if (b->cap > REQ_KEEP_BYTES) buf_free(b);
    else buf_clear(b);
}

static GwReq *req_new(Gateway *g, struct MHD_Connection *mc, const char *version) {
    GwReq *r = gw_req_alloc(g);
    if (!r) return NULL;
    r->gw = g;
    r->mc = mc;
    r->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    r->lnext = g->live;
    if (g->live) g->live->lprev = r;
    g->live = r;
    r->id = atomic_fetch_add(&g->next_id, 1);
    r->t_head_us = clock_now_us();
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->mu, NULL);
    r->tier = r->first_tier = r->replica_slot = r->canary = r->key = -1;
    r->confidence = -1;
    r->prompt_tokens = r->output_tokens = r->first_prompt_tokens = r->first_output_tokens = -1;
    r->backend_ttft_ms = r->backend_tpot_ms = r->backend_queue_ms = r->batch_size_mean = -1;
    g->n_open_reqs++;
    return r;
}

void gw_req_unref(GwReq *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    gw_body_free(&r->parts);
    free(r->shadow_text);
    gw_cache_req_free(r);
    pthread_mutex_destroy(&r->mu);
    Gateway *g = r->gw;
    if (g && g->n_req_pool < REQ_POOL_MAX) {
        buf_recycle(&r->body);
        buf_recycle(&r->out);
        buf_recycle(&r->hdr_text);
        r->qnext = g->req_pool;
        g->req_pool = r;
        g->n_req_pool++;
        return;
    }
    buf_free(&r->body);
    buf_free(&r->out);
    buf_free(&r->hdr_text);
    free(r);
}

bool gw_req_gone(GwReq *r) {
    if (r->shadow) return false;
    pthread_mutex_lock(&r->mu);
    bool gone = r->client_gone;
    pthread_mutex_unlock(&r->mu);
    return gone;
}

// Under r->mu: wakes the connection if it is parked.
static void wake(GwReq *r) {
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->mc);
        r->gw->mhd_dirty = true;   // the loop runs MHD again before it sleeps
    }
}

void gw_req_respond(GwReq *r, int status, const char *ctype, const char *body, size_t len) {
    if (r->shadow) return;
    (void)ctype;
    pthread_mutex_lock(&r->mu);
    r->status = status;
    buf_clear(&r->out);
    buf_append(&r->out, body, len);
    r->resp_ready = r->out_done = true;
    if (!r->client_gone) wake(r);
    pthread_mutex_unlock(&r->mu);
}

void gw_req_error(GwReq *r, int status, const char *type, const char *code, const char *fmt, ...) {
    OaiError e = {.status = status};
    snprintf(e.type, sizeof e.type, "%s", type);
    snprintf(e.code, sizeof e.code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    snprintf(r->error, sizeof r->error, "%.199s", e.message);
    Buf b = {0};
    oai_resp_error(&b, &e);   // the worker's encoder: the same error shape everywhere
    if (status == 429 || status == 503) r->retry_after = true;
    gw_req_respond(r, status, "application/json", b.data ? b.data : "{}", b.data ? b.len : 2);
    buf_free(&b);
}

void gw_req_stream_begin(GwReq *r) {
    pthread_mutex_lock(&r->mu);
    r->status = 200;
    r->resp_ready = true;
    if (!r->client_gone) wake(r);
    pthread_mutex_unlock(&r->mu);
}

void gw_req_stream_append(GwReq *r, const char *data, size_t len) {
    gw_cache_capture(r, data, len);
    pthread_mutex_lock(&r->mu);
    buf_append(&r->out, data, len);
    if (!r->client_gone) wake(r);
    pthread_mutex_unlock(&r->mu);
}

void gw_req_stream_end(GwReq *r) {
    pthread_mutex_lock(&r->mu);
    r->out_done = true;
    if (!r->client_gone) wake(r);
    pthread_mutex_unlock(&r->mu);
}

// ---- request bodies (the connection guard's budget) ----

// Takes n more bytes of the body budget for r; false (nothing taken) when it is spent.
static bool body_reserve(GwReq *r, size_t n) {
    if (!conn_guard_reserve(r->gw->guard, n)) return false;
    r->reserved += n;
    buf_reserve(&r->body, n);   // sized once from Content-Length (no doubling); append retries on failure
    return true;
}

// The body was checked: its budget goes back (the text is kept for the calls until the request ends).
static void body_release(GwReq *r) {
    if (r->reserved) conn_guard_release(r->gw->guard, r->reserved);
    r->reserved = 0;
}

// The body was refused: its memory and its budget go back.
static void body_drop(GwReq *r) {
    buf_free(&r->body);
    if (r->reserved) conn_guard_release(r->gw->guard, r->reserved);
    r->reserved = 0;
}

// ---- responses from the MHD side ----

static enum MHD_Result reply(struct MHD_Connection *mc, unsigned status, const char *ctype, const char *body,
                             size_t len) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    enum MHD_Result ok = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result reply_err(Gateway *g, struct MHD_Connection *mc, unsigned status, const char *code,
                                 const char *msg) {
    OaiError e;
    oai_err(&e, (int)status, status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error",
            NULL, code, "%s", msg);
    Buf b = {0};
    if (oai_resp_error(&b, &e)) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    buf_free(&b);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 429 || status == 503) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", g->p.retry_after_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ok = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    GwReq *r = cls;
    pthread_mutex_lock(&r->mu);
    if (r->client_gone) {
        pthread_mutex_unlock(&r->mu);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t avail = r->out.len - r->out_off;
    if (avail == 0) {
        buf_clear(&r->out);
        r->out_off = 0;
        if (r->out_done) {
            if (r->h_cost[0] && r->stream_resp)
                MHD_add_response_footer(r->stream_resp, "x-rightsize-cost-usd", r->h_cost);
            if (r->h_ttft[0] && r->stream_resp)
                MHD_add_response_footer(r->stream_resp, "x-rightsize-ttft-ms", r->h_ttft);
            pthread_mutex_unlock(&r->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        r->suspended = true;
        MHD_suspend_connection(r->mc);
        pthread_mutex_unlock(&r->mu);
        return 0;
    }
    size_t n = avail < max ? avail : max;
    memcpy(buf, r->out.data + r->out_off, n);
    r->out_off += n;
    pthread_mutex_unlock(&r->mu);
    return (ssize_t)n;
}

static void add_headers(struct MHD_Response *resp, GwReq *r) {
    if (r->h_tier[0]) MHD_add_response_header(resp, "x-rightsize-tier", r->h_tier);
    if (r->h_queue[0]) MHD_add_response_header(resp, "x-rightsize-queue-ms", r->h_queue);
    if (r->h_cost[0]) MHD_add_response_header(resp, "x-rightsize-cost-usd", r->h_cost);
    if (r->h_ttft[0]) MHD_add_response_header(resp, "x-rightsize-ttft-ms", r->h_ttft);
    if (r->cache_state) MHD_add_response_header(resp, "x-rightsize-cache", r->cache_state);
    if (r->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after_s > 0 ? r->retry_after_s : r->gw->p.retry_after_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
}

// Sends whatever the loop has published, or parks the connection until it does.
static enum MHD_Result progress(GwReq *r) {
    pthread_mutex_lock(&r->mu);
    if (r->client_gone) {   // gw_front_watch saw the client leave: MHD closes the connection
        pthread_mutex_unlock(&r->mu);
        return MHD_NO;
    }
    if (!r->resp_ready) {
        r->suspended = true;
        MHD_suspend_connection(r->mc);
        pthread_mutex_unlock(&r->mu);
        return MHD_YES;
    }
    struct MHD_Response *resp;
    bool sse = r->stream && r->status == 200, streaming = sse && !r->out_done;
    if (sse && !streaming) {
        // The whole stream is here before its first byte goes out (a fast backend, a replayed
        // or cached answer): one sized buffer, sent with its header in one write (MHD sends a
        // chunked body as header, chunk and end: three writes). Its cost is known, so it comes
        // in the x-rightsize-cost-usd header instead of a trailer.
        resp = MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_MUST_COPY);
        if (resp) {
            MHD_add_response_header(resp, "Content-Type", "text/event-stream");
            MHD_add_response_header(resp, "Cache-Control", "no-cache");
        }
        r->fstate = FRONT_ANSWERED;
    } else if (streaming) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, r, NULL);
        if (resp) {
            MHD_add_response_header(resp, "Content-Type", "text/event-stream");
            MHD_add_response_header(resp, "Cache-Control", "no-cache");
            r->stream_resp = resp;
        }
        r->fstate = FRONT_STREAMING;
    } else {
        resp = MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_MUST_COPY);
        if (resp) MHD_add_response_header(resp, "Content-Type", "application/json");
        r->fstate = FRONT_ANSWERED;
    }
    if (resp) add_headers(resp, r);
    pthread_mutex_unlock(&r->mu);
    if (!resp) return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(r->mc, (unsigned)r->status, resp);
    if (!streaming) MHD_destroy_response(resp);
    return ok;
}

// ---- checking the client's body (just what routing needs; the backend checks the rest) ----

// gw_body_check, and the fields the loop reads. 0, or an HTTP status with msg filled.
static int check_body(Gateway *g, GwReq *r, char *msg, size_t cap) {
    cJSON *tree = NULL;
    int st = gw_body_check(&r->parts, r->body.data, r->body.len, r->ep, (int64_t)atomic_load(&g->max_tokens), msg, cap,
                           r->cache_on ? &tree : NULL);
    if (tree) gw_cache_prepare(r, tree);   // on this thread, as is the tree's free
    cJSON_Delete(tree);
    if (st) return st;
    snprintf(r->model, sizeof r->model, "%s", r->parts.model);
    r->stream = r->parts.stream;
    r->client_logprobs = r->parts.client_logprobs;
    r->prompt_chars = r->parts.prompt_chars;
    return 0;
}

// The check thread: checks big bodies and hands them back to the loop (woken through gw_io_wake). It
// runs at a lower priority than the loop (nice +GW_CHECK_NICE, this thread only), so on a busy
// machine the loop's short turns come first and the big bodies take what CPU is left.
static void *check_main(void *arg) {
    Gateway *g = arg;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), GW_CHECK_NICE) != 0) LOG_D("check thread: cannot lower its priority");
    pthread_mutex_lock(&g->check_mu);
    for (;;) {
        while (!g->check_todo && !g->check_stop) pthread_cond_wait(&g->check_cv, &g->check_mu);
        if (g->check_stop) break;
        GwReq *r = g->check_todo;
        g->check_todo = r->check_next;
        if (!g->check_todo) g->check_todo_tail = NULL;
        pthread_mutex_unlock(&g->check_mu);
        r->check_status = check_body(g, r, r->check_msg, sizeof r->check_msg);
        pthread_mutex_lock(&g->check_mu);
        r->check_next = NULL;
        if (g->check_done_tail) g->check_done_tail->check_next = r;
        else g->check_done = r;
        g->check_done_tail = r;
        gw_io_wake(g);
    }
    pthread_mutex_unlock(&g->check_mu);
    return NULL;
}

void gw_front_collect(Gateway *g) {
    if (!g->check_started) return;
    pthread_mutex_lock(&g->check_mu);
    GwReq *r = g->check_done;
    g->check_done = g->check_done_tail = NULL;
    pthread_mutex_unlock(&g->check_mu);
    while (r) {
        GwReq *next = r->check_next;
        body_release(r);
        if (r->check_status) {
            char code[8];
            snprintf(code, sizeof code, "%d", r->check_status);
            metric_inc(g->m.requests, code, 1);
            gw_req_error(r, r->check_status, r->check_status >= 500 ? "server_error" : "invalid_request_error",
                         "invalid_request", "%s", r->check_msg);
            gw_req_unref(r);   // the check's reference: the client gets its answer through the front
        } else {
            gw_route(g, r, clock_now_us());   // the check's reference becomes the loop's
        }
        r = next;
    }
}

// Headers are copied into one buffer, r->hdr_text ("name\0value\0" each); hdr_name/hdr_val hold
// offsets while it may still move and pointers once copy_headers has them all.
static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    GwReq *r = cls;
    if (r->n_hdrs >= GW_MAX_HEADERS || !key || !value) return MHD_YES;
    size_t at = r->hdr_text.len, kl = strlen(key), vl = strlen(value);
    if (buf_append(&r->hdr_text, key, kl + 1) || buf_append(&r->hdr_text, value, vl + 1)) {
        r->hdr_text.len = at;   // out of memory: the header is left out, as before
        return MHD_YES;
    }
    r->hdr_name[r->n_hdrs] = (char *)(uintptr_t)at;
    r->hdr_val[r->n_hdrs] = (char *)(uintptr_t)(at + kl + 1);
    r->n_hdrs++;
    return MHD_YES;
}

static void copy_headers(GwReq *r) {
    MHD_get_connection_values(r->mc, MHD_HEADER_KIND, copy_header, r);
    for (int i = 0; i < r->n_hdrs; i++) {
        r->hdr_name[i] = r->hdr_text.data + (uintptr_t)r->hdr_name[i];
        r->hdr_val[i] = r->hdr_text.data + (uintptr_t)r->hdr_val[i];
    }
}

// The body is complete: check it and hand it to the loop. A big body goes to the check thread
// first; its connection waits parked, and gw_front_collect routes it when the check is done.
static enum MHD_Result submit(Gateway *g, GwReq *r) {
    if (g->check_started && r->body.len > GW_INLINE_CHECK_BYTES) {
        r->cache_on = g->cache != NULL;
        copy_headers(r);
        r->t_arrival_us = clock_now_us();
        r->fstate = FRONT_WAITING;
        atomic_fetch_add(&r->refs, 1);   // the check's reference (then the loop's)
        pthread_mutex_lock(&g->check_mu);
        r->check_next = NULL;
        if (g->check_todo_tail) g->check_todo_tail->check_next = r;
        else g->check_todo = r;
        g->check_todo_tail = r;
        pthread_cond_signal(&g->check_cv);
        pthread_mutex_unlock(&g->check_mu);
        return progress(r);
    }
    char msg[240];
    r->cache_on = g->cache != NULL;
    int st = check_body(g, r, msg, sizeof msg);
    body_release(r);   // checked: the upload's budget goes back (the text stays: calls splice it)
    if (st) {
        body_drop(r);
        char code[8];
        snprintf(code, sizeof code, "%d", st);
        r->fstate = FRONT_ANSWERED;
        metric_inc(g->m.requests, code, 1);
        return reply_err(g, r->mc, (unsigned)st, "invalid_request", msg);
    }
    copy_headers(r);
    r->t_arrival_us = clock_now_us();
    r->fstate = FRONT_WAITING;
    atomic_fetch_add(&r->refs, 1);  // the loop's reference
    gw_route(g, r, r->t_arrival_us);
    return progress(r);
}

// ---- admin ----

static bool admin_ok(Gateway *g, struct MHD_Connection *mc) {
    if (!g->admin_key[0]) return false;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    const char *k = h && strncmp(h, "Bearer ", 7) == 0 ? h + 7 : MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "x-admin-key");
    if (!k) return false;
    size_t a = strlen(k), b = strlen(g->admin_key);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)(k[i] ^ g->admin_key[i]);
    return diff == 0;
}

static enum MHD_Result admin(Gateway *g, struct MHD_Connection *mc, const char *url, const char *method, GwReq *r) {
    if (!g->admin_key[0]) return reply_err(g, mc, 403, "admin_disabled", "the admin API is off: start serve with --admin-key KEY");
    if (!admin_ok(g, mc)) return reply_err(g, mc, 401, "invalid_admin_key", "missing or wrong admin key (Authorization: Bearer KEY)");
    char out[1200];
    if (strcmp(method, "GET") == 0 && strcmp(url, "/admin/canary") == 0) {
        pthread_mutex_lock(&g->inbox_mu);
        snprintf(out, sizeof out, "%s", g->canary_status[0] ? g->canary_status : "[]");
        pthread_mutex_unlock(&g->inbox_mu);
        return reply(mc, 200, "application/json", out, strlen(out));
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/admin/keys") == 0) {
        Buf b = {0};
        gw_keys_status(g, &b);
        enum MHD_Result ok = b.data ? reply(mc, 200, "application/json", b.data, b.len) : MHD_NO;
        buf_free(&b);
        return ok;
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/admin/ledger") == 0) {
        pthread_mutex_lock(&g->inbox_mu);
        snprintf(out, sizeof out, "%s", g->ledger_status[0] ? g->ledger_status : "{}");
        pthread_mutex_unlock(&g->inbox_mu);
        return reply(mc, 200, "application/json", out, strlen(out));
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/admin/reload") == 0) {
        pthread_mutex_lock(&g->inbox_mu);
        Buf b = {0};
        buf_append_str(&b, g->reload_status[0] ? g->reload_status : "{\"ok\":null,\"refused\":null,\"applied\":[]}");
        pthread_mutex_unlock(&g->inbox_mu);
        enum MHD_Result ok = b.data ? reply(mc, 200, "application/json", b.data, b.len) : MHD_NO;
        buf_free(&b);
        return ok;
    }
    if (strcmp(method, "POST") != 0) return reply_err(g, mc, 404, "not_found", "no such admin endpoint");
    if (strcmp(url, "/admin/canary") == 0) {
        cJSON *j = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "weight_percent");
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "route");
        int k = g->p.n_canaries ? 0 : -1;
        if (cJSON_IsString(rt)) {
            k = -1;
            for (int i = 0; i < g->p.n_canaries; i++)
                if (strcmp(g->p.routes[g->p.canaries[i].route].name, rt->valuestring) == 0) k = i;
        }
        bool bad = !cJSON_IsNumber(w) || w->valuedouble < 0 || w->valuedouble > 100;
        double wv = bad ? 0 : w->valuedouble;
        cJSON_Delete(j);
        if (bad) return reply_err(g, mc, 400, "invalid_request", "send {\"weight_percent\": 0..100, \"route\": NAME}");
        if (k < 0) return reply_err(g, mc, 404, "no_canary", "no canary on that route (or none configured)");
        pthread_mutex_lock(&g->inbox_mu);
        g->admin_weight[k] = wv;
        pthread_mutex_unlock(&g->inbox_mu);
    } else if (strcmp(url, "/admin/rollback") == 0) {
        pthread_mutex_lock(&g->inbox_mu);
        g->admin_rollback = true;
        pthread_mutex_unlock(&g->inbox_mu);
    } else if (strcmp(url, "/admin/drain") == 0) {
        pthread_mutex_lock(&g->inbox_mu);
        g->admin_drain = true;
        pthread_mutex_unlock(&g->inbox_mu);
        atomic_store(&g->draining, true);
    } else {
        return reply_err(g, mc, 404, "not_found", "no such admin endpoint");
    }
    static const char ok[] = "{\"ok\":true}";
    return reply(mc, 200, "application/json", ok, sizeof ok - 1);
}

static enum MHD_Result handle_get(Gateway *g, struct MHD_Connection *mc, const char *url) {
    if (strcmp(url, "/health") == 0) {
        if (atomic_load(&g->draining)) return reply(mc, 503, "application/json", "{\"status\":\"draining\"}", 21);
        return reply(mc, 200, "application/json", "{\"status\":\"ok\"}", 15);
    }
    if (strcmp(url, "/health/live") == 0)   // the process is up and its loop answers
        return reply(mc, 200, "application/json", "{\"status\":\"live\"}", 17);
    if (strcmp(url, "/health/ready") == 0) {
        if (atomic_load(&g->draining)) return reply(mc, 503, "application/json", "{\"status\":\"draining\"}", 21);
        Buf b = {0};
        int st = gw_health_ready(g, clock_now_us(), &b);
        enum MHD_Result ok = b.data ? reply(mc, (unsigned)st, "application/json", b.data, b.len) : MHD_NO;
        buf_free(&b);
        return ok;
    }
    if (strcmp(url, "/metrics") == 0) {
        Buf b = {0};
        conn_guard_publish(g->guard, g->m.conns, g->m.conns_closed);
        int rc = metrics_render(g->m.reg, &b);
        enum MHD_Result ok = rc ? MHD_NO : reply(mc, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
        buf_free(&b);
        return ok;
    }
    if (strcmp(url, "/v1/models") == 0) return gw_keys_models(g, mc);
    if (strcmp(url, "/dashboard") == 0 || strcmp(url, "/admin/dashboard.json") == 0) return gw_dash_get(g, mc, url);
    if (strncmp(url, "/admin/", 7) == 0) return admin(g, mc, url, "GET", NULL);
    return reply_err(g, mc, 404, "not_found", "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    Gateway *g = cls;
    GwReq *r = *con_cls;
    if (!r) {
        conn_guard_header_done(g->guard, mc, clock_now_us());
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) return handle_get(g, mc, url);
        if (strcmp(method, "POST") != 0) return reply_err(g, mc, 405, "method_not_allowed", "method not allowed");
        r = req_new(g, mc, version);
        if (!r) return MHD_NO;
        *con_cls = r;
        if (strcmp(url, "/v1/completions") == 0) r->ep = RT_EP_COMPLETIONS, r->suffix = "/completions";
        else if (strcmp(url, "/v1/chat/completions") == 0) r->ep = RT_EP_CHAT, r->suffix = "/chat/completions";
        else if (strcmp(url, "/v1/embeddings") == 0) r->ep = RT_EP_EMBEDDINGS, r->suffix = "/embeddings";
        else if (strncmp(url, "/admin/", 7) == 0) r->ep = RT_EP_ANY, r->suffix = NULL;
        else r->early_status = 404, snprintf(r->early_msg, sizeof r->early_msg, "no such endpoint: POST %.100s", url);
        if (!r->early_status && r->suffix) {   // the client's key, before its body is read
            int st = gw_keys_auth(g, mc, &r->key, r->early_msg, sizeof r->early_msg);
            if (st) r->early_status = st;
        }
        if (!r->early_status && r->suffix && atomic_load(&g->draining))
            r->early_status = 503, snprintf(r->early_msg, sizeof r->early_msg, "the gateway is draining; retry elsewhere");
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
        unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
        if (n > atomic_load(&g->max_body)) r->too_large = true;
        else if (n > 0 && !r->early_status && !body_reserve(r, (size_t)n)) goto over_budget;
        return MHD_YES;
    }
    if (r->fstate == FRONT_READING && *upload_size > 0) {
        if (!r->too_large && !r->early_status && !r->over_budget) {
            size_t need = r->body.len + *upload_size;
            if (need > atomic_load(&g->max_body)) r->too_large = true;
            else if (need > r->reserved && !body_reserve(r, need - r->reserved)) r->over_budget = true;
            else if (buf_append(&r->body, upload_data, *upload_size)) return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->fstate == FRONT_READING) {
        conn_guard_body_done(g->guard, mc, clock_now_us());
        r->fstate = FRONT_ANSWERED;
        if (r->over_budget) goto over_budget;
        if (r->too_large) {
            metric_inc(g->m.rejected, "body_too_large", 1);
            return reply_err(g, mc, 413, "request_too_large", "the request body exceeds limits.max_body_bytes");
        }
        if (r->early_status) {
            if (r->early_status == 503) metric_inc(g->m.rejected, "draining", 1);
            if (r->early_status == 401 || r->early_status == 500) {
                metric_inc(g->m.rejected, "invalid_api_key", 1);
                return gw_keys_reply_auth(mc, r->early_status, r->early_msg);
            }
            return reply_err(g, mc, (unsigned)r->early_status, r->early_status == 503 ? "shutting_down" : "not_found",
                             r->early_msg);
        }
        if (!r->suffix) return admin(g, mc, url, method, r);
        return submit(g, r);
    }
    if (r->fstate == FRONT_WAITING) return progress(r);
    return MHD_YES;
over_budget:
    // Refused before the body is read: a stalled upload must not hold memory it was never given.
    r->fstate = FRONT_ANSWERED;
    body_drop(r);
    metric_inc(g->m.rejected, "body_budget", 1);
    return reply_err(g, mc, 503, "server_busy",
                     "the gateway holds its limit of buffered request bodies (limits.max_buffered_body_bytes); retry later");
}

// gateway_overhead_seconds: the gateway's own time in an answered (2xx) request, from its headers
// read to its answer's last byte handed to the socket, less the time its calls waited on a backend
// (request sent to answer received, curl's TOTAL less PRETRANSFER time).
static void observe_overhead(Gateway *g, GwReq *r, int64_t now_us) {
    pthread_mutex_lock(&r->mu);
    int status = r->status;
    pthread_mutex_unlock(&r->mu);
    if (status < 200 || status >= 300 || !r->t_head_us) return;
    int64_t own = now_us - r->t_head_us - r->backend_us;
    metric_observe(g->m.overhead, NULL, (double)(own > 0 ? own : 0) / 1e6);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe) {
    Gateway *g = cls;
    int64_t now = clock_now_us();
    conn_guard_request_done(g->guard, mc, now);   // keep-alive: the idle deadline starts
    GwReq *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && r->suffix) observe_overhead(g, r, now);
    r->gw->n_open_reqs--;
    body_drop(r);
    if (r->lprev) r->lprev->lnext = r->lnext;
    else g->live = r->lnext;
    if (r->lnext) r->lnext->lprev = r->lprev;
    r->lprev = r->lnext = NULL;
    pthread_mutex_lock(&r->mu);
    r->client_gone = true;
    r->suspended = false;
    if (r->stream_resp) {
        MHD_destroy_response(r->stream_resp);
        r->stream_resp = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    gw_req_unref(r);
}

// ---- clients that leave, deadlines, drain ----

void gw_front_watch(Gateway *g, int64_t now_us) {
    for (GwReq *r = g->live, *next; r; r = next) {
        next = r->lnext;
        pthread_mutex_lock(&r->mu);
        bool check = r->suspended && !r->client_gone && !r->out_done;
        bool started = r->fstate == FRONT_STREAMING;
        bool gone = check && conn_peer_check(r->mc, &r->probe, started, r->http11, now_us) == PEER_GONE;
        if (gone) {
            r->client_gone = true;
            r->suspended = false;
            MHD_resume_connection(r->mc);   // progress() answers MHD_NO: MHD closes it
            g->mhd_dirty = true;
        }
        pthread_mutex_unlock(&r->mu);
        if (gone) gw_abandon(g, r, now_us);   // the loop still holds r (its answer is not done)
    }
    conn_guard_sweep(g->guard, now_us, atomic_load(&g->draining));
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    if (log_get_level() > LOG_DEBUG) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    LOG_D("http: %s", line);
}

int gw_front_start(Gateway *g, char *err, size_t err_len) {
    const ListenAddr *la = &g->p.listen;
    char where[96];
    listen_addr_format(la, la->port, where, sizeof where);
    // No MHD thread: the gateway loop polls MHD's epoll fd beside libcurl's sockets and calls
    // MHD_run, so a request never crosses a thread on its way to a backend and back.
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (la->ipv6 ? MHD_USE_IPv6 : 0);
    // Room for every client the descriptor limit allows, less the backends' sockets (curl keeps up
    // to 1024 connections) and the process's own files; past it the oldest unfinished reader goes.
    int64_t max_conns = conn_guard_conn_limit(1024 + 256);
    ConnGuardConfig gc = {.header_timeout_us = g->p.header_timeout_us, .body_timeout_us = g->p.body_timeout_us,
                          .idle_timeout_us = g->p.idle_timeout_us, .max_conns = max_conns - 32,
                          .body_budget_bytes = g->p.max_buffered_body_bytes};
    g->guard = conn_guard_create(&gc);
    if (!g->guard) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    g->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, g, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&la->sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, g,
                                 MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, g->guard,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conns,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!g->daemon)
        return err_set(err, err_len, ERR_IO, "cannot listen on %s (port in use?)", where);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(g->daemon, MHD_DAEMON_INFO_BIND_PORT);
    g->port = info ? info->port : la->port;
    info = MHD_get_daemon_info(g->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) return err_set(err, err_len, ERR_IO, "libmicrohttpd has no epoll support");
    g->mhd_fd = info->epoll_fd;
    pthread_mutex_init(&g->check_mu, NULL);
    pthread_cond_init(&g->check_cv, NULL);
    if (pthread_create(&g->check_thread, NULL, check_main, g) != 0) {
        pthread_cond_destroy(&g->check_cv);
        pthread_mutex_destroy(&g->check_mu);
        return err_set(err, err_len, ERR_IO, "cannot start the gateway's body-check thread");
    }
    g->check_started = true;
    return 0;
}

// Stops the check thread and drops the references it and its lists hold.
static void check_stop(Gateway *g) {
    if (!g->check_started) return;
    pthread_mutex_lock(&g->check_mu);
    g->check_stop = true;
    pthread_cond_signal(&g->check_cv);
    pthread_mutex_unlock(&g->check_mu);
    pthread_join(g->check_thread, NULL);
    g->check_started = false;
    GwReq *lists[2] = {g->check_todo, g->check_done};
    for (int i = 0; i < 2; i++)
        for (GwReq *r = lists[i], *next; r; r = next) {
            next = r->check_next;
            gw_req_unref(r);
        }
    g->check_todo = g->check_todo_tail = g->check_done = g->check_done_tail = NULL;
    pthread_cond_destroy(&g->check_cv);
    pthread_mutex_destroy(&g->check_mu);
}

void gw_front_stop(Gateway *g) {
    check_stop(g);
    if (g->daemon) MHD_stop_daemon(g->daemon);
    g->daemon = NULL;
    conn_guard_destroy(g->guard);
    g->guard = NULL;
}
