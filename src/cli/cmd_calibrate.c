// cmd_calibrate.c — `rightsize calibrate`: measure the CPU engine's step times over a designed set
// of batch compositions, fit the planner's step-time model and write the profile `plan` loads.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/check.h"
#include "bench/calib_url.h"
#include "bench/calibrate.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "plan/catalog.h"
#include "plan/steptime.h"

static void calibrate_usage(FILE *out) {
    fprintf(out,
"usage: rightsize calibrate -m FILE [-o PROFILE.yaml] [options]\n"
"       rightsize calibrate --url http://HOST:PORT/v1 --served-model-name NAME [-o PROFILE.yaml] [options]\n"
"\n"
"Runs a designed set of batch compositions (prefill chunk x decode rows x context) through the\n"
"CPU engine in-process, fits the planner's step-time model\n"
"    step_us = b0 + b1*prefill_tokens + b2*decode_rows + b3*context_tokens\n"
"              + b4*[the step computes more than one row]\n"
"(non-negative least squares on relative error), prints every point against the fit and the fit\n"
"error, and writes the profile YAML that `rightsize plan` loads for this tier.\n"
"\n"
"  -m, --model FILE       GGUF model (general.architecture = llama)\n"
"  -o, --out FILE         profile to write (default: print only)\n"
"  --hardware ID          catalog hardware id this machine stands for (default: cpu)\n"
"  --model-id ID          catalog model id (default: the GGUF's general.name)\n"
"  --quantization Q       bf16|fp8|int8|int4 (default from the weights: q8_0 -> int8,\n"
"                         q4_* -> int4, otherwise bf16)\n"
"  --machine TEXT         free-text machine description (default: CPU model and cores)\n"
"  -t, --threads N        compute threads (default: all cores)\n"
"  --max-prefill N        largest prefill chunk (default 256)\n"
"  --max-rows N           largest number of decode rows (default 16)\n"
"  --max-ctx N            largest context per decode row (default 512)\n"
"  --repeats N            timed forwards per composition, median kept (default 3, at most 15)\n"
"  --seed S               token ids (default 1)\n"
"  -q, --quiet            print only the fit\n"
"\n"
"Live endpoint (--url; any OpenAI-compatible server that streams and honours ignore_eos):\n"
"closed-loop request mixes of prompt lengths x concurrency, each request asking for exactly\n"
"--output-tokens tokens. Median inter-token gap at concurrency C = one decode step of C rows;\n"
"median TTFT at concurrency 1 = per-request overhead (HTTP, tokenization) + one prefill. Fits\n"
"b0..b3 and request_overhead_us jointly (non-negative, relative error) and reports the error.\n"
"Against a rightsize gateway or worker, TTFT is the server's own (its x-rightsize-ttft-ms, from\n"
"its reading of the request), as its telemetry records it, so `report --plan` compares like with\n"
"like; the client's side of the hop, which no record sees, is printed.\n"
"Every request at concurrency 1 (and of the cold probe) also gives its own decode time per\n"
"token over its point's median: the quantiles of that ratio (16, from 32 requests up) and the\n"
"requests' median span are the profile's spread: and spread_window_us, the machine's scatter\n"
"that the simulator draws from per window so the plan's p95 carries it (steps under ~0.1 ms\n"
"are dominated by how the server groups stream events, and their spread with them).\n"
"  --url URL              base URL ending in /v1\n"
"  --served-model-name NAME  the \"model\" field the server expects (default \"default\";\n"
"                         --served-model is an alias)\n"
"  --endpoint E           completions (default, as bench) or chat\n"
"  --prompt-words LIST    prompt lengths in words (default 16,64,128)\n"
"  --concurrency LIST     concurrent streams, must include 1 (default 1,2,4,8)\n"
"  --output-tokens N      tokens per request (default 32)\n"
"  --rounds N             rounds over all points, each max(C, 4) requests at concurrency C; a\n"
"                         point keeps the medians of its rounds, so more rounds average out a\n"
"                         machine whose speed drifts (default 2)\n"
"  --idle-ms G            also probe what a request meeting an idle server pays (idle vCPUs halt,\n"
"                         caches cool; open-loop traffic below saturation meets one): each round,\n"
"                         single requests (open loop) after about G, G/4 and G/16 ms with\n"
"                         nothing in flight, against the same prompt back to back; the\n"
"                         profile's cold: rows (extra TTFT and step-time factor per idle gap)\n"
"                         let the simulator charge it only to requests that find their replica\n"
"                         idle; a level's step time below the warm point's, or above it by less\n"
"                         than two standard errors (from its median absolute deviation), keeps\n"
"                         factor 1; the extra TTFT is kept as measured, none below 0\n"
"                         (default 0: no probe)\n"
"  --neighbour-model NAME also probe what sharing the machine costs: each round, a closed loop of\n"
"                         requests to NAME (another replica on the same machine, e.g. a second\n"
"                         worker behind the same gateway) keeps it decoding while 4 requests of\n"
"                         the middle prompt length go to --served-model-name one after another;\n"
"                         their decode time per token over the same point's alone is the\n"
"                         profile's colocated: factor, which the simulator applies to a step per\n"
"                         busy replica of another tier naming the same planner.host (kept as 1\n"
"                         when below 1 or within two standard errors of it)\n"
"  --neighbour-url URL    where NAME is served (default: --url)\n"
"  --prompt-file FILE     take prompt words from FILE (one word should be one token)\n"
"  --api-key K            Authorization: Bearer K\n"
"  --timeout S            per-request timeout in seconds (default 120)\n"
"  -h, --help             this help\n");
}

