// jsonw.h — appending the members of a flat JSON record (the gateway's telemetry lines) without
// printf: keys, escaped strings, integers, fixed-point numbers and an ISO 8601 time. They run
// once per field per request on the gateway's loop thread, so each is a few appends.
// Every function appends `,"key":value` (a member after the record's first) to b; on memory
// failure b is left as Buf leaves it (the record is cut, never corrupt past its end).
#ifndef RS_JSONW_H
#define RS_JSONW_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

// The calendar part of the last second formatted ("YYYY-MM-DDThh:mm:ss."), reused within it.
typedef struct {
    int64_t sec;
    char text[80];
} JsonwClock;

// v in decimal into out (at least 20 bytes); returns the length (no NUL).
size_t jsonw_u64(char *out, uint64_t v);
// v in units of 10^-digits (0 <= digits <= 9) as a decimal: (1234567, 3) -> 1234.567, (-5, 3) -> -0.005.
void jsonw_fixed_text(Buf *b, int64_t v, int digits);

void jsonw_key(Buf *b, const char *key);                  // ,"key":   (key: plain, < 60 bytes)
void jsonw_str(Buf *b, const char *key, const char *v);   // NULL -> null; '"', '\' and controls escaped
void jsonw_fixed(Buf *b, const char *key, int64_t v, int digits);   // null when v < 0
void jsonw_num(Buf *b, const char *key, double v, int digits);      // rounded; null when NaN or < 0
void jsonw_int(Buf *b, const char *key, int64_t v);                 // null when v < 0
// Exact: the shortest-safe %.17g, which reads back as the same double (a value a reader must
// compare against a threshold as the writer did, e.g. a cascade's confidence); null when NaN or < 0.
void jsonw_real(Buf *b, const char *key, double v);
void jsonw_sint(Buf *b, const char *key, int64_t v);                // any sign
void jsonw_bool(Buf *b, const char *key, bool v);
// "YYYY-MM-DDThh:mm:ss.uuuuuuZ" (UTC) of wall_us (µs since the epoch, >= 0).
void jsonw_time(Buf *b, const char *key, JsonwClock *c, int64_t wall_us);

#endif
