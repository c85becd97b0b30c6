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

// tokenizer.ggml.pre names and the split rules they use (llama.cpp's grouping).
static const struct {
    const char *name;
    TokPre pre;
} pre_names[] = {
    {"llama-bpe", TOK_PRE_LLAMA3}, {"llama3", TOK_PRE_LLAMA3}, {"llama-v3", TOK_PRE_LLAMA3},
    {"dbrx", TOK_PRE_LLAMA3}, {"smaug-bpe", TOK_PRE_LLAMA3}, {"falcon3", TOK_PRE_LLAMA3},
    {"pixtral", TOK_PRE_LLAMA3}, {"chatglm-bpe", TOK_PRE_LLAMA3}, {"glm4", TOK_PRE_LLAMA3},
    {"gpt-2", TOK_PRE_GPT2}, {"gpt2", TOK_PRE_GPT2}, {"mpt", TOK_PRE_GPT2}, {"olmo", TOK_PRE_GPT2},
    {"jais", TOK_PRE_GPT2}, {"phi-2", TOK_PRE_GPT2}, {"jina-es", TOK_PRE_GPT2},
    {"jina-de", TOK_PRE_GPT2}, {"roberta-bpe", TOK_PRE_GPT2},
    {"qwen2", TOK_PRE_QWEN2}, {"stablelm2", TOK_PRE_QWEN2}, {"hunyuan", TOK_PRE_QWEN2},
    {"deepseek-r1-qwen", TOK_PRE_QWEN2}, {"megrez", TOK_PRE_QWEN2},
    {"qwen35", TOK_PRE_QWEN35},
    {"starcoder", TOK_PRE_STARCODER}, {"refact", TOK_PRE_STARCODER},
    {"command-r", TOK_PRE_STARCODER}, {"smollm", TOK_PRE_STARCODER},
    {"codeshell", TOK_PRE_STARCODER}, {"exaone", TOK_PRE_STARCODER},
    {"minerva-7b", TOK_PRE_STARCODER},
    {"falcon", TOK_PRE_FALCON},
    {"deepseek-llm", TOK_PRE_DEEPSEEK_LLM},
    {"deepseek-coder", TOK_PRE_DEEPSEEK_CODER},
};

// The pre-tokenizer a gpt2 vocabulary names (and in *bos its add_bos default); TOK_PRE_NONE with err
// set when absent or unknown.
static TokPre pre_of(const GgufFile *f, bool *bos, char *err, size_t err_len) {
    Str p;
    char name[64];
    if (gguf_get_str(f, "tokenizer.ggml.pre", &p)) {
        err_set(err, err_len, ERR_UNSUPP, "tokenizer: gpt2 vocabulary without tokenizer.ggml.pre is not supported "
                "(its split rules are unknown; convert the model with a current llama.cpp)");
        return TOK_PRE_NONE;
    }
    // llama.cpp's add_bos default: its Llama 3 family only; every other BPE vocabulary adds no BOS
    // unless tokenizer.ggml.add_bos_token says so
    static const char *const bos_names[] = {"llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral"};
    *bos = false;
    for (size_t i = 0; i < ARRAY_LEN(bos_names); i++) *bos |= str_eq_c(p, bos_names[i]);
    for (size_t i = 0; i < ARRAY_LEN(pre_names); i++)
        if (str_eq_c(p, pre_names[i].name)) return pre_names[i].pre;
    err_set(err, err_len, ERR_UNSUPP, "tokenizer.ggml.pre '%s' is not supported (supported: llama-bpe, gpt-2, mpt, "
            "qwen2, qwen35, starcoder, refact, command-r, falcon, deepseek-llm, deepseek-coder and aliases)",
            str_to_c(p, name, sizeof name));
    return TOK_PRE_NONE;
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
    bool bpe = str_eq_c(model, "gpt2"), wpm = str_eq_c(model, "bert");
    if (!str_eq_c(model, "llama") && !bpe && !wpm) {
        err_set(err, err_len, ERR_UNSUPP, "tokenizer.ggml.model '%s' is not supported (supported: llama, gpt2, bert)",
                str_to_c(model, name, sizeof name));
        goto fail;
    }
    TokPre pre = TOK_PRE_NONE;
    bool pre_bos = false;
    if (bpe && (pre = pre_of(f, &pre_bos, err, err_len)) == TOK_PRE_NONE) goto fail;
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
        spec.add_bos = pre_bos;
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
    if (wpm) {  // llama.cpp's defaults: [CLS] 101 first, [SEP] 102 last, [UNK] 100
        spec.kind = TOK_VOCAB_WPM;
        spec.bos_id = n > 101 ? 101 : -1;
        spec.eos_id = n > 102 ? 102 : -1;
        spec.unk_id = n > 100 ? 100 : -1;
        spec.add_bos = spec.add_eos = true;
        spec.add_space_prefix = false;
        spec.lowercase = true;
        if (get_id(f, "tokenizer.ggml.cls_token_id", &spec.bos_id, err, err_len) ||
            get_id(f, "tokenizer.ggml.seperator_token_id", &spec.eos_id, err, err_len) ||
            get_flag(f, "tokenizer.ggml.add_sep_token", &spec.add_eos, err, err_len) ||
            get_flag(f, "tokenizer.ggml.normalizer.lowercase", &spec.lowercase, err, err_len))
            goto fail;
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