typedef struct {
    const char *model, *out, *hardware, *model_id, *quant, *machine;
    int threads;
    bool quiet;
    CalibDesign design;
    const char *url, *served, *endpoint, *prompt_file, *api_key;
    CalibUrlDesign ud;
} CalOpts;

// Parses "a,b,c" into at most CALIB_URL_MAX_LEVELS integers in [lo, hi]. 0 or -1 (printed).
static int parse_list(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out, int *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || (*end && *end != ',') || v < lo || v > hi || *n == CALIB_URL_MAX_LEVELS) {
            fprintf(stderr, "calibrate: %s expects up to %d comma-separated integers in [%lld, %lld], got '%s'\n",
                    opt, CALIB_URL_MAX_LEVELS, (long long)lo, (long long)hi, s);
            return -1;
        }
        out[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) { fprintf(stderr, "calibrate: %s is empty\n", opt); return -1; }
    return 0;
}

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "calibrate: %s expects an integer in [%lld, %lld], got '%s'\n", opt, (long long)lo,
                (long long)hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

// Returns 0, 1 for --help (printed), or 2 on a usage error (message printed).
static int parse_opts(int argc, char **argv, CalOpts *o) {
    *o = (CalOpts){.hardware = "cpu", .served = "default", .endpoint = "completions",
                   .design = {.max_prefill = 256, .max_rows = 16, .max_ctx = 512, .repeats = 3, .seed = 1},
                   .ud = {.prompt_words = {16, 64, 128}, .n_prompts = 3, .concurrency = {1, 2, 4, 8}, .n_conc = 4,
                          .output_tokens = 32, .rounds = 2, .timeout_us = 120000000}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        const char *v = has_val ? argv[i + 1] : NULL;
        int64_t n;
#define NEED_VAL() do { if (!has_val) { fprintf(stderr, "calibrate: %s needs a value (see --help)\n", a); return 2; } i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { calibrate_usage(stdout); return 1; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VAL(); o->model = v; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { NEED_VAL(); o->out = v; }
        else if (!strcmp(a, "--hardware")) { NEED_VAL(); o->hardware = v; }
        else if (!strcmp(a, "--model-id")) { NEED_VAL(); o->model_id = v; }
        else if (!strcmp(a, "--quantization")) { NEED_VAL(); o->quant = v; }
        else if (!strcmp(a, "--machine")) { NEED_VAL(); o->machine = v; }
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = true;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEED_VAL(); if (parse_i64(a, v, 1, 1024, &n)) return 2; o->threads = (int)n; }
        else if (!strcmp(a, "--max-prefill")) { NEED_VAL(); if (parse_i64(a, v, 1, 65536, &o->design.max_prefill)) return 2; }
        else if (!strcmp(a, "--max-rows")) { NEED_VAL(); if (parse_i64(a, v, 1, 4096, &o->design.max_rows)) return 2; }
        else if (!strcmp(a, "--max-ctx")) { NEED_VAL(); if (parse_i64(a, v, 8, 1 << 20, &o->design.max_ctx)) return 2; }
        else if (!strcmp(a, "--repeats")) { NEED_VAL(); if (parse_i64(a, v, 1, 15, &n)) return 2; o->design.repeats = (int)n; }
        else if (!strcmp(a, "--seed")) { NEED_VAL(); if (parse_i64(a, v, 0, INT64_MAX, &n)) return 2; o->design.seed = (uint64_t)n; }
        else if (!strcmp(a, "--url")) { NEED_VAL(); o->url = v; }
        else if (!strcmp(a, "--served-model-name") || !strcmp(a, "--served-model")) { NEED_VAL(); o->served = v; }
        else if (!strcmp(a, "--endpoint")) { NEED_VAL(); o->endpoint = v; }
        else if (!strcmp(a, "--prompt-file")) { NEED_VAL(); o->prompt_file = v; }
        else if (!strcmp(a, "--api-key")) { NEED_VAL(); o->api_key = v; }
        else if (!strcmp(a, "--prompt-words")) { NEED_VAL(); if (parse_list(a, v, 1, 100000, o->ud.prompt_words, &o->ud.n_prompts)) return 2; }
        else if (!strcmp(a, "--concurrency")) { NEED_VAL(); if (parse_list(a, v, 1, 4096, o->ud.concurrency, &o->ud.n_conc)) return 2; }
        else if (!strcmp(a, "--output-tokens")) { NEED_VAL(); if (parse_i64(a, v, 4, 100000, &o->ud.output_tokens)) return 2; }
        else if (!strcmp(a, "--rounds")) { NEED_VAL(); if (parse_i64(a, v, 1, 1000, &o->ud.rounds)) return 2; }
        else if (!strcmp(a, "--idle-ms")) { NEED_VAL(); if (parse_i64(a, v, 0, 60000, &n)) return 2; o->ud.idle_us = n * 1000; }
        else if (!strcmp(a, "--neighbour-model")) { NEED_VAL(); o->ud.neighbour_model = v; }
        else if (!strcmp(a, "--neighbour-url")) { NEED_VAL(); o->ud.neighbour_url = v; }
        else if (!strcmp(a, "--timeout")) { NEED_VAL(); if (parse_i64(a, v, 1, 86400, &n)) return 2; o->ud.timeout_us = n * 1000000; }
        else { fprintf(stderr, "calibrate: unknown option '%s' (see --help)\n", a); return 2; }
#undef NEED_VAL
    }
    if (!o->model == !o->url) {
        fprintf(stderr, "calibrate: give either -m FILE (in-process engine) or --url URL (a live endpoint); see --help\n");
        return 2;
    }
    if ((o->ud.neighbour_model || o->ud.neighbour_url) && (!o->url || !o->ud.neighbour_model)) {
        fprintf(stderr, "calibrate: %s\n", !o->url ? "--neighbour-model and --neighbour-url probe a live endpoint: give --url too"
                                                   : "--neighbour-url says where --neighbour-model is served: give --neighbour-model too");
        return 2;
    }
    if (strcmp(o->endpoint, "completions") && strcmp(o->endpoint, "chat")) {
        fprintf(stderr, "calibrate: --endpoint expects completions or chat, got '%s'\n", o->endpoint);
        return 2;
    }
    if (o->url) {
        char err[256];
        o->ud.url = o->url;
        if (calib_url_check(&o->ud, err, sizeof err)) { fprintf(stderr, "calibrate: %s\n", err); return 2; }
    }
    if (o->quant) {
        bool known = false;
        for (int q = 0; q < QUANT_COUNT; q++) known |= !strcmp(o->quant, plan_quant_names[q]);
        if (!known) {
            fprintf(stderr, "calibrate: --quantization expects bf16, fp8, int8 or int4, got '%s'\n", o->quant);
            return 2;
        }
    }
    const char *texts[] = {o->hardware, o->model_id, o->machine};
    for (size_t i = 0; i < ARRAY_LEN(texts); i++)
        if (texts[i] && (strpbrk(texts[i], "\"\\\n") || strlen(texts[i]) > 60)) {
            fprintf(stderr, "calibrate: '%s' must be at most 60 characters without quotes, backslashes or newlines\n",
                    texts[i]);
            return 2;
        }
    return 0;
}

