#!/usr/bin/python3
"""The gateway's response cache (docs/serve.md, Response cache), through curl:
  * a deterministic request (temperature 0) is a miss, then a hit that returns the same bytes —
    a worker's answer carries a fresh id and timestamp, so only the cache can repeat them —
    marked `x-rightsize-cache: hit`, costing $0, plain and streamed (the stored SSE replayed);
  * the key is canonical: other key order, or a `user` field, still hits;
  * sampled requests (temperature > 0 without a seed, or no temperature) never hit: every one
    reaches the backend; a fixed seed makes a request cacheable;
  * Cache-Control: no-store is never looked up;
  * the TTL and the byte bound evict (the backend is asked again; evictions_total{reason});
  * telemetry marks hits (`cache: "hit"`, no tier, cost 0) and the ledger still balances;
  * `serve --check` refuses a cache section whose entry bound exceeds its byte bound."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, T, Gateway, check, fake_backend, finish, synth  # noqa: E402

model = synth("student", 21)
calls = os.path.join(T, "fake-calls.jsonl")
_, fport = fake_backend("fake", log=calls)
gw = Gateway("""
tiers:
  - {name: student, model: %s, cost_per_hour: 3600}
  - {name: fake, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 360}
routes:
  - {match: {endpoint: completions}, tier: student}
  - {match: {endpoint: chat}, tier: fake}
