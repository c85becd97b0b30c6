#include "serve/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/check.h"
#include "base/yaml.h"
#include "policy/sched.h"
#include "serve/pipeline_int.h"

// ---- helpers ----

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memmove(dst, src, n);
    dst[n] = 0;
}

bool pipe_valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= 48) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return false;
    return true;
}

// "a, b, c" list of the tier names, for "unknown tier" messages.
static void tier_list(const Pipeline *p, char *buf, size_t cap) {
    size_t u = 0;
    buf[0] = 0;
    for (int i = 0; i < p->n_tiers && u < cap; i++) {
        int w = snprintf(buf + u, cap - u, "%s%s", i ? ", " : "", p->tiers[i].name);
        if (w < 0) break;
        u += (size_t)w;
    }
}

// Resolves map[key] as a tier name; records an error naming the choices.
static int tier_ref(YamlDoc *doc, const Pipeline *p, const YamlNode *map, const char *key, bool required) {
    const char *s = required ? yaml_str_req(doc, map, key) : yaml_str_opt(doc, map, key, NULL);
    if (!s) return -1;
    int t = pipeline_tier(p, s);
    if (t < 0) {
        char list[512];
        tier_list(p, list, sizeof list);
        yaml_error(doc, yaml_get(map, key), "unknown tier '%s' (tiers: %s)", s, list);
    }
    return t;
}

int pipeline_tier(const Pipeline *p, const char *name) {
    for (int i = 0; i < p->n_tiers; i++)
        if (strcmp(p->tiers[i].name, name) == 0) return i;
    return -1;
}

// ---- sections ----

static void load_listen(YamlDoc *doc, Pipeline *p, const YamlNode *root) {
    const char *s = yaml_str_opt(doc, root, "listen", "127.0.0.1:8080");
    char why[256];
    if (listen_addr_parse(s, &p->listen, why, sizeof why)) yaml_error(doc, yaml_get(root, "listen"), "%s", why);
}

static void guess_quant(PipeTier *t) {
    static const char *const q[] = {"q4_0", "q4_k", "q8_0", "f16", "bf16", "f32"};
    for (size_t i = 0; i < ARRAY_LEN(q); i++)
        if (strstr(t->model_path, q[i])) {
            copy_str(t->quantization, sizeof t->quantization, q[i]);
            return;
        }
}

