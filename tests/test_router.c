// test_router.c — the gateway's pure policies (router, cascade, canary) and the pipeline config
// loader's validation. Truths: closed forms (exp of the mean logprob), binomial bounds for the
// seeded split, hand-built windows for the guards, hand-written configs with known error lines.
#include <math.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>

#include "policy/canary.h"
#include "policy/cascade.h"
#include "policy/dispatch.h"
#include "policy/router.h"
#include "serve/pipeline.h"
#include "test.h"

// ---- cascade ----

TEST(cascade_confidence_closed_form) {
    double lp[] = {-0.1, -0.5, -2.0, -0.05};
    EXPECT_NEAR(cascade_confidence(lp, 4, CASCADE_MEAN), exp((-0.1 - 0.5 - 2.0 - 0.05) / 4), 1e-12);
    EXPECT_NEAR(cascade_confidence(lp, 4, CASCADE_MIN), exp(-2.0), 1e-12);
    EXPECT_NEAR(cascade_confidence(lp, 0, CASCADE_MEAN), 0.0, 0);   // no tokens: no evidence
    double bad[] = {NAN, 0.3, -INFINITY};
    EXPECT_NEAR(cascade_confidence(bad, 2, CASCADE_MEAN), 1.0, 1e-12);   // clamped to 0 nats
    EXPECT_NEAR(cascade_confidence(bad, 3, CASCADE_MIN), 0.0, 0);
    EXPECT(cascade_escalate(0.59, 0.60));
    EXPECT(!cascade_escalate(0.60, 0.60));
    EXPECT(!cascade_escalate(0.0, 0.0));
}

// ---- router ----

static const char *hdr(void *ctx, const char *name) {
    const char **kv = ctx;
    for (int i = 0; kv[i]; i += 2)
        if (strcasecmp(kv[i], name) == 0) return kv[i + 1];
    return NULL;
}

// The escalation rule, case by case: 4xx never, 5xx per the route, 200 under the threshold.
TEST(cascade_decide_never_reasks_a_4xx) {
    EXPECT(!cascade_decide(400, 0.0, 0.5, true));
    EXPECT(!cascade_decide(404, 0.0, 0.5, true));
    EXPECT(!cascade_decide(429, 0.0, 0.5, true));
    EXPECT(cascade_decide(500, 0.9, 0.5, true));
    EXPECT(cascade_decide(503, 0.9, 0.5, true));
    EXPECT(!cascade_decide(500, 0.0, 0.5, false));
    EXPECT(cascade_decide(200, 0.49, 0.5, false));
    EXPECT(!cascade_decide(200, 0.5, 0.5, true));
    EXPECT(!cascade_decide(200, 0.0, 0.0, true));
}

// Replica choice and queue admission, against hand-worked cases.
TEST(dispatch_picks_least_loaded_ready_and_bounds_the_queue) {
    DispatchSlot s[4] = {{.ready = true, .load = 2, .cap = 4}, {.ready = false, .load = 0, .cap = 4},
                         {.ready = true, .load = 1, .cap = 4}, {.ready = true, .load = 1, .cap = 4}};
    EXPECT_EQ_INT(dispatch_pick(s, 4), 2);      // least loaded ready; the tie goes to the lower index
    s[2].cap = 1;                                // full
    EXPECT_EQ_INT(dispatch_pick(s, 4), 3);
    s[3].ready = false;
    EXPECT_EQ_INT(dispatch_pick(s, 4), 0);
    s[0].load = 4;
    EXPECT_EQ_INT(dispatch_pick(s, 4), -1);     // nobody has room
    EXPECT_EQ_INT(dispatch_pick(s, 0), -1);
    EXPECT(dispatch_admit(0, 1, false));
    EXPECT(!dispatch_admit(1, 1, false));        // full queue, no replica: 429
    EXPECT(dispatch_admit(1, 1, true));          // a replica takes it at once
    EXPECT(!dispatch_admit(0, 0, false));
}

