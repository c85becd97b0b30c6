#include "serve/openai_resp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "serve/textout.h"

// ---- JSON pieces ----

int oai_json_str(Buf *out, const char *s, size_t len) {
    if (buf_reserve(out, len + 2)) return ERR_NOMEM;
    int rc = buf_append(out, "\"", 1);
    size_t i = 0;
    while (i < len && !rc) {
        size_t run = i;  // copy runs of plain printable ASCII in one go
        while (run < len && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x80 && s[run] != '"' &&
               s[run] != '\\')
            run++;
        if (run > i) {
            rc = buf_append(out, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"') rc = buf_append(out, "\\\"", 2), i++;
        else if (c == '\\') rc = buf_append(out, "\\\\", 2), i++;
        else if (c == '\n') rc = buf_append(out, "\\n", 2), i++;
        else if (c == '\r') rc = buf_append(out, "\\r", 2), i++;
        else if (c == '\t') rc = buf_append(out, "\\t", 2), i++;
        else if (c < 0x20) rc = buf_printf(out, "\\u%04x", c), i++;
        else {
            int n = textout_utf8_char_len(s + i, len - i);
            if (n == 0) rc = buf_append(out, "\\ufffd", 6), i += (size_t)textout_utf8_invalid_len(s + i, len - i);
            else rc = buf_append(out, s + i, (size_t)n), i += (size_t)n;
        }
    }
    return rc ? rc : buf_append(out, "\"", 1);
}

// Logprobs are finite in practice; a -inf (a token masked out) is written as -9999 like vLLM.
static double finite_lp(float lp) { return isfinite(lp) ? (double)lp : -9999.0; }

static const char *piece_ptr(const GenJob *j, const GenPiece *p) { return j->pieces.data + p->piece_off; }

// ---- logprobs ----

// Chat: {"token":"..","logprob":x,"bytes":[..]}
static int chat_lp_entry(Buf *out, const GenJob *j, const GenPiece *p) {
    int rc = buf_append_str(out, "{\"token\":");
    rc = rc ? rc : oai_json_str(out, piece_ptr(j, p), p->piece_len);
    rc = rc ? rc : buf_printf(out, ",\"logprob\":%.9g,\"bytes\":[", finite_lp(p->logprob));
    for (uint32_t k = 0; k < p->piece_len && !rc; k++)
        rc = buf_printf(out, "%s%u", k ? "," : "", (unsigned char)piece_ptr(j, p)[k]);
    return rc ? rc : buf_append_str(out, "]");
}

// Chat: {"content":[{..., "top_logprobs":[...]}...]} for tokens [from, to).
static int chat_logprobs(Buf *out, const GenJob *j, int64_t from, int64_t to) {
    int rc = buf_append_str(out, "{\"content\":[");
    for (int64_t i = from; i < to && !rc; i++) {
        const GenToken *t = &j->toks[i];
        if (i > from) rc = buf_append_str(out, ",");
        rc = rc ? rc : chat_lp_entry(out, j, &t->tok);
        rc = rc ? rc : buf_append_str(out, ",\"top_logprobs\":[");
        for (int32_t k = 0; k < t->n_top && !rc; k++) {
            if (k) rc = buf_append_str(out, ",");
            rc = rc ? rc : chat_lp_entry(out, j, &j->tops[t->top_first + k]);
            rc = rc ? rc : buf_append_str(out, "}");
        }
        rc = rc ? rc : buf_append_str(out, "]}");
    }
    return rc ? rc : buf_append_str(out, "]}");
}

// Completions: {"tokens":[..],"token_logprobs":[..],"top_logprobs":[{tok:lp}..]|null,"text_offset":[..]}.
// text_offset counts from the start of the completion text (offsets are bytes).
static int completion_logprobs(Buf *out, const GenJob *j, int64_t from, int64_t to, int32_t n_top) {
    int rc = buf_append_str(out, "{\"tokens\":[");
    for (int64_t i = from; i < to && !rc; i++) {
        if (i > from) rc = buf_append_str(out, ",");
        rc = rc ? rc : oai_json_str(out, piece_ptr(j, &j->toks[i].tok), j->toks[i].tok.piece_len);
    }
    rc = rc ? rc : buf_append_str(out, "],\"token_logprobs\":[");
    for (int64_t i = from; i < to && !rc; i++)
        rc = buf_printf(out, "%s%.9g", i > from ? "," : "", finite_lp(j->toks[i].tok.logprob));
    rc = rc ? rc : buf_append_str(out, n_top > 0 ? "],\"top_logprobs\":[" : "],\"top_logprobs\":null");
    for (int64_t i = from; n_top > 0 && i < to && !rc; i++) {
        const GenToken *t = &j->toks[i];
        rc = buf_append_str(out, i > from ? ",{" : "{");
        int written = 0;
        for (int32_t k = 0; k < t->n_top && !rc; k++) {
            // A dict keyed by text: skip a later alternative whose text repeats an earlier one.
            const GenPiece *p = &j->tops[t->top_first + k];
            bool dup = false;
            for (int32_t m = 0; m < k && !dup; m++) {
                const GenPiece *q = &j->tops[t->top_first + m];
                dup = q->piece_len == p->piece_len && memcmp(piece_ptr(j, q), piece_ptr(j, p), p->piece_len) == 0;
            }
            if (dup) continue;
            if (written++) rc = buf_append_str(out, ",");
            rc = rc ? rc : oai_json_str(out, piece_ptr(j, p), p->piece_len);
            rc = rc ? rc : buf_printf(out, ":%.9g", finite_lp(p->logprob));
        }
        rc = rc ? rc : buf_append_str(out, "}");
    }
    if (n_top > 0 && !rc) rc = buf_append_str(out, "]");
    rc = rc ? rc : buf_append_str(out, ",\"text_offset\":[");
    for (int64_t i = from; i < to && !rc; i++)
        rc = buf_printf(out, "%s%zu", i > from ? "," : "", j->toks[i].text_off);
    return rc ? rc : buf_append_str(out, "]}");
}

// ---- timings ----

static double ms_between(int64_t a_us, int64_t b_us) { return (a_us && b_us) ? (double)(b_us - a_us) / 1000.0 : -1; }

double oai_resp_queue_ms(const GenJob *j) { return ms_between(j->t_arrival_us, j->t_scheduled_us); }
double oai_resp_ttft_ms(const GenJob *j) { return ms_between(j->t_arrival_us, j->t_first_token_us); }

int oai_resp_timings(Buf *out, const GenJob *j) {
    double gen_ms = ms_between(j->t_first_token_us, j->t_last_token_us);
    int64_t n_after_first = j->n_generated > 1 ? j->n_generated - 1 : 0;
    double per_tok = n_after_first && gen_ms > 0 ? gen_ms / (double)n_after_first : 0;
    return buf_printf(out,
                      "{\"queue_ms\":%.3f,\"cache_n\":%lld,\"prompt_n\":%lld,\"prompt_ms\":%.3f,\"ttft_ms\":%.3f,"
                      "\"predicted_n\":%lld,\"predicted_ms\":%.3f,\"predicted_per_token_ms\":%.3f,"
                      "\"predicted_per_second\":%.3f,\"e2e_ms\":%.3f,\"batch_size\":%.3f,\"steps\":%lld,"
                      "\"rightsize\":{\"busy_ns\":%lld}}",
                      oai_resp_queue_ms(j), (long long)j->n_cached, (long long)j->n_prompt,
                      ms_between(j->t_scheduled_us, j->t_first_token_us),
                      oai_resp_ttft_ms(j), (long long)j->n_generated, gen_ms < 0 ? 0 : gen_ms, per_tok,
                      per_tok > 0 ? 1000.0 / per_tok : 0, ms_between(j->t_arrival_us, j->t_done_us),
                      j->n_steps ? (double)j->step_seqs / (double)j->n_steps : 0, (long long)j->n_steps,
                      (long long)j->busy_ns);
}

static int usage(Buf *out, const GenJob *j) {
    return buf_printf(out,
                      "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
                      "\"prompt_tokens_details\":{\"cached_tokens\":%lld}}",
                      (long long)j->n_prompt, (long long)j->n_generated, (long long)(j->n_prompt + j->n_generated),
                      (long long)j->n_cached);
}

// The finish_reason value: a JSON string, or null while running. Aborted and failed jobs report
// "abort"/"error" only in streams cut short; whole bodies for them become error responses.
static int finish_json(Buf *out, const GenJob *j) {
    const char *f = gen_finish_str(j->finish);
    return f ? buf_printf(out, "\"%s\"", f) : buf_append_str(out, "null");
}

// ---- whole bodies ----

void oai_resp_ctx_init(OaiRespCtx *c, OaiEndpoint ep, uint64_t job_id, int64_t created, const char *model,
                       const OaiRequest *req) {
    *c = (OaiRespCtx){.endpoint = ep, .created = created, .model = model};
    snprintf(c->id, sizeof c->id, "%s-%016llx", ep == OAI_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)job_id);
    if (req) {
        c->logprobs = req->logprobs;
        c->n_top = (int32_t)req->top_logprobs;
        c->include_usage = req->include_usage;
    }
}

