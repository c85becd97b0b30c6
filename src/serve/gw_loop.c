// gw_loop.c — the gateway's request path on the loop thread: route (rules, cascade, canary),
// admit into the tier's bounded queue (or its dynamic batcher), dispatch to the least-loaded
// replica over libcurl multi, retry a call that failed before its first byte on another
// replica, check a cascade's confidence, feed canary guards and shadows, and finish each
// request with its cost, headers, telemetry and metrics.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "policy/dispatch.h"
#include "serve/gw_int.h"

void gw_finish(Gateway *g, GwReq *r, int64_t now_us);   // gateway.c
static void start_call(Gateway *g, GwReq *r, Replica *rep, int64_t now_us);

#define STREAM_TAIL 16384   // bytes of a passed-through stream kept to read its final chunk
static bool start_batch(Gateway *g, int tier, Replica *rep, int64_t now_us);

// ---- routing and admission ----

const char *gw_req_header(const GwReq *r, const char *name) {
    for (int i = 0; i < r->n_hdrs; i++)
        if (strcasecmp(r->hdr_name[i], name) == 0) return r->hdr_val[i];
    return NULL;
}

static const char *req_header(void *ctx, const char *name) { return gw_req_header(ctx, name); }

static void reject(Gateway *g, GwReq *r, int status, const char *reason, const char *code, const char *msg,
                   int64_t now_us) {
    metric_inc(g->m.rejected, reason, 1);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    gw_req_error(r, status, status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error",
                 code, "%s", msg);
    gw_finish(g, r, now_us);
}

// Puts r on tier's queue (at the head for a retry) or into its batcher. False when refused.
static bool enqueue(Gateway *g, GwReq *r, int tier, bool head, int64_t now_us) {
    TierState *ts = &g->tiers[tier];
    r->tier = tier;
    r->t_enqueue_us = now_us;
    if (ts->batcher && r->ep == RT_EP_EMBEDDINGS && !r->shadow) {
        if (batcher_add(ts->batcher, r->id, r->prompt_chars, now_us)) goto full;
        for (int64_t i = 0; i < ts->bcap; i++)
            if (!ts->bslots[i]) {
                ts->bslots[i] = r;
                return true;
            }
        CHECK(0 && "batcher slots exhausted");
    }
    // Retries and escalations go to the head and are always admitted; new requests obey the bound.
    if (!head && !r->shadow && !dispatch_admit(ts->n, g->p.max_queue, gw_replica_pick(g, tier) != NULL)) goto full;
    r->qnext = NULL;
    if (head) {
        r->qnext = ts->head;
        ts->head = r;
        if (!ts->tail) ts->tail = r;
    } else {
        if (ts->tail) ts->tail->qnext = r;
        else ts->head = r;
        ts->tail = r;
    }
    ts->n++;
    return true;
full:
    if (r->shadow) {
        gw_req_unref(r);
        return false;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "tier '%s' has %lld requests waiting (limits.max_queue); retry after %d s",
             g->p.tiers[tier].name, (long long)g->p.max_queue, g->p.retry_after_s);
    reject(g, r, 429, "queue_full", "queue_full", msg, now_us);
    return false;
}

// A new request from the inbox.
void gw_route(Gateway *g, GwReq *r, int64_t now_us) {
    g->in_flight++;
    RouteInput in = {.endpoint = r->ep, .model = r->model[0] ? r->model : NULL, .prompt_chars = r->prompt_chars,
                     .header = req_header, .header_ctx = r};
    if (!gw_keys_route(g, r, &in, now_us)) return;   // model map, key permissions and limits
    // The response cache answers after routing (the key's permissions and limits hold for a hit)
    // and before any tier is asked.
    if (g->cache && gw_cache_lookup(g, r, r->dec.rule, now_us)) return;
    metric_inc(g->m.decisions, router_decision_name(r->dec.kind), 1);
    if (r->dec.kind == DECISION_NONE) {
        char msg[200];
        snprintf(msg, sizeof msg, "no route matches this %s request (model '%.60s')", router_endpoint_name(r->ep),
                 r->model);
        reject(g, r, 404, "no_route", "no_route", msg, now_us);
        return;
    }
    r->first_tier = r->dec.tier;
    r->cascade_first_call = r->dec.then >= 0;
    snprintf(r->reason, sizeof r->reason, "%s", r->dec.then >= 0 ? "cascade-first" : r->dec.candidate ? "canary" : "rule");
    if (enqueue(g, r, r->dec.tier, false, now_us)) gw_dispatch(g, r->dec.tier, now_us);
}

