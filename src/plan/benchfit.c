// benchfit.c — published benchmark points, their prediction and the efficiency fit (benchfit.h).
#include "plan/benchfit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/steptime.h"

const char *const bench_metric_names[BM_METRIC_COUNT] = {
    [BM_OUTPUT_TOK_S] = "output_tok_s", [BM_TOTAL_TOK_S] = "total_tok_s", [BM_ITL_MS] = "itl_ms", [BM_TTFT_MS] = "ttft_ms",
    [BM_LATENCY_S] = "latency_s", [BM_LATENCY_MS] = "latency_ms", [BM_PREFILL_TOK_S] = "prefill_tok_s",
    [BM_DECODE_TOK_S] = "decode_tok_s",
};

enum { COL_SPLIT, COL_SOURCE, COL_PUBLISHED, COL_READ, COL_HW, COL_STACK, COL_MODEL, COL_QUANT, COL_TP, COL_ISL,
       COL_OSL, COL_CONC, COL_REQUESTS, COL_METRIC, COL_VALUE, COL_NOTE, COL_COUNT };
static const char *const col_names[COL_COUNT] = {"split", "source", "published", "read", "hardware", "stack", "model",
    "quant", "tp", "isl", "osl", "concurrency", "requests", "metric", "value", "note"};

// Splits one CSV line (RFC 4180 quotes, no embedded newlines) in place. Returns the field count.
static int csv_split(char *line, char **f, int cap) {
    int n = 0;
    char *p = line;
    while (n < cap) {
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            while (*p && !(*p == '"' && p[1] != '"')) { if (*p == '"') p++; *w++ = *p++; }
            if (*p == '"') p++;
            *w = 0;
            if (*p != ',') break;
            p++;
        } else {
            f[n++] = p;
            char *c = strchr(p, ',');
            if (!c) break;
            *c = 0;
            p = c + 1;
        }
    }
    return n;
}

static int find_index(const char *want, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(want, names[i])) return i;
    return -1;
}

static int parse_row(char **f, int line, const char *path, const Catalog *cat, BenchPoint *p, char *err, size_t err_len) {
#define BAD(col, ...) do { char m_[256]; snprintf(m_, sizeof m_, __VA_ARGS__); \
        return err_set(err, err_len, ERR_FORMAT, "%s:%d: column '%s': %s", path, line, col_names[col], m_); } while (0)
    *p = (BenchPoint){.line = line};
    if (!strcmp(f[COL_SPLIT], "test")) p->test = true;
    else if (!strcmp(f[COL_SPLIT], "withdrawn")) p->test = p->withdrawn = true;
    else if (strcmp(f[COL_SPLIT], "train")) BAD(COL_SPLIT, "expected train, test or withdrawn, got '%s'", f[COL_SPLIT]);
    snprintf(p->source, sizeof p->source, "%s", f[COL_SOURCE]);
    snprintf(p->published, sizeof p->published, "%s", f[COL_PUBLISHED]);
    snprintf(p->read, sizeof p->read, "%s", f[COL_READ]);
    if (strlen(f[COL_SOURCE]) < 10) BAD(COL_SOURCE, "every point needs its source");
    const CatHardware *hw = catalog_hw(cat, f[COL_HW]);
    const CatModel *m = catalog_model(cat, f[COL_MODEL]);
    const CatStack *st = catalog_stack(cat, f[COL_STACK]);
    if (!hw) BAD(COL_HW, "no hardware '%s' in the catalog", f[COL_HW]);
    if (!m) BAD(COL_MODEL, "no model '%s' in the catalog", f[COL_MODEL]);
    if (!st || st == cat_stack_reference()) BAD(COL_STACK, "no stack '%s' in stacks.yaml", f[COL_STACK]);
    p->hw = (int)(hw - cat->hw);
    p->model = (int)(m - cat->models);
    p->stack = (int)(st - cat->stacks);
    int q = find_index(f[COL_QUANT], plan_quant_names, QUANT_COUNT);
    if (q < 0 || !m->quant[q].present) BAD(COL_QUANT, "'%s' is not a quantization of %s", f[COL_QUANT], m->id);
    p->quant = (PlanQuant)q;
    char *end;
    p->tp = (int)strtol(f[COL_TP], &end, 10);
    if (*end || p->tp < 1 || p->tp > 64) BAD(COL_TP, "expected 1..64, got '%s'", f[COL_TP]);
    int mt = find_index(f[COL_METRIC], bench_metric_names, BM_METRIC_COUNT);
    if (mt < 0)
        BAD(COL_METRIC, "expected output_tok_s, total_tok_s, itl_ms, ttft_ms, latency_s, latency_ms, prefill_tok_s or "
                        "decode_tok_s, got '%s'", f[COL_METRIC]);
    p->metric = (BenchMetric)mt;
    // A prompt-only point (llama-bench pp) has no output; a generation-only one (tg) may have no prompt.
    p->isl = strtoll(f[COL_ISL], &end, 10);
    if (*end || p->isl < (p->metric == BM_DECODE_TOK_S ? 0 : 1)) BAD(COL_ISL, "expected a token count, got '%s'", f[COL_ISL]);
    p->osl = strtoll(f[COL_OSL], &end, 10);
    if (*end || p->osl < (p->metric == BM_PREFILL_TOK_S ? 0 : 1)) BAD(COL_OSL, "expected a token count, got '%s'", f[COL_OSL]);
    p->concurrency = strtoll(f[COL_CONC], &end, 10);
    if (*end || p->concurrency < 0) BAD(COL_CONC, "expected 0 (offline) or a count, got '%s'", f[COL_CONC]);
    p->requests = strtoll(f[COL_REQUESTS], &end, 10);
    if (*end || p->requests < 0 || (p->requests > 0 && p->requests < p->concurrency))
        BAD(COL_REQUESTS, "expected 0 (steady state) or the run's request count, at least the concurrency, got '%s'",
            f[COL_REQUESTS]);
    if ((p->metric == BM_PREFILL_TOK_S || p->metric == BM_DECODE_TOK_S) && p->concurrency != 1)
        BAD(COL_CONC, "a %s point is one sequence: concurrency 1, got '%s'", bench_metric_names[p->metric], f[COL_CONC]);
    p->value = strtod(f[COL_VALUE], &end);
    if (*end || !(p->value > 0)) BAD(COL_VALUE, "expected a positive number, got '%s'", f[COL_VALUE]);
    return 0;
