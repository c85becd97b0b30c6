// search.c — candidate enumeration, analytic pruning, simulation of survivors (model in search.h).
#include "plan/search.h"

#include <dirent.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/threadpool.h"

const char *const scenario_names[SCEN_COUNT] = {"best", "expected", "burst"};
const char *const scale_names[SCALE_COUNT] = {"fixed", "auto"};
const char *const mix_names[MIX_COUNT] = {"od", "reserved", "reserved+spot"};
const char *const constraint_names[CONS_COUNT] = {[CONS_HARDWARE] = "hardware", [CONS_CLASS] = "classes",
                                                  [CONS_PROVIDER] = "providers", [CONS_SPOT] = "allow_spot"};
const char *const lever_names[LEVER_COUNT] = {"baseline", "batching", "quantization", "distillation/cascade",
                                              "autoscaling", "capacity mix"};

#define MONTH_HOURS 720.0      // 30 days, as WL_MONTH_S
#define TARGET_UTIL 0.80       // analytic sizing keeps replicas below this busy fraction

static const int64_t llm_knobs[] = {1, 16, 64, 256};
static const int64_t shot_knobs[] = {1, 8, 32, 128};

void search_options_default(SearchOptions *o) {
    *o = (SearchOptions){.horizon_s = 86400, .seed = 1, .threads = 2, .keep_per_level = 3};
}

// ---- helpers ----

// P(Beta(a, b) < x) by Simpson's rule on the density (normalised numerically).
static double beta_cdf(double a, double b, double x) {
    const int n = 4000;
    double num = 0, den = 0;
    for (int i = 0; i <= n; i++) {
        double u = (i + 0.5) / (n + 1.0);
        double f = exp((a - 1) * log(u) + (b - 1) * log1p(-u));
        den += f;
        if (u < x) num += f;
    }
    return num / den;
}

static double escalation_of(const Workload *wl) {
    if (wl->escalation_rate >= 0) return wl->escalation_rate;
    return beta_cdf(wl->conf_alpha, wl->conf_beta, wl->conf_threshold);
}

static bool wants_cascade(const Workload *wl) {
    return wl->cls != WL_EMBEDDING && (wl->escalation_rate > 0 || wl->conf_alpha > 0);
}

static const StepProfile *find_profile(const StepProfile *p, int64_t n, const char *hw, const char *model,
                                       PlanQuant q, int tp) {
    for (int64_t i = 0; i < n; i++)
        if (!strcmp(p[i].hardware, hw) && !strcmp(p[i].model, model) && !strcmp(p[i].quantization, plan_quant_names[q]) &&
            p[i].tp == tp)
            return &p[i];
    return NULL;
}

const CatStack *search_stack(const Catalog *cat, const Candidate *c) {
    return c->stack >= 0 ? &cat->stacks[c->stack] : cat_stack_reference();
}

// The stack a device runs when the workload names none: the first in stacks.yaml that runs on it.
static int default_stack(const Catalog *cat, const CatHardware *hw) {
    for (int64_t i = 0; i < cat->n_stacks; i++)
        if (cat_stack_runs_on(&cat->stacks[i], hw)) return (int)i;
    return -1;
}

static void make_id(const Catalog *cat, Candidate *c) {
    const char *scale = scale_names[c->scale];
    char hw_part[96];
    const CatHardware *hw = &cat->hw[c->hw];
    if (c->stack >= 0 && c->stack != default_stack(cat, hw))
        snprintf(hw_part, sizeof hw_part, "%sx%d@%s", hw->id, c->devices, cat->stacks[c->stack].id);
    else
        snprintf(hw_part, sizeof hw_part, "%sx%d", hw->id, c->devices);
    int k = snprintf(c->id, sizeof c->id, "%s/%s/%s/b%lld/%s/%s", hw_part,
                     cat->models[c->model].id, plan_quant_names[c->quant], (long long)c->batch_knob, scale,
                     mix_names[c->mix]);
    if (c->student >= 0 && k > 0 && (size_t)k < sizeof c->id)
        snprintf(c->id + k, sizeof c->id - (size_t)k, "/cascade=%s:%s%s%s", cat->models[c->student].id,
                 plan_quant_names[c->student_quant], c->student_hw >= 0 && c->student_hw != c->hw ? "@" : "",
                 c->student_hw >= 0 && c->student_hw != c->hw ? cat->hw[c->student_hw].id : "");
}

static Lever lever_of(const Candidate *c) {
    Lever l = LEVER_BASELINE;
    if (c->batch_knob > 1) l = LEVER_BATCHING;
    if (c->quant != QUANT_BF16) l = LEVER_QUANT;
    if (c->student >= 0) l = LEVER_CASCADE;
    if (c->scale == SCALE_AUTO) l = LEVER_AUTOSCALE;
    if (c->mix != MIX_ON_DEMAND) l = LEVER_MIX;
    return l;
}

// ---- mean-field capacity of one replica ----

typedef struct {
    double mu_rps;        // sustainable requests/s at batch B
    double ttft_us, tpot_us, e2e_p95_us;
    int64_t batch;
} TierCap;

static double prefill_us(const StepModel *sm, double in, double decode_rows, double ctx_decode) {
    StepShape s = {.prefill_tokens = (int64_t)in, .decode_rows = (int64_t)decode_rows,
                   .ctx_tokens = (int64_t)(ctx_decode + in), .attn_pairs = ctx_decode + in * (in + 1) / 2};
    return step_time_us(sm, &s);
}

