#include "review/telrec.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

// ---- the fields we read, by key ----

typedef enum { F_STR, F_BOOL, F_NUM, F_INT, F_USD, F_TIME, F_SCHEMA } FieldKind;

typedef struct {
    const char *key;
    FieldKind kind;
    size_t off;
} Field;

#define FLD(k, kind, m) {k, kind, offsetof(TelRec, m)}
static const Field FIELDS[] = {
    FLD("schema_version", F_INT, schema), FLD("schema", F_SCHEMA, schema), FLD("time", F_TIME, t_us), FLD("id", F_STR, id), FLD("record", F_STR, record),
    FLD("endpoint", F_STR, endpoint), FLD("route", F_STR, route), FLD("decision", F_STR, decision), FLD("reason", F_STR, reason),
    FLD("tier", F_STR, tier), FLD("first_tier", F_STR, first_tier), FLD("model", F_STR, model),
    FLD("finish_reason", F_STR, finish_reason), FLD("error", F_STR, error),
    FLD("quantization", F_STR, quantization), FLD("accelerator", F_STR, accelerator),
    FLD("escalated", F_BOOL, escalated), FLD("canary_candidate", F_BOOL, canary_candidate),
    FLD("stream", F_BOOL, stream), FLD("prompt_tokens", F_NUM, prompt_tokens),
    FLD("output_tokens", F_NUM, output_tokens), FLD("queue_ms", F_NUM, queue_ms), FLD("ttft_ms", F_NUM, ttft_ms),
    FLD("tpot_ms", F_NUM, tpot_ms), FLD("e2e_ms", F_NUM, e2e_ms), FLD("batch_size", F_NUM, batch_size),
    FLD("confidence", F_NUM, confidence), FLD("status", F_INT, status), FLD("attempts", F_INT, attempts),
    FLD("cost_usd", F_USD, cost_nusd), FLD("cost_busy_usd", F_USD, cost_busy_nusd),
    FLD("cost_idle_usd", F_USD, cost_idle_nusd), FLD("first_tier_cost_usd", F_USD, first_tier_cost_nusd),
};
#undef FLD

// Open-addressed table from a cheap key hash to FIELDS index + 1 (0: empty), built once.
#define KEY_SLOTS 256
static uint8_t key_slot[KEY_SLOTS];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static unsigned key_hash(const char *k, size_t n) {
    return (unsigned)(n * 31u + (unsigned char)k[0] * 7u + (unsigned char)k[n - 1] * 13u +
                      (n > 5 ? (unsigned char)k[5] * 3u : 0u)) % KEY_SLOTS;
}

static void keys_build(void) {
    for (size_t i = 0; i < ARRAY_LEN(FIELDS); i++) {
        unsigned h = key_hash(FIELDS[i].key, strlen(FIELDS[i].key));
        while (key_slot[h]) h = (h + 1) % KEY_SLOTS;
        key_slot[h] = (uint8_t)(i + 1);
    }
}

static const Field *key_find(const char *k, size_t n) {
    if (n == 0) return NULL;
    for (unsigned h = key_hash(k, n); key_slot[h]; h = (h + 1) % KEY_SLOTS) {
        const Field *f = &FIELDS[key_slot[h] - 1];
        if (strlen(f->key) == n && memcmp(f->key, k, n) == 0) return f;
    }
    return NULL;
}

// ---- numbers ----

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// Scans a JSON number at p (end e). Sets *v (correctly rounded: the fast path only where it is
// exact, strtod otherwise) and, when usd is non-NULL, the value in nano-dollars rounded half away
// from zero from the decimal digits themselves. Returns the end of the number or NULL.
static const char *scan_number(const char *p, const char *e, double *v, int64_t *usd) {
    const char *s = p;
    bool neg = false;
    if (p < e && *p == '-') { neg = true; p++; }
    uint64_t mant = 0;
    int digits = 0, frac = 0, nano_digits = 0;
    uint64_t nano = 0;        // integer part and the first 9 fraction digits
    int round_up = 0;
    const char *d0 = p;
    while (p < e && *p >= '0' && *p <= '9') {
        if (digits < 19) mant = mant * 10 + (uint64_t)(*p - '0');
        digits++;
        if (nano < (uint64_t)1e17) nano = nano * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p == d0) return NULL;
    if (p < e && *p == '.') {
        p++;
        const char *f0 = p;
        while (p < e && *p >= '0' && *p <= '9') {
            if (digits < 19) { mant = mant * 10 + (uint64_t)(*p - '0'); frac++; }
            digits++;
            if (nano_digits < 9) { nano = nano * 10 + (uint64_t)(*p - '0'); nano_digits++; }
            else if (nano_digits == 9) { round_up = *p >= '5'; nano_digits++; }
            p++;
        }
        if (p == f0) return NULL;
    }
    bool expo = false;
    if (p < e && (*p == 'e' || *p == 'E')) {
        expo = true;
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        const char *x0 = p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        if (p == x0) return NULL;
    }
    if (!expo && digits <= 15 && frac <= 22) {
        *v = (double)mant / POW10[frac];   // both exact: one correctly rounded division
        if (neg) *v = -*v;
    } else {
        char tmp[64];
        size_t n = (size_t)(p - s);
        if (n >= sizeof tmp) n = sizeof tmp - 1;
        memcpy(tmp, s, n);
        tmp[n] = 0;
        *v = strtod(tmp, NULL);
    }
    if (usd) {
        if (expo || nano >= (uint64_t)1e17) {
            *usd = (int64_t)llround(*v * 1e9);
        } else {
            for (int i = nano_digits < 9 ? nano_digits : 9; i < 9; i++) nano *= 10;
            int64_t x = (int64_t)nano + round_up;
            *usd = neg ? -x : x;
        }
    }
    return p;
}

