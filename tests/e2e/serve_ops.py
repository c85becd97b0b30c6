#!/usr/bin/python3
"""Operations end to end:
1. dynamic batching for /v1/embeddings (Triton's meaning): 40 concurrent requests reach the
   backend in calls of at most max_batch_size inputs, fewer calls than requests, and each client
   gets exactly its own vectors (checked against the fake backend's formula [len(input), ...]);
2. SIGHUP reload: a route change takes effect without dropping in-flight requests (a slow
   request started before the reload completes), and a bad config is refused with the old one
   kept;
3. the queue-aware autoscaler applied to a local tier with a warm pool of 1: the warm worker is
   started but gets no traffic; under load it is promoted (replicas ready 1 → 2, desired_replicas
   2) and a new warm one started; after the load the tier drains back to 1 ready + 1 warm;
4. POST /admin/drain: health turns 503, new requests get 503, serve exits 0."""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import T, Gateway, check, fake_backend, finish, synth  # noqa: E402

log = os.path.join(T, "emb.log")
_, emb = fake_backend("emb", delay_ms=20, log=log)
_, slow = fake_backend("slow", delay_ms=1500)
_, fast = fake_backend("fast")
model = synth("m", 9)
CFG = """
tiers:
  - {name: emb, url: "http://127.0.0.1:%d/v1", model: e, batching: {max_batch_size: 8, max_queue_delay_microseconds: 20000}}
  - {name: slow, url: "http://127.0.0.1:%d/v1", model: s}
  - {name: fast, url: "http://127.0.0.1:%d/v1", model: f}
  - {name: local, model: %s, replicas: {min: 1, max: 2}, max_concurrency: 1}
routes:
  - {match: {endpoint: embeddings}, tier: emb}
  - {match: {endpoint: chat, header: {name: x-slow}}, tier: slow}
  - {match: {endpoint: chat}, tier: %s}
  - {match: {endpoint: completions}, tier: local}
autoscaling: {target_per_replica: 1, upscale_delay_s: 0.2, downscale_delay_s: 1, interval_s: 0.1, warm_pool: 1}
"""
gw = Gateway(CFG % (emb, slow, fast, model, "slow"))
if not check(gw.wait_ready("local"), "local worker ready"):
    print(gw.metrics()[-3000:]); print(open(os.path.join(T, "serve.log")).read()[-3000:]); sys.exit(1)

# 1. batching
out = [None] * 40


def emb_client(i):
    g = Gateway.__new__(Gateway)
    g.port, g.conn = gw.port, None
    inp = ["x" * (i + 1)] if i % 2 else "y" * (i + 3)
    st, h, b = g.request("POST", "/v1/embeddings", {"input": inp, "model": "e"})
    out[i] = (st, json.loads(b), inp)


ts = [threading.Thread(target=emb_client, args=(i,)) for i in range(40)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for i, (st, r, inp) in enumerate(out):
    texts = [inp] if isinstance(inp, str) else inp
    ok = st == 200 and [d["embedding"][0] for d in r["data"]] == [float(len(s)) for s in texts] and \
        [d["index"] for d in r["data"]] == list(range(len(texts)))
    check(ok, "embedding %d: %s %s" % (i, st, r))
    # the backend's usage is per batch (here: characters); each member gets its share by input size
    check(r.get("usage", {}).get("prompt_tokens") == sum(len(s) for s in texts),
          "embedding %d: usage.prompt_tokens is its share of the batch's (%s)" % (i, r.get("usage")))
time.sleep(0.2)
emb_recs = [x for x in gw.telemetry() if x["endpoint"] == "embeddings"]
check(len(emb_recs) == 40 and all(x["usage_source"] == "batch_split" and x["prompt_tokens"] == x["prompt_chars"]
                                  for x in emb_recs), "embedding records: prompt tokens split from the batch's usage")
calls = [json.loads(l) for l in open(log)]
sizes = [c["n_inputs"] for c in calls]
print("40 embedding requests reached the backend in %d calls of sizes %s" % (len(calls), sizes))
check(sum(sizes) == 40 and max(sizes) <= 8 and len(calls) < 40, "batched: at most 8 per call, fewer calls")

# 2. SIGHUP reload without dropping a request in flight
res = {}


def slow_chat():
    g = Gateway.__new__(Gateway)
    g.port, g.conn = gw.port, None
    res["slow"] = g.request("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "a"}]})


t = threading.Thread(target=slow_chat)
t.start()
time.sleep(0.3)
open(gw.cfg, "w").write(CFG % (emb, slow, fast, model, "fast"))
gw.proc.send_signal(signal.SIGHUP)
time.sleep(0.3)
st, h, b = gw.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "b"}]})
check(st == 200 and h["x-rightsize-tier"] == "fast", "after reload chat goes to 'fast' (%s)" % h.get("x-rightsize-tier"))
t.join()
st, h, b = res["slow"]
check(st == 200 and h["x-rightsize-tier"] == "slow", "the request in flight during the reload completed (%d)" % st)
open(gw.cfg, "w").write("tiers: [oops\n")
gw.proc.send_signal(signal.SIGHUP)
time.sleep(0.3)
st, h, b = gw.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "c"}]})
check(st == 200 and h["x-rightsize-tier"] == "fast", "a bad config is refused and the running one kept")

