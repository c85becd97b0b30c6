// Tests of src/engine/chat: family detection on the templates real models ship, and rendering
// against expected prompts written from each family's documented format (Meta's Llama 2 blog
// post, Meta's Llama 3 model card, OpenAI's ChatML, Hugging Face's Zephyr card, Mistral's
// instruct format) — the same strings llama.cpp's tests/test-chat-template.cpp expects where it
// has one.
#include <string.h>

#include "engine/chat.h"
#include "test.h"

// The conversation llama.cpp's chat-template test uses (note the assistant's padded reply).
static const ChatMsg conv[] = {
    {CHAT_SYSTEM, STR_LIT("You are a helpful assistant")},
    {CHAT_USER, STR_LIT("Hello")},
    {CHAT_ASSISTANT, STR_LIT("Hi there")},
    {CHAT_USER, STR_LIT("Who are you")},
    {CHAT_ASSISTANT, STR_LIT("   I am an assistant   ")},
    {CHAT_USER, STR_LIT("Another question")},
};

static void expect_render(ChatFamily f, const ChatMsg *m, int64_t n, Str eos, const char *want) {
    Buf b = {0};
    char err[200] = "";
    int rc = chat_render(f, m, n, true, eos, &b, err, sizeof err);
    EXPECT_EQ_INT(rc, 0);
    if (rc == 0 && strcmp(b.data, want) != 0)
        test_fail(__FILE__, __LINE__, "%s rendered\n%s\nexpected\n%s", chat_family_name(f), b.data, want);
    buf_free(&b);
}

TEST(chat_chatml_render) {
    expect_render(CHAT_CHATML, conv, 6, STR_LIT(""),
                  "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                  "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
                  "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n"
                  "<|im_start|>assistant\n");
}