// Drops queued requests past their deadline (504), oldest first.
void gw_expire(Gateway *g, int64_t now_us) {
    for (int t = 0; t < g->p.n_tiers; t++) {
        TierState *ts = &g->tiers[t];
        while (ts->head && now_us - ts->head->t_arrival_us > g->p.request_timeout_us) {
            GwReq *r = ts->head;
            ts->head = r->qnext;
            if (!ts->head) ts->tail = NULL;
            ts->n--;
            if (r->shadow) {
                gw_req_unref(r);
                continue;
            }
            reject(g, r, 504, "deadline", "timeout", "the request waited past limits.request_timeout_s", now_us);
        }
    }
}

void gw_call_done(Gateway *g, CURL *easy, CURLcode rc);

void gw_abandon(Gateway *g, GwReq *r, int64_t now_us) {
    snprintf(r->error, sizeof r->error, "the client closed its connection before the answer was complete");
    if (r->call) {   // the call ends as aborted: main_failed records 499 for a client that left
        gw_call_done(g, r->call->easy, CURLE_ABORTED_BY_CALLBACK);
        return;
    }
    if (r->tier < 0) return;
    TierState *ts = &g->tiers[r->tier];
    for (GwReq **p = &ts->head, *prev = NULL; *p; prev = *p, p = &(*p)->qnext) {
        if (*p != r) continue;
        *p = r->qnext;
        if (ts->tail == r) ts->tail = prev;
        ts->n--;
        snprintf(r->reason, sizeof r->reason, "client_gone");
        r->status = 499;
        gw_finish(g, r, now_us);
        return;
    }
    // Waiting in the batcher: pulled out before its batch goes (never sent, never charged).
    for (int64_t k = 0; ts->batcher && k < ts->bcap; k++) {
        if (ts->bslots[k] != r) continue;
        ts->bslots[k] = NULL;
        CHECK(batcher_remove(ts->batcher, r->id));
        snprintf(r->reason, sizeof r->reason, "client_gone");
        r->status = 499;
        gw_finish(g, r, now_us);
        return;
    }
    // Otherwise it is between calls: its turn sees the client gone.
}

void gw_dispatch(Gateway *g, int tier, int64_t now_us) {
    TierState *ts = &g->tiers[tier];
    if (ts->batcher) {
        while (batcher_len(ts->batcher) > 0 && batcher_ready_at(ts->batcher) <= now_us) {
            Replica *rep = gw_replica_pick(g, tier);
            if (!rep || !start_batch(g, tier, rep, now_us)) break;
        }
    }
    while (ts->head) {
        Replica *rep = gw_replica_pick(g, tier);
        if (!rep) return;
        GwReq *r = ts->head;
        ts->head = r->qnext;
        if (!ts->head) ts->tail = NULL;
        ts->n--;
        if (!r->shadow && gw_req_gone(r)) {
            snprintf(r->reason, sizeof r->reason, "client_gone");
            snprintf(r->error, sizeof r->error, "the client closed its connection before the answer was complete");
            r->status = 499;
            gw_finish(g, r, now_us);
            continue;
        }
        start_call(g, r, rep, now_us);
    }
}

// ---- backend calls ----

static size_t on_data(char *p, size_t size, size_t n, void *u) {
    GwCall *c = u;
    size_t len = size * n;
    if (c->t_first_byte_us == 0) {
        c->t_first_byte_us = clock_now_us();
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
        if (c->pass_stream && c->status == 200) {
            GwReq *r = c->req;
            pthread_mutex_lock(&r->mu);
            snprintf(r->h_tier, sizeof r->h_tier, "%s", r->gw->p.tiers[r->tier].name);
            snprintf(r->h_queue, sizeof r->h_queue, "%.3f", (double)r->queue_us / 1000.0);
            pthread_mutex_unlock(&r->mu);
            gw_req_stream_begin(r);
        }
    }
    c->bytes += (int64_t)len;
    if (c->kind == CALL_MAIN && gw_req_gone(c->req)) return 0;   // the client left: stop the transfer
    // limits.max_response_bytes: a buffered answer that grows past it is cut off (502
    // response_too_large); a passed-through stream is cut there too (what came before it went to
    // the client; the stream ends with the typed error event).
    if ((uint64_t)c->bytes > (uint64_t)c->max_resp_bytes) {
        c->too_large = true;
        return 0;
    }
    if (c->pass_stream && c->status == 200) {
        gw_stream_feed(c, p, len, clock_now_us());   // forwarded to the client event by event
        // Keep the stream's tail: its final chunk carries the busy share (timings.rightsize).
        if (c->resp.len + len > STREAM_TAIL) {
            size_t keep = c->resp.len > STREAM_TAIL / 2 ? STREAM_TAIL / 2 : c->resp.len;
            memmove(c->resp.data, c->resp.data + c->resp.len - keep, keep);
            c->resp.len = keep;
        }
        if (len > STREAM_TAIL) p += len - STREAM_TAIL, len = STREAM_TAIL;
    }
    if (buf_append(&c->resp, p, len)) return 0;
    return size * n;
}

