// The event loop: epoll over curl's sockets plus one timerfd for the next scheduled send.
//
//   loop: send every request that is due (open loop) → arm the timerfd for the next one →
//         epoll_wait(until curl's timeout or the next progress tick) → hand ready sockets to
//         curl_multi_socket_action → collect finished transfers (closed loop: send the next).
//
// Requests live in Slots (an easy handle, its body, an SSE parser, its ITL gaps); a Slot is taken
// at send and returned at completion, so after warm-up the hot path reuses memory.
//
// Slots are sharded over several curl multi handles, LG_SHARD_SLOTS slots each, all on the one
// epoll set. libcurl 7.x walks every connection of a multi's pool when a transfer is removed and
// when it looks for a connection to reuse, so one multi with thousands of streams costs O(streams)
// per request; shards keep that walk at most LG_SHARD_SLOTS long.
#include "bench/loadgen.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "bench/oai_chunk.h"
#include "bench/sse_parser.h"

enum { LG_MAX_JSON_BODY = 1 << 20, LG_EVENTS = 512, LG_SHARD_SLOTS = 256 };

// epoll_event.data.u64 of the send timer; sockets carry (shard << 32) | fd.
#define LG_TIMER_TAG UINT64_MAX

static const char *const OUTCOME_NAMES[LG_N_OUTCOMES] = {
    [LG_OK] = "ok",
    [LG_ERR_429] = "http_429",
    [LG_ERR_4XX] = "http_4xx",
    [LG_ERR_5XX] = "http_5xx",
    [LG_ERR_TIMEOUT] = "timeout",
    [LG_ERR_CONNECTION] = "connection",
    [LG_ERR_PROTOCOL] = "protocol",
    [LG_ERR_OTHER] = "other",
    [LG_NOT_SENT] = "not_sent",
};

const char *lg_outcome_name(LgOutcome o) { return (unsigned)o < LG_N_OUTCOMES ? OUTCOME_NAMES[o] : "?"; }

typedef struct Lg Lg;

typedef struct {
    Lg *lg;
    CURLM *multi;
    uint32_t idx;
    int64_t deadline_us;  // curl's next timeout, absolute; -1 none
} Shard;

typedef struct {
    Lg *lg;
    Shard *shard;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *id_header;  // node of headers whose text is rewritten per request
    Buf body;                      // request JSON
    Buf raw;                       // non-streamed (application/json) response body
    SseParser sse;
    Samples itl;                   // this request's ITL gaps
    int64_t req;                   // index into the result's records
    int64_t now_us;                // arrival time of the bytes being parsed (µs after t0)
    int64_t last_chunk_us;
    bool json_body, saw_done, finished, bad_stream, stream_error, status_read;
    char errbuf[CURL_ERROR_SIZE];
} Slot;

struct Lg {
    const LgConfig *cfg;
    LgResult *res;
    Shard *shards;        // ceil(max_in_flight / LG_SHARD_SLOTS); slot i belongs to shard i / LG_SHARD_SLOTS
    int64_t n_shards;
    int epfd, tfd;
    Slot *slots;          // max_in_flight of them, created lazily
    int64_t n_created;
    int64_t *free_ids;    // stack of idle slot indices
    int64_t n_free;
    int64_t next;         // next record to send
    int64_t mark_upto;    // records below this index were checked for delayed_by_cap
    int64_t in_flight, done, errors;
    int64_t t0;
    bool stopping;
    Rng rng;
    char url[2048];
};

static int64_t lg_now(const Lg *lg) { return clock_now_us() - lg->t0; }

// ---- curl callbacks ----

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    Shard *sh = userp;
    Lg *lg = sh->lg;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(lg->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.u64 = ((uint64_t)sh->idx << 32) | (uint32_t)fd};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(lg->epfd, op, fd, &ev) != 0) {
        // curl may close and reopen a descriptor number between calls; try the other operation.
        op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(lg->epfd, op, fd, &ev) != 0) return -1;
    }
    if (!socketp) curl_multi_assign(sh->multi, fd, sh);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    Shard *sh = userp;
    sh->deadline_us = timeout_ms < 0 ? -1 : clock_now_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

