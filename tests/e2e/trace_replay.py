#!/usr/bin/python3
"""The contract of the architecture — one policy, two clocks — as a trace replay.

One recorded trace (arrival times, prompt and output lengths, the first tier's answer
confidence and status) is fed
  (a) to the live gateway (`rightsize serve`) in front of a scripted OpenAI-shaped backend with
      fixed step times (lib/trace_backend.py: it reports each request's busy share as
      timings.rightsize.busy_ns), and
  (b) to the simulator (`rightsize plan --pipeline P --trace T --records R`) with the same step
      times (each tier's `step:` map).
For every request, matched by its X-Request-Id, both must agree on the route, the tier asked
first, the tier that answered, the escalation, the canary decision and the status — and charge
the same cost to the nano-dollar. The short route's tier is a backend that reports no busy share
(`cost_share: in_flight`: each call is charged its in-flight share of the replica's time, the
gateway from its clock, the simulator from its intervals): there the simulator's charge is the
closed form of its steps and the gateway's is that plus what its own clock saw beyond the
backend's scripted time (HTTP and scheduling), never less. The trace exercises a cascade with low-confidence, 5xx (re-ask)
and 4xx (never re-ask) answers, a canary split whose candidate fails into a rollback, streamed
answers on a plain tier, a burst refused by the bounded tier queue (429), and the response cache
(policy/respcache on both sides): repeated deterministic requests answered at cost 0 without a
routing draw, a seeded one cached, a sampled one never, and an entry past its TTL asked again."""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, PY, ROOT, T, Gateway, _wait_file, check, finish, spawn  # noqa: E402

# ---- the trace ----
CONFS = [0.9, 0.2, 0.8, 0.35, 0.95, 0.1, 0.7, 0.92, 0.3, 0.85, 0.15, 0.75, 0.88, 0.4, 0.97]
ERR500 = {3, 9, 14, 20, 26}
ERR400 = {6, 17}
rows = []
for i in range(30):   # the main route: a cascade with a canary, one request every 80 ms
    rows.append(dict(id="r%02d" % i, t=0.10 + 0.08 * i, chars=400 + 16 * (i % 7), out=4 + i % 4,
                     conf=CONFS[i % len(CONFS)], status=500 if i in ERR500 else 400 if i in ERR400 else 200))
# the short route, streamed; a burst of 3 within one ~47 ms answer (12 ms apart, so a busy
# machine's thread scheduling cannot reorder them)
for k, t in enumerate([0.14, 1.30, 2.62, 2.632, 2.644]):
    rows.append(dict(id="s%d" % k, t=t, chars=80, out=10, conf=0.9, status=200))
# The response cache (cache: ttl_s 1): key k1 at temperature 0 (a miss, a hit, then a miss past
# the TTL), k2 sampled with a fixed seed (a miss, a hit), k3 sampled without one (never looked up).
for rid, t, key, temp, seed in [("c0", 0.54, "k1", 0, None), ("c1", 0.86, "k1", 0, None), ("c2", 1.18, "k2", 0.8, 7),
                                 ("c3", 1.50, "k2", 0.8, 7), ("c4", 1.82, "k3", 0.9, None),
                                 ("c5", 2.06, "k3", 0.9, None), ("c6", 2.30, "k1", 0, None)]:
    rows.append(dict(id=rid, t=t, chars=300, out=4, conf=0.9, status=200, key=key, temp=temp, seed=seed))
rows.sort(key=lambda r: r["t"])
trace = os.path.join(T, "trace.csv")
with open(trace, "w") as f:
    f.write("id,t_s,prompt_chars,in_tokens,out_tokens,confidence,status,temperature,seed,cache_key\n")
    for r in rows:
        f.write("%s,%.3f,%d,%d,%d,%.2f,%d,%s,%s,%s\n" % (
            r["id"], r["t"], r["chars"], r["chars"] // 4, r["out"], r["conf"], r["status"],
            "" if r.get("temp") is None else r["temp"], "" if r.get("seed") is None else r["seed"], r.get("key", "")))

