// synth_vocab.c — tokenizers for synthesized models: a synthetic SentencePiece-style `llama`
// vocabulary of any size, a copy of a real one from another GGUF, and the chat templates that
// model families ship.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/check.h"
#include "engine/synth.h"

// llama.cpp token types
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };

#define SPACE "\xe2\x96\x81"  // U+2581 '▁', SentencePiece's word-start mark

// Frequent English words (with the word-start mark) and subwords (without), in rough order of
// frequency in simple English prose.
static const char *const WORDS[] = {
    "the", "and", "to", "a", "of", "was", "he", "she", "in", "it", "you", "that", "his", "her", "I",
    "is", "for", "on", "with", "they", "said", "had", "but", "at", "as", "be", "not", "we", "so",
    "one", "all", "there", "what", "this", "from", "by", "were", "have", "are", "up", "out", "can",
    "day", "very", "an", "or", "him", "them", "little", "big", "time", "go", "went", "saw", "like",
    "happy", "play", "wanted", "once", "upon", "Once", "The", "She", "He", "They", "It", "Lily",
    "Tom", "Ben", "Sue", "friend", "friends", "mom", "dad", "dog", "cat", "bird", "ball", "tree",
    "park", "sun", "sky", "fun", "help", "look", "see", "get", "make", "do", "did", "would", "could",
    "will", "when", "then", "about", "into", "over", "after", "new", "good", "know", "want", "way",
    "because", "their", "your", "my", "me", "our", "who", "which", "more", "some", "other", "than",
    "only", "also", "two", "first", "many", "people", "world", "year", "years", "work", "back",
    "just", "now", "how", "where", "why", "most", "well", "long", "very", "much", "found", "came",
    "home", "toy", "girl", "boy", "named", "loved", "smiled", "felt", "sad", "asked", "together",
};
static const char *const SUBWORDS[] = {
    "ing", "ed", "er", "es", "ly", "tion", "s", "ment", "ness", "al", "re", "un", "th", "he", "in",
    "an", "on", "at", "en", "nd", "st", "or", "ou", "it", "is", "ar", "le", "ve", "ch", "ll", "ay",
};

// A set of pieces (open addressing over offsets into one text buffer).
typedef struct {
    Buf text;            // every piece, NUL-terminated, back to back
    size_t *off;         // piece i starts at text.data + off[i]
    int64_t n, cap;
    int64_t *slot;       // hash slots: piece index or -1
    size_t n_slots;
} PieceSet;

static uint64_t hash_s(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int set_init(PieceSet *p, int64_t cap) {
    memset(p, 0, sizeof *p);
    p->cap = cap;
    p->n_slots = 16;
    while (p->n_slots < 2 * (size_t)cap) p->n_slots *= 2;
    p->off = malloc((size_t)cap * sizeof *p->off);
    p->slot = malloc(p->n_slots * sizeof *p->slot);
    if (!p->off || !p->slot) return ERR_NOMEM;
    for (size_t i = 0; i < p->n_slots; i++) p->slot[i] = -1;
    return 0;
}

static void set_free(PieceSet *p) {
    buf_free(&p->text);
    free(p->off);
    free(p->slot);
}

// Adds s unless present or the set is full. Returns 0 or ERR_NOMEM.
static int set_add(PieceSet *p, const char *s) {
    if (p->n == p->cap) return 0;
    size_t h = (size_t)hash_s(s) & (p->n_slots - 1);
    while (p->slot[h] >= 0) {
        if (strcmp(p->text.data + p->off[p->slot[h]], s) == 0) return 0;
        h = (h + 1) & (p->n_slots - 1);
    }
    size_t at = p->text.len;
    if (buf_append(&p->text, s, strlen(s) + 1)) return ERR_NOMEM;
    p->off[p->n] = at;
    p->slot[h] = p->n++;
    return 0;
}

// Adds every prefix of s of two or more characters, then s: SentencePiece merges pairs of
// adjacent pieces, so a word is reachable only if its prefixes are pieces too.
static int set_add_word(PieceSet *p, const char *s) {
    char buf[64];
    size_t n = strlen(s);
    if (n >= sizeof buf) return 0;
    int chars = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) continue;  // inside a UTF-8 sequence
        if (++chars < 2) continue;
        memcpy(buf, s, i);
        buf[i] = 0;
        int rc = set_add(p, buf);
        if (rc) return rc;
    }
    return 0;
}

