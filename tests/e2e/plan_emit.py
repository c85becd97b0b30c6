"""`plan --emit` writes exactly what was simulated, and `plan --emit-k8s` writes valid Kubernetes.

For every shipped workload, one `rightsize plan --json --emit --emit-k8s` run, then:
  * every number in the emitted pipeline equals the simulated configuration the plan's --json
    reports (plan.simulated_config, docs/plan-json.md): replica bounds, reserved floor and burst
    capacity with their prices, the autoscaler's target, delays, warm pool and schedule windows, the
    queue bound, scheduler/batching knobs, the engine's launch flags, the SLOs;
  * the emitted prices re-bill the plan: sum over pricing kinds of the simulated replica-hours x the
    emitted price of that kind is the plan's accelerator cost (a kind the file cannot bill has no
    hours), and no scenario used more replicas than the file allows;
  * `serve --check` accepts the file; a broken reference in it is refused with file, line and key;
  * every Kubernetes object validates against the upstream OpenAPI schemas and KEDA's and the
    Prometheus operator's CRD schemas (npm kubernetes-models), the rules pass `promtool check rules`,
    the ConfigMap's pipeline passes `serve --check`, and the KEDA triggers and Deployments carry the
    plan's target, bounds and engine flags;
and the gateway bills a reserved floor and spot burst as the file says (/admin/ledger by kind)."""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import yaml  # noqa: E402

from serve_env import BIN, ROOT, T, Gateway, check, finish  # noqa: E402

