#!/usr/bin/python3
"""SIGHUP applies every change it can, keeps the gateway's state, and says what it did (issue 15
part 6; loopback only). GET /admin/reload and rightsize_config_reloads_total{result} carry the
result beside the log:
1. a canary weight set through the admin API survives a reload whose file leaves the weight alone;
   limits.max_tokens and a local tier's fixed replica count apply (a second worker starts), and the
   result lists each change by name;
2. a change that cannot apply live (a tier's quantization label) refuses the whole reload by name,
   and the running config is kept;
3. a rolled-back canary stays rolled back when the file changes its weight, and the result says
   the new weight was not applied and why."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, fake_backend, finish, synth  # noqa: E402

model = synth("w", 3)
_, base = fake_backend("base")
_, cand = fake_backend("cand")


def config(max_tokens=50, replicas=1, quant="q8_0", weight=10):
    return """admin_key: secret
tiers:
  - {name: w, model: %s, replicas: %d}
  - {name: base, url: "http://127.0.0.1:%d/v1", model: m, quantization: %s}
  - {name: cand, url: "http://127.0.0.1:%d/v1", model: m}
routes:
  - {name: main, match: {endpoint: completions}, tier: base}
  - {name: local, tier: w}
canary:
  - {route: main, baseline: base, candidate: cand, weight_percent: %g}
limits: {max_tokens: %d}
""" % (model, replicas, base, quant, cand, weight, max_tokens)


gw = Gateway(config())
check(gw.wait_ready("w"), "the local tier is ready")


def reload(text):
    """Rewrites the file, sends SIGHUP, waits for the reload's result and returns it."""
    n = gw.metric("rightsize_config_reloads_total", "applied") + gw.metric("rightsize_config_reloads_total", "refused")
    with open(gw.cfg, "w") as f:
        f.write(text)
    gw.proc.send_signal(signal.SIGHUP)
    t0 = time.time()
    while time.time() - t0 < 10:
        if gw.metric("rightsize_config_reloads_total", "applied") + gw.metric("rightsize_config_reloads_total",
                                                                             "refused") > n:
            break
        time.sleep(0.05)
    return json.loads(gw.admin("GET", "/admin/reload")[2])


def canary():
    return json.loads(gw.admin("GET", "/admin/canary")[2])[0]


# 1. an admin weight survives; max_tokens and replicas apply
check(gw.admin("POST", "/admin/canary", {"weight_percent": 40, "route": "main"})[0] == 200, "admin sets weight 40")
time.sleep(0.2)   # admin commands apply on the loop's next tick
st, _, _ = gw.post("/v1/completions", {"prompt": "hi", "max_tokens": 70})
check(st == 400, "max_tokens 70 is over the first limit (50): %d" % st)
res = reload(config(max_tokens=80, replicas=2))
print(json.dumps(res, indent=1))
check(res.get("ok") is True and res.get("refused") is None, "the reload applied")
applied = res.get("applied", [])
check("limits.max_tokens 50 -> 80" in applied, "the result names limits.max_tokens: %s" % applied)
check(any(a.startswith("tiers[0].replicas 1..1 -> 2..2") for a in applied), "the result names the replicas: %s" % applied)
check(len(applied) == 2, "nothing else is listed as changed: %s" % applied)
time.sleep(0.2)
check(canary().get("weight_percent") == 40, "the admin weight survived the reload: %s" % canary())
st, _, _ = gw.post("/v1/completions", {"prompt": "hi", "max_tokens": 70})
check(st == 200, "max_tokens 70 is within the new limit: %d" % st)
check(gw.wait_ready("w", n=2), "a second local worker started (replicas 1 -> 2)")

# 2. a change that cannot apply live: refused by name, nothing applied
res = reload(config(max_tokens=10, replicas=2, quant="q4_0"))
check(res.get("ok") is False and "tiers[1].quantization changed ('q8_0' -> 'q4_0')" in (res.get("refused") or ""),
      "a quantization change is refused by name: %s" % res)
check(gw.metric("rightsize_config_reloads_total", 'result="refused"') == 1, "the refusal is counted")
st, _, _ = gw.post("/v1/completions", {"prompt": "hi", "max_tokens": 70})
check(st == 200, "the running limits were kept (max_tokens 80): %d" % st)
check(canary().get("weight_percent") == 40, "the canary weight was kept: %s" % canary())

# 3. a rolled-back canary stays rolled back
check(gw.admin("POST", "/admin/rollback")[0] == 200, "manual rollback")
time.sleep(0.2)
res = reload(config(max_tokens=80, replicas=2, weight=25))
c = canary()
check(res.get("ok") is True and c.get("rolled_back") is True and c.get("weight_percent") == 0,
      "the rolled-back canary stays rolled back: %s" % c)
check(any("weight_percent 10 -> 25 NOT applied: it stays rolled back" in a for a in res.get("applied", [])),
      "the result says the new weight was not applied and why: %s" % res.get("applied"))
tiers = [gw.post("/v1/completions", {"prompt": "x"})[1].get("x-rightsize-tier") for _ in range(20)]
check(tiers.count("base") == 20, "all traffic stays on the baseline: %s" % tiers)
check(gw.stop() == 0, "serve exits 0")
finish()