#undef BAD
}

int bench_points_load(const char *path, const Catalog *cat, BenchPoint **pts, int64_t *n, char *err, size_t err_len) {
    *pts = NULL;
    *n = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return err_set(err, err_len, ERR_IO, "%s: cannot open", path);
    char line[2048];
    int rc = 0, ln = 0;
    int64_t cap = 0;
    while (fgets(line, sizeof line, fp)) {
        ln++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        char *f[COL_COUNT + 1];
        int nf = csv_split(line, f, COL_COUNT + 1);
        if (ln == 1) {   // header: the columns, in order
            for (int i = 0; i < COL_COUNT && !rc; i++)
                if (i >= nf || strcmp(f[i], col_names[i]))
                    rc = err_set(err, err_len, ERR_FORMAT, "%s:1: expected column %d to be '%s'", path, i + 1, col_names[i]);
            if (rc) break;
            continue;
        }
        if (nf != COL_COUNT) { rc = err_set(err, err_len, ERR_FORMAT, "%s:%d: expected %d columns, got %d", path, ln, COL_COUNT, nf); break; }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            BenchPoint *g = realloc(*pts, (size_t)cap * sizeof *g);
            if (!g) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); break; }
            *pts = g;
        }
        rc = parse_row(f, ln, path, cat, &(*pts)[*n], err, err_len);
        if (rc) break;
        (*n)++;
    }
    fclose(fp);
    if (rc) { free(*pts); *pts = NULL; *n = 0; }
    return rc;
}

// ---- prediction ----

// Time of prefilling b prompts of isl tokens in chunks of at most mnbt tokens (pure prefill steps).
static double prefill_cycle_us(const StepModel *sm, int64_t b, int64_t isl, int64_t mnbt) {
    double tokens = (double)b * (double)isl;
    double steps = ceil(tokens / (double)mnbt);
    double pairs = (double)b * (double)isl * ((double)isl + 1) / 2;
    StepShape s = {.prefill_tokens = (int64_t)ceil(tokens / steps), .decode_rows = 0,
                   .ctx_tokens = (int64_t)ceil(tokens / steps), .attn_pairs = pairs / steps};
    return steps * step_time_us(sm, &s);
}

