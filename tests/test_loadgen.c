// Tests of src/bench: SSE framing (every split point of a stream gives the same events), the
// OpenAI chunk reader (paths, escapes, malformed input), exact percentiles (golden values from
// numpy.percentile, method "linear"), the Poisson schedule (closed-form moments), prompt building
// (round trip through cJSON), and the load generator against a port where nothing listens.
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "bench/oai_chunk.h"
#include "bench/loadgen.h"
#include "bench/promptgen.h"
#include "bench/bench_report.h"
#include "bench/arrivals.h"
#include "bench/sse_parser.h"
#include "bench/samples.h"
#include "test.h"

// ---- SSE ----

typedef struct {
    char ev[16][256];
    int n;
} Events;

static int collect(void *ctx, Str data) {
    Events *e = ctx;
    if (e->n < 16) str_to_c(data, e->ev[e->n], sizeof e->ev[0]);
    e->n++;
    return 0;
}

static const char SSE_STREAM[] =
    ": keep-alive\r\n"
    "event: message\r\n"
    "data: {\"a\":1}\r\n"
    "\r\n"
    "data:first\n"
    "data: second\n"
    "id: 7\n"
    "\n"
    "data: cr-only\r\r"
    "retry: 10\n\n"         // an event with no data is not dispatched
    "data\n\n"              // a bare "data" field is an empty data line
    "data: [DONE]\n\n"
    "data: unterminated";

static void check_events(const Events *e) {
    EXPECT_EQ_INT(e->n, 5);
    EXPECT(strcmp(e->ev[0], "{\"a\":1}") == 0);
    EXPECT(strcmp(e->ev[1], "first\nsecond") == 0);
    EXPECT(strcmp(e->ev[2], "cr-only") == 0);
    EXPECT(strcmp(e->ev[3], "") == 0);
    EXPECT(strcmp(e->ev[4], "[DONE]") == 0);
}

TEST(sse_parser_whole_stream) {
    Events e = {0};
    SseParser p;
    sse_parser_init(&p, 0, collect, &e);
    EXPECT_EQ_INT(sse_parser_feed(&p, SSE_STREAM, sizeof SSE_STREAM - 1), 0);
    check_events(&e);
    EXPECT_EQ_INT(sse_parser_finish(&p), 1);  // "data: unterminated" was pending
    sse_parser_free(&p);
}

TEST(sse_parser_every_split_point) {
    size_t n = sizeof SSE_STREAM - 1;
    for (size_t cut1 = 0; cut1 <= n; cut1++) {
        for (size_t cut2 = cut1; cut2 <= n; cut2 += 7) {
            Events e = {0};
            SseParser p;
            sse_parser_init(&p, 0, collect, &e);
            EXPECT_EQ_INT(sse_parser_feed(&p, SSE_STREAM, cut1), 0);
            EXPECT_EQ_INT(sse_parser_feed(&p, SSE_STREAM + cut1, cut2 - cut1), 0);
            EXPECT_EQ_INT(sse_parser_feed(&p, SSE_STREAM + cut2, n - cut2), 0);
            check_events(&e);
            sse_parser_free(&p);
            if (e.n != 5) return;  // one failure message is enough
        }
    }
    // Byte by byte.
    Events e = {0};
    SseParser p;
    sse_parser_init(&p, 0, collect, &e);
    for (size_t i = 0; i < n; i++) EXPECT_EQ_INT(sse_parser_feed(&p, SSE_STREAM + i, 1), 0);
    check_events(&e);
    sse_parser_free(&p);
}

TEST(sse_parser_bounds_and_callback_stop) {
    Events e = {0};
    SseParser p;
    sse_parser_init(&p, 16, collect, &e);
    const char big[] = "data: 0123456789abcdefXYZ\n\n";
    EXPECT_EQ_INT(sse_parser_feed(&p, big, sizeof big - 1), ERR_RANGE);
    sse_parser_reset(&p);
    // Split so that the over-long line is carried between feeds.
    EXPECT_EQ_INT(sse_parser_feed(&p, big, 10), 0);
    EXPECT_EQ_INT(sse_parser_feed(&p, big + 10, sizeof big - 11), ERR_RANGE);
    sse_parser_free(&p);
    sse_parser_free(&p);  // no-op on a zeroed parser
}

// ---- chunk reader ----

static OaiChunk scan(const char *s, int *rc) {
    OaiChunk ci;
    *rc = oai_chunk_scan(str_from_c(s), &ci);
    return ci;
}