TEST(router_first_matching_rule_wins) {
    RouteRule r[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) r[i].max_prompt_chars = -1, r[i].canary = -1, r[i].tier = i;
    r[0].endpoint = RT_EP_EMBEDDINGS;
    r[1].endpoint = RT_EP_CHAT, strcpy(r[1].header, "x-tenant"), strcpy(r[1].header_value, "gold");
    r[2].max_prompt_chars = 100, strcpy(r[2].model, "small");
    r[3].kind = ROUTE_CASCADE, r[3].first = 1, r[3].then = 3, r[3].min_confidence = 0.5;
    const char *gold[] = {"X-Tenant", "gold", NULL}, *none[] = {NULL};
    RouteInput in = {.endpoint = RT_EP_CHAT, .header = hdr, .header_ctx = gold};
    EXPECT_EQ_INT(router_match(r, 4, &in), 1);
    in.header_ctx = none;
    EXPECT_EQ_INT(router_match(r, 4, &in), 3);             // no header → falls through to the catch-all
    in.model = "small", in.prompt_chars = 100;
    EXPECT_EQ_INT(router_match(r, 4, &in), 2);
    in.prompt_chars = 101;
    EXPECT_EQ_INT(router_match(r, 4, &in), 3);             // too long for rule 2
    in.endpoint = RT_EP_EMBEDDINGS;
    EXPECT_EQ_INT(router_match(r, 4, &in), 0);
    RouteDecision d = router_decide(r, 4, NULL, NULL, &(RouteInput){.endpoint = RT_EP_COMPLETIONS}, NULL);
    EXPECT_EQ_INT(d.kind, DECISION_CASCADE);
    EXPECT_EQ_INT(d.tier, 1);
    EXPECT_EQ_INT(d.then, 3);
    EXPECT_EQ_INT(router_match(r, 2, &(RouteInput){.endpoint = RT_EP_COMPLETIONS}), -1);
}

TEST(router_canary_split_is_binomial) {
    RouteRule r = {.endpoint = RT_EP_ANY, .max_prompt_chars = -1, .kind = ROUTE_TIER, .tier = 0, .canary = 0};
    Canary c;
    CanaryGuards g = {.error_rate = 1, .window_us = 1000000, .min_samples = 10};
    canary_init(&c, 5, 0, &g);
    int cand_of[1] = {7};
    Rng rng;
    rng_seed(&rng, 42);
    int n = 100000, k = 0;
    for (int i = 0; i < n; i++) {
        RouteDecision d = router_decide(&r, 1, &c, cand_of, &(RouteInput){.endpoint = RT_EP_CHAT}, &rng);
        if (d.candidate) {
            k++;
            EXPECT_EQ_INT(d.tier, 7);
            EXPECT_EQ_INT(d.kind, DECISION_CANARY);
        }
    }
    double sd = sqrt(n * 0.05 * 0.95);
    EXPECT(fabs(k - n * 0.05) < 4.5 * sd);
    canary_set_weight(&c, 0);
    for (int i = 0; i < 1000; i++)
        EXPECT(!router_decide(&r, 1, &c, cand_of, &(RouteInput){.endpoint = RT_EP_CHAT}, &rng).candidate);
}

// ---- canary guards ----

TEST(canary_latency_guard_uses_nearest_rank_p95_in_window) {
    CanaryGuards g = {.p95_ms = 100, .error_rate = 1, .window_us = 10000000, .min_samples = 20};
    Canary c;
    canary_init(&c, 10, 0, &g);
    // 20 answers: 18 at 50 ms, 2 at 500 ms → nearest-rank p95 = 19th of 20 sorted = 500 ms.
    for (int i = 0; i < 19; i++) {
        canary_record(&c, i * 1000, (i < 18 ? 50 : 500) * 1000, false);
        EXPECT_EQ_INT(canary_check(&c, i * 1000), CANARY_OK);   // under min_samples
    }
    canary_record(&c, 19000, 50 * 1000, false);   // now 19 at 50, 1 at 500: p95 = 50 ms
    EXPECT_EQ_INT(canary_check(&c, 19000), CANARY_OK);
    canary_record(&c, 20000, 500 * 1000, false);  // 21 samples, 2 at 500: rank ceil(19.95)=20 → 500
    EXPECT_EQ_INT(canary_check(&c, 20000), CANARY_ROLLBACK_LATENCY);
    EXPECT(c.rolled_back && c.weight_percent == 0 && strstr(c.reason, "p95"));
    EXPECT_EQ_INT(canary_check(&c, 21000), CANARY_OK);   // stays rolled back quietly
    canary_set_weight(&c, 10);
    EXPECT(!c.rolled_back && c.lat_n == 0);
}

TEST(canary_window_expires_old_samples) {
    CanaryGuards g = {.error_rate = 0.1, .window_us = 1000, .min_samples = 10};
    Canary c;
    canary_init(&c, 50, 0, &g);
    for (int i = 0; i < 10; i++) canary_record(&c, 0, 10, true);          // all errors, long ago
    for (int i = 0; i < 10; i++) canary_record(&c, 5000, 10, false);      // fresh and fine
    EXPECT_EQ_INT(canary_check(&c, 5500), CANARY_OK);
    for (int i = 0; i < 2; i++) canary_record(&c, 5600, 10, true);        // 2/12 = 0.167 > 0.1
    EXPECT_EQ_INT(canary_check(&c, 5700), CANARY_ROLLBACK_ERRORS);
}

