// ckpt.c — saving and resuming a training run (see ckpt.h).
#include "train/ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"

#define CKPT_MAGIC "RSTRAIN1"

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int put(FILE *f, uint64_t *h, const void *p, size_t n) {
    *h = fnv(*h, p, n);
    return fwrite(p, 1, n, f) == n ? 0 : ERR_IO;
}

int ckpt_save(const char *dir, const TrainModel *m, const AdamState *s, uint64_t seed, const GgufFile *vocab,
              const char *name, char *err, size_t err_len) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    // state.bin repeats the weights it belongs to, so a mismatch is found at resume.
    int rc = train_model_save(m, path, vocab, name, err, err_len);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/state.bin", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    uint64_t h = 1469598103934665603ull, step = (uint64_t)s->step, n = m->n_params;
    rc = put(f, &h, CKPT_MAGIC, 8);
    if (!rc) rc = put(f, &h, &step, 8);
    if (!rc) rc = put(f, &h, &seed, 8);
    if (!rc) rc = put(f, &h, &n, 8);
    if (!rc) rc = put(f, &h, m->params, n * sizeof(float));  // the weights the moments belong to
    if (!rc) rc = put(f, &h, s->m, n * sizeof(float));
    if (!rc) rc = put(f, &h, s->v, n * sizeof(float));
    if (!rc && fwrite(&h, 8, 1, f) != 1) rc = ERR_IO;
    if (fclose(f) && !rc) rc = ERR_IO;
    if (!rc && rename(tmp, path)) rc = ERR_IO;
    if (rc) {
        remove(tmp);
        return err_set(err, err_len, ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int ckpt_load(const char *dir, TrainModel *m, AdamState *s, uint64_t seed, const SynthShape *expect,
              char *err, size_t err_len) {
    char path[4096], why[300];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    int rc = train_model_load(m, path, err, err_len);
    if (rc) return rc;
    if (expect && (rc = train_model_same_shape(expect, &m->shape, why, sizeof why))) {
        train_model_free(m);
        return err_set(err, err_len, ERR_ARG, "checkpoint %s does not match this run: %s", path, why);
    }
    snprintf(path, sizeof path, "%s/state.bin", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        train_model_free(m);
        return err_set(err, err_len, ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    uint64_t h = 1469598103934665603ull, hdr[3], stored = 0;
    char magic[8];
    float *params = NULL;
    rc = ERR_FORMAT;
    if (adam_init(s, m->n_params)) { rc = ERR_NOMEM; goto out; }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CKPT_MAGIC, 8)) { err_set(err, err_len, rc, "%s: not a rightsize training state", path); goto out; }
    h = fnv(h, magic, 8);
    if (fread(hdr, 8, 3, f) != 3) { err_set(err, err_len, rc, "%s: truncated header", path); goto out; }
    h = fnv(h, hdr, sizeof hdr);
    if (hdr[1] != seed) { err_set(err, err_len, rc, "%s: written by a run with --seed %llu, not %llu", path, (unsigned long long)hdr[1], (unsigned long long)seed); goto out; }
    if (hdr[2] != m->n_params) { err_set(err, err_len, rc, "%s: holds %llu parameters, the model %zu", path, (unsigned long long)hdr[2], m->n_params); goto out; }
    size_t bytes = m->n_params * sizeof(float);
    params = malloc(bytes);
    if (!params) { rc = ERR_NOMEM; goto out; }
    if (fread(params, 1, bytes, f) != bytes || fread(s->m, 1, bytes, f) != bytes || fread(s->v, 1, bytes, f) != bytes ||
        fread(&stored, 8, 1, f) != 1) {
        err_set(err, err_len, rc, "%s: truncated", path);
        goto out;
    }
    h = fnv(fnv(fnv(h, params, bytes), s->m, bytes), s->v, bytes);
    if (h != stored) { err_set(err, err_len, rc, "%s: checksum mismatch (corrupt)", path); goto out; }
    // A run stopped between the two renames left newer weights in model.gguf: the state's own
    // copy is the checkpoint (its weights and moments belong together).
    memcpy(m->params, params, bytes);
    s->step = (int64_t)hdr[0];
    rc = 0;
out:
    free(params);
    fclose(f);
    if (rc) {
        adam_free(s);
        train_model_free(m);
    }
    return rc;
}
