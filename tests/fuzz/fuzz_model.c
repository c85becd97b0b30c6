// fuzz_model — libFuzzer target: arbitrary bytes as a GGUF Llama model. Loading must either fail
// with a message or yield a model whose every shape was checked, so that one batched forward
// step (two rows of one sequence) runs without touching memory outside the file or buffers.
#include <stdint.h>
#include <stdlib.h>

#include "engine/kv_cache.h"
#include "engine/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Model m;
    char err[256];
    if (model_load_mem(&m, data, size, err, sizeof err)) return 0;
    const LlamaHparams *hp = &m.hp;
    KvCacheConfig kc = {.n_layer = hp->n_layer, .n_kv_head = hp->n_head_kv, .head_dim = hp->head_dim,
                        .block_tokens = 4, .n_blocks = 1, .max_seqs = 1, .max_seq_len = 4, .type = QT_F16};
    KvCache *kv = kv_cache_create(&kc);
    ModelBuffers *b = model_buffers_create(&m, 2, 4, 1);
    float *logits = malloc((size_t)(2 * hp->n_vocab) * sizeof(float));
    if (kv && b && logits && kv_cache_reserve(kv, 0, 2) == 0) {
        kv_cache_set_len(kv, 0, 2);
        EngineRow rows[2] = {{0, 0, 0, true}, {0, 1, (int32_t)(hp->n_vocab - 1), true}};
        model_forward(&m, b, kv, NULL, rows, 2, logits);
    }
    free(logits);
    model_buffers_destroy(b);
    kv_cache_destroy(kv);
    model_free(&m);
    return 0;
}
