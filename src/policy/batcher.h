// batcher.h — dynamic batching for one-shot models (embeddings, classifiers), Triton's meaning:
// requests wait in a FIFO until max_batch_size of them are queued or the oldest has waited
// max_queue_delay_us, then go out together. Pure: no clock (now_us is a parameter), no
// allocation after batcher_create (a ring of max_queue items).
//
//   batcher_add(b, id, tokens, now_us);          // ERR_FULL when max_queue are waiting (429)
//   t = batcher_ready_at(b);                      // when the next batch is due (-1: empty)
//   if (server free && now_us >= t) n = batcher_take(b, now_us, items, cap);
//   batcher_remove(b, id);                        // a client that left before its batch went out
#ifndef RS_BATCHER_H
#define RS_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t max_batch_size;       // >= 1
    int64_t max_queue_delay_us;   // >= 0; 0 sends whatever is queued at once
    int64_t max_queue;            // >= max_batch_size
} BatcherConfig;

typedef struct {
    uint64_t id;
    int64_t tokens;
    int64_t arrival_us;
} BatchItem;

typedef struct Batcher Batcher;

// NULL with a one-line reason in err when the config is out of range or memory runs out.
Batcher *batcher_create(const BatcherConfig *cfg, char *err, size_t err_len);
void batcher_destroy(Batcher *b);
// Queues one request. 0, or ERR_FULL (nothing changes).
int batcher_add(Batcher *b, uint64_t id, int64_t tokens, int64_t now_us);
// Earliest time the next batch is due: the oldest arrival when a full batch is queued, else the
// oldest arrival + max_queue_delay_us; -1 when empty.
int64_t batcher_ready_at(const Batcher *b);
// If a batch is due at now_us, moves up to min(max_batch_size, cap) oldest items into out and
// returns how many; else 0.
int64_t batcher_take(Batcher *b, int64_t now_us, BatchItem *out, int64_t cap);
int64_t batcher_len(const Batcher *b);
// Removes the queued request id (its client left before its batch went out), keeping the order of
// the others. True when it was queued.
bool batcher_remove(Batcher *b, uint64_t id);

#endif
