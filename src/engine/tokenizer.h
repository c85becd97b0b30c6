// tokenizer.h — text ⇄ token ids for GGUF vocabularies.
//
// Supported: (1) the SentencePiece-style `llama` vocabulary (tokenizer.ggml.model = "llama": Llama 1/2,
// TinyLlama, Mistral v0.1, Phi-3): pieces with scores, byte fallback tokens `<0xXX>`, the `▁`
// (U+2581) space marker, and a leading space inserted before text that starts the prompt or
// follows a special token (add_space_prefix, default true). Encoding merges adjacent symbols by
// highest score with a bigram priority queue, exactly as llama.cpp's SPM tokenizer does.
// (2) the byte-level BPE `gpt2` vocabulary with the pre-tokenizer tokenizer.ggml.pre names
// (see TokPre; tokenizer_pre.c has each family's split rules): text is split into words, each
// word's bytes are mapped to printable code points, and merges apply lowest rank first —
// llama.cpp's algorithm. Decoding maps the code points back to bytes; no clean-up of spaces is
// applied, so round trips stay exact.
// (3) WordPiece (`bert`: BERT, bge, e5, MiniLM): text is NFD-decomposed with accents dropped,
// lowercased (tokenizer.ggml.normalizer.lowercase, default true), split at white space and around
// punctuation and CJK ideographs, and each word is covered greedily by the longest vocabulary
// pieces, word starts marked with `▁` (a word with an uncovered rest becomes [UNK]). add_special
// puts [CLS] first and [SEP] last. WordPiece is lossy: decoding gives the normalized words.
// Every supported vocabulary reproduces llama.cpp's ids on every case of its test file
// (tests/data/vocab/*.inp/.out).
// Any other tokenizer.ggml.model or tokenizer.ggml.pre is refused by name.
//
// Round trips are exact (decode(encode(x)) == x) for any bytes, valid UTF-8 or not, with two
// SPM exceptions shared with SentencePiece and llama.cpp: a literal U+2581 in the input decodes
// as ' ', and text right after a special token matched in it gets its own space prefix. On
// invalid UTF-8 the ids may differ from llama.cpp's (SPM: llama.cpp lets a bad lead byte swallow
// the following bytes into one symbol; BPE: a stray byte is classed as punctuation here).
//
// A Tokenizer is immutable after creation: encode/decode may run on many threads at once.
// Encoding allocates scratch per call (it is not on the per-token hot path); decoding does not.
#ifndef RS_TOKENIZER_H
#define RS_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/gguf.h"

// Token types, with the values GGUF stores in tokenizer.ggml.token_type.
typedef enum {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,       // <s>, </s>, [INST] in vocabularies that make it a token
    TOK_TYPE_USER_DEFINED = 4,  // always matched in text, decoded verbatim
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,          // <0xXX>
} TokType;

typedef enum {
    TOK_VOCAB_SPM = 1,  // "llama"
    TOK_VOCAB_BPE = 2,  // "gpt2": byte-level BPE with ranked merges
    TOK_VOCAB_WPM = 3,  // "bert": WordPiece
} TokVocabKind;

// BPE pre-tokenizers (tokenizer.ggml.pre): how text is split before merging.
typedef enum {
    TOK_PRE_NONE = 0,       // SPM, WordPiece
    TOK_PRE_GPT2,           // "gpt-2", "mpt": 's|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    TOK_PRE_LLAMA3,         // "llama-bpe": case-insensitive contractions, \p{N}{1,3}, newline runs
    TOK_PRE_QWEN2,          // "qwen2": Llama 3's with single digits
    TOK_PRE_QWEN35,         // "qwen35": Qwen2's with marks (\p{M}) joining letters
    TOK_PRE_STARCODER,      // "starcoder", "refact", "command-r": single digits, then GPT-2's
    TOK_PRE_FALCON,         // "falcon": punctuation runs, GPT-2's, then 3-digit groups
    TOK_PRE_DEEPSEEK_LLM,   // "deepseek-llm": newlines, cased letters, punctuation, trailing
                            // space, CJK, digit runs
    TOK_PRE_DEEPSEEK_CODER, // "deepseek-coder": newlines, letters, punctuation, CJK, digits
    TOK_PRE_COUNT
} TokPre;

typedef struct Tokenizer Tokenizer;

// Everything a tokenizer is built from; all arrays are read during tok_create_from_arrays and
// copied, so the caller may free them afterwards.
typedef struct {
    TokVocabKind kind;
    int64_t n_tokens;
    const Str *tokens;       // (n_tokens) piece text as stored (with ▁ for spaces)
    const float *scores;     // (n_tokens) merge priority, higher merges first; NULL = all 0
    const int32_t *types;    // (n_tokens) TokType values; NULL = all NORMAL
    int32_t bos_id, eos_id;  // -1 when absent
    int32_t unk_id;          // -1 when absent
    int32_t eot_id;          // end-of-turn token (tokenizer.ggml.eot_token_id), -1 when absent
    bool add_bos, add_eos;   // added by tok_encode when add_special is set
    bool add_space_prefix;   // insert ' ' before text that starts the input or follows a special
    bool lowercase;          // WordPiece: lowercase and strip accents
    // BPE only:
    TokPre pre;
    const Str *merges;       // (n_merges) "left right", best (rank 0) first
    int64_t n_merges;
} TokSpec;