// Largest concurrency B <= bmax whose mean-field latencies fit the SLO; b = 0 when none does.
static TierCap tier_capacity(const Workload *wl, const StepModel *sm, bool one_shot, int64_t bmax) {
    TierCap best = {0};
    double in = wl_token_mean(&wl->in), out = fmax(1, wl_token_mean(&wl->out));
    double in95 = wl_token_quantile(&wl->in, 0.95), out95 = fmax(1, wl_token_quantile(&wl->out, 0.95));
    int64_t bs[40];
    int nb = 0;
    for (int64_t b = 1; b < bmax && nb < 38; b *= 2) bs[nb++] = b;
    bs[nb++] = bmax;
    for (int bi = 0; bi < nb; bi++) {
        int64_t b = bs[bi];
        TierCap c = {.batch = b};
        if (one_shot) {
            double t = prefill_us(sm, in * (double)b, 0, 0);
            c.mu_rps = (double)b / (t * 1e-6);
            c.ttft_us = c.e2e_p95_us = prefill_us(sm, in95 * (double)b, 0, 0) * 1.5;
        } else {
            double ctx = (double)b * (in + out / 2);
            StepShape d = {.decode_rows = b, .ctx_tokens = (int64_t)ctx, .attn_pairs = ctx};
            double td = step_time_us(sm, &d);
            double pm = prefill_us(sm, in, (double)b, ctx) - td;   // marginal prefill riding a decode step
            c.tpot_us = td + pm * (double)b / out;                  // prefills interleave every out/b steps
            c.ttft_us = prefill_us(sm, in95, (double)b, ctx);
            c.e2e_p95_us = c.ttft_us + out95 * c.tpot_us;
            c.mu_rps = 1e6 / (out * td / (double)b + pm);
        }
        bool ok = true;
        if (wl->cls != WL_BATCH) {
            if (wl->slo_ttft_p95_ms > 0 && c.ttft_us > 0.6 * wl->slo_ttft_p95_ms * 1e3) ok = false;
            if (wl->slo_tpot_p95_ms > 0 && c.tpot_us * 1.2 > wl->slo_tpot_p95_ms * 1e3) ok = false;
            if (wl->slo_e2e_p95_ms > 0 && c.e2e_p95_us > 0.8 * wl->slo_e2e_p95_ms * 1e3) ok = false;
            if (wl->slo_e2e_p99_ms > 0 && c.e2e_p95_us * 1.3 > 0.8 * wl->slo_e2e_p99_ms * 1e3) ok = false;
        }
        if (ok && c.mu_rps > best.mu_rps) best = c;
    }
    return best;
}

// Replicas needed at each minute of the day for rate λ·profile·scale at capacity mu.
// Returns true when the workload's min_replicas raised the floor.
static bool size_replicas(const Workload *wl, double rate_per_s, double mu, int *peak, int *min, double *mean) {
    double scale = 1.25;   // burst scenario headroom
    int floor_r = wl->min_replicas > 1 ? wl->min_replicas : 1;
    bool raised = false;
    *peak = 1;
    *min = 1 << 30;
    *mean = 0;
    for (int i = 0; i < WL_PROFILE_BINS; i++) {
        int r = (int)ceil(rate_per_s * wl->profile[i] * scale / (mu * TARGET_UTIL));
        if (r < floor_r) { raised = true; r = floor_r; }
        if (r > *peak) *peak = r;
        if (r < *min) *min = r;
        *mean += r;
    }
    *mean /= WL_PROFILE_BINS;
    return raised;
}

// Monthly accelerator dollars for one tier of a candidate (analytic).
static double tier_usd_month(const Workload *wl, const CatHardware *hw, int devices, ScaleMode sm, CapMix mix,
                             int peak, int min, double mean) {
    double od = cat_replica_usd_per_hour(hw, devices, PRICE_ON_DEMAND, NULL);
    double rs = cat_replica_usd_per_hour(hw, devices, PRICE_RESERVED_1Y, NULL);
    double sp = cat_replica_usd_per_hour(hw, devices, PRICE_SPOT, NULL) * 1.05;   // 5% for interruptions and restarts
    double top = mix == MIX_RESERVED_SPOT ? sp : od;
    if (wl->cls == WL_BATCH) {
        if (sm == SCALE_AUTO) return peak * (wl->batch_deadline_hours + 0.25) * 30 * (mix == MIX_RESERVED_SPOT ? sp : od);
        return peak * MONTH_HOURS * (mix == MIX_ON_DEMAND ? od : (mix == MIX_RESERVED ? rs : sp));
    }
    if (sm == SCALE_FIXED) {
        if (mix == MIX_ON_DEMAND) return peak * od * MONTH_HOURS;
        if (mix == MIX_RESERVED) return peak * rs * MONTH_HOURS;
        return (min * rs + (peak - min) * sp) * MONTH_HOURS;
    }
    double floor_price = mix == MIX_ON_DEMAND ? od : rs;
    return (min * floor_price + (mean - min) * top * 1.05) * MONTH_HOURS;   // 5% for start-up time
}

static bool name_in(const char (*names)[64], int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return true;
    return false;
}

static PlanQuant student_quant_for(const CatHardware *hw, const CatModel *s);

// The stack a tier on hardware h runs: the candidate's when it runs there, else h's default.
static const CatStack *stack_on(const Catalog *cat, const Candidate *c, const CatHardware *h) {
    const CatStack *st = search_stack(cat, c);
    if (c->stack >= 0 && cat_stack_runs_on(st, h)) return st;
    int d = default_stack(cat, h);
    return d >= 0 ? &cat->stacks[d] : cat_stack_reference();
}

// Analytic student tier of c on c->student_hw (its quantization chosen there when choose_quant):
// fills the student fields and returns its monthly dollars, or -1 when it does not fit, misses
// the SLO alone, or its hardware breaks a hardware/class constraint.
static double student_tier(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                           Candidate *c, bool choose_quant, double seq_tokens) {
    const CatHardware *h = &cat->hw[c->student_hw];
    const CatModel *sm = &cat->models[c->student];
    if (wl->n_allow_hw && !name_in(wl->allow_hw, wl->n_allow_hw, h->id)) return -1;
    if (wl->n_allow_classes) {
        bool ok = false;
        for (int i = 0; i < wl->n_allow_classes; i++) ok |= !strcmp(wl->allow_classes[i], hw_class_names[h->cls]);
        if (!ok) return -1;
    }
    if (choose_quant) c->student_quant = student_quant_for(h, sm);
    if (!h->quant_ok[c->student_quant] || !sm->quant[c->student_quant].present) return -1;
    const CatStack *st = stack_on(cat, c, h);
    step_roofline(&c->student_step, h, sm, c->student_quant, 1, st);
    const StepProfile *sp = find_profile(profiles, n_profiles, h->id, sm->id, c->student_quant, 1);
    if (sp) step_from_profile(&c->student_step, sp);
    step_kv_capacity(&c->student_kv, h, sm, c->student_quant, 1, st, st->max_num_batched_tokens, c->batch_knob, seq_tokens);
    if (c->student_kv.kv_blocks_total <= 0 || c->student_kv.max_seqs_at_mean < 1) return -1;
    int64_t sb = c->student_kv.max_seqs_at_mean < c->batch_knob ? c->student_kv.max_seqs_at_mean : c->batch_knob;
    TierCap stc = tier_capacity(wl, &c->student_step, false, sb);
    if (stc.batch == 0) return -1;
    c->student_mu_rps = stc.mu_rps;
    double smean;
    if (size_replicas(wl, wl->rate_per_s, stc.mu_rps, &c->student_peak, &c->student_min, &smean)) c->floor_raised = true;
    return tier_usd_month(wl, h, 1, c->scale, c->mix, c->student_peak, c->student_min, smean);
}

