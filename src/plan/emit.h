// emit.h — what `rightsize plan --emit` writes: the serve pipeline config (DESIGN.md §4) of a
// chosen plan. Writes to the FILE * it is given and returns 0 or ERR_IO.
#ifndef RS_PLAN_EMIT_H
#define RS_PLAN_EMIT_H

#include <stdio.h>

#include "plan/catalog.h"
#include "plan/search.h"
#include "plan/workload.h"

// The serve pipeline config for candidate c.
int emit_pipeline(FILE *f, const Catalog *cat, const Workload *wl, const Candidate *c);

#endif
