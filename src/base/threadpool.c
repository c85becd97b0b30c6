#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"

#define TP_SPIN_ITERS 200000
#define TP_JOIN_SPINS 2000  // spins while joining before yielding the core to a late worker

// Claiming tasks: `next` packs (job number << 32) | next task index, and a task is claimed by a
// compare-and-swap that only succeeds for the current job. The caller waits for its tasks to be
// FINISHED (n_finished == n_tasks), not for every worker to check in: a worker that the OS has
// not scheduled yet (a busy or oversubscribed machine) costs nothing — the caller and the other
// workers take its share — instead of stalling every job until it runs. A late worker finds the
// job closed (its CAS fails) and goes back to waiting.
//
// Publishing a job: next = (job, CLOSED) first, so stragglers of the previous job cannot claim;
// then fn, ctx, n_tasks, n_finished; then next = (job, 0); then generation (wakes the workers).
// All of these are sequentially consistent atomics, so a claim that succeeds for job j reads
// job j's fn/ctx/n_tasks.
#define TP_CLOSED 0xffffffffu
#define TP_MAX_RANGES 64      // tp_run_ranges deals at most this many ranges (threads beyond share them)
#define TP_RANGE_STRIDE 8     // uint64 per range slot: one cache line each

// The counters each have their own cache line: workers poll `generation` while the others are
// being written, and a shared line would bounce between cores on every task.
struct ThreadPool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic(TpFn) fn;
    _Atomic(void *) ctx;
    _Atomic int64_t n_tasks;
    _Atomic int stop;
    _Atomic int n_sleeping;
    uint32_t job;                               // caller's job counter (caller thread only)
    _Alignas(64) _Atomic uint64_t generation;  // bumped once per job; workers wait for it to change
    _Alignas(64) _Atomic uint64_t next;        // (job << 32) | next task index
    _Alignas(64) _Atomic int64_t n_finished;   // tasks of the current job completed
    // tp_run_ranges: per range, (end << 32) | next, one 64-byte line each (n_threads of them)
    _Atomic uint64_t *ranges;
    TpFn range_fn;
    void *range_ctx;
    int64_t range_first[TP_MAX_RANGES + 1];  // range r holds tasks [range_first[r], range_first[r + 1])
};

typedef struct {
    ThreadPool *tp;
    int index;
} WorkerArg;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Claims and runs tasks of job `job` until none is left (or the job is no longer current).
static void run_tasks(ThreadPool *tp, uint32_t job, int thread) {
    for (;;) {
        uint64_t w = atomic_load(&tp->next);
        if ((uint32_t)(w >> 32) != job) return;
        uint32_t t = (uint32_t)w;
        TpFn fn = atomic_load(&tp->fn);
        void *ctx = atomic_load(&tp->ctx);
        int64_t n_tasks = atomic_load(&tp->n_tasks);
        if (t == TP_CLOSED || (int64_t)t >= n_tasks) return;
        if (!atomic_compare_exchange_weak(&tp->next, &w, w + 1)) continue;
        fn(ctx, (int64_t)t, thread);
        atomic_fetch_add(&tp->n_finished, 1);
    }
}

static void *worker_main(void *p) {
    WorkerArg *arg = p;
    ThreadPool *tp = arg->tp;
    int index = arg->index;
    free(arg);
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->generation, memory_order_acquire)) == seen &&
               !atomic_load(&tp->stop)) {
            if (++spins < TP_SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->n_sleeping, 1);
            while (atomic_load(&tp->generation) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv, &tp->mu);
            atomic_fetch_sub(&tp->n_sleeping, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) break;
        seen = g;
        run_tasks(tp, (uint32_t)(atomic_load(&tp->next) >> 32), index);
    }
    return NULL;
}

ThreadPool *tp_create(int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    ThreadPool *tp = aligned_alloc(64, (sizeof *tp + 63) & ~(size_t)63);
    if (tp) memset(tp, 0, sizeof *tp);
    if (!tp) return NULL;
    tp->n_threads = n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    tp->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    tp->ranges = aligned_alloc(64, sizeof(uint64_t) * TP_RANGE_STRIDE * TP_MAX_RANGES);
    if (!tp->threads || !tp->ranges) goto fail;
    for (int i = 1; i < n_threads; i++) {
        WorkerArg *arg = malloc(sizeof *arg);
        if (!arg) goto fail_started;
        *arg = (WorkerArg){tp, i};
        if (pthread_create(&tp->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            goto fail_started;
        }
        continue;
    fail_started:
        tp->n_threads = i;  // join only those started
        tp_destroy(tp);
        return NULL;
    }
    return tp;
fail:
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp->threads);
    free(tp->ranges);
    free(tp);
    return NULL;
}

