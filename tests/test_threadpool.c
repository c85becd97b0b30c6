// Stress test of the thread pool's job hand-off: many short jobs back to back on more threads
// than cores (so workers are often late or descheduled), each task must run exactly once per
// job and every job must be complete when tp_run returns.
#include <stdatomic.h>
#include <stdlib.h>

#include "base/threadpool.h"
#include "test.h"

typedef struct {
    _Atomic int *hits;    // (n_tasks) times each task ran in this job
    _Atomic int bad_thread;
    int n_threads;
} Job;

static void count_task(void *ctx, int64_t t, int thread) {
    Job *j = ctx;
    if (thread < 0 || thread >= j->n_threads) atomic_store(&j->bad_thread, 1);
    atomic_fetch_add(&j->hits[t], 1);
}

TEST(threadpool_every_task_once_per_job_under_oversubscription) {
    enum { THREADS = 5, JOBS = 20000, MAX_TASKS = 37 };
    ThreadPool *tp = tp_create(THREADS);
    ASSERT(tp);
    _Atomic int hits[MAX_TASKS];
    Job j = {.hits = hits, .n_threads = THREADS};
    atomic_store(&j.bad_thread, 0);
    int wrong = 0;
    for (int job = 0; job < JOBS; job++) {
        int n = 2 + job % (MAX_TASKS - 1);
        for (int t = 0; t < MAX_TASKS; t++) atomic_store(&hits[t], 0);
        tp_run(tp, count_task, &j, n);
        // Complete on return: each of the n tasks exactly once, nothing beyond n.
        for (int t = 0; t < MAX_TASKS; t++) wrong += atomic_load(&hits[t]) != (t < n);
    }
    EXPECT_EQ_INT(wrong, 0);
    EXPECT_EQ_INT(atomic_load(&j.bad_thread), 0);
    tp_destroy(tp);
}
