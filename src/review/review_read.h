// review_read.h — streams telemetry files into a Review: fixed-size reads, one line at a time,
// corrupt lines counted with their file:line and skipped, rotated files read oldest first.
#ifndef RS_REVIEW_READ_H
#define RS_REVIEW_READ_H

#include <stddef.h>
#include <stdint.h>

#include "review/review.h"

#define REVIEW_READ_CHUNK (4u << 20)     // bytes per read()
#define REVIEW_MAX_LINE (16u << 20)      // a longer line is counted as corrupt

// Progress: bytes read so far of the total over all files, and records accepted.
typedef void (*ReviewProgressFn)(void *ctx, int64_t bytes_done, int64_t bytes_total, int64_t records);

// Puts rotated files in time order, in place: telemetry.c rotates PATH to PATH.1, PATH.1 to PATH.2
// and so on, so PATH.3 is the oldest and PATH the newest. Other names keep their relative order.
void review_order_files(const char **paths, int n);

// Reads every file into rv. Returns 0, or ERR_IO when a file cannot be opened or read (the message
// names it). Corrupt lines never fail the read.
int review_read_files(Review *rv, const char *const *paths, int n, ReviewProgressFn progress, void *ctx,
                      char *err, size_t err_len);

#endif