TEST(canary_agreement_guard_and_measure) {
    EXPECT_NEAR(canary_agreement("abcd", "abcd"), 1.0, 0);
    EXPECT_NEAR(canary_agreement("", ""), 1.0, 0);
    EXPECT_NEAR(canary_agreement("abXd", "abcd"), 0.5, 1e-12);
    EXPECT_NEAR(canary_agreement("ab", "abcd"), 0.5, 1e-12);
    EXPECT_NEAR(canary_agreement("x", ""), 0.0, 0);
    CanaryGuards g = {.min_agreement = 0.9, .error_rate = 1, .window_us = 1000000, .min_samples = 8};
    Canary c;
    canary_init(&c, 10, 100, &g);
    for (int i = 0; i < 8; i++) canary_record(&c, i, 1000, false);
    canary_record_agreement(&c, 10, 1.0);
    canary_record_agreement(&c, 11, 0.5);
    EXPECT_EQ_INT(canary_check(&c, 12), CANARY_OK);   // 2 pairs < the 3 needed
    canary_record_agreement(&c, 13, 0.6);
    EXPECT_EQ_INT(canary_check(&c, 14), CANARY_ROLLBACK_AGREEMENT);
}

// ---- pipeline config ----

static const char GOOD[] =
    "listen: 127.0.0.1:9000\n"
    "slo: {ttft_p95_ms: 800, e2e_p99_ms: 8000}\n"
    "tiers:\n"
    "  - name: student\n"
    "    url: http://127.0.0.1:8001\n"
    "    model: s\n"
    "    cost_per_hour: 0.085\n"
    "    replicas: {min: 1, max: 3}\n"
    "  - {name: teacher, url: \"http://127.0.0.1:8002/v1/\", model: t, cost_per_hour: 0.805}\n"
    "  - {name: student-q4, url: \"http://127.0.0.1:8003/v1\", model: s4}\n"
    "  - {name: embedder, url: \"http://127.0.0.1:8004/v1\", model: e,\n"
    "     batching: {max_batch_size: 32, max_queue_delay_microseconds: 2000}}\n"
    "routes:\n"
    "  - match: {endpoint: embeddings}\n"
    "    tier: embedder\n"
    "  - name: vip\n"
    "    match: {endpoint: chat, header: {name: x-tier, value: big}}\n"
    "    tier: teacher\n"
    "  - match: {endpoint: chat}\n"
    "    cascade: {first: student, then: teacher, min_confidence: 0.60, confidence: min}\n"
    "canary:\n"
    "  - {route: chat, baseline: student, candidate: student-q4, weight_percent: 5,\n"
    "     rollback: {p95_ms: 900, error_rate: 0.01, min_agreement: 0.90}}\n"
    "autoscaling: {metric: num_requests_in_flight, target_per_replica: 4,\n"
    "              upscale_delay_s: 10, downscale_delay_s: 120, warm_pool: 1}\n"
    "limits: {max_queue: 256, max_body_bytes: 1048576, max_tokens: 2048, request_timeout_s: 60}\n";

TEST(pipeline_loads_the_design_example) {
    Pipeline p;
    char err[600];
    int rc = pipeline_load_buf(&p, "p.yaml", GOOD, strlen(GOOD), true, err, sizeof err);
    if (rc) printf("%s\n", err);
    ASSERT(rc == 0);
    EXPECT_EQ_INT(p.n_tiers, 4);
    EXPECT(strcmp(p.tiers[0].url, "http://127.0.0.1:8001/v1") == 0);
    EXPECT(strcmp(p.tiers[1].url, "http://127.0.0.1:8002/v1") == 0);
    EXPECT_EQ_INT(p.tiers[0].max_replicas, 3);
    EXPECT(p.tiers[3].batching && p.tiers[3].batch.max_batch_size == 32 && p.tiers[3].batch.max_queue_delay_us == 2000);
    EXPECT_EQ_INT(p.n_routes, 3);
    EXPECT(strcmp(p.routes[1].name, "vip") == 0 && strcmp(p.routes[2].name, "chat") == 0);
    EXPECT(strcmp(p.routes[1].header, "x-tier") == 0 && strcmp(p.routes[1].header_value, "big") == 0);
    EXPECT(p.routes[2].kind == ROUTE_CASCADE && p.routes[2].first == 0 && p.routes[2].then == 1);
    EXPECT(p.routes[2].mode == CASCADE_MIN && p.routes[2].min_confidence == 0.60);
    EXPECT_EQ_INT(p.n_canaries, 1);
    EXPECT_EQ_INT(p.canaries[0].route, 2);
    EXPECT_EQ_INT(p.routes[2].canary, 0);
    EXPECT_EQ_INT(p.canaries[0].candidate, 2);
    EXPECT_NEAR(p.canaries[0].guards.p95_ms, 900, 0);
    EXPECT(p.has_autoscaling && p.autoscale.target_per_replica == 4 && p.autoscale.upscale_delay_us == 10000000);
    EXPECT_EQ_INT(p.max_tokens, 2048);
    EXPECT(strcmp(p.listen.host, "127.0.0.1") == 0 && p.listen.port == 9000 && !p.listen.ipv6);
}

