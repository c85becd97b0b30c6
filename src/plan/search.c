// search.c — the plan search (model in search.h): candidate enumeration, the survivors of the
// analytic model (search_analyze.c) simulated on threads (search_sim.c), rankings, and candidate
// ids for --explain.
#include "plan/search_int.h"

#include <dirent.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/threadpool.h"

const char *const scenario_names[SCEN_COUNT] = {"best", "expected", "burst"};
const char *const scale_names[SCALE_COUNT] = {"fixed", "auto"};
const char *const mix_names[MIX_COUNT] = {"od", "reserved", "reserved+spot"};
const char *const constraint_names[CONS_COUNT] = {[CONS_HARDWARE] = "hardware", [CONS_CLASS] = "classes",
                                                  [CONS_PROVIDER] = "providers", [CONS_SPOT] = "allow_spot"};
const char *const lever_names[LEVER_COUNT] = {"baseline", "batching", "quantization", "distillation/cascade",
                                              "autoscaling", "capacity mix"};

const int64_t search_llm_knobs[SEARCH_N_KNOBS] = {1, 16, 64, 256};
const int64_t search_shot_knobs[SEARCH_N_KNOBS] = {1, 8, 32, 128};

void search_options_default(SearchOptions *o) {
    *o = (SearchOptions){.horizon_s = 86400, .seed = 1, .threads = 2, .keep_per_level = 3};
}

static bool wants_cascade(const Workload *wl) {
    return wl->cls != WL_EMBEDDING && (wl->escalation_rate > 0 || wl->conf_alpha > 0);
}

const CatStack *search_stack(const Catalog *cat, const Candidate *c) {
    return c->stack >= 0 ? &cat->stacks[c->stack] : cat_stack_reference();
}

// The stack a device runs when the workload names none: the first in stacks.yaml that runs on it.
int search_default_stack(const Catalog *cat, const CatHardware *hw) {
    for (int64_t i = 0; i < cat->n_stacks; i++)
        if (cat_stack_runs_on(&cat->stacks[i], hw)) return (int)i;
    return -1;
}

// The stack a tier on hardware h runs: the candidate's when it runs there, else h's default.
const CatStack *search_stack_on(const Catalog *cat, const Candidate *c, const CatHardware *h) {
    const CatStack *st = search_stack(cat, c);
    if (c->stack >= 0 && cat_stack_runs_on(st, h)) return st;
    int d = search_default_stack(cat, h);
    return d >= 0 ? &cat->stacks[d] : cat_stack_reference();
}

// Analytic student tier of c on c->student_hw (its quantization chosen there when choose_quant):
PlanQuant search_student_quant(const CatHardware *hw, const CatModel *s) {
    const PlanQuant pref[] = {QUANT_INT4, QUANT_INT8, QUANT_BF16};
    for (int i = 0; i < 3; i++)
        if (hw->quant_ok[pref[i]] && s->quant[pref[i]].present) return pref[i];
    return QUANT_BF16;
}

static bool model_allowed(const Workload *wl, const CatModel *m) {
    if ((wl->cls == WL_EMBEDDING) != m->encoder) return false;
    if (wl->n_models == 0) return true;
    for (int i = 0; i < wl->n_models; i++)
        if (!strcmp(wl->models[i], m->id)) return true;
    return false;
}

// Stacks a device is planned with: those the workload names that run on it, else its default.
static int stacks_for(const Catalog *cat, const Workload *wl, const CatHardware *hw, int *out) {
    int n = 0;
    for (int i = 0; i < wl->n_stacks; i++) {
        const CatStack *s = catalog_stack(cat, wl->stacks[i]);
        if (s && s != cat_stack_reference() && cat_stack_runs_on(s, hw)) out[n++] = (int)(s - cat->stacks);
    }
    if (wl->n_stacks == 0) out[n++] = search_default_stack(cat, hw);
    return n;
}

