// telemetry.h — one JSON line per request (fields: docs/telemetry.md) to a file rotated by size, or
// to stdout. Written from the gateway's loop thread only (not thread-safe by itself).
#ifndef RS_TELEMETRY_H
#define RS_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Every record's "schema" field (docs/telemetry.md). Records without one are version 1.
#define TELEMETRY_SCHEMA "rightsize.telemetry/2"

typedef struct {
    FILE *f;
    char path[512];          // "" or "-": stdout
    int64_t max_bytes;       // rotate when the file would pass this (0: never)
    int64_t bytes;
    int keep;                // rotated files kept: path.1 .. path.keep
    int64_t records;
    bool unflushed;          // records written to the stdio buffer since the last flush
} Telemetry;

// Opens path for appending ("-" or NULL: stdout). 0 or ERR_IO with a message.
int telemetry_open(Telemetry *t, const char *path, int64_t max_bytes, char *err, size_t err_len);
// Appends one line (line must not contain '\n'; the newline is added) to the stdio buffer; the
// gateway calls telemetry_flush once per loop turn before it waits, so a busy loop writes many
// records per write(2) and a record reaches the file within the loop turn that finished it.
void telemetry_write(Telemetry *t, const char *line, size_t len);
void telemetry_flush(Telemetry *t);
void telemetry_close(Telemetry *t);

#endif
