// search_int.h — what the plan search's files share (search.c: enumeration, the whole search and
// candidate ids; search_analyze.c: the analytic model that prunes and sizes; search_sim.c: the
// simulation of a survivor). Not part of the module's interface (search.h).
#ifndef RS_PLAN_SEARCH_INT_H
#define RS_PLAN_SEARCH_INT_H

#include "plan/search.h"

#define MONTH_HOURS 720.0      // 30 days, as WL_MONTH_S
#define SEARCH_N_KNOBS 4
extern const int64_t search_llm_knobs[SEARCH_N_KNOBS];    // max_num_seqs values of a decoder
extern const int64_t search_shot_knobs[SEARCH_N_KNOBS];   // batch sizes of an encoder

// The stack a device runs when the workload names none: the first in stacks.yaml that runs on
// it (-1: none does).
int search_default_stack(const Catalog *cat, const CatHardware *hw);
// The stack a tier on hardware h runs: the candidate's when it runs there, else h's default.
const CatStack *search_stack_on(const Catalog *cat, const Candidate *c, const CatHardware *h);
// A student's quantization on hw: the smallest the device and the model both offer.
PlanQuant search_student_quant(const CatHardware *hw, const CatModel *s);

// The student tier does not depend on the teacher's hardware or model: one search caches the
// chosen student device per (student, batch knob, scaling, mix, stack) — many teachers share it.
typedef struct {
    bool done;
    double usd;                    // < 0: no device holds the student within the SLO
    Candidate pick;                // student_* fields of the choice
} StudentPick;
typedef struct {
    StudentPick *e;
    int64_t n, n_stacks;
} StudentCache;

// search_analyze with the search's student cache (NULL: none).
void search_analyze_cached(const Catalog *cat, const Workload *wl, const StepProfile *profiles, int64_t n_profiles,
                           Candidate *c, StudentCache *cache);

#endif
