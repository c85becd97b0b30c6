// metrics.h — a registry of Prometheus metrics (counters, gauges, histograms) and their text
// exposition format (version 0.0.4, what Prometheus scrapes and `promtool check metrics` checks).
//
// A registry holds metrics in the order they were added; each metric has at most one variable
// label (e.g. status="429") on top of the registry's constant labels (model="...",
// quantization="..."). Series are created on first use, up to METRICS_MAX_SERIES per metric, so a
// bad label value can never blow up cardinality (extra values fold into "other").
// All updates and rendering are thread-safe (one mutex; updates are a few per request or step).
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stdint.h>

#include "base/buf.h"

#define METRICS_MAX_SERIES 16
#define METRICS_MAX_BUCKETS 24

typedef enum { METRIC_COUNTER = 0, METRIC_GAUGE = 1, METRIC_HISTOGRAM = 2 } MetricType;

typedef struct Metric Metric;
typedef struct MetricsRegistry MetricsRegistry;

// prefix: prepended to every name ("rightsize_"); const_labels: label pairs already formatted as
// Prometheus text, e.g. `model="tiny",quantization="q8_0"` (values escaped by the caller with
// metrics_escape_label), or "" for none. Copies both. NULL when out of memory.
MetricsRegistry *metrics_create(const char *prefix, const char *const_labels);
void metrics_destroy(MetricsRegistry *r);

// Adds a metric. name excludes the prefix; counters' names end in "_total". label_name is the
// variable label's name or NULL. For histograms, bounds are the n_bounds increasing upper bounds
// (the +Inf bucket is implicit). Returns a handle valid until metrics_destroy, NULL on bad input.
Metric *metrics_add(MetricsRegistry *r, MetricType type, const char *name, const char *help,
                    const char *label_name, const double *bounds, int n_bounds);

// label_value is NULL for metrics without a variable label.
void metric_inc(Metric *m, const char *label_value, double by);       // counters (by >= 0), gauges
void metric_set(Metric *m, const char *label_value, double value);    // gauges
void metric_observe(Metric *m, const char *label_value, double value); // histograms
// Current value of a counter/gauge series, or a histogram's count; 0 when the series is unused.
double metric_value(Metric *m, const char *label_value);

// Appends the whole registry in text exposition format. 0 or ERR_NOMEM.
int metrics_render(MetricsRegistry *r, Buf *out);

// Writes `key="value"` with value escaped per the text format (\\, \", \n) into out (appends).
int metrics_escape_label(Buf *out, const char *key, const char *value);

#endif
