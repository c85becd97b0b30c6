#include "serve/worker_loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/clock.h"
#include "policy/ledger.h"
#include "base/log.h"
#include "base/rng.h"
#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"

// A job the scheduler knows about (engine-thread only).
typedef struct {
    GenJob *job;          // NULL: slot free
    int32_t *tokens;      // (n_prompt + max_tokens) prompt ids, then generated ids
    int64_t n_tokens;
    Rng rng;
    bool scheduled;       // queue time observed
    int64_t t_last_token_us;
} Live;

struct WorkerLoop {
    Engine *eng;
    const EngineInfo *info;
    const Tokenizer *tok;
    Sched *sched;
    ServeMetrics *m;
    GenBackend backend;
    ChatPrompt chat;  // how chat messages become the prompt (the model's template, or a family)

    // ---- shared with HTTP threads (under mu) ----
    pthread_mutex_t mu;
    pthread_cond_t cv;
    GenJob **inbox;            // (max_num_queued_reqs) jobs submitted, not yet given to sched
    GenJob **taken;            // (max_num_queued_reqs) the engine thread's copy of the inbox
    int64_t n_inbox;
    bool stop, abort_all;
    atomic_int_fast64_t n_live;         // inbox + admitted, not finished
    atomic_int_fast64_t n_sched_waiting;

    // ---- engine thread only ----
    Live *live;                // (n_slots) admitted jobs
    int64_t n_slots;
    EngineRow *rows;           // (max_num_batched_tokens)
    float *logits;             // (max_num_seqs, n_vocab)
    Live **row_live;           // (max_num_seqs) the Live of each SchedRow
    bool *stops;               // (max_num_seqs)
    int64_t *row_w, *row_ns;   // (max_num_seqs) each row's tokens and busy share of a step
    SamplerWork sw;
    char *piece;               // (piece_cap) one token's text
    char *alt_text;            // (SAMPLER_MAX_TOP, piece_cap) alternatives' text
    size_t piece_cap;
    SchedCounters last_counters;
    pthread_t thread;
    bool thread_started;
};

// ---- finishing and bookkeeping ----

static Live *live_find(WorkerLoop *w, uint64_t id) {
    for (int64_t i = 0; i < w->n_slots; i++)
        if (w->live[i].job && w->live[i].job->id == id) return &w->live[i];
    return NULL;
}

static void live_release(WorkerLoop *w, Live *L) {
    gen_job_unref(L->job);
    free(L->tokens);
    *L = (Live){0};
    atomic_fetch_sub(&w->n_live, 1);
}

// Ends a job that never reached the scheduler (or was refused by it).
static void refuse(WorkerLoop *w, GenJob *j, GenFinish why, const OaiError *e) {
    gen_job_finish(j, why, e, clock_now_us());
    gen_job_unref(j);
    atomic_fetch_sub(&w->n_live, 1);
}

static void update_gauges(WorkerLoop *w) {
    int64_t waiting = sched_n_waiting(w->sched);
    atomic_store(&w->n_sched_waiting, waiting);
    if (!w->m) return;
    pthread_mutex_lock(&w->mu);
    int64_t in_box = w->n_inbox;
    pthread_mutex_unlock(&w->mu);
    metric_set(w->m->running, NULL, (double)sched_n_running(w->sched));
    metric_set(w->m->waiting, NULL, (double)(waiting + in_box));
    metric_set(w->m->kv_usage, NULL, sched_kv_usage(w->sched));
    const SchedCounters *c = sched_counters(w->sched);
    metric_inc(w->m->prompt_tokens, NULL, (double)(c->prompt_tokens - w->last_counters.prompt_tokens));
    metric_inc(w->m->prefix_queries, NULL, (double)(c->prefix_queries - w->last_counters.prefix_queries));
    metric_inc(w->m->prefix_hits, NULL, (double)(c->prefix_hits - w->last_counters.prefix_hits));
    metric_inc(w->m->gen_tokens, NULL, (double)(c->generation_tokens - w->last_counters.generation_tokens));
    metric_inc(w->m->preemptions, NULL, (double)(c->preemptions - w->last_counters.preemptions));
    w->last_counters = *c;
}