static void read_status(Slot *s) {
    if (s->status_read) return;
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    s->lg->res->rec[s->req].http_status = (int32_t)code;
    s->status_read = true;
}

// The number after a header's name (klen bytes, the colon included) in p[0..n): false unless it
// parses and lies in [0, 1e9).
static bool header_num(const char *p, size_t n, size_t klen, double *v) {
    char tmp[64];
    size_t vn = n - klen;
    if (vn >= sizeof tmp) vn = sizeof tmp - 1;
    memcpy(tmp, p + klen, vn);
    tmp[vn] = 0;
    char *end;
    *v = strtod(tmp, &end);
    return end != tmp && *v >= 0 && *v < 1e9;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
    Slot *s = ud;
    size_t n = size * nmemb;
    LgRecord *r = &s->lg->res->rec[s->req];
    static const char cost[] = "x-rightsize-cost-usd:", ctype[] = "content-type:", ttft[] = "x-rightsize-ttft-ms:";
    double num;
    if (n > sizeof ttft - 1 && strncasecmp(p, ttft, sizeof ttft - 1) == 0) {
        if (header_num(p, n, sizeof ttft - 1, &num)) r->server_ttft_us = llround(num * 1000);
    } else if (n > sizeof cost - 1 && strncasecmp(p, cost, sizeof cost - 1) == 0) {
        if (header_num(p, n, sizeof cost - 1, &num)) {
            r->cost_usd = num;
            r->cost_seen = true;
        }
    } else if (n > sizeof ctype - 1 && strncasecmp(p, ctype, sizeof ctype - 1) == 0) {
        const char *v = p + sizeof ctype - 1;
        size_t vn = n - (sizeof ctype - 1);
        while (vn && (*v == ' ' || *v == '\t')) { v++; vn--; }
        s->json_body = vn >= 16 && strncasecmp(v, "application/json", 16) == 0;
    }
    return n;
}

static int on_event(void *ctx, Str data) {
    Slot *s = ctx;
    LgRecord *r = &s->lg->res->rec[s->req];
    if (str_eq_c(data, "[DONE]")) {
        s->saw_done = true;
        return 0;
    }
    OaiChunk ci;
    if (oai_chunk_scan(data, &ci)) return ERR_FORMAT;
    if (ci.has_error) s->stream_error = true;
    if (ci.content_bytes > 0) {
        if (r->content_chunks == 0) r->ttft_us = s->now_us - r->sched_us;
        else if (samples_add(&s->itl, s->now_us - s->last_chunk_us)) return ERR_NOMEM;
        s->last_chunk_us = s->now_us;
        r->content_chunks++;
    }
    if (ci.has_usage) {
        r->usage_seen = true;
        r->output_tokens = ci.completion_tokens;
    }
    if (ci.prompt_tokens >= 0) r->prompt_tokens = ci.prompt_tokens;
    if (ci.finished) s->finished = true;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    Slot *s = ud;
    size_t n = size * nmemb;
    read_status(s);
    if (s->lg->res->rec[s->req].http_status != 200) return n;  // drain error bodies
    s->now_us = lg_now(s->lg);
    if (s->json_body) {
        if (s->raw.len + n > LG_MAX_JSON_BODY || buf_append(&s->raw, p, n)) {
            s->bad_stream = true;
            return 0;
        }
        return n;
    }
    if (sse_parser_feed(&s->sse, p, n) != 0) {
        s->bad_stream = true;
        return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
    return n;
}

// ---- slots ----

static int slot_create(Lg *lg, Slot *s, int64_t id) {
    const LgConfig *cfg = lg->cfg;
    *s = (Slot){.lg = lg, .shard = &lg->shards[id / LG_SHARD_SLOTS]};
    sse_parser_init(&s->sse, 0, on_event, s);
    s->easy = curl_easy_init();
    if (!s->easy) return ERR_NOMEM;
    char auth[1024];
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (s->headers) s->headers = curl_slist_append(s->headers, "Accept: text/event-stream");
    if (s->headers) s->headers = curl_slist_append(s->headers, "Expect:");
    if (s->headers && cfg->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->api_key);
        s->headers = curl_slist_append(s->headers, auth);
    }
    if (s->headers) s->headers = curl_slist_append(s->headers, "x-request-id: rs-bench-000000000000");
    if (!s->headers) return ERR_NOMEM;
    for (s->id_header = s->headers; s->id_header->next;) s->id_header = s->id_header->next;
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, lg->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_us / 1000));
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    return 0;
}

