// Tests of src/engine/model_check: a file the engine cannot run is refused with everything in the
// way named at once — the architecture, every unsupported tensor type with its tensor count and
// first names, and the tokenizer — by model_check_support and by model_load itself.
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/model_check.h"
#include "test.h"

// Writes a file with arch `arch`, tokenizer model `tok` (NULL: none), two IQ2_XXS tensors, one
// TQ1_0 and one F32; returns its path in buf.
static const char *write_unrunnable(char *buf, size_t cap, const char *arch, const char *tok) {
    snprintf(buf, cap, "%s/unrunnable-%s.gguf", test_tmpdir(), arch);
    GgufWriter *w = gguf_writer_create();
    CHECK(w);
    CHECK(gguf_writer_set_str(w, "general.architecture", arch) == 0);
    if (tok) CHECK(gguf_writer_set_str(w, "tokenizer.ggml.model", tok) == 0);
    static uint8_t zeros[66 * 2];
    int64_t ne2[] = {256, 2}, ne1[] = {256, 1}, nf[] = {4};
    float f[4] = {0};
    CHECK(gguf_writer_add_tensor(w, "blk.0.attn_q.weight", (QuantType)16, 2, ne2, zeros, 132) == 0);  // iq2_xxs
    CHECK(gguf_writer_add_tensor(w, "blk.0.attn_k.weight", (QuantType)16, 2, ne1, zeros, 66) == 0);
    CHECK(gguf_writer_add_tensor(w, "blk.0.attn_v.weight", (QuantType)34, 2, ne1, zeros, 54) == 0);  // tq1_0
    CHECK(gguf_writer_add_tensor(w, "output_norm.weight", QT_F32, 1, nf, f, sizeof f) == 0);
    char err[256];
    CHECK(gguf_writer_write(w, buf, err, sizeof err) == 0);
    gguf_writer_destroy(w);
    return buf;
}

TEST(model_check_names_everything_at_once) {
    char path[512], err[1024] = "";
    write_unrunnable(path, sizeof path, "qwen9", "no-such-tokenizer");
    GgufFile f;
    ASSERT(gguf_open(&f, path, err, sizeof err) == 0);
    EXPECT_EQ_INT(model_check_support(&f, "unsupported architecture 'qwen9' (only llama)", err, sizeof err), ERR_UNSUPP);
    EXPECT(strstr(err, "unsupported architecture 'qwen9'"));
    EXPECT(strstr(err, "2 tensor types"));
    EXPECT(strstr(err, "iq2_xxs (2 tensors: blk.0.attn_q.weight, blk.0.attn_k.weight)"));
    EXPECT(strstr(err, "tq1_0 (1 tensor: blk.0.attn_v.weight)"));
    EXPECT(strstr(err, "tokenizer:"));
    EXPECT(strstr(err, "no-such-tokenizer"));
    // With a supported architecture the types are still reported; with no tokenizer none is named.
    GgufFile g;
    char path2[512];
    write_unrunnable(path2, sizeof path2, "llama", NULL);
    ASSERT(gguf_open(&g, path2, err, sizeof err) == 0);
    EXPECT_EQ_INT(model_check_support(&g, NULL, err, sizeof err), ERR_UNSUPP);
    EXPECT(!strstr(err, "architecture") && strstr(err, "iq2_xxs") && !strstr(err, "tokenizer"));
    gguf_close(&g);
    gguf_close(&f);
    // The loader reports the same, in one error.
    Model m;
    EXPECT_EQ_INT(model_load(&m, path, err, sizeof err), ERR_UNSUPP);
    EXPECT(strstr(err, "qwen9") && strstr(err, "iq2_xxs") && strstr(err, "tq1_0") && strstr(err, "tokenizer:"));
}
