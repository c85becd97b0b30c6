// openai_err.h — an error as OpenAI's API reports it: an HTTP status plus
// {"error":{"message","type","param","code"}}. Filled by parsing and admission; encoded by
// openai_resp. Plain value type, no ownership.
#ifndef RS_OPENAI_ERR_H
#define RS_OPENAI_ERR_H

typedef struct {
    int status;          // HTTP status (400, 401, 404, 413, 429, 500, 503)
    char type[32];       // "invalid_request_error", "rate_limit_error", ...
    char param[48];      // the offending field ("max_tokens"), "" when none
    char code[40];       // machine-readable code ("context_length_exceeded"), "" when none
    char message[320];   // one human sentence saying what was wrong and how to fix it
} OaiError;

// Fills e and returns -1 (so parsers can `return oai_err(...)`). param/code may be NULL.
int oai_err(OaiError *e, int status, const char *type, const char *param, const char *code,
            const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
