// gguf_write.c — the GGUF writer: metadata and tensor infos are collected in memory, tensor data
// is either copied in (gguf_writer_add_tensor) or streamed later (gguf_writer_put_tensor), so a
// multi-GB model never has to be held whole. Files go to "<path>.tmp" and are renamed on success.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "engine/gguf.h"

#define GGUF_WRITER_ALIGNMENT 32

typedef struct {
    char *key;
    uint8_t *val;   // u32 type + value bytes, exactly as in the file
    size_t val_len;
} WKv;

typedef struct {
    char *name;
    QuantType type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    size_t nbytes;
    uint8_t *data;    // owned copy, or NULL when streamed with put_tensor
    uint64_t offset;  // assigned by begin
} WTensor;

struct GgufWriter {
    WKv *kv;
    size_t n_kv, cap_kv;
    WTensor *t;
    size_t n_t, cap_t;
    // streaming state
    FILE *fp;
    char *path, *tmp;
    size_t next;       // index of the next tensor whose data is due
    size_t partial;    // bytes of tensor `next` already written (streaming with put_data)
    uint64_t pos;      // bytes written into the data section so far
    uint32_t alignment;
};

GgufWriter *gguf_writer_create(void) {
    return calloc(1, sizeof(GgufWriter));
}

void gguf_writer_abort(GgufWriter *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    if (w->tmp) unlink(w->tmp);
    w->fp = NULL;
    free(w->tmp);
    free(w->path);
    w->tmp = w->path = NULL;
}

void gguf_writer_destroy(GgufWriter *w) {
    if (!w) return;
    gguf_writer_abort(w);
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val); }
    for (size_t i = 0; i < w->n_t; i++) { free(w->t[i].name); free(w->t[i].data); }
    free(w->kv);
    free(w->t);
    free(w);
}

// ---- metadata ----

static WKv *kv_slot(GgufWriter *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return &w->kv[i];
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        WKv *p = realloc(w->kv, cap * sizeof *p);
        if (!p) return NULL;
        w->kv = p;
        w->cap_kv = cap;
    }
    WKv *s = &w->kv[w->n_kv];
    if (!(s->key = strdup(key))) return NULL;
    s->val = NULL;
    s->val_len = 0;
    w->n_kv++;
    return s;
}

// Sets key to the serialized value `val` (type field included), taking ownership of val.
static int kv_put(GgufWriter *w, const char *key, uint8_t *val, size_t len) {
    if (!val) return ERR_NOMEM;
    if (!key || !*key) { free(val); return ERR_ARG; }
    WKv *s = kv_slot(w, key);
    if (!s) { free(val); return ERR_NOMEM; }
    free(s->val);
    s->val = val;
    s->val_len = len;
    return 0;
}

static uint8_t *pack_head(GgufType t, size_t extra) {
    uint8_t *v = malloc(4 + extra);
    if (v) { uint32_t u = t; memcpy(v, &u, 4); }
    return v;
}

int gguf_writer_set_scalar(GgufWriter *w, const char *key, GgufType t, const void *v) {
    size_t sz = gguf_type_size(t);
    if (sz == 0) return ERR_ARG;
    uint8_t *val = pack_head(t, sz);
    if (val) memcpy(val + 4, v, sz);
    return kv_put(w, key, val, 4 + sz);
}

int gguf_writer_set_u32(GgufWriter *w, const char *key, uint32_t v) { return gguf_writer_set_scalar(w, key, GGUF_UINT32, &v); }
int gguf_writer_set_i32(GgufWriter *w, const char *key, int32_t v) { return gguf_writer_set_scalar(w, key, GGUF_INT32, &v); }
int gguf_writer_set_u64(GgufWriter *w, const char *key, uint64_t v) { return gguf_writer_set_scalar(w, key, GGUF_UINT64, &v); }
int gguf_writer_set_i64(GgufWriter *w, const char *key, int64_t v) { return gguf_writer_set_scalar(w, key, GGUF_INT64, &v); }
int gguf_writer_set_f32(GgufWriter *w, const char *key, float v) { return gguf_writer_set_scalar(w, key, GGUF_FLOAT32, &v); }

int gguf_writer_set_bool(GgufWriter *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return gguf_writer_set_scalar(w, key, GGUF_BOOL, &b);
}

