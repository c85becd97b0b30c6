// results.c — writes an eval results file as JSON or YAML (see results.h).
#include "eval/results.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"

void results_date(char *buf, size_t len) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%d", &tm);
}

// A string is written double-quoted with JSON escapes (a subset YAML reads the same way).
static void yaml_scalar(FILE *f, const cJSON *v) {
    if (cJSON_IsString(v)) {
        char *s = cJSON_PrintUnformatted(v);
        fputs(s ? s : "\"\"", f);
        free(s);
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", f);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d && d < 1e15 && d > -1e15) fprintf(f, "%lld", (long long)d);
        else fprintf(f, "%.9g", d);
    } else {
        fputs("null", f);
    }
}

static void yaml_object(FILE *f, const cJSON *obj, int indent) {
    for (const cJSON *c = obj->child; c; c = c->next) {
        fprintf(f, "%*s%s:", indent, "", c->string);
        if (cJSON_IsObject(c)) {
            fputc('\n', f);
            yaml_object(f, c, indent + 2);
        } else {
            fputc(' ', f);
            yaml_scalar(f, c);
            fputc('\n', f);
        }
    }
}

int results_write(const cJSON *root, const char *path, char *err, size_t err_len) {
    size_t n = strlen(path);
    bool json = n >= 5 && strcmp(path + n - 5, ".json") == 0;
    FILE *f = fopen(path, "w");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (json) {
        char *s = cJSON_Print(root);
        if (s) fprintf(f, "%s\n", s);
        free(s);
    } else {
        fputs("# rightsize eval results\n", f);
        yaml_object(f, root, 0);
    }
    if (fclose(f) != 0) return err_set(err, err_len, ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return 0;
}
