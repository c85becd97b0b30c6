#!/usr/bin/python3
"""eval --choose-min-confidence: the cascade threshold chosen on a dev set is the cheapest that
keeps the target share of teacher accuracy, and `serve` configured with it delivers exactly the
predicted accuracy and escalation share.

Two workers, greedy: a random-weight teacher and its Q4_0 quantization as the student. Labels are the teacher's own first lines
(asked directly), so the teacher is right on every prompt and the student where it agrees. The
expected threshold is recomputed here by brute force from the student's logprobs (asked directly
of the worker, confidence = exp(mean token logprob) as docs/serve.md defines it); then the same
dev set through a `serve` cascade at that threshold must score the predicted accuracy, with the
predicted number of prompts answered by the teacher."""
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, T, Gateway, check, finish, post_direct, start_worker, synth  # noqa: E402

KEEP = 0.97
# The student is the teacher quantized to Q4_0 (by `rightsize quantize`): it agrees on some prompts.
teacher = synth("teacher", 22, extra=("--type", "f16"))
student = os.path.join(T, "student.gguf")
subprocess.run([BIN, "quantize", teacher, student, "--type", "q4_0", "-q"], check=True)
_, sport = start_worker(student)
_, tport = start_worker(teacher)
prompts = ["ticket %d: my order %d has not arrived" % (i, 1000 + 37 * i) for i in range(20)]
rows = []
for p in prompts:
    body = {"prompt": p, "max_tokens": 4, "temperature": 0}
    _, s = post_direct(sport, "/v1/completions", dict(body, logprobs=0))
    _, t = post_direct(tport, "/v1/completions", body)
    s, t = json.loads(s), json.loads(t)
    lps = s["choices"][0]["logprobs"]["token_logprobs"]
    conf = math.exp(sum(lps) / len(lps)) if lps else 0.0
    first = lambda x: x.strip().split("\n")[0].strip() if x.strip() else ""  # noqa: E731
    label = first(t["choices"][0]["text"])
    rows.append((conf, first(s["choices"][0]["text"]).lower() == label.lower(), label))
task = os.path.join(T, "dev.jsonl")
with open(task, "w") as f:
    for p, (_, _, label) in zip(prompts, rows):
        f.write(json.dumps({"prompt": p, "label": label}) + "\n")

# Brute force: every threshold from 0 through each distinct confidence (+1e-4 above the top one).
n = len(rows)
cs = sorted(set(c for c, _, _ in rows))
cands = [0.0] + [(a + b) / 2 for a, b in zip(cs, cs[1:])] + [cs[-1] + 1e-4]
teacher_acc = 1.0
best = None
for m in cands:
    acc = sum((1 if c < m else ok) for c, ok, _ in rows) / n
    if acc >= KEEP * teacher_acc - 1e-12:
        best = (m, acc, sum(c < m for c, _, _ in rows))
        break
student_acc = sum(ok for _, ok, _ in rows) / n
print("student accuracy %.3f; expected min_confidence %.9f, accuracy %.3f, %d escalations" % (student_acc, *best))
check(0 < student_acc < KEEP, "the student alone misses the target (%.2f), so a threshold matters" % student_acc)

out = os.path.join(T, "choice.json")
p = subprocess.run([BIN, "eval", "--task", task, "--completions", "--max-tokens", "4", "--url",
                    "http://127.0.0.1:%d" % sport, "--teacher-url", "http://127.0.0.1:%d" % tport,
                    "--choose-min-confidence", "--keep", str(KEEP), "--out", out], capture_output=True, text=True, timeout=120)
print(p.stdout, p.stderr)
check(p.returncode == 0, "eval --choose-min-confidence exits 0")
ch = json.load(open(out))["cascade_choice"]
check(abs(ch["min_confidence"] - best[0]) < 1e-9, "min_confidence %.9f == brute force %.9f" % (ch["min_confidence"], best[0]))
check(abs(ch["cascade_accuracy"] - best[1]) < 1e-12 and abs(ch["escalation"] - best[2] / n) < 1e-12,
      "predicted accuracy %.3f and escalation %.3f" % (ch["cascade_accuracy"], ch["escalation"]))
check(ch["teacher_accuracy"] == 1.0 and abs(ch["student_accuracy"] - student_acc) < 1e-12, "tier accuracies")

# The chosen threshold, live: serve's cascade must deliver the predicted numbers.
gw = Gateway("""
tiers:
  - {name: student, model: %s, cost_per_hour: 0.1}
  - {name: teacher, model: %s, cost_per_hour: 1.0}
routes:
  - match: {endpoint: completions}
    cascade: {first: student, then: teacher, min_confidence: %.9f}
""" % (student, teacher, ch["min_confidence"]))
check(gw.wait_ready("student") and gw.wait_ready("teacher"), "workers ready")
live = os.path.join(T, "live.json")
p = subprocess.run([BIN, "eval", "--task", task, "--completions", "--max-tokens", "4", "--concurrency", "1", "--url",
                    "http://127.0.0.1:%d" % gw.port, "--out", live], capture_output=True, text=True, timeout=120)
print(p.stdout, p.stderr)
r = json.load(open(live))["task"]
check(abs(r["accuracy"] - best[1]) < 1e-12, "live cascade accuracy %.3f == predicted %.3f" % (r["accuracy"], best[1]))
check(r["accuracy"] >= KEEP * teacher_acc, "live cascade keeps >= %.0f%% of teacher accuracy" % (100 * KEEP))
check(r["tiers"].get("teacher", 0) == best[2], "teacher answered %s, predicted %d" % (r["tiers"], best[2]))
check(r.get("cost_per_1k_usd", 0) > 0, "the same run priced the cascade: $%.6f per 1K" % r.get("cost_per_1k_usd", 0))
check(gw.stop() == 0, "serve drains and exits 0")
finish()
