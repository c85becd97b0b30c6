#include "serve/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/arena.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/rng.h"
#include "serve/conn_guard.h"
#include "serve/listen_addr.h"
#include "serve/openai_resp.h"
#include "serve/embed_service.h"

// One HTTP request that carries a body (every POST). States:
//   READING --(body complete)--> WAITING --(job output/finish)--> STREAMING | (answered)
// WAITING and STREAMING connections are suspended whenever there is nothing to send; the job's
// notify callback (engine thread, job->mu held) resumes them.
typedef enum { CONN_READING = 0, CONN_WAITING, CONN_STREAMING, CONN_ANSWERED } ConnState;

typedef struct Conn {
    HttpServer *srv;
    struct MHD_Connection *mc;
    ConnState state;
    OaiEndpoint endpoint;
    bool is_generate;       // a /v1/*completions POST
    bool is_embed;          // a /v1/embeddings POST
    OaiError early;         // refusal decided from the headers (status 0 = none)
    const char *early_reason;  // rejected_total reason for it
    Buf body;
    size_t reserved;        // bytes of the guard's body budget held for body
    bool too_large, over_budget;
    bool http11;            // may be sent a 1xx probe (conn_peer_check)
    PeerProbe probe;
    GenJob *job;
    bool stream;
    bool suspended;         // under job->mu
    OaiRespCtx rctx;
    OaiStreamPos pos;
    Buf pending;            // encoded SSE bytes not yet handed to MHD
    size_t pending_off;
    struct Conn *prev, *next;  // HttpServer.conns, under HttpServer.mu
} Conn;

struct HttpServer {
    HttpServerConfig cfg;
    char *model_name, *api_key;
    GenBackend *backend;
    ServeMetrics *metrics;
    struct MHD_Daemon *daemon;
    ConnGuard *guard;       // deadlines, connection cap, body budget, drain (conn_guard.h)
    int port;
    atomic_bool draining;
    atomic_int_fast64_t in_flight;
    pthread_mutex_t mu;     // guards conns, seed_rng and stop_watch
    pthread_cond_t cv;      // wakes the watcher early when stopping
    Conn *conns;
    Rng seed_rng;           // seeds for requests that do not send one
    pthread_t watcher;      // notices clients that leave while their connection is suspended
    bool watcher_started, stop_watch;
};

// ---- small helpers ----

static void count_status(HttpServer *s, unsigned status) {
    if (!s->metrics) return;
    char code[8];
    snprintf(code, sizeof code, "%u", status);
    metric_inc(s->metrics->requests, code, 1);
}

static void count_reject(HttpServer *s, const char *reason) {
    if (s->metrics && reason) metric_inc(s->metrics->rejected, reason, 1);
}

// Queues a complete in-memory response (copied). Returns MHD's verdict. Answers to POSTs are
// counted in requests_total (GETs of /health and /metrics are not: scrapes would drown them).
static enum MHD_Result reply(HttpServer *s, struct MHD_Connection *mc, unsigned status, const char *ctype,
                             const char *body, size_t len, const char *retry_after, bool count) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ok = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    if (count) count_status(s, status);
    return ok;
}

static enum MHD_Result reply_error(HttpServer *s, struct MHD_Connection *mc, const OaiError *e, bool count) {
    Buf b = {0};
    if (oai_resp_error(&b, e)) return MHD_NO;
    char retry[16];
    snprintf(retry, sizeof retry, "%d", s->cfg.retry_after_s);
    enum MHD_Result ok = reply(s, mc, (unsigned)e->status, "application/json", b.data, b.len,
                               e->status == 429 || e->status == 503 ? retry : NULL, count);
    buf_free(&b);
    return ok;
}

// Constant-time comparison of the bearer token (no early exit on the first differing byte).
static bool authorized(HttpServer *s, struct MHD_Connection *mc) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    const char *tok = h + 7;
    size_t a = strlen(tok), b = strlen(s->api_key);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)(tok[i] ^ s->api_key[i]);
    return diff == 0;
}

// ---- the engine → connection wake-up ----

// GenJob.notify: runs on the engine thread with job->mu held.
static void conn_notify(void *ctx) {
    Conn *c = ctx;
    if (c->suspended) {
        c->suspended = false;
        MHD_resume_connection(c->mc);
    }
}

