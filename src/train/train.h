// train.h — training the engine's Llama architecture in C (llm.c style): F32 master weights in one
// allocation carved by a table of sizes, a forward pass that keeps what the backward pass needs,
// the backward pass, the distillation loss, AdamW with warmup + cosine and global-norm clipping.
//
// The model is the engine's (engine/model.c is the truth for the forward): token embedding,
// per layer RMSNorm → attention (q, k, v projections, GGUF `llama` RoPE on adjacent pairs, causal
// softmax, GQA when kv heads < heads) → output projection, residual; RMSNorm → SwiGLU FFN,
// residual; final RMSNorm; output projection tied to the token embedding. Checkpoints are GGUF
// files with the keys and tensor names engine/synth.c writes, so `rightsize run`/`serve` load them.
#ifndef RS_TRAIN_H
#define RS_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "engine/gguf.h"
#include "engine/synth.h"

// Parameter tensors, in the order they sit in the one allocation (and in the GGUF file).
typedef enum {
    TP_ATTN_NORM, TP_WQ, TP_WK, TP_WV, TP_WO, TP_FFN_NORM, TP_WGATE, TP_WUP, TP_WDOWN, TP_LAYER_N
} TrainLayerTensor;

typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *wg, *wu, *wd;
} TrainLayer;

typedef struct {
    float *tok_embd;          // (vocab, dim)
    TrainLayer *layers;       // (n_layers)
    float *out_norm;          // (dim)
} TrainWeights;

typedef struct {
    SynthShape shape;         // tied is always true
    int64_t head_dim, kv_dim;
    size_t n_params;
    float *params;            // every weight, one allocation
    float *grads;             // same layout as params (NULL until train_model_alloc_grads)
    TrainWeights w, g;        // views into params and grads
    double *inv_freq;         // (head_dim/2) RoPE frequencies as the engine computes them
} TrainModel;

// Checks the shape (see synth_shape_check), allocates params and sets them from seed as
// engine/synth.c does (N(0, 0.02²) matrices, norms 1). Returns 0 or a negative Err.
int train_model_init(TrainModel *m, const SynthShape *shape, uint64_t seed, char *err, size_t err_len);
// Loads every weight of a `llama` GGUF with a tied output (any weight type the engine reads).
int train_model_load(TrainModel *m, const char *path, char *err, size_t err_len);
int train_model_alloc_grads(TrainModel *m);
void train_model_free(TrainModel *m);
// Writes an F32 GGUF the engine runs: synth's metadata keys, the tokenizer.* keys copied from
// vocab (a GGUF file), general.name = name. Written via path.tmp and renamed.
int train_model_save(const TrainModel *m, const char *path, const GgufFile *vocab, const char *name,
                     char *err, size_t err_len);
// A one-line reason when a and b differ in vocabulary or shape, else 0.
int train_model_same_shape(const SynthShape *a, const SynthShape *b, char *err, size_t err_len);

// Activations for a batch of B rows of T tokens, one allocation.
typedef struct TrainActs TrainActs;
TrainActs *train_acts_create(const TrainModel *m, int64_t B, int64_t T, int n_threads);
void train_acts_destroy(TrainActs *a);
// Forward over tokens (B, T), every row starting at position 0. Returns the logits (B*T, vocab),
// owned by a, valid until the next call.
float *train_forward(const TrainModel *m, TrainActs *a, ThreadPool *tp, const int32_t *tokens);
// Backward from dlogits (B*T, vocab) (overwritten) after train_forward; ADDS into m->grads.
void train_backward(TrainModel *m, TrainActs *a, ThreadPool *tp, const int32_t *tokens, float *dlogits);

// The distillation loss over the rows with mask[i] set:
//   α · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − α) · CE(student, targets),
// averaged over those rows. teacher may be NULL (then the loss is the cross-entropy, α ignored).
// Writes d loss / d logits into dlogits (rows without mask get 0). Returns the loss; *ce and *kl
// (may be NULL) receive the two terms' averages.
double train_distill_loss(const float *logits, const float *teacher, const int32_t *targets,
                          const uint8_t *mask, int64_t n_rows, int64_t vocab, float alpha, float temp,
                          float *dlogits, double *ce, double *kl);

// AdamW (decoupled weight decay on matrices only) with linear warmup and cosine decay to
// lr_min_frac · lr, after clipping the gradient's global norm to clip.
typedef struct {
    float lr, lr_min_frac, beta1, beta2, eps, weight_decay, clip;
    int64_t warmup, total_steps;
} AdamCfg;

typedef struct {
    float *m, *v;             // first and second moments (n_params each), one allocation
    int64_t step;             // updates done
} AdamState;

int adam_init(AdamState *s, size_t n_params);
void adam_free(AdamState *s);
float adam_lr(const AdamCfg *c, int64_t step);
// Clips, updates and zeroes the gradients. Returns the gradient norm before clipping.
double adam_step(const AdamCfg *c, AdamState *s, TrainModel *m, ThreadPool *tp);

#endif
