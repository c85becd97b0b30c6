// Tests of src/engine/gguf: writer → reader round trips of every value and tensor type, a real
// llama.cpp-written vocabulary file, and hand-crafted corrupt files, each of which must give its
// own one-line error (the byte layouts are built here independently of the writer).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/check.h"
#include "engine/gguf.h"
#include "test.h"

// ---- helpers ----

static char *read_all(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, fp) != (size_t)n) { free(p); p = NULL; }
    fclose(fp);
    *size = (size_t)n;
    return p;
}

static void raw_u32(Buf *b, uint32_t v) { buf_append(b, &v, 4); }
static void raw_u64(Buf *b, uint64_t v) { buf_append(b, &v, 8); }
static void raw_str(Buf *b, const char *s) { raw_u64(b, strlen(s)); buf_append(b, s, strlen(s)); }
static void raw_header(Buf *b, uint64_t n_tensors, uint64_t n_kv) {
    buf_append(b, "GGUF", 4);
    raw_u32(b, 3);
    raw_u64(b, n_tensors);
    raw_u64(b, n_kv);
}
static void raw_kv_u32(Buf *b, const char *key, uint32_t v) { raw_str(b, key); raw_u32(b, GGUF_UINT32); raw_u32(b, v); }
static void raw_tensor(Buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset) {
    raw_str(b, name);
    raw_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) raw_u64(b, ne[i]);
    raw_u32(b, type);
    raw_u64(b, offset);
}
static void raw_pad(Buf *b, size_t align) { while (b->len % align) buf_append(b, "", 1); }
static void raw_zeros(Buf *b, size_t n) { for (size_t i = 0; i < n; i++) buf_append(b, "", 1); }

