#!/usr/bin/python3
"""SIGHUP reload keeps state and says what it did (loopback only):
1. a new admin_key replaces the old one at once (the old key gets 401), and removing it turns the
   admin API off (403);
2. a canary rolled back before the reload stays rolled back, even when the file now gives it a
   different weight — the traffic keeps going to the baseline;
3. a change that cannot apply live (here a tier's cost_per_hour) is refused by
   name, and the running config is kept."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, T, check, fake_backend, finish, spawn, _wait_file  # noqa: E402
import http.client  # noqa: E402

_, base = fake_backend("base")
_, cand = fake_backend("cand")
cfg = os.path.join(T, "reload.yaml")
log = os.path.join(T, "serve.log")


def write(admin_key, weight, price=1.0, seqs=None):
    tiers = """tiers:
  - {name: base, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: %s}
  - {name: cand, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 0.5}
""" % (base, price, cand)
    with open(cfg, "w") as f:
        f.write(("admin_key: %s\n" % admin_key if admin_key else "") + tiers + """routes:
  - {name: main, match: {endpoint: completions}, tier: base}
canary:
  - {route: main, baseline: base, candidate: cand, weight_percent: %s}
""" % weight)


def req(method, path, key=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = "Bearer " + key
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    data = r.read()
    tier = r.getheader("x-rightsize-tier")
    c.close()
    return r.status, data, tier


def hup(expect):
    """Sends SIGHUP and waits for the log line that answers it."""
    n = open(log).read().count(expect)
    proc.send_signal(signal.SIGHUP)
    t0 = time.time()
    while time.time() - t0 < 10:
        if open(log).read().count(expect) > n:
            return True
        time.sleep(0.02)
    return False


write("k1", 50)
pf = os.path.join(T, "reload.port")
proc = spawn([BIN, "serve", cfg, "--listen", "127.0.0.1:0", "--port-file", pf, "--telemetry", "-"], "serve.log")
port = _wait_file(pf, proc, "rightsize serve")

check(req("GET", "/admin/canary", "k1")[0] == 200, "k1 works at start")
check(req("GET", "/admin/canary", "k2")[0] == 401, "k2 refused at start")
check(req("POST", "/admin/rollback", "k1")[0] == 200, "manual rollback")
time.sleep(0.2)

# 1 + 2: new key, new weight in the file
write("k2", 80)
check(hup("reloaded"), "reload logged")
check(req("GET", "/admin/canary", "k1")[0] == 401, "the old key no longer works after the reload")
st, body, _ = req("GET", "/admin/canary", "k2")
check(st == 200, "the new key works after the reload (%d)" % st)
status = json.loads(body)[0] if st == 200 else {}
check(status.get("rolled_back") is True and status.get("weight_percent") == 0,
      "the rolled-back canary stays rolled back: %s" % status)
tiers = [req("POST", "/v1/completions", body={"prompt": "x", "max_tokens": 1})[2] for _ in range(30)]
check(tiers.count("base") == 30, "all traffic stays on the baseline after the reload (%s)" % tiers)
check("stays rolled back" in open(log).read(), "the log says why the file's weight was not applied")

# admin key removed: the admin API is off
write(None, 80)
check(hup("reloaded"), "second reload logged")
check(req("GET", "/admin/canary", "k2")[0] == 403, "no admin_key: the admin API is off (403)")

# 3: refused by name, old config kept
write(None, 80, price=2.5)
check(hup("reload refused"), "a price change is refused")
check("tiers[0].cost_per_hour changed (1 -> 2.5)" in open(log).read(), "the refusal names the field and values")
check(req("GET", "/admin/canary", "k2")[0] == 403, "the running config (no admin key) was kept")

proc.send_signal(signal.SIGTERM)
check(proc.wait(timeout=30) == 0, "serve exits 0")
finish()
