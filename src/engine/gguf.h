// gguf.h — GGUF v3 files: a validating, zero-copy reader (mmap) and a writer.
//
// File layout (little-endian):
//   magic "GGUF" | u32 version (3) | u64 n_tensors | u64 n_kv
//   n_kv × { gguf_string key | u32 value_type | value }
//     gguf_string = u64 len + len bytes (not NUL-terminated)
//     value: scalars by type; STRING as above; ARRAY = u32 elem_type + u64 n + n elements
//   n_tensors × { gguf_string name | u32 n_dims (1..4) | n_dims × u64 ne | u32 type | u64 offset }
//   padding to `general.alignment` (default 32) | tensor data (offsets relative to its start)
//
// gguf_open validates every length, count, type, shape and offset against the file size before
// anything is used, so a truncated or hostile file yields an error message, never a crash. After a
// successful open, all Str and data pointers point into the mapping and live until gguf_close.
// What a successful open guarantees: version 2 or 3; counts that fit the file (checked before any
// allocation); every string inside the file; value types known, arrays not nested, bools 0/1;
// keys non-empty and unique; general.alignment (if present) a u32 power of two; tensor names
// unique, n_dims 1..4, every ne >= 1 with no 64-bit overflow of elements or bytes, type known and
// supported (QUANT_TRAITS[type].supported), ne[0] a multiple of the block size, offset aligned,
// data inside the file and no two tensors overlapping.
#ifndef RS_GGUF_H
#define RS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/quant.h"

typedef enum {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4,
    GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9,
    GGUF_UINT64 = 10, GGUF_INT64 = 11, GGUF_FLOAT64 = 12, GGUF_TYPE_COUNT = 13,
} GgufType;

typedef struct {
    Str key;
    GgufType type;
    GgufType arr_type;     // element type when type == GGUF_ARRAY
    uint64_t arr_len;      // element count when type == GGUF_ARRAY
    const uint8_t *value;  // start of the value's bytes in the mapping (after the type field;
                           // for arrays, the first element)
} GgufKv;

#define GGUF_MAX_DIMS 4
typedef struct {
    Str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];  // ne[0] is the contiguous (row) dimension; unused dims are 1
    QuantType type;
    uint64_t offset;            // relative to the data section
    const void *data;           // into the mapping
    size_t nbytes;
} GgufTensor;

typedef struct {
    const uint8_t *base;  // the mapping (or caller's memory for gguf_open_mem)
    size_t size;
    bool mapped;          // true when gguf_close must munmap
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv, n_tensors;
    GgufKv *kv;           // owned array, n_kv entries
    GgufTensor *tensors;  // owned array, n_tensors entries
    size_t data_offset;   // start of the tensor data section
} GgufFile;

// Opens and validates path. On error returns a negative Err and writes one line naming what is
// wrong (e.g. "tensor 'blk.0.attn_q.weight': data [1024, 4096) beyond end of file (2048 bytes)").
int gguf_open(GgufFile *f, const char *path, char *err, size_t err_len);
// The same over caller-owned memory (for fuzzing and tests); data must outlive f.
int gguf_open_mem(GgufFile *f, const void *data, size_t size, char *err, size_t err_len);
// Releases what gguf_open took. Safe on a zeroed or already-closed GgufFile.
void gguf_close(GgufFile *f);

// Lookups return NULL / -1 when absent.
const GgufKv *gguf_find_kv(const GgufFile *f, const char *key);
const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name);

// Typed getters: 0 on success, ERR_NOTFOUND when the key is absent, ERR_FORMAT when its type
// does not fit (integers of any width convert when the value is in range; bools are not
// integers; gguf_get_f32 also accepts an f64, rounded).
int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *out);
int gguf_get_u64(const GgufFile *f, const char *key, uint64_t *out);
int gguf_get_f32(const GgufFile *f, const char *key, float *out);
// "<arch>.<key>" as a count in [0, max], or as a float, with a one-line message naming the key.
// Absent: ERR_NOTFOUND without a message when !required, an error with one when required.
int gguf_meta_i64(const GgufFile *f, const char *arch, const char *key, int64_t max, int64_t *out, bool required,
                  char *err, size_t err_len);
int gguf_meta_f32(const GgufFile *f, const char *arch, const char *key, float *out, bool required, char *err,
                  size_t err_len);
