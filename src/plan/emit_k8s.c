// emit_k8s.c — `plan --emit-k8s DIR`: the simulated plan as Kubernetes objects (model in emit.h).
//
// Objects are built as cJSON trees and written as YAML by libyaml's emitter (strings that would
// read back as another type are double-quoted). Files, applied in name order:
//   10-tiers.yaml       per tier: a Deployment of the engine (the reserved floor and the burst
//                       capacity as two Deployments when the plan mixes them) and its Service
//   20-gateway.yaml     the pipeline ConfigMap, the gateway Deployment (drain contract) and Service
//   30-autoscaling.yaml a KEDA ScaledObject per autoscaled tier (the plan's metric and target; a
//                       cron trigger for a batch run window)
//   40-disruption.yaml  a PodDisruptionBudget per tier
//   50-monitoring.yaml  a PrometheusRule with the plan's SLO, cost and queue alerts
// plus prometheus-rules.yaml (the same groups as a plain rules file for promtool/Prometheus).
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "base/check.h"
#include "plan/emit.h"

int emit_pipeline_k8s(FILE *f, const EmitPlan *p);   // emit.c

#define GATEWAY_DRAIN_S 30
#define GATEWAY_PRESTOP_S 5
#define ENGINE_PORT_NAME "http"

// ---- cJSON → YAML ----

static bool needs_quotes(const char *s) {
    static const char *const words[] = {"", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False",
                                        "FALSE", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off",
                                        "Off", "OFF", "y", "Y", "n", "N"};
    for (size_t i = 0; i < ARRAY_LEN(words); i++)
        if (!strcmp(s, words[i])) return true;
    char *end;
    strtod(s, &end);
    if (end != s && *end == 0) return true;
    return s[0] == '0' && (s[1] == 'x' || s[1] == 'o');
}

static int scalar(yaml_emitter_t *em, const char *v, bool quote) {
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), !quote, 1,
                                 quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev) ? 0 : ERR_IO;
}

static int node(yaml_emitter_t *em, const cJSON *j) {
    yaml_event_t ev;
    int rc = 0;
    if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
        bool map = cJSON_IsObject(j);
        if (map) yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        else yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev)) return ERR_IO;
        for (const cJSON *c = j->child; c && !rc; c = c->next) {
            if (map) rc = scalar(em, c->string, needs_quotes(c->string));
            if (!rc) rc = node(em, c);
        }
        if (map) yaml_mapping_end_event_initialize(&ev);
        else yaml_sequence_end_event_initialize(&ev);
        return rc || !yaml_emitter_emit(em, &ev) ? ERR_IO : 0;
    }
    if (cJSON_IsString(j)) return scalar(em, j->valuestring, needs_quotes(j->valuestring));
    if (cJSON_IsBool(j)) return scalar(em, cJSON_IsTrue(j) ? "true" : "false", false);
    if (cJSON_IsNumber(j)) {
        char b[40];
        double v = j->valuedouble;
        if (v == floor(v) && fabs(v) < 1e15) snprintf(b, sizeof b, "%lld", (long long)v);
        else snprintf(b, sizeof b, "%.17g", v);
        return scalar(em, b, false);
    }
    return scalar(em, "null", false);
}

static int yaml_write_cb(void *f, unsigned char *buf, size_t n) { return fwrite(buf, 1, n, f) == n; }