// Opens b's bytes; expects failure with rc and a one-line message containing every `want`.
static void expect_error(const Buf *b, int rc_want, const char *want1, const char *want2) {
    GgufFile f;
    char err[512] = "";
    int rc = gguf_open_mem(&f, b->data, b->len, err, sizeof err);
    EXPECT_EQ_INT(rc, rc_want);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
        test_fail(__FILE__, __LINE__, "message '%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
    EXPECT(strchr(err, '\n') == NULL);
    EXPECT(f.kv == NULL && f.tensors == NULL);
}

// One tensor of every supported type, and every kind of value; returns the written file's path.
static const char *write_sample(char *path, size_t cap) {
    snprintf(path, cap, "%s/sample.gguf", test_tmpdir());
    GgufWriter *w = gguf_writer_create();
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000; double f64 = 3.25e300;
    EXPECT(gguf_writer_set_scalar(w, "t.u8", GGUF_UINT8, &u8) == 0);
    EXPECT(gguf_writer_set_scalar(w, "t.i8", GGUF_INT8, &i8) == 0);
    EXPECT(gguf_writer_set_scalar(w, "t.u16", GGUF_UINT16, &u16) == 0);
    EXPECT(gguf_writer_set_scalar(w, "t.i16", GGUF_INT16, &i16) == 0);
    EXPECT(gguf_writer_set_u32(w, "t.u32", 4000000000u) == 0);
    EXPECT(gguf_writer_set_i32(w, "t.i32", -2000000000) == 0);
    EXPECT(gguf_writer_set_f32(w, "t.f32", 0.125f) == 0);
    EXPECT(gguf_writer_set_bool(w, "t.bool", true) == 0);
    EXPECT(gguf_writer_set_str(w, "t.str", "héllo ▁world") == 0);
    EXPECT(gguf_writer_set_u64(w, "t.u64", 18000000000000000000ull) == 0);
    EXPECT(gguf_writer_set_i64(w, "t.i64", -9000000000000000000ll) == 0);
    EXPECT(gguf_writer_set_scalar(w, "t.f64", GGUF_FLOAT64, &f64) == 0);
    const char *strs[] = {"<unk>", "", "▁the", "x"};
    EXPECT(gguf_writer_set_arr_str(w, "t.astr", strs, 4) == 0);
    float fa[] = {1.5f, -2.0f, 0.0f};
    EXPECT(gguf_writer_set_arr_f32(w, "t.af32", fa, 3) == 0);
    int32_t ia[] = {1, -3, 6, 1 << 30};
    EXPECT(gguf_writer_set_arr_i32(w, "t.ai32", ia, 4) == 0);
    uint8_t ba[] = {1, 0, 1};
    EXPECT(gguf_writer_set_arr(w, "t.abool", GGUF_BOOL, ba, 3) == 0);
    int64_t la[] = {-1, 5};
    EXPECT(gguf_writer_set_arr(w, "t.ai64", GGUF_INT64, la, 2) == 0);
    EXPECT(gguf_writer_set_arr(w, "t.aempty", GGUF_UINT16, NULL, 0) == 0);
    EXPECT(gguf_writer_set_u32(w, "t.replaced", 1) == 0);
    EXPECT(gguf_writer_set_u32(w, "t.replaced", 2) == 0);  // replaces, no duplicate
    static const QuantType types[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0};
    static const char *names[] = {"a.f32", "b.f16", "c.bf16", "d.q8_0", "e.q4_0"};
    for (int i = 0; i < 5; i++) {
        int64_t ne[3] = {64, 3, 2};
        size_t nb = quant_row_bytes(types[i], 64) * 6;
        uint8_t *data = malloc(nb);
        for (size_t j = 0; j < nb; j++) data[j] = (uint8_t)(j * 7 + (size_t)i);
        EXPECT(gguf_writer_add_tensor(w, names[i], types[i], i == 0 ? 1 : 3, ne, data, i == 0 ? 256 : nb) == 0);
        free(data);
    }
    int64_t ne_bad[2] = {33, 1};
    uint8_t junk[64] = {0};
    EXPECT(gguf_writer_add_tensor(w, "bad", QT_Q8_0, 2, ne_bad, junk, 34) == ERR_ARG);     // 33 % 32
    EXPECT(gguf_writer_add_tensor(w, "a.f32", QT_F32, 1, ne_bad, junk, 132) == ERR_ARG);  // duplicate
    char err[256] = "";
    int rc = gguf_writer_write(w, path, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "write: %s", err);
    gguf_writer_destroy(w);
    return path;
}

// ---- round trip ----

TEST(gguf_roundtrip_values_and_tensors) {
    char path[512], err[256] = "";
    write_sample(path, sizeof path);
    GgufFile f;
    int rc = gguf_open(&f, path, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "open: %s", err);
    ASSERT(rc == 0);
    EXPECT_EQ_INT(f.version, 3);
    EXPECT_EQ_INT(f.n_kv, 19);
    EXPECT_EQ_INT(f.n_tensors, 5);
    EXPECT_EQ_INT(f.alignment, 32);
    EXPECT_EQ_INT(f.data_offset % 32, 0);
    uint32_t u32; uint64_t u64; float f32; bool b; Str s; int64_t i64;
    EXPECT(gguf_get_u32(&f, "t.u8", &u32) == 0 && u32 == 200);
    EXPECT(gguf_get_u32(&f, "t.i8", &u32) == ERR_FORMAT);  // -100 does not fit
    EXPECT(gguf_kv_get_i64(gguf_find_kv(&f, "t.i8"), &i64) == 0 && i64 == -100);
    EXPECT(gguf_get_u32(&f, "t.u16", &u32) == 0 && u32 == 60000);
    EXPECT(gguf_kv_get_i64(gguf_find_kv(&f, "t.i16"), &i64) == 0 && i64 == -30000);
    EXPECT(gguf_get_u32(&f, "t.u32", &u32) == 0 && u32 == 4000000000u);
    EXPECT(gguf_kv_get_i64(gguf_find_kv(&f, "t.i32"), &i64) == 0 && i64 == -2000000000);
    EXPECT(gguf_get_f32(&f, "t.f32", &f32) == 0 && f32 == 0.125f);
    EXPECT(gguf_get_bool(&f, "t.bool", &b) == 0 && b);
    EXPECT(gguf_get_str(&f, "t.str", &s) == 0 && str_eq_c(s, "héllo ▁world"));
    EXPECT(gguf_get_u64(&f, "t.u64", &u64) == 0 && u64 == 18000000000000000000ull);
    EXPECT(gguf_get_u32(&f, "t.u64", &u32) == ERR_FORMAT);
    EXPECT(gguf_kv_get_i64(gguf_find_kv(&f, "t.i64"), &i64) == 0 && i64 == -9000000000000000000ll);
    EXPECT(gguf_get_f32(&f, "t.f64", &f32) == 0 && f32 > 1e38f);  // 3.25e300 → inf as float
    EXPECT(gguf_get_u32(&f, "t.replaced", &u32) == 0 && u32 == 2);
    EXPECT(gguf_get_u32(&f, "absent", &u32) == ERR_NOTFOUND);
    EXPECT(gguf_get_str(&f, "t.u32", &s) == ERR_FORMAT);
    const GgufKv *kv;
    ASSERT(gguf_get_arr(&f, "t.astr", GGUF_STRING, &kv) == 0);
    EXPECT_EQ_INT(kv->arr_len, 4);
    const uint8_t *p = kv->value;
    const char *want[] = {"<unk>", "", "▁the", "x"};
    for (int i = 0; i < 4; i++) { p = gguf_str_next(p, &s); EXPECT(str_eq_c(s, want[i])); }
    ASSERT(gguf_get_arr(&f, "t.af32", GGUF_FLOAT32, &kv) == 0);
    float fa[3];
    memcpy(fa, kv->value, sizeof fa);
    EXPECT(kv->arr_len == 3 && fa[0] == 1.5f && fa[1] == -2.0f && fa[2] == 0.0f);
    EXPECT(gguf_get_arr(&f, "t.af32", GGUF_INT32, &kv) == ERR_FORMAT);
    ASSERT(gguf_get_arr(&f, "t.ai32", GGUF_INT32, &kv) == 0);
    int32_t ia[4];
    memcpy(ia, kv->value, sizeof ia);
    EXPECT(ia[0] == 1 && ia[1] == -3 && ia[2] == 6 && ia[3] == 1 << 30);
    ASSERT(gguf_get_arr(&f, "t.abool", GGUF_BOOL, &kv) == 0);
    EXPECT(kv->value[0] == 1 && kv->value[1] == 0 && kv->value[2] == 1);
    ASSERT(gguf_get_arr(&f, "t.ai64", GGUF_INT64, &kv) == 0);
    int64_t la[2];
    memcpy(la, kv->value, sizeof la);
    EXPECT(la[0] == -1 && la[1] == 5);
    ASSERT(gguf_get_arr(&f, "t.aempty", GGUF_UINT16, &kv) == 0);
    EXPECT_EQ_INT(kv->arr_len, 0);

    static const QuantType types[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0};
    static const char *names[] = {"a.f32", "b.f16", "c.bf16", "d.q8_0", "e.q4_0"};
    for (int i = 0; i < 5; i++) {
        const GgufTensor *t = gguf_find_tensor(&f, names[i]);
        ASSERT(t);
        EXPECT_EQ_INT(t->type, types[i]);
        EXPECT_EQ_INT(t->n_dims, i == 0 ? 1 : 3);
        EXPECT(t->ne[0] == 64 && t->ne[1] == (i == 0 ? 1 : 3) && t->ne[2] == (i == 0 ? 1 : 2) && t->ne[3] == 1);
        EXPECT_EQ_INT(t->nbytes, quant_row_bytes(types[i], 64) * (i == 0 ? 1 : 6));
        EXPECT_EQ_INT(t->offset % 32, 0);
        EXPECT_EQ_INT(gguf_tensor_nelements(t), i == 0 ? 64 : 384);
        const uint8_t *d = t->data;
        int bad = 0;
        for (size_t j = 0; j < t->nbytes; j++) bad += d[j] != (uint8_t)(j * 7 + (size_t)i);
        EXPECT_EQ_INT(bad, 0);
    }
    EXPECT(gguf_find_tensor(&f, "bad") == NULL);
    // The file ends on an alignment boundary, padded with zeros after the last tensor.
    EXPECT_EQ_INT(f.size % 32, 0);
    gguf_close(&f);
    gguf_close(&f);  // idempotent
}

TEST(gguf_every_prefix_fails_cleanly) {
    char path[512];
    write_sample(path, sizeof path);
    size_t size;
    char *bytes = read_all(path, &size);
    ASSERT(bytes);
    // Find the last tensor's end: cutting anywhere before it must fail, never crash.
    GgufFile f;
    char err[512];
    ASSERT(gguf_open_mem(&f, bytes, size, err, sizeof err) == 0);
    size_t data_end = 0;
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        size_t e = f.data_offset + f.tensors[i].offset + f.tensors[i].nbytes;
        if (e > data_end) data_end = e;
    }
    gguf_close(&f);
    int failures = 0, truncated_msgs = 0;
    for (size_t n = 0; n < data_end; n++) {
        // A fresh heap copy of exactly n bytes, so ASan sees any read past the prefix.
        char *cut = malloc(n ? n : 1);
        memcpy(cut, bytes, n);
        err[0] = 0;
        int rc = gguf_open_mem(&f, cut, n, err, sizeof err);
        if (rc == 0) { failures++; gguf_close(&f); }
        if (strstr(err, "truncated") || strstr(err, "beyond the end") || strstr(err, "exceeds") ||
            strstr(err, "cannot fit"))
            truncated_msgs++;
        else
            test_fail(__FILE__, __LINE__, "cut at %zu: unexpected message '%s'", n, err);
        free(cut);
    }
    EXPECT_EQ_INT(failures, 0);
    EXPECT_EQ_INT(truncated_msgs, data_end);
    free(bytes);
}

