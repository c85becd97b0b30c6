#!/usr/bin/python3
"""Canary end to end over remote tiers (trivial fake backends, for speed):
1. weight_percent 20 over 2,000 requests: the candidate's share is within 4.5 binomial standard
   deviations of 20 % (each answer's text names the backend that wrote it, checked against the
   x-rightsize-tier header);
2. a candidate with 60 ms of injected latency under a p95_ms: 25 guard is rolled back
   automatically (weight 0, reason, metric), after which every request goes to the baseline;
3. an agreement guard: a candidate whose answers differ from the baseline's is rolled back on
   its shadow pairs;
4. the admin API: wrong key 401, POST /admin/canary sets the weight, POST /admin/rollback."""
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, fake_backend, finish  # noqa: E402

_, base = fake_backend("base")
_, cand = fake_backend("cand")
_, slow = fake_backend("slow", delay_ms=60)
gw = Gateway("""
tiers:
  - {name: base, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 1}
  - {name: cand, url: "http://127.0.0.1:%d", model: m, cost_per_hour: 0.5}
  - {name: slow, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 0.5}
routes:
  - {name: main, match: {endpoint: completions}, tier: base}
  - {name: other, match: {endpoint: chat}, tier: base}
canary:
  - {route: main, baseline: base, candidate: cand, weight_percent: 20,
     rollback: {p95_ms: 1000, error_rate: 0.05, window_s: 30, min_samples: 20}}
  - {route: other, baseline: base, candidate: slow, weight_percent: 50,
     rollback: {p95_ms: 25, window_s: 30, min_samples: 10}}
""" % (base, cand, slow), extra=["--seed", "7"])

# 1. the split
N = 2000
n_cand = 0
for i in range(N):
    st, h, body = gw.post("/v1/completions", {"prompt": "p%d" % i, "max_tokens": 3})
    if not check(st == 200, "request %d: status %d" % (i, st)):
        break
    text = json.loads(body)["choices"][0]["text"]
    tier = h["x-rightsize-tier"]
    check(text.startswith(tier + ":"), "answer %r came from %s" % (text, tier))
    n_cand += tier == "cand"
sd = math.sqrt(N * 0.2 * 0.8)
print("candidate share %d / %d (expected %d +- %.1f)" % (n_cand, N, N * 0.2, sd))
check(abs(n_cand - N * 0.2) <= 4.5 * sd, "candidate share %d within 4.5 sd of %d" % (n_cand, N * 0.2))
check(gw.metric("rightsize_routing_decisions_total", 'decision="canary"') == n_cand, "canary decisions metric")

# 2. automatic rollback of the slow candidate
seen_slow_after = 0
rolled_at = None
for i in range(200):
    st, h, body = gw.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "q%d" % i}]})
    check(st == 200, "chat %d status %d" % (i, st))
    status = json.loads(gw.admin("GET", "/admin/canary")[2])
    other = [c for c in status if c["route"] == "other"][0]
    if rolled_at is None and other["rolled_back"]:
        rolled_at = i
    elif rolled_at is not None:
        seen_slow_after += h["x-rightsize-tier"] == "slow"
check(rolled_at is not None, "slow candidate rolled back")
if rolled_at is not None:
    print("slow candidate rolled back after %d requests: %s" % (rolled_at + 1, other["reason"]))
    check(other["weight_percent"] == 0 and "p95" in other["reason"], "rollback sets weight 0 with a reason")
    check(seen_slow_after == 0, "no request went to the rolled-back candidate (%d did)" % seen_slow_after)
check(gw.metric("rightsize_canary_rollbacks_total", 'guard="latency"') == 1, "rollback metric")
check(gw.metric("rightsize_canary_weight_percent", 'route="other"') == 0, "weight metric 0")

# 4. admin API
st, _, _ = gw.request("POST", "/admin/canary", {"weight_percent": 100, "route": "main"}, {"Authorization": "Bearer nope"})
check(st == 401, "wrong admin key: %d" % st)
st, _, _ = gw.admin("POST", "/admin/canary", {"weight_percent": 100, "route": "main"})
check(st == 200, "set weight")
time.sleep(0.15)
tiers = [gw.post("/v1/completions", {"prompt": "x", "max_tokens": 1})[1]["x-rightsize-tier"] for _ in range(20)]
check(tiers.count("cand") == 20, "weight 100: all to the candidate (%s)" % tiers)
st, _, _ = gw.admin("POST", "/admin/rollback")
check(st == 200, "rollback")
time.sleep(0.15)
tiers = [gw.post("/v1/completions", {"prompt": "x", "max_tokens": 1})[1]["x-rightsize-tier"] for _ in range(20)]
check(tiers.count("base") == 20, "after rollback: all to the baseline (%s)" % tiers)
check(gw.stop() == 0, "serve exits 0")

# 3. agreement guard: the candidate's answers ("cand:...") never match the baseline's ("base:...")
gw = Gateway("""
tiers:
  - {name: base, url: "http://127.0.0.1:%d/v1", model: m}
  - {name: cand, url: "http://127.0.0.1:%d/v1", model: m}
routes:
  - {name: main, match: {endpoint: completions}, tier: base}
canary:
  - {route: main, baseline: base, candidate: cand, weight_percent: 50, shadow_percent: 100,
     rollback: {min_agreement: 0.9, window_s: 30, min_samples: 12}}
""" % (base, cand), name="agree")
for i in range(200):
    gw.post("/v1/completions", {"prompt": "p%d" % i, "max_tokens": 3})
status = json.loads(gw.admin("GET", "/admin/canary")[2])[0]
check(status["rolled_back"] and "agreement" in status["reason"], "agreement guard rolled back: %s" % status)
check(gw.metric("rightsize_canary_rollbacks_total", 'guard="agreement"') == 1, "agreement rollback metric")
check(gw.metric("rightsize_cost_usd_total", 'kind="shadow"') >= 0, "shadow cost line")
check(gw.stop() == 0, "serve exits 0")
finish()