// A new call on rep with body (taken: freed on failure). NULL when memory runs out.
static GwCall *call_new(Gateway *g, CallKind kind, Replica *rep, const char *suffix, char *body, int64_t deadline_us,
                        int64_t now_us) {
    GwCall *c = body ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        free(body);
        return NULL;
    }
    c->kind = kind;
    c->rep = rep;
    c->body = body;
    c->t_start_us = now_us;
    c->max_resp_bytes = g->p.max_response_bytes;
    c->easy = g->n_easy_pool ? g->easy_pool[--g->n_easy_pool] : curl_easy_init();
    if (!c->easy || gw_replica_call_start(g, rep, c, now_us)) {
        if (c->easy) curl_easy_cleanup(c->easy);
        free(body);
        free(c);
        return NULL;
    }
    char url[700];
    snprintf(url, sizeof url, "%s%s", rep->base_url, suffix);
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    c->hdrs = gw_keys_upstream_headers(g, rep->tier, c->hdrs);
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, (char *)c);
    gw_io_easy(g, c->easy);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    int64_t left_ms = (deadline_us - now_us) / 1000;
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)(left_ms > 1 ? left_ms : 1));
    curl_multi_add_handle(g->multi, c->easy);
    return c;
}

static void call_free(Gateway *g, GwCall *c) {
    curl_multi_remove_handle(g->multi, c->easy);
    if (g->n_easy_pool < (int)ARRAY_LEN(g->easy_pool)) {   // reuse: no allocation per call
        curl_easy_reset(c->easy);
        g->easy_pool[g->n_easy_pool++] = c->easy;
    } else {
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->hdrs);
    free(c->body);
    free(c->members);
    free(c->member_weight);
    free(c->member_share);
    buf_free(&c->resp);
    buf_free(&c->sse);
    free(c);
}

// Whether the client asked for the usage chunk of a stream.
static bool client_wants_usage(const GwReq *r) { return r->parts.client_usage; }

// The body sent to a tier: the client's bytes with the tier's model name spliced in (gw_body.h);
// a cascade's first call is asked without streaming and with token logprobs; a stream always
// asks for its usage chunk (telemetry counts the backend's tokens; the chunk is dropped when the
// client did not ask). One copy of the body, no JSON tree. NULL when memory runs out.
static char *call_body(Gateway *g, GwReq *r, int tier, bool buffered) {
    Buf out = {0};
    if (gw_body_for_call(&out, &r->parts, r->body.data, g->p.tiers[tier].model, buffered, r->ep == RT_EP_CHAT)) {
        buf_free(&out);
        return NULL;
    }
    return out.data;
}

// The out-of-memory policy (gw_int.h): the request is answered 500 and the loop goes on.
static void out_of_memory(Gateway *g, GwReq *r, int64_t now_us) {
    LOG_E("request %llu: out of memory on the gateway's loop", (unsigned long long)r->id);
    if (r->shadow) {
        gw_req_unref(r);
        return;
    }
    reject(g, r, 500, "out_of_memory", "out_of_memory", "the gateway ran out of memory for this request", now_us);
}

static void start_call(Gateway *g, GwReq *r, Replica *rep, int64_t now_us) {
    if (r->attempts == 0 && !r->escalated) r->queue_us = now_us - r->t_arrival_us;
    r->attempts++;
    r->t_dispatch_us = now_us;
    r->replica_slot = rep->slot;
    bool buffered = !cascade_call_streams(r->cascade_first_call) || r->shadow;
    GwCall *c = call_new(g, r->shadow ? CALL_SHADOW : CALL_MAIN, rep, r->suffix, call_body(g, r, r->tier, buffered),
                         r->t_arrival_us + g->p.request_timeout_us + (r->shadow ? g->p.request_timeout_us : 0), now_us);
    if (!c) {
        out_of_memory(g, r, now_us);
        return;
    }
    c->req = r;
    if (!r->shadow) r->call = c;
    c->pass_stream = r->stream && !buffered;
    c->drop_usage = c->pass_stream && !client_wants_usage(r);
}

