// gw_stream_bench.c — µs per SSE event the gateway spends passing a stream through
// (src/serve/gw_stream.c: framing at event boundaries, reading the event for telemetry, handing
// it to the client's buffer), for a typical chat content chunk, against a full cJSON parse of
// the same event (what reading every event by parsing it would cost). Built and run by
// scripts/bench.d/62-gw-stream. Prints "name us_per_event" lines, median of 5 repetitions.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "serve/gw_int.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    static Gateway g;
    static const char first[] =
        "data: {\"id\":\"chatcmpl-0000000000000001\",\"object\":\"chat.completion.chunk\",\"created\":1796288710,"
        "\"model\":\"tiny\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    static const char ev[] =
        "data: {\"id\":\"chatcmpl-0000000000000001\",\"object\":\"chat.completion.chunk\",\"created\":1796288710,"
        "\"model\":\"tiny\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"logprobs\":null,"
        "\"finish_reason\":null}]}\n\n";
    enum { N = 200000, REPS = 5 };
    double pass[REPS], parse[REPS];
    size_t n = sizeof ev - 1;
    for (int rep = 0; rep < REPS; rep++) {
        GwReq r;
        memset(&r, 0, sizeof r);
        r.gw = &g;
        r.prompt_tokens = r.output_tokens = -1;
        pthread_mutex_init(&r.mu, NULL);
        GwCall c = {.req = &r, .pass_stream = true};
        gw_stream_feed(&c, first, sizeof first - 1, 1);
        int64_t t0 = clock_now_us();
        for (int i = 0; i < N; i++) {
            gw_stream_feed(&c, ev, n, 2 + i);
            if (r.out.len > (1u << 20)) r.out.len = 0;   // the client took it
        }
        pass[rep] = (double)(clock_now_us() - t0) / N;
        if (r.n_content_events != N) {
            fprintf(stderr, "gw_stream_bench: %lld content events, want %d\n", (long long)r.n_content_events, N);
            return 1;
        }
        buf_free(&r.out);
        buf_free(&c.sse);
        pthread_mutex_destroy(&r.mu);
        t0 = clock_now_us();
        for (int i = 0; i < N; i++) cJSON_Delete(cJSON_ParseWithLength(ev + 6, n - 8));
        parse[rep] = (double)(clock_now_us() - t0) / N;
    }
    qsort(pass, REPS, sizeof *pass, cmp);
    qsort(parse, REPS, sizeof *parse, cmp);
    printf("pass-through %.3f\ncjson-parse %.3f\n", pass[REPS / 2], parse[REPS / 2]);
    return 0;
}
