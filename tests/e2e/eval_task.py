#!/usr/bin/python3
"""eval --task: accuracy and cost of a `rightsize serve` pipeline on labelled prompts.

A fake OpenAI backend (tests/e2e/lib/fake_backend.py: answers "<name>:<prompt>") sits behind
`rightsize serve`, so every reply is known in advance and the expected accuracy follows from the
task file alone; the same prompts sent as completions go to a real worker tier, whose reported
busy share the gateway charges (the fake backend reports none, so its calls cost nothing). Checks: accuracy and per-item correctness under exact / contains / regex rules
(chat messages and plain prompts), the total cost equals the sum of the gateway's own telemetry
cost_busy_usd records (the busy charges the ledger bills), cost per 1K = 1000 x mean, requests really
run --concurrency at a time, the same task against the bare backend (no cost header) says so,
and malformed task files are refused with FILE:LINE."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, T, Gateway, check, fake_backend, finish, synth  # noqa: E402

_, port = fake_backend("fast", delay_ms=150)
# The fake backend reports no busy time, so the gateway charges its calls nothing; completions go
# to a real worker (which reports its busy share) so the cost check has money to count.
model = synth("w", 5)
gw = Gateway("""
tiers:
  - {name: fast, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 360}
  - {name: w, model: %s, cost_per_hour: 3600}
routes:
  - {match: {endpoint: chat}, tier: fast}
  - {match: {endpoint: completions}, tier: w}
""" % (port, model))
check(gw.wait_ready("w"), "worker ready")

items = [  # (line, expected correct)
    ({"prompt": "billing", "label": "fast:billing"}, True),
    ({"prompt": "billing", "label": "FAST:BILLING"}, True),              # exact ignores case
    ({"prompt": "shipping", "label": "fast:billing"}, False),
    ({"prompt": "late parcel\nsecond line", "label": "fast:late parcel"}, True),   # first line only
    ({"prompt": "refund please", "label": "refund", "match": "contains"}, True),
    ({"prompt": "password reset", "label": "refund", "match": "contains"}, False),
    ({"prompt": "invoice 42", "label": "^fast:invoice [0-9]+$", "match": "regex"}, True),
    ({"prompt": "invoice x", "label": "^fast:invoice [0-9]+$", "match": "regex"}, False),
    ({"messages": [{"role": "system", "content": "classify"}, {"role": "user", "content": "account"}],
      "label": "fast:account", "id": "m1"}, True),
    ({"messages": [{"role": "user", "content": "other"}], "label": "fast:account"}, False),
]
task = os.path.join(T, "task.jsonl")
with open(task, "w") as f:
    f.write("# a comment line\n\n")
    for it, _ in items:
        f.write(json.dumps(it) + "\n")
want = [c for _, c in items]

out, preds = os.path.join(T, "r.yaml"), os.path.join(T, "p.jsonl")
p = subprocess.run([BIN, "eval", "--task", task, "--url", "http://127.0.0.1:%d" % gw.port, "--concurrency", "5",
                    "--out", out, "--predictions", preds], capture_output=True, text=True, timeout=60)
print(p.stdout, p.stderr)
check(p.returncode == 0, "eval --task exits 0")
pr = [json.loads(l) for l in open(preds)]
check([x["correct"] for x in pr] == want, "per-item correctness %s" % [x["correct"] for x in pr])
check(pr[8].get("id") == "m1" and pr[3]["reply"] == "fast:late parcel", "predictions carry ids and first lines")
check(all(x["tier"] == "fast" for x in pr), "every reply names the tier that answered")
acc = sum(want) / len(want)
check("accuracy: %.4f  (%d of %d correct, 0 errors" % (acc, sum(want), len(want)) in p.stdout, "accuracy line")
vals = {}
for line in open(out):
    k, _, v = line.strip().partition(":")
    vals.setdefault(k, v.strip())
check(abs(float(vals["quality"]) - acc) < 1e-12 and abs(float(vals["accuracy"]) - acc) < 1e-12,
      "results: quality = accuracy = %s" % acc)
import time  # noqa: E402


def records(endpoint, n):
    """The gateway's telemetry records of one endpoint, once all n are written (bounded wait)."""
    for _ in range(50):
        recs = [r for r in gw.telemetry() if r["endpoint"] == endpoint]
        if len(recs) >= n:
            return recs
        time.sleep(0.1)
    return recs