// ---- admission and cancellation ----

static void admit(WorkerLoop *w, GenJob *j) {
    OaiError e;
    if (gen_job_cancelled(j)) {
        refuse(w, j, GEN_ABORT, NULL);
        return;
    }
    int rc = sched_add(w->sched, j->id, j->n_prompt, j->params.max_tokens, (int32_t)j->priority, j->t_arrival_us);
    if (rc == ERR_FULL) {
        oai_err(&e, 429, "rate_limit_error", NULL, "queue_full", "the server's waiting queue is full; retry later");
        if (w->m) metric_inc(w->m->rejected, "queue_full", 1);
        refuse(w, j, GEN_ERROR, &e);
        return;
    }
    if (rc != 0) {
        oai_err(&e, 400, "invalid_request_error", "max_tokens", "context_length_exceeded",
                "prompt (%lld tokens) plus max_tokens (%lld) exceeds what this worker can hold (%lld tokens)",
                (long long)j->n_prompt, (long long)j->params.max_tokens,
                (long long)sched_max_request_tokens(w->sched));
        refuse(w, j, GEN_ERROR, &e);
        return;
    }
    Live *L = NULL;
    for (int64_t i = 0; i < w->n_slots && !L; i++)
        if (!w->live[i].job) L = &w->live[i];
    CHECK(L);  // slots = max_num_seqs + max_num_queued_reqs bound what sched_add accepts
    L->tokens = malloc((size_t)(j->n_prompt + j->params.max_tokens) * sizeof *L->tokens);
    if (!L->tokens) {
        sched_abort(w->sched, j->id, clock_now_us(), NULL);
        oai_err(&e, 500, "server_error", NULL, NULL, "out of memory");
        refuse(w, j, GEN_ERROR, &e);
        return;
    }
    memcpy(L->tokens, j->prompt, (size_t)j->n_prompt * sizeof *L->tokens);
    L->n_tokens = j->n_prompt;
    L->job = j;
    rng_seed(&L->rng, j->params.seed);
}

// Aborts live jobs whose client left (or all of them): their KV is freed before the next step.
static void reap(WorkerLoop *w, bool all) {
    for (int64_t i = 0; i < w->n_slots; i++) {
        Live *L = &w->live[i];
        if (!L->job || !(all || gen_job_cancelled(L->job))) continue;
        ReqInfo info;
        int64_t now = clock_now_us();
        if (sched_abort(w->sched, L->job->id, now, &info) == 0 && info.seq_slot >= 0)
            engine_seq_free(w->eng, info.seq_slot);
        gen_job_finish(L->job, GEN_ABORT, NULL, now);
        live_release(w, L);
    }
}

// ---- one engine step ----

// Samples the token of one logits row and hands it to its job. Returns true when the job ended.
static bool emit_token(WorkerLoop *w, Live *L, const float *logits, int64_t now_us) {
    GenJob *j = L->job;
    const GenParams *p = &j->params;
    SamplerParams sp = sampler_params_default();
    sp.temperature = p->temperature;
    sp.top_k = p->top_k;
    sp.top_p = p->top_p > 0 ? p->top_p : 1;
    sp.min_p = p->min_p;
    int n_top = p->logprobs ? p->n_top : 0;
    SampleResult res;
    if (sampler_sample(&sp, logits, w->info->n_vocab, NULL, 0, n_top, &L->rng, &w->sw, &res) != 0) {
        OaiError e;
        oai_err(&e, 500, "server_error", NULL, NULL, "sampling failed (all logits masked)");
        gen_job_finish(j, GEN_ERROR, &e, now_us);
        return true;
    }
    GenAlt alt[SAMPLER_MAX_TOP];
    for (int k = 0; k < res.n_top; k++) {
        char *t = w->alt_text + (size_t)k * w->piece_cap;
        int64_t n = tok_token_to_piece(w->tok, res.top[k].id, false, t, w->piece_cap);
        alt[k] = (GenAlt){res.top[k].id, res.top[k].logprob, t, (size_t)(n < (int64_t)w->piece_cap ? n : 0)};
    }
    L->tokens[L->n_tokens++] = res.token;
    if (w->m) {
        if (L->t_last_token_us) metric_observe(w->m->itl, NULL, (double)(now_us - L->t_last_token_us) / 1e6);
        else metric_observe(w->m->ttft, NULL, (double)(now_us - j->t_arrival_us) / 1e6);
    }
    L->t_last_token_us = now_us;
    if (!p->ignore_eos && tok_is_eog(w->tok, res.token)) return gen_job_push_eog(j, res.token, res.logprob, alt, res.n_top, now_us) != 0;
    int64_t n = tok_token_to_piece(w->tok, res.token, false, w->piece, w->piece_cap);
    if (n > (int64_t)w->piece_cap) n = 0;  // cannot happen: piece_cap >= tok_max_piece_bytes
    return gen_job_push(j, res.token, w->piece, (size_t)n, res.logprob, alt, res.n_top, now_us) != 0;
}

