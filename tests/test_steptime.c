// Tests of src/plan/steptime: roofline step times and KV capacity against arithmetic done by
// hand from the catalog figures (written out below), the closed-form decode-run sum against a
// step-by-step sum, and the profile file round trip.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "plan/catalog.h"
#include "plan/steptime.h"
#include "test.h"

static Catalog cat;
static int cat_ok;
__attribute__((destructor)) static void free_cat(void) { catalog_free(&cat); }
static void load_cat(void) {
    char err[512];
    if (!cat_ok) cat_ok = catalog_load(&cat, "data/catalog", err, sizeof err) == 0;
}

// Llama 3.1 8B, bf16, one H100 SXM, one decode row at context 1000:
//   weights W = 8.030e9 params x 2 B = 16.060e9 B; KV read = 1000 x 131072 B = 0.131072e9 B
//   BW_eff = 3350e9 x 0.80 = 2680e9 B/s  ->  T_mem = 16.191072e9 / 2680e9 = 6041.444776 us
//   FLOPs = 2 x 8.030e9 x 1 + 4 x 32 layers x 4096 (32 heads x 128) x 1000 pairs = 16.584288e9
//   F_eff = 989.4e12 x 0.45 = 445.23e12  ->  T_comp = 37.249 us
//   step = 1500 (overhead) + max(6041.444776, 37.249) = 7541.444776 us
TEST(steptime_roofline_h100_llama8b_decode_by_hand) {
    load_cat();
    ASSERT(cat_ok);
    StepModel sm;
    step_roofline(&sm, catalog_hw(&cat, "h100-sxm"), catalog_model(&cat, "llama-3.1-8b"), QUANT_BF16, 1, NULL);
    StepShape s = {.prefill_tokens = 0, .decode_rows = 1, .ctx_tokens = 1000, .attn_pairs = 1000};
    EXPECT_NEAR(step_time_us(&sm, &s), 7541.444776, 1e-3);
    EXPECT_NEAR(sm.comp_token_us + sm.comp_pair_us * 1000, 37.249, 1e-3);
}

// Llama 3.2 1B, bf16, one L4, a 512-token prompt in one prefill chunk (pos_start 0):
//   W = 1.236e9 x 2 = 2.472e9 B; KV per token = 2 x 16 x 8 x 64 x 2 = 32768 B; ctx = 512
//   T_mem = (2.472e9 + 512 x 32768) / (300e9 x 0.902) = 2.488777216e9 / 270.6e9 = 9197.255 us
//   attn pairs = 512 x (0 + 513/2) = 131328
//   FLOPs = 2 x 1.236e9 x 512 + 4 x 16 x 2048 x 131328 = 1.265664e12 + 17.213423e9 = 1.282877423e12
//   F_eff = 121e12 x 0.343 = 41.503e12  ->  T_comp = 30910.474 us (compute-bound)
//   step = 1369 + 30910.474 = 32279.474 us   (L4 derates 0.343 / 0.902 / 1369 us: fitted, hardware.yaml)
TEST(steptime_roofline_l4_llama1b_prefill_by_hand) {
    load_cat();
    ASSERT(cat_ok);
    StepModel sm;
    step_roofline(&sm, catalog_hw(&cat, "l4"), catalog_model(&cat, "llama-3.2-1b"), QUANT_BF16, 1, NULL);
    StepShape s = {.prefill_tokens = 512, .decode_rows = 0, .ctx_tokens = 512, .attn_pairs = 512 * 256.5};
    EXPECT_NEAR(step_time_us(&sm, &s), 32279.474, 0.01);
    EXPECT_NEAR(sm.mem_fixed_us + sm.mem_ctx_us * 512, 9197.255, 0.01);
}

