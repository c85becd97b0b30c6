#include "base/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *err_str(int err) {
    static const char *names[] = {
        [0] = "ok",           [1] = "I/O error",        [2] = "format error",
        [3] = "out of range", [4] = "out of memory",    [5] = "unsupported",
        [6] = "full",         [7] = "not found",        [8] = "invalid argument",
    };
    int i = -err;
    if (i < 0 || i >= (int)ARRAY_LEN(names)) return "unknown error";
    return names[i];
}

void check_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    abort();
}

int err_set(char *buf, size_t len, int code, const char *fmt, ...) {
    if (buf && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return code;
}