// The planner's quantization class of the engine's weight type ("q8_0" -> "int8").
static const char *quant_class(const char *engine_quant) {
    if (!strncmp(engine_quant, "q8", 2)) return "int8";
    if (!strncmp(engine_quant, "q4", 2)) return "int4";
    return "bf16";
}

// "CPU model name, N cores, T threads" from /proc/cpuinfo (Linux), or "unknown CPU".
static void machine_text(char *buf, size_t len, int threads) {
    char model[96] = "unknown CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n\"\\")] = 0;
        snprintf(model, sizeof model, "%s", colon);
        break;
    }
    if (f) fclose(f);
    snprintf(buf, len, "%.60s, %ld cores, %d threads", model, sysconf(_SC_NPROCESSORS_ONLN), threads);
}

static void print_point(void *ctx, int64_t i, int64_t n, const CalibPoint *p) {
    if (*(const bool *)ctx || !isatty(2)) return;  // a live progress line on terminals only
    fprintf(stderr, "\rcalibrate: %lld/%lld compositions measured", (long long)i + 1, (long long)n);
    if (i + 1 == n) fprintf(stderr, "\n");
    (void)p;
}

// Writes the profile of a fit to o->out (when given) and says so. Returns 0 or 1 (printed).
// cold: the probe of `--url --idle-ms` (its idle gaps become the profile's cold: rows), or NULL.
// spread: the concurrency-1 requests' scatter of `--url` (the profile's spread:), or NULL.
// colo: the co-location probe of `--url --neighbour-model` (the profile's colocated:), or NULL.
static int write_profile(const CalOpts *o, const CalibFit *fit, double overhead_us, const CalibUrlCold *cold,
                         const CalibUrlSpread *spread, const CalibUrlColo *colo, const char *model_name,
                         const char *quant, int threads) {
    if (!o->out) return 0;
    StepProfile p = {.tp = 1, .b0_us = fit->b0_us, .prefill_token_us = fit->prefill_token_us,
                     .decode_row_us = fit->decode_row_us, .context_token_us = fit->context_token_us,
                     .multi_row_us = fit->multi_row_us, .n_points = fit->n_points, .rmse_us = fit->rmse_us, .mape = fit->mape,
                     .request_overhead_us = overhead_us};
    // Rows by ascending gap (the levels' real gaps ascend unless the machine stalled; such a row is left out).
    for (int l = 1; cold && cold->idle_us > 0 && l <= CALIB_URL_COLD_GAPS; l++)
        if (p.n_cold == 0 || cold->gap_us[l] > p.cold[p.n_cold - 1].after_us)
            p.cold[p.n_cold++] = (StepCold){.after_us = cold->gap_us[l], .wake_us = cold->wake_us[l],
                                            .step_factor = fmin(1e4, fmax(1e-3, cold->step_factor[l]))};
    if (spread && spread->n > 0) {
        for (int i = 0; i < spread->n; i++)
            p.spread[i] = fmin(STEP_SPREAD_HI, fmax(STEP_SPREAD_LO, spread->factor[i]));
        p.n_spread = spread->n;
        p.spread_window_us = fmax(1, spread->window_us);
    }
    if (colo && colo->n > 0) p.colocated = fmin(STEP_COLOCATED_HI, fmax(STEP_COLOCATED_LO, colo->factor));
    snprintf(p.hardware, sizeof p.hardware, "%s", o->hardware);
    snprintf(p.model, sizeof p.model, "%.63s", o->model_id ? o->model_id : model_name);
    for (char *c = p.model; *c; c++)
        if (*c == '"' || *c == '\\') *c = '_';
    snprintf(p.quantization, sizeof p.quantization, "%s", o->quant ? o->quant : quant);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(p.date, sizeof p.date, "%Y-%m-%d", &tm);
    if (o->machine) snprintf(p.machine, sizeof p.machine, "%s", o->machine);
    else if (o->url) snprintf(p.machine, sizeof p.machine, "endpoint %.100s", o->url);
    else machine_text(p.machine, sizeof p.machine, threads);
    char err[512];
    if (step_profile_save(&p, o->out, err, sizeof err)) {
        fprintf(stderr, "calibrate: %s\n", err);
        return 1;
    }
    printf("wrote %s (hardware %s, model %s, quantization %s)\n", o->out, p.hardware, p.model, p.quantization);
    return 0;
}

