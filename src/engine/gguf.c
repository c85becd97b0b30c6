// gguf.c — the validating GGUF reader (the writer is in gguf_write.c).
//
// Parsing is a single forward pass with a cursor that never reads a byte it has not first
// checked lies inside the file. Counts from the file are compared with the bytes that remain
// before anything is allocated for them, so a hostile count costs nothing.
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/check.h"

#define GGUF_DEFAULT_ALIGNMENT 32

static const struct {
    const char *name;
    size_t size;  // bytes per element; 0 for variable-size types
} TYPE_INFO[GGUF_TYPE_COUNT] = {
    [GGUF_UINT8] = {"u8", 1},    [GGUF_INT8] = {"i8", 1},       [GGUF_UINT16] = {"u16", 2},
    [GGUF_INT16] = {"i16", 2},   [GGUF_UINT32] = {"u32", 4},    [GGUF_INT32] = {"i32", 4},
    [GGUF_FLOAT32] = {"f32", 4}, [GGUF_BOOL] = {"bool", 1},     [GGUF_STRING] = {"string", 0},
    [GGUF_ARRAY] = {"array", 0}, [GGUF_UINT64] = {"u64", 8},    [GGUF_INT64] = {"i64", 8},
    [GGUF_FLOAT64] = {"f64", 8},
};

const char *gguf_type_name(GgufType t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? TYPE_INFO[t].name : "unknown";
}

size_t gguf_type_size(GgufType t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? TYPE_INFO[t].size : 0;
}

// ---- cursor ----

typedef struct {
    const uint8_t *base;
    size_t size, pos;
    char *err;
    size_t err_len;
} Cursor;

static size_t cur_left(const Cursor *c) { return c->size - c->pos; }

// A printable, bounded copy of a name from the file, for one-line messages.
static const char *safe_name(Str s, char *buf, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < s.len && n + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (s.len > n && n + 4 >= cap) { memcpy(buf + n, "...", 3); n += 3; }
    buf[n] = 0;
    return buf;
}

// Reports that `need` bytes for `what` are not there.
static int cur_truncated(Cursor *c, size_t need, const char *fmt, ...) {
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(c->err, c->err_len, ERR_FORMAT,
                   "truncated file: %s needs %zu bytes at offset %zu, but the file is %zu bytes",
                   what, need, c->pos, c->size);
}

static uint32_t load_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t load_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

// Reads a gguf_string (u64 len + bytes). For messages it is "<what>[ #index][ of key 'key']".
static int cur_str(Cursor *c, Str *out, const char *what, int64_t index, const char *key) {
    char label[160];
    size_t left = cur_left(c);
    uint64_t len = left >= 8 ? load_u64(c->base + c->pos) : 0;
    if (left < 8 || len > left - 8) {
        int n = snprintf(label, sizeof label, "%s", what);
        if (index >= 0 && n >= 0 && (size_t)n < sizeof label)
            n += snprintf(label + n, sizeof label - (size_t)n, " #%lld", (long long)index);
        if (key && n >= 0 && (size_t)n < sizeof label)
            snprintf(label + n, sizeof label - (size_t)n, " of key '%s'", key);
        if (left < 8) return cur_truncated(c, 8, "length of %s", label);
        return err_set(c->err, c->err_len, ERR_FORMAT,
                       "%s: string length %llu at offset %zu exceeds the %zu bytes left in the file",
                       label, (unsigned long long)len, c->pos, left - 8);
    }
    out->ptr = (const char *)c->base + c->pos + 8;
    out->len = (size_t)len;
    c->pos += 8 + (size_t)len;
    return 0;
}

// ---- key-value section ----

