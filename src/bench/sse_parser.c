#include "bench/sse_parser.h"

#include <string.h>

#include "base/check.h"

void sse_parser_init(SseParser *p, size_t max_event_bytes, SseParserEventFn on_event, void *ctx) {
    *p = (SseParser){0};
    p->max_event_bytes = max_event_bytes ? max_event_bytes : (size_t)1 << 20;
    p->on_event = on_event;
    p->ctx = ctx;
}

void sse_parser_free(SseParser *p) {
    if (!p) return;
    buf_free(&p->line);
    buf_free(&p->data);
    *p = (SseParser){0};
}

void sse_parser_reset(SseParser *p) {
    buf_clear(&p->line);
    buf_clear(&p->data);
    p->has_data = false;
    p->after_cr = false;
}

// One complete line (without its terminator). Blank line dispatches the pending event.
static int sse_parser_line(SseParser *p, const char *s, size_t n) {
    if (n == 0) {
        if (!p->has_data) return 0;
        p->has_data = false;
        Str data = {p->data.data, p->data.len};
        int rc = p->on_event ? p->on_event(p->ctx, data) : 0;
        buf_clear(&p->data);
        return rc;
    }
    if (s[0] == ':') return 0;  // comment (keep-alive pings)
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    if (name_len != 4 || memcmp(s, "data", 4) != 0) return 0;  // event:, id:, retry:, unknown
    const char *v = colon ? colon + 1 : s + n;
    size_t vn = (size_t)(s + n - v);
    if (vn && v[0] == ' ') { v++; vn--; }
    if (p->has_data) {
        if (p->data.len + 1 + vn > p->max_event_bytes) return ERR_RANGE;
        if (buf_append(&p->data, "\n", 1)) return ERR_NOMEM;
    } else if (vn > p->max_event_bytes) {
        return ERR_RANGE;
    }
    if (buf_append(&p->data, v, vn)) return ERR_NOMEM;
    p->has_data = true;
    return 0;
}

int sse_parser_feed(SseParser *p, const char *bytes, size_t n) {
    size_t i = 0;
    if (p->after_cr && n > 0 && bytes[0] == '\n') i = 1;  // "\r\n" split across feeds
    p->after_cr = false;
    while (i < n) {
        // Find the next line end ('\n' or '\r') from i.
        size_t j = i;
        while (j < n && bytes[j] != '\n' && bytes[j] != '\r') j++;
        if (j == n) {  // partial line: carry it to the next feed
            if (p->line.len + (n - i) > p->max_event_bytes) return ERR_RANGE;
            if (buf_append(&p->line, bytes + i, n - i)) return ERR_NOMEM;
            return 0;
        }
        int rc;
        if (p->line.len) {
            if (p->line.len + (j - i) > p->max_event_bytes) return ERR_RANGE;
            if (buf_append(&p->line, bytes + i, j - i)) return ERR_NOMEM;
            rc = sse_parser_line(p, p->line.data, p->line.len);
            buf_clear(&p->line);
        } else {
            rc = sse_parser_line(p, bytes + i, j - i);
        }
        if (bytes[j] == '\r') {
            if (j + 1 < n && bytes[j + 1] == '\n') j++;
            else if (j + 1 == n) p->after_cr = true;
        }
        i = j + 1;
        if (rc) return rc;
    }
    return 0;
}

int sse_parser_finish(SseParser *p) {
    int pending = p->has_data || p->line.len > 0;
    sse_parser_reset(p);
    return pending;
}