static Constraint constraint_broken(const Catalog *cat, const Workload *wl, const Candidate *c) {
    const CatHardware *hw = &cat->hw[c->hw];
    if (wl->n_allow_hw && !name_in(wl->allow_hw, wl->n_allow_hw, hw->id)) return CONS_HARDWARE;
    if (wl->n_allow_classes) {
        bool ok = false;
        for (int i = 0; i < wl->n_allow_classes; i++) ok |= !strcmp(wl->allow_classes[i], hw_class_names[hw->cls]);
        if (!ok) return CONS_CLASS;
    }
    if (wl->n_allow_providers) {   // every price kind the candidate pays must come from an allowed provider
        bool ok = true;
        for (int k = 0; k < PRICE_KIND_COUNT; k++) {
            bool used = k == PRICE_ON_DEMAND || (k == PRICE_RESERVED_1Y && c->mix != MIX_ON_DEMAND) ||
                        (k == PRICE_SPOT && c->mix == MIX_RESERVED_SPOT);
            const CatPrice *p = hw->price[k].present ? &hw->price[k] : &hw->price[PRICE_ON_DEMAND];
            if (!used) continue;
            bool in = false;
            for (int i = 0; p->provider && i < wl->n_allow_providers; i++) in |= !strcmp(wl->allow_providers[i], p->provider);
            ok &= in;
        }
        if (!ok) return CONS_PROVIDER;
    }
    if (wl->forbid_spot && c->mix == MIX_RESERVED_SPOT) return CONS_SPOT;
    return CONS_NONE;
}

// The student tier does not depend on the teacher's hardware or model: one search caches the
// chosen student device per (student, batch knob, scaling, mix, stack) — many teachers share it.
typedef struct {
    bool done;
    double usd;                    // < 0: no device holds the student within the SLO
    Candidate pick;                // student_* fields of the choice
} StudentPick;
typedef struct {
    StudentPick *e;
    int64_t n, n_stacks;
} StudentCache;

static StudentPick *student_cached(StudentCache *sc, const Candidate *c) {
    if (!sc || c->student_hw >= 0) return NULL;
    int ki = -1;
    for (int i = 0; i < 4; i++) if (llm_knobs[i] == c->batch_knob) ki = i;
    if (ki < 0) return NULL;
    int64_t k = ((((int64_t)c->student * 4 + ki) * SCALE_COUNT + c->scale) * MIX_COUNT + c->mix) * (sc->n_stacks + 1) +
                (c->stack + 1);
    return k < sc->n ? &sc->e[k] : NULL;
}

static void analyze(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                    Candidate *c, StudentCache *cache);

void search_analyze(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                    Candidate *c) {
    analyze(cat, wl, profiles, n_profiles, c, NULL);
}

