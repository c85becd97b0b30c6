#include "base/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/check.h"

#define YAML_MAX_DEPTH 64

// ---- building the tree from libyaml events ----

// One open container while parsing: its children collect in a malloc'ed array, then move into
// the arena when the container closes.
typedef struct {
    YamlNode *node;
    YamlNode **kids;
    const char **keys;
    int64_t n, cap;
    const char *pending_key;   // map: key read, value not yet
    int pending_line;
} Frame;

static int frame_push_kid(Frame *f, const char *key, YamlNode *kid) {
    if (f->n == f->cap) {
        int64_t cap = f->cap ? f->cap * 2 : 8;
        YamlNode **k = realloc(f->kids, (size_t)cap * sizeof *k);
        if (!k) return ERR_NOMEM;
        f->kids = k;
        const char **ks = realloc(f->keys, (size_t)cap * sizeof *ks);
        if (!ks) return ERR_NOMEM;
        f->keys = ks;
        f->cap = cap;
    }
    f->kids[f->n] = kid;
    f->keys[f->n] = key;
    f->n++;
    return 0;
}

static int doc_fail(YamlDoc *doc, int line, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int doc_fail(YamlDoc *doc, int line, int code, const char *fmt, ...) {
    if (doc->rc) return doc->rc;
    int k = line > 0 ? snprintf(doc->err, sizeof doc->err, "%s:%d: ", doc->file, line)
                     : snprintf(doc->err, sizeof doc->err, "%s: ", doc->file);
    if (k < 0) k = 0;
    if ((size_t)k >= sizeof doc->err) k = (int)sizeof doc->err - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(doc->err + k, sizeof doc->err - (size_t)k, fmt, ap);
    va_end(ap);
    doc->rc = code;
    return code;
}

static YamlNode *new_node(YamlDoc *doc, YamlKind kind, int line) {
    YamlNode *n = arena_alloc(&doc->arena, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = line;
    n->key_line = line;
    return n;
}

// Attaches a finished node to the open container (or makes it the root).
static int attach(YamlDoc *doc, Frame *stack, int depth, YamlNode *node) {
    if (depth == 0) {
        if (doc->root) return doc_fail(doc, node->line, ERR_FORMAT, "more than one document in the file");
        doc->root = node;
        return 0;
    }
    Frame *f = &stack[depth - 1];
    if (f->node->kind == YAML_SEQ) {
        node->parent = f->node;
        node->index = f->n;
        return frame_push_kid(f, NULL, node);
    }
    if (!f->pending_key) {   // this node is a key
        if (node->kind != YAML_SCALAR)
            return doc_fail(doc, node->line, ERR_FORMAT, "only plain scalar map keys are supported");
        for (int64_t i = 0; i < f->n; i++)
            if (strcmp(f->keys[i], node->str) == 0)
                return doc_fail(doc, node->line, ERR_FORMAT, "duplicate key '%s'", node->str);
        f->pending_key = node->str;
        f->pending_line = node->line;
        return 0;
    }
    node->parent = f->node;
    node->key = f->pending_key;
    node->key_line = f->pending_line;
    f->pending_key = NULL;
    return frame_push_kid(f, node->key, node);
}

static int close_frame(YamlDoc *doc, Frame *f) {
    YamlNode *c = f->node;
    c->n = f->n;
    if (f->n) {
        c->vals = arena_array(&doc->arena, (size_t)f->n, sizeof *c->vals);
        if (!c->vals) return ERR_NOMEM;
        memcpy(c->vals, f->kids, (size_t)f->n * sizeof *c->vals);
        if (c->kind == YAML_MAP) {
            c->keys = arena_array(&doc->arena, (size_t)f->n, sizeof *c->keys);
            if (!c->keys) return ERR_NOMEM;
            memcpy(c->keys, f->keys, (size_t)f->n * sizeof *c->keys);
        }
    }
    free(f->kids);
    free(f->keys);
    *f = (Frame){0};
    return 0;
}

int yaml_load_buf(YamlDoc *doc, const char *name, const char *text, size_t len, char *err, size_t err_len) {
    *doc = (YamlDoc){0};
    arena_init(&doc->arena, 16 * 1024);
    snprintf(doc->file, sizeof doc->file, "%s", name ? name : "<yaml>");
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return doc_fail(doc, 0, ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    Frame stack[YAML_MAX_DEPTH] = {0};
    int depth = 0, done = 0, rc = 0;
    while (!done && !rc) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = doc_fail(doc, (int)p.problem_mark.line + 1, ERR_FORMAT, "YAML syntax: %s%s%s",
                          p.problem ? p.problem : "error", p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        int line = (int)ev.start_mark.line + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_ALIAS_EVENT:
            rc = doc_fail(doc, line, ERR_UNSUPP, "aliases (*name) are not supported; repeat the value");
            break;
        case YAML_SCALAR_EVENT: {
            if (ev.data.scalar.anchor) {
                rc = doc_fail(doc, line, ERR_UNSUPP, "anchors (&name) are not supported");
                break;
            }
            YamlNode *n = new_node(doc, YAML_SCALAR, line);
            char *s = n ? arena_strdup(&doc->arena, (Str){(const char *)ev.data.scalar.value, ev.data.scalar.length}) : NULL;
            if (!s) { rc = doc_fail(doc, line, ERR_NOMEM, "out of memory"); break; }
            if (strlen(s) != ev.data.scalar.length) {
                rc = doc_fail(doc, line, ERR_FORMAT, "NUL byte inside a scalar");
                break;
            }
            n->str = s;
            n->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                        ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                        ev.data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                        ev.data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
            rc = attach(doc, stack, depth, n);
            if (rc && !doc->rc) doc_fail(doc, line, rc, "out of memory");
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const unsigned char *anchor = ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                                               : ev.data.mapping_start.anchor;
            if (anchor) { rc = doc_fail(doc, line, ERR_UNSUPP, "anchors (&name) are not supported"); break; }
            if (depth == YAML_MAX_DEPTH) { rc = doc_fail(doc, line, ERR_RANGE, "nested deeper than %d levels", YAML_MAX_DEPTH); break; }
            YamlNode *n = new_node(doc, ev.type == YAML_MAPPING_START_EVENT ? YAML_MAP : YAML_SEQ, line);
            if (!n) { rc = doc_fail(doc, line, ERR_NOMEM, "out of memory"); break; }
            stack[depth++] = (Frame){.node = n};
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            CHECK(depth > 0);
            Frame *f = &stack[--depth];
            YamlNode *n = f->node;
            rc = close_frame(doc, f);
            if (!rc) rc = attach(doc, stack, depth, n);
            if (rc && !doc->rc) doc_fail(doc, line, rc, "out of memory");
            break;
        }
        default: break;   // stream/document start/end: nothing to build
        }
        yaml_event_delete(&ev);
    }
    for (int i = 0; i < depth; i++) { free(stack[i].kids); free(stack[i].keys); }
    yaml_parser_delete(&p);
    if (doc->rc && err) snprintf(err, err_len, "%s", doc->err);
    return doc->rc;
}

int yaml_load_file(YamlDoc *doc, const char *path, char *err, size_t err_len) {
    *doc = (YamlDoc){0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(doc->file, sizeof doc->file, "%s", path);
        doc_fail(doc, 0, ERR_IO, "cannot open: %s", strerror(errno));
        if (err) snprintf(err, err_len, "%s", doc->err);
        return ERR_IO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (size_t)256 << 20) { free(text); fclose(f); goto too_big; }
            char *t = realloc(text, cap);
            if (!t) { free(text); fclose(f); return ERR_NOMEM; }
            text = t;
        }
        size_t k = fread(text + len, 1, cap - len, f);
        len += k;
        if (k == 0) break;
    }
    fclose(f);
    int rc = yaml_load_buf(doc, path, text ? text : "", len, err, err_len);
    free(text);
    return rc;
too_big:
    snprintf(doc->file, sizeof doc->file, "%s", path);
    doc_fail(doc, 0, ERR_RANGE, "file larger than 256 MiB");
    if (err) snprintf(err, err_len, "%s", doc->err);
    return ERR_RANGE;
}

