// Fuzz target: an untrusted response stream through the SSE framing and the chunk reader, as the
// load generator reads it. The first byte picks a split point so that carried partial lines are
// exercised; every event is also scanned as a JSON chunk.
#include <stddef.h>
#include <stdint.h>

#include "bench/oai_chunk.h"
#include "bench/sse_parser.h"

static int on_event(void *ctx, Str data) {
    (void)ctx;
    OaiChunk ci;
    oai_chunk_scan(data, &ci);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t split = data[0] % (size);
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (split > n) split = n;
    SseParser p;
    sse_parser_init(&p, 4096, on_event, NULL);
    if (sse_parser_feed(&p, s, split) == 0) sse_parser_feed(&p, s + split, n - split);
    sse_parser_finish(&p);
    sse_parser_free(&p);
    OaiChunk ci;
    oai_chunk_scan((Str){s, n}, &ci);  // the whole input as one (non-streamed) body
    return 0;
}
