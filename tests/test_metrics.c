// Tests of src/serve/metrics: the Prometheus text exposition format, checked against a golden
// text written by hand from the format's specification (cumulative buckets, +Inf, _sum/_count,
// label escaping), and against promtool itself (Prometheus's own checker) when it is installed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/metrics.h"
#include "serve/serve_metrics.h"
#include "test.h"

TEST(metrics_text_format_golden) {
    MetricsRegistry *r = metrics_create("rs_", "model=\"m\"");
    ASSERT(r);
    Metric *g = metrics_add(r, METRIC_GAUGE, "running", "Running now.", NULL, NULL, 0);
    Metric *c = metrics_add(r, METRIC_COUNTER, "requests_total", "Requests.", "status", NULL, 0);
    double bounds[] = {0.1, 1};
    Metric *h = metrics_add(r, METRIC_HISTOGRAM, "lat_seconds", "Latency.", NULL, bounds, 2);
    ASSERT(g && c && h);
    metric_set(g, NULL, 3);
    metric_inc(g, NULL, -1);
    metric_inc(c, "200", 1);
    metric_inc(c, "200", 2);
    metric_inc(c, "429", 1);
    metric_observe(h, NULL, 0.05);
    metric_observe(h, NULL, 0.1);  // le is inclusive
    metric_observe(h, NULL, 0.5);
    metric_observe(h, NULL, 7);
    Buf b = {0};
    ASSERT(metrics_render(r, &b) == 0);
    const char *want =
        "# HELP rs_running Running now.\n"
        "# TYPE rs_running gauge\n"
        "rs_running{model=\"m\"} 2\n"
        "# HELP rs_requests_total Requests.\n"
        "# TYPE rs_requests_total counter\n"
        "rs_requests_total{model=\"m\",status=\"200\"} 3\n"
        "rs_requests_total{model=\"m\",status=\"429\"} 1\n"
        "# HELP rs_lat_seconds Latency.\n"
        "# TYPE rs_lat_seconds histogram\n"
        "rs_lat_seconds_bucket{model=\"m\",le=\"0.10000000000000001\"} 2\n"
        "rs_lat_seconds_bucket{model=\"m\",le=\"1\"} 3\n"
        "rs_lat_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"
        "rs_lat_seconds_sum{model=\"m\"} 7.6500000000000004\n"
        "rs_lat_seconds_count{model=\"m\"} 4\n";
    if (strcmp(b.data, want) != 0) test_fail(__FILE__, __LINE__, "got:\n%s", b.data);
    EXPECT_NEAR(metric_value(c, "200"), 3, 0);
    EXPECT_NEAR(metric_value(h, NULL), 4, 0);
    buf_free(&b);
    metrics_destroy(r);
}

TEST(metrics_label_escaping_and_cardinality_bound) {
    Buf b = {0};
    ASSERT(metrics_escape_label(&b, "model", "a\"b\\c\nd") == 0);
    EXPECT(strcmp(b.data, "model=\"a\\\"b\\\\c\\nd\"") == 0);
    buf_free(&b);
    // #15 D16: malformed UTF-8 and CR become U+FFFD (a scrape must stay valid), valid UTF-8 stays.
    ASSERT(metrics_escape_label(&b, "model", "m\r\xff\xc3(\xc3\xa9\xe2\x82") == 0);
    EXPECT(strcmp(b.data, "model=\"m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd(\xc3\xa9\xef\xbf\xbd\"") == 0);
    buf_free(&b);
    MetricsRegistry *r = metrics_create("", "");
    Metric *c = metrics_add(r, METRIC_COUNTER, "x_total", "X.", "k", NULL, 0);
    char v[16];
    for (int i = 0; i < 200; i++) {
        snprintf(v, sizeof v, "v%d", i);
        metric_inc(c, v, 1);
    }
    // METRICS_MAX_SERIES - 1 distinct values keep their own series; the rest fold into "other".
    int folded = 200 - (METRICS_MAX_SERIES - 1);
    char want[64];
    snprintf(want, sizeof want, "x_total{k=\"other\"} %d\n", folded);
    EXPECT_NEAR(metric_value(c, "v0"), 1, 0);
    EXPECT_NEAR(metric_value(c, "other"), folded, 0);
    ASSERT(metrics_render(r, &b) == 0);
    EXPECT(strstr(b.data, want) != NULL);
    EXPECT(strstr(b.data, "\n# TYPE x_total counter\n") != NULL || strncmp(b.data, "# HELP", 6) == 0);
    buf_free(&b);
    // Bad definitions are refused.
    double down[] = {1, 0.5};
    EXPECT(metrics_add(r, METRIC_HISTOGRAM, "h", "H.", NULL, down, 2) == NULL);
    EXPECT(metrics_add(r, METRIC_GAUGE, "bad-name", "B.", NULL, NULL, 0) == NULL);
    EXPECT(metrics_add(r, METRIC_GAUGE, "g", "G.", "le", NULL, 0) == NULL);
    metrics_destroy(r);
}

// The worker's whole metric set, with samples, must pass `promtool check metrics`.
TEST(metrics_worker_set_passes_promtool) {
    ServeMetrics m;
    ASSERT(serve_metrics_init(&m, "tiny \"q\"", "q8_0") == 0);
    metric_set(m.running, NULL, 2);
    metric_observe(m.ttft, NULL, 0.2);
    metric_observe(m.batch, NULL, 8);
    metric_inc(m.requests, "200", 1);
    metric_inc(m.rejected, "queue_full", 1);
    Buf b = {0};
    ASSERT(metrics_render(m.reg, &b) == 0);
    EXPECT(strstr(b.data, "rightsize_num_requests_running{model=\"tiny \\\"q\\\"\",quantization=\"q8_0\"} 2\n"));
    EXPECT(strstr(b.data, "rightsize_rejected_total{model=\"tiny \\\"q\\\"\",quantization=\"q8_0\",reason=\"queue_full\"} 1\n"));
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        char path[512], cmd[1200];
        snprintf(path, sizeof path, "%s/metrics.txt", test_tmpdir());
        FILE *f = fopen(path, "w");
        ASSERT(f);
        fwrite(b.data, 1, b.len, f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "promtool check metrics < %s >%s.out 2>&1", path, path);
        int rc = system(cmd);
        if (rc != 0) {
            snprintf(cmd, sizeof cmd, "cat %s.out >&2", path);
            if (system(cmd)) {}
        }
        EXPECT(rc == 0);
    }
    buf_free(&b);
    serve_metrics_free(&m);
}
