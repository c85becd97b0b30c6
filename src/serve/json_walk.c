// json_walk.c — see json_walk.h.
#include "serve/json_walk.h"

#include <string.h>

size_t json_walk_ws(const char *s, size_t len, size_t i) {
    while (i < len && (unsigned char)s[i] <= 32) i++;
    return i;
}

size_t json_walk_string(const char *s, size_t len, size_t i) {
    for (i++; i < len;) {
        const char *q = memchr(s + i, '"', len - i);
        if (!q) return len;
        size_t at = (size_t)(q - s), bs = 0;
        while (at - bs > i && s[at - bs - 1] == '\\') bs++;
        if (bs % 2 == 0) return at + 1;   // not escaped
        i = at + 1;
    }
    return len;
}

size_t json_walk_value(const char *s, size_t len, size_t i) {
    if (i >= len) return len;
    if (s[i] == '"') return json_walk_string(s, len, i);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = s[i];
            if (c == '"') {
                i = json_walk_string(s, len, i);
                continue;
            }
            i++;
            if (c == '{' || c == '[') depth++;
            else if ((c == '}' || c == ']') && --depth == 0) return i;
        }
        return len;
    }
    while (i < len && (unsigned char)s[i] > 32 && s[i] != ',' && s[i] != '}' && s[i] != ']') i++;
    return i;
}

static bool iter_start(JsonIter *it, const char *s, size_t len, size_t open, char bracket) {
    open = json_walk_ws(s, len, open);
    *it = (JsonIter){.s = s, .len = len, .pos = open + 1, .done = true};
    if (open >= len || s[open] != bracket) return false;
    it->done = false;
    return true;
}

bool json_iter_object(JsonIter *it, const char *s, size_t len, size_t open) { return iter_start(it, s, len, open, '{'); }
bool json_iter_array(JsonIter *it, const char *s, size_t len, size_t open) { return iter_start(it, s, len, open, '['); }

// Moves past the comma before the next member/item; false (and done) at the closing bracket.
static bool iter_sep(JsonIter *it, char close) {
    if (it->done) return false;
    size_t i = json_walk_ws(it->s, it->len, it->pos);
    if (i < it->len && it->s[i] == ',') i = json_walk_ws(it->s, it->len, i + 1);
    if (i >= it->len || it->s[i] == close) {
        it->done = true;
        return false;
    }
    it->pos = i;
    return true;
}

bool json_iter_next_member(JsonIter *it, JsonItem *m) {
    if (!iter_sep(it, '}')) return false;
    const char *s = it->s;
    size_t i = it->pos;
    if (s[i] != '"') return it->done = true, false;
    size_t kend = json_walk_string(s, it->len, i);
    if (kend >= it->len) return it->done = true, false;
    m->key = i + 1;
    m->key_len = kend - 1 - m->key;
    i = json_walk_ws(s, it->len, kend);
    if (i >= it->len || s[i] != ':') return it->done = true, false;
    m->value = json_walk_ws(s, it->len, i + 1);
    if (m->value >= it->len) return it->done = true, false;
    m->end = json_walk_value(s, it->len, m->value);
    it->pos = m->end;
    return true;
}

bool json_iter_next_item(JsonIter *it, JsonItem *m) {
    if (!iter_sep(it, ']')) return false;
    m->key = m->key_len = 0;
    m->value = it->pos;
    m->end = json_walk_value(it->s, it->len, m->value);
    it->pos = m->end;
    return true;
}

bool json_item_key_is(const JsonIter *it, const JsonItem *m, const char *name) {
    size_t n = strlen(name);
    return m->key_len == n && memcmp(it->s + m->key, name, n) == 0;
}
