// unicode.h — the Unicode properties the tokenizers need (\p{L}, \p{N}, \p{P}, \p{M}, \p{S},
// other, \s) from generated range tables (src/engine/unicode_ranges.c), simple lowercasing and
// first-NFD-code-point maps (src/engine/unicode_maps.c), and a lenient UTF-8 decoder.
#ifndef RS_UNICODE_H
#define RS_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t lo, hi;  // inclusive
} UniRange;

typedef struct {
    uint32_t lo, hi, to;  // every code point in [lo, hi] maps to `to`
} UniMap;

extern const UniRange uni_letters[], uni_numbers[], uni_spaces[], uni_puncts[], uni_marks[],
    uni_symbols[], uni_controls[];
extern const int uni_letters_count, uni_numbers_count, uni_spaces_count, uni_puncts_count,
    uni_marks_count, uni_symbols_count, uni_controls_count;
extern const UniMap uni_lower_map[], uni_nfd_map[];
extern const int uni_lower_map_count, uni_nfd_map_count;

bool uni_is_letter(uint32_t cp);   // general category L*
bool uni_is_number(uint32_t cp);   // general category N*
bool uni_is_punct(uint32_t cp);    // general category P*
bool uni_is_mark(uint32_t cp);     // general category M*
bool uni_is_symbol(uint32_t cp);   // general category S*
bool uni_is_control(uint32_t cp);  // general category Cc, Cf, Co or Cs
bool uni_is_space(uint32_t cp);    // White_Space
uint32_t uni_tolower(uint32_t cp);    // simple lowercase mapping (cp itself when none)
uint32_t uni_nfd_first(uint32_t cp);  // first code point of cp's NFD decomposition

// Decodes one code point from s[0..n) (n > 0) and returns its length in bytes. An invalid or
// truncated sequence yields length 1 and *cp = UNI_INVALID (so every byte is consumed once).
#define UNI_INVALID 0xFFFFFFFFu
int uni_decode(const char *s, size_t n, uint32_t *cp);
// Encodes cp (< 0x110000) as UTF-8 into out (4 bytes of room); returns the length.
int uni_encode(uint32_t cp, char *out);

#endif
