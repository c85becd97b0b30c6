// gw_reload.c — SIGHUP: re-read the pipeline file and apply it without dropping state. Every
// changed field is either applied (and named in the log and in GET /admin/reload) or the whole
// reload is refused by name (pipeline_reload_check, plus the listen address), keeping the running
// config. Canary state survives: weights set through the admin API, windows, and rollbacks.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "serve/gw_int.h"

#define MAX_NOTES 48

typedef struct {
    char item[MAX_NOTES][200];
    int n, dropped;
} Notes;

static void note(Notes *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Notes *ns, const char *fmt, ...) {
    if (ns->n == MAX_NOTES) {
        ns->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ns->item[ns->n++], sizeof ns->item[0], fmt, ap);
    va_end(ap);
}

// ---- what changed ----

static void diff_limits(const Pipeline *a, const Pipeline *b, Notes *ns) {
    const struct { const char *name; double x, y; } nums[] = {
        {"limits.max_queue", (double)a->max_queue, (double)b->max_queue},
        {"limits.max_body_bytes", (double)a->max_body_bytes, (double)b->max_body_bytes},
        {"limits.max_tokens", (double)a->max_tokens, (double)b->max_tokens},
        {"limits.request_timeout_s", (double)a->request_timeout_us / 1e6, (double)b->request_timeout_us / 1e6},
        {"limits.retry_after_s", a->retry_after_s, b->retry_after_s},
 {"limits.header_timeout_s", (double)a->header_timeout_us / 1e6, (double)b->header_timeout_us / 1e6},
        {"limits.body_timeout_s", (double)a->body_timeout_us / 1e6, (double)b->body_timeout_us / 1e6},
        {"limits.idle_timeout_s", (double)a->idle_timeout_us / 1e6, (double)b->idle_timeout_us / 1e6},
        {"limits.max_buffered_body_bytes", (double)a->max_buffered_body_bytes, (double)b->max_buffered_body_bytes},
        {"autoscaling.interval_s", (double)a->autoscale_interval_us / 1e6, (double)b->autoscale_interval_us / 1e6},
        {"slo.ttft_p95_ms", a->slo_ttft_p95_ms, b->slo_ttft_p95_ms},
        {"slo.ttft_p99_ms", a->slo_ttft_p99_ms, b->slo_ttft_p99_ms},
        {"slo.tpot_p95_ms", a->slo_tpot_p95_ms, b->slo_tpot_p95_ms},
        {"slo.e2e_p95_ms", a->slo_e2e_p95_ms, b->slo_e2e_p95_ms},
        {"slo.e2e_p99_ms", a->slo_e2e_p99_ms, b->slo_e2e_p99_ms},
        {"slo.job_deadline_hours", a->slo_job_deadline_hours, b->slo_job_deadline_hours},
    };
    for (size_t k = 0; k < ARRAY_LEN(nums); k++)
        if (nums[k].x != nums[k].y) note(ns, "%s %g -> %g", nums[k].name, nums[k].x, nums[k].y);
}

static bool same_route(RouteRule x, RouteRule y) {
    x.line = y.line = 0;
    return memcmp(&x, &y, sizeof x) == 0;
}

static void diff_routes(const Pipeline *a, const Pipeline *b, Notes *ns) {
    if (a->n_routes != b->n_routes) note(ns, "routes: %d -> %d rules", a->n_routes, b->n_routes);
    for (int i = 0; i < a->n_routes && i < b->n_routes; i++)
        if (!same_route(a->routes[i], b->routes[i])) note(ns, "routes[%d] ('%s') changed", i, b->routes[i].name);
}

// Tier fields that apply live (the rest are refused by pipeline_reload_check).
static void diff_tiers(const Pipeline *a, const Pipeline *b, Notes *ns) {
    for (int i = 0; i < b->n_tiers; i++) {
        const PipeTier *x = &a->tiers[i], *y = &b->tiers[i];
        if (strcmp(x->accelerator, y->accelerator))
            note(ns, "tiers[%d].accelerator '%s' -> '%s'", i, x->accelerator, y->accelerator);
        if (x->max_concurrency != y->max_concurrency)
            note(ns, "tiers[%d].max_concurrency %lld -> %lld", i, (long long)x->max_concurrency, (long long)y->max_concurrency);
        if (x->min_replicas != y->min_replicas || x->max_replicas != y->max_replicas)
            note(ns, "tiers[%d].replicas %d..%d -> %d..%d%s", i, x->min_replicas, x->max_replicas, y->min_replicas,
                 y->max_replicas, y->autoscaled ? " (the autoscaler's bounds)" : " (workers start or drain to match)");
        AutoscaleConfig ax = x->autoscale, ay = y->autoscale;   // its min/max are the replicas above
        ax.min_replicas = ay.min_replicas = ax.max_replicas = ay.max_replicas = 0;
        if (x->autoscaled != y->autoscaled || memcmp(&ax, &ay, sizeof ax))
            note(ns, "tiers[%d] ('%s') autoscaling changed", i, y->name);
        if (strcmp(x->api_key_env, y->api_key_env) || strcmp(x->api_key_file, y->api_key_file))
            note(ns, "tiers[%d] ('%s') upstream credentials changed (the key is read again)", i, y->name);
        if (x->n_headers != y->n_headers || memcmp(x->header_name, y->header_name, sizeof x->header_name) ||
            memcmp(x->header_value, y->header_value, sizeof x->header_value))
            note(ns, "tiers[%d] ('%s') headers changed", i, y->name);
        if (strcmp(x->launch, y->launch))
            note(ns, "tiers[%d].launch changed (used by deploy output; serve runs no launch command)", i);
        if (x->has_step != y->has_step || x->step_b0_us != y->step_b0_us ||
            x->step_prefill_token_us != y->step_prefill_token_us || x->step_decode_row_us != y->step_decode_row_us ||
            x->step_context_token_us != y->step_context_token_us || x->step_multi_row_us != y->step_multi_row_us || x->step_mem_fixed_us != y->step_mem_fixed_us ||
            x->step_mem_ctx_us != y->step_mem_ctx_us || x->step_comp_token_us != y->step_comp_token_us ||
            x->step_comp_pair_us != y->step_comp_pair_us)
            note(ns, "tiers[%d].step changed (the planner's model; serve does not use it)", i);
    }
}

