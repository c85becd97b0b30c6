#include "serve/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "serve/textout.h"

typedef struct {
    char label[128];                      // variable label value ("" when the metric has none); with
                                          // several label names, the values joined by '|' 
    double value;                         // counter/gauge value; histogram sum
    uint64_t count;                       // histogram observations
    uint64_t buckets[METRICS_MAX_BUCKETS];  // histogram: observations <= bounds[i] (not cumulative)
} Series;

struct Metric {
    MetricsRegistry *reg;
    MetricType type;
    char name[96], help[192], label_name[32];
    double bounds[METRICS_MAX_BUCKETS];
    int n_bounds;
    Series series[METRICS_MAX_SERIES];
    int n_series;
};

struct MetricsRegistry {
    pthread_mutex_t mu;
    char *prefix, *const_labels;
    Metric **metrics;
    int n_metrics, cap_metrics;
};

MetricsRegistry *metrics_create(const char *prefix, const char *const_labels) {
    MetricsRegistry *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->prefix = strdup(prefix ? prefix : "");
    r->const_labels = strdup(const_labels ? const_labels : "");
    if (!r->prefix || !r->const_labels) {
        metrics_destroy(r);
        return NULL;
    }
    return r;
}

void metrics_destroy(MetricsRegistry *r) {
    if (!r) return;
    for (int i = 0; i < r->n_metrics; i++) free(r->metrics[i]);
    free(r->metrics);
    free(r->prefix);
    free(r->const_labels);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static bool valid_name(const char *s) {
    if (!s || !*s || (*s >= '0' && *s <= '9')) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

Metric *metrics_add(MetricsRegistry *r, MetricType type, const char *name, const char *help,
                    const char *label_name, const double *bounds, int n_bounds) {
    if (!valid_name(name) || strlen(name) + strlen(r->prefix) >= sizeof((Metric *)0)->name) return NULL;
    if (label_name) {
        // One name, or several separated by commas ("tier,state"): each must be a valid name.
        char tmp[32];
        if (strlen(label_name) >= sizeof tmp) return NULL;
        snprintf(tmp, sizeof tmp, "%s", label_name);
        for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (!valid_name(t) || strcmp(t, "le") == 0) return NULL;
        if (label_name[0] == ',' || label_name[strlen(label_name) - 1] == ',' || strstr(label_name, ",,")) return NULL;
    }
    if (type == METRIC_HISTOGRAM) {
        if (n_bounds < 1 || n_bounds > METRICS_MAX_BUCKETS) return NULL;
        for (int i = 1; i < n_bounds; i++)
            if (!(bounds[i] > bounds[i - 1])) return NULL;
    }
    Metric *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->reg = r;
    m->type = type;
    snprintf(m->name, sizeof m->name, "%s%s", r->prefix, name);
    snprintf(m->help, sizeof m->help, "%s", help ? help : "");
    snprintf(m->label_name, sizeof m->label_name, "%s", label_name ? label_name : "");
    if (type == METRIC_HISTOGRAM) {
        memcpy(m->bounds, bounds, (size_t)n_bounds * sizeof *bounds);
        m->n_bounds = n_bounds;
    }
    pthread_mutex_lock(&r->mu);
    if (r->n_metrics == r->cap_metrics) {
        int cap = r->cap_metrics ? r->cap_metrics * 2 : 16;
        Metric **p = realloc(r->metrics, (size_t)cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&r->mu);
            free(m);
            return NULL;
        }
        r->metrics = p;
        r->cap_metrics = cap;
    }
    r->metrics[r->n_metrics++] = m;
    pthread_mutex_unlock(&r->mu);
    return m;
}

// The series for a label value, created on first use; the last slot is "other". Under mu.
static Series *series_for(Metric *m, const char *label) {
    if (!m->label_name[0] || !label) label = "";
    for (int i = 0; i < m->n_series; i++)
        if (strcmp(m->series[i].label, label) == 0) return &m->series[i];
    if (strlen(label) >= sizeof m->series[0].label || m->n_series >= METRICS_MAX_SERIES - 1) {
        label = "other";
        for (int i = 0; i < m->n_series; i++)
            if (strcmp(m->series[i].label, label) == 0) return &m->series[i];
    }
    CHECK(m->n_series < METRICS_MAX_SERIES);
    Series *s = &m->series[m->n_series++];
    memset(s, 0, sizeof *s);
    snprintf(s->label, sizeof s->label, "%s", label);
    return s;
}

void metric_inc(Metric *m, const char *label_value, double by) {
    CHECK(m->type != METRIC_HISTOGRAM && (m->type == METRIC_GAUGE || by >= 0));
    pthread_mutex_lock(&m->reg->mu);
    series_for(m, label_value)->value += by;
    pthread_mutex_unlock(&m->reg->mu);
}

void metric_set(Metric *m, const char *label_value, double value) {
    CHECK(m->type == METRIC_GAUGE);
    pthread_mutex_lock(&m->reg->mu);
    series_for(m, label_value)->value = value;
    pthread_mutex_unlock(&m->reg->mu);
}

void metric_observe(Metric *m, const char *label_value, double value) {
    CHECK(m->type == METRIC_HISTOGRAM);
    if (isnan(value)) return;
    pthread_mutex_lock(&m->reg->mu);
    Series *s = series_for(m, label_value);
    s->value += value;
    s->count++;
    for (int i = 0; i < m->n_bounds; i++)
        if (value <= m->bounds[i]) {
            s->buckets[i]++;
            break;
        }
    pthread_mutex_unlock(&m->reg->mu);
}

double metric_value(Metric *m, const char *label_value) {
    double v = 0;
    pthread_mutex_lock(&m->reg->mu);
    if (!m->label_name[0] || !label_value) label_value = "";
    for (int i = 0; i < m->n_series; i++)
        if (strcmp(m->series[i].label, label_value) == 0)
            v = m->type == METRIC_HISTOGRAM ? (double)m->series[i].count : m->series[i].value;
    pthread_mutex_unlock(&m->reg->mu);
    return v;
}

// Label values must be UTF-8 with \\, \" and \n escaped; anything else that would break a
// scrape (malformed UTF-8, CR and other control bytes) becomes U+FFFD, so one bad model or route
// name cannot take the whole exposition down.
int metrics_escape_label(Buf *out, const char *key, const char *value) {
    int rc = buf_printf(out, "%s=\"", key);
    size_t len = strlen(value);
    for (size_t i = 0; i < len && !rc;) {
        unsigned char ch = (unsigned char)value[i];
        int n = textout_utf8_char_len(value + i, len - i);
        if (n == 0) {
            rc = buf_append_str(out, "\xef\xbf\xbd");
            i += (size_t)textout_utf8_invalid_len(value + i, len - i);
            continue;
        }
        if (ch == '\\') rc = buf_append_str(out, "\\\\");
        else if (ch == '"') rc = buf_append_str(out, "\\\"");
        else if (ch == '\n') rc = buf_append_str(out, "\\n");
        else if (ch < 0x20 || ch == 0x7f) rc = buf_append_str(out, "\xef\xbf\xbd");
        else rc = buf_append(out, value + i, (size_t)n);
        i += (size_t)n;
    }
    return rc ? rc : buf_append_str(out, "\"");
}

// Prometheus float text: integers without a fraction, +Inf/-Inf/NaN spelled as the format wants.
static int put_num(Buf *out, double v) {
    if (isnan(v)) return buf_append_str(out, "NaN");
    if (isinf(v)) return buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 1e15) return buf_printf(out, "%.0f", v);
    return buf_printf(out, "%.17g", v);
}

