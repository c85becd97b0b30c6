// test_jsonw.c — the telemetry record's member writers (src/serve/jsonw.c). Truth: printf
// ("%.*f", "%lld"), gmtime_r + strftime-style printf for the time, and cJSON reading the
// record back (every escaped string comes back byte for byte).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/rng.h"
#include "serve/jsonw.h"
#include "test.h"

// The member's value text: b holds `,"k":VALUE`.
static const char *value_of(const Buf *b) { return b->data + 5; }

TEST(jsonw_fixed_matches_printf) {
    Rng g;
    rng_seed(&g, 7);
    for (int i = 0; i < 20000; i++) {
        int d = (int)rng_below(&g, 10);
        int64_t v = (int64_t)rng_below(&g, 1000000000000ULL) >> rng_below(&g, 40);
        if (i % 3 == 0) v = -v;
        Buf b = {0};
        jsonw_fixed_text(&b, v, d);
        char want[64];
        if (d == 0) snprintf(want, sizeof want, "%lld", (long long)v);
        else snprintf(want, sizeof want, "%.*f", d, (double)v / pow(10, d));
        if (v < 0 && v > -(int64_t)pow(10, d) && d) {   // printf keeps the sign of a small negative
            EXPECT(b.data[0] == '-');
        }
        if (strcmp(b.data, want) != 0) {
            EXPECT(strcmp(b.data, want) == 0);
            fprintf(stderr, "v=%lld d=%d got %s want %s\n", (long long)v, d, b.data, want);
            buf_free(&b);
            return;
        }
        buf_free(&b);
    }
    Buf b = {0};
    jsonw_fixed_text(&b, INT64_MIN, 0);
    EXPECT(strcmp(b.data, "-9223372036854775808") == 0);
    buf_free(&b);
}

TEST(jsonw_num_matches_printf_away_from_ties) {
    Rng g;
    rng_seed(&g, 11);
    int checked = 0;
    for (int i = 0; i < 50000; i++) {
        int d = i % 2 ? 3 : 6;
        double v = rng_uniform(&g) * pow(10, (double)rng_below(&g, 9));
        double s = v * pow(10, d), frac = s - floor(s);
        if (fabs(frac - 0.5) < 1e-6) continue;   // a tie's last digit may differ by one: either is right
        Buf b = {0};
        jsonw_num(&b, "k", v, d);
        char want[64];
        snprintf(want, sizeof want, "%.*f", d, v);
        EXPECT(strcmp(value_of(&b), want) == 0);
        buf_free(&b);
        checked++;
    }
    EXPECT(checked > 49000);
    const double nulls[] = {-1, -0.001, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        Buf b = {0};
        jsonw_num(&b, "k", nulls[i], 3);
        EXPECT(strcmp(b.data, ",\"k\":null") == 0);
        buf_free(&b);
    }
    Buf b = {0};
    jsonw_num(&b, "k", 1e17, 3);   // past the integer path: printf's text
    EXPECT(strcmp(value_of(&b), "100000000000000000.000") == 0);
    buf_free(&b);
}

TEST(jsonw_ints_and_bools) {
    Buf b = {0};
    jsonw_int(&b, "a", 0);
    jsonw_int(&b, "b", -1);
    jsonw_sint(&b, "c", -42);
    jsonw_int(&b, "d", 9007199254740993LL);
    jsonw_bool(&b, "e", true);
    jsonw_bool(&b, "f", false);
    jsonw_fixed(&b, "g", -3, 3);
    jsonw_fixed(&b, "h", 1500, 3);
    EXPECT(strcmp(b.data, ",\"a\":0,\"b\":null,\"c\":-42,\"d\":9007199254740993,\"e\":true,\"f\":false,\"g\":null,"
                          "\"h\":1.500") == 0);
    buf_free(&b);
}

TEST(jsonw_str_round_trips_through_cjson) {
    const char *cases[] = {"", "plain", "quote \" and \\ backslash", "ctl \x01\x1f\n\r\t end", "utf-8 caf\xc3\xa9 \xe2\x82\xac",
                           "\"\"\\\\", "\x7f del"};
    Rng g;
    rng_seed(&g, 3);
    char rnd[200];
    for (int k = 0; k < 2000 + (int)ARRAY_LEN(cases); k++) {
        const char *s = k < (int)ARRAY_LEN(cases) ? cases[k] : rnd;
        if (k >= (int)ARRAY_LEN(cases)) {   // random bytes 1..127 (the gateway's strings are text)
            size_t n = rng_below(&g, sizeof rnd - 1);
            for (size_t i = 0; i < n; i++) rnd[i] = (char)(1 + rng_below(&g, 127));
            rnd[n] = 0;
        }
        Buf b = {0};
        buf_append_str(&b, "{\"x\":1");
        jsonw_str(&b, "s", s);
        jsonw_str(&b, "n", NULL);
        buf_append_str(&b, "}");
        cJSON *j = cJSON_Parse(b.data);
        ASSERT(j);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "s");
        EXPECT(cJSON_IsString(v) && strcmp(v->valuestring, s) == 0);
        EXPECT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "n")));
        cJSON_Delete(j);
        buf_free(&b);
    }
}

TEST(jsonw_time_matches_gmtime) {
    Rng g;
    rng_seed(&g, 5);
    JsonwClock c = {0};
    int64_t t = 1764770000LL * 1000000;   // late 2025
    for (int i = 0; i < 5000; i++) {
        // mostly forward within and across seconds, sometimes a jump back or far ahead
        int64_t step = i % 97 == 0 ? -(int64_t)rng_below(&g, 5000000) : (int64_t)rng_below(&g, 400000);
        if (i % 500 == 0) step = (int64_t)rng_below(&g, 1000000000000000ULL);
        t += step;
        Buf b = {0};
        jsonw_time(&b, "time", &c, t);
        time_t secs = (time_t)(t / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[96];
        snprintf(want, sizeof want, ",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(t % 1000000));
        EXPECT(strcmp(b.data, want) == 0);
        buf_free(&b);
    }
}

// A real read back by a JSON parser is the same double (the cascade's confidence is re-judged
// against its threshold by `report` and by the loop's replay; a rounded 0.00195 is not 0.0019499).
TEST(jsonw_real_round_trips) {
    Rng g;
    rng_seed(&g, 9);
    for (int i = 0; i < 20000; i++) {
        double v = i == 0 ? 0.0 : i == 1 ? 0.0019499999999999999 : (double)rng_below(&g, 1u << 30) / (double)(1u << 30) * pow(10.0, -(double)(i % 12));
        Buf b = {0};
        buf_append_str(&b, "{\"x\":1");
        jsonw_real(&b, "c", v);
        jsonw_real(&b, "nan", NAN);
        jsonw_real(&b, "neg", -1.0);
        buf_append_str(&b, "}");
        cJSON *j = cJSON_Parse(b.data);
        ASSERT(j);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "c");
        EXPECT(cJSON_IsNumber(c) && c->valuedouble == v);
        EXPECT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "nan")));
        EXPECT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "neg")));
        cJSON_Delete(j);
        buf_free(&b);
    }
}
