#include "plan/steptime.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "base/yaml.h"

#define EFF_CAP 0.98   // no engine reaches more than this fraction of a peak

double step_eff_compute(const CatHardware *hw, const CatStack *st) {
    return fmin(EFF_CAP, hw->derate_compute * st->eff_prefill);
}

double step_eff_bandwidth(const CatHardware *hw, const CatStack *st) {
    return fmin(EFF_CAP, hw->derate_bandwidth * st->eff_decode);
}

void step_roofline(StepModel *sm, const CatHardware *hw, const CatModel *m, PlanQuant q, int tp, const CatStack *st) {
    CHECK(tp >= 1);
    if (!st) st = cat_stack_reference();
    *sm = (StepModel){.source = STEP_ROOFLINE};
    double bw = hw->memory_bw_gbs * 1e9 * step_eff_bandwidth(hw, st);     // bytes/s per device
    double flops = cat_peak_flops(hw, q) * step_eff_compute(hw, st) * tp; // FLOP/s of the group
    double w = cat_weight_bytes(m, q) / tp;
    sm->mem_fixed_us = w / bw * 1e6;
    sm->mem_ctx_us = cat_kv_bytes_per_token(m, cat_stack_kv_dtype(st, hw, q)) / tp / bw * 1e6;
    sm->comp_token_us = 2.0 * m->params_b * 1e9 / flops * 1e6;
    sm->comp_pair_us = 4.0 * (double)m->layers * (double)(m->heads * m->head_dim) / flops * 1e6;
    sm->b0_us = hw->step_overhead_us * st->eff_overhead;
    if (tp > 1) {
        // Two all-reduces per layer of n_tokens × hidden bf16 activations (ring: 2(TP−1)/TP of it)
        // at the stack's achieved fraction of this link kind's bandwidth.
        double link = hw->interconnect_gbs * 1e9 * st->allreduce_eff[hw->link];
        double per_token_us = 2.0 * (tp - 1) / tp * (double)m->hidden * 2.0 / link * 1e6;
        sm->b0_us += 2.0 * (double)m->layers * st->allreduce_alpha_us;
        sm->prefill_token_us += 2.0 * (double)m->layers * per_token_us;
        sm->decode_row_us += 2.0 * (double)m->layers * per_token_us;
    }
}

void step_from_profile(StepModel *sm, const StepProfile *p) {
    *sm = (StepModel){.source = STEP_PROFILE};
    sm->b0_us = p->b0_us;
    sm->prefill_token_us = p->prefill_token_us;
    sm->decode_row_us = p->decode_row_us;
    sm->context_token_us = p->context_token_us;
    sm->multi_row_us = p->multi_row_us;
    sm->err_frac = p->mape;
    sm->request_overhead_us = p->request_overhead_us;
    memcpy(sm->cold, p->cold, sizeof sm->cold);
    sm->n_cold = p->n_cold;
    step_spread_set(sm, p->spread, p->n_spread, p->spread_window_us);
    sm->colocated = p->colocated;
}

void step_spread_set(StepModel *sm, const double *factors, int n, double window_us) {
    CHECK(n >= 0 && n <= STEP_SPREAD_MAX && (n == 0 || window_us > 0));
    memcpy(sm->spread, factors, (size_t)n * sizeof *factors);
    sm->n_spread = n;
    sm->spread_window_us = n ? window_us : 0;
}

void step_cold_set(StepModel *sm, const double *rows, int n) {
    CHECK(n >= 0 && n <= STEP_COLD_MAX);
    for (int i = 0; i < n; i++)
        sm->cold[i] = (StepCold){.after_us = rows[3 * i], .wake_us = rows[3 * i + 1], .step_factor = rows[3 * i + 2]};
    sm->n_cold = n;
}

void step_cold_at(const StepModel *sm, double gap_us, double *wake_us, double *step_factor) {
    *wake_us = 0;
    *step_factor = 1;
    if (sm->n_cold == 0 || !(gap_us > 0)) return;
    StepCold lo = {.after_us = 0, .wake_us = 0, .step_factor = 1};
    for (int i = 0; i < sm->n_cold; i++) {
        const StepCold *hi = &sm->cold[i];
        if (gap_us < hi->after_us) {
            double f = (gap_us - lo.after_us) / (hi->after_us - lo.after_us);
            *wake_us = lo.wake_us + f * (hi->wake_us - lo.wake_us);
            *step_factor = lo.step_factor + f * (hi->step_factor - lo.step_factor);
            return;
        }
        lo = *hi;
    }
    *wake_us = lo.wake_us;
    *step_factor = lo.step_factor;
}