static void print_url_point(void *ctx, int64_t i, int64_t n, const CalibUrlPoint *p) {
    if (*(const bool *)ctx || !isatty(2)) return;
    fprintf(stderr, "\rcalibrate: %lld/%lld request mixes measured", (long long)i + 1, (long long)n);
    if (i + 1 == n) fprintf(stderr, "\n");
    (void)p;
}

// `calibrate --url`: the live endpoint's step times from streamed responses.
static int calibrate_url(CalOpts *o) {
    char err[512] = "";
    PromptGen pg = {0};
    int rc = o->prompt_file ? promptgen_init_file(&pg, o->prompt_file, err, sizeof err) : promptgen_init_builtin(&pg);
    if (rc) { fprintf(stderr, "calibrate: %s\n", err[0] ? err : err_str(rc)); return 2; }
    o->ud.model = o->served;
    o->ud.api_key = o->api_key ? o->api_key : getenv("OPENAI_API_KEY");
    o->ud.api = strcmp(o->endpoint, "chat") ? LG_API_COMPLETIONS : LG_API_CHAT;
    o->ud.prompts = &pg;
    o->ud.seed = o->design.seed;
    CalibUrlPoint pts[CALIB_URL_MAX_LEVELS * CALIB_URL_MAX_LEVELS];
    int64_t n = 0;
    CalibUrlFit fit;
    CalibUrlCold cold;
    CalibUrlSpread spread;
    CalibUrlColo colo;
    rc = calib_url_run(&o->ud, pts, &n, &cold, &spread, &colo, print_url_point, &o->quiet, err, sizeof err);
    if (!rc) rc = calib_url_fit(pts, n, &fit, err, sizeof err);
    promptgen_free(&pg);
    if (rc) { fprintf(stderr, "calibrate: %s\n", err[0] ? err : err_str(rc)); return 1; }
    if (!o->quiet) {
        printf("%6s %5s %8s %7s %5s %10s %10s %7s %10s %10s %7s\n", "words", "conc", "prompt", "output", "ok",
               "ttft_ms", "fit_ms", "err_%", "itl_ms", "fit_ms", "err_%");
        for (int64_t i = 0; i < n; i++) {
            const CalibUrlPoint *p = &pts[i];
            printf("%6lld %5lld %8.0f %7.0f %5lld", (long long)p->words, (long long)p->conc, p->prompt_tokens,
                   p->output_tokens, (long long)p->n_ok);
            if (p->conc == 1)
                printf(" %10.2f %10.2f %7.2f", p->ttft_us / 1e3, p->ttft_fit_us / 1e3,
                       100 * (p->ttft_fit_us - p->ttft_us) / p->ttft_us);
            else
                printf(" %10s %10s %7s", "-", "-", "-");
            printf(" %10.2f %10.2f %7.2f\n", p->itl_us / 1e3, p->itl_fit_us / 1e3,
                   p->itl_us > 0 ? 100 * (p->itl_fit_us - p->itl_us) / p->itl_us : 0);
        }
    }
    printf("fit: step_us = %.3f + %.5f*prefill_tokens + %.4f*decode_rows + %.6f*context_tokens + %.3f*[rows > 1]; "
           "request_overhead_us = %.1f\n", fit.step.b0_us, fit.step.prefill_token_us, fit.step.decode_row_us,
           fit.step.context_token_us, fit.step.multi_row_us, fit.overhead_us);
    printf("fit error over %lld rows: rmse %.1f us, mean abs error %.2f%% (TTFT rows %lld: %.2f%%, inter-token "
           "rows %lld: %.2f%%)\n", (long long)fit.step.n_points, fit.step.rmse_us, 100 * fit.step.mape,
           (long long)fit.n_ttft_rows, 100 * fit.mape_ttft, (long long)fit.n_itl_rows, 100 * fit.mape_itl);
    int64_t n_server = 0;
    double hop_us = calib_url_hop_us(pts, n, &n_server);
    if (n_server > 0)
        printf("TTFT as the server's records see it (x-rightsize-ttft-ms on %lld requests): request_overhead_us "
               "leaves out the client's side of the hop, median %.2f ms over the points\n", (long long)n_server,
               hop_us / 1e3);
    if (cold.idle_us > 0) {
        printf("cold probe (%lld words, 1 request at a time): after an idle gap, against the point sent back to back\n",
               (long long)cold.at[0].words);
        printf("%10s %5s %10s %10s %10s %12s\n", "gap_ms", "ok", "ttft_ms", "itl_ms", "wake_ms", "step_factor");
        for (int l = 0; l <= CALIB_URL_COLD_GAPS; l++)
            printf("%10.1f %5lld %10.2f %10.3f %10.2f %12.3f\n", cold.gap_us[l] / 1e3, (long long)cold.at[l].n_ok,
                   cold.at[l].ttft_us / 1e3, cold.at[l].itl_us / 1e3, cold.wake_us[l] / 1e3, cold.step_factor[l]);
    }
    if (spread.n > 0) {
        printf("spread (%lld requests at concurrency 1, each over its point's median ITL; held %.1f ms):",
               (long long)spread.n_samples, spread.window_us / 1e3);
        const int at[] = {0, spread.n / 4 - 1, spread.n / 2 - 1, 3 * spread.n / 4 - 1, spread.n - 1};
        for (size_t j = 0; j < ARRAY_LEN(at); j++)   // quantile i sits at probability (i + 1/2) / n
            printf("%s p%.0f %.3f", j ? "," : "", 100 * (at[j] + 0.5) / spread.n, spread.factor[at[j]]);
        printf("\n");
    } else {
        printf("spread: not measured (%lld requests at concurrency 1 with two tokens, need %d; raise --rounds)\n",
               (long long)spread.n_samples, CALIB_URL_SPREAD_MIN);
    }
    if (colo.n > 0)
        printf("co-location (%lld requests beside a busy '%s', %lld of its requests ok): itl %.3f ms (se %.3f) against "
               "%.3f ms alone: colocated %.3f%s\n", (long long)colo.n, o->ud.neighbour_model, (long long)colo.neighbour_ok,
               colo.itl_us / 1e3, colo.se_us / 1e3, colo.alone_itl_us / 1e3, colo.factor,
               colo.factor == 1 ? " (no slowdown beyond two standard errors)" : "");
    return write_profile(o, &fit.step, fit.overhead_us, &cold, &spread, &colo, o->served, "bf16", 0);
}

