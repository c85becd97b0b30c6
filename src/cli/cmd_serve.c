// cmd_serve.c — `rightsize serve pipeline.yaml`: the pipeline gateway (routing, cascade, canary,
// dynamic batching, autoscaling, per-request cost) in front of local workers and remote servers.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/check.h"
#include "base/log.h"
#include "cli/cli.h"
#include "serve/gateway.h"
#include "serve/pipeline.h"

static const char USAGE[] =
    "usage: rightsize serve PIPELINE.yaml [options]\n"
    "       rightsize serve --check PIPELINE.yaml\n"
    "\n"
    "Serves the OpenAI API (POST /v1/completions, /v1/chat/completions, /v1/embeddings; GET /v1/models,\n"
    "/health, /metrics) in front of the pipeline's tiers: local tiers (model: a GGUF) run as supervised\n"
    "`rightsize worker` processes on loopback, remote tiers (url:) are any OpenAI-compatible server.\n"
    "Routes pick a tier, a cascade (student answers with logprobs; under min_confidence the teacher is\n"
    "asked) or a canary split with automatic rollback. Every response carries x-rightsize-tier,\n"
    "x-rightsize-queue-ms, x-rightsize-cost-usd and x-rightsize-ttft-ms (the last two trailers on\n"
    "streams; the TTFT is the record's, from the gateway's reading of the request); every request writes one\n"
    "JSONL telemetry record. SIGHUP reloads routes, canaries and limits; SIGTERM drains.\n"
    "Admin (with --admin-key KEY, sent as 'Authorization: Bearer KEY'): POST /admin/canary\n"
    "{\"weight_percent\":N[,\"route\":R]}, POST /admin/rollback, POST /admin/drain, GET /admin/canary,\n"
    "GET /admin/ledger, GET /admin/keys. Client keys (keys:, keys_file:; SHA-256 only) get 401/403/429 with\n"
    "per-key rpm, tpm and USD budgets per day/month; models: maps public model names to routes.\n"
    "The config format is in docs/serve.md.\n"
    "\n"
    "  --check                   validate the config (every error names its line and key) and exit\n"
    "  --listen HOST:PORT        override the config's listen address (port 0 picks a free one)\n"
    "  --port-file FILE          write the bound port there once listening\n"
    "  --admin-key KEY           enable /admin/* with this key (or the config's admin_key)\n"
    "  --telemetry FILE          JSONL telemetry file (default '-': stdout)\n"
    "  --telemetry-max-mb N      rotate the telemetry file at N MiB (default 64; keeps 3)\n"
    "  --seed N                  seed of the canary split and shadow sampling (default 1)\n"
    "  --shutdown-timeout S      seconds to drain on SIGTERM (default 30)\n"
    "  --worker-log FILE         stderr of the local workers (default: inherited)\n"
    "  -v, --verbose             debug logs on stderr\n";

static volatile sig_atomic_t g_stop, g_reload;
static void on_stop(int sig) { (void)sig, g_stop = 1; }
static void on_hup(int sig) { (void)sig, g_reload = 1; }

