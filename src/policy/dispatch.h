// dispatch.h — which replica of a tier takes the next request, and whether the tier's bounded
// queue admits one. Pure policy code: the gateway (real replicas) and the simulator (virtual
// ones) both call these, so they dispatch and refuse the same requests.
#ifndef RS_DISPATCH_H
#define RS_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool ready;      // serving (not starting, draining, warm-pooled or stopped)
    int64_t load;    // requests it holds now
    int64_t cap;     // requests it may hold (max_concurrency / max_num_seqs)
} DispatchSlot;

// The least-loaded ready replica with room (load < cap); ties go to the lowest index. -1: none.
int dispatch_pick(const DispatchSlot *slots, int n);
// True when a request may wait in a tier queue that holds `waiting` requests: there is room
// (waiting < max_queue) or a replica can take it at once. False → refuse (the gateway's 429 with
// Retry-After; the simulator counts it rejected).
bool dispatch_admit(int64_t waiting, int64_t max_queue, bool replica_free);

#endif
