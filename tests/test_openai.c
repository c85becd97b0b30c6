// Tests of src/serve's OpenAI mapping: request parsing and validation (each bad field named in a
// 400), response and SSE encoding (read back with cJSON, an independent parser), logprobs shapes,
// the stop-sequence / UTF-8 hold-back rules of GenJob, and the textout helpers.
#include <cjson/cJSON.h>
#include <string.h>

#include "base/arena.h"
#include "serve/gen_job.h"
#include "serve/openai_req.h"
#include "serve/openai_resp.h"
#include "serve/textout.h"
#include "test.h"

static int parse(OaiEndpoint ep, const char *body, OaiRequest *q, OaiError *e, Arena *a) {
    return oai_req_parse(ep, body, strlen(body), a, q, e);
}

// Expects a 400 naming `param` (or no param when NULL).
static void expect_bad(OaiEndpoint ep, const char *body, const char *param) {
    Arena a;
    arena_init(&a, 0);
    OaiRequest q;
    OaiError e = {0};
    int rc = parse(ep, body, &q, &e, &a);
    if (rc != -1 || e.status != 400 || strcmp(e.param, param ? param : "") != 0 || !e.message[0])
        test_fail(__FILE__, __LINE__, "body %s: rc %d status %d param '%s' (wanted '%s'): %s", body, rc, e.status,
                  e.param, param ? param : "", e.message);
    arena_free(&a);
}

TEST(openai_req_completions_fields) {
    Arena a;
    arena_init(&a, 0);
    OaiRequest q;
    OaiError e = {0};
    const char *body = "{\"model\":\"m\",\"prompt\":\"Hello\",\"max_tokens\":7,\"temperature\":0,\"top_p\":0.9,"
                       "\"top_k\":40,\"min_p\":0.05,\"seed\":-3,\"stop\":[\"\\n\",\"END\"],\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true},\"logprobs\":3,\"priority\":-2,\"user\":\"x\","
                       "\"ignore_eos\":true}";
    ASSERT(parse(OAI_COMPLETIONS, body, &q, &e, &a) == 0);
    EXPECT(strcmp(q.model, "m") == 0);
    EXPECT(strcmp(q.prompt, "Hello") == 0);
    EXPECT_EQ_INT(q.max_tokens, 7);
    EXPECT_NEAR(q.temperature, 0, 0);
    EXPECT_NEAR(q.top_p, 0.9, 1e-12);
    EXPECT_EQ_INT(q.top_k, 40);
    EXPECT_NEAR(q.min_p, 0.05, 1e-12);
    EXPECT(q.has_seed && q.seed == (uint64_t)-3);
    ASSERT(q.n_stop == 2);
    EXPECT(strcmp(q.stop[0], "\n") == 0 && strcmp(q.stop[1], "END") == 0);
    EXPECT(q.stream && q.include_usage);
    EXPECT(q.logprobs && q.top_logprobs == 3);
    EXPECT_EQ_INT(q.priority, -2);
    EXPECT(q.ignore_eos);
    arena_free(&a);
}

TEST(openai_req_defaults_and_prompt_forms) {
    Arena a;
    arena_init(&a, 0);
    OaiRequest q;
    OaiError e = {0};
    ASSERT(parse(OAI_COMPLETIONS, "{\"prompt\":[\"one\"]}", &q, &e, &a) == 0);
    EXPECT(strcmp(q.prompt, "one") == 0 && q.model == NULL);
    EXPECT_EQ_INT(q.max_tokens, -1);
    EXPECT_NEAR(q.temperature, 1.0, 0);
    EXPECT(!q.logprobs && !q.stream && q.n_stop == 0 && !q.has_seed);
    ASSERT(parse(OAI_COMPLETIONS, "{\"prompt\":[1,2,30000]}", &q, &e, &a) == 0);
    ASSERT(q.n_prompt_ids == 3);
    EXPECT(q.prompt_ids[2] == 30000 && q.prompt == NULL);
    ASSERT(parse(OAI_COMPLETIONS, "{\"prompt\":[[5,6]], \"stop\":\"x\", \"max_tokens\":null}", &q, &e, &a) == 0);
    EXPECT(q.n_prompt_ids == 2 && q.n_stop == 1 && q.max_tokens == -1);
    ASSERT(parse(OAI_COMPLETIONS, " {\"prompt\":\"p\",\"logprobs\":0} \n", &q, &e, &a) == 0);
    EXPECT(q.logprobs && q.top_logprobs == 0);
    arena_free(&a);
}