int cmd_calibrate(int argc, char **argv) {
    CalOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;
    if (o.url) return calibrate_url(&o);
    char err[512] = "";
    CalibShape shapes[CALIB_MAX_SHAPES];
    if (calib_design(&o.design, shapes, err, sizeof err) < 0) {
        fprintf(stderr, "calibrate: %s\n", err);
        return 2;
    }
    EngineOptions eo;
    calib_engine_options(&o.design, o.threads, &eo);
    Engine *e = engine_create(o.model, &eo, err, sizeof err);
    if (!e) {
        fprintf(stderr, "calibrate: %s\n", err);
        return 1;
    }
    const EngineInfo *info = engine_info(e);
    CalibPoint pts[CALIB_MAX_SHAPES];
    int64_t n = 0;
    CalibFit fit;
    rc = calib_run(e, &o.design, pts, &n, print_point, &o.quiet, err, sizeof err);
    if (rc == 0) rc = calib_fit(pts, n, &fit);
    if (rc) {
        fprintf(stderr, "calibrate: %s\n", err[0] ? err : err_str(rc));
        engine_destroy(e);
        return 1;
    }
    if (!o.quiet) {
        printf("%8s %6s %10s %12s %12s %8s\n", "prefill", "rows", "context", "measured_us", "fit_us", "err_%");
        for (int64_t i = 0; i < n; i++)
            printf("%8.0f %6.0f %10.1f %12.1f %12.1f %8.2f\n", pts[i].prefill_tokens, pts[i].decode_rows,
                   pts[i].ctx_tokens, pts[i].step_us, pts[i].fit_us,
                   100.0 * (pts[i].fit_us - pts[i].step_us) / pts[i].step_us);
    }
    printf("fit: step_us = %.3f + %.5f*prefill_tokens + %.4f*decode_rows + %.6f*context_tokens + %.3f*[rows > 1]\n",
           fit.b0_us, fit.prefill_token_us, fit.decode_row_us, fit.context_token_us, fit.multi_row_us);
    printf("fit error over %lld points: rmse %.1f us, mean abs error %.2f%%\n", (long long)fit.n_points, fit.rmse_us,
           100.0 * fit.mape);
    rc = write_profile(&o, &fit, 0, NULL, NULL, NULL, info->name, quant_class(info->quant), info->n_threads);
    engine_destroy(e);
    return rc;
}