// Writes docs (a cJSON array of objects) as a multi-document YAML file after a comment header.
static int write_docs(const char *dir, const char *name, const char *header, const cJSON *docs, char *err,
                      size_t err_len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    fputs(header, f);
    yaml_emitter_t em;
    yaml_event_t ev;
    int rc = yaml_emitter_initialize(&em) ? 0 : ERR_NOMEM;
    if (!rc) {
        yaml_emitter_set_output(&em, yaml_write_cb, f);
        yaml_emitter_set_width(&em, 120);
        yaml_emitter_set_unicode(&em, 1);
        yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
        if (!yaml_emitter_emit(&em, &ev)) rc = ERR_IO;
        for (const cJSON *d = docs->child; d && !rc; d = d->next) {
            yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
            rc = yaml_emitter_emit(&em, &ev) ? node(&em, d) : ERR_IO;
            yaml_document_end_event_initialize(&ev, 1);
            if (!rc && !yaml_emitter_emit(&em, &ev)) rc = ERR_IO;
        }
        yaml_stream_end_event_initialize(&ev);
        if (!rc && !yaml_emitter_emit(&em, &ev)) rc = ERR_IO;
        if (rc && em.problem) snprintf(path + strlen(path), sizeof path - strlen(path), " (%s)", em.problem);
        yaml_emitter_delete(&em);
    }
    if (fclose(f) != 0 && !rc) rc = ERR_IO;
    if (rc) return err_set(err, err_len, rc, "writing '%s' failed", path);
    return 0;
}

// ---- small builders ----