// ---- streaming ----

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    Conn *c = cls;
    if (c->pending_off == c->pending.len) {
        buf_clear(&c->pending);
        c->pending_off = 0;
        GenJob *j = c->job;
        pthread_mutex_lock(&j->mu);
        int rc = oai_resp_sse(&c->pending, &c->rctx, j, &c->pos);
        if (rc == 0 && c->pending.len == 0) {
            if (c->pos.done) {
                pthread_mutex_unlock(&j->mu);
                return MHD_CONTENT_READER_END_OF_STREAM;
            }
            // Nothing to send yet: park the connection until the engine publishes more.
            c->suspended = true;
            MHD_suspend_connection(c->mc);
        }
        pthread_mutex_unlock(&j->mu);
        if (rc) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (c->pending.len == 0) return 0;
    }
    size_t n = c->pending.len - c->pending_off;
    if (n > max) n = max;
    memcpy(buf, c->pending.data + c->pending_off, n);
    c->pending_off += n;
    return (ssize_t)n;
}

static void add_timing_headers(struct MHD_Response *r, const GenJob *j) {
    char v[32];
    double q = oai_resp_queue_ms(j), t = oai_resp_ttft_ms(j);
    snprintf(v, sizeof v, "%.3f", q < 0 ? 0 : q);
    MHD_add_response_header(r, "x-rightsize-queue-ms", v);
    if (t >= 0) {
        snprintf(v, sizeof v, "%.3f", t);
        MHD_add_response_header(r, "x-rightsize-ttft-ms", v);
    }
}