static void load_tier(YamlDoc *doc, Pipeline *p, const YamlNode *n, bool check_files) {
    static const char *const keys[] = {"name", "model", "url", "accelerator", "cost_per_hour", "replicas",
                                       "scheduler", "threads", "max_concurrency", "batching", "quantization",
                                       "chat_template", "capacity", "reserved", "launch", "autoscaling", "step",
                                       "api_key_env", "api_key_file", "headers", "planner", "cost_share", NULL};
    if (!n || n->kind != YAML_MAP) {
        yaml_error(doc, n, "a tier must be a map with name, model or url, cost_per_hour");
        return;
    }
    yaml_check_keys(doc, n, keys);
    PipeTier *t = &p->tiers[p->n_tiers];
    memset(t, 0, sizeof *t);
    t->line = n->line;
    const char *name = yaml_str_req(doc, n, "name");
    if (name && !pipe_valid_name(name)) yaml_error(doc, yaml_get(n, "name"), "tier names are 1-47 of [A-Za-z0-9_.-]");
    if (name && pipeline_tier(p, name) >= 0) yaml_error(doc, yaml_get(n, "name"), "duplicate tier name '%s'", name);
    copy_str(t->name, sizeof t->name, name);
    const char *url = yaml_str_opt(doc, n, "url", NULL), *model = yaml_str_opt(doc, n, "model", NULL);
    t->local = url == NULL;
    if (t->local) {
        if (!model) yaml_error(doc, n, "a tier needs 'model:' (a GGUF file, run locally) or 'url:' + 'model:'");
        copy_str(t->model_path, sizeof t->model_path, model);
        copy_str(t->model, sizeof t->model, t->name);
        struct stat st;
        if (model && check_files && (stat(model, &st) != 0 || !S_ISREG(st.st_mode)))
            yaml_error(doc, yaml_get(n, "model"), "model file '%s' does not exist (a local tier runs a GGUF)", model);
        guess_quant(t);
    } else {
        if (strncmp(url, "http://", 7) != 0 || strlen(url) < 8 || strlen(url) > 480)
            yaml_error(doc, yaml_get(n, "url"), "expected an http:// URL of an OpenAI-compatible server, got '%s'", url);
        if (!model) yaml_error(doc, n, "a remote tier (url:) needs 'model:', the name the server serves");
        copy_str(t->url, sizeof t->url, url);
        size_t ul = strlen(t->url);
        while (ul > 0 && t->url[ul - 1] == '/') t->url[--ul] = 0;
        if (ul < 3 || strcmp(t->url + ul - 3, "/v1") != 0) strncat(t->url, "/v1", sizeof t->url - ul - 1);
        copy_str(t->model, sizeof t->model, model);
    }
    copy_str(t->accelerator, sizeof t->accelerator, yaml_str_opt(doc, n, "accelerator", t->local ? "cpu" : "remote"));
    const char *q = yaml_str_opt(doc, n, "quantization", NULL);
    if (q) copy_str(t->quantization, sizeof t->quantization, q);
    t->cost_per_hour = yaml_f64_opt(doc, n, "cost_per_hour", 0, 0, 1e6);
    static const char *const burst[] = {"on_demand", "spot"};
    t->capacity_kind = yaml_enum_opt(doc, n, "capacity", burst, 2, 0) == 1 ? PIPE_SPOT : PIPE_ON_DEMAND;
    const char *launch = yaml_str_opt(doc, n, "launch", "");
    if (strlen(launch) >= sizeof t->launch) yaml_error(doc, yaml_get(n, "launch"), "longer than %zu bytes", sizeof t->launch - 1);
    if (t->local && launch[0]) yaml_error(doc, yaml_get(n, "launch"), "a local tier is launched by serve itself; 'launch:' is for url: tiers");
    copy_str(t->launch, sizeof t->launch, launch);
    t->min_replicas = t->max_replicas = 1;
    const YamlNode *r = yaml_get(n, "replicas");
    if (r && r->kind == YAML_SCALAR) {
        t->min_replicas = t->max_replicas = (int)yaml_i64_opt(doc, n, "replicas", 1, 0, PIPE_MAX_REPLICAS);
    } else if (r) {
        static const char *const rk[] = {"min", "max", NULL};
        r = yaml_map_opt(doc, n, "replicas");
        yaml_check_keys(doc, r, rk);
        t->min_replicas = (int)yaml_i64_opt(doc, r, "min", 1, 0, PIPE_MAX_REPLICAS);
        t->max_replicas = (int)yaml_i64_opt(doc, r, "max", t->min_replicas, 1, PIPE_MAX_REPLICAS);
        if (t->max_replicas < t->min_replicas)
            yaml_error(doc, yaml_get(r, "max"), "max (%d) is below min (%d)", t->max_replicas, t->min_replicas);
    }
    const YamlNode *rs = yaml_map_opt(doc, n, "reserved");
    if (rs) {
        static const char *const rk[] = {"replicas", "term", "cost_per_hour", NULL};
        static const char *const terms[] = {"1y", "3y"};
        yaml_check_keys(doc, rs, rk);
        t->reserved_replicas = (int)yaml_i64_req(doc, rs, "replicas", 0, PIPE_MAX_REPLICAS);
        t->reserved_kind = yaml_enum_opt(doc, rs, "term", terms, 2, 0) == 1 ? PIPE_RESERVED_3Y : PIPE_RESERVED_1Y;
        t->reserved_cost_per_hour = yaml_f64_req(doc, rs, "cost_per_hour", 0, 1e6);
        if (!doc->rc && t->reserved_replicas > t->min_replicas)
            yaml_error(doc, yaml_get(rs, "replicas"), "%d reserved replicas are always on: raise replicas.min (%d) to at least that",
                       t->reserved_replicas, t->min_replicas);
    }
    const YamlNode *s = yaml_map_opt(doc, n, "scheduler");
    static const char *const sk[] = {"max_num_seqs", "max_num_batched_tokens", "max_model_len", "kv_blocks", NULL};
    yaml_check_keys(doc, s, sk);
    t->max_num_seqs = yaml_i64_opt(doc, s, "max_num_seqs", 16, 1, 4096);
    t->max_num_batched_tokens = yaml_i64_opt(doc, s, "max_num_batched_tokens", 512, 1, 1 << 20);
    t->max_model_len = yaml_i64_opt(doc, s, "max_model_len", 0, 1, 1 << 24);
    t->kv_blocks = yaml_i64_opt(doc, s, "kv_blocks", 0, 1, (int64_t)1 << 30);
    if (t->local && !doc->rc) {  // the worker's own rule, checked here so --check catches it
        SchedConfig sc;
        sched_config_default(&sc);
        sc.max_num_seqs = t->max_num_seqs;
        sc.max_num_batched_tokens = t->max_num_batched_tokens;
        if (t->max_model_len > 0) sc.max_model_len = t->max_model_len;
        char why[256];
        if (sched_config_check(&sc, why, sizeof why)) yaml_error(doc, s ? s : n, "%s", why);
    }
    t->threads = (int)yaml_i64_opt(doc, n, "threads", 1, 1, 256);
    static const char *const tmpl[] = {"", "llama2", "mistral", "llama3", "chatml", "zephyr"};
    int ti = yaml_enum_opt(doc, n, "chat_template", tmpl, 6, 0);
    copy_str(t->chat_template, sizeof t->chat_template, tmpl[ti < 0 ? 0 : ti]);
    t->max_concurrency = yaml_i64_opt(doc, n, "max_concurrency", t->local ? t->max_num_seqs : 64, 1, 1 << 16);
    const YamlNode *b = yaml_map_opt(doc, n, "batching");
    if (b) {
        static const char *const bk[] = {"max_batch_size", "max_queue_delay_microseconds", NULL};
        yaml_check_keys(doc, b, bk);
        t->batching = true;
        t->batch.max_batch_size = yaml_i64_opt(doc, b, "max_batch_size", 8, 1, 4096);
        t->batch.max_queue_delay_us = yaml_i64_opt(doc, b, "max_queue_delay_microseconds", 0, 0, 60000000);
    }
    // The planner's step-time model of this tier (plan --pipeline); serve ignores it.
    const YamlNode *st = yaml_map_opt(doc, n, "step");
    if (st) {
        static const char *const stk[] = {"b0_us", "prefill_token_us", "decode_row_us", "context_token_us",
                                          "multi_row_us", "mem_fixed_us", "mem_ctx_us", "comp_token_us", "comp_pair_us",
                                          "request_overhead_us", "cold", "spread", "spread_window_us", "colocated", NULL};
        static const char *const cold_cols[] = {"after_us", "wake_us", "step_factor"};
        static const double cold_lo[] = {1, -1e8, 1e-3}, cold_hi[] = {1e9, 1e8, 1e4};
        yaml_check_keys(doc, st, stk);
        t->has_step = true;
        t->step_b0_us = yaml_f64_opt(doc, st, "b0_us", 0, 0, 1e9);
        t->step_prefill_token_us = yaml_f64_opt(doc, st, "prefill_token_us", 0, 0, 1e9);
        t->step_decode_row_us = yaml_f64_opt(doc, st, "decode_row_us", 0, 0, 1e9);
        t->step_context_token_us = yaml_f64_opt(doc, st, "context_token_us", 0, 0, 1e9);
        t->step_multi_row_us = yaml_f64_opt(doc, st, "multi_row_us", 0, 0, 1e9);
        t->step_mem_fixed_us = yaml_f64_opt(doc, st, "mem_fixed_us", 0, 0, 1e9);
        t->step_mem_ctx_us = yaml_f64_opt(doc, st, "mem_ctx_us", 0, 0, 1e9);
        t->step_comp_token_us = yaml_f64_opt(doc, st, "comp_token_us", 0, 0, 1e9);
        t->step_comp_pair_us = yaml_f64_opt(doc, st, "comp_pair_us", 0, 0, 1e9);
        t->step_request_overhead_us = yaml_f64_opt(doc, st, "request_overhead_us", 0, 0, 1e9);
        t->step_n_cold = (int)yaml_f64_rows(doc, st, "cold", cold_cols, 3, cold_lo, cold_hi, t->step_cold,
                                            PIPE_STEP_COLD_MAX);
        for (int i = 1; i < t->step_n_cold; i++)
            if (t->step_cold[3 * i] <= t->step_cold[3 * (i - 1)])
                yaml_error(doc, yaml_get(st, "cold"), "the rows' after_us must ascend");
        t->step_n_spread = (int)yaml_f64_list(doc, st, "spread", 0.05, 20, t->step_spread, PIPE_STEP_SPREAD_MAX);
        t->step_spread_window_us = yaml_f64_opt(doc, st, "spread_window_us", 0, 1, 1e9);
        if (t->step_n_spread > 0 && t->step_spread_window_us == 0)
            yaml_error(doc, yaml_get(st, "spread"), "a spread needs spread_window_us (how long one factor holds)");
        t->step_colocated = yaml_f64_opt(doc, st, "colocated", 0, 1, 10);
        t->step_line = st->line;
    }
    static const char *const shares[] = {"steps", "in_flight"};
    t->cost_in_flight = yaml_enum_opt(doc, n, "cost_share", shares, 2, 0) == 1;
    // The rest of the planner's facts about this tier (plan --pipeline); serve ignores them.
    const YamlNode *pl = yaml_map_opt(doc, n, "planner");
    static const char *const plk[] = {"startup_s", "warm_start_s", "spot_interruptions_per_hour", "spot_replace_s",
                                      "kv_block_tokens", "host", NULL};
    yaml_check_keys(doc, pl, plk);
    t->plan_startup_s = yaml_f64_opt(doc, pl, "startup_s", 0, 0, 86400);
    t->plan_warm_start_s = yaml_f64_opt(doc, pl, "warm_start_s", t->plan_startup_s, 0, 86400);
    t->plan_spot_interruptions_per_hour = yaml_f64_opt(doc, pl, "spot_interruptions_per_hour", 0, 0, 3600);
    t->plan_spot_replace_s = yaml_f64_opt(doc, pl, "spot_replace_s", 0, 0, 86400);
    t->plan_kv_block_tokens = yaml_i64_opt(doc, pl, "kv_block_tokens", 0, 1, 1 << 16);
    const char *host = yaml_str_opt(doc, pl, "host", "");
    if (strlen(host) >= sizeof t->plan_host)
        yaml_error(doc, yaml_get(pl, "host"), "a host name is at most %zu bytes", sizeof t->plan_host - 1);
    copy_str(t->plan_host, sizeof t->plan_host, host);
    pipe_load_tier_access(doc, t, n, check_files);
    if (!doc->rc) p->n_tiers++;
}