TEST(oai_chunk_reads_openai_paths) {
    int rc;
    OaiChunk c = scan("{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                       "\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\\\"lo\"},\"finish_reason\":null}]}", &rc);
    EXPECT_EQ_INT(rc, 0);
    EXPECT_EQ_INT(c.content_bytes, 7);
    EXPECT(!c.finished && !c.has_usage && !c.has_error);
    EXPECT_EQ_INT(c.prompt_tokens, -1);

    c = scan("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
             "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":345,\"total_tokens\":357}}", &rc);
    EXPECT_EQ_INT(rc, 0);
    EXPECT_EQ_INT(c.content_bytes, 0);
    EXPECT(c.finished && c.has_usage);
    EXPECT_EQ_INT(c.completion_tokens, 345);
    EXPECT_EQ_INT(c.prompt_tokens, 12);

    c = scan("{\"choices\":[{\"text\":\" the\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}", &rc);
    EXPECT_EQ_INT(rc, 0);
    EXPECT_EQ_INT(c.content_bytes, 4);

    c = scan("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"abc\"},\"finish_reason\":\"length\"}],"
             "\"usage\":{\"completion_tokens\":3}}", &rc);
    EXPECT_EQ_INT(rc, 0);
    EXPECT(c.content_bytes == 3 && c.finished && c.has_usage && c.completion_tokens == 3);

    // Text that looks like keys, and a second choice, are not read as such.
    c = scan("{\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":{\\\"completion_tokens\\\":9}\"}},"
             "{\"delta\":{\"content\":\"second\"},\"finish_reason\":\"stop\"}],"
             "\"x\":{\"usage\":{\"completion_tokens\":5}}}", &rc);
    EXPECT_EQ_INT(rc, 0);
    EXPECT(!c.has_usage && !c.finished);
    EXPECT_EQ_INT(c.content_bytes, 35);  // escaped bytes of the first choice only

    c = scan("{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\","
             "\"arguments\":\"{\\\"a\\\"\"}}]}}]}", &rc);
    EXPECT_EQ_INT(rc, 0);
    EXPECT_EQ_INT(c.content_bytes, 6);  // the 6 escaped bytes of {\"a\" — not the name

    c = scan("{\"error\":{\"message\":\"overloaded\",\"code\":503}}", &rc);
    EXPECT(rc == 0 && c.has_error);
    c = scan("{\"error\":null,\"choices\":[]}", &rc);
    EXPECT(rc == 0 && !c.has_error);
    c = scan(" {\"usage\":{\"completion_tokens\":1.5e3,\"prompt_tokens\":-2}} ", &rc);
    EXPECT(rc == 0 && !c.has_usage && c.prompt_tokens == -1);
}

TEST(oai_chunk_rejects_malformed) {
    const char *bad[] = {
        "", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":\"x}", "{\"a\":tru}",
        "{\"a\":01x}", "{\"a\":1} x", "{\"a\":\"\\q\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\x01\"}",
        "{\"a\":[1,]}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":1e}", "{1:2}",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int rc;
        scan(bad[i], &rc);
        if (rc != ERR_FORMAT) test_fail(__FILE__, __LINE__, "accepted malformed %s", bad[i]);
    }
    // Nesting: 64 levels below the root object are refused, 60 accepted.
    char deep[512];
    for (int depth = 60; depth <= 70; depth += 10) {
        size_t k = 0;
        deep[k++] = '{';
        deep[k++] = '"'; deep[k++] = 'a'; deep[k++] = '"'; deep[k++] = ':';
        for (int i = 0; i < depth; i++) deep[k++] = '[';
        for (int i = 0; i < depth; i++) deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = 0;
        int rc;
        scan(deep, &rc);
        EXPECT_EQ_INT(rc, depth == 60 ? 0 : ERR_FORMAT);
    }
}

// ---- percentiles ----