double step_time_us(const StepModel *sm, const StepShape *s) {
    double lin = sm->b0_us + sm->prefill_token_us * (double)s->prefill_tokens +
                 sm->decode_row_us * (double)s->decode_rows + sm->context_token_us * (double)s->ctx_tokens +
                 (s->prefill_tokens + s->decode_rows > 1 ? sm->multi_row_us : 0);
    if (sm->source == STEP_PROFILE) return lin;
    double mem = sm->mem_fixed_us + sm->mem_ctx_us * (double)s->ctx_tokens;
    double comp = sm->comp_token_us * (double)(s->prefill_tokens + s->decode_rows) + sm->comp_pair_us * s->attn_pairs;
    return lin + fmax(mem, comp);
}

// Σ_{j=j0}^{j1-1} (a + b·j)
static double sum_lin(double a, double b, double j0, double j1) {
    if (j1 <= j0) return 0;
    return (j1 - j0) * a + b * (j1 * (j1 - 1) - j0 * (j0 - 1)) / 2.0;
}

double step_decode_run_us(const StepModel *sm, int64_t n_rows, int64_t ctx0, int64_t k) {
    if (k <= 0) return 0;
    double n = (double)n_rows, c0 = (double)ctx0, K = (double)k;
    // For a decode row, pos_start + 1 = its context, so attn_pairs = ctx_tokens.
    double lin_a = sm->b0_us + sm->decode_row_us * n + sm->context_token_us * c0 + (n_rows > 1 ? sm->multi_row_us : 0);
    double lin_b = sm->context_token_us * n;
    double total = sum_lin(lin_a, lin_b, 0, K);
    if (sm->source == STEP_PROFILE) return total;
    double ma = sm->mem_fixed_us + sm->mem_ctx_us * c0, mb = sm->mem_ctx_us * n;
    double ca = sm->comp_token_us * n + sm->comp_pair_us * c0, cb = sm->comp_pair_us * n;
    // max of two lines in j: split at the crossing point.
    double da = ma - ca, db = mb - cb;   // mem − comp = da + db·j
    if (db == 0) return total + (da >= 0 ? sum_lin(ma, mb, 0, K) : sum_lin(ca, cb, 0, K));
    double jx = ceil(-da / db);          // first integer j where the sign of (mem − comp) flips side
    if (jx < 0) jx = 0;
    if (jx > K) jx = K;
    if (db > 0) {   // comp wins before jx, mem from jx on
        // Check j just before jx precisely: sign of da + db·j for j < jx is < 0 or == 0.
        total += sum_lin(ca, cb, 0, jx) + sum_lin(ma, mb, jx, K);
    } else {        // mem wins before jx, comp from jx on
        total += sum_lin(ma, mb, 0, jx) + sum_lin(ca, cb, jx, K);
    }
    return total;
}