static cJSON *obj(cJSON *parent, const char *key) { return cJSON_AddObjectToObject(parent, key); }
static cJSON *arr(cJSON *parent, const char *key) { return cJSON_AddArrayToObject(parent, key); }
static void str(cJSON *o, const char *k, const char *v) { cJSON_AddStringToObject(o, k, v); }
static void numv(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, v); }
static void strf(cJSON *o, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void strf(cJSON *o, const char *k, const char *fmt, ...) {
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(o, k, b);
}

static cJSON *object(cJSON *docs, const char *api, const char *kind, const char *name, const char *component) {
    cJSON *o = cJSON_CreateObject();
    str(o, "apiVersion", api);
    str(o, "kind", kind);
    cJSON *md = obj(o, "metadata");
    str(md, "name", name);
    cJSON *l = obj(md, "labels");
    str(l, "app.kubernetes.io/name", "rightsize");
    str(l, "app.kubernetes.io/component", component);
    cJSON_AddItemToArray(docs, o);
    return o;
}

static cJSON *selector_labels(cJSON *parent, const char *key, const char *component) {
    cJSON *l = obj(parent, key);
    str(l, "app.kubernetes.io/name", "rightsize");
    str(l, "app.kubernetes.io/component", component);
    return l;
}

// ---- hardware: device resources, node selection, spot tolerations ----

static const char *device_resource(const EmitTier *t) {
    switch (t->engine) {
    case ENGINE_VLLM: return "nvidia.com/gpu";
    case ENGINE_VLLM_ROCM: return "amd.com/gpu";
    case ENGINE_VLLM_NEURON: return "aws.amazon.com/neuron";
    case ENGINE_VLLM_TPU: return "google.com/tpu";
    case ENGINE_VLLM_GAUDI: return "habana.ai/gaudi";
    case ENGINE_TEI: return t->hw->cls == HW_GPU ? "nvidia.com/gpu" : NULL;
    default: return NULL;
    }
}

// Node label that selects the hardware: NVIDIA GPU feature discovery's product name, the AWS
// instance family/type, GKE's TPU accelerator; else a label for the operator to set.
static void node_selector(cJSON *ns, const EmitTier *t) {
    static const struct { const char *hw, *key, *value; } map[] = {
        {"h100-sxm", "nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"},
        {"h200", "nvidia.com/gpu.product", "NVIDIA-H200"},
        {"a100-80gb", "nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB"},
        {"a100-40gb", "nvidia.com/gpu.product", "NVIDIA-A100-SXM4-40GB"},
        {"l40s", "nvidia.com/gpu.product", "NVIDIA-L40S"},
        {"l4", "nvidia.com/gpu.product", "NVIDIA-L4"},
        {"a10g", "nvidia.com/gpu.product", "NVIDIA-A10G"},
        {"t4", "nvidia.com/gpu.product", "Tesla-T4"},
        {"inferentia2", "karpenter.k8s.aws/instance-family", "inf2"},
        {"trainium1", "karpenter.k8s.aws/instance-family", "trn1"},
        {"tpu-v5e", "cloud.google.com/gke-tpu-accelerator", "tpu-v5-lite-podslice"},
        {"tpu-v6e", "cloud.google.com/gke-tpu-accelerator", "tpu-v6e-slice"},
        {"cpu-c7i-8xl", "node.kubernetes.io/instance-type", "c7i.8xlarge"},
        {"cpu-c7g-16xl", "node.kubernetes.io/instance-type", "c7g.16xlarge"},
        {"cpu-c7i-large", "node.kubernetes.io/instance-type", "c7i.large"},
    };
    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        if (!strcmp(map[i].hw, t->hw->id)) {
            str(ns, map[i].key, map[i].value);
            if (t->engine == ENGINE_VLLM_TPU) strf(ns, "cloud.google.com/gke-tpu-topology", "1x%d", t->devices);
            return;
        }
    str(ns, "rightsize.dev/accelerator", t->hw->id);
}

static bool on_gke(const EmitTier *t) { return t->engine == ENGINE_VLLM_TPU; }

static void capacity_selector(cJSON *ns, cJSON *spec, const EmitTier *t, bool spot) {
    if (on_gke(t)) {
        if (spot) str(ns, "cloud.google.com/gke-spot", "true");
    } else {
        str(ns, "karpenter.sh/capacity-type", spot ? "spot" : "on-demand");
    }
    if (!spot) return;
    cJSON *tol = cJSON_CreateObject();
    str(tol, "key", on_gke(t) ? "cloud.google.com/gke-spot" : "karpenter.sh/capacity-type");
    str(tol, "operator", "Equal");
    str(tol, "value", on_gke(t) ? "true" : "spot");
    str(tol, "effect", "NoSchedule");
    cJSON_AddItemToArray(arr(spec, "tolerations"), tol);
}

// ---- tiers ----

static cJSON *http_probe(const char *path, int period, int failures) {
    cJSON *p = cJSON_CreateObject();
    cJSON *h = obj(p, "httpGet");
    str(h, "path", path);
    str(h, "port", ENGINE_PORT_NAME);
    numv(p, "periodSeconds", period);
    numv(p, "failureThreshold", failures);
    return p;
}

// The engine's container: its program and the simulated knobs, probes (the startup probe waits
// out the hardware's weight-loading time), devices or CPU and memory.
static cJSON *engine_container(const EmitTier *t) {
    cJSON *c = cJSON_CreateObject();
    str(c, "name", emit_engine_names[t->engine]);
    str(c, "image", t->image);
    // The program explicitly ("vllm serve", "text-embeddings-router", "rightsize"), whatever the
    // image's entrypoint; the knobs as args.
    int first = !strcmp(t->argv[0], "vllm") ? 2 : 1;
    cJSON *cmd = arr(c, "command");
    for (int i = 0; i < first; i++) cJSON_AddItemToArray(cmd, cJSON_CreateString(t->argv[i]));
    cJSON *args = arr(c, "args");
    for (int i = first; i < t->argc; i++) cJSON_AddItemToArray(args, cJSON_CreateString(t->argv[i]));
    cJSON *port = cJSON_CreateObject();
    str(port, "name", ENGINE_PORT_NAME);
    numv(port, "containerPort", t->port);
    cJSON_AddItemToArray(arr(c, "ports"), port);
    cJSON_AddItemToObject(c, "readinessProbe", http_probe("/health", 5, 3));
    cJSON *sp = http_probe("/health", 10, (int)ceil(t->hw->startup_s * 1.5 / 10));   // weights load
    cJSON_AddItemToObject(c, "startupProbe", sp);
    cJSON_AddItemToObject(c, "livenessProbe", http_probe("/health", 10, 6));
    cJSON *res = obj(c, "resources");
    const char *dev = device_resource(t);
    if (dev) {
        cJSON *lim = obj(res, "limits");
        strf(lim, dev, "%d", t->devices);
    } else {
        cJSON *req = obj(res, "requests");
        strf(req, "cpu", "%d", t->cores > 0 ? t->cores : 1);
        strf(req, "memory", "%.0fMi", fmax(256, t->hw->memory_gb * 1e9 * 0.9 / 1048576.0));
    }
    return c;
}

static void tier_deployment(cJSON *docs, const EmitPlan *p, const EmitTier *t, const char *name, int replicas,
                            bool spot, bool reserved) {
    char comp[80];
    snprintf(comp, sizeof comp, "tier-%s", t->name);
    cJSON *d = object(docs, "apps/v1", "Deployment", name, comp);
    cJSON *ann = obj(cJSON_GetObjectItem(d, "metadata"), "annotations");
    strf(ann, "rightsize.dev/candidate", "%s", p->c->id);
    strf(ann, "rightsize.dev/capacity", "%s", reserved ? (t->reserved_kind == PRICE_RESERVED_3Y ? "reserved_3y" : "reserved_1y")
                                                       : price_kind_names[t->burst_kind]);
    strf(ann, "rightsize.dev/cost-per-hour", "%.6g", reserved ? t->reserved_usd_per_hour : t->burst_usd_per_hour);
    // The tier's Service selects both Deployments; each Deployment only its own pods.
    const char *cap = reserved ? "reserved" : "burst";
    str(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "metadata"), "labels"), "rightsize.dev/capacity", cap);
    cJSON *spec = obj(d, "spec");
    numv(spec, "replicas", replicas);
    str(selector_labels(obj(spec, "selector"), "matchLabels", comp), "rightsize.dev/capacity", cap);
    cJSON *tpl = obj(spec, "template");
    str(selector_labels(obj(tpl, "metadata"), "labels", comp), "rightsize.dev/capacity", cap);
    cJSON *ps = obj(tpl, "spec");
    numv(ps, "terminationGracePeriodSeconds", 60);
    cJSON *ns = obj(ps, "nodeSelector");
    node_selector(ns, t);
    capacity_selector(ns, ps, t, spot);
    cJSON *c = engine_container(t);
    cJSON_AddItemToArray(arr(ps, "containers"), c);
    if (t->engine == ENGINE_WORKER) {   // GGUF files from a volume the operator provides
        cJSON *vm = cJSON_CreateObject();
        str(vm, "name", "models");
        str(vm, "mountPath", "/models");
        cJSON_AddBoolToObject(vm, "readOnly", true);
        cJSON_AddItemToArray(arr(c, "volumeMounts"), vm);
        cJSON *v = cJSON_CreateObject();
        str(v, "name", "models");
        str(obj(v, "persistentVolumeClaim"), "claimName", "rightsize-models");
        cJSON_AddItemToArray(arr(ps, "volumes"), v);
    }
}

