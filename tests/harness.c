// harness.c — registry and main() of build/run_tests.
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#define MAX_TESTS 2048

typedef struct {
    const char *name, *file;
    TestFn fn;
} TestCase;

static TestCase g_tests[MAX_TESTS];
static int g_n_tests;
static int g_failures;  // failures recorded in the current test
static char g_tmpdir[PATH_MAX];
static char g_bin[PATH_MAX];

void test_register(const char *name, const char *file, TestFn fn) {
    if (g_n_tests == MAX_TESTS) {
        fprintf(stderr, "test harness: more than %d tests\n", MAX_TESTS);
        abort();
    }
    g_tests[g_n_tests++] = (TestCase){name, file, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    g_failures++;
    if (g_failures > 20) return;  // one broken loop should not drown the log
    fprintf(stderr, "    %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void remove_tmpdir(void) {
    if (!g_tmpdir[0] || getenv("RS_KEEP_TMP")) return;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "test harness: could not remove %s\n", g_tmpdir);
}

const char *test_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/rightsize-test-XXXXXX");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_tmpdir);
    }
    return g_tmpdir;
}

const char *test_bin(void) { return g_bin; }

static int by_file_then_name(const void *a, const void *b) {
    const TestCase *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    // The CLI binary sits next to this one.
    snprintf(g_bin, sizeof g_bin, "%s", argv[0]);
    char *slash = strrchr(g_bin, '/');
    if (slash) snprintf(slash + 1, sizeof g_bin - (size_t)(slash + 1 - g_bin), "rightsize");
    else snprintf(g_bin, sizeof g_bin, "./rightsize");

    qsort(g_tests, (size_t)g_n_tests, sizeof g_tests[0], by_file_then_name);
    int passed = 0, failed = 0;
    for (int i = 0; i < g_n_tests; i++) {
        if (filter && !strstr(g_tests[i].name, filter) && !strstr(g_tests[i].file, filter)) continue;
        g_failures = 0;
        fprintf(stderr, "  %-48s ", g_tests[i].name);
        fflush(stderr);
        g_tests[i].fn();
        if (g_failures) {
            fprintf(stderr, "  FAIL %s (%s)\n", g_tests[i].name, g_tests[i].file);
            failed++;
        } else {
            fprintf(stderr, "ok\n");
            passed++;
        }
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
