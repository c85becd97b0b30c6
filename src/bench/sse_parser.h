// sse_parser.h — incremental Server-Sent Events framing (the text/event-stream wire format).
//
// Bytes arrive in arbitrary pieces (a TCP read can split a line anywhere); sse_parser_feed consumes each
// piece and calls on_event once per complete event with its data field (the "data:" lines of the
// event joined by '\n', per the WHATWG spec). Comment lines (":"), "event:", "id:" and "retry:"
// fields are consumed and ignored: OpenAI-style streams carry everything in "data:". Line ends may
// be "\n", "\r\n" or "\r". Memory: two growable buffers per parser, bounded by max_event_bytes;
// once warm they are reused, so a long stream does not allocate per event.
#ifndef RS_BENCH_SSE_PARSER_H
#define RS_BENCH_SSE_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/str.h"

// Called once per dispatched event; data lives until the callback returns. A non-zero return
// stops sse_parser_feed, which returns that value.
typedef int (*SseParserEventFn)(void *ctx, Str data);

typedef struct {
    Buf line;               // the current line so far (only when it spans feeds)
    Buf data;               // data of the event being assembled
    bool has_data;          // at least one data: line since the last dispatch
    bool after_cr;          // last byte seen was '\r' (so a following '\n' is part of that end)
    size_t max_event_bytes; // bound on one line and on one event's data
    SseParserEventFn on_event;
    void *ctx;
} SseParser;

// max_event_bytes == 0 picks 1 MiB.
void sse_parser_init(SseParser *p, size_t max_event_bytes, SseParserEventFn on_event, void *ctx);
void sse_parser_free(SseParser *p);
// Forgets any partial line or event (to reuse the parser for a new stream); keeps the buffers.
void sse_parser_reset(SseParser *p);
// Consumes n bytes. Returns 0, the callback's non-zero value, ERR_RANGE when a line or event
// exceeds max_event_bytes, or ERR_NOMEM.
int sse_parser_feed(SseParser *p, const char *bytes, size_t n);
// End of stream: an event not closed by a blank line is dropped (as the spec says). Returns 1 when
// such unterminated data was pending (callers may treat that as a truncated stream), else 0.
int sse_parser_finish(SseParser *p);

#endif