// The engine refused a step the scheduler planned: a bug in their shared accounting. Fail the
// step's requests (never the process) and keep serving the others.
static void fail_step(WorkerLoop *w, const SchedBatch *b, const char *why) {
    LOG_E("engine step failed: %s", why);
    OaiError e;
    oai_err(&e, 500, "server_error", NULL, NULL, "the engine failed this request's step: %.200s", why);
    int64_t now = clock_now_us();
    for (int64_t i = 0; i < b->n_rows; i++) {
        ReqInfo info;
        if (sched_abort(w->sched, b->rows[i].id, now, &info) == 0 && info.seq_slot >= 0)
            engine_seq_free(w->eng, info.seq_slot);
        Live *L = live_find(w, b->rows[i].id);
        if (!L) continue;
        gen_job_finish(L->job, GEN_ERROR, &e, now);
        live_release(w, L);
    }
    sched_step_done(w->sched, now, NULL);
}

// Runs one step. Returns false when the scheduler had nothing to run.
static bool step(WorkerLoop *w) {
    SchedBatch b;
    int64_t now = clock_now_us();
    sched_step(w->sched, now, &b);
    for (int64_t i = 0; i < b.n_preempted; i++) engine_seq_free(w->eng, b.preempted[i].seq_slot);
    if (b.n_rows == 0) {
        if (sched_in_flight(w->sched)) sched_step_done(w->sched, now, NULL);
        return false;
    }
    int64_t n_er = 0;
    for (int64_t i = 0; i < b.n_rows; i++) {
        const SchedRow *r = &b.rows[i];
        Live *L = live_find(w, r->id);
        CHECK(L && r->pos_start + r->n_tokens <= L->n_tokens);
        w->row_live[i] = L;
        if (r->n_cached > 0) {  // admitted after a cached prefix: share its blocks, compute the rest
            CHECK(engine_seq_attach_prefix(w->eng, r->seq_slot, L->tokens, r->n_cached) == r->n_cached);
        }
        if (r->n_cached > 0 || r->pos_start == 0)  // its first row since (re)admission
            gen_job_set_cached(L->job, r->n_cached < L->job->n_prompt ? r->n_cached : L->job->n_prompt);
        if (!L->scheduled) {
            L->scheduled = true;
            gen_job_mark_scheduled(L->job, now);
            if (w->m) metric_observe(w->m->queue, NULL, (double)(now - L->job->t_arrival_us) / 1e6);
        }
        for (int64_t t = 0; t < r->n_tokens; t++)
            w->rows[n_er++] = (EngineRow){.seq_id = r->seq_slot, .pos = r->pos_start + t,
                                          .token = L->tokens[r->pos_start + t],
                                          .want_logits = r->logits && t == r->n_tokens - 1};
    }
    char err[256];
    if (engine_forward(w->eng, w->rows, n_er, w->logits, err, sizeof err) != 0) {
        fail_step(w, &b, err);
        return true;
    }
    int64_t done_us = clock_now_us();
    for (int64_t i = 0; i < b.n_rows; i++) gen_job_add_step(w->row_live[i]->job, b.n_rows);   // the batch it ran in
    // The ledger's rule: the step's time is split over its rows by tokens; each request's sum is
    // its busy share, reported with its final answer (timings.rightsize.busy_ns).
    for (int64_t i = 0; i < b.n_rows; i++) w->row_w[i] = b.rows[i].n_tokens, w->row_ns[i] = 0;
    ledger_split((done_us - now) * 1000, w->row_w, b.n_rows, w->row_ns);
    for (int64_t i = 0; i < b.n_rows; i++) gen_job_add_busy(w->row_live[i]->job, w->row_ns[i]);
    int64_t k = 0;
    for (int64_t i = 0; i < b.n_rows; i++) {
        w->stops[i] = false;
        if (!b.rows[i].logits) continue;
        w->stops[i] = emit_token(w, w->row_live[i], w->logits + k * w->info->n_vocab, done_us);
        k++;
    }
    if (w->m) metric_observe(w->m->batch, NULL, (double)b.n_rows);
    sched_step_done(w->sched, done_us, w->stops);
    int64_t n_fin = 0;
    const ReqInfo *fin = sched_finished(w->sched, &n_fin);
    for (int64_t i = 0; i < n_fin; i++) {
        if (fin[i].seq_slot >= 0) engine_seq_free(w->eng, fin[i].seq_slot);
        Live *L = live_find(w, fin[i].id);
        if (!L) continue;
        gen_job_finish(L->job, fin[i].finish == REQ_FINISH_LENGTH ? GEN_LENGTH : GEN_STOP, NULL, done_us);
        if (w->m) metric_observe(w->m->e2e, NULL, (double)(done_us - L->job->t_arrival_us) / 1e6);
        live_release(w, L);
    }
    return true;
}

