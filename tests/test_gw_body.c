// test_gw_body.c — the gateway's request body check and its spliced call bodies
// (src/serve/gw_body.c). Truth: the rewrite the gateway made before, on a cJSON tree (duplicate
// the parsed body, replace model, add max_tokens, stream_options and logprobs, drop stream),
// compared as JSON values with cJSON_Compare; every spliced body also passes json_check (no
// duplicate key, nothing after the value), and a member the gateway does not touch keeps the
// client's exact bytes.
#include <string.h>

#include "serve/gw_body.h"
#include "serve/json_check.h"
#include "test.h"

// The old rewrite, on a tree (the reference).
static cJSON *reference(const char *body, const GwBody *b, const char *model, bool buffered, bool chat) {
    cJSON *j = cJSON_Parse(body);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "max_tokens");
    if (b->add_max_tokens > 0) {
        if (mt) cJSON_DeleteItemFromObjectCaseSensitive(j, "max_tokens");
        cJSON_AddNumberToObject(j, "max_tokens", (double)b->add_max_tokens);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "model");
    cJSON_AddStringToObject(j, "model", model);
    const cJSON *so0 = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
    bool wants = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so0, "include_usage"));
    if (b->stream && !buffered && !wants) {
        cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
        if (!cJSON_IsObject(so)) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "stream_options");
            so = cJSON_AddObjectToObject(j, "stream_options");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
        cJSON_AddTrueToObject(so, "include_usage");
    }
    if (buffered) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "stream");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "stream_options");
        if (!b->client_logprobs) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "logprobs");
            if (chat) cJSON_AddTrueToObject(j, "logprobs");
            else cJSON_AddNumberToObject(j, "logprobs", 0);
        }
    }
    return j;
}

static const char *const BODIES[] = {
    "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi, \\\"model\\\": x}\"}],\"max_tokens\":5}",
    " {  \"messages\" : [ {\"role\":\"user\",\"content\":\"a\"} ] ,\n \"model\" : null , \"stream\" : true } \n",
    "{\"stream\":true,\"stream_options\":{\"include_usage\":false,\"x\":[1,{\"y\":\"}\"}]},\"messages\":[],"
    "\"model\":\"m\"}",
    "{\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[],\"logprobs\":true}",
    "{\"mod\\u0065l\":\"esc\",\"messages\":[],\"max_tokens\":null,\"max_completion_tokens\":null}",
    "{\"messages\":[],\"logprobs\":false,\"stream\":false,\"max_completion_tokens\":9,\"z\":{}}",
    "{\"messages\":[],\"stream\":true,\"stream_options\":null,\"model\":\"x\"}",
    "{\"messages\":[{\"content\":[{\"type\":\"text\",\"text\":\"]}{\"}]}],\"user\":\"\\\\\",\"n\":1}",
};

static void check_one(const char *body, RouterEndpoint ep, bool buffered) {
    GwBody b;
    char msg[240];
    int st = gw_body_check(&b, body, strlen(body), ep, 50, msg, sizeof msg, NULL);
    EXPECT_EQ_INT(st, 0);
    if (st) return;
    Buf out = {0};
    bool chat = ep == RT_EP_CHAT;
    EXPECT_EQ_INT(gw_body_for_call(&out, &b, body, "tier \"q\"/8", buffered, chat), 0);
    cJSON *got = json_check_parse(out.data, out.len, msg, sizeof msg);
    EXPECT(got != NULL);
    if (!got) test_fail(__FILE__, __LINE__, "spliced body refused (%s): %s", msg, out.data);
    cJSON *want = reference(body, &b, "tier \"q\"/8", buffered, chat);
    EXPECT(cJSON_Compare(got, want, 1));
    if (got && !cJSON_Compare(got, want, 1)) test_fail(__FILE__, __LINE__, "from %s got %s", body, out.data);
    cJSON_Delete(got);
    cJSON_Delete(want);
    buf_free(&out);
    gw_body_free(&b);
}

TEST(gw_body_splice_matches_tree_rewrite) {
    for (size_t i = 0; i < sizeof BODIES / sizeof BODIES[0]; i++)
        for (int buffered = 0; buffered < 2; buffered++) {
            check_one(BODIES[i], RT_EP_CHAT, buffered);
        }
    check_one("{\"prompt\":[1,2,3],\"model\":\"a\"}", RT_EP_COMPLETIONS, false);
    check_one("{\"prompt\":\"x\",\"stream\":true,\"logprobs\":2}", RT_EP_COMPLETIONS, true);
    check_one("{\"prompt\":\"x\",\"stream\":true}", RT_EP_COMPLETIONS, true);
    check_one("{\"input\":\"x\"}", RT_EP_EMBEDDINGS, false);
}

