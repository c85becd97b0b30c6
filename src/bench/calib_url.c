// calib_url.c — step-time calibration of a live endpoint from streamed responses (calib_url.h).
#include "bench/calib_url.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/clock.h"

enum { F_B0, F_PREFILL, F_ROWS, F_CTX, F_OVERHEAD, F_MULTI, N_F };

int calib_url_check(const CalibUrlDesign *d, char *err, size_t err_len) {
    if (!d->url) return err_set(err, err_len, ERR_ARG, "no URL");
    if (d->n_prompts < 2 || d->n_prompts > CALIB_URL_MAX_LEVELS)
        return err_set(err, err_len, ERR_ARG, "need 2 to %d prompt lengths, got %d", CALIB_URL_MAX_LEVELS, d->n_prompts);
    if (d->n_conc < 1 || d->n_conc > CALIB_URL_MAX_LEVELS)
        return err_set(err, err_len, ERR_ARG, "need 1 to %d concurrency levels, got %d", CALIB_URL_MAX_LEVELS, d->n_conc);
    bool has_one = false;
    for (int i = 0; i < d->n_prompts; i++)
        if (d->prompt_words[i] < 1 || d->prompt_words[i] > 100000)
            return err_set(err, err_len, ERR_ARG, "prompt length %lld is outside [1, 100000] words",
                           (long long)d->prompt_words[i]);
    for (int i = 0; i < d->n_conc; i++) {
        if (d->concurrency[i] < 1 || d->concurrency[i] > 4096)
            return err_set(err, err_len, ERR_ARG, "concurrency %lld is outside [1, 4096]", (long long)d->concurrency[i]);
        has_one |= d->concurrency[i] == 1;
    }
    if (!has_one)
        return err_set(err, err_len, ERR_ARG, "the concurrency levels must include 1 (TTFT rows place the per-request overhead)");
    if (d->output_tokens < 4 || d->output_tokens > 100000)
        return err_set(err, err_len, ERR_ARG, "output tokens %lld is outside [4, 100000]", (long long)d->output_tokens);
    if (d->rounds < 1 || d->rounds > 1000)
        return err_set(err, err_len, ERR_ARG, "rounds %lld is outside [1, 1000]", (long long)d->rounds);
    if (d->idle_us < 0 || d->idle_us > 60000000)
        return err_set(err, err_len, ERR_ARG, "idle time %lld ms is outside [0, 60000]", (long long)(d->idle_us / 1000));
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median of v[0..n) (sorts v); 0 when n == 0.
static double median(double *v, int64_t n) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The request's decode time per token (false without two tokens): when the server's HTTP thread
// lags, several tokens arrive in one stream event and the gaps between events say little, but the
// span from the first token to the end does not depend on how the tokens were grouped.
static bool req_tpot(const LgRecord *r, double *tpot) {
    if (r->outcome != LG_OK || r->ttft_us < 0 || r->output_tokens < 2 || r->e2e_us <= r->ttft_us) return false;
    *tpot = (double)(r->e2e_us - r->ttft_us) / (double)(r->output_tokens - 1);
    return true;
}

int calib_url_reduce(LgResult *res, int64_t words, int64_t conc, CalibUrlPoint *out) {
    *out = (CalibUrlPoint){.words = words, .conc = conc};
    int64_t n = res->n;
    double *ttft = malloc((size_t)(n ? n : 1) * sizeof *ttft), *pt = malloc((size_t)(n ? n : 1) * sizeof *pt);
    double *ot = malloc((size_t)(n ? n : 1) * sizeof *ot), *tpot = malloc((size_t)(n ? n : 1) * sizeof *tpot);
    double *hop = malloc((size_t)(n ? n : 1) * sizeof *hop);
    if (!ttft || !pt || !ot || !tpot || !hop) {
        free(ttft); free(pt); free(ot); free(tpot); free(hop);
        return ERR_NOMEM;
    }
    int64_t k = 0, n_tpot = 0, n_hop = 0;
    for (int64_t i = 0; i < n; i++) {
        const LgRecord *r = &res->rec[i];
        if (r->outcome != LG_OK) {
            if (r->outcome != LG_NOT_SENT) out->n_err++;
            continue;
        }
        if (r->ttft_us < 0) continue;
        ttft[k] = (double)r->ttft_us;
        if (r->server_ttft_us > 0 && r->server_ttft_us <= r->ttft_us) {   // the gateway's own (CalibUrlPoint)
            hop[n_hop++] = (double)(r->ttft_us - r->server_ttft_us);
            ttft[k] = (double)r->server_ttft_us;
        }
        pt[k] = r->prompt_tokens >= 0 ? (double)r->prompt_tokens : (double)words;
        ot[k] = (double)r->output_tokens;
        if (req_tpot(r, &tpot[n_tpot])) n_tpot++;
        k++;
    }
    out->n_ok = k;
    out->ttft_us = median(ttft, k);
    out->prompt_tokens = k ? median(pt, k) : (double)words;
    out->output_tokens = median(ot, k);
    out->itl_us = n_tpot ? median(tpot, n_tpot) : res->itl_us.n ? samples_quantile(&res->itl_us, 0.5) : 0;
    out->n_server = n_hop;
    out->hop_us = median(hop, n_hop);
    free(ttft); free(pt); free(ot); free(tpot); free(hop);
    return 0;
}

int calib_url_merge_rounds(const CalibUrlPoint *rounds, int64_t n, CalibUrlPoint *out) {
    double *v[5];
    for (int j = 0; j < 5; j++) v[j] = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!v[0] || !v[1] || !v[2] || !v[3] || !v[4]) {
        for (int j = 0; j < 5; j++) free(v[j]);
        return ERR_NOMEM;
    }
    *out = (CalibUrlPoint){.words = n ? rounds[0].words : 0, .conc = n ? rounds[0].conc : 0};
    int64_t nt = 0, ni = 0, nk = 0, nh = 0;
    for (int64_t r = 0; r < n; r++) {
        out->n_ok += rounds[r].n_ok;
        out->n_err += rounds[r].n_err;
        out->n_server += rounds[r].n_server;
        if (rounds[r].n_ok == 0) continue;
        if (rounds[r].n_server > 0) v[4][nh++] = rounds[r].hop_us;
        if (rounds[r].ttft_us > 0) v[0][nt++] = rounds[r].ttft_us;
        if (rounds[r].itl_us > 0) v[1][ni++] = rounds[r].itl_us;
        v[2][nk] = rounds[r].prompt_tokens;
        v[3][nk++] = rounds[r].output_tokens;
    }
    out->ttft_us = median(v[0], nt);
    out->itl_us = median(v[1], ni);
    out->prompt_tokens = nk ? median(v[2], nk) : (double)out->words;
    out->output_tokens = median(v[3], nk);
    out->hop_us = median(v[4], nh);
    for (int j = 0; j < 5; j++) free(v[j]);
    return 0;
}

