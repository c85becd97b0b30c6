#!/usr/bin/python3
"""Quality-gated canary: rollback.min_accuracy scores the candidate on labelled traffic.

Two fake backends (answers "<name>:<prompt>"): baseline "base", candidate "cand", all traffic to
the candidate. `rightsize eval --task --send-labels` sends each expected answer in the
x-rightsize-label header. With labels the candidate gets wrong, the guard rolls it back after
min_samples answers (reason and metric say "accuracy") and the rest of the run is answered by
the baseline, which eval's per-tier counts and accuracy show; with labels it gets right, it stays.
Unlabelled requests are not scored."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, T, Gateway, check, fake_backend, finish  # noqa: E402

_, base = fake_backend("base")
_, cand = fake_backend("cand")
CONFIG = """
tiers:
  - {name: base, url: "http://127.0.0.1:%d/v1", model: m}
  - {name: cand, url: "http://127.0.0.1:%d/v1", model: m}
routes:
  - {name: main, match: {endpoint: chat}, tier: base}
canary:
  - {route: main, baseline: base, candidate: cand, weight_percent: 100, shadow_percent: 0,
     rollback: {min_accuracy: 0.8, window_s: 60, min_samples: 4}}
""" % (base, cand)
N = 12


def task(prefix):
    path = os.path.join(T, prefix + ".jsonl")
    with open(path, "w") as f:
        for i in range(N):
            f.write(json.dumps({"prompt": "ticket %d" % i, "label": "%s:ticket %d" % (prefix, i)}) + "\n")
    return path


def run_eval(gw, path, labels=True):
    out = os.path.join(T, os.path.basename(path) + ".json")
    args = [BIN, "eval", "--task", path, "--url", "http://127.0.0.1:%d" % gw.port, "--concurrency", "1", "--out", out]
    p = subprocess.run(args + (["--send-labels"] if labels else []), capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "eval exits 0: %s" % p.stderr.strip())
    return json.load(open(out))["task"]


# 1. Unlabelled traffic is not scored, labels the candidate gets right keep it.
gw = Gateway(CONFIG, name="keep")
r = run_eval(gw, task("base"), labels=False)
st = json.loads(gw.admin("GET", "/admin/canary")[2])[0]
check(not st["rolled_back"] and r["tiers"] == {"cand": N}, "unlabelled: no rollback, candidate answered all: %s" % r["tiers"])
r = run_eval(gw, task("cand"))
st = json.loads(gw.admin("GET", "/admin/canary")[2])[0]
check(not st["rolled_back"] and r["accuracy"] == 1.0, "labels the candidate gets right: it stays (%s)" % st["reason"])
check(gw.stop() == 0, "serve exits 0")

# 2. Labels the candidate gets wrong: rolled back after min_samples (4) labelled answers.
gw = Gateway(CONFIG, name="rollback")
r = run_eval(gw, task("base"))
# /admin/canary is a snapshot the loop publishes every tick (50 ms): wait for the one after the run.
t0 = time.time()
while True:
    st = json.loads(gw.admin("GET", "/admin/canary")[2])[0]
    if st["rolled_back"] or time.time() - t0 > 2:
        break
    time.sleep(0.02)
check(st["rolled_back"] and "accuracy on labelled requests 0.000 < 0.800 over 4 answers" in st["reason"],
      "rolled back on accuracy: %s" % st["reason"])
check(gw.metric("rightsize_canary_rollbacks_total", 'guard="accuracy"') == 1, "rollback metric says accuracy")
check(r["tiers"] == {"cand": 4, "base": N - 4}, "4 candidate answers, then the baseline: %s" % r["tiers"])
check(abs(r["accuracy"] - (N - 4) / N) < 1e-12, "eval sees the recovery: accuracy %.3f" % r["accuracy"])
check(gw.stop() == 0, "serve exits 0")
finish()
