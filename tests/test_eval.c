// test_eval.c — the eval module's math against closed forms.
#include <math.h>
#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/choose.h"
#include "eval/ppl.h"
#include "plan/catalog.h"
#include "policy/canary.h"
#include "test.h"

TEST(eval_logsumexp_closed_form) {
    float x[3] = {0.0f, (float)log(3.0), 1000.0f};
    EXPECT_NEAR(ppl_logsumexp(x, 2), log(4.0), 1e-7);
    // Large logits do not overflow: log(e^1000 + 4) = 1000 + log(1 + 4e^-1000) = 1000.
    EXPECT_NEAR(ppl_logsumexp(x, 3), 1000.0, 1e-9);
}

TEST(eval_kl_closed_form) {
    // p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3).
    float a[2] = {0.0f, 0.0f}, b[2] = {0.0f, (float)log(3.0)};
    EXPECT_NEAR(ppl_kl(a, b, 2), 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0), 1e-7);
    EXPECT_NEAR(ppl_kl(b, b, 2), 0.0, 1e-12);
    // Shifting all logits changes nothing.
    float c[2] = {5.0f, 5.0f};
    EXPECT_NEAR(ppl_kl(a, c, 2), 0.0, 1e-12);
}

// ---- a catalog entry reads `rightsize eval --out` results as measured quality ----

static void put_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char HW_YAML[] =
    "hardware:\n"
    "  - id: x\n    class: gpu\n    tflops: {bf16: 100}\n    memory_gb: 16\n    memory_bw_gbs: 300\n"
    "    interconnect_gbs: 10\n    max_devices: 1\n    quantizations: [bf16, int4]\n"
    "    derate: {compute: 0.5, bandwidth: 0.8, step_overhead_us: 100}\n    startup_s: 60\n    spec_source: test\n"
    "    prices:\n      - {kind: on_demand, usd_per_hour: 1.0, source: s, date: 2026-01-01, confidence: V}\n";

static const char MODELS_YAML[] =
    "models:\n"
    "  - {id: m, source: test, params_b: 1, layers: 2, hidden: 64, heads: 4, kv_heads: 4, head_dim: 16, ffn: 128,\n"
    "     vocab: 512, context: 512, quant: [{name: bf16, bytes_per_weight: 2, quality: 50},\n"
    "     {name: int4, bytes_per_weight: 0.5625, measured: %s}]}\n";

TEST(eval_catalog_reads_measured_quality) {
    char dir[512], path[600], err[512] = {0}, models[1024];
    snprintf(dir, sizeof dir, "%s/evalcat", test_tmpdir());
    snprintf(path, sizeof path, "mkdir -p %s/evals", dir);
    ASSERT(system(path) == 0);
    snprintf(path, sizeof path, "%s/hardware.yaml", dir);
    put_file(path, HW_YAML);
    // What `rightsize eval --out` writes (YAML flavour), relative to the catalog folder.
    snprintf(path, sizeof path, "%s/evals/m-int4.yaml", dir);
    put_file(path, "# rightsize eval results\nmodel: \"m.gguf\"\nname: \"m\"\ndataset: \"support-desk-dev.jsonl\"\n"
                   "date: \"2026-12-03\"\nquality: 0.8125\ntask:\n  accuracy: 0.8125\n");
    snprintf(models, sizeof models, MODELS_YAML, "evals/m-int4.yaml");
    snprintf(path, sizeof path, "%s/models.yaml", dir);
    put_file(path, models);
    Catalog c;
    ASSERT(catalog_load(&c, dir, err, sizeof err) == 0);
    const CatModel *m = catalog_model(&c, "m");
    ASSERT(m != NULL);
    EXPECT(!m->quant[QUANT_BF16].measured);
    EXPECT(m->quant[QUANT_INT4].measured);
    EXPECT_NEAR(m->quant[QUANT_INT4].quality, 81.25, 1e-9);
    EXPECT(strcmp(m->quant[QUANT_INT4].measured_date, "2026-12-03") == 0);
    EXPECT(strcmp(m->quant[QUANT_INT4].measured_dataset, "support-desk-dev.jsonl") == 0);
    catalog_free(&c);
    // A missing or incomplete results file is an error that names it.
    snprintf(models, sizeof models, MODELS_YAML, "evals/none.yaml");
    put_file(path, models);
    EXPECT(catalog_load(&c, dir, err, sizeof err) != 0);
    EXPECT(strstr(err, "none.yaml") != NULL);
    snprintf(path, sizeof path, "%s/evals/bad.yaml", dir);
    put_file(path, "quality: 3\n");
    snprintf(models, sizeof models, MODELS_YAML, "evals/bad.yaml");
    snprintf(path, sizeof path, "%s/models.yaml", dir);
    put_file(path, models);
    EXPECT(catalog_load(&c, dir, err, sizeof err) != 0);
    EXPECT(strstr(err, "need quality (0..1)") != NULL);
}

