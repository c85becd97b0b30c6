// task_eval.h — accuracy of a model on a labelled task file, run by the engine itself (the
// checkpoint as `serve` would run it): for every JSONL line with "prompt" and "intent", the
// prompt is tokenized (BOS as the model asks), the model generates greedily until a newline or
// end of generation (at most 16 tokens), and the generated label — that text with surrounding
// spaces removed — counts as correct when it equals "intent". When the line has "priority", the
// next generated line "Priority: <p>" is scored against it the same way.
#ifndef RS_TRAIN_TASK_EVAL_H
#define RS_TRAIN_TASK_EVAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t n, correct;
    int64_t n_priority, priority_correct;
    double seconds;
} TaskEvalResult;

// limit > 0 evaluates the first `limit` lines only. Returns 0 or a negative Err with the reason.
int task_eval_intent(const char *model_path, const char *jsonl, int n_threads, int64_t limit, TaskEvalResult *r,
                     char *err, size_t err_len);

#endif