TEST(openai_req_chat_messages) {
    Arena a;
    arena_init(&a, 0);
    OaiRequest q;
    OaiError e = {0};
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\",\"text\":\"there\"}]},"
                       "{\"role\":\"assistant\",\"content\":null}],\"max_completion_tokens\":5,"
                       "\"logprobs\":true,\"top_logprobs\":2}";
    ASSERT(parse(OAI_CHAT, body, &q, &e, &a) == 0);
    ASSERT(q.n_messages == 3);
    EXPECT(strcmp(q.messages[0].role, "system") == 0 && strcmp(q.messages[0].content, "Be brief.") == 0);
    EXPECT(strcmp(q.messages[1].content, "Hi there") == 0);
    EXPECT(strcmp(q.messages[2].content, "") == 0);
    EXPECT_EQ_INT(q.max_tokens, 5);
    EXPECT(q.logprobs && q.top_logprobs == 2);
    arena_free(&a);
}

TEST(openai_req_rejects_bad_fields_by_name) {
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":2.5}", "max_tokens");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":\"7\"}", "max_tokens");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":2.5}", "temperature");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":true}", "temperature");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"top_p\":0}", "top_p");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"top_k\":-2}", "top_k");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"min_p\":1.5}", "min_p");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"seed\":1e300}", "seed");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stop\":[\"\"]}", "stop");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stop\":[1]}", "stop");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stream\":1}", "stream");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"ignore_eos\":\"yes\"}", "ignore_eos");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", "stream_options");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"n\":2}", "n");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"logprobs\":21}", "logprobs");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"logprobs\":true}", "logprobs");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"echo\":true}", "echo");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"presence_penalty\":0.5}", "presence_penalty");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"model\":7}", "model");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":[\"a\",\"b\"]}", "prompt");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":[-1]}", "prompt");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":{}}", "prompt");
    expect_bad(OAI_COMPLETIONS, "{\"max_tokens\":3}", "prompt");
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"\\ud800\"}", NULL);  // cJSON refuses lone surrogates
    expect_bad(OAI_CHAT, "{\"messages\":[]}", "messages");
    expect_bad(OAI_CHAT, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages");
    expect_bad(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "messages");
    expect_bad(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", "top_logprobs");
    expect_bad(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":1}", "logprobs");
    // Not JSON, not an object, not UTF-8, trailing bytes: 400 without a param.
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":", NULL);
    expect_bad(OAI_COMPLETIONS, "[1,2]", NULL);
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"\xc3\x28\"}", NULL);
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\"} x", NULL);
    expect_bad(OAI_COMPLETIONS, "", NULL);
    // A NUL in a string would cut the prompt; a key given twice could carry a second, unchecked
    // value (cJSON reads the first, Python backends the last). Nested objects too.
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"a\\u0000b\"}", NULL);
    expect_bad(OAI_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":1,\"max_tokens\":100000}", NULL);
    expect_bad(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"content\":\"y\"}]}", NULL);
}

TEST(openai_req_escaped_backslash_before_u0000_is_text) {
    Arena a;
    arena_init(&a, 0);
    OaiRequest q;
    OaiError e = {0};
    // JSON text "a\\u0000b" is the five characters a \ u 0 0 0 0 b: legal, nothing cut.
    EXPECT(parse(OAI_COMPLETIONS, "{\"prompt\":\"a\\\\u0000b\"}", &q, &e, &a) == 0);
    EXPECT(q.prompt && strcmp(q.prompt, "a\\u0000b") == 0);
    arena_free(&a);
}

