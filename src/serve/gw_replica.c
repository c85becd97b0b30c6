// gw_replica.c — the gateway's replicas: local `rightsize worker` processes it starts, health-
// checks and restarts with exponential backoff; remote endpoints it only accounts for; the replica
// choice (policy/dispatch); and the autoscaler's decisions applied to local tiers.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "policy/dispatch.h"
#include "serve/gw_int.h"
#include "serve/gw_keys.h"

#define BACKOFF_MIN_US 250000
#define BACKOFF_MAX_US 10000000
#define HEALTH_STARTING_US 100000
#define HEALTH_READY_US 1000000

const char *gw_replica_state_name(ReplicaState s) {
    static const char *const names[REP_STATES] = {
        [REP_STARTING] = "starting", [REP_READY] = "ready", [REP_BACKOFF] = "backoff",
        [REP_DRAINING] = "draining", [REP_STOPPED] = "stopped", [REP_WARM] = "warm",
    };
    return (unsigned)s < REP_STATES ? names[s] : "?";
}

static void set_state(Replica *r, ReplicaState s, int64_t now_us) {
    r->state = s;
    r->t_state_us = now_us;
}

// A free loopback port (the kernel picks it; a tiny race with other binders is accepted).
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int spawn_worker(Gateway *g, Replica *r, int64_t now_us) {
    const PipeTier *t = &g->p.tiers[r->tier];
    r->port = free_port();
    if (r->port < 0) {
        snprintf(r->why, sizeof r->why, "worker %d could not start: no free loopback port", r->slot);
        return ERR_IO;
    }
    snprintf(r->base_url, sizeof r->base_url, "http://127.0.0.1:%d/v1", r->port);
    char listen[32], seqs[24], btok[24], thr[16], queued[24];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", r->port);
    snprintf(seqs, sizeof seqs, "%lld", (long long)t->max_num_seqs);
    snprintf(btok, sizeof btok, "%lld", (long long)t->max_num_batched_tokens);
    snprintf(thr, sizeof thr, "%d", t->threads);
    snprintf(queued, sizeof queued, "%lld", (long long)(t->max_concurrency * 2 + 16));
    char mlen[24], kvb[24];
    snprintf(mlen, sizeof mlen, "%lld", (long long)t->max_model_len);
    snprintf(kvb, sizeof kvb, "%lld", (long long)t->kv_blocks);
    char *argv[] = {g->worker_exe, "worker", "-m", (char *)t->model_path, "--listen", listen,
                    "--served-model-name", (char *)t->name, "--max-num-seqs", seqs, "--max-num-batched-tokens", btok,
                    "-t", thr, "--max-num-queued-reqs", queued, "--shutdown-timeout", "30", NULL, NULL, NULL, NULL,
                    NULL, NULL, NULL};
    int na = 18;
    if (t->chat_template[0]) {
        argv[na++] = "--chat-template";
        argv[na++] = (char *)t->chat_template;
    }
    if (t->max_model_len > 0) {   // the simulated scheduler's knobs (plan --emit writes them)
        argv[na++] = "--max-model-len";
        argv[na++] = mlen;
    }
    if (t->kv_blocks > 0) {
        argv[na++] = "--kv-blocks";
        argv[na++] = kvb;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->why, sizeof r->why, "worker %d could not start: fork: %s", r->slot, strerror(errno));
        return ERR_IO;
    }
    if (pid == 0) {
        // A worker never outlives its gateway, even one killed with SIGKILL.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) dup2(devnull, 0), dup2(devnull, 1);
        if (g->o.worker_log_fd >= 0) dup2(g->o.worker_log_fd, 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(g->worker_exe, argv);
        _exit(127);
    }
    r->pid = pid;
    r->term_sent = false;
    r->next_health_us = now_us + HEALTH_STARTING_US;
    set_state(r, REP_STARTING, now_us);
    LOG_I("tier %s: started worker %d (pid %d) on port %d", t->name, r->slot, (int)pid, r->port);
    return 0;
}