# ---- the backend and the pipeline ----
STEPS = {"student": [1500, 10, 2500], "student-b": [1000, 8, 2000], "teacher": [3000, 20, 4000],
         "small": [2000, 5, 3000]}
pf = os.path.join(T, "backend.port")
be = spawn([PY, os.path.join(ROOT, "tests/e2e/lib/trace_backend.py"), "--port-file", pf, "--tiers",
            json.dumps(STEPS), "--silent", "small"], "backend.log")
port = _wait_file(pf, be, "trace backend")


def tier(name, cost, replicas, extra=""):
    b0, tok, row = STEPS[name]
    return ("  - {name: %s, url: \"http://127.0.0.1:%d/v1\", model: %s, cost_per_hour: %s, replicas: %d,\n"
            "     max_concurrency: 1, scheduler: {max_num_seqs: 1, max_num_batched_tokens: 2048},%s\n"
            "     step: {b0_us: %d, prefill_token_us: %d, decode_row_us: %d}}\n" % (name, port, name, cost, replicas,
                                                                                 extra, b0, tok, row))


PIPE = ("tiers:\n" + tier("student", "2.7", 2) + tier("student-b", "1.9", 1) + tier("teacher", "7.3", 1) +
        tier("small", "1.1", 1, " cost_share: in_flight,") + """routes:
  - {name: short, match: {endpoint: chat, max_prompt_chars: 120}, tier: small}
  - name: main
    match: {endpoint: chat}
    cascade: {first: student, then: teacher, min_confidence: 0.5, escalate_on_error: true}
canary:
  - {route: main, baseline: student, candidate: student-b, weight_percent: 40, shadow_percent: 0,
     rollback: {error_rate: 0.2, window_s: 60, min_samples: 3}}
limits: {max_queue: 1, request_timeout_s: 20}
cache: {ttl_s: 1}
""")

# ---- (a) the live gateway ----
t_wall = time.time()
gw = Gateway(PIPE, extra=["--seed", "4"])
results = {}


def send(r):
    # rows with one cache key send one body (only the X-Request-Id differs)
    content = ("rid=%s;conf=%.2f;status=%d;" % (r.get("key", r["id"]), r["conf"], r["status"])).ljust(r["chars"], "x")
    body = {"model": "assistant", "max_tokens": r["out"], "messages": [{"role": "user", "content": content}]}
    if r.get("temp") is not None:
        body["temperature"] = r["temp"]
    if r.get("seed") is not None:
        body["seed"] = r["seed"]
    if r["id"].startswith("s"):
        body["stream"] = True
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    c.request("POST", "/v1/chat/completions", body=json.dumps(body),
              headers={"Content-Type": "application/json", "X-Request-Id": r["id"]})
    resp = c.getresponse()
    resp.read()
    results[r["id"]] = resp.status
    c.close()


t0 = time.time() + 0.2
threads = []
for r in rows:
    time.sleep(max(0.0, t0 + r["t"] - time.time()))
    th = threading.Thread(target=send, args=(r,))
    th.start()
    threads.append(th)
for th in threads:
    th.join(30)
deadline = time.time() + 10
while time.time() < deadline and len(gw.telemetry()) < len(rows):
    time.sleep(0.05)
live = {}
for rec in gw.telemetry():
    live[rec["request_id"]] = rec
check(len(live) == len(rows), "telemetry has %d of %d requests" % (len(live), len(rows)))

# ---- (b) the simulator ----
recs = os.path.join(T, "records.jsonl")
out = subprocess.run([BIN, "plan", "--pipeline", gw.cfg, "--trace", trace, "--records", recs, "--seed", "4",
                      "--json"], capture_output=True, text=True, timeout=60)
check(out.returncode == 0, "plan --pipeline --trace failed: %s" % out.stderr)
sim = {}
for line in open(recs):
    rec = json.loads(line)
    sim[rec["request_id"]] = rec

