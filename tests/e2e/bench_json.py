#!/usr/bin/python3
"""bench (d): --json output parses, contains every path docs/bench-json.md documents, and its
numbers equal the text summary's (the text rounds to 2-3 decimals). Runs the completions endpoint,
a server without usage (output tokens then come from chunk counts) and SLOs that split the
requests, so goodput is checked against the trace as well.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from benchtest import ROOT, FakeServer, bench, check, read_json, read_trace, tmpdir  # noqa: E402

tmp = tmpdir()
js, tr = os.path.join(tmp, "b.json"), os.path.join(tmp, "t.csv")
with FakeServer(tmp, "--ttft-ms", "5", "--ttft-jitter-ms", "40", "--itl-ms", "2", "--no-usage") as srv:
    # no --endpoint: completions is the default (as in calibrate); --served-model-name as in the worker
    text, _ = bench("--url", srv.url, "--served-model-name", "mx", "--concurrency", "4", "--requests", "60",
                    "--output-tokens", "5", "--input-tokens", "16", "--slo-ttft-ms", "25", "--json", js,
                    "--slo-ttft-p95-ms", "1000", "--slo-e2e-p99-ms", "1", "--ignore-eos",
                    "--trace", tr)
    srv_rows, _ = srv.records()
rep = read_json(js)
t0, rows = read_trace(tr)
check(len(srv_rows) == 60 and all(r["ignore_eos"] == 1 for r in srv_rows.values()), "--ignore-eos not sent")

# Every documented path exists.
doc = open(os.path.join(ROOT, "docs", "bench-json.md")).read()
paths = re.findall(r"^\| `([a-z0-9_.]+)` \|", doc, re.M)
check(len(paths) > 40, "docs/bench-json.md lists only %d paths" % len(paths))
for p in paths:
    node = rep
    for part in p.split("."):
        check(isinstance(node, dict) and part in node, "documented path %s missing from the JSON" % p)
        node = node[part]
    if p.startswith("latency_ms."):
        for k in ("n", "mean", "min", "p50", "p90", "p95", "p99", "max"):
            check(k in node, "%s.%s missing" % (p, k))
check(rep["schema"] == "rightsize.bench/1" and rep["config"]["endpoint"] == "completions"
      and rep["config"]["model"] == "mx", "schema/config")

# Text and JSON agree.
m = re.search(r"requests: scheduled (\d+), sent (\d+), completed (\d+), ok (\d+), errors (\d+)", text)
check(m, "no requests line in:\n" + text)
r = rep["requests"]
check([int(x) for x in m.groups()] == [r["scheduled"], r["sent"], r["completed"], r["ok"], rep["errors"]["total"]],
      "requests line %s vs JSON %s" % (m.groups(), r))
m = re.search(r"throughput: ([\d.]+) req/s, ([\d.]+) output tok/s, ([\d.]+) input tok/s", text)
t = rep["throughput"]
for got, want in zip(m.groups(), (t["requests_per_s"], t["output_tokens_per_s"], t["input_tokens_per_s"])):
    check(abs(float(got) - want) < 1e-3 + 1e-6 * want, "throughput text %s vs JSON %s" % (got, want))
m = re.search(r"goodput: ([\d.]+) req/s, (\d+) good = ([\d.]+) of sent", text)
check(abs(float(m.group(1)) - rep["goodput"]["requests_per_s"]) < 1e-3 and int(m.group(2)) == r["good"],
      "goodput text vs JSON")
for name in ("ttft", "itl", "tpot", "e2e", "send_lag"):
    m = re.search(r"^  %s +(\d+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)$" % name, text, re.M)
    check(m, "no %s row" % name)
    s = rep["latency_ms"][name]
    check(int(m.group(1)) == s["n"], "%s n" % name)
    for got, k in zip(m.groups()[1:], ("mean", "p50", "p90", "p95", "p99", "max")):
        check(abs(float(got) - s[k]) <= 0.005 + 1e-9, "%s %s text %s vs JSON %s" % (name, k, got, s[k]))

# Without usage the output tokens are the chunk count; goodput follows the trace.
check(t["requests_with_usage"] == 0 and t["output_tokens"] == 5 * r["ok"], "tokens %s" % t)
good = sum(1 for x in rows if x["outcome"] == "ok" and 0 <= x["ttft_us"] <= 25000)
check(good == r["good"] and 0 < good < r["ok"], "good %d (trace) vs %d (JSON) of %d" % (good, r["good"], r["ok"]))
check(abs(rep["goodput"]["fraction"] - good / r["sent"]) < 1e-12, "goodput fraction")
# Percentile SLOs: generous TTFT p95 is met, a 1 ms e2e p99 is not; text says the same.
ck = rep["slo_checks"]
check(len(ck) == 2 and ck[0]["metric"] == "ttft" and ck[0]["quantile"] == "p95" and ck[0]["met"]
      and ck[0]["measured_ms"] == rep["latency_ms"]["ttft"]["p95"], "slo_checks[0] %s" % ck[:1])
check(ck[1]["metric"] == "e2e" and ck[1]["quantile"] == "p99" and not ck[1]["met"] and ck[1]["limit_ms"] == 1
      and ck[1]["measured_ms"] == rep["latency_ms"]["e2e"]["p99"], "slo_checks[1] %s" % ck[1:])
check(rep["slo_met"] is False, "slo_met")
check(re.search(r"^slo: ttft p95 [\d.]+ ms <= 1000.00 ms: met$", text, re.M) and
      re.search(r"^slo: e2e p99 [\d.]+ ms <= 1.00 ms: MISSED$", text, re.M), "slo lines in:\n" + text)
print("json ok: %d documented paths present, text == JSON, good %d of %d" % (len(paths), good, r["ok"]))
