#include "serve/serve_metrics.h"

#include <string.h>

#include "base/check.h"

int serve_metrics_init(ServeMetrics *m, const char *model, const char *quantization) {
    // Latency buckets in seconds: 1 ms .. 60 s; ITL gets finer low buckets.
    static const double lat[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
                                 0.75,  1.0,   2.5,  5.0,  7.5,  10,   20,   40,  60};
    static const double itl[] = {0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
                                 0.075, 0.1,    0.15,  0.2,  0.3,   0.4,  0.5,   0.75, 1.0,  2.5};
    static const double batch[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
    *m = (ServeMetrics){0};
    Buf labels = {0};
    int rc = metrics_escape_label(&labels, "model", model);
    rc = rc ? rc : buf_append_str(&labels, ",");
    rc = rc ? rc : metrics_escape_label(&labels, "quantization", quantization);
    if (!rc) m->reg = metrics_create("rightsize_", labels.data);
    buf_free(&labels);
    if (!m->reg) return ERR_NOMEM;
    MetricsRegistry *r = m->reg;
    m->running = metrics_add(r, METRIC_GAUGE, "num_requests_running", "Requests in the running batch.", NULL, NULL, 0);
    m->waiting = metrics_add(r, METRIC_GAUGE, "num_requests_waiting", "Requests waiting to be scheduled.", NULL, NULL, 0);
    m->kv_usage = metrics_add(r, METRIC_GAUGE, "kv_cache_usage_perc", "Fraction of KV-cache blocks in use (0 to 1).",
                              NULL, NULL, 0);
    m->ttft = metrics_add(r, METRIC_HISTOGRAM, "time_to_first_token_seconds", "Time from arrival to the first token.",
                          NULL, lat, (int)ARRAY_LEN(lat));
    m->itl = metrics_add(r, METRIC_HISTOGRAM, "inter_token_latency_seconds", "Time between consecutive output tokens.",
                         NULL, itl, (int)ARRAY_LEN(itl));
    m->e2e = metrics_add(r, METRIC_HISTOGRAM, "e2e_request_latency_seconds", "Time from arrival to the last token.",
                         NULL, lat, (int)ARRAY_LEN(lat));
    m->queue = metrics_add(r, METRIC_HISTOGRAM, "request_queue_time_seconds",
                           "Time from arrival to first admission by the scheduler.", NULL, lat, (int)ARRAY_LEN(lat));
    m->batch = metrics_add(r, METRIC_HISTOGRAM, "batch_size", "Sequences in each engine step.", NULL, batch,
                           (int)ARRAY_LEN(batch));
    m->prompt_tokens = metrics_add(r, METRIC_COUNTER, "prompt_tokens_total", "Prompt tokens processed.", NULL, NULL, 0);
    m->prefix_queries = metrics_add(r, METRIC_COUNTER, "prefix_cache_queries_total",
                                    "Tokens looked up in the prefix cache when requests are admitted.", NULL, NULL, 0);
    m->prefix_hits = metrics_add(r, METRIC_COUNTER, "prefix_cache_hits_total",
                                 "Of the tokens looked up, those found in the prefix cache (not computed).", NULL, NULL, 0);
    m->gen_tokens = metrics_add(r, METRIC_COUNTER, "generation_tokens_total", "Tokens generated.", NULL, NULL, 0);
    m->preemptions = metrics_add(r, METRIC_COUNTER, "num_preemptions_total",
                                 "Sequences preempted to free KV blocks (recomputed later).", NULL, NULL, 0);
    m->requests = metrics_add(r, METRIC_COUNTER, "requests_total", "Answered generation requests (POST /v1/*) by HTTP status.", "status",
                              NULL, 0);
    m->rejected = metrics_add(r, METRIC_COUNTER, "rejected_total", "Requests refused before generation, by reason.",
                              "reason", NULL, 0);
    m->conns = metrics_add(r, METRIC_GAUGE, "connections", "Client connections open, by state (reading a request, serving one).",
                           "state", NULL, 0);
    m->conns_closed = metrics_add(r, METRIC_COUNTER, "connections_closed_total",
                                  "Client connections closed by the server: deadlines, evicted at the connection cap, drain.",
                                  "reason", NULL, 0);
    if (!m->conns || !m->conns_closed || !m->running || !m->waiting || !m->kv_usage || !m->ttft || !m->itl || !m->e2e || !m->queue || !m->batch ||
        !m->prompt_tokens || !m->prefix_queries || !m->prefix_hits || !m->gen_tokens || !m->preemptions || !m->requests || !m->rejected) {
        serve_metrics_free(m);
        return ERR_NOMEM;
    }
    return 0;
}

void serve_metrics_free(ServeMetrics *m) {
    if (!m) return;
    metrics_destroy(m->reg);
    *m = (ServeMetrics){0};
}
