#include "policy/canary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"

void canary_init(Canary *c, double weight_percent, double shadow_percent, const CanaryGuards *g) {
    memset(c, 0, sizeof *c);
    c->weight_percent = weight_percent;
    c->shadow_percent = shadow_percent;
    c->guards = *g;
}

void canary_set_weight(Canary *c, double weight_percent) {
    c->weight_percent = weight_percent < 0 ? 0 : (weight_percent > 100 ? 100 : weight_percent);
    c->lat_head = c->lat_n = c->agr_head = c->agr_n = c->acc_head = c->acc_n = 0;
    c->rolled_back = false;
    c->last_verdict = CANARY_OK;
    c->reason[0] = 0;
}

void canary_rollback(Canary *c, const char *reason) {
    c->weight_percent = 0;
    c->rolled_back = true;
    c->rollbacks++;
    snprintf(c->reason, sizeof c->reason, "%s", reason);
}

bool canary_pick(const Canary *c, Rng *rng) {
    double u = rng_uniform(rng) * 100.0;
    return u < c->weight_percent;
}

bool canary_shadow(const Canary *c, Rng *rng) { return rng_uniform(rng) * 100.0 < c->shadow_percent; }

static void ring_push(CanarySample *ring, int64_t *head, int64_t *n, CanarySample s) {
    ring[(*head + *n) % CANARY_WINDOW_MAX] = s;
    if (*n < CANARY_WINDOW_MAX) (*n)++;
    else *head = (*head + 1) % CANARY_WINDOW_MAX;
}

// Drops samples older than the window.
static void ring_expire(const CanarySample *ring, int64_t *head, int64_t *n, int64_t since_us) {
    while (*n > 0 && ring[*head].t_us < since_us) {
        *head = (*head + 1) % CANARY_WINDOW_MAX;
        (*n)--;
    }
}

void canary_record(Canary *c, int64_t now_us, int64_t latency_us, bool error) {
    ring_push(c->lat, &c->lat_head, &c->lat_n,
              (CanarySample){.t_us = now_us, .value = (float)((double)latency_us / 1000.0), .error = error});
}

