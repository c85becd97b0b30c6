// chat.c — chat template families: detection by markers, one formatter per family; a model's
// chat prompt (ChatPrompt). See chat.h.
#include "engine/chat.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

static const char *const family_names[CHAT_FAMILY_COUNT] = {
    [CHAT_LLAMA2] = "llama2", [CHAT_MISTRAL] = "mistral", [CHAT_LLAMA3] = "llama3",
    [CHAT_CHATML] = "chatml", [CHAT_ZEPHYR] = "zephyr",
};

static const char *const role_names[CHAT_ROLE_COUNT] = {
    [CHAT_SYSTEM] = "system", [CHAT_USER] = "user", [CHAT_ASSISTANT] = "assistant",
};

#define SUPPORTED "llama2, mistral, llama3, chatml, zephyr"

const char *chat_family_name(ChatFamily f) {
    return f >= 0 && f < CHAT_FAMILY_COUNT ? family_names[f] : "unknown";
}

int chat_family_from_name(const char *name, ChatFamily *out, char *err, size_t err_len) {
    for (int i = 0; i < CHAT_FAMILY_COUNT; i++)
        if (strcmp(name, family_names[i]) == 0) {
            *out = (ChatFamily)i;
            return 0;
        }
    return err_set(err, err_len, ERR_NOTFOUND, "unknown chat template '%s' (known: " SUPPORTED ")", name);
}

int chat_role_from_name(Str name, ChatRole *out) {
    for (int i = 0; i < CHAT_ROLE_COUNT; i++)
        if (str_eq_c(name, role_names[i])) {
            *out = (ChatRole)i;
            return 0;
        }
    return ERR_NOTFOUND;
}

static bool contains(Str s, const char *needle) {
    return memmem(s.ptr, s.len, needle, strlen(needle)) != NULL;
}

int chat_detect(Str tmpl, ChatFamily *out, char *err, size_t err_len) {
    for (int i = 0; i < CHAT_FAMILY_COUNT; i++)  // a bare family name is accepted too
        if (str_eq_c(tmpl, family_names[i])) {
            *out = (ChatFamily)i;
            return 0;
        }
    if (contains(tmpl, "<|im_start|>") && !contains(tmpl, "<|im_sep|>")) {
        *out = CHAT_CHATML;
    } else if (contains(tmpl, "<|start_header_id|>") && contains(tmpl, "<|end_header_id|>")) {
        *out = CHAT_LLAMA3;
    } else if (contains(tmpl, "[INST]") && !contains(tmpl, "[SYSTEM_PROMPT]") &&
               !contains(tmpl, "[AVAILABLE_TOOLS]")) {
        // Llama 2 places a system prompt in <<SYS>>; Mistral v0.1/v0.2 has no system role.
        *out = contains(tmpl, "<<SYS>>") ? CHAT_LLAMA2 : CHAT_MISTRAL;
    } else if (contains(tmpl, "<|user|>") && contains(tmpl, "<|assistant|>") &&
               !contains(tmpl, "<|end|>")) {  // <|end|> would be Phi-3, a different format
        *out = CHAT_ZEPHYR;
    } else {
        // Quote the start on one line: control characters become spaces, and the cut does not
        // split a UTF-8 sequence.
        char quote[64];
        size_t n = tmpl.len < 60 ? tmpl.len : 60;
        while (n > 0 && n < tmpl.len && ((uint8_t)tmpl.ptr[n] & 0xC0) == 0x80) n--;
        for (size_t i = 0; i < n; i++) quote[i] = (uint8_t)tmpl.ptr[i] < 0x20 ? ' ' : tmpl.ptr[i];
        quote[n] = 0;
        return err_set(err, err_len, ERR_UNSUPP,
                       "chat template not recognised (supported: " SUPPORTED
                       "; pick one by name to override): '%s%s'",
                       quote, n < tmpl.len ? "..." : "");
    }
    return 0;
}

// ---- rendering ----

static Str trim(Str s) {
    static const char ws[] = " \t\n\v\f\r";
    while (s.len > 0 && memchr(ws, s.ptr[0], sizeof ws - 1)) s.ptr++, s.len--;
    while (s.len > 0 && memchr(ws, s.ptr[s.len - 1], sizeof ws - 1)) s.len--;
    return s;
}

typedef struct {
    Buf *b;
    int rc;
} W;

static void put(W *w, Str s) {
    if (!w->rc && s.len) w->rc = buf_append(w->b, s.ptr, s.len);
}
static void puts_(W *w, const char *s) { put(w, str_from_c(s)); }