TEST(textout_utf8_rules) {
    EXPECT(textout_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    EXPECT(!textout_utf8_valid("\xc0\xaf", 2));          // overlong
    EXPECT(!textout_utf8_valid("\xed\xa0\x80", 3));      // surrogate
    EXPECT(!textout_utf8_valid("\xf4\x90\x80\x80", 4));  // above U+10FFFF
    EXPECT(!textout_utf8_valid("\xe2\x82", 2));          // truncated
    EXPECT_EQ_INT(textout_utf8_complete_len("ab\xe2\x82", 4), 2);
    EXPECT_EQ_INT(textout_utf8_complete_len("ab\xf0\x9f\x98", 5), 2);
    EXPECT_EQ_INT(textout_utf8_complete_len("ab\xf0\x9f\x98\x80", 6), 6);
    EXPECT_EQ_INT(textout_utf8_complete_len("ab\xff", 3), 3);  // malformed bytes are final
    char *stop[] = {"</s>", "###"};
    EXPECT_EQ_INT(textout_find_stop("abc</s>d", 8, 0, stop, 2), 3);
    EXPECT_EQ_INT(textout_find_stop("a##b###", 7, 0, stop, 2), 4);
    EXPECT_EQ_INT(textout_find_stop("abc", 3, 0, stop, 2), -1);
    EXPECT_EQ_INT(textout_releasable("hello </", 8, 0, stop, 2), 6);
    EXPECT_EQ_INT(textout_releasable("hello ##", 8, 0, stop, 2), 6);
    EXPECT_EQ_INT(textout_releasable("hello <x", 8, 0, stop, 2), 8);
    EXPECT_EQ_INT(textout_releasable("caf\xc3", 4, 0, stop, 0), 3);
}

static GenJob *job(int64_t max_tokens, char **stop, int64_t n_stop, bool logprobs, int32_t n_top) {
    int32_t prompt[3] = {1, 2, 3};
    GenParams p = {.max_tokens = max_tokens, .logprobs = logprobs, .n_top = n_top};
    return gen_job_create(prompt, 3, &p, stop, n_stop, 0, 1000);
}

static void push(GenJob *j, int32_t id, const char *piece) {
    GenAlt alt[2] = {{id, -0.5f, piece, strlen(piece)}, {99, -1.5f, "zz", 2}};
    gen_job_push(j, id, piece, strlen(piece), -0.5f, alt, 2, 2000 + id);
}

TEST(gen_job_stop_spanning_tokens) {
    char *stop[] = {"</s>"};
    GenJob *j = job(100, stop, 1, true, 2);
    ASSERT(j);
    push(j, 10, "Hi");
    push(j, 11, " <");
    EXPECT_EQ_INT(j->released, 3);  // "Hi " — "<" may start "</s>"
    EXPECT(j->finish == GEN_RUNNING);
    push(j, 12, "/");
    EXPECT_EQ_INT(j->released, 3);
    push(j, 13, "s>tail");
    EXPECT(j->finish == GEN_STOP);
    EXPECT_EQ_INT(j->released, 3);
    EXPECT(memcmp(j->out.data, "Hi ", 3) == 0 && j->out.len == 3);
    EXPECT_EQ_INT(j->n_generated, 4);
    EXPECT_EQ_INT(j->n_toks_released, 2);  // "Hi" and " <" began before the stop; "/" and "s>" did not
    // Pushing after the end is refused.
    EXPECT(gen_job_push(j, 14, "x", 1, 0, NULL, 0, 9) == 1);
    gen_job_unref(j);
}

TEST(gen_job_false_alarm_and_length) {
    char *stop[] = {"</s>"};
    GenJob *j = job(3, stop, 1, false, 0);
    push(j, 1, "a<");
    EXPECT_EQ_INT(j->released, 1);
    push(j, 2, "b");  // "<b" cannot start "</s>": released
    EXPECT_EQ_INT(j->released, 3);
    push(j, 3, "\xe2\x82");  // half a euro sign, then max_tokens reached: everything released
    EXPECT(j->finish == GEN_LENGTH);
    EXPECT_EQ_INT(j->released, 5);
    EXPECT_EQ_INT(j->n_toks, 0);  // no logprobs asked for
    gen_job_unref(j);
}

TEST(gen_job_utf8_holdback) {
    GenJob *j = job(10, NULL, 0, false, 0);
    push(j, 1, "caf\xc3");
    EXPECT_EQ_INT(j->released, 3);
    push(j, 2, "\xa9!");
    EXPECT_EQ_INT(j->released, 6);
    gen_job_finish(j, GEN_STOP, NULL, 5000);
    EXPECT(j->finish == GEN_STOP && j->t_done_us == 5000);
    gen_job_finish(j, GEN_ERROR, NULL, 6000);  // first reason wins
    EXPECT(j->finish == GEN_STOP);
    gen_job_unref(j);
}

// Builds a finished job: tokens "Hel" "lo" "\xc3" "\xa9" with logprobs and 2 alternatives.
static GenJob *finished_job(void) {
    GenJob *j = job(4, NULL, 0, true, 2);
    push(j, 1, "Hel");
    push(j, 2, "lo");
    push(j, 3, "\xc3");
    push(j, 4, "\xa9");
    j->t_scheduled_us = 1500;
    return j;
}

TEST(openai_resp_completion_body) {
    GenJob *j = finished_job();
    ASSERT(j->finish == GEN_LENGTH);
    OaiRespCtx c;
    OaiRequest q = {.logprobs = true, .top_logprobs = 2};
    oai_resp_ctx_init(&c, OAI_COMPLETIONS, j->id, 1700000000, "tiny \"m\"", &q);
    Buf b = {0};
    ASSERT(oai_resp_body(&b, &c, j) == 0);
    cJSON *r = cJSON_Parse(b.data);
    ASSERT(r);
    EXPECT(strcmp(cJSON_GetObjectItem(r, "object")->valuestring, "text_completion") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(r, "model")->valuestring, "tiny \"m\"") == 0);
    EXPECT(strncmp(cJSON_GetObjectItem(r, "id")->valuestring, "cmpl-", 5) == 0);
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
    EXPECT(strcmp(cJSON_GetObjectItem(ch, "text")->valuestring, "Hello\xc3\xa9") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "length") == 0);
    cJSON *lp = cJSON_GetObjectItem(ch, "logprobs");
    EXPECT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(lp, "tokens")), 4);
    EXPECT(strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "tokens"), 2)->valuestring, "\xef\xbf\xbd") == 0);
    EXPECT_NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "token_logprobs"), 1)->valuedouble, -0.5, 1e-6);
    EXPECT_EQ_INT(cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "text_offset"), 1)->valueint, 3);
    cJSON *top1 = cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "top_logprobs"), 1);
    EXPECT_NEAR(cJSON_GetObjectItem(top1, "lo")->valuedouble, -0.5, 1e-6);
    EXPECT_NEAR(cJSON_GetObjectItem(top1, "zz")->valuedouble, -1.5, 1e-6);
    cJSON *u = cJSON_GetObjectItem(r, "usage");
    EXPECT_EQ_INT(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 3);
    EXPECT_EQ_INT(cJSON_GetObjectItem(u, "completion_tokens")->valueint, 4);
    EXPECT_EQ_INT(cJSON_GetObjectItem(u, "total_tokens")->valueint, 7);
    cJSON *t = cJSON_GetObjectItem(r, "timings");
    EXPECT_NEAR(cJSON_GetObjectItem(t, "queue_ms")->valuedouble, 0.5, 1e-9);      // 1000 -> 1500 us
    EXPECT_NEAR(cJSON_GetObjectItem(t, "ttft_ms")->valuedouble, 1.001, 1e-9);     // 1000 -> 2001 us
    EXPECT_EQ_INT(cJSON_GetObjectItem(t, "predicted_n")->valueint, 4);
    cJSON_Delete(r);
    buf_free(&b);
    gen_job_unref(j);
}

