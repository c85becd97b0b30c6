#!/usr/bin/env python3
"""Writes synthetic gateway telemetry (the records src/serve/gateway.c writes, docs/telemetry.md)
with known distributions, for `rightsize report` tests and its benchmark.

Arrivals: Poisson at --rate req/s, modulated by a day profile (--peak-to-average at --peak-hour,
a sinusoid) when given. Prompt tokens: lognormal (mean --in-mean, CV --in-cv); output: lognormal
(mean --out-mean, CV --out-cv); each rounded, at least 1. Two routes; route "chat" is a cascade
(tier "small" first, escalated to "big" with probability --escalation); route "api" goes to
"big". A fraction --err-rate of requests is rejected with 429. Records are written in the order
requests end, like the gateway does. --truth FILE writes the exact figures (sorted lists, exact
decimal sums) for the test to compare with.
"""
import argparse, json, math, random, sys
from decimal import Decimal

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=10000)
ap.add_argument("--rate", type=float, default=5.0)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--start", default="2026-03-02T00:00:00Z")   # a Monday
ap.add_argument("--peak-to-average", type=float, default=1.0)
ap.add_argument("--peak-hour", type=float, default=14.0)
ap.add_argument("--in-mean", type=float, default=400)
ap.add_argument("--in-cv", type=float, default=0.8)
ap.add_argument("--out-mean", type=float, default=150)
ap.add_argument("--out-cv", type=float, default=0.6)
ap.add_argument("--escalation", type=float, default=0.2)
ap.add_argument("--err-rate", type=float, default=0.01)
ap.add_argument("--idle", action="store_true", help="records carry a cost_idle_usd share (newer schema)")
ap.add_argument("--out", required=True)
ap.add_argument("--truth")
a = ap.parse_args()
rng = random.Random(a.seed)

def lognormal(mean, cv):
    s2 = math.log(1 + cv * cv)
    return max(1, round(rng.lognormvariate(math.log(mean) - s2 / 2, math.sqrt(s2))))

def ts(t):
    days, sod = divmod(t, 86400)
    import datetime
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(days=int(days))
    h, rem = divmod(sod, 3600)
    m, s = divmod(rem, 60)
    return "%04d-%02d-%02dT%02d:%02d:%09.6fZ" % (d.year, d.month, d.day, int(h), int(m), s)

import datetime
t0 = (datetime.datetime.strptime(a.start, "%Y-%m-%dT%H:%M:%SZ") - datetime.datetime(1970, 1, 1)).total_seconds()
A = a.peak_to_average - 1.0      # intensity 1 + A cos(2 pi (h - peak)/24): mean 1, peak 1 + A
lam_max = a.rate * (1 + max(A, 0))
recs = []
t = t0
while len(recs) < a.n:
    t += rng.expovariate(lam_max)                      # thinning
    h = ((t - t0) / 3600.0 + (t0 % 86400) / 3600.0) % 24
    if rng.random() > (1 + A * math.cos(2 * math.pi * (h - a.peak_hour) / 24)) / (1 + max(A, 0)):
        continue
    i = len(recs)
    route = "chat" if rng.random() < 0.7 else "api"
    pin, pout = lognormal(a.in_mean, a.in_cv), lognormal(a.out_mean, a.out_cv)
    rejected = rng.random() < a.err_rate
    esc = route == "chat" and not rejected and rng.random() < a.escalation
    tier = "big" if route == "api" or esc else "small"
    queue = rng.expovariate(1 / 5.0)
    ttft = queue + 20 + pin * 0.05
    tpot = 8 + rng.random() * 4
    e2e = 0.4 if rejected else ttft + (pout - 1) * tpot
    cost = 0 if rejected else round((pin * 2e-8 + pout * 1e-7) * (3 if tier == "big" else 1) * (1.5 if esc else 1), 9)
    idle = round(cost * 0.25, 9) if a.idle and not rejected else 0
    rec = {"id": "req-%d" % i, "time": None, "endpoint": "chat", "route": route,
           "decision": "cascade" if route == "chat" else "route", "reason": None, "tier": tier,
           "first_tier": "small" if esc else None, "replica": 0, "model": "m-" + tier, "requested_model": None,
           "accelerator": "cpu", "quantization": "q8_0", "canary_candidate": False, "escalated": esc,
           "stream": True, "prompt_chars": pin * 4,
           "prompt_tokens": None if rejected else pin, "output_tokens": None if rejected else pout,
           "queue_ms": round(queue, 3), "batch_size": 1, "ttft_ms": None if rejected else round(ttft, 3),
           "tpot_ms": None if rejected else round(tpot, 3), "e2e_ms": round(e2e, 3),
           "finish_reason": None if rejected else "stop", "confidence": None,
           "status": 429 if rejected else 200, "attempts": 1, "cost_usd": "%.9f" % cost,
           "cost_busy_usd": "%.9f" % (cost - idle), "cost_idle_usd": "%.9f" % idle,
           "first_tier_cost_usd": "%.9f" % 0}
    if a.idle:
        rec["schema_version"] = 2
    recs.append((t + rec["e2e_ms"] / 1000.0, t, rec))
recs.sort(key=lambda x: x[0])
with open(a.out, "w") as f:
    for end, arr, rec in recs:
        rec["time"] = ts(end)
        # Money as JSON numbers with 9 decimals, like gateway.c writes them.
        line = json.dumps(rec, separators=(",", ":"))
        for k in ("cost_usd", "cost_busy_usd", "cost_idle_usd", "first_tier_cost_usd"):
            line = line.replace('"%s":"%s"' % (k, rec[k]), '"%s":%s' % (k, rec[k]))
        f.write(line + "\n")
if a.truth:
    ok = [r for _, _, r in recs if r["status"] == 200]
    truth = {
        "n": len(recs),
        "rate": a.rate,
        "cost_usd": str(sum(Decimal(r["cost_usd"]) for _, _, r in recs)),
        "idle_usd": str(sum(Decimal(r["cost_idle_usd"]) for _, _, r in recs)),
        "e2e_ok": sorted(r["e2e_ms"] for r in ok),
        "ttft_ok": sorted(r["ttft_ms"] for r in ok),
        "prompt": sorted(r["prompt_tokens"] for r in ok),
        "output": sorted(r["output_tokens"] for r in ok),
        "n_429": sum(1 for _, _, r in recs if r["status"] == 429),
        "chat_ok": sum(1 for _, _, r in recs if r["route"] == "chat" and r["status"] == 200),
        "escalated": sum(1 for _, _, r in recs if r["escalated"]),
        "cascade": sum(1 for _, _, r in recs if r["decision"] == "cascade"),
        "by_tier": {t: str(sum(Decimal(r["cost_usd"]) for _, _, r in recs if r["tier"] == t)) for t in ("small", "big")},
        "first_arrival": recs and min(x[1] for x in recs),
        "last_arrival": recs and max(x[1] for x in recs),
    }
    json.dump(truth, open(a.truth, "w"))
