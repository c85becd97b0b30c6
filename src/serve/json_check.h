// json_check.h — the checks cJSON does not make on a request body, shared by the worker and the
// gateway so both refuse the same bodies:
//   - bytes after the JSON value (`{"a":1}garbage`),
//   - a NUL character in a string (`"\u0000"`), which cJSON would silently cut the string at,
//   - a key given twice in one object (`{"max_tokens":1,"max_tokens":100000}`): cJSON keeps both
//     and returns the first, a Python backend takes the last, so a limit checked on one copy could
//     be bypassed by the other.
#ifndef RS_JSON_CHECK_H
#define RS_JSON_CHECK_H

#include <stddef.h>

#include <cjson/cJSON.h>

// Parses body[0..len) with cJSON and makes the checks above. Returns the tree (the caller frees it
// with cJSON_Delete), or NULL with a one-line reason in msg ("the request body ... (near byte N)").
cJSON *json_check_parse(const char *body, size_t len, char *msg, size_t cap);

#endif
