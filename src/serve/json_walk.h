// json_walk.h — walking JSON text without building a tree: the byte ranges of an object's members
// and of an array's items. The gateway reads the few small members it needs from a backend's
// answer this way (and parses only those), so a 1 MiB answer costs a scan on the loop thread,
// not a parse into a tree and a free of it. Never reads past len; malformed text ends the walk.
// Keys are compared as raw bytes (an escaped key such as "mod\u0065l" does not match "model").
#ifndef RS_JSON_WALK_H
#define RS_JSON_WALK_H

#include <stdbool.h>
#include <stddef.h>

// Any byte up to the space (cJSON's whitespace): i → the first byte after it.
size_t json_walk_ws(const char *s, size_t len, size_t i);
// i at an opening quote → one past the closing quote (len when unterminated).
size_t json_walk_string(const char *s, size_t len, size_t i);
// i at a value's first byte → one past its last.
size_t json_walk_value(const char *s, size_t len, size_t i);

typedef struct {
    const char *s;
    size_t len, pos;
    bool done;
} JsonIter;

typedef struct {
    size_t key, key_len;   // the key's bytes inside its quotes (objects only)
    size_t value, end;     // the value's first byte and one past its last
} JsonItem;

// Starts a walk over the object (or array) whose opening bracket is at s[open] (after whitespace).
// False when there is none.
bool json_iter_object(JsonIter *it, const char *s, size_t len, size_t open);
bool json_iter_array(JsonIter *it, const char *s, size_t len, size_t open);
// The next member (object) or item (array); false at the end or on malformed text.
bool json_iter_next_member(JsonIter *it, JsonItem *m);
bool json_iter_next_item(JsonIter *it, JsonItem *m);
// Whether member m's key is name.
bool json_item_key_is(const JsonIter *it, const JsonItem *m, const char *name);

#endif
