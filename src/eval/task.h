// task.h — accuracy and cost of an OpenAI-compatible endpoint on labelled prompts.
//
// Task file (JSON Lines, one object a line; blank lines and lines starting with # skipped):
//   {"prompt": "text"}  or  {"messages": [{"role": "user", "content": "..."}, ...]}
//   "label": "expected"          required (task_load's label_key names another key; NULL = "label")
//   "match": "exact" | "contains" | "regex"   default "exact"
//   "id": any                    optional, copied to the predictions
// The reply's first line (leading/trailing whitespace trimmed) is compared with the label:
// exact and contains ignore ASCII case; regex is a POSIX extended regular expression searched
// in the first line (anchor it with ^...$ for a full match).
//
// Requests are sent with temperature 0, --concurrency at a time, to /v1/chat/completions (a
// prompt becomes one user message) or /v1/completions (prompt lines, when completions is set).
// The gateway's x-rightsize-cost-usd response header gives each request's cost; the tier that
// answered (x-rightsize-tier) is counted too, so a cascade's escalation share shows.
#ifndef RS_EVAL_TASK_H
#define RS_EVAL_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TASK_MATCH_EXACT, TASK_MATCH_CONTAINS, TASK_MATCH_REGEX, TASK_MATCH_COUNT } TaskMatch;

typedef struct {
    char *body_input;   // JSON: the "messages" array, or the prompt as a JSON string
    bool is_chat;       // body_input is a messages array
    char *label;
    TaskMatch match;
    char *id;           // JSON text of "id", or NULL
} TaskItem;

typedef struct {
    TaskItem *items;
    int64_t n;
} Task;

// Parses a task file. Returns 0, or a negative Err with "FILE:LINE: what is wrong" in err.
int task_load(Task *t, const char *path, const char *label_key, char *err, size_t err_len);
void task_free(Task *t);

typedef struct {
    const char *url;          // base, e.g. http://127.0.0.1:8080 (a trailing /v1 is accepted)
    const char *model;        // request "model" (NULL: omitted)
    int64_t concurrency, max_tokens, timeout_s;
    bool completions;         // prompt items go to /v1/completions
    bool want_logprobs;       // ask for token logprobs; TaskOutcome.confidence is then set
    bool send_labels;         // exact-match labels go out in x-rightsize-label (a serve canary's
                              // min_accuracy guard scores the candidate on them)
} TaskOptions;

typedef struct {
    char *reply;              // the first line compared (owned)
    char *text;               // the whole reply text (owned; NULL on an error)
    bool correct, error;
    double cost_usd;          // from x-rightsize-cost-usd; NaN when absent
    double latency_s;
    double confidence;        // exp(mean token logprob), as the cascade computes it; NaN if none
    char tier[32];            // from x-rightsize-tier ("" when absent)
    int http_status;
} TaskOutcome;

typedef struct {
    int64_t n, correct, errors, n_cost;     // n_cost: replies that carried a cost header
    double accuracy;                          // correct / n (errors count as wrong)
    double cost_usd, cost_per_1k_usd;         // sum; per 1000 requests (over n_cost)
    double latency_mean_s, wall_s;
    TaskOutcome *outcomes;                    // (n,) in task order (owned)
} TaskResult;

// True when reply's first line matches the label under the rule (regex errors: false).
bool task_match(TaskMatch m, const char *label, const char *reply);
// Runs every item against the endpoint. Returns 0 (per-request failures are counted as errors,
// not returned), or a negative Err when nothing could be attempted (bad URL, no memory).
int task_run(const Task *t, const TaskOptions *o, TaskResult *r, char *err, size_t err_len);
void task_result_free(TaskResult *r);

#endif