// Validates one value of type t at the cursor and moves past it. `key` names it for messages.
static int parse_value(Cursor *c, GgufKv *kv, const char *key) {
    if ((unsigned)kv->type >= GGUF_TYPE_COUNT)
        return err_set(c->err, c->err_len, ERR_FORMAT, "key '%s': unknown value type %u", key, (unsigned)kv->type);
    if (kv->type == GGUF_STRING) {
        Str s;
        kv->value = c->base + c->pos;
        return cur_str(c, &s, "string value", -1, key);
    }
    if (kv->type != GGUF_ARRAY) {
        size_t sz = TYPE_INFO[kv->type].size;
        if (cur_left(c) < sz) return cur_truncated(c, sz, "value of key '%s'", key);
        kv->value = c->base + c->pos;
        if (kv->type == GGUF_BOOL && kv->value[0] > 1)
            return err_set(c->err, c->err_len, ERR_FORMAT, "key '%s': bool value %u is neither 0 nor 1", key, kv->value[0]);
        c->pos += sz;
        return 0;
    }
    if (cur_left(c) < 12) return cur_truncated(c, 12, "array header of key '%s'", key);
    uint32_t et = load_u32(c->base + c->pos);
    uint64_t n = load_u64(c->base + c->pos + 4);
    c->pos += 12;
    if (et >= GGUF_TYPE_COUNT)
        return err_set(c->err, c->err_len, ERR_FORMAT, "key '%s': unknown array element type %u", key, et);
    if (et == GGUF_ARRAY)
        return err_set(c->err, c->err_len, ERR_UNSUPP, "key '%s': nested arrays are not supported", key);
    kv->arr_type = (GgufType)et;
    kv->arr_len = n;
    kv->value = c->base + c->pos;
    if (et == GGUF_STRING) {
        if (n > cur_left(c) / 8)
            return err_set(c->err, c->err_len, ERR_FORMAT,
                           "key '%s': array of %llu strings cannot fit in the %zu bytes left in the file",
                           key, (unsigned long long)n, cur_left(c));
        for (uint64_t i = 0; i < n; i++) {
            Str s;
            int rc = cur_str(c, &s, "array string", (int64_t)i, key);
            if (rc) return rc;
        }
        return 0;
    }
    size_t sz = TYPE_INFO[et].size;
    if (n > cur_left(c) / sz)
        return err_set(c->err, c->err_len, ERR_FORMAT,
                       "key '%s': array of %llu %s elements (%zu bytes each) exceeds the %zu bytes left in the file",
                       key, (unsigned long long)n, TYPE_INFO[et].name, sz, cur_left(c));
    if (et == GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (kv->value[i] > 1)
                return err_set(c->err, c->err_len, ERR_FORMAT, "key '%s': bool element %llu is %u, neither 0 nor 1",
                               key, (unsigned long long)i, kv->value[i]);
    c->pos += (size_t)n * sz;
    return 0;
}

// ---- duplicate names ----

static uint64_t str_hash(Str s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (size_t i = 0; i < s.len; i++) h = (h ^ (unsigned char)s.ptr[i]) * 1099511628211ull;
    return h;
}

// Finds the first name that occurs twice among n Strs spaced `stride` bytes apart.
// Returns 0 (none, *dup = -1), the index of the second occurrence in *dup, or ERR_NOMEM.
static int find_duplicate(const void *first, size_t stride, uint64_t n, int64_t *dup) {
    *dup = -1;
    if (n < 2) return 0;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    int64_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (uint64_t i = 0; i < n && *dup < 0; i++) {
        Str s = *(const Str *)((const char *)first + i * stride);
        size_t h = (size_t)str_hash(s) & (cap - 1);
        while (slot[h] >= 0) {
            Str o = *(const Str *)((const char *)first + (size_t)slot[h] * stride);
            if (str_eq(s, o)) { *dup = (int64_t)i; break; }
            h = (h + 1) & (cap - 1);
        }
        if (*dup < 0) slot[h] = (int64_t)i;
    }
    free(slot);
    return 0;
}

// ---- tensor infos ----

static int parse_tensor_info(Cursor *c, GgufTensor *t, uint64_t index) {
    char nm[80];
    int rc = cur_str(c, &t->name, "tensor name", (int64_t)index, NULL);
    if (rc) return rc;
    safe_name(t->name, nm, sizeof nm);
    if (cur_left(c) < 4) return cur_truncated(c, 4, "n_dims of tensor '%s'", nm);
    t->n_dims = load_u32(c->base + c->pos);
    c->pos += 4;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return err_set(c->err, c->err_len, ERR_FORMAT, "tensor '%s': n_dims %u is outside 1..%d", nm,
                       t->n_dims, GGUF_MAX_DIMS);
    size_t need = 8 * (size_t)t->n_dims + 4 + 8;
    if (cur_left(c) < need) return cur_truncated(c, need, "shape, type and offset of tensor '%s'", nm);
    int64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = d < t->n_dims ? load_u64(c->base + c->pos + 8 * d) : 1;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return err_set(c->err, c->err_len, ERR_FORMAT, "tensor '%s': dimension %u is %llu (must be 1..2^63-1)",
                           nm, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        if (__builtin_mul_overflow(nel, t->ne[d], &nel))
            return err_set(c->err, c->err_len, ERR_FORMAT, "tensor '%s': element count overflows 64 bits", nm);
    }
    c->pos += 8 * (size_t)t->n_dims;
    uint32_t type = load_u32(c->base + c->pos);
    t->offset = load_u64(c->base + c->pos + 4);
    c->pos += 12;
    const QuantTraits *tr = quant_traits(type);
    // Every type ggml defines is accepted here (the file is valid); whether the engine can compute
    // with it is the loader's question (QUANT_TRAITS[type].supported).
    if (!tr)
        return err_set(c->err, c->err_len, ERR_FORMAT,
                       "tensor '%s': tensor type id %u is not a GGML type (ggml defines 0-3, 6-30, 34, 35, 39-42)",
                       nm, type);
    t->type = (QuantType)type;
    if (t->ne[0] % tr->block_size)
        return err_set(c->err, c->err_len, ERR_FORMAT,
                       "tensor '%s': row length %lld is not a multiple of the %s block size %lld", nm,
                       (long long)t->ne[0], tr->name, (long long)tr->block_size);
    // Bytes: (ne0 / block) * type_size * ne1 * ne2 * ne3, every step overflow-checked.
    uint64_t nb = (uint64_t)(t->ne[0] / tr->block_size);
    if (__builtin_mul_overflow(nb, (uint64_t)tr->type_size, &nb) ||
        __builtin_mul_overflow(nb, (uint64_t)t->ne[1], &nb) ||
        __builtin_mul_overflow(nb, (uint64_t)t->ne[2], &nb) ||
        __builtin_mul_overflow(nb, (uint64_t)t->ne[3], &nb) || nb > SIZE_MAX)
        return err_set(c->err, c->err_len, ERR_FORMAT, "tensor '%s': byte size overflows 64 bits", nm);
    t->nbytes = (size_t)nb;
    return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
    const GgufTensor *x = *(const GgufTensor *const *)a, *y = *(const GgufTensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

// Places every tensor's data inside the file, aligned, without overlaps.
static int place_tensors(Cursor *c, GgufFile *f) {
    char nm[80];
    size_t avail = f->size - f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        GgufTensor *t = &f->tensors[i];
        safe_name(t->name, nm, sizeof nm);
        if (t->offset % f->alignment)
            return err_set(c->err, c->err_len, ERR_FORMAT, "tensor '%s': offset %llu is not a multiple of the alignment %u",
                           nm, (unsigned long long)t->offset, f->alignment);
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return err_set(c->err, c->err_len, ERR_FORMAT,
                           "tensor '%s': data [%llu, %llu) beyond the end of the data section (%zu bytes at offset %zu)",
                           nm, (unsigned long long)t->offset, (unsigned long long)t->offset + t->nbytes, avail,
                           f->data_offset);
        t->data = f->base + f->data_offset + t->offset;
    }
    if (f->n_tensors < 2) return 0;
    GgufTensor **order = malloc(f->n_tensors * sizeof *order);
    if (!order) return err_set(c->err, c->err_len, ERR_NOMEM, "out of memory sorting %llu tensors",
                               (unsigned long long)f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, cmp_by_offset);
    int rc = 0;
    for (uint64_t i = 1; i < f->n_tensors && !rc; i++) {
        const GgufTensor *a = order[i - 1], *b = order[i];
        if (a->offset + a->nbytes > b->offset) {
            char nb[80];
            rc = err_set(c->err, c->err_len, ERR_FORMAT, "tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap",
                         safe_name(a->name, nm, sizeof nm), (unsigned long long)a->offset,
                         (unsigned long long)(a->offset + a->nbytes), safe_name(b->name, nb, sizeof nb),
                         (unsigned long long)b->offset, (unsigned long long)(b->offset + b->nbytes));
        }
    }
    free(order);
    return rc;
}

// ---- open ----

static int parse(GgufFile *f, char *err, size_t err_len) {
    Cursor c = {f->base, f->size, 0, err, err_len};
    char nm[80];
    if (f->size < 4) return cur_truncated(&c, 4, "magic");
    if (memcmp(f->base, "GGUF", 4) != 0)
        return err_set(err, err_len, ERR_FORMAT, "bad magic %02x %02x %02x %02x (expected \"GGUF\"): not a GGUF file",
                       f->base[0], f->base[1], f->base[2], f->base[3]);
    c.pos = 4;
    if (cur_left(&c) < 20) return cur_truncated(&c, 20, "header (version, n_tensors, n_kv)");
    f->version = load_u32(f->base + 4);
    f->n_tensors = load_u64(f->base + 8);
    f->n_kv = load_u64(f->base + 16);
    c.pos = 24;
    if (f->version != 2 && f->version != 3)
        return err_set(err, err_len, ERR_UNSUPP, "GGUF version %u is not supported (2 or 3 are)%s", f->version,
                       f->version > 0xffff ? "; big-endian file?" : "");
    // Smallest possible kv: key length (8) + type (4) + one byte of value.
    // Smallest possible tensor info: name length (8) + n_dims (4) + one ne (8) + type (4) + offset (8).
    if (f->n_kv > cur_left(&c) / 13)
        return err_set(err, err_len, ERR_FORMAT, "n_kv %llu cannot fit in a %zu-byte file",
                       (unsigned long long)f->n_kv, f->size);
    if (f->n_tensors > cur_left(&c) / 32)
        return err_set(err, err_len, ERR_FORMAT, "n_tensors %llu cannot fit in a %zu-byte file",
                       (unsigned long long)f->n_tensors, f->size);
    if (f->n_kv > 0 && !(f->kv = calloc(f->n_kv, sizeof *f->kv)))
        return err_set(err, err_len, ERR_NOMEM, "out of memory for %llu kvs", (unsigned long long)f->n_kv);
    if (f->n_tensors > 0 && !(f->tensors = calloc(f->n_tensors, sizeof *f->tensors)))
        return err_set(err, err_len, ERR_NOMEM, "out of memory for %llu tensors", (unsigned long long)f->n_tensors);

    int rc;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        GgufKv *kv = &f->kv[i];
        if ((rc = cur_str(&c, &kv->key, "key", (int64_t)i, NULL))) return rc;
        safe_name(kv->key, nm, sizeof nm);
        if (kv->key.len == 0) return err_set(err, err_len, ERR_FORMAT, "key #%llu is empty", (unsigned long long)i);
        if (cur_left(&c) < 4) return cur_truncated(&c, 4, "value type of key '%s'", nm);
        kv->type = (GgufType)load_u32(f->base + c.pos);
        c.pos += 4;
        if ((rc = parse_value(&c, kv, nm))) return rc;
    }
    int64_t dup = -1;
    if (f->n_kv > 0 && find_duplicate(&f->kv[0].key, sizeof(GgufKv), f->n_kv, &dup))
        return err_set(err, err_len, ERR_NOMEM, "out of memory checking keys");
    if (dup >= 0)
        return err_set(err, err_len, ERR_FORMAT, "duplicate key '%s'", safe_name(f->kv[dup].key, nm, sizeof nm));

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const GgufKv *al = gguf_find_kv(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_UINT32)
            return err_set(err, err_len, ERR_FORMAT, "key 'general.alignment' has type %s (expected u32)",
                           gguf_type_name(al->type));
        uint32_t a = load_u32(al->value);
        if (a == 0 || (a & (a - 1)))
            return err_set(err, err_len, ERR_FORMAT, "general.alignment %u is not a power of two", a);
        f->alignment = a;
    }

    for (uint64_t i = 0; i < f->n_tensors; i++)
        if ((rc = parse_tensor_info(&c, &f->tensors[i], i))) return rc;
    if (f->n_tensors > 0) {
        if (find_duplicate(&f->tensors[0].name, sizeof(GgufTensor), f->n_tensors, &dup))
            return err_set(err, err_len, ERR_NOMEM, "out of memory checking tensor names");
        if (dup >= 0)
            return err_set(err, err_len, ERR_FORMAT, "duplicate tensor name '%s'",
                           safe_name(f->tensors[dup].name, nm, sizeof nm));
    }
    // The data section starts at the next multiple of the alignment. A file without tensors may
    // end right after its metadata (some writers omit the padding then).
    size_t pad = (f->alignment - c.pos % f->alignment) % f->alignment;
    if (pad > cur_left(&c)) {
        if (f->n_tensors > 0) return cur_truncated(&c, pad, "padding before the tensor data");
        pad = cur_left(&c);
    }
    f->data_offset = c.pos + pad;
    return place_tensors(&c, f);
}