cache: {max_bytes: 6000, max_entries: 100, ttl_s: 1.5, max_entry_bytes: 4000}
""" % (model, fport))
check(gw.wait_ready("student"), "worker ready")


def curl(path, body, headers=()):
    """POST with curl: (status, lower-case headers, body bytes)."""
    hf, bf = os.path.join(T, "h.txt"), os.path.join(T, "b.bin")
    argv = ["curl", "-sS", "-N", "--max-time", "30", "-o", bf, "-D", hf, "-H", "Content-Type: application/json",
            "--data-binary", body if isinstance(body, str) else json.dumps(body)]
    for h in headers:
        argv += ["-H", h]
    subprocess.run(argv + ["http://127.0.0.1:%d%s" % (gw.port, path)], check=True)
    lines = open(hf, errors="replace").read().splitlines()
    status = int(lines[0].split()[1])
    hdrs = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    return status, hdrs, open(bf, "rb").read()


def n_calls():
    return sum(1 for _ in open(calls)) if os.path.exists(calls) else 0


# ---- plain and streamed hits: the same bytes, marked, free ----
req = {"model": "student", "prompt": "the cache test", "max_tokens": 8, "temperature": 0}
s1, h1, b1 = curl("/v1/completions", req)
s2, h2, b2 = curl("/v1/completions", req)
check(s1 == 200 and h1.get("x-rightsize-cache") == "miss", "first: 200 miss (%d %s)" % (s1, h1.get("x-rightsize-cache")))
check(float(h1.get("x-rightsize-cost-usd", 0)) > 0, "a miss costs its replica share")
check(s2 == 200 and h2.get("x-rightsize-cache") == "hit", "second: hit (%s)" % h2.get("x-rightsize-cache"))
check(b1 == b2, "a hit returns identical bytes")
check(h2.get("x-rightsize-cost-usd") == "0.000000000", "a hit costs nothing (%s)" % h2.get("x-rightsize-cost-usd"))
# the same request spelled differently: key order, a field that never changes the answer
reordered = '{"temperature": 0, "max_tokens": 8, "user": "someone", "prompt": "the cache test", "model": "student"}'
s3, h3, b3 = curl("/v1/completions", reordered)
check(h3.get("x-rightsize-cache") == "hit" and b3 == b1, "canonical key: reordered + user hits")
# streamed: the first is passed through and stored, the second replays the stored stream
sreq = dict(req, stream=True, prompt="a streamed one")
s4, h4, b4 = curl("/v1/completions", sreq)
s5, h5, b5 = curl("/v1/completions", sreq)
check(s4 == 200 and h4.get("x-rightsize-cache") == "miss" and b4.endswith(b"data: [DONE]\n\n"), "stream miss, complete")
check(h5.get("x-rightsize-cache") == "hit" and h5.get("content-type", "").startswith("text/event-stream"),
      "stream hit is an event stream")
check(b5 == b4, "a streamed hit replays identical bytes")
# a streamed and a plain request are different entries
s6, h6, _ = curl("/v1/completions", dict(sreq, stream=False))
check(h6.get("x-rightsize-cache") == "miss", "plain after streamed: its own entry")

# ---- sampled requests never hit; a seed makes one cacheable ----
c0 = n_calls()
for body in ({"messages": [{"role": "user", "content": "hot"}], "temperature": 0.7},
             {"messages": [{"role": "user", "content": "hot"}]}):
    for _ in range(2):
        s, h, _ = curl("/v1/chat/completions", body)
        check(s == 200 and "x-rightsize-cache" not in h, "sampled request: no cache header")
check(n_calls() - c0 == 4, "every sampled request reached the backend (%d of 4)" % (n_calls() - c0))
seeded = {"messages": [{"role": "user", "content": "seeded"}], "temperature": 0.9, "seed": 42}
c0 = n_calls()
_, ha, ba = curl("/v1/chat/completions", seeded)
_, hb, bb = curl("/v1/chat/completions", seeded)
check(ha.get("x-rightsize-cache") == "miss" and hb.get("x-rightsize-cache") == "hit" and ba == bb, "seeded: miss, hit")
check(n_calls() - c0 == 1, "the seeded hit did not reach the backend")
c0 = n_calls()
_, hn, _ = curl("/v1/chat/completions", seeded, ["Cache-Control: no-store"])
check("x-rightsize-cache" not in hn and n_calls() - c0 == 1, "no-store: not looked up")

# ---- TTL ----
time.sleep(1.7)
c0 = n_calls()
_, ht, _ = curl("/v1/chat/completions", seeded)
check(ht.get("x-rightsize-cache") == "miss" and n_calls() - c0 == 1, "after the TTL: a miss, asked again")
time.sleep(0.2)
check(gw.metric("rightsize_response_cache_evictions_total", 'reason="ttl"') >= 1, "ttl evictions counted")

# ---- the byte bound: ~2.2 KB entries, 6000 bytes hold two ----
big = [{"messages": [{"role": "user", "content": ch * 1000}], "temperature": 0} for ch in "xyz"]
for b in big:
    _, hm, _ = curl("/v1/chat/completions", b)
    check(hm.get("x-rightsize-cache") == "miss", "big entry: miss")
c0 = n_calls()
_, hz, _ = curl("/v1/chat/completions", big[2])
check(hz.get("x-rightsize-cache") == "hit", "the newest big entry stays")
_, hx, _ = curl("/v1/chat/completions", big[0])
check(hx.get("x-rightsize-cache") == "miss" and n_calls() - c0 == 1, "the least recently used big entry was evicted")
time.sleep(0.2)
m_bytes = gw.metric("rightsize_response_cache_bytes")
check(0 < m_bytes <= 6000, "bytes gauge within the bound (%g)" % m_bytes)
check(gw.metric("rightsize_response_cache_evictions_total", 'reason="lru"') >= 1, "lru evictions counted")
hits, misses = gw.metric("rightsize_response_cache_hits_total"), gw.metric("rightsize_response_cache_misses_total")
check(hits == 5, "hits_total %g == 5" % hits)
check(misses == 9, "misses_total %g == 9" % misses)
check(gw.metric("rightsize_response_cache_skipped_total", 'reason="sampled"') == 4, "4 sampled skips")

# ---- telemetry and the ledger ----
time.sleep(0.2)
led = gw.ledger()
recs = gw.telemetry()
hit_recs = [r for r in recs if r.get("cache") == "hit"]
check(len(hit_recs) == 5, "5 hit records (%d)" % len(hit_recs))
check(all(r["cost_usd"] == 0 and r["tier"] is None and r["status"] == 200 for r in hit_recs),
      "hit records: no tier, cost 0, status 200")
check(all(r["route"] for r in hit_recs), "hit records name their route")
check(sum(1 for r in recs if r.get("cache") == "miss") == 9, "9 miss records")
total = sum(round(r["cost_busy_usd"] * 1e9) for r in recs)
check(led["attributed_nusd"] == total, "ledger attributed %d == telemetry %d" % (led["attributed_nusd"], total))
check(led["busy_nusd"] == led["attributed_nusd"], "busy == attributed (no shadows)")

# ---- SIGHUP: an unchanged section keeps the entries; a changed one starts an empty cache ----
req = dict(req, prompt="reload")
curl("/v1/completions", req)
_, hk, _ = curl("/v1/completions", req)
check(hk.get("x-rightsize-cache") == "hit", "before the reload: hit")
cfg = open(gw.cfg).read()
os.kill(gw.proc.pid, signal.SIGHUP)
time.sleep(0.4)
_, hk, _ = curl("/v1/completions", req)
check(hk.get("x-rightsize-cache") == "hit", "same cache: section after SIGHUP: entries kept")
with open(gw.cfg, "w") as f:
    f.write(cfg.replace("ttl_s: 1.5", "ttl_s: 30"))
os.kill(gw.proc.pid, signal.SIGHUP)
time.sleep(0.4)
_, hk, _ = curl("/v1/completions", req)
check(hk.get("x-rightsize-cache") == "miss", "changed cache: section after SIGHUP: an empty cache")
with open(gw.cfg, "w") as f:
    f.write(cfg.replace("cache: {max_bytes: 6000, max_entries: 100, ttl_s: 1.5, max_entry_bytes: 4000}", ""))
os.kill(gw.proc.pid, signal.SIGHUP)
time.sleep(0.4)
_, hk, _ = curl("/v1/completions", req)
check("x-rightsize-cache" not in hk, "section removed after SIGHUP: no cache")
check(gw.stop() == 0, "serve drained")

# ---- serve --check ----
bad = os.path.join(T, "bad.yaml")
with open(bad, "w") as f:
    f.write("tiers:\n  - {name: a, url: http://127.0.0.1:9/v1, model: m}\nroutes:\n  - {tier: a}\n"
            "cache:\n  max_bytes: 5000\n  max_entry_bytes: 9000\n")
r = subprocess.run([BIN, "serve", "--check", bad], capture_output=True, text=True)
check(r.returncode != 0 and "bad.yaml:7" in r.stderr and "max_entry_bytes" in r.stderr,
      "--check names the bad cache key: %s" % r.stderr.strip())
with open(bad, "w") as f:
    f.write("tiers:\n  - {name: a, url: http://127.0.0.1:9/v1, model: m}\nroutes:\n  - {tier: a}\n"
            "cache: {ttl_s: 60, max_entrys: 3}\n")
r = subprocess.run([BIN, "serve", "--check", bad], capture_output=True, text=True)
check(r.returncode != 0 and "max_entrys" in r.stderr, "--check refuses an unknown cache key: %s" % r.stderr.strip())
finish()
