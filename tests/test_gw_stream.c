// test_gw_stream.c — the gateway's pass-through of SSE streams (src/serve/gw_stream.c). Truth:
// the bytes fed in. However a backend's bytes are split across reads (one byte at a time, or
// in uneven pieces), the client receives exactly the backend's events, each whole, less only
// the usage chunk the gateway asked for on the client's behalf; usage, finish_reason and the
// text events are read; a stream without its end gets the error chunk, event and [DONE].
#include <string.h>

#include "serve/gw_int.h"
#include "test.h"

static const char *const EVENTS[] = {
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"He\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\": {\"content\": \"llo \\\"usage\\\": 1\"},"
    "\"logprobs\":{\"content\":[]},\"finish_reason\": null}]}\r\n\r\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"logprobs\":{\"content\":[{\"token\":"
    "\"\\\"usage\\\": {\\\\\",\"top\":[\"\\\"finish_reason\\\":\\\"x\",\"b\"]}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3}}\n\n",
    "data: [DONE]\n\n",
};
enum { N_EVENTS = sizeof EVENTS / sizeof EVENTS[0], USAGE_EVENT = 5 };

static void req_init(GwReq *r, Gateway *g) {
    memset(r, 0, sizeof *r);
    r->gw = g;
    r->ep = RT_EP_CHAT;
    r->prompt_tokens = r->output_tokens = -1;
    pthread_mutex_init(&r->mu, NULL);
}

// Feeds the stream in pieces of the given sizes (cycled); returns what the client got.
static void run(const size_t *pieces, int n_pieces, bool drop_usage, Buf *got, GwReq *r, Gateway *g) {
    Buf in = {0};
    for (int i = 0; i < N_EVENTS; i++) buf_append_str(&in, EVENTS[i]);
    req_init(r, g);
    GwCall c = {.req = r, .drop_usage = drop_usage, .pass_stream = true};
    size_t off = 0;
    for (int k = 0; off < in.len; k++) {
        size_t n = pieces[k % n_pieces];
        if (n > in.len - off) n = in.len - off;
        gw_stream_feed(&c, in.data + off, n, 1000 + k);
        off += n;
    }
    gw_stream_end(&c, true, 502, NULL);
    buf_append(got, r->out.data, r->out.len);
    buf_free(&c.sse);
    buf_free(&r->out);
    buf_free(&in);
    pthread_mutex_destroy(&r->mu);
}

TEST(gw_stream_passes_events_as_sent_however_split) {
    static Gateway g;
    const size_t splits[][3] = {{1, 1, 1}, {7, 3, 50}, {4096, 4096, 4096}, {97, 1, 13}};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        for (int drop = 0; drop < 2; drop++) {
            Buf got = {0}, want = {0};
            GwReq r;
            run(splits[s], 3, drop, &got, &r, &g);
            for (int i = 0; i < N_EVENTS; i++)
                if (!(drop && i == USAGE_EVENT)) buf_append_str(&want, EVENTS[i]);
            EXPECT(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
            EXPECT_EQ_INT(r.prompt_tokens, 11);
            EXPECT_EQ_INT(r.output_tokens, 3);
            EXPECT(r.usage_source && strcmp(r.usage_source, "backend") == 0);
            EXPECT(strcmp(r.finish, "stop") == 0);
            EXPECT_EQ_INT(r.n_content_events, 3);   // not the role chunk, not the final one
            EXPECT(r.t_first_token_us > 0 && r.t_last_token_us >= r.t_first_token_us);
            EXPECT_EQ_INT(r.tel_status, 0);
            buf_free(&got);
            buf_free(&want);
        }
    }
}

TEST(gw_stream_cut_short_ends_with_error_chunk_and_event) {
    static Gateway g;
    snprintf(g.p.tiers[0].name, sizeof g.p.tiers[0].name, "t0");
    GwReq r;
    req_init(&r, &g);
    GwCall c = {.req = &r, .pass_stream = true};
    for (int i = 0; i < 3; i++) gw_stream_feed(&c, EVENTS[i], strlen(EVENTS[i]), 10 + i);
    gw_stream_feed(&c, "data: {\"id\":\"c1\",\"choi", 22, 20);   // half an event, then the backend dies
    gw_stream_end(&c, false, 502, "Transferred a partial file");
    EXPECT_EQ_INT(r.tel_status, 502);
    EXPECT(strcmp(r.finish, "error") == 0);
    EXPECT(strstr(r.error, "Transferred a partial file") != NULL);
    EXPECT_EQ_INT(r.output_tokens, 2);   // no usage came: the text events, counted
    EXPECT(r.usage_source && strcmp(r.usage_source, "counted") == 0);
    Buf tail = {0};
    buf_append(&tail, r.out.data, r.out.len);
    buf_append(&tail, "", 1);
    EXPECT(strstr(tail.data, "\"finish_reason\":\"error\"") != NULL);
    EXPECT(strstr(tail.data, "data: {\"error\":{") != NULL);
    EXPECT(strstr(tail.data, "\"id\":\"c1\"") != NULL);
    size_t n = strlen(tail.data);
    EXPECT(n > 14 && strcmp(tail.data + n - 14, "data: [DONE]\n\n") == 0);
    buf_free(&tail);
    buf_free(&c.sse);
    buf_free(&r.out);
    pthread_mutex_destroy(&r.mu);
}

