// rightsize bench — load-test any OpenAI-compatible endpoint (ours, vLLM, TGI, llama.cpp) with an
// open-loop schedule (no coordinated omission) or a closed loop, and report latency percentiles,
// throughput, goodput under SLOs, errors by kind and summed cost.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/check.h"
#include "bench/loadgen.h"
#include "bench/promptgen.h"
#include "bench/bench_report.h"
#include "bench/arrivals.h"
#include "bench/wlsched.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: rightsize bench --url http://HOST:PORT/v1 (--rate R --duration S | --workload FILE --duration S |\n"
    "                       --concurrency C --requests N) [options]\n"
    "\n"
    "Load-tests an OpenAI-compatible endpoint with streamed requests (\"stream\": true) and reports\n"
    "TTFT, inter-token latency (ITL), time per output token (TPOT) and end-to-end latency\n"
    "(mean/p50/p90/p95/p99/max), throughput, goodput under SLOs, errors by kind and the summed\n"
    "x-rightsize-cost-usd response header.\n"
    "\n"
    "Load:\n"
    "  --rate R             open loop: Poisson arrivals at R requests/s, sent on schedule whatever the\n"
    "                       server does; latency counts from the scheduled time (no coordinated omission)\n"
    "  --duration S         open loop: length of the arrival window in seconds\n"
    "  --concurrency C      closed loop: C workers, each sends when its previous request ends\n"
    "  --requests N         closed loop: N requests in all\n"
    "  --workload FILE      open loop from the planner's workload YAML: its arrival process (Poisson,\n"
    "                       gamma, trace; diurnal profile and bursts), input/output token distributions\n"
    "                       and SLOs, over a --duration window of its day\n"
    "  --start-hour H       workload: where the window starts in the day (default: the busiest minute)\n"
    "  --rate-scale K       workload: multiply its arrival rate by K (default 1)\n"
    "  --max-in-flight N    bound on open streams (default 4096 open loop, C closed loop); sends held back\n"
    "                       by it still count latency from their scheduled time\n"
    "Requests:\n"
    "  --url URL            base URL ending in /v1 (or a full .../completions URL)\n"
    "  --endpoint completions|chat|embeddings   /v1/completions (default, as calibrate),\n"
    "                       /v1/chat/completions, or /v1/embeddings ({\"input\": prompt}; one JSON\n"
    "                       answer, latency = TTFT)\n"
    "  --served-model-name NAME  \"model\" field (default \"default\"; --model is an alias)\n"
    "  --input-tokens N     prompt length (default 128). Prompts are N words drawn at random from a\n"
    "                       built-in list of common words, each ~1 token in GPT-2/Llama/Qwen vocabularies,\n"
    "                       so N words ~ N tokens (+ the chat template); usage.prompt_tokens is reported\n"
    "  --prompt-file FILE   take the words from FILE instead (in file order, random start per request)\n"
    "  --output-tokens M    max_tokens (default 128)\n"
    "  --ignore-eos         send \"ignore_eos\": true so that servers supporting it (vLLM, llama.cpp)\n"
    "                       generate exactly max_tokens\n"
    "  --api-key K          Authorization: Bearer K (default: $OPENAI_API_KEY when set)\n"
    "  --timeout S          per-request timeout in seconds from its send (default 120)\n"
    "  --seed S             seed of the arrival schedule and prompt words (default 1)\n"
    "SLOs (a request is \"good\" when ok and within each SLO given):\n"
    "  --slo-ttft-ms X      TTFT bound\n"
    "  --slo-e2e-ms X       end-to-end bound\n"
    "  --slo-ttft-p95-ms X, --slo-tpot-p95-ms X, --slo-e2e-p95-ms X, --slo-e2e-p99-ms X\n"
    "                       percentile SLOs, reported as met/MISSED (a workload's slo: block sets them,\n"
    "                       and its ttft/e2e p95 bounds also serve as the per-request goodput bounds)\n"
    "Output:\n"
    "  --json FILE|-        the report as JSON (schema rightsize.bench/1, docs/bench-json.md); with '-'\n"
    "                       JSON goes to stdout and the text summary to stderr\n"
    "  --trace FILE         one CSV line per request (times in µs after the run's time zero)\n"
    "  --quiet              no progress line (by default one a second on stderr)\n"
    "\n"
    "Measures: TTFT = scheduled send -> first chunk with generated text; ITL = gap between successive\n"
    "chunks with text (one such chunk counts as one token); e2e = scheduled send -> last byte;\n"
    "send_lag = actual - scheduled send (the load generator's own delay). Percentiles are exact\n"
    "(every sample kept; linear interpolation between ranks, as numpy's default) up to 2^24 samples\n"
    "per measure, then from a uniform reservoir of 2^24 (rank error < 1.3e-4; n/mean/min/max exact).\n"
    "Errors: http_429, http_4xx, http_5xx, timeout, connection, protocol (bad stream), other.\n"
    "Exit status: 0 when the run completed with at least one ok request, 1 otherwise, 2 usage.\n";

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) { (void)sig; g_stop = 1; }