// Tensor parallel adds 2 all-reduces per layer: Llama 3.1 70B on 4 x H100, one decode row:
//   alpha: 2 x 80 x 8 us = 1280 us; bytes: 2 x (3/4) x 8192 x 2 B / 450e9 B/s = 0.054613 us per
//   token per all-reduce, x 160 all-reduces = 8.738 us per row.
TEST(steptime_tensor_parallel_comm_by_hand) {
    load_cat();
    ASSERT(cat_ok);
    StepModel sm;
    step_roofline(&sm, catalog_hw(&cat, "h100-sxm"), catalog_model(&cat, "llama-3.1-70b"), QUANT_BF16, 4, NULL);
    EXPECT_NEAR(sm.b0_us, 1500 + 1280, 1e-9);
    EXPECT_NEAR(sm.decode_row_us, 8.738133, 1e-5);
    // Weights per device: 70.554e9 x 2 / 4 = 35.277e9 B over 2680e9 B/s = 13163.06 us.
    EXPECT_NEAR(sm.mem_fixed_us, 13163.0597, 1e-3);
}

TEST(steptime_decode_run_closed_form_matches_step_sum) {
    load_cat();
    ASSERT(cat_ok);
    // Cases straddle the memory/compute crossover (large batches on a compute-poor part).
    const char *hw[] = {"h100-sxm", "t4", "cpu-c7i-8xl", "l4"};
    for (size_t h = 0; h < 4; h++) {
        StepModel sm;
        step_roofline(&sm, catalog_hw(&cat, hw[h]), catalog_model(&cat, "llama-3.2-1b"), QUANT_INT4, 1, NULL);
        int64_t rows[] = {1, 7, 64, 256};
        for (int r = 0; r < 4; r++) {
            int64_t ctx0 = rows[r] * 300, k = 777;
            double sum = 0;
            for (int64_t j = 0; j < k; j++) {
                int64_t c = ctx0 + j * rows[r];
                StepShape s = {.decode_rows = rows[r], .ctx_tokens = c, .attn_pairs = (double)c};
                sum += step_time_us(&sm, &s);
            }
            EXPECT_NEAR(step_decode_run_us(&sm, rows[r], ctx0, k), sum, sum * 1e-12 + 1e-6);
        }
    }
    StepProfile p = {.b0_us = 1000, .prefill_token_us = 0.5, .decode_row_us = 30, .context_token_us = 0.01};
    StepModel sm;
    step_from_profile(&sm, &p);
    // Profile: Σ_j (1000 + 30·8 + 0.01·(800 + 8j)) over j < 10 = 10·1248 + 0.08·45 = 12483.6
    EXPECT_NEAR(step_decode_run_us(&sm, 8, 800, 10), 12483.6, 1e-9);
    // The multi-row term: paid once by every step of 8 rows (+10·150), by no step of one row
    // (Σ_j (1000 + 30 + 0.01·(800 + j)) over j < 10 = 10·1038 + 0.01·45 = 10380.45).
    p.multi_row_us = 150;
    step_from_profile(&sm, &p);
    EXPECT_NEAR(step_decode_run_us(&sm, 8, 800, 10), 12483.6 + 1500, 1e-9);
    EXPECT_NEAR(step_decode_run_us(&sm, 1, 800, 10), 10380.45, 1e-9);
    for (int64_t n = 1; n <= 3; n++) {   // and the closed form is the sum of its steps
        double sum = 0;
        for (int64_t j = 0; j < 10; j++) {
            StepShape s = {.decode_rows = n, .ctx_tokens = 800 + j * n, .attn_pairs = (double)(800 + j * n)};
            sum += step_time_us(&sm, &s);
        }
        EXPECT_NEAR(step_decode_run_us(&sm, n, 800, 10), sum, 1e-9);
    }
    // a prefill of one token is one row; of two, a multi-row step
    StepShape one = {.prefill_tokens = 1, .ctx_tokens = 1}, two = {.prefill_tokens = 2, .ctx_tokens = 2};
    EXPECT_NEAR(step_time_us(&sm, &one), 1000 + 0.5 + 0.01, 1e-9);
    EXPECT_NEAR(step_time_us(&sm, &two), 1000 + 1 + 0.02 + 150, 1e-9);
}