double calib_url_hop_us(const CalibUrlPoint *pts, int64_t n, int64_t *n_server) {
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    int64_t k = 0;
    *n_server = 0;
    for (int64_t i = 0; i < n; i++) {
        *n_server += pts[i].n_server;
        if (pts[i].n_server > 0 && v) v[k++] = pts[i].hop_us;
    }
    double m = v ? median(v, k) : 0;
    free(v);
    return m;
}

// The concurrency-1 requests' own figures, for the spread: decode time per token, span (e2e),
// and the point they belong to.
typedef struct {
    double *tpot, *e2e;
    int64_t *point;
    int64_t n, cap;
} OneReqs;

enum { POINT_MIN_REQUESTS = 4 };

// One round of one point: max(C, POINT_MIN_REQUESTS) requests at concurrency C, closed loop (at
// least 4, so concurrency-1 points have TTFT samples to take a median of), reduced to its medians;
// a C = 1 point's requests also go to one (point k).
static int run_point(LgConfig *cfg, const CalibUrlDesign *d, int p, int c, int64_t k, uint64_t seed,
                     CalibUrlPoint *out, OneReqs *one, char *err, size_t err_len) {
    int64_t conc = d->concurrency[c], n = conc > POINT_MIN_REQUESTS ? conc : POINT_MIN_REQUESTS, words = d->prompt_words[p];
    cfg->input_tokens = (int32_t)words;
    cfg->output_tokens = (int32_t)d->output_tokens;
    cfg->concurrency = cfg->max_in_flight = conc;
    cfg->n_requests = n;
    cfg->seed = seed;
    LgResult res = {0};
    int rc = lg_run(cfg, &res, err, err_len);
    if (!rc) rc = calib_url_reduce(&res, words, conc, out);
    for (int64_t i = 0; i < res.n && !rc && conc == 1; i++) {
        const LgRecord *r = &res.rec[i];
        if (one->n == one->cap || !req_tpot(r, &one->tpot[one->n])) continue;
        one->e2e[one->n] = (double)r->e2e_us;
        one->point[one->n++] = k;
    }
    lg_result_free(&res);
    return rc;
}