typedef struct {
    bool tty;
} Progress;

static void print_progress(void *ctx, const LgProgress *p) {
    Progress *pr = ctx;
    fprintf(stderr, "%s[%5.0fs] sent %lld/%lld  done %lld  in-flight %lld  errors %lld  rps %.1f%s",
            pr->tty ? "\r" : "", (double)p->elapsed_us / 1e6, (long long)p->sent, (long long)p->total,
            (long long)p->done, (long long)p->in_flight, (long long)p->errors, p->rps_last_s,
            pr->tty ? "   " : "\n");
    fflush(stderr);
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "rightsize bench: %s '%s' must be a number in [%g, %g]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *opt, const char *s, long long lo, long long hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "rightsize bench: %s '%s' must be an integer in [%lld, %lld]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int write_file(const char *path, const Buf *b) {
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "rightsize bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(b->data, 1, b->len, f);
    int bad = w != b->len;
    if (f == stdout) bad |= fflush(f) != 0;
    else bad |= fclose(f) != 0;
    if (bad) fprintf(stderr, "rightsize bench: writing %s failed\n", path);
    return bad ? -1 : 0;
}

// Raises the open-file limit so that max_in_flight sockets fit; -1 with a message when they can't.
static int ensure_fds(int64_t max_in_flight) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    rlim_t need = (rlim_t)max_in_flight + 64;
    if (rl.rlim_cur >= need) return 0;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= need) return 0;
    fprintf(stderr, "rightsize bench: --max-in-flight %lld needs %llu open files but the limit is %llu; "
            "lower --max-in-flight or raise the limit (ulimit -n)\n",
            (long long)max_in_flight, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
    return -1;
}

enum {
    OPT_URL = 256, OPT_RATE, OPT_DURATION, OPT_CONC, OPT_REQS, OPT_IN, OPT_OUT, OPT_MODEL,
    OPT_ENDPOINT, OPT_TIMEOUT, OPT_SEED, OPT_JSON, OPT_KEY, OPT_WORKLOAD, OPT_MAXIF, OPT_PFILE,
    OPT_SLO_TTFT, OPT_SLO_E2E, OPT_TRACE, OPT_QUIET, OPT_EOS, OPT_P95_TTFT, OPT_P95_TPOT, OPT_P95_E2E,
    OPT_P99_E2E, OPT_START_HOUR, OPT_RATE_SCALE,
};

