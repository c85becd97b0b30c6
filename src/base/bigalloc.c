#include "base/bigalloc.h"

#include <stdlib.h>
#include <sys/mman.h>

#define BIG_PAGE ((size_t)2 << 20)

void *big_alloc(size_t n) {
    if (n == 0) n = 1;
    size_t align = n >= 2 * BIG_PAGE ? BIG_PAGE : 64;
    void *p;
    if (posix_memalign(&p, align, n)) return NULL;
#ifdef MADV_HUGEPAGE
    if (align == BIG_PAGE) (void)madvise(p, n & ~(BIG_PAGE - 1), MADV_HUGEPAGE);  // advice only
#endif
    return p;
}