void calib_url_spread(double *ratio, int64_t n, double window_us, CalibUrlSpread *out) {
    *out = (CalibUrlSpread){.n_samples = n, .window_us = window_us};
    if (n < CALIB_URL_SPREAD_MIN || !(window_us > 0)) return;
    qsort(ratio, (size_t)n, sizeof *ratio, cmp_double);
    for (int i = 0; i < CALIB_URL_SPREAD_N; i++) {
        double h = ((double)i + 0.5) / CALIB_URL_SPREAD_N * (double)(n - 1);
        int64_t j = (int64_t)h;
        double f = h - (double)j;
        out->factor[i] = j + 1 < n ? ratio[j] + f * (ratio[j + 1] - ratio[j]) : ratio[j];
    }
    out->n = CALIB_URL_SPREAD_N;
}

enum { COLD_CYCLES = 2 };
static const int cold_order[] = {3, 2, 1};   // the idle levels a cycle visits

static double cold_gap_us(int64_t idle_us, int level) {
    static const double frac[CALIB_URL_COLD_GAPS + 1] = {0, 1.0 / 16, 1.0 / 4, 1};
    return frac[level] * (double)idle_us;
}

// One round of the cold probe: one open-loop run (the load generator stays up between requests,
// as a bench's does), COLD_CYCLES cycles of cold_order, each request sent its level's gap after
// the previous one's expected end (est_us). Request i of level l goes to req[l·stride + k_level[l]]
// with its real idle gap (its send − the previous one's completion) in gap[...]; a request sent
// before the previous one ended met no idle server and is left out.
static int run_cold_round(LgConfig *cfg, const CalibUrlDesign *d, int64_t words, double est_us, uint64_t seed,
                          CalibUrlPoint *req, double *gap, int64_t stride, int64_t *k_level, char *err, size_t err_len) {
    ArrivalSchedule s;
    arrivals_init(&s);
    int lv[COLD_CYCLES * ARRAY_LEN(cold_order)], n = 0, rc = 0;
    int64_t t = 0;
    for (int c = 0; c < COLD_CYCLES && !rc; c++)
        for (size_t j = 0; j < ARRAY_LEN(cold_order) && !rc; j++) {
            lv[n++] = cold_order[j];
            t += (int64_t)(est_us + cold_gap_us(d->idle_us, cold_order[j]));
            rc = arrivals_add(&s, t, (int32_t)words, (int32_t)d->output_tokens);
        }
    if (rc) { arrivals_free(&s); return err_set(err, err_len, rc, "out of memory"); }
    cfg->schedule = &s;
    cfg->max_in_flight = n;
    cfg->seed = seed;
    LgResult res = {0};
    rc = lg_run(cfg, &res, err, err_len);
    cfg->schedule = NULL;
    for (int64_t i = 0; i < res.n && i < n && !rc; i++) {
        const LgRecord *r = &res.rec[i], *p = i ? &res.rec[i - 1] : NULL;
        if (p && p->e2e_us < 0) continue;
        // The first request's gap: at least its send time (the points' requests ended before the run).
        double g = (double)(p ? r->sent_us - (p->sched_us + p->e2e_us) : r->sent_us);
        if (r->sent_us < 0 || g <= 0) continue;
        LgResult one = {.rec = &res.rec[i], .n = 1};
        int l = lv[i];
        CHECK(k_level[l] < stride);
        rc = calib_url_reduce(&one, words, 1, &req[l * stride + k_level[l]]);
        gap[l * stride + k_level[l]++] = g;
    }
    lg_result_free(&res);
    arrivals_free(&s);
    return rc;
}

