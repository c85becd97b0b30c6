#!/usr/bin/python3
"""rightsize_gateway_overhead_seconds: the gateway's own time per answered request, without the
backend's. Against a backend that takes 80 ms per answer, each answered (2xx) request is one
observation, the histogram's sum is the clients' measured latencies less 80 ms each (it never
counts the backend's wait: the sum stays far under one backend delay per request), refusals are
not observed, and the exposition parses as a Prometheus histogram (cumulative buckets, +Inf equal
to _count)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, fake_backend, finish  # noqa: E402

DELAY_S = 0.080
_, port = fake_backend("slow", delay_ms=int(DELAY_S * 1000))
gw = Gateway("""
tiers:
  - {name: slow, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 1}
routes:
  - {match: {endpoint: completions}, tier: slow}
""" % port)


def hist():
    buckets, total, count = [], None, None
    for line in gw.metrics().splitlines():
        if line.startswith("rightsize_gateway_overhead_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
        elif line.startswith("rightsize_gateway_overhead_seconds_sum"):
            total = float(line.split()[-1])
        elif line.startswith("rightsize_gateway_overhead_seconds_count"):
            count = float(line.split()[-1])
    return buckets, total, count


b0, s0, c0 = hist()
check(c0 == 0 and s0 == 0 and b0 and b0[-1][0] == float("inf"), "empty histogram before traffic: %s %s %s" % (b0, s0, c0))
N = 8
client_s = 0.0
for i in range(N):
    t0 = time.monotonic()
    st, _, body = gw.post("/v1/completions", {"model": "m", "prompt": "hello %d" % i, "max_tokens": 4})
    client_s += time.monotonic() - t0
    check(st == 200, "request %d answered 200 (%s)" % (i, body[:120]))
st, _, _ = gw.post("/v1/embeddings", {"model": "m", "input": "no route"})   # 404: not an answer
check(st == 404, "an unrouted request is refused 404, got %d" % st)
b1, s1, c1 = hist()
check(c1 == N, "one observation per answered request: count %s, want %d" % (c1, N))
check(b1[-1][1] == c1 and all(b1[i][1] <= b1[i + 1][1] for i in range(len(b1) - 1)),
      "cumulative buckets ending at +Inf = count: %s" % b1)
own = client_s - N * DELAY_S
print("clients measured %.1f ms over %d requests (backend %.0f ms each); gateway's own time summed %.2f ms"
      % (client_s * 1e3, N, DELAY_S * 1e3, s1 * 1e3))
check(0 < s1 <= own + 0.002, "own time %.4f s is within what the clients measured less the backend's %.4f s" % (s1, own))
check(s1 < DELAY_S, "the backend's wait is not counted: own time %.4f s over %d requests < one backend delay" % (s1, N))
check(gw.stop() == 0, "serve exits 0")
finish()
