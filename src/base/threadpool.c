// threadpool.c — fork-join pool. One 64-bit word describes the current job and hands out its
// tasks:   job = generation:16 | n_tasks:24 | next task:24
// tp_run writes fn/ctx, then publishes a new job word; every thread (the caller included) claims
// tasks by compare-and-swap on that word until next == n_tasks, and the caller returns once
// n_done == n_tasks. Completion counts tasks, not threads: a worker that is asleep or descheduled
// when a job starts is simply not waited for (the caller and the awake workers do its share),
// which matters on a small shared machine where a worker may not run for milliseconds.
//
// Why fn/ctx need no atomics: a thread reads them only after it has claimed a task of the current
// job (its acquire CAS synchronizes with the release store that published the job), and tp_run
// rewrites them only after every task of the previous job has finished.
#include "base/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"

#define TP_SPIN_ITERS 200000          // pause loops (~10 ms) before an idle worker sleeps
#define TP_TASK_BITS 24
#define TP_TASK_MASK ((UINT64_C(1) << TP_TASK_BITS) - 1)
#define TP_MAX_TASKS ((int64_t)TP_TASK_MASK)

// The job word and the done counter each have their own cache line: every claim writes the
// first and every finished task the second.
struct ThreadPool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    TpFn fn;
    void *ctx;
    _Atomic int stop;
    _Atomic int n_sleeping;
    _Alignas(64) _Atomic uint64_t job;
    _Alignas(64) _Atomic int64_t n_done;
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

// Claims and runs tasks of the current job until none is left.
static void run_tasks(ThreadPool *tp, int thread) {
    uint64_t v = atomic_load_explicit(&tp->job, memory_order_relaxed);
    for (;;) {
        uint64_t n = (v >> TP_TASK_BITS) & TP_TASK_MASK, next = v & TP_TASK_MASK;
        if (next >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&tp->job, &v, v + 1, memory_order_acquire, memory_order_relaxed))
            continue;  // v now holds the current word
        tp->fn(tp->ctx, (int64_t)next, thread);
        atomic_fetch_add_explicit(&tp->n_done, 1, memory_order_release);
        v = atomic_load_explicit(&tp->job, memory_order_relaxed);
    }
}

static void *worker_main(void *p) {
    WorkerArg *arg = p;
    ThreadPool *tp = arg->tp;
    int index = arg->index;
    free(arg);
    uint64_t seen = 0;
    for (;;) {
        uint64_t v;
        int spins = 0;
        while ((v = atomic_load_explicit(&tp->job, memory_order_relaxed)) == seen && !atomic_load(&tp->stop)) {
            if (++spins < TP_SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            // Sleep. n_sleeping and the job word are both seq_cst, so either tp_run sees a
            // sleeper (and broadcasts under the mutex) or this thread sees the new job.
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->n_sleeping, 1);
            while (atomic_load(&tp->job) == seen && !atomic_load(&tp->stop)) pthread_cond_wait(&tp->cv, &tp->mu);
            atomic_fetch_sub(&tp->n_sleeping, 1);
            pthread_mutex_unlock(&tp->mu);
            spins = 0;
        }
        if (atomic_load(&tp->stop)) break;
        run_tasks(tp, index);
        seen = atomic_load_explicit(&tp->job, memory_order_relaxed);  // nothing left to claim in it
    }
    return NULL;
}

ThreadPool *tp_create(int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    ThreadPool *tp = aligned_alloc(64, (sizeof *tp + 63) & ~(size_t)63);
    if (!tp) return NULL;
    memset(tp, 0, sizeof *tp);
    tp->n_threads = n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    tp->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!tp->threads) goto fail;
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
    free(tp);
}

int tp_size(const ThreadPool *tp) { return tp ? tp->n_threads : 1; }

void tp_run(ThreadPool *tp, TpFn fn, void *ctx, int64_t n_tasks) {
    if (n_tasks <= 0) return;
    if (!tp || tp->n_threads == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    CHECK(n_tasks <= TP_MAX_TASKS);
    // Every task of the previous job has finished, so no thread is reading fn/ctx or adding to
    // n_done; the seq_cst store publishes them (release) and pairs with the sleepers' check.
    tp->fn = fn;
    tp->ctx = ctx;
    atomic_store_explicit(&tp->n_done, 0, memory_order_relaxed);
    uint64_t gen = (atomic_load_explicit(&tp->job, memory_order_relaxed) >> (2 * TP_TASK_BITS)) + 1;
    atomic_store(&tp->job, (gen << (2 * TP_TASK_BITS)) | ((uint64_t)n_tasks << TP_TASK_BITS));
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    run_tasks(tp, 0);
    while (atomic_load_explicit(&tp->n_done, memory_order_acquire) < n_tasks) cpu_relax();
}
