#!/usr/bin/python3
"""plan with a workload cache: section: the Caches section and cache_savings in --json — removing a
cache never lowers the busy replica time, removing both costs the most, and without a cache:
section there is no cache_savings (tests/test_sim_cache.c checks the simulator's closed forms)."""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("RS_BIN", "build/rightsize")
ROOT = os.environ.get("RS_ROOT", ".")
fails = []


def check(c, m):
    if not c:
        fails.append(m)
        print("FAIL:", m)


with tempfile.TemporaryDirectory(prefix="rs-plan-cache.") as t:
    base = open(os.path.join(ROOT, "data/workloads/support-assistant.yaml")).read()
    wl = os.path.join(t, "w.yaml")
    with open(wl, "w") as f:
        f.write(base + "\ncache: {response_hit_rate: 0.3, shared_prefix_tokens: 300, prefix_hit_rate: 0.8}\n")
    run = lambda *a: subprocess.run([BIN, "plan", *a, "--quiet", "--horizon-hours", "2"], capture_output=True,
                                    text=True, timeout=120)
    r = run(wl, "--json")
    check(r.returncode == 0, "plan --json: %s" % r.stderr[-300:])
    j = json.loads(r.stdout)
    cs = j.get("cache_savings")
    check(cs is not None, "cache_savings present")
    if cs:
        check(cs["response_hit_rate"] == 0.3 and cs["shared_prefix_tokens"] == 300, "the workload's keys echoed")
        pb = cs["plan_busy_usd_month"]
        for k in ("without_caches", "without_response_cache", "without_prefix_cache"):
            check(cs[k]["busy_usd_month"] > pb, "%s uses more replica time (%g > %g)" % (k, cs[k]["busy_usd_month"], pb))
        check(cs["without_caches"]["busy_usd_month"] >= max(cs["without_response_cache"]["busy_usd_month"],
                                                            cs["without_prefix_cache"]["busy_usd_month"]),
              "without both caches uses the most")
        # a 30% response hit rate removes about 30% of the requests' replica time
        frac = 1 - pb / cs["without_response_cache"]["busy_usd_month"]
        check(0.15 < frac < 0.45, "response cache saves %.2f of the busy time (0.3 expected)" % frac)
    r = run(wl)
    check("== Caches" in r.stdout and "without the prefix cache" in r.stdout, "text report has the Caches section")
    r = run(os.path.join(ROOT, "data/workloads/support-assistant.yaml"), "--json")
    check(r.returncode == 0 and "cache_savings" not in json.loads(r.stdout), "no cache: section, no cache_savings")
if fails:
    sys.exit(1)
print("all checks passed")
