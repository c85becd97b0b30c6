// chat.h — chat templates: turn a list of messages into the prompt text a model was tuned on.
//
// First choice: the model's own tokenizer.chat_template, run by the Jinja interpreter (jinja.h)
// through chat_render_jinja — every template llama.cpp collects renders exactly as Hugging Face
// renders it, default system prompts included. Fallback, for a template the interpreter cannot
// parse or when a family is named explicitly: the template is recognised by the markers each
// family's template contains (as llama.cpp's llm_chat_detect_template does) and rendered by a
// fixed formatter per family:
//   llama2   Meta Llama 2 chat: "[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {asst} </s><s>[INST] ..."
//            (contents stripped, as Meta's template does)
//   mistral  Mistral 7B Instruct v0.1/v0.2: "[INST] {user} [/INST]{asst}</s>[INST] ..."; no system
//            role: a system message is put before the first user message, followed by "\n"
//   llama3   "<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>"
//   chatml   "<|im_start|>{role}\n{content}<|im_end|>\n"
//   zephyr   "<|{role}|>\n{content}{eos}\n" (eos = the vocabulary's EOS text, "</s>" by default)
// The text never contains the initial BOS: encode it with tok_encode(add_special = true,
// parse_special = true), which prepends BOS and turns "<|im_start|>", "</s>" etc. into tokens.
#ifndef RS_CHAT_H
#define RS_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "engine/jinja.h"

typedef enum {
    CHAT_LLAMA2 = 0,
    CHAT_MISTRAL,
    CHAT_LLAMA3,
    CHAT_CHATML,
    CHAT_ZEPHYR,
    CHAT_FAMILY_COUNT,
} ChatFamily;

typedef enum { CHAT_SYSTEM = 0, CHAT_USER, CHAT_ASSISTANT, CHAT_ROLE_COUNT } ChatRole;

typedef struct {
    ChatRole role;
    Str content;  // borrowed for the duration of chat_render
} ChatMsg;

// Recognises the family of a Jinja chat template by its markers. Returns 0, or ERR_UNSUPP with
// "chat template not recognised (supported: llama2, mistral, llama3, chatml, zephyr): '{% for
// message in messages %}...'" quoting its first 60 bytes.
int chat_detect(Str tmpl, ChatFamily *out, char *err, size_t err_len);
// By name: "llama2", "mistral", "llama3", "chatml", "zephyr". ERR_NOTFOUND with the list.
int chat_family_from_name(const char *name, ChatFamily *out, char *err, size_t err_len);
const char *chat_family_name(ChatFamily f);
// "system" / "user" / "assistant" → role; ERR_NOTFOUND otherwise.
int chat_role_from_name(Str name, ChatRole *out);

// Appends the prompt for msgs (n ≥ 1) to out, ending with the assistant's turn opening when
// add_generation_prompt is set. eos is the EOS token text (zephyr uses it; empty → "</s>").
// Returns 0, ERR_NOMEM, or ERR_ARG with a message (n < 1, a role value out of range). A system
// message after the first goes where the family's reference formatter puts it (llama2: a
// <<SYS>> block inside the current [INST] turn; mistral: before the next user message).
int chat_render(ChatFamily f, const ChatMsg *msgs, int64_t n, bool add_generation_prompt, Str eos,
                Buf *out, char *err, size_t err_len);

// Renders msgs with a model template parsed by jinja_parse. The template sees messages (role,
// content), add_generation_prompt, bos_token and eos_token (bos/eos: the vocabulary's texts),
// and no tools. A leading bos text is removed from the result (tok_encode adds BOS itself, as
// llama.cpp's server does). Returns 0, or an error code with a message: the template's own
// raise_exception text (e.g. "System role not supported"), a limit, or a type error. On error out
// is unchanged.
int chat_render_jinja(const JinjaTemplate *t, const ChatMsg *msgs, int64_t n, bool add_generation_prompt,
                      Str bos, Str eos, Buf *out, char *err, size_t err_len);

// How a model's chat messages become its prompt, as the worker and `rightsize run --chat` both
// resolve it: a named family when one is given, else the model's tokenizer.chat_template run by
// the interpreter, else (a template it cannot parse) the family its markers show. A model
// without a usable template is not an error here: ok is false and why says what to do.
typedef struct Tokenizer Tokenizer;
typedef struct {
    bool ok;
    JinjaTemplate *jinja;  // the model's own template, when it parses (else family)
    ChatFamily family;
    char why[240];         // when !ok: why there is no chat, and the fix
    Str bos, eos;          // the vocabulary's texts the templates see (borrowed from tok)
} ChatPrompt;

// Resolves p for the model at gguf_path with tokenizer tok. family: a family name (see
// chat_family_from_name), or NULL for the model's own. Returns 0, or ERR_ARG for an unknown family
// name (with the list); *p is then zeroed. chat_prompt_free releases it either way.
int chat_prompt_init(ChatPrompt *p, const char *family, const char *gguf_path, const Tokenizer *tok, char *err,
                     size_t err_len);
// Renders msgs (ending with the assistant's turn opening when add_generation_prompt) into out:
// 0, or an error code with a message (no template: p->why; a template's raise_exception text).
int chat_prompt_render(const ChatPrompt *p, const ChatMsg *msgs, int64_t n, bool add_generation_prompt, Buf *out,
                       char *err, size_t err_len);
// "the model's own (Jinja)", the family's name, or NULL when !ok.
const char *chat_prompt_name(const ChatPrompt *p);
void chat_prompt_free(ChatPrompt *p);

#endif
