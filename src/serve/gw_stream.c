// gw_stream.c — what the gateway reads from backend answers for telemetry, and the pass-through
// of streams: bytes are framed by SSE event boundaries (a blank line) and each whole event goes
// to the client as it came, one event per backend event — never split, merged or re-encoded.
// Each event is also read: usage (asked of the backend with stream_options.include_usage),
// finish_reason, the first and last events that carry generated text (TTFT and TPOT at content
// tokens, not at the empty `role` chunk), the worker's `timings` and error events. A stream that
// breaks before its final chunk is ended for the client with a final chunk whose finish_reason is
// "error", an OpenAI error event and [DONE].
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/clock.h"
#include "serve/gw_body.h"
#include "serve/gw_int.h"
#include "serve/json_walk.h"
#include "serve/openai_err.h"
#include "serve/openai_resp.h"

static double num_or(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void read_usage_obj(GwReq *r, const cJSON *u) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    if (cJSON_IsNumber(p)) r->prompt_tokens = (int64_t)p->valuedouble;
    if (cJSON_IsNumber(c)) r->output_tokens = (int64_t)c->valuedouble;
    if (cJSON_IsNumber(p) || cJSON_IsNumber(c)) r->usage_source = "backend";
}

// The worker's `timings` extension (llama.cpp's names): backend TTFT/TPOT/queue and the mean
// batch the request ran in.
static void read_timings(GwReq *r, const cJSON *t) {
    if (!cJSON_IsObject(t)) return;
    r->backend_ttft_ms = num_or(t, "ttft_ms", r->backend_ttft_ms);
    r->backend_tpot_ms = num_or(t, "predicted_per_token_ms", r->backend_tpot_ms);
    r->backend_queue_ms = num_or(t, "queue_ms", r->backend_queue_ms);
    r->batch_size_mean = num_or(t, "batch_size", r->batch_size_mean);
}

static void read_error(GwReq *r, const cJSON *e) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    snprintf(r->error, sizeof r->error, "%s", cJSON_IsString(m) ? m->valuestring : "backend error");
}

void gw_read_answer(GwReq *r, const cJSON *resp) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    if (cJSON_IsObject(u)) read_usage_obj(r, u);
    read_timings(r, cJSON_GetObjectItemCaseSensitive(resp, "timings"));
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(resp, "choices");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ch, 0), "finish_reason");
    if (cJSON_IsString(f)) snprintf(r->finish, sizeof r->finish, "%s", f->valuestring);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp, "error");
    if (cJSON_IsObject(e)) read_error(r, e);
}

// A member small enough to parse for what it holds (usage, timings, an error, a finish_reason).
#define SMALL_MEMBER (64 * 1024)

static cJSON *parse_member(const char *s, const JsonItem *m) {
    return m->end - m->value <= SMALL_MEMBER ? cJSON_ParseWithLength(s + m->value, m->end - m->value) : NULL;
}

// choices[0].finish_reason, walked.
static void read_finish_raw(GwReq *r, const char *s, size_t len, const JsonItem *choices) {
    JsonIter a, o;
    JsonItem first, m;
    if (!json_iter_array(&a, s, len, choices->value) || !json_iter_next_item(&a, &first)) return;
    if (!json_iter_object(&o, s, first.end, first.value)) return;
    while (json_iter_next_member(&o, &m)) {
        if (!json_item_key_is(&o, &m, "finish_reason")) continue;
        cJSON *f = parse_member(s, &m);
        if (cJSON_IsString(f)) snprintf(r->finish, sizeof r->finish, "%s", f->valuestring);
        cJSON_Delete(f);
        return;
    }
}

void gw_read_answer_raw(GwReq *r, const char *s, size_t len) {
    JsonIter it;
    JsonItem m;
    if (!s || !json_iter_object(&it, s, len, 0)) return;
    enum { USAGE = 1, TIMINGS = 2, CHOICES = 4, ERROR = 8 };
    unsigned seen = 0;   // the first of a repeated member counts, as in the tree
    while (json_iter_next_member(&it, &m)) {
        unsigned k = json_item_key_is(&it, &m, "usage")     ? USAGE
                     : json_item_key_is(&it, &m, "timings") ? TIMINGS
                     : json_item_key_is(&it, &m, "choices") ? CHOICES
                     : json_item_key_is(&it, &m, "error")   ? ERROR
                                                            : 0;
        if (!k || (seen & k)) continue;
        seen |= k;
        if (k == CHOICES) {
            read_finish_raw(r, s, len, &m);
            continue;
        }
        cJSON *j = parse_member(s, &m);
        if (k == USAGE && cJSON_IsObject(j)) read_usage_obj(r, j);
        if (k == TIMINGS) read_timings(r, j);
        if (k == ERROR && cJSON_IsObject(j)) read_error(r, j);
        cJSON_Delete(j);
    }
}

