#include "review/review_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/check.h"

// ---- rotated files in order ----

// Splits "base.N" into its base length and N (N = 0 when the name has no numeric suffix).
static int rot_suffix(const char *p, size_t *base_len) {
    size_t n = strlen(p), i = n;
    while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') i--;
    if (i == n || i == 0 || p[i - 1] != '.' || n - i > 6) { *base_len = n; return 0; }
    *base_len = i - 1;
    return atoi(p + i);
}

static bool same_base(const char *a, const char *b) {
    size_t la, lb;
    rot_suffix(a, &la);
    rot_suffix(b, &lb);
    return la == lb && strncmp(a, b, la) == 0;
}

void review_order_files(const char **paths, int n) {
    // Sort key: (first position of the file's base among the arguments, suffix descending), by a
    // stable insertion sort (a handful of files).
    for (int i = 1; i < n; i++) {
        const char *x = paths[i];
        size_t bl;
        int sx = rot_suffix(x, &bl);
        int gx = 0;
        while (gx < i && !same_base(paths[gx], x)) gx++;
        int j = i;
        while (j > 0) {
            const char *y = paths[j - 1];
            int gy = 0;
            while (gy < j - 1 && !same_base(paths[gy], y)) gy++;
            size_t yl;
            int sy = rot_suffix(y, &yl);
            bool before = gx < gy || (gx == gy && sx > sy);
            if (!before) break;
            paths[j] = y;
            j--;
        }
        paths[j] = x;
    }
}

// ---- reading ----

typedef struct {
    Review *rv;
    const char *path;
    int64_t line_no;
} LineCtx;

static void one_line(LineCtx *c, const char *p, size_t n) {
    c->line_no++;
    c->rv->lines++;
    if (n && p[n - 1] == '\r') n--;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    if (i == n) { c->rv->blank++; return; }
    TelRec r;
    char why[96];
    if (telrec_parse(p, n, &r, why, sizeof why)) review_bad_line(c->rv, c->path, c->line_no, why);
    else review_add(c->rv, &r);
}

static int read_one(Review *rv, const char *path, char *buf, int64_t *done, int64_t total,
                    ReviewProgressFn progress, void *ctx, char *err, size_t err_len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return err_set(err, err_len, ERR_IO, "cannot open telemetry file '%s': %s", path, strerror(errno));
    rv->n_files++;
    LineCtx c = {rv, path, 0};
    size_t have = 0;           // bytes of an unfinished line at buf[0..have)
    bool skipping = false;     // inside a line longer than REVIEW_MAX_LINE
    int64_t file_bytes = 0, last_report = 0;
    for (;;) {
        ssize_t got = read(fd, buf + have, REVIEW_MAX_LINE + REVIEW_READ_CHUNK - have > REVIEW_READ_CHUNK
                                               ? REVIEW_READ_CHUNK : REVIEW_MAX_LINE + REVIEW_READ_CHUNK - have);
        if (got < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            return err_set(err, err_len, ERR_IO, "reading '%s': %s", path, strerror(e));
        }
        if (got == 0) break;
        file_bytes += got;
        *done += got;
        size_t end = have + (size_t)got, start = 0;
        for (;;) {
            char *nl = memchr(buf + have, '\n', end - have);
            if (!nl) break;
            size_t at = (size_t)(nl - buf);
            if (skipping) { skipping = false; c.line_no++; rv->lines++; }
            else one_line(&c, buf + start, at - start);
            start = at + 1;
            have = start;
        }
        memmove(buf, buf + start, end - start);
        have = end - start;
        if (have >= REVIEW_MAX_LINE) {
            if (!skipping) review_bad_line(rv, path, c.line_no + 1, "line longer than 16 MiB");
            skipping = true;
            have = 0;
        }
        if (progress && *done - last_report >= (64 << 20)) { progress(ctx, *done, total, rv->records); last_report = *done; }
    }
    close(fd);
    if (have && !skipping) one_line(&c, buf, have);   // a last line without its newline
    if (file_bytes == 0) {
        if (!rv->n_empty_files) snprintf(rv->empty_file, sizeof rv->empty_file, "%s", path);
        rv->n_empty_files++;
    }
    return 0;
}

int review_read_files(Review *rv, const char *const *paths, int n, ReviewProgressFn progress, void *ctx,
                      char *err, size_t err_len) {
    int64_t total = 0, done = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) return err_set(err, err_len, ERR_IO, "cannot open telemetry file '%s': %s", paths[i], strerror(errno));
        if (S_ISDIR(st.st_mode)) return err_set(err, err_len, ERR_IO, "'%s' is a directory; give the telemetry files themselves", paths[i]);
        total += (int64_t)st.st_size;
    }
    char *buf = malloc(REVIEW_MAX_LINE + REVIEW_READ_CHUNK);
    if (!buf) return err_set(err, err_len, ERR_NOMEM, "out of memory for the read buffer");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = read_one(rv, paths[i], buf, &done, total, progress, ctx, err, err_len);
    free(buf);
    if (progress && !rc) progress(ctx, done, total, rv->records);
    return rc;
}
