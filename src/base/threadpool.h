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

#endif
