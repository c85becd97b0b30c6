// Fuzz target: an untrusted response stream through the SSE framing and the chunk reader, as the
// load generator reads it. The first byte picks a split point so that carried partial lines are
// exercised; every event is also scanned as a JSON chunk.
#include <stddef.h>
#include <stdint.h>

#include "bench/chunk.h"
#include "bench/sse.h"

static int on_event(void *ctx, Str data) {
    (void)ctx;
    ChunkInfo ci;
    chunk_scan(data, &ci);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t split = data[0] % (size);
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (split > n) split = n;
    SseParser p;
    sse_init(&p, 4096, on_event, NULL);
    if (sse_feed(&p, s, split) == 0) sse_feed(&p, s + split, n - split);
    sse_finish(&p);
    sse_free(&p);
    ChunkInfo ci;
    chunk_scan((Str){s, n}, &ci);  // the whole input as one (non-streamed) body
    return 0;
}
