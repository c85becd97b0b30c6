// ppl.h — perplexity of a model on a token sequence, chunked as llama.cpp's llama-perplexity
// does, and the divergence of a model from a reference model on the same chunks.
//
// Chunking: the tokens (already with BOS first when the model adds one) are cut into
// floor(n_tokens / n_ctx) non-overlapping chunks of n_ctx tokens; a trailing remainder is
// dropped; at least two chunks are needed (2·n_ctx tokens), as llama-perplexity asks. Each chunk is evaluated from an empty cache with its first token replaced by BOS
// (when the model has one), and only the second half is scored: the logits at positions
// first = n_ctx/2 .. n_ctx-2 predict the chunk's tokens first+1 .. n_ctx-1 (n_ctx-1-first
// predictions per chunk). The first half is context only, so every scored token sees at least
// n_ctx/2 tokens before it. Perplexity = exp(mean negative log-likelihood over all scored
// tokens). Log-softmax is computed in double.
//
// Divergence (when a reference engine is given): at every scored position, with p the
// reference's and q the model's softmax, KL(p || q) = Σ p·(log p − log q) (nats), and whether
// both argmaxes agree. Reported as the mean and the 99th percentile of KL, the top-1 agreement
// and the reference's own perplexity on the same chunks (Δppl = ppl − ppl_ref).
#ifndef RS_EVAL_PPL_H
#define RS_EVAL_PPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Engine Engine;

typedef struct {
    int64_t n_ctx;         // tokens per chunk (>= 4, <= each engine's n_ctx)
    int64_t batch;         // rows per forward step (<= each engine's max_rows)
    int64_t max_chunks;    // 0: all chunks
    // Called after each chunk (may be NULL): chunk index (1-based), total, running perplexity.
    void (*progress)(void *ctx, int64_t chunk, int64_t n_chunks, double ppl);
    void *progress_ctx;
} PplOptions;

typedef struct {
    int64_t n_tokens;      // tokens in the input
    int64_t n_chunks;      // chunks evaluated
    int64_t n_scored;      // predictions scored
    double nll;            // mean negative log-likelihood (nats/token)
    double ppl;            // exp(nll)
    double ppl_stderr;     // standard error of ppl (delta method over per-token nll)
    // Against a reference (has_ref):
    bool has_ref;
    double ref_nll, ref_ppl;
    double kl_mean, kl_p99, kl_max;   // nats
    double top1_agree;                // fraction of scored positions with the same argmax
} PplResult;

// Scores tokens[0..n_tokens) on e (and on ref when not NULL: both must share the vocabulary).
// bos < 0: the chunk's first token is kept as is. Uses sequence 0 of each engine and frees it.
// Returns 0, or a negative Err with one line in err (too few tokens for one chunk, n_ctx or
// batch larger than an engine allows, vocabularies differ, a forward step failed).
int ppl_run(Engine *e, Engine *ref, const int32_t *tokens, int64_t n_tokens, int32_t bos,
            const PplOptions *opt, PplResult *out, char *err, size_t err_len);

// Log-softmax helpers, exposed for tests: log Σ exp(x) over n floats, in double.
double ppl_logsumexp(const float *x, int64_t n);
// KL(p || q) in nats for logits rows a (reference) and b (model) of n floats.
double ppl_kl(const float *a, const float *b, int64_t n);

#endif