tel = records("chat", len(items))
check(len(tel) == len(items), "the gateway saw %d chat requests" % len(tel))
# Cost: the same task as plain prompts to /v1/completions, answered by the real worker.
out_w = os.path.join(T, "w.json")
pw = subprocess.run([BIN, "eval", "--task", task, "--completions", "--url", "http://127.0.0.1:%d" % gw.port,
                     "--max-tokens", "4", "--out", out_w], capture_output=True, text=True, timeout=60)
check(pw.returncode == 0, "eval --completions exits 0 %s" % pw.stderr.strip()[-200:])
rw = json.load(open(out_w))["task"]
n_prompt = sum("prompt" in it for it, _ in items)   # message items still go to chat
tel_w = records("completions", n_prompt)
check(len(tel_w) == n_prompt and all(r["tier"] == "w" for r in tel_w), "prompt lines went to the worker tier")
for _ in range(50):   # both runs' records written
    if len(gw.telemetry()) >= 2 * len(items):
        break
    time.sleep(0.1)
tel_all = gw.telemetry()
tel_cost = sum(r["cost_busy_usd"] for r in tel_w)
check(len(tel_all) == 2 * len(items) and tel_cost > 0, "worker requests cost something ($%.9f)" % tel_cost)
# Headers carry 9 decimals: sums may differ from telemetry by 5e-10 per request.
both = rw.get("cost_usd", -1) + float(vals["cost_usd"])
check(abs(both - sum(r["cost_busy_usd"] for r in tel_all)) <= 5e-10 * len(tel_all) + 1e-12,
      "eval's costs of both runs = sum of the gateway's telemetry cost_busy_usd")
check(abs(rw["cost_per_1k_usd"] - 1000 * rw["cost_usd"] / len(items)) < 1e-9, "cost per 1K = 1000 x mean")
# 10 requests of >= 150 ms, 5 at a time: about 0.3 s, surely under the 1.5 s they take one by one.
wall = float(vals["wall_s"])
check(wall < 1.2, "concurrency 5: 10 requests of 150 ms in %.2f s" % wall)

# The bare backend: no cost header, said plainly; accuracy the same.
p = subprocess.run([BIN, "eval", "--task", task, "--url", "http://127.0.0.1:%d/v1" % port, "--out",
                    os.path.join(T, "bare.json")], capture_output=True, text=True, timeout=60)
r = json.load(open(os.path.join(T, "bare.json")))
check(p.returncode == 0 and r["task"]["accuracy"] == acc and "cost_usd" not in r["task"] and "no x-rightsize-cost-usd" in p.stdout,
      "bare endpoint: same accuracy, no cost")

# Bad input.
def bad(lines, needle, what, extra=()):
    path = os.path.join(T, "bad.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    q = subprocess.run([BIN, "eval", "--task", path, "--url", "http://127.0.0.1:%d" % port] + list(extra),
                       capture_output=True, text=True, timeout=30)
    check(q.returncode == 1 and needle in q.stderr, "%s: %s" % (what, q.stderr.strip()))

ok = json.dumps(items[0][0])
bad([ok, "{not json"], "bad.jsonl:2: not valid JSON", "malformed JSON names its line")
bad([ok, '{"prompt": "x"}'], "bad.jsonl:2: \"label\"", "a missing label")
bad(['{"prompt": "x", "label": "y"}'], "bad.jsonl:1: \"intent\" (a string: the label) is required", "--label-field names the key",
    ("--label-field", "intent"))
bad(['{"prompt": "x", "label": "y", "match": "fuzzy"}'], "\"match\" must be", "an unknown match rule")
bad(['{"prompt": "x", "label": "(", "match": "regex"}'], "regex", "a bad regex")
bad(['{"prompt": "x", "messages": [], "label": "y"}'], "one of \"prompt\"", "prompt and messages together")
bad(["# only a comment"], "no labelled prompts", "an empty task")
q = subprocess.run([BIN, "eval", "--task", task, "--url", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=30)
check(q.returncode == 1 and "every request failed" in q.stderr, "an unreachable endpoint: %s" % q.stderr.strip())
check(gw.stop() == 0, "serve drains and exits 0")
finish()