// The scheduler's prefix-cache query (no side effect): positions of job id's first n_tokens
// tokens the engine holds cached.
static int64_t prefix_lookup(void *ctx, uint64_t id, int64_t n_tokens) {
    WorkerLoop *w = ctx;
    const Live *L = live_find(w, id);
    CHECK(L && n_tokens <= L->n_tokens);
    return engine_prefix_lookup(w->eng, L->tokens, n_tokens);
}

// ---- the thread ----

static void *loop_main(void *arg) {
    WorkerLoop *w = arg;
    GenJob **batch = w->taken;   // sized at create: nothing is allocated on the thread
    bool idle = false;  // the last step ran nothing although jobs are live
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->stop && !w->abort_all && w->n_inbox == 0 && (atomic_load(&w->n_live) == 0 || idle)) {
            if (idle) {
                // Live jobs but nothing runnable (all parked): re-check soon or when woken.
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 2000000;
                if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
                pthread_cond_timedwait(&w->cv, &w->mu, &ts);
                break;
            }
            pthread_cond_wait(&w->cv, &w->mu);
        }
        bool stop = w->stop, all = w->abort_all;
        int64_t n = w->n_inbox;
        memcpy(batch, w->inbox, (size_t)n * sizeof *batch);
        w->n_inbox = 0;
        pthread_mutex_unlock(&w->mu);
        for (int64_t i = 0; i < n; i++) {
            if (all || stop) refuse(w, batch[i], GEN_ABORT, NULL);
            else admit(w, batch[i]);
        }
        reap(w, all || stop);
        if (stop) break;
        idle = !step(w);
        update_gauges(w);
    }
    update_gauges(w);
    return NULL;
}

// ---- the backend (HTTP threads) ----

static int to_chat_role(const char *role, ChatRole *out) {
    if (strcmp(role, "developer") == 0) role = "system";
    return chat_role_from_name(str_from_c(role), out);
}

// Renders the messages with the model's template; 0 or -1 with *e.
static int render_chat(WorkerLoop *w, const OaiRequest *q, Buf *text, OaiError *e) {
    if (!w->chat.ok) return oai_err(e, 400, "invalid_request_error", "messages", "no_chat_template", "%s", w->chat.why);
    ChatMsg *msgs = calloc((size_t)q->n_messages, sizeof *msgs);
    if (!msgs) return oai_err(e, 500, "server_error", NULL, NULL, "out of memory");
    int rc = 0;
    for (int64_t i = 0; i < q->n_messages && !rc; i++) {
        if (to_chat_role(q->messages[i].role, &msgs[i].role) != 0)
            rc = oai_err(e, 400, "invalid_request_error", "messages", "unsupported_value", "unsupported role '%s'",
                         q->messages[i].role);
        msgs[i].content = str_from_c(q->messages[i].content);
    }
    char err[240];
    if (!rc && chat_prompt_render(&w->chat, msgs, q->n_messages, true, text, err, sizeof err) != 0)
        rc = oai_err(e, 400, "invalid_request_error", "messages", "invalid_value", "%s", err);
    free(msgs);
    return rc;
}

