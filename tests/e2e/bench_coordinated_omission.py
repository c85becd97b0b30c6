#!/usr/bin/python3
"""bench (b): no coordinated omission. The fake server answers in ~20 ms + 3 tokens 5 ms apart,
but writes nothing from 2 s to 4 s after its first request. Truths:
  - the server's receive times follow the open-loop schedule, also during the stall (every
    request is received within a few ms of its scheduled time);
  - each request's end-to-end latency, measured from its scheduled time, equals what the server
    did to it: done = planned completion, or the stall's end if the plan fell inside the stall;
  - so p99 covers most of the stall (p99 >= 1.8 s), where a closed-loop client measuring from
    its actual send would have recorded a single slow request.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from benchtest import FakeServer, bench, check, read_json, read_trace, tmpdir  # noqa: E402

tmp = tmpdir()
js, tr = os.path.join(tmp, "b.json"), os.path.join(tmp, "t.csv")
with FakeServer(tmp, "--ttft-ms", "20", "--itl-ms", "5", "--tokens", "3",
                "--stall-at-s", "2", "--stall-s", "2") as srv:
    bench("--url", srv.url, "--rate", "50", "--duration", "6", "--seed", "11",
          "--output-tokens", "3", "--json", js, "--trace", tr)
    rows, stall = srv.records()

check(stall is not None, "server did not log its stall window")
a, b = stall
rep = read_json(js)
t0, trace = read_trace(tr)
ok = [r for r in trace if r["outcome"] == "ok"]
check(len(ok) == len(trace) and len(ok) > 200, "%d of %d ok" % (len(ok), len(trace)))

# 1. Sends follow the schedule, stall or not.
lags = np.array([(rows[r["id"]]["recv_us"] - (t0 + r["sched_us"])) / 1000 for r in ok])
in_stall = [r for r in ok if a <= t0 + r["sched_us"] < b]
received_in_stall = [r for r in ok if a <= rows[r["id"]]["recv_us"] < b]
check(len(in_stall) >= 70, "only %d requests scheduled in the stall" % len(in_stall))
check(lags.min() > -0.5, "server got a request %.3f ms before its scheduled time" % -lags.min())
# Bounds far below the 2 s stall (on the shared 2-core machine both client and server have been seen
# unscheduled for ~70 ms at once, so no tight timing): a client that waited for the stalled responses
# would show lags up to ~2000 ms here.
check(np.median(lags) < 5 and np.percentile(lags, 99) < 500,
      "receive lag behind schedule: median %.3f p99 %.3f ms" % (np.median(lags), np.percentile(lags, 99)))
check(abs(len(received_in_stall) - len(in_stall)) <= 2,
      "%d scheduled in the stall but %d received in it" % (len(in_stall), len(received_in_stall)))

# 2. Each latency is what the server did, from the scheduled time: the client sees the last
#    byte just after the server logged writing it. (The idealised plan — done at the planned time
#    or at the stall's end — is looser: ~100 server threads resume at once and take a few ms.)
bad, diffs = 0, []
expected, actual = [], []
for r in ok:
    s = rows[r["id"]]
    actual.append((s["done_us"] - (t0 + r["sched_us"])) / 1000)
    planned_done = s["recv_us"] + 20000 + 2 * 5000
    done = b if a <= planned_done < b else planned_done
    expected.append((done - (t0 + r["sched_us"])) / 1000)
    d = r["e2e_us"] / 1000 - actual[-1]
    diffs.append(d)
    # The server stamps "done" after its last write returns, so under load (100 Python threads
    # resuming at once on a shared 2-core machine) its stamp can trail the client's by ~10 ms.
    if d < -20 or d > 20:
        bad += 1
check(bad <= len(ok) // 10, "%d requests with e2e off the server's completion by more than 20 ms" % bad)
check(np.median(np.abs(diffs)) < 3, "median |e2e - server| %.2f ms" % np.median(np.abs(diffs)))
# 3. The stall is in the percentiles.
e2e = rep["latency_ms"]["e2e"]
want99 = np.percentile(actual, 99)
check(e2e["p99"] >= 1800, "e2e p99 %.1f ms hides a 2 s stall" % e2e["p99"])
check(abs(e2e["p99"] - want99) <= 100, "e2e p99 %.1f ms, server-side %.1f ms" % (e2e["p99"], want99))
plan99 = np.percentile(expected, 99)
check(abs(e2e["p99"] - plan99) <= 150, "e2e p99 %.1f ms, planned %.1f ms" % (e2e["p99"], plan99))
check(e2e["max"] >= 1950, "e2e max %.1f ms, a request scheduled at the stall start waits ~2 s" % e2e["max"])
check(rep["latency_ms"]["send_lag"]["p99"] < 500, "send lag p99 %.2f ms" % rep["latency_ms"]["send_lag"]["p99"])
check(rep["requests"]["delayed_by_cap"] == 0, "sends were held back")
print("no coordinated omission: %d requests scheduled in the 2 s stall, all received on time "
      "(p99 lag %.2f ms); e2e p50 %.1f p99 %.1f (expected %.1f) max %.1f ms"
      % (len(in_stall), np.percentile(lags, 99), e2e["p50"], e2e["p99"], want99, e2e["max"]))
