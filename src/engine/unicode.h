// unicode.h — the few Unicode properties the BPE pre-tokenizers need (\p{L}, \p{N}, \s), from
// generated range tables (src/engine/unicode_ranges.c), and a lenient UTF-8 decoder.
#ifndef RS_UNICODE_H
#define RS_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t lo, hi;  // inclusive
} UniRange;

extern const UniRange uni_letters[], uni_numbers[], uni_spaces[];
extern const int uni_letters_count, uni_numbers_count, uni_spaces_count;

bool uni_is_letter(uint32_t cp);  // general category L*
bool uni_is_number(uint32_t cp);  // general category N*
bool uni_is_space(uint32_t cp);   // White_Space

// Decodes one code point from s[0..n) (n > 0) and returns its length in bytes. An invalid or
// truncated sequence yields length 1 and *cp = UNI_INVALID (so every byte is consumed once).
#define UNI_INVALID 0xFFFFFFFFu
int uni_decode(const char *s, size_t n, uint32_t *cp);
// Encodes cp (< 0x110000) as UTF-8 into out (4 bytes of room); returns the length.
int uni_encode(uint32_t cp, char *out);

#endif
