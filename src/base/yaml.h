// yaml.h — load a YAML file into a small document tree and read it with typed getters.
//
// The tree has three node kinds (map, sequence, scalar); every node remembers its line and its
// place under its parent, so an error can name the full key path:
//   "workload.yaml:12: key 'slo.ttft_p95_ms': expected a number, got 'abc'"
// Getters record the FIRST error in the document (doc->rc, doc->err) and return the default, so
// a loader can read every field and check doc->rc once at the end. Anchors and aliases are
// refused (they make fuzzed inputs explode); tags are ignored; nesting is limited to 64 levels.
//
// Ownership: a YamlDoc owns all its nodes and strings (one arena); they live until yaml_doc_free.
#ifndef RS_YAML_H
#define RS_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

typedef enum { YAML_SCALAR = 0, YAML_MAP = 1, YAML_SEQ = 2 } YamlKind;

typedef struct YamlNode YamlNode;
struct YamlNode {
    YamlKind kind;
    int line;                  // 1-based line of the node's first character
    int key_line;              // line of its key under a map parent (else == line)
    bool quoted;               // scalar was quoted ("..." or '...'): never null/number by accident
    const char *str;           // YAML_SCALAR: the text (NUL-terminated)
    int64_t n;                 // YAML_MAP / YAML_SEQ: number of children
    const char **keys;         // YAML_MAP: keys[i] names vals[i] (scalar keys only)
    YamlNode **vals;           // YAML_MAP / YAML_SEQ: children
    const YamlNode *parent;    // NULL for the root
    const char *key;           // key under a map parent, or NULL
    int64_t index;             // index under a sequence parent
};

typedef struct {
    Arena arena;
    YamlNode *root;            // NULL for an empty document
    char file[256];            // name used in messages
    int rc;                    // first error (0 = none)
    char err[512];             // its message
} YamlDoc;

// Loads a file / a buffer. Returns 0, or a negative Err with the message in doc->err (also copied
// into err when non-NULL). On failure the doc is still safe to yaml_doc_free.
int yaml_load_file(YamlDoc *doc, const char *path, char *err, size_t err_len);
int yaml_load_buf(YamlDoc *doc, const char *name, const char *text, size_t len, char *err, size_t err_len);
// (Not "yaml_free": libyaml exports that name for its own allocator.)
void yaml_doc_free(YamlDoc *doc);

// Child of a map by key; NULL when map is NULL, not a map, or lacks the key.
const YamlNode *yaml_get(const YamlNode *map, const char *key);
// Follows a dotted path of map keys ("slo.ttft_p95_ms"); NULL when any step is missing.
const YamlNode *yaml_at(const YamlNode *root, const char *dotted);
// Writes the node's key path ("tiers[1].scheduler.max_num_seqs") into buf; returns buf.
char *yaml_path(const YamlNode *node, char *buf, size_t cap);
// True when the scalar means null (~, null, empty and unquoted).
bool yaml_is_null(const YamlNode *node);

// Records an error at node (or at the document when node is NULL) unless one is already recorded.
// The message is prefixed "FILE:LINE: key 'PATH': ". Returns ERR_FORMAT.
int yaml_error(YamlDoc *doc, const YamlNode *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// ---- typed getters on map[key] ----
// *_opt return dflt when the key is absent (or null); *_req record "missing" when it is absent.
// Numbers: plain decimal or exponent form, underscores allowed between digits ("2_000_000").
// A value outside [lo, hi] is an error that names the range.
double yaml_f64_opt(YamlDoc *doc, const YamlNode *map, const char *key, double dflt, double lo, double hi);
double yaml_f64_req(YamlDoc *doc, const YamlNode *map, const char *key, double lo, double hi);
int64_t yaml_i64_opt(YamlDoc *doc, const YamlNode *map, const char *key, int64_t dflt, int64_t lo, int64_t hi);
int64_t yaml_i64_req(YamlDoc *doc, const YamlNode *map, const char *key, int64_t lo, int64_t hi);
// Strings point into the doc (valid until yaml_doc_free).
const char *yaml_str_opt(YamlDoc *doc, const YamlNode *map, const char *key, const char *dflt);
const char *yaml_str_req(YamlDoc *doc, const YamlNode *map, const char *key);
bool yaml_bool_opt(YamlDoc *doc, const YamlNode *map, const char *key, bool dflt);
// Index of the value in names[0..n), or dflt when absent; an unknown word lists the choices.
int yaml_enum_opt(YamlDoc *doc, const YamlNode *map, const char *key, const char *const *names, int n, int dflt);
// A child that must be a map / a sequence (NULL when absent and not required, or on error).
const YamlNode *yaml_map_opt(YamlDoc *doc, const YamlNode *map, const char *key);
const YamlNode *yaml_map_req(YamlDoc *doc, const YamlNode *map, const char *key);
const YamlNode *yaml_seq_opt(YamlDoc *doc, const YamlNode *map, const char *key);
// Parses a scalar node itself (for sequence items). Errors name the node's path.
double yaml_node_f64(YamlDoc *doc, const YamlNode *node, double lo, double hi);
// Reads the sequence under key (absent = 0 rows) whose items are maps with exactly the numeric
// keys cols[0..n_cols), each required and within [lo[j], hi[j]], into out[row·n_cols + j].
// Returns the row count; more than max_rows is an error naming the sequence.
int64_t yaml_f64_rows(YamlDoc *doc, const YamlNode *map, const char *key, const char *const *cols, int n_cols,
                      const double *lo, const double *hi, double *out, int64_t max_rows);
// Reads the sequence of numbers under key (absent = 0), each within [lo, hi], into out; returns
// the count. More than max_n is an error naming the sequence.
int64_t yaml_f64_list(YamlDoc *doc, const YamlNode *map, const char *key, double lo, double hi, double *out,
                      int64_t max_n);
// Records an error for the first key of map not in allowed (a NULL-terminated list) — catches typos.
int yaml_check_keys(YamlDoc *doc, const YamlNode *map, const char *const *allowed);

#endif
