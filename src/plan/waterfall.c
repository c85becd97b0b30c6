// waterfall.c — savings per lever that do not depend on the order levers are listed in.
//
// For every lever the chosen plan uses (quantization, student-first cascade, autoscaling,
// reserved/spot capacity mix) two variants are built and simulated like any candidate:
//   added   = the baseline with only that lever set as the plan sets it
//   removed = the plan with only that lever reset to the baseline's setting
// The baseline is the plan's hardware, devices and model on demand, at a fixed replica count,
// in bf16 (or the plan's quantization when bf16 does not fit), without a cascade, at the
// stack's default max_num_seqs. "Saves when added" = cost(baseline) − cost(added); "saves in the
// plan" = cost(removed) − cost(plan). Neither depends on lever order.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/threadpool.h"
#include "plan/search.h"

double search_wf_cost(const Candidate *c) {
    if (c->pruned || !c->simulated || !c->meets_slo) return -1;
    return c->usd_month;
}

// Variants are analysed one by one (cheap), then simulated on the search's threads.
typedef struct {
    const Catalog *cat;
    const Workload *wl;
    const SearchOptions *o;
    Candidate *v[1 + 2 * LEVER_COUNT];
    int n;
    int rc[1 + 2 * LEVER_COUNT];
    char err[1 + 2 * LEVER_COUNT][256];
} VariantJob;

static void variant_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    VariantJob *j = ctx;
    j->rc[task] = search_simulate(j->cat, j->wl, j->o, j->v[task], false, j->err[task], sizeof j->err[task]);
}

// Analyses one variant in place; reuses the search's result when it simulated the same
// candidate, else queues it for simulation (unless pruned).
static void add_variant(VariantJob *j, const SearchResult *r, Candidate *c) {
    c->sim = NULL;
    c->simulated = c->meets_slo = false;
    search_analyze(j->cat, j->wl, NULL, 0, c);
    if (c->pruned) return;
    for (int64_t i = 0; i < r->n_cands; i++) {
        const Candidate *s = &r->cands[i];
        if (!s->simulated || strcmp(s->id, c->id)) continue;
        Candidate copy = *s;
        copy.sim = NULL;   // the search keeps the results; the variant needs only the costs
        *c = copy;
        return;
    }
    j->v[j->n++] = c;
}

static int run_variants(VariantJob *j, char *err, size_t err_len) {
    ThreadPool *tp = tp_create(j->o->threads > 0 ? j->o->threads : 1);
    if (!tp) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    tp_run(tp, variant_task, j, j->n);
    tp_destroy(tp);
    for (int i = 0; i < j->n; i++)
        if (j->rc[i]) return err_set(err, err_len, j->rc[i], "%s", j->err[i]);
    j->n = 0;
    return 0;
}

static Candidate identity_of(const Candidate *c) {
    return (Candidate){.hw = c->hw, .model = c->model, .student = c->student, .devices = c->devices, .stack = c->stack,
                       .quant = c->quant, .student_quant = c->student_quant, .student_hw = c->student_hw,
                       .batch_knob = c->batch_knob, .scale = c->scale, .mix = c->mix};
}

// Sets lever l of dst as in src.
static void set_lever(Candidate *dst, const Candidate *src, Lever l) {
    switch (l) {
    case LEVER_QUANT: dst->quant = src->quant; break;
    case LEVER_CASCADE: dst->student = src->student; dst->student_quant = src->student_quant; dst->student_hw = src->student_hw; break;
    case LEVER_AUTOSCALE: dst->scale = src->scale; break;
    case LEVER_MIX: dst->mix = src->mix; break;
    default: break;
    }
}

int search_waterfall(const Catalog *cat, const Workload *wl, const SearchOptions *o, SearchResult *r, char *err,
                     size_t err_len) {
    if (r->best < 0) return 0;
    const Candidate *plan = &r->cands[r->best];
    const CatModel *m = &cat->models[plan->model];
    Candidate base = identity_of(plan);
    base.student = -1;
    base.scale = SCALE_FIXED;
    base.mix = MIX_ON_DEMAND;
    base.quant = m->quant[QUANT_BF16].present && cat->hw[plan->hw].quant_ok[QUANT_BF16] ? QUANT_BF16 : plan->quant;
    int64_t knob = search_stack(cat, plan)->max_num_seqs;
    base.batch_knob = m->encoder ? plan->batch_knob : knob;
    VariantJob *j = calloc(1, sizeof *j);
    if (!j) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    *j = (VariantJob){.cat = cat, .wl = wl, .o = o};
    r->wf_base = base;
    add_variant(j, r, &r->wf_base);
    if (r->wf_base.pruned && base.quant != plan->quant) {   // bf16 does not fit: the plan's quantization is the baseline's
        base.quant = plan->quant;
        r->wf_quant_required = true;
        r->wf_base = base;
        add_variant(j, r, &r->wf_base);
    }
    const Lever levers[] = {LEVER_QUANT, LEVER_CASCADE, LEVER_AUTOSCALE, LEVER_MIX};
    for (size_t i = 0; i < sizeof levers / sizeof levers[0]; i++) {
        Lever l = levers[i];
        Candidate add = base, rem = identity_of(plan);
        set_lever(&add, plan, l);
        set_lever(&rem, &base, l);
        bool used = l == LEVER_QUANT ? plan->quant != base.quant
                  : l == LEVER_CASCADE ? plan->student >= 0
                  : l == LEVER_AUTOSCALE ? plan->scale != SCALE_FIXED : plan->mix != MIX_ON_DEMAND;
        r->wf_used[l] = used;
        if (!used) continue;
        r->wf_added[l] = add;
        r->wf_removed[l] = rem;
        add_variant(j, r, &r->wf_added[l]);
        add_variant(j, r, &r->wf_removed[l]);
    }
    int rc = run_variants(j, err, err_len);
    free(j);
    r->wf_done = rc == 0;
    return rc;
}
