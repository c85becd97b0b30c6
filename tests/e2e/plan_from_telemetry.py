#!/usr/bin/python3
"""plan --from-telemetry: telemetry generated from a known workload (two days of Poisson arrivals
at 0.5 req/s under a day profile 1 + cos(2 pi (h - 14) / 24), lognormal prompt and output
lengths, 20% of the cascade route escalated, 1% rejected) is fitted back into a workload file;
the fitted parameters must be within sampling tolerance of the truth, the file must be valid
input to `plan` (its JSON echoes the fitted rate and means), and bad input must fail clearly.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("RS_BIN", "build/rightsize")
ROOT = os.environ.get("RS_ROOT", ".")
T = tempfile.mkdtemp(prefix="rs-fit.")
fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)


try:
    tel = os.path.join(T, "tel.jsonl")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests/e2e/lib/gen_telemetry.py"), "--out", tel,
                    "--n", "86400", "--rate", "0.5", "--peak-to-average", "2", "--peak-hour", "14",
                    "--in-mean", "400", "--in-cv", "0.8", "--out-mean", "150", "--out-cv", "0.6",
                    "--escalation", "0.2", "--err-rate", "0.01", "--seed", "3"], check=True, timeout=120)
    fitted = os.path.join(T, "fitted.yaml")
    plan = os.path.join(T, "slo-plan.json")
    json.dump({"schema": "rightsize.plan/1", "workload": {"slo": {"e2e_p95_ms": 30000, "ttft_p95_ms": 2000}},
               "plan": {"id": "x"}}, open(plan, "w"))
    p = subprocess.run([BIN, "plan", "--from-telemetry", tel, "--fitted-workload", fitted, "--slo-from", plan,
                        "--slo-ttft-p95-ms", "1500", "--catalog", os.path.join(ROOT, "data/catalog"),
                        "--horizon-hours", "0.25", "--keep", "2", "--json"], capture_output=True, text=True, timeout=300)
    check(p.returncode in (0, 1), "plan --from-telemetry exit %d: %s" % (p.returncode, p.stderr[-500:]))
    check("fitted " + fitted in p.stderr, "no fit summary on stderr: " + p.stderr[-300:])
    y = open(fitted).read()
    rate = float(re.search(r"^rate_per_s: ([0-9.e+-]+)", y, re.M).group(1))
    cv = float(re.search(r"^  cv: ([0-9.]+)", y, re.M).group(1))
    prof = [float(x) for x in re.search(r"profile: \[([^\]]*)\]", y, re.S).group(1).replace("\n", " ").split(",")]
    # The truth. The sinusoid's mean over the observed span is 1 (two whole days).
    check(abs(rate - 0.5) < 0.5 * 0.03, "rate %.4f vs 0.5" % rate)
    check(abs(cv - 1.0) < 0.06, "CV %.3f vs 1 (Poisson)" % cv)
    nb = len(prof)
    check(nb in (24, 48, 96, 288, 1440), "profile bins %d" % nb)
    # Hourly means of the fitted profile against 1 + cos(2 pi (h + 0.5 - 14)/24) (the bin's mean, ~).
    per = nb // 24
    worst = 0
    for h in range(24):
        got = sum(prof[h * per:(h + 1) * per]) / per
        want = 1 + math.cos(2 * math.pi * (h + 0.5 - 14) / 24) * (math.sin(math.pi / 24) / (math.pi / 24))
        worst = max(worst, abs(got - want))
    check(worst < 0.12, "day profile off the truth by %.3f at worst (hourly)" % worst)
    check(abs(sum(prof) / nb - 1) < 1e-3, "profile mean %.4f" % (sum(prof) / nb))
    check("slo: {ttft_p95_ms: 1500, e2e_p95_ms: 30000}" in y, "SLOs from flags over the plan's: " + y[-400:])
    esc = float(re.search(r"escalation_rate: ([0-9.]+)", y).group(1))
    check(abs(esc - 0.2) < 0.015, "escalation %.4f vs 0.2" % esc)
    succ = float(re.search(r"success_rate: ([0-9.]+)", y).group(1))
    check(abs(succ - 0.99) < 0.003, "success rate %.4f vs 0.99" % succ)
    # Valid input to plan: the planner's view of the fitted file.
    r = json.loads(p.stdout)
    w = r["workload"]
    check(abs(w["requests_per_month"] / (30 * 86400) - rate) < 1e-6 * rate + 1e-9, "planned rate %s" % w["requests_per_month"])
    # Lognormal means after rounding to integers >= 1 (the generator's): close to the configured ones.
    check(abs(w["input_tokens_mean"] - 400) < 400 * 0.03, "input mean %s vs 400" % w["input_tokens_mean"])
    check(abs(w["output_tokens_mean"] - 150) < 150 * 0.03, "output mean %s vs 150" % w["output_tokens_mean"])
    check(w["slo"].get("ttft_p95_ms") == 1500 and w["slo"].get("e2e_p95_ms") == 30000, "slo %s" % w["slo"])
    # The fitted file plans again by itself.
    p2 = subprocess.run([BIN, "plan", fitted, "--catalog", os.path.join(ROOT, "data/catalog"), "--horizon-hours", "0.1",
                         "--keep", "1"], capture_output=True, text=True, timeout=300)
    check(p2.returncode in (0, 1) and "fitted-from-telemetry" in p2.stdout, "plan FITTED: %s" % p2.stderr[-300:])

    # Bad input.
    empty = os.path.join(T, "empty.jsonl")
    open(empty, "w").close()
    p = subprocess.run([BIN, "plan", "--from-telemetry", empty], capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and "usable record" in p.stderr, "empty telemetry: %d %s" % (p.returncode, p.stderr))
    p = subprocess.run([BIN, "plan", "x.yaml", "--from-telemetry", tel], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "not both" in p.stderr, "workload and --from-telemetry: " + p.stderr)
    bad = os.path.join(T, "bad.yaml")
    open(bad, "w").write("name: x\nrate_per_s: 1\narrivals: {profile: [1, 2, 3]}\ntokens: {input: {dist: fixed, mean: 5}, "
                         "output: {dist: fixed, mean: 5}}\nslo: {e2e_p95_ms: 1000}\n")
    p = subprocess.run([BIN, "plan", bad], capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and "profile" in p.stderr and "24, 48" in p.stderr, "bad profile: " + p.stderr)
finally:
    shutil.rmtree(T, ignore_errors=True)

for m in fails:
    print("FAIL:", m)
sys.exit(1 if fails else 0)
