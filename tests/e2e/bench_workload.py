#!/usr/bin/python3
"""bench (f): --workload draws arrivals, token counts and SLOs from the planner's workload YAML.
Truths from the workload's own definition, checked on what the fake server received:
  - a flat Poisson workload at 30 req/s over 10 s: arrival count within 5 sigma of 300, the
    requested max_tokens have the histogram's mean (0.5·(1+8)/2 + 0.5·(8+16)/2 = 8.25), prompt
    lengths the lognormal's mean (40 words), and the workload's SLOs are checked in the report;
  - a workload whose profile has a 10-minute ×5 burst at 01:00: the default window sits in the
    burst (rate × 5/1.02778, the profile normalised to mean 1), --start-hour 12 outside it.
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from benchtest import FakeServer, bench, check, read_json, read_trace, tmpdir  # noqa: E402

tmp = tmpdir()
wl = os.path.join(tmp, "flat.yaml")
with open(wl, "w") as f:
    f.write("""name: flat-test
class: chat
rate_per_s: 30
arrivals: {process: poisson}
tokens:
  input:  {dist: lognormal, mean: 40, cv: 0.5, min: 1, max: 400}
  output: {dist: histogram, min: 1, bins: [[8, 0.5], [16, 0.5]]}
slo: {ttft_p95_ms: 2000, e2e_p99_ms: 1}
""")
js, tr = os.path.join(tmp, "b.json"), os.path.join(tmp, "t.csv")
with FakeServer(tmp, "--ttft-ms", "2", "--itl-ms", "1", "--tokens", "2") as srv:
    text, _ = bench("--url", srv.url, "--workload", wl, "--duration", "10", "--json", js, "--trace", tr,
                    timeout=120)
    rows, _ = srv.records()
rep = read_json(js)
_, trace = read_trace(tr)
n = rep["requests"]["scheduled"]
check(abs(n - 300) < 5 * math.sqrt(300), "%d arrivals in 10 s at 30 req/s" % n)
check(rep["requests"]["ok"] == n and len(rows) == n, "ok %d, server saw %d, scheduled %d" % (rep["requests"]["ok"], len(rows), n))
mt = [rows[r["id"]]["max_tokens"] for r in trace]
pw = [rows[r["id"]]["prompt_words"] for r in trace]
check(all(rows[r["id"]]["max_tokens"] == r["max_tokens"] for r in trace), "server max_tokens differ from the trace")
check(min(mt) >= 1 and max(mt) <= 16, "max_tokens outside the histogram: %d..%d" % (min(mt), max(mt)))
mean_mt = sum(mt) / n
# 5 standard errors: the histogram's sd is 4.3 tokens, the lognormal's 20 words, over ~300 draws.
check(abs(mean_mt - 8.25) < 5 * 4.34 / math.sqrt(n), "mean max_tokens %.3f, histogram mean 8.25" % mean_mt)
mean_pw = sum(pw) / n
check(abs(mean_pw - 40) < 5 * 20 / math.sqrt(n), "mean prompt words %.2f, lognormal mean 40" % mean_pw)
check(len(set(pw)) > 10, "prompt lengths do not vary")
ck = {(c["metric"], c["quantile"]): c for c in rep["slo_checks"]}
check(set(ck) == {("ttft", "p95"), ("e2e", "p99")}, "slo checks %s" % list(ck))
check(ck[("ttft", "p95")]["limit_ms"] == 2000 and ck[("ttft", "p95")]["met"], "ttft p95 check %s" % ck[("ttft", "p95")])
check(ck[("e2e", "p99")]["limit_ms"] == 1 and not ck[("e2e", "p99")]["met"], "e2e p99 check")
check(rep["config"]["workload"] == wl and rep["config"]["mode"] == "open", "config %s" % rep["config"])
check(rep["config"]["slo_ttft_ms"] == 2000, "per-request TTFT bound from the workload")
check("flat-test" in text, "summary does not name the workload:\n" + text)

burst = os.path.join(tmp, "burst.yaml")
with open(burst, "w") as f:
    f.write("""name: burst-test
class: chat
rate_per_s: 10
arrivals:
  process: poisson
  bursts: [{start_hour: 1, minutes: 10, multiplier: 5}]
tokens:
  input:  {dist: fixed, mean: 4}
  output: {dist: fixed, mean: 2}
slo: {ttft_p95_ms: 10000}
""")
norm = (1430 + 10 * 5) / 1440.0
with FakeServer(tmp, "--ttft-ms", "1", "--tokens", "2") as srv:
    bench("--url", srv.url, "--workload", burst, "--duration", "10", "--json", js, timeout=120)
    peak = read_json(js)
    bench("--url", srv.url, "--workload", burst, "--duration", "10", "--start-hour", "12", "--json", js, timeout=120)
    calm = read_json(js)
for rep, mult, what in ((peak, 5 / norm, "default window (the burst)"), (calm, 1 / norm, "--start-hour 12")):
    want = 10 * mult * 10
    got = rep["requests"]["scheduled"]
    check(abs(got - want) < 5 * math.sqrt(want), "%s: %d arrivals, expected %.0f" % (what, got, want))
    check(rep["requests"]["ok"] == got, "%s: ok %d of %d" % (what, rep["requests"]["ok"], got))
print("workload ok: %d arrivals, mean max_tokens %.2f, mean prompt %.1f words; burst %d vs calm %d"
      % (n, mean_mt, mean_pw, peak["requests"]["scheduled"], calm["requests"]["scheduled"]))
