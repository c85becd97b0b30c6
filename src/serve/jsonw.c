// jsonw.c — members of a flat JSON record without printf (jsonw.h).
#include "serve/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/check.h"

static const uint64_t POW10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

size_t jsonw_u64(char *out, uint64_t v) {
    char t[24];
    size_t n = 0;
    do t[n++] = (char)('0' + v % 10), v /= 10;
    while (v);
    for (size_t i = 0; i < n; i++) out[i] = t[n - 1 - i];
    return n;
}

// The low `digits` decimal digits of v into out, zero-padded.
static void put_frac(char *out, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--) out[i] = (char)('0' + v % 10), v /= 10;
}

void jsonw_fixed_text(Buf *b, int64_t v, int digits) {
    CHECK(digits >= 0 && digits < (int)ARRAY_LEN(POW10));
    char t[48];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (v < 0) t[n++] = '-';
    n += jsonw_u64(t + n, u / POW10[digits]);
    if (digits) {
        t[n++] = '.';
        put_frac(t + n, u % POW10[digits], digits);
        n += (size_t)digits;
    }
    buf_append(b, t, n);
}

void jsonw_key(Buf *b, const char *key) {
    char k[64];
    size_t n = strlen(key);
    CHECK(n + 4 <= sizeof k);
    k[0] = ',', k[1] = '"';
    memcpy(k + 2, key, n);
    k[n + 2] = '"', k[n + 3] = ':';
    buf_append(b, k, n + 4);
}

void jsonw_str(Buf *b, const char *key, const char *v) {
    jsonw_key(b, key);
    if (!v) {
        buf_append(b, "null", 4);
        return;
    }
    buf_append(b, "\"", 1);
    const unsigned char *run = (const unsigned char *)v, *p = run;
    for (; *p; p++) {   // plain runs go in one append
        if (*p != '"' && *p != '\\' && *p >= 0x20) continue;
        buf_append(b, run, (size_t)(p - run));
        char esc[8] = {'\\', (char)*p};
        if (*p < 0x20) snprintf(esc, sizeof esc, "\\u%04x", *p);
        buf_append(b, esc, *p < 0x20 ? 6 : 2);
        run = p + 1;
    }
    buf_append(b, run, (size_t)(p - run));
    buf_append(b, "\"", 1);
}

void jsonw_fixed(Buf *b, const char *key, int64_t v, int digits) {
    jsonw_key(b, key);
    if (v < 0) buf_append(b, "null", 4);
    else jsonw_fixed_text(b, v, digits);
}

void jsonw_num(Buf *b, const char *key, double v, int digits) {
    CHECK(digits >= 0 && digits < (int)ARRAY_LEN(POW10));
    double scaled = v * (double)POW10[digits];
    if (isnan(v) || v < 0) {
        jsonw_fixed(b, key, -1, digits);
    } else if (scaled < 9e15) {   // exact in an int64 and in a double's integers
        jsonw_fixed(b, key, (int64_t)llrint(scaled), digits);
    } else {   // huge (or infinite): printf's text
        jsonw_key(b, key);
        if (isinf(v)) buf_append(b, "null", 4);
        else buf_printf(b, "%.*f", digits, v);
    }
}

void jsonw_int(Buf *b, const char *key, int64_t v) { jsonw_fixed(b, key, v, 0); }

void jsonw_real(Buf *b, const char *key, double v) {
    jsonw_key(b, key);
    if (isnan(v) || isinf(v) || v < 0) buf_append(b, "null", 4);
    else buf_printf(b, "%.17g", v);
}

void jsonw_sint(Buf *b, const char *key, int64_t v) {
    jsonw_key(b, key);
    jsonw_fixed_text(b, v, 0);
}

void jsonw_bool(Buf *b, const char *key, bool v) {
    jsonw_key(b, key);
    buf_append(b, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_time(Buf *b, const char *key, JsonwClock *c, int64_t wall_us) {
    int64_t sec = wall_us / 1000000;
    if (sec != c->sec || !c->text[0]) {
        time_t secs = (time_t)sec;
        struct tm tmv;
        gmtime_r(&secs, &tmv);
        snprintf(c->text, sizeof c->text, "%04d-%02d-%02dT%02d:%02d:%02d.", tmv.tm_year + 1900, tmv.tm_mon + 1,
                 tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec);
        c->sec = sec;
    }
    jsonw_key(b, key);
    char t[96];
    size_t n = strlen(c->text);
    t[0] = '"';
    memcpy(t + 1, c->text, n);
    put_frac(t + 1 + n, (uint64_t)(wall_us % 1000000), 6);
    t[n + 7] = 'Z', t[n + 8] = '"';
    buf_append(b, t, n + 9);
}