static void load_route(YamlDoc *doc, Pipeline *p, const YamlNode *n, int idx) {
    static const char *const keys[] = {"name", "match", "tier", "cascade", NULL};
    static const char *const mk[] = {"endpoint", "model", "min_prompt_chars", "max_prompt_chars", "header", NULL};
    if (!n || n->kind != YAML_MAP) {
        yaml_error(doc, n, "a route must be a map with 'match' and 'tier' or 'cascade'");
        return;
    }
    yaml_check_keys(doc, n, keys);
    RouteRule *r = &p->routes[idx];
    memset(r, 0, sizeof *r);
    r->line = n->line;
    r->max_prompt_chars = -1;
    r->canary = -1;
    const YamlNode *m = yaml_map_opt(doc, n, "match");
    yaml_check_keys(doc, m, mk);
    const char *ep = yaml_str_opt(doc, m, "endpoint", "any");
    int e = router_endpoint_parse(ep);
    if (e < 0) yaml_error(doc, yaml_get(m, "endpoint"), "unknown endpoint '%s' (completions, chat, embeddings, any)", ep);
    r->endpoint = e < 0 ? RT_EP_ANY : (RouterEndpoint)e;
    copy_str(r->model, sizeof r->model, yaml_str_opt(doc, m, "model", ""));
    r->min_prompt_chars = yaml_i64_opt(doc, m, "min_prompt_chars", 0, 0, INT64_MAX / 2);
    r->max_prompt_chars = yaml_i64_opt(doc, m, "max_prompt_chars", -1, 0, INT64_MAX / 2);
    if (r->max_prompt_chars >= 0 && r->max_prompt_chars < r->min_prompt_chars)
        yaml_error(doc, yaml_get(m, "max_prompt_chars"), "is below min_prompt_chars");
    const YamlNode *h = yaml_map_opt(doc, m, "header");
    if (h) {
        static const char *const hk[] = {"name", "value", NULL};
        yaml_check_keys(doc, h, hk);
        const char *hn = yaml_str_req(doc, h, "name");
        if (hn && (strlen(hn) == 0 || strlen(hn) >= sizeof r->header))
            yaml_error(doc, yaml_get(h, "name"), "a header name of 1-63 characters");
        copy_str(r->header, sizeof r->header, hn);
        const char *hv = yaml_str_opt(doc, h, "value", "");
        if (strlen(hv) >= sizeof r->header_value) yaml_error(doc, yaml_get(h, "value"), "longer than 127 bytes");
        copy_str(r->header_value, sizeof r->header_value, hv);
    }
    const char *name = yaml_str_opt(doc, n, "name", NULL);
    if (name && !pipe_valid_name(name)) yaml_error(doc, yaml_get(n, "name"), "route names are 1-47 of [A-Za-z0-9_.-]");
    if (name) copy_str(r->name, sizeof r->name, name);
    else if (e > RT_EP_ANY) copy_str(r->name, sizeof r->name, ep);
    for (int i = 0; i < idx; i++)
        if (strcmp(p->routes[i].name, r->name) == 0) {
            if (name) yaml_error(doc, yaml_get(n, "name"), "duplicate route name '%s'", name);
            r->name[0] = 0;
        }
    if (!r->name[0]) snprintf(r->name, sizeof r->name, "route%d", idx);
    bool has_tier = yaml_get(n, "tier") != NULL, has_cascade = yaml_get(n, "cascade") != NULL;
    if (has_tier == has_cascade) {
        yaml_error(doc, n, "a route needs exactly one of 'tier: NAME' or 'cascade: {first, then, min_confidence}'");
        return;
    }
    if (has_tier) {
        r->kind = ROUTE_TIER;
        r->tier = tier_ref(doc, p, n, "tier", true);
        return;
    }
    static const char *const ck[] = {"first", "then", "min_confidence", "confidence", "escalate_on_error", NULL};
    static const char *const modes[] = {"mean", "min"};
    const YamlNode *c = yaml_map_req(doc, n, "cascade");
    yaml_check_keys(doc, c, ck);
    r->kind = ROUTE_CASCADE;
    r->first = tier_ref(doc, p, c, "first", true);
    r->then = tier_ref(doc, p, c, "then", true);
    r->min_confidence = yaml_f64_req(doc, c, "min_confidence", 0, 1);
    r->mode = (CascadeMode)yaml_enum_opt(doc, c, "confidence", modes, 2, CASCADE_MEAN);
    r->escalate_on_error = yaml_bool_opt(doc, c, "escalate_on_error", true);
    if (!doc->rc && r->first == r->then) yaml_error(doc, yaml_get(c, "then"), "the cascade's two tiers must differ");
    if (!doc->rc && p->tiers[r->first].batching)
        yaml_error(doc, yaml_get(c, "first"), "a batching tier answers embeddings and has no logprobs to cascade on");
}

