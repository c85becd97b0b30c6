#!/usr/bin/python3
"""Ledger conservation after a mixed run (cascade over two local tiers, plain and streamed; chat and
batched embeddings on remote tiers; concurrent clients):
  * busy == sum of the finished requests' costs (+ canary shadows, none here), to the nano-dollar;
  * busy + idle == what the replicas cost in all (charged), to the nano-dollar;
  * the x-rightsize-cost-usd headers (trailers on streams: their telemetry records) sum to the
    requests' total, to the nano-dollar;
  * charged agrees with sum(cost_per_hour) x wall time measured by this script (an independent
    clock), within the gateway's 50 ms accounting tick — at $3600/h per replica a cent is 10 ms;
  * /metrics cost_usd_total{kind} match the ledger;
  * idle attribution (the ledger's step 5): each record's cost_usd = cost_busy_usd + cost_idle_usd;
    after the stop, each replica's close record has cost = busy + idle its requests took + idle
    after its last request (exact), the replicas' busy and taken idle equal the requests' sums,
    and everything the telemetry file charges (requests and replicas) is the replicas' whole cost,
    within the wall-clock bounds;
  * a student answer's cost is floor(rate x its reported busy share, timings.rightsize.busy_ns)."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, fake_backend, finish, synth  # noqa: E402

student, teacher = synth("student", 11), synth("teacher", 12)
_, fast = fake_backend("fast")
_, emb = fake_backend("emb", delay_ms=5)
RATES = {"student": 3600.0, "teacher": 7200.0, "fast": 360.0, "emb": 1800.0}
t_before = time.time()
gw = Gateway("""
tiers:
  - {name: student, model: %s, cost_per_hour: 3600}
  - {name: teacher, model: %s, cost_per_hour: 7200}
  - {name: fast, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 360}
  - {name: emb, url: "http://127.0.0.1:%d/v1", model: e, cost_per_hour: 1800,
     batching: {max_batch_size: 8, max_queue_delay_microseconds: 3000}}
routes:
  - {match: {endpoint: completions}, cascade: {first: student, then: teacher, min_confidence: 0.00195}}
  - {match: {endpoint: chat}, tier: fast}
  - {match: {endpoint: embeddings}, tier: emb}
