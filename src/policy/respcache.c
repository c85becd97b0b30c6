// respcache.c — the response cache's rules and its bounded LRU store (respcache.h).
#include "policy/respcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

// ---- the rule ----

RespCacheSkip respcache_cacheable(const RespCacheReq *req) {
    if (req->endpoint == RT_EP_EMBEDDINGS) return RESPCACHE_OK;
    if (req->has_seed) return RESPCACHE_OK;
    // OpenAI's default temperature is 1: a request that leaves it out samples.
    if (req->has_temperature && req->temperature == 0) return RESPCACHE_OK;
    return RESPCACHE_SKIP_SAMPLED;
}

const char *respcache_skip_name(RespCacheSkip s) {
    static const char *const names[RESPCACHE_SKIP_COUNT] = {
        [RESPCACHE_OK] = "cacheable",
        [RESPCACHE_SKIP_SAMPLED] = "sampled",
        [RESPCACHE_SKIP_NO_STORE] = "no_store",
        [RESPCACHE_SKIP_OFF] = "off",
    };
    return (unsigned)s < RESPCACHE_SKIP_COUNT ? names[s] : "?";
}

bool respcache_field_ignored(const char *name) {
    static const char *const ignored[] = {"user", "metadata", "store", "service_tier"};
    for (size_t i = 0; i < ARRAY_LEN(ignored); i++)
        if (strcmp(name, ignored[i]) == 0) return true;
    return false;
}

