#!/usr/bin/python3
"""The gateway's health endpoints (issue 15 part 5; loopback only):
1. GET /health/live is 200 while the process runs; GET /health keeps its documented answer;
2. GET /health/ready is 503 while some route has no ready replica, with a JSON body naming each
   such route, its tier and why: a local worker in a restart loop (a model file it cannot load)
   says how it last exited and how many restarts it made; a remote endpoint that does not answer
   says so with the transport error;
3. /metrics says the same: rightsize_tier_ready{tier} 0/1 and rightsize_worker_last_exit_code{tier}
   (the exit code /health/ready names);
4. with every route's tier ready, /health/ready is 200 {"status":"ready"}."""
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import T, Gateway, check, fake_backend, finish, synth  # noqa: E402

good = synth("good", 1)
bad = os.path.join(T, "broken.gguf")
with open(bad, "wb") as f:   # a GGUF header and then nothing: the worker cannot load it and exits
    f.write(b"GGUF\x03\x00\x00\x00" + b"\x00" * 24)
_, rport = fake_backend("r")
s = socket.socket()
s.bind(("127.0.0.1", 0))
dead = s.getsockname()[1]
s.close()   # nothing listens there

TIERS = """
tiers:
  - {name: good, model: %s, max_concurrency: 2}
  - {name: remote, url: "http://127.0.0.1:%d/v1", model: m}
""" % (good, rport)
gw = Gateway(TIERS + """  - {name: crash, model: %s}
  - {name: gone, url: "http://127.0.0.1:%d/v1", model: m}
routes:
  - {name: r-good, match: {model: good}, tier: good}
  - {name: r-crash, match: {model: crash}, tier: crash}
  - {name: r-gone, match: {model: gone}, tier: gone}
  - {name: r-remote, tier: remote}
""" % (bad, dead))

check(gw.wait_ready("good"), "the good local tier becomes ready")
t0 = time.time()
while time.time() - t0 < 20 and gw.metric("rightsize_worker_restarts_total", 'tier="crash"') < 2:
    time.sleep(0.1)
check(gw.metric("rightsize_worker_restarts_total", 'tier="crash"') >= 2, "the broken worker is in a restart loop")
time.sleep(1.2)   # remote probes run every second

st, _, body = gw.request("GET", "/health/live")
check(st == 200 and json.loads(body) == {"status": "live"}, "/health/live: %d %s" % (st, body))
st, _, body = gw.request("GET", "/health")
check(st == 200 and json.loads(body) == {"status": "ok"}, "/health as documented: %d %s" % (st, body))
st, _, body = gw.request("GET", "/health/ready")
check(st == 503, "/health/ready is 503 with routes not ready (%d)" % st)
rd = json.loads(body)
print(json.dumps(rd, indent=1)[:1500])
routes = {r["route"]: r for r in rd.get("routes", [])}
check(rd.get("status") == "not_ready", "status not_ready")
check(routes.get("r-good", {}).get("ready") is True and routes.get("r-remote", {}).get("ready") is True,
      "the good routes are ready")
crash = routes.get("r-crash", {})
why = (crash.get("not_ready") or [{}])[0]
check(crash.get("ready") is False and why.get("tier") == "crash", "r-crash names tier crash: %s" % crash)
m = re.search(r"worker 0 exited with status (\d+); (\d+) restarts", why.get("reason", ""))
check(m is not None, "the reason gives the exit status and the restarts: %s" % why.get("reason"))
gone = (routes.get("r-gone", {}).get("not_ready") or [{}])[0]
check(gone.get("tier") == "gone" and "does not answer" in gone.get("reason", "") and
      "onnect" in gone.get("reason", ""), "r-gone says the endpoint does not answer: %s" % gone)
tiers = {t["tier"]: t for t in rd.get("tiers", [])}
check(tiers.get("crash", {}).get("replicas", {}).get("backoff", 0) + tiers.get("crash", {}).get("replicas", {}).get(
    "starting", 0) == 1, "the crash tier's replica is restarting: %s" % tiers.get("crash"))

check(gw.metric("rightsize_tier_ready", 'tier="good"') == 1, "metric: good ready")
check(gw.metric("rightsize_tier_ready", 'tier="remote"') == 1, "metric: remote ready")
check(gw.metric("rightsize_tier_ready", 'tier="crash"') == 0 and "rightsize_tier_ready{tier=\"crash\"} 0" in gw.metrics(),
      "metric: crash not ready")
check(gw.metric("rightsize_tier_ready", 'tier="gone"') == 0 and "rightsize_tier_ready{tier=\"gone\"} 0" in gw.metrics(),
      "metric: gone not ready")
if m:
    check(gw.metric("rightsize_worker_last_exit_code", 'tier="crash"') == int(m.group(1)),
          "metric: the last exit code is the one /health/ready names (%s)" % m.group(1))
check(gw.stop() == 0, "serve exits 0")

# Every route's tier ready: 200.
gw2 = Gateway(TIERS + """routes:
  - {name: r-good, match: {model: good}, tier: good}
  - {name: r-remote, tier: remote}
""", name="serve2")
check(gw2.wait_ready("good"), "the good local tier becomes ready")
time.sleep(1.2)
st, _, body = gw2.request("GET", "/health/ready")
rd = json.loads(body)
check(st == 200 and rd.get("status") == "ready" and all(r["ready"] for r in rd["routes"]),
      "/health/ready is 200 when every route is ready: %d %s" % (st, body[:300]))
check(gw2.stop() == 0, "serve exits 0")
finish()