// ---- corrupt files, each with its own error ----

TEST(gguf_rejects_bad_magic_and_version) {
    Buf b = {0};
    buf_append(&b, "GGML", 4); raw_u32(&b, 3); raw_u64(&b, 0); raw_u64(&b, 0);
    expect_error(&b, ERR_FORMAT, "bad magic", "not a GGUF file");
    buf_clear(&b);
    buf_append(&b, "GGUF", 4); raw_u32(&b, 1); raw_u64(&b, 0); raw_u64(&b, 0);
    expect_error(&b, ERR_UNSUPP, "version 1", NULL);
    buf_clear(&b);
    buf_append(&b, "GGUF", 4); raw_u32(&b, 0x03000000); raw_u64(&b, 0); raw_u64(&b, 0);
    expect_error(&b, ERR_UNSUPP, "big-endian", NULL);
    buf_clear(&b);
    // Version 2 has the same layout and is accepted.
    buf_append(&b, "GGUF", 4); raw_u32(&b, 2); raw_u64(&b, 0); raw_u64(&b, 0);
    GgufFile f;
    EXPECT(gguf_open_mem(&f, b.data, b.len, NULL, 0) == 0);
    gguf_close(&f);
    buf_free(&b);
}

TEST(gguf_rejects_overflowing_counts_and_lengths) {
    Buf b = {0};
    raw_header(&b, (uint64_t)1 << 63, 0);
    expect_error(&b, ERR_FORMAT, "n_tensors 9223372036854775808", "cannot fit");
    buf_clear(&b);
    raw_header(&b, 0, UINT64_MAX);
    expect_error(&b, ERR_FORMAT, "n_kv 18446744073709551615", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_u64(&b, (uint64_t)1 << 62); buf_append(&b, "key..", 5);  // key length 2^62
    expect_error(&b, ERR_FORMAT, "key #0: string length 4611686018427387904", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "general.name"); raw_u32(&b, GGUF_STRING); raw_u64(&b, UINT64_MAX - 3); raw_zeros(&b, 16);
    expect_error(&b, ERR_FORMAT, "string value of key 'general.name'", "string length 18446744073709551612");
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "tok"); raw_u32(&b, GGUF_ARRAY); raw_u32(&b, GGUF_STRING); raw_u64(&b, (uint64_t)1 << 61);
    raw_zeros(&b, 16);
    expect_error(&b, ERR_FORMAT, "key 'tok': array of 2305843009213693952 strings", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "sc"); raw_u32(&b, GGUF_ARRAY); raw_u32(&b, GGUF_FLOAT32); raw_u64(&b, (uint64_t)1 << 62);
    raw_zeros(&b, 16);
    expect_error(&b, ERR_FORMAT, "key 'sc': array of 4611686018427387904 f32", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "tok"); raw_u32(&b, GGUF_ARRAY); raw_u32(&b, GGUF_STRING); raw_u64(&b, 2);
    raw_str(&b, "a"); raw_u64(&b, 1000); raw_zeros(&b, 4);
    expect_error(&b, ERR_FORMAT, "array string #1 of key 'tok'", "string length 1000");
    buf_free(&b);
}