static void load_canary(YamlDoc *doc, Pipeline *p, const YamlNode *n) {
    static const char *const keys[] = {"route", "baseline", "candidate", "weight_percent", "shadow_percent",
                                       "rollback", NULL};
    static const char *const rk[] = {"p95_ms", "error_rate", "min_agreement", "min_accuracy", "window_s", "min_samples", NULL};
    if (!n || n->kind != YAML_MAP) {
        yaml_error(doc, n, "a canary must be a map with route, baseline, candidate, weight_percent");
        return;
    }
    yaml_check_keys(doc, n, keys);
    PipeCanary *c = &p->canaries[p->n_canaries];
    memset(c, 0, sizeof *c);
    c->line = n->line;
    const char *route = yaml_str_req(doc, n, "route");
    c->route = -1;
    for (int i = 0; route && i < p->n_routes; i++)
        if (strcmp(p->routes[i].name, route) == 0) c->route = i;
    if (route && c->route < 0) {
        char list[512] = {0};
        size_t u = 0;
        for (int i = 0; i < p->n_routes && u < sizeof list; i++)
            u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", p->routes[i].name);
        yaml_error(doc, yaml_get(n, "route"), "unknown route '%s' (routes: %s)", route, list);
    }
    c->baseline = tier_ref(doc, p, n, "baseline", true);
    c->candidate = tier_ref(doc, p, n, "candidate", true);
    c->weight_percent = yaml_f64_req(doc, n, "weight_percent", 0, 100);
    c->shadow_percent = yaml_f64_opt(doc, n, "shadow_percent", 10, 0, 100);
    const YamlNode *rb = yaml_map_opt(doc, n, "rollback");
    yaml_check_keys(doc, rb, rk);
    c->guards.p95_ms = yaml_f64_opt(doc, rb, "p95_ms", 0, 0, 1e9);
    c->guards.error_rate = yaml_f64_opt(doc, rb, "error_rate", 1, 0, 1);
    c->guards.min_agreement = yaml_f64_opt(doc, rb, "min_agreement", 0, 0, 1);
    c->guards.min_accuracy = yaml_f64_opt(doc, rb, "min_accuracy", 0, 0, 1);
    c->guards.window_us = (int64_t)(yaml_f64_opt(doc, rb, "window_s", 60, 0.1, 86400) * 1e6);
    c->guards.min_samples = yaml_i64_opt(doc, rb, "min_samples", 20, 1, CANARY_WINDOW_MAX);
    if (doc->rc) return;
    RouteRule *r = &p->routes[c->route];
    int base = r->kind == ROUTE_TIER ? r->tier : r->first;
    if (c->baseline != base)
        yaml_error(doc, yaml_get(n, "baseline"), "route '%s' sends to '%s' first, not '%s'", r->name,
                   p->tiers[base].name, p->tiers[c->baseline].name);
    else if (c->candidate == c->baseline)
        yaml_error(doc, yaml_get(n, "candidate"), "the candidate must differ from the baseline");
    else if (r->canary >= 0)
        yaml_error(doc, yaml_get(n, "route"), "route '%s' already has a canary", r->name);
    if (doc->rc) return;
    r->canary = p->n_canaries++;
}

