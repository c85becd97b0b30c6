// pipeline_access.c — the pipeline keys about who may call what and how the gateway calls its
// backends: `models:` (public model names → routes), client `keys:` / `keys_file:` (hashed
// keys, allowed models and routes, rate limits, budgets) and each remote tier's upstream
// credentials (`api_key_env`, `api_key_file`, `headers`). Read by pipeline.c's loader; every
// error names the file, the line and the key.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"
#include "base/yaml.h"
#include "serve/pipeline.h"
#include "serve/pipeline_int.h"

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memmove(dst, src, n);
    dst[n] = 0;
}

// An HTTP header name: an RFC 9110 token.
static bool header_token(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return false;
    return true;
}

// A header value: printable, no CR/LF (which would smuggle another header).
static bool header_value(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t') return false;
    return true;
}

// ---- upstream credentials ----

// The first line of a file, trimmed. 0, or -1 with why filled.
static int read_first_line(const char *path, char *out, size_t cap, char *why, size_t why_cap) {
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(why, why_cap, "cannot read '%s'", path), -1;
    char line[1024];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    while (n > 0 && isspace((unsigned char)line[n - 1])) n--;
    size_t s = 0;
    while (s < n && isspace((unsigned char)line[s])) s++;
    if (n == s) return snprintf(why, why_cap, "'%s' is empty (its first line must be the key)", path), -1;
    if (n - s >= cap) return snprintf(why, why_cap, "the key in '%s' is longer than %zu bytes", path, cap - 1), -1;
    memcpy(out, line + s, n - s);
    out[n - s] = 0;
    return 0;
}

int pipeline_tier_api_key(const PipeTier *t, char *out, size_t cap, char *err, size_t err_len) {
    out[0] = 0;
    char why[400];
    if (t->api_key_env[0]) {
        const char *v = getenv(t->api_key_env);
        if (!v || !*v)
            return err_set(err, err_len, ERR_ARG, "tier '%s': environment variable %s (api_key_env) is not set",
                           t->name, t->api_key_env);
        if (strlen(v) >= cap || !header_value(v))
            return err_set(err, err_len, ERR_ARG, "tier '%s': %s holds no usable key (too long or a control character)",
                           t->name, t->api_key_env);
        copy_str(out, cap, v);
        return 1;
    }
    if (t->api_key_file[0]) {
        if (read_first_line(t->api_key_file, out, cap, why, sizeof why))
            return err_set(err, err_len, ERR_IO, "tier '%s': api_key_file: %s", t->name, why);
        if (!header_value(out))
            return err_set(err, err_len, ERR_ARG, "tier '%s': api_key_file '%s' holds a control character", t->name,
                           t->api_key_file);
        return 1;
    }
    return 0;
}

