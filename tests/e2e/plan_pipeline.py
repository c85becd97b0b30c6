#!/usr/bin/python3
"""`rightsize plan --pipeline`: a given pipeline through the simulator.
1. A trace of requests that never overlap, on one tier timed by `step:`: each request's e2e time
   is its steps' sum and its cost floor(rate × busy / 3.6e12) nUSD, computed here by hand.
2. The same pipeline on a shipped workload: the prediction's money adds up (attributed + idle =
   total), requests complete, and the tier's cost is its replicas × hours × rate; and for every
   shipped workload plan -> --emit -> --pipeline gives the plan's expected scenario, same numbers.
3. What the simulator cannot run says why with FILE:LINE: key — a tier without a step model, a
   route on a request header — and a malformed trace line names its line."""
import atexit
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("RS_BIN", "build/rightsize")
ROOT = os.environ.get("RS_ROOT", ".")
T = tempfile.mkdtemp(prefix="rs-plan-pipeline.")
atexit.register(lambda: shutil.rmtree(T, ignore_errors=True))
fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)
        print("FAIL:", msg)


def write(name, text):
    p = os.path.join(T, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def plan(*args):
    return subprocess.run([BIN, "plan"] + list(args), capture_output=True, text=True, timeout=120)


PIPE = """tiers:
  - name: only
    url: http://127.0.0.1:9/v1
    model: m
    cost_per_hour: 2.5
    replicas: 2
    scheduler: {max_num_seqs: 8, max_num_batched_tokens: 4096}
    step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900}
routes:
  - {name: all, match: {endpoint: any}, tier: only}
"""
pipe = write("p.yaml", PIPE)

# 1. closed form on a sparse trace
rows = [("a", 0.0, 400, 100, 20), ("b", 5.0, 800, 200, 7), ("c", 10.0, 40, 10, 1)]
trace = write("t.csv", "id,t_s,prompt_chars,in_tokens,out_tokens,confidence,status\n" +
              "".join("%s,%.1f,%d,%d,%d,1,200\n" % r for r in rows))
recs = os.path.join(T, "r.jsonl")
out = plan("--pipeline", pipe, "--trace", trace, "--records", recs, "--json")
check(out.returncode == 0, "trace replay failed: " + out.stderr)
got = {json.loads(l)["request_id"]: json.loads(l) for l in open(recs)} if out.returncode == 0 else {}
rate = 2.5e9   # nUSD per hour
for rid, _, _, n_in, n_out in rows:
    busy_us = (1200 + 3 * n_in) + (n_out - 1) * (1200 + 900)
    r = got.get(rid, {})
    check(abs(r.get("e2e_ms", -1) - busy_us / 1000) < 1e-9, "%s: e2e %s ms, expected %.3f" % (rid, r.get("e2e_ms"),
                                                                                           busy_us / 1000))
    check(r.get("cost_nusd") == int(rate * busy_us * 1000 // 3.6e12),
          "%s: cost %s nUSD, expected %d" % (rid, r.get("cost_nusd"), int(rate * busy_us * 1000 // 3.6e12)))
    check(r.get("route") == "all" and r.get("tier") == "only" and r.get("status") == 200, "%s: %s" % (rid, r))


def replay_e2e(path, name, busy_us_of):
    """Replays the trace through the pipeline at path; each request's e2e must be busy_us_of(in, out) µs."""
    out = plan("--pipeline", path, "--trace", trace, "--records", recs, "--json")
    check(out.returncode == 0, "%s trace replay failed: %s" % (name, out.stderr))
    got = {json.loads(l)["request_id"]: json.loads(l) for l in open(recs)} if out.returncode == 0 else {}
    for rid, _, _, n_in, n_out in rows:
        busy_us = busy_us_of(n_in, n_out)
        r = got.get(rid, {})
        check(abs(r.get("e2e_ms", -1) - busy_us / 1000) < 1e-9, "%s %s: e2e %s ms, expected %.3f" %
              (name, rid, r.get("e2e_ms"), busy_us / 1000))


# 1b. a roofline step model (linear + max(memory, compute), steptime.h) — memory-bound here:
# step = b0 + prefill·tokens + decode·rows + mem_fixed + mem_ctx·Σ context
roof = write("roof.yaml", PIPE.replace("step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900}",
                                       "step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900, mem_fixed_us: 500, "
                                       "mem_ctx_us: 1, comp_token_us: 1, comp_pair_us: 0.001}"))
replay_e2e(roof, "roofline", lambda n_in, n_out: (1200 + 3 * n_in + 500 + n_in)
           + sum(1200 + 900 + 500 + (n_in + j + 1) for j in range(n_out - 1)))

# 1c. the multi-row term (a calibrated profile's multi_row_us): paid by a step of more than one
# row — every prefill here (10 to 200 tokens) — and by no one-row decode step (requests never
# overlap in this trace)
multi = write("multi.yaml", PIPE.replace("step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900}",
                                         "step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900, multi_row_us: 250}"))
replay_e2e(multi, "multi-row", lambda n_in, n_out: (1200 + 3 * n_in + 250) + (n_out - 1) * (1200 + 900))

# 1d. the spread (a calibrated profile's spread: and spread_window_us): every step takes one of
# the factors, drawn per window; with every factor 2 each request takes twice its steps' sum. A
# spread without its window is refused with the key.
spread = write("spread.yaml", PIPE.replace("step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900}",
                                           "step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900, "
                                           "spread: [2, 2, 2], spread_window_us: 5000}"))
replay_e2e(spread, "spread", lambda n_in, n_out: 2 * ((1200 + 3 * n_in) + (n_out - 1) * (1200 + 900)))
nowin = write("nowin.yaml", PIPE.replace("step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900}",
                                         "step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900, spread: [0.9, 1.1]}"))
out = plan("--pipeline", nowin, "--trace", trace)
check(out.returncode != 0 and "nowin.yaml:8: key 'tiers[0].step.spread': a spread needs spread_window_us" in out.stderr,
      "spread without a window: " + out.stderr)

# 1e. two tiers sharing a host (planner.host) with a calibrated co-location factor (step.colocated
# 1.5): a step starting while the other tier's replica is busy takes 1.5x as long. A (10 in, 5 out,
# confidence 0) escalates from the student (0-5.5 ms, alone) to the teacher: prefill 5.5-6.6 (alone),
# 4 decode steps of 1.65 ms (B busy) -> 13.2 ms. B (10 in, 9 out) at 6 ms: prefill 1.65 ms (A busy),
# decode steps ending 9.3, 10.95, 12.6, 14.25 (A left at 13.2, during the fourth), 4 of 1.1 alone
# -> e2e 12.65 ms. Without the host: 11.0 and 9.9 ms. A factor below 1 is refused with the key.
HOSTED = "tiers:\n" + "".join("""  - name: %s
    url: http://127.0.0.1:9/v1
    model: m
    cost_per_hour: 1
    replicas: 1
    scheduler: {max_num_seqs: 1, max_num_batched_tokens: 4096}
    step: {b0_us: 1000, prefill_token_us: 10, decode_row_us: 100, colocated: 1.5}
    planner: {host: box}
""" % t for t in ("student", "teacher")) + """routes:
  - {name: all, match: {endpoint: any}, cascade: {first: student, then: teacher, min_confidence: 0.5}}
"""
htrace = write("ht.csv", "id,t_s,prompt_chars,in_tokens,out_tokens,confidence,status\n"
               "A,0.000,40,10,5,0,200\nB,0.006,40,10,9,1,200\n")
for name, text, want in (("hosted", HOSTED, {"A": 13.2, "B": 12.65}),
                         ("own machines", HOSTED.replace("    planner: {host: box}\n", ""), {"A": 11.0, "B": 9.9})):
    out = plan("--pipeline", write("hosted.yaml", text), "--trace", htrace, "--records", recs, "--json")
    check(out.returncode == 0, "%s replay failed: %s" % (name, out.stderr))
    got = {json.loads(l)["request_id"]: json.loads(l) for l in open(recs)} if out.returncode == 0 else {}
    for rid, ms in want.items():
        check(abs(got.get(rid, {}).get("e2e_ms", -1) - ms) < 0.002, "%s %s: e2e %s ms, expected %.3f" %
              (name, rid, got.get(rid, {}).get("e2e_ms"), ms))
out = plan("--pipeline", write("badcol.yaml", HOSTED.replace("colocated: 1.5}", "colocated: 0.8}", 1)), "--trace", htrace)
check(out.returncode != 0 and "badcol.yaml:8: key 'tiers[0].step.colocated': 0.8 is out of range [1, 10]" in out.stderr,
      "colocated below 1: " + out.stderr)

# 2. a shipped workload
out = plan(os.path.join(ROOT, "data/workloads/support-assistant.yaml"), "--pipeline", pipe, "--json",
           "--horizon-hours", "0.25")
check(out.returncode == 0, "workload prediction failed: " + out.stderr)
if out.returncode == 0:
    p = json.loads(out.stdout)
    check(p["completed"] > 100 and p["unfinished"] == 0, "completed %d unfinished %d" % (p["completed"], p["unfinished"]))
    check(p["attributed_nusd"] + p["idle_nusd"] == p["cost_nusd"], "money does not add up: %s" % p)
    check(abs(p["cost_nusd"] - 2 * 0.25 * rate) <= 2, "2 replicas x 0.25 h x $2.5 = %d nUSD, got %d"
          % (2 * 0.25 * rate, p["cost_nusd"]))

# 2b. plan -> --emit -> --pipeline for every shipped workload: the emitted file carries the step
# model, prices, start-up times, spot rates, KV pool and the run the plan simulated (`planner:`), so
# its prediction is the plan's expected scenario to the printed precision.
for wl_path in sorted(glob.glob(os.path.join(ROOT, "data/workloads/*.yaml"))):
    name = os.path.basename(wl_path)
    emitted = os.path.join(T, "emitted-" + name)
    out = plan(wl_path, "--quiet", "--json", "--horizon-hours", "0.5", "--seed", "4", "--emit", emitted)
    check(out.returncode == 0, "%s: plan --emit failed: %s" % (name, out.stderr))
    if out.returncode != 0:
        continue
    exp = json.loads(out.stdout)["plan"]["scenarios"]["expected"]
    out = plan(wl_path, "--pipeline", emitted, "--json")
    check(out.returncode == 0, "%s: plan --pipeline on the emitted file failed: %s" % (name, out.stderr))
    if out.returncode != 0:
        continue
    got = json.loads(out.stdout)
    for key in ("ttft_ms", "e2e_ms"):
        for q in ("p50", "p95", "p99"):
            check(got[key][q] == round(exp[key][q], 3), "%s: round trip %s %s %.3f vs the plan's %.3f"
                  % (name, key, q, got[key][q], exp[key][q]))
    for k in ("completed", "rejected", "escalated"):
        check(got[k] == exp[k], "%s: round trip %s %d vs the plan's %d" % (name, k, got[k], exp[k]))
    check(got["cost_nusd"] == round(exp["accelerator_usd"] * 1e9), "%s: round trip cost %d nUSD vs the plan's $%.9f"
          % (name, got["cost_nusd"], exp["accelerator_usd"]))

# 3. what it cannot run
nostep = write("nostep.yaml", PIPE.replace("    step: {b0_us: 1200, prefill_token_us: 3, decode_row_us: 900}\n", ""))
out = plan("--workload", os.path.join(ROOT, "data/workloads/support-assistant.yaml"), "--pipeline", nostep)
check(out.returncode == 2 and "nostep.yaml:2: key 'tiers[0].step'" in out.stderr, "no step model: " + out.stderr)
hdr = write("hdr.yaml", PIPE.replace("match: {endpoint: any}", "match: {header: {name: x-tenant}}"))
out = plan("--workload", os.path.join(ROOT, "data/workloads/support-assistant.yaml"), "--pipeline", hdr)
check(out.returncode == 2 and "hdr.yaml:10: key 'routes[0].match.header'" in out.stderr, "header route: " + out.stderr)
bad = write("bad.csv", "id,t_s,prompt_chars,in_tokens,out_tokens,confidence,status\na,0,10,5,5,1,200\nb,1,10,5\n")
out = plan("--pipeline", pipe, "--trace", bad)
check(out.returncode != 0 and "bad.csv:3:" in out.stderr, "bad trace: " + out.stderr)
out = plan("--pipeline", pipe)
check(out.returncode == 2 and "needs a workload" in out.stderr, "no input: " + out.stderr)
# A trace's requests carry no endpoint: chat unless --endpoint says; a route that matches on the
# endpoint takes them only when it is theirs.
comp = write("comp.yaml", PIPE.replace("match: {endpoint: any}", "match: {endpoint: completions}"))
for extra, routed in (([], 0), (["--endpoint", "completions"], 3), (["--endpoint", "chat"], 0)):
    out = plan("--pipeline", comp, "--trace", trace, "--json", *extra)
    res = json.loads(out.stdout) if out.returncode == 0 else {}
    check(res.get("completed") == routed and res.get("unrouted") == 3 - routed, "--endpoint %s: %s %s" % (extra, res, out.stderr))
out = plan("--pipeline", comp, "--trace", trace, "--endpoint", "any")
check(out.returncode == 2 and "--endpoint 'any'" in out.stderr, "--endpoint any: " + out.stderr)
out = plan("--pipeline", comp, "--workload", os.path.join(ROOT, "data/workloads/support-assistant.yaml"), "--endpoint", "chat")
check(out.returncode == 2 and "--trace" in out.stderr, "--endpoint without a trace: " + out.stderr)

if fails:
    print("%d checks failed" % len(fails))
    sys.exit(1)
print("all checks passed")
