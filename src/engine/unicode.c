// unicode.c — range lookups and UTF-8 coding. See unicode.h.
#include "engine/unicode.h"

static bool in_ranges(const UniRange *r, int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid - 1;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return true;
    }
    return false;
}

bool uni_is_letter(uint32_t cp) { return in_ranges(uni_letters, uni_letters_count, cp); }
bool uni_is_number(uint32_t cp) { return in_ranges(uni_numbers, uni_numbers_count, cp); }
bool uni_is_space(uint32_t cp) { return in_ranges(uni_spaces, uni_spaces_count, cp); }
bool uni_is_punct(uint32_t cp) { return in_ranges(uni_puncts, uni_puncts_count, cp); }
bool uni_is_mark(uint32_t cp) { return in_ranges(uni_marks, uni_marks_count, cp); }
bool uni_is_symbol(uint32_t cp) { return in_ranges(uni_symbols, uni_symbols_count, cp); }
bool uni_is_control(uint32_t cp) { return in_ranges(uni_controls, uni_controls_count, cp); }

static uint32_t map_cp(const UniMap *m, int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < m[mid].lo) hi = mid - 1;
        else if (cp > m[mid].hi) lo = mid + 1;
        else return m[mid].to;
    }
    return cp;
}

uint32_t uni_tolower(uint32_t cp) { return map_cp(uni_lower_map, uni_lower_map_count, cp); }
uint32_t uni_nfd_first(uint32_t cp) { return map_cp(uni_nfd_map, uni_nfd_map_count, cp); }

int uni_decode(const char *s, size_t n, uint32_t *cp) {
    const uint8_t *u = (const uint8_t *)s;
    uint8_t c = u[0];
    int len;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else { *cp = UNI_INVALID; return 1; }
    if ((size_t)len > n) { *cp = UNI_INVALID; return 1; }
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) { *cp = UNI_INVALID; return 1; }
        v = v << 6 | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) { *cp = UNI_INVALID; return 1; }
    *cp = v;
    return len;
}

int uni_encode(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}