// Starts charging a replica: reserved while fewer than the tier's reserved replicas are open,
// else at the burst price (pipeline_tier_price; the simulator bills the same way).
static void charge_replica(Gateway *g, int tier, Replica *r, int64_t now_us) {
    const PipeTier *t = &g->p.tiers[tier];
    int up = 0;
    for (int k = 0; k < g->tiers[tier].n_reps; k++)
        up += &g->tiers[tier].reps[k] != r && g->tiers[tier].reps[k].led.open &&
              t->reserved_replicas > 0 && g->tiers[tier].reps[k].led.kind == t->reserved_kind;
    double usd;
    int kind = pipeline_tier_price(t, up, &usd);
    ledger_open(&g->ledger, &r->led, kind, usd, now_us);
    // r->share is not reset: calls of the slot's previous life may still end (each leaves what it
    // entered), and a clock with nothing in flight accrues nothing.
}

static void open_replica(Gateway *g, int tier, int64_t now_us, bool warm) {
    TierState *ts = &g->tiers[tier];
    const PipeTier *t = &g->p.tiers[tier];
    CHECK(ts->n_reps < PIPE_MAX_REPLICAS);
    Replica *r = &ts->reps[ts->n_reps];
    memset(r, 0, sizeof *r);
    r->last_exit = -1;
    r->warm = warm;
    r->kind = CALL_HEALTH;
    r->tier = tier;
    r->slot = ts->n_reps++;
    charge_replica(g, tier, r, now_us);
    if (t->local) {
        if (spawn_worker(g, r, now_us)) {
            r->restart_at_us = now_us + BACKOFF_MIN_US;
            r->backoff_us = BACKOFF_MIN_US;
            set_state(r, REP_BACKOFF, now_us);
        }
    } else {
        size_t ul = strlen(t->url) < sizeof r->base_url - 1 ? strlen(t->url) : sizeof r->base_url - 1;
        memcpy(r->base_url, t->url, ul);
        r->base_url[ul] = 0;
        set_state(r, REP_READY, now_us);
    }
}

int gw_replicas_start(Gateway *g, char *err, size_t err_len) {
    (void)err, (void)err_len;
    int64_t now = clock_now_us();
    for (int i = 0; i < g->p.n_tiers; i++) {
        const PipeTier *t = &g->p.tiers[i];
        int n = autoscale_initial(&t->autoscale, clock_wall_us());   // the simulator's rule too
        for (int k = 0; k < n; k++) open_replica(g, i, now, false);
        g->tiers[i].desired = n;
        if (t->local && t->autoscaled)
            for (int k = 0; k < t->autoscale.warm_pool && g->tiers[i].n_reps < PIPE_MAX_REPLICAS; k++)
                open_replica(g, i, now, true);
        autoscale_init(&g->tiers[i].as);
    }
    return 0;
}

int gw_tier_active(Gateway *g, int tier) {
    TierState *ts = &g->tiers[tier];
    int n = 0;
    for (int i = 0; i < ts->n_reps; i++)
        n += !ts->reps[i].warm && ts->reps[i].state != REP_DRAINING && ts->reps[i].state != REP_STOPPED;
    return n;
}

Replica *gw_replica_pick(Gateway *g, int tier) {
    TierState *ts = &g->tiers[tier];
    DispatchSlot slots[PIPE_MAX_REPLICAS];
    for (int i = 0; i < ts->n_reps; i++)
        slots[i] = (DispatchSlot){.ready = ts->reps[i].state == REP_READY, .load = ts->reps[i].n_inflight,
                                  .cap = g->p.tiers[tier].max_concurrency};
    int i = dispatch_pick(slots, ts->n_reps);
    return i >= 0 ? &ts->reps[i] : NULL;
}

// ---- calls in flight (the drain waits for none); cost is charged per call by the ledger's rule ----

int gw_replica_call_start(Gateway *g, Replica *r, GwCall *c, int64_t now_us) {
    ledger_advance(&g->ledger, &r->led, now_us);
    if (r->n_inflight == r->cap_inflight) {
        int64_t cap = r->cap_inflight ? r->cap_inflight * 2 : 16;
        GwCall **p = realloc(r->inflight, (size_t)cap * sizeof *p);
        if (!p) return ERR_NOMEM;
        r->inflight = p;
        r->cap_inflight = cap;
    }
    r->inflight[r->n_inflight++] = c;
    c->share_mark = ledger_share_enter(&r->share, now_us);
    return 0;
}

void gw_replica_call_end(Gateway *g, Replica *r, GwCall *c, int64_t now_us) {
    ledger_advance(&g->ledger, &r->led, now_us);
    for (int64_t i = 0; i < r->n_inflight; i++)
        if (r->inflight[i] == c) {
            r->inflight[i] = r->inflight[--r->n_inflight];
            c->share_ns = ledger_share_leave(&r->share, c->share_mark, now_us);
            break;
        }
}