// Llama 2 chat (Meta's template): contents stripped; every turn after the first reopens with BOS.
static void render_llama2(W *w, const ChatMsg *m, int64_t n, bool gen, Str eos) {
    (void)gen, (void)eos;  // the prompt always ends ready for the answer ("[/INST]")
    bool in_turn = true;
    puts_(w, "[INST] ");
    for (int64_t i = 0; i < n; i++) {
        Str c = trim(m[i].content);
        if (!in_turn) puts_(w, "<s>[INST] "), in_turn = true;
        if (m[i].role == CHAT_SYSTEM) {
            puts_(w, "<<SYS>>\n"), put(w, c), puts_(w, "\n<</SYS>>\n\n");
        } else if (m[i].role == CHAT_USER) {
            put(w, c), puts_(w, " [/INST]");
        } else {
            puts_(w, " "), put(w, c), puts_(w, " </s>");
            in_turn = false;
        }
    }
}

// Mistral Instruct v0.1/v0.2: no system role (its text opens the next user turn), no stripping.
static void render_mistral(W *w, const ChatMsg *m, int64_t n, bool gen, Str eos) {
    (void)gen, (void)eos;
    bool in_turn = true;
    puts_(w, "[INST] ");
    for (int64_t i = 0; i < n; i++) {
        if (!in_turn) puts_(w, "[INST] "), in_turn = true;
        if (m[i].role == CHAT_SYSTEM) {
            put(w, m[i].content), puts_(w, "\n");
        } else if (m[i].role == CHAT_USER) {
            put(w, m[i].content), puts_(w, " [/INST]");
        } else {
            put(w, m[i].content), puts_(w, "</s>");
            in_turn = false;
        }
    }
}