static void tier_objects(cJSON *docs, const EmitPlan *p, const EmitTier *t) {
    const SimTier *s = t->sim;
    char name[96], comp[80];
    snprintf(name, sizeof name, "rightsize-%s", t->name);
    snprintf(comp, sizeof comp, "tier-%s", t->name);
    int reserved = s->reserved, min = s->as.min_replicas, max = s->as.max_replicas;
    bool spot = t->burst_kind == PRICE_SPOT;
    if (reserved > 0) {
        char rn[112];
        snprintf(rn, sizeof rn, "%s-reserved", name);
        tier_deployment(docs, p, t, rn, reserved, false, true);
    }
    if (max > reserved) {   // the burst capacity (KEDA scales it when the tier is autoscaled)
        int n = (t->target_per_replica > 0 ? min : max) - reserved;
        tier_deployment(docs, p, t, name, n < 0 ? 0 : n, spot, false);
    }
    cJSON *svc = object(docs, "v1", "Service", name, comp);
    cJSON *spec = obj(svc, "spec");
    selector_labels(spec, "selector", comp);
    cJSON *port = cJSON_CreateObject();
    str(port, "name", ENGINE_PORT_NAME);
    numv(port, "port", t->port);
    str(port, "targetPort", ENGINE_PORT_NAME);
    cJSON_AddItemToArray(arr(spec, "ports"), port);
}