int gguf_writer_set_str(GgufWriter *w, const char *key, const char *v) {
    uint64_t n = strlen(v);
    uint8_t *val = pack_head(GGUF_STRING, 8 + n);
    if (val) { memcpy(val + 4, &n, 8); memcpy(val + 12, v, n); }
    return kv_put(w, key, val, 12 + n);
}

int gguf_writer_set_arr(GgufWriter *w, const char *key, GgufType elem, const void *v, uint64_t n) {
    size_t sz = gguf_type_size(elem);
    if (sz == 0 || n > (SIZE_MAX - 16) / sz) return ERR_ARG;
    uint8_t *val = pack_head(GGUF_ARRAY, 12 + n * sz);
    if (val) {
        uint32_t et = elem;
        memcpy(val + 4, &et, 4);
        memcpy(val + 8, &n, 8);
        if (n) memcpy(val + 16, v, n * sz);
    }
    return kv_put(w, key, val, 16 + n * sz);
}

int gguf_writer_set_arr_f32(GgufWriter *w, const char *key, const float *v, uint64_t n) {
    return gguf_writer_set_arr(w, key, GGUF_FLOAT32, v, n);
}

int gguf_writer_set_arr_i32(GgufWriter *w, const char *key, const int32_t *v, uint64_t n) {
    return gguf_writer_set_arr(w, key, GGUF_INT32, v, n);
}

int gguf_writer_set_arr_str(GgufWriter *w, const char *key, const char *const *v, uint64_t n) {
    size_t len = 16;
    for (uint64_t i = 0; i < n; i++) len += 8 + strlen(v[i]);
    uint8_t *val = pack_head(GGUF_ARRAY, len - 4);
    if (val) {
        uint32_t et = GGUF_STRING;
        memcpy(val + 4, &et, 4);
        memcpy(val + 8, &n, 8);
        size_t p = 16;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t sl = strlen(v[i]);
            memcpy(val + p, &sl, 8);
            memcpy(val + p + 8, v[i], sl);
            p += 8 + sl;
        }
    }
    return kv_put(w, key, val, len);
}

int gguf_writer_copy_kv(GgufWriter *w, const GgufFile *f, const GgufKv *kv) {
    (void)f;
    char key[512];
    if (kv->key.len >= sizeof key) return ERR_ARG;
    str_to_c(kv->key, key, sizeof key);
    size_t n = gguf_kv_value_bytes(kv);
    uint8_t *val = pack_head(kv->type, n);
    if (!val) return ERR_NOMEM;
    // For arrays, kv->value points at the first element: the element type and count precede it.
    const uint8_t *src = kv->type == GGUF_ARRAY ? kv->value - 12 : kv->value;
    memcpy(val + 4, src, n);
    return kv_put(w, key, val, 4 + n);
}

void gguf_writer_remove(GgufWriter *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].key);
            free(w->kv[i].val);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
}

// ---- tensors ----

static int tensor_declare(GgufWriter *w, const char *name, QuantType type, uint32_t n_dims,
                          const int64_t *ne, WTensor **out) {
    if (!name || !*name || n_dims < 1 || n_dims > GGUF_MAX_DIMS || w->fp) return ERR_ARG;
    const QuantTraits *tr = quant_traits((uint32_t)type);  // any type ggml defines (the data is the caller's)
    if (!tr) return ERR_ARG;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return ERR_ARG;
    WTensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0) return ERR_ARG;
        t.ne[d] = ne[d];
        if (d > 0 && __builtin_mul_overflow(rows, (uint64_t)ne[d], &rows)) return ERR_ARG;
    }
    size_t rb = quant_row_bytes(type, ne[0]);
    if (rb == 0 || __builtin_mul_overflow(rb, rows, &t.nbytes)) return ERR_ARG;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        WTensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return ERR_NOMEM;
        w->t = p;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name))) return ERR_NOMEM;
    w->t[w->n_t] = t;
    *out = &w->t[w->n_t++];
    return 0;
}

int gguf_writer_add_tensor_info(GgufWriter *w, const char *name, QuantType type, uint32_t n_dims,
                                const int64_t *ne) {
    WTensor *t;
    return tensor_declare(w, name, type, n_dims, ne, &t);
}

int gguf_writer_add_tensor(GgufWriter *w, const char *name, QuantType type, uint32_t n_dims,
                           const int64_t *ne, const void *data, size_t nbytes) {
    WTensor *t;
    int rc = tensor_declare(w, name, type, n_dims, ne, &t);
    if (rc) return rc;
    if (nbytes != t->nbytes || !(t->data = malloc(nbytes ? nbytes : 1))) {
        rc = nbytes != t->nbytes ? ERR_ARG : ERR_NOMEM;
        free(t->name);
        w->n_t--;
        return rc;
    }
    memcpy(t->data, data, nbytes);
    return 0;
}

