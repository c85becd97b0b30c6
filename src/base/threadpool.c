#include "base/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"

#define TP_SPIN_ITERS 200000

// The three counters each have their own cache line: workers poll `generation` while the
// others are being written, and a shared line would bounce between cores on every task.
struct ThreadPool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    TpFn fn;
    void *ctx;
    int64_t n_tasks;
    _Atomic int stop;
    _Atomic int n_sleeping;
    _Alignas(64) _Atomic uint64_t generation;  // bumped once per job; workers wait for it to change
    _Alignas(64) _Atomic int64_t next_task;    // work stealing counter for the current job
    _Alignas(64) _Atomic int n_done;           // workers finished with the current job
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

static void run_tasks(ThreadPool *tp, int thread) {
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&tp->next_task, 1, memory_order_relaxed);
        if (t >= tp->n_tasks) break;
        tp->fn(tp->ctx, t, thread);
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
        run_tasks(tp, index);
        atomic_fetch_add_explicit(&tp->n_done, 1, memory_order_release);
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
    tp->fn = fn;
    tp->ctx = ctx;
    tp->n_tasks = n_tasks;
    atomic_store_explicit(&tp->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&tp->n_done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_release);
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv);
        pthread_mutex_unlock(&tp->mu);
    }
    run_tasks(tp, 0);
    while (atomic_load_explicit(&tp->n_done, memory_order_acquire) < tp->n_threads - 1) cpu_relax();
}
