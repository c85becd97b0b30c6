// quantize.c — GGUF weight-type conversion with llama-quantize's tensor type choices (see
// quantize.h).
#include "quantize/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/check.h"
#include "base/threadpool.h"
#include "engine/gguf.h"
#include "quantize/mix.h"
#include "quantize/qref.h"

static bool is_quantized(QuantType t) { return QUANT_TRAITS[t].block_size > 1; }

// llama.cpp's weight_name_comparer: layer number (-1 outside blk.N.) first, then the name.
static int layer_of(Str s) {
    int layer = -1;
    char buf[32];
    size_t n = s.len < sizeof buf - 1 ? s.len : sizeof buf - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = 0;
    if (sscanf(buf, "blk.%d.", &layer) != 1) layer = -1;
    return layer;
}

static int cmp_tensor(const void *pa, const void *pb) {
    const GgufTensor *a = *(const GgufTensor *const *)pa, *b = *(const GgufTensor *const *)pb;
    int la = layer_of(a->name), lb = layer_of(b->name);
    if (la != lb) return la < lb ? -1 : 1;
    size_t n = a->name.len < b->name.len ? a->name.len : b->name.len;
    int c = memcmp(a->name.ptr, b->name.ptr, n);
    if (c) return c;
    return (a->name.len > b->name.len) - (a->name.len < b->name.len);
}

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// One tensor's conversion, split into chunks of rows over the pool (rows are independent, so
// the bytes do not depend on the thread count). row holds one max_ne0 floats buffer per thread.
typedef struct {
    const GgufTensor *t;
    QuantType to;
    float *row;
    int64_t max_ne0, rows_per_task;
    void *dst;
} ConvertJob;

static void convert_task(void *ctx, int64_t task, int thread) {
    const ConvertJob *j = ctx;
    const int64_t ne0 = j->t->ne[0], rows = gguf_tensor_nelements(j->t) / ne0;
    const size_t src_row = quant_row_bytes(j->t->type, ne0), dst_row = quant_row_bytes(j->to, ne0);
    float *row = j->row + (size_t)thread * (size_t)j->max_ne0;
    const int64_t end = (task + 1) * j->rows_per_task < rows ? (task + 1) * j->rows_per_task : rows;
    for (int64_t r = task * j->rows_per_task; r < end; r++) {
        quant_dequantize_row(j->t->type, (const uint8_t *)j->t->data + (size_t)r * src_row, row, ne0);
        qref_quantize_row(j->to, row, (uint8_t *)j->dst + (size_t)r * dst_row, ne0);
    }
}

static void convert_rows(ThreadPool *pool, const GgufTensor *t, QuantType to, float *row, int64_t max_ne0, void *dst) {
    const int64_t rows = gguf_tensor_nelements(t) / t->ne[0];
    // About 64K weights per task: enough to amortize the fork, small enough to balance.
    int64_t per = (65536 + t->ne[0] - 1) / t->ne[0];
    ConvertJob j = {.t = t, .to = to, .row = row, .max_ne0 = max_ne0, .rows_per_task = per, .dst = dst};
    tp_run(pool, convert_task, &j, (rows + per - 1) / per);
}

// Metadata: every key in order, then quantization_version and file_type appended.
static int copy_metadata(GgufWriter *w, const GgufFile *f, uint32_t ftype) {
    for (uint64_t i = 0; i < f->n_kv; i++) {
        int rc = gguf_writer_copy_kv(w, f, &f->kv[i]);
        if (rc) return rc;
    }
    gguf_writer_remove(w, "general.quantization_version");
    gguf_writer_remove(w, "general.file_type");
    int rc = gguf_writer_set_u32(w, "general.quantization_version", 2);
    return rc ? rc : gguf_writer_set_u32(w, "general.file_type", ftype);
}

static int plan_types(const GgufFile *f, const GgufTensor **order, int *types, const QuantizeOptions *o,
                      char *err, size_t err_len) {
    QuantizeMix mix;
    int rc = quantize_mix_init(&mix, f, o->ftype, o->output_type, err, err_len);
    if (rc) return rc;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const GgufTensor *t = order[i];
        QuantType to = quantize_mix_type(&mix, t);
        if (to != t->type && !qref_supported(to))
            return err_set(err, err_len, ERR_UNSUPP,
                           "tensor '%.*s' gets type %s as llama-quantize chooses, which this build cannot write; "
                           "pass --output-type q8_0 (or f16) when it is the output tensor",
                           (int)t->name.len, t->name.ptr, QUANT_TRAITS[to].name ? QUANT_TRAITS[to].name : "unknown");
        if (to != t->type && is_quantized(t->type) && !o->allow_requantize)
            return err_set(err, err_len, ERR_ARG,
                           "tensor '%.*s' is already %s: requantizing compounds the error (pass --allow-requantize to do it anyway, "
                           "or start from the f16/f32 model)",
                           (int)t->name.len, t->name.ptr, QUANT_TRAITS[t->type].name);
        if (to != t->type && !QUANT_TRAITS[t->type].supported)
            return err_set(err, err_len, ERR_UNSUPP, "tensor '%.*s' is %s, which this build cannot read",
                           (int)t->name.len, t->name.ptr, QUANT_TRAITS[t->type].name);
        if (quant_row_bytes(to, t->ne[0]) == 0)
            return err_set(err, err_len, ERR_UNSUPP, "tensor '%.*s': rows of %lld do not fit type %s",
                           (int)t->name.len, t->name.ptr, (long long)t->ne[0], QUANT_TRAITS[to].name);
        types[i] = (int)to;
    }
    return 0;
}