TEST(gw_body_keeps_client_bytes) {
    // A member the gateway leaves alone is forwarded byte for byte (no re-printing of numbers).
    const char *body = "{\"prompt\":[1.50, 2e3, 0.1],\"temperature\":0.70,\"model\":\"m\"}";
    GwBody b;
    char msg[240];
    ASSERT(gw_body_check(&b, body, strlen(body), RT_EP_COMPLETIONS, 50, msg, sizeof msg, NULL) == 0);
    EXPECT_EQ_INT(b.prompt_chars, 3);
    EXPECT_EQ_INT(b.add_max_tokens, 16);
    Buf out = {0};
    ASSERT(gw_body_for_call(&out, &b, body, "t", false, false) == 0);
    EXPECT(strcmp(out.data, "{\"prompt\":[1.50, 2e3, 0.1],\"temperature\":0.70,\"model\":\"t\",\"max_tokens\":16}") == 0);
    buf_free(&out);
    gw_body_free(&b);
}

TEST(gw_body_refuses_what_json_check_refuses) {
    static const char *const bad[] = {
        "{\"messages\":[],\"max_tokens\":1,\"max_tokens\":100000}",
        "{\"messages\":[{\"content\":\"a\\u0000b\"}]}",
        "{\"messages\":[]} x",
        "[1]",
        "{\"messages\":[],\"max_tokens\":51}",
        "{\"messages\":[],\"max_completion_tokens\":51}",
        "{\"messages\":[],\"max_tokens\":0}",
        "{\"messages\":[],\"max_tokens\":1.5}",
        "{\"messages\":[],\"model\":3}",
        "{\"messages\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        GwBody b;
        char msg[240] = "";
        EXPECT_EQ_INT(gw_body_check(&b, bad[i], strlen(bad[i]), RT_EP_CHAT, 50, msg, sizeof msg, NULL), 400);
        EXPECT(msg[0] != 0);
    }
    GwBody b;
    char msg[240];
    EXPECT_EQ_INT(gw_body_check(&b, "{\"input\":[1]}", 13, RT_EP_EMBEDDINGS, 50, msg, sizeof msg, NULL), 400);
    EXPECT_EQ_INT(gw_body_check(&b, "{\"input\":\"a\",\"stream\":true}", 27, RT_EP_EMBEDDINGS, 50, msg, sizeof msg, NULL), 400);
}

TEST(gw_body_batch_inputs) {
    const char *a = "{\"input\":\"x\\\"y\"}", *c = "{\"input\": [ \"p\" , \"q\" ] }", *e = "{\"input\":[]}";
    GwBody ba, bc, be;
    char msg[240];
    ASSERT(gw_body_check(&ba, a, strlen(a), RT_EP_EMBEDDINGS, 50, msg, sizeof msg, NULL) == 0);
    ASSERT(gw_body_check(&bc, c, strlen(c), RT_EP_EMBEDDINGS, 50, msg, sizeof msg, NULL) == 0);
    ASSERT(gw_body_check(&be, e, strlen(e), RT_EP_EMBEDDINGS, 50, msg, sizeof msg, NULL) == 0);
    EXPECT_EQ_INT(ba.n_inputs, 1);
    EXPECT_EQ_INT(bc.n_inputs, 2);
    EXPECT_EQ_INT(be.n_inputs, 0);
    Buf out = {0};
    buf_append_str(&out, "[");
    bool first = true;
    EXPECT_EQ_INT(gw_body_append_inputs(&out, &be, e, &first), 0);
    EXPECT_EQ_INT(gw_body_append_inputs(&out, &ba, a, &first), 0);
    EXPECT_EQ_INT(gw_body_append_inputs(&out, &be, e, &first), 0);
    EXPECT_EQ_INT(gw_body_append_inputs(&out, &bc, c, &first), 0);
    buf_append_str(&out, "]");
    EXPECT(strcmp(out.data, "[\"x\\\"y\",\"p\" , \"q\"]") == 0);
    cJSON *j = cJSON_Parse(out.data);
    EXPECT(cJSON_GetArraySize(j) == 3 && strcmp(cJSON_GetArrayItem(j, 0)->valuestring, "x\"y") == 0);
    cJSON_Delete(j);
    buf_free(&out);
}

TEST(gw_body_put_string_escapes) {
    Buf out = {0};
    EXPECT_EQ_INT(gw_body_put_string(&out, "a\"b\\c\n\x01z"), 0);
    EXPECT(strcmp(out.data, "\"a\\\"b\\\\c\\u000a\\u0001z\"") == 0);
    cJSON *j = cJSON_Parse(out.data);
    EXPECT(cJSON_IsString(j) && strcmp(j->valuestring, "a\"b\\c\n\x01z") == 0);
    cJSON_Delete(j);
    buf_free(&out);
}