const char *const pipe_price_kind_names[PIPE_PRICE_KINDS] = {
    [PIPE_ON_DEMAND] = "on_demand", [PIPE_RESERVED_1Y] = "reserved_1y", [PIPE_RESERVED_3Y] = "reserved_3y", [PIPE_SPOT] = "spot"};

int pipeline_tier_price(const PipeTier *t, int reserved_up, double *usd_per_hour) {
    bool reserved = reserved_up < t->reserved_replicas;
    *usd_per_hour = reserved ? t->reserved_cost_per_hour : t->cost_per_hour;
    return reserved ? t->reserved_kind : t->capacity_kind;
}

// One `autoscaling:` map (the pipeline's, or a tier's): keys given replace c's values.
static void load_autoscale_map(YamlDoc *doc, const YamlNode *a, AutoscaleConfig *c, bool top) {
    static const char *const keys[] = {"metric", "target_per_replica", "upscale_delay_s", "downscale_delay_s",
                                       "warm_pool", "interval_s", "schedule", NULL};
    static const char *const tier_keys[] = {"metric", "target_per_replica", "upscale_delay_s", "downscale_delay_s",
                                            "warm_pool", "schedule", NULL};
    // The autoscaler counts waiting + running requests per replica (policy/autoscale).
    static const char *const metrics[] = {"num_requests_in_flight"};
    yaml_check_keys(doc, a, top ? keys : tier_keys);
    yaml_enum_opt(doc, a, "metric", metrics, 1, 0);
    // 1e12 = "never on load": a batch tier's schedule alone sets its count.
    c->target_per_replica = yaml_f64_opt(doc, a, "target_per_replica", c->target_per_replica, 0.01, 1e12);
    c->upscale_delay_us = (int64_t)(yaml_f64_opt(doc, a, "upscale_delay_s", (double)c->upscale_delay_us / 1e6, 0, 86400) * 1e6);
    c->downscale_delay_us =
        (int64_t)(yaml_f64_opt(doc, a, "downscale_delay_s", (double)c->downscale_delay_us / 1e6, 0, 86400) * 1e6);
    c->warm_pool = (int)yaml_i64_opt(doc, a, "warm_pool", c->warm_pool, 0, PIPE_MAX_REPLICAS);
    const YamlNode *s = yaml_seq_opt(doc, a, "schedule");
    if (s) c->n_windows = 0;
    for (int64_t i = 0; s && i < s->n; i++) {
        static const char *const wk[] = {"start_hour", "end_hour", "min_replicas", NULL};
        const YamlNode *w = s->vals[i];
        if (i >= AUTOSCALE_MAX_WINDOWS) {
            yaml_error(doc, w, "at most %d schedule windows", AUTOSCALE_MAX_WINDOWS);
            return;
        }
        if (w->kind != YAML_MAP) {
            yaml_error(doc, w, "a window is {start_hour, end_hour, min_replicas}");
            return;
        }
        yaml_check_keys(doc, w, wk);
        c->windows[i].start_hour = yaml_f64_req(doc, w, "start_hour", 0, 24);
        c->windows[i].end_hour = yaml_f64_req(doc, w, "end_hour", 0, 24);
        c->windows[i].min_replicas = (int)yaml_i64_req(doc, w, "min_replicas", 0, PIPE_MAX_REPLICAS);
        c->n_windows = (int)i + 1;
    }
}

