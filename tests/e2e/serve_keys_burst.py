#!/usr/bin/python3
"""A burst of concurrent requests against a client key's limits (loopback only, issue #15): the
requests in flight count against the key's tokens per minute and USD budget from the moment they
are admitted (a reservation: max_tokens + the prompt at ~4 characters a token; the tier's recent
cost per request), settled against what they used when they end. So a limit with room for k
requests admits k of a burst of 10, not all 10:
- tpm 100, requests reserving 21 tokens (max_tokens 20 + a 2-character prompt): 5 admitted
  (0, 21, 42, 63, 84 < 100), 5 refused 429; once they end they count what they used (4 each), so a
  later request passes;
- a daily budget of $0.0045 at $0.001 a request (one request already spent): 4 of 10 admitted;
- through Redis (two gateway replicas, sync 50 ms): a burst to one replica, then 0.3 s later one to
  the other — the second sees the first's reservations and admits none; the tolerance is what the
  replicas admit within one sync period of each other (not exercised here).
Every process started is stopped."""
import hashlib
import http.client
import json
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, fake_backend, finish, start_redis  # noqa: E402

# a slow backend (0.6 s a call) so the burst's requests are all in flight together; 1 ms busy each
_, bport = fake_backend("b", delay_ms=600, extra=["--busy-ns", "1000000"])   # $3600/h × 1 ms = $0.001
sha = lambda k: hashlib.sha256(k.encode()).hexdigest()  # noqa: E731


def config(extra=""):
    return """
tiers:
  - {name: b, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 3600, max_concurrency: 64}
routes:
  - {name: chat, match: {endpoint: chat}, tier: b}
keys:
  - {name: tok, sha256: "%s", tpm: 100}
  - {name: usd, sha256: "%s", budget_usd: {day: 0.0045}}
%s""" % (bport, sha("sk-tok"), sha("sk-usd"), extra)


def ask(port, key, out):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("POST", "/v1/chat/completions", body=json.dumps({"messages": [{"role": "user", "content": "hi"}],
                                                                "max_tokens": 20}),
              headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
    r = c.getresponse()
    r.read()
    out.append(r.status)
    c.close()


def burst(port, key, n=10):
    out = []
    ts = [threading.Thread(target=ask, args=(port, key, out)) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return sorted(out)


def minute_ahead(seconds):
    """Waits, if needed, until `seconds` of the UTC minute are left (tpm counts in UTC minutes)."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.2)


gw = Gateway(config())
minute_ahead(6)
got = burst(gw.port, "sk-tok")
check(got.count(200) == 5 and got.count(429) == 5, "tpm 100, 21 tokens reserved each: 5 of 10 admitted (%s)" % got)
after = []
ask(gw.port, "sk-tok", after)
check(after == [200], "settled at what they used (5 x 4 tokens), the key has room again (%s)" % after)
first = []
ask(gw.port, "sk-usd", first)   # $0.001 spent; the tier's cost per request is known from here on
got = burst(gw.port, "sk-usd")
check(first == [200] and got.count(200) == 4 and got.count(429) == 6,
      "budget $0.0045 with $0.001 spent, $0.001 a request: 4 of 10 admitted (%s)" % got)
check(gw.stop() == 0, "serve exits 0")
recs = [json.loads(l) for l in open(gw.tel) if l.strip()]
spent = sum(r.get("cost_busy_usd") or 0 for r in recs if r.get("key") == "usd")
check(abs(spent - 0.005) < 1e-9, "the budget's overshoot is at most one request: $%.6f spent of $0.0045" % spent)
print("burst of 10: tpm 100 admitted 5; budget $0.0045 admitted 4 (spent $%.4f)" % spent)

REDIS = shutil.which("redis-server")
if not REDIS:
    print("skip the shared part: redis-server is not installed (scripts/deps installs it)")
    finish()
redis, rport = start_redis()
shared = 'shared: {redis: "127.0.0.1:%d", sync_ms: 50, prefix: "rs-burst-%d"}\n' % (rport, os.getpid())
g1 = Gateway(config(shared), name="g1")
g2 = Gateway(config(shared), name="g2")
minute_ahead(6)
res1, res2 = [], []
t1 = threading.Thread(target=lambda: res1.extend(burst(g1.port, "sk-tok")))
t1.start()
time.sleep(0.3)   # the first replica's reservations reach Redis and the second within a sync
res2 = burst(g2.port, "sk-tok")
t1.join(30)
check(res1.count(200) == 5 and res2.count(200) == 0,
      "through Redis: 5 admitted by the first replica, 0 by the second (%s / %s)" % (res1, res2))
check(g1.stop() == 0 and g2.stop() == 0, "both replicas exit 0")
print("through Redis: a burst to each replica 0.3 s apart: %d + %d admitted" % (res1.count(200), res2.count(200)))
finish()
