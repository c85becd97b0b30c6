// libFuzzer target: the YAML loader and every getter must survive arbitrary bytes.
#include <stddef.h>
#include <stdint.h>

#include "base/yaml.h"

static void walk(YamlDoc *d, const YamlNode *n, int depth) {
    char path[256];
    yaml_path(n, path, sizeof path);
    if (n->kind == YAML_SCALAR) {
        yaml_node_f64(d, n, -1e18, 1e18);
        d->rc = 0;
        return;
    }
    for (int64_t i = 0; i < n->n; i++) walk(d, n->vals[i], depth + 1);
    if (n->kind == YAML_MAP && n->n) {
        yaml_f64_opt(d, n, n->keys[0], 0, -1, 1);
        yaml_i64_opt(d, n, n->keys[0], 0, -5, 5);
        yaml_bool_opt(d, n, n->keys[0], false);
        yaml_str_opt(d, n, n->keys[0], "");
        yaml_map_opt(d, n, n->keys[0]);
        yaml_seq_opt(d, n, n->keys[0]);
        static const char *const allowed[] = {"a", "b", NULL};
        yaml_check_keys(d, n, allowed);
        d->rc = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    YamlDoc d;
    char err[128];
    if (yaml_load_buf(&d, "fuzz.yaml", (const char *)data, size, err, sizeof err) == 0 && d.root)
        walk(&d, d.root, 0);
    yaml_doc_free(&d);
    return 0;
}