// ---- a closed loop of users (TTFT and inter-token latency under load) ----
//
// c users each send their next request when the last one ends, on one replica scheduled as
// policy/sched.h (and the planner's simulator) does: a step decodes one token of every running
// request first, then admits waiting prompts while max_num_batched_tokens lasts — in chunks, or,
// for a stack that admits prompts only whole (vLLM on Neuron), as many whole prompts as fit (at
// least one). Every step costs step_time_us of its shape. Prompts and decode rows read a context
// of isl + 1 positions (the prompt; the few generated tokens are left out).

// One step with `prefill` prompt tokens (attending `pairs` query x key pairs) and r decode rows.
static double mixed_step_us(const StepModel *sm, int64_t prefill, double pairs, int64_t r, int64_t isl) {
    StepShape s = {.prefill_tokens = prefill, .decode_rows = r, .ctx_tokens = prefill + r * (isl + 1),
                   .attn_pairs = pairs + (double)r * (double)(isl + 1)};
    return step_time_us(sm, &s);
}

// Time from admitting one prompt alone beside r decode rows to its first token: the steps that
// prefill it (one when whole; else ceil(isl / (budget - r)) chunks of even size, as prefill_cycle_us).
static double admit_one_us(const StepModel *sm, const CatStack *st, int64_t isl, int64_t r, int64_t *steps_out) {
    int64_t budget = st->max_num_batched_tokens - r;
    if (budget < 1) budget = 1;
    int64_t steps = st->whole_prompts ? 1 : (isl + budget - 1) / budget;
    int64_t chunk = (isl + steps - 1) / steps;
    double pairs = (double)isl * ((double)isl + 1) / 2 / (double)steps;
    *steps_out = steps;
    return (double)steps * mixed_step_us(sm, chunk, pairs, r, isl);
}

typedef struct {
    double ttft_us;    // mean time to first token over the run's requests
    double stall_us;   // mean time per request its decode steps wait on other requests' prefills
} ClosedLoop;

// The run starts with all c users' prompts at once on an idle replica (a benchmark client's
// start): step j admits what the budget left by the j*k rows already decoding allows, and every
// prompt's first token comes at the end of the step that finishes it.
static void burst(const StepModel *sm, const CatStack *st, int64_t c, int64_t isl, double *ttft_sum, double *stall_sum) {
    double t = 0;
    int64_t running = 0, left = isl;   // left: tokens of the head prompt still to prefill
    while (running < c) {
        int64_t budget = st->max_num_batched_tokens - running, tokens = 0, done = 0;
        double pairs = 0;
        if (budget < 1) budget = 1;
        if (st->whole_prompts) {
            done = budget / isl < 1 ? 1 : budget / isl;
            if (done > c - running) done = c - running;
            tokens = done * isl;
            pairs = (double)done * (double)isl * ((double)isl + 1) / 2;
        } else {
            while (budget > 0 && running + done < c) {
                int64_t take = left < budget ? left : budget, pos = isl - left;
                tokens += take;
                pairs += (double)take * ((double)pos + 0.5 * (double)(take + 1));
                budget -= take;
                left -= take;
                if (!left) { done++; left = isl; }
            }
        }
        double dt = mixed_step_us(sm, tokens, pairs, running, isl);
        t += dt;
        *ttft_sum += (double)done * t;
        if (running) *stall_sum += (double)running * (dt - mixed_step_us(sm, 0, 0, running, isl));
        running += done;
    }
}

// Mean TTFT and decode stall over a run of n requests (0: the steady state) of c users: the first c
// come as the burst above; each later one follows its user's last request, which ended at a step's
// end while the other c - 1 decode: the engine has started its next step by the time the prompt
// arrives, so the prompt waits that decode step whole, then its own prefill steps, which stall the
// c - 1 decoders for what the prefill adds to each step. Prompts of two users that arrive together
// queue behind each other; the steady term leaves that out (tests/test_benchfit.c measures the gap
// against policy/sched driven by the same step times).
static ClosedLoop closed_loop(const StepModel *sm, const CatStack *st, int64_t c, int64_t n, int64_t isl) {
    int64_t r = c - 1, steps;
    double dec = r ? mixed_step_us(sm, 0, 0, r, isl) : 0;
    double admit = admit_one_us(sm, st, isl, r, &steps);
    double steady_ttft = dec + admit, steady_stall = (double)r * (admit - (double)steps * dec);
    if (n <= 0) return (ClosedLoop){steady_ttft, steady_stall};
    double ttft_sum = 0, stall_sum = 0;
    burst(sm, st, c, isl, &ttft_sum, &stall_sum);
    ttft_sum += (double)(n - c) * steady_ttft;
    stall_sum += (double)(n - c) * steady_stall;
    return (ClosedLoop){ttft_sum / (double)n, stall_sum / (double)n};
}