TEST(openai_resp_chat_body_logprobs_bytes) {
    GenJob *j = finished_job();
    OaiRespCtx c;
    OaiRequest q = {.logprobs = true, .top_logprobs = 2};
    oai_resp_ctx_init(&c, OAI_CHAT, j->id, 1, "m", &q);
    Buf b = {0};
    ASSERT(oai_resp_body(&b, &c, j) == 0);
    cJSON *r = cJSON_Parse(b.data);
    ASSERT(r);
    EXPECT(strcmp(cJSON_GetObjectItem(r, "object")->valuestring, "chat.completion") == 0);
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
    cJSON *msg = cJSON_GetObjectItem(ch, "message");
    EXPECT(strcmp(cJSON_GetObjectItem(msg, "role")->valuestring, "assistant") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(msg, "content")->valuestring, "Hello\xc3\xa9") == 0);
    cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "logprobs"), "content");
    ASSERT(cJSON_GetArraySize(content) == 4);
    cJSON *e2 = cJSON_GetArrayItem(content, 2);
    cJSON *bytes = cJSON_GetObjectItem(e2, "bytes");
    EXPECT(cJSON_GetArraySize(bytes) == 1 && cJSON_GetArrayItem(bytes, 0)->valueint == 0xc3);
    cJSON *tops = cJSON_GetObjectItem(e2, "top_logprobs");
    EXPECT_EQ_INT(cJSON_GetArraySize(tops), 2);
    EXPECT(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(tops, 1), "token")->valuestring, "zz") == 0);
    cJSON_Delete(r);
    buf_free(&b);
    gen_job_unref(j);
}