HORIZON = "2"


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def flag(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def check_tier(wname, y, s):
    n = "%s/%s" % (wname, s["name"])
    check(y["name"] == s["name"], "%s: tier order" % n)
    check(y["replicas"] == {"min": s["min_replicas"], "max": s["max_replicas"]},
          "%s: replicas %s != simulated %s..%s" % (n, y["replicas"], s["min_replicas"], s["max_replicas"]))
    price = s["usd_per_replica_hour"]
    pl = y.get("planner", {})
    for k in ("startup_s", "warm_start_s", "spot_interruptions_per_hour", "spot_replace_s"):
        check(close(pl.get(k, -1), s[k]), "%s: planner.%s %s != simulated %s" % (n, k, pl.get(k), s[k]))
    check(("cost_share" in y) == s["cost_in_flight"], "%s: cost_share %s, simulated in flight: %s"
          % (n, y.get("cost_share"), s["cost_in_flight"]))
    check(y["capacity"] == s["burst_kind"], "%s: capacity %s != %s" % (n, y["capacity"], s["burst_kind"]))
    check(close(y["cost_per_hour"], price[s["burst_kind"]]),
          "%s: cost_per_hour %s != simulated %s price %s" % (n, y["cost_per_hour"], s["burst_kind"], price[s["burst_kind"]]))
    if s["reserved_replicas"] > 0:
        r = y.get("reserved", {})
        term = {"reserved_1y": "1y", "reserved_3y": "3y"}[s["reserved_kind"]]
        check(r.get("replicas") == s["reserved_replicas"] and r.get("term") == term
              and close(r.get("cost_per_hour", -1), price[s["reserved_kind"]]),
              "%s: reserved %s != simulated %d x %s at %s" % (n, r, s["reserved_replicas"], s["reserved_kind"],
                                                                price[s["reserved_kind"]]))
    else:
        check("reserved" not in y, "%s: reserved floor emitted but none simulated" % n)
    a = s["autoscaler"]
    fixed = s["min_replicas"] == s["max_replicas"] and not a["windows"]
    if fixed:
        check("autoscaling" not in y, "%s: a fixed tier has no autoscaler" % n)
    else:
        ya = y.get("autoscaling", {})
        want = {"target_per_replica": a["target_per_replica"], "upscale_delay_s": a["upscale_delay_s"],
                "downscale_delay_s": a["downscale_delay_s"], "warm_pool": a["warm_pool"]}
        got = {k: ya.get(k) for k in want}
        check(all(got[k] is not None and close(got[k], want[k]) for k in want),
              "%s: autoscaling %s != simulated %s" % (n, got, want))
        check(ya.get("schedule", []) == a["windows"], "%s: schedule %s != simulated windows %s"
              % (n, ya.get("schedule"), a["windows"]))
    if "batcher" in s:
        b = s["batcher"]
        check(y.get("batching") == {"max_batch_size": b["max_batch_size"],
                                    "max_queue_delay_microseconds": b["max_queue_delay_us"]},
              "%s: batching %s != %s" % (n, y.get("batching"), b))
        check(y.get("max_concurrency") == 1, "%s: one batch per replica at a time, as simulated" % n)
    else:
        sc = s["scheduler"]
        # every LLM tier: the simulated KV pool and model length too (a local worker runs them;
        # for another engine they are its launch flags), and the KV block size under planner:
        want = {"max_num_seqs": sc["max_num_seqs"], "max_num_batched_tokens": sc["max_num_batched_tokens"],
                "max_model_len": sc["max_model_len"], "kv_blocks": sc["kv_blocks_total"]}
        check(y.get("scheduler") == want, "%s: scheduler %s != %s" % (n, y.get("scheduler"), want))
        check(y.get("planner", {}).get("kv_block_tokens") == sc["kv_block_tokens"], "%s: planner.kv_block_tokens" % n)
        check(y.get("max_concurrency") == sc["max_num_seqs"], "%s: max_concurrency" % n)
    if "launch" in y:   # the engine's command carries the same knobs
        argv = shlex.split(y["launch"])
        if "scheduler" in s and argv[0] in ("vllm", "rightsize"):
            sc = s["scheduler"]
            for f, v in (("--max-num-seqs", sc["max_num_seqs"]), ("--max-num-batched-tokens", sc["max_num_batched_tokens"]),
                         ("--max-model-len", sc["max_model_len"])):
                check(flag(argv, f) == str(v), "%s: launch %s %s != %s" % (n, f, flag(argv, f), v))
            if argv[0] == "vllm":
                check(flag(argv, "--num-gpu-blocks-override") == str(sc["kv_blocks_total"]) and
                      flag(argv, "--block-size") == str(sc["kv_block_tokens"]), "%s: launch KV blocks" % n)
                tp = s["tensor_parallel"] * (2 if "neuron" in argv else 1)
                check(flag(argv, "--tensor-parallel-size") == str(tp), "%s: launch tensor parallel" % n)
        if "batcher" in s and argv[0] == "text-embeddings-router":
            check(flag(argv, "--max-client-batch-size") == str(s["batcher"]["max_batch_size"]), "%s: TEI batch" % n)
        return argv
    return None


def check_k8s(wname, kdir, emitted, sc):
    files = sorted(glob.glob(os.path.join(kdir, "[0-9]*.yaml")))
    r = subprocess.run(["node", os.path.join(ROOT, "tests/e2e/lib/k8s_validate.mjs")] + files,
                       capture_output=True, text=True, timeout=300)
    if r.returncode == 77:
        print(r.stdout)
        sys.exit(77)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    for l in lines:
        check(l["ok"], "%s: k8s %s %s invalid: %s" % (wname, l.get("kind"), l.get("name"), l.get("error")))
    kinds = sorted({l["kind"] for l in lines})
    check(r.returncode == 0 and len(lines) >= 6, "%s: validator rc %d, %d objects (%s) %s" % (wname, r.returncode, len(lines),
                                                                                             kinds, r.stderr[-300:]))
    docs = [d for f in files for d in yaml.safe_load_all(open(f)) if d]
    by = {}
    for d in docs:
        by.setdefault(d["kind"], []).append(d)
    for k in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "PrometheusRule"):
        check(k in by, "%s: no %s emitted" % (wname, k))
    promtool = shutil.which("promtool")
    if check(promtool is not None, "promtool is installed (scripts/deps installs prometheus)"):
        r = subprocess.run([promtool, "check", "rules", os.path.join(kdir, "prometheus-rules.yaml")],
                           capture_output=True, text=True)
        check(r.returncode == 0, "%s: promtool check rules: %s" % (wname, (r.stdout + r.stderr)[-300:]))
    cm = by["ConfigMap"][0]["data"]["pipeline.yaml"]
    p = os.path.join(T, wname + ".k8s-pipeline.yaml")
    open(p, "w").write(cm)
    r = subprocess.run([BIN, "serve", "--check", p], capture_output=True, text=True)
    check(r.returncode == 0, "%s: ConfigMap pipeline fails serve --check: %s" % (wname, r.stdout + r.stderr))
    kp = yaml.safe_load(cm)
    for a, b in zip(kp["tiers"], emitted["tiers"]):
        for k in ("replicas", "reserved", "capacity", "cost_per_hour", "autoscaling", "batching"):
            check(a.get(k) == b.get(k), "%s: ConfigMap tier %s %s differs from --emit" % (wname, a["name"], k))
        for k in ("max_num_seqs", "max_num_batched_tokens"):
            check(a.get("scheduler", {}).get(k) == b.get("scheduler", {}).get(k), "%s: ConfigMap scheduler.%s" % (wname, k))
    check(kp["limits"] == emitted["limits"], "%s: ConfigMap limits differ from --emit" % wname)
    gw = [d for d in by["Deployment"] if d["metadata"]["name"] == "rightsize-gateway"][0]
    pod = gw["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    drain = int(args[args.index("--shutdown-timeout") + 1])
    pre = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    check(pod["terminationGracePeriodSeconds"] > drain + pre, "%s: gateway grace period covers preStop + drain" % wname)
    for s in sc["tiers"]:
        deps = [d for d in by["Deployment"] if d["metadata"]["labels"]["app.kubernetes.io/component"] == "tier-" + s["name"]]
        total = sum(d["spec"]["replicas"] for d in deps)
        a = s["autoscaler"]
        auto = not (s["min_replicas"] == s["max_replicas"] and not a["windows"])
        check(total == (s["min_replicas"] if auto else s["max_replicas"]),
              "%s: tier %s Deployments start %d replicas" % (wname, s["name"], total))
        if "scheduler" in s and deps:
            c = deps[0]["spec"]["template"]["spec"]["containers"][0]
            argv = c.get("command", []) + c.get("args", [])
            if "--max-num-seqs" in argv:
                check(flag(argv, "--max-num-seqs") == str(s["scheduler"]["max_num_seqs"]), "%s: Deployment flags" % wname)
        if not auto:
            continue
        so = [d for d in by.get("ScaledObject", []) if d["metadata"]["name"] == "rightsize-" + s["name"]]
        if not check(len(so) == 1, "%s: tier %s has a ScaledObject" % (wname, s["name"])):
            continue
        spec = so[0]["spec"]
        fl = s["reserved_replicas"]
        check(spec["minReplicaCount"] == s["min_replicas"] - fl and spec["maxReplicaCount"] == s["max_replicas"] - fl,
              "%s: ScaledObject bounds %s..%s" % (wname, spec["minReplicaCount"], spec["maxReplicaCount"]))
        prom = [t for t in spec["triggers"] if t["type"] == "prometheus"]
        cron = [t for t in spec["triggers"] if t["type"] == "cron"]
        if a["target_per_replica"] < 1e9:
            check(len(prom) == 1 and close(float(prom[0]["metadata"]["threshold"]), a["target_per_replica"], 1e-5),
                  "%s: KEDA threshold is the plan's target %s" % (wname, a["target_per_replica"]))
        check(len(cron) == len(a["windows"]), "%s: one cron trigger per run window" % wname)
        for t, w in zip(cron, a["windows"]):
            m, h = [int(x) for x in t["metadata"]["start"].split()[:2]]
            check(close(h + m / 60, w["start_hour"], 1e-3) and int(t["metadata"]["desiredReplicas"]) == w["min_replicas"] - fl,
                  "%s: cron window %s vs %s" % (wname, t["metadata"], w))


def plan_one(wpath):
    name = os.path.basename(wpath)[:-5]
    out, kdir = os.path.join(T, name + ".yaml"), os.path.join(T, name + ".k8s")
    t0 = time.time()
    r = subprocess.run([BIN, "plan", wpath, "--quiet", "--horizon-hours", HORIZON, "--json", "--emit", out,
                        "--emit-k8s", kdir], capture_output=True, text=True, timeout=600)
    print("plan %s: %.1f s" % (name, time.time() - t0), flush=True)
    if not check(r.returncode == 0, "plan %s failed: %s" % (name, r.stderr[-500:])):
        return None
    j = json.loads(r.stdout)
    y = yaml.safe_load(open(out))
    sc = j["plan"]["simulated_config"]
    check(len(y["tiers"]) == len(sc["tiers"]), "%s: tier count" % name)
    for yt, st in zip(y["tiers"], sc["tiers"]):
        check_tier(name, yt, st)
    check(y["limits"]["max_queue"] == sc["max_queue"], "%s: max_queue %s != simulated %s"
          % (name, y["limits"]["max_queue"], sc["max_queue"]))
    if any("autoscaling" in t for t in y["tiers"]):
        check(y["autoscaling"]["interval_s"] == sc["autoscale_interval_s"], "%s: autoscaler interval" % name)
    slo = dict(j["workload"]["slo"])
    if "deadline_hours" in slo:
        slo["job_deadline_hours"] = slo.pop("deadline_hours")
    check(y.get("slo") == slo, "%s: slo %s != workload's %s" % (name, y.get("slo"), slo))
    # The emitted prices re-bill the simulated replica-hours to the plan's accelerator cost.
    prices = {}
    for t in y["tiers"]:
        prices.setdefault(t["capacity"], []).append(t["cost_per_hour"])
        if "reserved" in t:
            prices.setdefault("reserved_" + t["reserved"]["term"], []).append(t["reserved"]["cost_per_hour"])
    cost = j["plan"]["cost"]
    if len(y["tiers"]) == 1:
        billed = 0.0
        for kind, h in cost["replica_hours_month"].items():
            if h > 0:
                check(kind in prices, "%s: %.1f %s replica-hours simulated, but the file bills no %s capacity"
                      % (name, h, kind, kind))
                billed += h * prices.get(kind, [0])[0]
        check(close(billed, cost["accelerator_usd_month"], 1e-6),
              "%s: emitted prices bill $%.4f/month, the plan says $%.4f" % (name, billed, cost["accelerator_usd_month"]))
    allowed = sum(t["replicas"]["max"] for t in y["tiers"])
    for sname, s in j["plan"]["scenarios"].items():
        check(s["peak_replicas"] <= allowed, "%s: %s scenario peaked at %d replicas > the file's %d"
              % (name, sname, s["peak_replicas"], allowed))
    r = subprocess.run([BIN, "serve", "--check", out], capture_output=True, text=True)
    check(r.returncode == 0, "%s: serve --check: %s" % (name, r.stdout + r.stderr))
    check_k8s(name, kdir, y, sc)
    print("ok: %s (%s)" % (name, j["plan"]["id"]), flush=True)
    return out


emitted = {}
for w in sorted(glob.glob(os.path.join(ROOT, "data/workloads/*.yaml"))):
    emitted[os.path.basename(w)[:-5]] = plan_one(w)

# Candidates other than the chosen ones (plan --explain ID --emit): a local CPU worker tier, a
# cascade, embeddings on a GPU (TEI). Their files pass serve --check and their objects validate.
named = [("nightly-batch-scoring", "cpu-c7i-8xlx1/llama-3.2-3b/int8/b64/auto/reserved+spot", "worker"),
         # a cascade whose student runs on Inferentia2 (Neuron) and its teacher on an L40S GPU
         ("support-assistant", "l40sx1/llama-3.1-8b/fp8/b16/auto/reserved+spot/cascade=support-student-1b:int8@inferentia2",
          "cascade"),
         ("embedding-service", "l4x1/bge-small-en/bf16/b32/auto/od", "tei")]
for wname, cid, tag in named:
    out, kdir = os.path.join(T, tag + ".yaml"), os.path.join(T, tag + ".k8s")
    r = subprocess.run([BIN, "plan", os.path.join(ROOT, "data/workloads", wname + ".yaml"), "--horizon-hours", HORIZON,
                        "--explain", cid, "--emit", out, "--emit-k8s", kdir], capture_output=True, text=True, timeout=300)
    if not check(r.returncode == 0, "%s: plan --explain --emit: %s" % (tag, r.stderr[-300:])):
        continue
    y = yaml.safe_load(open(out))
    models = os.path.join(T, "data", "models")   # a local tier's GGUF must exist for serve --check
    os.makedirs(models, exist_ok=True)
    for t in y["tiers"]:
        if "url" not in t:
            open(os.path.join(T, t["model"]), "w").close()
    r = subprocess.run([BIN, "serve", "--check", out], capture_output=True, text=True, cwd=T)
    check(r.returncode == 0, "%s: serve --check: %s" % (tag, r.stdout + r.stderr))
    files = sorted(glob.glob(os.path.join(kdir, "[0-9]*.yaml")))
    r = subprocess.run(["node", os.path.join(ROOT, "tests/e2e/lib/k8s_validate.mjs")] + files, capture_output=True,
                       text=True, timeout=300)
    check(r.returncode == 0, "%s: k8s objects invalid: %s" % (tag, [l for l in r.stdout.splitlines() if '"ok":false' in l]))
    docs = [d for f in files for d in yaml.safe_load_all(open(f)) if d]
    engines = [c["name"] for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]]
    want = {"worker": "worker", "cascade": "vllm-neuron", "tei": "tei"}[tag]
    check(want in engines, "%s: a %s Deployment (got %s)" % (tag, want, engines))
    if tag == "worker":   # the roofline computed with all 16 cores of a c7i.8xlarge
        w = [c for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
             if c["name"] == "worker"][0]
        check(y["tiers"][0].get("threads") == 16 and flag(w["args"], "-t") == "16" and w["resources"]["requests"]["cpu"] == "16",
              "worker: 16 engine threads and cores (%s, %s)" % (y["tiers"][0].get("threads"), w["resources"]))
    if tag == "cascade":
        check([t["name"] for t in y["tiers"]] == ["student", "teacher"] and "cascade" in y["routes"][0],
              "cascade: student then teacher")
        check(sum(d["kind"] == "ScaledObject" for d in docs) == 2, "cascade: one ScaledObject per tier")
    if tag == "tei":
        gpu = [c["resources"]["limits"].get("nvidia.com/gpu") for d in docs if d["kind"] == "Deployment"
               for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "tei"]
        check(gpu and gpu[0] == "1", "tei: one GPU per replica")
    print("ok: %s (%s)" % (tag, cid), flush=True)