double bench_predict(const Catalog *cat, const CatStack *st, const BenchPoint *p) {
    const CatHardware *hw = &cat->hw[p->hw];
    const CatModel *m = &cat->models[p->model];
    StepModel sm;
    step_roofline(&sm, hw, m, p->quant, p->tp, st);
    KvCapacity kv;
    int64_t seq = p->isl + p->osl;
    step_kv_capacity(&kv, hw, m, p->quant, p->tp, st, st->max_num_batched_tokens, st->max_num_seqs, (double)seq);
    if (kv.kv_blocks_total <= 0 || kv.max_seqs_at_mean < 1) return 0;
    int64_t b = kv.max_seqs_at_mean;   // already capped at max_num_seqs
    if (p->concurrency > 0 && p->concurrency < b) b = p->concurrency;
    if (p->metric == BM_PREFILL_TOK_S)
        return (double)p->isl / (prefill_cycle_us(&sm, 1, p->isl, st->max_num_batched_tokens) * 1e-6);
    if (p->metric == BM_DECODE_TOK_S) return (double)p->osl / (step_decode_run_us(&sm, 1, p->isl + 1, p->osl) * 1e-6);
    double t_pre = prefill_cycle_us(&sm, b, p->isl, st->max_num_batched_tokens);
    double t_dec = step_decode_run_us(&sm, b, b * (p->isl + 1), p->osl - 1);
    double cycle_s = (t_pre + t_dec) * 1e-6;
    // Under load (a closed loop of b users), a time to first token queues behind the other
    // users' prefills, and an inter-token latency waits on them (closed_loop).
    ClosedLoop cl = {0};
    if (p->metric == BM_TTFT_MS || p->metric == BM_ITL_MS)
        cl = closed_loop(&sm, st, p->concurrency > 0 ? b : 1, p->requests > 0 && p->concurrency > 0 ? p->requests : 0, p->isl);
    switch (p->metric) {
    case BM_OUTPUT_TOK_S: return (double)b * (double)p->osl / cycle_s;
    case BM_TOTAL_TOK_S: return (double)b * (double)seq / cycle_s;
    case BM_ITL_MS: return p->osl > 1 ? (t_dec + cl.stall_us) / (double)(p->osl - 1) / 1e3 : 0;
    case BM_TTFT_MS: return cl.ttft_us / 1e3;
    case BM_LATENCY_S: return cycle_s;
    case BM_LATENCY_MS: return cycle_s * 1e3;
    case BM_PREFILL_TOK_S:
    case BM_DECODE_TOK_S:
    case BM_METRIC_COUNT: break;
    }
    CHECK(0);
    return 0;
}

// ---- error and fit ----

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

BenchErr bench_error(const Catalog *cat, const BenchPoint *pts, int64_t n, bool test, int hw, int stack) {
    BenchErr e = {0};
    double *a = malloc((size_t)(n ? n : 1) * sizeof *a);
    CHECK(a);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        const BenchPoint *p = &pts[i];
        if (p->withdrawn || p->test != test || (hw >= 0 && p->hw != hw) || (stack >= 0 && p->stack != stack)) continue;
        double pred = bench_predict(cat, &cat->stacks[p->stack], p);
        double l = pred > 0 ? log(pred / p->value) : 10.0;   // a model that does not fit: off by e^10
        sum += l;
        a[e.n++] = fabs(l);
        if (fabs(l) > e.max_abs_log) e.max_abs_log = fabs(l);
    }
    if (e.n) {
        qsort(a, (size_t)e.n, sizeof *a, cmp_double);
        e.median_abs_log = e.n % 2 ? a[e.n / 2] : (a[e.n / 2 - 1] + a[e.n / 2]) / 2;
        e.geo_mean_ratio = exp(sum / (double)e.n);
    }
    free(a);
    return e;
}

