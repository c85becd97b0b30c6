#include "serve/gen_job.h"

#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "serve/textout.h"

static atomic_uint_fast64_t g_next_id = 1;

GenJob *gen_job_create(const int32_t *prompt, int64_t n_prompt, const GenParams *p, char *const *stop,
                       int64_t n_stop, int64_t priority, int64_t t_arrival_us) {
    CHECK(n_prompt >= 0 && n_stop >= 0 && p->max_tokens >= 1);
    GenJob *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, false);
    j->id = atomic_fetch_add(&g_next_id, 1);
    j->params = *p;
    j->priority = priority;
    j->t_arrival_us = t_arrival_us;
    j->prompt = malloc((size_t)(n_prompt ? n_prompt : 1) * sizeof *j->prompt);
    j->stop = calloc((size_t)(n_stop ? n_stop : 1), sizeof *j->stop);
    if (!j->prompt || !j->stop) goto fail;
    if (n_prompt) memcpy(j->prompt, prompt, (size_t)n_prompt * sizeof *prompt);
    j->n_prompt = n_prompt;
    for (int64_t i = 0; i < n_stop; i++) {
        j->stop[i] = strdup(stop[i]);
        if (!j->stop[i]) goto fail;
        j->n_stop = i + 1;
    }
    return j;
fail:
    gen_job_unref(j);
    return NULL;
}

void gen_job_ref(GenJob *j) { atomic_fetch_add(&j->refs, 1); }