// Sends the due batch to rep. False (nothing taken) when memory for it cannot be had.
static bool start_batch(Gateway *g, int tier, Replica *rep, int64_t now_us) {
    TierState *ts = &g->tiers[tier];
    int64_t cap = g->p.tiers[tier].batch.max_batch_size;
    BatchItem *items = calloc((size_t)cap, sizeof *items);
    GwReq **members = calloc((size_t)cap, sizeof *members);
    int64_t *weight = calloc((size_t)cap, sizeof *weight), *share = calloc((size_t)cap, sizeof *share);
    Buf body = {0};
    int rc = buf_append_str(&body, "{\"model\":");
    if (!rc) rc = gw_body_put_string(&body, g->p.tiers[tier].model);
    if (!rc) rc = buf_append_str(&body, ",\"input\":[");
    if (!items || !members || !weight || !share || rc) {
        LOG_E("tier %s: out of memory for a batch; its requests wait", g->p.tiers[tier].name);
        free(items), free(members), free(weight), free(share);
        buf_free(&body);
        return false;
    }
    int64_t taken = batcher_take(ts->batcher, now_us, items, cap), n = 0;
    bool first = true;
    for (int64_t i = 0; i < taken; i++) {
        GwReq *r = NULL;
        for (int64_t k = 0; k < ts->bcap && !r; k++)
            if (ts->bslots[k] && ts->bslots[k]->id == items[i].id) r = ts->bslots[k], ts->bslots[k] = NULL;
        CHECK(r);
        if (gw_req_gone(r)) {   // left since the last watch: not sent, not charged
            snprintf(r->reason, sizeof r->reason, "client_gone");
            snprintf(r->error, sizeof r->error, "the client closed its connection before the answer was complete");
            r->status = 499;
            gw_finish(g, r, now_us);
            continue;
        }
        members[n] = r;
        weight[n++] = items[i].tokens > 0 ? items[i].tokens : 1;
        if (!rc) rc = gw_body_append_inputs(&body, &r->parts, r->body.data, &first);   // the client's bytes
    }
    free(items);
    for (int64_t i = 0; i < n; i++) {
        GwReq *r = members[i];
        r->queue_us = now_us - r->t_arrival_us;
        r->t_dispatch_us = now_us;
        r->replica_slot = rep->slot;
        r->batch_size = n;
        r->attempts++;
    }
    if (n == 0) {   // every member left
        free(members), free(weight), free(share);
        buf_free(&body);
        return true;
    }
    if (!rc) rc = buf_append_str(&body, "]}");
    char *s = rc ? NULL : body.data;
    if (rc) buf_free(&body);
    GwCall *c = call_new(g, CALL_BATCH, rep, "/embeddings", s, now_us + g->p.request_timeout_us, now_us);
    if (!c) {
        for (int64_t i = 0; i < n; i++) out_of_memory(g, members[i], now_us);
        free(members), free(weight), free(share);
        return true;
    }
    c->members = members;
    c->member_weight = weight;
    c->member_share = share;
    c->n_members = n;
    metric_observe(g->m.batch, g->p.tiers[tier].name, (double)n);
    return true;
}

// ---- finishing calls ----

static bool conn_failure(CURLcode rc, const GwCall *c) {
    return c->bytes == 0 && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
                             rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE);
}

static void set_headers(Gateway *g, GwReq *r) {
    pthread_mutex_lock(&r->mu);
    snprintf(r->h_tier, sizeof r->h_tier, "%s", g->p.tiers[r->tier].name);
    snprintf(r->h_queue, sizeof r->h_queue, "%.3f", (double)r->queue_us / 1000.0);
    snprintf(r->h_cost, sizeof r->h_cost, "%.9f", (double)r->cost_nusd / 1e9);
    // The TTFT the gateway's record will carry (from the request read to the first text), so a
    // client (calibrate --url) can tell its own side of the hop from the gateway's.
    if (r->t_first_token_us)
        snprintf(r->h_ttft, sizeof r->h_ttft, "%.3f", (double)(r->t_first_token_us - r->t_arrival_us) / 1000.0);
    pthread_mutex_unlock(&r->mu);
}

// Answers the client with a buffered backend response (the first tier's, kept, or any
// non-streamed answer). resp may be NULL (not JSON): the bytes go as they came.
static void answer_buffered(Gateway *g, GwReq *r, GwCall *c, cJSON *resp, int64_t now_us) {
    if (r->stream && c->status == 200 && resp)
        r->t_first_token_us = r->t_last_token_us = now_us;   // the client's text arrives now, in one event
    set_headers(g, r);
    if (r->stream && c->status == 200 && resp) {
        gw_answer_replay_sse(r, resp);
    } else if (resp && r->cascade_first_call && !r->client_logprobs && c->status == 200) {
        cJSON *ch = (cJSON *)gw_answer_choice0(resp);
        if (ch) cJSON_ReplaceItemInObjectCaseSensitive(ch, "logprobs", cJSON_CreateNull());
        char *s = cJSON_PrintUnformatted(resp);
        gw_req_respond(r, 200, "application/json", s, strlen(s));
        free(s);
    } else {
        Buf m = {0};   // the public model name the client asked for in place of the backend's
        if (r->rewrite_model && c->status == 200 && !gw_json_set_model(&m, c->resp.data, c->resp.len, r->model) && m.data)
            gw_req_respond(r, 200, "application/json", m.data, m.len);
        else gw_req_respond(r, (int)c->status, "application/json", c->resp.data ? c->resp.data : "", c->resp.len);
        buf_free(&m);
    }
    r->status = (int)c->status;
    gw_finish(g, r, now_us);
}

