// Tests of src/serve/http_server over real HTTP (libcurl on loopback) with a fake generation
// backend defined here, in the test only: a thread that "generates" the prompt's bytes back one
// token per millisecond. It lets the HTTP layer's contract be checked without a model: status
// codes and OpenAI error shapes, SSE framing, timing headers, 429 when the queue is full,
// 401/404/405/413/503, and that a client hanging up mid-stream cancels its job at once.
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "serve/http_server.h"
#include "test.h"

// ---- the fake backend ----

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    GenJob *jobs[64];
    int n_jobs;
    int capacity;        // submit refuses beyond this many live jobs
    bool stop;
    int n_cancelled;     // jobs ended because their client went away
    int64_t step_us;
    pthread_t thread;
} Fake;

// Prompt "tokens" are the prompt's bytes (chat: the last message's content).
static int fake_prepare(void *self, const OaiRequest *q, int32_t **tokens, int64_t *n, OaiError *e) {
    (void)self;
    const char *text = q->endpoint == OAI_CHAT ? q->messages[q->n_messages - 1].content : q->prompt;
    if (!text) return oai_err(e, 400, "invalid_request_error", "prompt", NULL, "text prompts only");
    size_t len = strlen(text);
    *tokens = malloc((len + 1) * sizeof **tokens);
    for (size_t i = 0; i < len; i++) (*tokens)[i] = (unsigned char)text[i];
    *n = (int64_t)len;
    return 0;
}

