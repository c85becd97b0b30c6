#!/usr/bin/python3
"""The bundled support-desk models behind a `serve` cascade: `rightsize eval --task`'s accuracy,
escalations and cost per 1K agree with an independent evaluation here, and the issue's targets
hold on a subset of the test split.

Independent truth: Python asks the student and the teacher each ticket directly (greedy, through
direct routes of the same gateway), computes the student's confidence from its logprobs
(exp(mean token logprob), docs/serve.md) and so predicts, per ticket, which tier the cascade
keeps and whether its intent (the answer's first line) is right. min_confidence is set in the
widest gap of those confidences so that about half the tickets escalate. Then `rightsize eval`
through the cascade route must score exactly that accuracy with that many teacher answers, and
its cost must be the sum of the gateway's telemetry cost_busy_usd over the same requests (the ledger's
busy delta too); each direct answer's x-rightsize-cost-usd must be floor(price * busy_ns) in
nano-dollars from the worker's reported busy_ns."""
import json
import math
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, ROOT, T, Gateway, check, finish  # noqa: E402

N = 40
MAX_TOKENS = 48
PRICE = 0.08925
teacher = os.path.join(ROOT, "data/models/support-teacher.f32.gguf")
student = os.path.join(ROOT, "data/models/support-student.f32.gguf")
tickets = [json.loads(line) for line in open(os.path.join(ROOT, "data/tasks/support-desk/test.jsonl"))][:N]
task = os.path.join(T, "tickets.jsonl")
with open(task, "w") as f:
    f.writelines(json.dumps(t) + "\n" for t in tickets)

CONFIG = """
tiers:
  - {name: student, model: %s, cost_per_hour: %g, threads: 1}
  - {name: teacher, model: %s, cost_per_hour: %g, threads: 1}
routes:
  - {name: student-direct, match: {endpoint: completions, model: student}, tier: student}
  - {name: teacher-direct, match: {endpoint: completions, model: teacher}, tier: teacher}
  - name: tickets
    match: {endpoint: completions, model: tickets}
    cascade: {first: student, then: teacher, min_confidence: %%.9f}
""" % (student, PRICE, teacher, PRICE)
gw = Gateway(CONFIG % 0.0)
check(gw.wait_ready("student") and gw.wait_ready("teacher"), "workers ready")


def first_line(s):
    s = s.strip()
    return s.split("\n")[0].strip() if s else ""


