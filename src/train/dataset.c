// dataset.c — loading and batching training examples (see dataset.h).
#include "train/dataset.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"

typedef struct {
    int32_t *ids;
    int64_t cap;
} Ids;

static int encode(const Tokenizer *t, const char *s, bool bos, Ids *out, int64_t *n) {
    int64_t need = (int64_t)strlen(s) + 8;
    if (need > out->cap) {
        int32_t *p = realloc(out->ids, (size_t)need * sizeof *p);
        if (!p) return ERR_NOMEM;
        out->ids = p;
        out->cap = need;
    }
    int64_t k = 0;
    if (bos && tok_bos(t) >= 0) out->ids[k++] = tok_bos(t);
    int64_t r = tok_encode(t, s, strlen(s), false, false, out->ids + k, out->cap - k);
    if (r < 0) return (int)r;
    *n = k + r;
    return 0;
}

// Appends one example: ids[0..n) with targets from position `from` on (+ EOS).
static int append(Dataset *d, int64_t *cap, const int32_t *ids, int64_t n, int64_t from, int32_t eos) {
    int64_t len = n + (eos >= 0);
    if (d->n_tokens + len > *cap) {
        int64_t nc = (*cap + len) * 2;
        int32_t *t = realloc(d->tok, (size_t)nc * sizeof *t);
        if (!t) return ERR_NOMEM;
        d->tok = t;
        uint8_t *l = realloc(d->loss, (size_t)nc);
        if (!l) return ERR_NOMEM;
        d->loss = l;
        *cap = nc;
    }
    int64_t *st = realloc(d->start, (size_t)(d->n + 2) * sizeof *st);
    if (!st) return ERR_NOMEM;
    d->start = st;
    for (int64_t i = 0; i < len; i++) {
        d->tok[d->n_tokens + i] = i < n ? ids[i] : eos;
        d->loss[d->n_tokens + i] = i >= from && i > 0;
    }
    d->start[d->n] = d->n_tokens;
    d->n_tokens += len;
    d->n++;
    d->start[d->n] = d->n_tokens;
    return 0;
}

static bool is_jsonl(const char *path) {
    size_t n = strlen(path);
    return n > 6 && strcmp(path + n - 6, ".jsonl") == 0;
}

int dataset_load(Dataset *d, const char *path, const Tokenizer *t, char *err, size_t err_len) {
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot open --data %s", path);
    char *line = NULL, *both = NULL;
    size_t lcap = 0;
    int64_t cap = 0, lineno = 0;
    Ids a = {0}, b = {0};
    int rc = 0;
    bool json = is_jsonl(path);
    while (!rc && getline(&line, &lcap, f) >= 0) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        int64_t na = 0, nb = 0;
        if (!json) {
            if ((rc = encode(t, line, true, &a, &na))) break;
            rc = append(d, &cap, a.ids, na, 1, -1);
            continue;
        }
        cJSON *o = cJSON_Parse(line);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt"), *c = cJSON_GetObjectItemCaseSensitive(o, "completion");
        if (!cJSON_IsString(p) || !cJSON_IsString(c)) {
            cJSON_Delete(o);
            rc = err_set(err, err_len, ERR_FORMAT, "%s:%lld: not a JSON object with \"prompt\" and \"completion\" strings",
                         path, (long long)lineno);
            break;
        }
        size_t lp = strlen(p->valuestring), lc = strlen(c->valuestring);
        char *nb_ = realloc(both, lp + lc + 1);
        if (!nb_) { cJSON_Delete(o); rc = ERR_NOMEM; break; }
        both = nb_;
        memcpy(both, p->valuestring, lp);
        memcpy(both + lp, c->valuestring, lc + 1);
        rc = encode(t, p->valuestring, true, &a, &na);
        if (!rc) rc = encode(t, both, true, &b, &nb);
        cJSON_Delete(o);
        if (rc) break;
        // Targets start where the whole example's tokens leave the prompt's.
        int64_t from = 0;
        while (from < na && from < nb && a.ids[from] == b.ids[from]) from++;
        rc = append(d, &cap, b.ids, nb, from, tok_eos(t));
    }
    if (rc == ERR_NOMEM) err_set(err, err_len, rc, "out of memory reading %s", path);
    else if (rc && !err[0]) err_set(err, err_len, rc, "%s:%lld: cannot tokenize", path, (long long)lineno);
    if (!rc && d->n == 0) rc = err_set(err, err_len, ERR_FORMAT, "--data %s holds no examples", path);
    free(line);
    free(both);
    free(a.ids);
    free(b.ids);
    fclose(f);
    if (rc) dataset_free(d);
    return rc;
}

void dataset_free(Dataset *d) {
    free(d->tok);
    free(d->loss);
    free(d->start);
    memset(d, 0, sizeof *d);
}

int64_t dataset_batch(const Dataset *d, uint64_t seed, int64_t step, int64_t B, int64_t T, int32_t *tok,
                      int32_t *tgt, uint8_t *mask) {
    Rng r;
    rng_seed(&r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)step);
    int64_t n = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t e = (int64_t)rng_below(&r, (uint64_t)d->n), s = d->start[e], len = d->start[e + 1] - s;
        for (int64_t t = 0; t < T; t++) {
            int64_t i = b * T + t;
            tok[i] = t < len ? d->tok[s + t] : 0;
            tgt[i] = t + 1 < len ? d->tok[s + t + 1] : 0;
            mask[i] = t + 1 < len && d->loss[s + t + 1];
            n += mask[i];
        }
    }
    return n;
}
