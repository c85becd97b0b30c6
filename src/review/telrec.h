// telrec.h — one telemetry record (docs/telemetry.md; the gateway's JSON line per request) read
// by a hand-rolled scanner.
//
// Why not cJSON: the records are flat objects of ~30 keys, and `report` must read a month of them
// (2M lines, ~1.3 GB) in under 10 s on 2 cores. cJSON builds a tree of heap nodes per line and
// converts every number with strtod: on such a file it took 7-15 s (median 9.6 s) only to parse
// the lines, where the whole report with this scanner takes ~4.8 s (docs/BENCHMARKS.md,
// scripts/bench.d/80-report). This scanner walks the line once, allocates
// nothing, keeps strings as views into the line, converts numbers with a fast path that is exact
// where the digits allow (Clinger's: mantissa < 2^53 and a power of ten <= 22, else strtod), and
// keeps money as integer nano-dollars so sums are exact. Unknown keys, nested values and keys of
// other schema versions are skipped, so older and newer records load alike.
#ifndef RS_REVIEW_TELREC_H
#define RS_REVIEW_TELREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

typedef struct {
    int schema;                 // "schema_version": N, or "schema": N or "NAME/N" (absent: 0)
    int64_t t_us;               // "time": when the record was written (the request's end), µs since 1970 UTC
    bool has_time;
    Str record;                 // "record": absent for a request; "replica" for a replica's close
    Str id, endpoint, route, decision, reason, tier, first_tier, model, finish_reason, error, quantization, accelerator;
    bool escalated, canary_candidate, stream;
    // Numbers: NAN when absent or null.
    double prompt_tokens, output_tokens, queue_ms, ttft_ms, tpot_ms, e2e_ms, batch_size, confidence;
    int status, attempts;       // 0 when absent
    // Money in nano-dollars (the gateway writes 9 decimals), -1 when absent or null.
    int64_t cost_nusd, cost_busy_nusd, cost_idle_nusd, first_tier_cost_nusd;
} TelRec;

// Parses one line (without its newline) into r. Returns 0, or ERR_FORMAT with the reason in err
// (a truncated line, a value that is not JSON, a record without "time"). r's Str fields point
// into line.
int telrec_parse(const char *line, size_t len, TelRec *r, char *err, size_t err_len);

// "YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)" or "YYYY-MM-DD" -> µs since 1970 UTC. 0 or ERR_FORMAT.
int telrec_parse_time(const char *s, size_t len, int64_t *t_us);
// µs since 1970 -> days since 1970 (floor) and the parts of that day.
int64_t telrec_day(int64_t t_us);
// Civil date of a day number: "YYYY-MM-DD" into buf (>= 11 bytes).
void telrec_day_str(int64_t day, char *buf, size_t cap);

// µs since 1970 -> "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes).
void telrec_time_str(int64_t t_us, char *buf, size_t cap);

#endif