static int backend_prepare(void *self, const OaiRequest *q, int32_t **tokens, int64_t *n_tokens, OaiError *e) {
    WorkerLoop *w = self;
    *tokens = NULL;
    *n_tokens = 0;
    const char *field = q->endpoint == OAI_CHAT ? "messages" : "prompt";
    if (q->prompt_ids) {
        for (int64_t i = 0; i < q->n_prompt_ids; i++)
            if (q->prompt_ids[i] >= w->info->n_vocab)
                return oai_err(e, 400, "invalid_request_error", "prompt", "invalid_value",
                               "token id %d in 'prompt' is outside the vocabulary (%lld tokens)", q->prompt_ids[i],
                               (long long)w->info->n_vocab);
        *tokens = malloc((size_t)q->n_prompt_ids * sizeof **tokens);
        if (!*tokens) return oai_err(e, 500, "server_error", NULL, NULL, "out of memory");
        memcpy(*tokens, q->prompt_ids, (size_t)q->n_prompt_ids * sizeof **tokens);
        *n_tokens = q->n_prompt_ids;
        return 0;
    }
    Buf chat = {0};
    const char *text = q->prompt;
    if (q->endpoint == OAI_CHAT) {
        if (render_chat(w, q, &chat, e)) {
            buf_free(&chat);
            return -1;
        }
        text = chat.data ? chat.data : "";
    }
    size_t len = strlen(text);
    // Special-token text ("<|im_start|>") becomes the special token, as llama.cpp's server does.
    int64_t n = tok_encode(w->tok, text, len, true, true, NULL, 0);
    int rc = 0;
    if (n < 0) rc = oai_err(e, 400, "invalid_request_error", field, "invalid_value", "cannot tokenize the %s", field);
    else if (n == 0)
        rc = oai_err(e, 400, "invalid_request_error", field, "invalid_value", "the %s is empty", field);
    else if (n > w->info->n_ctx)
        rc = oai_err(e, 400, "invalid_request_error", field, "context_length_exceeded",
                     "the %s has %lld tokens; this model's context window is %lld tokens", field, (long long)n,
                     (long long)w->info->n_ctx);
    else if (!(*tokens = malloc((size_t)n * sizeof **tokens)))
        rc = oai_err(e, 500, "server_error", NULL, NULL, "out of memory");
    else
        *n_tokens = tok_encode(w->tok, text, len, true, true, *tokens, n);
    buf_free(&chat);
    if (rc) {
        free(*tokens);
        *tokens = NULL;
    }
    return rc;
}