static int fake_submit(void *self, GenJob *j) {
    Fake *f = self;
    pthread_mutex_lock(&f->mu);
    int rc = 0;
    if (f->n_jobs >= f->capacity) rc = -6;  // ERR_FULL
    else {
        gen_job_ref(j);
        f->jobs[f->n_jobs++] = j;
        pthread_cond_signal(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static void fake_wake(void *self) {
    Fake *f = self;
    pthread_mutex_lock(&f->mu);
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

// Each step emits the next prompt byte of every job (wrapping), so output = prompt repeated.
static void *fake_main(void *arg) {
    Fake *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        if (f->n_jobs == 0) {
            pthread_cond_wait(&f->cv, &f->mu);
            continue;
        }
        for (int i = 0; i < f->n_jobs; i++) {
            GenJob *j = f->jobs[i];
            int64_t now = clock_now_us();
            int done;
            if (gen_job_cancelled(j)) {
                gen_job_finish(j, GEN_ABORT, NULL, now);
                f->n_cancelled++;
                done = 1;
            } else {
                gen_job_mark_scheduled(j, now);
                char c = (char)j->prompt[j->n_generated % (j->n_prompt ? j->n_prompt : 1)];
                GenAlt alt = {7, -2.0f, "?", 1};
                done = gen_job_push(j, (int32_t)c, &c, 1, -0.25f, &alt, 1, now) != 0;
            }
            if (done) {
                gen_job_unref(j);
                f->jobs[i--] = f->jobs[--f->n_jobs];
            }
        }
        pthread_mutex_unlock(&f->mu);
        clock_sleep_us(f->step_us);
        pthread_mutex_lock(&f->mu);
    }
    for (int i = 0; i < f->n_jobs; i++) {
        gen_job_finish(f->jobs[i], GEN_ABORT, NULL, clock_now_us());
        gen_job_unref(f->jobs[i]);
    }
    f->n_jobs = 0;
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

typedef struct {
    Fake fake;
    GenBackend be;
    ServeMetrics m;
    HttpServer *srv;
    char base[64];
} Rig;

static bool rig_start(Rig *r, const char *api_key, int capacity) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->fake.mu, NULL);
    pthread_cond_init(&r->fake.cv, NULL);
    r->fake.capacity = capacity;
    r->fake.step_us = 1000;
    pthread_create(&r->fake.thread, NULL, fake_main, &r->fake);
    r->be = (GenBackend){.self = &r->fake, .prepare = fake_prepare, .submit = fake_submit, .wake = fake_wake,
                         .n_ctx = 64};
    if (serve_metrics_init(&r->m, "fake", "none")) return false;
    HttpServerConfig cfg = {.host = "127.0.0.1", .port = 0, .model_name = "fake", .api_key = api_key,
                            .max_body_bytes = 4096, .n_threads = 2, .retry_after_s = 3};
    char err[200];
    r->srv = http_server_create(&cfg, &r->be, &r->m, err, sizeof err);
    if (!r->srv) return false;
    snprintf(r->base, sizeof r->base, "http://127.0.0.1:%d", http_server_port(r->srv));
    return true;
}

static void rig_stop(Rig *r) {
    pthread_mutex_lock(&r->fake.mu);
    r->fake.stop = true;
    pthread_cond_signal(&r->fake.cv);
    pthread_mutex_unlock(&r->fake.mu);
    pthread_join(r->fake.thread, NULL);
    http_server_destroy(r->srv);
    serve_metrics_free(&r->m);
}

// ---- a tiny curl client ----

typedef struct {
    long status;
    Buf body, headers;
    size_t abort_after;  // stop reading after this many body bytes (0 = never)
    long timeout_ms;     // give up after this long (0 = 10 s)
} Resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    Resp *r = ud;
    buf_append(&r->body, p, sz * n);
    if (r->abort_after && r->body.len >= r->abort_after) return 0;  // hang up
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    buf_append(&((Resp *)ud)->headers, p, sz * n);
    return sz * n;
}

static void http(Rig *rig, const char *method, const char *path, const char *body, const char *auth, Resp *r) {
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", rig->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth) h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms ? r->timeout_ms : 10000L);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void resp_free(Resp *r) {
    buf_free(&r->body);
    buf_free(&r->headers);
}

// The error object's field, or "" (checks the OpenAI error shape on the way).
static void expect_error(const Resp *r, long status, const char *param, const char *code, int line) {
    cJSON *j = cJSON_Parse(r->body.data ? r->body.data : "");
    cJSON *e = j ? cJSON_GetObjectItem(j, "error") : NULL;
    cJSON *p = e ? cJSON_GetObjectItem(e, "param") : NULL;
    cJSON *c = e ? cJSON_GetObjectItem(e, "code") : NULL;
    bool ok = r->status == status && e && cJSON_IsString(cJSON_GetObjectItem(e, "message")) &&
              cJSON_IsString(cJSON_GetObjectItem(e, "type")) && p && c &&
              (param ? cJSON_IsString(p) && strcmp(p->valuestring, param) == 0 : cJSON_IsNull(p)) &&
              cJSON_IsString(c) && strcmp(c->valuestring, code) == 0;
    if (!ok) test_fail(__FILE__, line, "status %ld (want %ld), body %s", r->status, status, r->body.data);
    cJSON_Delete(j);
}

TEST(http_completion_and_chat_roundtrip) {
    Rig rig;
    ASSERT(rig_start(&rig, NULL, 8));
    Resp r = {0};
    http(&rig, "POST", "/v1/completions", "{\"model\":\"fake\",\"prompt\":\"abc\",\"max_tokens\":5}", NULL, &r);
    EXPECT_EQ_INT(r.status, 200);
    cJSON *j = cJSON_Parse(r.body.data);
    ASSERT(j);
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    EXPECT(strcmp(cJSON_GetObjectItem(ch, "text")->valuestring, "abcab") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "length") == 0);
    EXPECT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "total_tokens")->valueint, 8);
    EXPECT(strstr(r.headers.data, "x-rightsize-queue-ms: ") != NULL);
    EXPECT(strstr(r.headers.data, "x-rightsize-ttft-ms: ") != NULL);
    cJSON_Delete(j);
    resp_free(&r);
    memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v1/chat/completions",
         "{\"messages\":[{\"role\":\"user\",\"content\":\"hey!\"}],\"stop\":\"!\",\"max_tokens\":9}", NULL, &r);
    EXPECT_EQ_INT(r.status, 200);
    j = cJSON_Parse(r.body.data);
    ASSERT(j);
    ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    EXPECT(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "content")->valuestring, "hey") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "stop") == 0);
    cJSON_Delete(j);
    resp_free(&r);
    EXPECT_NEAR(metric_value(rig.m.requests, "200"), 2, 0);
    rig_stop(&rig);
}

