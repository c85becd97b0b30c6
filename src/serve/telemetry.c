#include "serve/telemetry.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "base/check.h"
#include "base/log.h"

int telemetry_open(Telemetry *t, const char *path, int64_t max_bytes, char *err, size_t err_len) {
    memset(t, 0, sizeof *t);
    t->max_bytes = max_bytes;
    t->keep = 3;
    if (!path || !path[0] || strcmp(path, "-") == 0) {
        t->f = stdout;
        return 0;
    }
    snprintf(t->path, sizeof t->path, "%s", path);
    t->f = fopen(path, "a");
    if (!t->f) return err_set(err, err_len, ERR_IO, "cannot open telemetry file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(t->f), &st) == 0) t->bytes = (int64_t)st.st_size;
    return 0;
}

// path.(keep-1) → path.keep, ..., path → path.1, then a fresh path.
static void rotate(Telemetry *t) {
    fclose(t->f);   // (flushes what is buffered into the file being rotated)
    t->unflushed = false;
    char from[600], to[600];
    for (int i = t->keep - 1; i >= 1; i--) {
        snprintf(from, sizeof from, "%s.%d", t->path, i);
        snprintf(to, sizeof to, "%s.%d", t->path, i + 1);
        rename(from, to);
    }
    snprintf(to, sizeof to, "%s.1", t->path);
    rename(t->path, to);
    t->f = fopen(t->path, "a");
    t->bytes = 0;
    if (!t->f) LOG_E("telemetry: cannot reopen '%s' after rotation: %s", t->path, strerror(errno));
}

void telemetry_write(Telemetry *t, const char *line, size_t len) {
    if (!t->f) return;
    if (t->path[0] && t->max_bytes > 0 && t->bytes > 0 && t->bytes + (int64_t)len + 1 > t->max_bytes) {
        rotate(t);
        if (!t->f) return;
    }
    fwrite(line, 1, len, t->f);
    fputc('\n', t->f);
    t->bytes += (int64_t)len + 1;
    t->records++;
    t->unflushed = true;
}

void telemetry_flush(Telemetry *t) {
    if (!t->f || !t->unflushed) return;
    fflush(t->f);
    t->unflushed = false;
}

void telemetry_close(Telemetry *t) {
    telemetry_flush(t);
    if (t->f && t->f != stdout) fclose(t->f);
    t->f = NULL;
}