// ---- strings and skipping ----

// p at the opening quote. Returns the position after the closing quote (or NULL); *out is the raw
// content (escapes kept as written: our names never contain any).
static const char *scan_string(const char *p, const char *e, Str *out) {
    const char *s = ++p;
    while (p < e) {
        if (*p == '\\') { p += 2; continue; }
        if (*p == '"') { *out = (Str){s, (size_t)(p - s)}; return p + 1; }
        p++;
    }
    return NULL;
}

static const char *skip_ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

// Skips any JSON value (objects and arrays by depth, strings by their quotes).
static const char *skip_value(const char *p, const char *e) {
    if (p >= e) return NULL;
    Str tmp;
    if (*p == '"') return scan_string(p, e, &tmp);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < e) {
            if (*p == '"') { p = scan_string(p, e, &tmp); if (!p) return NULL; continue; }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') { if (--depth == 0) return p + 1; }
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && *p != ',' && *p != '}' && *p != ' ') p++;
    if (p == s) return NULL;
    size_t n = (size_t)(p - s);
    if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) || (n == 4 && !memcmp(s, "null", 4)))
        return p;
    double v;
    const char *q = scan_number(s, p, &v, NULL);
    return q == p ? p : NULL;
}

// ---- one value into its field ----

static const char *read_field(const Field *f, const char *p, const char *e, TelRec *r) {
    char *dst = (char *)r + f->off;
    if (e - p >= 4 && !memcmp(p, "null", 4)) return p + 4;   // null: the field stays absent
    switch (f->kind) {
    case F_STR:
        return *p == '"' ? scan_string(p, e, (Str *)dst) : NULL;
    case F_BOOL:
        if (e - p >= 4 && !memcmp(p, "true", 4)) { *(bool *)dst = true; return p + 4; }
        if (e - p >= 5 && !memcmp(p, "false", 5)) { *(bool *)dst = false; return p + 5; }
        return NULL;
    case F_NUM:
        return scan_number(p, e, (double *)dst, NULL);
    case F_INT: {
        double v;
        const char *q = scan_number(p, e, &v, NULL);
        if (q) *(int *)dst = v > 1e9 ? 1000000000 : v < -1e9 ? -1000000000 : (int)v;
        return q;
    }
    case F_USD: {
        double v;
        return scan_number(p, e, &v, (int64_t *)dst);
    }
    case F_SCHEMA: {   // "schema": N or "NAME/N"
        if (*p != '"') return read_field(&(Field){f->key, F_INT, f->off}, p, e, r);
        Str s;
        const char *q = scan_string(p, e, &s);
        if (!q) return NULL;
        size_t i = s.len;
        while (i > 0 && s.ptr[i - 1] >= '0' && s.ptr[i - 1] <= '9') i--;
        int v = 0;
        for (size_t k = i; k < s.len && k < i + 6; k++) v = v * 10 + (s.ptr[k] - '0');
        *(int *)dst = v;
        return q;
    }
    case F_TIME: {
        Str s;
        const char *q = *p == '"' ? scan_string(p, e, &s) : NULL;
        if (!q || telrec_parse_time(s.ptr, s.len, &r->t_us)) return NULL;
        r->has_time = true;
        return q;
    }
    }
    return NULL;
}

static void rec_clear(TelRec *r) {
    memset(r, 0, sizeof *r);
    r->prompt_tokens = r->output_tokens = r->queue_ms = r->ttft_ms = NAN;
    r->tpot_ms = r->e2e_ms = r->batch_size = r->confidence = NAN;
    r->cost_nusd = r->cost_busy_nusd = r->cost_idle_nusd = r->first_tier_cost_nusd = -1;
}

