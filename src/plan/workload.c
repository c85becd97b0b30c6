#include "plan/workload.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

const char *const wl_class_names[WL_CLASS_COUNT] = {
    [WL_CHAT] = "chat", [WL_COMPLETION] = "completion", [WL_EMBEDDING] = "embedding", [WL_BATCH] = "batch",
};

// ---- intensity profile ----

// Modified Bessel I0 by its series (converges fast for the kappa range we use).
static double bessel_i0(double x) {
    double sum = 1, term = 1;
    for (int k = 1; k < 200; k++) {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

// A von Mises day shape exp(kappa cos(theta)) / I0(kappa) has mean 1 and peak-to-average
// exp(kappa)/I0(kappa); find kappa for the requested ratio by bisection.
static double kappa_for(double p2a) {
    if (p2a <= 1.0) return 0;
    double lo = 0, hi = 50;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (exp(mid) / bessel_i0(mid) < p2a) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

void wl_build_profile(Workload *wl) {
    double kappa = kappa_for(wl->peak_to_average);
    double i0 = bessel_i0(kappa), sum = 0;
    for (int i = 0; i < WL_PROFILE_BINS; i++) {
        double hour = (i + 0.5) / 60.0;
        double theta = 2 * M_PI * (hour - wl->peak_hour) / 24.0;
        double m = wl->n_day_profile ? wl->day_profile[i * wl->n_day_profile / WL_PROFILE_BINS]
                                     : exp(kappa * cos(theta)) / i0;
        for (int b = 0; b < wl->n_bursts; b++) {
            const BurstWindow *bw = &wl->bursts[b];
            double start = bw->start_hour * 60, end = start + bw->minutes, minute = i + 0.5;
            if ((minute >= start && minute < end) || (minute + 1440 >= start && minute + 1440 < end))
                m *= bw->multiplier;
        }
        wl->profile[i] = m;
        sum += m;
    }
    // Normalise: the configured monthly volume stays the monthly volume.
    for (int i = 0; i < WL_PROFILE_BINS; i++) wl->profile[i] *= WL_PROFILE_BINS / sum;
}

double wl_profile_peak(const Workload *wl) {
    double p = 0;
    for (int i = 0; i < WL_PROFILE_BINS; i++) p = fmax(p, wl->profile[i]);
    return p;
}

// ---- token lengths ----

int32_t wl_sample_tokens(const TokSpec *t, Rng *rng) {
    double v;
    switch (t->dist) {
    case TOK_FIXED: v = t->mean; break;
    case TOK_EXPONENTIAL: v = 1.0 + floor(rng_exponential(rng, t->mean)); break;
    case TOK_LOGNORMAL: {
        double s2 = log1p(t->cv * t->cv);
        v = exp(log(t->mean) - 0.5 * s2 + sqrt(s2) * rng_normal(rng));
        break;
    }
    case TOK_HISTOGRAM: {
        double u = rng_uniform(rng);
        int b = 0;
        while (b < t->n_bins - 1 && u >= t->cum[b]) b++;
        double lo = b ? t->upper[b - 1] : (double)t->min;
        v = lo + rng_uniform(rng) * (t->upper[b] - lo);
        break;
    }
    default: v = t->mean;
    }
    int64_t k = (int64_t)llround(v);
    if (k < t->min) k = t->min;
    if (k > t->max) k = t->max;
    return (int32_t)k;
}

double wl_token_mean(const TokSpec *t) {
    if (t->mean_eff > 0) return t->mean_eff;
    if (t->dist == TOK_FIXED) return fmin(fmax(t->mean, (double)t->min), (double)t->max);
    if (t->dist == TOK_EXPONENTIAL) return 1.0 / (1.0 - exp(-1.0 / t->mean));   // unclamped
    if (t->dist == TOK_HISTOGRAM) {
        double m = 0, prev = 0, lo = (double)t->min;
        for (int b = 0; b < t->n_bins; b++) {
            m += (t->cum[b] - prev) * 0.5 * (lo + t->upper[b]);
            prev = t->cum[b];
            lo = t->upper[b];
        }
        return m;
    }
    // Lognormal clamped: integrate over the quantiles (midpoint rule on 4000 slices).
    double s2 = log1p(t->cv * t->cv), mu = log(t->mean) - 0.5 * s2, s = sqrt(s2), m = 0;
    const int n = 4000;
    for (int i = 0; i < n; i++) {
        double p = (i + 0.5) / n;
        // Inverse normal CDF by bisection on erfc (accurate enough for a mean).
        double lo = -10, hi = 10;
        for (int k = 0; k < 60; k++) {
            double mid = 0.5 * (lo + hi);
            if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid; else hi = mid;
        }
        double v = exp(mu + s * 0.5 * (lo + hi));
        m += fmin(fmax(round(v), (double)t->min), (double)t->max);
    }
    return m / n;
}

static double inv_normal(double p) {
    double lo = -10, hi = 10;
    for (int k = 0; k < 80; k++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

double wl_token_quantile(const TokSpec *t, double p) {
    double v;
    switch (t->dist) {
    case TOK_LOGNORMAL: {
        double s2 = log1p(t->cv * t->cv);
        v = exp(log(t->mean) - 0.5 * s2 + sqrt(s2) * inv_normal(p));
        break;
    }
    case TOK_EXPONENTIAL: v = 1.0 + floor(-t->mean * log(1.0 - p)); break;
    case TOK_HISTOGRAM: {
        int b = 0;
        while (b < t->n_bins - 1 && t->cum[b] < p) b++;
        double lo = b ? t->upper[b - 1] : (double)t->min, c0 = b ? t->cum[b - 1] : 0;
        double f = t->cum[b] > c0 ? (p - c0) / (t->cum[b] - c0) : 1;
        v = lo + f * (t->upper[b] - lo);
        break;
    }
    default: v = t->mean;
    }
    return fmin(fmax(v, (double)t->min), (double)t->max);
}

// ---- arrivals ----

void wl_arrivals_init(WlArrivals *a, const Workload *wl, double rate_scale, double cv_override) {
    *a = (WlArrivals){0};
    a->scale = rate_scale > 0 ? rate_scale : 1;
    a->cv = cv_override > 0 ? cv_override : (wl->process == ARR_GAMMA ? wl->cv : 1.0);
    a->t_s = 0;
}

WlRequest wl_next(const Workload *wl, WlArrivals *a, Rng *rng) {
    WlRequest r = {0};
    if (wl->process == ARR_TRACE && wl->n_trace > 0) {
        if (a->trace_i == wl->n_trace) { a->trace_i = 0; a->trace_base_s += wl->trace_period_s; }
        const TraceRow *row = &wl->trace[a->trace_i++];
        r.t_s = a->trace_base_s + row->t_s / a->scale;
        r.in_tokens = row->in_tokens;
        r.out_tokens = row->out_tokens;
        a->t_s = r.t_s;
        return r;
    }
    if (wl->cls == WL_BATCH) {
        // A nightly job drops requests_per_run requests at start_hour each day.
        int64_t per_run = (int64_t)llround((double)wl->batch_requests_per_run * a->scale);
        if (per_run < 1) per_run = 1;
        int64_t day = a->trace_i / per_run;
        a->trace_i++;
        r.t_s = day * 86400.0 + wl->batch_start_hour * 3600.0;
    } else {
        // Increment in operational time: mean 1, CV as configured.
        double x = a->cv == 1.0 ? rng_exponential(rng, 1.0)
                                : rng_gamma(rng, 1.0 / (a->cv * a->cv), a->cv * a->cv);
        double t = a->t_s, rate = wl->rate_per_s * a->scale;
        for (;;) {
            double day_s = fmod(t, 86400.0);
            int bin = (int)(day_s / 60.0);
            if (bin >= WL_PROFILE_BINS) bin = WL_PROFILE_BINS - 1;
            double bin_end = t - day_s + (bin + 1) * 60.0;
            if (bin_end <= t) bin_end = t + 1e-9;
            double lam = rate * wl->profile[bin];
            double room = lam * (bin_end - t);
            if (x <= room) { t += x / lam; break; }
            x -= room;
            t = bin_end;
        }
        r.t_s = t;
    }
    a->t_s = r.t_s;
    r.in_tokens = wl_sample_tokens(&wl->in, rng);
    r.out_tokens = wl->cls == WL_EMBEDDING ? 0 : wl_sample_tokens(&wl->out, rng);
    return r;
}

double wl_fixed_usd_month(const Workload *wl) {
    return wl->storage_usd_month + wl->network_gb_month * wl->network_usd_per_gb + wl->orchestration_usd_month +
           wl->engineering_hours_month * wl->engineering_usd_per_hour;
}

// ---- loading ----

static void load_tokens(YamlDoc *d, const YamlNode *tokens, const char *key, TokSpec *t, bool required) {
    static const char *const keys[] = {"dist", "mean", "cv", "min", "max", "bins", NULL};
    static const char *const dists[] = {"lognormal", "histogram", "fixed", "exponential"};
    const YamlNode *n = required ? yaml_map_req(d, tokens, key) : yaml_map_opt(d, tokens, key);
    t->min = 1;
    t->max = 1 << 20;
    if (!n) { t->dist = TOK_FIXED; t->mean = 1; return; }
    yaml_check_keys(d, n, keys);
    t->dist = (TokDist)yaml_enum_opt(d, n, "dist", dists, 4, TOK_LOGNORMAL);
    t->min = yaml_i64_opt(d, n, "min", 1, 0, 1 << 24);
    t->max = yaml_i64_opt(d, n, "max", 1 << 20, 1, 1 << 24);
    if (!d->rc && t->max < t->min) yaml_error(d, yaml_get(n, "max"), "max (%lld) is below min (%lld)", (long long)t->max, (long long)t->min);
    if (t->dist != TOK_HISTOGRAM) {
        t->mean = yaml_f64_req(d, n, "mean", 1e-3, 1e7);
        t->cv = yaml_f64_opt(d, n, "cv", t->dist == TOK_LOGNORMAL ? 0.5 : 0, 0, 20);
        return;
    }
    const YamlNode *bins = yaml_seq_opt(d, n, "bins");
    if (!bins && !d->rc) { yaml_error(d, n, "histogram needs 'bins: [[upper, weight], ...]'"); return; }
    if (!d->rc && (bins->n < 1 || bins->n > WL_MAX_BINS)) { yaml_error(d, bins, "expected 1 to %d bins", WL_MAX_BINS); return; }
    double total = 0, prev = (double)t->min;
    for (int64_t i = 0; !d->rc && i < bins->n; i++) {
        const YamlNode *b = bins->vals[i];
        if (b->kind != YAML_SEQ || b->n != 2) { yaml_error(d, b, "expected [upper_tokens, weight]"); return; }
        double up = yaml_node_f64(d, b->vals[0], 1, 1e7), w = yaml_node_f64(d, b->vals[1], 0, 1e12);
        if (!d->rc && up <= prev) { yaml_error(d, b->vals[0], "bin edges must increase (and exceed min)"); return; }
        prev = up;
        t->upper[i] = up;
        total += w;
        t->cum[i] = total;
    }
    if (d->rc) return;
    if (total <= 0) { yaml_error(d, bins, "bin weights sum to zero"); return; }
    t->n_bins = (int)bins->n;
    for (int i = 0; i < t->n_bins; i++) t->cum[i] /= total;
    t->cum[t->n_bins - 1] = 1.0;
    t->mean = wl_token_mean(t);
}

static int load_trace(YamlDoc *d, const YamlNode *node, const char *wl_path, Workload *wl) {
    char path[1024];
    const char *name = node->str;
    if (name[0] == '/') snprintf(path, sizeof path, "%s", name);
    else {
        const char *slash = strrchr(wl_path, '/');
        int dir = slash ? (int)(slash - wl_path + 1) : 0;
        snprintf(path, sizeof path, "%.*s%s", dir, wl_path, name);
    }
    FILE *f = fopen(path, "r");
    if (!f) return yaml_error(d, node, "cannot open trace '%s': %s", path, strerror(errno));
    char line[256];
    int64_t cap = 0, lineno = 0;
    double last = -1;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || (lineno == 1 && strstr(line, "t_s"))) continue;
        double t;
        long in, out;
        if (sscanf(line, "%lf,%ld,%ld", &t, &in, &out) != 3 || !(t >= 0) || t < last || in < 1 || out < 0 ||
            in > (1 << 24) || out > (1 << 24)) {
            fclose(f);
            return yaml_error(d, node, "trace %s:%lld: expected 't_s,input_tokens,output_tokens' with times not decreasing",
                              path, (long long)lineno);
        }
        if (wl->n_trace == cap) {
            cap = cap ? cap * 2 : 1024;
            TraceRow *r = realloc(wl->trace, (size_t)cap * sizeof *r);
            if (!r) { fclose(f); return yaml_error(d, node, "out of memory reading trace"); }
            wl->trace = r;
        }
        wl->trace[wl->n_trace++] = (TraceRow){t, (int32_t)in, (int32_t)out};
        last = t;
    }
    fclose(f);
    if (wl->n_trace < 2) return yaml_error(d, node, "trace '%s' needs at least 2 rows", path);
    double span = wl->trace[wl->n_trace - 1].t_s - wl->trace[0].t_s;
    wl->trace_period_s = span * (double)wl->n_trace / (double)(wl->n_trace - 1);
    if (wl->trace_period_s <= 0) return yaml_error(d, node, "trace '%s' spans no time", path);
    wl->rate_per_s = (double)wl->n_trace / wl->trace_period_s;
    return 0;
}

// arrivals.profile: a relative rate per equal bin of the day (replaces diurnal).
static void load_day_profile(YamlDoc *d, const YamlNode *n, Workload *wl) {
    const YamlNode *pr = yaml_seq_opt(d, n, "profile");
    if (!pr || d->rc) return;
    if (yaml_get(n, "diurnal")) { yaml_error(d, pr, "give either 'profile' or 'diurnal', not both"); return; }
    if (pr->n != 24 && pr->n != 48 && pr->n != 96 && pr->n != 288 && pr->n != WL_PROFILE_BINS) {
        yaml_error(d, pr, "expected 24, 48, 96, 288 or 1440 values (equal bins of the day), got %lld", (long long)pr->n);
        return;
    }
    double sum = 0;
    for (int64_t i = 0; i < pr->n && !d->rc; i++) sum += wl->day_profile[i] = yaml_node_f64(d, pr->vals[i], 0, 1e6);
    if (!d->rc && !(sum > 0)) { yaml_error(d, pr, "every value is 0: no arrivals at any time of day"); return; }
    wl->n_day_profile = (int)pr->n;
}

static void load_arrivals(YamlDoc *d, const YamlNode *n, const char *path, Workload *wl) {
    static const char *const keys[] = {"process", "cv", "diurnal", "bursts", "trace", "profile", NULL};
    static const char *const procs[] = {"poisson", "gamma", "trace"};
    wl->process = ARR_POISSON;
    wl->cv = 1;
    wl->peak_to_average = 1;
    wl->peak_hour = 14;
    if (!n) return;
    yaml_check_keys(d, n, keys);
    wl->process = (ArrProcess)yaml_enum_opt(d, n, "process", procs, 3, ARR_POISSON);
    wl->cv = yaml_f64_opt(d, n, "cv", 1.0, 0.05, 20);
    const YamlNode *di = yaml_map_opt(d, n, "diurnal");
    static const char *const dkeys[] = {"peak_to_average", "peak_hour", NULL};
    yaml_check_keys(d, di, dkeys);
    wl->peak_to_average = yaml_f64_opt(d, di, "peak_to_average", 1, 1, 20);
    wl->peak_hour = yaml_f64_opt(d, di, "peak_hour", 14, 0, 24);
    const YamlNode *bs = yaml_seq_opt(d, n, "bursts");
    static const char *const bkeys[] = {"start_hour", "minutes", "multiplier", NULL};
    for (int64_t i = 0; bs && i < bs->n && !d->rc; i++) {
        if (i == WL_MAX_BURSTS) { yaml_error(d, bs->vals[i], "at most %d burst windows", WL_MAX_BURSTS); break; }
        const YamlNode *b = bs->vals[i];
        if (b->kind != YAML_MAP) { yaml_error(d, b, "expected {start_hour, minutes, multiplier}"); break; }
        yaml_check_keys(d, b, bkeys);
        wl->bursts[i].start_hour = yaml_f64_req(d, b, "start_hour", 0, 24);
        wl->bursts[i].minutes = yaml_f64_req(d, b, "minutes", 1, 1440);
        wl->bursts[i].multiplier = yaml_f64_req(d, b, "multiplier", 0.01, 1000);
        wl->n_bursts = (int)i + 1;
    }
    load_day_profile(d, n, wl);
    const YamlNode *tr = yaml_get(n, "trace");
    if (wl->process == ARR_TRACE && !d->rc) {
        if (!tr || tr->kind != YAML_SCALAR) yaml_error(d, n, "process: trace needs 'trace: FILE.csv'");
        else load_trace(d, tr, path, wl);
    }
}

// A list of names (ids) under key into rows of width w; at most cap.
static void load_names(YamlDoc *d, const YamlNode *map, const char *key, char *rows, int cap, size_t w, int *n,
                       const char *what) {
    const YamlNode *ms = yaml_seq_opt(d, map, key);
    for (int64_t i = 0; ms && i < ms->n && !d->rc; i++) {
        if (i == cap) { yaml_error(d, ms->vals[i], "at most %d entries", cap); break; }
        if (ms->vals[i]->kind != YAML_SCALAR || strlen(ms->vals[i]->str) >= w) {
            yaml_error(d, ms->vals[i], "expected %s", what);
            break;
        }
        snprintf(rows + (size_t)i * w, w, "%s", ms->vals[i]->str);
        *n = (int)i + 1;
    }
}

static void load_constraints(YamlDoc *d, const YamlNode *c, Workload *wl) {
    static const char *const keys[] = {"hardware", "classes", "providers", "stacks", "allow_spot", "min_replicas",
                                       "budget_usd_month", NULL};
    wl->min_replicas = 1;
    if (!c) return;
    yaml_check_keys(d, c, keys);
    load_names(d, c, "hardware", &wl->allow_hw[0][0], 16, sizeof wl->allow_hw[0], &wl->n_allow_hw, "a catalog hardware id");
    load_names(d, c, "classes", &wl->allow_classes[0][0], 3, sizeof wl->allow_classes[0], &wl->n_allow_classes,
               "a hardware class (gpu, asic, cpu)");
    for (int i = 0; i < wl->n_allow_classes && !d->rc; i++)
        if (strcmp(wl->allow_classes[i], "gpu") && strcmp(wl->allow_classes[i], "asic") && strcmp(wl->allow_classes[i], "cpu"))
            yaml_error(d, yaml_get(c, "classes")->vals[i], "expected one of: gpu, asic, cpu; got '%s'", wl->allow_classes[i]);
    load_names(d, c, "providers", &wl->allow_providers[0][0], 8, sizeof wl->allow_providers[0], &wl->n_allow_providers,
               "a provider name (aws, gcp, azure, ...)");
    load_names(d, c, "stacks", &wl->stacks[0][0], 8, sizeof wl->stacks[0], &wl->n_stacks, "a serving stack id");
    wl->forbid_spot = !yaml_bool_opt(d, c, "allow_spot", true);
    wl->min_replicas = (int)yaml_i64_opt(d, c, "min_replicas", 1, 1, 64);
    wl->budget_usd_month = yaml_f64_opt(d, c, "budget_usd_month", 0, 0.01, 1e12);
}

int wl_load(Workload *wl, const char *path, char *err, size_t err_len) {
    *wl = (Workload){0};
    YamlDoc doc;
    int rc = yaml_load_file(&doc, path, err, err_len);
    if (rc) { yaml_doc_free(&doc); return rc; }
    YamlDoc *d = &doc;
    const YamlNode *r = d->root;
    if (!r || r->kind != YAML_MAP) { yaml_error(d, NULL, "expected a map at the top (name:, class:, ...)"); goto done; }
    static const char *const keys[] = {"name", "class", "requests_per_month", "rate_per_s", "arrivals", "tokens",
        "slo", "batch", "quality_min", "success_rate", "cascade", "fixed_costs", "models", "description", "constraints", "cache", NULL};
    yaml_check_keys(d, r, keys);
    snprintf(wl->name, sizeof wl->name, "%s", yaml_str_req(d, r, "name"));
    wl->cls = (WlClass)yaml_enum_opt(d, r, "class", wl_class_names, WL_CLASS_COUNT, WL_CHAT);
    load_arrivals(d, yaml_map_opt(d, r, "arrivals"), path, wl);
    const YamlNode *bt = yaml_map_opt(d, r, "batch");
    if (wl->cls == WL_BATCH && !d->rc) {
        static const char *const bkeys[] = {"requests_per_run", "start_hour", "deadline_hours", NULL};
        if (!bt) { yaml_error(d, r, "class batch needs 'batch: {requests_per_run, start_hour, deadline_hours}'"); goto done; }
        yaml_check_keys(d, bt, bkeys);
        wl->batch_requests_per_run = yaml_i64_req(d, bt, "requests_per_run", 1, 1000000000);
        wl->batch_start_hour = yaml_f64_opt(d, bt, "start_hour", 1, 0, 24);
        wl->batch_deadline_hours = yaml_f64_req(d, bt, "deadline_hours", 0.01, 24);
        wl->rate_per_s = (double)wl->batch_requests_per_run / 86400.0;
    } else if (wl->process != ARR_TRACE) {
        bool has_m = yaml_get(r, "requests_per_month"), has_r = yaml_get(r, "rate_per_s");
        if (has_m == has_r && !d->rc) { yaml_error(d, r, "give exactly one of requests_per_month or rate_per_s"); goto done; }
        wl->rate_per_s = has_m ? yaml_f64_req(d, r, "requests_per_month", 1, 1e12) / WL_MONTH_S
                               : yaml_f64_req(d, r, "rate_per_s", 1e-6, 1e6);
    }
    const YamlNode *tk = yaml_map_req(d, r, "tokens");
    static const char *const tkeys[] = {"input", "output", NULL};
    yaml_check_keys(d, tk, tkeys);
    load_tokens(d, tk, "input", &wl->in, true);
    load_tokens(d, tk, "output", &wl->out, wl->cls != WL_EMBEDDING);
    if (wl->cls == WL_EMBEDDING) wl->out = (TokSpec){.dist = TOK_FIXED, .mean = 0, .min = 0, .max = 0};
    const YamlNode *slo = yaml_map_opt(d, r, "slo");
    static const char *const skeys[] = {"ttft_p95_ms", "tpot_p95_ms", "e2e_p95_ms", "e2e_p99_ms", NULL};
    yaml_check_keys(d, slo, skeys);
    wl->slo_ttft_p95_ms = yaml_f64_opt(d, slo, "ttft_p95_ms", 0, 0.1, 1e9);
    wl->slo_tpot_p95_ms = yaml_f64_opt(d, slo, "tpot_p95_ms", 0, 0.01, 1e9);
    wl->slo_e2e_p95_ms = yaml_f64_opt(d, slo, "e2e_p95_ms", 0, 0.1, 1e9);
    wl->slo_e2e_p99_ms = yaml_f64_opt(d, slo, "e2e_p99_ms", 0, 0.1, 1e9);
    if (!d->rc && wl->cls != WL_BATCH && !wl->slo_ttft_p95_ms && !wl->slo_e2e_p95_ms && !wl->slo_e2e_p99_ms &&
        !wl->slo_tpot_p95_ms)
        yaml_error(d, r, "missing 'slo' (at least one of ttft_p95_ms, tpot_p95_ms, e2e_p95_ms, e2e_p99_ms)");
    wl->quality_min = yaml_f64_opt(d, r, "quality_min", 0, 0, 1e6);
    wl->success_rate = yaml_f64_opt(d, r, "success_rate", 1.0, 0.001, 1.0);
    const YamlNode *cc = yaml_map_opt(d, r, "cascade");
    static const char *const ckeys[] = {"escalation_rate", "confidence", "threshold", NULL};
    yaml_check_keys(d, cc, ckeys);
    wl->escalation_rate = yaml_f64_opt(d, cc, "escalation_rate", cc ? -1 : 0, 0, 1);   // no cascade block: no cascade lever
    const YamlNode *conf = yaml_map_opt(d, cc, "confidence");
    if (cc && !d->rc && (wl->escalation_rate < 0) == (conf == NULL) )
        yaml_error(d, cc, "give exactly one of escalation_rate or confidence: {alpha, beta} with threshold");
    if (conf) {
        static const char *const bkeys[] = {"alpha", "beta", NULL};
        yaml_check_keys(d, conf, bkeys);
        wl->conf_alpha = yaml_f64_req(d, conf, "alpha", 0.01, 1e4);
        wl->conf_beta = yaml_f64_req(d, conf, "beta", 0.01, 1e4);
        wl->conf_threshold = yaml_f64_req(d, cc, "threshold", 0, 1);
    }
    const YamlNode *ca = yaml_map_opt(d, r, "cache");
    static const char *const cakeys[] = {"response_hit_rate", "shared_prefix_tokens", "prefix_hit_rate", NULL};
    yaml_check_keys(d, ca, cakeys);
    wl->cache_response_hit_rate = yaml_f64_opt(d, ca, "response_hit_rate", 0, 0, 0.999);
    wl->cache_shared_prefix_tokens = yaml_i64_opt(d, ca, "shared_prefix_tokens", 0, 0, 1 << 20);
    wl->cache_prefix_hit_rate = yaml_f64_opt(d, ca, "prefix_hit_rate", 1, 0, 1);
    const YamlNode *fc = yaml_map_opt(d, r, "fixed_costs");
    static const char *const fkeys[] = {"storage_usd_month", "network_gb_month", "network_usd_per_gb",
        "orchestration_usd_month", "engineering_hours_month", "engineering_usd_per_hour", NULL};
    yaml_check_keys(d, fc, fkeys);
    wl->storage_usd_month = yaml_f64_opt(d, fc, "storage_usd_month", 0, 0, 1e9);
    wl->network_gb_month = yaml_f64_opt(d, fc, "network_gb_month", 0, 0, 1e12);
    wl->network_usd_per_gb = yaml_f64_opt(d, fc, "network_usd_per_gb", 0.09, 0, 100);
    wl->orchestration_usd_month = yaml_f64_opt(d, fc, "orchestration_usd_month", 0, 0, 1e9);
    wl->engineering_hours_month = yaml_f64_opt(d, fc, "engineering_hours_month", 0, 0, 1e5);
    wl->engineering_usd_per_hour = yaml_f64_opt(d, fc, "engineering_usd_per_hour", 0, 0, 1e5);
    load_names(d, r, "models", &wl->models[0][0], 8, sizeof wl->models[0], &wl->n_models, "a catalog model id");
    load_constraints(d, yaml_map_opt(d, r, "constraints"), wl);
    if (!d->rc) {
        wl_build_profile(wl);
        wl->in.mean_eff = wl_token_mean(&wl->in);
        wl->out.mean_eff = wl->cls == WL_EMBEDDING ? 0 : wl_token_mean(&wl->out);
    }
done:
    rc = d->rc;
    if (rc) {
        snprintf(err, err_len, "%s", d->err);
        wl_free(wl);
    }
    yaml_doc_free(&doc);
    return rc;
}

void wl_free(Workload *wl) {
    if (!wl) return;
    free(wl->trace);
    wl->trace = NULL;
    wl->n_trace = 0;
}