// vLLM-style block count for Llama 3.1 8B bf16 on one H100 (util 0.9, 2048 batched tokens,
// 256 seqs, 16-token blocks):
//   80e9 x 0.9 = 72e9; weights 16.06e9; activations 2048 x (2 x 14336 + 4 x 4096) x 2 = 184.549376e6
//   logits 256 x 128256 x 4 = 131.334144e6; usable = 55.62411648e9
//   block = 16 x 131072 = 2097152 B -> 26523 blocks; a 1150-token sequence takes 72 blocks -> 368
TEST(steptime_kv_capacity_by_hand) {
    load_cat();
    ASSERT(cat_ok);
    KvCapacity kv;
    step_kv_capacity(&kv, catalog_hw(&cat, "h100-sxm"), catalog_model(&cat, "llama-3.1-8b"), QUANT_BF16, 1, NULL,
                     2048, 256, 1150);
    EXPECT_NEAR(kv.usable_bytes, 55.62411648e9, 1);
    EXPECT_EQ_INT(kv.kv_blocks_total, 26523);
    EXPECT_EQ_INT(kv.max_seqs_at_mean, 256);   // 368 fit, capped at max_num_seqs
    // 70B bf16 does not fit one H100.
    step_kv_capacity(&kv, catalog_hw(&cat, "h100-sxm"), catalog_model(&cat, "llama-3.1-70b"), QUANT_BF16, 1, NULL,
                     2048, 256, 1150);
    EXPECT(kv.kv_blocks_total <= 0);
}

