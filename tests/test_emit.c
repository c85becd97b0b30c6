// Tests of the pipeline schema that `plan --emit` writes: pricing per capacity kind (a reserved
// floor, then burst capacity), per-tier autoscalers over the pipeline's section, batch run windows
// and the refusals that name the file, line and key.
#include <stdlib.h>
#include <string.h>

#include "serve/pipeline.h"
#include "test.h"

static const char TIERS[] =
    "listen: 127.0.0.1:8080\n"
    "slo: {job_deadline_hours: 4, e2e_p95_ms: 900}\n"
    "tiers:\n"
    "  - name: main\n"
    "    url: http://127.0.0.1:9/v1\n"
    "    model: m\n"
    "    launch: \"vllm serve org/m --max-num-seqs 16\"\n"
    "    replicas: {min: 2, max: 5}\n"
    "    capacity: spot\n"
    "    cost_per_hour: 0.3\n"
    "    reserved: {replicas: 1, term: 3y, cost_per_hour: 0.45}\n"
    "    autoscaling: {target_per_replica: 6.4, warm_pool: 1}\n"
    "  - name: nightly\n"
    "    url: http://127.0.0.1:9/v1\n"
    "    model: m\n"
    "    replicas: {min: 0, max: 3}\n"
    "    cost_per_hour: 1.2\n"
    "    autoscaling: {target_per_replica: 1e12, schedule: [{start_hour: 0.75, end_hour: 5, min_replicas: 3}]}\n"
    "routes:\n"
    "  - {match: {endpoint: chat}, tier: main}\n"
    "autoscaling: {metric: num_requests_in_flight, interval_s: 5, upscale_delay_s: 15, downscale_delay_s: 300}\n";

TEST(pipeline_prices_reserved_floor_then_burst) {
    Pipeline *p = malloc(sizeof *p);
    char err[512];
    ASSERT(p);
    ASSERT(pipeline_load_buf(p, "p.yaml", TIERS, strlen(TIERS), false, err, sizeof err) == 0);
    const PipeTier *t = &p->tiers[0];
    EXPECT(t->reserved_replicas == 1 && t->reserved_kind == PIPE_RESERVED_3Y && t->capacity_kind == PIPE_SPOT);
    EXPECT(strcmp(t->launch, "vllm serve org/m --max-num-seqs 16") == 0);
    double usd;
    EXPECT(pipeline_tier_price(t, 0, &usd) == PIPE_RESERVED_3Y && usd == 0.45);
    EXPECT(pipeline_tier_price(t, 1, &usd) == PIPE_SPOT && usd == 0.3);
    EXPECT(pipeline_tier_price(&p->tiers[1], 0, &usd) == PIPE_ON_DEMAND && usd == 1.2);
    // Each tier's autoscaler: the pipeline's section, the tier's keys over it, its own bounds.
    EXPECT(t->autoscaled && t->autoscale.target_per_replica == 6.4 && t->autoscale.warm_pool == 1);
    EXPECT(t->autoscale.upscale_delay_us == 15000000 && t->autoscale.downscale_delay_us == 300000000);
    EXPECT(t->autoscale.min_replicas == 2 && t->autoscale.max_replicas == 5);
    const AutoscaleConfig *n = &p->tiers[1].autoscale;
    EXPECT(n->target_per_replica == 1e12 && n->n_windows == 1 && n->windows[0].start_hour == 0.75 &&
           n->windows[0].min_replicas == 3 && n->min_replicas == 0);
    EXPECT(p->autoscale_interval_us == 5000000 && p->slo_job_deadline_hours == 4 && p->slo_e2e_p95_ms == 900);
    free(p);
}

TEST(pipeline_refuses_bad_pricing_and_metrics) {
    static const struct { const char *from, *to, *want; } bad[] = {
        {"reserved: {replicas: 1,", "reserved: {replicas: 3,",
         "p.yaml:11: key 'tiers[0].reserved.replicas': 3 reserved replicas are always on: raise replicas.min (2)"},
        {"capacity: spot", "capacity: preemptible", "p.yaml:9: key 'tiers[0].capacity'"},
        {"metric: num_requests_in_flight", "metric: num_requests_waiting", "key 'autoscaling.metric'"},
        {"min_replicas: 3}", "min_replicas: 4}", "schedule window asks for 4 replicas > replicas.max 3"},
    };
    Pipeline *p = malloc(sizeof *p);
    ASSERT(p);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[sizeof TIERS + 64], err[512];
        const char *at = strstr(TIERS, bad[i].from);
        ASSERT(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - TIERS), TIERS, bad[i].to, at + strlen(bad[i].from));
        EXPECT(pipeline_load_buf(p, "p.yaml", text, strlen(text), false, err, sizeof err) != 0);
        if (!strstr(err, bad[i].want)) test_fail(__FILE__, __LINE__, "case %zu: '%s' lacks '%s'", i, err, bad[i].want);
    }
    free(p);
}