// Builds a tokenizer from arrays. NULL on error with a one-line message in err (n_tokens <= 0 or
// > 2^24, a special id out of range, an unknown token type, an empty piece). A byte with no
// <0xXX> token encodes as unk_id (or is dropped when there is no unk either).
Tokenizer *tok_create_from_arrays(const TokSpec *spec, char *err, size_t err_len);
// Builds a tokenizer from an open GGUF's tokenizer.ggml.* metadata (model, tokens, scores,
// token_type, bos/eos/unknown/eot ids, add_bos_token, add_eos_token, add_space_prefix).
// An unknown tokenizer.ggml.model yields NULL and e.g.
// "tokenizer.ggml.model 't5' is not supported (supported: llama, gpt2, bert)". For gpt2 it also reads
// tokenizer.ggml.merges and tokenizer.ggml.pre. Copies what it needs: f may be closed afterwards.
Tokenizer *tok_create_from_gguf(const GgufFile *f, char *err, size_t err_len);
// Frees everything. NULL is a no-op.
void tok_destroy(Tokenizer *t);

int64_t tok_n_vocab(const Tokenizer *t);
int32_t tok_bos(const Tokenizer *t);  // -1 when the vocabulary has none
int32_t tok_eos(const Tokenizer *t);
int32_t tok_eot(const Tokenizer *t);
bool tok_add_bos(const Tokenizer *t);
TokType tok_type(const Tokenizer *t, int32_t id);  // TOK_TYPE_UNDEFINED for an id out of range
// True for ids that end generation: EOS, EOT, and control tokens whose text is a known end
// marker (</s>, <|eot_id|>, <|im_end|>, <|end|>, <|endoftext|>, <end_of_turn>, <|end_of_text|>).
bool tok_is_eog(const Tokenizer *t, int32_t id);
// The raw vocabulary text of id (with ▁, <0xXX> as stored); empty Str when out of range.
// Lives as long as t.
Str tok_text(const Tokenizer *t, int32_t id);
// Longest piece any token decodes to, in bytes (sizes decode buffers).
size_t tok_max_piece_bytes(const Tokenizer *t);

// Encodes len bytes of text (any bytes: need not be NUL-terminated or valid UTF-8; invalid
// sequences fall back to byte tokens). add_special: prepend BOS / append EOS as the vocabulary
// asks (add_bos / add_eos). parse_special: text equal to a control or unknown token's text (e.g.
// "<s>", "<|im_start|>") becomes that token; user-defined tokens are always recognized.
// Writes at most cap ids to ids (may be NULL when cap is 0) and returns the full count, so a
// caller can retry with a larger buffer; a negative Err on failure (ERR_NOMEM; ERR_RANGE past
// 512 MiB of text). Scratch is at most ~64 (SPM) or ~150 (BPE) bytes per input byte, freed
// before returning.
int64_t tok_encode(const Tokenizer *t, const char *text, size_t len, bool add_special,
                   bool parse_special, int32_t *ids, int64_t cap);

// The bytes one token stands for: normal pieces with ▁ turned into ' '; a byte token its single
// byte; user-defined tokens verbatim; control and unknown tokens their text only when special is
// set (else nothing). Writes at most cap bytes (no NUL) and returns the piece's full length; an
// id out of range is 0 bytes.
int64_t tok_token_to_piece(const Tokenizer *t, int32_t id, bool special, char *buf, size_t cap);

// Decodes ids into bytes: the concatenation of pieces, minus one leading ' ' of the first piece
// when the vocabulary inserts a space prefix (so decode(encode(x)) == x). Writes at most cap bytes
// plus a NUL when cap > 0 (truncating) and returns the full length, like snprintf.
int64_t tok_decode(const Tokenizer *t, const int32_t *ids, int64_t n, bool special, char *out,
                   size_t cap);

// ---- streaming decode ----
// Emits text as tokens arrive without ever splitting a UTF-8 sequence: bytes of an incomplete
// sequence (e.g. the first of three <0xE2><0x9C><0x85> byte tokens) are held until it completes.
// A held sequence that can no longer complete (a non-continuation byte arrives) is emitted as is,
// or as U+FFFD when replace_invalid is set (for JSON that must be valid UTF-8).
typedef struct {
    const Tokenizer *tok;
    bool special;          // render control tokens' text
    bool strip_space;      // drop one leading ' ' of the first piece (set from the vocabulary)
    bool replace_invalid;  // invalid UTF-8 → U+FFFD (EF BF BD)
    bool started;          // a piece has been emitted
    uint8_t held[4];
    int held_len;
    int held_need;         // total length of the sequence being held
} TokStream;

// Caller-owned state; no allocation. strip_leading_space follows tok_decode's rule when the
// stream starts at the beginning of the text (pass false to continue a prompt's text).
void tok_stream_init(TokStream *s, const Tokenizer *t, bool special, bool strip_leading_space,
                     bool replace_invalid);
// Smallest out capacity tok_stream_feed/flush accept: 3 · tok_max_piece_bytes + 16.
size_t tok_stream_min_cap(const Tokenizer *t);
// Feeds one id; writes the bytes that are now complete to out and returns their count (>= 0).
// Returns ERR_ARG (state untouched) when cap < tok_stream_min_cap.
int64_t tok_stream_feed(TokStream *s, int32_t id, char *out, size_t cap);
// Ends the stream: emits held bytes (invalid, so as-is or U+FFFD). Returns the count.
int64_t tok_stream_flush(TokStream *s, char *out, size_t cap);

#endif