int telrec_parse(const char *line, size_t len, TelRec *r, char *err, size_t err_len) {
    pthread_once(&key_once, keys_build);
    rec_clear(r);
    const char *p = line, *e = line + len;
    p = skip_ws(p, e);
    if (p >= e) return err_set(err, err_len, ERR_FORMAT, "blank line");
    if (*p != '{') return err_set(err, err_len, ERR_FORMAT, "not a JSON object");
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') return err_set(err, err_len, ERR_FORMAT, "empty object (no \"time\")");
    for (;;) {
        Str key;
        if (p >= e || *p != '"' || !(p = scan_string(p, e, &key)))
            return err_set(err, err_len, ERR_FORMAT, "truncated or malformed key at byte %zu", (size_t)(p ? p - line : 0));
        p = skip_ws(p, e);
        if (p >= e || *p != ':') return err_set(err, err_len, ERR_FORMAT, "missing ':' after key at byte %zu", (size_t)(p - line));
        p = skip_ws(p + 1, e);
        const Field *f = key_find(key.ptr, key.len);
        const char *q = f ? read_field(f, p, e, r) : skip_value(p, e);
        if (!q) return err_set(err, err_len, ERR_FORMAT, "bad or truncated value for \"%.*s\" at byte %zu",
                               (int)(key.len < 40 ? key.len : 40), key.ptr, (size_t)(p - line));
        p = skip_ws(q, e);
        if (p < e && *p == ',') { p = skip_ws(p + 1, e); continue; }
        if (p < e && *p == '}') break;
        return err_set(err, err_len, ERR_FORMAT, "truncated record (no closing '}')");
    }
    p = skip_ws(p + 1, e);
    if (p != e) return err_set(err, err_len, ERR_FORMAT, "text after the record's closing '}'");
    if (!r->has_time) return err_set(err, err_len, ERR_FORMAT, "record has no \"time\"");
    return 0;
}

// ---- time ----

// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits_at(const char *s, size_t len, size_t at, int n, int *out) {
    if (at + (size_t)n > len) return -1;
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[at + (size_t)i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

int telrec_parse_time(const char *s, size_t len, int64_t *t_us) {
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (digits_at(s, len, 0, 4, &y) || len < 10 || s[4] != '-' || digits_at(s, len, 5, 2, &mo) || s[7] != '-' ||
        digits_at(s, len, 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
        return ERR_FORMAT;
    int64_t us = 0;
    size_t i = 10;
    if (len > 10) {
        if ((s[10] != 'T' && s[10] != ' ') || digits_at(s, len, 11, 2, &h) || len < 16 || s[13] != ':' ||
            digits_at(s, len, 14, 2, &mi) || h > 23 || mi > 59)
            return ERR_FORMAT;
        i = 16;
        if (i < len && s[i] == ':') {
            if (digits_at(s, len, 17, 2, &sec) || sec > 60) return ERR_FORMAT;
            i = 19;
            if (i < len && s[i] == '.') {
                i++;
                int64_t scale = 100000;
                size_t f0 = i;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    us += (s[i] - '0') * scale;
                    scale /= 10;
                    i++;
                }
                if (i == f0) return ERR_FORMAT;
            }
        }
        int64_t off_s = 0;
        if (i < len && s[i] == 'Z') i++;
        else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int oh, om;
            if (digits_at(s, len, i + 1, 2, &oh) || len < i + 6 || s[i + 3] != ':' || digits_at(s, len, i + 4, 2, &om))
                return ERR_FORMAT;
            off_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
            i += 6;
        }
        if (i != len) return ERR_FORMAT;
        us -= off_s * 1000000;
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *t_us = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + us;
    return 0;
}

int64_t telrec_day(int64_t t_us) {
    int64_t s = t_us >= 0 ? t_us / 1000000 : -((-t_us + 999999) / 1000000);
    return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

void telrec_day_str(int64_t z, char *buf, size_t cap) {
    // civil_from_days (Hinnant).
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    snprintf(buf, cap, "%04lld-%02u-%02u", (long long)(y + (m <= 2)), m, d);
}

void telrec_time_str(int64_t t_us, char *buf, size_t cap) {
    int64_t day = telrec_day(t_us);
    int64_t sod = t_us / 1000000 - day * 86400;
    char d[16];
    telrec_day_str(day, d, sizeof d);
    snprintf(buf, cap, "%sT%02d:%02d:%02dZ", d, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
}