// Declares every tensor with its new type; *max_ne0 and *max_bytes get the longest row and the
// largest converted tensor (the buffers' sizes).
static int declare_tensors(GgufWriter *w, const GgufTensor **order, const int *types, uint64_t n, int64_t *max_ne0,
                           size_t *max_bytes, char *err, size_t err_len) {
    for (uint64_t i = 0; i < n; i++) {
        const GgufTensor *t = order[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        int rc = gguf_writer_add_tensor_info(w, name, (QuantType)types[i], quantize_tensor_dims(t), t->ne);
        if (rc) return err_set(err, err_len, rc, "cannot declare tensor '%s'", name);
        size_t nb = quant_row_bytes((QuantType)types[i], t->ne[0]) * (size_t)(gguf_tensor_nelements(t) / t->ne[0]);
        if (t->ne[0] > *max_ne0) *max_ne0 = t->ne[0];
        if (nb > *max_bytes) *max_bytes = nb;
    }
    return 0;
}

int quantize_file(const char *in_path, const char *out_path, const QuantizeOptions *o,
                  QuantizeStats *st, char *err, size_t err_len) {
    memset(st, 0, sizeof *st);
    if (same_file(in_path, out_path) || strcmp(in_path, out_path) == 0)
        return err_set(err, err_len, ERR_ARG, "the output '%s' is the input file: choose another output path", out_path);
    GgufFile f;
    int rc = gguf_open(&f, in_path, err, err_len);
    if (rc) return rc;
    GgufWriter *w = gguf_writer_create();
    ThreadPool *pool = o->n_threads == 1 ? NULL : tp_create(o->n_threads);
    const GgufTensor **order = calloc(f.n_tensors ? f.n_tensors : 1, sizeof *order);
    int *types = calloc(f.n_tensors ? f.n_tensors : 1, sizeof *types);
    float *row = NULL;
    void *buf = NULL;
    if (!w || !order || !types) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto fail; }
    for (uint64_t i = 0; i < f.n_tensors; i++) order[i] = &f.tensors[i];
    qsort(order, f.n_tensors, sizeof *order, cmp_tensor);
    if ((rc = plan_types(&f, order, types, o, err, err_len))) goto fail;
    if ((rc = copy_metadata(w, &f, o->ftype->ftype))) { err_set(err, err_len, rc, "out of memory copying metadata"); goto fail; }
    int64_t max_ne0 = 1;
    size_t max_bytes = 1;
    if ((rc = declare_tensors(w, order, types, f.n_tensors, &max_ne0, &max_bytes, err, err_len))) goto fail;
    const int n_threads = pool ? tp_size(pool) : 1;
    row = malloc((size_t)n_threads * (size_t)max_ne0 * sizeof *row);
    buf = malloc(max_bytes);
    if (!row || !buf) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory for a %zu-byte tensor", max_bytes); goto fail; }
    if ((rc = gguf_writer_begin(w, out_path, err, err_len))) goto fail;
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const GgufTensor *t = order[i];
        QuantType to = (QuantType)types[i];
        if (o->progress) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            o->progress(o->progress_ctx, (int64_t)i + 1, (int64_t)f.n_tensors, name, t->type, to, t->ne);
        }
        size_t nb = quant_row_bytes(to, t->ne[0]) * (size_t)(gguf_tensor_nelements(t) / t->ne[0]);
        const void *data = t->data;
        if (to != t->type) {
            convert_rows(pool, t, to, row, max_ne0, buf);
            data = buf;
            st->n_quantized++;
        }
        if ((rc = gguf_writer_put_tensor(w, data, nb, err, err_len))) goto fail;
        st->bytes_in += t->nbytes;
        st->bytes_out += nb;
    }
    st->n_tensors = (int64_t)f.n_tensors;
    rc = gguf_writer_finish(w, err, err_len);
fail:
    if (rc) gguf_writer_abort(w);
    gguf_writer_destroy(w);
    tp_destroy(pool);
    free(order);
    free(types);
    free(row);
    free(buf);
    gguf_close(&f);
    return rc;
}