static void analyze(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                    Candidate *c, StudentCache *cache) {
    const CatHardware *hw = &cat->hw[c->hw];
    const CatModel *m = &cat->models[c->model];
    bool one_shot = m->encoder;
    make_id(cat, c);
    c->lever = lever_of(c);
    c->pruned = false;
    c->broke = CONS_NONE;
    c->floor_raised = false;
#define PRUNE(...) do { c->pruned = true; snprintf(c->prune_reason, sizeof c->prune_reason, __VA_ARGS__); return; } while (0)
    if (m->quant[c->quant].quality < wl->quality_min)
        PRUNE("quality %.1f < floor %.1f", m->quant[c->quant].quality, wl->quality_min);
    const CatStack *st = search_stack(cat, c);
    const StepProfile *p = find_profile(profiles, n_profiles, hw->id, m->id, c->quant, c->devices);
    if (p) step_from_profile(&c->step, p); else step_roofline(&c->step, hw, m, c->quant, c->devices, st);
    c->source = c->step.source;
    double in = wl_token_mean(&wl->in), out = wl_token_mean(&wl->out);
    int64_t mnbt = one_shot ? c->batch_knob * (int64_t)fmax(1, wl_token_quantile(&wl->in, 0.99))
                            : (c->batch_knob > st->max_num_batched_tokens ? c->batch_knob : st->max_num_batched_tokens);
    step_kv_capacity(&c->kv, hw, m, c->quant, c->devices, st, mnbt, c->batch_knob, in + out);
    if (p && p->kv_blocks_total > 0) {
        c->kv.kv_blocks_total = p->kv_blocks_total;
        c->kv.kv_block_tokens = p->kv_block_tokens;
    }
    if (c->kv.kv_blocks_total <= 0 || (!one_shot && c->kv.max_seqs_at_mean < 1))
        PRUNE("does not fit: %.1f GB weights + %.1f GB activations per device > %.0f%% of %.0f GB (%s)",
              c->kv.weight_bytes_per_dev / 1e9, c->kv.activation_bytes / 1e9, st->mem_fraction * 100, hw->memory_gb,
              mem_rule_names[st->mem_rule]);
    if (c->devices > 1) {   // tensor parallel only where fewer devices cannot hold the batch
        KvCapacity half;
        step_kv_capacity(&half, hw, m, c->quant, c->devices / 2, st, mnbt, c->batch_knob, in + out);
        if (half.kv_blocks_total > 0 && half.max_seqs_at_mean >= (c->batch_knob < 64 ? c->batch_knob : 64))
            PRUNE("fits on %d device(s) with room for the batch", c->devices / 2);
    }
    int64_t bmax = one_shot ? c->batch_knob : (c->kv.max_seqs_at_mean < c->batch_knob ? c->kv.max_seqs_at_mean : c->batch_knob);
    TierCap tc = tier_capacity(wl, &c->step, one_shot, bmax);
    if (tc.batch == 0) {
        StepShape s1 = {.decode_rows = 1, .ctx_tokens = (int64_t)(in + out / 2), .attn_pairs = in + out / 2};
        PRUNE("a lone request misses the SLO on an idle replica (TTFT %.0f ms, TPOT %.1f ms)",
              prefill_us(&c->step, wl_token_quantile(&wl->in, 0.95), 0, 0) / 1e3, step_time_us(&c->step, &s1) / 1e3);
    }
    c->batch_eff = tc.batch;
    c->mu_rps = tc.mu_rps;
    double esc = c->student >= 0 ? escalation_of(wl) : 1.0;
    double rate_main = wl->rate_per_s * esc;
    double mean_r = 0;
    if (wl->cls == WL_BATCH) {
        double need = (double)wl->batch_requests_per_run / (c->mu_rps * wl->batch_deadline_hours * 3600 * TARGET_UTIL);
        c->replicas_peak = c->replicas_min = (int)ceil(need * esc) < 1 ? 1 : (int)ceil(need * esc);
        mean_r = c->replicas_peak;
    } else {
        c->floor_raised = size_replicas(wl, rate_main, c->mu_rps, &c->replicas_peak, &c->replicas_min, &mean_r);
    }
    if (c->replicas_peak > 64) PRUNE("needs %d replicas at peak (> 64): too small for this load", c->replicas_peak);
    if (wl->cls == WL_BATCH && c->scale == SCALE_AUTO && c->mix == MIX_RESERVED)
        PRUNE("reserved capacity would idle outside the batch window");
    double usd = tier_usd_month(wl, hw, c->devices, c->scale, c->mix, c->replicas_peak, c->replicas_min, mean_r);
    if (c->student >= 0) {
        // The student tier runs on one device of its own hardware: the one given (ids, waterfall
        // variants), else the cheapest (analytic) device that fits it and meets the SLO alone.
        StudentPick *sp = student_cached(cache, c);
        Candidate best = *c;
        double best_usd = -1;
        if (sp && sp->done) {
            best_usd = sp->usd;
            const Candidate *k = &sp->pick;
            best.student_hw = k->student_hw;
            best.student_quant = k->student_quant;
            best.student_step = k->student_step;
            best.student_kv = k->student_kv;
            best.student_mu_rps = k->student_mu_rps;
            best.student_peak = k->student_peak;
            best.student_min = k->student_min;
            best.floor_raised |= k->floor_raised;
        } else {
            int first = c->student_hw >= 0 ? c->student_hw : 0;
            int last = c->student_hw >= 0 ? c->student_hw + 1 : (int)cat->n_hw;
            for (int h = first; h < last; h++) {
                Candidate t = *c;
                t.student_hw = h;
                t.floor_raised = false;
                double u = student_tier(cat, wl, profiles, n_profiles, &t, c->student_hw < 0, in + out);
                if (u >= 0 && (best_usd < 0 || u < best_usd)) { best = t; best_usd = u; }
            }
            if (sp) *sp = (StudentPick){.done = true, .usd = best_usd, .pick = best};
            best.floor_raised |= c->floor_raised;
        }
        if (best_usd < 0) PRUNE("the student fits no device or misses the SLO on an idle replica");
        *c = best;
        make_id(cat, c);
        usd += best_usd;
    }
    c->analytic_usd_month = usd + wl_fixed_usd_month(wl);
    // Constraints last, so an excluded candidate keeps its analytic cost: that is how the plan
    // tells which constraint bound (search_run compares the cheapest excluded one with the plan).
    c->broke = constraint_broken(cat, wl, c);
    if (c->broke != CONS_NONE) PRUNE("excluded by the workload constraint '%s'", constraint_names[c->broke]);
#undef PRUNE
}

// ---- simulation of one candidate ----

static void fill_tier(const Catalog *cat, const Workload *wl, const Candidate *c, bool student, SimTier *t) {
    const CatHardware *hw = &cat->hw[student ? c->student_hw : c->hw];
    const CatModel *m = &cat->models[student ? c->student : c->model];
    int devices = student ? 1 : c->devices;
    const KvCapacity *kv = student ? &c->student_kv : &c->kv;
    int peak = student ? c->student_peak : c->replicas_peak, min = student ? c->student_min : c->replicas_min;
    int64_t bmax = student ? c->batch_knob : c->batch_eff;
    *t = (SimTier){0};
    t->step = student ? c->student_step : c->step;
    t->one_shot = m->encoder;
    if (m->encoder) {
        double slo = wl->slo_e2e_p95_ms > 0 ? wl->slo_e2e_p95_ms : (wl->slo_e2e_p99_ms > 0 ? wl->slo_e2e_p99_ms : 1000);
        t->batch = (BatcherConfig){.max_batch_size = c->batch_knob,
                                   .max_queue_delay_us = c->batch_knob > 1 ? (int64_t)fmin(5000, slo * 1e3 / 20) : 0,
                                   .max_queue = 1};
    } else {
        sched_config_default(&t->sched);
        t->sched.max_num_seqs = c->batch_knob;
        int64_t mnbt = stack_on(cat, c, hw)->max_num_batched_tokens;
        t->sched.max_num_batched_tokens = c->batch_knob > mnbt ? c->batch_knob : mnbt;
        t->sched.max_num_queued_reqs = c->batch_knob;
        int64_t need = (int64_t)(wl->in.max + (wl->out.max > 0 ? wl->out.max : 1));
        t->sched.max_model_len = need < m->context ? need : m->context;
        t->sched.kv_block_tokens = kv->kv_block_tokens;
        t->sched.kv_blocks_total = kv->kv_blocks_total;
    }
    t->startup_s = hw->startup_s;
    t->warm_start_s = 30;
    t->reserved_kind = PRICE_RESERVED_1Y;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) t->usd_per_hour[k] = cat_replica_usd_per_hour(hw, devices, (PriceKind)k, NULL);
    t->spot_interruptions_per_hour = hw->spot_interruptions_per_day / 24.0;
    t->spot_replace_s = 120;
    t->max_queue = wl->cls == WL_BATCH ? wl->batch_requests_per_run * 2 + 16 : 200000;
    AutoscaleConfig *as = &t->as;
    if (wl->cls == WL_BATCH && c->scale == SCALE_AUTO) {
        // A run window: every replica up from 15 min before the run to its deadline, none after
        // (a run that overruns keeps the replicas its queue needs, one per batch of sequences).
        double per_replica = (double)(m->encoder ? c->batch_knob : t->sched.max_num_seqs);
        *as = (AutoscaleConfig){.min_replicas = 0, .max_replicas = peak, .target_per_replica = per_replica};
        double start = fmod(wl->batch_start_hour - 0.25 + 24, 24), end = fmod(wl->batch_start_hour + wl->batch_deadline_hours, 24);
        as->windows[0] = (AutoscaleWindow){start, end, peak};
        as->n_windows = 1;
    } else if (c->scale == SCALE_FIXED) {
        *as = (AutoscaleConfig){.min_replicas = peak, .max_replicas = peak, .target_per_replica = 1e12};
    } else {
        *as = (AutoscaleConfig){.min_replicas = min, .max_replicas = peak + 2,
                                .target_per_replica = fmax(1, 0.8 * (double)bmax),
                                .upscale_delay_us = 15000000, .downscale_delay_us = 300000000, .warm_pool = 1};
    }
    if (c->mix != MIX_ON_DEMAND) {
        t->reserved = c->scale == SCALE_FIXED && c->mix == MIX_RESERVED ? peak : (wl->cls == WL_BATCH && c->scale == SCALE_AUTO ? 0 : min);
        if (t->reserved > as->min_replicas) t->reserved = as->min_replicas;
        t->spot = c->mix == MIX_RESERVED_SPOT;
    }
}

