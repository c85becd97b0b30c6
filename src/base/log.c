#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static _Atomic int g_level = LOG_INFO;

void log_set_level(LogLevel level) { atomic_store(&g_level, (int)level); }
LogLevel log_get_level(void) { return (LogLevel)atomic_load(&g_level); }

void log_msg(LogLevel level, const char *fmt, ...) {
    if ((int)level < atomic_load(&g_level)) return;
    static const char *tag[] = {"debug", "info", "warn", "error"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    // One fprintf per line so concurrent threads do not interleave within a line.
    fprintf(stderr, "rightsize %s: %s\n", tag[level], line);
}
