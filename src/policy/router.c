#include "policy/router.h"

#include <string.h>
#include <strings.h>

#include "base/check.h"

static bool rule_matches(const RouteRule *r, const RouteInput *in) {
    if (r->endpoint != RT_EP_ANY && r->endpoint != in->endpoint) return false;
    if (r->model[0] && (!in->model || strcmp(r->model, in->model) != 0)) return false;
    if (in->prompt_chars < r->min_prompt_chars) return false;
    if (r->max_prompt_chars >= 0 && in->prompt_chars > r->max_prompt_chars) return false;
    if (r->header[0]) {
        const char *v = in->header ? in->header(in->header_ctx, r->header) : NULL;
        if (!v) return false;
        if (r->header_value[0] && strcmp(v, r->header_value) != 0) return false;
    }
    return true;
}

int router_match(const RouteRule *rules, int n_rules, const RouteInput *in) {
    for (int i = 0; i < n_rules; i++)
        if (rule_matches(&rules[i], in)) return i;
    return -1;
}

RouteDecision router_decide(const RouteRule *rules, int n_rules, const Canary *canaries, const int *candidate_of,
                            const RouteInput *in, Rng *rng) {
    RouteDecision d = {.rule = -1, .kind = DECISION_NONE, .tier = -1, .then = -1, .canary = -1};
    int i = router_match(rules, n_rules, in);
    if (i < 0) return d;
    const RouteRule *r = &rules[i];
    d.rule = i;
    d.canary = r->canary;
    if (r->kind == ROUTE_TIER) {
        d.kind = DECISION_RULE;
        d.tier = r->tier;
    } else {
        d.kind = DECISION_CASCADE;
        d.tier = r->first;
        d.then = r->then;
        d.min_confidence = r->min_confidence;
        d.mode = r->mode;
        d.escalate_on_error = r->escalate_on_error;
    }
    if (r->canary >= 0 && canaries[r->canary].weight_percent > 0 && canary_pick(&canaries[r->canary], rng)) {
        d.tier = candidate_of[r->canary];
        d.candidate = true;
        d.kind = DECISION_CANARY;
    }
    return d;
}

const char *router_decision_name(DecisionKind k) {
    static const char *const names[] = {
        [DECISION_RULE] = "rule", [DECISION_CASCADE] = "cascade", [DECISION_CANARY] = "canary",
        [DECISION_NONE] = "none",
    };
    return (unsigned)k < ARRAY_LEN(names) ? names[k] : "?";
}

static const char *const ep_names[RT_EP_COUNT] = {
    [RT_EP_ANY] = "any", [RT_EP_COMPLETIONS] = "completions", [RT_EP_CHAT] = "chat",
    [RT_EP_EMBEDDINGS] = "embeddings",
};

int router_endpoint_parse(const char *s) {
    for (int i = 0; i < RT_EP_COUNT; i++)
        if (strcasecmp(s, ep_names[i]) == 0) return i;
    return -1;
}

const char *router_endpoint_name(RouterEndpoint e) { return (unsigned)e < RT_EP_COUNT ? ep_names[e] : "?"; }