static void render_llama3(W *w, const ChatMsg *m, int64_t n, bool gen, Str eos) {
    (void)eos;
    for (int64_t i = 0; i < n; i++) {
        puts_(w, "<|start_header_id|>"), puts_(w, role_names[m[i].role]);
        puts_(w, "<|end_header_id|>\n\n"), put(w, trim(m[i].content)), puts_(w, "<|eot_id|>");
    }
    if (gen) puts_(w, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void render_chatml(W *w, const ChatMsg *m, int64_t n, bool gen, Str eos) {
    (void)eos;
    for (int64_t i = 0; i < n; i++) {
        puts_(w, "<|im_start|>"), puts_(w, role_names[m[i].role]), puts_(w, "\n");
        put(w, m[i].content), puts_(w, "<|im_end|>\n");
    }
    if (gen) puts_(w, "<|im_start|>assistant\n");
}

static void render_zephyr(W *w, const ChatMsg *m, int64_t n, bool gen, Str eos) {
    for (int64_t i = 0; i < n; i++) {
        puts_(w, "<|"), puts_(w, role_names[m[i].role]), puts_(w, "|>\n");
        put(w, m[i].content), put(w, eos), puts_(w, "\n");
    }
    if (gen) puts_(w, "<|assistant|>\n");
}

typedef void (*RenderFn)(W *w, const ChatMsg *m, int64_t n, bool gen, Str eos);
static const RenderFn renderers[CHAT_FAMILY_COUNT] = {
    [CHAT_LLAMA2] = render_llama2, [CHAT_MISTRAL] = render_mistral, [CHAT_LLAMA3] = render_llama3,
    [CHAT_CHATML] = render_chatml, [CHAT_ZEPHYR] = render_zephyr,
};

int chat_render(ChatFamily f, const ChatMsg *msgs, int64_t n, bool add_generation_prompt, Str eos,
                Buf *out, char *err, size_t err_len) {
    if (f < 0 || f >= CHAT_FAMILY_COUNT)
        return err_set(err, err_len, ERR_ARG, "chat: unknown template family %d", (int)f);
    if (n < 1) return err_set(err, err_len, ERR_ARG, "chat: no messages");
    for (int64_t i = 0; i < n; i++)
        if (msgs[i].role < 0 || msgs[i].role >= CHAT_ROLE_COUNT)
            return err_set(err, err_len, ERR_ARG, "chat: message %lld has an invalid role", (long long)i);
    if (eos.len == 0) eos = STR_LIT("</s>");
    size_t len0 = out->len;
    W w = {out, 0};
    renderers[f](&w, msgs, n, add_generation_prompt, eos);
    if (w.rc) {
        out->len = len0;  // leave the buffer as it was
        if (out->data) out->data[len0] = 0;
        return err_set(err, err_len, ERR_NOMEM, "chat: out of memory");
    }
    return 0;
}

// ---- the model's own template ----

static cJSON *add_str(cJSON *o, const char *key, Str s) {
    char *c = malloc(s.len + 1);
    if (!c) return NULL;
    memcpy(c, s.ptr, s.len);
    c[s.len] = 0;
    cJSON *v = cJSON_AddStringToObject(o, key, c);
    free(c);
    return v;
}

int chat_render_jinja(const JinjaTemplate *t, const ChatMsg *msgs, int64_t n, bool add_generation_prompt,
                      Str bos, Str eos, Buf *out, char *err, size_t err_len) {
    if (n < 1) return err_set(err, err_len, ERR_ARG, "chat: no messages");
    cJSON *vars = cJSON_CreateObject(), *list = vars ? cJSON_AddArrayToObject(vars, "messages") : NULL;
    bool ok = list && cJSON_AddBoolToObject(vars, "add_generation_prompt", add_generation_prompt) &&
              add_str(vars, "bos_token", bos) && add_str(vars, "eos_token", eos);
    for (int64_t i = 0; ok && i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        ok = m && cJSON_AddItemToArray(list, m);
        if (msgs[i].role < 0 || msgs[i].role >= CHAT_ROLE_COUNT) {
            cJSON_Delete(vars);
            return err_set(err, err_len, ERR_ARG, "chat: message %lld has an invalid role", (long long)i);
        }
        ok = ok && cJSON_AddStringToObject(m, "role", role_names[msgs[i].role]) && add_str(m, "content", msgs[i].content);
    }
    if (!ok) {
        cJSON_Delete(vars);
        return err_set(err, err_len, ERR_NOMEM, "chat: out of memory");
    }
    Buf text = {0};
    int rc = jinja_render(t, vars, NULL, &text, err, err_len);
    cJSON_Delete(vars);
    if (!rc) {
        size_t skip = bos.len && text.len >= bos.len && memcmp(text.data, bos.ptr, bos.len) == 0 ? bos.len : 0;
        if (text.len > skip && buf_append(out, text.data + skip, text.len - skip))
            rc = err_set(err, err_len, ERR_NOMEM, "chat: out of memory");
    }
    buf_free(&text);
    return rc;
}

// ---- a model's chat prompt (the worker's and `run --chat`'s) ----

int chat_prompt_init(ChatPrompt *p, const char *family, const char *gguf_path, const Tokenizer *tok, char *err,
                     size_t err_len) {
    *p = (ChatPrompt){0};
    int32_t eos = tok ? tok_eos(tok) : -1, bos = tok ? tok_bos(tok) : -1;
    p->eos = eos >= 0 ? tok_text(tok, eos) : STR_LIT("</s>");
    p->bos = bos >= 0 && tok_add_bos(tok) ? tok_text(tok, bos) : STR_LIT("");
    if (family) {
        if (chat_family_from_name(family, &p->family, err, err_len) != 0) {
            *p = (ChatPrompt){0};
            return ERR_ARG;
        }
        p->ok = true;
        return 0;
    }
    GgufFile f;
    char gerr[200];
    if (!gguf_path || gguf_open(&f, gguf_path, gerr, sizeof gerr) != 0) {
        snprintf(p->why, sizeof p->why, "cannot read the model's chat template; name one with --chat-template FAMILY");
        return 0;
    }
    Str tmpl;
    if (gguf_get_str(&f, "tokenizer.chat_template", &tmpl) != 0) {
        snprintf(p->why, sizeof p->why,
                 "the model has no tokenizer.chat_template; name one with --chat-template "
                 "llama2|mistral|llama3|chatml|zephyr");
    } else if ((p->jinja = jinja_parse(tmpl, p->why, sizeof p->why)) != NULL) {
        p->ok = true;  // the interpreter runs the model's template itself
    } else if (chat_detect(tmpl, &p->family, p->why, sizeof p->why) == 0) {
        p->ok = true;  // a template the interpreter cannot parse, of a known family
    }
    gguf_close(&f);
    return 0;
}

int chat_prompt_render(const ChatPrompt *p, const ChatMsg *msgs, int64_t n, bool add_generation_prompt, Buf *out,
                       char *err, size_t err_len) {
    if (!p->ok) return err_set(err, err_len, ERR_UNSUPP, "%s", p->why);
    if (p->jinja) return chat_render_jinja(p->jinja, msgs, n, add_generation_prompt, p->bos, p->eos, out, err, err_len);
    return chat_render(p->family, msgs, n, add_generation_prompt, p->eos, out, err, err_len);
}

const char *chat_prompt_name(const ChatPrompt *p) {
    return !p->ok ? NULL : p->jinja ? "the model's own (Jinja)" : chat_family_name(p->family);
}

void chat_prompt_free(ChatPrompt *p) {
    jinja_free(p->jinja);
    *p = (ChatPrompt){0};
}
