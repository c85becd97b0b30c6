// predict.c — one given deployment through the simulator (contracts in predict.h).
#include "plan/predict.h"

#include <math.h>
#include <string.h>

#include "base/check.h"

void predict_config_default(PredictConfig *pc) {
    *pc = (PredictConfig){.replicas = 1, .max_num_seqs = 16, .max_num_batched_tokens = 512, .max_queue = 64,
                          .horizon_s = 3600, .seed = 1};
}

int predict_sim_config(const Workload *wl, const StepProfile *prof, const PredictConfig *pc, SimConfig *cfg,
                       char *err, size_t err_len) {
    if (wl->cls == WL_EMBEDDING || wl->cls == WL_BATCH)
        return err_set(err, err_len, ERR_ARG, "a fixed-tier prediction needs a chat or completion workload, not %s",
                       wl_class_names[wl->cls]);
    if (pc->replicas < 1 || pc->replicas > 4096)
        return err_set(err, err_len, ERR_ARG, "replicas %d is outside [1, 4096]", pc->replicas);
    if (pc->max_num_seqs < 1 || pc->max_num_batched_tokens < pc->max_num_seqs)
        return err_set(err, err_len, ERR_ARG, "max_num_batched_tokens (%lld) must be >= max_num_seqs (%lld) >= 1",
                       (long long)pc->max_num_batched_tokens, (long long)pc->max_num_seqs);
    if (!(pc->horizon_s > 0) || pc->warmup_s < 0 || pc->warmup_s >= pc->horizon_s)
        return err_set(err, err_len, ERR_ARG, "need horizon > warm-up >= 0 (got %g s and %g s)", pc->horizon_s,
                       pc->warmup_s);
    *cfg = (SimConfig){.wl = wl, .n_tiers = 1, .rate_scale = 1.0, .horizon_s = pc->horizon_s,
                       .warmup_s = pc->warmup_s, .seed = pc->seed};
    SimTier *t = &cfg->tier[0];
    step_from_profile(&t->step, prof);
    sched_config_default(&t->sched);
    t->sched.max_num_seqs = pc->max_num_seqs;
    t->sched.max_num_batched_tokens = pc->max_num_batched_tokens;
    t->sched.max_num_queued_reqs = pc->max_num_seqs;   // the tier queue in front holds the rest
    int64_t need = (int64_t)wl->in.max + (wl->out.max > 0 ? (int64_t)wl->out.max : 1);
    t->sched.max_model_len = pc->max_model_len > 0 ? pc->max_model_len : need;
    t->sched.kv_block_tokens = pc->kv_block_tokens > 0 ? pc->kv_block_tokens
                               : prof->kv_block_tokens > 0 ? prof->kv_block_tokens : 16;
    int64_t per_seq = (t->sched.max_model_len + t->sched.kv_block_tokens - 1) / t->sched.kv_block_tokens;
    t->sched.kv_blocks_total = pc->kv_blocks > 0 ? pc->kv_blocks
                               : prof->kv_blocks_total > 0 ? prof->kv_blocks_total : per_seq * pc->max_num_seqs;
    t->as = (AutoscaleConfig){.min_replicas = pc->replicas, .max_replicas = pc->replicas,
                              .target_per_replica = 1e12};
    t->autoscale_period_s = 5;
    t->max_queue = pc->max_queue > 0 ? pc->max_queue : 1000000;
    t->usd_per_hour[PRICE_ON_DEMAND] = 0;
    // Overload guard as the search uses it: a healthy run needs ~5 events per request.
    cfg->max_events = (int64_t)(60.0 * wl->rate_per_s * pc->horizon_s) + 1000000;
    return 0;
}

int predict_run(const Workload *wl, const StepProfile *prof, const PredictConfig *pc, Prediction *out, char *err,
                size_t err_len) {
    memset(out, 0, sizeof *out);
    SimConfig cfg;
    int rc = predict_sim_config(wl, prof, pc, &cfg, err, err_len);
    if (rc) return rc;
    rc = sim_run(&cfg, &out->sim, err, err_len);
    if (rc) return rc;
    out->overhead_ms = prof->request_overhead_us / 1e3;   // in the step model: the simulator adds it
    out->utilization = out->sim.utilization;
    return 0;
}

void predict_free(Prediction *p) {
    if (p) sim_result_free(&p->sim);
}
