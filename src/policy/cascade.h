// cascade.h — the confidence test of a student→teacher cascade, pure policy code.
//
// The first tier answers with per-token logprobs; its confidence is
//   mean mode: exp(mean of the token logprobs)  (the geometric-mean token probability, in [0,1])
//   min mode:  exp(min of the token logprobs)   (the least likely token's probability)
// and the request is re-asked of the second tier exactly when confidence < min_confidence
// (cascade_decide adds the rule for error answers).
// An answer with no tokens has confidence 0 (no evidence): it always escalates unless the
// threshold is 0.
#ifndef RS_CASCADE_H
#define RS_CASCADE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { CASCADE_MEAN = 0, CASCADE_MIN = 1 } CascadeMode;

// Confidence in [0,1] of n token logprobs (each <= 0; NaN and +values are clamped to 0 nats,
// -inf gives probability 0).
double cascade_confidence(const double *logprobs, int64_t n, CascadeMode mode);
// True when a 200 answer of this confidence must be re-asked of the next tier.
bool cascade_escalate(double confidence, double min_confidence);
// The whole escalation rule for the first tier's answer: status is its HTTP status (0: no answer,
// the call failed). A 4xx is the client's fault and is never re-asked; a 5xx or a failed call is
// re-asked when escalate_on_error; a 200 is re-asked when confidence < min_confidence.
bool cascade_decide(int status, double confidence, double min_confidence, bool escalate_on_error);
// Whether a call's answer reaches the client as the backend streams it. A cascade's first call is
// buffered: its confidence is judged on the whole answer before the client may see a token, so a
// kept first answer's first token reaches the client when that call ends (its time to first token
// is its end to end). The gateway passes a stream through by this rule; the simulator times the
// first token by it.
bool cascade_call_streams(bool cascade_first_call);

#endif