typedef struct {
    double *v, lo, hi;
} FitParam;

typedef struct {
    const Catalog *cat;
    const BenchPoint *pts;
    int64_t n;
    int stack, hw;          // filter (-1 = any)
    const CatStack *st;     // the stack to predict with (NULL: each point's catalog stack)
} LossCtx;

// Sum of squared log errors over the train points that pass the filter.
static double train_loss(const LossCtx *c) {
    double loss = 0;
    for (int64_t i = 0; i < c->n; i++) {
        const BenchPoint *p = &c->pts[i];
        if (p->test || (c->stack >= 0 && p->stack != c->stack) || (c->hw >= 0 && p->hw != c->hw)) continue;
        double pred = bench_predict(c->cat, c->st ? c->st : &c->cat->stacks[p->stack], p);
        double l = pred > 0 ? log(pred / p->value) : 10.0;
        loss += l * l;
    }
    return loss;
}

static double ctx_loss(const void *ctx) { return train_loss(ctx); }

// Multiplicative coordinate search on a shrinking step: each parameter in turn is multiplied or
// divided by the step while that lowers the loss, within its bounds.
static void coord_search(FitParam *prm, int np, double (*loss)(const void *), const void *ctx) {
    double best = loss(ctx);
    for (double step = 2.0; step > 1.0005; step = sqrt(step)) {
        bool moved = true;
        for (int round = 0; moved && round < 200; round++) {
            moved = false;
            for (int j = 0; j < np; j++) {
                for (int dir = -1; dir <= 1; dir += 2) {
                    double old = *prm[j].v, nv = old * (dir > 0 ? step : 1 / step);
                    if (nv < prm[j].lo || nv > prm[j].hi) continue;
                    *prm[j].v = nv;
                    double l = loss(ctx);
                    if (l < best - 1e-12) { best = l; moved = true; break; }
                    *prm[j].v = old;
                }
            }
        }
    }
}

int64_t bench_fit(const Catalog *cat, const BenchPoint *pts, int64_t n, int stack, CatStack *out) {
    // A fixed start (the reference engine) so a refit reproduces the committed figures.
    *out = cat->stacks[stack];
    out->eff_prefill = out->eff_decode = out->eff_overhead = 1.0;
    for (int k = 0; k < LINK_COUNT; k++) out->allreduce_eff[k] = cat_stack_reference()->allreduce_eff[k] * 0.8;
    out->allreduce_alpha_us = cat_stack_reference()->allreduce_alpha_us;
    int64_t n_train = 0;
    bool link_used[LINK_COUNT] = {0};
    double hi_pre = 5.0, hi_dec = 5.0;   // beyond these the 0.98-of-peak cap makes a factor inert
    for (int64_t i = 0; i < n; i++)
        if (!pts[i].test && pts[i].stack == stack) {
            n_train++;
            hi_pre = fmin(hi_pre, 0.98 / cat->hw[pts[i].hw].derate_compute);
            hi_dec = fmin(hi_dec, 0.98 / cat->hw[pts[i].hw].derate_bandwidth);
            if (pts[i].tp > 1) link_used[cat->hw[pts[i].hw].link] = true;
        }
    if (!n_train) return 0;
    // Parameters: (pointer, lower, upper). Multiplicative coordinate search on a shrinking step.
    FitParam prm[4 + LINK_COUNT];
    int np = 0;
    // In the order the points identify them: decode bandwidth and the per-step cost first (every
    // point has decode steps), prefill next, the links last; a stack with few train points fits
    // fewer parameters than it has points (the rest stay at the reference engine's).
    prm[np++] = (FitParam){&out->eff_decode, 0.05, hi_dec};
    prm[np++] = (FitParam){&out->eff_overhead, 0.01, 20.0};
    prm[np++] = (FitParam){&out->eff_prefill, 0.05, hi_pre};
    bool any_tp = false;
    for (int k = 0; k < LINK_COUNT; k++)
        if (link_used[k]) { prm[np++] = (FitParam){&out->allreduce_eff[k], 0.05, 1.0}; any_tp = true; }
    if (any_tp) prm[np++] = (FitParam){&out->allreduce_alpha_us, 0.5, 500.0};
    if (np > n_train - 1) np = n_train > 1 ? (int)n_train - 1 : 1;
    coord_search(prm, np, ctx_loss, &(LossCtx){cat, pts, n, stack, -1, out});
    return n_train;
}

