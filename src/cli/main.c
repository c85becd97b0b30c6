// main.c — `rightsize VERB [ARGS]`: dispatch to one verb per subcommand.
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define RS_VERSION "0.1.0"


int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}

static CmdFn verb_fn(const char *name) {
    // Weak symbols are NULL when their file is not linked in.
    static const struct { const char *name; CmdFn fn; } table[] = {
        {"run", cmd_run},           {"gguf", cmd_gguf},     {"worker", cmd_worker},
        {"serve", cmd_serve},       {"plan", cmd_plan},     {"bench", cmd_bench},
        {"calibrate", cmd_calibrate}, {"quantize", cmd_quantize}, {"eval", cmd_eval},
        {"distill", cmd_distill},   {"report", cmd_report},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0) return table[i].fn;
    return NULL;
}

static const struct { const char *name, *summary; } VERBS[] = {
    {"run", "generate text from a GGUF model on the terminal"},
    {"gguf", "inspect a GGUF file (info, dump, tokenize, render-chat, embed) or synthesize one (synth)"},
    {"worker", "serve one GGUF model over an OpenAI-compatible HTTP API"},
    {"serve", "run a pipeline: routing, cascade, canary, batching, autoscaling, cost"},
    {"plan", "find the cheapest pipeline that meets a workload's SLOs"},
    {"bench", "load-test any OpenAI-compatible endpoint, open loop"},
    {"calibrate", "measure an engine's step times and fit the planner's model"},
    {"quantize", "convert a GGUF model to another weight type or mix (Q4_K_M, Q5_K_M, Q6_K, ...)"},
    {"eval", "measure a model's quality on a task"},
    {"distill", "train a small student from a teacher"},
    {"report", "review production telemetry: traffic, cost, latency vs the SLOs and the plan"},
};

static void usage(FILE *out) {
    fprintf(out,
            "rightsize " RS_VERSION " — cheap, fast, correct ML inference: plan it, run it, account for it.\n\n"
            "usage: rightsize VERB [OPTIONS]    (rightsize VERB --help for each)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++)
        if (verb_fn(VERBS[i].name)) fprintf(out, "  %-10s %s\n", VERBS[i].name, VERBS[i].summary);
    fprintf(out, "\n  version    print the version\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("rightsize %s\n", RS_VERSION);
        return 0;
    }
    CmdFn fn = verb_fn(argv[1]);
    if (!fn) {
        fprintf(stderr, "rightsize: unknown verb '%s' (run 'rightsize --help' for the list)\n", argv[1]);
        return 2;
    }
    return fn(argc - 1, argv + 1);
}