// Replaces the first occurrence of from in GOOD by to; loads; expects an error naming line and text.
static void expect_error(const char *from, const char *to, const char *want) {
    char text[4096];
    const char *at = strstr(GOOD, from);
    ASSERT(at != NULL);
    size_t pre = (size_t)(at - GOOD);
    snprintf(text, sizeof text, "%.*s%s%s", (int)pre, GOOD, to, at + strlen(from));
    Pipeline p;
    char err[600] = "";
    int rc = pipeline_load_buf(&p, "p.yaml", text, strlen(text), true, err, sizeof err);
    if (rc == 0 || !strstr(err, want)) test_fail(__FILE__, __LINE__, "'%s' → '%s': got rc %d '%s', want '%s'", from, to, rc, err, want);
}

TEST(pipeline_errors_name_line_and_key) {
    expect_error("then: teacher", "then: teachr",
                 "p.yaml:20: key 'routes[2].cascade.then': unknown tier 'teachr' (tiers: student, teacher, student-q4, embedder)");
    expect_error("tier: embedder", "tier: nobody", "p.yaml:15: key 'routes[0].tier': unknown tier 'nobody'");
    expect_error("route: chat", "route: chatt", "key 'canary[0].route': unknown route 'chatt' (routes: embeddings, vip, chat)");
    expect_error("baseline: student", "baseline: teacher", "route 'chat' sends to 'student' first, not 'teacher'");
    expect_error("candidate: student-q4", "candidate: student", "the candidate must differ");
    expect_error("min_confidence: 0.60", "min_confidence: 1.5", "p.yaml:20: key 'routes[2].cascade.min_confidence': 1.5 is out of range [0, 1]");
    expect_error("weight_percent: 5", "weight_percent: 101", "out of range [0, 100]");
    expect_error("listen: 127.0.0.1:9000", "listen: nowhere", "p.yaml:1: key 'listen': listen address 'nowhere': expected HOST:PORT");
    expect_error("listen: 127.0.0.1:9000", "listen: example.com:80", "p.yaml:1: key 'listen': listen address 'example.com:80': 'example.com' is not an IP address");
    expect_error("listen: 127.0.0.1:9000", "listen: 127.0.0.1:70000", "p.yaml:1: key 'listen': listen address '127.0.0.1:70000': expected HOST:PORT");
    expect_error("url: http://127.0.0.1:8001", "url: ftp://x", "p.yaml:5: key 'tiers[0].url': expected an http:// URL");
    expect_error("{name: teacher,", "{name: student,", "p.yaml:9: key 'tiers[1].name': duplicate tier name 'student'");
    expect_error("replicas: {min: 1, max: 3}", "replicas: {min: 3, max: 1}", "max (1) is below min (3)");
    expect_error("    tier: teacher\n", "    tier: teacher\n    cascade: {first: student, then: teacher, min_confidence: 0.5}\n",
                 "exactly one of 'tier: NAME' or 'cascade");
    expect_error("cost_per_hour: 0.085", "cost_per_hour: 0.085\n    costs: 1", "p.yaml:8: key 'tiers[0].costs': unknown key");
    expect_error("endpoint: embeddings", "endpoint: embedings", "unknown endpoint 'embedings'");
    expect_error("confidence: min", "confidence: median", "confidence");
    expect_error("cascade: {first: student,", "cascade: {first: embedder,", "has no logprobs to cascade on");
    expect_error("url: http://127.0.0.1:8001\n    model: s\n", "model: /nonexistent/x.gguf\n", "model file '/nonexistent/x.gguf' does not exist");
    expect_error("tiers:", "tierz:", "unknown key");
}