// ---- health and restarts ----

static size_t discard(char *p, size_t s, size_t n, void *u) {
    (void)p, (void)u;
    return s * n;
}

static void health_free(Gateway *g, Replica *r) {
    if (r->health) {
        curl_multi_remove_handle(g->multi, r->health);
        curl_easy_cleanup(r->health);
        r->health = NULL;
    }
    curl_slist_free_all(r->health_hdrs);
    r->health_hdrs = NULL;
}

// A local worker's /health, or a remote endpoint's /models sent with the tier's credentials and
// headers, as its calls are: any HTTP answer means reachable, and 401/403 means the endpoint
// refuses the credentials (the tier is not ready: every call would fail the same way).
static void probe(Gateway *g, Replica *r) {
    char url[600];
    bool local = g->p.tiers[r->tier].local;
    if (local) snprintf(url, sizeof url, "http://127.0.0.1:%d/health", r->port);
    else snprintf(url, sizeof url, "%s/models", r->base_url);
    r->health = curl_easy_init();
    if (!r->health) return;
    if (!local) {
        r->health_hdrs = gw_keys_upstream_headers(g, r->tier, curl_slist_append(NULL, "Accept: application/json"));
        curl_easy_setopt(r->health, CURLOPT_HTTPHEADER, r->health_hdrs);
    }
    curl_easy_setopt(r->health, CURLOPT_URL, url);
    curl_easy_setopt(r->health, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(r->health, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(r->health, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->health, CURLOPT_PRIVATE, (char *)r);
    gw_io_easy(g, r->health);
    curl_multi_add_handle(g->multi, r->health);
}

// The health probe of some replica finished.
void gw_health_done(Gateway *g, CURL *easy, CURLcode rc) {
    Replica *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    CHECK(easy == r->health);
    health_free(g, r);
    int64_t now = clock_now_us();
    if (!g->p.tiers[r->tier].local) {
        bool was = r->unreachable, was_refused = r->refused;
        r->unreachable = rc != CURLE_OK;
        r->refused = rc == CURLE_OK && (code == 401 || code == 403);
        const PipeTier *t = &g->p.tiers[r->tier];
        if (r->unreachable) snprintf(r->why, sizeof r->why, "%.100s/models: %s", r->base_url, curl_easy_strerror(rc));
        if (r->refused)
            snprintf(r->why, sizeof r->why, "GET /models answered %ld: the endpoint refuses %s", code,
                     t->api_key_env[0]    ? "the key in api_key_env"
                     : t->api_key_file[0] ? "the key in api_key_file"
                                          : "calls without credentials (no api_key_env or api_key_file)");
        if (r->unreachable != was)
            LOG_W("tier %s: endpoint %s %s", t->name, r->base_url, r->unreachable ? "does not answer" : "answers again");
        if (r->refused != was_refused)
            LOG_W("tier %s: %s", t->name, r->refused ? r->why : "the endpoint accepts the tier's credentials again");
    }
    if (rc == CURLE_OK && code == 200 && r->state == REP_STARTING) {
        set_state(r, r->warm ? REP_WARM : REP_READY, now);
        r->ready_since_us = now;
        LOG_I("tier %s: worker %d ready (pid %d)", g->p.tiers[r->tier].name, r->slot, (int)r->pid);
        gw_dispatch(g, r->tier, now);
    }
    r->next_health_us = now + (r->state == REP_READY || r->state == REP_WARM ? HEALTH_READY_US : HEALTH_STARTING_US);
}

// A call could not reach the replica: look at the process now rather than at the next tick.
// A local replica goes back to STARTING: no new calls until a health probe succeeds (or the
// reaper sees the process gone and restarts it).
void gw_replica_failed(Gateway *g, Replica *r, int64_t now_us) {
    if (g->p.tiers[r->tier].local && r->state == REP_READY) {
        set_state(r, REP_STARTING, now_us);
        r->next_health_us = now_us + HEALTH_STARTING_US;
    }
}

static void reap(Gateway *g, Replica *r, int64_t now_us) {
    if (r->pid <= 0) return;
    int status;
    pid_t w = waitpid(r->pid, &status, WNOHANG);
    if (w != r->pid) return;
    r->pid = 0;
    health_free(g, r);
    if (r->state == REP_DRAINING || r->state == REP_STOPPED) {
        set_state(r, REP_STOPPED, now_us);
        return;
    }
    // Backoff doubles on each crash and resets after a minute of good health.
    if (r->ready_since_us && now_us - r->ready_since_us > 60000000) r->backoff_us = 0;
    r->backoff_us = r->backoff_us ? r->backoff_us * 2 : BACKOFF_MIN_US;
    if (r->backoff_us > BACKOFF_MAX_US) r->backoff_us = BACKOFF_MAX_US;
    r->restart_at_us = now_us + r->backoff_us;
    r->restarts++;
    r->ready_since_us = 0;
    r->last_exit = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    if (WIFSIGNALED(status)) snprintf(r->why, sizeof r->why, "worker %d was killed by signal %d", r->slot, WTERMSIG(status));
    else if (WEXITSTATUS(status) == 127) snprintf(r->why, sizeof r->why, "worker %d could not run %.100s (status 127)", r->slot, g->worker_exe);
    else snprintf(r->why, sizeof r->why, "worker %d exited with status %d", r->slot, WEXITSTATUS(status));
    metric_inc(g->m.restarts, g->p.tiers[r->tier].name, 1);
    metric_set(g->m.last_exit, g->p.tiers[r->tier].name, r->last_exit);
    LOG_W("tier %s: worker %d exited (%s %d); restarting in %.2f s", g->p.tiers[r->tier].name, r->slot,
          WIFSIGNALED(status) ? "signal" : "status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
          (double)r->backoff_us / 1e6);
    set_state(r, REP_BACKOFF, now_us);
}

void gw_replicas_tick(Gateway *g, int64_t now_us) {
    for (int i = 0; i < g->p.n_tiers; i++) {
        TierState *ts = &g->tiers[i];
        int count[REP_STATES] = {0};
        for (int k = 0; k < ts->n_reps; k++) {
            Replica *r = &ts->reps[k];
            reap(g, r, now_us);
            if (r->state == REP_BACKOFF && now_us >= r->restart_at_us) {
                if (spawn_worker(g, r, now_us)) r->restart_at_us = now_us + BACKOFF_MAX_US;
            }
            if ((r->pid > 0 || !g->p.tiers[i].local) && !r->health && now_us >= r->next_health_us &&
                (r->state == REP_STARTING || r->state == REP_READY || r->state == REP_WARM))
                probe(g, r);
            if (r->state == REP_DRAINING && r->n_inflight == 0) {
                if (r->pid > 0 && !r->term_sent) kill(r->pid, SIGTERM), r->term_sent = true;
                else if (r->pid <= 0) set_state(r, REP_STOPPED, now_us);
                if (r->led.open) gw_replica_close_ledger(g, r, now_us);
            }
            if (r->led.open) ledger_advance(&g->ledger, &r->led, now_us);
            count[r->state]++;
        }
        int64_t running = 0;
        for (int k = 0; k < ts->n_reps; k++) running += ts->reps[k].n_inflight;
        metric_set(g->m.waiting, g->p.tiers[i].name, (double)(ts->n + (ts->batcher ? batcher_len(ts->batcher) : 0)));
        metric_set(g->m.running, g->p.tiers[i].name, (double)running);
        metric_set(g->m.tier_ready, g->p.tiers[i].name, gw_tier_ready(g, i, now_us, NULL, 0));
        for (int s = 0; s < REP_STATES; s++) {
            char lab[80];
            snprintf(lab, sizeof lab, "%s|%s", g->p.tiers[i].name, gw_replica_state_name((ReplicaState)s));
            metric_set(g->m.replicas, lab, count[s]);
        }
    }
}

// Starts a replica in a stopped slot, or in a new one; false when the tier has no room.
static bool start_slot(Gateway *g, int tier, int64_t now_us, bool warm) {
    TierState *ts = &g->tiers[tier];
    for (int k = 0; k < ts->n_reps; k++) {
        Replica *r = &ts->reps[k];
        if (r->state != REP_STOPPED || r->pid != 0) continue;
        g->closed_nusd += r->led.charged_nusd;
        charge_replica(g, tier, r, now_us);
        r->warm = warm;
        r->backoff_us = 0;
        if (spawn_worker(g, r, now_us)) {
            r->restart_at_us = now_us + BACKOFF_MIN_US;
            set_state(r, REP_BACKOFF, now_us);
        }
        return true;
    }
    if (ts->n_reps >= PIPE_MAX_REPLICAS) return false;
    open_replica(g, tier, now_us, warm);
    return true;
}

// Applies the queue-aware autoscaler: local tiers start or drain workers; remote tiers only
// export the desired count (for KEDA/HPA).
void gw_autoscale(Gateway *g, int64_t now_us, int64_t utc_us) {
    for (int i = 0; i < g->p.n_tiers; i++) {
        TierState *ts = &g->tiers[i];
        const PipeTier *t = &g->p.tiers[i];
        int64_t running = 0;
        for (int k = 0; k < ts->n_reps; k++) running += ts->reps[k].n_inflight;
        int64_t waiting = ts->n + (ts->batcher ? batcher_len(ts->batcher) : 0);
        int cur = gw_tier_active(g, i), want;
        if (!t->autoscaled) {   // a fixed count (a reload may change it: local workers start or drain)
            want = t->local ? (t->min_replicas > 0 ? t->min_replicas : 1) : cur;
        } else {
            AutoscaleConfig c = t->autoscale;   // min/max are the tier's replicas
            want = autoscale_eval(&ts->as, &c, utc_us, cur, waiting, running);
        }
        ts->desired = want;
        metric_set(g->m.desired, t->name, want);
        if (!t->local) continue;
        if (want > cur) {
            // Promote warm replicas first (they start serving at once), then reuse stopped slots,
            // then open new ones; finally top the warm pool up again.
            for (int k = 0; k < ts->n_reps && cur < want; k++)
                if (ts->reps[k].warm && ts->reps[k].state != REP_DRAINING && ts->reps[k].state != REP_STOPPED) {
                    ts->reps[k].warm = false;
                    if (ts->reps[k].state == REP_WARM) set_state(&ts->reps[k], REP_READY, now_us);
                    cur++;
                }
            while (cur < want && start_slot(g, i, now_us, false)) cur++;
            LOG_I("tier %s: scaled up to %d replicas (waiting %lld, running %lld)", t->name, want,
                  (long long)waiting, (long long)running);
            int warm = 0;
            for (int k = 0; k < ts->n_reps; k++)
                warm += ts->reps[k].warm && ts->reps[k].state != REP_DRAINING && ts->reps[k].state != REP_STOPPED;
            while (warm < t->autoscale.warm_pool && start_slot(g, i, now_us, true)) warm++;
        } else if (want < cur) {
            for (int k = ts->n_reps - 1; k >= 0 && cur > want; k--) {
                Replica *r = &ts->reps[k];
                if (r->warm || r->state == REP_DRAINING || r->state == REP_STOPPED) continue;
                set_state(r, REP_DRAINING, now_us);
                cur--;
            }
            LOG_I("tier %s: scaling down to %d replicas", t->name, want);
        }
    }
}

void gw_replicas_stop(Gateway *g) {
    int64_t now = clock_now_us();
    for (int i = 0; i < g->p.n_tiers; i++)
        for (int k = 0; k < g->tiers[i].n_reps; k++) {
            Replica *r = &g->tiers[i].reps[k];
            health_free(g, r);
            if (r->pid > 0) kill(r->pid, SIGTERM);
        }
    // Give workers up to 5 s to drain, then kill what is left.
    for (int i = 0; i < g->p.n_tiers; i++)
        for (int k = 0; k < g->tiers[i].n_reps; k++) {
            Replica *r = &g->tiers[i].reps[k];
            for (int w = 0; r->pid > 0 && w < 500; w++) {
                if (waitpid(r->pid, NULL, WNOHANG) == r->pid) r->pid = 0;
                else clock_sleep_us(10000);
            }
            if (r->pid > 0) {
                kill(r->pid, SIGKILL);
                waitpid(r->pid, NULL, 0);
                r->pid = 0;
            }
            if (r->led.open) gw_replica_close_ledger(g, r, now);
            free(r->inflight);
            r->inflight = NULL;
        }
}

// ---- readiness ----

bool gw_tier_ready(const Gateway *g, int tier, int64_t now_us, char *why, size_t cap) {
    const TierState *ts = &g->tiers[tier];
    bool local = g->p.tiers[tier].local;
    int count[REP_STATES] = {0};
    const Replica *failed = NULL;
    for (int k = 0; k < ts->n_reps; k++) {
        const Replica *r = &ts->reps[k];
        bool down = !local && (r->unreachable || r->refused);
        if (r->state == REP_READY && !r->warm && !down) return true;
        count[r->state]++;
        if (r->why[0] && (local || down) && (!failed || r->t_state_us > failed->t_state_us)) failed = r;
    }
    if (!why || !cap) return false;
    if (failed && failed->state == REP_BACKOFF)
        snprintf(why, cap, "%s; %lld restarts, next try in %.1f s", failed->why, (long long)failed->restarts,
                 (double)(failed->restart_at_us > now_us ? failed->restart_at_us - now_us : 0) / 1e6);
    else if (failed && !local && failed->refused)
        snprintf(why, cap, "%s", failed->why);
    else if (failed && !local)
        snprintf(why, cap, "the endpoint does not answer (%s)", failed->why);
    else if (failed)
        snprintf(why, cap, "no replica is ready (%d starting, %d restarting); last failure: %s", count[REP_STARTING],
                 count[REP_BACKOFF], failed->why);
    else
        snprintf(why, cap, "no replica is ready (%d starting, %d warm, %d draining, %d stopped)", count[REP_STARTING],
                 count[REP_WARM], count[REP_DRAINING], count[REP_STOPPED]);
    return false;
}

// The tiers a route needs: its tier (a cascade's first and then) and an active canary's candidate.
static int route_tiers(const Gateway *g, int i, int *out) {
    const RouteRule *rt = &g->p.routes[i];
    int n = 0;
    out[n++] = rt->kind == ROUTE_CASCADE ? rt->first : rt->tier;
    if (rt->kind == ROUTE_CASCADE) out[n++] = rt->then;
    int k = rt->canary;
    if (k >= 0 && g->canaries[k].weight_percent > 0 && !g->canaries[k].rolled_back) out[n++] = g->candidate_of[k];
    return n;
}

int gw_health_ready(const Gateway *g, int64_t now_us, Buf *out) {
    bool ok = true, tier_ok[PIPE_MAX_TIERS];
    char why[PIPE_MAX_TIERS][300];
    for (int t = 0; t < g->p.n_tiers; t++) tier_ok[t] = gw_tier_ready(g, t, now_us, why[t], sizeof why[t]);
    buf_append_str(out, "{\"routes\":[");
    for (int i = 0; i < g->p.n_routes; i++) {
        int tiers[3], n = route_tiers(g, i, tiers);
        bool ready = true;
        for (int j = 0; j < n; j++) ready &= tier_ok[tiers[j]];
        ok &= ready;
        buf_printf(out, "%s{\"route\":", i ? "," : "");
        gw_body_put_string(out, g->p.routes[i].name);
        buf_printf(out, ",\"ready\":%s", ready ? "true" : "false");
        if (!ready) {
            buf_append_str(out, ",\"not_ready\":[");
            for (int j = 0, m = 0; j < n; j++) {
                if (tier_ok[tiers[j]]) continue;
                buf_printf(out, "%s{\"tier\":", m++ ? "," : "");
                gw_body_put_string(out, g->p.tiers[tiers[j]].name);
                buf_append_str(out, ",\"reason\":");
                gw_body_put_string(out, why[tiers[j]]);
                buf_append_str(out, "}");
            }
            buf_append_str(out, "]");
        }
        buf_append_str(out, "}");
    }
    buf_append_str(out, "],\"tiers\":[");
    for (int t = 0; t < g->p.n_tiers; t++) {
        const TierState *ts = &g->tiers[t];
        int count[REP_STATES] = {0};
        for (int k = 0; k < ts->n_reps; k++) count[ts->reps[k].state]++;
        buf_printf(out, "%s{\"tier\":", t ? "," : "");
        gw_body_put_string(out, g->p.tiers[t].name);
        buf_printf(out, ",\"ready\":%s,\"replicas\":{", tier_ok[t] ? "true" : "false");
        for (int s = 0; s < REP_STATES; s++)
            buf_printf(out, "%s\"%s\":%d", s ? "," : "", gw_replica_state_name((ReplicaState)s), count[s]);
        buf_append_str(out, "}");
        if (!tier_ok[t]) {
            buf_append_str(out, ",\"reason\":");
            gw_body_put_string(out, why[t]);
        }
        buf_append_str(out, "}");
    }
    buf_printf(out, "],\"status\":\"%s\"}", ok ? "ready" : "not_ready");
    return ok ? 200 : 503;
}