void pipe_load_tier_access(YamlDoc *doc, PipeTier *t, const YamlNode *n, bool check_files) {
    const char *env = yaml_str_opt(doc, n, "api_key_env", NULL), *file = yaml_str_opt(doc, n, "api_key_file", NULL);
    if ((env || file || yaml_get(n, "headers")) && t->local)
        yaml_error(doc, n, "api_key_env, api_key_file and headers are for remote (url:) tiers");
    if (env && file) yaml_error(doc, yaml_get(n, "api_key_file"), "give api_key_env or api_key_file, not both");
    if (env && (strlen(env) == 0 || strlen(env) >= sizeof t->api_key_env))
        yaml_error(doc, yaml_get(n, "api_key_env"), "an environment variable name of 1-%zu bytes", sizeof t->api_key_env - 1);
    if (file && (strlen(file) == 0 || strlen(file) >= sizeof t->api_key_file))
        yaml_error(doc, yaml_get(n, "api_key_file"), "a path of 1-%zu bytes", sizeof t->api_key_file - 1);
    copy_str(t->api_key_env, sizeof t->api_key_env, env);
    copy_str(t->api_key_file, sizeof t->api_key_file, file);
    const YamlNode *h = yaml_map_opt(doc, n, "headers");
    for (int64_t i = 0; h && i < h->n && !doc->rc; i++) {
        const char *name = h->keys[i];
        const YamlNode *v = h->vals[i];
        if (i >= PIPE_MAX_HEADERS) {
            yaml_error(doc, h, "at most %d headers", PIPE_MAX_HEADERS);
            break;
        }
        if (!header_token(name) || strlen(name) >= sizeof t->header_name[0])
            yaml_error(doc, v, "'%s' is not a header name (1-63 token characters)", name);
        else if (!strcasecmp(name, "Content-Type") || !strcasecmp(name, "Content-Length") || !strcasecmp(name, "Host") ||
                 !strcasecmp(name, "Transfer-Encoding") || !strcasecmp(name, "Expect"))
            yaml_error(doc, v, "'%s' is set by the gateway itself", name);
        else if (!strcasecmp(name, "Authorization") && (env || file))
            yaml_error(doc, v, "Authorization is already sent from api_key_env/api_key_file");
        else if (!v || v->kind != YAML_SCALAR || !header_value(v->str) || strlen(v->str) >= sizeof t->header_value[0])
            yaml_error(doc, v, "a header value is one line of at most %zu bytes", sizeof t->header_value[0] - 1);
        if (doc->rc) break;
        copy_str(t->header_name[t->n_headers], sizeof t->header_name[0], name);
        copy_str(t->header_value[t->n_headers], sizeof t->header_value[0], v->str);
        t->n_headers++;
    }
    if (!doc->rc && check_files && (env || file)) {   // serve --check: the key is there now
        char key[1024], why[600];
        if (pipeline_tier_api_key(t, key, sizeof key, why, sizeof why) < 0)
            yaml_error(doc, yaml_get(n, env ? "api_key_env" : "api_key_file"), "%s", why);
        memset(key, 0, sizeof key);
    }
}

// ---- models ----

int pipeline_model(const Pipeline *p, const char *name) {
    for (int i = 0; i < p->n_models; i++)
        if (strcmp(p->models[i].name, name) == 0) return i;
    return -1;
}

static int route_index(const Pipeline *p, const char *name) {
    for (int i = 0; i < p->n_routes; i++)
        if (strcmp(p->routes[i].name, name) == 0) return i;
    return -1;
}

static void route_list(const Pipeline *p, char *buf, size_t cap) {
    size_t u = 0;
    buf[0] = 0;
    for (int i = 0; i < p->n_routes && u < cap; i++) {
        int w = snprintf(buf + u, cap - u, "%s%s", i ? ", " : "", p->routes[i].name);
        if (w < 0) break;
        u += (size_t)w;
    }
}

void pipe_load_models(YamlDoc *doc, Pipeline *p, const YamlNode *root) {
    const YamlNode *m = yaml_map_opt(doc, root, "models");
    if (!m) return;
    if (m->n == 0) yaml_error(doc, m, "'models:' maps public model names to routes; give at least one");
    if (m->n > PIPE_MAX_MODELS) yaml_error(doc, m, "at most %d models", PIPE_MAX_MODELS);
    for (int64_t i = 0; !doc->rc && i < m->n; i++) {
        const char *name = m->keys[i];
        const YamlNode *v = m->vals[i];
        if (strlen(name) == 0 || strlen(name) >= sizeof p->models[0].name || !header_value(name)) {
            yaml_error(doc, v, "a model name is 1-95 printable bytes");
            break;
        }
        if (!v || v->kind != YAML_SCALAR || yaml_is_null(v)) {
            yaml_error(doc, v, "expected a route name");
            break;
        }
        int r = route_index(p, v->str);
        if (r < 0) {
            char list[512];
            route_list(p, list, sizeof list);
            yaml_error(doc, v, "unknown route '%s' (routes: %s)", v->str, list);
            break;
        }
        PipeModel *pm = &p->models[p->n_models++];
        copy_str(pm->name, sizeof pm->name, name);
        pm->route = r;
        pm->line = v->line;
    }
}

// ---- client keys ----