void yaml_doc_free(YamlDoc *doc) {
    if (!doc) return;
    arena_free(&doc->arena);
    doc->root = NULL;
}

// ---- navigation ----

const YamlNode *yaml_get(const YamlNode *map, const char *key) {
    if (!map || map->kind != YAML_MAP) return NULL;
    for (int64_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return map->vals[i];
    return NULL;
}

const YamlNode *yaml_at(const YamlNode *root, const char *dotted) {
    char part[128];
    const YamlNode *n = root;
    while (n && *dotted) {
        const char *dot = strchr(dotted, '.');
        size_t k = dot ? (size_t)(dot - dotted) : strlen(dotted);
        if (k >= sizeof part) return NULL;
        memcpy(part, dotted, k);
        part[k] = 0;
        n = yaml_get(n, part);
        dotted += k + (dot ? 1 : 0);
    }
    return n;
}

char *yaml_path(const YamlNode *node, char *buf, size_t cap) {
    // Collect ancestors (bounded by the parser's depth limit), then print root-first.
    const YamlNode *chain[YAML_MAX_DEPTH + 2];
    int k = 0;
    for (const YamlNode *n = node; n && n->parent && k < (int)ARRAY_LEN(chain); n = n->parent) chain[k++] = n;
    size_t used = 0;
    if (cap) buf[0] = 0;
    for (int i = k - 1; i >= 0 && used < cap; i--) {
        int w = chain[i]->key ? snprintf(buf + used, cap - used, "%s%s", used ? "." : "", chain[i]->key)
                              : snprintf(buf + used, cap - used, "[%lld]", (long long)chain[i]->index);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

bool yaml_is_null(const YamlNode *node) {
    if (!node) return true;
    if (node->kind != YAML_SCALAR || node->quoted) return false;
    const char *s = node->str;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

// ---- errors ----

static int verror(YamlDoc *doc, const YamlNode *node, const char *keyname, const char *fmt, va_list ap) {
    if (doc->rc) return ERR_FORMAT;
    char path[256];
    int k;
    if (node) {
        yaml_path(node, path, sizeof path);
        if (keyname) {   // the key is missing: name it under its map
            size_t u = strlen(path);
            snprintf(path + u, sizeof path - u, "%s%s", u ? "." : "", keyname);
        }
        int line = keyname ? node->key_line : node->line;   // a missing key: point at its map's key
        k = snprintf(doc->err, sizeof doc->err, "%s:%d: key '%s': ", doc->file, line, path[0] ? path : "(top)");
    } else {
        k = snprintf(doc->err, sizeof doc->err, "%s: ", doc->file);
    }
    if (k < 0) k = 0;
    if ((size_t)k >= sizeof doc->err) k = (int)sizeof doc->err - 1;
    vsnprintf(doc->err + k, sizeof doc->err - (size_t)k, fmt, ap);
    doc->rc = ERR_FORMAT;
    return ERR_FORMAT;
}

int yaml_error(YamlDoc *doc, const YamlNode *node, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = verror(doc, node, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static int key_error(YamlDoc *doc, const YamlNode *map, const char *keyname, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_error(YamlDoc *doc, const YamlNode *map, const char *keyname, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = verror(doc, map, keyname, fmt, ap);
    va_end(ap);
    return rc;
}

// ---- scalar conversion ----

static const char *scalar_text(const YamlNode *n) {
    return n->kind == YAML_SCALAR ? n->str : n->kind == YAML_MAP ? "(a map)" : "(a list)";
}

// Strict decimal number: optional sign, digits with single underscores between them, optional
// fraction and exponent; nothing else (no hex, no inf/nan, no trailing junk).
static bool parse_number(const char *s, double *out) {
    char clean[96];
    size_t k = 0;
    if (!*s) return false;
    for (const char *c = s; *c; c++) {
        if (*c == '_') {
            if (c == s || !(c[-1] >= '0' && c[-1] <= '9') || !(c[1] >= '0' && c[1] <= '9')) return false;
            continue;
        }
        if (!strchr("0123456789+-.eE", *c)) return false;
        if (k + 1 >= sizeof clean) return false;
        clean[k++] = *c;
    }
    clean[k] = 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(clean, &end);
    if (end == clean || *end || !isfinite(v)) return false;
    bool digit = false;
    for (size_t i = 0; i < k; i++) digit |= clean[i] >= '0' && clean[i] <= '9';
    if (!digit) return false;
    *out = v;
    return true;
}

double yaml_node_f64(YamlDoc *doc, const YamlNode *node, double lo, double hi) {
    double v;
    if (node->kind != YAML_SCALAR || node->quoted || !parse_number(node->str, &v)) {
        yaml_error(doc, node, "expected a number, got '%s'", scalar_text(node));
        return lo > 0 ? lo : (hi < 0 ? hi : 0);
    }
    if (v < lo || v > hi) {
        yaml_error(doc, node, "%g is out of range [%g, %g]", v, lo, hi);
        return v < lo ? lo : hi;
    }
    return v;
}

static const YamlNode *present(const YamlNode *map, const char *key) {
    const YamlNode *n = yaml_get(map, key);
    return yaml_is_null(n) ? NULL : n;
}

double yaml_f64_opt(YamlDoc *doc, const YamlNode *map, const char *key, double dflt, double lo, double hi) {
    const YamlNode *n = present(map, key);
    return n ? yaml_node_f64(doc, n, lo, hi) : dflt;
}

double yaml_f64_req(YamlDoc *doc, const YamlNode *map, const char *key, double lo, double hi) {
    const YamlNode *n = present(map, key);
    if (!n) {
        key_error(doc, map, key, "missing (expected a number)");
        return lo > 0 ? lo : (hi < 0 ? hi : 0);
    }
    return yaml_node_f64(doc, n, lo, hi);
}

static int64_t node_i64(YamlDoc *doc, const YamlNode *n, int64_t lo, int64_t hi) {
    double v;
    if (n->kind != YAML_SCALAR || n->quoted || !parse_number(n->str, &v) || v != floor(v) ||
        fabs(v) > 9.0e15) {
        yaml_error(doc, n, "expected a whole number, got '%s'", scalar_text(n));
        return lo > 0 ? lo : (hi < 0 ? hi : 0);
    }
    int64_t x = (int64_t)v;
    if (x < lo || x > hi) {
        yaml_error(doc, n, "%lld is out of range [%lld, %lld]", (long long)x, (long long)lo, (long long)hi);
        return x < lo ? lo : hi;
    }
    return x;
}

int64_t yaml_i64_opt(YamlDoc *doc, const YamlNode *map, const char *key, int64_t dflt, int64_t lo, int64_t hi) {
    const YamlNode *n = present(map, key);
    return n ? node_i64(doc, n, lo, hi) : dflt;
}

int64_t yaml_i64_req(YamlDoc *doc, const YamlNode *map, const char *key, int64_t lo, int64_t hi) {
    const YamlNode *n = present(map, key);
    if (!n) {
        key_error(doc, map, key, "missing (expected a whole number)");
        return lo > 0 ? lo : (hi < 0 ? hi : 0);
    }
    return node_i64(doc, n, lo, hi);
}

const char *yaml_str_opt(YamlDoc *doc, const YamlNode *map, const char *key, const char *dflt) {
    const YamlNode *n = present(map, key);
    if (!n) return dflt;
    if (n->kind != YAML_SCALAR) {
        yaml_error(doc, n, "expected a string, got %s", scalar_text(n));
        return dflt;
    }
    return n->str;
}

const char *yaml_str_req(YamlDoc *doc, const YamlNode *map, const char *key) {
    const YamlNode *n = present(map, key);
    if (!n) {
        key_error(doc, map, key, "missing (expected a string)");
        return "";
    }
    const char *s = yaml_str_opt(doc, map, key, "");
    return s;
}

bool yaml_bool_opt(YamlDoc *doc, const YamlNode *map, const char *key, bool dflt) {
    const YamlNode *n = present(map, key);
    if (!n) return dflt;
    if (n->kind == YAML_SCALAR && !n->quoted) {
        const char *s = n->str;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes") || !strcmp(s, "on")) return true;
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no") || !strcmp(s, "off")) return false;
    }
    yaml_error(doc, n, "expected true or false, got '%s'", scalar_text(n));
    return dflt;
}

int yaml_enum_opt(YamlDoc *doc, const YamlNode *map, const char *key, const char *const *names, int n, int dflt) {
    const YamlNode *node = present(map, key);
    if (!node) return dflt;
    if (node->kind == YAML_SCALAR)
        for (int i = 0; i < n; i++)
            if (names[i] && !strcmp(names[i], node->str)) return i;
    char list[256] = {0};
    size_t u = 0;
    for (int i = 0; i < n && u < sizeof list; i++) {
        if (!names[i]) continue;
        int w = snprintf(list + u, sizeof list - u, "%s%s", u ? ", " : "", names[i]);
        if (w < 0) break;
        u += (size_t)w;
    }
    yaml_error(doc, node, "expected one of: %s; got '%s'", list, scalar_text(node));
    return dflt;
}

static const YamlNode *child_of_kind(YamlDoc *doc, const YamlNode *map, const char *key, YamlKind kind, bool req) {
    const YamlNode *n = present(map, key);
    const char *what = kind == YAML_MAP ? "a map (key: value lines)" : "a list (- item lines)";
    if (!n) {
        if (req) key_error(doc, map, key, "missing (expected %s)", what);
        return NULL;
    }
    if (n->kind != kind) {
        yaml_error(doc, n, "expected %s, got '%s'", what, scalar_text(n));
        return NULL;
    }
    return n;
}

const YamlNode *yaml_map_opt(YamlDoc *doc, const YamlNode *map, const char *key) {
    return child_of_kind(doc, map, key, YAML_MAP, false);
}
const YamlNode *yaml_map_req(YamlDoc *doc, const YamlNode *map, const char *key) {
    return child_of_kind(doc, map, key, YAML_MAP, true);
}
const YamlNode *yaml_seq_opt(YamlDoc *doc, const YamlNode *map, const char *key) {
    return child_of_kind(doc, map, key, YAML_SEQ, false);
}

int64_t yaml_f64_rows(YamlDoc *doc, const YamlNode *map, const char *key, const char *const *cols, int n_cols,
                      const double *lo, const double *hi, double *out, int64_t max_rows) {
    const YamlNode *seq = yaml_seq_opt(doc, map, key);
    if (!seq) return 0;
    if (seq->n > max_rows) {
        yaml_error(doc, seq, "%lld entries, at most %lld", (long long)seq->n, (long long)max_rows);
        return 0;
    }
    const char *allowed[9] = {0};
    CHECK(n_cols < (int)(sizeof allowed / sizeof *allowed));
    for (int j = 0; j < n_cols; j++) allowed[j] = cols[j];
    for (int64_t i = 0; i < seq->n; i++) {
        const YamlNode *row = seq->vals[i];
        if (row->kind != YAML_MAP) {
            yaml_error(doc, row, "expected a map {%s: ...}", cols[0]);
            return 0;
        }
        yaml_check_keys(doc, row, allowed);
        for (int j = 0; j < n_cols; j++) out[i * n_cols + j] = yaml_f64_req(doc, row, cols[j], lo[j], hi[j]);
    }
    return doc->rc ? 0 : seq->n;
}

int64_t yaml_f64_list(YamlDoc *doc, const YamlNode *map, const char *key, double lo, double hi, double *out,
                      int64_t max_n) {
    const YamlNode *seq = yaml_seq_opt(doc, map, key);
    if (!seq) return 0;
    if (seq->n > max_n) {
        yaml_error(doc, seq, "%lld entries, at most %lld", (long long)seq->n, (long long)max_n);
        return 0;
    }
    for (int64_t i = 0; i < seq->n; i++) out[i] = yaml_node_f64(doc, seq->vals[i], lo, hi);
    return doc->rc ? 0 : seq->n;
}

int yaml_check_keys(YamlDoc *doc, const YamlNode *map, const char *const *allowed) {
    if (!map || map->kind != YAML_MAP) return 0;
    for (int64_t i = 0; i < map->n; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, map->keys[i]);
        if (ok) continue;
        char list[256] = {0};
        size_t u = 0;
        for (const char *const *a = allowed; *a && u < sizeof list; a++) {
            int w = snprintf(list + u, sizeof list - u, "%s%s", u ? ", " : "", *a);
            if (w < 0) break;
            u += (size_t)w;
        }
        return yaml_error(doc, map->vals[i], "unknown key (expected one of: %s)", list);
    }
    return 0;
}