# ---- the contract ----
n_esc = n_cand = n_429 = n_400 = n_500 = n_inflight = 0
for r in rows:
    a, b = live.get(r["id"]), sim.get(r["id"])
    if not check(a is not None and b is not None, "%s: missing on one side" % r["id"]):
        continue
    first_a = a["first_tier"] if a["escalated"] else a["tier"]
    got_a = (a["route"], first_a, a["tier"], a["escalated"], a["canary_candidate"], a["status"],
             round(a["cost_busy_usd"] * 1e9))
    got_b = (b["route"], b["first_tier"], b["tier"], b["escalated"], b["canary_candidate"], b["status"],
             b["cost_nusd"])
    if a["tier"] == "small" and a["status"] == 200:
        # in-flight sharing: the simulator's share is its steps' sum (one call at a time); the
        # gateway's is what its clock saw of the call, the backend's sleep plus the HTTP hop
        b0, tok, row = STEPS["small"]
        closed = int(1.1e9 * ((b0 + tok * (r["chars"] // 4)) + (r["out"] - 1) * (b0 + row)) * 1000 // 3.6e12)
        check(got_b[6] == closed, "%s: the simulator's in-flight charge %d nUSD, closed form %d" % (r["id"], got_b[6], closed))
        hop = 0.25 * 1.1e9 / 3600   # up to 250 ms of the gateway's clock beyond the scripted steps
        check(closed <= got_a[6] <= closed + hop, "%s: the gateway's in-flight charge %d nUSD, steps %d (+%.0f at most)"
              % (r["id"], got_a[6], closed, hop))
        got_a, got_b = got_a[:6], got_b[:6]
        n_inflight += 1
    check(got_a == got_b, "%s: gateway (route, first, tier, escalated, candidate, status, nUSD) %s != planner %s"
          % (r["id"], got_a, got_b))
    check(results.get(r["id"]) == a["status"], "%s: client saw %s, telemetry says %s" % (r["id"], results.get(r["id"]),
                                                                                     a["status"]))
    n_esc += a["escalated"]
    n_cand += a["canary_candidate"]
    n_429 += a["status"] == 429
    n_400 += a["status"] == 400
    n_500 += r["status"] == 500 and a["escalated"]
# The response cache: the same hits on both sides (no tier, cost 0), looked up as the rule says.
hits_live = sorted(i for i, a in live.items() if a.get("cache") == "hit")
hits_sim = sorted(i for i, b in sim.items() if b["tier"] is None and b["status"] == 200)
check(hits_live == ["c1", "c3"] and hits_sim == hits_live, "cache hits: gateway %s, planner %s (c1, c3 expected)"
      % (hits_live, hits_sim))
check([live.get(i, {}).get("cache") for i in ("c0", "c2", "c4", "c5", "c6")] == ["miss", "miss", None, None, "miss"],
      "misses and skips: c0, c2, c6 (past the TTL) looked up; c4, c5 sampled, never")
# The trace must exercise every rule it is meant to.
check(n_esc >= 5 and n_cand >= 3 and n_429 == 1 and n_400 == 2 and n_500 == 5 and n_inflight == 4,
      "trace coverage: %d escalated, %d canary, %d 429, %d 400, %d 5xx re-asked, %d charged in flight"
      % (n_esc, n_cand, n_429, n_400, n_500, n_inflight))
cand_after = [r["id"] for r in rows if live.get(r["id"], {}).get("canary_candidate")]
pred = json.loads(out.stdout) if out.returncode == 0 else {}
check(pred.get("canary_rollbacks") == 1, "the candidate's failures roll the canary back once (got %s)" %
      pred.get("canary_rollbacks"))
cost_live = sum(round(a["cost_busy_usd"] * 1e9) for a in live.values())
print("%d requests: %d escalated, %d canary (last %s), %d refused 429, %d 4xx kept; %d nUSD on both sides; %.1f s"
      % (len(rows), n_esc, n_cand, cand_after[-1] if cand_after else "-", n_429, n_400, cost_live,
         time.time() - t_wall))
finish()