TEST(pipeline_rejects_non_maps_and_empty) {
    const char *bad[] = {"", "- 1\n- 2\n", "tiers: 3\n", "tiers: []\nroutes: []\n", "tiers:\n  - 1\nroutes:\n  - 2\n",
                         "tiers:\n  - {name: a, url: \"http://x\", model: m}\nroutes: [{tier: a}, 7]\n", "{{{"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        Pipeline p;
        char err[600] = "";
        EXPECT(pipeline_load_buf(&p, "b.yaml", bad[i], strlen(bad[i]), false, err, sizeof err) != 0);
        EXPECT(strncmp(err, "b.yaml", 6) == 0 || strstr(err, "b.yaml") != NULL);
    }
}

// ---- telemetry file rotation ----

#include <stdlib.h>
#include <sys/stat.h>

#include "serve/telemetry.h"

static int64_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

TEST(telemetry_rotates_by_size_and_keeps_three) {
    char path[512], p1[530], p3[530], p4[530];
    snprintf(path, sizeof path, "%s/tel.jsonl", test_tmpdir());
    snprintf(p1, sizeof p1, "%s.1", path);
    snprintf(p3, sizeof p3, "%s.3", path);
    snprintf(p4, sizeof p4, "%s.4", path);
    Telemetry t;
    char err[256];
    ASSERT(telemetry_open(&t, path, 100, err, sizeof err) == 0);
    const char line[] = "{\"id\":\"req-1\",\"x\":\"0123456789012345678901234567890123456789\"}";   // 61 bytes + \n
    for (int i = 0; i < 9; i++) telemetry_write(&t, line, strlen(line));
    telemetry_close(&t);
    // 62-byte records, 100-byte files: one record per file; 9 records → the live file and .1-.3.
    EXPECT_EQ_INT(file_size(path), 62);
    EXPECT_EQ_INT(file_size(p1), 62);
    EXPECT_EQ_INT(file_size(p3), 62);
    EXPECT_EQ_INT(file_size(p4), -1);
    EXPECT_EQ_INT(t.records, 9);
    EXPECT(telemetry_open(&t, "/nonexistent-dir/x.jsonl", 0, err, sizeof err) != 0 && strstr(err, "nonexistent-dir"));
}

// ---- listen addresses (shared by the worker's --listen and the pipeline's listen:) ----

TEST(listen_addr_forms) {
    ListenAddr a;
    char err[256];
    ASSERT(listen_addr_parse("localhost:8080", &a, err, sizeof err) == 0);
    EXPECT(!a.ipv6 && a.port == 8080 && a.sa.ss_family == AF_INET && strcmp(a.host, "localhost") == 0);
    ASSERT(listen_addr_parse("[::1]:0", &a, err, sizeof err) == 0);
    EXPECT(a.ipv6 && a.port == 0 && a.sa.ss_family == AF_INET6 && strcmp(a.host, "::1") == 0);
    ASSERT(listen_addr_parse("0.0.0.0:1", &a, err, sizeof err) == 0);
    EXPECT(!a.ipv6 && a.sa_len == sizeof(struct sockaddr_in));
    char buf[64];
    ASSERT(listen_addr_parse("[::]:9", &a, err, sizeof err) == 0);
    listen_addr_format(&a, 1234, buf, sizeof buf);
    EXPECT(strcmp(buf, "[::]:1234") == 0);
    const char *bad[] = {"::1:80", "[::1]80", "[127.0.0.1]:80", ":80", "host:", "1.2.3.4:-1", "[::1]:", "a.b:80", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        if (listen_addr_parse(bad[i], &a, err, sizeof err) != -1 || !strstr(err, "listen address"))
            test_fail(__FILE__, __LINE__, "'%s' accepted or no reason: %s", bad[i], err);
    }
}

// A local tier's scheduler knobs are checked by the worker's own rule before anything starts
// (a worker that refuses them at start would restart forever behind a healthy-looking gateway).
TEST(pipeline_checks_local_scheduler_knobs_like_the_worker) {
    static const char cfg[] = "tiers:\n"
                              "  - name: local\n"
                              "    model: m.gguf\n"
                              "    scheduler: {max_num_seqs: 8, max_num_batched_tokens: 1}\n"
                              "routes:\n"
                              "  - {match: {endpoint: any}, tier: local}\n";
    Pipeline p;
    char err[600] = "";
    EXPECT(pipeline_load_buf(&p, "p.yaml", cfg, strlen(cfg), false, err, sizeof err) != 0);
    if (!strstr(err, "p.yaml:4: key 'tiers[0].scheduler'") || !strstr(err, "max_num_batched_tokens (1) < max_num_seqs (8)"))
        test_fail(__FILE__, __LINE__, "got '%s'", err);
}