// The fields gw_read_answer fills, side by side.
static bool same_answer(const GwReq *a, const GwReq *b) {
    return a->prompt_tokens == b->prompt_tokens && a->output_tokens == b->output_tokens &&
           (a->usage_source == b->usage_source || (a->usage_source && b->usage_source &&
                                                   strcmp(a->usage_source, b->usage_source) == 0)) &&
           strcmp(a->finish, b->finish) == 0 && strcmp(a->error, b->error) == 0 &&
           a->backend_ttft_ms == b->backend_ttft_ms && a->backend_tpot_ms == b->backend_tpot_ms &&
           a->backend_queue_ms == b->backend_queue_ms && a->batch_size_mean == b->batch_size_mean;
}

// Truth: the tree reader (cJSON). The walk over the bytes reads the same fields from every
// answer, whatever its text holds (quotes, escapes, member names inside strings), and nothing
// from text that is not a JSON object.
TEST(gw_read_answer_raw_matches_the_tree_reader) {
    static Gateway g;
    static const char *const answers[] = {
        "{\"id\":\"x\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"a \\\"usage\\\": {} \\\\\","
        "\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2},"
        "\"timings\":{\"ttft_ms\":1.5,\"predicted_per_token_ms\":0.25,\"queue_ms\":3,\"batch_size\":2.5}}",
        " { \"choices\" : [ { \"message\" : {\"content\":\"}]\\\\\"\"} , \"finish_reason\" : \"stop\" } ] ,"
        " \"usage\" : { \"prompt_tokens\" : 1 } } ",
        "{\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\"}}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1},\"usage\":{\"prompt_tokens\":9}}",
        "{\"choices\":[],\"usage\":null}",
        "{\"choices\":[{\"finish_reason\":null}]}",
        "[1,2,3]",
        "not json",
        "",
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        GwReq a, b;
        req_init(&a, &g);
        req_init(&b, &g);
        const char *s = answers[i];
        cJSON *j = cJSON_Parse(s);
        if (j) gw_read_answer(&a, j);
        cJSON_Delete(j);
        gw_read_answer_raw(&b, s, strlen(s));
        EXPECT(same_answer(&a, &b));
        pthread_mutex_destroy(&a.mu);
        pthread_mutex_destroy(&b.mu);
    }
    // A 2 MiB answer's text is skipped, not parsed; its usage and finish_reason after it are read.
    Buf big = {0};
    buf_append_str(&big, "{\"choices\":[{\"text\":\"");
    for (int k = 0; k < (2 << 20) / 64; k++) buf_append_str(&big, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\\\"yy");
    buf_append_str(&big, "\",\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4}}");
    GwReq r;
    req_init(&r, &g);
    gw_read_answer_raw(&r, big.data, big.len);
    EXPECT(strcmp(r.finish, "stop") == 0);
    EXPECT_EQ_INT(r.prompt_tokens, 5);
    EXPECT_EQ_INT(r.output_tokens, 4);
    gw_read_answer_raw(&r, big.data, big.len - 3);   // truncated: no crash, no read past the end
    pthread_mutex_destroy(&r.mu);
    buf_free(&big);
}

// Only the top-level "model" is replaced (not one inside a string or a nested object), the rest
// stays byte for byte; text without it is left alone. Truth: cJSON's reading of the result.
TEST(gw_json_set_model_replaces_the_top_level_member_only) {
    const char *in = "{\"id\":\"a \\\"model\\\": x\",\"choices\":[{\"model\":\"inner\"}], \"model\" : \"m-small\" ,\"n\":1}";
    Buf out = {0};
    EXPECT_EQ_INT(gw_json_set_model(&out, in, strlen(in), "support-bot \"v2\""), 0);
    buf_append(&out, "", 1);
    cJSON *j = cJSON_Parse(out.data);
    ASSERT(j);
    EXPECT(strcmp(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "support-bot \"v2\"") == 0);
    EXPECT(strcmp(cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring, "a \"model\": x") == 0);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    EXPECT(strcmp(cJSON_GetObjectItemCaseSensitive(ch, "model")->valuestring, "inner") == 0);
    EXPECT(strncmp(out.data, in, strstr(in, "\"model\" : ") - in + 10) == 0);   // the bytes before, unchanged
    cJSON_Delete(j);
    buf_free(&out);
    EXPECT_EQ_INT(gw_json_set_model(&out, "{\"id\":1}", 8, "x"), 1);
    EXPECT_EQ_INT(gw_json_set_model(&out, "not json", 8, "x"), 1);
    EXPECT(out.len == 0);
}
