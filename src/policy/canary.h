// canary.h — a weighted canary split with guard metrics and automatic rollback (Flagger's idea,
// for model variants), pure policy code: time and randomness are parameters.
//
// weight_percent of the matching traffic goes to the candidate. Every candidate answer is
// recorded (latency, error); a shadow_percent sample of candidate requests is also sent to the
// baseline and the two answers' agreement (canary_agreement) is recorded. Guards look at the
// samples of the last window_us: once min_samples are there, the candidate is rolled back
// (weight → 0, reason kept) when its p95 latency exceeds p95_ms, its error rate exceeds
// error_rate, or its mean agreement falls under min_agreement (agreement needs min_samples/4
// shadow pairs, at least 3), or its accuracy on labelled requests falls under min_accuracy
// (a client or `rightsize eval --task` sends the expected answer in the x-rightsize-label header;
// the candidate's reply's first line must equal it, ignoring case; needs as many labelled
// answers as agreement needs pairs). States: ACTIVE --(guard fails)--> ROLLED_BACK --(set weight)--> ACTIVE.
#ifndef RS_CANARY_H
#define RS_CANARY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/rng.h"

#define CANARY_WINDOW_MAX 1024   // samples kept per window (oldest dropped first)

typedef struct {
    double p95_ms;          // 0: no latency guard
    double error_rate;      // in [0,1]; 1: no error guard
    double min_agreement;   // in [0,1]; 0: no agreement guard
    double min_accuracy;    // in [0,1]; 0: no accuracy guard (labelled requests only)
    int64_t window_us;      // sliding window
    int64_t min_samples;    // candidate answers needed before any guard acts
} CanaryGuards;

typedef enum {
    CANARY_OK = 0,
    CANARY_ROLLBACK_LATENCY,
    CANARY_ROLLBACK_ERRORS,
    CANARY_ROLLBACK_AGREEMENT,
    CANARY_ROLLBACK_ACCURACY,
} CanaryVerdict;

typedef struct {
    int64_t t_us;
    float value;   // latency ms, or agreement
    bool error;
} CanarySample;

typedef struct {
    double weight_percent;   // [0,100]
    double shadow_percent;   // [0,100] of candidate requests also sent to the baseline
    CanaryGuards guards;
    CanarySample lat[CANARY_WINDOW_MAX];
    int64_t lat_head, lat_n;
    CanarySample agr[CANARY_WINDOW_MAX];
    int64_t agr_head, agr_n;
    CanarySample acc[CANARY_WINDOW_MAX];   // labelled answers: value 1 correct, 0 wrong
    int64_t acc_head, acc_n;
    bool rolled_back;
    CanaryVerdict last_verdict;
    char reason[160];        // why it was rolled back ("" when active)
    int64_t rollbacks;       // times rolled back since init
} Canary;

void canary_init(Canary *c, double weight_percent, double shadow_percent, const CanaryGuards *g);
// Sets the weight (admin or config reload); clears the windows and the rolled-back state.
void canary_set_weight(Canary *c, double weight_percent);
// Manual rollback: weight 0 with the given reason.
void canary_rollback(Canary *c, const char *reason);
// True when this request goes to the candidate (one uniform draw from rng).
bool canary_pick(const Canary *c, Rng *rng);
// True when a candidate request should also be shadowed to the baseline (one draw).
bool canary_shadow(const Canary *c, Rng *rng);
// Records one candidate answer (latency_us from arrival to the last byte; error = 5xx or failure).
void canary_record(Canary *c, int64_t now_us, int64_t latency_us, bool error);
// One candidate answer seen by the gateway or the simulator: canary_record + canary_check.
CanaryVerdict canary_answer(Canary *c, int64_t now_us, int64_t latency_us, bool error);
// Records the agreement in [0,1] of one shadow pair.
void canary_record_agreement(Canary *c, int64_t now_us, double agreement);
// Records whether one labelled candidate answer was correct (canary_label_match).
void canary_record_accuracy(Canary *c, int64_t now_us, bool correct);
// Labelled answers in the window ending at now_us and their accuracy (1 when there are none).
double canary_accuracy(const Canary *c, int64_t now_us, int64_t *n);
// True when the first line of reply (whitespace-trimmed) equals label ignoring ASCII case.
bool canary_label_match(const char *label, const char *reply);
// Evaluates the guards over the window ending at now_us; on a failure rolls back (weight 0,
// reason filled) and returns the verdict. A rolled-back canary returns CANARY_OK.
CanaryVerdict canary_check(Canary *c, int64_t now_us);
// Window statistics at now_us (for metrics and tests): candidate answers, p95 ms, error rate,
// shadow pairs, mean agreement (1 when there are none).
void canary_stats(const Canary *c, int64_t now_us, int64_t *n, double *p95_ms, double *err_rate, int64_t *n_agr,
                  double *agreement);
// Agreement of two answers: the length of their common prefix over the longer one's length
// (1 for two empty answers). Byte-wise, so equal texts give exactly 1.
double canary_agreement(const char *a, const char *b);
const char *canary_verdict_name(CanaryVerdict v);

#endif
