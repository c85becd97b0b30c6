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

// The stress run for tp_run (ranges 0) or tp_run_ranges (1); tasks 1..MAX_TASKS-1 per job, so
// with THREADS ranges some are empty.
static void every_task_once(int ranges) {
    enum { THREADS = 5, JOBS = 20000, MAX_TASKS = 37 };
    ThreadPool *tp = tp_create(THREADS);
    ASSERT(tp);
    _Atomic int hits[MAX_TASKS];
    Job j = {.hits = hits, .n_threads = THREADS};
    atomic_store(&j.bad_thread, 0);
    int wrong = 0;
    for (int job = 0; job < JOBS; job++) {
        int n = 1 + job % (MAX_TASKS - 1);
        for (int t = 0; t < MAX_TASKS; t++) atomic_store(&hits[t], 0);
        if (ranges) tp_run_ranges(tp, count_task, &j, n);
        else tp_run(tp, count_task, &j, n);
        // Complete on return: each of the n tasks exactly once, nothing beyond n.
        for (int t = 0; t < MAX_TASKS; t++) wrong += atomic_load(&hits[t]) != (t < n);
    }
    EXPECT_EQ_INT(wrong, 0);
    EXPECT_EQ_INT(atomic_load(&j.bad_thread), 0);
    tp_destroy(tp);
}

TEST(threadpool_every_task_once_per_job_under_oversubscription) { every_task_once(0); }
TEST(threadpool_ranges_every_task_once_per_job_under_oversubscription) { every_task_once(1); }

typedef struct {
    int64_t seen[2][64];  // per thread, the tasks it ran, in order
    int n_seen[2];
} Order;

static void record_task(void *ctx, int64_t t, int thread) {
    Order *o = ctx;
    o->seen[thread][o->n_seen[thread]++] = t;
}

// Ranges [0, 20) and [20, 40): a range's front is taken only by its own range task, one task at a
// time, and its back only by stealing, so what one thread ran of one range is a run of
// consecutive tasks, increasing (its own range) or decreasing (stolen). The interleaved claims of
// tp_run would leave gaps whenever both threads work.
TEST(threadpool_ranges_run_each_range_in_order) {
    ThreadPool *tp = tp_create(2);
    ASSERT(tp);
    int bad = 0;
    for (int rep = 0; rep < 200; rep++) {
        Order o = {.n_seen = {0, 0}};
        tp_run_ranges(tp, record_task, &o, 40);
        EXPECT_EQ_INT(o.n_seen[0] + o.n_seen[1], 40);
        for (int th = 0; th < 2; th++)
            for (int r = 0; r < 2; r++) {
                int64_t prev = -1, step = 0;
                for (int i = 0; i < o.n_seen[th]; i++) {
                    int64_t t = o.seen[th][i];
                    if (t / 20 != r) continue;
                    if (prev >= 0) {
                        if ((t - prev != 1 && t - prev != -1) || (step && t - prev != step)) bad++;
                        step = t - prev;
                    }
                    prev = t;
                }
            }
    }
    EXPECT_EQ_INT(bad, 0);
    tp_destroy(tp);
}