int gguf_open_mem(GgufFile *f, const void *data, size_t size, char *err, size_t err_len) {
    memset(f, 0, sizeof *f);
    f->base = data;
    f->size = size;
    if (!data && size) return err_set(err, err_len, ERR_ARG, "gguf_open_mem: NULL data");
    static const uint8_t empty[1];
    if (!data) f->base = empty;
    int rc = parse(f, err, err_len);
    if (rc) gguf_close(f);
    return rc;
}

int gguf_open(GgufFile *f, const char *path, char *err, size_t err_len) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, err_len, ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, err_len, ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, err_len, ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return err_set(err, err_len, ERR_FORMAT, "%s: truncated file: %lld bytes is shorter than a GGUF header (24)",
                       path, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return err_set(err, err_len, ERR_IO, "%s: mmap: %s", path, strerror(e));
    char msg[384];
    int rc = gguf_open_mem(f, map, size, msg, sizeof msg);
    if (rc) {
        munmap(map, size);
        return err_set(err, err_len, rc, "%s: %s", path, msg);
    }
    f->mapped = true;
    return 0;
}

void gguf_close(GgufFile *f) {
    if (!f) return;
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    free(f->kv);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

// ---- lookups ----

const GgufKv *gguf_find_kv(const GgufFile *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (str_eq_c(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (str_eq_c(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

int64_t gguf_tensor_nelements(const GgufTensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t gguf_kv_value_bytes(const GgufKv *kv) {
    if (kv->type == GGUF_STRING) return 8 + (size_t)load_u64(kv->value);
    if (kv->type != GGUF_ARRAY) return gguf_type_size(kv->type);
    size_t n = 12;
    if (kv->arr_type != GGUF_STRING) return n + (size_t)kv->arr_len * gguf_type_size(kv->arr_type);
    const uint8_t *p = kv->value;
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        Str s;
        const uint8_t *q = gguf_str_next(p, &s);
        n += (size_t)(q - p);
        p = q;
    }
    return n;
}

const uint8_t *gguf_str_next(const uint8_t *p, Str *out) {
    out->len = (size_t)load_u64(p);
    out->ptr = (const char *)p + 8;
    return p + 8 + out->len;
}

// ---- typed getters ----

int gguf_kv_get_i64(const GgufKv *kv, int64_t *out) {
    const uint8_t *p = kv->value;
    switch (kv->type) {
    case GGUF_UINT8: case GGUF_BOOL: *out = p[0]; return 0;
    case GGUF_INT8: *out = (int8_t)p[0]; return 0;
    case GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case GGUF_INT16: { int16_t v; memcpy(&v, p, 2); *out = v; return 0; }
    case GGUF_UINT32: *out = load_u32(p); return 0;
    case GGUF_INT32: *out = (int32_t)load_u32(p); return 0;
    case GGUF_UINT64: { uint64_t v = load_u64(p); if (v > INT64_MAX) return ERR_RANGE; *out = (int64_t)v; return 0; }
    case GGUF_INT64: *out = (int64_t)load_u64(p); return 0;
    default: return ERR_FORMAT;
    }
}

static int get_int(const GgufFile *f, const char *key, int64_t lo, uint64_t hi, uint64_t *out) {
    const GgufKv *kv = gguf_find_kv(f, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type == GGUF_BOOL) return ERR_FORMAT;
    if (kv->type == GGUF_UINT64) {
        uint64_t v = load_u64(kv->value);
        if (v > hi) return ERR_FORMAT;
        *out = v;
        return 0;
    }
    int64_t v;
    if (gguf_kv_get_i64(kv, &v) || v < lo || (v > 0 && (uint64_t)v > hi)) return ERR_FORMAT;
    *out = (uint64_t)v;
    return 0;
}

int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *out) {
    uint64_t v;
    int rc = get_int(f, key, 0, UINT32_MAX, &v);
    if (!rc) *out = (uint32_t)v;
    return rc;
}

int gguf_get_u64(const GgufFile *f, const char *key, uint64_t *out) {
    return get_int(f, key, 0, UINT64_MAX, out);
}

int gguf_get_f32(const GgufFile *f, const char *key, float *out) {
    const GgufKv *kv = gguf_find_kv(f, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type == GGUF_FLOAT32) { memcpy(out, kv->value, 4); return 0; }
    if (kv->type == GGUF_FLOAT64) { double d; memcpy(&d, kv->value, 8); *out = (float)d; return 0; }
    return ERR_FORMAT;
}

int gguf_get_bool(const GgufFile *f, const char *key, bool *out) {
    const GgufKv *kv = gguf_find_kv(f, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type != GGUF_BOOL) return ERR_FORMAT;
    *out = kv->value[0] != 0;
    return 0;
}

int gguf_get_str(const GgufFile *f, const char *key, Str *out) {
    const GgufKv *kv = gguf_find_kv(f, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type != GGUF_STRING) return ERR_FORMAT;
    gguf_str_next(kv->value, out);
    return 0;
}

int gguf_get_arr(const GgufFile *f, const char *key, GgufType elem_type, const GgufKv **out) {
    const GgufKv *kv = gguf_find_kv(f, key);
    if (!kv) return ERR_NOTFOUND;
    if (kv->type != GGUF_ARRAY || kv->arr_type != elem_type) return ERR_FORMAT;
    *out = kv;
    return 0;
}
