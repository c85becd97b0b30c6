#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ArenaChunk {
    ArenaChunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void arena_init(Arena *a, size_t first_chunk_bytes) {
    *a = (Arena){0};
    a->chunk_bytes = first_chunk_bytes ? first_chunk_bytes : 64 * 1024;
}

void arena_free(Arena *a) {
    if (!a) return;
    ArenaChunk *c = a->head;
    while (c) {
        ArenaChunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

void *arena_alloc(Arena *a, size_t bytes) {
    if (bytes > SIZE_MAX - 64) return NULL;
    size_t need = (bytes + 15) & ~(size_t)15;
    ArenaChunk *c = a->head;
    if (!c || c->cap - c->used < need) {
        if (a->chunk_bytes == 0) a->chunk_bytes = 64 * 1024;
        size_t cap = a->chunk_bytes;
        while (cap < need) cap *= 2;
        c = malloc(sizeof(ArenaChunk) + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
        if (a->chunk_bytes < (size_t)1 << 26) a->chunk_bytes *= 2;
    }
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, bytes);
    return p;
}

void *arena_array(Arena *a, size_t n, size_t sz) {
    if (sz && n > SIZE_MAX / sz) return NULL;
    return arena_alloc(a, n * sz);
}

char *arena_strdup(Arena *a, Str s) {
    char *p = arena_alloc(a, s.len + 1);
    if (!p) return NULL;
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    return p;
}
