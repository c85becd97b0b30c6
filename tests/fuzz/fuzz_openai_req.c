// libFuzzer target: request bodies for /v1/completions and /v1/chat/completions. The first byte
// picks the endpoint; the rest is the body. Any input must parse or be refused with a 400-class
// OaiError naming a reason — never crash, leak or read out of bounds. Accepted requests are
// checked against the parser's own contract (ranges it promises), then encoded back through
// the response writer's JSON string escaper, whose output must be valid UTF-8.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/check.h"
#include "serve/openai_req.h"
#include "serve/openai_resp.h"
#include "serve/textout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    OaiEndpoint ep = (data[0] & 1) ? OAI_CHAT : OAI_COMPLETIONS;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    Arena a;
    arena_init(&a, 4096);
    OaiRequest q;
    OaiError e = {0};
    if (oai_req_parse(ep, body, len, &a, &q, &e) == 0) {
        CHECK(q.max_tokens == -1 || q.max_tokens >= 1);
        CHECK(q.temperature >= 0 && q.temperature <= 2);
        CHECK(q.top_p > 0 && q.top_p <= 1);
        CHECK(q.top_k >= 0 && q.min_p >= 0 && q.min_p <= 1);
        CHECK(q.top_logprobs >= 0 && q.top_logprobs <= OAI_MAX_TOP_LOGPROBS);
        CHECK(q.n_stop >= 0 && q.n_stop <= OAI_MAX_STOP);
        Buf b = {0};
        for (int64_t i = 0; i < q.n_stop; i++) {
            CHECK(strlen(q.stop[i]) > 0);
            CHECK(oai_json_str(&b, q.stop[i], strlen(q.stop[i])) == 0);
        }
        if (ep == OAI_CHAT) {
            CHECK(q.n_messages >= 1);
            for (int64_t i = 0; i < q.n_messages; i++)
                CHECK(oai_json_str(&b, q.messages[i].content, strlen(q.messages[i].content)) == 0);
        } else {
            CHECK(q.prompt || q.n_prompt_ids > 0);
            if (q.prompt) CHECK(oai_json_str(&b, q.prompt, strlen(q.prompt)) == 0);
        }
        CHECK(textout_utf8_valid(b.data ? b.data : "", b.len));
        buf_free(&b);
    } else {
        CHECK(e.status == 400 || e.status == 500);
        CHECK(e.message[0] != 0);
    }
    // The escaper must turn arbitrary bytes into valid UTF-8 JSON text.
    Buf raw = {0};
    CHECK(oai_json_str(&raw, body, len) == 0);
    CHECK(textout_utf8_valid(raw.data, raw.len));
    buf_free(&raw);
    arena_free(&a);
    return 0;
}