static const struct option OPTS[] = {
    {"url", required_argument, 0, OPT_URL},           {"rate", required_argument, 0, OPT_RATE},
    {"duration", required_argument, 0, OPT_DURATION}, {"concurrency", required_argument, 0, OPT_CONC},
    {"requests", required_argument, 0, OPT_REQS},     {"input-tokens", required_argument, 0, OPT_IN},
    {"output-tokens", required_argument, 0, OPT_OUT}, {"model", required_argument, 0, OPT_MODEL},
    {"served-model-name", required_argument, 0, OPT_MODEL},
    {"endpoint", required_argument, 0, OPT_ENDPOINT}, {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"seed", required_argument, 0, OPT_SEED},         {"json", required_argument, 0, OPT_JSON},
    {"api-key", required_argument, 0, OPT_KEY},       {"workload", required_argument, 0, OPT_WORKLOAD},
    {"max-in-flight", required_argument, 0, OPT_MAXIF}, {"prompt-file", required_argument, 0, OPT_PFILE},
    {"slo-ttft-ms", required_argument, 0, OPT_SLO_TTFT}, {"slo-e2e-ms", required_argument, 0, OPT_SLO_E2E},
    {"trace", required_argument, 0, OPT_TRACE},       {"quiet", no_argument, 0, OPT_QUIET},
    {"ignore-eos", no_argument, 0, OPT_EOS},          {"slo-ttft-p95-ms", required_argument, 0, OPT_P95_TTFT},
    {"slo-tpot-p95-ms", required_argument, 0, OPT_P95_TPOT}, {"slo-e2e-p95-ms", required_argument, 0, OPT_P95_E2E},
    {"slo-e2e-p99-ms", required_argument, 0, OPT_P99_E2E}, {"start-hour", required_argument, 0, OPT_START_HOUR},
    {"rate-scale", required_argument, 0, OPT_RATE_SCALE}, {0, 0, 0, 0},
};

typedef struct {
    const char *url, *model, *endpoint, *json, *api_key, *workload, *prompt_file, *trace;
    double rate, duration, timeout_s, slo_ttft_ms, slo_e2e_ms;
    double p95_ttft_ms, p95_tpot_ms, p95_e2e_ms, p99_e2e_ms;
    double start_hour, rate_scale;  // workload window; start_hour < 0: the busiest minute
    int64_t concurrency, requests, in_tokens, out_tokens, seed, max_in_flight;
    bool quiet, ignore_eos, tokens_set, window_set;
} BenchArgs;