// The expected answer a client sent in x-rightsize-label, or NULL.
static const char *req_label(const GwReq *r) {
    for (int i = 0; i < r->n_hdrs; i++)
        if (strcasecmp(r->hdr_name[i], "x-rightsize-label") == 0) return r->hdr_val[i];
    return NULL;
}

static void canary_feed(Gateway *g, GwReq *r, GwCall *c, bool error, int64_t now_us) {
    int k = r->dec.canary;
    if (k < 0 || !r->dec.candidate || r->tier != g->candidate_of[k]) return;
    Canary *cn = &g->canaries[k];
    const char *label = req_label(r);
    if (label && cn->guards.min_accuracy > 0 && !r->stream) {
        // Labelled traffic: the candidate's answer is right or wrong (errors count as wrong).
        cJSON *resp = !error && c->status == 200 ? cJSON_ParseWithLength(c->resp.data ? c->resp.data : "", c->resp.len) : NULL;
        canary_record_accuracy(cn, now_us, resp && canary_label_match(label, gw_answer_text(resp)));
        cJSON_Delete(resp);
    }
    CanaryVerdict v = canary_answer(cn, now_us, now_us - r->t_arrival_us, error);
    if (v != CANARY_OK) {
        metric_inc(g->m.rollbacks, canary_verdict_name(v), 1);
        LOG_W("canary on route '%s' (candidate '%s') ROLLED BACK: %s", g->p.routes[g->p.canaries[k].route].name,
              g->p.tiers[g->candidate_of[k]].name, cn->reason);
    }
    // A sample of the candidate's plain answers is shadowed to the baseline for agreement.
    if (!error && !r->stream && c->status == 200 && cn->guards.min_agreement > 0 && canary_shadow(cn, &g->shadow_rng)) {
        cJSON *resp = cJSON_ParseWithLength(c->resp.data ? c->resp.data : "", c->resp.len);
        GwReq *s = gw_req_alloc(g);
        if (!s) {   // a shadow is optional: skip it
            cJSON_Delete(resp);
            return;
        }
        s->gw = g;
        s->id = atomic_fetch_add(&g->next_id, 1);
        atomic_init(&s->refs, 1);
        pthread_mutex_init(&s->mu, NULL);
        s->shadow = true;
        s->ep = r->ep;
        s->suffix = r->suffix;
        s->parts = r->parts;   // the same body, asked buffered with logprobs as a shadow
        s->parts.usage_options = NULL;
        s->parts.client_logprobs = false;
        s->shadow_text = strdup(gw_answer_text(resp));
        if (buf_append(&s->body, r->body.data, r->body.len) || !s->shadow_text) {
            cJSON_Delete(resp);
            gw_req_unref(s);
            return;
        }
        s->canary = k;
        s->t_arrival_us = now_us;
        cJSON_Delete(resp);
        int base = g->p.canaries[k].baseline;
        if (enqueue(g, s, base, false, now_us)) gw_dispatch(g, base, now_us);
    }
}

static void shadow_done(Gateway *g, GwCall *c, CURLcode rc, int64_t now_us) {
    GwReq *s = c->req;
    g->shadow_nusd += c->cost_nusd;
    if (rc == CURLE_OK && c->status == 200) {
        cJSON *resp = cJSON_ParseWithLength(c->resp.data ? c->resp.data : "", c->resp.len);
        gw_read_answer(s, resp);   // a shadow's tokens were generated too: they count in the tier's totals
        const char *tn = g->p.tiers[c->rep->tier].name;
        if (s->prompt_tokens > 0) metric_inc(g->m.prompt_tok, tn, (double)s->prompt_tokens);
        if (s->output_tokens > 0) metric_inc(g->m.gen_tok, tn, (double)s->output_tokens);
        double a = canary_agreement(s->shadow_text ? s->shadow_text : "", gw_answer_text(resp));
        cJSON_Delete(resp);
        Canary *cn = &g->canaries[s->canary];
        canary_record_agreement(cn, now_us, a);
        CanaryVerdict v = canary_check(cn, now_us);
        if (v != CANARY_OK) {
            metric_inc(g->m.rollbacks, canary_verdict_name(v), 1);
            LOG_W("canary on route '%s' ROLLED BACK: %s", g->p.routes[g->p.canaries[s->canary].route].name, cn->reason);
        }
    }
    gw_req_unref(s);
}

