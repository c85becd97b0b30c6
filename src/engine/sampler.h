// sampler.h — choose the next token from one row of logits.
//
// Pipeline (the order vLLM and Hugging Face use), each stage optional:
//   penalties (repetition, frequency, presence over the caller's recent tokens)
//   → temperature (logits / T; T <= 0 means greedy: argmax, ties to the lowest id)
//   → top-k (keep the k largest) → top-p (keep the smallest prefix of the sorted distribution
//     whose probability reaches p) → min-p (keep tokens with p >= min_p · p_max)
//   → renormalize → draw with the caller's Rng.
// Top-p and min-p are both measured on the distribution after temperature and top-k.
//
// Reported logprobs are NOT those of the sampling distribution: they are the log-softmax of the
// unmodified logits (temperature 1, no penalties, no truncation), which is what OpenAI's
// `logprobs` report and what the cascade's confidence needs — a property of the model, the same
// whatever sampling settings the request chose. The top-N alternatives are the N most likely
// tokens under that same distribution (the chosen token may or may not be among them).
//
// Cost per call: one max pass and one exp pass over the row (AVX2 when the CPU has it, see
// vexp.h) for the logprobs, whatever the settings; greedy without penalties adds nothing else.
// Sampling adds a second exp pass at T != 1; top-p and min-p gather only the tokens they could
// keep and select by a value-bucket histogram then a quickselect within one bucket; top-k up to
// 256 keeps a heap fed by a vectorised skip-ahead scan. The kept set is drawn from in an order
// those selections leave, so a seed fixes the sequence for a given build, not across changes to
// the selection.
//
// No allocation per call: the caller creates one SamplerWork per concurrent sampler (per engine
// thread) sized for the vocabulary, and reuses it.
#ifndef RS_SAMPLER_H
#define RS_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "engine/vexp.h"

#define SAMPLER_MAX_TOP 20
#define SAMPLER_BUCKET_BITS 12  // top-k/top-p file candidates in 2^12 buckets by value first
#define SAMPLER_BUCKETS (1 << SAMPLER_BUCKET_BITS)

typedef struct {
    float temperature;         // <= 0: greedy
    int32_t top_k;             // <= 0: off
    float top_p;               // >= 1: off (valid (0, 1])
    float min_p;               // <= 0: off (valid [0, 1])
    float repetition_penalty;  // 1: off; > 1 discourages tokens in recent (CTRL-style: positive
                               // logits divided, negative multiplied)
    float frequency_penalty;   // 0: off; logit -= count · frequency_penalty (OpenAI meaning)
    float presence_penalty;    // 0: off; logit -= presence_penalty if count > 0
} SamplerParams;

// Defaults: temperature 1, everything else off.
SamplerParams sampler_params_default(void);
// Checks ranges; returns 0 or ERR_RANGE with "top_p must be in (0, 1], got 1.5".
int sampler_params_validate(const SamplerParams *p, char *err, size_t err_len);

typedef struct {
    int32_t id;
    float logprob;  // natural log, of the unmodified distribution
} SampleCand;

typedef struct {
    int32_t token;
    float logprob;                     // of token, unmodified distribution
    int32_t n_top;                     // entries filled in top (= requested N, ≤ n_vocab)
    SampleCand top[SAMPLER_MAX_TOP];   // most likely first; ties by lower id
} SampleResult;

// Scratch for one sampler call at a time. sampler_work_init allocates for n_vocab once.
typedef struct {
    int64_t n_vocab;
    float *logits;     // (n_vocab) modified copy
    int32_t *ids;      // (n_vocab) candidate ids
    float *probs;      // (n_vocab) candidate probabilities
    int32_t *counts;   // (n_vocab) occurrences in recent; all zero between calls
    double *hist;      // (SAMPLER_BUCKETS) count or mass per value bucket (top-k/top-p); all zero
                       // between calls
    const VexpKernels *vk;  // max / exp-sum kernels: vexp_kernels() at init (tests may swap in
                            // vexp_kernels_ref() to compare)
} SamplerWork;

int sampler_work_init(SamplerWork *w, int64_t n_vocab);  // 0 or ERR_NOMEM / ERR_ARG
void sampler_work_free(SamplerWork *w);                 // zeroed or freed: no-op

// Samples one token from logits (n_vocab floats; -inf masks a token; NaN counts as -inf).
// recent (n_recent ids, may be NULL) feeds the penalties; ids out of range are ignored.
// n_top in [0, SAMPLER_MAX_TOP] alternatives are reported. rng is only drawn from when sampling
// is not greedy (one rng_uniform per call), so a seed fixes the whole sequence.
// Returns 0, or ERR_ARG (n_vocab does not match w, n_top out of range, every logit -inf, a logit
// +inf, every logit masked by the penalties).
int sampler_sample(const SamplerParams *p, const float *logits, int64_t n_vocab,
                   const int32_t *recent, int64_t n_recent, int n_top, Rng *rng, SamplerWork *w,
                   SampleResult *out);

#endif
