// report.h — what `rightsize plan` prints: text, JSON (schema in docs/plan-json.md), a
// self-contained HTML page with inline SVG charts, and one candidate's arithmetic step by step (--explain).
// Every function writes to the FILE * it is given (the CLI decides where) and returns 0 or ERR_IO.
#ifndef RS_PLAN_REPORT_H
#define RS_PLAN_REPORT_H

#include <stdio.h>

#include "plan/catalog.h"
#include "plan/search.h"
#include "plan/workload.h"

int report_text(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r, const SearchOptions *o);
int report_json(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r, const SearchOptions *o);
int report_html(FILE *f, const Catalog *cat, const Workload *wl, const SearchResult *r, const SearchOptions *o);
// One candidate's arithmetic: memory fit, KV blocks, step times, capacity, sizing, cost, and (if
// simulated) the simulated scenarios.
int report_explain(FILE *f, const Catalog *cat, const Workload *wl, const Candidate *c);

#endif