TEST(gguf_rejects_bad_value_types) {
    Buf b = {0};
    raw_header(&b, 0, 1);
    raw_str(&b, "k"); raw_u32(&b, 13); raw_u32(&b, 0);
    expect_error(&b, ERR_FORMAT, "key 'k': unknown value type 13", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "k"); raw_u32(&b, GGUF_ARRAY); raw_u32(&b, 77); raw_u64(&b, 0);
    expect_error(&b, ERR_FORMAT, "key 'k': unknown array element type 77", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "k"); raw_u32(&b, GGUF_ARRAY); raw_u32(&b, GGUF_ARRAY); raw_u64(&b, 1);
    raw_u32(&b, GGUF_UINT8); raw_u64(&b, 0);
    expect_error(&b, ERR_UNSUPP, "key 'k': nested arrays", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "k"); raw_u32(&b, GGUF_BOOL); buf_append(&b, "\x02", 1);
    expect_error(&b, ERR_FORMAT, "key 'k': bool value 2", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "general.alignment"); raw_u32(&b, GGUF_UINT32); raw_u32(&b, 48);
    expect_error(&b, ERR_FORMAT, "general.alignment 48 is not a power of two", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 1);
    raw_str(&b, "general.alignment"); raw_u32(&b, GGUF_UINT64); raw_u64(&b, 32);
    expect_error(&b, ERR_FORMAT, "'general.alignment' has type u64", NULL);
    buf_clear(&b);
    raw_header(&b, 0, 2);
    raw_kv_u32(&b, "llama.block_count", 1);
    raw_kv_u32(&b, "llama.block_count", 2);
    expect_error(&b, ERR_FORMAT, "duplicate key 'llama.block_count'", NULL);
    buf_clear(&b);
    // A name with control characters is printed safely (one line).
    raw_header(&b, 0, 1);
    raw_str(&b, "evil\nkey"); raw_u32(&b, 99);
    expect_error(&b, ERR_FORMAT, "key 'evil?key': unknown value type 99", NULL);
    buf_free(&b);
}

