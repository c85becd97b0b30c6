// arena.h — bump allocator for per-request and per-load memory, freed in one call.
// Allocations are 16-byte aligned and zeroed. Chunks grow geometrically; nothing is freed
// individually. arena_free on a zeroed Arena is a no-op.
#ifndef RS_ARENA_H
#define RS_ARENA_H

#include <stddef.h>

#include "base/str.h"

typedef struct ArenaChunk ArenaChunk;
typedef struct {
    ArenaChunk *head;
    size_t chunk_bytes;   // size of the next chunk to allocate (default 64 KiB)
} Arena;

void arena_init(Arena *a, size_t first_chunk_bytes);
void arena_free(Arena *a);
// Returns zeroed memory owned by the arena, or NULL when out of memory.
void *arena_alloc(Arena *a, size_t bytes);
// Allocates n elements of size sz with an overflow check.
void *arena_array(Arena *a, size_t n, size_t sz);
// Copies s into the arena (NUL-terminated); NULL when out of memory.
char *arena_strdup(Arena *a, Str s);

#endif