// Standard error of the median of v[0..k) (overwritten; 0 with fewer than two): 1.2533 sigma /
// sqrt(k), sigma estimated as 1.4826 x the median absolute deviation, robust to the odd request a
// shared machine stalls, whose square would otherwise swamp a standard deviation and gate a real
// slowdown out.
static double mad_se(double *v, int64_t k) {
    if (k < 2) return 0;
    double m = median(v, k);
    for (int64_t i = 0; i < k; i++) v[i] = fabs(v[i] - m);
    return 1.2533 * 1.4826 * median(v, k) / sqrt((double)k);
}

// mad_se of the field at offset off over the n requests at req (those with a sample).
static double median_se(const CalibUrlPoint *req, int64_t n, size_t off) {
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return 0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = *(const double *)((const char *)&req[i] + off);
        if (x > 0) v[k++] = x;
    }
    double se = mad_se(v, k);
    free(v);
    return se;
}

int calib_url_cold_reduce(const CalibUrlPoint *req, const double *gap, int64_t stride, const int64_t *n_level,
                          const CalibUrlPoint *warm, int64_t idle_us, CalibUrlCold *cold) {
    *cold = (CalibUrlCold){.idle_us = idle_us, .at[0] = *warm, .step_factor[0] = 1};
    if (warm->ttft_us <= 0 || warm->itl_us <= 0) return ERR_IO;
    for (int l = 1; l <= CALIB_URL_COLD_GAPS; l++) {
        int rc = calib_url_merge_rounds(&req[l * stride], n_level[l], &cold->at[l]);
        if (rc) return rc;
        if (cold->at[l].ttft_us <= 0 || cold->at[l].itl_us <= 0) return ERR_IO;
        double *g = malloc((size_t)n_level[l] * sizeof *g);
        if (!g) return ERR_NOMEM;
        memcpy(g, &gap[l * stride], (size_t)n_level[l] * sizeof *g);
        cold->gap_us[l] = median(g, n_level[l]);
        free(g);
        // The extra TTFT as measured (a cold start cannot be faster than a warm one: none below 0):
        // it is paid once per waking request, so its noise moves a TTFT by a fraction of a
        // millisecond. Gated as noise, as the factor below is, it dropped the 0.6-1.3 ms the loop's
        // calibrations showed after 50-230 ms idle, and the bench's TTFT was under-predicted by it.
        cold->wake_us[l] = fmax(0, cold->at[l].ttft_us - warm->ttft_us);
        // The step-time factor: a cold replica is not faster than a warm one (a factor below 1 is
        // the warm point measured in a slow minute: the loop's calibrations drew 0.72 and 0.89,
        // and the predicted TPOT of those runs came out 19-21% low), and a slowdown within two
        // standard errors of the level's median is the machine's noise, not a cold start: both
        // kept as none (a factor drawn from noise would scale every step of every request that
        // finds its replica idle — most of them at low load).
        cold->step_factor[l] = cold->at[l].itl_us / warm->itl_us;
        double se_i = median_se(&req[l * stride], n_level[l], offsetof(CalibUrlPoint, itl_us));
        if (cold->at[l].itl_us - warm->itl_us <= 2 * se_i) cold->step_factor[l] = 1;
    }
    return 0;
}