static void slot_destroy(Slot *s) {
    if (s->easy) curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    buf_free(&s->body);
    buf_free(&s->raw);
    sse_parser_free(&s->sse);
    samples_free(&s->itl);
}

// Builds the request JSON for record i into s->body.
static int build_body(Lg *lg, Slot *s, const LgRecord *r) {
    const LgConfig *cfg = lg->cfg;
    Buf *b = &s->body;
    buf_clear(b);
    int rc = buf_append_str(b, "{\"model\":\"");
    if (!rc) rc = promptgen_append_escaped(b, cfg->model);
    if (cfg->api == LG_API_EMBEDDINGS) {
        if (!rc) rc = buf_append_str(b, "\",\"input\":\"");
        if (!rc) rc = promptgen_append_json(cfg->prompts, r->input_tokens, &lg->rng, b);
        if (!rc) rc = buf_append_str(b, "\"}");
        return rc;
    }
    if (!rc) rc = buf_printf(b, "\",\"max_tokens\":%d,\"stream\":true,"
                                "\"stream_options\":{\"include_usage\":true},%s",
                             (int)r->max_tokens, cfg->ignore_eos ? "\"ignore_eos\":true," : "");
    if (!rc) rc = buf_append_str(b, cfg->api == LG_API_CHAT
                                        ? "\"messages\":[{\"role\":\"user\",\"content\":\""
                                        : "\"prompt\":\"");
    if (!rc) rc = promptgen_append_json(cfg->prompts, r->input_tokens, &lg->rng, b);
    if (!rc) rc = buf_append_str(b, cfg->api == LG_API_CHAT ? "\"}]}" : "\"}");
    return rc;
}

// Sends record i now. 0, or a negative Err (the record is then marked LG_ERR_OTHER).
static int lg_send(Lg *lg, int64_t i) {
    LgRecord *r = &lg->res->rec[i];
    int64_t id;
    if (lg->n_free > 0) {
        id = lg->free_ids[--lg->n_free];
    } else {
        CHECK(lg->n_created < lg->cfg->max_in_flight);
        id = lg->n_created;
        int rc = slot_create(lg, &lg->slots[id], id);
        if (rc) {  // the slot is not kept; the request fails without being sent
            slot_destroy(&lg->slots[id]);
            lg->slots[id] = (Slot){0};
            r->sent_us = lg_now(lg);
            r->outcome = LG_ERR_OTHER;
            lg->done++;
            lg->errors++;
            return rc;
        }
        lg->n_created++;
    }
    Slot *s = &lg->slots[id];
    s->req = i;
    s->json_body = s->saw_done = s->finished = s->bad_stream = s->stream_error = false;
    s->status_read = false;
    s->errbuf[0] = 0;
    buf_clear(&s->raw);
    sse_parser_reset(&s->sse);
    samples_clear(&s->itl);
    int rc = build_body(lg, s, r);
    if (rc) goto fail;
    // Same length as the placeholder, so the header node is rewritten in place.
    snprintf(s->id_header->data, strlen(s->id_header->data) + 1, "x-request-id: rs-bench-%012lld",
             (long long)(i % 1000000000000LL));
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body.data);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body.len);
    r->sent_us = lg_now(lg);
    if (!lg->cfg->schedule) r->sched_us = r->sent_us;
    if (curl_multi_add_handle(s->shard->multi, s->easy) != CURLM_OK) { rc = ERR_IO; goto fail; }
    lg->in_flight++;
    if (lg->in_flight > lg->res->max_in_flight_seen) lg->res->max_in_flight_seen = lg->in_flight;
    return 0;
fail:
    r->outcome = LG_ERR_OTHER;
    lg->free_ids[lg->n_free++] = id;
    lg->done++;
    lg->errors++;
    return rc;
}