void search_sim_config(const Catalog *cat, const Workload *wl, const Candidate *c, Scenario sc, double horizon_s,
                       uint64_t seed, SimConfig *cfg) {
    *cfg = (SimConfig){.wl = wl, .horizon_s = horizon_s, .seed = seed + (uint64_t)sc, .series_step_s = 0};
    cfg->rate_scale = sc == SCEN_BEST ? 0.8 : sc == SCEN_BURST ? 1.25 : 1.0;
    if (sc == SCEN_BURST && wl->cls != WL_BATCH) cfg->cv_override = (wl->process == ARR_GAMMA ? wl->cv : 1.0) * 1.5;
    if (c->student >= 0) {
        cfg->n_tiers = 2;
        fill_tier(cat, wl, c, true, &cfg->tier[0]);
        fill_tier(cat, wl, c, false, &cfg->tier[1]);
        cfg->escalation_rate = wl->escalation_rate >= 0 ? wl->escalation_rate : 0;
        cfg->conf_model = wl->escalation_rate < 0;
        cfg->conf_alpha = wl->conf_alpha;
        cfg->conf_beta = wl->conf_beta;
        cfg->conf_threshold = wl->conf_threshold;
    } else {
        cfg->n_tiers = 1;
        fill_tier(cat, wl, c, false, &cfg->tier[0]);
    }
    sim_config_batch_run(cfg);   // a batch workload's day: one run, its window, a sample (sim.h)
}

// Checks one scenario's result against the SLOs; writes the first miss into why.
bool search_meets(const Workload *wl, const SimResult *r, Scenario sc, char *why, size_t len) {
    const char *sn = scenario_names[sc];
    if (r->completed == 0) { snprintf(why, len, "%s: nothing completed", sn); return false; }
    if (wl->cls == WL_BATCH && (r->truncated || r->unfinished > 0)) {
        snprintf(why, len, "%s: the run is not done within its %.2f h deadline", sn, wl->batch_deadline_hours);
        return false;
    }
    if (r->truncated || r->unfinished > 0) {
        snprintf(why, len, "%s: overloaded (%lld requests never finished)", sn, (long long)r->unfinished);
        return false;
    }
    if ((double)r->rejected > 0.001 * (double)r->arrived) {
        snprintf(why, len, "%s: %lld of %lld requests rejected", sn, (long long)r->rejected, (long long)r->arrived);
        return false;
    }
    if (wl->cls == WL_BATCH) {
        if (r->e2e_ms.max > wl->batch_deadline_hours * 3.6e6) {
            snprintf(why, len, "%s: job took %.2f h > deadline %.2f h", sn, r->e2e_ms.max / 3.6e6, wl->batch_deadline_hours);
            return false;
        }
        return true;
    }
#define MISS(val, slo, name) \
    if ((slo) > 0 && (val) > (slo)) { snprintf(why, len, "%s: %s %.0f ms > %.0f ms", sn, name, (val), (slo)); return false; }
    MISS(r->ttft_ms.p95, wl->slo_ttft_p95_ms, "TTFT p95");
    MISS(r->tpot_ms.p95, wl->slo_tpot_p95_ms, "TPOT p95");
    MISS(r->e2e_ms.p95, wl->slo_e2e_p95_ms, "e2e p95");
    MISS(r->e2e_ms.p99, wl->slo_e2e_p99_ms, "e2e p99");
#undef MISS
    return true;
}