// The neighbour's load during one co-location round: a closed loop of concurrency-1 requests
// until stop is set (lg_run finishes the request in flight).
typedef struct {
    LgConfig cfg;
    volatile sig_atomic_t stop;
    LgResult res;
    int rc;
    char err[256];
} Neighbour;

static void *neighbour_main(void *arg) {
    Neighbour *nb = arg;
    nb->cfg.stop = &nb->stop;
    nb->rc = lg_run(&nb->cfg, &nb->res, nb->err, sizeof nb->err);
    return NULL;
}

// One round of the co-location probe: the neighbour busy, then POINT_MIN_REQUESTS requests of
// `words` to the endpoint back to back (the first after est_ttft_us, once the neighbour decodes);
// their decode times per token appended to itl[*n..], the neighbour's ok requests to *nb_ok.
static int run_colo_round(const LgConfig *base, const CalibUrlDesign *d, int64_t words, double est_ttft_us,
                          uint64_t seed, double *itl, int64_t *n, int64_t *nb_ok, char *err, size_t err_len) {
    Neighbour nb = {.cfg = *base};
    nb.cfg.url = d->neighbour_url ? d->neighbour_url : d->url;
    nb.cfg.model = d->neighbour_model;
    nb.cfg.schedule = NULL;
    nb.cfg.concurrency = nb.cfg.max_in_flight = 1;
    nb.cfg.n_requests = 4 * POINT_MIN_REQUESTS;   // until stop: 4x the endpoint's, of the same length
    nb.cfg.input_tokens = (int32_t)words;
    nb.cfg.output_tokens = (int32_t)d->output_tokens;
    nb.cfg.seed = seed ^ 0x6e6569676862ULL;
    pthread_t th;
    if (pthread_create(&th, NULL, neighbour_main, &nb) != 0)
        return err_set(err, err_len, ERR_IO, "cannot start the neighbour's load thread");
    clock_sleep_us((int64_t)(2 * est_ttft_us) + 2000);   // the neighbour past its first prefill
    LgConfig cfg = *base;
    cfg.schedule = NULL;
    cfg.input_tokens = (int32_t)words;
    cfg.output_tokens = (int32_t)d->output_tokens;
    cfg.concurrency = cfg.max_in_flight = 1;
    cfg.n_requests = POINT_MIN_REQUESTS;
    cfg.seed = seed;
    LgResult res = {0};
    int rc = lg_run(&cfg, &res, err, err_len);
    nb.stop = 1;
    pthread_join(th, NULL);
    for (int64_t i = 0; i < res.n && !rc; i++)
        if (req_tpot(&res.rec[i], &itl[*n])) (*n)++;
    for (int64_t i = 0; i < nb.res.n; i++) *nb_ok += nb.res.rec[i].outcome == LG_OK;
    if (!rc && nb.rc) rc = err_set(err, err_len, nb.rc, "the neighbour's load: %s", nb.err);
    lg_result_free(&res);
    lg_result_free(&nb.res);
    return rc;
}

int calib_url_colo_reduce(double *itl, int64_t n, double alone_itl_us, CalibUrlColo *out) {
    *out = (CalibUrlColo){.n = n, .alone_itl_us = alone_itl_us, .factor = 1};
    if (n == 0 || !(alone_itl_us > 0)) return ERR_IO;
    out->itl_us = median(itl, n);
    out->se_us = mad_se(itl, n);
    if (out->itl_us - alone_itl_us > 2 * out->se_us) out->factor = out->itl_us / alone_itl_us;
    return 0;
}

