// fuzz_gguf.c — libFuzzer target for the GGUF reader: open arbitrary bytes, and when they pass
// validation, touch everything a loader would: every kv through the typed getters, every string
// of every string array, every tensor's first and last data byte. ASan/UBSan flag any read the
// validation should have prevented. Seeds: tests/fuzz/corpus/fuzz_gguf/ (tests/fuzz/make_corpus_gguf.py).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // A heap copy of exactly `size` bytes, so reading one byte past the end is caught.
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    GgufFile f;
    char err[256];
    if (gguf_open_mem(&f, copy, size, err, sizeof err) == 0) {
        uint64_t h = 0;
        for (uint64_t i = 0; i < f.n_kv; i++) {
            const GgufKv *kv = &f.kv[i];
            char key[128];
            str_to_c(kv->key, key, sizeof key);
            uint32_t u32;
            uint64_t u64;
            float f32;
            bool b;
            Str s;
            int64_t i64;
            const GgufKv *arr;
            h += (uint64_t)gguf_get_u32(&f, key, &u32) + (uint64_t)gguf_get_u64(&f, key, &u64);
            h += (uint64_t)gguf_get_f32(&f, key, &f32) + (uint64_t)gguf_get_bool(&f, key, &b);
            if (gguf_get_str(&f, key, &s) == 0 && s.len) h += (uint8_t)s.ptr[s.len - 1];
            h += (uint64_t)gguf_kv_get_i64(kv, &i64);
            h += gguf_kv_value_bytes(kv);
            h += strlen(gguf_type_name(kv->type));
            if (kv->type == GGUF_ARRAY && gguf_get_arr(&f, key, kv->arr_type, &arr) == 0) {
                if (arr->arr_type == GGUF_STRING) {
                    const uint8_t *p = arr->value;
                    for (uint64_t j = 0; j < arr->arr_len; j++) {
                        p = gguf_str_next(p, &s);
                        if (s.len) h += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
                    }
                } else if (arr->arr_len) {
                    size_t n = (size_t)arr->arr_len * gguf_type_size(arr->arr_type);
                    h += arr->value[0] + arr->value[n - 1];
                }
            }
        }
        for (uint64_t i = 0; i < f.n_tensors; i++) {
            const GgufTensor *t = &f.tensors[i];
            char name[128];
            str_to_c(t->name, name, sizeof name);
            if (gguf_find_tensor(&f, name) == NULL && t->name.len < sizeof name && !memchr(t->name.ptr, 0, t->name.len))
                __builtin_trap();  // a validated name must be found again
            h += (uint64_t)gguf_tensor_nelements(t);
            if (t->nbytes) {
                const uint8_t *d = t->data;
                h += d[0] + d[t->nbytes - 1];
            }
            if ((uintptr_t)((const uint8_t *)t->data - f.base) % f.alignment != f.data_offset % f.alignment)
                __builtin_trap();  // data must sit at an aligned offset of the data section
        }
        g_sink = h;
    }
    gguf_close(&f);
    free(copy);
    return 0;
}
