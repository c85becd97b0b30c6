#include "review/review.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

// ---- small pieces ----

static void welford_add(Welford *w, double x) {
    w->n++;
    double d = x - w->mean;
    w->mean += d / (double)w->n;
    w->m2 += d * (x - w->mean);
}

static double welford_var(const Welford *w) { return w->n > 1 ? w->m2 / (double)(w->n - 1) : NAN; }

static void group_name(ReviewGroup *g, Str s) {
    size_t n = s.len < REVIEW_NAME_LEN - 1 ? s.len : REVIEW_NAME_LEN - 1;
    memcpy(g->name, s.ptr, n);
    g->name[n] = 0;
}

// The group named s (created on first use; past REVIEW_MAX_GROUPS names, "(other)"). NULL only
// when memory runs out, and then the record is still counted in the totals.
static ReviewGroup *groups_get(ReviewGroups *gs, Str s) {
    for (int i = 0; i < gs->n; i++)
        if (strlen(gs->g[i].name) == s.len && memcmp(gs->g[i].name, s.ptr, s.len) == 0) return &gs->g[i];
    if (!gs->g) {
        gs->g = calloc(REVIEW_MAX_GROUPS + 1, sizeof *gs->g);
        if (!gs->g) return NULL;
    }
    if (gs->n == REVIEW_MAX_GROUPS) {
        Str other = STR_LIT("(other)");
        for (int i = 0; i < gs->n; i++) if (str_eq_c(other, gs->g[i].name)) return &gs->g[i];
        s = other;
        if (gs->n > REVIEW_MAX_GROUPS) return NULL;
    }
    ReviewGroup *g = &gs->g[gs->n++];
    group_name(g, s);
    return g;
}

static bool is_success(const TelRec *r) {
    return r->status >= 200 && r->status < 300 && !str_eq_c(r->finish_reason, "error") && r->error.len == 0;
}

static void group_add(ReviewGroup *g, const TelRec *r, bool success) {
    g->n++;
    if (r->status >= 200 && r->status < 300) g->n_ok++;
    else if (r->status == 429) g->n_429++;
    else if (r->status >= 400 && r->status < 500) g->n_4xx++;
    else if (r->status >= 500) g->n_5xx++;
    else g->n_no_status++;
    if (r->status >= 200 && r->status < 300 && !success) g->n_stream_error++;
    if (success) g->n_success++;
    if (r->escalated) g->n_escalated++;
    // A request met a cascade's first call: decided as one, escalated from one, or sent by a canary
    // to a candidate in the first call's place (decision "canary", reason "cascade-first").
    if (r->escalated || r->first_tier.len || str_eq_c(r->decision, "cascade") || str_starts_with(r->reason, "cascade-first"))
        g->n_cascade++;
    if (r->cost_nusd >= 0) {
        g->n_cost++;
        g->cost_nusd += r->cost_nusd;
        // Older records carry no split (or idle 0): the cost is the busy share.
        int64_t idle = r->cost_idle_nusd > 0 ? r->cost_idle_nusd : 0;
        g->busy_nusd += r->cost_busy_nusd >= 0 ? r->cost_busy_nusd : r->cost_nusd - idle;
        g->idle_nusd += idle;
    }
    if (r->prompt_tokens >= 0 && r->output_tokens >= 0) {
        g->n_tokens++;
        g->prompt_tokens += r->prompt_tokens;
        g->output_tokens += r->output_tokens;
    }
    if (success) {
        loghist_add(&g->e2e_ms, r->e2e_ms);
        loghist_add(&g->ttft_ms, r->ttft_ms);
        loghist_add(&g->tpot_ms, r->tpot_ms);
        loghist_add(&g->queue_ms, r->queue_ms);
    }
}

double review_group_usd(const ReviewGroup *g) { return (double)g->cost_nusd / 1e9; }

// ---- days ----

