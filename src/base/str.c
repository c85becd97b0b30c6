#include "base/str.h"

Str str_from_c(const char *s) { return (Str){s, s ? strlen(s) : 0}; }

bool str_eq(Str a, Str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

bool str_eq_c(Str a, const char *s) { return str_eq(a, str_from_c(s)); }

bool str_starts_with(Str a, const char *prefix) {
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}

char *str_to_c(Str s, char *buf, size_t cap) {
    if (cap == 0) return buf;
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n) memcpy(buf, s.ptr, n);
    buf[n] = 0;
    return buf;
}
