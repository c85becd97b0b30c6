// cmd_gguf_chat.c — `rightsize gguf render-chat SOURCE --messages FILE`: the prompt a model's
// own chat template (tokenizer.chat_template, or a .jinja file) makes of a conversation.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "engine/gguf.h"
#include "engine/jinja.h"

static const char USAGE[] =
    "usage: rightsize gguf render-chat SOURCE --messages FILE [options]\n"
    "       rightsize gguf render-chat SOURCE --vars FILE\n"
    "\n"
    "Renders a chat template with the built-in Jinja interpreter and prints the prompt text.\n"
    "SOURCE is a GGUF model (its tokenizer.chat_template, BOS and EOS token texts) or a template\n"
    "file. FILE is JSON; - reads stdin.\n"
    "  --messages FILE          a JSON array of messages ({\"role\": ..., \"content\": ...});\n"
    "                           add_generation_prompt, bos_token and eos_token are set for it\n"
    "  --vars FILE              a JSON object with every template variable, used as is\n"
    "  --no-generation-prompt   add_generation_prompt = false (default true)\n"
    "  --bos TEXT, --eos TEXT   bos_token / eos_token (default: the model's; \"\" for a file)\n";

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "rightsize gguf render-chat: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, " (see rightsize gguf render-chat --help)\n");
    return 2;
}

static int read_file(const char *path, Buf *b) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n)) break;
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    return bad ? -1 : 0;
}

static bool is_gguf(const Buf *b) { return b->len >= 4 && memcmp(b->data, "GGUF", 4) == 0; }

// The template text and token texts of SOURCE. 0, or 1 with a message printed.
static int load_source(const char *path, Buf *tmpl, Buf *bos, Buf *eos) {
    Buf head = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "rightsize gguf render-chat: cannot open '%s'\n", path);
        return 1;
    }
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    buf_append(&head, magic, got);
    if (!is_gguf(&head)) {
        buf_free(&head);
        if (read_file(path, tmpl) == 0) return 0;
        fprintf(stderr, "rightsize gguf render-chat: cannot read '%s'\n", path);
        return 1;
    }
    buf_free(&head);
    GgufFile g;
    char err[300];
    if (gguf_open(&g, path, err, sizeof err)) {
        fprintf(stderr, "rightsize gguf render-chat: %s: %s\n", path, err);
        return 1;
    }
    Str t;
    int rc = 0;
    if (gguf_get_str(&g, "tokenizer.chat_template", &t)) {
        fprintf(stderr, "rightsize gguf render-chat: %s has no tokenizer.chat_template\n", path);
        rc = 1;
    } else {
        buf_append(tmpl, t.ptr, t.len);
        const GgufKv *kt;
        uint32_t id;
        Buf *outs[2] = {bos, eos};
        const char *keys[2] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
        if (gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_STRING, &kt) == 0)
            for (int k = 0; k < 2; k++)
                if (gguf_get_u32(&g, keys[k], &id) == 0 && id < kt->arr_len) {
                    const uint8_t *p = kt->value;
                    Str s = {0};
                    for (uint32_t i = 0; i <= id; i++) p = gguf_str_next(p, &s);
                    buf_append(outs[k], s.ptr, s.len);
                }
    }
    gguf_close(&g);
    return rc;
}

int cmd_gguf_render_chat(int argc, char **argv) {
    const char *src = NULL, *msgs = NULL, *vars = NULL, *bos_arg = NULL, *eos_arg = NULL;
    bool gen = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(a, "--no-generation-prompt") == 0) { gen = false; continue; }
        const char **slot = strcmp(a, "--messages") == 0 ? &msgs : strcmp(a, "--vars") == 0 ? &vars
                            : strcmp(a, "--bos") == 0 ? &bos_arg : strcmp(a, "--eos") == 0 ? &eos_arg : NULL;
        if (slot) {
            if (++i >= argc) return usage_error("%s needs a value", a);
            *slot = argv[i];
        } else if (a[0] == '-' && a[1] == '-') {
            return usage_error("unknown option '%s'", a);
        } else if (!src) {
            src = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!src) return usage_error("%s", "SOURCE is required");
    if (!msgs == !vars) return usage_error("%s", "give --messages FILE or --vars FILE (one of them)");
    Buf tmpl = {0}, bos = {0}, eos = {0}, in = {0}, out = {0};
    cJSON *json = NULL, *v = NULL;
    JinjaTemplate *t = NULL;
    char err[512];
    int rc = 1;
    if (load_source(src, &tmpl, &bos, &eos)) goto fail;
    const char *file = msgs ? msgs : vars;
    if (read_file(file, &in)) {
        fprintf(stderr, "rightsize gguf render-chat: cannot read '%s'\n", file);
        goto fail;
    }
    json = cJSON_ParseWithLength(in.data ? in.data : "", in.len);
    if (!json || (msgs && !cJSON_IsArray(json)) || (vars && !cJSON_IsObject(json))) {
        fprintf(stderr, "rightsize gguf render-chat: %s is not a JSON %s\n", file, msgs ? "array" : "object");
        goto fail;
    }
    if (msgs) {
        v = cJSON_CreateObject();
        cJSON_AddItemToObject(v, "messages", json);
        json = NULL;
        cJSON_AddBoolToObject(v, "add_generation_prompt", gen);
        cJSON_AddStringToObject(v, "bos_token", bos_arg ? bos_arg : bos.data ? bos.data : "");
        cJSON_AddStringToObject(v, "eos_token", eos_arg ? eos_arg : eos.data ? eos.data : "");
    }
    if (!(t = jinja_parse((Str){tmpl.data ? tmpl.data : "", tmpl.len}, err, sizeof err))) {
        fprintf(stderr, "rightsize gguf render-chat: %s: %s\n", src, err);
        goto fail;
    }
    if (jinja_render(t, v ? v : json, NULL, &out, err, sizeof err)) {
        fprintf(stderr, "rightsize gguf render-chat: %s\n", err);
        goto fail;
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    rc = 0;
fail:
    jinja_free(t);
    cJSON_Delete(json);
    cJSON_Delete(v);
    buf_free(&tmpl), buf_free(&bos), buf_free(&eos), buf_free(&in), buf_free(&out);
    return rc;
}