static void load_autoscaling(YamlDoc *doc, Pipeline *p, const YamlNode *a) {
    p->autoscale = (AutoscaleConfig){.target_per_replica = 4, .upscale_delay_us = 10000000, .downscale_delay_us = 120000000};
    if (a) {
        p->has_autoscaling = true;
        load_autoscale_map(doc, a, &p->autoscale, true);
    }
    p->autoscale_interval_us = (int64_t)(yaml_f64_opt(doc, a, "interval_s", 1, 0.05, 3600) * 1e6);
}

// Each tier's autoscaler: the pipeline's section with the tier's own `autoscaling:` over it.
static void resolve_tier_autoscaling(YamlDoc *doc, Pipeline *p, const YamlNode *tiers) {
    for (int i = 0; i < p->n_tiers && !doc->rc; i++) {
        PipeTier *t = &p->tiers[i];
        const YamlNode *a = yaml_map_opt(doc, tiers->vals[i], "autoscaling");
        t->autoscale = p->autoscale;
        t->autoscaled = p->has_autoscaling || a;
        if (a) load_autoscale_map(doc, a, &t->autoscale, false);
        t->autoscale.min_replicas = t->min_replicas;
        t->autoscale.max_replicas = t->max_replicas;
        for (int w = 0; w < t->autoscale.n_windows && !doc->rc; w++)
            if (t->autoscale.windows[w].min_replicas > t->max_replicas)
                yaml_error(doc, a ? a : tiers->vals[i], "tier '%s': a schedule window asks for %d replicas > replicas.max %d",
                           t->name, t->autoscale.windows[w].min_replicas, t->max_replicas);
        if (t->autoscaled) p->has_autoscaling = true;
    }
}

static void load_limits(YamlDoc *doc, Pipeline *p, const YamlNode *l) {
    static const char *const keys[] = {"max_queue", "max_body_bytes", "max_tokens", "request_timeout_s",
                                       "retry_after_s", "header_timeout_s", "body_timeout_s", "idle_timeout_s",
                                       "max_buffered_body_bytes", "max_response_bytes", NULL};
    yaml_check_keys(doc, l, keys);
    p->max_queue = yaml_i64_opt(doc, l, "max_queue", 256, 0, 1 << 20);
    p->max_body_bytes = (size_t)yaml_i64_opt(doc, l, "max_body_bytes", 1 << 20, 256, (int64_t)1 << 30);
    p->max_tokens = yaml_i64_opt(doc, l, "max_tokens", 4096, 1, 1 << 24);
    p->request_timeout_us = (int64_t)(yaml_f64_opt(doc, l, "request_timeout_s", 60, 0.01, 86400) * 1e6);
    p->retry_after_s = (int)yaml_i64_opt(doc, l, "retry_after_s", 1, 0, 3600);
    // The connection layer (conn_guard.h): fixed deadlines, the body budget, the answer cap.
    p->header_timeout_us = (int64_t)(yaml_f64_opt(doc, l, "header_timeout_s", 10, 0.1, 3600) * 1e6);
    p->body_timeout_us = (int64_t)(yaml_f64_opt(doc, l, "body_timeout_s", 30, 0.1, 3600) * 1e6);
    p->idle_timeout_us = (int64_t)(yaml_f64_opt(doc, l, "idle_timeout_s", 75, 0.1, 86400) * 1e6);
    p->max_buffered_body_bytes =
        (size_t)yaml_i64_opt(doc, l, "max_buffered_body_bytes", (int64_t)256 << 20, 4096, (int64_t)1 << 40);
    p->max_response_bytes = (size_t)yaml_i64_opt(doc, l, "max_response_bytes", (int64_t)32 << 20, 4096, (int64_t)1 << 34);
    if (l && !doc->rc && p->max_buffered_body_bytes < p->max_body_bytes)
        yaml_error(doc, l, "limits.max_buffered_body_bytes (%zu) is below limits.max_body_bytes (%zu): no body could be "
                   "buffered; raise it", p->max_buffered_body_bytes, p->max_body_bytes);
}