void canary_record_agreement(Canary *c, int64_t now_us, double agreement) {
    ring_push(c->agr, &c->agr_head, &c->agr_n, (CanarySample){.t_us = now_us, .value = (float)agreement});
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void canary_stats(const Canary *c, int64_t now_us, int64_t *n, double *p95_ms, double *err_rate, int64_t *n_agr,
                  double *agreement) {
    int64_t since = now_us - c->guards.window_us;
    float vals[CANARY_WINDOW_MAX];
    int64_t k = 0, errs = 0;
    for (int64_t i = 0; i < c->lat_n; i++) {
        const CanarySample *s = &c->lat[(c->lat_head + i) % CANARY_WINDOW_MAX];
        if (s->t_us < since) continue;
        if (s->error) errs++;
        else vals[k] = s->value;
        k += !s->error;
    }
    int64_t total = k + errs;
    *n = total;
    *err_rate = total ? (double)errs / (double)total : 0;
    *p95_ms = 0;
    if (k > 0) {
        qsort(vals, (size_t)k, sizeof *vals, cmp_float);
        int64_t rank = (int64_t)ceil(0.95 * (double)k);   // nearest rank
        *p95_ms = vals[rank - 1];
    }
    double sum = 0;
    int64_t na = 0;
    for (int64_t i = 0; i < c->agr_n; i++) {
        const CanarySample *s = &c->agr[(c->agr_head + i) % CANARY_WINDOW_MAX];
        if (s->t_us < since) continue;
        sum += s->value;
        na++;
    }
    *n_agr = na;
    *agreement = na ? sum / (double)na : 1.0;
}

CanaryVerdict canary_check(Canary *c, int64_t now_us) {
    if (c->rolled_back || c->weight_percent <= 0) return CANARY_OK;
    int64_t since = now_us - c->guards.window_us;
    ring_expire(c->lat, &c->lat_head, &c->lat_n, since);
    ring_expire(c->agr, &c->agr_head, &c->agr_n, since);
    ring_expire(c->acc, &c->acc_head, &c->acc_n, since);
    int64_t n, na, nl;
    double acc = canary_accuracy(c, now_us, &nl);
    double p95, er, agr;
    canary_stats(c, now_us, &n, &p95, &er, &na, &agr);
    if (n < c->guards.min_samples) return CANARY_OK;
    CanaryVerdict v = CANARY_OK;
    char why[160];
    int64_t min_agr = c->guards.min_samples / 4 > 3 ? c->guards.min_samples / 4 : 3;
    if (c->guards.p95_ms > 0 && p95 > c->guards.p95_ms) {
        v = CANARY_ROLLBACK_LATENCY;
        snprintf(why, sizeof why, "p95 latency %.1f ms > %.1f ms over %lld answers", p95, c->guards.p95_ms,
                 (long long)n);
    } else if (c->guards.error_rate < 1 && er > c->guards.error_rate) {
        v = CANARY_ROLLBACK_ERRORS;
        snprintf(why, sizeof why, "error rate %.4f > %.4f over %lld answers", er, c->guards.error_rate, (long long)n);
    } else if (c->guards.min_agreement > 0 && na >= min_agr && agr < c->guards.min_agreement) {
        v = CANARY_ROLLBACK_AGREEMENT;
        snprintf(why, sizeof why, "agreement with the baseline %.3f < %.3f over %lld shadow pairs", agr,
                 c->guards.min_agreement, (long long)na);
    } else if (c->guards.min_accuracy > 0 && nl >= min_agr && acc < c->guards.min_accuracy) {
        v = CANARY_ROLLBACK_ACCURACY;
        snprintf(why, sizeof why, "accuracy on labelled requests %.3f < %.3f over %lld answers", acc,
                 c->guards.min_accuracy, (long long)nl);
    }
    if (v != CANARY_OK) {
        canary_rollback(c, why);
        c->last_verdict = v;
    }
    return v;
}

void canary_record_accuracy(Canary *c, int64_t now_us, bool correct) {
    ring_push(c->acc, &c->acc_head, &c->acc_n, (CanarySample){.t_us = now_us, .value = correct ? 1.0f : 0.0f});
}

double canary_accuracy(const Canary *c, int64_t now_us, int64_t *n) {
    int64_t since = now_us - c->guards.window_us, k = 0;
    double sum = 0;
    for (int64_t i = 0; i < c->acc_n; i++) {
        const CanarySample *s = &c->acc[(c->acc_head + i) % CANARY_WINDOW_MAX];
        if (s->t_us < since) continue;
        sum += s->value;
        k++;
    }
    *n = k;
    return k ? sum / (double)k : 1.0;
}

bool canary_label_match(const char *label, const char *reply) {
    while (*reply == ' ' || *reply == '\t' || *reply == '\r' || *reply == '\n') reply++;
    size_t n = strcspn(reply, "\r\n");
    while (n > 0 && (reply[n - 1] == ' ' || reply[n - 1] == '\t')) n--;
    return strlen(label) == n && strncasecmp(label, reply, n) == 0;
}

double canary_agreement(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), k = 0;
    size_t lmax = la > lb ? la : lb;
    if (lmax == 0) return 1.0;
    while (k < la && k < lb && a[k] == b[k]) k++;
    return (double)k / (double)lmax;
}

const char *canary_verdict_name(CanaryVerdict v) {
    static const char *const names[] = {
        [CANARY_OK] = "ok",
        [CANARY_ROLLBACK_LATENCY] = "latency",
        [CANARY_ROLLBACK_ERRORS] = "errors",
        [CANARY_ROLLBACK_AGREEMENT] = "agreement",
        [CANARY_ROLLBACK_ACCURACY] = "accuracy",
    };
    return (unsigned)v < ARRAY_LEN(names) ? names[v] : "?";
}

CanaryVerdict canary_answer(Canary *c, int64_t now_us, int64_t latency_us, bool error) {
    canary_record(c, now_us, latency_us, error);
    return canary_check(c, now_us);
}