// The busy share the backend reported for this call (timings.rightsize.busy_ns of its final
// response — walked, not scanned byte by byte: a 1 MiB answer — or of its final stream chunk: the
// last occurrence in the kept tail), or -1.
static int64_t reported_busy_ns(const GwCall *c) {
    static const char key[] = "\"busy_ns\":";
    const char *d = c->resp.data;
    if (!c->pass_stream || c->status != 200) return gw_answer_busy_ns(d, c->resp.len);
    if (!d || c->resp.len < sizeof key) return -1;
    for (size_t i = c->resp.len - (sizeof key - 1) + 1; i-- > 0;) {
        if (memcmp(d + i, key, sizeof key - 1) != 0) continue;
        char *end = NULL;
        long long v = strtoll(d + i + sizeof key - 1, &end, 10);
        return end != d + i + sizeof key - 1 && v >= 0 ? (int64_t)v : -1;
    }
    return -1;
}

// Charges the call by the ledger's rule: its reported busy share at its replica's rate — or, on a
// tier whose backend reports none (cost_share: in_flight), its in-flight share of the replica's
// time when the call answered 2xx. A batch splits its share over the members by input size first
// (one engine step, rows by tokens).
static void charge_call(Gateway *g, GwCall *c, CURLcode rc, int64_t now_us) {
    int64_t busy = g->p.tiers[c->rep->tier].cost_in_flight
                       ? (rc == CURLE_OK && c->status >= 200 && c->status < 300 ? c->share_ns : -1)
                       : reported_busy_ns(c);
    if (busy < 0) return;   // failed or unreported: the time stays idle
    if (c->kind != CALL_BATCH) {
        c->cost_nusd = ledger_charge(&g->ledger, &c->rep->led, busy, now_us);
        // A shadow is no request: the replica's idle waits for the next answer it gives.
        if (c->kind == CALL_MAIN) c->idle_nusd = ledger_take_idle(&g->ledger, &c->rep->led, now_us);
        return;
    }
    ledger_split(busy, c->member_weight, c->n_members, c->member_share);
    for (int64_t i = 0; i < c->n_members; i++) {
        int64_t v = ledger_charge(&g->ledger, &c->rep->led, c->member_share[i], now_us);
        c->members[i]->cost_nusd += v;
        c->cost_nusd += v;
    }
    // The idle the batch takes is split over its members by the same weights.
    int64_t idle = ledger_take_idle(&g->ledger, &c->rep->led, now_us);
    for (int64_t i = 0; i < c->n_members; i++) c->member_share[i] = 0;
    ledger_split(idle, c->member_weight, c->n_members, c->member_share);
    for (int64_t i = 0; i < c->n_members; i++) c->members[i]->idle_nusd += c->member_share[i];
    c->idle_nusd = idle;
}

static void batch_done(Gateway *g, GwCall *c, CURLcode rc, int64_t now_us) {
    int tier = c->rep->tier;
    if (conn_failure(rc, c)) {
        // Each member is retried in a later batch, or refused after GW_MAX_ATTEMPTS.
        for (int64_t i = 0; i < c->n_members; i++) {
            GwReq *r = c->members[i];
            if (r->attempts < GW_MAX_ATTEMPTS) enqueue(g, r, tier, false, now_us);
            else reject(g, r, 502, "backend_unreachable", "backend_unreachable", "no replica could be reached", now_us);
        }
        return;
    }
    cJSON *resp = rc == CURLE_OK && c->status == 200 ? cJSON_ParseWithLength(c->resp.data, c->resp.len) : NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(resp, "data");
    // The backend's usage is for the whole batch: each member's prompt tokens are its share by
    // input size, rounded cumulatively so the shares sum to the backend's figure.
    const cJSON *btok = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "usage"), "prompt_tokens");
    int64_t tok_total = cJSON_IsNumber(btok) ? (int64_t)btok->valuedouble : -1, tok_w = 0, tok_prev = 0, tok_share = -1;
    int64_t W = 0, off = 0;
    for (int64_t i = 0; i < c->n_members; i++) W += c->member_weight[i];
    for (int64_t i = 0; i < c->n_members; i++) {
        GwReq *r = c->members[i];
        tok_w += c->member_weight[i];
        if (tok_total >= 0) {
            int64_t upto_tok = (int64_t)((__int128)tok_total * tok_w / (W ? W : 1));
            tok_share = upto_tok - tok_prev;
            tok_prev = upto_tok;
        }
        int64_t k = r->parts.n_inputs;
        if (!cJSON_IsArray(data) || cJSON_GetArraySize(data) < off + k) {
            set_headers(g, r);
            if (rc == CURLE_OK) gw_req_respond(r, (int)(c->status == 200 ? 502 : c->status), "application/json",
                                               c->resp.data ? c->resp.data : "{}", c->resp.len ? c->resp.len : 2);
            else if (c->too_large)
                gw_req_error(r, 502, "server_error", "response_too_large",
                             "tier '%s' answered more than limits.max_response_bytes (%zu bytes); the answer was dropped",
                             g->p.tiers[tier].name, c->max_resp_bytes);
            else gw_req_error(r, 502, "server_error", "backend_unreachable", "the embeddings backend failed (%s)",
                              curl_easy_strerror(rc));
            r->status = c->status == 200 || rc != CURLE_OK ? 502 : (int)c->status;
            gw_finish(g, r, now_us);
            off += k;
            continue;
        }
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "data");
        cJSON_AddStringToObject(o, "object", "list");
        for (int64_t j = 0; j < k; j++) {
            cJSON *item = cJSON_Duplicate(cJSON_GetArrayItem(data, (int)(off + j)), 1);
            cJSON_ReplaceItemInObjectCaseSensitive(item, "index", cJSON_CreateNumber((double)j));
            cJSON_AddItemToArray(arr, item);
        }
        off += k;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(resp, "model");
        cJSON_AddStringToObject(o, "model", r->rewrite_model ? r->model : cJSON_IsString(m) ? m->valuestring : "");
        cJSON *u = cJSON_AddObjectToObject(o, "usage");
        if (tok_share >= 0) {
            r->prompt_tokens = tok_share;
            r->usage_source = "batch_split";
        }
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)(tok_share >= 0 ? tok_share : r->prompt_chars));
        cJSON_AddNumberToObject(u, "total_tokens", (double)(tok_share >= 0 ? tok_share : r->prompt_chars));
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        set_headers(g, r);
        gw_req_respond(r, 200, "application/json", s, strlen(s));
        free(s);
        r->status = 200;
        gw_finish(g, r, now_us);
    }
    cJSON_Delete(resp);
}