// `cache:` — the response cache; present means on (docs/serve.md, Response cache).
static void load_cache(YamlDoc *doc, PipeCache *c, const YamlNode *n) {
    static const char *const keys[] = {"enabled", "max_bytes", "max_entries", "max_entry_bytes", "ttl_s", NULL};
    yaml_check_keys(doc, n, keys);
    c->enabled = n && yaml_bool_opt(doc, n, "enabled", true);
    c->max_bytes = yaml_i64_opt(doc, n, "max_bytes", (int64_t)64 << 20, 4096, (int64_t)1 << 40);
    c->max_entries = yaml_i64_opt(doc, n, "max_entries", 16384, 1, (int64_t)1 << 24);
    c->max_entry_bytes = yaml_i64_opt(doc, n, "max_entry_bytes", (int64_t)1 << 20, 256, (int64_t)1 << 40);
    c->ttl_us = (int64_t)(yaml_f64_opt(doc, n, "ttl_s", 300, 0.001, 30 * 86400.0) * 1e6);
    c->line = n ? n->line : 0;
    if (!doc->rc && c->max_entry_bytes > c->max_bytes)
        yaml_error(doc, yaml_get(n, "max_entry_bytes"), "max_entry_bytes %lld exceeds max_bytes %lld: one entry must fit",
                   (long long)c->max_entry_bytes, (long long)c->max_bytes);
}

static int load_doc(YamlDoc *doc, Pipeline *p, bool check_files) {
    static const char *const keys[] = {"listen", "slo", "tiers", "routes", "canary", "autoscaling", "limits",
                                       "admin_key", "models", "keys", "keys_file", "shared", "cache", "planner", NULL};
    const YamlNode *root = doc->root;
    if (!root || root->kind != YAML_MAP) return yaml_error(doc, root, "the pipeline must be a map (listen, tiers, routes, ...)");
    yaml_check_keys(doc, root, keys);
    load_listen(doc, p, root);
    const YamlNode *slo = yaml_map_opt(doc, root, "slo");
    static const char *const sk[] = {"ttft_p95_ms", "ttft_p99_ms", "tpot_p95_ms", "e2e_p95_ms", "e2e_p99_ms",
                                     "job_deadline_hours", NULL};
    yaml_check_keys(doc, slo, sk);
    p->slo_ttft_p95_ms = yaml_f64_opt(doc, slo, "ttft_p95_ms", 0, 0, 1e9);
    p->slo_ttft_p99_ms = yaml_f64_opt(doc, slo, "ttft_p99_ms", 0, 0, 1e9);
    p->slo_tpot_p95_ms = yaml_f64_opt(doc, slo, "tpot_p95_ms", 0, 0, 1e9);
    p->slo_e2e_p95_ms = yaml_f64_opt(doc, slo, "e2e_p95_ms", 0, 0, 1e9);
    p->slo_e2e_p99_ms = yaml_f64_opt(doc, slo, "e2e_p99_ms", 0, 0, 1e9);
    p->slo_job_deadline_hours = yaml_f64_opt(doc, slo, "job_deadline_hours", 0, 0, 24);
    const YamlNode *pl = yaml_map_opt(doc, root, "planner");   // plan --pipeline's run; serve ignores it
    static const char *const plk[] = {"seed", "horizon_s", NULL};
    yaml_check_keys(doc, pl, plk);
    p->has_plan_run = pl != NULL;
    p->plan_seed = (uint64_t)yaml_i64_opt(doc, pl, "seed", 1, 0, (int64_t)9e15);
    p->plan_horizon_s = yaml_f64_opt(doc, pl, "horizon_s", 3600, 1, 86400.0 * 366);
    copy_str(p->admin_key, sizeof p->admin_key, yaml_str_opt(doc, root, "admin_key", ""));
    load_limits(doc, p, yaml_map_opt(doc, root, "limits"));
    load_cache(doc, &p->cache, yaml_map_opt(doc, root, "cache"));
    const YamlNode *tiers = yaml_seq_opt(doc, root, "tiers");
    if (!tiers || tiers->n == 0) return yaml_error(doc, tiers ? tiers : root, "'tiers:' must list at least one tier");
    if (tiers->n > PIPE_MAX_TIERS) return yaml_error(doc, tiers, "at most %d tiers", PIPE_MAX_TIERS);
    for (int64_t i = 0; i < tiers->n && !doc->rc; i++) load_tier(doc, p, tiers->vals[i], check_files);
    for (int i = 0; i < p->n_tiers; i++)
        if (p->tiers[i].batching) p->tiers[i].batch.max_queue = p->max_queue > p->tiers[i].batch.max_batch_size
                                                                   ? p->max_queue
                                                                   : p->tiers[i].batch.max_batch_size;
    const YamlNode *routes = yaml_seq_opt(doc, root, "routes");
    if (!doc->rc && (!routes || routes->n == 0))
        return yaml_error(doc, routes ? routes : root, "'routes:' must list at least one route");
    if (!doc->rc && routes->n > PIPE_MAX_ROUTES) return yaml_error(doc, routes, "at most %d routes", PIPE_MAX_ROUTES);
    for (int64_t i = 0; !doc->rc && i < routes->n; i++) {
        load_route(doc, p, routes->vals[i], (int)i);
        p->n_routes = (int)i + 1;
    }
    const YamlNode *can = yaml_seq_opt(doc, root, "canary");
    if (!doc->rc && can && can->n > PIPE_MAX_CANARIES) return yaml_error(doc, can, "at most %d canaries", PIPE_MAX_CANARIES);
    for (int64_t i = 0; !doc->rc && can && i < can->n; i++) load_canary(doc, p, can->vals[i]);
    if (!doc->rc) load_autoscaling(doc, p, yaml_map_opt(doc, root, "autoscaling"));
    if (!doc->rc) resolve_tier_autoscaling(doc, p, tiers);
    if (!doc->rc) pipe_load_models(doc, p, root);
    if (!doc->rc) pipe_load_keys(doc, p, root, check_files);
    if (!doc->rc) pipe_load_shared(doc, p, root, check_files);
    return doc->rc;
}

