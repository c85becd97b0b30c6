#include "bench/promptgen.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

// Frequent English words, each a single BPE token after a space in common LLM vocabularies.
static const char *const PROMPTGEN_WORDS[] = {
    "the", "of", "and", "to", "in", "is", "was", "for", "that", "on", "as", "with", "by", "it",
    "he", "at", "from", "his", "an", "were", "are", "which", "this", "be", "or", "has", "had",
    "not", "first", "one", "their", "its", "new", "after", "but", "who", "they", "two", "her",
    "she", "been", "other", "when", "there", "all", "during", "into", "school", "time", "may",
    "years", "more", "most", "only", "over", "city", "some", "world", "would", "where", "later",
    "up", "such", "used", "many", "can", "state", "about", "national", "out", "known", "university",
    "united", "then", "made", "year", "people", "while", "him", "war", "these", "both", "than",
    "also", "three", "under", "team", "we", "between", "season", "through", "north", "well",
    "being", "game", "film", "born", "series", "history", "second", "part", "south", "him",
    "before", "early", "will", "each", "since", "work", "until", "high", "several", "album",
    "party", "against", "name", "what", "life", "number", "last", "best", "city", "county",
    "house", "same", "however", "world", "any", "could", "because", "end", "government", "group",
    "long", "day", "four", "area", "company", "family", "local", "music", "small", "order",
    "water", "under", "public", "since", "great", "home", "west", "east", "back", "river", "own",
    "member", "song", "held", "town", "general", "book", "found", "five", "did", "state", "power",
    "line", "court", "men", "include", "main", "played", "third", "large", "system", "church",
    "set", "form", "league", "around", "station", "club", "old", "began", "led", "based", "point",
    "police", "near", "land", "village", "given", "field", "road", "way", "army", "another",
    "building", "season", "took", "along", "within", "very", "even", "six", "place", "same",
};

// Escapes every word once into p->esc (called by both initialisers once p->words is set).
static int promptgen_index(PromptGen *p) {
    Buf b = {0};
    p->esc_off = malloc(sizeof(size_t) * (size_t)p->n_words);
    p->esc_len = malloc(sizeof(uint32_t) * (size_t)p->n_words);
    if (!p->esc_off || !p->esc_len) return ERR_NOMEM;
    for (int64_t i = 0; i < p->n_words; i++) {
        size_t at = b.len;
        if (promptgen_append_escaped(&b, p->words[i])) { buf_free(&b); return ERR_NOMEM; }
        if (b.len - at > UINT32_MAX / 2) { buf_free(&b); return ERR_RANGE; }
        p->esc_off[i] = at;
        p->esc_len[i] = (uint32_t)(b.len - at);
        if (p->esc_len[i] > p->esc_max) p->esc_max = p->esc_len[i];
    }
    p->esc = b.data;
    return 0;
}

int promptgen_init_builtin(PromptGen *p) {
    *p = (PromptGen){0};
    p->n_words = (int64_t)ARRAY_LEN(PROMPTGEN_WORDS);
    p->words = malloc(sizeof(char *) * (size_t)p->n_words);
    if (!p->words) return ERR_NOMEM;
    for (int64_t i = 0; i < p->n_words; i++) p->words[i] = PROMPTGEN_WORDS[i];
    int rc = promptgen_index(p);
    if (rc) promptgen_free(p);
    return rc;
}

int promptgen_init_file(PromptGen *p, const char *path, char *err, size_t err_len) {
    *p = (PromptGen){0};
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot open prompt file %s: %s", path, strerror(errno));
    Buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&b, chunk, n)) { rc = ERR_NOMEM; goto fail; }
    }
    if (ferror(f)) { rc = err_set(err, err_len, ERR_IO, "cannot read prompt file %s", path); goto fail; }
    // Split in place: whitespace (and NUL bytes) become terminators.
    int64_t cap = 0;
    for (size_t i = 0; i < b.len; i++) {
        char c = b.data[i];
        bool sep = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0;
        if (sep) b.data[i] = 0;
        else if (i == 0 || b.data[i - 1] == 0) cap++;
    }
    if (cap == 0) { rc = err_set(err, err_len, ERR_FORMAT, "prompt file %s has no words", path); goto fail; }
    p->words = malloc(sizeof(char *) * (size_t)cap);
    if (!p->words) { rc = ERR_NOMEM; goto fail; }
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] && (i == 0 || b.data[i - 1] == 0)) p->words[p->n_words++] = b.data + i;
    p->text = b.data;  // ownership moves to p
    b = (Buf){0};
    fclose(f);
    f = NULL;
    rc = promptgen_index(p);
    if (rc) goto fail;
    return 0;
fail:
    buf_free(&b);
    if (f) fclose(f);
    promptgen_free(p);
    return rc;
}

void promptgen_free(PromptGen *p) {
    if (!p) return;
    free(p->words);
    free(p->text);
    free(p->esc);
    free(p->esc_off);
    free(p->esc_len);
    *p = (PromptGen){0};
}

int promptgen_append_escaped(Buf *out, const char *s) {
    static const char hex[] = "0123456789abcdef";
    const char *run = s;  // start of bytes not yet copied (they need no escape)
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        if (buf_append(out, run, (size_t)(s - run))) return ERR_NOMEM;
        char esc[6] = {'\\', (char)c};
        size_t n = 2;
        if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (buf_append(out, esc, n)) return ERR_NOMEM;
        run = s + 1;
    }
    return buf_append(out, run, (size_t)(s - run));
}

int promptgen_append_json(const PromptGen *p, int64_t n_words, Rng *rng, Buf *out) {
    CHECK(p->n_words > 0 && n_words >= 0);
    if (n_words == 0) return 0;
    if ((uint64_t)n_words > (SIZE_MAX / 4) / ((size_t)p->esc_max + 1)) return ERR_NOMEM;
    if (buf_reserve(out, (size_t)n_words * ((size_t)p->esc_max + 1))) return ERR_NOMEM;
    char *w = out->data + out->len;
    int64_t at = (int64_t)(rng_uniform(rng) * (double)p->n_words);
    for (int64_t i = 0; i < n_words; i++) {
        int64_t k = p->text ? (at + i) % p->n_words : (int64_t)(rng_uniform(rng) * (double)p->n_words);
        if (i) *w++ = ' ';
        memcpy(w, p->esc + p->esc_off[k], p->esc_len[k]);
        w += p->esc_len[k];
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = 0;
    return 0;
}