// `{const,label="v",le="x"}` — any part may be absent; no braces when all are.
static int put_labels(Buf *out, const Metric *m, const Series *s, const char *le) {
    const char *c = m->reg->const_labels;
    bool any = c[0] || m->label_name[0] || le;
    if (!any) return 0;
    int rc = buf_append_str(out, "{");
    bool first = true;
    if (c[0]) rc = rc ? rc : buf_append_str(out, c), first = false;
    if (m->label_name[0]) {
        // Several names: the series label holds their values joined by '|', in the same order.
        const char *name = m->label_name, *val = s->label;
        while (*name && !rc) {
            size_t nl = strcspn(name, ","), vl = strcspn(val, "|");
            char nbuf[32], vbuf[128];
            snprintf(nbuf, sizeof nbuf, "%.*s", (int)nl, name);
            snprintf(vbuf, sizeof vbuf, "%.*s", (int)vl, val);
            if (!first) rc = rc ? rc : buf_append_str(out, ",");
            rc = rc ? rc : metrics_escape_label(out, nbuf, vbuf);
            first = false;
            name += nl + (name[nl] == ',');
            val += vl + (val[vl] == '|');
        }
    }
    if (le) {
        if (!first) rc = rc ? rc : buf_append_str(out, ",");
        rc = rc ? rc : buf_printf(out, "le=\"%s\"", le);
    }
    return rc ? rc : buf_append_str(out, "}");
}

static int render_metric(Buf *out, const Metric *m) {
    static const char *types[] = {"counter", "gauge", "histogram"};
    int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, types[m->type]);
    // A metric with no variable label and no samples yet still shows its zero series.
    Series zero = {0};
    int n = m->n_series;
    const Series *ss = m->series;
    if (n == 0 && !m->label_name[0]) {
        ss = &zero;
        n = 1;
    }
    for (int i = 0; i < n && !rc; i++) {
        const Series *s = &ss[i];
        if (m->type != METRIC_HISTOGRAM) {
            rc = buf_append_str(out, m->name);
            rc = rc ? rc : put_labels(out, m, s, NULL);
            rc = rc ? rc : buf_append_str(out, " ");
            rc = rc ? rc : put_num(out, s->value);
            rc = rc ? rc : buf_append_str(out, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (int b = 0; b <= m->n_bounds && !rc; b++) {
            char le[40];
            if (b < m->n_bounds) {
                cum += s->buckets[b];
                snprintf(le, sizeof le, "%.17g", m->bounds[b]);
            } else {
                cum = s->count;
                snprintf(le, sizeof le, "+Inf");
            }
            rc = buf_printf(out, "%s_bucket", m->name);
            rc = rc ? rc : put_labels(out, m, s, le);
            rc = rc ? rc : buf_printf(out, " %llu\n", (unsigned long long)cum);
        }
        rc = rc ? rc : buf_printf(out, "%s_sum", m->name);
        rc = rc ? rc : put_labels(out, m, s, NULL);
        rc = rc ? rc : buf_append_str(out, " ");
        rc = rc ? rc : put_num(out, s->value);
        rc = rc ? rc : buf_printf(out, "\n%s_count", m->name);
        rc = rc ? rc : put_labels(out, m, s, NULL);
        rc = rc ? rc : buf_printf(out, " %llu\n", (unsigned long long)s->count);
    }
    return rc;
}

int metrics_render(MetricsRegistry *r, Buf *out) {
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    for (int i = 0; i < r->n_metrics && !rc; i++) rc = render_metric(out, r->metrics[i]);
    pthread_mutex_unlock(&r->mu);
    return rc;
}
