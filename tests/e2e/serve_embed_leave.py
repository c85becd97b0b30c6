#!/usr/bin/python3
"""Embeddings requests whose clients leave while they wait in the gateway's batcher (loopback
only, issue #15): 6 clients send an embeddings request to a batching tier (max_queue_delay 1.5 s)
and close their connections after 0.3 s; one more client stays. The 6 are pulled out of the
batcher before the batch goes: the backend's one call carries only the remaining client's input,
each leaver is recorded 499 `client_gone` at cost 0 within a second of leaving, and the one that
stayed gets its vector."""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import attack as A  # noqa: E402
from serve_env import T, Gateway, check, fake_backend, finish  # noqa: E402

blog = os.path.join(T, "emb.jsonl")
_, port = fake_backend("emb", log=blog)
gw = Gateway("""
tiers:
  - {name: emb, url: "http://127.0.0.1:%d/v1", model: e, cost_per_hour: 3.6,
     batching: {max_batch_size: 32, max_queue_delay_microseconds: 1500000}}
routes:
  - {match: {endpoint: embeddings}, tier: emb}
""" % port)

leavers = [A.raw_post(gw.port, "/v1/embeddings", {"model": "e", "input": ["leave-%d" % i, "x"]}) for i in range(6)]
stayed = {}


def stay():
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    c.request("POST", "/v1/embeddings", body=json.dumps({"model": "e", "input": "stay"}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    stayed["status"], stayed["body"] = r.status, r.read()
    c.close()


t = threading.Thread(target=stay)
t.start()
time.sleep(0.3)
t_leave = time.time()
for s in leavers:
    s.close()
gone = lambda: [r for r in gw.telemetry() if r.get("status") == 499]   # noqa: E731
while len(gone()) < 6 and time.time() - t_leave < 1.0:
    time.sleep(0.02)
t_recorded = time.time() - t_leave
t.join(10)
check(len(gone()) == 6 and t_recorded < 1.0, "6 leavers recorded 499 within 1 s of leaving (%d in %.2f s)"
      % (len(gone()), t_recorded))
check(all(r.get("reason") == "client_gone" and (r.get("cost_usd") or 0) == 0 for r in gone()),
      "the leavers are recorded client_gone at cost 0: %s" % gone())
check(stayed.get("status") == 200 and len(json.loads(stayed["body"])["data"]) == 1,
      "the client that stayed got its vector: %s" % stayed)
calls = [json.loads(l) for l in open(blog) if l.strip()]
calls = [c for c in calls if c.get("path", "").endswith("/embeddings")]
check(len(calls) == 1 and calls[0]["n_inputs"] == 1,
      "the backend got one call with only the remaining input (got %s)" % calls)
print("6 clients left their batched embeddings requests: pulled within %.2f s, recorded 499 at cost 0; "
      "the batch carried 1 input" % t_recorded)
check(gw.stop() == 0, "serve exits 0")
finish()