TEST(chat_llama3_render) {
    expect_render(CHAT_LLAMA3, conv, 6, STR_LIT(""),
                  "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(chat_llama2_render) {
    // Meta: <s>[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user} [/INST]
    // (the first <s> is the tokenizer's BOS, not text)
    expect_render(CHAT_LLAMA2, conv, 6, STR_LIT(""),
                  "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
                  "<s>[INST] Who are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]");
    // the brief's short form: system + user + assistant + user
    expect_render(CHAT_LLAMA2, conv, 4, STR_LIT(""),
                  "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
                  "<s>[INST] Who are you [/INST]");
    expect_render(CHAT_LLAMA2, conv + 1, 1, STR_LIT(""), "[INST] Hello [/INST]");
}

TEST(chat_mistral_render) {
    expect_render(CHAT_MISTRAL, conv, 6, STR_LIT(""),
                  "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]"
                  "   I am an assistant   </s>[INST] Another question [/INST]");
    expect_render(CHAT_MISTRAL, conv + 1, 3, STR_LIT(""),
                  "[INST] Hello [/INST]Hi there</s>[INST] Who are you [/INST]");
}

TEST(chat_zephyr_render) {
    expect_render(CHAT_ZEPHYR, conv, 4, STR_LIT("</s>"),
                  "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n"
                  "<|assistant|>\nHi there</s>\n<|user|>\nWho are you</s>\n<|assistant|>\n");
    // StableLM-Zephyr's EOS, as llama.cpp's reference output has it
    expect_render(CHAT_ZEPHYR, conv, 6, STR_LIT("<|endoftext|>"),
                  "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n"
                  "<|assistant|>\nHi there<|endoftext|>\n<|user|>\nWho are you<|endoftext|>\n"
                  "<|assistant|>\n   I am an assistant   <|endoftext|>\n<|user|>\nAnother question<|endoftext|>\n"
                  "<|assistant|>\n");
}

TEST(chat_no_generation_prompt) {
    Buf b = {0};
    EXPECT_EQ_INT(chat_render(CHAT_CHATML, conv + 1, 1, false, STR_LIT(""), &b, NULL, 0), 0);
    EXPECT(b.data && strcmp(b.data, "<|im_start|>user\nHello<|im_end|>\n") == 0);
    buf_free(&b);
    char err[128] = "";
    EXPECT_EQ_INT(chat_render(CHAT_CHATML, conv, 0, true, STR_LIT(""), &b, err, sizeof err), -8);
    EXPECT(strstr(err, "no messages") != NULL);
    ChatMsg bad = {(ChatRole)7, STR_LIT("x")};
    EXPECT(chat_render(CHAT_LLAMA3, &bad, 1, true, STR_LIT(""), &b, err, sizeof err) < 0);
    EXPECT(strstr(err, "invalid role") != NULL);
    buf_free(&b);
}

// Templates as the models ship them in tokenizer_config.json / GGUF.
static const char tmpl_chatml[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char tmpl_llama3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}";
static const char tmpl_llama2[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
    "{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}"
    "{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
    "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + "
    "content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
static const char tmpl_mistral[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif "
    "message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only "
    "user and assistant roles are supported!') }}{% endif %}{% endfor %}";
static const char tmpl_zephyr[] =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] "
    "+ eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + "
    "eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
static const char tmpl_gemma[] =
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + "
    "'<end_of_turn>\\n' }}{% endfor %}";
static const char tmpl_phi3[] =
    "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + "
    "message['content'] + '<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

TEST(chat_detect_families) {
    struct { const char *tmpl; ChatFamily want; } cases[] = {
        {tmpl_chatml, CHAT_CHATML}, {tmpl_llama3, CHAT_LLAMA3}, {tmpl_llama2, CHAT_LLAMA2},
        {tmpl_mistral, CHAT_MISTRAL}, {tmpl_zephyr, CHAT_ZEPHYR}, {"chatml", CHAT_CHATML},
        {"llama2", CHAT_LLAMA2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ChatFamily f = CHAT_FAMILY_COUNT;
        char err[256] = "";
        EXPECT_EQ_INT(chat_detect(str_from_c(cases[i].tmpl), &f, err, sizeof err), 0);
        EXPECT_EQ_INT(f, cases[i].want);
    }
}

TEST(chat_detect_unknown_names_the_template) {
    ChatFamily f;
    char err[300] = "";
    EXPECT_EQ_INT(chat_detect(str_from_c(tmpl_gemma), &f, err, sizeof err), -5);
    EXPECT(strstr(err, "not recognised") != NULL);
    // the first 60 bytes, quoted, then an ellipsis
    EXPECT(strstr(err, "'{% if messages[0]['role'] == 'system' %}{{ raise_exception('...'") != NULL);
    EXPECT_EQ_INT(chat_detect(str_from_c(tmpl_phi3), &f, err, sizeof err), -5);
    EXPECT_EQ_INT(chat_detect(STR_LIT("line one\nline two"), &f, err, sizeof err), -5);
    EXPECT(strchr(err, '\n') == NULL);  // one line
    EXPECT(strstr(err, "'line one line two'") != NULL);
    EXPECT_EQ_INT(chat_detect(STR_LIT(""), &f, err, sizeof err), -5);
}

TEST(chat_family_names_round_trip) {
    for (int i = 0; i < CHAT_FAMILY_COUNT; i++) {
        ChatFamily f;
        EXPECT_EQ_INT(chat_family_from_name(chat_family_name((ChatFamily)i), &f, NULL, 0), 0);
        EXPECT_EQ_INT(f, i);
    }
    ChatFamily f;
    char err[200] = "";
    EXPECT(chat_family_from_name("vicuna", &f, err, sizeof err) < 0);
    EXPECT(strstr(err, "vicuna") && strstr(err, "chatml"));
    ChatRole r;
    EXPECT_EQ_INT(chat_role_from_name(STR_LIT("assistant"), &r), 0);
    EXPECT_EQ_INT(r, CHAT_ASSISTANT);
    EXPECT(chat_role_from_name(STR_LIT("tool"), &r) < 0);
}
