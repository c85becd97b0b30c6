// results.h — an eval results file: what was measured, on which data, when, as YAML or JSON.
//
// One object with the model, the data set, the UTC date and one section per measurement:
//   model: PATH            name: general.name       dataset: the text or task file's base name
//   date: YYYY-MM-DD       quality: the headline quality in [0, 1] (task accuracy, or top-1
//                          agreement with the reference) — what `plan` reads as measured quality
//   perplexity: {ctx, chunks, tokens, scored, ppl, ppl_stderr}
//   kl_reference: {reference, ref_ppl, delta_ppl, kl_mean, kl_p99, kl_max, top1_agree}
//   task: {url, model, requests, correct, errors, accuracy, cost_usd, cost_per_1k_usd, ...}
// The format follows the file name: *.json is JSON, anything else YAML (the YAML subset that
// src/base/yaml.c reads: block mappings, plain scalars, double-quoted strings).
#ifndef RS_EVAL_RESULTS_H
#define RS_EVAL_RESULTS_H

#include <stddef.h>

typedef struct cJSON cJSON;

// Writes root to path (JSON when path ends in .json, else YAML). Returns 0 or a negative Err
// with one line in err.
int results_write(const cJSON *root, const char *path, char *err, size_t err_len);
// Today's UTC date as YYYY-MM-DD into buf (at least 11 bytes).
void results_date(char *buf, size_t len);

#endif
