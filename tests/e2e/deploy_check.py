"""The Kubernetes objects `rightsize plan --emit-k8s` writes say what the code does: the
ConfigMap's pipeline passes `serve --check`, the gateway's drain contract holds (grace period >
preStop + --shutdown-timeout, every flag is one serve accepts), the Prometheus rules pass
`promtool check rules`, and every rightsize_ series that the rules and the KEDA triggers query is
exported by a running gateway with the labels they use. (Schema validation of every object is in
plan_emit.py.)"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
tmp = tempfile.mkdtemp(prefix="rs-deploy-")
failures = []


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what)
    if not cond:
        failures.append(what)


K8S = os.path.join(tmp, "k8s")
r = subprocess.run([BIN, "plan", os.path.join(ROOT, "data/workloads/support-assistant.yaml"), "--quiet",
                    "--horizon-hours", "2", "--emit-k8s", K8S], capture_output=True, text=True, timeout=300)
check(r.returncode == 0, "plan --emit-k8s: " + r.stderr[-300:])
docs = {}
for name in sorted(os.listdir(K8S)):
    if name[0].isdigit():
        with open(os.path.join(K8S, name)) as f:
            docs[name] = [d for d in yaml.safe_load_all(f) if d]
objs = [d for ds in docs.values() for d in ds]
check(all(d.get("apiVersion") and d.get("kind") for d in objs), "every manifest has apiVersion and kind")
by_kind = {}
for d in objs:
    by_kind.setdefault(d["kind"], []).append(d)

cm = by_kind["ConfigMap"][0]
pipeline = os.path.join(tmp, "pipeline.yaml")
with open(pipeline, "w") as f:
    f.write(cm["data"]["pipeline.yaml"])
r = subprocess.run([BIN, "serve", "--check", pipeline], capture_output=True, text=True)
check(r.returncode == 0, "ConfigMap pipeline passes serve --check: " + (r.stdout + r.stderr).strip())

dep = [d for d in by_kind["Deployment"] if d["metadata"]["name"] == "rightsize-gateway"][0]
pod = dep["spec"]["template"]["spec"]
args = pod["containers"][0]["args"]
drain = int(args[args.index("--shutdown-timeout") + 1])
pre = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
check(pod["terminationGracePeriodSeconds"] > drain + pre, "grace period exceeds preStop + drain")
r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
for flag in [a for a in args if a.startswith("--")]:
    check(flag in r.stdout + r.stderr, f"serve accepts {flag}")

rules = os.path.join(K8S, "prometheus-rules.yaml")
promtool = shutil.which("promtool")
if promtool:
    r = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
    check(r.returncode == 0, "promtool check rules: " + (r.stdout + r.stderr).strip().splitlines()[-1])
else:
    check(False, "promtool is installed (scripts/deps installs prometheus)")

# For every expression the rules and KEDA evaluate: each rightsize_ series it names, with every
# label it filters or groups by.
exprs = [r["expr"] for g in yaml.safe_load(open(rules))["groups"] for r in g["rules"]]
exprs += [t["metadata"]["query"] for so in by_kind.get("ScaledObject", []) for t in so["spec"]["triggers"]
          if t["type"] == "prometheus"]
check(len(exprs) > 3, "rules and KEDA queries found")
wanted = []  # (metric, label)
for e in exprs:
    names = [m.group(1) for m in re.finditer(r"(rightsize_[a-z0-9_]+)", e)]
    labels = set()
    for m in re.finditer(r"rightsize_[a-z0-9_]+\{([^}]*)\}", e):
        labels |= set(re.findall(r"([a-z_]+)\s*=", m.group(1)))
    for m in re.finditer(r"by \(([^)]*)\)", e):
        labels |= {l.strip() for l in m.group(1).split(",")} - {"le"}
    for n in names:
        wanted.append((re.sub(r"_bucket$", "", n), None))
        # a label must exist on the series when the expression names only this metric
        if len(set(names)) == 1:
            wanted.extend((re.sub(r"_bucket$", "", n), l) for l in labels)

# A gateway on the ConfigMap's pipeline, its remote tiers pointed at a local stand-in backend that
# answers every chat completion with a fixed reply.
import http.server
import json
import threading


class Backend(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "ok"},
                                        "logprobs": {"content": [{"token": "ok", "logprob": -0.01,
                                                                  "bytes": [111, 107], "top_logprobs": []}]}}],
                           "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
threading.Thread(target=backend.serve_forever, daemon=True).start()
local = os.path.join(tmp, "local.yaml")
with open(local, "w") as f:
    f.write(re.sub(r"url: http://[^ \n]+", f"url: http://127.0.0.1:{backend.server_port}/v1",
                   cm["data"]["pipeline.yaml"]))
port_file = os.path.join(tmp, "port")
proc = subprocess.Popen([BIN, "serve", local, "--listen", "127.0.0.1:0", "--port-file", port_file,
                         "--telemetry", os.path.join(tmp, "t.jsonl")],
                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "serve.log"), "w"))
try:
    deadline = time.time() + 20
    while time.time() < deadline and not (os.path.exists(port_file) and open(port_file).read().strip()):
        time.sleep(0.1)
    port = open(port_file).read().strip()
    # One answered request populates the per-tier latency and status series.
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", method="POST",
                                 data=b'{"model":"x","messages":[{"role":"user","content":"hi"}]}',
                                 headers={"content-type": "application/json"})
    try:
        answer = urllib.request.urlopen(req, timeout=30).read()
    except Exception as e:
        answer = repr(e).encode()
    check(b'"ok"' in answer, "the gateway answers through the pipeline: " + answer[:200].decode(errors="replace"))
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    time.sleep(0.5)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            families[name] = kind
    series_labels = {}
    for line in text.splitlines():
        m = re.match(r"([a-z0-9_]+)\{([^}]*)\}", line)
        if m:
            series_labels.setdefault(m.group(1), set()).update(re.findall(r"([a-z_]+)=", m.group(2)))
    for name, label in sorted(set(wanted), key=str):
        if label is None:
            check(name in families, f"gateway exports {name}")
        else:
            check(label in series_labels.get(name, set()) | series_labels.get(name + "_bucket", set()),
                  f"{name} has label {label}")
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    backend.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)

print(f"deploy_check: {len(failures)} failures")
sys.exit(1 if failures else 0)
