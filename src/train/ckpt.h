// ckpt.h — a training run's checkpoint: the weights as a GGUF file the engine runs
// (OUT/model.gguf) and the optimizer's state beside it (OUT/state.bin: "RSTRAIN1", step, seed,
// n_params, a copy of the weights, AdamW m and v, FNV-1a 64 of all before). Both are written via a
// temporary file and renamed, the GGUF first; state.bin is the checkpoint of record (a run
// killed between the two renames resumes from the state's weights and moments, never a mix).
#ifndef RS_TRAIN_CKPT_H
#define RS_TRAIN_CKPT_H

#include "train/train.h"

int ckpt_save(const char *dir, const TrainModel *m, const AdamState *s, uint64_t seed, const GgufFile *vocab,
              const char *name, char *err, size_t err_len);
// Loads OUT/model.gguf into m (must match `expect` when not NULL: same vocab and shape) and
// OUT/state.bin into s (its weights replace the GGUF's). Refuses a truncated or corrupt state or
// one of another run (seed, parameter count), with the reason.
int ckpt_load(const char *dir, TrainModel *m, AdamState *s, uint64_t seed, const SynthShape *expect,
              char *err, size_t err_len);

#endif
