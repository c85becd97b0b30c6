// pipeline_int.h — pieces of the pipeline loader shared by pipeline.c and pipeline_access.c.
// Not a public header.
#ifndef RS_PIPELINE_INT_H
#define RS_PIPELINE_INT_H

#include <stdbool.h>

#include "base/yaml.h"
#include "serve/pipeline.h"

// Names used in metrics labels and telemetry: 1-47 of [A-Za-z0-9_.-].
bool pipe_valid_name(const char *s);
// A tier's api_key_env / api_key_file / headers (check_files: the key must be readable now).
void pipe_load_tier_access(YamlDoc *doc, PipeTier *t, const YamlNode *n, bool check_files);
// `models:` (after the routes).
void pipe_load_models(YamlDoc *doc, Pipeline *p, const YamlNode *root);
// `keys:` and `keys_file:` (after the models; the file is read when check_files).
void pipe_load_keys(YamlDoc *doc, Pipeline *p, const YamlNode *root, bool check_files);
// `shared:` (Redis for the keys' counters).
void pipe_load_shared(YamlDoc *doc, Pipeline *p, const YamlNode *root, bool check_files);

#endif
