// threadpool.h — a fork-join pool shared by all kernels.
//
// tp_run(pool, fn, ctx, n_tasks) calls fn(ctx, task, thread) for every task in [0, n_tasks),
// spread over the pool's threads (the caller is thread 0 and works too), and returns when all
// are done. Workers spin briefly between jobs (kernels are called back to back in a forward
// pass) and then sleep, so an idle pool costs no CPU.
#ifndef RS_THREADPOOL_H
#define RS_THREADPOOL_H

#include <stdint.h>

typedef struct ThreadPool ThreadPool;
typedef void (*TpFn)(void *ctx, int64_t task, int thread);

// n_threads <= 0 means one per online core. Returns NULL when threads cannot be started.
ThreadPool *tp_create(int n_threads);
void tp_destroy(ThreadPool *tp);
int tp_size(const ThreadPool *tp);
// Not reentrant: one tp_run at a time per pool (the engine thread owns its pool).
// A NULL pool runs every task on the calling thread.
void tp_run(ThreadPool *tp, TpFn fn, void *ctx, int64_t n_tasks);
// As tp_run, but the tasks are dealt as contiguous ranges: [0, n_tasks) is cut into one range per
// thread, each taken in increasing order, and a thread that finishes its range takes tasks from
// the ends of the others' (so a slow or descheduled thread still costs nothing). For tasks that
// stream through memory in task order (the rows of a weight matrix), each thread's reads stay one
// sequential stream that its prefetches run ahead of, instead of hopping between the threads'
// interleaved chunks.
void tp_run_ranges(ThreadPool *tp, TpFn fn, void *ctx, int64_t n_tasks);

#endif