void tp_destroy(ThreadPool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n_threads; i++) pthread_join(tp->threads[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv);
    free(tp->threads);
    free(tp->ranges);
    free(tp);
}

int tp_size(const ThreadPool *tp) { return tp ? tp->n_threads : 1; }

// Runs the tasks on the calling thread when there is nothing to share them with; true when it
// did (or there were none), false when the caller dispatches them to the pool.
static bool run_inline(ThreadPool *tp, TpFn fn, void *ctx, int64_t n_tasks) {
    if (n_tasks > 0 && tp && tp->n_threads > 1 && n_tasks > 1) {
        CHECK(n_tasks < (int64_t)TP_CLOSED);
        return false;
    }
    for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
    return true;
}

void tp_run(ThreadPool *tp, TpFn fn, void *ctx, int64_t n_tasks) {
    if (run_inline(tp, fn, ctx, n_tasks)) return;
    uint32_t job = ++tp->job;
    atomic_store(&tp->next, ((uint64_t)job << 32) | TP_CLOSED);
    atomic_store(&tp->fn, fn);
    atomic_store(&tp->ctx, ctx);
    atomic_store(&tp->n_tasks, n_tasks);
    atomic_store(&tp->n_finished, 0);
    atomic_store(&tp->next, (uint64_t)job << 32);
    atomic_fetch_add(&tp->generation, 1);
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    run_tasks(tp, job, 0);
    // Every task is claimed; wait for those still running on workers to finish.
    for (int spins = 0; atomic_load(&tp->n_finished) < n_tasks; spins++) {
        if (spins < TP_JOIN_SPINS) cpu_relax();
        else sched_yield();
    }
}

// ---- tp_run_ranges: one range per thread, taken from its front; idle threads take from the back ----

// Claims the task at the front (own range) or the back (another's) of range r; -1 when it is empty.
static int64_t range_claim(ThreadPool *tp, int r, int back) {
    _Atomic uint64_t *slot = &tp->ranges[r * TP_RANGE_STRIDE];
    uint64_t v = atomic_load(slot);
    for (;;) {
        uint32_t next = (uint32_t)v, end = (uint32_t)(v >> 32);
        if (next >= end) return -1;
        uint64_t claimed = back ? ((uint64_t)(end - 1) << 32 | next) : ((uint64_t)end << 32 | (next + 1));
        if (atomic_compare_exchange_weak(slot, &v, claimed)) return tp->range_first[r] + (back ? end - 1 : next);
    }
}

static void range_task(void *ctx, int64_t r, int thread) {
    ThreadPool *tp = ctx;
    int n = tp->n_threads < TP_MAX_RANGES ? tp->n_threads : TP_MAX_RANGES;
    for (int64_t t; (t = range_claim(tp, (int)r, 0)) >= 0;) tp->range_fn(tp->range_ctx, t, thread);
    for (int k = 1; k < n; k++)
        for (int64_t t; (t = range_claim(tp, (int)((r + k) % n), 1)) >= 0;) tp->range_fn(tp->range_ctx, t, thread);
}

void tp_run_ranges(ThreadPool *tp, TpFn fn, void *ctx, int64_t n_tasks) {
    if (run_inline(tp, fn, ctx, n_tasks)) return;
    int n = tp->n_threads < TP_MAX_RANGES ? tp->n_threads : TP_MAX_RANGES;
    tp->range_fn = fn;
    tp->range_ctx = ctx;
    for (int r = 0; r <= n; r++) tp->range_first[r] = n_tasks * r / n;
    for (int r = 0; r < n; r++)
        atomic_store(&tp->ranges[r * TP_RANGE_STRIDE], (uint64_t)(tp->range_first[r + 1] - tp->range_first[r]) << 32);
    tp_run(tp, range_task, tp, n);
}