int pipeline_key_by_hash(const Pipeline *p, const unsigned char sha256[32]) {
    for (int i = 0; i < p->n_keys; i++)
        if (memcmp(p->keys[i].sha256, sha256, 32) == 0) return i;
    return -1;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

// A list of names (a sequence of strings) into a bit set by lookup; false after an error.
static bool name_set(YamlDoc *doc, const YamlNode *k, const char *key, const Pipeline *p, bool models, uint64_t *bits,
                     bool *all) {
    const YamlNode *s = yaml_seq_opt(doc, k, key);
    *all = s == NULL;
    *bits = 0;
    for (int64_t i = 0; s && i < s->n; i++) {
        const YamlNode *v = s->vals[i];
        int idx = v && v->kind == YAML_SCALAR ? (models ? pipeline_model(p, v->str) : route_index(p, v->str)) : -1;
        if (idx < 0) {
            char list[512] = "";
            if (models) {
                size_t u = 0;
                for (int j = 0; j < p->n_models && u < sizeof list; j++)
                    u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", j ? ", " : "", p->models[j].name);
            } else {
                route_list(p, list, sizeof list);
            }
            yaml_error(doc, v, "unknown %s '%s' (%s: %s)", models ? "model" : "route",
                       v && v->kind == YAML_SCALAR ? v->str : "?", models ? "models" : "routes",
                       list[0] ? list : "none: add a `models:` map");
            return false;
        }
        *bits |= (uint64_t)1 << idx;
    }
    return true;
}

static void load_key(YamlDoc *doc, Pipeline *p, const YamlNode *k) {
    static const char *const keys[] = {"name", "sha256", "models", "routes", "rpm", "tpm", "budget_usd", NULL};
    if (!k || k->kind != YAML_MAP) {
        yaml_error(doc, k, "a key is a map with name and sha256 (printf %%s \"$KEY\" | sha256sum)");
        return;
    }
    yaml_check_keys(doc, k, keys);
    if (p->n_keys >= PIPE_MAX_KEYS) {
        yaml_error(doc, k, "at most %d keys", PIPE_MAX_KEYS);
        return;
    }
    PipeKey *pk = &p->keys[p->n_keys];
    memset(pk, 0, sizeof *pk);
    pk->line = k->line;
    const char *name = yaml_str_req(doc, k, "name"), *hex = yaml_str_req(doc, k, "sha256");
    if (doc->rc) return;
    if (!pipe_valid_name(name)) yaml_error(doc, yaml_get(k, "name"), "key names are 1-47 of [A-Za-z0-9_.-]");
    for (int i = 0; !doc->rc && i < p->n_keys; i++)
        if (strcmp(p->keys[i].name, name) == 0) yaml_error(doc, yaml_get(k, "name"), "duplicate key name '%s'", name);
    if (doc->rc) return;
    copy_str(pk->name, sizeof pk->name, name);
    if (strlen(hex) != 64) {
        yaml_error(doc, yaml_get(k, "sha256"), "expected 64 hex digits (printf %%s \"$KEY\" | sha256sum), got %zu characters",
                   strlen(hex));
        return;
    }
    for (int i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            yaml_error(doc, yaml_get(k, "sha256"), "expected 64 hex digits, got '%s'", hex);
            return;
        }
        pk->sha256[i] = (unsigned char)(hi << 4 | lo);
    }
    if (pipeline_key_by_hash(p, pk->sha256) >= 0) {
        yaml_error(doc, yaml_get(k, "sha256"), "the same key hash is given twice (key '%s')", name);
        return;
    }
    uint64_t routes = 0;
    if (!name_set(doc, k, "models", p, true, &pk->models, &pk->all_models)) return;
    if (!name_set(doc, k, "routes", p, false, &routes, &pk->all_routes)) return;
    pk->routes = (uint32_t)routes;
    pk->rpm = yaml_i64_opt(doc, k, "rpm", -1, 0, (int64_t)1 << 40);
    pk->tpm = yaml_i64_opt(doc, k, "tpm", -1, 0, (int64_t)1 << 50);
    const YamlNode *b = yaml_map_opt(doc, k, "budget_usd");
    static const char *const bk[] = {"day", "month", NULL};
    yaml_check_keys(doc, b, bk);
    double day = yaml_f64_opt(doc, b, "day", -1, 0, 1e9), month = yaml_f64_opt(doc, b, "month", -1, 0, 1e9);
    pk->budget_day_nusd = day < 0 ? -1 : (int64_t)(day * 1e9 + 0.5);
    pk->budget_month_nusd = month < 0 ? -1 : (int64_t)(month * 1e9 + 0.5);
    if (!doc->rc) p->n_keys++;
}

