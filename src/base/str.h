// str.h — non-owning string slices. A Str points into memory someone else owns (a mapped file,
// a request body, an arena); its lifetime is that memory's.
#ifndef RS_STR_H
#define RS_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    const char *ptr;
    size_t len;
} Str;

#define STR_LIT(s) ((Str){(s), sizeof(s) - 1})

Str str_from_c(const char *s);
bool str_eq(Str a, Str b);
bool str_eq_c(Str a, const char *s);
bool str_starts_with(Str a, const char *prefix);
// Copies into buf (NUL-terminated, truncated to cap-1). Returns buf.
char *str_to_c(Str s, char *buf, size_t cap);

#endif