static int64_t enumerate(const Catalog *cat, const Workload *wl, Candidate *out, int64_t cap) {
    int64_t n = 0;
    bool cascade = wants_cascade(wl);
    for (int64_t mi = 0; mi < cat->n_models; mi++) {
        const CatModel *m = &cat->models[mi];
        if (!model_allowed(wl, m) || (m->student && cascade)) continue;   // students serve as first tiers
        for (int64_t hi = 0; hi < cat->n_hw; hi++) {
            const CatHardware *hw = &cat->hw[hi];
            int stk[8];
            int n_stk = stacks_for(cat, wl, hw, stk);
            for (int sti = 0; sti < n_stk; sti++)
            for (int dev = 1; dev <= hw->max_devices && dev <= 8; dev *= 2) {
                if (m->heads % dev) continue;
                for (int q = 0; q < QUANT_COUNT; q++) {
                    if (!hw->quant_ok[q] || !m->quant[q].present) continue;
                    for (int ki = 0; ki < 4; ki++) {
                        int64_t knob = m->encoder ? search_shot_knobs[ki] : search_llm_knobs[ki];
                        for (int64_t si = -1; si < (cascade ? cat->n_models : 0); si++) {
                            if (si >= 0) {
                                const CatModel *sm = &cat->models[si];
                                if (!sm->student || sm->encoder || si == mi || sm->params_b >= m->params_b) continue;
                            }
                            for (int sc = 0; sc < SCALE_COUNT; sc++)
                                for (int mix = 0; mix < MIX_COUNT; mix++) {
                                    if (n == cap) return n;
                                    Candidate *c = &out[n++];
                                    *c = (Candidate){.hw = (int)hi, .model = (int)mi, .student = (int)si, .devices = dev,
                                                     .stack = stk[sti], .student_hw = -1,
                                                     .quant = (PlanQuant)q, .batch_knob = knob, .scale = (ScaleMode)sc,
                                                     .mix = (CapMix)mix};
                                    if (si >= 0) c->student_quant = search_student_quant(hw, &cat->models[si]);
                                }
                        }
                    }
                }
            }
        }
    }
    return n;
}

typedef struct {
    const Catalog *cat;
    const Workload *wl;
    const SearchOptions *o;
    Candidate *cands;
    int64_t *todo;
    int64_t n_todo;
    _Atomic int64_t done;
    _Atomic int failed;
    char err[256];
} SimJob;

static void sim_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    SimJob *j = ctx;
    if (atomic_load(&j->failed)) return;
    char err[256];
    // Every survivor keeps its expected-scenario series (1440 points): the chosen one needs no rerun.
    if (search_simulate(j->cat, j->wl, j->o, &j->cands[j->todo[task]], true, err, sizeof err) != 0) {
        if (!atomic_exchange(&j->failed, 1)) snprintf(j->err, sizeof j->err, "%s", err);
    }
    int64_t d = atomic_fetch_add(&j->done, 1) + 1;
    if (j->o->progress) j->o->progress(j->o->progress_ctx, d, j->n_todo);
}

static int cmp_cost(const void *a, const void *b, void *ctx) {
    const Candidate *c = ctx;
    double x = c[*(const int64_t *)a].analytic_usd_month, y = c[*(const int64_t *)b].analytic_usd_month;
    if (x != y) return x < y ? -1 : 1;
    return *(const int64_t *)a < *(const int64_t *)b ? -1 : 1;
}

static int cmp_work(const void *a, const void *b, void *ctx) {
    const Candidate *c = ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    bool x = c[i].student >= 0, y = c[j].student >= 0;
    if (x != y) return x ? -1 : 1;
    return cmp_cost(a, b, ctx);
}

static int cmp_final(const void *a, const void *b, void *ctx) {
    const Candidate *c = ctx;
    double x = c[*(const int64_t *)a].usd_month, y = c[*(const int64_t *)b].usd_month;
    if (x != y) return x < y ? -1 : 1;
    return *(const int64_t *)a < *(const int64_t *)b ? -1 : 1;
}

static int load_profiles(const char *dir, SearchResult *r, char *err, size_t err_len) {
    if (!dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return err_set(err, err_len, ERR_IO, "%s: cannot open the profiles directory", dir);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        size_t L = strlen(e->d_name);
        if (L < 6 || strcmp(e->d_name + L - 5, ".yaml")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        StepProfile *p = realloc(r->profiles, (size_t)(r->n_profiles + 1) * sizeof *p);
        if (!p) { rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); break; }
        r->profiles = p;
        rc = step_profile_load(&r->profiles[r->n_profiles], path, err, err_len);
        if (!rc) r->n_profiles++;
    }
    closedir(d);
    return rc;
}

static int check_constraint_names(const Catalog *cat, const Workload *wl, char *err, size_t err_len) {
    for (int i = 0; i < wl->n_stacks; i++) {
        const CatStack *s = catalog_stack(cat, wl->stacks[i]);
        if (!s || s == cat_stack_reference())
            return err_set(err, err_len, ERR_NOTFOUND, "constraints.stacks: no serving stack '%s' in the catalog's stacks.yaml",
                           wl->stacks[i]);
    }
    for (int i = 0; i < wl->n_allow_hw; i++)
        if (!catalog_hw(cat, wl->allow_hw[i]))
            return err_set(err, err_len, ERR_NOTFOUND, "constraints.hardware: no hardware '%s' in the catalog", wl->allow_hw[i]);
    return 0;
}