void step_kv_capacity(KvCapacity *kv, const CatHardware *hw, const CatModel *m, PlanQuant q, int tp,
                      const CatStack *st, int64_t max_num_batched_tokens, int64_t max_num_seqs,
                      double mean_seq_tokens) {
    if (!st) st = cat_stack_reference();
    *kv = (KvCapacity){0};
    int64_t block_tokens = st->block_tokens;
    kv->kv_block_tokens = block_tokens;
    kv->kv_dtype = cat_stack_kv_dtype(st, hw, q);
    kv->weight_bytes_per_dev = cat_weight_bytes(m, q) / tp;
    // The engine's profiling forward of max_num_batched_tokens tokens: peak activations are about
    // tokens × (2·ffn + 4·hidden) bf16 values per device; stacks whose profiling run also samples
    // (vLLM) hold fp32 logits for max_num_seqs rows.
    kv->activation_bytes = (double)max_num_batched_tokens * (2.0 * (double)m->ffn + 4.0 * (double)m->hidden) * 2.0 / tp;
    if (st->logits_buffer) kv->activation_bytes += (double)max_num_seqs * (double)m->vocab * 4.0;
    double total = hw->memory_gb * 1e9;
    if (st->mem_rule == MEMRULE_UTIL_OF_TOTAL)   // vLLM, SGLang: a fraction of all memory, minus the peak
        kv->usable_bytes = total * st->mem_fraction - kv->weight_bytes_per_dev - kv->activation_bytes;
    else                                          // TensorRT-LLM: a fraction of what is free after the peak
        kv->usable_bytes = (total - kv->weight_bytes_per_dev - kv->activation_bytes) * st->mem_fraction;
    kv->kv_bytes_per_token_per_dev = cat_kv_bytes_per_token(m, kv->kv_dtype) / tp;
    if (kv->usable_bytes <= 0) { kv->kv_blocks_total = 0; return; }
    if (m->encoder) {   // no KV cache: capacity is bounded by activations only
        kv->kv_blocks_total = INT64_MAX / 4;
        kv->max_seqs_at_mean = max_num_seqs;
        return;
    }
    double block_bytes = (double)block_tokens * kv->kv_bytes_per_token_per_dev;
    kv->kv_blocks_total = (int64_t)floor(kv->usable_bytes / block_bytes);
    double blocks_per_seq = ceil(fmax(1.0, mean_seq_tokens) / (double)block_tokens);
    kv->max_seqs_at_mean = (int64_t)floor((double)kv->kv_blocks_total / blocks_per_seq);
    if (kv->max_seqs_at_mean > max_num_seqs) kv->max_seqs_at_mean = max_num_seqs;
}

// ---- profile files ----

const char *const step_cold_cols[3] = {"after_us", "wake_us", "step_factor"};
const double step_cold_lo[3] = {1, -1e8, 1e-3}, step_cold_hi[3] = {1e9, 1e8, 1e4};

int step_profile_load(StepProfile *p, const char *path, char *err, size_t err_len) {
    *p = (StepProfile){0};
    YamlDoc doc;
    int rc = yaml_load_file(&doc, path, err, err_len);
    if (rc) { yaml_doc_free(&doc); return rc; }
    YamlDoc *d = &doc;
    const YamlNode *pr = yaml_map_req(d, d->root, "profile");
    static const char *const keys[] = {"hardware", "model", "quantization", "tp", "date", "machine", "betas",
                                       "fit", "kv_blocks_total", "kv_block_tokens",
                                       "request_overhead_us", "cold", "spread", "spread_window_us", "colocated", NULL};
    yaml_check_keys(d, pr, keys);
    snprintf(p->hardware, sizeof p->hardware, "%s", yaml_str_req(d, pr, "hardware"));
    snprintf(p->model, sizeof p->model, "%s", yaml_str_req(d, pr, "model"));
    int q = yaml_enum_opt(d, pr, "quantization", plan_quant_names, QUANT_COUNT, QUANT_BF16);
    snprintf(p->quantization, sizeof p->quantization, "%s", plan_quant_names[q]);
    p->tp = (int)yaml_i64_opt(d, pr, "tp", 1, 1, 64);
    snprintf(p->date, sizeof p->date, "%s", yaml_str_req(d, pr, "date"));
    snprintf(p->machine, sizeof p->machine, "%s", yaml_str_opt(d, pr, "machine", ""));
    const YamlNode *b = yaml_map_req(d, pr, "betas");
    static const char *const bkeys[] = {"b0_us", "prefill_token_us", "decode_row_us", "context_token_us", "multi_row_us", NULL};
    yaml_check_keys(d, b, bkeys);
    p->b0_us = yaml_f64_req(d, b, "b0_us", 0, 1e8);
    p->prefill_token_us = yaml_f64_req(d, b, "prefill_token_us", 0, 1e6);
    p->decode_row_us = yaml_f64_req(d, b, "decode_row_us", 0, 1e6);
    p->context_token_us = yaml_f64_opt(d, b, "context_token_us", 0, 0, 1e6);
    p->multi_row_us = yaml_f64_opt(d, b, "multi_row_us", 0, 0, 1e8);
    const YamlNode *f = yaml_map_opt(d, pr, "fit");
    static const char *const fkeys[] = {"n_points", "rmse_us", "mape", NULL};
    yaml_check_keys(d, f, fkeys);
    p->n_points = yaml_i64_opt(d, f, "n_points", 0, 0, 1 << 30);
    p->rmse_us = yaml_f64_opt(d, f, "rmse_us", 0, 0, 1e9);
    p->mape = yaml_f64_opt(d, f, "mape", 0, 0, 100);
    p->kv_blocks_total = yaml_i64_opt(d, pr, "kv_blocks_total", 0, 0, (int64_t)1 << 40);
    p->kv_block_tokens = yaml_i64_opt(d, pr, "kv_block_tokens", 16, 1, 1 << 16);
    p->request_overhead_us = yaml_f64_opt(d, pr, "request_overhead_us", 0, 0, 1e9);
    double rows[STEP_COLD_MAX * 3];
    p->n_cold = (int)yaml_f64_rows(d, pr, "cold", step_cold_cols, 3, step_cold_lo, step_cold_hi, rows, STEP_COLD_MAX);
    for (int i = 0; i < p->n_cold; i++) {
        p->cold[i] = (StepCold){.after_us = rows[3 * i], .wake_us = rows[3 * i + 1], .step_factor = rows[3 * i + 2]};
        if (i > 0 && p->cold[i].after_us <= p->cold[i - 1].after_us)
            yaml_error(d, yaml_get(pr, "cold"), "the rows' after_us must ascend");
    }
    p->n_spread = (int)yaml_f64_list(d, pr, "spread", STEP_SPREAD_LO, STEP_SPREAD_HI, p->spread, STEP_SPREAD_MAX);
    p->spread_window_us = yaml_f64_opt(d, pr, "spread_window_us", 0, 1, 1e9);
    if (p->n_spread > 0 && p->spread_window_us == 0)
        yaml_error(d, yaml_get(pr, "spread"), "a spread needs spread_window_us (how long one factor holds)");
    p->colocated = yaml_f64_opt(d, pr, "colocated", 0, STEP_COLOCATED_LO, STEP_COLOCATED_HI);
    rc = d->rc;
    if (rc) snprintf(err, err_len, "%s", d->err);
    yaml_doc_free(&doc);
    return rc;
}

