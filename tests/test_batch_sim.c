// Tests of batch runs in the planner's simulator: a run's replicas exist for its window and are
// gone after it (billing = replicas x window, the analytic figure), the run's completion time is
// its latency, and a run timed from a sample of its requests (sim.h batch_sample) agrees with
// simulating every request.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plan/search.h"
#include "test.h"

static const char BATCH_WL[] =
    "name: batch-test\n"
    "class: batch\n"
    "batch: {requests_per_run: 48000, start_hour: 1, deadline_hours: 4}\n"
    "tokens:\n"
    "  input:  {dist: lognormal, mean: 600, cv: 0.5, min: 16, max: 4000}\n"
    "  output: {dist: lognormal, mean: 40, cv: 0.4, min: 1, max: 200}\n";

TEST(batch_run_lives_in_its_window_and_samples_agree) {
    Catalog cat;
    Workload wl;
    char err[512], path[512];
    ASSERT(catalog_load(&cat, "data/catalog", err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/batch.yaml", test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs(BATCH_WL, f);
    fclose(f);
    ASSERT(wl_load(&wl, path, err, sizeof err) == 0);
    Candidate c;
    ASSERT(search_parse_id(&cat, &wl, "l4x1/llama-3.2-3b/fp8/b64/auto/od", &c, err, sizeof err) == 0);
    ASSERT(!c.pruned);
    SimConfig cfg;
    search_sim_config(&cat, &wl, &c, SCEN_EXPECTED, 7200, 1, &cfg);
    EXPECT(cfg.horizon_s == 86400);   // a batch plan simulates the day of its run
    ASSERT(cfg.batch_sample > 0 && cfg.batch_sample < cfg.batch_run_requests);
    cfg.series_step_s = 60;
    SimResult sampled, full;
    ASSERT(sim_run(&cfg, &sampled, err, sizeof err) == 0);
    SimConfig all = cfg;
    all.batch_sample = 0;
    ASSERT(sim_run(&all, &full, err, sizeof err) == 0);
    // Every request of the run completes, within the deadline, in one run-time figure.
    EXPECT(full.completed == 48000 && sampled.completed == 48000 && sampled.extrapolated == 48000 - cfg.batch_sample);
    double run_h = full.e2e_ms.max / 3.6e6;
    EXPECT(run_h > 0.1 && run_h < 4);
    if (fabs(sampled.e2e_ms.max / full.e2e_ms.max - 1) > 0.03)
        test_fail(__FILE__, __LINE__, "sampled run %.3f h vs simulated in full %.3f h", sampled.e2e_ms.max / 3.6e6, run_h);
    // The replicas exist from 15 min before the run to its deadline, and not after: billing is
    // replicas x 4.25 h, the analytic figure.
    int peak = cfg.tier[0].as.max_replicas;
    double hours = 0;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) hours += full.replica_hours[k];
    EXPECT_NEAR(hours, peak * 4.25, 0.01);
    double sh = 0;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) sh += sampled.replica_hours[k];
    EXPECT_NEAR(sh, hours, 1e-9);
    ASSERT(full.n_series > 6 * 60);
    EXPECT(full.series_replicas[30] == 0);            // 00:30, before the window
    EXPECT(full.series_replicas[2 * 60] == peak);     // 02:00, in the run
    EXPECT(full.series_replicas[6 * 60] == 0);        // 06:00, after the deadline: scaled to zero
    sim_result_free(&sampled);
    sim_result_free(&full);
    wl_free(&wl);
    catalog_free(&cat);
}