// Sends what is ready for a submitted job, or suspends the connection until it is.
static enum MHD_Result conn_progress(Conn *c) {
    HttpServer *s = c->srv;
    GenJob *j = c->job;
    pthread_mutex_lock(&j->mu);
    bool finished = j->finish != GEN_RUNNING;
    bool ready = finished || (c->stream && j->t_first_token_us != 0);
    if (!ready) {
        c->suspended = true;
        MHD_suspend_connection(c->mc);
        pthread_mutex_unlock(&j->mu);
        return MHD_YES;
    }
    enum MHD_Result ok;
    if (finished && j->finish == GEN_ABORT && gen_job_cancelled(j)) {
        // The client left (the watcher saw its socket close): nobody reads an answer. Counted as
        // nginx's 499 "client closed request", not as a 503 the server chose.
        pthread_mutex_unlock(&j->mu);
        c->state = CONN_ANSWERED;
        count_status(s, 499);
        return MHD_NO;
    }
    if (finished && (j->finish == GEN_ERROR || j->finish == GEN_ABORT) && (!c->stream || j->n_generated == 0)) {
        OaiError e = j->error;
        if (j->finish == GEN_ABORT)
            oai_err(&e, 503, "service_unavailable", NULL, "aborted", "the server is shutting down; retry elsewhere");
        pthread_mutex_unlock(&j->mu);
        c->state = CONN_ANSWERED;
        return reply_error(s, c->mc, &e, true);
    }
    if (!c->stream) {
        Buf b = {0};
        int rc = oai_resp_body(&b, &c->rctx, j);
        struct MHD_Response *r = rc ? NULL : MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        if (r) add_timing_headers(r, j);
        pthread_mutex_unlock(&j->mu);
        buf_free(&b);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        ok = MHD_queue_response(c->mc, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        count_status(s, MHD_HTTP_OK);
        c->state = CONN_ANSWERED;
        return ok;
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, c, NULL);
    if (r) add_timing_headers(r, j);
    pthread_mutex_unlock(&j->mu);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    ok = MHD_queue_response(c->mc, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    count_status(s, MHD_HTTP_OK);
    c->state = CONN_STREAMING;
    return ok;
}

// ---- generation requests ----

// Fills GenParams from the request and the prompt length; 0 or -1 with *e (400).
static int make_params(HttpServer *s, const OaiRequest *q, int64_t n_prompt, GenParams *p, OaiError *e) {
    int64_t n_ctx = s->backend->n_ctx;
    const char *prompt_field = q->endpoint == OAI_CHAT ? "messages" : "prompt";
    if (n_prompt >= n_ctx)
        return oai_err(e, 400, "invalid_request_error", prompt_field, "context_length_exceeded",
                       "this model's context window is %lld tokens and the prompt has %lld; shorten it",
                       (long long)n_ctx, (long long)n_prompt);
    int64_t room = n_ctx - n_prompt;
    int64_t max = q->max_tokens;
    if (max < 0) max = q->endpoint == OAI_CHAT ? room : (16 < room ? 16 : room);
    if (max > room)
        return oai_err(e, 400, "invalid_request_error", "max_tokens", "context_length_exceeded",
                       "max_tokens (%lld) plus the prompt (%lld tokens) exceeds the context window of %lld tokens; "
                       "lower max_tokens to at most %lld",
                       (long long)max, (long long)n_prompt, (long long)n_ctx, (long long)room);
    *p = (GenParams){.max_tokens = max, .temperature = (float)q->temperature, .top_p = (float)q->top_p,
                     .min_p = (float)q->min_p, .top_k = (int32_t)q->top_k, .seed = q->seed,
                     .logprobs = q->logprobs, .n_top = (int32_t)q->top_logprobs,
                     .ignore_eos = q->ignore_eos};
    if (!q->has_seed) {
        pthread_mutex_lock(&s->mu);
        p->seed = rng_u64(&s->seed_rng);
        pthread_mutex_unlock(&s->mu);
    }
    return 0;
}

static void conn_link(HttpServer *s, Conn *c) {
    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->in_flight, 1);
}

static void conn_unlink(HttpServer *s, Conn *c) {
    pthread_mutex_lock(&s->mu);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_sub(&s->in_flight, 1);
}

// The body is complete: parse, tokenize, check, submit, then wait (suspended) for output.
static enum MHD_Result start_generation(Conn *c) {
    HttpServer *s = c->srv;
    int64_t t_arrival = clock_now_us();
    OaiError e = {0};
    OaiRequest q;
    Arena a;
    arena_init(&a, 16 * 1024);
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    GenParams p;
    enum MHD_Result ok;
    if (oai_req_parse(c->endpoint, c->body.data ? c->body.data : "", c->body.len, &a, &q, &e)) goto refuse;
    if (q.model && strcmp(q.model, s->model_name) != 0) {
        oai_err(&e, 404, "invalid_request_error", "model", "model_not_found",
                "the model '%.100s' does not exist; this server serves '%.100s'", q.model, s->model_name);
        goto refuse;
    }
    if (s->backend->prepare(s->backend->self, &q, &tokens, &n_tokens, &e)) goto refuse;
    if (make_params(s, &q, n_tokens, &p, &e)) goto refuse;
    c->job = gen_job_create(tokens, n_tokens, &p, q.stop, q.n_stop, q.priority, t_arrival);
    if (!c->job) {
        oai_err(&e, 500, "server_error", NULL, NULL, "out of memory");
        goto refuse;
    }
    c->stream = q.stream;
    oai_resp_ctx_init(&c->rctx, c->endpoint, c->job->id, (int64_t)time(NULL), s->model_name, &q);
    c->job->notify = conn_notify;
    c->job->notify_ctx = c;
    if (s->backend->submit(s->backend->self, c->job) != 0) {
        oai_err(&e, 429, "rate_limit_error", NULL, "queue_full",
                "the server's waiting queue is full; retry after %d s", s->cfg.retry_after_s);
        count_reject(s, "queue_full");
        c->job->notify = NULL;
        gen_job_unref(c->job);
        c->job = NULL;
        goto refuse;
    }
    conn_link(s, c);
    free(tokens);
    arena_free(&a);
    c->state = CONN_WAITING;
    return conn_progress(c);
refuse:
    free(tokens);
    arena_free(&a);
    c->state = CONN_ANSWERED;
    if (e.status == 0) oai_err(&e, 500, "server_error", NULL, NULL, "internal error");
    ok = reply_error(s, c->mc, &e, true);
    return ok;
}

// ---- embeddings ----

// The body of a /v1/embeddings POST is complete (or a generation POST reached an embedding
// worker): answer it on this thread; the encoder batches it with whatever else is waiting.
static enum MHD_Result answer_embeddings(Conn *c) {
    HttpServer *s = c->srv;
    OaiError e = {0};
    c->state = CONN_ANSWERED;
    if (!c->is_embed) {
        oai_err(&e, 400, "invalid_request_error", NULL, "wrong_model_kind",
                "this worker serves an embedding model ('%.100s'); it answers POST /v1/embeddings only", s->model_name);
        return reply_error(s, c->mc, &e, true);
    }
    if (!s->cfg.embed) {
        oai_err(&e, 400, "invalid_request_error", NULL, "wrong_model_kind",
                "this worker serves a generation model ('%.100s'); /v1/embeddings needs a worker started on an "
                "embedding model (bert, nomic-bert)", s->model_name);
        return reply_error(s, c->mc, &e, true);
    }
    Buf out = {0};
    atomic_fetch_add(&s->in_flight, 1);
    int rc = embed_service_handle(s->cfg.embed, s->model_name, c->body.data ? c->body.data : "", c->body.len, &out, &e);
    atomic_fetch_sub(&s->in_flight, 1);
    enum MHD_Result ok = rc ? reply_error(s, c->mc, &e, true)
                            : reply(s, c->mc, MHD_HTTP_OK, "application/json", out.data, out.len, NULL, false);
    buf_free(&out);
    return ok;
}

// ---- routing ----

static enum MHD_Result handle_get(HttpServer *s, struct MHD_Connection *mc, const char *url) {
    if (strcmp(url, "/health") == 0) {
        if (atomic_load(&s->draining)) {
            static const char body[] = "{\"status\":\"draining\"}";
            return reply(s, mc, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body, sizeof body - 1, NULL, false);
        }
        static const char body[] = "{\"status\":\"ok\"}";
        return reply(s, mc, MHD_HTTP_OK, "application/json", body, sizeof body - 1, NULL, false);
    }
    if (strcmp(url, "/metrics") == 0) {
        Buf b = {0};
        if (s->metrics) conn_guard_publish(s->guard, s->metrics->conns, s->metrics->conns_closed);
        if (s->metrics && metrics_render(s->metrics->reg, &b)) return MHD_NO;
        enum MHD_Result ok = reply(s, mc, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                                   b.data ? b.data : "", b.len, NULL, false);
        buf_free(&b);
        return ok;
    }
    if (strcmp(url, "/v1/models") == 0) {
        OaiError e;
        if (!authorized(s, mc)) {
            count_reject(s, "unauthorized");
            oai_err(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
                    "missing or wrong API key; send 'Authorization: Bearer <key>'");
            return reply_error(s, mc, &e, false);
        }
        Buf b = {0};
        int64_t n_ctx = s->backend ? s->backend->n_ctx : embed_service_n_ctx(s->cfg.embed);
        if (oai_resp_models(&b, s->model_name, 0, n_ctx)) return MHD_NO;
        enum MHD_Result ok = reply(s, mc, MHD_HTTP_OK, "application/json", b.data, b.len, NULL, false);
        buf_free(&b);
        return ok;
    }
    OaiError e;
    oai_err(&e, 404, "invalid_request_error", NULL, "not_found", "no such endpoint: GET %.200s", url);
    return reply_error(s, mc, &e, false);
}

// Takes n more bytes of the body budget for c; false (and nothing taken) when it is spent.
static bool body_reserve(Conn *c, size_t n) {
    if (!conn_guard_reserve(c->srv->guard, n)) return false;
    c->reserved += n;
    buf_reserve(&c->body, n);   // sized once from Content-Length (no doubling); append retries on failure
    return true;
}

// Frees the body and gives its budget back.
static void body_drop(Conn *c) {
    buf_free(&c->body);
    if (c->reserved) conn_guard_release(c->srv->guard, c->reserved);
    c->reserved = 0;
}

// First call for a POST: decide from the headers whether it will be refused (the body is still
// read, so the connection stays usable for keep-alive clients).
static Conn *conn_begin(HttpServer *s, struct MHD_Connection *mc, const char *url, const char *version) {
    Conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    c->srv = s;
    c->mc = mc;
    if (strcmp(url, "/v1/completions") == 0) c->endpoint = OAI_COMPLETIONS, c->is_generate = true;
    else if (strcmp(url, "/v1/chat/completions") == 0) c->endpoint = OAI_CHAT, c->is_generate = true;
    else if (strcmp(url, "/v1/embeddings") == 0) c->is_embed = true;
    if (!c->is_generate && !c->is_embed) {
        oai_err(&c->early, 404, "invalid_request_error", NULL, "not_found", "no such endpoint: POST %.200s", url);
    } else if (!authorized(s, mc)) {
        oai_err(&c->early, 401, "invalid_request_error", NULL, "invalid_api_key",
                "missing or wrong API key; send 'Authorization: Bearer <key>'");
        c->early_reason = "unauthorized";
    } else if (atomic_load(&s->draining)) {
        oai_err(&c->early, 503, "service_unavailable", NULL, "shutting_down",
                "the server is shutting down and accepts no new requests; retry elsewhere");
        c->early_reason = "draining";
    }
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
    unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
    if (n > s->cfg.max_body_bytes) c->too_large = true;
    else if (n > 0 && !c->early.status && !body_reserve(c, (size_t)n)) c->over_budget = true;
    return c;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    HttpServer *s = cls;
    Conn *c = *con_cls;
    OaiError e;
    if (!c) {
        conn_guard_header_done(s->guard, mc, clock_now_us());
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) return handle_get(s, mc, url);
        if (strcmp(method, "POST") != 0) {
            oai_err(&e, 405, "invalid_request_error", NULL, "method_not_allowed", "method %.16s is not allowed",
                    method);
            return reply_error(s, mc, &e, true);
        }
        c = conn_begin(s, mc, url, version);
        if (!c) return MHD_NO;
        *con_cls = c;
        if (c->too_large) goto too_large;  // refuse before reading a body we would not keep
        if (c->over_budget) goto over_budget;
        return MHD_YES;
    }
    if (c->state == CONN_READING && *upload_size > 0) {
        if (!c->too_large && !c->early.status && !c->over_budget) {
            size_t need = c->body.len + *upload_size;
            if (need > s->cfg.max_body_bytes) c->too_large = true;
            else if (need > c->reserved && !body_reserve(c, need - c->reserved)) c->over_budget = true;
            else if (buf_append(&c->body, upload_data, *upload_size)) return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->state == CONN_READING) {
        conn_guard_body_done(s->guard, mc, clock_now_us());
        if (c->too_large) goto too_large;
        if (c->over_budget) goto over_budget;
        if (c->early.status) {
            c->state = CONN_ANSWERED;
            count_reject(s, c->early_reason);
            return reply_error(s, mc, &c->early, true);
        }
        enum MHD_Result ok = c->is_embed || !s->backend ? answer_embeddings(c) : start_generation(c);
        body_drop(c);   // parsed and tokenized: its memory goes back now, not when the answer ends
        return ok;
    }
    if (c->state == CONN_WAITING) return conn_progress(c);
    return MHD_YES;
too_large:
    c->state = CONN_ANSWERED;
    count_reject(s, "body_too_large");
    oai_err(&e, 413, "invalid_request_error", NULL, "request_too_large",
            "the request body exceeds %zu bytes (--max-body-bytes)", s->cfg.max_body_bytes);
    return reply_error(s, mc, &e, true);
over_budget:
    // Refused before the body is read: a stalled upload must not hold memory it was never given.
    c->state = CONN_ANSWERED;
    count_reject(s, "body_budget");
    oai_err(&e, 503, "service_unavailable", NULL, "server_busy",
            "the server holds its limit of buffered request bodies (%zu bytes); retry after %d s",
            s->cfg.max_buffered_body_bytes, s->cfg.retry_after_s);
    return reply_error(s, mc, &e, true);
}

// MHD is done with a connection's request (answered, or the client went away).
static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe) {
    HttpServer *s = cls;
    Conn *c = *con_cls;
    conn_guard_request_done(s->guard, mc, clock_now_us());   // keep-alive: the next header's deadline starts
    if (!c) return;
    *con_cls = NULL;
    // A request still waiting for its answer when MHD ends it: the client left (MHD saw the
    // hang-up before the engine's wake-up reached conn_progress). nginx's 499, counted once.
    if (c->job && c->state == CONN_WAITING) count_status(s, 499);
    if (c->job) {
        GenJob *j = c->job;
        pthread_mutex_lock(&j->mu);
        j->notify = NULL;  // from here on the engine must not touch this connection
        bool running = j->finish == GEN_RUNNING;
        pthread_mutex_unlock(&j->mu);
        if (running) {
            if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
                LOG_I("client went away from request %llu; freeing its sequence", (unsigned long long)j->id);
            gen_job_cancel(j);
            if (s->backend->wake) s->backend->wake(s->backend->self);
        }
        conn_unlink(s, c);
        gen_job_unref(j);
    }
    body_drop(c);
    buf_free(&c->pending);
    free(c);
}