// The span of the top-level "model" member's value in the object text s; false when none.
static bool model_span(const char *s, size_t len, JsonItem *m) {
    JsonIter it;
    if (!json_iter_object(&it, s, len, 0)) return false;
    while (json_iter_next_member(&it, m))
        if (json_item_key_is(&it, m, "model")) return true;
    return false;
}

int gw_json_set_model(Buf *out, const char *s, size_t len, const char *name) {
    JsonItem m;
    if (!s || !model_span(s, len, &m)) return 1;
    int rc = buf_append(out, s, m.value);
    if (!rc) rc = gw_body_put_string(out, name);
    if (!rc) rc = buf_append(out, s + m.end, len - m.end);
    return rc;
}

// Generated text in a chunk's choice: text, delta content, or tool-call arguments.
static bool has_text(const cJSON *choice) {
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(choice, "text");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(delta, "content");
    if (cJSON_IsString(t) && t->valuestring[0]) return true;
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"), *x;
    cJSON_ArrayForEach(x, tc) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(x, "function"), "arguments");
        if (cJSON_IsString(a) && a->valuestring[0]) return true;
    }
    return false;
}

// Reads one chunk. Returns false when the event is to be dropped (the usage chunk the gateway
// asked for on the client's behalf).
static bool read_chunk(GwCall *c, const cJSON *j, int64_t now_us) {
    GwReq *r = c->req;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsObject(e)) {
        read_error(r, e);
        c->saw_error = true;
        return true;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id"), *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "object");
    if (cJSON_IsString(id)) snprintf(c->chunk_id, sizeof c->chunk_id, "%s", id->valuestring);
    if (cJSON_IsString(model)) snprintf(c->chunk_model, sizeof c->chunk_model, "%s", model->valuestring);
    c->chunk_created = num_or(j, "created", c->chunk_created);
    if (cJSON_IsString(obj)) c->chunk_chat = strstr(obj->valuestring, "chat") != NULL;
    read_timings(r, cJSON_GetObjectItemCaseSensitive(j, "timings"));
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        read_usage_obj(r, u);
        if (c->drop_usage && cJSON_GetArraySize(choices) == 0) return false;
    }
    const cJSON *ch = cJSON_GetArrayItem(choices, 0);
    if (!ch) return true;
    if (has_text(ch)) {
        if (!r->t_first_token_us) r->t_first_token_us = now_us;
        r->t_last_token_us = now_us;
        r->n_content_events++;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
    if (cJSON_IsString(f)) {
        snprintf(r->finish, sizeof r->finish, "%s", f->valuestring);
        c->saw_finish = true;
    }
    return true;
}

// The data of one event (its `data:` lines joined by '\n') into out. False when it has none.
static bool event_data(const char *ev, size_t len, Buf *out) {
    bool any = false;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && ev[e] != '\n' && ev[e] != '\r') e++;
        if (e - i >= 5 && memcmp(ev + i, "data:", 5) == 0) {
            size_t v = i + 5 + (i + 5 < e && ev[i + 5] == ' ');
            if (any) buf_append(out, "\n", 1);
            buf_append(out, ev + v, e - v);
            any = true;
        }
        i = e + (e < len && ev[e] == '\r' && e + 1 < len && ev[e + 1] == '\n' ? 2 : 1);
    }
    return any;
}

// What one pass over a chunk's JSON text finds, without parsing it: whether it has a key that
// needs the full parse (a non-null usage, timings, error or finish_reason) and whether it carries
// generated text (a non-empty string under "content", "text" or "arguments"). Strings are skipped
// whole (escapes included) and a key is a string followed by a colon, so the same words inside
// text never match.
typedef struct {
    bool needs_parse, text;
} ChunkScan;

// The closing quote of the JSON string opened at *open (an even run of backslashes before it),
// or NULL when the text ends first.
static const char *string_end(const char *open, const char *end) {
    for (const char *e = open + 1; e < end && (e = memchr(e, '"', (size_t)(end - e))) != NULL; e++) {
        size_t bs = 0;
        for (const char *b = e - 1; b > open && *b == '\\'; b--) bs++;
        if (bs % 2 == 0) return e;
    }
    return NULL;
}