// ---- gateway ----

static int gateway_configmap(cJSON *docs, const EmitPlan *p, char *err, size_t err_len) {
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    int rc = emit_pipeline_k8s(m, p);
    if (fclose(m) != 0 || rc) {
        free(text);
        return err_set(err, err_len, ERR_IO, "writing the pipeline failed");
    }
    cJSON *cm = object(docs, "v1", "ConfigMap", "rightsize-pipeline", "gateway");
    str(obj(cm, "data"), "pipeline.yaml", text);
    free(text);
    return 0;
}

// The gateway's container: serve on the ConfigMap, drain contract (SIGTERM → 503 + /health
// draining, in-flight requests finish within --shutdown-timeout; preStop lets endpoints update).
static cJSON *gateway_container(const EmitPlan *p) {
    cJSON *c = cJSON_CreateObject();
    str(c, "name", "gateway");
    str(c, "image", p->images[ENGINE_WORKER] ? p->images[ENGINE_WORKER] : "rightsize:0.1.0");
    cJSON *args = arr(c, "args");
    const char *a[] = {"serve", "/etc/rightsize/pipeline.yaml", "--shutdown-timeout", "30", "--admin-key", "$(ADMIN_KEY)",
                       "--telemetry", "/var/log/rightsize/telemetry.jsonl"};
    for (size_t i = 0; i < ARRAY_LEN(a); i++) cJSON_AddItemToArray(args, cJSON_CreateString(a[i]));
    cJSON *env = cJSON_CreateObject();
    str(env, "name", "ADMIN_KEY");
    cJSON *skr = obj(obj(env, "valueFrom"), "secretKeyRef");
    str(skr, "name", "rightsize-admin");
    str(skr, "key", "admin-key");
    cJSON_AddItemToArray(arr(c, "env"), env);
    cJSON *port = cJSON_CreateObject();
    str(port, "name", "http");
    numv(port, "containerPort", 8080);
    cJSON_AddItemToArray(arr(c, "ports"), port);
    cJSON_AddItemToObject(c, "readinessProbe", http_probe("/health", 2, 1));
    cJSON_AddItemToObject(c, "livenessProbe", http_probe("/health", 10, 6));
    cJSON *pre = cJSON_CreateArray();
    cJSON_AddItemToArray(pre, cJSON_CreateString("sleep"));
    cJSON_AddItemToArray(pre, cJSON_CreateString("5"));
    cJSON_AddItemToObject(obj(obj(obj(c, "lifecycle"), "preStop"), "exec"), "command", pre);
    cJSON *res = obj(c, "resources");
    cJSON *rq = obj(res, "requests");
    str(rq, "cpu", "500m");
    str(rq, "memory", "128Mi");
    str(obj(res, "limits"), "memory", "512Mi");
    return c;
}