// Splits an SSE stream into its data payloads and checks the framing.
static int sse_events(const char *s, char ev[][4096], int max) {
    int n = 0;
    while (*s && n < max) {
        if (strncmp(s, "data: ", 6) != 0) return -1;
        const char *end = strstr(s, "\n\n");
        if (!end) return -1;
        size_t len = (size_t)(end - s - 6);
        if (len >= 4096) return -1;
        memcpy(ev[n], s + 6, len);
        ev[n][len] = 0;
        n++;
        s = end + 2;
    }
    return n;
}

TEST(openai_resp_chat_stream_chunks) {
    char *stop[] = {"!"};
    GenJob *j = job(10, stop, 1, false, 0);
    OaiRespCtx c;
    OaiRequest q = {.include_usage = true};
    oai_resp_ctx_init(&c, OAI_CHAT, j->id, 1, "m", &q);
    OaiStreamPos pos = {0};
    Buf b = {0};
    push(j, 1, "Hi");
    ASSERT(oai_resp_sse(&b, &c, j, &pos) == 0);
    push(j, 2, " you!");
    ASSERT(oai_resp_sse(&b, &c, j, &pos) == 0);
    ASSERT(pos.done);
    ASSERT(oai_resp_sse(&b, &c, j, &pos) == 0);  // nothing more after [DONE]
    static char ev[16][4096];
    int n = sse_events(b.data, ev, 16);
    ASSERT(n == 5);  // role, "Hi", " you" + finish, usage, [DONE]
    EXPECT(strcmp(ev[4], "[DONE]") == 0);
    Buf text = {0};
    for (int i = 0; i < 3; i++) {
        cJSON *r = cJSON_Parse(ev[i]);
        ASSERT(r);
        EXPECT(strcmp(cJSON_GetObjectItem(r, "object")->valuestring, "chat.completion.chunk") == 0);
        cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
        cJSON *ct = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content");
        if (ct) buf_append_str(&text, ct->valuestring);
        cJSON *fr = cJSON_GetObjectItem(ch, "finish_reason");
        EXPECT(i < 2 ? cJSON_IsNull(fr) : strcmp(fr->valuestring, "stop") == 0);
        if (i == 0) EXPECT(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "role")->valuestring, "assistant") == 0);
        if (i == 2) EXPECT(cJSON_GetObjectItem(r, "timings") != NULL);
        cJSON_Delete(r);
    }
    EXPECT(strcmp(text.data, "Hi you") == 0);
    cJSON *u = cJSON_Parse(ev[3]);
    ASSERT(u);
    EXPECT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(u, "choices")), 0);
    EXPECT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(u, "usage"), "completion_tokens")->valueint, 2);
    cJSON_Delete(u);
    buf_free(&text);
    buf_free(&b);
    gen_job_unref(j);
}