int search_simulate(const Catalog *cat, const Workload *wl, const SearchOptions *o, Candidate *c, bool keep_series,
                    char *err, size_t err_len) {
    if (!c->sim) {
        c->sim = calloc(SCEN_COUNT, sizeof *c->sim);
        if (!c->sim) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    // Up to two repairs: when a scenario misses for lack of capacity, add replicas and retry.
    for (int attempt = 0; attempt < 3; attempt++) {
        c->meets_slo = true;
        c->slo_miss[0] = 0;
        for (int sc = 0; sc < SCEN_COUNT; sc++) {
            SimConfig cfg;
            search_sim_config(cat, wl, c, (Scenario)sc, o->horizon_s, o->seed, &cfg);
            if (keep_series && sc == SCEN_EXPECTED) cfg.series_step_s = 60;
            // Overload guard: a healthy run needs ~5 events per request; 60 is far past it.
            cfg.max_events = (int64_t)(60.0 * wl->rate_per_s * cfg.rate_scale * o->horizon_s) + 1000000;
            sim_result_free(&c->sim[sc]);
            int rc = sim_run(&cfg, &c->sim[sc], err, err_len);
            if (rc) return rc;
            if (c->meets_slo && !search_meets(wl, &c->sim[sc], (Scenario)sc, c->slo_miss, sizeof c->slo_miss)) c->meets_slo = false;
        }
        if (c->meets_slo || attempt == 2) break;
        // Capacity repair: one more replica at peak (and at the floor for autoscaled plans).
        c->replicas_peak += 1 + c->replicas_peak / 4;
        if (c->scale == SCALE_AUTO && wl->cls != WL_BATCH) c->replicas_min += 1;
        if (c->student >= 0) { c->student_peak += 1 + c->student_peak / 4; if (c->scale == SCALE_AUTO) c->student_min += 1; }
    }
    c->simulated = true;
    const SimResult *e = &c->sim[SCEN_EXPECTED];
    double scale = WL_MONTH_S / e->end_s;
    c->accel_usd_month = e->accel_usd * scale;
    for (int k = 0; k < PRICE_KIND_COUNT; k++) c->replica_hours_month[k] = e->replica_hours[k] * scale;
    c->fixed_usd_month = wl_fixed_usd_month(wl);
    c->usd_month = c->accel_usd_month + c->fixed_usd_month;
    const SimResult *b = &c->sim[SCEN_BURST];
    c->burst_usd_month = b->end_s > 0 ? b->accel_usd * WL_MONTH_S / b->end_s + c->fixed_usd_month : c->usd_month;
    double req_month = wl->rate_per_s * WL_MONTH_S;
    double tok_month = e->completed > 0 ? req_month * (double)(e->in_tokens + e->out_tokens) / (double)e->completed : 0;
    c->usd_per_1k_requests = c->usd_month / req_month * 1000;
    c->usd_per_1m_tokens = tok_month > 0 ? c->usd_month / tok_month * 1e6 : 0;
    c->usd_per_success = c->usd_month / (req_month * wl->success_rate);
    return 0;
}

// ---- enumeration and the whole search ----

static PlanQuant student_quant_for(const CatHardware *hw, const CatModel *s) {
    const PlanQuant pref[] = {QUANT_INT4, QUANT_INT8, QUANT_BF16};
    for (int i = 0; i < 3; i++)
        if (hw->quant_ok[pref[i]] && s->quant[pref[i]].present) return pref[i];
    return QUANT_BF16;
}

static bool model_allowed(const Workload *wl, const CatModel *m) {
    if ((wl->cls == WL_EMBEDDING) != m->encoder) return false;
    if (wl->n_models == 0) return true;
    for (int i = 0; i < wl->n_models; i++)
        if (!strcmp(wl->models[i], m->id)) return true;
    return false;
}

// Stacks a device is planned with: those the workload names that run on it, else its default.
static int stacks_for(const Catalog *cat, const Workload *wl, const CatHardware *hw, int *out) {
    int n = 0;
    for (int i = 0; i < wl->n_stacks; i++) {
        const CatStack *s = catalog_stack(cat, wl->stacks[i]);
        if (s && s != cat_stack_reference() && cat_stack_runs_on(s, hw)) out[n++] = (int)(s - cat->stacks);
    }
    if (wl->n_stacks == 0) out[n++] = default_stack(cat, hw);
    return n;
}

static int64_t enumerate(const Catalog *cat, const Workload *wl, Candidate *out, int64_t cap) {
    int64_t n = 0;
    bool cascade = wants_cascade(wl);
    for (int64_t mi = 0; mi < cat->n_models; mi++) {
        const CatModel *m = &cat->models[mi];
        if (!model_allowed(wl, m) || (m->student && cascade)) continue;   // students serve as first tiers
        for (int64_t hi = 0; hi < cat->n_hw; hi++) {
            const CatHardware *hw = &cat->hw[hi];
            int stk[8];
            int n_stk = stacks_for(cat, wl, hw, stk);
            for (int sti = 0; sti < n_stk; sti++)
            for (int dev = 1; dev <= hw->max_devices && dev <= 8; dev *= 2) {
                if (m->heads % dev) continue;
                for (int q = 0; q < QUANT_COUNT; q++) {
                    if (!hw->quant_ok[q] || !m->quant[q].present) continue;
                    for (int ki = 0; ki < 4; ki++) {
                        int64_t knob = m->encoder ? shot_knobs[ki] : llm_knobs[ki];
                        for (int64_t si = -1; si < (cascade ? cat->n_models : 0); si++) {
                            if (si >= 0) {
                                const CatModel *sm = &cat->models[si];
                                if (!sm->student || sm->encoder || si == mi || sm->params_b >= m->params_b) continue;
                            }
                            for (int sc = 0; sc < SCALE_COUNT; sc++)
                                for (int mix = 0; mix < MIX_COUNT; mix++) {
                                    if (n == cap) return n;
                                    Candidate *c = &out[n++];
                                    *c = (Candidate){.hw = (int)hi, .model = (int)mi, .student = (int)si, .devices = dev,
                                                     .stack = stk[sti], .student_hw = -1,
                                                     .quant = (PlanQuant)q, .batch_knob = knob, .scale = (ScaleMode)sc,
                                                     .mix = (CapMix)mix};
                                    if (si >= 0) c->student_quant = student_quant_for(hw, &cat->models[si]);
                                }
                        }
                    }
                }
            }
        }
    }
    return n;
}

typedef struct {
    const Catalog *cat;
    const Workload *wl;
    const SearchOptions *o;
    Candidate *cands;
    int64_t *todo;
    int64_t n_todo;
    _Atomic int64_t done;
    _Atomic int failed;
    char err[256];
} SimJob;

static void sim_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    SimJob *j = ctx;
    if (atomic_load(&j->failed)) return;
    char err[256];
    // Every survivor keeps its expected-scenario series (1440 points): the chosen one needs no rerun.
    if (search_simulate(j->cat, j->wl, j->o, &j->cands[j->todo[task]], true, err, sizeof err) != 0) {
        if (!atomic_exchange(&j->failed, 1)) snprintf(j->err, sizeof j->err, "%s", err);
    }
    int64_t d = atomic_fetch_add(&j->done, 1) + 1;
    if (j->o->progress) j->o->progress(j->o->progress_ctx, d, j->n_todo);
}

static int cmp_cost(const void *a, const void *b, void *ctx) {
    const Candidate *c = ctx;
    double x = c[*(const int64_t *)a].analytic_usd_month, y = c[*(const int64_t *)b].analytic_usd_month;
    if (x != y) return x < y ? -1 : 1;
    return *(const int64_t *)a < *(const int64_t *)b ? -1 : 1;
}

