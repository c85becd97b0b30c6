// worker_loop.h — the engine thread of `rightsize worker`: it owns the scheduler (policy/sched)
// and the engine, and turns submitted GenJobs into tokens with continuous batching.
//
// Each iteration: admit jobs from the inbox into the scheduler (sched_add), abort jobs whose
// client went away (sched_abort + engine_seq_free at once), plan a step (sched_step), free the
// engine sequences of preempted requests, expand the plan into engine rows (prompt chunks,
// recompute chunks, decode tokens), run one batched engine_forward, sample every row that wants
// a token (seeded per request), publish tokens to their jobs (which resumes their HTTP
// connections), close the step (sched_step_done) and free finished sequences. When nothing can
// run it sleeps on a condition variable that submit/wake signal — no polling.
//
// HTTP threads call only the GenBackend functions (prepare, submit, wake), which never wait for
// the engine: prepare tokenizes on the calling thread (the tokenizer is immutable), submit puts
// the job in a bounded inbox.
#ifndef RS_WORKER_LOOP_H
#define RS_WORKER_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "policy/sched.h"
#include "serve/http_server.h"
#include "serve/serve_metrics.h"

typedef struct {
    SchedConfig sched;          // max_num_seqs, max_num_batched_tokens, max_num_queued_reqs, policy;
                                // KV and length fields are filled from the engine
    const char *chat_template;  // family name overriding the GGUF's template, or NULL
    const char *model_path;     // to read tokenizer.chat_template from
} WorkerLoopConfig;

typedef struct WorkerLoop WorkerLoop;

// Builds the scheduler for engine e (borrowed; must outlive the loop), resolves the chat
// template, and starts the engine thread. metrics may be NULL. NULL with a message on failure
// (no tokenizer in the model, a scheduler knob out of range, an unknown --chat-template).
WorkerLoop *worker_loop_create(Engine *e, const WorkerLoopConfig *cfg, ServeMetrics *metrics, char *err,
                               size_t err_len);
// The backend the HTTP server calls; valid until worker_loop_destroy.
GenBackend *worker_loop_backend(WorkerLoop *w);
// Jobs submitted and not yet finished (waiting, running, or in the inbox).
int64_t worker_loop_live(WorkerLoop *w);
// Finishes every live job with GEN_ABORT (shutdown after the drain deadline) and refuses new ones.
void worker_loop_abort_all(WorkerLoop *w);
// The chat family in use ("chatml") or NULL when chat requests will be refused; and why.
const char *worker_loop_chat_family(const WorkerLoop *w, const char **why);
// Stops the engine thread (aborting what is left) and frees everything. NULL is a no-op.
void worker_loop_destroy(WorkerLoop *w);

#endif
