#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

void buf_init(Buf *b) { *b = (Buf){0}; }

void buf_free(Buf *b) {
    if (!b) return;
    free(b->data);
    *b = (Buf){0};
}

void buf_clear(Buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

int buf_reserve(Buf *b, size_t extra) {
    if (extra > SIZE_MAX / 2 - b->len) return ERR_NOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(Buf *b, const void *p, size_t n) {
    if (buf_reserve(b, n)) return ERR_NOMEM;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int buf_append_str(Buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return ERR_FORMAT;
    if (buf_reserve(b, (size_t)n)) return ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}