// The spread of the run (calib_url_spread): every concurrency-1 request's ITL over its point's
// median, and every cold-probe request's over its level's.
static int reduce_spread(const OneReqs *one, const CalibUrlPoint *pts, const CalibUrlPoint *cold_req, int64_t stride,
                         const int64_t *k_level, const CalibUrlCold *cold, CalibUrlSpread *out) {
    int64_t cap = one->n + (CALIB_URL_COLD_GAPS + 1) * stride;
    double *ratio = malloc((size_t)(cap ? cap : 1) * sizeof *ratio), *e2e = malloc((size_t)(one->n ? one->n : 1) * sizeof *e2e);
    if (!ratio || !e2e) {
        free(ratio); free(e2e);
        return ERR_NOMEM;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < one->n; i++)
        if (pts[one->point[i]].itl_us > 0) ratio[n++] = one->tpot[i] / pts[one->point[i]].itl_us;
    for (int l = 1; cold && cold->idle_us > 0 && l <= CALIB_URL_COLD_GAPS; l++)
        for (int64_t i = 0; i < k_level[l]; i++)
            if (cold_req[l * stride + i].itl_us > 0 && cold->at[l].itl_us > 0)
                ratio[n++] = cold_req[l * stride + i].itl_us / cold->at[l].itl_us;
    memcpy(e2e, one->e2e, (size_t)one->n * sizeof *e2e);
    calib_url_spread(ratio, n, median(e2e, one->n), out);
    free(ratio);
    free(e2e);
    return 0;
}

