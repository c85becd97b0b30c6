// search_analyze.c — the analytic model of a candidate (search.h search_analyze): mean-field
// capacity of a replica under the SLOs, replicas sized to the day's profile, monthly dollars,
// the student tier of a cascade, constraints; and the reasons a candidate is pruned.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "plan/search_int.h"

#define TARGET_UTIL 0.80       // analytic sizing keeps replicas below this busy fraction


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

static const StepProfile *find_profile(const StepProfile *p, int64_t n, const char *hw, const char *model,
                                       PlanQuant q, int tp) {
    for (int64_t i = 0; i < n; i++)
        if (!strcmp(p[i].hardware, hw) && !strcmp(p[i].model, model) && !strcmp(p[i].quantization, plan_quant_names[q]) &&
            p[i].tp == tp)
            return &p[i];
    return NULL;
}

static void make_id(const Catalog *cat, Candidate *c) {
    const char *scale = scale_names[c->scale];
    char hw_part[96];
    const CatHardware *hw = &cat->hw[c->hw];
    if (c->stack >= 0 && c->stack != search_default_stack(cat, hw))
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
    if (choose_quant) c->student_quant = search_student_quant(h, sm);
    if (!h->quant_ok[c->student_quant] || !sm->quant[c->student_quant].present) return -1;
    const CatStack *st = search_stack_on(cat, c, h);
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
    if (size_replicas(wl, wl->rate_per_s * (1 - wl->cache_response_hit_rate), stc.mu_rps, &c->student_peak,
                      &c->student_min, &smean))
        c->floor_raised = true;
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

// The cache entry of c's student tier (NULL: c names its student device, or no cache).
static StudentPick *student_cached(StudentCache *sc, const Candidate *c) {
    if (!sc || c->student_hw >= 0) return NULL;
    int ki = -1;
    for (int i = 0; i < SEARCH_N_KNOBS; i++) if (search_llm_knobs[i] == c->batch_knob) ki = i;
    if (ki < 0) return NULL;
    int64_t k = ((((int64_t)c->student * SEARCH_N_KNOBS + ki) * SCALE_COUNT + c->scale) * MIX_COUNT + c->mix) * (sc->n_stacks + 1) +
                (c->stack + 1);
    return k < sc->n ? &sc->e[k] : NULL;
}

void search_analyze(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                    Candidate *c) {
    search_analyze_cached(cat, wl, profiles, n_profiles, c, NULL);
}

#define PRUNE(...) do { c->pruned = true; snprintf(c->prune_reason, sizeof c->prune_reason, __VA_ARGS__); return false; } while (0)

// Step model, KV pool and the SLO-feasible batch of the first (or only) tier. False: pruned.
static bool analyze_tier(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                         Candidate *c) {
    const CatHardware *hw = &cat->hw[c->hw];
    const CatModel *m = &cat->models[c->model];
    bool one_shot = m->encoder;
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
    return true;
}

// Replicas of the first tier (the escalated share of the traffic in a cascade) and their monthly
// dollars in *usd. False: pruned.
static bool analyze_replicas(const Catalog *cat, const Workload *wl, Candidate *c, double *usd) {
    double esc = c->student >= 0 ? escalation_of(wl) : 1.0;
    double rate_main = wl->rate_per_s * (1 - wl->cache_response_hit_rate) * esc;   // response-cache hits reach no replica
    double mean_r = 0;
    if (wl->cls == WL_BATCH) {
        double need = (double)wl->batch_requests_per_run * (1 - wl->cache_response_hit_rate) / (c->mu_rps * wl->batch_deadline_hours * 3600 * TARGET_UTIL);
        c->replicas_peak = c->replicas_min = (int)ceil(need * esc) < 1 ? 1 : (int)ceil(need * esc);
        mean_r = c->replicas_peak;
    } else {
        c->floor_raised = size_replicas(wl, rate_main, c->mu_rps, &c->replicas_peak, &c->replicas_min, &mean_r);
    }
    if (c->replicas_peak > 64) PRUNE("needs %d replicas at peak (> 64): too small for this load", c->replicas_peak);
    if (wl->cls == WL_BATCH && c->scale == SCALE_AUTO && c->mix == MIX_RESERVED)
        PRUNE("reserved capacity would idle outside the batch window");
    *usd = tier_usd_month(wl, &cat->hw[c->hw], c->devices, c->scale, c->mix, c->replicas_peak, c->replicas_min, mean_r);
    return true;
}

// The student tier runs on one device of its own hardware: the one given (ids, waterfall
// variants), else the cheapest (analytic) device that fits it and meets the SLO alone. Adds its
// monthly dollars to *usd. False: pruned.
static bool analyze_student(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                            Candidate *c, StudentCache *cache, double *usd) {
    double seq = wl_token_mean(&wl->in) + wl_token_mean(&wl->out);
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
            double u = student_tier(cat, wl, profiles, n_profiles, &t, c->student_hw < 0, seq);
            if (u >= 0 && (best_usd < 0 || u < best_usd)) { best = t; best_usd = u; }
        }
        if (sp) *sp = (StudentPick){.done = true, .usd = best_usd, .pick = best};
        best.floor_raised |= c->floor_raised;
    }
    if (best_usd < 0) PRUNE("the student fits no device or misses the SLO on an idle replica");
    *c = best;
    make_id(cat, c);
    *usd += best_usd;
    return true;
}

void search_analyze_cached(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                           Candidate *c, StudentCache *cache) {
    make_id(cat, c);
    c->lever = lever_of(c);
    c->pruned = false;
    c->broke = CONS_NONE;
    c->floor_raised = false;
    double usd = 0;
    if (!analyze_tier(cat, wl, profiles, n_profiles, c) || !analyze_replicas(cat, wl, c, &usd)) return;
    if (c->student >= 0 && !analyze_student(cat, wl, profiles, n_profiles, c, cache, &usd)) return;
    c->analytic_usd_month = usd + wl_fixed_usd_month(wl);
    // Constraints last, so an excluded candidate keeps its analytic cost: that is how the plan
    // tells which constraint bound (search_run compares the cheapest excluded one with the plan).
    c->broke = constraint_broken(cat, wl, c);
    if (c->broke != CONS_NONE) {
        c->pruned = true;
        snprintf(c->prune_reason, sizeof c->prune_reason, "excluded by the workload constraint '%s'", constraint_names[c->broke]);
    }
}
#undef PRUNE