static int cmp_final(const void *a, const void *b, void *ctx) {
    const Candidate *c = ctx;
    double x = c[*(const int64_t *)a].usd_month, y = c[*(const int64_t *)b].usd_month;
    if (x != y) return x < y ? -1 : 1;
    return *(const int64_t *)a < *(const int64_t *)b ? -1 : 1;
}

static int load_profiles(const char *dir, SearchResult *r, char *err, size_t err_len) {
    if (!dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return err_set(err, err_len, ERR_IO, "%s: cannot open the profiles directory", dir);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        size_t L = strlen(e->d_name);
        if (L < 6 || strcmp(e->d_name + L - 5, ".yaml")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        StepProfile *p = realloc(r->profiles, (size_t)(r->n_profiles + 1) * sizeof *p);
        if (!p) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); break; }
        r->profiles = p;
        rc = step_profile_load(&r->profiles[r->n_profiles], path, err, err_len);
        if (!rc) r->n_profiles++;
    }
    closedir(d);
    return rc;
}

int search_run(const Catalog *cat, const Workload *wl, const SearchOptions *o, SearchResult *out, char *err,
               size_t err_len) {
    memset(out, 0, sizeof *out);
    out->best = -1;
    for (int l = 0; l < LEVER_COUNT; l++) out->level_best[l] = -1;
    for (int k = 0; k < HW_CLASS_COUNT; k++) out->class_best[k] = -1;
    int rc = load_profiles(o->profiles_dir, out, err, err_len);
    if (rc) return rc;
    for (int i = 0; i < wl->n_stacks; i++) {
        const CatStack *s = catalog_stack(cat, wl->stacks[i]);
        if (!s || s == cat_stack_reference())
            return err_set(err, err_len, ERR_NOTFOUND, "constraints.stacks: no serving stack '%s' in the catalog's stacks.yaml",
                           wl->stacks[i]);
    }
    for (int i = 0; i < wl->n_allow_hw; i++)
        if (!catalog_hw(cat, wl->allow_hw[i]))
            return err_set(err, err_len, ERR_NOTFOUND, "constraints.hardware: no hardware '%s' in the catalog", wl->allow_hw[i]);
    for (int k = 0; k < CONS_COUNT; k++) out->bound_by[k] = -1;
    int64_t cap = 400000;
    out->cands = calloc((size_t)cap, sizeof *out->cands);
    if (!out->cands) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    out->n_cands = enumerate(cat, wl, out->cands, cap);
    if (out->n_cands == 0)
        return err_set(err, err_len, ERR_NOTFOUND, "no catalog model fits this workload's class '%s'%s",
                       wl_class_names[wl->cls], wl->n_models ? " and its models: list" : "");
    StudentCache cache = {.n_stacks = cat->n_stacks,
                          .n = cat->n_models * 4 * SCALE_COUNT * MIX_COUNT * (cat->n_stacks + 1)};
    cache.e = calloc((size_t)cache.n, sizeof *cache.e);
    int64_t *order = malloc((size_t)out->n_cands * sizeof *order);
    ThreadPool *tp = NULL;
    SimJob job = {.cat = cat, .wl = wl, .o = o, .cands = out->cands};
    if (!order || !cache.e) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto done; }
    int64_t n_ok = 0;
    for (int64_t i = 0; i < out->n_cands; i++) {
        analyze(cat, wl, out->profiles, out->n_profiles, &out->cands[i], &cache);
        if (out->cands[i].broke != CONS_NONE) out->n_excluded[out->cands[i].broke]++;
        if (out->cands[i].pruned) out->n_pruned++;
        else order[n_ok++] = i;
    }
    qsort_r(order, (size_t)n_ok, sizeof *order, cmp_cost, out->cands);
    // Survivors: the best few per lever level (at most two per hardware and model in a level),
    // and the best three per hardware class for the decision matrix.
    bool *pick = calloc((size_t)out->n_cands, sizeof *pick);
    if (!pick) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto done; }
    int keep = o->keep_per_level > 0 ? o->keep_per_level : 3;
    for (int l = 0; l < LEVER_COUNT; l++) {
        int taken = 0;
        for (int64_t i = 0; i < n_ok && taken < keep; i++) {
            Candidate *c = &out->cands[order[i]];
            if ((int)c->lever > l) continue;
            int same = 0;
            for (int64_t j = 0; j < i; j++) {
                Candidate *d = &out->cands[order[j]];
                same += pick[order[j]] && (int)d->lever <= l && d->hw == c->hw && d->model == c->model;
            }
            if (same >= 2 && !pick[order[i]]) continue;
            pick[order[i]] = true;
            taken++;
        }
    }
    for (int k = 0; k < HW_CLASS_COUNT; k++) {
        int taken = 0;
        for (int64_t i = 0; i < n_ok && taken < 3; i++)
            if ((int)cat->hw[out->cands[order[i]].hw].cls == k) { pick[order[i]] = true; taken++; }
    }
    job.todo = malloc((size_t)out->n_cands * sizeof *job.todo);
    if (!job.todo) { free(pick); rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < n_ok; i++)
        if (pick[order[i]]) job.todo[job.n_todo++] = order[i];
    free(pick);
    tp = tp_create(o->threads > 0 ? o->threads : 1);
    tp_run(tp, sim_task, &job, job.n_todo);
    if (atomic_load(&job.failed)) { rc = err_set(err, err_len, ERR_ARG, "%s", job.err); goto done; }
    out->n_simulated = job.n_todo;
    // Rankings.
    int64_t n_sim = 0;
    for (int64_t i = 0; i < job.n_todo; i++) order[n_sim++] = job.todo[i];
    qsort_r(order, (size_t)n_sim, sizeof *order, cmp_final, out->cands);
    out->pareto = malloc((size_t)(n_sim ? n_sim : 1) * sizeof *out->pareto);
    if (!out->pareto) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto done; }
    double best_p95 = INFINITY;
    for (int64_t i = 0; i < n_sim; i++) {
        int64_t ci = order[i];
        Candidate *c = &out->cands[ci];
        if (!c->meets_slo) continue;
        if (out->best < 0) out->best = ci;
        for (int l = (int)c->lever; l < LEVER_COUNT; l++)
            if (out->level_best[l] < 0) out->level_best[l] = ci;
        int cls = (int)cat->hw[c->hw].cls;
        if (out->class_best[cls] < 0) out->class_best[cls] = ci;
        double p95 = c->sim[SCEN_EXPECTED].e2e_ms.p95;
        if (p95 < best_p95) { best_p95 = p95; out->pareto[out->n_pareto++] = ci; }
    }
    // Class entries for classes with no feasible plan: the cheapest simulated one (shown as missing).
    for (int k = 0; k < HW_CLASS_COUNT; k++)
        for (int64_t i = 0; i < n_sim && out->class_best[k] < 0; i++)
            if ((int)cat->hw[out->cands[order[i]].hw].cls == k) out->class_best[k] = order[i];
    // Which constraints bound: the cheapest excluded candidate per constraint that the analytic
    // model rates below the chosen plan (it would have been considered without the constraint).
    if (out->best >= 0) {
        double plan_usd = out->cands[out->best].analytic_usd_month;
        for (int64_t i = 0; i < out->n_cands; i++) {
            const Candidate *c = &out->cands[i];
            if (c->broke == CONS_NONE || c->analytic_usd_month <= 0 || c->analytic_usd_month >= plan_usd) continue;
            int64_t *b = &out->bound_by[c->broke];
            if (*b < 0 || c->analytic_usd_month < out->cands[*b].analytic_usd_month) *b = i;
        }
        out->over_budget = wl->budget_usd_month > 0 && out->cands[out->best].usd_month > wl->budget_usd_month;
    }
    // The chosen plan keeps its time series for the report's charts.
    rc = search_waterfall(cat, wl, o, out, err, err_len);