// Survivors to simulate, from the n_ok unpruned candidates in analytic cost order: the best few
// per lever level (at most two per hardware and model in a level) and the best three per
// hardware class for the decision matrix. Writes them into todo; returns how many, or -1 (memory).
static int64_t pick_survivors(const Catalog *cat, const SearchOptions *o, const SearchResult *out, const int64_t *order,
                              int64_t n_ok, int64_t *todo) {
    bool *pick = calloc((size_t)(out->n_cands ? out->n_cands : 1), sizeof *pick);
    if (!pick) return -1;
    int keep = o->keep_per_level > 0 ? o->keep_per_level : 3;
    for (int l = 0; l < LEVER_COUNT; l++) {
        int taken = 0;
        for (int64_t i = 0; i < n_ok && taken < keep; i++) {
            const Candidate *c = &out->cands[order[i]];
            if ((int)c->lever > l) continue;
            int same = 0;
            for (int64_t j = 0; j < i; j++) {
                const Candidate *d = &out->cands[order[j]];
                same += pick[order[j]] && (int)d->lever <= l && d->hw == c->hw && d->model == c->model;
            }
            if (same >= 2 && !pick[order[i]]) continue;
            pick[order[i]] = true;
            taken++;
        }
    }
    for (int k = 0; k < HW_CLASS_COUNT; k++) {
        int taken = 0;
        for (int64_t i = 0; i < n_ok && taken < 3; i++)
            if ((int)cat->hw[out->cands[order[i]].hw].cls == k) { pick[order[i]] = true; taken++; }
    }
    int64_t n = 0;
    for (int64_t i = 0; i < n_ok; i++)
        if (pick[order[i]]) todo[n++] = order[i];
    free(pick);
    return n;
}

// Rankings of the simulated candidates (order: n_sim indices by final cost): the plan, the best
// per lever level and per hardware class, the Pareto frontier, and which constraints bound.
static void rank(const Catalog *cat, const Workload *wl, SearchResult *out, const int64_t *order, int64_t n_sim) {
    double best_p95 = INFINITY;
    for (int64_t i = 0; i < n_sim; i++) {
        int64_t ci = order[i];
        Candidate *c = &out->cands[ci];
        if (!c->meets_slo) continue;
        if (out->best < 0) out->best = ci;
        for (int l = (int)c->lever; l < LEVER_COUNT; l++)
            if (out->level_best[l] < 0) out->level_best[l] = ci;
        int cls = (int)cat->hw[c->hw].cls;
        if (out->class_best[cls] < 0) out->class_best[cls] = ci;
        double p95 = c->sim[SCEN_EXPECTED].e2e_ms.p95;
        if (p95 < best_p95) { best_p95 = p95; out->pareto[out->n_pareto++] = ci; }
    }
    // Class entries for classes with no feasible plan: the cheapest simulated one (shown as missing).
    for (int k = 0; k < HW_CLASS_COUNT; k++)
        for (int64_t i = 0; i < n_sim && out->class_best[k] < 0; i++)
            if ((int)cat->hw[out->cands[order[i]].hw].cls == k) out->class_best[k] = order[i];
    // Which constraints bound: the cheapest excluded candidate per constraint that the analytic
    // model rates below the chosen plan (it would have been considered without the constraint).
    if (out->best < 0) return;
    double plan_usd = out->cands[out->best].analytic_usd_month;
    for (int64_t i = 0; i < out->n_cands; i++) {
        const Candidate *c = &out->cands[i];
        if (c->broke == CONS_NONE || c->analytic_usd_month <= 0 || c->analytic_usd_month >= plan_usd) continue;
        int64_t *b = &out->bound_by[c->broke];
        if (*b < 0 || c->analytic_usd_month < out->cands[*b].analytic_usd_month) *b = i;
    }
    out->over_budget = wl->budget_usd_month > 0 && out->cands[out->best].usd_month > wl->budget_usd_month;
}