TEST(samples_quantiles_match_numpy) {
    Samples s;
    samples_init(&s);
    for (int i = 1; i <= 37; i++) EXPECT_EQ_INT(samples_add(&s, (i * 7919) % 1000 - 300), 0);
    // numpy.percentile(v, [0,50,90,95,99,100]) with v = [(i*7919)%1000-300 for i in 1..37].
    SamplesSummary r = samples_summary(&s);
    EXPECT_EQ_INT(r.n, 37);
    EXPECT_NEAR(r.min, -297.0, 1e-9);
    EXPECT_NEAR(r.p50, 189.0, 1e-9);
    EXPECT_NEAR(r.p90, 577.2, 1e-9);
    EXPECT_NEAR(r.p95, 624.6, 1e-9);
    EXPECT_NEAR(r.p99, 664.92, 1e-9);
    EXPECT_NEAR(r.max, 675.0, 1e-9);
    EXPECT_NEAR(r.mean, 188.02702702702703, 1e-9);
    samples_free(&s);

    samples_add(&s, 5);
    EXPECT_NEAR(samples_quantile(&s, 0.5), 5.0, 0);
    samples_add(&s, 1);
    samples_add(&s, 4);
    samples_add(&s, 3);  // re-sorts after new samples
    EXPECT_NEAR(samples_quantile(&s, 0.5), 3.5, 1e-12);
    samples_free(&s);
    EXPECT_NEAR(samples_summary(&s).p99, 0, 0);  // empty
}

TEST(samples_reservoir_past_the_limit) {
    // 100000 samples 0..99999 into a 1000-sample reservoir: n, mean, min, max stay exact; the
    // quantiles are those of a uniform random subset, within 5 standard errors of the rank
    // (sqrt(q(1-q)/1000)·1e5 ≈ 1581 at the median, 949 at p90).
    Samples s;
    samples_init(&s);
    s.limit = 1000;
    for (int64_t i = 0; i < 100000; i++) ASSERT(samples_add(&s, i) == 0);
    EXPECT_EQ_INT(s.n, 1000);
    SamplesSummary r = samples_summary(&s);
    EXPECT_EQ_INT(r.n, 100000);
    EXPECT_NEAR(r.mean, 49999.5, 1e-6);
    EXPECT_NEAR(r.min, 0, 0);
    EXPECT_NEAR(r.max, 99999, 0);
    EXPECT_NEAR(r.p50, 50000, 5 * 1581);
    EXPECT_NEAR(r.p90, 90000, 5 * 949);
    EXPECT_NEAR(r.p99, 99000, 5 * 315);
    // Later samples get in too: a second half of large values moves the median up.
    for (int64_t i = 0; i < 100000; i++) ASSERT(samples_add(&s, 1000000 + i) == 0);
    EXPECT(samples_quantile(&s, 0.5) > 90000);
    EXPECT(samples_quantile(&s, 0.25) < 100000);
    samples_clear(&s);
    EXPECT_EQ_INT(samples_summary(&s).n, 0);
    samples_free(&s);
}

// ---- schedule ----

TEST(arrivals_poisson_moments) {
    ArrivalSchedule s;
    arrivals_init(&s);
    Rng rng;
    rng_seed(&rng, 42);
    const double rate = 1000, dur = 100;
    ASSERT(arrivals_poisson(&s, rate, dur, 10, 20, 1000000, &rng) == 0);
    // Count ~ Poisson(100000): within 5 standard deviations (sqrt(1e5) = 316).
    EXPECT(fabs((double)s.n - rate * dur) < 5 * sqrt(rate * dur));
    double sum = 0, sum2 = 0;
    int64_t below_median = 0;
    for (int64_t i = 1; i < s.n; i++) {
        double g = (double)(s.a[i].t_us - s.a[i - 1].t_us);
        EXPECT(g >= 0);
        sum += g;
        sum2 += g * g;
        below_median += g < 1000 * log(2.0);  // exponential median = mean·ln 2
    }
    double n = (double)(s.n - 1), mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    EXPECT_NEAR(mean, 1000, 10);           // 1/rate in µs (sd of mean ≈ 3.2)
    EXPECT_NEAR(sd / mean, 1.0, 0.02);     // exponential: CV = 1
    EXPECT_NEAR(below_median / n, 0.5, 0.01);
    EXPECT(s.a[0].input_tokens == 10 && s.a[0].output_tokens == 20);
    EXPECT(s.a[s.n - 1].t_us < (int64_t)(dur * 1e6));
    EXPECT_EQ_INT(arrivals_poisson(&s, 0, 1, 1, 1, 10, &rng), ERR_ARG);
    EXPECT_EQ_INT(arrivals_poisson(&s, 1e6, 1e3, 1, 1, 1000, &rng), ERR_ARG);
    EXPECT_EQ_INT(arrivals_add(&s, 0, 1, 1), ERR_ARG);  // out of order
    arrivals_free(&s);
}

// ---- prompts ----