// A transport failure with no answer: the client gets what it already has (a cut stream), a
// 499 when it left, or a 502/504.
static void main_failed(Gateway *g, GwReq *r, GwCall *c, CURLcode rc, int64_t now_us) {
    if (c->pass_stream && c->status == 200) {   // cut mid-stream: say so in the stream, then end it
        r->status = 200;
        if (c->too_large && !gw_req_gone(r)) {
            metric_inc(g->m.rejected, "response_too_large", 1);
            snprintf(r->error, sizeof r->error,
                     "tier '%s' streamed more than limits.max_response_bytes (%zu bytes); the stream was cut there",
                     g->p.tiers[r->tier].name, c->max_resp_bytes);
            snprintf(r->reason, sizeof r->reason, "response_too_large");
        }
        snprintf(r->reason + strlen(r->reason), sizeof r->reason - strlen(r->reason), "%s", "+cut");
        set_headers(g, r);
        gw_stream_end(c, false, rc == CURLE_OPERATION_TIMEDOUT ? 504 : 502, curl_easy_strerror(rc));
        gw_req_stream_end(r);
    } else if (gw_req_gone(r)) {
        r->status = 499;
    } else if (c->too_large) {
        set_headers(g, r);
        metric_inc(g->m.rejected, "response_too_large", 1);
        snprintf(r->reason, sizeof r->reason, "response_too_large");
        gw_req_error(r, 502, "server_error", "response_too_large",
                     "tier '%s' answered more than limits.max_response_bytes (%zu bytes); the answer was dropped",
                     g->p.tiers[r->tier].name, c->max_resp_bytes);
        r->status = 502;
    } else {
        bool timeout = rc == CURLE_OPERATION_TIMEDOUT;
        set_headers(g, r);
        metric_inc(g->m.rejected, timeout ? "timeout" : "backend_error", 1);
        gw_req_error(r, timeout ? 504 : 502, "server_error", timeout ? "timeout" : "backend_error",
                     "tier '%s' failed: %s", g->p.tiers[r->tier].name, curl_easy_strerror(rc));
        r->status = timeout ? 504 : 502;
    }
    gw_finish(g, r, now_us);
}