def ask(model, prompt, logprobs=False):
    body = {"model": model, "prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0}
    if logprobs:
        body["logprobs"] = 0
    st, hdr, data = gw.post("/v1/completions", body)
    check(st == 200, "%s answers (HTTP %d)" % (model, st))
    d = json.loads(data)
    busy = d["timings"]["rightsize"]["busy_ns"]
    want = math.floor(PRICE * 1e9 * busy / 3.6e12)
    got = round(float(hdr["x-rightsize-cost-usd"]) * 1e9)
    if got != want:
        check(False, "%s: x-rightsize-cost-usd %d n$ == floor(%g $/h x %d ns) = %d n$" % (model, got, PRICE, busy, want))
    return d["choices"][0]


rows = []
for t in tickets:
    s = ask("student", t["prompt"], logprobs=True)
    lps = s["logprobs"]["token_logprobs"]
    conf = math.exp(sum(lps) / len(lps)) if lps else 0.0
    te = ask("teacher", t["prompt"])
    rows.append((conf, first_line(s["text"]).lower() == t["intent"], first_line(te["text"]).lower() == t["intent"],
                 s["text"], te["text"]))
stu_acc = sum(r[1] for r in rows) / N
tea_acc = sum(r[2] for r in rows) / N
# min_confidence in the widest gap between sorted confidences, among those escalating 25-75 %.
cs = sorted(r[0] for r in rows)
gaps = [(cs[i + 1] - cs[i], (cs[i] + cs[i + 1]) / 2) for i in range(N // 4, 3 * N // 4)]
thr = max(gaps)[1]
esc = sum(1 for r in rows if r[0] < thr)
pred_acc = sum((r[2] if r[0] < thr else r[1]) for r in rows) / N
print("direct: student %.3f, teacher %.3f; min_confidence %.6f (gap %.2e): %d of %d escalate, cascade %.3f"
      % (stu_acc, tea_acc, thr, max(gaps)[0], esc, N, pred_acc))
check(tea_acc >= 0.9 and stu_acc >= 0.9 * tea_acc, "the trained models answer the tickets (student %.3f, teacher %.3f)"
      % (stu_acc, tea_acc))

with open(gw.cfg, "w") as f:
    f.write(CONFIG % thr)
gw.proc.send_signal(signal.SIGHUP)
t0 = time.time()
while "reloaded " not in open(os.path.join(T, "serve.log")).read() and time.time() - t0 < 10:
    time.sleep(0.05)
check("reloaded " in open(os.path.join(T, "serve.log")).read(), "serve reloaded the threshold")


def settled_ledger():
    """/admin/ledger once it has counted every request the telemetry has (it is published periodically)."""
    t0 = time.time()
    while True:
        led, n = gw.ledger(), len(gw.telemetry())
        if led["requests"] == n or time.time() - t0 > 10:
            return led, n
        time.sleep(0.05)


def run_eval(model, out):
    before, n0 = settled_ledger()
    p = subprocess.run([BIN, "eval", "--task", task, "--label-field", "intent", "--completions", "--max-tokens",
                        str(MAX_TOKENS), "--concurrency", "1", "--url", "http://127.0.0.1:%d" % gw.port, "--model", model,
                        "--out", out, "--predictions", out + ".predictions"], capture_output=True, text=True, timeout=120)
    print(p.stdout, p.stderr)
    check(p.returncode == 0, "eval through %s exits 0" % model)
    after, _ = settled_ledger()
    return json.load(open(out))["task"], gw.telemetry()[n0:], before, after


r, recs, before, after = run_eval("tickets", os.path.join(T, "cascade.json"))
check(r["requests"] == N and r["errors"] == 0, "eval sent %d tickets, no errors" % N)
check(abs(r["accuracy"] - pred_acc) < 1e-12, "eval's cascade accuracy %.4f == independent prediction %.4f"
      % (r["accuracy"], pred_acc))
check(r["tiers"].get("teacher", 0) == esc and r["tiers"].get("student", 0) == N - esc,
      "teacher answered %s, predicted %d of %d" % (r["tiers"], esc, N))
preds = [json.loads(line) for line in open(os.path.join(T, "cascade.json.predictions"))]
want = [(r[4] if r[0] < thr else r[3]) for r in rows]
check([p["text"] for p in preds] == want, "eval's predictions hold each whole answer, as the direct asks got it")
check(all(p["reply"] == first_line(p["text"]) for p in preds), "and its first line as the scored reply")
mine = [x for x in recs if x["requested_model"] == "tickets"]
check(len(mine) == N and sum(x["escalated"] for x in mine) == esc, "telemetry: %d records, %d escalated"
      % (len(mine), sum(x["escalated"] for x in mine)))
tel_cost = sum(x["cost_busy_usd"] for x in mine)
check(abs(r["cost_usd"] - tel_cost) < 1e-12, "eval's cost $%.9f == telemetry's sum $%.9f" % (r["cost_usd"], tel_cost))
check(abs(r["cost_per_1k_usd"] - tel_cost / N * 1000) < 1e-12, "cost per 1K $%.9f == %d requests' sum x 1000 / N"
      % (r["cost_per_1k_usd"], N))
busy = (after["busy_nusd"] - before["busy_nusd"]) / 1e9
check(abs(busy - tel_cost) < 1e-12, "the ledger's busy delta $%.9f == the requests' charges" % busy)

rt, recs_t, _, _ = run_eval("teacher", os.path.join(T, "teacher.json"))
check(abs(rt["accuracy"] - tea_acc) < 1e-12, "eval's teacher accuracy %.4f == direct %.4f" % (rt["accuracy"], tea_acc))
rs, _, _, _ = run_eval("student", os.path.join(T, "student.json"))
check(abs(rs["accuracy"] - stu_acc) < 1e-12, "eval's student accuracy %.4f == direct %.4f" % (rs["accuracy"], stu_acc))
# The targets on this subset: the student alone keeps >= 90 % of the teacher's accuracy at well
# under half its cost per 1K (same price, shorter steps).
check(rs["accuracy"] >= 0.9 * rt["accuracy"], "student keeps >= 90%% of teacher accuracy (%.3f vs %.3f)"
      % (rs["accuracy"], rt["accuracy"]))
check(rs["cost_per_1k_usd"] <= 0.5 * rt["cost_per_1k_usd"], "student costs <= 50%% of the teacher per 1K ($%.7f vs $%.7f)"
      % (rs["cost_per_1k_usd"], rt["cost_per_1k_usd"]))
check(gw.stop() == 0, "serve drains and exits 0")
finish()