// ---- output ----

static int put(GgufWriter *w, const void *p, size_t n, char *err, size_t err_len) {
    if (n && fwrite(p, 1, n, w->fp) != n)
        return err_set(err, err_len, ERR_IO, "%s: write: %s", w->tmp, strerror(errno));
    return 0;
}

static int put_zeros(GgufWriter *w, size_t n, char *err, size_t err_len) {
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        int rc = put(w, zeros, k, err, err_len);
        if (rc) return rc;
        n -= k;
    }
    return 0;
}

static int put_str(GgufWriter *w, const char *s, char *err, size_t err_len) {
    uint64_t n = strlen(s);
    int rc = put(w, &n, 8, err, err_len);
    return rc ? rc : put(w, s, n, err, err_len);
}

// Writes the next nbytes of the tensor due next (padding up to its offset first), and moves on
// to the following tensor when it is complete.
static int put_tensor_data(GgufWriter *w, const void *data, size_t nbytes, char *err, size_t err_len) {
    WTensor *t = &w->t[w->next];
    int rc = w->partial ? 0 : put_zeros(w, (size_t)(t->offset - w->pos), err, err_len);
    if (!rc) rc = put(w, data, nbytes, err, err_len);
    if (rc) return rc;
    w->partial += nbytes;
    w->pos = t->offset + w->partial;
    if (w->partial == t->nbytes) {
        w->next++;
        w->partial = 0;
    }
    return 0;
}

// Writes every owned tensor from `next` on, up to the first streamed one.
static int flush_owned(GgufWriter *w, char *err, size_t err_len) {
    while (w->next < w->n_t && w->t[w->next].data) {
        int rc = put_tensor_data(w, w->t[w->next].data, w->t[w->next].nbytes, err, err_len);
        if (rc) return rc;
    }
    return 0;
}

int gguf_writer_begin(GgufWriter *w, const char *path, char *err, size_t err_len) {
    if (w->fp) return err_set(err, err_len, ERR_ARG, "gguf writer: a write is already in progress");
    w->alignment = GGUF_WRITER_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        uint32_t type, a;
        memcpy(&type, w->kv[i].val, 4);
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        if (type != GGUF_UINT32) return err_set(err, err_len, ERR_ARG, "general.alignment must be a u32");
        memcpy(&a, w->kv[i].val + 4, 4);
        if (a == 0 || (a & (a - 1))) return err_set(err, err_len, ERR_ARG, "general.alignment %u is not a power of two", a);
        w->alignment = a;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += (w->t[i].nbytes + w->alignment - 1) / w->alignment * w->alignment;
    }
    size_t plen = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(plen + 5);
    if (!w->path || !w->tmp) { gguf_writer_abort(w); return err_set(err, err_len, ERR_NOMEM, "out of memory"); }
    memcpy(w->tmp, path, plen);
    memcpy(w->tmp + plen, ".tmp", 5);
    if (!(w->fp = fopen(w->tmp, "wb"))) {
        int rc = err_set(err, err_len, ERR_IO, "%s: %s", w->tmp, strerror(errno));
        free(w->tmp);  // nothing was created: do not unlink someone else's file
        w->tmp = NULL;
        gguf_writer_abort(w);
        return rc;
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
    w->next = 0;
    w->pos = 0;
    w->partial = 0;

    uint32_t version = 3;
    uint64_t n_t = w->n_t, n_kv = w->n_kv;
    int rc = put(w, "GGUF", 4, err, err_len);
    if (!rc) rc = put(w, &version, 4, err, err_len);
    if (!rc) rc = put(w, &n_t, 8, err, err_len);
    if (!rc) rc = put(w, &n_kv, 8, err, err_len);
    for (size_t i = 0; i < w->n_kv && !rc; i++) {
        rc = put_str(w, w->kv[i].key, err, err_len);
        if (!rc) rc = put(w, w->kv[i].val, w->kv[i].val_len, err, err_len);
    }
    for (size_t i = 0; i < w->n_t && !rc; i++) {
        const WTensor *t = &w->t[i];
        uint32_t type = (uint32_t)t->type;
        rc = put_str(w, t->name, err, err_len);
        if (!rc) rc = put(w, &t->n_dims, 4, err, err_len);
        for (uint32_t d = 0; d < t->n_dims && !rc; d++) rc = put(w, &t->ne[d], 8, err, err_len);
        if (!rc) rc = put(w, &type, 4, err, err_len);
        if (!rc) rc = put(w, &t->offset, 8, err, err_len);
    }
    if (!rc) {
        long here = ftell(w->fp);
        rc = here < 0 ? err_set(err, err_len, ERR_IO, "%s: ftell: %s", w->tmp, strerror(errno))
                      : put_zeros(w, (w->alignment - (size_t)here % w->alignment) % w->alignment, err, err_len);
    }
    if (!rc) rc = flush_owned(w, err, err_len);
    if (rc) gguf_writer_abort(w);
    return rc;
}

