#!/usr/bin/python3
"""report: a generated telemetry file with known distributions (tests/e2e/lib/gen_telemetry.py)
against the exact figures the generator wrote: record counts, the arrival rate, percentiles
within the log histogram's stated 0.5% bound of the exact order statistic (numpy's "lower"
method on sorted values), costs equal to Python's exact decimal sum to the nano-dollar. Then bad
input (corrupt and truncated lines with their line numbers, an empty file, older records without
the newer fields), rotated files read as one, --since/--until, --json's shape, --html rendering
self-contained, --plan comparison and the usage errors.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal

BIN = os.environ.get("RS_BIN", "build/rightsize")
ROOT = os.environ.get("RS_ROOT", ".")
GEN = os.path.join(ROOT, "tests", "e2e", "lib", "gen_telemetry.py")
T = tempfile.mkdtemp(prefix="rs-report.")
fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)


def run(*args, code=0):
    p = subprocess.run([BIN, "report", *args], capture_output=True, text=True, timeout=60)
    check(p.returncode == code, "report %s: exit %d (wanted %d): %s" % (" ".join(args), p.returncode, code, p.stderr[-400:]))
    return p


def gen(name, *args):
    path = os.path.join(T, name)
    subprocess.run(["/usr/bin/python3", GEN, "--out", path, "--truth", path + ".truth", *args], check=True, timeout=120)
    return path, json.load(open(path + ".truth"))


def lower(xs, q):
    return xs[int(math.floor(q * (len(xs) - 1)))]


try:
    # 1. Known distributions: 30,000 requests at 3 req/s (flat), 1.5% 429s, 25% escalation.
    f, tr = gen("t.jsonl", "--n", "30000", "--rate", "3", "--escalation", "0.25", "--err-rate", "0.015", "--seed", "7")
    p = run(f, "--json")
    r = json.loads(p.stdout)
    check(r["schema"] == "rightsize.report/1", "schema %s" % r.get("schema"))
    check(r["inputs"]["records"] == tr["n"] and r["inputs"]["corrupt_lines"] == 0, "records %s" % r["inputs"])
    # The rate over the span: n-1 gaps over last-first arrival.
    span = tr["last_arrival"] - tr["first_arrival"]
    check(abs(r["traffic"]["rate_per_s"] - (tr["n"] - 1) / span) < 1e-3 * 3, "rate %s vs %s" % (r["traffic"]["rate_per_s"], (tr["n"] - 1) / span))
    check(abs(r["traffic"]["rate_per_s"] - 3) < 0.1, "rate %s not near 3" % r["traffic"]["rate_per_s"])
    cv = r["traffic"]["burstiness"]["interarrival_cv"]
    check(abs(cv - 1) < 0.05, "Poisson arrivals: CV %s" % cv)
    disp = r["traffic"]["burstiness"]["dispersion_index_per_minute"]
    check(abs(disp - 1) < 0.2, "Poisson arrivals: index of dispersion %s" % disp)
    # Percentiles within the sketch's bound of the exact order statistic.
    for key, lat in (("e2e_ok", r["overall"]["latency_ms"]["e2e"]), ("ttft_ok", r["overall"]["latency_ms"]["ttft"])):
        xs = tr[key]
        check(lat["n"] == len(xs), "%s n %s vs %d" % (key, lat["n"], len(xs)))
        for q, k in ((0.5, "p50"), (0.9, "p90"), (0.95, "p95"), (0.99, "p99")):
            exact = lower(xs, q)
            check(abs(lat[k] - exact) <= 0.005 * exact + 1e-9, "%s %s: %s vs exact %s" % (key, k, lat[k], exact))
        check(lat["max"] == xs[-1], "%s max %s vs %s" % (key, lat["max"], xs[-1]))
        check(abs(lat["mean"] - sum(xs) / len(xs)) < 1e-6 * lat["mean"], "%s mean" % key)
    for key, h in (("prompt", r["traffic"]["prompt_tokens"]), ("output", r["traffic"]["output_tokens"])):
        xs = tr[key]
        check(h["n"] == len(xs), "%s tokens n" % key)
        for q, k in ((0.5, "p50"), (0.99, "p99")):
            exact = lower(xs, q)
            check(abs(h[k] - exact) <= 0.005 * exact + 1e-9, "%s tokens %s: %s vs %s" % (key, k, h[k], exact))
    # Money: exact against the decimal sum.
    check(round(Decimal(repr(r["cost"]["usd"])), 9) == Decimal(tr["cost_usd"]), "cost %r vs %s" % (r["cost"]["usd"], tr["cost_usd"]))
    for t in r["tiers"]:
        check(round(Decimal(repr(t["cost_usd"])), 9) == Decimal(tr["by_tier"][t["name"]]), "tier %s cost" % t["name"])
    check(r["overall"]["rejected_429"] == tr["n_429"], "429s %s vs %s" % (r["overall"]["rejected_429"], tr["n_429"]))
    check(abs(r["traffic"]["escalation_rate"] - tr["escalated"] / tr["cascade"]) < 1e-12, "escalation rate")
    check(abs(r["cost"]["usd_per_1k_requests"] - float(Decimal(tr["cost_usd"])) / tr["n"] * 1000) < 1e-12, "$/1K")
    check(sum(r["traffic"]["by_hour_utc"]) == tr["n"] and sum(r["traffic"]["by_day_of_week"]) == tr["n"], "hour/weekday counts")
    check(r["traffic"]["by_day_of_week"][0] > 0, "2026-03-02 is a Monday: %s" % r["traffic"]["by_day_of_week"])
    check(sum(d["requests"] for d in r["cost"]["by_day"]) == tr["n"], "by_day sums")
    for k in ("inputs", "traffic", "cost", "overall", "tiers", "routes", "slo", "plan", "canaries", "recommendations"):
        check(k in r, "--json lacks %s" % k)
    check(any("429" in x["text"] for x in r["recommendations"]), "no 429 recommendation at 1.5%% rejected: %s" % r["recommendations"])

    # 2. Text output and HTML.
    html_path = os.path.join(T, "r.html")
    p = run(f, "--html", html_path, "--slo-e2e-p95-ms", "100")
    check("share by tier" in p.stdout and "predicted vs measured" not in p.stdout, "text sections")
    check("MISSED" in p.stdout and "[slo]" in p.stdout, "an SLO of 100 ms must be missed: " + p.stdout[-600:])
    h = open(html_path).read()
    check(h.startswith("<!DOCTYPE html>") and h.rstrip().endswith("</html>") and "<svg" in h, "HTML page")
    check("<script" not in h and "src=" not in h and "href=" not in h, "HTML is not self-contained")
    import html.parser
    html.parser.HTMLParser().feed(h)

    # 3. Bad input: corrupt lines counted with line numbers, never fatal; an older record (no cost split,
    # no schema_version) and a newer one with unknown and nested keys load.
    lines = open(f).read().splitlines()[:200]
    bad = os.path.join(T, "bad.jsonl")
    with open(bad, "w") as o:
        for i, l in enumerate(lines):
            if i == 10: o.write(l[: len(l) // 2] + "\n")          # truncated (line 11)
            elif i == 20: o.write("not json at all\n")               # line 21
            elif i == 30: o.write("\n")                              # blank: not corrupt
            else: o.write(l + "\n")
        o.write('{"time":"2026-03-02T05:00:00Z","tier":"big","status":200,"e2e_ms":10,"cost_usd":0.5}\n')
        o.write('{"schema_version":3,"time":"2026-03-02T05:00:01Z","tier":"big","status":200,"e2e_ms":10,'
                '"cost_usd":0.25,"cost_busy_usd":0.2,"cost_idle_usd":0.05,"new":{"a":[1,{"b":"}"}]},"x":"\\"q\\""}\n')
        # a replica's close record: its unattributed idle is cost (of its tier), not a request
        o.write('{"schema":"rightsize.telemetry/2","record":"replica","time":"2026-03-02T05:00:01.5Z","tier":"big",'
                '"replica":0,"replica_cost_usd":1.25,"replica_busy_usd":0.2,"idle_taken_usd":0.05,"cost_usd":1,'
                '"cost_busy_usd":0,"cost_idle_usd":1}\n')
        o.write('{"time":"2026-03-02T05:00:02Z","status":200')      # truncated last line, no newline
    p = run(bad, "--json")
    r = json.loads(p.stdout)
    check(r["inputs"]["corrupt_lines"] == 3 and r["inputs"]["blank_lines"] == 1, "corrupt %s" % r["inputs"])
    check([e["line"] for e in r["inputs"]["corrupt_examples"]] == [11, 21, 204], "line numbers %s" % r["inputs"]["corrupt_examples"])
    check(r["inputs"]["records"] == 199, "records %s" % r["inputs"]["records"])
    check(r["inputs"]["schema_versions"].get("3") == 1, "schema versions %s" % r["inputs"]["schema_versions"])
    check("bad.jsonl:11" in p.stderr, "stderr names the first corrupt line: " + p.stderr)
    big = [t for t in r["tiers"] if t["name"] == "big"][0]
    check(abs(big["cost_idle_usd"] - 1.05) < 1e-12 and abs(big["cost_usd"] - big["cost_busy_usd"] - 1.05) < 1e-9,
          "tier big: idle 0.05 from the newer record + 1 from the replica's close: %s" % big)
    check(r["inputs"]["replica_records"] == 1, "replica records counted apart: %s" % r["inputs"])

    # 4. Empty input says so; an empty file beside a full one is named.
    empty = os.path.join(T, "empty.jsonl")
    open(empty, "w").close()
    p = run(empty, code=1)
    check("empty" in p.stderr, "empty input: " + p.stderr)
    p = run(empty, f, "--json")
    check("1 of 2 file(s) empty" in p.stderr, "empty file named: " + p.stderr)

    # 5. Rotated files are one input, oldest first: FILE.2 FILE.1 FILE in any order of arguments.
    rot = os.path.join(T, "rot.jsonl")
    all_lines = open(f).read().splitlines(keepends=True)
    k = len(all_lines) // 3
    for name, part in ((rot + ".2", all_lines[:k]), (rot + ".1", all_lines[k:2 * k]), (rot, all_lines[2 * k:])):
        open(name, "w").writelines(part)
    r2 = json.loads(run(rot, rot + ".1", rot + ".2", "--json").stdout)
    r1 = json.loads(run(f, "--json").stdout)
    check(r2["inputs"]["late_arrivals"] == 0 and r2["traffic"]["burstiness"] == r1["traffic"]["burstiness"],
          "rotated files out of order: %s vs %s" % (r2["traffic"]["burstiness"], r1["traffic"]["burstiness"]))
    check(r2["cost"]["usd"] == r1["cost"]["usd"] and r2["overall"]["latency_ms"] == r1["overall"]["latency_ms"], "rotated totals")

    # 6. --since/--until on the record time.
    r3 = json.loads(run(f, "--json", "--since", "2026-03-02T01:00:00Z", "--until", "2026-03-02T02:00:00Z").stdout)
    check(r3["inputs"]["records"] + r3["inputs"]["filtered_out"] == tr["n"] and 0 < r3["inputs"]["records"] < tr["n"], "window")
    check(abs(r3["inputs"]["records"] / 3600 - 3) < 0.3, "an hour at 3 req/s: %s" % r3["inputs"]["records"])

    # 7. --plan: predicted vs measured with the error of each figure; the plan's SLOs apply.
    plan = {"schema": "rightsize.plan/1",
            "workload": {"name": "w", "requests_per_month": 3 * 30 * 86400, "input_tokens_mean": 400,
                         "output_tokens_mean": 150, "slo": {"e2e_p95_ms": 4000}, "fixed_usd_month": 0},
            "plan": {"id": "x", "cascade": {"student": "s"},
                     "cost": {"usd_month": 100, "accelerator_usd_month": 100, "fixed_usd_month": 0,
                              "usd_per_1k_requests": 0.0129, "usd_per_1m_tokens": 0.1, "usd_per_successful_outcome": 1e-5},
                     "scenarios": {"expected": {"e2e_ms": {"p50": 1200, "p95": 3000, "p99": 5000},
                                                "ttft_ms": {"p50": 40, "p95": 70}, "tpot_ms": {"p50": 10, "p95": 12},
                                                "completed": 1000, "rejected": 0, "escalated": 100, "utilization": 0.5}}}}
    pf = os.path.join(T, "plan.json")
    json.dump(plan, open(pf, "w"))
    r4 = json.loads(run(f, "--json", "--plan", pf).stdout)
    rows = {x["figure"]: x for x in r4["plan"]["compare"]}
    e = rows["e2e p95"]
    check(abs(e["error"] - (e["predicted"] - e["measured"]) / e["measured"]) < 1e-12 and e["predicted"] == 3000, "compare row %s" % e)
    check(r4["slo"]["e2e_p95_ms"]["target"] == 4000, "plan's SLO %s" % r4["slo"])
    check(any(x["topic"] == "cascade" for x in r4["recommendations"]), "escalation 25%% vs planned 10%%: %s" % r4["recommendations"])
    # The speed advice: TPOT p50 more than 15% off the plan's says the step profile is stale.
    tpot_m = rows["TPOT p50"]["measured"]
    for factor, want in ((1.05, None), (0.7, "slower"), (1.4, "faster")):
        plan["plan"]["scenarios"]["expected"]["tpot_ms"]["p50"] = tpot_m * factor
        json.dump(plan, open(pf, "w"))
        adv = [x["text"] for x in json.loads(run(f, "--json", "--plan", pf).stdout)["recommendations"] if x["topic"] == "speed"]
        check(adv == [] if want is None else len(adv) == 1 and want in adv[0], "speed advice at x%.2f: %s" % (factor, adv))
    # A one-deployment prediction (plan --profile --json) compares too; HTML carries the table.
    pred = {"schema": "rightsize.predict/1", "config": {"horizon_s": 3600}, "utilization": 0.4,
            "requests": {"arrived": 10800, "completed": 10800, "rejected": 0, "unfinished": 0},
            "latency_ms": {k: {"mean": 1, "p50": 1000, "p95": 2500, "p99": 4000, "max": 5000} for k in ("ttft", "tpot", "e2e")}}
    pp = os.path.join(T, "pred.json")
    json.dump(pred, open(pp, "w"))
    r5 = json.loads(run(f, "--json", "--plan", pp).stdout)
    rows = {x["figure"]: x for x in r5["plan"]["compare"]}
    check(rows["arrival rate"]["predicted"] == 3 and rows["e2e p95"]["predicted"] == 2500, "predict/1 rows %s" % rows)
    run(f, "--plan", pp, "--html", html_path)
    check("Predicted vs measured" in open(html_path).read(), "HTML lacks the plan table")
    junk = os.path.join(T, "junk.json")
    open(junk, "w").write('{"schema": "other/1"}')
    p = run(f, "--plan", junk, code=1)
    check("rightsize.plan/1" in p.stderr, "unknown plan schema: " + p.stderr)
    p = run(f, "--plan", os.path.join(T, "missing.json"), code=1)
    check("missing.json" in p.stderr, "missing plan: " + p.stderr)

    # 8. Usage errors.
    run(code=2)
    run(f, "--since", "yesterday", code=2)
    run(f, "--bogus", code=2)
    p = run(os.path.join(T, "nope.jsonl"), code=1)
    check("nope.jsonl" in p.stderr, "missing file: " + p.stderr)
finally:
    shutil.rmtree(T, ignore_errors=True)

for m in fails:
    print("FAIL:", m)
sys.exit(1 if fails else 0)
