// textout.h — turning a stream of token pieces into text a client may see: hold back bytes that
// could still become a stop sequence or that end in an unfinished UTF-8 character, cut the text
// where a stop sequence begins. Pure functions over caller-owned bytes; no allocation.
//
// Why here: tokens split characters and stop strings arbitrarily ("</" + "s>"), so a server that
// streams must not send a byte it may later have to take back.
#ifndef RS_TEXTOUT_H
#define RS_TEXTOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool textout_utf8_valid(const char *s, size_t len);

// Bytes of the well-formed character at s[0] (1..4), or 0 when s[0..len) does not start with one.
int textout_utf8_char_len(const char *s, size_t len);

// At a position where textout_utf8_char_len is 0: the length of the "maximal subpart" to replace
// by one U+FFFD (Unicode's recommended practice, as Python's errors="replace" and the WHATWG
// TextDecoder do): a valid lead byte with the valid continuations that follow it, else 1.
int textout_utf8_invalid_len(const char *s, size_t len);

// Length of the longest prefix of s[0..len) that does not end inside an unfinished (but so far
// well-formed) multi-byte character. Malformed bytes count as complete (they are final).
size_t textout_utf8_complete_len(const char *s, size_t len);

// Scans text[from..len) for the earliest occurrence of any of the n_stop stop strings (non-empty).
// Returns its start offset, or -1 when none occurs.
int64_t textout_find_stop(const char *text, size_t len, size_t from, char *const *stop, int64_t n_stop);

// How many bytes of text[0..len) may be released now: the text minus its longest suffix that is a
// proper prefix of some stop string, further cut back to a whole UTF-8 character. Never less than
// `released` (what was already sent stays sent).
size_t textout_releasable(const char *text, size_t len, size_t released, char *const *stop, int64_t n_stop);

#endif