static LgOutcome classify(const Slot *s, CURLcode cc, long status) {
    switch (cc) {
    case CURLE_OK: break;
    case CURLE_OPERATION_TIMEDOUT: return LG_ERR_TIMEOUT;
    case CURLE_WRITE_ERROR: return LG_ERR_PROTOCOL;  // our parser refused the stream
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR: return LG_ERR_CONNECTION;
    default: return status >= 200 && status < 300 ? LG_ERR_CONNECTION : LG_ERR_OTHER;
    }
    if (status == 429) return LG_ERR_429;
    if (status >= 400 && status < 500) return LG_ERR_4XX;
    if (status >= 500 && status < 600) return LG_ERR_5XX;
    if (status != 200) return LG_ERR_OTHER;
    if (s->bad_stream || s->stream_error) return LG_ERR_PROTOCOL;
    return LG_OK;
}

// A transfer finished: classify, keep its samples, free its slot.
static void lg_complete(Lg *lg, CURL *easy, CURLcode cc) {
    Slot *s = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
    CHECK(s);
    LgRecord *r = &lg->res->rec[s->req];
    int64_t now = lg_now(lg);
    read_status(s);
    long status = r->http_status;
    r->e2e_us = now - r->sched_us;
    if (cc == CURLE_OK && status == 200 && s->json_body) {
        // The server ignored "stream": one JSON body; the first token time is the whole time.
        OaiChunk ci;
        if (oai_chunk_scan((Str){s->raw.data ? s->raw.data : "", s->raw.len}, &ci) != 0) {
            s->bad_stream = true;
        } else {
            s->finished = true;
            s->stream_error = ci.has_error;
            r->content_chunks = ci.content_bytes > 0;
            r->ttft_us = r->e2e_us;
            if (ci.has_usage) { r->usage_seen = true; r->output_tokens = ci.completion_tokens; }
            if (ci.prompt_tokens >= 0) r->prompt_tokens = ci.prompt_tokens;
        }
    } else if (cc == CURLE_OK && status == 200) {
        if (sse_parser_finish(&s->sse) && !s->saw_done && !s->finished) s->bad_stream = true;
        if (!s->saw_done && !s->finished && !r->usage_seen) s->bad_stream = true;  // truncated
    }
    r->outcome = (uint8_t)classify(s, cc, status);
    if (!r->usage_seen) r->output_tokens = r->content_chunks;
    if (r->outcome == LG_OK) {
        samples_add_all(&lg->res->itl_us, &s->itl);  // on ERR_NOMEM this request's gaps are lost
    } else {
        lg->errors++;
    }
    if (now > lg->res->end_us) lg->res->end_us = now;
    curl_multi_remove_handle(s->shard->multi, easy);
    lg->free_ids[lg->n_free++] = s - lg->slots;
    lg->in_flight--;
    lg->done++;
}

static void drain_finished(Lg *lg, Shard *sh) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(sh->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        lg_complete(lg, m->easy_handle, m->data.result);
    }
}

// Closed loop: keep cfg.concurrency requests open while any remain (a failed send frees its
// worker at once, so this also moves past requests that could not be sent).
static void refill_closed(Lg *lg) {
    while (!lg->stopping && lg->next < lg->res->n && lg->in_flight < lg->cfg->concurrency)
        lg_send(lg, lg->next++);
}

// ---- the loop ----

