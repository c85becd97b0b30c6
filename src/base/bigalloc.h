// bigalloc.h — allocations of tens of MiB or more that are read at streaming rates (packed model
// weights, the KV cache): aligned to 2 MiB and marked for transparent huge pages, so walking
// them costs one TLB entry per 2 MiB instead of per 4 KiB (Debian's default THP mode is
// "madvise": only regions that ask get them). Measured on the 110m Q8_0 weights: one-thread
// decode streams ~10% faster. Smaller sizes get ordinary 64-byte aligned memory.
#ifndef RS_BIGALLOC_H
#define RS_BIGALLOC_H

#include <stddef.h>

// n bytes (uninitialised), 64-byte aligned at least; NULL when out of memory. Release with free().
void *big_alloc(size_t n);

#endif