// Analyses every candidate (the student cache shared); the unpruned ones go into order by
// analytic cost. Returns how many, or -1 (memory).
static int64_t analyze_all(const Catalog *cat, const Workload *wl, SearchResult *out, int64_t *order) {
    StudentCache cache = {.n_stacks = cat->n_stacks,
                          .n = cat->n_models * SEARCH_N_KNOBS * SCALE_COUNT * MIX_COUNT * (cat->n_stacks + 1)};
    cache.e = calloc((size_t)cache.n, sizeof *cache.e);
    if (!cache.e) return -1;
    int64_t n_ok = 0;
    for (int64_t i = 0; i < out->n_cands; i++) {
        search_analyze_cached(cat, wl, out->profiles, out->n_profiles, &out->cands[i], &cache);
        if (out->cands[i].broke != CONS_NONE) out->n_excluded[out->cands[i].broke]++;
        if (out->cands[i].pruned) out->n_pruned++;
        else order[n_ok++] = i;
    }
    free(cache.e);
    qsort_r(order, (size_t)n_ok, sizeof *order, cmp_cost, out->cands);
    return n_ok;
}

int search_run(const Catalog *cat, const Workload *wl, const SearchOptions *o, SearchResult *out, char *err,
               size_t err_len) {
    memset(out, 0, sizeof *out);
    out->best = -1;
    for (int l = 0; l < LEVER_COUNT; l++) out->level_best[l] = -1;
    for (int k = 0; k < HW_CLASS_COUNT; k++) out->class_best[k] = -1;
    for (int k = 0; k < CONS_COUNT; k++) out->bound_by[k] = -1;
    int rc = load_profiles(o->profiles_dir, out, err, err_len);
    if (!rc) rc = check_constraint_names(cat, wl, err, err_len);
    if (rc) return rc;
    int64_t cap = 400000;
    out->cands = calloc((size_t)cap, sizeof *out->cands);
    if (!out->cands) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    out->n_cands = enumerate(cat, wl, out->cands, cap);
    if (out->n_cands == 0)
        return err_set(err, err_len, ERR_NOTFOUND, "no catalog model fits this workload's class '%s'%s",
                       wl_class_names[wl->cls], wl->n_models ? " and its models: list" : "");
    int64_t *order = malloc((size_t)out->n_cands * sizeof *order);
    ThreadPool *tp = NULL;
    SimJob job = {.cat = cat, .wl = wl, .o = o, .cands = out->cands};
    job.todo = malloc((size_t)out->n_cands * sizeof *job.todo);
    out->pareto = malloc((size_t)out->n_cands * sizeof *out->pareto);
    int64_t n_ok = order && job.todo && out->pareto ? analyze_all(cat, wl, out, order) : -1;
    job.n_todo = n_ok >= 0 ? pick_survivors(cat, o, out, order, n_ok, job.todo) : -1;
    if (job.n_todo < 0) { job.n_todo = 0; rc = err_set(err, err_len, ERR_NOMEM, "out of memory"); goto done; }
    // Longest first, so the threads finish together: a cascade (two tiers) before one tier.
    qsort_r(job.todo, (size_t)job.n_todo, sizeof *job.todo, cmp_work, out->cands);
    tp = tp_create(o->threads > 0 ? o->threads : 1);
    tp_run(tp, sim_task, &job, job.n_todo);
    if (atomic_load(&job.failed)) { rc = err_set(err, err_len, ERR_ARG, "%s", job.err); goto done; }
    out->n_simulated = job.n_todo;
    memcpy(order, job.todo, (size_t)job.n_todo * sizeof *order);
    qsort_r(order, (size_t)job.n_todo, sizeof *order, cmp_final, out->cands);
    rank(cat, wl, out, order, job.n_todo);
    // The chosen plan keeps its time series for the report's charts.
    rc = search_waterfall(cat, wl, o, out, err, err_len);
    if (!rc) rc = search_cache_savings(cat, wl, o, out, err, err_len);
done:
    tp_destroy(tp);
    free(job.todo);
    free(order);
    return rc;
}

void search_free_candidate(Candidate *c) {
    if (!c->sim) return;
    for (int s = 0; s < SCEN_COUNT; s++) sim_result_free(&c->sim[s]);
    free(c->sim);
    c->sim = NULL;
}

void search_free(SearchResult *r) {
    if (!r) return;
    for (int64_t i = 0; r->cands && i < r->n_cands; i++) search_free_candidate(&r->cands[i]);
    search_free_candidate(&r->wf_base);
    for (int l = 0; l < LEVER_COUNT; l++) {
        search_free_candidate(&r->wf_added[l]);
        search_free_candidate(&r->wf_removed[l]);
    }
    free(r->cands);
    free(r->pareto);
    free(r->profiles);
    memset(r, 0, sizeof *r);
}