// A cascade's first answer: re-ask the next tier by policy/cascade's rule. True when
// the request went on to the next tier.
static bool maybe_escalate(Gateway *g, GwReq *r, GwCall *c, const cJSON *resp, int64_t now_us) {
    int status = (int)c->status;
    int64_t n = 0;
    double *lps = status == 200 ? gw_answer_logprobs(resp, &n) : NULL;
    r->confidence = status == 200 ? cascade_confidence(lps, n, r->dec.mode) : 0;
    free(lps);
    if (!cascade_decide(status, r->confidence, r->dec.min_confidence, r->dec.escalate_on_error)) return false;
    metric_inc(g->m.escalations, g->p.tiers[r->tier].name, 1);
    r->escalated = true;
    r->cascade_first_call = false;
    // The record's tokens are the answering tier's (what the client's usage says); the first
    // tier's are kept apart.
    r->first_prompt_tokens = r->prompt_tokens;
    r->first_output_tokens = r->output_tokens;
    r->prompt_tokens = r->output_tokens = -1;
    r->usage_source = NULL;
    r->finish[0] = 0;
    r->backend_ttft_ms = r->backend_tpot_ms = r->backend_queue_ms = r->batch_size_mean = -1;
    r->first_cost_nusd = r->cost_nusd;
    r->first_idle_nusd = r->idle_nusd;
    r->attempts = 0;
    snprintf(r->reason, sizeof r->reason, "escalated");
    if (enqueue(g, r, r->dec.then, true, now_us)) gw_dispatch(g, r->dec.then, now_us);
    return true;
}

// A main call ended: retry, escalate, or answer.
static void main_done(Gateway *g, GwCall *c, CURLcode rc, int64_t now_us) {
    GwReq *r = c->req;
    int tier = c->rep->tier;
    r->call = NULL;
    r->cost_nusd += c->cost_nusd;
    r->idle_nusd += c->idle_nusd;
    if (r->t_first_byte_us == 0 && c->t_first_byte_us) r->t_first_byte_us = c->t_first_byte_us;
    if (conn_failure(rc, c) && r->attempts < GW_MAX_ATTEMPTS && !gw_req_gone(r)) {
        LOG_D("request %llu: replica %d of tier %s unreachable (%s); retrying", (unsigned long long)r->id,
              c->rep->slot, g->p.tiers[tier].name, curl_easy_strerror(rc));
        enqueue(g, r, tier, true, now_us);
        return;
    }
    if (!gw_req_gone(r)) canary_feed(g, r, c, rc != CURLE_OK || c->status >= 500, now_us);   // a client leaving is no verdict
    bool streamed = c->pass_stream && c->status == 200;
    // The tree only where the answer is reworked (a cascade's verdict, a replay as SSE); else
    // the few members the record needs are read from the bytes.
    bool tree = rc == CURLE_OK && !streamed && (r->cascade_first_call || r->stream);
    cJSON *resp = tree ? cJSON_ParseWithLength(c->resp.data ? c->resp.data : "", c->resp.len) : NULL;
    if (resp) gw_read_answer(r, resp);
    if (resp && r->rewrite_model && cJSON_HasObjectItem(resp, "model"))   // replayed or printed: the public name
        cJSON_ReplaceItemInObjectCaseSensitive(resp, "model", cJSON_CreateString(r->model));
    else if (rc == CURLE_OK && !streamed) gw_read_answer_raw(r, c->resp.data, c->resp.len);
    if (r->cascade_first_call && rc == CURLE_OK && maybe_escalate(g, r, c, resp, now_us)) {
        // on its way to the next tier
    } else if (rc != CURLE_OK) {
        main_failed(g, r, c, rc, now_us);
    } else if (streamed) {
        r->status = 200;
        set_headers(g, r);
        gw_stream_end(c, true, 502, NULL);
        gw_req_stream_end(r);
        gw_finish(g, r, now_us);
    } else {
        answer_buffered(g, r, c, resp, now_us);
    }
    cJSON_Delete(resp);
}

// A backend call finished (any outcome): account for it, hand it to its kind, free it, and
// dispatch what waits on its tier. Loop thread.
void gw_call_done(Gateway *g, CURL *easy, CURLcode rc) {
    GwCall *c = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
    if (c->status == 0) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &c->status);
    int64_t now = clock_now_us();
    Replica *rep = c->rep;
    int tier = rep->tier;
    gw_replica_call_end(g, rep, c, now);
    charge_call(g, c, rc, now);
    curl_off_t total_us = 0, pre_us = 0;   // the backend's share of the request's time
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre_us);
    int64_t wait_us = total_us > pre_us ? (int64_t)(total_us - pre_us) : 0;
    if (c->kind == CALL_MAIN) c->req->backend_us += wait_us;
    for (int64_t i = 0; c->kind == CALL_BATCH && i < c->n_members; i++) c->members[i]->backend_us += wait_us;
    if (conn_failure(rc, c)) {
        gw_replica_failed(g, rep, now);
        metric_inc(g->m.retries, g->p.tiers[tier].name, 1);
    }
    switch ((CallKind)c->kind) {
    case CALL_BATCH: batch_done(g, c, rc, now); break;
    case CALL_SHADOW: shadow_done(g, c, rc, now); break;
    default: main_done(g, c, rc, now); break;
    }
    call_free(g, c);
    gw_dispatch(g, tier, now);
}
