// tokenizer_impl.h — internals shared by tokenizer.c (SPM, common paths) and tokenizer_bpe.c
// (byte-level BPE). Not part of the public API.
#ifndef RS_TOKENIZER_IMPL_H
#define RS_TOKENIZER_IMPL_H

#include "engine/tokenizer.h"

#define TOK_MAX_TOKENS (1 << 24)
#define TOK_MAX_PIECE  (1 << 16)

struct Tokenizer {
    TokVocabKind kind;
    TokPre pre;
    int64_t n;
    char *pool;          // every token text, then every decoded piece, back to back
    uint32_t *text_off;  // (n) into pool
    uint32_t *text_len;  // (n)
    uint32_t *piece_off; // (n) decoded bytes (▁ → ' ', <0xXX> → byte, byte-level → bytes) into pool
    uint32_t *piece_len; // (n)
    float *scores;       // (n)
    uint8_t *types;      // (n) TokType
    int32_t *slots;      // open-addressing table text → id, -1 empty; (slot_mask + 1) entries
    uint32_t slot_mask;
    int32_t byte_tok[256];  // SPM: id encoding each raw byte, -1 when none
    int32_t *specials;   // ids matched in text (control, user-defined, unknown), longest first
    int64_t n_specials;
    int32_t bos, eos, unk, eot;
    bool add_bos, add_eos, add_space_prefix;
    bool lowercase;      // WordPiece normalization
    bool ignore_merges;  // BPE: a pre-token that is a whole token skips merging (Llama 3)
    size_t max_piece;
    size_t max_text;     // longest token text, bytes
    // BPE merges: "left right" strings → rank (their index)
    char *merge_pool;
    uint32_t *merge_off, *merge_len;  // (n_merges)
    int32_t *merge_slots;             // (merge_mask + 1) entries, -1 empty
    uint32_t merge_mask;
    int64_t n_merges;
    char bmap[256][2];      // byte → its byte-level code point in UTF-8 (bmap_len bytes)
    uint8_t bmap_len[256];
    int16_t cp_byte[324];   // byte-level code point → byte, -1 for none
};

// Id whose text is exactly s[0..n), or -1.
int32_t tok_lookup(const Tokenizer *t, const char *s, size_t n);
uint32_t tok_hash(const char *s, size_t n);

typedef struct {
    int32_t *ids;
    int64_t cap, n;
} TokOut;
void tok_out_push(TokOut *o, int32_t id);

// ---- symbol merging, shared by SPM (highest score first) and BPE (lowest rank first) ----

typedef struct {
    int32_t off;  // into the text being merged
    int32_t n;    // bytes; 0 once merged into its left neighbour
    int32_t prev, next;
} TokSym;

typedef struct {
    float score;  // SPM: the merged piece's score; BPE: -rank
    int32_t left, right;
    int32_t size;  // bytes of the merged text when pushed; stale when it no longer matches
} TokBigram;

typedef struct {
    TokBigram *a;
    int64_t n, cap;
} TokHeap;

// Splits s[0..len) into one symbol per UTF-8 character and merges adjacent pairs best first
// until none is mergeable. sym has room for len symbols, h for 3·len bigrams, key for
// 2·max_text + 2 bytes (BPE lookups). Returns the symbol count; survivors are linked from 0.
int32_t tok_merge(const Tokenizer *t, const char *s, int32_t len, TokSym *sym, TokHeap *h, char *key);

// ---- byte-level BPE (tokenizer_bpe.c) ----

// Builds the byte maps and the merges table from spec (needs t->max_text). 0 or an Err.
int tok_bpe_init(Tokenizer *t, const TokSpec *spec, char *err, size_t err_len);
void tok_bpe_free(Tokenizer *t);
// Rank of merging left and right ("left right" in the merges list), or -1.
int32_t tok_bpe_rank(const Tokenizer *t, const char *l, size_t ln, const char *r, size_t rn, char *key);
// Bytes a byte-level token text stands for (each code point → its byte); writes to dst when
// non-NULL, returns the length (≤ text.len).
size_t tok_bpe_piece(const Tokenizer *t, Str text, char *dst);
// Splits code points cp[0..n) into pre-tokens for pre (tokenizer_pre.c): writes each piece's
// end (exclusive, in code points) to ends, in order, and returns the count (≤ n), or ERR_NOMEM.
// ends and tmp have room for n + 1 entries.
int64_t tok_pre_split(TokPre pre, const uint32_t *cp, int64_t n, int64_t *ends, int64_t *tmp);
// Pre-tokenizes and encodes one raw fragment. 0 or ERR_NOMEM.
int tok_bpe_encode(const Tokenizer *t, const char *text, size_t len, TokOut *o);

// ---- WordPiece (tokenizer_wpm.c) ----

// Normalizes, splits and encodes one raw fragment. 0 or ERR_NOMEM.
int tok_wpm_encode(const Tokenizer *t, const char *text, size_t len, TokOut *o);

#endif