// Public model names and client keys (gw_keys rebinds keys by name, keeping their counters; a key
// is named, never shown).
static void diff_access(const Pipeline *a, const Pipeline *b, Notes *ns) {
    bool models = a->n_models != b->n_models;
    for (int i = 0; i < a->n_models && i < b->n_models && !models; i++)
        models = strcmp(a->models[i].name, b->models[i].name) || a->models[i].route != b->models[i].route;
    if (models) note(ns, "models: %d -> %d public names (the map is replaced)", a->n_models, b->n_models);
    if (a->n_keys != b->n_keys) note(ns, "keys: %d -> %d", a->n_keys, b->n_keys);
    for (int i = 0; i < b->n_keys; i++) {
        int j = 0;
        while (j < a->n_keys && strcmp(a->keys[j].name, b->keys[i].name)) j++;
        if (j == a->n_keys) {
            if (a->n_keys == b->n_keys) note(ns, "keys['%s'] is new", b->keys[i].name);
            continue;
        }
        PipeKey x = a->keys[j], y = b->keys[i];
        x.line = y.line = 0;
        if (memcmp(&x, &y, sizeof x)) note(ns, "keys['%s'] changed (its counters are kept)", b->keys[i].name);
    }
}

// ---- canaries ----

// After a reload, each canary that still splits the same route to the same candidate keeps its
// state — weight (a weight set by POST /admin/canary included), windows, a rollback — so SIGHUP
// never revives a rolled-back candidate; its new guards apply, and a weight changed in the file
// applies unless the canary is rolled back (POST /admin/canary is how a rollback is undone).
// Other canaries start fresh.
static void carry_canaries(Gateway *g, const Pipeline *old, const Canary *old_state, Notes *ns) {
    for (int k = 0; k < g->p.n_canaries; k++) {
        const PipeCanary *c = &g->p.canaries[k];
        const char *route = g->p.routes[c->route].name;
        int prev = -1;
        for (int j = 0; j < old->n_canaries && prev < 0; j++)
            if (old->canaries[j].route == c->route && old->canaries[j].candidate == c->candidate &&
                old->canaries[j].baseline == c->baseline)
                prev = j;
        if (prev < 0) {
            note(ns, "canary on route '%s' (candidate '%s') is new: weight %g%%", route,
                 g->p.tiers[c->candidate].name, c->weight_percent);
            continue;
        }
        const PipeCanary *o = &old->canaries[prev];
        g->canaries[k] = old_state[prev];
        g->canaries[k].guards = c->guards;
        g->canaries[k].shadow_percent = c->shadow_percent;
        if (memcmp(&o->guards, &c->guards, sizeof c->guards)) note(ns, "canary on route '%s': rollback guards changed", route);
        if (o->shadow_percent != c->shadow_percent)
            note(ns, "canary on route '%s': shadow_percent %g -> %g", route, o->shadow_percent, c->shadow_percent);
        if (c->weight_percent == o->weight_percent) continue;
        if (g->canaries[k].rolled_back) {
            note(ns, "canary on route '%s': weight_percent %g -> %g NOT applied: it stays rolled back (%s); "
                     "POST /admin/canary with weight_percent revives it",
                 route, o->weight_percent, c->weight_percent, g->canaries[k].reason);
        } else {
            canary_set_weight(&g->canaries[k], c->weight_percent);
            note(ns, "canary on route '%s': weight_percent %g -> %g", route, o->weight_percent, c->weight_percent);
        }
    }
    for (int j = 0; j < old->n_canaries; j++) {
        bool kept = false;
        for (int k = 0; k < g->p.n_canaries; k++)
            kept |= old->canaries[j].route == g->p.canaries[k].route && old->canaries[j].candidate == g->p.canaries[k].candidate &&
                    old->canaries[j].baseline == g->p.canaries[k].baseline;
        if (!kept) note(ns, "canary on route '%s' (candidate '%s') removed", old->routes[old->canaries[j].route].name,
                        old->tiers[old->canaries[j].candidate].name);
    }
}

