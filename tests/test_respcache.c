// test_respcache.c — the response cache's rule and store. Truths: the rule's cases by hand; the
// LRU/TTL/byte-bound store against a plain array model (linear scans, recency by a counter) over
// a long random sequence of lookups and inserts.
#include <stdio.h>
#include <string.h>

#include "base/rng.h"
#include "policy/respcache.h"
#include "test.h"

TEST(respcache_rule) {
    RespCacheReq r = {.endpoint = RT_EP_CHAT};
    EXPECT(respcache_cacheable(&r) == RESPCACHE_SKIP_SAMPLED);   // default temperature 1
    r.has_temperature = true, r.temperature = 0.7;
    EXPECT(respcache_cacheable(&r) == RESPCACHE_SKIP_SAMPLED);
    r.temperature = 0;
    EXPECT(respcache_cacheable(&r) == RESPCACHE_OK);
    r.temperature = 0.7, r.has_seed = true;
    EXPECT(respcache_cacheable(&r) == RESPCACHE_OK);
    RespCacheReq e = {.endpoint = RT_EP_EMBEDDINGS};
    EXPECT(respcache_cacheable(&e) == RESPCACHE_OK);
    EXPECT(respcache_field_ignored("user"));
    EXPECT(!respcache_field_ignored("temperature"));
    EXPECT(strcmp(respcache_skip_name(RESPCACHE_SKIP_SAMPLED), "sampled") == 0);
    // FNV-1a 64 of "a" (published test vector)
    EXPECT(respcache_hash(RESPCACHE_HASH_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
}

// ---- a plain model of the store ----

typedef struct {
    uint64_t key;
    int64_t bytes, stored, used_at;
    bool live;
} ModelEntry;

typedef struct {
    ModelEntry e[64];
    int64_t max_bytes, max_entries, ttl, clock;
    int64_t evictions, expirations;
} Model;

static int64_t model_bytes(const Model *m, int64_t *n) {
    int64_t b = 0;
    *n = 0;
    for (int i = 0; i < 64; i++)
        if (m->e[i].live) b += m->e[i].bytes, (*n)++;
    return b;
}

static void model_expire(Model *m, int64_t now) {
    for (int i = 0; i < 64; i++)
        if (m->e[i].live && now - m->e[i].stored >= m->ttl) m->e[i].live = false, m->expirations++;
}

static int model_find(Model *m, uint64_t key) {
    for (int i = 0; i < 64; i++)
        if (m->e[i].live && m->e[i].key == key) return i;
    return -1;
}

static bool model_lookup(Model *m, uint64_t key, int64_t now) {
    int i = model_find(m, key);
    if (i >= 0 && now - m->e[i].stored >= m->ttl) m->e[i].live = false, m->expirations++, i = -1;
    if (i < 0) return false;
    m->e[i].used_at = ++m->clock;
    return true;
}

static void model_insert(Model *m, uint64_t key, int64_t bytes, int64_t now) {
    if (bytes > m->max_bytes) return;
    int i = model_find(m, key);
    if (i >= 0) m->e[i].live = false, m->evictions++;
    model_expire(m, now);
    int64_t n, b = model_bytes(m, &n);
    while (n >= m->max_entries || b + bytes > m->max_bytes) {
        int lru = -1;
        for (int k = 0; k < 64; k++)
            if (m->e[k].live && (lru < 0 || m->e[k].used_at < m->e[lru].used_at)) lru = k;
        m->e[lru].live = false;
        m->evictions++;
        b = model_bytes(m, &n);
    }
    for (int k = 0; k < 64; k++)
        if (!m->e[k].live) {
            m->e[k] = (ModelEntry){key, bytes, now, ++m->clock, true};
            return;
        }
}

typedef struct {
    int64_t evicted, expired;
} EvictLog;

static void on_evict(void *ctx, int64_t slot, bool expired) {
    EvictLog *l = ctx;
    (void)slot;
    if (expired) l->expired++;
    else l->evicted++;
}

TEST(respcache_store_matches_model) {
    EvictLog log = {0};
    RespCacheConfig cfg = {.max_bytes = 1000, .max_entries = 12, .ttl_us = 5000, .on_evict = on_evict, .ctx = &log};
    RespCache *c = respcache_create(&cfg, NULL, 0);
    ASSERT(c);
    Model m = {.max_bytes = 1000, .max_entries = 12, .ttl = 5000};
    Rng rng;
    rng_seed(&rng, 7);
    int64_t now = 0, hits = 0;
    for (int step = 0; step < 20000; step++) {
        now += step % 200 == 199 ? 6000 : (int64_t)(rng_u64(&rng) % 40);   // now and then past the TTL
        uint64_t key = 1 + rng_u64(&rng) % 30;
        if (rng_u64(&rng) % 2) {
            bool want = model_lookup(&m, key, now);
            int64_t s = respcache_lookup(c, key, now);
            EXPECT((s >= 0) == want);
            hits += want;
        } else {
            int64_t bytes = 1 + (int64_t)(rng_u64(&rng) % 300);
            if (step % 997 == 0) bytes = 1001;   // over the bound: refused, nothing evicted
            model_insert(&m, key, bytes, now);
            int64_t s = respcache_insert(c, key, bytes, now);
            EXPECT((s >= 0) == (bytes <= 1000));
        }
        int64_t n, b = model_bytes(&m, &n);
        RespCacheStats st = respcache_stats(c);
        EXPECT(st.bytes == b && st.entries == n);
        EXPECT(st.bytes <= 1000 && st.entries <= 12);
        if (st.bytes != b) break;
    }
    RespCacheStats st = respcache_stats(c);
    EXPECT(st.hits == hits && hits > 1000);
    EXPECT(st.evictions == m.evictions && st.expirations == m.expirations);
    EXPECT(log.evicted == st.evictions && log.expired == st.expirations);
    EXPECT(st.evictions > 100 && st.expirations > 100);   // both bounds were exercised
    respcache_destroy(c);
}

TEST(respcache_ttl_and_bytes) {
    RespCacheConfig cfg = {.max_bytes = 100, .max_entries = 4, .ttl_us = 1000};
    RespCache *c = respcache_create(&cfg, NULL, 0);
    ASSERT(c);
    EXPECT(respcache_insert(c, 1, 60, 0) >= 0);
    EXPECT(respcache_lookup(c, 1, 999) >= 0);
    EXPECT(respcache_lookup(c, 1, 1000) < 0);   // expired at exactly the TTL
    EXPECT(respcache_insert(c, 1, 60, 2000) >= 0);
    EXPECT(respcache_insert(c, 2, 60, 2001) >= 0);   // 120 > 100: key 1 goes
    EXPECT(respcache_lookup(c, 1, 2002) < 0);
    EXPECT(respcache_lookup(c, 2, 2002) >= 0);
    RespCacheStats st = respcache_stats(c);
    EXPECT(st.evictions == 1 && st.expirations == 1 && st.bytes == 60);
    RespCacheConfig bad = {.max_bytes = 0, .max_entries = 4, .ttl_us = 1};
    char err[120];
    EXPECT(respcache_create(&bad, err, sizeof err) == NULL && strstr(err, "max_bytes"));
    respcache_destroy(c);
}
