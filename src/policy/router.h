// router.h — the gateway's routing rules, pure policy code.
//
// Rules are tried in order; the first whose every given condition holds decides. A rule sends
// the request to one tier, or to a cascade (first tier, then the second tier when the first's
// confidence is under min_confidence). A rule may carry a canary: then, with the canary's
// weight, the rule's baseline tier (its tier, or the cascade's first tier) is replaced by the
// canary's candidate tier. No rule matching is a decision too (ROUTE_NONE → 404 upstream).
#ifndef RS_ROUTER_H
#define RS_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/rng.h"
#include "policy/canary.h"
#include "policy/cascade.h"

typedef enum { RT_EP_ANY = 0, RT_EP_COMPLETIONS, RT_EP_CHAT, RT_EP_EMBEDDINGS, RT_EP_COUNT } RouterEndpoint;
typedef enum { ROUTE_TIER = 0, ROUTE_CASCADE = 1 } RouteKind;

typedef struct {
    char name[48];                      // for telemetry and canary references
    // ---- conditions (each optional) ----
    RouterEndpoint endpoint;            // RT_EP_ANY: any
    char model[96];                     // "": any requested model
    int64_t min_prompt_chars;           // 0: no lower bound
    int64_t max_prompt_chars;           // -1: no upper bound
    char header[64];                    // "": no header condition
    char header_value[128];             // "": the header only has to be present
    // ---- action ----
    RouteKind kind;
    int tier;                           // ROUTE_TIER: tier index
    int first, then;                    // ROUTE_CASCADE: tier indexes
    double min_confidence;              // ROUTE_CASCADE
    CascadeMode mode;                   // ROUTE_CASCADE
    bool escalate_on_error;             // ROUTE_CASCADE: re-ask on a 5xx or failed call (never a 4xx)
    int canary;                         // index into the canary array, or -1
    int line;                           // line in the pipeline file (messages), 0 when none
} RouteRule;

typedef struct {
    RouterEndpoint endpoint;            // never RT_EP_ANY
    const char *model;                  // requested model, or NULL
    int64_t prompt_chars;               // prompt length in bytes (chat: all message contents)
    // Looks up a request header (case-insensitive name); NULL when absent.
    const char *(*header)(void *ctx, const char *name);
    void *header_ctx;
} RouteInput;

typedef enum { DECISION_RULE = 0, DECISION_CASCADE, DECISION_CANARY, DECISION_NONE, DECISION_COUNT } DecisionKind;

typedef struct {
    int rule;            // matching rule index, -1 for none
    DecisionKind kind;   // RULE (one tier), CASCADE (first/then), CANARY (candidate took the baseline's place)
    int tier;            // tier to ask first (-1 when none)
    int then;            // cascade's second tier, or -1
    double min_confidence;
    CascadeMode mode;
    bool escalate_on_error;
    bool candidate;      // the canary's candidate replaced the baseline
    int canary;          // the rule's canary, or -1
} RouteDecision;

// Index of the first rule that matches in, or -1.
int router_match(const RouteRule *rules, int n_rules, const RouteInput *in);
// Match plus action: applies the cascade and the canary split (one draw from rng when the rule
// has an active canary). candidate_of[k] is canary k's candidate tier.
RouteDecision router_decide(const RouteRule *rules, int n_rules, const Canary *canaries, const int *candidate_of,
                            const RouteInput *in, Rng *rng);
const char *router_decision_name(DecisionKind k);
// "completions" | "chat" | "embeddings" → endpoint; -1 for an unknown word ("any" → RT_EP_ANY).
int router_endpoint_parse(const char *s);
const char *router_endpoint_name(RouterEndpoint e);

#endif
