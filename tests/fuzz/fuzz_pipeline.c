// libFuzzer target: the serve pipeline config. Any bytes must load or be refused with a one-line
// message that names the file — never crash, leak or read out of bounds. An accepted config is
// checked against the loader's contract: every tier/route/canary reference is in range, a
// cascade's tiers differ, a canary's baseline is its route's first tier.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "serve/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Pipeline p;
    char err[600];
    err[0] = 0;
    if (pipeline_load_buf(&p, "fuzz.yaml", (const char *)data, size, false, err, sizeof err) != 0) {
        CHECK(strncmp(err, "fuzz.yaml", 9) == 0 && strchr(err, '\n') == NULL);
        return 0;
    }
    CHECK(p.n_tiers >= 1 && p.n_tiers <= PIPE_MAX_TIERS && p.n_routes >= 1 && p.n_routes <= PIPE_MAX_ROUTES);
    for (int i = 0; i < p.n_tiers; i++)
        CHECK(p.tiers[i].name[0] && p.tiers[i].min_replicas <= p.tiers[i].max_replicas);
    for (int i = 0; i < p.n_routes; i++) {
        const RouteRule *r = &p.routes[i];
        if (r->kind == ROUTE_TIER) CHECK(r->tier >= 0 && r->tier < p.n_tiers);
        else CHECK(r->first >= 0 && r->then >= 0 && r->first < p.n_tiers && r->then < p.n_tiers && r->first != r->then);
        CHECK(r->canary >= -1 && r->canary < p.n_canaries);
    }
    for (int k = 0; k < p.n_canaries; k++) {
        const PipeCanary *c = &p.canaries[k];
        CHECK(c->route >= 0 && c->route < p.n_routes && p.routes[c->route].canary == k);
        const RouteRule *r = &p.routes[c->route];
        CHECK(c->baseline == (r->kind == ROUTE_TIER ? r->tier : r->first) && c->candidate != c->baseline);
    }
    return 0;
}