TEST(steptime_profile_round_trip_and_errors) {
    StepProfile p = {.tp = 2, .b0_us = 1234.5, .prefill_token_us = 0.25, .decode_row_us = 17,
                     .context_token_us = 0.003, .n_points = 40, .rmse_us = 55, .mape = 0.031,
                     .kv_blocks_total = 9000, .kv_block_tokens = 16};
    snprintf(p.hardware, sizeof p.hardware, "l4");
    snprintf(p.model, sizeof p.model, "llama-3.1-8b");
    snprintf(p.quantization, sizeof p.quantization, "int4");
    snprintf(p.date, sizeof p.date, "2026-11-29");
    snprintf(p.machine, sizeof p.machine, "g6.xlarge");
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/prof.yaml", test_tmpdir());
    ASSERT(step_profile_save(&p, path, err, sizeof err) == 0);
    StepProfile q;
    ASSERT(step_profile_load(&q, path, err, sizeof err) == 0);
    EXPECT(strcmp(q.model, "llama-3.1-8b") == 0 && strcmp(q.quantization, "int4") == 0 && q.tp == 2);
    EXPECT_NEAR(q.b0_us, 1234.5, 0);
    EXPECT_NEAR(q.context_token_us, 0.003, 0);
    EXPECT_NEAR(q.multi_row_us, 0, 0);   // a profile without the term (older files too)
    EXPECT_EQ_INT(q.kv_blocks_total, 9000);
    p.multi_row_us = 61.75;
    ASSERT(step_profile_save(&p, path, err, sizeof err) == 0);
    ASSERT(step_profile_load(&q, path, err, sizeof err) == 0);
    EXPECT_NEAR(q.multi_row_us, 61.75, 0);
    EXPECT_EQ_INT(q.n_cold, 0);
    // cold rows (calibrate --url --idle-ms) survive exactly, and reach the step model
    p.cold[0] = (StepCold){.after_us = 12500, .wake_us = 310.25, .step_factor = 1.0125};
    p.cold[1] = (StepCold){.after_us = 200000, .wake_us = -20, .step_factor = 0.98};
    p.n_cold = 2;
    ASSERT(step_profile_save(&p, path, err, sizeof err) == 0);
    ASSERT(step_profile_load(&q, path, err, sizeof err) == 0);
    ASSERT(q.n_cold == 2);
    EXPECT(q.cold[0].after_us == 12500 && q.cold[0].wake_us == 310.25 && q.cold[0].step_factor == 1.0125);
    EXPECT(q.cold[1].after_us == 200000 && q.cold[1].wake_us == -20 && q.cold[1].step_factor == 0.98);
    StepModel sm;
    step_from_profile(&sm, &q);
    double w, fac;
    step_cold_at(&sm, 106250, &w, &fac);   // halfway between the rows
    EXPECT_NEAR(w, 145.125, 1e-9);
    EXPECT_NEAR(fac, 0.99625, 1e-12);
    EXPECT_EQ_INT(sm.n_spread, 0);
    // the spread (calibrate --url) survives exactly, and reaches the step model
    for (int i = 0; i < 16; i++) p.spread[i] = 0.8 + 0.05 * i + 1e-9 * i;
    p.n_spread = 16;
    p.spread_window_us = 36789.5;
    ASSERT(step_profile_save(&p, path, err, sizeof err) == 0);
    ASSERT(step_profile_load(&q, path, err, sizeof err) == 0);
    ASSERT(q.n_spread == 16);
    for (int i = 0; i < 16; i++) EXPECT(q.spread[i] == p.spread[i]);
    EXPECT(q.spread_window_us == 36789.5);
    step_from_profile(&sm, &q);
    EXPECT(sm.n_spread == 16 && sm.spread[15] == p.spread[15] && sm.spread_window_us == 36789.5);
    EXPECT(sm.colocated == 0);
    // the co-location factor (calibrate --url --neighbour-model) survives exactly, and reaches the step model
    p.colocated = 1.1734375;
    ASSERT(step_profile_save(&p, path, err, sizeof err) == 0);
    ASSERT(step_profile_load(&q, path, err, sizeof err) == 0);
    EXPECT(q.colocated == 1.1734375);
    step_from_profile(&sm, &q);
    EXPECT(sm.colocated == 1.1734375);
    // Bad files: each refused with the key that was wrong.
    const char *head = "profile:\n  hardware: l4\n  model: m\n  date: x\n  betas: {b0_us: 1, prefill_token_us: 1, decode_row_us: 1}\n";
    const char *bad[][2] = {
        {"  cold:\n    - {after_us: 500, wake_us: 1, step_factor: 1}\n    - {after_us: 100, wake_us: 1, step_factor: 1}\n",
         "key 'profile.cold': the rows' after_us must ascend"},
        {"  cold:\n    - {after_us: 500, wake: 1, step_factor: 1}\n", "unknown key (expected one of: after_us, wake_us, step_factor)"},
        {"  tp: fast\n", ":6: key 'profile.tp': expected a whole number, got 'fast'"},
        {"  spread: [0.9, 1.1]\n", "key 'profile.spread': a spread needs spread_window_us"},
        {"  spread: [0.9, 0]\n  spread_window_us: 100\n", "key 'profile.spread[1]': 0 is out of range [0.05, 20]"},
        {"  colocated: 0.8\n", "key 'profile.colocated': 0.8 is out of range [1, 10]"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        FILE *f = fopen(path, "w");
        ASSERT(f);
        fprintf(f, "%s%s", head, bad[i][0]);
        fclose(f);
        EXPECT(step_profile_load(&q, path, err, sizeof err) < 0);
        if (!strstr(err, bad[i][1])) test_fail(__FILE__, __LINE__, "got '%s', want '%s'", err, bad[i][1]);
    }
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs("profile:\n  hardware: l4\n  model: m\n  date: x\n  betas: {b0_us: 1, prefill_token_us: fast, decode_row_us: 1}\n", f);
    fclose(f);
    EXPECT(step_profile_load(&q, path, err, sizeof err) < 0);
    EXPECT(strstr(err, ":5: key 'profile.betas.prefill_token_us': expected a number, got 'fast'") != NULL);
}