static const char *skip_blanks(const char *v, const char *end) {
    while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')) v++;
    return v;
}

static ChunkScan scan_chunk(const char *s, size_t len) {
    static const struct { const char *key; size_t len; int kind; } keys[] = {
        {"usage", 5, 0}, {"timings", 7, 0}, {"error", 5, 0}, {"finish_reason", 13, 0},
        {"content", 7, 1}, {"text", 4, 1}, {"arguments", 9, 1},
    };
    ChunkScan out = {0};
    const char *end = s + len, *p = s;
    // Strings are skipped whole, so p is at an opening quote whenever it is at a quote at all.
    while (p < end && (p = memchr(p, '"', (size_t)(end - p))) != NULL) {
        const char *q = string_end(p, end);
        if (!q) break;
        const char *v = skip_blanks(q + 1, end);
        if (v >= end || *v != ':') {   // a string value (in an array): not a key
            p = q + 1;
            continue;
        }
        v = skip_blanks(v + 1, end);
        size_t kl = (size_t)(q - p - 1);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            if (keys[k].len != kl || memcmp(p + 1, keys[k].key, kl) != 0) continue;
            if (keys[k].kind == 0 && v < end && *v != 'n') out.needs_parse = true;
            if (keys[k].kind == 1 && v + 1 < end && *v == '"' && v[1] != '"') out.text = true;
        }
        if (v < end && *v == '"') {   // the key's string value, skipped whole
            const char *e = string_end(v, end);
            p = e ? e + 1 : end;
        } else {
            p = v;
        }
    }
    return out;
}

// Reads one chunk's JSON text. Most events of a stream are plain text deltas: once the stream's
// first chunk was read in full, an event without usage, timings, error or a finish_reason is
// only scanned for text (no parse, no allocation on the loop thread); anything else is parsed.
static bool read_data(GwCall *c, const char *d, size_t len, int64_t now_us) {
    if (c->chunk_read) {   // (not keyed on an id: a backend may send chunks without one)
        ChunkScan sc = scan_chunk(d, len);
        if (!sc.needs_parse) {
            if (sc.text) {
                GwReq *r = c->req;
                if (!r->t_first_token_us) r->t_first_token_us = now_us;
                r->t_last_token_us = now_us;
                r->n_content_events++;
            }
            return true;
        }
    }
    cJSON *j = cJSON_ParseWithLength(d, len);
    bool keep = j ? read_chunk(c, j, now_us) : true;
    if (j) c->chunk_read = true;
    cJSON_Delete(j);
    return keep;
}

static void one_event(GwCall *c, const char *ev, size_t len, int64_t now_us) {
    bool keep = true;
    c->n_events++;
    // The common shape, one "data: " line, is read in place; several data lines are joined.
    const char *d = NULL;
    size_t dl = 0;
    Buf joined = {0};
    size_t body = len;
    while (body > 6 && (ev[body - 1] == '\n' || ev[body - 1] == '\r')) body--;
    if (body > 6 && memcmp(ev, "data: ", 6) == 0 && !memchr(ev + 6, '\n', body - 6)) {
        d = ev + 6;
        dl = body - 6;
    } else if (event_data(ev, len, &joined) && joined.data) {
        d = joined.data;
        dl = joined.len;
    }
    if (d && dl == 6 && memcmp(d, "[DONE]", 6) == 0) c->saw_done = true;
    else if (d && dl) keep = read_data(c, d, dl, now_us);
    bool one_line = d && !joined.data;   // d points into ev
    buf_free(&joined);
    if (!keep) return;
    // The public model name the client asked for in place of the backend's (a one-line event).
    JsonItem m;
    if (c->req->rewrite_model && one_line && model_span(d, dl, &m)) {
        size_t at = (size_t)(d - ev);
        Buf b = {0};
        int rc = buf_append(&b, ev, at + m.value);
        if (!rc) rc = gw_body_put_string(&b, c->req->model);
        if (!rc) rc = buf_append(&b, ev + at + m.end, len - at - m.end);
        if (!rc && b.data) {
            gw_req_stream_append(c->req, b.data, b.len);
            buf_free(&b);
            return;
        }
        buf_free(&b);
    }
    gw_req_stream_append(c->req, ev, len);
}

