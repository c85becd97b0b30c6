// task.c — labelled-prompt accuracy of an OpenAI-compatible endpoint (see task.h).
#include "eval/task.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/check.h"
#include "base/clock.h"
#include "policy/cascade.h"

static const char *const MATCH_NAMES[TASK_MATCH_COUNT] = {
    [TASK_MATCH_EXACT] = "exact", [TASK_MATCH_CONTAINS] = "contains", [TASK_MATCH_REGEX] = "regex",
};

// ---- task file ----

void task_free(Task *t) {
    for (int64_t i = 0; i < t->n; i++) {
        free(t->items[i].body_input);
        free(t->items[i].label);
        free(t->items[i].id);
    }
    free(t->items);
    memset(t, 0, sizeof *t);
}

static int parse_item(const cJSON *o, const char *label_key, TaskItem *it, char *why, size_t why_len) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "messages");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, label_key);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "match");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsObject(o)) return snprintf(why, why_len, "not a JSON object"), -1;
    if (!!p == !!m) return snprintf(why, why_len, "give one of \"prompt\" (a string) or \"messages\" (an array)"), -1;
    if (p && !cJSON_IsString(p)) return snprintf(why, why_len, "\"prompt\" must be a string"), -1;
    if (m && (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0))
        return snprintf(why, why_len, "\"messages\" must be a non-empty array"), -1;
    if (!cJSON_IsString(l)) return snprintf(why, why_len, "\"%s\" (a string: the label) is required; --label-field KEY reads it from another key", label_key), -1;
    it->match = TASK_MATCH_EXACT;
    if (mt) {
        int k = -1;
        for (int i = 0; i < TASK_MATCH_COUNT && cJSON_IsString(mt); i++)
            if (strcmp(mt->valuestring, MATCH_NAMES[i]) == 0) k = i;
        if (k < 0) return snprintf(why, why_len, "\"match\" must be \"exact\", \"contains\" or \"regex\""), -1;
        it->match = (TaskMatch)k;
    }
    if (it->match == TASK_MATCH_REGEX) {
        regex_t re;
        if (regcomp(&re, l->valuestring, REG_EXTENDED | REG_NOSUB) != 0)
            return snprintf(why, why_len, "label is not a valid POSIX extended regex"), -1;
        regfree(&re);
    }
    it->is_chat = m != NULL;
    it->body_input = cJSON_PrintUnformatted(m ? m : p);
    it->label = strdup(l->valuestring);
    it->id = id ? cJSON_PrintUnformatted(id) : NULL;
    if (!it->body_input || !it->label || (id && !it->id)) return snprintf(why, why_len, "out of memory"), -1;
    return 0;
}

int task_load(Task *t, const char *path, const char *label_key, char *err, size_t err_len) {
    memset(t, 0, sizeof *t);
    if (!label_key) label_key = "label";
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int64_t lineno = 0, item_cap = 0;
    int rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (!*s || *s == '#') continue;
        if (t->n == item_cap) {
            item_cap = item_cap ? 2 * item_cap : 64;
            TaskItem *ni = realloc(t->items, (size_t)item_cap * sizeof *ni);
            if (!ni) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); break; }
            t->items = ni;
        }
        TaskItem *it = &t->items[t->n];
        memset(it, 0, sizeof *it);
        cJSON *o = cJSON_Parse(s);
        char why[160];
        if (!o) snprintf(why, sizeof why, "not valid JSON");
        int bad = !o || parse_item(o, label_key, it, why, sizeof why);
        cJSON_Delete(o);
        t->n++;
        if (bad) { rc = err_set(err, err_len, ERR_FORMAT, "%s:%lld: %s", path, (long long)lineno, why); break; }
    }
    free(line);
    fclose(f);
    if (rc == 0 && t->n == 0) rc = err_set(err, err_len, ERR_FORMAT, "%s: no labelled prompts in the file", path);
    if (rc) task_free(t);
    return rc;
}

// ---- matching ----

// Copies the first line of s, trimmed, into a new string.
static char *first_line(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strcspn(s, "\r\n");
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return strndup(s, n);
}

bool task_match(TaskMatch m, const char *label, const char *reply) {
    switch (m) {
    case TASK_MATCH_EXACT: return strcasecmp(label, reply) == 0;
    case TASK_MATCH_CONTAINS: return strcasestr(reply, label) != NULL;
    case TASK_MATCH_REGEX: {
        regex_t re;
        if (regcomp(&re, label, REG_EXTENDED | REG_NOSUB) != 0) return false;
        bool ok = regexec(&re, reply, 0, NULL, 0) == 0;
        regfree(&re);
        return ok;
    }
    default: CHECK(0); return false;
    }
}