int gguf_writer_put_tensor(GgufWriter *w, const void *data, size_t nbytes, char *err, size_t err_len) {
    if (!w->fp) return err_set(err, err_len, ERR_ARG, "gguf writer: put_tensor before begin");
    if (w->next >= w->n_t) {
        gguf_writer_abort(w);
        return err_set(err, err_len, ERR_ARG, "gguf writer: more tensor data than declared tensors");
    }
    const WTensor *t = &w->t[w->next];
    if (nbytes != t->nbytes || w->partial) {
        int rc = err_set(err, err_len, ERR_ARG, "gguf writer: tensor '%s' needs %zu bytes, got %zu", t->name,
                         t->nbytes, nbytes);
        gguf_writer_abort(w);
        return rc;
    }
    int rc = put_tensor_data(w, data, nbytes, err, err_len);
    if (!rc) rc = flush_owned(w, err, err_len);
    if (rc) gguf_writer_abort(w);
    return rc;
}

int gguf_writer_put_data(GgufWriter *w, const void *data, size_t nbytes, char *err, size_t err_len) {
    if (!w->fp) return err_set(err, err_len, ERR_ARG, "gguf writer: put_data before begin");
    int rc = 0;
    while (nbytes && !rc) {
        if (w->next >= w->n_t) {
            rc = err_set(err, err_len, ERR_ARG, "gguf writer: more tensor data than declared tensors");
            break;
        }
        const WTensor *t = &w->t[w->next];
        size_t k = t->nbytes - w->partial;
        if (k > nbytes) k = nbytes;
        rc = put_tensor_data(w, data, k, err, err_len);
        data = (const uint8_t *)data + k;
        nbytes -= k;
        if (!rc && w->partial == 0) rc = flush_owned(w, err, err_len);
    }
    if (rc) gguf_writer_abort(w);
    return rc;
}

int gguf_writer_finish(GgufWriter *w, char *err, size_t err_len) {
    if (!w->fp) return err_set(err, err_len, ERR_ARG, "gguf writer: finish before begin");
    int rc = 0;
    if (w->next != w->n_t)
        rc = err_set(err, err_len, ERR_ARG, "gguf writer: tensor '%s' is missing data (%zu of its %zu bytes written)",
                     w->t[w->next].name, w->partial, w->t[w->next].nbytes);
    if (!rc) rc = put_zeros(w, (w->alignment - (size_t)(w->pos % w->alignment)) % w->alignment, err, err_len);
    if (!rc && fflush(w->fp) != 0) rc = err_set(err, err_len, ERR_IO, "%s: write: %s", w->tmp, strerror(errno));
    if (rc) { gguf_writer_abort(w); return rc; }
    FILE *fp = w->fp;
    w->fp = NULL;
    if (fclose(fp) != 0) rc = err_set(err, err_len, ERR_IO, "%s: close: %s", w->tmp, strerror(errno));
    if (!rc && rename(w->tmp, w->path) != 0)
        rc = err_set(err, err_len, ERR_IO, "rename %s to %s: %s", w->tmp, w->path, strerror(errno));
    if (!rc) { free(w->tmp); w->tmp = NULL; }
    gguf_writer_abort(w);  // removes the temporary file if still there, frees the paths
    return rc;
}

int gguf_writer_write(GgufWriter *w, const char *path, char *err, size_t err_len) {
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data)
            return err_set(err, err_len, ERR_ARG, "gguf writer: tensor '%s' was declared without data; stream it "
                           "with gguf_writer_begin/put_tensor/finish", w->t[i].name);
    int rc = gguf_writer_begin(w, path, err, err_len);
    return rc ? rc : gguf_writer_finish(w, err, err_len);
}