// End of the first event in [p, p+len): the offset just past its blank line, or 0. Lines end
// in LF or CRLF (found with memchr); a stream that ends its lines with CR alone is framed by the
// byte loop.
static size_t event_end(const char *p, size_t len) {
    const char *end = p + len;
    for (const char *q = p; q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++) {
        if (q + 1 < end && q[1] == '\n') return (size_t)(q + 2 - p);
        if (q + 2 < end && q[1] == '\r' && q[2] == '\n') return (size_t)(q + 3 - p);
    }
    if (!memchr(p, '\r', len) || memchr(p, '\n', len)) return 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\r') return i + 2;
    return 0;
}

#define SSE_MAX_EVENT (4u << 20)   // an "event" this long without a blank line is not SSE: pass it on

void gw_stream_feed(GwCall *c, const char *p, size_t len, int64_t now_us) {
    // Fast path: nothing pending and the bytes hold whole events.
    const char *src = p;
    size_t n = len;
    if (c->sse.len) {
        CHECK(buf_append(&c->sse, p, len) == 0);
        src = c->sse.data;
        n = c->sse.len;
    }
    size_t off = 0, e;
    while ((e = event_end(src + off, n - off)) > 0) {
        one_event(c, src + off, e, now_us);
        off += e;
    }
    if (src == p) {
        if (off < n) CHECK(buf_append(&c->sse, p + off, n - off) == 0);
    } else if (off) {
        memmove(c->sse.data, c->sse.data + off, n - off);
        c->sse.len = n - off;
    }
    if (c->sse.len > SSE_MAX_EVENT) {
        gw_req_stream_append(c->req, c->sse.data, c->sse.len);
        c->sse.len = 0;
    }
}

void gw_stream_end(GwCall *c, bool ok, int status, const char *why) {
    GwReq *r = c->req;
    if (c->too_large) c->sse.len = 0;   // cut at the cap: the event it was in stays unsent
    if (c->sse.len) {   // a last event without its blank line: read and forward it as it is
        size_t n = c->sse.len;
        c->sse.len = 0;
        one_event(c, c->sse.data, n, clock_now_us());
    }
    if (r->output_tokens < 0 && r->n_content_events > 0) {
        r->output_tokens = r->n_content_events;   // the backend sent no usage: events with text
        r->usage_source = "counted";
    }
    if (ok && (c->saw_done || c->saw_finish) && !c->saw_error) return;
    if (gw_req_gone(r)) {   // the client left first: nothing to tell it
        r->tel_status = 499;
        snprintf(r->error, sizeof r->error, "the client left after %lld events", (long long)c->n_events);
        return;
    }
    if (c->saw_error) {
        snprintf(r->finish, sizeof r->finish, "error");
        r->tel_status = 502;
        return;   // the backend said why itself (its error event went to the client)
    }
    // Broken: tell the client in the stream itself.
    if (!r->error[0])
        snprintf(r->error, sizeof r->error, "tier '%s' stream ended after %lld events without a final chunk: %s",
                 r->gw->p.tiers[r->tier].name, (long long)c->n_events, why && why[0] ? why : "connection closed");
    snprintf(r->finish, sizeof r->finish, "error");
    r->tel_status = status;
    Buf b = {0};
    bool chat = c->chunk_id[0] ? c->chunk_chat : r->ep == RT_EP_CHAT;
    buf_append_str(&b, "data: {\"id\":");
    oai_json_str(&b, c->chunk_id, strlen(c->chunk_id));
    buf_printf(&b, ",\"object\":\"%s\",\"created\":%.0f,\"model\":", chat ? "chat.completion.chunk" : "text_completion",
               c->chunk_created);
    const char *model = r->rewrite_model ? r->model : c->chunk_model;
    oai_json_str(&b, model, strlen(model));
    buf_printf(&b, ",\"choices\":[{\"index\":0,%s,\"logprobs\":null,\"finish_reason\":\"error\"}]}\n\n",
               chat ? "\"delta\":{}" : "\"text\":\"\"");
    OaiError e;
    oai_err(&e, status, "server_error", NULL,
            c->too_large ? "response_too_large" : status == 504 ? "timeout" : "backend_stream_broken", "%s", r->error);
    buf_append_str(&b, "data: ");
    oai_resp_error(&b, &e);
    buf_append_str(&b, "\n\ndata: [DONE]\n\n");
    CHECK(b.data);
    gw_req_stream_append(r, b.data, b.len);
    buf_free(&b);
}