// Parses argv into a; returns 0 or 2 (usage error, message printed).
static int parse_args(int argc, char **argv, BenchArgs *a) {
    *a = (BenchArgs){.model = "default", .endpoint = "completions", .timeout_s = 120, .in_tokens = 128,
                     .out_tokens = 128, .seed = 1, .api_key = getenv("OPENAI_API_KEY"),
                     .start_hour = -1, .rate_scale = 1};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", OPTS, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case OPT_URL: a->url = optarg; break;
        case OPT_RATE: bad = parse_double("--rate", optarg, 1e-6, 1e6, &a->rate); break;
        case OPT_DURATION: bad = parse_double("--duration", optarg, 1e-3, 864000, &a->duration); break;
        case OPT_CONC: bad = parse_int("--concurrency", optarg, 1, 100000, &a->concurrency); break;
        case OPT_REQS: bad = parse_int("--requests", optarg, 1, 10000000, &a->requests); break;
        case OPT_IN:
            bad = parse_int("--input-tokens", optarg, 0, 2000000, &a->in_tokens);
            a->tokens_set = true;
            break;
        case OPT_OUT:
            bad = parse_int("--output-tokens", optarg, 1, 10000000, &a->out_tokens);
            a->tokens_set = true;
            break;
        case OPT_START_HOUR:
            bad = parse_double("--start-hour", optarg, 0, 23.999, &a->start_hour);
            a->window_set = true;
            break;
        case OPT_RATE_SCALE:
            bad = parse_double("--rate-scale", optarg, 1e-6, 1e6, &a->rate_scale);
            a->window_set = true;
            break;
        case OPT_MODEL: a->model = optarg; break;
        case OPT_ENDPOINT: a->endpoint = optarg; break;
        case OPT_TIMEOUT: bad = parse_double("--timeout", optarg, 0.001, 86400, &a->timeout_s); break;
        case OPT_SEED: bad = parse_int("--seed", optarg, 0, INT64_MAX, &a->seed); break;
        case OPT_JSON: a->json = optarg; break;
        case OPT_KEY: a->api_key = optarg; break;
        case OPT_WORKLOAD: a->workload = optarg; break;
        case OPT_MAXIF: bad = parse_int("--max-in-flight", optarg, 1, 100000, &a->max_in_flight); break;
        case OPT_PFILE: a->prompt_file = optarg; break;
        case OPT_SLO_TTFT: bad = parse_double("--slo-ttft-ms", optarg, 1e-3, 1e9, &a->slo_ttft_ms); break;
        case OPT_SLO_E2E: bad = parse_double("--slo-e2e-ms", optarg, 1e-3, 1e9, &a->slo_e2e_ms); break;
        case OPT_TRACE: a->trace = optarg; break;
        case OPT_QUIET: a->quiet = true; break;
        case OPT_EOS: a->ignore_eos = true; break;
        case OPT_P95_TTFT: bad = parse_double("--slo-ttft-p95-ms", optarg, 1e-3, 1e9, &a->p95_ttft_ms); break;
        case OPT_P95_TPOT: bad = parse_double("--slo-tpot-p95-ms", optarg, 1e-3, 1e9, &a->p95_tpot_ms); break;
        case OPT_P95_E2E: bad = parse_double("--slo-e2e-p95-ms", optarg, 1e-3, 1e9, &a->p95_e2e_ms); break;
        case OPT_P99_E2E: bad = parse_double("--slo-e2e-p99-ms", optarg, 1e-3, 1e9, &a->p99_e2e_ms); break;
        default:
            fprintf(stderr, "rightsize bench: unknown or incomplete option '%s' (see rightsize bench --help)\n",
                    argv[optind - 1]);
            return 2;
        }
        if (bad) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "rightsize bench: unexpected argument '%s' (see rightsize bench --help)\n", argv[optind]);
        return 2;
    }
    if (!a->url) {
        fprintf(stderr, "rightsize bench: --url is required, e.g. --url http://127.0.0.1:8080/v1\n");
        return 2;
    }
    if (strncmp(a->url, "http://", 7) != 0 && strncmp(a->url, "https://", 8) != 0) {
        fprintf(stderr, "rightsize bench: --url '%s' must start with http:// or https://\n", a->url);
        return 2;
    }
    if (strcmp(a->endpoint, "chat") != 0 && strcmp(a->endpoint, "completions") != 0 && strcmp(a->endpoint, "embeddings") != 0) {
        fprintf(stderr, "rightsize bench: --endpoint '%s' must be chat, completions or embeddings\n", a->endpoint);
        return 2;
    }
    bool open = a->rate > 0 || a->workload, closed = a->concurrency > 0 || a->requests > 0;
    if (open == closed) {
        fprintf(stderr, "rightsize bench: give either --rate R --duration S (open loop), --workload FILE "
                        "--duration S, or --concurrency C --requests N (closed loop)\n");
        return 2;
    }
    if (a->rate > 0 && a->workload) {
        fprintf(stderr, "rightsize bench: --rate and --workload both set the arrival rate; give one\n");
        return 2;
    }
    if (a->workload && a->tokens_set) {
        fprintf(stderr, "rightsize bench: --input-tokens/--output-tokens come from the workload's token "
                        "distributions; drop them or drop --workload\n");
        return 2;
    }
    if (!a->workload && a->window_set) {
        fprintf(stderr, "rightsize bench: --start-hour and --rate-scale apply to --workload only\n");
        return 2;
    }
    if (open && a->duration <= 0) {
        fprintf(stderr, "rightsize bench: open loop needs --duration S (the arrival window in seconds)\n");
        return 2;
    }
    if (closed && (a->concurrency <= 0 || a->requests <= 0 || a->duration > 0)) {
        fprintf(stderr, "rightsize bench: closed loop needs --concurrency C and --requests N (and no --duration)\n");
        return 2;
    }
    if (a->max_in_flight == 0) a->max_in_flight = closed ? a->concurrency : 4096;
    if (closed && a->concurrency > a->max_in_flight) {
        fprintf(stderr, "rightsize bench: --concurrency %lld exceeds --max-in-flight %lld\n",
                (long long)a->concurrency, (long long)a->max_in_flight);
        return 2;
    }
    return 0;
}