static void load_key_list(YamlDoc *doc, Pipeline *p, const YamlNode *seq) {
    for (int64_t i = 0; seq && !doc->rc && i < seq->n; i++) load_key(doc, p, seq->vals[i]);
}

void pipe_load_keys(YamlDoc *doc, Pipeline *p, const YamlNode *root, bool check_files) {
    load_key_list(doc, p, yaml_seq_opt(doc, root, "keys"));
    const char *file = yaml_str_opt(doc, root, "keys_file", NULL);
    if (!file || doc->rc) return;
    if (strlen(file) >= sizeof p->keys_file) {
        yaml_error(doc, yaml_get(root, "keys_file"), "a path of at most %zu bytes", sizeof p->keys_file - 1);
        return;
    }
    copy_str(p->keys_file, sizeof p->keys_file, file);
    if (!check_files) return;   // plan --pipeline: keys do not change a prediction; the file may live elsewhere
    YamlDoc kd;
    char err[600];
    if (yaml_load_file(&kd, file, err, sizeof err)) {
        yaml_error(doc, yaml_get(root, "keys_file"), "%s", err);
        yaml_doc_free(&kd);
        return;
    }
    static const char *const top[] = {"keys", NULL};
    if (!kd.root || kd.root->kind != YAML_MAP) yaml_error(&kd, kd.root, "a keys file is a map with a `keys:` list");
    yaml_check_keys(&kd, kd.root, top);
    if (!kd.rc) load_key_list(&kd, p, yaml_seq_opt(&kd, kd.root, "keys"));
    if (kd.rc && !doc->rc) {   // the keys file's own FILE:LINE: key '...' message
        doc->rc = kd.rc;
        snprintf(doc->err, sizeof doc->err, "%s", kd.err);
    }
    yaml_doc_free(&kd);
}

// ---- shared counters ----

void pipe_load_shared(YamlDoc *doc, Pipeline *p, const YamlNode *root, bool check_files) {
    static const char *const keys[] = {"redis", "password_env", "prefix", "sync_ms", NULL};
    const YamlNode *s = yaml_map_opt(doc, root, "shared");
    copy_str(p->redis_prefix, sizeof p->redis_prefix, "rightsize");
    p->shared_sync_us = 50000;
    if (!s) return;
    yaml_check_keys(doc, s, keys);
    const char *addr = yaml_str_req(doc, s, "redis");
    if (!addr) return;
    const char *a = strncmp(addr, "redis://", 8) == 0 ? addr + 8 : addr;
    const char *colon = strrchr(a, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 6379;
    size_t hl = colon ? (size_t)(colon - a) : strlen(a);
    if (hl == 0 || hl >= sizeof p->redis_host || (colon && (!end || *end || port < 1 || port > 65535))) {
        yaml_error(doc, yaml_get(s, "redis"), "expected HOST:PORT of a Redis server (redis://HOST:PORT), got '%s'", addr);
        return;
    }
    memcpy(p->redis_host, a, hl);
    p->redis_host[hl] = 0;
    p->redis_port = (int)port;
    const char *pw = yaml_str_opt(doc, s, "password_env", "");
    if (strlen(pw) >= sizeof p->redis_password_env) yaml_error(doc, yaml_get(s, "password_env"), "too long");
    copy_str(p->redis_password_env, sizeof p->redis_password_env, pw);
    if (!doc->rc && check_files && pw[0] && !getenv(pw))
        yaml_error(doc, yaml_get(s, "password_env"), "environment variable %s (Redis's password) is not set", pw);
    const char *prefix = yaml_str_opt(doc, s, "prefix", "rightsize");
    if (!pipe_valid_name(prefix)) yaml_error(doc, yaml_get(s, "prefix"), "a prefix is 1-47 of [A-Za-z0-9_.-]");
    copy_str(p->redis_prefix, sizeof p->redis_prefix, prefix);
    p->shared_sync_us = (int64_t)(yaml_f64_opt(doc, s, "sync_ms", 50, 5, 10000) * 1000);
}