static void gateway_objects(cJSON *docs, const EmitPlan *p) {
    cJSON *d = object(docs, "apps/v1", "Deployment", "rightsize-gateway", "gateway");
    cJSON *spec = obj(d, "spec");
    numv(spec, "replicas", 1);   // one gateway: one queue per tier, as simulated
    selector_labels(obj(spec, "selector"), "matchLabels", "gateway");
    cJSON *st = obj(spec, "strategy");
    str(st, "type", "RollingUpdate");
    cJSON *ru = obj(st, "rollingUpdate");
    numv(ru, "maxSurge", 1);
    numv(ru, "maxUnavailable", 0);
    cJSON *tpl = obj(spec, "template");
    cJSON *tm = obj(tpl, "metadata");
    selector_labels(tm, "labels", "gateway");
    cJSON *ann = obj(tm, "annotations");
    str(ann, "prometheus.io/scrape", "true");
    str(ann, "prometheus.io/port", "8080");
    str(ann, "prometheus.io/path", "/metrics");
    cJSON *ps = obj(tpl, "spec");
    numv(ps, "terminationGracePeriodSeconds", GATEWAY_PRESTOP_S + GATEWAY_DRAIN_S + 10);
    cJSON *c = gateway_container(p);
    cJSON_AddItemToArray(arr(ps, "containers"), c);
    cJSON *vms = arr(c, "volumeMounts");
    const char *vn[] = {"pipeline", "telemetry"}, *mp[] = {"/etc/rightsize", "/var/log/rightsize"};
    cJSON *vols = arr(ps, "volumes");
    for (int i = 0; i < 2; i++) {
        cJSON *vm = cJSON_CreateObject();
        str(vm, "name", vn[i]);
        str(vm, "mountPath", mp[i]);
        cJSON_AddItemToArray(vms, vm);
        cJSON *v = cJSON_CreateObject();
        str(v, "name", vn[i]);
        if (i == 0) str(obj(v, "configMap"), "name", "rightsize-pipeline");
        else obj(v, "emptyDir");
        cJSON_AddItemToArray(vols, v);
    }
    cJSON *svc = object(docs, "v1", "Service", "rightsize", "gateway");
    cJSON *ss = obj(svc, "spec");
    selector_labels(ss, "selector", "gateway");
    cJSON *sp = cJSON_CreateObject();
    str(sp, "name", "http");
    numv(sp, "port", 80);
    str(sp, "targetPort", "http");
    cJSON_AddItemToArray(arr(ss, "ports"), sp);
}

// ---- autoscaling (KEDA) ----

static void scaled_object(cJSON *docs, const EmitPlan *p, const EmitTier *t) {
    const SimTier *s = t->sim;
    const AutoscaleConfig *a = &s->as;
    char name[96], comp[80];
    snprintf(name, sizeof name, "rightsize-%s", t->name);
    snprintf(comp, sizeof comp, "tier-%s", t->name);
    int floor_n = s->reserved;   // the reserved Deployment holds these; KEDA scales the rest
    cJSON *so = object(docs, "keda.sh/v1alpha1", "ScaledObject", name, comp);
    cJSON *spec = obj(so, "spec");
    str(obj(spec, "scaleTargetRef"), "name", name);
    numv(spec, "pollingInterval", fmax(1, round(p->autoscale_interval_s)));
    numv(spec, "cooldownPeriod", fmax(1, round((double)a->downscale_delay_us / 1e6)));
    numv(spec, "minReplicaCount", a->min_replicas - floor_n);
    numv(spec, "maxReplicaCount", a->max_replicas - floor_n);
    cJSON *beh = obj(obj(obj(spec, "advanced"), "horizontalPodAutoscalerConfig"), "behavior");
    numv(obj(beh, "scaleUp"), "stabilizationWindowSeconds", round((double)a->upscale_delay_us / 1e6));
    numv(obj(beh, "scaleDown"), "stabilizationWindowSeconds", round((double)a->downscale_delay_us / 1e6));
    cJSON *trig = arr(spec, "triggers");
    if (a->target_per_replica < 1e9) {
        // In-flight requests (waiting + running at the gateway) per replica, as the gateway's and
        // the simulator's autoscaler count them; the reserved floor's share is subtracted so that
        // KEDA's ceil(value / target) is the burst replicas only.
        cJSON *tr = cJSON_CreateObject();
        str(tr, "type", "prometheus");
        str(tr, "metricType", "AverageValue");
        cJSON *md = obj(tr, "metadata");
        str(md, "serverAddress", "http://prometheus.monitoring.svc:9090");
        char tgt[40];
        snprintf(tgt, sizeof tgt, "%.6g", a->target_per_replica);
        if (floor_n > 0)
            strf(md, "query",
                 "clamp_min(sum(rightsize_num_requests_waiting{tier=\"%s\"}) + sum(rightsize_num_requests_running{tier=\"%s\"})"
                 " - %d * %s, 0)", t->name, t->name, floor_n, tgt);
        else
            strf(md, "query", "sum(rightsize_num_requests_waiting{tier=\"%s\"}) + sum(rightsize_num_requests_running{tier=\"%s\"})",
                 t->name, t->name);
        str(md, "threshold", tgt);
        cJSON_AddItemToArray(trig, tr);
    }
    for (int w = 0; w < a->n_windows; w++) {   // schedule windows: KEDA's cron scaler (UTC)
        cJSON *tr = cJSON_CreateObject();
        str(tr, "type", "cron");
        cJSON *md = obj(tr, "metadata");
        str(md, "timezone", "Etc/UTC");
        double sh = a->windows[w].start_hour, eh = a->windows[w].end_hour;
        strf(md, "start", "%d %d * * *", (int)round(fmod(sh, 1) * 60) % 60, (int)sh % 24);
        strf(md, "end", "%d %d * * *", (int)round(fmod(eh, 1) * 60) % 60, (int)eh % 24);
        strf(md, "desiredReplicas", "%d", a->windows[w].min_replicas - floor_n);
        cJSON_AddItemToArray(trig, tr);
    }
}