// Open loop from a workload: arrivals, token counts, and the SLOs the flags did not set.
// Returns 0, or 2 with a message printed.
static int workload_schedule(BenchArgs *a, Rng *rng, ArrivalSchedule *sched, BenchParams *bp) {
    char err[512] = "";
    WlWindow w = {.duration_s = a->duration, .start_s = a->start_hour < 0 ? -1 : a->start_hour * 3600,
                  .rate_scale = a->rate_scale, .max_arrivals = 10000000};
    WlInfo info;
    int rc = wlsched_build(a->workload, &w, rng, sched, &info, err, sizeof err);
    if (rc) {
        fprintf(stderr, "rightsize bench: %s\n", err[0] ? err : err_str(rc));
        return 2;
    }
    snprintf(bp->workload_name, sizeof bp->workload_name, "%s", info.name);
    bp->window_start_s = info.start_s;
    bp->rate_scale = a->rate_scale;
    bp->rate_rps = (double)sched->n / a->duration;
    // Per-request goodput bounds: the workload's p95 targets (e2e p99 when it has no p95).
    if (bp->slo_ttft_ms <= 0) bp->slo_ttft_ms = info.slo_ttft_p95_ms;
    if (bp->slo_e2e_ms <= 0) bp->slo_e2e_ms = info.slo_e2e_p95_ms > 0 ? info.slo_e2e_p95_ms : info.slo_e2e_p99_ms;
    if (bp->slo_ttft_p95_ms <= 0) bp->slo_ttft_p95_ms = info.slo_ttft_p95_ms;
    if (bp->slo_tpot_p95_ms <= 0) bp->slo_tpot_p95_ms = info.slo_tpot_p95_ms;
    if (bp->slo_e2e_p95_ms <= 0) bp->slo_e2e_p95_ms = info.slo_e2e_p95_ms;
    if (bp->slo_e2e_p99_ms <= 0) bp->slo_e2e_p99_ms = info.slo_e2e_p99_ms;
    return 0;
}

// Builds the open-loop schedule from the flags or the workload. 0, or 2 with a message printed.
static int make_schedule(BenchArgs *a, Rng *rng, ArrivalSchedule *sched, BenchParams *bp) {
    if (a->workload) return workload_schedule(a, rng, sched, bp);
    if (arrivals_poisson(sched, a->rate, a->duration, (int32_t)a->in_tokens, (int32_t)a->out_tokens, 10000000, rng)) {
        fprintf(stderr, "rightsize bench: --rate x --duration must stay below 1e7 requests (about 1 GB of per-request records)\n");
        return 2;
    }
    if (sched->n == 0) {
        fprintf(stderr, "rightsize bench: no arrival in %g s at %g req/s (seed %lld); raise --rate or --duration\n",
                a->duration, a->rate, (long long)a->seed);
        return 2;
    }
    return 0;
}

static BenchParams params_from(const BenchArgs *a, bool open) {
    return (BenchParams){
        .url = a->url, .endpoint = a->endpoint, .model = a->model, .mode = open ? "open" : "closed",
        .workload = a->workload, .rate_rps = open ? a->rate : 0, .duration_s = open ? a->duration : 0,
        .concurrency = a->concurrency, .requests = a->requests,
        .input_tokens = a->workload ? -1 : a->in_tokens, .output_tokens = a->workload ? -1 : a->out_tokens,
        .max_in_flight = a->max_in_flight, .timeout_s = a->timeout_s, .seed = (uint64_t)a->seed,
        .slo_ttft_ms = a->slo_ttft_ms, .slo_e2e_ms = a->slo_e2e_ms,
        .slo_ttft_p95_ms = a->p95_ttft_ms, .slo_tpot_p95_ms = a->p95_tpot_ms,
        .slo_e2e_p95_ms = a->p95_e2e_ms, .slo_e2e_p99_ms = a->p99_e2e_ms, .window_start_s = -1, .rate_scale = 1,
    };
}