int gguf_get_bool(const GgufFile *f, const char *key, bool *out);
int gguf_get_str(const GgufFile *f, const char *key, Str *out);
// Array access: the kv must be an array of the given element type.
int gguf_get_arr(const GgufFile *f, const char *key, GgufType elem_type, const GgufKv **out);
// Walks a (validated) string array: call with p = kv->value, returns the pointer past the string.
const uint8_t *gguf_str_next(const uint8_t *p, Str *out);
// Name of a value type ("u32", "string", ...), for messages and `gguf info`.
const char *gguf_type_name(GgufType t);
// Bytes one element of a fixed-size type occupies (u8 → 1, f64 → 8); 0 for STRING/ARRAY/unknown.
size_t gguf_type_size(GgufType t);
// Bytes the kv's value occupies in the file (after its type field; for arrays including the
// element type and count). The kv must come from a successfully opened file.
size_t gguf_kv_value_bytes(const GgufKv *kv);
// Integer value of a scalar integer kv of any width (bool counts as 0/1); ERR_FORMAT otherwise.
int gguf_kv_get_i64(const GgufKv *kv, int64_t *out);
// Number of weights in the tensor (product of ne).
int64_t gguf_tensor_nelements(const GgufTensor *t);

// ---- writer ----

typedef struct GgufWriter GgufWriter;

GgufWriter *gguf_writer_create(void);
void gguf_writer_destroy(GgufWriter *w);
// Setters copy key and value. Return 0 or ERR_NOMEM.
int gguf_writer_set_u32(GgufWriter *w, const char *key, uint32_t v);
int gguf_writer_set_i32(GgufWriter *w, const char *key, int32_t v);
int gguf_writer_set_f32(GgufWriter *w, const char *key, float v);
int gguf_writer_set_bool(GgufWriter *w, const char *key, bool v);
int gguf_writer_set_str(GgufWriter *w, const char *key, const char *v);
int gguf_writer_set_arr_str(GgufWriter *w, const char *key, const char *const *v, uint64_t n);
int gguf_writer_set_arr_f32(GgufWriter *w, const char *key, const float *v, uint64_t n);
int gguf_writer_set_arr_i32(GgufWriter *w, const char *key, const int32_t *v, uint64_t n);
// Adds a tensor; data (nbytes = quant_row_bytes(type, ne[0]) * rows) is copied.
int gguf_writer_add_tensor(GgufWriter *w, const char *name, QuantType type, uint32_t n_dims,
                           const int64_t *ne, const void *data, size_t nbytes);
// Writes the file (alignment 32). Returns 0 or a negative Err with a message.
int gguf_writer_write(GgufWriter *w, const char *path, char *err, size_t err_len);

// More setters. Setting a key that is already set replaces its value (and keeps its position).
int gguf_writer_set_u64(GgufWriter *w, const char *key, uint64_t v);
int gguf_writer_set_i64(GgufWriter *w, const char *key, int64_t v);
// Any fixed-size scalar type (not STRING/ARRAY): v points at gguf_type_size(t) bytes.
int gguf_writer_set_scalar(GgufWriter *w, const char *key, GgufType t, const void *v);
// Array of a fixed-size element type: v points at n * gguf_type_size(elem) bytes.
int gguf_writer_set_arr(GgufWriter *w, const char *key, GgufType elem, const void *v, uint64_t n);
// Copies one kv (any type, arrays of strings included) from an opened file.
int gguf_writer_copy_kv(GgufWriter *w, const GgufFile *f, const GgufKv *kv);
// Removes a key if set (no-op otherwise).
void gguf_writer_remove(GgufWriter *w, const char *key);
// Declares a tensor whose data is supplied later by gguf_writer_put_tensor (streaming writes of
// files larger than memory). Returns 0, ERR_ARG (bad shape/type, duplicate name) or ERR_NOMEM.
int gguf_writer_add_tensor_info(GgufWriter *w, const char *name, QuantType type, uint32_t n_dims,
                                const int64_t *ne);
// Streaming: begin writes header, metadata and tensor infos to `path`.tmp; then call put_tensor
// once per declared tensor in declaration order (those added with data are written by begin/put
// automatically when their turn comes); finish pads, closes and renames onto path.
// On any error the temporary file is removed. After finish or an error, the writer may be destroyed.
int gguf_writer_begin(GgufWriter *w, const char *path, char *err, size_t err_len);
int gguf_writer_put_tensor(GgufWriter *w, const void *data, size_t nbytes, char *err, size_t err_len);
// Like put_tensor, but any number of bytes: they continue the tensor due next and spill over
// into the following ones, so a large tensor can be produced and written in chunks.
int gguf_writer_put_data(GgufWriter *w, const void *data, size_t nbytes, char *err, size_t err_len);
int gguf_writer_finish(GgufWriter *w, char *err, size_t err_len);
// Discards a begun write (removes the temporary file). Safe to call in any state.
void gguf_writer_abort(GgufWriter *w);

#endif
