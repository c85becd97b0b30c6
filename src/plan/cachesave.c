// cachesave.c — what the workload's caches save (cache: in docs/workload.md): the chosen plan is
// analysed and simulated again on the same workload with no cache, with the response cache only
// and with the prefix cache only, like any candidate (replicas resized by the analysis), so the
// report can say what each cache is worth in $/month. Each alone, so the order does not matter:
// "saves" = cost(plan without that cache) − cost(plan).
#include <string.h>

#include "base/check.h"
#include "plan/search.h"

const char *const search_cache_variant_names[CACHE_VARIANTS] = {
    [CACHE_NONE] = "no cache", [CACHE_NO_RESPONSE] = "without the response cache",
    [CACHE_NO_PREFIX] = "without the prefix cache"};

// The busy (attributed) replica cost of a simulated day, per 30-day month.
static double busy_month(const SearchOptions *o, const SimResult *s) {
    double h = o->horizon_s > 0 ? o->horizon_s : 86400;
    return s->attributed_usd * WL_MONTH_S / h;
}

int search_cache_savings(const Catalog *cat, const Workload *wl, const SearchOptions *o, SearchResult *r, char *err,
                         size_t err_len) {
    r->cache_done = false;
    bool resp = wl->cache_response_hit_rate > 0, prefix = wl->cache_shared_prefix_tokens > 0 && wl->cache_prefix_hit_rate > 0;
    if (r->best < 0 || (!resp && !prefix)) return 0;
    const Candidate *plan = &r->cands[r->best];
    r->plan_busy_usd_month = plan->sim ? busy_month(o, &plan->sim[SCEN_EXPECTED]) : 0;
    for (int v = 0; v < CACHE_VARIANTS; v++) {
        Workload w = *wl;   // shallow: the trace stays wl's
        if (v == CACHE_NONE || v == CACHE_NO_RESPONSE) w.cache_response_hit_rate = 0;
        if (v == CACHE_NONE || v == CACHE_NO_PREFIX) w.cache_shared_prefix_tokens = 0;
        Candidate *c = &r->cache_var[v];
        *c = *plan;
        c->sim = NULL;
        c->simulated = c->meets_slo = false;
        r->cache_used[v] = v == CACHE_NONE || (v == CACHE_NO_RESPONSE ? resp : prefix);
        if (!r->cache_used[v]) continue;
        search_analyze(cat, &w, NULL, 0, c);
        if (c->pruned) continue;
        int rc = search_simulate(cat, &w, o, c, false, err, err_len);
        if (!rc && c->sim) r->cache_busy_usd_month[v] = busy_month(o, &c->sim[SCEN_EXPECTED]);
        search_free_candidate(c);   // only the costs are kept
        if (rc) return rc;
    }
    r->cache_done = true;
    return 0;
}
