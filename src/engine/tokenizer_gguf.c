// tokenizer_gguf.c — building a Tokenizer from a GGUF file's tokenizer.ggml.* metadata.
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/tokenizer.h"

// Reads an optional u32 id key into *out (left unchanged when absent). 0 or ERR_FORMAT.
static int get_id(const GgufFile *f, const char *key, int32_t *out, char *err, size_t err_len) {
    uint32_t v;
    int rc = gguf_get_u32(f, key, &v);
    if (rc == ERR_NOTFOUND) return 0;
    if (rc) return err_set(err, err_len, ERR_FORMAT, "tokenizer: %s is not an unsigned integer", key);
    *out = v > INT32_MAX ? INT32_MAX : (int32_t)v;  // out of range: refused by the constructor
    return 0;
}

static int get_flag(const GgufFile *f, const char *key, bool *out, char *err, size_t err_len) {
    int rc = gguf_get_bool(f, key, out);
    if (rc == ERR_NOTFOUND) return 0;
    if (rc) return err_set(err, err_len, ERR_FORMAT, "tokenizer: %s is not a bool", key);
    return 0;
}

Tokenizer *tok_create_from_gguf(const GgufFile *f, char *err, size_t err_len) {
    Tokenizer *t = NULL;
    Str *tokens = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    Str *merges = NULL;
    Str model;
    char name[64];
    if (gguf_get_str(f, "tokenizer.ggml.model", &model)) {
        err_set(err, err_len, ERR_FORMAT, "tokenizer: tokenizer.ggml.model is missing (not a model with a vocabulary?)");
        goto fail;
    }
    bool bpe = str_eq_c(model, "gpt2");
    if (!str_eq_c(model, "llama") && !bpe) {
        err_set(err, err_len, ERR_UNSUPP, "tokenizer.ggml.model '%s' is not supported (supported: llama, gpt2)",
                str_to_c(model, name, sizeof name));
        goto fail;
    }
    TokPre pre = TOK_PRE_NONE;
    if (bpe) {
        Str p;
        if (gguf_get_str(f, "tokenizer.ggml.pre", &p)) {
            err_set(err, err_len, ERR_UNSUPP, "tokenizer: gpt2 vocabulary without tokenizer.ggml.pre is not supported (supported: llama-bpe, gpt-2)");
            goto fail;
        }
        if (str_eq_c(p, "llama-bpe") || str_eq_c(p, "llama3") || str_eq_c(p, "llama-v3")) {
            pre = TOK_PRE_LLAMA3;
        } else if (str_eq_c(p, "gpt-2") || str_eq_c(p, "gpt2")) {
            pre = TOK_PRE_GPT2;
        } else {
            err_set(err, err_len, ERR_UNSUPP, "tokenizer.ggml.pre '%s' is not supported (supported: llama-bpe, gpt-2)",
                    str_to_c(p, name, sizeof name));
            goto fail;
        }
    }
    const GgufKv *kt, *ks = NULL, *ky = NULL;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &kt)) {
        err_set(err, err_len, ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens is missing or not a string array");
        goto fail;
    }
    uint64_t n = kt->arr_len;
    if (n == 0 || n > (1u << 24)) {
        err_set(err, err_len, ERR_RANGE, "tokenizer: %llu tokens (allowed 1..%u)", (unsigned long long)n, 1u << 24);
        goto fail;
    }
    int rc = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_FLOAT32, &ks);
    if (rc && rc != ERR_NOTFOUND) {
        err_set(err, err_len, ERR_FORMAT, "tokenizer: tokenizer.ggml.scores is not a float32 array");
        goto fail;
    }
    rc = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_INT32, &ky);
    if (rc && rc != ERR_NOTFOUND) {
        err_set(err, err_len, ERR_FORMAT, "tokenizer: tokenizer.ggml.token_type is not an int32 array");
        goto fail;
    }
    if ((ks && ks->arr_len != n) || (ky && ky->arr_len != n)) {
        err_set(err, err_len, ERR_FORMAT, "tokenizer: %llu tokens but %llu scores and %llu token types",
                (unsigned long long)n, (unsigned long long)(ks ? ks->arr_len : n),
                (unsigned long long)(ky ? ky->arr_len : n));
        goto fail;
    }
    tokens = malloc(n * sizeof *tokens);
    if (ks) scores = malloc(n * sizeof *scores);
    if (ky) types = malloc(n * sizeof *types);
    if (!tokens || (ks && !scores) || (ky && !types)) {
        err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    const uint8_t *p = kt->value;
    for (uint64_t i = 0; i < n; i++) p = gguf_str_next(p, &tokens[i]);
    // The mapping is little-endian and may be unaligned: copy element by element.
    if (ks) memcpy(scores, ks->value, n * sizeof(float));
    if (ky) memcpy(types, ky->value, n * sizeof(int32_t));

    // Defaults are llama.cpp's: a SentencePiece vocabulary has <unk> <s> </s> first and adds BOS
    // and a space prefix; a BPE one has no default ids, adds BOS for Llama 3 only, no prefix.
    TokSpec spec = {.kind = TOK_VOCAB_SPM, .n_tokens = (int64_t)n, .tokens = tokens,
                    .scores = scores, .types = types, .bos_id = 1, .eos_id = 2, .unk_id = 0,
                    .eot_id = -1, .add_bos = true, .add_eos = false, .add_space_prefix = true};
    if (n <= 1) spec.bos_id = -1;
    if (n <= 2) spec.eos_id = -1;
    if (bpe) {
        spec.kind = TOK_VOCAB_BPE;
        spec.pre = pre;
        spec.bos_id = spec.eos_id = spec.unk_id = -1;
        spec.add_bos = pre == TOK_PRE_LLAMA3;
        spec.add_space_prefix = false;
        const GgufKv *km;
        if (gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_STRING, &km)) {
            err_set(err, err_len, ERR_FORMAT, "tokenizer: tokenizer.ggml.merges is missing or not a string array");
            goto fail;
        }
        if (km->arr_len >= (1u << 24)) {
            err_set(err, err_len, ERR_RANGE, "tokenizer: %llu merges (allowed < %u)", (unsigned long long)km->arr_len, 1u << 24);
            goto fail;
        }
        merges = malloc((km->arr_len ? km->arr_len : 1) * sizeof *merges);
        if (!merges) {
            err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");
            goto fail;
        }
        const uint8_t *q = km->value;
        for (uint64_t i = 0; i < km->arr_len; i++) q = gguf_str_next(q, &merges[i]);
        spec.merges = merges;
        spec.n_merges = (int64_t)km->arr_len;
    }
    if (get_id(f, "tokenizer.ggml.bos_token_id", &spec.bos_id, err, err_len) ||
        get_id(f, "tokenizer.ggml.eos_token_id", &spec.eos_id, err, err_len) ||
        get_id(f, "tokenizer.ggml.unknown_token_id", &spec.unk_id, err, err_len) ||
        get_id(f, "tokenizer.ggml.eot_token_id", &spec.eot_id, err, err_len) ||
        get_flag(f, "tokenizer.ggml.add_bos_token", &spec.add_bos, err, err_len) ||
        get_flag(f, "tokenizer.ggml.add_eos_token", &spec.add_eos, err, err_len) ||
        get_flag(f, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix, err, err_len))
        goto fail;
    t = tok_create_from_arrays(&spec, err, err_len);
fail:
    free(merges);
    free(tokens);
    free(scores);
    free(types);
    return t;
}
