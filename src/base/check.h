// check.h — invariants and error codes shared by every module.
//
// CHECK(cond) guards our own invariants: always on, aborts with file:line (a bug, not bad input).
// Anything that comes from outside (files, sockets, JSON, YAML) is validated explicitly and
// reported by returning a negative Err, with words in a caller-supplied buffer where needed.
#ifndef RS_CHECK_H
#define RS_CHECK_H

#include <stddef.h>

typedef enum {
    ERR_OK       = 0,
    ERR_IO       = -1,  // open/read/write/mmap failed (errno says why)
    ERR_FORMAT   = -2,  // input is malformed (a file, a body, a config)
    ERR_RANGE    = -3,  // a number is outside what is allowed
    ERR_NOMEM    = -4,  // allocation failed
    ERR_UNSUPP   = -5,  // well-formed but not something we support (unknown type, architecture)
    ERR_FULL     = -6,  // a bounded resource is exhausted (queue, KV blocks)
    ERR_NOTFOUND = -7,  // a named thing does not exist
    ERR_ARG      = -8,  // a caller passed an invalid argument
} Err;

// Short English name of an Err, for logs ("format error").
const char *err_str(int err);

void check_fail(const char *file, int line, const char *expr) __attribute__((noreturn));
#define CHECK(cond) \
    do { if (!(cond)) check_fail(__FILE__, __LINE__, #cond); } while (0)

// Writes a formatted message into buf (if non-NULL) and returns code; for one-line error returns:
//   return err_set(err, err_len, ERR_FORMAT, "tensor %s: offset beyond file", name);
int err_set(char *buf, size_t len, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