// ---- the disconnect watcher ----

// MHD does not watch a suspended connection's socket, so a client that hangs up while its request
// waits in the queue (or, unstreamed, while it generates) would hold its sequence to the end.
// Every 50 ms this thread checks the sockets of suspended connections (conn_peer_check: a reset,
// or an end-of-file that a 100-Continue probe shows to be a closed socket); a client that left
// cancels its job, the engine frees its sequence at its next step, and the job's end resumes the
// connection so MHD closes it. A client that only half-closed keeps its request and gets its
// answer. The same thread sweeps the connection deadlines (conn_guard_sweep).
static void *watch_main(void *arg) {
    HttpServer *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop_watch) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        bool woke = false;
        for (Conn *c = s->conns; c && !s->stop_watch; c = c->next) {
            GenJob *j = c->job;
            pthread_mutex_lock(&j->mu);
            if (c->suspended && j->finish == GEN_RUNNING && !gen_job_cancelled(j)) {
                if (conn_peer_check(c->mc, &c->probe, c->state == CONN_STREAMING, c->http11, clock_now_us()) == PEER_GONE) {
                    LOG_I("client of request %llu went away while it waited; freeing its sequence", (unsigned long long)j->id);
                    gen_job_cancel(j);
                    woke = true;
                }
            }
            pthread_mutex_unlock(&j->mu);
        }
        if (woke && s->backend->wake) s->backend->wake(s->backend->self);
        conn_guard_sweep(s->guard, clock_now_us(), atomic_load(&s->draining));
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