static int head(Buf *out, const OaiRespCtx *c, bool chunk) {
    static const char *objects[2][2] = {{"text_completion", "text_completion"},
                                        {"chat.completion", "chat.completion.chunk"}};
    int rc = buf_printf(out, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":", c->id,
                        objects[c->endpoint][chunk], (long long)c->created);
    return rc ? rc : oai_json_str(out, c->model, strlen(c->model));
}

int oai_resp_body(Buf *out, const OaiRespCtx *c, const GenJob *j) {
    int rc = head(out, c, false);
    const char *text = j->out.data ? j->out.data : "";
    if (c->endpoint == OAI_CHAT) {
        rc = rc ? rc : buf_append_str(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        rc = rc ? rc : oai_json_str(out, text, j->released);
        rc = rc ? rc : buf_append_str(out, "},\"logprobs\":");
        rc = rc ? rc : (c->logprobs ? chat_logprobs(out, j, 0, j->n_toks_released) : buf_append_str(out, "null"));
    } else {
        rc = rc ? rc : buf_append_str(out, ",\"choices\":[{\"index\":0,\"text\":");
        rc = rc ? rc : oai_json_str(out, text, j->released);
        rc = rc ? rc : buf_append_str(out, ",\"logprobs\":");
        rc = rc ? rc
                : (c->logprobs ? completion_logprobs(out, j, 0, j->n_toks_released, c->n_top)
                               : buf_append_str(out, "null"));
    }
    rc = rc ? rc : buf_append_str(out, ",\"finish_reason\":");
    rc = rc ? rc : finish_json(out, j);
    rc = rc ? rc : buf_append_str(out, "}],");
    rc = rc ? rc : usage(out, j);
    rc = rc ? rc : buf_append_str(out, ",\"timings\":");
    rc = rc ? rc : oai_resp_timings(out, j);
    return rc ? rc : buf_append_str(out, "}");
}

// ---- streams ----

// One chunk: `data: {head, "choices":[{delta or text, logprobs, finish_reason}]}`.
static int sse_chunk(Buf *out, const OaiRespCtx *c, const GenJob *j, size_t t0, size_t t1, int64_t k0,
                     int64_t k1, bool role, bool final) {
    int rc = buf_append_str(out, "data: ");
    rc = rc ? rc : head(out, c, true);
    if (c->endpoint == OAI_CHAT) {
        rc = rc ? rc : buf_append_str(out, ",\"choices\":[{\"index\":0,\"delta\":{");
        if (role) rc = rc ? rc : buf_append_str(out, "\"role\":\"assistant\",\"content\":\"\"");
        else if (t1 > t0) {
            rc = rc ? rc : buf_append_str(out, "\"content\":");
            rc = rc ? rc : oai_json_str(out, j->out.data + t0, t1 - t0);
        }
        rc = rc ? rc : buf_append_str(out, "},\"logprobs\":");
        rc = rc ? rc : (c->logprobs && k1 > k0 ? chat_logprobs(out, j, k0, k1) : buf_append_str(out, "null"));
    } else {
        rc = rc ? rc : buf_append_str(out, ",\"choices\":[{\"index\":0,\"text\":");
        rc = rc ? rc : oai_json_str(out, j->out.data ? j->out.data + t0 : "", t1 - t0);
        rc = rc ? rc : buf_append_str(out, ",\"logprobs\":");
        rc = rc ? rc
                : (c->logprobs && k1 > k0 ? completion_logprobs(out, j, k0, k1, c->n_top)
                                          : buf_append_str(out, "null"));
    }
    rc = rc ? rc : buf_append_str(out, ",\"finish_reason\":");
    rc = rc ? rc : (final ? finish_json(out, j) : buf_append_str(out, "null"));
    rc = rc ? rc : buf_append_str(out, "}]");
    if (final) {
        rc = rc ? rc : buf_append_str(out, ",\"timings\":");
        rc = rc ? rc : oai_resp_timings(out, j);
    }
    return rc ? rc : buf_append_str(out, "}\n\n");
}

int oai_resp_sse(Buf *out, const OaiRespCtx *c, const GenJob *j, OaiStreamPos *pos) {
    if (pos->done) return 0;
    int rc = 0;
    if (c->endpoint == OAI_CHAT && !pos->started) rc = sse_chunk(out, c, j, 0, 0, 0, 0, true, false);
    pos->started = true;
    size_t t1 = j->released;
    int64_t k1 = j->n_toks_released;
    bool finished = j->finish != GEN_RUNNING;
    if (finished && (j->finish == GEN_ERROR || j->finish == GEN_ABORT)) {
        // Cut short: say why in OpenAI's error shape, then end the stream.
        OaiError e = j->error;
        if (j->finish == GEN_ABORT)
            oai_err(&e, 503, "service_unavailable", NULL, "aborted", "the request was aborted (server shutting down)");
        // A final chunk with what was released, finish_reason "error"/"abort" and the timings,
        // then the error event (the openai clients raise it) and [DONE].
        rc = rc ? rc : sse_chunk(out, c, j, pos->text, t1, pos->toks, k1, false, true);
        rc = rc ? rc : buf_append_str(out, "data: ");
        rc = rc ? rc : oai_resp_error(out, &e);
        rc = rc ? rc : buf_append_str(out, "\n\ndata: [DONE]\n\n");
        pos->done = rc == 0;
        return rc;
    }
    if (t1 > pos->text || k1 > pos->toks || finished)
        rc = rc ? rc : sse_chunk(out, c, j, pos->text, t1, pos->toks, k1, false, finished);
    if (finished && c->include_usage) {
        rc = rc ? rc : buf_append_str(out, "data: ");
        rc = rc ? rc : head(out, c, true);
        rc = rc ? rc : buf_append_str(out, ",\"choices\":[],");
        rc = rc ? rc : usage(out, j);
        rc = rc ? rc : buf_append_str(out, "}\n\n");
    }
    if (finished) rc = rc ? rc : buf_append_str(out, "data: [DONE]\n\n");
    if (!rc) {
        pos->text = t1;
        pos->toks = k1;
        pos->done = finished;
    }
    return rc;
}

// ---- errors and models ----

int oai_resp_error(Buf *out, const OaiError *e) {
    int rc = buf_append_str(out, "{\"error\":{\"message\":");
    rc = rc ? rc : oai_json_str(out, e->message, strlen(e->message));
    rc = rc ? rc : buf_append_str(out, ",\"type\":");
    rc = rc ? rc : oai_json_str(out, e->type, strlen(e->type));
    rc = rc ? rc : buf_append_str(out, ",\"param\":");
    rc = rc ? rc : (e->param[0] ? oai_json_str(out, e->param, strlen(e->param)) : buf_append_str(out, "null"));
    rc = rc ? rc : buf_append_str(out, ",\"code\":");
    rc = rc ? rc : (e->code[0] ? oai_json_str(out, e->code, strlen(e->code)) : buf_append_str(out, "null"));
    return rc ? rc : buf_append_str(out, "}}");
}

int oai_resp_models(Buf *out, const char *model, int64_t created, int64_t n_ctx) {
    int rc = buf_append_str(out, "{\"object\":\"list\",\"data\":[{\"id\":");
    rc = rc ? rc : oai_json_str(out, model, strlen(model));
    rc = rc ? rc : buf_printf(out, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"rightsize\",\"max_model_len\":%lld}]}",
                             (long long)created, (long long)n_ctx);
    return rc;
}
