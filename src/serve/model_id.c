#include "serve/model_id.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "engine/gguf.h"

// llama.cpp's llama_ftype values (include/llama.h), lower-cased without "MOSTLY_".
const char *model_id_ftype_name(unsigned ftype) {
    static const char *const names[] = {
        [0] = "f32",      [1] = "f16",      [2] = "q4_0",     [3] = "q4_1",     [7] = "q8_0",    [8] = "q5_0",
        [9] = "q5_1",     [10] = "q2_k",    [11] = "q3_k_s",  [12] = "q3_k_m",  [13] = "q3_k_l", [14] = "q4_k_s",
        [15] = "q4_k_m",  [16] = "q5_k_s",  [17] = "q5_k_m",  [18] = "q6_k",    [19] = "iq2_xxs", [20] = "iq2_xs",
        [21] = "q2_k_s",  [22] = "iq3_xs",  [23] = "iq3_xxs", [24] = "iq1_s",   [25] = "iq4_nl", [26] = "iq3_s",
        [27] = "iq3_m",   [28] = "iq2_s",   [29] = "iq2_m",   [30] = "iq4_xs",  [31] = "iq1_m",  [32] = "bf16",
        [36] = "tq1_0",   [37] = "tq2_0",
    };
    return ftype < ARRAY_LEN(names) ? names[ftype] : NULL;
}

// The tensor type holding most bytes among 2-D tensors (the weight matrices).
static const char *dominant_type(const GgufFile *f) {
    size_t bytes[QT_COUNT] = {0};
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].n_dims == 2 && f->tensors[i].type < QT_COUNT) bytes[f->tensors[i].type] += f->tensors[i].nbytes;
    int best = -1;
    for (int t = 0; t < QT_COUNT; t++)
        if (bytes[t] && (best < 0 || bytes[t] > bytes[best])) best = t;
    return best < 0 ? NULL : QUANT_TRAITS[best].name;
}

static int hash_file(const char *path, char *out, size_t cap, char *err, size_t err_len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, err_len, ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    int rc = buf && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : ERR_NOMEM;
    ssize_t n;
    while (!rc && (n = read(fd, buf, CHUNK)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = err_set(err, err_len, ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        } else if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
            rc = ERR_NOMEM;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!rc && EVP_DigestFinal_ex(ctx, md, &len) != 1) rc = ERR_NOMEM;
    if (!rc) {
        size_t u = (size_t)snprintf(out, cap, "sha256:");
        for (unsigned i = 0; i < len && u + 2 < cap; i++) u += (size_t)snprintf(out + u, cap - u, "%02x", md[i]);
    }
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    if (rc == ERR_NOMEM && err && !err[0]) err_set(err, err_len, ERR_NOMEM, "cannot hash '%s'", path);
    return rc;
}

int model_id_read(const char *path, ModelId *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (err_len) err[0] = 0;
    GgufFile f;
    int rc = gguf_open(&f, path, err, err_len);
    if (rc) return rc;
    uint32_t ft;
    const char *q = gguf_get_u32(&f, "general.file_type", &ft) == 0 ? model_id_ftype_name(ft) : NULL;
    if (!q) q = dominant_type(&f);
    if (q) {
        snprintf(out->quantization, sizeof out->quantization, "%s", q);
        for (char *p = out->quantization; *p; p++) *p = (char)tolower((unsigned char)*p);
    }
    Str v;
    if (gguf_get_str(&f, "general.version", &v) == 0)
        snprintf(out->version, sizeof out->version, "%.*s", (int)v.len, v.ptr);
    gguf_close(&f);
    return hash_file(path, out->digest, sizeof out->digest, err, err_len);
}