static void disruption_budget(cJSON *docs, const EmitTier *t) {
    char name[96], comp[80];
    snprintf(name, sizeof name, "rightsize-%s", t->name);
    snprintf(comp, sizeof comp, "tier-%s", t->name);
    cJSON *pdb = object(docs, "policy/v1", "PodDisruptionBudget", name, comp);
    cJSON *spec = obj(pdb, "spec");
    numv(spec, "maxUnavailable", 1);   // voluntary evictions one replica at a time
    selector_labels(obj(spec, "selector"), "matchLabels", comp);
}

// ---- Prometheus rules ----

static cJSON *rule(cJSON *rules, const char *kind, const char *name, const char *expr) {
    cJSON *r = cJSON_CreateObject();
    str(r, kind, name);
    str(r, "expr", expr);
    cJSON_AddItemToArray(rules, r);
    return r;
}

static void alert_meta(cJSON *r, const char *forv, const char *sev, const char *summary) {
    if (forv) str(r, "for", forv);
    str(obj(r, "labels"), "severity", sev);
    str(obj(r, "annotations"), "summary", summary);
}

static cJSON *rule_groups(const EmitPlan *p) {
    const Workload *wl = p->wl;
    cJSON *groups = cJSON_CreateArray();
    cJSON *g = cJSON_CreateObject();
    cJSON_AddItemToArray(groups, g);
    str(g, "name", "rightsize");
    cJSON *rules = arr(g, "rules");
    char e[512], s[256];
    rule(rules, "record", "rightsize:cost_usd_per_hour", "sum by (kind) (rate(rightsize_cost_usd_total[5m])) * 3600");
    rule(rules, "record", "rightsize:e2e_latency_seconds:p95",
         "histogram_quantile(0.95, sum by (le, tier) (rate(rightsize_e2e_request_latency_seconds_bucket[5m])))");
    rule(rules, "record", "rightsize:e2e_latency_seconds:p99",
         "histogram_quantile(0.99, sum by (le, tier) (rate(rightsize_e2e_request_latency_seconds_bucket[5m])))");
    alert_meta(rule(rules, "alert", "RightsizeRejectingRequests",
                    "sum(rate(rightsize_requests_total{status=\"429\"}[5m])) > 0.001 * sum(rate(rightsize_requests_total[5m]))"),
               "10m", "warning", "More requests refused (429) than the plan allows (0.1%): a tier queue is full");
    if (wl->cls != WL_BATCH && (wl->slo_e2e_p95_ms > 0 || wl->slo_e2e_p99_ms > 0)) {
        bool p95 = wl->slo_e2e_p95_ms > 0;
        double slo_s = (p95 ? wl->slo_e2e_p95_ms : wl->slo_e2e_p99_ms) / 1e3;
        snprintf(e, sizeof e, "max(rightsize:e2e_latency_seconds:%s) > %.6g", p95 ? "p95" : "p99", slo_s);
        snprintf(s, sizeof s, "End-to-end %s is above the plan's SLO of %.6g s", p95 ? "p95" : "p99", slo_s);
        alert_meta(rule(rules, "alert", "RightsizeE2EAboveSLO", e), "15m", "warning", s);
    }
    // Accelerator spend above the plan's prediction (+25%): the load or the prices changed.
    double per_hour = p->c->accel_usd_month / 720.0;
    snprintf(e, sizeof e, "sum(rightsize:cost_usd_per_hour) > %.6g", per_hour * 1.25);
    snprintf(s, sizeof s, "Replica spend is over 125%% of the plan's $%.4f per hour: re-plan with rightsize plan", per_hour);
    alert_meta(rule(rules, "alert", "RightsizeCostAbovePlan", e), "6h", "info", s);
    if (wl->cls == WL_BATCH) {   // the run must be done by its deadline
        double end = fmod(wl->batch_start_hour + wl->batch_deadline_hours, 24);
        snprintf(e, sizeof e, "sum(rightsize_num_requests_waiting) + sum(rightsize_num_requests_running) > 0 "
                              "and on() hour() == %d and on() minute() >= %d", (int)end, (int)round(fmod(end, 1) * 60));
        snprintf(s, sizeof s, "The batch run is still going at its %.2f h deadline", wl->batch_deadline_hours);
        alert_meta(rule(rules, "alert", "RightsizeBatchPastDeadline", e), NULL, "warning", s);
    }
    return groups;
}

