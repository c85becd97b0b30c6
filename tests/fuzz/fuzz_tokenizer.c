// fuzz_tokenizer.c — libFuzzer target for tok_encode / tok_decode / the streaming decoder on
// arbitrary bytes (request text is untrusted). The first input byte picks add_special (bit 0) and
// parse_special (bit 1); the rest is the text. Besides ASan/UBSan, it checks the contracts:
// decode(encode(x)) == x when no special token matched and x holds no U+2581, the stream emits the
// same bytes, and with replace_invalid the stream's output is valid UTF-8.
// Vocabulary: a small SPM vocabulary built in memory (control, user-defined, byte tokens, merges
// of different scores). Seeds: tests/fuzz/corpus/fuzz_tokenizer/.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define U "\xE2\x96\x81"
static const char *const pieces[] = {
    "<unk>", "<s>", "</s>", "[INST]", "<tool>", U, "t", "h", "e", "m", "a", " ", "th", "he", "the",
    U "t", U "th", U "the", "em", "them", U U, "\xC3\xA9", "\xF0\x9F\xA6\x99", "\n", U "\n",
};
static const int32_t types[] = {2, 3, 3, 3, 4};  // then normal, then bytes

static Tokenizer *vocab(void) {
    static Tokenizer *t;
    if (t) return t;
    enum { NP = sizeof pieces / sizeof pieces[0] };
    static Str toks[NP + 256];
    static float sc[NP + 256];
    static int32_t ty[NP + 256];
    static char hex[256][7];
    for (int i = 0; i < NP; i++) {
        toks[i] = str_from_c(pieces[i]);
        sc[i] = -(float)(i % 7);
        ty[i] = i < 5 ? types[i] : TOK_TYPE_NORMAL;
    }
    for (int b = 0; b < 256; b++) {
        snprintf(hex[b], sizeof hex[b], "<0x%02X>", b);
        toks[NP + b] = str_from_c(hex[b]), ty[NP + b] = TOK_TYPE_BYTE;
    }
    TokSpec spec = {.kind = TOK_VOCAB_SPM, .n_tokens = NP + 256, .tokens = toks, .scores = sc,
                    .types = ty, .bos_id = 1, .eos_id = 2, .unk_id = 0, .eot_id = -1,
                    .add_bos = true, .add_eos = true, .add_space_prefix = true};
    char err[256];
    t = tok_create_from_arrays(&spec, err, sizeof err);
    if (!t) __builtin_trap();
    return t;
}

// Byte-level BPE: the 256 byte code points (GPT-2's mapping), a few merges, two specials.
static Tokenizer *bpe_vocab(TokPre pre) {
    static Tokenizer *t[TOK_PRE_COUNT];
    if (t[pre]) return t[pre];
    static char bytes[256][4];
    static Str toks[256 + 8];
    static int32_t ty[256 + 8];
    int k = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t cp = printable ? (uint32_t)b : 256u + (uint32_t)k++;
        int n = cp < 0x80 ? 1 : 2;
        if (n == 1) bytes[b][0] = (char)cp;
        else bytes[b][0] = (char)(0xC0 | cp >> 6), bytes[b][1] = (char)(0x80 | (cp & 63));
        toks[b] = (Str){bytes[b], (size_t)n};
        ty[b] = TOK_TYPE_NORMAL;
    }
    const char *extra[] = {"\xC4\xA0t", "he", "\xC4\xA0the", "in", "\xC4\xA0" "a", "<|eot|>", "<tool>"};
    for (int i = 0; i < 7; i++) toks[256 + i] = str_from_c(extra[i]), ty[256 + i] = i == 5 ? 3 : i == 6 ? 4 : 1;
    static const Str merges[] = {STR_LIT("\xC4\xA0 t"), STR_LIT("h e"), STR_LIT("\xC4\xA0t he"),
                                 STR_LIT("i n"), STR_LIT("\xC4\xA0 a")};
    TokSpec spec = {.kind = TOK_VOCAB_BPE, .pre = pre, .n_tokens = 263, .tokens = toks, .types = ty,
                    .bos_id = 261, .eos_id = 261, .unk_id = -1, .eot_id = -1, .add_bos = true,
                    .merges = merges, .n_merges = 5};
    char err[256];
    t[pre] = tok_create_from_arrays(&spec, err, sizeof err);
    if (!t[pre]) __builtin_trap();
    return t[pre];
}

static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 4096) return 0;
    bool add_special = data[0] & 1, parse_special = data[0] & 2;
    Tokenizer *t = data[0] & 4 ? bpe_vocab((TokPre)(1 + (data[0] >> 3) % (TOK_PRE_COUNT - 1))) : vocab();
    int32_t bos = tok_bos(t), eos = tok_eos(t);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int64_t n = tok_encode(t, text, len, add_special, parse_special, NULL, 0);
    if (n < 0) __builtin_trap();
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (tok_encode(t, text, len, add_special, parse_special, ids, n) != n) __builtin_trap();
    // Text after a special token gets the space prefix again (as llama.cpp does), so exact round
    // trips are a property of text in which no special matched.
    bool plain = !(data[0] & 4) ? !memmem(text, len, U, 3) : true;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok_n_vocab(t)) __builtin_trap();
        TokType ty = tok_type(t, ids[i]);
        bool added = add_special && ((i == 0 && ids[i] == bos) || (i == n - 1 && ids[i] == eos && !(data[0] & 4)));
        if (ty != TOK_TYPE_NORMAL && ty != TOK_TYPE_BYTE && !added) plain = false;
    }
    size_t cap = 3 * len + 64;
    char *back = malloc(cap);
    int64_t m = tok_decode(t, ids, n, false, back, cap);
    if (m < 0 || (size_t)m >= cap) __builtin_trap();
    if (plain && ((size_t)m != len || memcmp(back, text, len) != 0))
        __builtin_trap();
    // the stream, both ways: raw must equal decode; replaced must be valid UTF-8
    for (int replace = 0; replace < 2; replace++) {
        TokStream s;
        tok_stream_init(&s, t, false, true, replace);
        size_t scap = tok_stream_min_cap(t), o = 0;
        char *out = malloc(cap * 3 + scap), *chunk = malloc(scap);
        for (int64_t i = 0; i <= n; i++) {
            int64_t k = i < n ? tok_stream_feed(&s, ids[i], chunk, scap) : tok_stream_flush(&s, chunk, scap);
            if (k < 0) __builtin_trap();
            memcpy(out + o, chunk, (size_t)k);
            o += (size_t)k;
        }
        if (!replace && (o != (size_t)m || memcmp(out, back, o) != 0)) __builtin_trap();
        if (replace && !valid_utf8((const uint8_t *)out, o)) __builtin_trap();
        free(out), free(chunk);
    }
    free(back), free(ids);
    return 0;
}
