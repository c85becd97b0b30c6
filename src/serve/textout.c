#include "serve/textout.h"

#include <string.h>

// Bytes a UTF-8 sequence starting with lead byte c should have (0 for a continuation or invalid).
static int utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 0;
}

// Is the continuation at s[1] legal for lead byte s[0]? (excludes overlongs, surrogates, > U+10FFFF)
static bool utf8_second_ok(unsigned char lead, unsigned char c) {
    if ((c & 0xc0) != 0x80) return false;
    if (lead == 0xe0) return c >= 0xa0;
    if (lead == 0xed) return c <= 0x9f;
    if (lead == 0xf0) return c >= 0x90;
    if (lead == 0xf4) return c <= 0x8f;
    return true;
}

int textout_utf8_char_len(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0) return 0;
    int n = utf8_seq_len(p[0]);
    if (n == 0 || (size_t)n > len) return 0;
    if (n >= 2 && !utf8_second_ok(p[0], p[1])) return 0;
    for (int k = 2; k < n; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    return n;
}

int textout_utf8_invalid_len(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    int n = utf8_seq_len(p[0]);
    if (n <= 1 || len < 2 || !utf8_second_ok(p[0], p[1])) return 1;
    int k = 2;
    while (k < n && (size_t)k < len && (p[k] & 0xc0) == 0x80) k++;
    return k;
}

bool textout_utf8_valid(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        // ASCII fast path: request bodies are mostly ASCII.
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        int n = textout_utf8_char_len(s + i, len - i);
        if (n == 0) return false;
        i += (size_t)n;
    }
    return true;
}

size_t textout_utf8_complete_len(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = p[len - back];
        if ((c & 0xc0) == 0x80) continue;  // continuation: keep looking for its lead
        int n = utf8_seq_len(c);
        if (n <= 1 || (size_t)n <= back) return len;  // ASCII, invalid lead, or complete
        // Unfinished only if what follows the lead is so far well-formed.
        if (back >= 2 && !utf8_second_ok(c, p[len - back + 1])) return len;
        return len - back;
    }
    return len;
}

int64_t textout_find_stop(const char *text, size_t len, size_t from, char *const *stop, int64_t n_stop) {
    int64_t best = -1;
    for (int64_t k = 0; k < n_stop; k++) {
        size_t sl = strlen(stop[k]);
        if (sl == 0 || sl > len || from > len - sl) continue;
        const char *hit = memmem(text + from, len - from, stop[k], sl);
        if (hit && (best < 0 || hit - text < best)) best = hit - text;
    }
    return best;
}

size_t textout_releasable(const char *text, size_t len, size_t released, char *const *stop, int64_t n_stop) {
    size_t keep = 0;  // bytes at the end that might start a stop string
    for (int64_t k = 0; k < n_stop; k++) {
        size_t sl = strlen(stop[k]);
        if (sl == 0) continue;
        size_t max = sl - 1 < len ? sl - 1 : len;
        for (size_t m = max; m > keep; m--)
            if (memcmp(text + len - m, stop[k], m) == 0) {
                keep = m;
                break;
            }
    }
    size_t n = textout_utf8_complete_len(text, len - keep);
    return n > released ? n : released;
}