// bench_fit_hw with the device's step_overhead_us fitted too when overhead_us is not NULL.
static int64_t fit_hw(Catalog *cat, const BenchPoint *pts, int64_t n, int hw, double *compute, double *bandwidth,
                      double *overhead_us) {
    CatHardware *h = &cat->hw[hw];
    double keep_c = h->derate_compute, keep_b = h->derate_bandwidth, keep_o = h->step_overhead_us;
    int64_t n_train = 0;
    for (int64_t i = 0; i < n; i++) n_train += !pts[i].test && pts[i].hw == hw;
    *compute = keep_c;
    *bandwidth = keep_b;
    if (overhead_us) *overhead_us = keep_o;
    if (!n_train) return 0;
    FitParam prm[3] = {{&h->derate_compute, 0.05, 0.98}, {&h->derate_bandwidth, 0.05, 0.98},
                       {&h->step_overhead_us, 10, 100000}};
    coord_search(prm, overhead_us && n_train > 3 ? 3 : 2, ctx_loss, &(LossCtx){cat, pts, n, -1, hw, NULL});
    *compute = h->derate_compute;
    *bandwidth = h->derate_bandwidth;
    if (overhead_us) *overhead_us = h->step_overhead_us;
    h->derate_compute = keep_c;
    h->derate_bandwidth = keep_b;
    h->step_overhead_us = keep_o;
    return n_train;
}

int64_t bench_fit_hw(Catalog *cat, const BenchPoint *pts, int64_t n, int hw, double *compute, double *bandwidth) {
    return fit_hw(cat, pts, n, hw, compute, bandwidth, NULL);
}

int bench_fit_joint(Catalog *cat, const BenchPoint *pts, int64_t n, int stack, const int *hw, int n_hw, bool overhead) {
    for (int round = 1; round <= 200; round++) {
        CatStack fit;
        if (!bench_fit(cat, pts, n, stack, &fit)) return 0;
        double moved = 0;
        const CatStack *old = &cat->stacks[stack];
        moved = fmax(moved, fabs(log(fit.eff_prefill / old->eff_prefill)));
        moved = fmax(moved, fabs(log(fit.eff_decode / old->eff_decode)));
        moved = fmax(moved, fabs(log(fit.eff_overhead / old->eff_overhead)));
        cat->stacks[stack] = fit;
        for (int i = 0; i < n_hw; i++) {
            double c, b, o;
            if (!fit_hw(cat, pts, n, hw[i], &c, &b, overhead ? &o : NULL)) continue;
            moved = fmax(moved, fabs(log(c / cat->hw[hw[i]].derate_compute)));
            moved = fmax(moved, fabs(log(b / cat->hw[hw[i]].derate_bandwidth)));
            cat->hw[hw[i]].derate_compute = c;
            cat->hw[hw[i]].derate_bandwidth = b;
            if (overhead) {
                moved = fmax(moved, fabs(log(o / cat->hw[hw[i]].step_overhead_us)));
                cat->hw[hw[i]].step_overhead_us = o;
            }
        }
        if (moved < 1e-3) return round;
    }
    return 200;
}

int bench_count_points(const char *path, Catalog *cat, char *err, size_t err_len) {
    BenchPoint *pts = NULL;
    int64_t n = 0;
    int rc = bench_points_load(path, cat, &pts, &n, err, err_len);
    if (rc) return rc;
    for (int64_t i = 0; i < cat->n_hw; i++) cat->hw[i].published_points = 0;
    for (int64_t i = 0; i < n; i++) cat->hw[pts[i].hw].published_points += !pts[i].withdrawn;
    for (int64_t h = 0; h < cat->n_hw; h++) {
        CatHardware *hw = &cat->hw[h];
        BenchErr e = hw->published_points ? bench_error(cat, pts, n, true, (int)h, -1) : (BenchErr){0};
        hw->published_heldout = e.n;
        hw->published_median_ratio = e.n ? exp(e.median_abs_log) : 0;
        hw->published_worst_ratio = e.n ? exp(e.max_abs_log) : 0;
    }
    free(pts);
    return 0;
}