// Messages quote offending values, which may span lines (multi-line plain scalars): keep them on
// one line.
static void one_line(char *err) {
    for (char *c = err; c && *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
}

int pipeline_load_buf(Pipeline *p, const char *name, const char *text, size_t len, bool check_files, char *err,
                      size_t err_len) {
    memset(p, 0, sizeof *p);
    YamlDoc doc;
    int rc = yaml_load_buf(&doc, name, text, len, err, err_len);
    if (rc == 0) {
        rc = load_doc(&doc, p, check_files);
        if (rc) err_set(err, err_len, rc, "%s", doc.err);
    }
    yaml_doc_free(&doc);
    if (rc && err) one_line(err);
    return rc;
}

int pipeline_load(Pipeline *p, const char *path, bool check_files, char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    YamlDoc doc;
    int rc = yaml_load_file(&doc, path, err, err_len);
    if (rc == 0) {
        rc = load_doc(&doc, p, check_files);
        if (rc) err_set(err, err_len, rc, "%s", doc.err);
    }
    yaml_doc_free(&doc);
    if (rc && err) one_line(err);
    return rc;
}

int pipeline_reload_check(const Pipeline *cur, const Pipeline *next, char *why, size_t cap) {
    static const char fix[] = "restart serve to change it";
    if (strcmp(cur->redis_host, next->redis_host) || cur->redis_port != next->redis_port ||
        strcmp(cur->redis_prefix, next->redis_prefix) || strcmp(cur->redis_password_env, next->redis_password_env) ||
        cur->shared_sync_us != next->shared_sync_us)
        return snprintf(why, cap, "shared (the Redis of the keys' counters) changed: %s", fix), -1;
    if (cur->n_tiers != next->n_tiers)
        return snprintf(why, cap, "the number of tiers changed (%d -> %d): %s", cur->n_tiers, next->n_tiers, fix), -1;
    for (int i = 0; i < cur->n_tiers; i++) {
        const PipeTier *x = &cur->tiers[i], *y = &next->tiers[i];
        const struct { const char *field, *a, *b; } strs[] = {
            {"name", x->name, y->name},           {"model", x->model_path, y->model_path},
            {"url", x->url, y->url},              {"model", x->model, y->model},
            {"chat_template", x->chat_template, y->chat_template},
            {"quantization", x->quantization, y->quantization},   // read once at start (with the digest)
        };
        for (size_t k = 0; k < ARRAY_LEN(strs); k++)
            if (strcmp(strs[k].a, strs[k].b))
                return snprintf(why, cap, "tiers[%d].%s changed ('%s' -> '%s'): %s", i, strs[k].field, strs[k].a,
                                strs[k].b, fix),
                       -1;
        const struct { const char *field; double a, b; } nums[] = {
            {"kind (local model: vs remote url:)", x->local, y->local},
            {"batching", x->batching, y->batching},
            {"cost_per_hour", x->cost_per_hour, y->cost_per_hour},
            {"scheduler.max_num_seqs", (double)x->max_num_seqs, (double)y->max_num_seqs},
            {"scheduler.max_num_batched_tokens", (double)x->max_num_batched_tokens, (double)y->max_num_batched_tokens},
            {"threads", x->threads, y->threads},
            {"capacity", x->capacity_kind, y->capacity_kind},
            {"reserved.replicas", x->reserved_replicas, y->reserved_replicas},
            {"reserved.term", x->reserved_kind, y->reserved_kind},
            {"reserved.cost_per_hour", x->reserved_cost_per_hour, y->reserved_cost_per_hour},
            {"scheduler.max_model_len", (double)x->max_model_len, (double)y->max_model_len},
            {"scheduler.kv_blocks", (double)x->kv_blocks, (double)y->kv_blocks},
            {"batching.max_batch_size", (double)x->batch.max_batch_size, (double)y->batch.max_batch_size},
            {"batching.max_queue_delay_microseconds", (double)x->batch.max_queue_delay_us, (double)y->batch.max_queue_delay_us},
            {"batching queue (limits.max_queue)", (double)x->batch.max_queue, (double)y->batch.max_queue},
            // a remote tier's replicas are ledger slots opened at start (local tiers start or drain workers)
            {"replicas (remote tier without autoscaling)", !y->local && !y->autoscaled && !x->autoscaled ? x->min_replicas : 0,
             !y->local && !y->autoscaled && !x->autoscaled ? y->min_replicas : 0},
        };
        for (size_t k = 0; k < ARRAY_LEN(nums); k++)
            if (nums[k].a != nums[k].b)
                return snprintf(why, cap, "tiers[%d].%s changed (%g -> %g): %s", i, nums[k].field, nums[k].a, nums[k].b,
                                fix),
                       -1;
    }
    return 0;
}
