#!/usr/bin/python3
"""Two gateway replicas share their client keys' counters through a real redis-server (loopback
only, no persistence): a daily budget spent through one replica is refused by the other, and so is
a requests-per-minute limit reached across both. Then Redis is killed: both replicas keep
enforcing — the spent budget stays refused, and a fresh key's rpm holds per replica — with a
warning in the log and rightsize_shared_store_up 0. Every process started is stopped."""
import hashlib
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import T, Gateway, check, fake_backend, finish, start_redis  # noqa: E402

REDIS = shutil.which("redis-server")
if not REDIS:
    print("skip: redis-server is not installed (scripts/deps installs it)")
    sys.exit(77)
redis, rport = start_redis()

_, bport = fake_backend("b", extra=["--busy-ns", "1000000"])   # $3600/h × 1 ms = $0.001 a request
sha = lambda k: hashlib.sha256(k.encode()).hexdigest()  # noqa: E731
config = """
tiers:
  - {name: b, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 3600}
routes:
  - {name: chat, match: {endpoint: chat}, tier: b}
keys:
  - {name: budget, sha256: "%s", budget_usd: {day: 0.0025}}
  - {name: rate, sha256: "%s", rpm: 4}
  - {name: fresh, sha256: "%s", rpm: 2}
shared: {redis: "127.0.0.1:%d", sync_ms: 50, prefix: "rs-test-%d"}
""" % (bport, sha("sk-budget"), sha("sk-rate"), sha("sk-fresh"), rport, os.getpid())
g1 = Gateway(config, name="g1")
g2 = Gateway(config, name="g2")
msg = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def ask(gw, key):
    st, h, b = gw.post("/v1/chat/completions", msg, {"Authorization": "Bearer " + key})
    return st, h, b


def minute_start():
    """Per-minute limits count in UTC minutes: start a burst with 10 s of the minute ahead."""
    if time.time() % 60 > 50:
        time.sleep(60.2 - time.time() % 60)


def settle():
    time.sleep(0.4)   # several sync periods (50 ms) on a busy machine


check(g1.metric("rightsize_shared_store_up") == 1 or (settle() or g1.metric("rightsize_shared_store_up") == 1),
      "replica 1 syncs with Redis")
# a budget spent through g1 is refused by g2
for i in range(3):
    st, h, b = ask(g1, "sk-budget")
    check(st == 200, "budget request %d through g1: %d %s" % (i, st, b[:200]))
settle()
st, h, b = ask(g2, "sk-budget")
check(st == 429 and b"insufficient_quota" in b and int(h.get("retry-after", "0")) >= 1,
      "g2 refuses the budget g1 spent: %d %s" % (st, b[:200]))
# rpm 4 across both replicas: 2 + 2, then neither admits a fifth
minute_start()
for gw in (g1, g2, g1, g2):
    st, _, b = ask(gw, "sk-rate")
    check(st == 200, "rate request: %d %s" % (st, b[:160]))
settle()
for name, gw in (("g1", g1), ("g2", g2)):
    st, h, b = ask(gw, "sk-rate")
    check(st == 429 and b"rate_limit_exceeded" in b, "%s refuses the 5th request of the minute: %d %s" % (name, st, b[:160]))
adm = g2.admin("GET", "/admin/keys")[2].decode()
check('"name":"budget"' in adm and '"spend_day_usd":0.003000000' in adm, "g2's admin API shows the shared spend: %s" % adm[:300])

# Redis goes away: both keep enforcing
redis.kill()
redis.wait()
st, _, b = ask(g1, "sk-budget")
check(st == 429, "g1 still refuses the spent budget without Redis: %d" % st)
st, _, b = ask(g2, "sk-budget")
check(st == 429, "g2 still refuses the spent budget without Redis: %d" % st)
minute_start()
for name, gw in (("g1", g1), ("g2", g2)):
    sts = [ask(gw, "sk-fresh")[0] for _ in range(3)]
    check(sts == [200, 200, 429], "%s enforces rpm 2 on its own counts without Redis: %s" % (name, sts))
settle()
check(g1.metric("rightsize_shared_store_up") == 0 and g1.metric("rightsize_shared_store_errors_total") >= 1,
      "shared_store_up 0 and errors counted")
check(g1.stop() == 0 and g2.stop() == 0, "both replicas exit 0")
log = open(os.path.join(T, "serve.log")).read()
check("Redis at 127.0.0.1:%d unreachable" % rport in log, "the log warns that Redis is gone")
finish()
