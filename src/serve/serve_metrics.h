// serve_metrics.h — the worker's metric set (DESIGN.md §4, vLLM's vocabulary with underscores),
// registered once in a MetricsRegistry with constant labels model and quantization. The HTTP
// server counts requests and refusals; the engine loop sets the gauges and observes latencies.
#ifndef RS_SERVE_METRICS_H
#define RS_SERVE_METRICS_H

#include "serve/metrics.h"

typedef struct {
    MetricsRegistry *reg;
    Metric *running;        // gauge: sequences in the running batch
    Metric *waiting;        // gauge: requests waiting for admission
    Metric *kv_usage;       // gauge: fraction of KV blocks in use, 0..1
    Metric *ttft;           // histogram, seconds from arrival to first token
    Metric *itl;            // histogram, seconds between consecutive tokens of one stream
    Metric *e2e;            // histogram, seconds from arrival to the last token
    Metric *queue;          // histogram, seconds from arrival to first admission
    Metric *batch;          // histogram, sequences per engine step
    Metric *prompt_tokens;  // counter
    Metric *prefix_queries; // counter: prompt tokens looked up in the prefix cache
    Metric *prefix_hits;    // counter: of those, tokens found cached
    Metric *gen_tokens;     // counter
    Metric *preemptions;    // counter
    Metric *requests;       // counter{status}: HTTP status of each finished request
    Metric *rejected;       // counter{reason}: queue_full, body_too_large, unauthorized, draining
    Metric *conns;          // gauge{state}: client connections reading a request / being served
    Metric *conns_closed;   // counter{reason}: closed by a deadline, evicted at the cap, on drain
} ServeMetrics;

// Registers the set under prefix "rightsize_" with model/quantization labels. 0 or ERR_NOMEM.
int serve_metrics_init(ServeMetrics *m, const char *model, const char *quantization);
void serve_metrics_free(ServeMetrics *m);

#endif
