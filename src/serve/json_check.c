// json_check.c — see json_check.h.
#include "serve/json_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Offset of the first "\u0000" escape inside a JSON string in s[0..len), or -1. A backslash escape
// is skipped whole, so "\\u0000" (an escaped backslash, then text) is not one.
static long find_nul_escape(const char *s, size_t len) {
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!in_str) {
            if (c == '"') in_str = 1;
            continue;
        }
        if (c == '"') {
            in_str = 0;
        } else if (c == '\\' && i + 1 < len) {
            if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0) return (long)i;
            i++;  // the escaped character
        } else if (c == '\0') {
            return (long)i;  // a raw NUL is not valid JSON either
        }
    }
    return -1;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// The first key given twice in any object of the tree, or NULL. Each object's names are sorted
// (O(k log k)), so a body with many keys cannot make this quadratic.
static const char *find_duplicate_key(const cJSON *node) {
    for (; node; node = node->next) {
        if (cJSON_IsObject(node)) {
            size_t n = 0;
            for (const cJSON *c = node->child; c; c = c->next) n++;
            if (n > 1) {
                const char **names = malloc(n * sizeof *names);
                if (!names) return NULL;
                size_t k = 0;
                for (const cJSON *c = node->child; c; c = c->next) names[k++] = c->string ? c->string : "";
                qsort(names, n, sizeof *names, cmp_names);
                const char *dup = NULL;
                for (size_t i = 1; i < n && !dup; i++)
                    if (strcmp(names[i - 1], names[i]) == 0) dup = names[i];
                free(names);
                if (dup) return dup;
            }
        }
        if (node->child) {
            const char *d = find_duplicate_key(node->child);
            if (d) return d;
        }
    }
    return NULL;
}

cJSON *json_check_parse(const char *body, size_t len, char *msg, size_t cap) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body ? body : "", len, &end, 0);
    if (!root) {
        size_t at = end && body ? (size_t)(end - body) : 0;
        snprintf(msg, cap, "the request body is not valid JSON (error near byte %zu)", at > len ? len : at);
        return NULL;
    }
    for (const char *p = end; p && p < body + len; p++)
        if (!strchr(" \t\r\n", *p)) {
            snprintf(msg, cap, "the request body has bytes after its JSON value (near byte %zu)", (size_t)(p - body));
            goto fail;
        }
    long nul = find_nul_escape(body, len);
    if (nul >= 0) {
        snprintf(msg, cap, "the request body has a NUL character (\\u0000) in a string (near byte %ld)", nul);
        goto fail;
    }
    const char *dup = find_duplicate_key(root);
    if (dup) {
        snprintf(msg, cap, "the request body gives the key '%.64s' twice in one object", dup);
        goto fail;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}