// Summary to stdout (stderr with --json -), then --json and --trace. Returns the exit status.
static int emit_reports(const BenchArgs *a, const BenchParams *bp, LgResult *res) {
    Buf text = {0}, json = {0}, trace = {0};
    int status = 1;
    BenchSummary sum;
    if (bench_report_summarize(res, bp, &sum) || bench_report_text(bp, &sum, &text)) goto nomem;
    bool json_stdout = a->json && strcmp(a->json, "-") == 0;
    fputs(text.data, json_stdout ? stderr : stdout);
    fflush(stdout);
    if (a->json) {
        if (bench_report_json(bp, &sum, &json)) goto nomem;
        if (write_file(a->json, &json)) goto done;
    }
    if (a->trace) {
        if (bench_report_trace_csv(res, &trace)) goto nomem;
        if (write_file(a->trace, &trace)) goto done;
    }
    if (res->stopped) fprintf(stderr, "rightsize bench: stopped by signal; figures cover what completed\n");
    if (sum.ok == 0) fprintf(stderr, "rightsize bench: no request succeeded (see errors above)\n");
    status = sum.ok > 0 ? 0 : 1;
    goto done;
nomem:
    fprintf(stderr, "rightsize bench: out of memory\n");
done:
    buf_free(&text);
    buf_free(&json);
    buf_free(&trace);
    return status;
}

int cmd_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return 0;
    }
    BenchArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (ensure_fds(a.max_in_flight)) return 2;

    int status = 2;
    char err[512] = "";
    ArrivalSchedule sched;
    arrivals_init(&sched);
    PromptGen prompts = {0};
    LgResult res = {0};
    Rng rng;
    rng_seed(&rng, (uint64_t)a.seed);
    bool open = a.rate > 0 || a.workload;
    BenchParams bp = params_from(&a, open);

    rc = a.prompt_file ? promptgen_init_file(&prompts, a.prompt_file, err, sizeof err) : promptgen_init_builtin(&prompts);
    if (rc) { fprintf(stderr, "rightsize bench: %s\n", err[0] ? err : err_str(rc)); goto done; }
    if (open && make_schedule(&a, &rng, &sched, &bp)) goto done;

    Progress pr = {.tty = isatty(2)};
    struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESETHAND};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    LgConfig cfg = {
        .url = a.url, .api = strcmp(a.endpoint, "chat") == 0 ? LG_API_CHAT : strcmp(a.endpoint, "embeddings") == 0 ? LG_API_EMBEDDINGS : LG_API_COMPLETIONS,
        .model = a.model, .api_key = a.api_key, .schedule = open ? &sched : NULL,
        .concurrency = a.concurrency, .n_requests = a.requests,
        .input_tokens = (int32_t)a.in_tokens, .output_tokens = (int32_t)a.out_tokens,
        .max_in_flight = a.max_in_flight, .timeout_us = (int64_t)(a.timeout_s * 1e6),
        .prompts = &prompts, .seed = (uint64_t)a.seed, .ignore_eos = a.ignore_eos, .stop = &g_stop,
        .on_progress = a.quiet ? NULL : print_progress, .progress_ctx = &pr,
    };
    rc = lg_run(&cfg, &res, err, sizeof err);
    if (!a.quiet && pr.tty) fputc('\n', stderr);
    if (rc) {
        fprintf(stderr, "rightsize bench: %s\n", err[0] ? err : err_str(rc));
        status = 1;
        goto done;
    }
    status = emit_reports(&a, &bp, &res);
done:
    lg_result_free(&res);
    promptgen_free(&prompts);
    arrivals_free(&sched);
    return status;
}