TEST(openai_resp_stream_error_and_error_shape) {
    GenJob *j = job(10, NULL, 0, false, 0);
    OaiRespCtx c;
    oai_resp_ctx_init(&c, OAI_COMPLETIONS, j->id, 1, "m", NULL);
    OaiStreamPos pos = {0};
    Buf b = {0};
    push(j, 1, "a");
    OaiError e;
    oai_err(&e, 500, "server_error", NULL, NULL, "engine failed");
    gen_job_finish(j, GEN_ERROR, &e, 9000);
    ASSERT(oai_resp_sse(&b, &c, j, &pos) == 0);
    static char ev[8][4096];
    int n = sse_events(b.data, ev, 8);
    ASSERT(n == 3);   // final chunk (finish_reason "error", what was released), error event, [DONE]
    cJSON *r = cJSON_Parse(ev[0]);
    ASSERT(r);
    const cJSON *ch0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
    EXPECT(strcmp(cJSON_GetObjectItem(ch0, "finish_reason")->valuestring, "error") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(ch0, "text")->valuestring, "a") == 0);
    cJSON_Delete(r);
    EXPECT(strcmp(ev[2], "[DONE]") == 0);
    r = cJSON_Parse(ev[1]);
    ASSERT(r);
    cJSON *er = cJSON_GetObjectItem(r, "error");
    EXPECT(strcmp(cJSON_GetObjectItem(er, "message")->valuestring, "engine failed") == 0);
    EXPECT(cJSON_IsNull(cJSON_GetObjectItem(er, "param")));
    cJSON_Delete(r);
    buf_clear(&b);
    oai_err(&e, 400, "invalid_request_error", "max_tokens", "context_length_exceeded", "too \"long\"\n");
    ASSERT(oai_resp_error(&b, &e) == 0);
    r = cJSON_Parse(b.data);
    ASSERT(r);
    er = cJSON_GetObjectItem(r, "error");
    EXPECT(strcmp(cJSON_GetObjectItem(er, "param")->valuestring, "max_tokens") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(er, "code")->valuestring, "context_length_exceeded") == 0);
    EXPECT(strcmp(cJSON_GetObjectItem(er, "message")->valuestring, "too \"long\"\n") == 0);
    cJSON_Delete(r);
    buf_free(&b);
    gen_job_unref(j);
}

// Replacement follows Unicode's maximal-subpart practice; the expected strings are what Python's
// bytes.decode("utf-8", "replace") gives for the same bytes.
TEST(openai_json_str_maximal_subparts) {
    static const struct { const char *in; size_t len; const char *want; } cases[] = {
        {"\xe2\x82" "A", 3, "\"\\ufffdA\""},              // truncated 3-byte char: one U+FFFD
        {"\xf0\x9f\x98", 3, "\"\\ufffd\""},            // truncated 4-byte char at the end
        {"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},        // overlong: each byte
        {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},  // surrogate: each byte
        {"\x80\x80", 2, "\"\\ufffd\\ufffd\""},        // stray continuations
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Buf b = {0};
        ASSERT(oai_json_str(&b, cases[i].in, cases[i].len) == 0);
        if (strcmp(b.data, cases[i].want) != 0) test_fail(__FILE__, __LINE__, "case %zu: got %s", i, b.data);
        buf_free(&b);
    }
}

TEST(openai_json_str_escapes_and_repairs) {
    Buf b = {0};
    const char s[] = "a\"b\\c\n\x01\xff\xe2\x82\xac";
    ASSERT(oai_json_str(&b, s, sizeof s - 1) == 0);
    EXPECT(strcmp(b.data, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\xe2\x82\xac\"") == 0);
    buf_free(&b);
}