// Fills the set with pieces in priority order until it holds cap pieces.
static int build_pieces(PieceSet *p) {
    char s[32];
    int rc = set_add(p, SPACE);
    for (int c = 0x21; c < 0x7f && !rc; c++) { s[0] = (char)c; s[1] = 0; rc = set_add(p, s); }
    for (int c = 0x21; c < 0x7f && !rc; c++) { snprintf(s, sizeof s, SPACE "%c", c); rc = set_add(p, s); }
    for (size_t i = 0; i < ARRAY_LEN(WORDS) && !rc; i++) {
        snprintf(s, sizeof s, SPACE "%s", WORDS[i]);
        rc = set_add_word(p, s);
    }
    for (size_t i = 0; i < ARRAY_LEN(SUBWORDS) && !rc; i++) rc = set_add_word(p, SUBWORDS[i]);
    // Letter n-grams, with and without the word mark, as long as room remains.
    for (int len = 2; len <= 5 && !rc && p->n < p->cap; len++) {
        int64_t total = 1;
        for (int i = 0; i < len; i++) total *= 26;
        for (int64_t k = 0; k < total && !rc && p->n < p->cap; k++) {
            char g[8];
            int64_t v = k;
            for (int i = len - 1; i >= 0; i--) { g[i] = (char)('a' + v % 26); v /= 26; }
            g[len] = 0;
            rc = set_add(p, g);
            snprintf(s, sizeof s, SPACE "%s", g);
            if (!rc) rc = set_add(p, s);
        }
    }
    // Anything still missing (only for vocabularies beyond ~24 million): numbered pieces.
    for (int64_t k = 0; !rc && p->n < p->cap; k++) {
        snprintf(s, sizeof s, SPACE "tok%lld", (long long)k);
        rc = set_add(p, s);
    }
    return rc;
}

int synth_vocab_set(GgufWriter *w, int64_t n) {
    const int64_t n_fixed = 3 + 256;
    if (n < n_fixed || n > INT32_MAX) return ERR_ARG;
    PieceSet ps;
    const char **tokens = malloc((size_t)n * sizeof *tokens);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    char *bytes = malloc(256 * 7);
    int rc = set_init(&ps, n - n_fixed);
    if (!tokens || !scores || !types || !bytes) rc = ERR_NOMEM;
    if (!rc) rc = build_pieces(&ps);
    if (rc) goto fail;
    tokens[0] = "<unk>"; tokens[1] = "<s>"; tokens[2] = "</s>";
    types[0] = TOK_UNKNOWN; types[1] = TOK_CONTROL; types[2] = TOK_CONTROL;
    for (int i = 0; i < 256; i++) {
        snprintf(bytes + 7 * i, 7, "<0x%02X>", i);
        tokens[3 + i] = bytes + 7 * i;
        types[3 + i] = TOK_BYTE;
    }
    for (int64_t i = 0; i < n_fixed; i++) scores[i] = 0.0f;
    for (int64_t i = 0; i < ps.n; i++) {
        tokens[n_fixed + i] = ps.text.data + ps.off[i];
        scores[n_fixed + i] = -(float)i;  // decreasing: earlier pieces merge first
        types[n_fixed + i] = TOK_NORMAL;
    }
    rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!rc) rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!rc) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
fail:
    set_free(&ps);
    free(tokens);
    free(scores);
    free(types);
    free(bytes);
    return rc;
}

int synth_vocab_copy(GgufWriter *w, const char *path, int64_t *n_vocab, char *err, size_t err_len) {
    GgufFile f;
    int rc = gguf_open(&f, path, err, err_len);
    if (rc) return rc;
    const GgufKv *tok;
    if (gguf_get_arr(&f, "tokenizer.ggml.tokens", GGUF_STRING, &tok) != 0 || tok->arr_len == 0 ||
        tok->arr_len > INT32_MAX) {
        rc = err_set(err, err_len, ERR_FORMAT, "%s: no tokenizer.ggml.tokens string array (not a vocabulary file?)", path);
        goto fail;
    }
    *n_vocab = (int64_t)tok->arr_len;
    for (uint64_t i = 0; i < f.n_kv && !rc; i++)
        if (str_starts_with(f.kv[i].key, "tokenizer.") && (rc = gguf_writer_copy_kv(w, &f, &f.kv[i])))
            err_set(err, err_len, rc, "%s: cannot copy key %.*s", path, (int)f.kv[i].key.len, f.kv[i].key.ptr);
fail:
    gguf_close(&f);
    return rc;
}

// ---- chat templates, as the models' tokenizer_config.json holds them (after JSON decoding) ----

static const struct {
    const char *family;
    const char *tmpl;
} TEMPLATES[] = {
    // meta-llama/Llama-2-7b-chat-hf ('\\n' is a backslash-n inside the Jinja string literal)
    {"llama2",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
     "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
     "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
     "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
     "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
     "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
     "{% endfor %}"},
    // meta-llama/Meta-Llama-3-8B-Instruct
    {"llama3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
     "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
     "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
     "{% endif %}"},
    // teknium/OpenHermes-2.5-Mistral-7B
    {"chatml",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
     "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"},
    // HuggingFaceH4/zephyr-7b-beta (also TinyLlama-1.1B-Chat)
    {"zephyr",
     "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
     "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
     "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
     "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"},
    // mistralai/Mistral-7B-Instruct-v0.2
    {"mistral",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
     "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
     "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"},
};

const char *const synth_chat_template_names = "llama2, llama3, chatml, zephyr, mistral";

const char *synth_chat_template(const char *family) {
    for (size_t i = 0; i < ARRAY_LEN(TEMPLATES); i++)
        if (strcmp(TEMPLATES[i].family, family) == 0) return TEMPLATES[i].tmpl;
    return NULL;
}