// ---- requests ----

typedef struct {
    int64_t item;
    char *body;
    size_t len, cap;
    char tier[32];
    double cost_usd;
    int64_t t0_us;
    struct curl_slist *hdrs;
    char *req;
} Slot;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    Slot *s = ud;
    size_t k = sz * n;
    if (s->len + k + 1 > s->cap) {
        size_t nc = (s->len + k + 1) * 2;
        char *nb = realloc(s->body, nc);
        if (!nb) return 0;
        s->body = nb;
        s->cap = nc;
    }
    memcpy(s->body + s->len, p, k);
    s->len += k;
    s->body[s->len] = 0;
    return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    Slot *s = ud;
    size_t k = sz * n;
    char line[160];
    size_t m = k < sizeof line - 1 ? k : sizeof line - 1;
    memcpy(line, p, m);
    line[m] = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (strncasecmp(line, "x-rightsize-cost-usd:", 21) == 0) s->cost_usd = strtod(line + 21, NULL);
    else if (strncasecmp(line, "x-rightsize-tier:", 17) == 0) {
        const char *v = line + 17;
        while (*v == ' ') v++;
        size_t vl = strnlen(v, sizeof s->tier - 1);
        memcpy(s->tier, v, vl);
        s->tier[vl] = 0;
    }
    return k;
}

static char *request_body(const TaskItem *it, const TaskOptions *o) {
    size_t n = strlen(it->body_input) + (o->model ? strlen(o->model) * 2 : 0) + 160;
    char *b = malloc(n);
    if (!b) return NULL;
    char model[300] = "";
    if (o->model) {
        cJSON *s = cJSON_CreateString(o->model);
        char *q = s ? cJSON_PrintUnformatted(s) : NULL;
        if (q) snprintf(model, sizeof model, "\"model\":%s,", q);
        free(q);
        cJSON_Delete(s);
    }
    if (it->is_chat || !o->completions)
        snprintf(b, n, "{%s\"messages\":%s%s%s,\"max_tokens\":%lld,\"temperature\":0%s}", model,
                 it->is_chat ? "" : "[{\"role\":\"user\",\"content\":", it->body_input, it->is_chat ? "" : "}]",
                 (long long)o->max_tokens, o->want_logprobs ? ",\"logprobs\":true" : "");
    else
        snprintf(b, n, "{%s\"prompt\":%s,\"max_tokens\":%lld,\"temperature\":0%s}", model, it->body_input,
                 (long long)o->max_tokens, o->want_logprobs ? ",\"logprobs\":0" : "");
    return b;
}

static int start_request(CURLM *multi, Slot *s, const Task *t, int64_t item, const TaskOptions *o, const char *base) {
    const TaskItem *it = &t->items[item];
    char url[1100];
    snprintf(url, sizeof url, "%s/v1/%s", base, it->is_chat || !o->completions ? "chat/completions" : "completions");
    memset(s, 0, sizeof *s);
    s->item = item;
    s->cost_usd = NAN;
    s->req = request_body(it, o);
    s->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (s->hdrs && o->send_labels && it->match == TASK_MATCH_EXACT && !strpbrk(it->label, "\r\n")) {
        size_t hl = strlen(it->label) + 32;
        char *h = malloc(hl);
        if (h) {
            snprintf(h, hl, "x-rightsize-label: %s", it->label);
            struct curl_slist *nh = curl_slist_append(s->hdrs, h);
            if (nh) s->hdrs = nh;
            free(h);
        }
    }
    CURL *c = curl_easy_init();
    if (!s->req || !s->hdrs || !c) { curl_easy_cleanup(c); return ERR_NOMEM; }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->req);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)o->timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PRIVATE, s);
    s->t0_us = clock_now_us();
    curl_multi_add_handle(multi, c);
    return 0;
}

// Confidence from choices[0].logprobs: chat "content"[].logprob or completions "token_logprobs"[].
static double reply_confidence(const cJSON *ch) {
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(ch, "logprobs");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(lp, "content");
    bool chat = arr != NULL;
    if (!chat) arr = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
    if (!cJSON_IsArray(arr)) return NAN;
    int n = cJSON_GetArraySize(arr);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return NAN;
    int k = 0;
    for (const cJSON *e = arr->child; e; e = e->next) {
        const cJSON *x = chat ? cJSON_GetObjectItemCaseSensitive(e, "logprob") : e;
        if (cJSON_IsNumber(x)) v[k++] = x->valuedouble;
    }
    double c = cascade_confidence(v, k, CASCADE_MEAN);
    free(v);
    return c;
}

