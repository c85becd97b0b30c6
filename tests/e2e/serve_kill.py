#!/usr/bin/python3
"""kill -9 of a local worker under steady load: every request still gets a complete 200 answer
(calls that failed before their first byte are retried on the other replica), the supervisor
restarts the dead worker (worker_restarts_total, replicas back to ready), and telemetry shows
the retried attempts."""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, finish, synth  # noqa: E402

model = synth("m", 3)
gw = Gateway("""
tiers:
  - {name: local, model: %s, replicas: 2, max_concurrency: 4, cost_per_hour: 0.2}
routes:
  - {match: {endpoint: completions}, tier: local}
""" % model)
check(gw.wait_ready("local", 2), "two workers ready")


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = open("/proc/%s/stat" % d).read()
                if int(st[st.rindex(")") + 2:].split()[1]) == pid:
                    out.append(int(d))
            except (OSError, ValueError):
                pass
    return out


stop = time.time() + 6
results = []
lock = threading.Lock()


def client(k):
    g = Gateway.__new__(Gateway)
    g.port, g.conn = gw.port, None
    i = 0
    while time.time() < stop:
        st, h, body = g.request("POST", "/v1/completions", {"prompt": "load %d %d" % (k, i), "max_tokens": 40,
                                                            "ignore_eos": True})
        ok = st == 200 and json.loads(body)["usage"]["completion_tokens"] == 40
        with lock:
            results.append((st, ok, body[:200]))
        i += 1


threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
time.sleep(2)
workers = children(gw.proc.pid)
check(len(workers) == 2, "two worker processes (%s)" % workers)
os.kill(workers[0], signal.SIGKILL)
print("killed worker pid %d" % workers[0])
for t in threads:
    t.join()
bad = [r for r in results if not r[1]]
print("%d requests, %d not answered in full" % (len(results), len(bad)))
check(len(results) > 20, "steady load ran")
check(not bad, "every request answered in full: %s" % bad[:3])
t0 = time.time()
while time.time() - t0 < 15 and gw.metric("rightsize_worker_restarts_total", 'tier="local"') < 1:
    time.sleep(0.1)
check(gw.metric("rightsize_worker_restarts_total", 'tier="local"') >= 1, "worker restart counted")
check(gw.wait_ready("local", 2, 20), "both replicas ready again")
check(len(children(gw.proc.pid)) == 2, "two worker processes again")
recs = gw.telemetry()
check(len(recs) == len(results), "one record per request")
print("retried requests: %d" % sum(r["attempts"] > 1 for r in recs))
check(gw.stop() == 0, "serve drains and exits 0")
check(not children(gw.proc.pid), "workers stopped with serve")
finish()
