// gateway.h — `rightsize serve`: the OpenAI-compatible pipeline gateway.
//
// One thread (the caller of gateway_run) runs one event loop over libmicrohttpd's epoll fd (client
// connections, in external-select mode) and libcurl multi's sockets (backends): routing, tier
// queues, the worker supervisor, the ledger, canaries and telemetry all live on it, so a request
// never changes threads between the client and the backend. Admin status snapshots are guarded
// by a mutex so that future readers on other threads stay safe.
#ifndef RS_GATEWAY_H
#define RS_GATEWAY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/pipeline.h"

typedef struct {
    const char *config_path;      // for SIGHUP reloads (NULL: no reload)
    const char *worker_exe;       // the rightsize binary that runs local tiers' workers
    const char *admin_key;        // overrides the config's admin_key when non-NULL
    const char *telemetry_path;   // "-" or NULL: stdout
    int64_t telemetry_max_bytes;  // rotate size
    uint64_t seed;                // canary split and shadow sampling
    int64_t shutdown_timeout_us;  // drain limit on SIGTERM
    int worker_log_fd;            // stderr for workers (-1: inherit)
    bool listen_from_cli;         // --listen overrode the file's address (a reload ignores the file's)
} GatewayOptions;

typedef struct Gateway Gateway;

// Starts the front door and the local workers (it does not wait for them to be ready).
// NULL with a one-line message in err.
Gateway *gateway_create(const Pipeline *p, const GatewayOptions *o, char *err, size_t err_len);
int gateway_port(const Gateway *g);
// Runs the loop until drained: *stop (set by SIGTERM/SIGINT) starts a drain; *reload (SIGHUP)
// re-reads the config. Returns 0 after a clean drain.
int gateway_run(Gateway *g, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);
// Stops workers and the front door and frees everything. NULL is a no-op.
void gateway_destroy(Gateway *g);

#endif