uint64_t respcache_hash(uint64_t h, const void *bytes, size_t len) {
    const unsigned char *p = bytes;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

// ---- the store ----

typedef struct {
    uint64_t key;
    int64_t bytes, stored_us;
    int64_t lru_prev, lru_next;   // recency list: head = least recently used
    int64_t age_prev, age_next;   // storage order: head = oldest (one TTL: expiry order)
    int64_t chain;                // next slot in the same hash bucket, or free list link
    bool used;
} Slot;

typedef struct {
    int64_t head, tail;
} List;

struct RespCache {
    RespCacheConfig cfg;
    Slot *slots;       // [max_entries]
    int64_t *bucket;   // [n_buckets] first slot, -1
    int64_t n_buckets; // power of two
    int64_t free_head;
    List lru, age;
    RespCacheStats st;
};

#define LINK(name)                                                                                                  \
    static void name##_push(RespCache *c, int64_t s) {                                                             \
        Slot *x = &c->slots[s];                                                                                    \
        x->name##_next = -1;                                                                                       \
        x->name##_prev = c->name.tail;                                                                             \
        if (c->name.tail >= 0) c->slots[c->name.tail].name##_next = s;                                             \
        else c->name.head = s;                                                                                     \
        c->name.tail = s;                                                                                          \
    }                                                                                                              \
    static void name##_unlink(RespCache *c, int64_t s) {                                                           \
        Slot *x = &c->slots[s];                                                                                    \
        if (x->name##_prev >= 0) c->slots[x->name##_prev].name##_next = x->name##_next;                            \
        else c->name.head = x->name##_next;                                                                        \
        if (x->name##_next >= 0) c->slots[x->name##_next].name##_prev = x->name##_prev;                            \
        else c->name.tail = x->name##_prev;                                                                        \
    }
LINK(lru)
LINK(age)
#undef LINK

RespCache *respcache_create(const RespCacheConfig *cfg, char *err, size_t err_len) {
    if (cfg->max_bytes <= 0 || cfg->max_entries <= 0 || cfg->ttl_us <= 0 || cfg->max_entries > ((int64_t)1 << 24)) {
        err_set(err, err_len, ERR_RANGE, "response cache: max_bytes, max_entries (<= 16M) and ttl must be positive");
        return NULL;
    }
    RespCache *c = calloc(1, sizeof *c);
    if (!c) goto nomem;
    c->cfg = *cfg;
    c->n_buckets = 1;
    while (c->n_buckets < 2 * cfg->max_entries) c->n_buckets *= 2;
    c->slots = calloc((size_t)cfg->max_entries, sizeof *c->slots);
    c->bucket = malloc((size_t)c->n_buckets * sizeof *c->bucket);
    if (!c->slots || !c->bucket) goto nomem;
    for (int64_t b = 0; b < c->n_buckets; b++) c->bucket[b] = -1;
    for (int64_t s = 0; s < cfg->max_entries; s++) c->slots[s].chain = s + 1 < cfg->max_entries ? s + 1 : -1;
    c->free_head = 0;
    c->lru = c->age = (List){-1, -1};
    return c;
nomem:
    respcache_destroy(c);
    err_set(err, err_len, ERR_NOMEM, "response cache: out of memory");
    return NULL;
}

void respcache_destroy(RespCache *c) {
    if (!c) return;
    free(c->slots);
    free(c->bucket);
    free(c);
}

static int64_t *bucket_of(RespCache *c, uint64_t key) {
    return &c->bucket[(key ^ (key >> 29)) & (uint64_t)(c->n_buckets - 1)];
}

static int64_t find(RespCache *c, uint64_t key) {
    for (int64_t s = *bucket_of(c, key); s >= 0; s = c->slots[s].chain)
        if (c->slots[s].key == key) return s;
    return -1;
}

// Takes slot s out of every list and back onto the free list.
static void drop(RespCache *c, int64_t s) {
    Slot *x = &c->slots[s];
    CHECK(x->used);
    int64_t *p = bucket_of(c, x->key);
    while (*p != s) p = &c->slots[*p].chain;
    *p = x->chain;
    lru_unlink(c, s);
    age_unlink(c, s);
    c->st.entries--;
    c->st.bytes -= x->bytes;
    x->used = false;
    x->chain = c->free_head;
    c->free_head = s;
}

static void evict(RespCache *c, int64_t s, bool expired) {
    drop(c, s);
    if (expired) c->st.expirations++;
    else c->st.evictions++;
    if (c->cfg.on_evict) c->cfg.on_evict(c->cfg.ctx, s, expired);
}

void respcache_expire(RespCache *c, int64_t now_us) {
    while (c->age.head >= 0 && now_us - c->slots[c->age.head].stored_us >= c->cfg.ttl_us) evict(c, c->age.head, true);
}

int64_t respcache_lookup(RespCache *c, uint64_t key, int64_t now_us) {
    int64_t s = find(c, key);
    if (s >= 0 && now_us - c->slots[s].stored_us >= c->cfg.ttl_us) {
        evict(c, s, true);
        s = -1;
    }
    if (s < 0) {
        c->st.misses++;
        return -1;
    }
    c->st.hits++;
    lru_unlink(c, s);
    lru_push(c, s);
    return s;
}

int64_t respcache_insert(RespCache *c, uint64_t key, int64_t bytes, int64_t now_us) {
    if (bytes < 0 || bytes > c->cfg.max_bytes) return -1;
    int64_t old = find(c, key);
    if (old >= 0) evict(c, old, false);
    respcache_expire(c, now_us);
    while (c->st.entries >= c->cfg.max_entries || c->st.bytes + bytes > c->cfg.max_bytes) {
        CHECK(c->lru.head >= 0);
        evict(c, c->lru.head, false);
    }
    int64_t s = c->free_head;
    CHECK(s >= 0);
    Slot *x = &c->slots[s];
    c->free_head = x->chain;
    *x = (Slot){.key = key, .bytes = bytes, .stored_us = now_us, .used = true};
    int64_t *b = bucket_of(c, key);
    x->chain = *b;
    *b = s;
    lru_push(c, s);
    age_push(c, s);
    c->st.entries++;
    c->st.bytes += bytes;
    c->st.inserts++;
    return s;
}

void respcache_remove(RespCache *c, int64_t slot) {
    if (slot >= 0 && slot < c->cfg.max_entries && c->slots[slot].used) drop(c, slot);
}

RespCacheStats respcache_stats(const RespCache *c) { return c->st; }

int64_t respcache_stored_us(const RespCache *c, int64_t slot) {
    CHECK(slot >= 0 && slot < c->cfg.max_entries && c->slots[slot].used);
    return c->slots[slot].stored_us;
}
