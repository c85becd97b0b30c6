#include "policy/dispatch.h"

int dispatch_pick(const DispatchSlot *slots, int n) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        const DispatchSlot *s = &slots[i];
        if (!s->ready || s->load >= s->cap) continue;
        if (best < 0 || s->load < slots[best].load) best = i;
    }
    return best;
}

bool dispatch_admit(int64_t waiting, int64_t max_queue, bool replica_free) {
    return replica_free || waiting < max_queue;
}
