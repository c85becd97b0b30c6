// Thread pool job hand-off at sizes the kernels and the model reach: task counts well past 2^16,
// thousands of jobs back to back (counters that pack job numbers must not confuse
// jobs), and the plain writes of one job fully visible to the caller when tp_run returns (the
// kernels rely on that: no extra barrier).
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "test.h"

typedef struct {
    unsigned char *mark;  // (n) written plainly by the task, read by the caller after tp_run
    _Atomic int64_t runs;
} MarkJob;

static void mark_task(void *ctx, int64_t t, int thread) {
    (void)thread;
    MarkJob *j = ctx;
    j->mark[t]++;
    atomic_fetch_add_explicit(&j->runs, 1, memory_order_relaxed);
}

TEST(threadpool_large_and_many_jobs) {
    ThreadPool *tp = tp_create(2);
    ASSERT(tp);
    enum { BIG = 300000 };
    unsigned char *mark = calloc(BIG, 1);
    ASSERT(mark);
    MarkJob j = {.mark = mark};
    int bad = 0;
    // 5,000 jobs, every 500th a big one.
    for (int job = 0; job < 5000; job++) {
        int64_t n = job % 500 == 0 ? BIG : 2 + job % 5;
        atomic_store(&j.runs, 0);
        tp_run(tp, mark_task, &j, n);
        if (atomic_load(&j.runs) != n) bad++;
        for (int64_t t = 0; t < n; t++) {
            if (mark[t] != 1) bad++;
            mark[t] = 0;
        }
    }
    EXPECT_EQ_INT(bad, 0);
    free(mark);
    tp_destroy(tp);
}
