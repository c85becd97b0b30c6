"""supportdesk.py — shared by scripts/demo-pipeline and scripts/bench.d/85-support-desk: start
`rightsize serve` on the bundled support-desk models (data/models/support-*.f32.gguf), run
`rightsize eval --task` through it, and stop everything started (standard library only).

The models were trained on `Ticket: <text>\\nIntent:` -> ` <intent>\\nPriority: <p>\\nReply: <reply>`
(scripts/gen-support-desk, scripts/make-models). They have no chat template: the pipeline is
asked through /v1/completions with that exact prompt (`eval --completions`), and the intent is
the first line of the reply."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
TEACHER = os.path.join(ROOT, "data", "models", "support-teacher.f32.gguf")
STUDENT = os.path.join(ROOT, "data", "models", "support-student.f32.gguf")
TASK = os.path.join(ROOT, "data", "tasks", "support-desk")
# Both tiers run on the same CPU, so they get the same price: one 2-vCPU on-demand VM per
# replica (AWS c7i.large, us-east-1 list price), worker threads 2. The student is cheaper only
# because its steps are shorter (the ledger charges busy time at the tier's price).
CPU_PER_HOUR = 0.08925
# Generated tokens per request: the whole answer (intent, priority and reply, at most 45 tokens and EOS: prompt + 48 fits the 128-token context; the
# models end it with EOS). Accuracy is judged on its first line, the intent.
MAX_TOKENS = 48


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Serve:
    """`rightsize serve CONFIG` on a free loopback port, in its own process group."""

    def __init__(self, tmp, config, ready_tiers, name="serve"):
        self.port = free_port()
        self.cfg = os.path.join(tmp, name + ".yaml")
        with open(self.cfg, "w") as f:
            f.write("listen: 127.0.0.1:%d\n" % self.port + config)
        subprocess.run([BIN, "serve", "--check", self.cfg], check=True, stdout=subprocess.DEVNULL)
        self.tel = os.path.join(tmp, name + ".telemetry.jsonl")
        self.log = os.path.join(tmp, name + ".log")
        self.proc = subprocess.Popen([BIN, "serve", self.cfg, "--telemetry", self.tel, "--admin-key", "local"],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), start_new_session=True)
        self.url = "http://127.0.0.1:%d" % self.port
        t0 = time.time()
        while not self._ready(ready_tiers):
            if self.proc.poll() is not None or time.time() - t0 > 60:
                self.stop()
                sys.exit("serve did not come up:\n" + open(self.log).read()[-2000:])
            time.sleep(0.1)

    def get(self, path, key="local"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", path, headers={"Authorization": "Bearer " + key})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def post(self, path, body):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        hdr = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdr, data

    def _ready(self, tiers):
        try:
            st, m = self.get("/metrics")
        except OSError:
            return False
        text = m.decode()
        return st == 200 and all(('rightsize_replicas{tier="%s",state="ready"} 1' % t) in text for t in tiers)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def tier(name, model, threads=2, price=CPU_PER_HOUR):
    return "  - {name: %s, model: %s, cost_per_hour: %g, threads: %d}\n" % (name, model, price, threads)


def eval_task(url, task, out, model=None, label="intent", extra=()):
    """`rightsize eval --task` through url; returns (results dict, eval's stdout)."""
    argv = [BIN, "eval", "--task", task, "--label-field", label, "--completions", "--max-tokens", str(MAX_TOKENS),
            "--url", url, "--out", out, "-q"] + list(extra)
    if model:
        argv += ["--model", model]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("eval failed (%s):\n%s%s" % (" ".join(argv), p.stdout, p.stderr))
    return json.load(open(out)), p.stdout