static ReviewDay *day_get(Review *rv, int64_t day) {
    if (rv->n_days == 0) {
        rv->days = calloc(1, sizeof *rv->days);
        if (!rv->days) return NULL;
        rv->day0 = day;
        rv->n_days = 1;
    }
    int64_t lo = day < rv->day0 ? day : rv->day0;
    int64_t hi = day >= rv->day0 + rv->n_days ? day + 1 : rv->day0 + rv->n_days;
    if (hi - lo > REVIEW_MAX_DAYS) { rv->out_of_range_days++; return NULL; }
    if (lo != rv->day0 || hi != rv->day0 + rv->n_days) {
        ReviewDay *d = calloc((size_t)(hi - lo), sizeof *d);
        if (!d) return NULL;
        memcpy(d + (rv->day0 - lo), rv->days, (size_t)rv->n_days * sizeof *d);
        free(rv->days);
        rv->days = d;
        rv->day0 = lo;
        rv->n_days = (int)(hi - lo);
    }
    return &rv->days[day - rv->day0];
}

// ---- arrivals, in order ----

// A min-heap of arrival times: records are written when requests end, so arrivals come out of
// order by up to the longest request; holding REVIEW_REORDER of them back puts them in order.
static void heap_push(Review *rv, int64_t t) {
    int i = rv->heap_n++;
    rv->heap_us[i] = t;
    while (i > 0 && rv->heap_us[(i - 1) / 2] > rv->heap_us[i]) {
        int64_t tmp = rv->heap_us[i];
        rv->heap_us[i] = rv->heap_us[(i - 1) / 2];
        rv->heap_us[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static int64_t heap_pop(Review *rv) {
    int64_t top = rv->heap_us[0];
    rv->heap_us[0] = rv->heap_us[--rv->heap_n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < rv->heap_n && rv->heap_us[l] < rv->heap_us[m]) m = l;
        if (r < rv->heap_n && rv->heap_us[r] < rv->heap_us[m]) m = r;
        if (m == i) break;
        int64_t tmp = rv->heap_us[i];
        rv->heap_us[i] = rv->heap_us[m];
        rv->heap_us[m] = tmp;
        i = m;
    }
    return top;
}

static int hour_of(int64_t t_us) {
    int64_t s = t_us / 1000000 - telrec_day(t_us) * 86400;
    return (int)(s / 3600);
}

// One arrival in time order: inter-arrival gaps and per-minute counts.
static void arrival_in_order(Review *rv, int64_t t) {
    if (rv->prev_arrival_us && t < rv->prev_arrival_us) { rv->late++; return; }
    if (rv->prev_arrival_us) {
        double gap = (double)(t - rv->prev_arrival_us) / 1e6;
        welford_add(&rv->gap_s, gap);
        welford_add(&rv->gap_by_hour[hour_of(t)], gap);
    }
    rv->prev_arrival_us = t;
    int64_t minute = t / 60000000;
    if (rv->minutes_closed == 0 && rv->minute_n == 0) rv->minute_cur = minute;
    while (rv->minute_cur < minute) {   // close this minute and any empty ones between
        // The first and the last minute are partial (the data starts and ends inside them).
        if (rv->minutes_closed++ > 0) welford_add(&rv->per_minute, (double)rv->minute_n);
        rv->minute_n = 0;
        rv->minute_cur++;
    }
    rv->minute_n++;
}

static void arrival_add(Review *rv, int64_t t) {
    if (rv->heap_n == REVIEW_REORDER) arrival_in_order(rv, heap_pop(rv));
    heap_push(rv, t);
    if (rv->records == 1 || t < rv->first_us) rv->first_us = t;
    if (rv->records == 1 || t > rv->last_us) rv->last_us = t;
    int64_t day = telrec_day(t);
    int64_t sod = t / 1000000 - day * 86400;
    rv->by_hour[sod / 3600]++;
    rv->by_minute[sod / 60]++;
    rv->by_dow[((day % 7) + 7 + 3) % 7]++;   // 1970-01-01 was a Thursday (3 with Monday = 0)
}

// ---- the public side ----

void review_init(Review *rv) { memset(rv, 0, sizeof *rv); }

void review_free(Review *rv) {
    free(rv->tiers.g);
    free(rv->routes.g);
    free(rv->canary.g);
    free(rv->days);
    memset(rv, 0, sizeof *rv);
}

void review_bad_line(Review *rv, const char *file, int64_t line, const char *why) {
    rv->corrupt++;
    if (rv->n_bad < REVIEW_MAX_EXAMPLES) {
        ReviewBadLine *b = &rv->bad[rv->n_bad++];
        snprintf(b->file, sizeof b->file, "%s", file);
        b->line = line;
        snprintf(b->why, sizeof b->why, "%s", why);
    }
}

// Both arms of a canary: a candidate record goes to "ROUTE candidate"; other records of a route
// that has seen a candidate go to "ROUTE baseline".
static void canary_arm_add(Review *rv, const TelRec *r, Str route, bool success) {
    int n = (int)(route.len < 40 ? route.len : 40);
    char cand[REVIEW_NAME_LEN], base[REVIEW_NAME_LEN];
    snprintf(cand, sizeof cand, "%.*s candidate", n, route.ptr);
    snprintf(base, sizeof base, "%.*s baseline", n, route.ptr);
    ReviewGroup *g = NULL;
    if (r->canary_candidate || str_eq_c(r->decision, "canary")) g = groups_get(&rv->canary, str_from_c(cand));
    else
        for (int i = 0; i < rv->canary.n; i++)
            if (!strcmp(rv->canary.g[i].name, cand)) { g = groups_get(&rv->canary, str_from_c(base)); break; }
    if (g) group_add(g, r, success);
}

// Token counts, finish reasons and endpoints of every record.
static void record_mix(Review *rv, const TelRec *r) {
    if (r->prompt_tokens >= 0 && r->output_tokens >= 0) {
        loghist_add(&rv->prompt_tokens, r->prompt_tokens);
        loghist_add(&rv->output_tokens, r->output_tokens);
    } else {
        rv->n_missing_tokens++;
    }
    if (str_eq_c(r->endpoint, "chat")) rv->ep_chat++;
    else if (str_eq_c(r->endpoint, "completions")) rv->ep_completions++;
    else if (str_eq_c(r->endpoint, "embeddings")) rv->ep_embeddings++;
    if (!r->finish_reason.len) rv->finish_none++;
    else if (str_eq_c(r->finish_reason, "stop")) rv->finish_stop++;
    else if (str_eq_c(r->finish_reason, "length")) rv->finish_length++;
    else if (str_eq_c(r->finish_reason, "error")) rv->finish_error++;
    else rv->finish_other++;
}

static void idle_add(int64_t *cost, int64_t *idle, int64_t v) {
    *cost += v;
    *idle += v;
}

// A replica's close record carries the idle no request took: it counts in the cost of everything,
// its tier and the day it was written, and in no request count.
static void replica_add(Review *rv, const TelRec *r) {
    rv->replica_records++;
    int64_t v = r->cost_idle_nusd > 0 ? r->cost_idle_nusd : 0;
    if (v == 0) return;
    idle_add(&rv->all.cost_nusd, &rv->all.idle_nusd, v);
    if (r->tier.len) {
        ReviewGroup *g = groups_get(&rv->tiers, r->tier);
        if (g) idle_add(&g->cost_nusd, &g->idle_nusd, v);
    }
    ReviewDay *d = day_get(rv, telrec_day(r->t_us));
    if (d) idle_add(&d->cost_nusd, &d->idle_nusd, v);
}

bool review_add(Review *rv, const TelRec *r) {
    if ((rv->since_us && r->t_us < rv->since_us) || (rv->until_us && r->t_us >= rv->until_us)) {
        rv->filtered_out++;
        return false;
    }
    if (str_eq_c(r->record, "replica")) {   // a replica's idle after its last request: cost, no request
        replica_add(rv, r);
        return true;
    }
    rv->records++;
    rv->schema_count[r->schema >= 0 && r->schema < 8 ? r->schema : 7]++;
    bool success = is_success(r);
    group_add(&rv->all, r, success);
    if (r->tier.len) { ReviewGroup *g = groups_get(&rv->tiers, r->tier); if (g) group_add(g, r, success); }
    Str route = r->route.len ? r->route : STR_LIT("(none)");
    ReviewGroup *rg = groups_get(&rv->routes, route);
    if (rg) group_add(rg, r, success);
    canary_arm_add(rv, r, route, success);
    record_mix(rv, r);
    int64_t arrival = r->t_us;
    if (r->e2e_ms >= 0) arrival -= (int64_t)llround(r->e2e_ms * 1000.0);
    else rv->n_missing_e2e++;
    arrival_add(rv, arrival);
    ReviewDay *d = day_get(rv, telrec_day(arrival));
    if (d) {
        d->n++;
        if (!success) d->n_err++;
        else d->n_success++;
        if (r->cost_nusd >= 0) {
            int64_t idle = r->cost_idle_nusd > 0 ? r->cost_idle_nusd : 0;
            d->cost_nusd += r->cost_nusd;
            d->idle_nusd += idle;
            d->busy_nusd += r->cost_busy_nusd >= 0 ? r->cost_busy_nusd : r->cost_nusd - idle;
        }
        if (r->prompt_tokens >= 0 && r->output_tokens >= 0) d->tokens += r->prompt_tokens + r->output_tokens;
    }
    return true;
}

void review_finish(Review *rv, ReviewFit *f) {
    memset(f, 0, sizeof *f);
    while (rv->heap_n) arrival_in_order(rv, heap_pop(rv));
    const ReviewGroup *a = &rv->all;
    f->span_s = (double)(rv->last_us - rv->first_us) / 1e6;
    f->days_covered = f->span_s / 86400.0;
    f->rate_per_s = f->span_s > 0 ? (double)(rv->records > 1 ? rv->records - 1 : 0) / f->span_s : NAN;
    f->gap_cv = rv->gap_s.n > 1 ? sqrt(welford_var(&rv->gap_s)) / rv->gap_s.mean : NAN;
    // Pooled within-hour CV: each hour's squared CV, weighted by its gaps.
    double w = 0, acc = 0;
    for (int h = 0; h < 24; h++) {
        const Welford *g = &rv->gap_by_hour[h];
        if (g->n < 10 || g->mean <= 0) continue;
        acc += (double)g->n * welford_var(g) / (g->mean * g->mean);
        w += (double)g->n;
    }
    f->gap_cv_hourly = w > 0 ? sqrt(acc / w) : f->gap_cv;
    f->dispersion_per_minute = rv->per_minute.n > 1 && rv->per_minute.mean > 0
                                   ? welford_var(&rv->per_minute) / rv->per_minute.mean : NAN;
    int64_t hmax = 0, hsum = 0;
    int hn = 0;
    for (int h = 0; h < 24; h++) {
        hsum += rv->by_hour[h];
        if (rv->by_hour[h]) hn++;
        if (rv->by_hour[h] > hmax) { hmax = rv->by_hour[h]; f->peak_hour = h; }
    }
    // Over the whole day when a day or more is covered, else over the hours seen.
    int hours = f->days_covered >= 1 ? 24 : (hn ? hn : 1);
    f->peak_to_average = hsum ? (double)hmax / ((double)hsum / hours) : NAN;
    double n = (double)a->n;
    f->error_rate = n ? (double)(a->n - a->n_success) / n : NAN;
    f->rate_429 = n ? (double)a->n_429 / n : NAN;
    f->escalation_rate = a->n_cascade ? (double)a->n_escalated / (double)a->n_cascade : NAN;
    f->success_rate = n ? (double)a->n_success / n : NAN;
    f->usd_total = (double)a->cost_nusd / 1e9;
    f->usd_busy = (double)a->busy_nusd / 1e9;
    f->usd_idle = (double)a->idle_nusd / 1e9;
    f->usd_per_1k_requests = n ? f->usd_total / n * 1000.0 : NAN;
    double tok = a->prompt_tokens + a->output_tokens;
    f->usd_per_1m_tokens = tok > 0 ? f->usd_total / tok * 1e6 : NAN;
    f->usd_per_success = a->n_success ? f->usd_total / (double)a->n_success : NAN;
}