int calib_url_run(const CalibUrlDesign *d, CalibUrlPoint *pts, int64_t *n_points, CalibUrlCold *cold,
                  CalibUrlSpread *spread, CalibUrlColo *colo, CalibUrlProgressFn progress, void *progress_ctx,
                  char *err, size_t err_len) {
    int rc = calib_url_check(d, err, err_len);
    if (rc) return rc;
    CHECK(cold || d->idle_us == 0);
    CHECK(colo || !d->neighbour_model);
    if (cold) *cold = (CalibUrlCold){0};
    if (spread) *spread = (CalibUrlSpread){0};
    if (colo) *colo = (CalibUrlColo){0};
    int64_t total = (int64_t)d->n_prompts * d->n_conc;
    LgConfig cfg = {.url = d->url, .api = d->api, .model = d->model, .api_key = d->api_key, .concurrency = 1,
                    .n_requests = 1, .input_tokens = (int32_t)d->prompt_words[0], .output_tokens = 4,
                    .max_in_flight = 1, .timeout_us = d->timeout_us, .prompts = d->prompts, .seed = d->seed,
                    .ignore_eos = true};
    LgResult res = {0};
    // Warm-up: one short request (connections, page cache, the server's first-request costs).
    rc = lg_run(&cfg, &res, err, err_len);
    lg_result_free(&res);
    if (rc) return rc;
    // Rounds are the outer loop: every round visits every point, so a machine whose speed drifts
    // during the calibration moves all points alike (the medians over rounds see the whole window)
    // instead of bending the fit between the points measured early and those measured late.
    // The cold probe's requests: per idle level COLD_CYCLES a round, at the middle prompt length;
    // the warm reference is that length's concurrency-1 point (back to back, the same rounds).
    int64_t stride = COLD_CYCLES * d->rounds, k_level[CALIB_URL_COLD_GAPS + 1] = {0};
    int p_mid = d->n_prompts / 2, c_one = 0;
    while (d->concurrency[c_one] != 1) c_one++;   // calib_url_check: there is one
    int64_t k_mid = (int64_t)p_mid * d->n_conc + c_one;
    CalibUrlPoint *per = malloc((size_t)(total * d->rounds + (CALIB_URL_COLD_GAPS + 1) * stride) * sizeof *per);
    double *gap = malloc((size_t)((CALIB_URL_COLD_GAPS + 1) * stride) * sizeof *gap);
    OneReqs one = {.cap = (int64_t)d->n_prompts * POINT_MIN_REQUESTS * d->rounds};   // run_point's C = 1 rounds
    one.tpot = malloc((size_t)one.cap * sizeof *one.tpot);
    one.e2e = malloc((size_t)one.cap * sizeof *one.e2e);
    one.point = malloc((size_t)one.cap * sizeof *one.point);
    double *colo_itl = malloc((size_t)(POINT_MIN_REQUESTS * d->rounds) * sizeof *colo_itl);
    int64_t n_colo = 0, nb_ok = 0;
    if (!per || !gap || !one.tpot || !one.e2e || !one.point || !colo_itl) {
        free(per); free(gap); free(one.tpot); free(one.e2e); free(one.point); free(colo_itl);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    CalibUrlPoint *cold_req = per + total * d->rounds;
    for (int64_t r = 0; r < d->rounds && !rc; r++) {
        for (int64_t k = 0; k < total && !rc; k++) {
            int p = (int)(k / d->n_conc), c = (int)(k % d->n_conc);
            CalibUrlPoint *pt = &per[k * d->rounds + r];
            rc = run_point(&cfg, d, p, c, k, d->seed + (uint64_t)(r * total + k), pt, &one, err, err_len);
            if (!rc && progress) progress(progress_ctx, r * total + k, total * d->rounds, pt);
        }
        const CalibUrlPoint *m = &per[k_mid * d->rounds + r];
        if (!rc && d->neighbour_model)
            rc = run_colo_round(&cfg, d, d->prompt_words[p_mid], m->ttft_us, d->seed + 2000003ULL * (uint64_t)(r + 1),
                                colo_itl, &n_colo, &nb_ok, err, err_len);
        if (rc || d->idle_us <= 0) continue;
        // A request of the middle length takes about its point's TTFT + (M − 1) ITL: the next one
        // goes out a quarter more (and 2 ms) after, plus its idle gap.
        double est = 1.25 * (m->ttft_us + (double)(d->output_tokens - 1) * m->itl_us) + 2000;
        rc = run_cold_round(&cfg, d, d->prompt_words[p_mid], est, d->seed + 1000003ULL * (uint64_t)(r + 1), cold_req,
                            gap, stride, k_level, err, err_len);
    }
    for (int64_t k = 0; k < total && !rc; k++) {
        rc = calib_url_merge_rounds(&per[k * d->rounds], d->rounds, &pts[k]);
        if (!rc && pts[k].n_ok == 0)
            rc = err_set(err, err_len, ERR_IO, "every request of the point (%lld words, concurrency %lld) failed; "
                         "check the URL, --model and the server's limits", (long long)pts[k].words,
                         (long long)pts[k].conc);
    }
    if (!rc && d->idle_us > 0 &&
        (rc = calib_url_cold_reduce(cold_req, gap, stride, k_level, &pts[k_mid], d->idle_us, cold)))
        err_set(err, err_len, rc, "the cold probe (%lld words, after idle gaps up to %lld ms) got no answer with two "
                "tokens at some gap; check the server's limits", (long long)d->prompt_words[p_mid],
                (long long)(d->idle_us / 1000));
    if (!rc && spread && (rc = reduce_spread(&one, pts, cold_req, stride, k_level, cold, spread)))
        err_set(err, err_len, rc, "out of memory");
    if (!rc && d->neighbour_model) {
        if (nb_ok == 0)
            rc = err_set(err, err_len, ERR_IO, "the co-location probe's neighbour (model '%s' at %s) answered no request; "
                         "check --neighbour-model and --neighbour-url", d->neighbour_model,
                         d->neighbour_url ? d->neighbour_url : d->url);
        else if ((rc = calib_url_colo_reduce(colo_itl, n_colo, pts[k_mid].itl_us, colo)) == ERR_IO)
            err_set(err, err_len, rc, "the co-location probe (%lld words) got no answer with two tokens; check the "
                    "server's limits", (long long)d->prompt_words[p_mid]);
        else if (rc)
            err_set(err, err_len, rc, "out of memory");
        if (colo) colo->neighbour_ok = nb_ok;
    }
    free(one.tpot); free(one.e2e); free(one.point); free(colo_itl);
    free(gap);
    free(per);
    if (rc) return rc;
    *n_points = total;
    return 0;
}

// Features of the TTFT row (C = 1) and of the ITL row of point p.
static void ttft_row(const CalibUrlPoint *p, double f[N_F]) {
    memset(f, 0, N_F * sizeof *f);
    f[F_B0] = 1;
    f[F_PREFILL] = p->prompt_tokens;
    f[F_CTX] = p->prompt_tokens;
    f[F_OVERHEAD] = 1;
    f[F_MULTI] = p->prompt_tokens > 1;
}
static void itl_row(const CalibUrlPoint *p, double f[N_F]) {
    memset(f, 0, N_F * sizeof *f);
    f[F_B0] = 1;
    f[F_ROWS] = (double)p->conc;
    f[F_CTX] = (double)p->conc * (p->prompt_tokens + 0.5 * p->output_tokens);
    f[F_MULTI] = p->conc > 1;   // C sequences decode together: one row at C = 1, several above
}
static double dot(const double *f, const double *b) {
    double s = 0;
    for (int j = 0; j < N_F; j++) s += f[j] * b[j];
    return s;
}

int calib_url_fit(CalibUrlPoint *pts, int64_t n, CalibUrlFit *out, char *err, size_t err_len) {
    double *F = malloc((size_t)(2 * n + 1) * N_F * sizeof *F), *y = malloc((size_t)(2 * n + 1) * sizeof *y);
    if (!F || !y) {
        free(F); free(y);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    int64_t m = 0, n_ttft = 0, n_itl = 0;
    for (int64_t i = 0; i < n; i++) {
        if (pts[i].conc == 1 && pts[i].ttft_us > 0) {
            ttft_row(&pts[i], &F[m * N_F]);
            y[m++] = pts[i].ttft_us;
            n_ttft++;
        }
        if (pts[i].itl_us > 0 && pts[i].output_tokens >= 2) {
            itl_row(&pts[i], &F[m * N_F]);
            y[m++] = pts[i].itl_us;
            n_itl++;
        }
    }
    int rc = 0;
    if (m < N_F || n_ttft == 0 || n_itl == 0) {
        rc = err_set(err, err_len, ERR_ARG, "too few usable measurements (%lld TTFT rows, %lld ITL rows; need both "
                     "kinds and 6 in all)", (long long)n_ttft, (long long)n_itl);
        goto done;
    }
    double b[N_F];
    if ((rc = calib_nnls_rel(F, y, m, N_F, b))) {
        err_set(err, err_len, rc, "fit failed: %s", err_str(rc));
        goto done;
    }
    double se = 0, ape = 0, ape_t = 0, ape_i = 0;
    for (int64_t i = 0; i < n; i++) {
        double f[N_F];
        ttft_row(&pts[i], f);
        pts[i].ttft_fit_us = dot(f, b);
        itl_row(&pts[i], f);
        pts[i].itl_fit_us = dot(f, b);
    }
    for (int64_t r = 0; r < m; r++) {
        double fit = dot(&F[r * N_F], b), e = fabs(fit - y[r]) / y[r];
        se += (fit - y[r]) * (fit - y[r]);
        ape += e;
        if (F[r * N_F + F_OVERHEAD] > 0) ape_t += e; else ape_i += e;
    }
    *out = (CalibUrlFit){.step = {.b0_us = b[F_B0], .prefill_token_us = b[F_PREFILL], .decode_row_us = b[F_ROWS],
                                  .context_token_us = b[F_CTX], .multi_row_us = b[F_MULTI], .n_points = m, .rmse_us = sqrt(se / (double)m),
                                  .mape = ape / (double)m},
                         .overhead_us = b[F_OVERHEAD], .n_ttft_rows = n_ttft, .n_itl_rows = n_itl,
                         .mape_ttft = ape_t / (double)n_ttft, .mape_itl = ape_i / (double)n_itl};
done:
    free(F);
    free(y);
    return rc;
}
