// cmd_worker.c — `rightsize worker -m MODEL.gguf`: serve one model over OpenAI's HTTP API with
// continuous batching (engine + scheduler on the engine thread, libmicrohttpd in front).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "cli/cli.h"
#include "engine/matmul.h"
#include "engine/engine.h"
#include "policy/sched.h"
#include "serve/embed_service.h"
#include "serve/http_server.h"
#include "serve/listen_addr.h"
#include "serve/serve_metrics.h"
#include "serve/worker_loop.h"

static const char USAGE[] =
    "usage: rightsize worker -m MODEL.gguf [options]\n"
    "\n"
    "Serves one GGUF model over an OpenAI-compatible HTTP API with continuous batching:\n"
    "  POST /v1/completions, POST /v1/chat/completions (stream, logprobs, stop, seed, ...),\n"
    "  GET /v1/models, GET /health, GET /metrics (Prometheus text, prefix rightsize_).\n"
    "SIGTERM/SIGINT drain: new requests get 503, running ones finish (up to --shutdown-timeout).\n"
    "On an embedding model (GGUF bert, nomic-bert) it serves POST /v1/embeddings only: requests\n"
    "waiting together (up to --http-threads of them, --max-num-batched-tokens tokens) share one\n"
    "encoder pass.\n"
    "\n"
    "  -m, --model FILE              the GGUF model (required)\n"
    "  --listen HOST:PORT            address to listen on: IPv4, [IPv6] or localhost (default 127.0.0.1:8001;\n"
    "                                port 0 picks one)\n"
    "  -t, --threads N               compute threads (default: all cores)\n"
    "  --http-threads N              HTTP threads (default 2)\n"
    "  --max-num-seqs N              sequences per engine step (default 16)\n"
    "  --max-num-batched-tokens N    tokens per engine step (default 512)\n"
    "  --max-num-queued-reqs N       waiting requests before 429 (default 64)\n"
    "  --max-model-len N             positions per sequence (default: min(model context, 4096))\n"
    "  --kv-blocks N                 KV-cache blocks of 16 positions (default: from --kv-memory-mb)\n"
    "  --kv-memory-mb M              KV-cache budget in MiB (default 512)\n"
"  --enable-prefix-caching       keep full KV blocks of finished prompts and share them with later requests\n"
    "                                that start with the same tokens (e.g. a system prompt): only the rest is\n"
    "                                prefilled, the outputs are identical (default: on)\n"
    "  --no-enable-prefix-caching    compute every prompt in full\n"
    "  --scheduling-policy P         fcfs (default) or priority (request field 'priority', lower first)\n"
    "  --served-model-name NAME      name clients send as 'model' (default: the file's general.name)\n"
    "  --api-key KEY                 require 'Authorization: Bearer KEY' on /v1/* (or RIGHTSIZE_API_KEY)\n"
    "  --chat-template FAMILY        llama2, mistral, llama3, chatml or zephyr: a built-in formatter\n"
    "                                (default: the model's own tokenizer.chat_template, run by the\n"
    "                                Jinja interpreter; a template it cannot parse falls back to the\n"
    "                                family its markers name)\n"
    "  --shutdown-timeout S          seconds to let running requests finish on SIGTERM (default 30)\n"
    "  --max-body-bytes B            largest request body (default 1048576; larger gets 413)\n"
    "  --max-buffered-body-mb M      request bodies buffered at once over all connections (default 64);\n"
    "                                a POST that would pass it gets 503 before its body is read\n"
    "  --header-timeout S            seconds a new connection has to send a complete request header\n"
    "                                (default 10; a fixed deadline, not reset by each byte)\n"
    "  --body-timeout S              seconds from the header to the complete body (default 30)\n"
    "  --idle-timeout S              seconds a keep-alive connection may wait for its next request (default 120)\n"
    "  -v, --verbose                 debug logs on stderr\n";

typedef struct {
    const char *model, *listen, *served_name, *api_key, *chat_template, *policy;
    int64_t threads, http_threads, max_seqs, max_tokens, max_queued, max_model_len, kv_blocks, kv_mb;
    int64_t shutdown_s, max_body, max_buffered_mb, header_timeout_s, body_timeout_s, idle_timeout_s;
    bool prefix_caching;
} WorkerArgs;