int step_profile_save(const StepProfile *p, const char *path, char *err, size_t err_len) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set(err, err_len, ERR_IO, "%s: cannot write", path);
    fprintf(f,
            "# step-time profile: step_us = b0 + prefill_token_us*prefill_tokens + decode_row_us*decode_rows\n"
            "#                              + context_token_us*context_tokens + multi_row_us*[more than one row]\n"
            "profile:\n  hardware: \"%s\"\n  model: \"%s\"\n  quantization: %s\n  tp: %d\n  date: \"%s\"\n"
            "  machine: \"%s\"\n"
            "  betas: {b0_us: %.17g, prefill_token_us: %.17g, decode_row_us: %.17g, context_token_us: %.17g, "
            "multi_row_us: %.17g}\n"
            "  fit: {n_points: %lld, rmse_us: %.17g, mape: %.17g}\n",
            p->hardware, p->model, p->quantization, p->tp, p->date, p->machine, p->b0_us, p->prefill_token_us,
            p->decode_row_us, p->context_token_us, p->multi_row_us, (long long)p->n_points, p->rmse_us, p->mape);
    if (p->kv_blocks_total > 0)
        fprintf(f, "  kv_blocks_total: %lld\n  kv_block_tokens: %lld\n", (long long)p->kv_blocks_total,
                (long long)p->kv_block_tokens);
    if (p->request_overhead_us > 0) fprintf(f, "  request_overhead_us: %.17g\n", p->request_overhead_us);
    if (p->n_cold > 0) fprintf(f, "  cold:   # a request meeting a replica idle after_us: +wake_us once, steps x step_factor\n");
    for (int i = 0; i < p->n_cold; i++)
        fprintf(f, "    - {after_us: %.17g, wake_us: %.17g, step_factor: %.17g}\n", p->cold[i].after_us, p->cold[i].wake_us,
                p->cold[i].step_factor);
    if (p->n_spread > 0) {
        fprintf(f, "  spread: [");   // one request's step time / the fit's, equally likely; held spread_window_us
        for (int i = 0; i < p->n_spread; i++) fprintf(f, "%s%.17g", i ? ", " : "", p->spread[i]);
        fprintf(f, "]\n  spread_window_us: %.17g\n", p->spread_window_us);
    }
    // a step's time x this while another replica on the same host is busy
    if (p->colocated > 0) fprintf(f, "  colocated: %.17g\n", p->colocated);
    if (fclose(f) != 0) return err_set(err, err_len, ERR_IO, "%s: write failed", path);
    return 0;
}
