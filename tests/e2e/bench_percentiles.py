#!/usr/bin/python3
"""bench (a): reported TTFT / ITL / e2e percentiles match the server's scripted delays.

The fake server draws TTFT = 30 + U[0,40) ms and each inter-token gap = 10 + U[0,4) ms, and logs
per request what it scripted and when it wrote. Truths:
  - per request, measured TTFT (from the scheduled send) >= scripted TTFT (from receipt), and
    exceeds it by little (loopback + scheduling);
  - TTFT and e2e percentiles equal numpy's percentiles of the server-side times within a few ms;
  - ITL mean equals the server's own mean gap, and ITL percentiles match the closed-form
    quantiles of 10 + U[0,4) ms whenever the server kept that schedule.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from benchtest import FakeServer, bench, check, read_json, read_trace, tmpdir  # noqa: E402

tmp = tmpdir()
js, tr = os.path.join(tmp, "b.json"), os.path.join(tmp, "t.csv")
with FakeServer(tmp, "--ttft-ms", "30", "--ttft-jitter-ms", "40", "--itl-ms", "10",
                "--itl-jitter-ms", "4", "--tokens", "8") as srv:
    bench("--url", srv.url, "--rate", "25", "--duration", "6", "--seed", "5",
          "--input-tokens", "32", "--output-tokens", "8", "--json", js, "--trace", tr)
    rows, _ = srv.records()

rep = read_json(js)
t0, trace = read_trace(tr)
ok = [r for r in trace if r["outcome"] == "ok"]
check(len(ok) == len(trace) and len(ok) >= 100, "expected >= 100 ok requests, got %d of %d" % (len(ok), len(trace)))
check(rep["requests"]["ok"] == len(ok), "JSON ok count differs from the trace")

# Per request: measured (from schedule) vs scripted (from receipt).
diffs = []
for r in ok:
    s = rows[r["id"]]
    diffs.append((r["ttft_us"] - s["ttft_us"]) / 1000)
    check(s["prompt_words"] == 32 and s["max_tokens"] == 8 and s["ignore_eos"] == 0, "request %d: server got %d words, max_tokens %d"
          % (r["id"], s["prompt_words"], s["max_tokens"]))
    check(r["output_tokens"] == 8 and r["content_chunks"] == 8, "request %d: tokens %d/%d, wanted 8"
          % (r["id"], r["output_tokens"], r["content_chunks"]))
diffs = np.array(diffs)
check(diffs.min() > -1.0, "a measured TTFT is below the scripted one by %.3f ms" % -diffs.min())
check(np.median(diffs) < 4.0, "median TTFT overhead %.3f ms (want < 4)" % np.median(diffs))

lat = rep["latency_ms"]
server_ttft = np.array([(rows[r["id"]]["first_us"] - (t0 + r["sched_us"])) / 1000 for r in ok])
server_e2e = np.array([(rows[r["id"]]["done_us"] - (t0 + r["sched_us"])) / 1000 for r in ok])
scripted = np.array([rows[r["id"]]["ttft_us"] / 1000 for r in ok])
# p99 gets more room: it is the 2nd-largest of ~150 samples, and one scheduling freeze on a
# shared machine (client and server have been seen unscheduled for ~70 ms at once) moves it.
for name, truth in (("ttft", server_ttft), ("e2e", server_e2e)):
    for q, tol in (("p50", 3.0), ("p90", 5.0), ("p99", 30.0)):
        want = np.percentile(truth, float(q[1:]))
        got = lat[name][q]
        check(abs(got - want) <= tol, "%s %s = %.3f ms, server-side truth %.3f ms" % (name, q, got, want))
# And against the scripted distribution itself (what the server was told to do). Not p99: on a
# loaded machine the Python server itself writes some first tokens late, and its own log (the
# truth checked above) shows it; the scripted value is then no longer what happened.
for q, tol in (("p50", 6.0), ("p90", 6.0)):
    want = np.percentile(scripted, float(q[1:]))
    got = lat["ttft"][q]
    check(want - 1.0 <= got <= want + tol, "ttft %s = %.3f ms, scripted %.3f ms" % (q, got, want))
# ITL against the server's own clock: its mean gap per request is (last write - first write) / 7.
check(lat["itl"]["n"] == 7 * len(ok), "ITL samples %d, wanted %d" % (lat["itl"]["n"], 7 * len(ok)))
server_itl = np.array([(rows[r["id"]]["done_us"] - rows[r["id"]]["first_us"]) / 7000 for r in ok])
check(abs(lat["itl"]["mean"] - server_itl.mean()) <= 0.6,
      "itl mean %.3f ms, server-side %.3f ms" % (lat["itl"]["mean"], server_itl.mean()))
# And against the closed form of what it was told to do, 10 + U[0,4) ms (quantile 10 + 4q), when
# the server kept that schedule: on a loaded machine its sleeps overrun, which its own clock shows
# (the check above still holds then; the scripted distribution is no longer what happened).
if abs(server_itl.mean() - 12.0) <= 0.5:
    for q, frac, tol in (("p50", 0.5, 1.0), ("p90", 0.9, 1.5)):
        want = 10 + 4 * frac
        check(abs(lat["itl"][q] - want) <= tol, "itl %s = %.3f ms, closed form %.3f" % (q, lat["itl"][q], want))
    check(abs(lat["itl"]["mean"] - 12.0) <= 0.6, "itl mean %.3f ms, closed form 12" % lat["itl"]["mean"])
else:
    print("note: the server's gaps averaged %.3f ms against the scripted 12 (a loaded machine); "
          "ITL checked against the server's clock only" % server_itl.mean())
check(lat["send_lag"]["p50"] < 2.0, "median send lag %.3f ms" % lat["send_lag"]["p50"])
print("percentiles ok: ttft p50 %.2f p99 %.2f, itl p50 %.2f, e2e p50 %.2f ms over %d requests"
      % (lat["ttft"]["p50"], lat["ttft"]["p99"], lat["itl"]["p50"], lat["e2e"]["p50"], len(ok)))