// Parses a whole decimal integer in [lo, hi]; prints why not and returns -1.
static int parse_int(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "rightsize worker: %s needs an integer in [%lld, %lld], got '%s'\n", flag, (long long)lo,
                (long long)hi, v ? v : "(nothing)");
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_args(int argc, char **argv, WorkerArgs *a) {
    *a = (WorkerArgs){.listen = "127.0.0.1:8001", .policy = "fcfs", .http_threads = 2, .max_seqs = 16,
                      .max_tokens = 512, .max_queued = 64, .kv_mb = 512, .shutdown_s = 30, .max_body = 1 << 20,
                      .max_buffered_mb = 64, .header_timeout_s = 10, .body_timeout_s = 30, .idle_timeout_s = 120,
                      .prefix_caching = true};
    a->api_key = getenv("RIGHTSIZE_API_KEY");
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
#define STR_OPT(name, field) else if (strcmp(f, name) == 0) { if (!v) goto missing; a->field = v; i++; }
#define INT_OPT(name, field, lo, hi) else if (strcmp(f, name) == 0) { rc = parse_int(f, v, lo, hi, &a->field); i++; }
        if (0) {}
        STR_OPT("-m", model) STR_OPT("--model", model) STR_OPT("--listen", listen)
        STR_OPT("--served-model-name", served_name) STR_OPT("--api-key", api_key)
        STR_OPT("--chat-template", chat_template) STR_OPT("--scheduling-policy", policy)
        INT_OPT("-t", threads, 1, 1024) INT_OPT("--threads", threads, 1, 1024)
        INT_OPT("--http-threads", http_threads, 1, 64)
        INT_OPT("--max-num-seqs", max_seqs, 1, 4096)
        INT_OPT("--max-num-batched-tokens", max_tokens, 1, 1 << 20)
        INT_OPT("--max-num-queued-reqs", max_queued, 1, 1 << 20)
        INT_OPT("--max-model-len", max_model_len, 1, 1 << 24)
        INT_OPT("--kv-blocks", kv_blocks, 1, (int64_t)1 << 30)
        INT_OPT("--kv-memory-mb", kv_mb, 1, (int64_t)1 << 22)
        INT_OPT("--shutdown-timeout", shutdown_s, 0, 86400)
        INT_OPT("--max-body-bytes", max_body, 64, (int64_t)1 << 30)
        INT_OPT("--max-buffered-body-mb", max_buffered_mb, 1, (int64_t)1 << 20)
        INT_OPT("--header-timeout", header_timeout_s, 1, 3600)
        INT_OPT("--body-timeout", body_timeout_s, 1, 3600)
        INT_OPT("--idle-timeout", idle_timeout_s, 1, 86400)
        else if (strcmp(f, "--enable-prefix-caching") == 0) a->prefix_caching = true;
        else if (strcmp(f, "--no-enable-prefix-caching") == 0) a->prefix_caching = false;
        else if (strcmp(f, "-v") == 0 || strcmp(f, "--verbose") == 0) log_set_level(LOG_DEBUG);
        else {
            fprintf(stderr, "rightsize worker: unknown option '%s' (see rightsize worker --help)\n", f);
            return -1;
        }
#undef STR_OPT
#undef INT_OPT
        if (rc) return -1;
        continue;
    missing:
        fprintf(stderr, "rightsize worker: %s needs a value (see rightsize worker --help)\n", f);
        return -1;
    }
    if (!a->model) {
        fprintf(stderr, "rightsize worker: no model; pass -m MODEL.gguf\n");
        return -1;
    }
    if (strcmp(a->policy, "fcfs") != 0 && strcmp(a->policy, "priority") != 0) {
        fprintf(stderr, "rightsize worker: --scheduling-policy must be fcfs or priority, got '%s'\n", a->policy);
        return -1;
    }
    if ((a->max_buffered_mb << 20) < a->max_body) {
        fprintf(stderr, "rightsize worker: --max-buffered-body-mb (%lld MiB) is below --max-body-bytes (%lld): no body "
                "that large could be buffered; raise it\n", (long long)a->max_buffered_mb, (long long)a->max_body);
        return -1;
    }
    if (a->max_tokens < a->max_seqs) {
        fprintf(stderr, "rightsize worker: --max-num-batched-tokens (%lld) must be >= --max-num-seqs (%lld)\n",
                (long long)a->max_tokens, (long long)a->max_seqs);
        return -1;
    }
    return 0;
}