TEST(http_stream_sse) {
    Rig rig;
    ASSERT(rig_start(&rig, NULL, 8));
    Resp r = {0};
    http(&rig, "POST", "/v1/completions",
         "{\"prompt\":\"xy\",\"max_tokens\":6,\"stream\":true,\"logprobs\":1,\"stream_options\":{\"include_usage\":true}}",
         NULL, &r);
    EXPECT_EQ_INT(r.status, 200);
    EXPECT(strstr(r.headers.data, "text/event-stream") != NULL);
    // Reassemble the text from the events; the last two must be usage and [DONE].
    Buf text = {0};
    int n_events = 0, n_lp = 0;
    bool saw_usage = false, saw_done = false, saw_finish = false;
    char *save = NULL;
    for (char *ev = strtok_r(r.body.data, "\n", &save); ev; ev = strtok_r(NULL, "\n", &save)) {
        ASSERT(strncmp(ev, "data: ", 6) == 0);
        n_events++;
        if (strcmp(ev + 6, "[DONE]") == 0) {
            saw_done = true;
            continue;
        }
        cJSON *j = cJSON_Parse(ev + 6);
        ASSERT(j);
        cJSON *choices = cJSON_GetObjectItem(j, "choices");
        if (cJSON_GetArraySize(choices) == 0) {
            saw_usage = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint == 6;
        } else {
            cJSON *ch = cJSON_GetArrayItem(choices, 0);
            buf_append_str(&text, cJSON_GetObjectItem(ch, "text")->valuestring);
            cJSON *lp = cJSON_GetObjectItem(ch, "logprobs");
            if (cJSON_IsObject(lp)) n_lp += cJSON_GetArraySize(cJSON_GetObjectItem(lp, "tokens"));
            if (cJSON_IsString(cJSON_GetObjectItem(ch, "finish_reason"))) saw_finish = true;
        }
        cJSON_Delete(j);
    }
    EXPECT(text.data && strcmp(text.data, "xyxyxy") == 0);
    EXPECT_EQ_INT(n_lp, 6);
    EXPECT(saw_usage && saw_done && saw_finish && n_events >= 4);
    buf_free(&text);
    resp_free(&r);
    rig_stop(&rig);
}

TEST(http_refusals_in_openai_shape) {
    Rig rig;
    ASSERT(rig_start(&rig, "sekret", 0));  // capacity 0: every valid request finds the queue full
    const char *auth = "Authorization: Bearer sekret";
    Resp r = {0};
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"a\"}", NULL, &r);
    expect_error(&r, 401, NULL, "invalid_api_key", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"a\"}", "Authorization: Bearer sekreT", &r);
    expect_error(&r, 401, NULL, "invalid_api_key", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "GET", "/v1/models", NULL, NULL, &r);
    expect_error(&r, 401, NULL, "invalid_api_key", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"a\"}", auth, &r);
    expect_error(&r, 429, NULL, "queue_full", __LINE__);
    EXPECT(strstr(r.headers.data, "Retry-After: 3") != NULL);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"a\",\"model\":\"gpt-9\"}", auth, &r);
    expect_error(&r, 404, "model", "model_not_found", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"a\",\"top_p\":7}", auth, &r);
    expect_error(&r, 400, "top_p", "invalid_value", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v1/completions", "{\"prompt\":", auth, &r);
    expect_error(&r, 400, NULL, "invalid_json", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    // Context window is 64 "tokens" (bytes) in the fake.
    char big[200];
    snprintf(big, sizeof big, "{\"prompt\":\"%070d\"}", 0);
    http(&rig, "POST", "/v1/completions", big, auth, &r);
    expect_error(&r, 400, "prompt", "context_length_exceeded", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"abc\",\"max_tokens\":62}", auth, &r);
    expect_error(&r, 400, "max_tokens", "context_length_exceeded", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    char *huge = malloc(6000);
    memset(huge, ' ', 5999);
    huge[5999] = 0;
    memcpy(huge, "{\"prompt\":\"a\"}", 14);
    http(&rig, "POST", "/v1/completions", huge, auth, &r);
    expect_error(&r, 413, NULL, "request_too_large", __LINE__);
    free(huge);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "POST", "/v2/nothing", "{}", auth, &r);
    expect_error(&r, 404, NULL, "not_found", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "DELETE", "/v1/models", NULL, auth, &r);
    expect_error(&r, 405, NULL, "method_not_allowed", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http_server_set_draining(rig.srv, true);
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"a\"}", auth, &r);
    expect_error(&r, 503, NULL, "shutting_down", __LINE__);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "GET", "/health", NULL, NULL, &r);
    EXPECT_EQ_INT(r.status, 503);
    resp_free(&r), memset(&r, 0, sizeof r);
    EXPECT_NEAR(metric_value(rig.m.rejected, "unauthorized"), 3, 0);
    EXPECT_NEAR(metric_value(rig.m.rejected, "queue_full"), 1, 0);
    EXPECT_NEAR(metric_value(rig.m.rejected, "body_too_large"), 1, 0);
    EXPECT_NEAR(metric_value(rig.m.rejected, "draining"), 1, 0);
    EXPECT_NEAR(metric_value(rig.m.requests, "400"), 4, 0);
    rig_stop(&rig);
}

