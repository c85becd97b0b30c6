// respcache.h — the exact-match response cache's rules, shared by the gateway (which keeps the
// answers' bytes) and the planner (which keeps none): which requests may be answered from the
// cache, what names an answer, and which entry goes when.
//
// A request is cacheable only when its answer is determined by its body: temperature 0, or a
// fixed integer `seed` (respcache_cacheable). Its key is a 64-bit FNV-1a hash of the canonical
// request text: the matched route's index, the endpoint, then the body as JSON with object keys
// sorted and the fields that never change the answer removed (respcache_field_ignored); the
// gateway compares the whole canonical text on a hit, so a hash collision is a miss, never a
// wrong answer.
//
// The store is an LRU bounded in bytes and entries, with one TTL for every entry. It holds only
// metadata (key, bytes, stored time) in slots; the caller keeps each slot's payload and frees it
// when the on_evict callback names the slot. Pure: no clock (now_us is a parameter), no
// allocation after respcache_create.
//
//   slot = respcache_lookup(c, key, now_us);                // -1: miss (an expired entry is evicted)
//   slot = respcache_insert(c, key, bytes, now_us);         // evicts LRU entries until it fits
#ifndef RS_RESPCACHE_H
#define RS_RESPCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/router.h"

// Why a request was not looked up (RESPCACHE_OK: it was). Names: respcache_skip_name.
typedef enum {
    RESPCACHE_OK = 0,
    RESPCACHE_SKIP_SAMPLED,      // temperature > 0 (or left to its default of 1) without a seed
    RESPCACHE_SKIP_NO_STORE,     // the client sent Cache-Control: no-store
    RESPCACHE_SKIP_OFF,          // the route's cache is off
    RESPCACHE_SKIP_COUNT
} RespCacheSkip;

// What decides whether a body's answer is determined by it.
typedef struct {
    RouterEndpoint endpoint;
    bool has_temperature;
    double temperature;
    bool has_seed;               // an integer `seed` field
} RespCacheReq;

// RESPCACHE_OK when the request may be served from (and stored into) the cache. Embeddings are
// always deterministic; completions and chat when temperature is 0 or a seed is fixed.
RespCacheSkip respcache_cacheable(const RespCacheReq *req);
const char *respcache_skip_name(RespCacheSkip s);
// Whether a top-level body field leaves the answer unchanged (and is left out of the key):
// `user`, `metadata`, `store`, `service_tier`.
bool respcache_field_ignored(const char *name);
// FNV-1a 64 of bytes, continuing from h (start with RESPCACHE_HASH_INIT).
#define RESPCACHE_HASH_INIT 0xcbf29ce484222325ULL
uint64_t respcache_hash(uint64_t h, const void *bytes, size_t len);

typedef struct {
    int64_t max_bytes;           // bound on the sum of entries' bytes (> 0)
    int64_t max_entries;         // bound on the number of entries (> 0)
    int64_t ttl_us;              // an entry older than this is gone (> 0)
    // Called for each slot whose entry leaves the store (evicted or expired) before the slot is
    // reused; ctx is the config's.
    void (*on_evict)(void *ctx, int64_t slot, bool expired);
    void *ctx;
} RespCacheConfig;

typedef struct {
    int64_t entries, bytes;               // now
    int64_t hits, misses, inserts, evictions, expirations;
} RespCacheStats;

typedef struct RespCache RespCache;

// NULL with a one-line reason in err when the config is out of range or memory runs out.
RespCache *respcache_create(const RespCacheConfig *cfg, char *err, size_t err_len);
void respcache_destroy(RespCache *c);
// The slot holding key, made most recently used, or -1 (a miss; an expired entry under key is
// evicted first). Counts a hit or a miss.
int64_t respcache_lookup(RespCache *c, uint64_t key, int64_t now_us);
// Stores key with its size in bytes, replacing any entry under key, evicting expired entries
// and then least recently used ones until the bounds hold. Returns its slot, or -1 when bytes
// alone exceed max_bytes (nothing is stored or evicted).
int64_t respcache_insert(RespCache *c, uint64_t key, int64_t bytes, int64_t now_us);
// Removes the entry in slot (e.g. its payload turned out not to match); on_evict is not called.
void respcache_remove(RespCache *c, int64_t slot);
// Evicts every entry past its TTL at now_us (on_evict with expired = true).
void respcache_expire(RespCache *c, int64_t now_us);
RespCacheStats respcache_stats(const RespCache *c);
// When slot's entry was stored.
int64_t respcache_stored_us(const RespCache *c, int64_t slot);

#endif
