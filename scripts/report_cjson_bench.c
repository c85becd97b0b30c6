// report_cjson_bench.c — the alternative `report` did not take: parse every line of a telemetry
// file with cJSON and read the same fields (a tree per line, strtod per number). Prints MB/s so
// scripts/bench.d/80-report can set it beside `rightsize report` on the same file.
//   cc -O2 scripts/report_cjson_bench.c -lcjson -o report_cjson_bench && ./report_cjson_bench FILE
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: report_cjson_bench TELEMETRY.jsonl\n"); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 1; }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long records = 0, bytes = 0;
    double sum = 0;
    static const char *keys[] = {"time", "route", "tier", "status", "e2e_ms", "ttft_ms", "prompt_tokens",
                                 "output_tokens", "cost_usd", "escalated"};
    while ((n = getline(&line, &cap, f)) > 0) {
        bytes += n;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)n);
        if (!o) continue;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[k]);
            if (cJSON_IsNumber(v)) sum += v->valuedouble;
        }
        records++;
        cJSON_Delete(o);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    printf("cjson: %lld records, %.0f MB in %.2f s = %.0f MB/s (checksum %.3g)\n", records, (double)bytes / 1e6, s,
           (double)bytes / 1e6 / s, sum);
    free(line);
    fclose(f);
    return 0;
}
