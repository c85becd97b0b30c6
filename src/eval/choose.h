// choose.h — pick a cascade's min_confidence for a target quality from a labelled dev set.
//
// Given, for each dev item, the first tier's confidence c_i (as the cascade computes it), whether
// the first tier's answer is correct (s_i) and whether the teacher's is (t_i), a threshold m
// escalates exactly the items with c_i < m, so the cascade's accuracy is
//   acc(m) = mean(c_i >= m ? s_i : t_i)   and its escalation rate esc(m) = mean(c_i < m).
// esc only grows with m, so the cheapest threshold that keeps acc(m) >= keep × mean(t_i) is the
// lowest such m; the candidates are 0 and the midpoints between consecutive distinct c_i (any m
// between two of them escalates the same items), and 1.0001 (everything escalates).
#ifndef RS_EVAL_CHOOSE_H
#define RS_EVAL_CHOOSE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double min_confidence;   // chosen threshold
    double escalation;       // fraction of items escalated at it
    double accuracy;         // cascade accuracy at it
    double teacher_accuracy, student_accuracy;
    bool met;                // false when even full escalation misses keep (keep > 1, or t differs)
} ChooseResult;

// conf may hold NaN (no logprobs): such an item counts as confidence 0 (always escalated unless
// the threshold is 0), as the cascade treats an answer without tokens. n >= 1, keep in (0, 1].
void choose_min_confidence(const double *conf, const bool *student_ok, const bool *teacher_ok, int64_t n,
                           double keep, ChooseResult *out);

#endif