""" % (student, teacher, fast, emb))
t_after = time.time()
check(gw.wait_ready("student") and gw.wait_ready("teacher"), "workers ready")

header_nusd = [0]
busy_checked = [0]
lock = threading.Lock()


def client(k):
    g = Gateway.__new__(Gateway)
    g.port, g.conn = gw.port, None
    for i in range(30):
        kind = (i + k) % 4
        if kind == 0:
            st, h, b = g.request("POST", "/v1/completions", {"prompt": "c %d %d" % (k, i), "max_tokens": 8})
        elif kind == 1:
            st, h, b = g.request("POST", "/v1/completions", {"prompt": "s %d %d" % (k, i), "max_tokens": 8, "stream": True})
        elif kind == 2:
            st, h, b = g.request("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi %d" % i}]})
        else:
            st, h, b = g.request("POST", "/v1/embeddings", {"input": ["a" * (i + 1), "bb %d" % k]})
        check(st == 200, "client %d request %d: %d %s" % (k, i, st, b[:200]))
        if kind != 1:   # streams carry their cost as a trailer (checked through telemetry)
            with lock:
                header_nusd[0] += round(float(h["x-rightsize-cost-usd"]) * 1e9)
        if kind == 0 and st == 200 and h.get("x-rightsize-tier") == "student":
            # The worker's busy share, and the one cost rule: at $3600/h ($1/s) one nanosecond of
            # busy share costs one nano-dollar.
            tm = json.loads(b)["timings"]
            busy = tm["rightsize"]["busy_ns"]
            with lock:
                busy_checked[0] += 1
            check(0 < busy <= tm["e2e_ms"] * 1e6 + 1e6, "busy share %d ns within the request's %.3f ms" %
                  (busy, tm["e2e_ms"]))
            check(round(float(h["x-rightsize-cost-usd"]) * 1e9) == busy,
                  "cost %s $ == floor(rate x busy %d ns)" % (h["x-rightsize-cost-usd"], busy))


ts = [threading.Thread(target=client, args=(k,)) for k in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
time.sleep(0.3)
t_read0 = time.time()
led = gw.ledger()
t_read1 = time.time()
recs = gw.telemetry()
check(busy_checked[0] > 5, "student answers checked against their busy share: %d" % busy_checked[0])
print(json.dumps(led))
check(led["in_flight"] == 0 and led["requests"] == 180 and len(recs) == 180, "all 180 requests finished")
check(led["busy_nusd"] == led["attributed_nusd"] + led["shadow_nusd"], "busy == attributed + shadow (exact)")
check(led["busy_nusd"] + led["idle_nusd"] == led["charged_nusd"], "busy + idle == charged (exact)")
nusd = lambda x: round(x * 1e9)  # noqa: E731
tel_nusd = sum(nusd(r["cost_busy_usd"]) for r in recs)
check(tel_nusd == led["attributed_nusd"], "telemetry costs %d == attributed %d" % (tel_nusd, led["attributed_nusd"]))
stream_nusd = sum(nusd(r["cost_busy_usd"]) for r in recs if r["stream"])
check(header_nusd[0] + stream_nusd == led["attributed_nusd"],
      "header costs %d + stream trailers %d == attributed %d" % (header_nusd[0], stream_nusd, led["attributed_nusd"]))
rate_usd_s = sum(RATES.values()) / 3600.0
lo = rate_usd_s * (t_read0 - t_after - 0.12)
hi = rate_usd_s * (t_read1 - t_before)
total = led["charged_nusd"] / 1e9
print("charged $%.4f; wall-clock bounds [$%.4f, $%.4f]" % (total, lo, hi))
check(lo <= total <= hi, "charged within the wall-clock bounds")
print("cascade: %d escalated, %d kept; confidences %s" % (sum(r["escalated"] for r in recs),
                                         sum(not r["escalated"] and r["tier"] == "student" for r in recs), sorted(round(r["confidence"], 5) for r in recs if r["confidence"] is not None)[::10]))
check(sum(r["escalated"] for r in recs) > 0 and sum(not r["escalated"] and r["tier"] == "student" for r in recs) > 0,
      "the mix has kept and escalated cascade answers")
check(any(r["batch_size"] > 1 for r in recs if r["tier"] == "emb"), "some embeddings were batched")
check(abs(gw.metric("rightsize_cost_usd_total", 'kind="busy"') - (led["busy_nusd"] - led["shadow_nusd"]) / 1e9) < 1e-6,
      "cost_usd_total{busy} matches the ledger")
check(all(nusd(r["cost_usd"]) == nusd(r["cost_busy_usd"]) + nusd(r["cost_idle_usd"]) for r in recs),
      "every record: cost_usd = cost_busy_usd + cost_idle_usd")
taken = sum(nusd(r["cost_idle_usd"]) for r in recs)
check(0 < taken <= led["idle_nusd"], "requests took %d of the idle %d so far" % (taken, led["idle_nusd"]))
t_stop0 = time.time()
check(gw.stop() == 0, "serve exits 0")
t_stop1 = time.time()
lines = gw.telemetry()
reps = [x for x in lines if x.get("record") == "replica"]
reqs = [x for x in lines if x.get("record") is None]
check(len(reqs) == 180 and len(reps) == 4, "after the stop: 180 request records and %d replica records (4 replicas)" % len(reps))
for x in reps:
    check(nusd(x["replica_cost_usd"]) == nusd(x["replica_busy_usd"]) + nusd(x["idle_taken_usd"]) + nusd(x["cost_usd"]),
          "replica %s/%d: cost = busy + idle taken + unattributed idle" % (x["tier"], x["replica"]))
check(sum(nusd(x["replica_busy_usd"]) for x in reps) == sum(nusd(r["cost_busy_usd"]) for r in reqs),
      "replicas' busy == the requests' busy charges")
check(sum(nusd(x["idle_taken_usd"]) for x in reps) == sum(nusd(r["cost_idle_usd"]) for r in reqs),
      "replicas' idle taken == the requests' idle")
bill = sum(nusd(x["replica_cost_usd"]) for x in reps)
check(sum(nusd(x["cost_usd"]) for x in lines) == bill, "the file's cost_usd sums to the replicas' whole cost %d" % bill)
lo, hi = rate_usd_s * (t_stop0 - t_after - 0.12), rate_usd_s * (t_stop1 - t_before)
check(lo <= bill / 1e9 <= hi, "the bill $%.4f within the wall-clock bounds [$%.4f, $%.4f]" % (bill / 1e9, lo, hi))
finish()