// "HOST:PORT" (listen_addr.h: IPv4, [IPv6] or localhost) → host (into buf) and port.
static int split_listen(const char *s, char *host, size_t cap, int *port) {
    ListenAddr la;
    char why[256];
    if (listen_addr_parse(s, &la, why, sizeof why)) {
        fprintf(stderr, "rightsize worker: --listen: %s\n", why);
        return -1;
    }
    snprintf(host, cap, "%s", la.host);
    *port = la.port;
    return 0;
}

// Waits for SIGTERM/SIGINT (blocked in every thread), then drains. Returns the exit status.
static int serve_until_signal(HttpServer *srv, WorkerLoop *loop, const sigset_t *sigs, int64_t shutdown_s) {
    int sig = 0;
    while (sigwait(sigs, &sig) != 0) {}
    LOG_I("got %s: draining (new requests get 503; %lld running/waiting get up to %lld s)",
          sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)worker_loop_live(loop), (long long)shutdown_s);
    http_server_set_draining(srv, true);
    int64_t deadline = clock_now_us() + shutdown_s * 1000000;
    struct timespec poll = {0, 10 * 1000000};
    while ((worker_loop_live(loop) > 0 || http_server_in_flight(srv) > 0) && clock_now_us() < deadline) {
        // A second signal ends the grace period at once.
        if (sigtimedwait(sigs, NULL, &poll) > 0) break;
    }
    if (worker_loop_live(loop) > 0) {
        LOG_W("shutdown timeout: aborting %lld requests", (long long)worker_loop_live(loop));
        worker_loop_abort_all(loop);
    }
    // Let aborted clients receive their answer before the sockets close.
    int64_t flush_deadline = clock_now_us() + 2000000;
    while (http_server_in_flight(srv) > 0 && clock_now_us() < flush_deadline) clock_sleep_us(5000);
    LOG_I("drained; exiting");
    return 0;
}

// A worker on an encoder model: /v1/embeddings only, batched by the embedding service.
static int serve_embeddings(const WorkerArgs *a, const char *host, int port, const sigset_t *sigs) {
    char err[320];
    int status = 1;
    HttpServer *srv = NULL;
    ServeMetrics metrics = {0};
    EmbedService *es = embed_service_create(a->model, (int)a->threads, a->max_tokens, err, sizeof err);
    if (!es) {
        fprintf(stderr, "rightsize worker: %s\n", err);
        return 1;
    }
    const char *name = a->served_name ? a->served_name : embed_service_name(es);
    if (serve_metrics_init(&metrics, name, "embedding")) {
        fprintf(stderr, "rightsize worker: out of memory\n");
        goto done;
    }
    HttpServerConfig hc = {.host = host, .port = port, .model_name = name, .api_key = a->api_key,
                           .max_body_bytes = (size_t)a->max_body, .n_threads = (int)a->http_threads,
                           .retry_after_s = 1, .embed = es, .header_timeout_s = (int)a->header_timeout_s,
                           .body_timeout_s = (int)a->body_timeout_s, .idle_timeout_s = (int)a->idle_timeout_s,
                           .max_buffered_body_bytes = (size_t)a->max_buffered_mb << 20};
    srv = http_server_create(&hc, NULL, &metrics, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "rightsize worker: %s\n", err);
        goto done;
    }
    LOG_I("embedding model %s (%lld params, width %lld, ctx %lld), kernels %s; serving /v1/embeddings only", name,
          (long long)embed_service_n_params(es), (long long)embed_service_dim(es), (long long)embed_service_n_ctx(es),
          mm_kernel_name());
    LOG_I(strchr(host, ':') ? "listening on http://[%s]:%d" : "listening on http://%s:%d", host, http_server_port(srv));
    int sig = 0;
    while (sigwait(sigs, &sig) != 0) {}
    LOG_I("got %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    http_server_set_draining(srv, true);
    int64_t deadline = clock_now_us() + a->shutdown_s * 1000000;
    while (http_server_in_flight(srv) > 0 && clock_now_us() < deadline) clock_sleep_us(5000);
    LOG_I("drained; exiting");
    status = 0;
done:
    http_server_destroy(srv);
    embed_service_destroy(es);
    serve_metrics_free(&metrics);
    return status;
}