# A local tier's worker gets the scheduler's model length and KV pool.
from serve_env import synth  # noqa: E402
model = synth("tiny", 7)
g = Gateway("""listen: 127.0.0.1:0
tiers:
  - name: main
    model: %s
    scheduler: {max_num_seqs: 4, max_num_batched_tokens: 64, max_model_len: 256, kv_blocks: 48}
routes:
  - {match: {endpoint: any}, tier: main}
""" % model, name="local")
check(g.wait_ready("main"), "local worker comes up")
log = open(os.path.join(T, "serve.log"), errors="replace").read()
check("KV 48 blocks" in log, "the worker runs the emitted KV pool: %s" % [l for l in log.splitlines() if "KV" in l][-1:])
g.stop()

f = emitted.get("support-assistant")
if f:
    text = open(f).read()
    # A broken reference is refused with the file, line and key.
    bad = os.path.join(T, "bad.yaml")
    open(bad, "w").write(text.replace("    tier: main\n", "    tier: mian\n"))
    line = [i + 1 for i, l in enumerate(open(bad)) if l.strip() == "tier: mian"]
    r = subprocess.run([BIN, "serve", "--check", bad], capture_output=True, text=True)
    check(bool(line) and r.returncode == 1 and
          ("bad.yaml:%d: key 'routes[0].tier': unknown tier 'mian' (tiers: main)" % line[0]) in r.stderr,
          "broken reference message: %s" % r.stderr)
    # The gateway bills the reserved floor and the burst capacity as the file says: three replicas
    # up, the first reserved, the others at the burst price.
    y = yaml.safe_load(text)
    t = y["tiers"][0]
    if check("reserved" in t and t["capacity"] == "spot", "support-assistant plans a reserved floor + spot burst"):
        live = re.sub(r"replicas: \{min: \d+, max: (\d+)\}", lambda m: "replicas: {min: 3, max: %s}" % max(3, int(m.group(1))),
                      text)
        live = re.sub(r"    autoscaling: \{[^}]*\}\n", "", live)
        live = re.sub(r"^autoscaling: .*\n", "", live, flags=re.M)
        g = Gateway(live)
        time.sleep(2.0)
        led = g.ledger()["cost_nusd_by_kind"]
        res, spot = led["reserved_1y"], led["spot"]
        want = t["reserved"]["cost_per_hour"] / (2 * t["cost_per_hour"])
        check(led["on_demand"] == 0 and res > 0 and spot > 0 and abs(res / spot - want) < 0.05 * want,
              "ledger by kind %s: reserved/spot should be %.3f" % (led, want))
        g.stop()
finish()
