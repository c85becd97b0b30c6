// http_server.h — the worker's HTTP front: libmicrohttpd (threads polling with epoll, connections
// suspended while they wait for the engine) mapping OpenAI's API onto a generation backend.
//
// Endpoints: POST /v1/completions, POST /v1/chat/completions, POST /v1/embeddings (embed_service.h),
// GET /v1/models, GET /health,
// GET /metrics. HTTP threads never wait on the engine: a request is parsed, tokenized and handed
// to the backend, then its connection is suspended; the engine thread resumes it whenever the
// job publishes output (GenJob.notify). A client that goes away cancels its job at once: MHD
// reports a closed connection it is serving, and a watcher thread checks the sockets of
// suspended ones (queued or waiting for an unstreamed answer) every 50 ms; a client that only
// half-closed its sending side still gets its answer. Connection deadlines, the connection cap
// (from RLIMIT_NOFILE) and the budget of buffered request bodies are conn_guard.h's.
#ifndef RS_HTTP_SERVER_H
#define RS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/gen_job.h"
#include "serve/openai_req.h"
#include "serve/serve_metrics.h"

// What the server needs from whatever generates text (the engine loop; a fake in unit tests).
typedef struct {
    void *self;
    // Renders (chat) and tokenizes the request's prompt. On success *tokens is malloc'ed and owned
    // by the caller. Returns 0, or -1 with *err filled (e.g. an unknown chat template, bad ids).
    int (*prepare)(void *self, const OaiRequest *req, int32_t **tokens, int64_t *n_tokens, OaiError *err);
    // Queues the job (the backend takes its own reference). Returns 0, or ERR_FULL when the
    // waiting queue is at its limit (the server answers 429).
    int (*submit)(void *self, GenJob *job);
    // Called after a job was cancelled, so the engine frees its sequence without waiting.
    void (*wake)(void *self);
    int64_t n_ctx;          // context window in tokens
} GenBackend;

typedef struct {
    const char *host;       // "127.0.0.1", "::1" or "localhost" (see listen_addr.h)
    int port;               // 0 picks a free port (see http_server_port)
    const char *model_name; // served name, reported by /v1/models and checked against "model"
    const char *api_key;    // NULL or "": no auth; else /v1/* need "Authorization: Bearer KEY"
    size_t max_body_bytes;  // larger bodies get 413
    int n_threads;          // HTTP threads (>= 1)
    int retry_after_s;      // Retry-After on 429
    // An embedding worker: POST /v1/embeddings is answered by this service and the generation
    // endpoints get a 400 that says so (backend is then NULL). NULL for a generation worker, whose
    // /v1/embeddings gets the converse 400. Borrowed; must outlive the server.
    struct EmbedService *embed;
    // Connection defences (conn_guard.h); 0 picks the default in brackets.
    int header_timeout_s;           // accept / previous answer → complete request header [10]
    int body_timeout_s;             // complete header → complete body [30]
    int idle_timeout_s;             // keep-alive: previous answer → next complete header [120]
    size_t max_buffered_body_bytes; // request bodies buffered at once, all connections [64 MiB]
} HttpServerConfig;

typedef struct HttpServer HttpServer;

// Binds and starts serving. metrics may be NULL. Returns NULL with a message in err on failure.
HttpServer *http_server_create(const HttpServerConfig *cfg, GenBackend *backend, ServeMetrics *metrics,
                               char *err, size_t err_len);
// The port actually bound.
int http_server_port(const HttpServer *s);
// While draining, new generation requests get 503 and /health says "draining" (503).
void http_server_set_draining(HttpServer *s, bool draining);
// Requests that hold a generation job (submitted and not yet answered in full).
int64_t http_server_in_flight(HttpServer *s);
// Resumes every suspended connection and stops the daemon. Jobs still running must have been
// finished (GEN_ABORT) by the backend first so their clients get an answer. NULL is a no-op.
void http_server_destroy(HttpServer *s);

#endif