// The reply text: choices[0].message.content (chat) or choices[0].text, whole; *conf from its logprobs.
static char *reply_text(const char *body, double *conf) {
    cJSON *o = cJSON_Parse(body ? body : "");
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
    const cJSON *txt = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : cJSON_GetObjectItemCaseSensitive(ch, "text");
    char *r = cJSON_IsString(txt) ? strdup(txt->valuestring) : NULL;
    *conf = ch ? reply_confidence(ch) : NAN;
    cJSON_Delete(o);
    return r;
}

static void finish_request(CURLM *multi, CURL *c, CURLcode code, const Task *t, TaskResult *r) {
    Slot *s;
    curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&s);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    TaskOutcome *out = &r->outcomes[s->item];
    out->http_status = (int)status;
    out->latency_s = (double)(clock_now_us() - s->t0_us) / 1e6;
    out->cost_usd = s->cost_usd;
    snprintf(out->tier, sizeof out->tier, "%s", s->tier);
    out->confidence = NAN;
    out->text = code == CURLE_OK && status == 200 ? reply_text(s->body, &out->confidence) : NULL;
    out->reply = out->text ? first_line(out->text) : NULL;
    out->error = out->reply == NULL;
    if (out->error) {
        char msg[200];
        snprintf(msg, sizeof msg, "(error: %s, HTTP %ld)", code == CURLE_OK ? "bad reply" : curl_easy_strerror(code), status);
        out->reply = strdup(msg);
    } else {
        const TaskItem *it = &t->items[s->item];
        out->correct = task_match(it->match, it->label, out->reply);
    }
    curl_multi_remove_handle(multi, c);
    curl_easy_cleanup(c);
    curl_slist_free_all(s->hdrs);
    free(s->req);
    free(s->body);
    memset(s, 0, sizeof *s);
    s->item = -1;
}

static void summarize(TaskResult *r) {
    double lat = 0;
    for (int64_t i = 0; i < r->n; i++) {
        const TaskOutcome *o = &r->outcomes[i];
        r->correct += o->correct;
        r->errors += o->error;
        lat += o->latency_s;
        if (!isnan(o->cost_usd)) { r->cost_usd += o->cost_usd; r->n_cost++; }
    }
    r->accuracy = (double)r->correct / (double)r->n;
    r->latency_mean_s = lat / (double)r->n;
    r->cost_per_1k_usd = r->n_cost ? r->cost_usd / (double)r->n_cost * 1000.0 : NAN;
}

int task_run(const Task *t, const TaskOptions *o, TaskResult *r, char *err, size_t err_len) {
    memset(r, 0, sizeof *r);
    char base[1024];
    snprintf(base, sizeof base, "%s", o->url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') base[--bl] = 0;
    if (bl >= 3 && strcmp(base + bl - 3, "/v1") == 0) base[bl -= 3] = 0;
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        return err_set(err, err_len, ERR_ARG, "--url must start with http:// or https:// (got '%s')", o->url);
    int64_t conc = o->concurrency < t->n ? o->concurrency : t->n;
    r->n = t->n;
    r->outcomes = calloc((size_t)t->n, sizeof *r->outcomes);
    Slot *slots = calloc((size_t)conc, sizeof *slots);
    CURLM *multi = curl_multi_init();
    int rc = 0;
    if (!r->outcomes || !slots || !multi) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto fail; }
    int64_t next = 0, t0 = clock_now_us();
    for (int64_t k = 0; k < conc; k++, next++)
        if (start_request(multi, &slots[k], t, next, o, base)) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto fail; }
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            Slot *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            finish_request(multi, msg->easy_handle, msg->data.result, t, r);
            if (next < t->n) {
                if (start_request(multi, s, t, next++, o, base)) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto fail; }
                running = 1;
            }
        }
        if (running) curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    r->wall_s = (double)(clock_now_us() - t0) / 1e6;
    summarize(r);
fail:
    if (multi) curl_multi_cleanup(multi);
    free(slots);
    if (rc) task_result_free(r);
    return rc;
}

void task_result_free(TaskResult *r) {
    for (int64_t i = 0; r->outcomes && i < r->n; i++) {
        free(r->outcomes[i].reply);
        free(r->outcomes[i].text);
    }
    free(r->outcomes);
    memset(r, 0, sizeof *r);
}