TEST(promptgen_builtin_word_count_and_json) {
    PromptGen p;
    ASSERT(promptgen_init_builtin(&p) == 0);
    Rng rng;
    rng_seed(&rng, 3);
    Buf b = {0};
    buf_append_str(&b, "\"");
    ASSERT(promptgen_append_json(&p, 500, &rng, &b) == 0);
    buf_append_str(&b, "\"");
    cJSON *j = cJSON_Parse(b.data);
    ASSERT(j && cJSON_IsString(j));
    int words = 1;
    for (const char *c = j->valuestring; *c; c++) words += *c == ' ';
    EXPECT_EQ_INT(words, 500);
    cJSON_Delete(j);
    buf_free(&b);
    promptgen_free(&p);
}

TEST(promptgen_file_escapes_and_cycles) {
    char path[512];
    snprintf(path, sizeof path, "%s/prompt.txt", test_tmpdir());
    FILE *f = fopen(path, "wb");
    ASSERT(f);
    fputs("say \"hi\"\n back\\slash\ttab\x01", f);
    fclose(f);
    PromptGen p;
    char err[256];
    ASSERT(promptgen_init_file(&p, path, err, sizeof err) == 0);
    EXPECT_EQ_INT(p.n_words, 4);
    Rng rng;
    rng_seed(&rng, 9);
    Buf b = {0};
    buf_append_str(&b, "\"");
    ASSERT(promptgen_append_json(&p, 9, &rng, &b) == 0);
    buf_append_str(&b, "\"");
    cJSON *j = cJSON_Parse(b.data);
    ASSERT(j && cJSON_IsString(j));
    // Nine words, cyclic in file order from some start: each word is followed by its successor.
    const char *w[] = {"say", "\"hi\"", "back\\slash", "tab\x01"};
    char *save, *tok = strtok_r(j->valuestring, " ", &save);
    int prev = -1, count = 0;
    while (tok) {
        int k = -1;
        for (int i = 0; i < 4; i++) if (strcmp(tok, w[i]) == 0) k = i;
        EXPECT(k >= 0);
        if (prev >= 0) EXPECT_EQ_INT(k, (prev + 1) % 4);
        prev = k;
        count++;
        tok = strtok_r(NULL, " ", &save);
    }
    EXPECT_EQ_INT(count, 9);
    cJSON_Delete(j);
    buf_free(&b);
    promptgen_free(&p);
    EXPECT_EQ_INT(promptgen_init_file(&p, "/nonexistent/x", err, sizeof err), ERR_IO);
}

// ---- load generator without a server ----

TEST(loadgen_refused_port_counts_connection_errors) {
    PromptGen p;
    ASSERT(promptgen_init_builtin(&p) == 0);
    LgConfig cfg = {.url = "http://127.0.0.1:1/v1", .model = "m", .concurrency = 3, .n_requests = 10,
                    .input_tokens = 4, .output_tokens = 4, .max_in_flight = 3, .timeout_us = 2000000,
                    .prompts = &p};
    LgResult r;
    char err[256];
    ASSERT(lg_run(&cfg, &r, err, sizeof err) == 0);
    EXPECT_EQ_INT(r.n, 10);
    int conn = 0;
    for (int64_t i = 0; i < r.n; i++) conn += r.rec[i].outcome == LG_ERR_CONNECTION;
    EXPECT_EQ_INT(conn, 10);
    EXPECT(r.max_in_flight_seen <= 3);
    lg_result_free(&r);
    cfg.max_in_flight = 0;
    EXPECT_EQ_INT(lg_run(&cfg, &r, err, sizeof err), ERR_ARG);
    lg_result_free(&r);
    promptgen_free(&p);
}

// ---- report ----