int cmd_worker(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return 0;
    }
    WorkerArgs a;
    char host[64];
    int port;
    if (parse_args(argc, argv, &a) || split_listen(a.listen, host, sizeof host, &port)) return 2;
    // Block the shutdown signals before any thread starts, so only sigwait sees them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (embed_service_is_encoder(a.model)) return serve_embeddings(&a, host, port, &sigs);
    int status = 1;
    char err[1024];
    Engine *eng = NULL;
    WorkerLoop *loop = NULL;
    HttpServer *srv = NULL;
    ServeMetrics metrics = {0};
    EngineOptions eo;
    engine_options_default(&eo);
    eo.n_threads = (int)a.threads;
    eo.n_ctx = a.max_model_len;
    eo.kv_blocks = a.kv_blocks;
    eo.kv_mem_bytes = a.kv_blocks ? 0 : (size_t)a.kv_mb << 20;
    eo.max_rows = a.max_tokens;
    eo.max_seqs = a.max_seqs;
    eo.prefix_caching = a.prefix_caching;
    eng = engine_create(a.model, &eo, err, sizeof err);
    if (!eng) {
        fprintf(stderr, "rightsize worker: %s\n", err);
        goto done;
    }
    const EngineInfo *info = engine_info(eng);
    const char *name = a.served_name ? a.served_name : info->name;
    if (serve_metrics_init(&metrics, name, info->quant)) {
        fprintf(stderr, "rightsize worker: out of memory\n");
        goto done;
    }
    WorkerLoopConfig wc = {.chat_template = a.chat_template, .model_path = a.model};
    sched_config_default(&wc.sched);
    wc.sched.max_num_seqs = a.max_seqs;
    wc.sched.max_num_batched_tokens = a.max_tokens;
    wc.sched.max_num_queued_reqs = a.max_queued;
    wc.sched.policy = strcmp(a.policy, "priority") == 0 ? SCHED_PRIORITY : SCHED_FCFS;
    loop = worker_loop_create(eng, &wc, &metrics, err, sizeof err);
    if (!loop) {
        fprintf(stderr, "rightsize worker: %s\n", err);
        status = a.chat_template ? 2 : 1;
        goto done;
    }
    HttpServerConfig hc = {.host = host, .port = port, .model_name = name, .api_key = a.api_key,
                           .max_body_bytes = (size_t)a.max_body, .n_threads = (int)a.http_threads,
                           .retry_after_s = 1, .header_timeout_s = (int)a.header_timeout_s,
                           .body_timeout_s = (int)a.body_timeout_s, .idle_timeout_s = (int)a.idle_timeout_s,
                           .max_buffered_body_bytes = (size_t)a.max_buffered_mb << 20};
    srv = http_server_create(&hc, worker_loop_backend(loop), &metrics, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "rightsize worker: %s\n", err);
        goto done;
    }
    const char *why = NULL;
    const char *chat = worker_loop_chat_family(loop, &why);
    if (!chat) LOG_W("chat completions disabled: %s", why);
    LOG_I("model %s (%s, %lld params, ctx %lld), %d threads, kernels %s, KV %lld blocks x %lld positions", name,
          info->quant, (long long)info->n_params, (long long)info->n_ctx, info->n_threads, mm_kernel_name(),
          (long long)info->kv_blocks_total, (long long)info->kv_block_tokens);
    LOG_I("max_num_seqs %lld, max_num_batched_tokens %lld, max_num_queued_reqs %lld, policy %s, chat template %s",
          (long long)a.max_seqs, (long long)a.max_tokens, (long long)a.max_queued, a.policy, chat ? chat : "none");
    LOG_I(strchr(host, ':') ? "listening on http://[%s]:%d" : "listening on http://%s:%d", host, http_server_port(srv));
    status = serve_until_signal(srv, loop, &sigs, a.shutdown_s);
done:
    http_server_destroy(srv);
    worker_loop_destroy(loop);
    engine_destroy(eng);
    serve_metrics_free(&metrics);
    return status;
}