static int backend_submit(void *self, GenJob *j) {
    WorkerLoop *w = self;
    const SchedConfig *c = sched_config(w->sched);
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    if (w->stop || w->abort_all || w->n_inbox + atomic_load(&w->n_sched_waiting) >= c->max_num_queued_reqs) {
        rc = ERR_FULL;
    } else {
        gen_job_ref(j);
        w->inbox[w->n_inbox++] = j;
        atomic_fetch_add(&w->n_live, 1);
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static void backend_wake(void *self) {
    WorkerLoop *w = self;
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

// ---- lifecycle ----

WorkerLoop *worker_loop_create(Engine *e, const WorkerLoopConfig *cfg, ServeMetrics *metrics, char *err,
                               size_t err_len) {
    WorkerLoop *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->eng = e;
    w->info = engine_info(e);
    w->tok = engine_tokenizer(e);
    w->m = metrics;
    if (!w->tok) {
        err_set(err, err_len, ERR_UNSUPP, "the model has no usable tokenizer: %s", w->info->tokenizer_error);
        goto fail;
    }
    // A model without a usable template still serves completions; chat requests get a 400 saying why.
    if (chat_prompt_init(&w->chat, cfg->chat_template, cfg->model_path, w->tok, err, err_len)) goto fail;
    SchedConfig sc = cfg->sched;
    sc.max_model_len = w->info->n_ctx;
    sc.kv_block_tokens = w->info->kv_block_tokens;
    sc.kv_blocks_total = w->info->kv_blocks_total;
    if (w->info->prefix_caching) sc.prefix_lookup = prefix_lookup, sc.prefix_ctx = w;
    if (sc.max_num_seqs > w->info->max_seqs || sc.max_num_batched_tokens > w->info->max_rows) {
        err_set(err, err_len, ERR_ARG, "scheduler limits exceed the engine's (max_seqs %lld, max_rows %lld)",
                (long long)w->info->max_seqs, (long long)w->info->max_rows);
        goto fail;
    }
    w->sched = sched_create(&sc, err, err_len);
    if (!w->sched) goto fail;
    int64_t n_vocab = w->info->n_vocab, seqs = sc.max_num_seqs;
    w->n_slots = sc.max_num_seqs + sc.max_num_queued_reqs;
    w->piece_cap = tok_max_piece_bytes(w->tok) + 8;
    w->inbox = calloc((size_t)sc.max_num_queued_reqs, sizeof *w->inbox);
    w->taken = calloc((size_t)sc.max_num_queued_reqs, sizeof *w->taken);
    w->live = calloc((size_t)w->n_slots, sizeof *w->live);
    w->rows = calloc((size_t)sc.max_num_batched_tokens, sizeof *w->rows);
    w->logits = malloc((size_t)seqs * (size_t)n_vocab * sizeof *w->logits);
    w->row_live = calloc((size_t)seqs, sizeof *w->row_live);
    w->stops = calloc((size_t)seqs, sizeof *w->stops);
    w->row_w = calloc((size_t)seqs, sizeof *w->row_w);
    w->row_ns = calloc((size_t)seqs, sizeof *w->row_ns);
    w->piece = malloc(w->piece_cap);
    w->alt_text = malloc(w->piece_cap * SAMPLER_MAX_TOP);
    if (!w->inbox || !w->taken || !w->live || !w->rows || !w->logits || !w->row_live || !w->stops || !w->row_w ||
        !w->row_ns || !w->piece || !w->alt_text || sampler_work_init(&w->sw, n_vocab) != 0) {
        err_set(err, err_len, ERR_NOMEM, "out of memory allocating the worker's buffers");
        goto fail;
    }
    w->backend = (GenBackend){.self = w, .prepare = backend_prepare, .submit = backend_submit,
                              .wake = backend_wake, .n_ctx = w->info->n_ctx};
    if (pthread_create(&w->thread, NULL, loop_main, w) != 0) {
        err_set(err, err_len, ERR_IO, "cannot start the engine thread");
        goto fail;
    }
    w->thread_started = true;
    return w;
fail:
    worker_loop_destroy(w);
    return NULL;
}

GenBackend *worker_loop_backend(WorkerLoop *w) { return &w->backend; }

int64_t worker_loop_live(WorkerLoop *w) { return atomic_load(&w->n_live); }

const char *worker_loop_chat_family(const WorkerLoop *w, const char **why) {
    if (why) *why = w->chat.why;
    return chat_prompt_name(&w->chat);
}

void worker_loop_abort_all(WorkerLoop *w) {
    pthread_mutex_lock(&w->mu);
    w->abort_all = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void worker_loop_destroy(WorkerLoop *w) {
    if (!w) return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    for (int64_t i = 0; i < w->n_inbox; i++) refuse(w, w->inbox[i], GEN_ABORT, NULL);
    sched_destroy(w->sched);
    chat_prompt_free(&w->chat);
    sampler_work_free(&w->sw);
    free(w->inbox);
    free(w->taken);
    free(w->live);
    free(w->rows);
    free(w->logits);
    free(w->row_live);
    free(w->row_w);
    free(w->row_ns);
    free(w->stops);
    free(w->piece);
    free(w->alt_text);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