// A file with one kv (alignment) and the given tensor infos, padded, then `data_bytes` of data.
static void raw_with_tensors(Buf *b, int n, const char *const *names, const uint32_t *n_dims,
                             const uint64_t (*ne)[5], const uint32_t *types, const uint64_t *offs,
                             size_t data_bytes) {
    raw_header(b, (uint64_t)n, 1);
    raw_kv_u32(b, "general.alignment", 32);
    for (int i = 0; i < n; i++) raw_tensor(b, names[i], n_dims[i], ne[i], types[i], offs[i]);
    raw_pad(b, 32);
    raw_zeros(b, data_bytes);
}

TEST(gguf_rejects_bad_tensor_infos) {
    Buf b = {0};
    const char *nm[] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight"};
    uint32_t nd1[] = {2, 2}, tf32[] = {QT_F32, QT_F32};
    uint64_t ne[][5] = {{8, 4, 0, 0, 0}, {8, 4, 0, 0, 0}};
    uint64_t offs[] = {0, 128};
    raw_with_tensors(&b, 2, nm, nd1, ne, tf32, offs, 256);
    GgufFile f;
    char err[512] = "";
    int rc = gguf_open_mem(&f, b.data, b.len, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "valid file refused: %s", err);
    gguf_close(&f);
    buf_clear(&b);

    raw_with_tensors(&b, 2, nm, nd1, ne, tf32, offs, 255);  // second tensor ends past EOF
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_k.weight': data [128, 256) beyond the end", NULL);
    buf_clear(&b);
    uint64_t far[] = {0, (uint64_t)1 << 40};
    raw_with_tensors(&b, 2, nm, nd1, ne, tf32, far, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_k.weight': data [1099511627776,", NULL);
    buf_clear(&b);
    uint64_t wrap[] = {0, UINT64_MAX - 63};  // offset + nbytes wraps around 2^64
    raw_with_tensors(&b, 2, nm, nd1, ne, tf32, wrap, 256);
    expect_error(&b, ERR_FORMAT, "blk.0.attn_k.weight", "beyond the end");
    buf_clear(&b);
    uint64_t mis[] = {0, 136};
    raw_with_tensors(&b, 2, nm, nd1, ne, tf32, mis, 512);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_k.weight': offset 136 is not a multiple of the alignment 32", NULL);
    buf_clear(&b);
    uint64_t ovl[] = {0, 64};
    raw_with_tensors(&b, 2, nm, nd1, ne, tf32, ovl, 256);
    expect_error(&b, ERR_FORMAT, "tensors 'blk.0.attn_q.weight' [0, 128) and 'blk.0.attn_k.weight' [64, 192) overlap", NULL);
    buf_clear(&b);
    const char *same[] = {"x.weight", "x.weight"};
    raw_with_tensors(&b, 2, same, nd1, ne, tf32, offs, 256);
    expect_error(&b, ERR_FORMAT, "duplicate tensor name 'x.weight'", NULL);
    buf_clear(&b);
    uint32_t tunk[] = {QT_F32, 99};
    raw_with_tensors(&b, 2, nm, nd1, ne, tunk, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_k.weight': tensor type id 99 is not a GGML type", NULL);
    buf_clear(&b);
    uint32_t tgone[] = {QT_F32, 4};  // Q4_2: removed from ggml, never valid in a file
    raw_with_tensors(&b, 2, nm, nd1, ne, tgone, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_k.weight': tensor type id 4 is not a GGML type", NULL);
    buf_clear(&b);
    // A type ggml defines but the engine cannot compute with (IQ2_XXS: 256 weights in 66 bytes)
    // still opens: the file is valid, and `gguf info` must be able to show it.
    uint32_t tiq2[] = {16, QT_F32};
    uint64_t ne256[][5] = {{256, 1, 0, 0, 0}, {8, 4, 0, 0, 0}};
    uint64_t offs2[] = {0, 96};
    raw_with_tensors(&b, 2, nm, nd1, ne256, tiq2, offs2, 512);
    {
        GgufFile gf;
        char msg[256] = "";
        EXPECT_EQ_INT(gguf_open_mem(&gf, b.data, b.len, msg, sizeof msg), 0);
        if (gf.n_tensors == 2) {
            EXPECT_EQ_INT((int)gf.tensors[0].type, 16);
            EXPECT_EQ_INT((int)gf.tensors[0].nbytes, 66);
            EXPECT(!QUANT_TRAITS[gf.tensors[0].type].supported);
        }
        gguf_close(&gf);
    }
    buf_clear(&b);
    uint32_t tq8[] = {QT_Q8_0, QT_F32};
    uint64_t ne33[][5] = {{33, 1, 0, 0, 0}, {8, 4, 0, 0, 0}};
    raw_with_tensors(&b, 2, nm, nd1, ne33, tq8, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_q.weight': row length 33 is not a multiple of the q8_0 block size 32", NULL);
    buf_clear(&b);
    uint32_t nd0[] = {2, 0};
    raw_with_tensors(&b, 2, nm, nd0, ne, tf32, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_k.weight': n_dims 0 is outside 1..4", NULL);
    buf_clear(&b);
    uint32_t nd5[] = {5, 2};
    uint64_t ne5[][5] = {{8, 1, 1, 1, 1}, {8, 4, 0, 0, 0}};
    raw_with_tensors(&b, 2, nm, nd5, ne5, tf32, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_q.weight': n_dims 5 is outside 1..4", NULL);
    buf_clear(&b);
    uint64_t ne_zero[][5] = {{8, 0, 0, 0, 0}, {8, 4, 0, 0, 0}};
    raw_with_tensors(&b, 2, nm, nd1, ne_zero, tf32, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_q.weight': dimension 1 is 0", NULL);
    buf_clear(&b);
    uint64_t ne_big[][5] = {{(uint64_t)1 << 32, (uint64_t)1 << 32, 0, 0, 0}, {8, 4, 0, 0, 0}};
    raw_with_tensors(&b, 2, nm, nd1, ne_big, tf32, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_q.weight': element count overflows", NULL);
    buf_clear(&b);
    uint64_t ne_bytes[][5] = {{(uint64_t)1 << 62, 1, 0, 0, 0}, {8, 4, 0, 0, 0}};  // 2^64 bytes as f32
    raw_with_tensors(&b, 2, nm, nd1, ne_bytes, tf32, offs, 256);
    expect_error(&b, ERR_FORMAT, "tensor 'blk.0.attn_q.weight': byte size overflows", NULL);
    buf_clear(&b);
    uint64_t ne_neg[][5] = {{UINT64_MAX, 1, 0, 0, 0}, {8, 4, 0, 0, 0}};
    raw_with_tensors(&b, 2, nm, nd1, ne_neg, tf32, offs, 256);
    expect_error(&b, ERR_FORMAT, "dimension 0 is 18446744073709551615", NULL);
    buf_free(&b);
}

TEST(gguf_open_reports_io_errors) {
    GgufFile f;
    char err[512] = "";
    EXPECT(gguf_open(&f, "/nonexistent/x.gguf", err, sizeof err) == ERR_IO);
    EXPECT(strstr(err, "/nonexistent/x.gguf") != NULL);
    EXPECT(gguf_open(&f, test_tmpdir(), err, sizeof err) == ERR_IO);
    EXPECT(strstr(err, "not a regular file") != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/empty.gguf", test_tmpdir());
    FILE *fp = fopen(path, "wb");
    ASSERT(fp);
    fclose(fp);
    EXPECT(gguf_open(&f, path, err, sizeof err) == ERR_FORMAT);
    EXPECT(strstr(err, "truncated") != NULL);
}

// ---- streaming writer ----

TEST(gguf_writer_streams_tensor_data) {
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s/stream.gguf", test_tmpdir());
    GgufWriter *w = gguf_writer_create();
    int64_t ne[2] = {32, 3};
    float rows[96];
    for (int i = 0; i < 96; i++) rows[i] = (float)i - 40.0f;
    EXPECT(gguf_writer_add_tensor_info(w, "first", QT_F32, 2, ne) == 0);
    EXPECT(gguf_writer_add_tensor(w, "owned", QT_F32, 1, ne, rows, 128) == 0);  // written by put of "first"
    EXPECT(gguf_writer_add_tensor_info(w, "third", QT_Q8_0, 2, ne) == 0);
    EXPECT(gguf_writer_write(w, path, err, sizeof err) == ERR_ARG);  // streamed tensors need put
    ASSERT(gguf_writer_begin(w, path, err, sizeof err) == 0);
    EXPECT(gguf_writer_put_tensor(w, rows, sizeof rows, err, sizeof err) == 0);
    BlockQ8_0 q[3];
    quant_quantize_row(QT_Q8_0, rows, q, 96);
    EXPECT(access(path, F_OK) != 0);  // nothing at path until finish
    EXPECT(gguf_writer_put_tensor(w, q, sizeof q, err, sizeof err) == 0);
    ASSERT(gguf_writer_finish(w, err, sizeof err) == 0);
    gguf_writer_destroy(w);
    GgufFile f;
    ASSERT(gguf_open(&f, path, err, sizeof err) == 0);
    const GgufTensor *t = gguf_find_tensor(&f, "third");
    ASSERT(t && t->nbytes == sizeof q);
    EXPECT(memcmp(t->data, q, sizeof q) == 0);
    t = gguf_find_tensor(&f, "owned");
    ASSERT(t && t->nbytes == 128);
    EXPECT(memcmp(t->data, rows, 128) == 0);
    t = gguf_find_tensor(&f, "first");
    ASSERT(t);
    EXPECT(memcmp(t->data, rows, sizeof rows) == 0);
    gguf_close(&f);

    // A wrong size aborts the write and leaves neither the file nor its temporary.
    char path2[512], tmp2[600];
    snprintf(path2, sizeof path2, "%s/stream2.gguf", test_tmpdir());
    snprintf(tmp2, sizeof tmp2, "%s.tmp", path2);
    w = gguf_writer_create();
    EXPECT(gguf_writer_add_tensor_info(w, "first", QT_F32, 2, ne) == 0);
    ASSERT(gguf_writer_begin(w, path2, err, sizeof err) == 0);
    EXPECT(gguf_writer_put_tensor(w, rows, 12, err, sizeof err) == ERR_ARG);
    EXPECT(strstr(err, "'first' needs 384 bytes, got 12") != NULL);
    EXPECT(access(path2, F_OK) != 0 && access(tmp2, F_OK) != 0);
    gguf_writer_destroy(w);
}

// ---- a real file written by llama.cpp ----

TEST(gguf_reads_real_llama_vocab) {
    // Vendored from llama.cpp's models/ (tests/data/vocab/README.md).
    const char *root = getenv("RS_ROOT");
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/tests/data/vocab/ggml-vocab-llama-spm.gguf", root ? root : ".");
    GgufFile f;
    int rc = gguf_open(&f, path, err, sizeof err);
    if (rc) test_fail(__FILE__, __LINE__, "%s", err);
    ASSERT(rc == 0);
    Str s;
    EXPECT(gguf_get_str(&f, "tokenizer.ggml.model", &s) == 0 && str_eq_c(s, "llama"));
    EXPECT(gguf_get_str(&f, "general.architecture", &s) == 0 && str_eq_c(s, "llama"));
    const GgufKv *kv;
    ASSERT(gguf_get_arr(&f, "tokenizer.ggml.tokens", GGUF_STRING, &kv) == 0);
    EXPECT_EQ_INT(kv->arr_len, 32000);
    const uint8_t *p = kv->value;
    const char *first[] = {"<unk>", "<s>", "</s>", "<0x00>"};
    for (int i = 0; i < 4; i++) { p = gguf_str_next(p, &s); EXPECT(str_eq_c(s, first[i])); }
    ASSERT(gguf_get_arr(&f, "tokenizer.ggml.scores", GGUF_FLOAT32, &kv) == 0);
    EXPECT_EQ_INT(kv->arr_len, 32000);
    ASSERT(gguf_get_arr(&f, "tokenizer.ggml.token_type", GGUF_INT32, &kv) == 0);
    int32_t tt[4];
    memcpy(tt, kv->value, sizeof tt);
    EXPECT(tt[0] == 2 && tt[1] == 3 && tt[2] == 3 && tt[3] == 6);  // unknown, control, control, byte
    uint32_t u;
    EXPECT(gguf_get_u32(&f, "tokenizer.ggml.bos_token_id", &u) == 0 && u == 1);
    EXPECT(gguf_get_u32(&f, "tokenizer.ggml.eos_token_id", &u) == 0 && u == 2);
    EXPECT_EQ_INT(f.n_tensors, 0);
    gguf_close(&f);
}