static int parse_i64(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "rightsize serve: %s needs an integer in [%lld, %lld], got '%s'\n", flag, (long long)lo,
                (long long)hi, v ? v : "(nothing)");
        return -1;
    }
    *out = x;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    const char *config = NULL, *listen = NULL, *port_file = NULL, *admin = NULL, *tel = "-", *wlog = NULL;
    int64_t tel_mb = 64, seed = 1, shutdown_s = 30;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(f, "--check") == 0) check = true;
        else if (strcmp(f, "-v") == 0 || strcmp(f, "--verbose") == 0) log_set_level(LOG_DEBUG);
        else if (!strcmp(f, "--listen") || !strcmp(f, "--port-file") || !strcmp(f, "--admin-key") ||
                 !strcmp(f, "--telemetry") || !strcmp(f, "--worker-log")) {
            if (!v) {
                fprintf(stderr, "rightsize serve: %s needs a value\n", f);
                return 2;
            }
            if (!strcmp(f, "--listen")) listen = v;
            else if (!strcmp(f, "--port-file")) port_file = v;
            else if (!strcmp(f, "--admin-key")) admin = v;
            else if (!strcmp(f, "--telemetry")) tel = v;
            else wlog = v;
            i++;
        } else if (!strcmp(f, "--telemetry-max-mb")) rc = parse_i64(f, v, 1, 1 << 20, &tel_mb), i++;
        else if (!strcmp(f, "--seed")) rc = parse_i64(f, v, 0, INT64_MAX, &seed), i++;
        else if (!strcmp(f, "--shutdown-timeout")) rc = parse_i64(f, v, 0, 86400, &shutdown_s), i++;
        else if (f[0] == '-') {
            fprintf(stderr, "rightsize serve: unknown option '%s' (see rightsize serve --help)\n", f);
            return 2;
        } else if (!config) config = f;
        else {
            fprintf(stderr, "rightsize serve: one config file only ('%s' and '%s')\n", config, f);
            return 2;
        }
        if (rc) return 2;
    }
    if (!config) {
        fprintf(stderr, "rightsize serve: give the pipeline config (rightsize serve pipeline.yaml; see --help)\n");
        return 2;
    }
    Pipeline *p = calloc(1, sizeof *p);
    if (!p) return 1;
    char err[600];
    if (pipeline_load(p, config, true, err, sizeof err)) {
        fprintf(stderr, "rightsize serve: %s\n", err);
        free(p);
        return 1;
    }
    if (check) {
        int local = 0;
        for (int i = 0; i < p->n_tiers; i++) local += p->tiers[i].local;
        printf("%s: ok (%d tiers, %d local; %d routes; %d canaries; autoscaling %s; %d models; %d client keys%s)\n",
               config, p->n_tiers, local, p->n_routes, p->n_canaries, p->has_autoscaling ? "on" : "off", p->n_models,
               p->n_keys, p->redis_host[0] ? ", shared through Redis" : "");
        free(p);
        return 0;
    }
    if (listen) {
        char why[256];
        if (listen_addr_parse(listen, &p->listen, why, sizeof why)) {
            fprintf(stderr, "rightsize serve: --listen: %s\n", why);
            free(p);
            return 2;
        }
    }
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "rightsize serve: cannot find its own binary to start workers\n");
        free(p);
        return 1;
    }
    exe[n] = 0;
    int wfd = -1;
    if (wlog && (wfd = open(wlog, O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0) {
        fprintf(stderr, "rightsize serve: cannot open --worker-log '%s': %s\n", wlog, strerror(errno));
        free(p);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    GatewayOptions o = {.config_path = config, .worker_exe = exe, .admin_key = admin, .telemetry_path = tel,
                        .telemetry_max_bytes = tel_mb << 20, .seed = (uint64_t)seed,
                        .shutdown_timeout_us = shutdown_s * 1000000, .worker_log_fd = wfd,
                        .listen_from_cli = listen != NULL};
    Gateway *g = gateway_create(p, &o, err, sizeof err);
    free(p);
    if (!g) {
        fprintf(stderr, "rightsize serve: %s\n", err);
        if (wfd >= 0) close(wfd);
        return 1;
    }
    LOG_I("serving on port %d", gateway_port(g));
    if (port_file) {  // written whole, then renamed: a reader never sees an empty or partial file
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        bool ok = f && fprintf(f, "%d\n", gateway_port(g)) > 0;
        if (f && fclose(f) != 0) ok = false;
        if (!ok || rename(tmp, port_file) != 0) LOG_W("cannot write the port file '%s'", port_file);
    }
    int rc = gateway_run(g, &g_stop, &g_reload);
    gateway_destroy(g);
    curl_global_cleanup();
    if (wfd >= 0) close(wfd);
    return rc ? 1 : 0;
}