// ---- candidate ids (for --explain) ----

// The /cascade=STUDENT[:QUANT][@HW] part of an id (s), into c's student fields; hw: the teacher's.
static int parse_cascade(const Catalog *cat, const char *id, char *s, const CatHardware *hw, Candidate *c, char *err,
                         size_t err_len) {
    if (strncmp(s, "cascade=", 8)) return err_set(err, err_len, ERR_FORMAT, "candidate '%s': expected cascade=STUDENT:QUANT", id);
    char *colon = strchr(s + 8, ':');
    if (colon) *colon = 0;
    char *shw = strchr(colon ? colon + 1 : s + 8, '@');
    if (shw) *shw++ = 0;
    const CatModel *sm = catalog_model(cat, s + 8);
    if (!sm) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no student model '%s'", id, s + 8);
    c->student = (int)(sm - cat->models);
    const CatHardware *sh = shw ? catalog_hw(cat, shw) : hw;
    if (!sh) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no student hardware '%s'", id, shw);
    c->student_hw = (int)(sh - cat->hw);
    c->student_quant = search_student_quant(sh, sm);
    if (colon)
        for (int i = 0; i < QUANT_COUNT; i++) if (!strcmp(colon + 1, plan_quant_names[i])) c->student_quant = (PlanQuant)i;
    return 0;
}

int search_parse_id(const Catalog *cat, const Workload *wl, const char *id, Candidate *c, char *err, size_t err_len) {
    char buf[256], *parts[8];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", id);
    for (char *p = strtok(buf, "/"); p && n < 8; p = strtok(NULL, "/")) parts[n++] = p;
    if (n < 6)
        return err_set(err, err_len, ERR_FORMAT, "candidate '%s': expected HWxN/MODEL/QUANT/bK/fixed|auto/od|reserved|reserved+spot"
                       "[/cascade=STUDENT:QUANT[@HW]] (copy one from the plan's output)", id);
    *c = (Candidate){.student = -1, .student_hw = -1};
    char *at = strchr(parts[0], '@');
    if (at) *at++ = 0;
    char *x = strrchr(parts[0], 'x');
    if (!x) return err_set(err, err_len, ERR_FORMAT, "candidate '%s': '%s' is not HWxDEVICES", id, parts[0]);
    *x = 0;
    const CatHardware *hw = catalog_hw(cat, parts[0]);
    const CatModel *m = catalog_model(cat, parts[1]);
    if (!hw) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no hardware '%s' in the catalog", id, parts[0]);
    if (!m) return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no model '%s' in the catalog", id, parts[1]);
    c->hw = (int)(hw - cat->hw);
    c->model = (int)(m - cat->models);
    c->stack = search_default_stack(cat, hw);
    if (at) {
        const CatStack *st = catalog_stack(cat, at);
        if (!st || st == cat_stack_reference())
            return err_set(err, err_len, ERR_NOTFOUND, "candidate '%s': no serving stack '%s' in stacks.yaml", id, at);
        if (!cat_stack_runs_on(st, hw))
            return err_set(err, err_len, ERR_FORMAT, "candidate '%s': stack '%s' does not run on '%s'", id, at, hw->id);
        c->stack = (int)(st - cat->stacks);
    }
    c->devices = atoi(x + 1);
    int q = -1, sc = -1, mix = -1;
    for (int i = 0; i < QUANT_COUNT; i++) if (!strcmp(parts[2], plan_quant_names[i])) q = i;
    for (int i = 0; i < SCALE_COUNT; i++) if (!strcmp(parts[4], scale_names[i])) sc = i;
    for (int i = 0; i < MIX_COUNT; i++) if (!strcmp(parts[5], mix_names[i])) mix = i;
    if (q < 0 || sc < 0 || mix < 0 || parts[3][0] != 'b' || atoll(parts[3] + 1) < 1 || c->devices < 1 ||
        c->devices > hw->max_devices || !hw->quant_ok[q] || !m->quant[q].present)
        return err_set(err, err_len, ERR_FORMAT, "candidate '%s': bad or unsupported quantization, batch, scaling, mix or device count", id);
    c->quant = (PlanQuant)q;
    c->batch_knob = atoll(parts[3] + 1);
    c->scale = (ScaleMode)sc;
    c->mix = (CapMix)mix;
    if (n >= 7) {
        int rc = parse_cascade(cat, id, parts[6], hw, c, err, err_len);
        if (rc) return rc;
    }
    search_analyze(cat, wl, NULL, 0, c);
    return 0;
}
