// fit_workload.h — a workload file (src/plan/workload.h's YAML) fitted from production telemetry,
// so `plan --from-telemetry` can re-plan for the traffic that actually came: the monthly rate, a
// day profile of arrivals per time-of-day bin (counts over exposure, so a partial first or last
// day does not bias it), the inter-arrival CV within the hour (diurnal change removed), token
// length histograms at the sketch's quantiles, the success and escalation rates, and the SLOs
// carried from a plan or given as flags.
#ifndef RS_REVIEW_FIT_WORKLOAD_H
#define RS_REVIEW_FIT_WORKLOAD_H

#include <stdbool.h>
#include <stdio.h>

#include "review/review.h"
#include "review/review_plan.h"

#define FITWL_TOKEN_BINS 32
#define FITWL_MIN_PER_BIN 50      // arrivals per profile bin wanted before a finer profile is used

// What `plan --from-telemetry` was asked (cmd_plan.c hands its flags here).
typedef struct {
    const char *files[64];
    int n_files;
    const char *out_path;          // the fitted workload YAML (default: FIRST_FILE.workload.yaml)
    const char *slo_from;          // a plan JSON whose workload SLOs are carried over
    ReviewSlo slo;                 // flags; override slo_from
    char out_buf[600];
} FitWlArgs;

// Consumes argv[*i] (and its value) when it is one of the --from-telemetry family of flags:
// returns 1 (consumed), 0 (not ours) or -1 (bad value; message printed to stderr).
int fitwl_cli_arg(FitWlArgs *a, int argc, char **argv, int *i);
// The flags' lines for `plan --help`.
void fitwl_cli_help(FILE *f);

// Reads the telemetry, fits, writes the workload YAML to a->out_path and prints a summary of
// the fit on stderr. Returns 0 or an Err with a message.
int fitwl_run(FitWlArgs *a, char *err, size_t err_len);

// Writes the fitted workload for an accumulated review (review_finish already called).
int fitwl_write(FILE *out, const Review *rv, const ReviewFit *f, const ReviewPlan *slo_plan, const ReviewSlo *slo,
                const char *source);

#endif