// ---- lifecycle ----

// MHD's own messages (a client that hung up, a malformed request line) go to the debug log.
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    if (log_get_level() > LOG_DEBUG) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    LOG_D("http: %s", line);
}

HttpServer *http_server_create(const HttpServerConfig *cfg, GenBackend *backend, ServeMetrics *metrics,
                               char *err, size_t err_len) {
    HttpServer *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    s->backend = backend;
    s->metrics = metrics;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    rng_seed(&s->seed_rng, (uint64_t)clock_wall_us());
    s->model_name = strdup(cfg->model_name);
    s->api_key = cfg->api_key && cfg->api_key[0] ? strdup(cfg->api_key) : NULL;
    if (!s->model_name || (cfg->api_key && cfg->api_key[0] && !s->api_key)) goto fail;
    if (!s->cfg.header_timeout_s) s->cfg.header_timeout_s = 10;
    if (!s->cfg.body_timeout_s) s->cfg.body_timeout_s = 30;
    if (!s->cfg.idle_timeout_s) s->cfg.idle_timeout_s = 120;
    if (!s->cfg.max_buffered_body_bytes) s->cfg.max_buffered_body_bytes = (size_t)64 << 20;
    // Room for every connection the descriptor limit allows, less what the engine and logs need.
    int64_t max_conns = conn_guard_conn_limit(256);
    ConnGuardConfig gc = {.header_timeout_us = (int64_t)s->cfg.header_timeout_s * 1000000,
                          .body_timeout_us = (int64_t)s->cfg.body_timeout_s * 1000000,
                          .idle_timeout_us = (int64_t)s->cfg.idle_timeout_s * 1000000,
                          .max_conns = max_conns - 32,
                          .body_budget_bytes = s->cfg.max_buffered_body_bytes};
    s->guard = conn_guard_create(&gc);
    if (!s->guard) goto fail;
    ListenAddr la;
    char spec[96], why[256];
    snprintf(spec, sizeof spec, strchr(cfg->host, ':') ? "[%s]:%d" : "%s:%d", cfg->host, cfg->port);
    if (listen_addr_parse(spec, &la, why, sizeof why)) {
        err_set(err, err_len, ERR_ARG, "%s", why);
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (la.ipv6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&la.sa,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->n_threads > 0 ? cfg->n_threads : 1),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, s->guard,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conns,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        err_set(err, err_len, ERR_IO, "cannot listen on %s (port in use, or no permission)", spec);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    if (pthread_create(&s->watcher, NULL, watch_main, s) != 0) {
        err_set(err, err_len, ERR_IO, "cannot start the disconnect watcher thread");
        goto fail;
    }
    s->watcher_started = true;
    return s;
fail:
    if (s->daemon) MHD_stop_daemon(s->daemon);
    conn_guard_destroy(s->guard);
    free(s->model_name);
    free(s->api_key);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}

int http_server_port(const HttpServer *s) { return s->port; }

void http_server_set_draining(HttpServer *s, bool draining) { atomic_store(&s->draining, draining); }

int64_t http_server_in_flight(HttpServer *s) { return atomic_load(&s->in_flight); }

void http_server_destroy(HttpServer *s) {
    if (!s) return;
    if (s->watcher_started) {
        pthread_mutex_lock(&s->mu);
        s->stop_watch = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->watcher, NULL);
    }
    // MHD must not be stopped with suspended connections: resume them all first.
    pthread_mutex_lock(&s->mu);
    for (Conn *c = s->conns; c; c = c->next) {
        pthread_mutex_lock(&c->job->mu);
        conn_notify(c);
        pthread_mutex_unlock(&c->job->mu);
    }
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->daemon);
    conn_guard_destroy(s->guard);
    free(s->model_name);
    free(s->api_key);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
