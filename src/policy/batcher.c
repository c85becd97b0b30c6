#include "policy/batcher.h"

#include <stdlib.h>

#include "base/check.h"

struct Batcher {
    BatcherConfig cfg;
    BatchItem *ring;   // cfg.max_queue slots
    int64_t head, len;
};

Batcher *batcher_create(const BatcherConfig *cfg, char *err, size_t err_len) {
    if (cfg->max_batch_size < 1 || cfg->max_queue_delay_us < 0 || cfg->max_queue < cfg->max_batch_size ||
        cfg->max_queue > ((int64_t)1 << 30)) {
        err_set(err, err_len, ERR_RANGE, "batcher: need max_batch_size >= 1, max_queue_delay >= 0 and "
                "max_batch_size <= max_queue <= 2^30 (got %lld, %lld, %lld)", (long long)cfg->max_batch_size,
                (long long)cfg->max_queue_delay_us, (long long)cfg->max_queue);
        return NULL;
    }
    Batcher *b = calloc(1, sizeof *b);
    if (!b) goto fail;
    b->cfg = *cfg;
    b->ring = calloc((size_t)cfg->max_queue, sizeof *b->ring);
    if (!b->ring) goto fail;
    return b;
fail:
    batcher_destroy(b);
    err_set(err, err_len, ERR_NOMEM, "batcher: out of memory");
    return NULL;
}

void batcher_destroy(Batcher *b) {
    if (!b) return;
    free(b->ring);
    free(b);
}

int batcher_add(Batcher *b, uint64_t id, int64_t tokens, int64_t now_us) {
    if (b->len == b->cfg.max_queue) return ERR_FULL;
    int64_t i = (b->head + b->len) % b->cfg.max_queue;
    b->ring[i] = (BatchItem){id, tokens, now_us};
    b->len++;
    return 0;
}

int64_t batcher_ready_at(const Batcher *b) {
    if (b->len == 0) return -1;
    int64_t oldest = b->ring[b->head].arrival_us;
    return b->len >= b->cfg.max_batch_size ? oldest : oldest + b->cfg.max_queue_delay_us;
}

int64_t batcher_take(Batcher *b, int64_t now_us, BatchItem *out, int64_t cap) {
    int64_t due = batcher_ready_at(b);
    if (due < 0 || now_us < due) return 0;
    int64_t n = b->len < b->cfg.max_batch_size ? b->len : b->cfg.max_batch_size;
    if (n > cap) n = cap;
    for (int64_t i = 0; i < n; i++) {
        out[i] = b->ring[b->head];
        b->head = (b->head + 1) % b->cfg.max_queue;
    }
    b->len -= n;
    return n;
}

int64_t batcher_len(const Batcher *b) { return b->len; }

bool batcher_remove(Batcher *b, uint64_t id) {
    int64_t q = b->cfg.max_queue;
    for (int64_t i = 0; i < b->len; i++) {
        if (b->ring[(b->head + i) % q].id != id) continue;
        for (int64_t j = i; j + 1 < b->len; j++) b->ring[(b->head + j) % q] = b->ring[(b->head + j + 1) % q];
        b->len--;
        return true;
    }
    return false;
}