// ---- choosing min_confidence ----

TEST(eval_choose_min_confidence_by_hand) {
    // Items sorted by confidence; the student is wrong on the two least confident ones.
    double c[6] = {0.9, 0.2, 0.5, 0.1, 0.7, NAN};
    bool s[6] = {true, false, true, false, true, false}, t[6] = {true, true, true, true, true, false};
    ChooseResult r;
    // Teacher accuracy 5/6. keep 1.0: items with c < m escalate; need the 0.1 and 0.2 items escalated
    // (and NaN = 0, whose teacher is also wrong): m between 0.2 and 0.5 -> 0.35, escalation 3/6.
    choose_min_confidence(c, s, t, 6, 1.0, &r);
    EXPECT(r.met);
    EXPECT_NEAR(r.min_confidence, 0.35, 1e-12);
    EXPECT_NEAR(r.escalation, 0.5, 1e-12);
    EXPECT_NEAR(r.accuracy, 5.0 / 6.0, 1e-12);
    EXPECT_NEAR(r.teacher_accuracy, 5.0 / 6.0, 1e-12);
    EXPECT_NEAR(r.student_accuracy, 0.5, 1e-12);
    // keep 0.8: 0.8 x 5/6 = 2/3 -> 4 correct of 6: escalating 0 and 0.1 gives s(0.2)=wrong -> 4/6. m = 0.15.
    choose_min_confidence(c, s, t, 6, 0.8, &r);
    EXPECT(r.met);
    EXPECT_NEAR(r.min_confidence, 0.15, 1e-12);
    EXPECT_NEAR(r.accuracy, 4.0 / 6.0, 1e-12);
    // keep 0.6: 0.5 -> 3 of 6: the student alone (3/6) is enough: m = 0.
    choose_min_confidence(c, s, t, 6, 0.6, &r);
    EXPECT_NEAR(r.min_confidence, 0.0, 1e-12);
    EXPECT_NEAR(r.escalation, 0.0, 1e-12);
}

// ---- the canary's accuracy guard on labelled traffic ----

TEST(eval_canary_accuracy_guard) {
    EXPECT(canary_label_match("Billing", "  billing \nmore text"));
    EXPECT(!canary_label_match("billing", "billing issue"));
    EXPECT(canary_label_match("", "\n"));
    CanaryGuards g = {.error_rate = 1, .min_accuracy = 0.75, .window_us = 1000000, .min_samples = 4};
    Canary c;
    canary_init(&c, 50, 0, &g);
    // 4 answers, 3 labelled: 2 of 3 right = 0.667 < 0.75 -> rollback once 3 labelled answers are in.
    canary_record(&c, 10, 1000, false);
    canary_record_accuracy(&c, 10, true);
    canary_record(&c, 20, 1000, false);
    canary_record_accuracy(&c, 20, true);
    canary_record(&c, 30, 1000, false);
    EXPECT(canary_check(&c, 30) == CANARY_OK);   // 3 answers < min_samples
    canary_record(&c, 40, 1000, false);
    EXPECT(canary_check(&c, 40) == CANARY_OK);   // 2 labelled < 3 needed
    canary_record_accuracy(&c, 40, false);
    int64_t n;
    EXPECT_NEAR(canary_accuracy(&c, 40, &n), 2.0 / 3.0, 1e-6);
    EXPECT(n == 3);
    EXPECT(canary_check(&c, 40) == CANARY_ROLLBACK_ACCURACY);
    EXPECT(c.weight_percent == 0 && strstr(c.reason, "accuracy on labelled requests 0.667 < 0.750") != NULL);
    EXPECT(strcmp(canary_verdict_name(CANARY_ROLLBACK_ACCURACY), "accuracy") == 0);
    // Old samples leave the window.
    canary_set_weight(&c, 50);
    canary_record_accuracy(&c, 100, false);
    EXPECT_NEAR(canary_accuracy(&c, 2000000, &n), 1.0, 1e-12);
    EXPECT(n == 0);
}
