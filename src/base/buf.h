// buf.h — a growable byte buffer (for building responses, files, JSON text).
// buf_init on a zeroed Buf is optional; buf_free on a zeroed Buf is a no-op.
#ifndef RS_BUF_H
#define RS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;   // owned; NUL-terminated after every append (data[len] == 0)
    size_t len;
    size_t cap;
} Buf;

void buf_init(Buf *b);
void buf_free(Buf *b);
void buf_clear(Buf *b);
// Each returns 0, or ERR_NOMEM leaving the buffer as it was.
int buf_reserve(Buf *b, size_t extra);
int buf_append(Buf *b, const void *p, size_t n);
int buf_append_str(Buf *b, const char *s);
int buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