// ---- all of it ----

static const char header[] =
    "# Emitted by `rightsize plan --emit-k8s` from the simulated plan; apply with `kubectl apply -f DIR`.\n";

int emit_k8s(const EmitPlan *p, const char *dir, char *err, size_t err_len) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return err_set(err, err_len, ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
    cJSON *files[5];
    for (int i = 0; i < 5; i++) files[i] = cJSON_CreateArray();
    for (int i = 0; i < p->n_tiers; i++) {
        tier_objects(files[0], p, &p->tier[i]);
        if (p->tier[i].target_per_replica > 0) scaled_object(files[2], p, &p->tier[i]);
        disruption_budget(files[3], &p->tier[i]);
    }
    int rc = gateway_configmap(files[1], p, err, err_len);
    gateway_objects(files[1], p);
    cJSON *pr = object(files[4], "monitoring.coreos.com/v1", "PrometheusRule", "rightsize", "gateway");
    cJSON_AddItemToObject(obj(pr, "spec"), "groups", rule_groups(p));
    static const char *const names[] = {"10-tiers.yaml", "20-gateway.yaml", "30-autoscaling.yaml", "40-disruption.yaml",
                                        "50-monitoring.yaml"};
    for (int i = 0; i < 5 && !rc; i++)
        if (cJSON_GetArraySize(files[i]) > 0) rc = write_docs(dir, names[i], header, files[i], err, err_len);
    if (!rc) {
        cJSON *plain = cJSON_CreateObject();
        cJSON_AddItemToObject(plain, "groups", rule_groups(p));
        cJSON *one = cJSON_CreateArray();
        cJSON_AddItemToArray(one, plain);
        rc = write_docs(dir, "prometheus-rules.yaml",
                        "# The same rules as 50-monitoring.yaml, as a plain Prometheus rules file (promtool check rules).\n",
                        one, err, err_len);
        cJSON_Delete(one);
    }
    for (int i = 0; i < 5; i++) cJSON_Delete(files[i]);
    return rc;
}
