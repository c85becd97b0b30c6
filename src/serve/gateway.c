// gateway.c — the gateway's life cycle: create (front door, replicas, metrics, telemetry), the
// loop (MHD + curl multi on one thread, timers, admin commands, reloads, drain), and each request's end
// (headers, telemetry record, metrics).
#include "serve/gateway.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "serve/gw_int.h"
#include "serve/jsonw.h"

void gw_expire(Gateway *g, int64_t now_us);
void gw_call_done(Gateway *g, CURL *easy, CURLcode rc);

#define TICK_US 50000
#define FRONT_RUNS_MAX 8   // MHD passes per loop turn before the transfers get theirs

// ---- metrics ----

static int metrics_setup(Gateway *g) {
    static const double lat_s[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    static const double batch_b[] = {1, 2, 4, 8, 16, 32, 64, 128};
    GwMetrics *m = &g->m;
    m->reg = metrics_create("rightsize_", "");
    if (!m->reg) return ERR_NOMEM;
    MetricsRegistry *r = m->reg;
    int nl = (int)ARRAY_LEN(lat_s);
    m->requests = metrics_add(r, METRIC_COUNTER, "requests_total", "Requests answered by the gateway, by HTTP status.", "status", NULL, 0);
    m->rejected = metrics_add(r, METRIC_COUNTER, "rejected_total", "Requests refused or failed by the gateway, by reason.", "reason", NULL, 0);
    m->decisions = metrics_add(r, METRIC_COUNTER, "routing_decisions_total", "Routing decisions by kind.", "decision", NULL, 0);
    m->escalations = metrics_add(r, METRIC_COUNTER, "cascade_escalations_total", "Cascade answers re-asked of the next tier, by first tier.", "tier", NULL, 0);
    m->cost = metrics_add(r, METRIC_COUNTER, "cost_usd_total", "Replica cost in USD: busy (attributed to requests), idle, shadow (canary shadows).", "kind", NULL, 0);
    m->replicas = metrics_add(r, METRIC_GAUGE, "replicas", "Replicas by tier and state.", "tier,state", NULL, 0);
    m->desired = metrics_add(r, METRIC_GAUGE, "desired_replicas", "Replicas the queue-aware autoscaler asks for (applied to local tiers; for KEDA/HPA on remote ones).", "tier", NULL, 0);
    m->waiting = metrics_add(r, METRIC_GAUGE, "num_requests_waiting", "Requests waiting in the gateway's tier queue.", "tier", NULL, 0);
    m->running = metrics_add(r, METRIC_GAUGE, "num_requests_running", "Requests in flight to the tier's replicas.", "tier", NULL, 0);
    m->e2e = metrics_add(r, METRIC_HISTOGRAM, "e2e_request_latency_seconds", "Arrival to last byte of answered (2xx) requests, by final tier.", "tier", lat_s, nl);
    m->ttft = metrics_add(r, METRIC_HISTOGRAM, "time_to_first_token_seconds", "Arrival to the first generated text of answered requests, by final tier.", "tier", lat_s, nl);
    m->tpot = metrics_add(r, METRIC_HISTOGRAM, "time_per_output_token_seconds", "Mean time per output token after the first, answered requests, by final tier.", "tier", lat_s, nl);
    m->queue = metrics_add(r, METRIC_HISTOGRAM, "request_queue_time_seconds", "Time in the gateway's tier queue of answered requests.", "tier", lat_s, nl);
    m->batch = metrics_add(r, METRIC_HISTOGRAM, "batch_size", "Requests per dynamic batch.", "tier", batch_b, (int)ARRAY_LEN(batch_b));
    m->prompt_tok = metrics_add(r, METRIC_COUNTER, "prompt_tokens_total", "Prompt tokens of every call (backend usage), by tier.", "tier", NULL, 0);
    m->gen_tok = metrics_add(r, METRIC_COUNTER, "generation_tokens_total", "Generated tokens of every call (backend usage; counted stream events where a backend gives none), by tier.", "tier", NULL, 0);
    m->rollbacks = metrics_add(r, METRIC_COUNTER, "canary_rollbacks_total", "Automatic canary rollbacks, by failed guard.", "guard", NULL, 0);
    m->canary_weight = metrics_add(r, METRIC_GAUGE, "canary_weight_percent", "Current canary weight, by route.", "route", NULL, 0);
    m->restarts = metrics_add(r, METRIC_COUNTER, "worker_restarts_total", "Local worker processes restarted after exiting.", "tier", NULL, 0);
    m->retries = metrics_add(r, METRIC_COUNTER, "backend_retries_total", "Calls retried after failing before their first byte.", "tier", NULL, 0);
    m->req_cost = metrics_add(r, METRIC_COUNTER, "request_cost_usd_total", "Busy cost attributed to finished requests, by the tier that served each call and the route.", "tier,route", NULL, 0);
    m->reloads = metrics_add(r, METRIC_COUNTER, "config_reloads_total", "SIGHUP reloads, by result (applied, refused); GET /admin/reload says what changed or why.", "result", NULL, 0);
    m->tier_ready = metrics_add(r, METRIC_GAUGE, "tier_ready", "1 when the tier has a replica taking calls (local: healthy worker; remote: its last probe answered), else 0 (see /health/ready for why).", "tier", NULL, 0);
    m->last_exit = metrics_add(r, METRIC_GAUGE, "worker_last_exit_code", "Exit code of the tier's last worker to exit (128 + signal when killed); absent until one exits.", "tier", NULL, 0);
    m->conns = metrics_add(r, METRIC_GAUGE, "connections", "Client connections open, by state (reading a request, serving one).", "state", NULL, 0);
    static const double own_s[] = {5e-6,   10e-6,  15e-6,  20e-6,  25e-6,  30e-6, 40e-6, 50e-6,
                                   60e-6,  80e-6,  100e-6, 125e-6, 150e-6, 200e-6, 250e-6, 300e-6,
                                   400e-6, 500e-6, 750e-6, 1e-3,   2.5e-3, 5e-3,  10e-3, 25e-3};
    m->overhead = metrics_add(r, METRIC_HISTOGRAM, "gateway_overhead_seconds", "The gateway's own time in answered (2xx) requests: headers read to the answer's last byte sent, less the time its calls waited on a backend.", NULL, own_s, (int)ARRAY_LEN(own_s));
    m->conns_closed = metrics_add(r, METRIC_COUNTER, "connections_closed_total", "Client connections closed by the gateway: deadlines, evicted at the connection cap, drain.", "reason", NULL, 0);
    for (int i = 0; i < (int)(sizeof *m / sizeof(Metric *)) - 1; i++)
        if (!((Metric **)&m->requests)[i]) return ERR_NOMEM;
    metric_inc(m->cost, "busy", 0);
    metric_inc(m->cost, "idle", 0);
    metric_inc(m->cost, "shadow", 0);
    return 0;
}

// ---- the end of a request ----

// The request's times in µs since arrival (-1: unknown): TTFT at the first generated text
// (streams: the first event with text; a replayed or buffered answer: the backend's own TTFT
// after the gateway's dispatch, else when the answer arrived) and TPOT.
static void req_times(const GwReq *r, int64_t now_us, double *ttft_ms, double *tpot_ms) {
    *ttft_ms = *tpot_ms = -1;
    if (r->t_first_token_us) {
        *ttft_ms = (double)(r->t_first_token_us - r->t_arrival_us) / 1000.0;
        if (r->output_tokens > 1 && r->t_last_token_us > r->t_first_token_us)
            *tpot_ms = (double)(r->t_last_token_us - r->t_first_token_us) / 1000.0 / (double)(r->output_tokens - 1);
    } else if (r->backend_ttft_ms >= 0 && r->t_dispatch_us) {
        *ttft_ms = (double)(r->t_dispatch_us - r->t_arrival_us) / 1000.0 + r->backend_ttft_ms;
    } else if (r->t_first_byte_us) {
        *ttft_ms = (double)(r->t_first_byte_us - r->t_arrival_us) / 1000.0;
    }
    if (*tpot_ms < 0 && r->backend_tpot_ms > 0) *tpot_ms = r->backend_tpot_ms;
    (void)now_us;
}

// Metrics of a finished request: latency histograms only for answered requests (2xx), so
// refusals (429) and client errors never make the percentiles look better under overload.
static void finish_metrics(Gateway *g, const GwReq *r, int status, double e2e_s, double ttft_ms, double tpot_ms) {
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    metric_inc(g->m.requests, code, 1);
    const char *tier = r->tier >= 0 ? g->p.tiers[r->tier].name : NULL;
    if (!tier) return;
    if (r->prompt_tokens > 0) metric_inc(g->m.prompt_tok, tier, (double)r->prompt_tokens);
    if (r->output_tokens > 0) metric_inc(g->m.gen_tok, tier, (double)r->output_tokens);
    const char *first = r->escalated && r->first_tier >= 0 ? g->p.tiers[r->first_tier].name : NULL;
    if (first && r->first_prompt_tokens > 0) metric_inc(g->m.prompt_tok, first, (double)r->first_prompt_tokens);
    if (first && r->first_output_tokens > 0) metric_inc(g->m.gen_tok, first, (double)r->first_output_tokens);
    char lab[128];
    const char *route = r->dec.rule >= 0 ? g->p.routes[r->dec.rule].name : "";
    if (first) {
        snprintf(lab, sizeof lab, "%s|%s", first, route);
        metric_inc(g->m.req_cost, lab, (double)r->first_cost_nusd / 1e9);
    }
    snprintf(lab, sizeof lab, "%s|%s", tier, route);
    metric_inc(g->m.req_cost, lab, (double)(r->cost_nusd - r->first_cost_nusd) / 1e9);
    if (status < 200 || status >= 300) return;
    metric_observe(g->m.e2e, tier, e2e_s);
    metric_observe(g->m.queue, tier, (double)r->queue_us / 1e6);
    if (ttft_ms >= 0) metric_observe(g->m.ttft, tier, ttft_ms / 1000.0);
    if (tpot_ms >= 0) metric_observe(g->m.tpot, tier, tpot_ms / 1000.0);
}

static void record_time(char *ts, size_t cap) {
    int64_t wall = clock_wall_us();
    time_t secs = (time_t)(wall / 1000000);
    struct tm tmv;
    gmtime_r(&secs, &tmv);
    snprintf(ts, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
             tmv.tm_hour, tmv.tm_min, tmv.tm_sec, (long long)(wall % 1000000));
}

void gw_replica_close_ledger(Gateway *g, Replica *r, int64_t now_us) {
    ledger_close(&g->ledger, &r->led, now_us);
    const LedgerReplica *l = &r->led;
    int64_t left = ledger_unattributed_nusd(l);
    char ts[48];
    record_time(ts, sizeof ts);
    Buf b = {0};
    buf_printf(&b, "{\"schema\":\"%s\",\"record\":\"replica\",\"time\":\"%s\"", TELEMETRY_SCHEMA, ts);
    jsonw_str(&b, "tier", g->p.tiers[r->tier].name);
    jsonw_str(&b, "accelerator", g->p.tiers[r->tier].accelerator);
    buf_printf(&b, ",\"replica\":%d,\"replica_seconds\":%.6f,\"replica_cost_usd\":%.9f,\"replica_busy_usd\":%.9f,"
               "\"idle_taken_usd\":%.9f,\"cost_usd\":%.9f,\"cost_busy_usd\":0,\"cost_idle_usd\":%.9f}",
               r->slot, (double)(l->t_last_us - l->t_open_us) / 1e6, (double)l->charged_nusd / 1e9,
               (double)l->busy_nusd / 1e9, (double)l->idle_taken_nusd / 1e9, (double)left / 1e9, (double)left / 1e9);
    telemetry_write(&g->tel, b.data, b.len);
    buf_free(&b);
}

// Counts the request, writes its telemetry record (docs/telemetry.md) and drops the loop's
// reference.
void gw_finish(Gateway *g, GwReq *r, int64_t now_us) {
    if (r->shadow) {
        gw_req_unref(r);
        return;
    }
    g->in_flight--;
    int http;
    pthread_mutex_lock(&r->mu);
    http = r->status;
    pthread_mutex_unlock(&r->mu);
    int status = r->tel_status ? r->tel_status : http;
    gw_cache_store(g, r, status, now_us);
    g->ledger_attr_nusd += r->cost_nusd;
    gw_keys_finish(g, r);
    g->n_done++;
    const char *tier = r->tier >= 0 ? g->p.tiers[r->tier].name : NULL;
    double e2e_s = (double)(now_us - r->t_arrival_us) / 1e6, ttft_ms, tpot_ms;
    req_times(r, now_us, &ttft_ms, &tpot_ms);
    finish_metrics(g, r, status, e2e_s, ttft_ms, tpot_ms);
    Buf b = g->rec;   // the gateway's record buffer, its memory kept from the last request
    buf_clear(&b);
    buf_append_str(&b, "{\"schema\":\"" TELEMETRY_SCHEMA "\",\"id\":\"req-");
    char idt[24];
    buf_append(&b, idt, jsonw_u64(idt, r->id));
    buf_append(&b, "\"", 1);
    jsonw_time(&b, "time", &g->rec_clock, clock_wall_us());
    jsonw_str(&b, "request_id", gw_req_header(r, "x-request-id"));
    jsonw_str(&b, "endpoint", router_endpoint_name(r->ep));
    jsonw_str(&b, "route", r->dec.rule >= 0 ? g->p.routes[r->dec.rule].name : NULL);
    jsonw_str(&b, "decision", router_decision_name(r->dec.kind));
    jsonw_str(&b, "reason", r->reason);
    jsonw_str(&b, "cache", r->cache_state);
    jsonw_str(&b, "tier", tier);
    jsonw_str(&b, "first_tier", r->escalated && r->first_tier >= 0 ? g->p.tiers[r->first_tier].name : NULL);
    jsonw_int(&b, "replica", r->replica_slot);
    const TierState *t = r->tier >= 0 ? &g->tiers[r->tier] : NULL;
    jsonw_str(&b, "model", r->tier >= 0 ? g->p.tiers[r->tier].model : NULL);
    jsonw_str(&b, "model_version", t && t->id.version[0] ? t->id.version : NULL);
    jsonw_str(&b, "model_digest", t && t->id.digest[0] ? t->id.digest : NULL);
    jsonw_str(&b, "requested_model", r->model[0] ? r->model : NULL);
    jsonw_str(&b, "key", gw_keys_name(g, r));
    jsonw_str(&b, "accelerator", r->tier >= 0 ? g->p.tiers[r->tier].accelerator : NULL);
    jsonw_str(&b, "quantization", t && t->id.quantization[0] ? t->id.quantization : NULL);
    jsonw_bool(&b, "canary_candidate", r->dec.candidate);
    jsonw_bool(&b, "escalated", r->escalated);
    jsonw_bool(&b, "stream", r->stream);
    jsonw_sint(&b, "prompt_chars", r->prompt_chars);
    jsonw_int(&b, "prompt_tokens", r->prompt_tokens);
    jsonw_int(&b, "output_tokens", r->output_tokens);
    jsonw_str(&b, "usage_source", r->usage_source);
    jsonw_int(&b, "first_tier_prompt_tokens", r->escalated ? r->first_prompt_tokens : -1);
    jsonw_int(&b, "first_tier_output_tokens", r->escalated ? r->first_output_tokens : -1);
    jsonw_fixed(&b, "queue_ms", r->queue_us, 3);   // µs: exact to the ms's third decimal
    jsonw_num(&b, "backend_queue_ms", r->backend_queue_ms, 3);
    if (r->batch_size) jsonw_int(&b, "batch_size", r->batch_size);
    else jsonw_num(&b, "batch_size", r->batch_size_mean, 3);
    jsonw_num(&b, "ttft_ms", ttft_ms, 3);
    jsonw_num(&b, "tpot_ms", tpot_ms, 3);
    jsonw_fixed(&b, "e2e_ms", now_us - r->t_arrival_us, 3);
    jsonw_str(&b, "finish_reason", r->finish[0] ? r->finish : NULL);
    jsonw_real(&b, "confidence", r->confidence);   // exact: report and replays re-judge it
    jsonw_sint(&b, "status", status);
    jsonw_sint(&b, "http_status", http);
    jsonw_str(&b, "error", status >= 400 && r->error[0] ? r->error : NULL);
    jsonw_sint(&b, "attempts", r->attempts);
    // All-in: the busy charges and the idle the request took (policy/ledger's steps 3 and 5), from
    // the integer nano-dollars (exact).
    jsonw_key(&b, "cost_usd");
    jsonw_fixed_text(&b, r->cost_nusd + r->idle_nusd, 9);
    jsonw_key(&b, "cost_busy_usd");
    jsonw_fixed_text(&b, r->cost_nusd, 9);
    jsonw_key(&b, "cost_idle_usd");
    jsonw_fixed_text(&b, r->idle_nusd, 9);
    jsonw_key(&b, "first_tier_cost_usd");
    jsonw_fixed_text(&b, r->first_cost_nusd + r->first_idle_nusd, 9);
    buf_append(&b, "}", 1);
    telemetry_write(&g->tel, b.data, b.len);
    g->rec = b;
    gw_req_unref(r);
}

// ---- periodic work ----

static void publish_status(Gateway *g, int64_t now_us) {
    char can[1024];
    size_t u = (size_t)snprintf(can, sizeof can, "[");
    for (int k = 0; k < g->p.n_canaries && u < sizeof can; k++) {
        const Canary *c = &g->canaries[k];
        int64_t n, na;
        double p95, er, agr;
        canary_stats(c, now_us, &n, &p95, &er, &na, &agr);
        u += (size_t)snprintf(can + u, sizeof can - u,
                              "%s{\"route\":\"%s\",\"candidate\":\"%s\",\"weight_percent\":%g,\"rolled_back\":%s,"
                              "\"rollbacks\":%lld,\"window_answers\":%lld,\"p95_ms\":%.3f,\"error_rate\":%.4f,"
                              "\"shadow_pairs\":%lld,\"agreement\":%.4f,\"reason\":\"%s\"}",
                              k ? "," : "", g->p.routes[g->p.canaries[k].route].name,
                              g->p.tiers[g->candidate_of[k]].name, c->weight_percent, c->rolled_back ? "true" : "false",
                              (long long)c->rollbacks, (long long)n, p95, er, (long long)na, agr, c->reason);
        metric_set(g->m.canary_weight, g->p.routes[g->p.canaries[k].route].name, c->weight_percent);
    }
    if (u < sizeof can) snprintf(can + u, sizeof can - u, "]");
    int64_t total = 0;
    for (int i = 0; i < g->p.n_tiers; i++)
        for (int k = 0; k < g->tiers[i].n_reps; k++) total += g->tiers[i].reps[k].led.charged_nusd;
    total += g->closed_nusd;
    int64_t idle = ledger_idle_nusd(&g->ledger);
    char led[1024];
    snprintf(led, sizeof led,
             "{\"busy_nusd\":%lld,\"idle_nusd\":%lld,\"charged_nusd\":%lld,\"attributed_nusd\":%lld,"
             "\"shadow_nusd\":%lld,\"requests\":%lld,\"in_flight\":%lld,\"busy_usd\":%.9f,\"idle_usd\":%.9f,"
             "\"total_usd\":%.9f,\"cost_nusd_by_kind\":{\"on_demand\":%lld,\"reserved_1y\":%lld,\"reserved_3y\":%lld,"
             "\"spot\":%lld}}",
             (long long)g->ledger.busy_nusd, (long long)idle, (long long)total,
             (long long)g->ledger_attr_nusd, (long long)g->shadow_nusd, (long long)g->n_done, (long long)g->in_flight,
             (double)g->ledger.busy_nusd / 1e9, (double)idle / 1e9, (double)(g->ledger.busy_nusd + idle) / 1e9,
             (long long)g->ledger.cost_nusd[PIPE_ON_DEMAND], (long long)g->ledger.cost_nusd[PIPE_RESERVED_1Y],
             (long long)g->ledger.cost_nusd[PIPE_RESERVED_3Y], (long long)g->ledger.cost_nusd[PIPE_SPOT]);
    pthread_mutex_lock(&g->inbox_mu);
    memcpy(g->canary_status, can, sizeof can);
    memcpy(g->ledger_status, led, sizeof led);
    pthread_mutex_unlock(&g->inbox_mu);
    // cost_usd_total as counters: add what accrued since the last publish
    int64_t busy_req = g->ledger.busy_nusd - g->shadow_nusd;
    metric_inc(g->m.cost, "busy", (double)(busy_req - g->pub_busy) / 1e9);
    // Idle is what accrued and no request was charged; a charge lands when its call ends, so the
    // counter only moves up (a dip until then is not published).
    if (idle > g->pub_idle) metric_inc(g->m.cost, "idle", (double)(idle - g->pub_idle) / 1e9);
    metric_inc(g->m.cost, "shadow", (double)(g->shadow_nusd - g->pub_shadow) / 1e9);
    g->pub_busy = busy_req;
    if (idle > g->pub_idle) g->pub_idle = idle;
    g->pub_shadow = g->shadow_nusd;
}

static void init_policies(Gateway *g) {
    for (int k = 0; k < g->p.n_canaries; k++) {
        const PipeCanary *c = &g->p.canaries[k];
        canary_init(&g->canaries[k], c->weight_percent, c->shadow_percent, &c->guards);
        g->candidate_of[k] = c->candidate;
        g->admin_weight[k] = -1;
    }
}

static void admin_commands(Gateway *g, int64_t now_us) {
    pthread_mutex_lock(&g->inbox_mu);
    double w[PIPE_MAX_CANARIES];
    memcpy(w, g->admin_weight, sizeof w);
    for (int k = 0; k < PIPE_MAX_CANARIES; k++) g->admin_weight[k] = -1;
    bool rb = g->admin_rollback;
    g->admin_rollback = false;
    pthread_mutex_unlock(&g->inbox_mu);
    for (int k = 0; k < g->p.n_canaries; k++) {
        if (w[k] >= 0) {
            canary_set_weight(&g->canaries[k], w[k]);
            LOG_I("canary on route '%s': weight set to %g%%", g->p.routes[g->p.canaries[k].route].name, w[k]);
        }
        if (rb && g->canaries[k].weight_percent > 0) {
            canary_rollback(&g->canaries[k], "manual rollback (POST /admin/rollback)");
            metric_inc(g->m.rollbacks, "manual", 1);
            LOG_W("canary on route '%s' rolled back by the admin API", g->p.routes[g->p.canaries[k].route].name);
        }
    }
    (void)now_us;
}

// ---- life cycle ----

// Each tier's model identity for telemetry: a local tier's from its GGUF file (header and
// digest; the file wins over a configured `quantization`), a remote tier's from its config.
static void identify_models(Gateway *g) {
    for (int i = 0; i < g->p.n_tiers; i++) {
        const PipeTier *t = &g->p.tiers[i];
        ModelId *id = &g->tiers[i].id;
        char why[600];
        if (t->local && model_id_read(t->model_path, id, why, sizeof why) != 0)
            LOG_W("tier '%s': cannot identify its model (%s); telemetry has no digest for it", t->name, why);
        if (t->local && id->quantization[0] && t->quantization[0] && strcasecmp(id->quantization, t->quantization))
            LOG_W("tier '%s': quantization '%s' in the config, but the file says '%s' (using the file's)", t->name,
                  t->quantization, id->quantization);
        if (!id->quantization[0]) {   // (memcpy: both live inside *g, which -Wrestrict cannot tell apart)
            size_t n = strnlen(t->quantization, sizeof id->quantization - 1);
            memcpy(id->quantization, t->quantization, n);
            id->quantization[n] = 0;
        }
    }
}

Gateway *gateway_create(const Pipeline *p, const GatewayOptions *o, char *err, size_t err_len) {
    Gateway *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->p = *p;
    g->o = *o;
    snprintf(g->admin_key, sizeof g->admin_key, "%s", o->admin_key ? o->admin_key : p->admin_key);
    snprintf(g->config_path, sizeof g->config_path, "%s", o->config_path ? o->config_path : "");
    snprintf(g->worker_exe, sizeof g->worker_exe, "%s", o->worker_exe ? o->worker_exe : "rightsize");
    g->file_listen = p->listen;   // the file's (reloads refuse a change) unless --listen overrode it
    pthread_mutex_init(&g->inbox_mu, NULL);
    atomic_init(&g->next_id, 1);
    atomic_store(&g->max_body, p->max_body_bytes);
    atomic_store(&g->max_tokens, p->max_tokens);
    rng_seed(&g->rng, o->seed);
    rng_seed(&g->shadow_rng, o->seed ^ 0x5eed5eed5eed5eedULL);
    ledger_init(&g->ledger);
    init_policies(g);
    if (metrics_setup(g)) {
        err_set(err, err_len, ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (gw_cache_start(g, err, err_len)) goto fail;
    if (gw_keys_start(g, err, err_len)) goto fail;
    if (telemetry_open(&g->tel, o->telemetry_path, o->telemetry_max_bytes, err, err_len)) goto fail;
    identify_models(g);
    for (int i = 0; i < p->n_tiers; i++) {
        if (!p->tiers[i].batching) continue;
        TierState *ts = &g->tiers[i];
        ts->batcher = batcher_create(&p->tiers[i].batch, err, err_len);
        ts->bcap = p->tiers[i].batch.max_queue;
        ts->bslots = calloc((size_t)ts->bcap, sizeof *ts->bslots);
        if (!ts->batcher || !ts->bslots) goto fail;
    }
    g->multi = curl_multi_init();
    if (!g->multi) {
        err_set(err, err_len, ERR_NOMEM, "cannot create the HTTP client");
        goto fail;
    }
    curl_multi_setopt(g->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, 1024L);
    if (gw_front_start(g, err, err_len)) goto fail;
    if (gw_io_start(g, err, err_len)) goto fail;
    if (gw_replicas_start(g, err, err_len)) goto fail;
    return g;
fail:
    gateway_destroy(g);
    return NULL;
}

int gateway_port(const Gateway *g) { return g->port; }

// Runs MHD until it has no more work it can do without waiting (bounded, so transfers get their
// turn): each MHD_run takes what MHD's epoll set has ready (accept, read and route requests; send
// the answers of connections resumed since the last pass), and another pass follows while a pass
// resumed connections or MHD says it has work left (MHD_get_timeout 0). A connection resumed in
// these passes goes back into MHD's epoll set edge-triggered and writable once it has sent its
// answer, which makes MHD's fd readable at once: one more pass takes that edge here, instead of
// a whole loop turn (epoll_wait) woken for it.
static void run_front(Gateway *g) {
    bool resumed = false;
    for (int i = 0; i < FRONT_RUNS_MAX; i++) {
        // A finished request's record is written before its answer goes out (one write(2) for
        // every record since the last pass; none when there is none).
        telemetry_flush(&g->tel);
        resumed |= g->mhd_dirty;
        g->mhd_dirty = false;
        MHD_run(g->daemon);
        gw_front_collect(g);   // big bodies the check thread has finished
        MHD_UNSIGNED_LONG_LONG ms;
        if (g->mhd_dirty || (MHD_get_timeout(g->daemon, &ms) == MHD_YES && ms == 0)) continue;
        if (!resumed) return;
        resumed = false;   // the extra pass (it may find more work: the loop goes on as above)
    }
}

// Calls that curl finished: each to its owner (a probe, or gw_call_done).
static void curl_done(Gateway *g) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(g->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        if (*(int *)priv == CALL_HEALTH) gw_health_done(g, e, rc);
        else gw_call_done(g, e, rc);
    }
}

// The transfers' turn: curl's due timeout (a call just added starts here: its request is sent in
// this turn), then what finished.
static void run_curl(Gateway *g) {
    for (int i = 0; i < 4 && gw_io_timer_due(g, clock_now_us()); i++) gw_io_curl_timeout(g);
    curl_done(g);
}

static void periodic(Gateway *g, int64_t now) {
    if (now >= g->next_tick_us) {
        g->next_tick_us = now + TICK_US;
        admin_commands(g, now);
        gw_replicas_tick(g, now);
        gw_expire(g, now);
        gw_front_watch(g, now);
        for (int i = 0; i < g->p.n_tiers; i++) gw_dispatch(g, i, now);
        publish_status(g, now);
        gw_cache_tick(g, now);
        gw_dash_tick(g, clock_wall_us());
    }
    if (now >= g->next_scale_us) {
        g->next_scale_us = now + g->p.autoscale_interval_us;
        gw_autoscale(g, now, clock_wall_us());
    }
}

// How long the loop may sleep: until the next tick, batch deadline, curl timeout or MHD timeout
// (0 while MHD or curl have work now), at most 50 ms.
static int wait_ms(Gateway *g, int64_t now) {
    int64_t wake_at = g->next_tick_us, t = gw_io_timer_at(g);
    if (t >= 0 && t < wake_at) wake_at = t;
    for (int i = 0; i < g->p.n_tiers; i++)
        if (g->tiers[i].batcher) {
            t = batcher_ready_at(g->tiers[i].batcher);
            if (t >= 0 && t < wake_at) wake_at = t;
        }
    int64_t ms = (wake_at - now + 999) / 1000;
    MHD_UNSIGNED_LONG_LONG mhd_ms;
    if (MHD_get_timeout(g->daemon, &mhd_ms) == MHD_YES && (int64_t)mhd_ms < ms) ms = (int64_t)mhd_ms;
    if (g->mhd_dirty) ms = 0;
    return (int)(ms < 0 ? 0 : ms > 50 ? 50 : ms);
}

// One epoll set for everything (gw_io.c). A turn: the sockets that are ready (curl reads its
// backends' answers, which publishes them to their connections), MHD (reads requests, routes them
// — calls start — and sends what was published), curl's turn (the new calls' requests go out),
// then MHD again only if that turn published answers (a call that failed at once).
int gateway_run(Gateway *g, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload_flag) {
    int64_t drain_deadline = 0;
    bool mhd_ready = true;
    for (;;) {
        int64_t now = clock_now_us();
        if ((*stop || atomic_load(&g->draining)) && !drain_deadline) {
            atomic_store(&g->draining, true);
            drain_deadline = now + (g->o.shutdown_timeout_us > 0 ? g->o.shutdown_timeout_us : 30000000);
            LOG_I("draining: %lld requests in flight", (long long)g->in_flight);
        }
        if (*reload_flag) {
            *reload_flag = 0;
            gw_reload(g);
        }
        curl_done(g);
        MHD_UNSIGNED_LONG_LONG mhd_ms;   // MHD's own due work: data it holds, connection timeouts
        if (mhd_ready || g->mhd_dirty || (MHD_get_timeout(g->daemon, &mhd_ms) == MHD_YES && mhd_ms == 0)) run_front(g);
        run_curl(g);
        if (g->mhd_dirty) run_front(g);
        now = clock_now_us();
        periodic(g, now);
        // drained: nothing held by the loop and every answer handed to its client
        if (drain_deadline && ((g->in_flight == 0 && g->n_open_reqs == 0) || now > drain_deadline)) {
            if (g->in_flight) LOG_W("drain timed out with %lld requests in flight", (long long)g->in_flight);
            break;
        }
        int ms = wait_ms(g, now);
        telemetry_flush(&g->tel);   // one write(2) per loop turn for every record of the turn
        mhd_ready = gw_io_wait(g, ms);
        if (ms == 0) {
            now = clock_now_us();
            for (int i = 0; i < g->p.n_tiers; i++)
                if (g->tiers[i].batcher) gw_dispatch(g, i, now);
        }
    }
    publish_status(g, clock_now_us());
    return 0;
}

void gateway_destroy(Gateway *g) {
    if (!g) return;
    gw_front_stop(g);
    if (g->multi) gw_replicas_stop(g);
    publish_status(g, clock_now_us());
    for (int i = 0; i < PIPE_MAX_TIERS; i++) {
        batcher_destroy(g->tiers[i].batcher);
        free(g->tiers[i].bslots);
    }
    for (int i = 0; i < g->n_easy_pool; i++) curl_easy_cleanup(g->easy_pool[i]);
    if (g->multi) curl_multi_cleanup(g->multi);
    gw_io_stop(g);
    gw_cache_stop(g);
    gw_keys_stop(g);
    if (g->m.reg) metrics_destroy(g->m.reg);
    telemetry_close(&g->tel);
    buf_free(&g->rec);
    gw_req_pool_free(g);
    pthread_mutex_destroy(&g->inbox_mu);
    free(g);
}