// ---- the reload ----

// The result for GET /admin/reload, and the metric.
static void publish(Gateway *g, bool ok, const char *refused, const Notes *ns) {
    Buf b = {0};
    int64_t wall = clock_wall_us();
    time_t secs = (time_t)(wall / 1000000);
    struct tm tmv;
    gmtime_r(&secs, &tmv);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    buf_printf(&b, "{\"ok\":%s,\"time\":\"%s\",\"config\":", ok ? "true" : "false", ts);
    gw_body_put_string(&b, g->config_path);
    buf_append_str(&b, ",\"refused\":");
    if (refused) gw_body_put_string(&b, refused);
    else buf_append_str(&b, "null");
    buf_append_str(&b, ",\"applied\":[");
    for (int i = 0; ns && i < ns->n; i++) {
        if (i) buf_append_str(&b, ",");
        gw_body_put_string(&b, ns->item[i]);
    }
    buf_printf(&b, "],\"more_changes_not_listed\":%d}", ns ? ns->dropped : 0);
    pthread_mutex_lock(&g->inbox_mu);
    snprintf(g->reload_status, sizeof g->reload_status, "%s", b.data ? b.data : "{}");
    pthread_mutex_unlock(&g->inbox_mu);
    buf_free(&b);
    metric_inc(g->m.reloads, ok ? "applied" : "refused", 1);
}

// The listen address applies at start only: a change in the file is refused unless --listen
// overrides the file (then the file's address is not used at all).
static int check_listen(const Gateway *g, const Pipeline *np, char *why, size_t cap) {
    if (g->o.listen_from_cli) return 0;
    char a[96], b[96];
    listen_addr_format(&g->file_listen, g->file_listen.port, a, sizeof a);
    listen_addr_format(&np->listen, np->listen.port, b, sizeof b);
    if (strcmp(a, b) == 0) return 0;
    return snprintf(why, cap, "listen changed (%s -> %s): restart serve to change it", a, b), -1;
}

static void apply(Gateway *g, Pipeline *np, Pipeline *old, Canary *state) {
    Notes *ns = calloc(1, sizeof *ns);
    if (!ns) {
        LOG_E("reload refused: out of memory");
        publish(g, false, "out of memory", NULL);
        return;
    }
    *old = g->p;
    memcpy(state, g->canaries, sizeof g->canaries);
    diff_limits(old, np, ns);
    diff_routes(old, np, ns);
    diff_tiers(old, np, ns);
    diff_access(old, np, ns);
    if (strcmp(old->admin_key, np->admin_key))
        note(ns, g->o.admin_key ? "admin_key changed in the file (--admin-key overrides it; not applied)"
                 : np->admin_key[0] ? (old->admin_key[0] ? "admin_key replaced" : "admin_key set: the admin API is on")
                                    : "admin_key removed: the admin API is off");
    np->listen = g->p.listen;   // bound at start (check_listen refused a change)
    g->p = *np;
    snprintf(g->admin_key, sizeof g->admin_key, "%s", g->o.admin_key ? g->o.admin_key : g->p.admin_key);
    atomic_store(&g->max_body, g->p.max_body_bytes);
    atomic_store(&g->max_tokens, g->p.max_tokens);
    for (int k = 0; k < g->p.n_canaries; k++) {
        const PipeCanary *c = &g->p.canaries[k];
        canary_init(&g->canaries[k], c->weight_percent, c->shadow_percent, &c->guards);
        g->candidate_of[k] = c->candidate;
        g->admin_weight[k] = -1;
    }
    ConnGuardConfig gc = {.header_timeout_us = g->p.header_timeout_us, .body_timeout_us = g->p.body_timeout_us,
                          .idle_timeout_us = g->p.idle_timeout_us, .body_budget_bytes = g->p.max_buffered_body_bytes};
    conn_guard_configure(g->guard, &gc);
    carry_canaries(g, old, state, ns);
    gw_cache_reload(g);
    gw_keys_reload(g);   // client keys rebound by name (their counters kept), upstream credentials re-read
    Buf line = {0};
    for (int i = 0; i < ns->n; i++) buf_printf(&line, "%s%s", i ? "; " : "", ns->item[i]);
    LOG_I("reloaded %s: %s", g->config_path, ns->n ? line.data : "no changes");
    buf_free(&line);
    publish(g, true, NULL, ns);
    free(ns);
}

void gw_reload(Gateway *g) {
    Pipeline *np = malloc(sizeof *np), *old = malloc(sizeof *old);
    Canary *state = malloc(sizeof g->canaries);
    char err[600];
    if (!np || !old || !state) {
        LOG_E("reload refused: out of memory");
        publish(g, false, "out of memory", NULL);
    } else if (pipeline_load(np, g->config_path, true, err, sizeof err) ||
               pipeline_reload_check(&g->p, np, err, sizeof err) || check_listen(g, np, err, sizeof err)) {
        LOG_E("reload refused, keeping the running config: %s", err);
        publish(g, false, err, NULL);
    } else {
        apply(g, np, old, state);
    }
    free(state);
    free(old);
    free(np);
}