done:
    free(cache.e);
    tp_destroy(tp);
    free(job.todo);
    free(order);
    return rc;
}

void search_free_candidate(Candidate *c) {
    if (!c->sim) return;
    for (int s = 0; s < SCEN_COUNT; s++) sim_result_free(&c->sim[s]);
    free(c->sim);
    c->sim = NULL;
}

void search_free(SearchResult *r) {
    if (!r) return;
    for (int64_t i = 0; r->cands && i < r->n_cands; i++) search_free_candidate(&r->cands[i]);
    search_free_candidate(&r->wf_base);
    for (int l = 0; l < LEVER_COUNT; l++) {
        search_free_candidate(&r->wf_added[l]);
        search_free_candidate(&r->wf_removed[l]);
    }
    free(r->cands);
    free(r->pareto);
    free(r->profiles);
    memset(r, 0, sizeof *r);
}

// ---- candidate ids (for --explain) ----

int search_parse_id(const Catalog *cat, const Workload *wl, const char *id, Candidate *c, char *err, size_t err_len) {
    char buf[256], *parts[8];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", id);
    for (char *p = strtok(buf, "/"); p && n < 8; p = strtok(NULL, "/")) parts[n++] = p;
    if (n < 6)
        return err_set(err, err_len, ERR_FORMAT, "candidate '%s': expected HWxN/MODEL/QUANT/bK/fixed|auto/od|reserved|reserved+spot"
                       "[/cascade=STUDENT:QUANT[@HW]] (copy one from the plan's output)", id);
    *c = (Candidate){.student = -1, .student_hw = -1};
    char *at = strchr(parts[0], '@');
    if (at) *at++ = 0;
    char *x = strrchr(parts[0], 'x');
    if (!x) return err_set(err, err_len, ERR_FORMAT, "candidate '%s': '%s' is not HWxDEVICES", id, parts[0]);
    *x = 0;
    const CatHardware *hw = catalog_hw(cat, parts[0]);
    const CatModel *m = catalog_model(cat, parts[1]);
    if (!hw) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no hardware '%s' in the catalog", id, parts[0]);
    if (!m) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no model '%s' in the catalog", id, parts[1]);
    c->hw = (int)(hw - cat->hw);
    c->model = (int)(m - cat->models);
    c->stack = default_stack(cat, hw);
    if (at) {
        const CatStack *st = catalog_stack(cat, at);
        if (!st || st == cat_stack_reference())
            return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no serving stack '%s' in stacks.yaml", id, at);
        if (!cat_stack_runs_on(st, hw))
            return err_set(err, err_len, ERR_FORMAT, "candidate '%s': stack '%s' does not run on '%s'", id, at, hw->id);
        c->stack = (int)(st - cat->stacks);
    }
    c->devices = atoi(x + 1);
    int q = -1, sc = -1, mix = -1;
    for (int i = 0; i < QUANT_COUNT; i++) if (!strcmp(parts[2], plan_quant_names[i])) q = i;
    for (int i = 0; i < SCALE_COUNT; i++) if (!strcmp(parts[4], scale_names[i])) sc = i;
    for (int i = 0; i < MIX_COUNT; i++) if (!strcmp(parts[5], mix_names[i])) mix = i;
    if (q < 0 || sc < 0 || mix < 0 || parts[3][0] != 'b' || atoll(parts[3] + 1) < 1 || c->devices < 1 ||
        c->devices > hw->max_devices || !hw->quant_ok[q] || !m->quant[q].present)
        return err_set(err, err_len, ERR_FORMAT, "candidate '%s': bad or unsupported quantization, batch, scaling, mix or device count", id);
    c->quant = (PlanQuant)q;
    c->batch_knob = atoll(parts[3] + 1);
    c->scale = (ScaleMode)sc;
    c->mix = (CapMix)mix;
    if (n >= 7) {
        char *s = parts[6];
        if (strncmp(s, "cascade=", 8)) return err_set(err, err_len, ERR_FORMAT, "candidate '%s': expected cascade=STUDENT:QUANT", id);
        char *colon = strchr(s + 8, ':');
        if (colon) *colon = 0;
        char *shw = strchr(colon ? colon + 1 : s + 8, '@');
        if (shw) *shw++ = 0;
        const CatModel *sm = catalog_model(cat, s + 8);
        if (!sm) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no student model '%s'", id, s + 8);
        c->student = (int)(sm - cat->models);
        const CatHardware *sh = shw ? catalog_hw(cat, shw) : hw;
        if (!sh) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no student hardware '%s'", id, shw);
        c->student_hw = (int)(sh - cat->hw);
        c->student_quant = student_quant_for(sh, sm);
        if (colon)
            for (int i = 0; i < QUANT_COUNT; i++) if (!strcmp(colon + 1, plan_quant_names[i])) c->student_quant = (PlanQuant)i;
    }
    search_analyze(cat, wl, NULL, 0, c);
    return 0;
}