TEST(http_health_models_metrics) {
    Rig rig;
    ASSERT(rig_start(&rig, NULL, 8));
    Resp r = {0};
    http(&rig, "GET", "/health", NULL, NULL, &r);
    EXPECT(r.status == 200 && strcmp(r.body.data, "{\"status\":\"ok\"}") == 0);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "GET", "/v1/models", NULL, NULL, &r);
    cJSON *j = cJSON_Parse(r.body.data);
    ASSERT(j);
    cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
    EXPECT(strcmp(cJSON_GetObjectItem(m0, "id")->valuestring, "fake") == 0);
    EXPECT_EQ_INT(cJSON_GetObjectItem(m0, "max_model_len")->valueint, 64);
    cJSON_Delete(j);
    resp_free(&r), memset(&r, 0, sizeof r);
    http(&rig, "GET", "/metrics", NULL, NULL, &r);
    EXPECT(r.status == 200 && strstr(r.body.data, "# TYPE rightsize_time_to_first_token_seconds histogram") != NULL);
    EXPECT(strstr(r.headers.data, "text/plain; version=0.0.4") != NULL);
    resp_free(&r);
    rig_stop(&rig);
}

TEST(http_disconnect_cancels_job) {
    Rig rig;
    ASSERT(rig_start(&rig, NULL, 8));
    rig.fake.step_us = 5000;
    Resp r = {.abort_after = 1};  // hang up on the first streamed bytes
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"slow\",\"max_tokens\":60,\"stream\":true}", NULL, &r);
    // The fake sees the cancel within a few steps: well before its 60 tokens (300 ms) run out.
    int64_t t0 = clock_now_us();
    int cancelled = 0;
    while (clock_now_us() - t0 < 2000000) {
        pthread_mutex_lock(&rig.fake.mu);
        cancelled = rig.fake.n_cancelled;
        int live = rig.fake.n_jobs;
        pthread_mutex_unlock(&rig.fake.mu);
        if (cancelled && !live) break;
        clock_sleep_us(2000);
    }
    EXPECT_EQ_INT(cancelled, 1);
    EXPECT_EQ_INT(http_server_in_flight(rig.srv), 0);
    resp_free(&r);
    rig_stop(&rig);
}

// An unstreamed request's connection is suspended until the answer is whole; MHD does not watch
// it then, so the server's watcher must notice the client leaving and cancel the job.
TEST(http_disconnect_while_waiting_cancels_job) {
    Rig rig;
    ASSERT(rig_start(&rig, NULL, 8));
    rig.fake.step_us = 5000;
    Resp r = {.timeout_ms = 100};
    http(&rig, "POST", "/v1/completions", "{\"prompt\":\"slow\",\"max_tokens\":60}", NULL, &r);
    EXPECT(r.status == 0);  // curl gave up: no answer yet (60 tokens take 300 ms)
    int64_t t0 = clock_now_us();
    int cancelled = 0;
    while (clock_now_us() - t0 < 2000000) {
        pthread_mutex_lock(&rig.fake.mu);
        cancelled = rig.fake.n_cancelled;
        pthread_mutex_unlock(&rig.fake.mu);
        if (cancelled) break;
        clock_sleep_us(2000);
    }
    // The fake counts a cancel only when it sees the flag before its 60 tokens are out, so a
    // disconnect noticed only at the end (when the answer is written) would leave this at 0.
    EXPECT_EQ_INT(cancelled, 1);
    resp_free(&r);
    rig_stop(&rig);
}