void gen_job_unref(GenJob *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    for (int64_t i = 0; i < j->n_stop; i++) free(j->stop[i]);
    free(j->stop);
    free(j->prompt);
    buf_free(&j->out);
    buf_free(&j->pieces);
    free(j->toks);
    free(j->tops);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

void gen_job_cancel(GenJob *j) { atomic_store(&j->cancelled, true); }
bool gen_job_cancelled(GenJob *j) { return atomic_load(&j->cancelled); }

const char *gen_finish_str(GenFinish f) {
    static const char *names[] = {[GEN_RUNNING] = NULL, [GEN_STOP] = "stop", [GEN_LENGTH] = "length",
                                  [GEN_ABORT] = "abort", [GEN_ERROR] = "error"};
    return names[f];
}

static void notify_locked(GenJob *j) {
    if (j->notify) j->notify(j->notify_ctx);
}

void gen_job_set_cached(GenJob *j, int64_t n_cached) {
    pthread_mutex_lock(&j->mu);
    j->n_cached = n_cached;
    pthread_mutex_unlock(&j->mu);
}

void gen_job_add_step(GenJob *j, int64_t n_seqs) {
    pthread_mutex_lock(&j->mu);
    j->n_steps++;
    j->step_seqs += n_seqs;
    pthread_mutex_unlock(&j->mu);
}

void gen_job_add_busy(GenJob *j, int64_t ns) {
    pthread_mutex_lock(&j->mu);
    j->busy_ns += ns;
    pthread_mutex_unlock(&j->mu);
}

void gen_job_mark_scheduled(GenJob *j, int64_t now_us) {
    pthread_mutex_lock(&j->mu);
    if (!j->t_scheduled_us) j->t_scheduled_us = now_us;
    pthread_mutex_unlock(&j->mu);
}

// Grows an array of elem-byte elements to hold `need`; 0 or ERR_NOMEM.
static int grow(void **arr, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p) return ERR_NOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

static int add_piece(GenJob *j, GenPiece *dst, int32_t id, float logprob, const char *piece, size_t len) {
    if (j->pieces.len > UINT32_MAX - len) return ERR_NOMEM;
    *dst = (GenPiece){.id = id, .logprob = logprob, .piece_off = (uint32_t)j->pieces.len, .piece_len = (uint32_t)len};
    return buf_append(&j->pieces, piece, len);
}

static int record_logprobs(GenJob *j, int32_t id, const char *piece, size_t len, float logprob,
                           const GenAlt *alt, int32_t n_alt, size_t text_off) {
    int32_t n_top = n_alt < j->params.n_top ? n_alt : j->params.n_top;
    if (grow((void **)&j->toks, &j->cap_toks, j->n_toks + 1, sizeof *j->toks)) return ERR_NOMEM;
    if (grow((void **)&j->tops, &j->cap_tops, j->n_tops + n_top, sizeof *j->tops)) return ERR_NOMEM;
    GenToken *t = &j->toks[j->n_toks];
    t->text_off = text_off;
    t->top_first = j->n_tops;
    t->n_top = n_top;
    if (add_piece(j, &t->tok, id, logprob, piece, len)) return ERR_NOMEM;
    for (int32_t k = 0; k < n_top; k++)
        if (add_piece(j, &j->tops[j->n_tops + k], alt[k].id, alt[k].logprob, alt[k].piece, alt[k].piece_len))
            return ERR_NOMEM;
    j->n_tops += n_top;
    j->n_toks++;
    return 0;
}

// Tokens whose text starts before `released` may be shown (with the text they began).
static void release_tokens(GenJob *j) {
    while (j->n_toks_released < j->n_toks && j->toks[j->n_toks_released].text_off < j->released)
        j->n_toks_released++;
}

// Ends the job. All text is released (after a stop string `out` was already cut there). Tokens
// are all reported, except those lying wholly inside a stop string (cut == true).
static void finish_locked(GenJob *j, GenFinish why, const OaiError *err, bool cut, int64_t now_us) {
    if (j->finish != GEN_RUNNING) return;
    j->finish = why;
    if (why == GEN_ERROR && err) j->error = *err;
    j->released = j->out.len;
    if (cut)
        release_tokens(j);
    else
        j->n_toks_released = j->n_toks;
    j->t_done_us = now_us;
    notify_locked(j);
}

// Appends a token; eog: it ends generation (its text is not shown) and the job finishes "stop".
static int push(GenJob *j, int32_t id, const char *piece, size_t piece_len, float logprob, const GenAlt *alt,
                int32_t n_alt, bool eog, int64_t now_us) {
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    if (j->finish != GEN_RUNNING) {
        rc = 1;
        goto done;
    }
    size_t before = j->out.len;
    if (eog) piece_len = 0;
    if (buf_append(&j->out, piece, piece_len) ||
        (j->params.logprobs && record_logprobs(j, id, piece, piece_len, logprob, alt, n_alt, before))) {
        OaiError e;
        oai_err(&e, 500, "server_error", NULL, NULL, "out of memory while generating");
        finish_locked(j, GEN_ERROR, &e, false, now_us);
        rc = ERR_NOMEM;
        goto done;
    }
    j->n_generated++;
    if (!j->t_first_token_us) j->t_first_token_us = now_us;
    j->t_last_token_us = now_us;
    if (eog) {
        finish_locked(j, GEN_STOP, NULL, false, now_us);
        rc = 1;
        goto done;
    }
    // A stop string can only start at or after `released`, but may begin inside held-back bytes.
    int64_t hit = textout_find_stop(j->out.data, j->out.len, j->released, j->stop, j->n_stop);
    if (hit >= 0) {
        j->out.len = (size_t)hit;
        j->out.data[hit] = 0;
        j->released = (size_t)hit;
        finish_locked(j, GEN_STOP, NULL, true, now_us);
        rc = 1;
        goto done;
    }
    j->released = textout_releasable(j->out.data, j->out.len, j->released, j->stop, j->n_stop);
    release_tokens(j);
    if (j->n_generated >= j->params.max_tokens) {
        finish_locked(j, GEN_LENGTH, NULL, false, now_us);
        rc = 1;
        goto done;
    }
    notify_locked(j);
done:
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int gen_job_push(GenJob *j, int32_t id, const char *piece, size_t piece_len, float logprob,
                 const GenAlt *alt, int32_t n_alt, int64_t now_us) {
    return push(j, id, piece, piece_len, logprob, alt, n_alt, false, now_us);
}

int gen_job_push_eog(GenJob *j, int32_t id, float logprob, const GenAlt *alt, int32_t n_alt, int64_t now_us) {
    return push(j, id, "", 0, logprob, alt, n_alt, true, now_us);
}

void gen_job_finish(GenJob *j, GenFinish why, const OaiError *err, int64_t now_us) {
    CHECK(why != GEN_RUNNING);
    pthread_mutex_lock(&j->mu);
    finish_locked(j, why, err, false, now_us);
    pthread_mutex_unlock(&j->mu);
}