// Open loop: send everything due; mark what the in-flight bound holds back; arm the timer.
static void send_due(Lg *lg) {
    const ArrivalSchedule *sch = lg->cfg->schedule;
    int64_t now = lg_now(lg);
    while (!lg->stopping && lg->next < lg->res->n && sch->a[lg->next].t_us <= now &&
           lg->in_flight < lg->cfg->max_in_flight)
        lg_send(lg, lg->next++);
    if (lg->mark_upto < lg->next) lg->mark_upto = lg->next;
    while (lg->mark_upto < lg->res->n && sch->a[lg->mark_upto].t_us <= now)
        lg->res->rec[lg->mark_upto++].delayed_by_cap = true;
    struct itimerspec its = {0};
    if (!lg->stopping && lg->next < lg->res->n && lg->in_flight < lg->cfg->max_in_flight) {
        int64_t at = lg->t0 + sch->a[lg->next].t_us;
        its.it_value.tv_sec = at / 1000000;
        its.it_value.tv_nsec = (at % 1000000) * 1000;
    }
    timerfd_settime(lg->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int lg_setup(Lg *lg, char *err, size_t err_len) {
    const LgConfig *cfg = lg->cfg;
    size_t ul = strlen(cfg->url);
    const char *suffix = cfg->api == LG_API_CHAT ? "/chat/completions" : cfg->api == LG_API_EMBEDDINGS ? "/embeddings" : "/completions";
    if ((ul >= 11 && strcmp(cfg->url + ul - 11, "completions") == 0) || (ul >= 10 && strcmp(cfg->url + ul - 10, "embeddings") == 0))
        suffix = "";
    while (ul > 0 && cfg->url[ul - 1] == '/' && suffix[0]) ul--;
    if (ul + strlen(suffix) + 1 > sizeof lg->url)
        return err_set(err, err_len, ERR_ARG, "URL is too long (%zu bytes)", ul);
    snprintf(lg->url, sizeof lg->url, "%.*s%s", (int)ul, cfg->url, suffix);
    lg->epfd = epoll_create1(EPOLL_CLOEXEC);
    lg->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (lg->epfd < 0 || lg->tfd < 0)
        return err_set(err, err_len, ERR_IO, "epoll/timerfd: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LG_TIMER_TAG};
    if (epoll_ctl(lg->epfd, EPOLL_CTL_ADD, lg->tfd, &ev) != 0)
        return err_set(err, err_len, ERR_IO, "epoll_ctl: %s", strerror(errno));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(err, err_len, ERR_IO, "curl_global_init failed");
    lg->slots = calloc((size_t)cfg->max_in_flight, sizeof(Slot));
    lg->free_ids = calloc((size_t)cfg->max_in_flight, sizeof(int64_t));
    lg->n_shards = (cfg->max_in_flight + LG_SHARD_SLOTS - 1) / LG_SHARD_SLOTS;
    lg->shards = calloc((size_t)lg->n_shards, sizeof(Shard));
    if (!lg->slots || !lg->free_ids || !lg->shards) return ERR_NOMEM;
    for (int64_t i = 0; i < lg->n_shards; i++) {
        Shard *sh = &lg->shards[i];
        *sh = (Shard){.lg = lg, .multi = curl_multi_init(), .idx = (uint32_t)i, .deadline_us = -1};
        if (!sh->multi) return ERR_NOMEM;
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, (long)LG_SHARD_SLOTS);
    }
    return 0;
}

static int lg_validate(const LgConfig *c, char *err, size_t err_len) {
    if (!c->url || !c->model || !c->prompts || c->prompts->n_words <= 0)
        return err_set(err, err_len, ERR_ARG, "url, model and prompts are required");
    if (c->max_in_flight < 1 || c->max_in_flight > 100000)
        return err_set(err, err_len, ERR_ARG, "max in flight must be in 1..100000");
    if (c->timeout_us < 1000) return err_set(err, err_len, ERR_ARG, "timeout must be at least 1 ms");
    if (!c->schedule && (c->concurrency < 1 || c->concurrency > c->max_in_flight || c->n_requests < 1))
        return err_set(err, err_len, ERR_ARG,
                       "closed loop needs concurrency in 1..max_in_flight and at least 1 request");
    return 0;
}

static void report_progress(Lg *lg, int64_t *last_done) {
    if (!lg->cfg->on_progress) return;
    LgProgress p = {.elapsed_us = lg_now(lg), .total = lg->res->n, .sent = lg->next,
                    .done = lg->done, .in_flight = lg->in_flight, .errors = lg->errors,
                    .rps_last_s = (double)(lg->done - *last_done)};
    *last_done = lg->done;
    lg->cfg->on_progress(lg->cfg->progress_ctx, &p);
}

static int records_init(const LgConfig *cfg, LgResult *out) {
    out->n = cfg->schedule ? cfg->schedule->n : cfg->n_requests;
    out->rec = calloc((size_t)(out->n ? out->n : 1), sizeof(LgRecord));
    if (!out->rec) return ERR_NOMEM;
    for (int64_t i = 0; i < out->n; i++) {
        const Arrival *a = cfg->schedule ? &cfg->schedule->a[i] : NULL;
        out->rec[i] = (LgRecord){.sched_us = a ? a->t_us : -1, .sent_us = -1, .ttft_us = -1, .e2e_us = -1, .server_ttft_us = -1,
                                 .prompt_tokens = -1, .outcome = LG_NOT_SENT,
                                 .input_tokens = a ? a->input_tokens : cfg->input_tokens,
                                 .max_tokens = a ? a->output_tokens : cfg->output_tokens};
    }
    return 0;
}

// One turn of the loop: wait until a socket is ready, the send timer fires, curl's timeout or
// wake_abs (absolute µs) passes; hand what is ready to curl. 0 or ERR_IO.
static int lg_poll(Lg *lg, int64_t wake_abs) {
    struct epoll_event evs[LG_EVENTS];
    int64_t now_abs = clock_now_us();
    for (int64_t i = 0; i < lg->n_shards; i++) {
        int64_t d = lg->shards[i].deadline_us;
        if (d >= 0 && d < wake_abs) wake_abs = d;
    }
    int timeout_ms = wake_abs <= now_abs ? 0 : (int)((wake_abs - now_abs + 999) / 1000);
    int n = epoll_wait(lg->epfd, evs, LG_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR) return ERR_IO;
    int running;
    for (int k = 0; k < n; k++) {
        if (evs[k].data.u64 == LG_TIMER_TAG) {  // the send timer: send_due runs next turn
            uint64_t ticks;
            ssize_t rd = read(lg->tfd, &ticks, sizeof ticks);
            (void)rd;
            continue;
        }
        Shard *sh = &lg->shards[evs[k].data.u64 >> 32];
        int fd = (int)(uint32_t)evs[k].data.u64;
        uint32_t e = evs[k].events;
        int flags = ((e & EPOLLIN) ? CURL_CSELECT_IN : 0) | ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                    ((e & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(sh->multi, fd, flags, &running);
    }
    now_abs = clock_now_us();
    for (int64_t i = 0; i < lg->n_shards; i++) {
        Shard *sh = &lg->shards[i];
        if (sh->deadline_us >= 0 && now_abs >= sh->deadline_us) {
            sh->deadline_us = -1;
            curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        drain_finished(lg, sh);
    }
    return 0;
}

static void lg_teardown(Lg *lg) {
    for (int64_t i = 0; i < lg->n_created; i++) {
        Slot *s = &lg->slots[i];
        if (s->easy) curl_multi_remove_handle(s->shard->multi, s->easy);
        slot_destroy(s);
    }
    for (int64_t i = 0; i < lg->n_shards; i++)
        if (lg->shards[i].multi) curl_multi_cleanup(lg->shards[i].multi);
    free(lg->shards);
    if (lg->epfd >= 0) close(lg->epfd);
    if (lg->tfd >= 0) close(lg->tfd);
    free(lg->slots);
    free(lg->free_ids);
}

int lg_run(const LgConfig *cfg, LgResult *out, char *err, size_t err_len) {
    *out = (LgResult){0};
    Lg lg = {.cfg = cfg, .res = out, .epfd = -1, .tfd = -1};
    int rc = lg_validate(cfg, err, err_len);
    if (rc) return rc;
    rng_seed(&lg.rng, cfg->seed);
    rc = records_init(cfg, out);
    if (!rc) rc = lg_setup(&lg, err, err_len);
    if (rc) goto done;
    lg.t0 = out->t0_mono_us = clock_now_us();
    int64_t next_tick = 1000000, last_done = 0;
    for (;;) {
        if (cfg->stop && *cfg->stop && !lg.stopping) lg.stopping = out->stopped = true;
        if (cfg->schedule) send_due(&lg);
        else refill_closed(&lg);
        if ((lg.next >= out->n || lg.stopping) && lg.in_flight == 0) break;
        if (lg_poll(&lg, lg.t0 + next_tick)) {
            rc = err_set(err, err_len, ERR_IO, "epoll_wait: %s", strerror(errno));
            goto done;
        }
        if (lg_now(&lg) >= next_tick) {
            report_progress(&lg, &last_done);
            next_tick += 1000000;
        }
    }
    report_progress(&lg, &last_done);
done:
    lg_teardown(&lg);
    return rc;
}

void lg_result_free(LgResult *r) {
    if (!r) return;
    free(r->rec);
    samples_free(&r->itl_us);
    *r = (LgResult){0};
}