# 3. autoscaling a local tier
t0 = time.time()
while time.time() - t0 < 20 and gw.metric("rightsize_replicas", 'tier="local",state="warm"') != 1:
    time.sleep(0.05)
check(gw.metric("rightsize_replicas", 'tier="local",state="warm"') == 1, "one warm worker at rest")
check(gw.metric("rightsize_replicas", 'tier="local",state="ready"') == 1, "one ready worker at rest")
for i in range(6):
    gw.post("/v1/completions", {"prompt": "rest %d" % i, "max_tokens": 4})
recs = [r for r in gw.telemetry() if r["tier"] == "local"]
check(len(recs) == 6 and all(r["replica"] == 0 for r in recs), "the warm worker got no traffic: %s" % [r["replica"] for r in recs])
stop = time.time() + 4


def load(k):
    g = Gateway.__new__(Gateway)
    g.port, g.conn = gw.port, None
    while time.time() < stop:
        g.request("POST", "/v1/completions", {"prompt": "load %d" % k, "max_tokens": 60, "ignore_eos": True})


ts = [threading.Thread(target=load, args=(k,)) for k in range(4)]
for t in ts:
    t.start()
check(gw.wait_ready("local", 2, 10), "a second worker started under load")
check(gw.metric("rightsize_desired_replicas", 'tier="local"') == 2, "desired_replicas 2 under load")
for t in ts:
    t.join()
t0 = time.time()
while time.time() - t0 < 10 and gw.metric("rightsize_replicas", 'tier="local",state="ready"') != 1:
    time.sleep(0.1)
check(gw.metric("rightsize_replicas", 'tier="local",state="ready"') == 1, "scaled back to one worker when idle")
t0 = time.time()
while time.time() - t0 < 20 and gw.metric("rightsize_replicas", 'tier="local",state="warm"') != 1:
    time.sleep(0.05)
check(gw.metric("rightsize_replicas", 'tier="local",state="warm"') == 1, "the warm pool was topped up again")

# 4. drain with a request in flight: it completes; health and new requests get 503
res = {}


def long_req():
    g = Gateway.__new__(Gateway)
    g.port, g.conn = gw.port, None
    res["long"] = g.request("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "long"}]},
                            {"x-slow": "1"})


t = threading.Thread(target=long_req)
t.start()
t0 = time.time()
while time.time() - t0 < 10 and gw.metric("rightsize_num_requests_running", 'tier="slow"') < 1:
    time.sleep(0.02)
st, _, _ = gw.admin("POST", "/admin/drain")
check(st == 200, "drain accepted")
st, _, _ = gw.request("GET", "/health")
check(st == 503, "health 503 while draining")
st, h, b = gw.post("/v1/completions", {"prompt": "late", "max_tokens": 2})
check(st == 503 and h.get("retry-after"), "a new request while draining gets 503 with Retry-After (%d)" % st)
t.join()
check(res["long"][0] == 200 and res["long"][1]["x-rightsize-tier"] == "slow", "the request in flight at the drain completed")
check(gw.proc.wait(timeout=20) == 0, "serve exits 0 after the drain")
finish()