TEST(bench_report_from_known_records) {
    // Five requests with hand-made outcomes; every expected figure below is worked out by hand
    // (percentiles by the type-7 rule: h = q·(n−1)).
    LgRecord rec[5] = {
        {.sched_us = 0, .sent_us = 100, .ttft_us = 10000, .e2e_us = 50000, .output_tokens = 5,
         .prompt_tokens = 20, .input_tokens = 8, .outcome = LG_OK, .usage_seen = true, .cost_seen = true,
         .cost_usd = 0.5},
        {.sched_us = 1000, .sent_us = 1000, .ttft_us = 30000, .e2e_us = 90000, .output_tokens = 1,
         .prompt_tokens = -1, .input_tokens = 8, .outcome = LG_OK},
        {.sched_us = 2000, .sent_us = 2050, .ttft_us = -1, .e2e_us = 3000, .prompt_tokens = -1,
         .outcome = LG_ERR_429},
        {.sched_us = 3000, .sent_us = 3300, .ttft_us = 20000, .e2e_us = 60000, .output_tokens = 5,
         .prompt_tokens = -1, .input_tokens = 16, .outcome = LG_OK},
        {.sched_us = 4000, .sent_us = -1, .ttft_us = -1, .e2e_us = -1, .prompt_tokens = -1, .outcome = LG_NOT_SENT},
    };
    LgResult res = {.rec = rec, .n = 5, .end_us = 100000, .max_in_flight_seen = 3};
    const int64_t itl[] = {10000, 10000, 10000, 10000, 5000};
    for (size_t i = 0; i < ARRAY_LEN(itl); i++) samples_add(&res.itl_us, itl[i]);
    BenchParams p = {.url = "u", .endpoint = "chat", .model = "m", .mode = "open", .rate_rps = 50, .duration_s = 0.1,
                     .slo_ttft_ms = 25, .slo_e2e_ms = 55, .slo_ttft_p95_ms = 29, .slo_e2e_p99_ms = 89};
    BenchSummary s;
    ASSERT(bench_report_summarize(&res, &p, &s) == 0);
    EXPECT_EQ_INT(s.scheduled, 5);
    EXPECT_EQ_INT(s.sent, 4);
    EXPECT_EQ_INT(s.completed, 4);
    EXPECT_EQ_INT(s.ok, 3);
    EXPECT_EQ_INT(s.errors_total, 1);
    EXPECT_EQ_INT(s.errors[LG_ERR_429], 1);
    EXPECT_NEAR(s.duration_s, 0.1, 1e-12);
    EXPECT_NEAR(s.rps, 30, 1e-9);
    EXPECT_NEAR(s.output_tps, 110, 1e-9);       // 5 + 1 + 5 tokens
    EXPECT_NEAR(s.input_tps, 440, 1e-9);        // usage 20, then requested 8 and 16
    EXPECT_EQ_INT(s.good, 1);                   // only request 0 is within 25 ms TTFT and 55 ms e2e
    EXPECT_NEAR(s.goodput_rps, 10, 1e-9);
    EXPECT_NEAR(s.good_fraction, 0.25, 1e-12);  // of 4 sent
    EXPECT_NEAR(s.cost_usd, 0.5, 0);
    EXPECT_EQ_INT(s.requests_with_cost, 1);
    EXPECT_NEAR(s.ttft_ms.p50, 20, 1e-9);       // {10, 20, 30}
    EXPECT_NEAR(s.ttft_ms.p90, 28, 1e-9);
    EXPECT_NEAR(s.ttft_ms.p95, 29, 1e-9);
    EXPECT_NEAR(s.e2e_ms.p50, 60, 1e-9);        // {50, 60, 90}
    EXPECT_NEAR(s.e2e_ms.p99, 89.4, 1e-9);
    EXPECT_EQ_INT(s.tpot_ms.n, 2);              // request 1 has one token: no TPOT
    EXPECT_NEAR(s.tpot_ms.mean, 10, 1e-9);      // (50−10)/4 and (60−20)/4
    EXPECT_NEAR(s.send_lag_ms.p50, 0.075, 1e-9);  // {0, 0.05, 0.1, 0.3}
    EXPECT_NEAR(s.send_lag_ms.max, 0.3, 1e-9);
    EXPECT_NEAR(s.itl_ms.p50, 10, 1e-9);
    EXPECT_NEAR(s.itl_ms.min, 5, 1e-9);
    ASSERT(s.n_slo == 2);
    EXPECT(strcmp(s.slo[0].metric, "ttft") == 0 && s.slo[0].met);        // 29 <= 29
    EXPECT(strcmp(s.slo[1].metric, "e2e") == 0 && !s.slo[1].met);        // 89.4 > 89
    EXPECT(!s.slo_met);

    Buf text = {0}, json = {0};
    ASSERT(bench_report_text(&p, &s, &text) == 0 && bench_report_json(&p, &s, &json) == 0);
    EXPECT(strstr(text.data, "errors: http_429 1\n") != NULL);
    EXPECT(strstr(text.data, "slo: e2e p99 89.40 ms <= 89.00 ms: MISSED") != NULL);
    cJSON *j = cJSON_Parse(json.data);
    ASSERT(j);
    EXPECT_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "throughput"), "output_tokens_per_s")->valuedouble, 110, 1e-9);
    EXPECT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "errors"), "http_429")->valueint, 1);
    EXPECT(cJSON_IsFalse(cJSON_GetObjectItem(j, "slo_met")));
    cJSON_Delete(j);
    buf_free(&text);
    buf_free(&json);
    samples_free(&res.itl_us);
}
