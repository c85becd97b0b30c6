#!/bin/sh
# The loop end to end on the `tiny` shape, in seconds (scripts/loop.sh): calibrate a live worker ->
# a one-machine CPU catalog with that profile -> plan --json --emit -> serve the emitted pipeline
# -> bench --workload through it -> report --plan with /metrics scraped at both ends. Checks the
# plumbing and the accounting, not the accuracy (scripts/bench.d/90-loop measures that): every
# benched request is a telemetry record, the cost is busy + idle and matches the price times the
# time between the scrapes, and predicted vs measured has its rows; a cascade with a canary shows
# its escalations, tiers and canary arms, and is set against `plan --pipeline` of what was served.
set -u
BIN=${RS_BIN:-build/rightsize}
ROOT=${RS_ROOT:-.}
T=$(mktemp -d /tmp/rs-loop.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
"$BIN" gguf synth --shape tiny --type q8_0 -q -o "$T/tiny.gguf" || exit 1
for kind in steady cascade; do
    if ! LOOP_RATE=6 LOOP_CAL_ROUNDS=2 RS_BIN="$BIN" timeout 120 sh "$ROOT/scripts/loop.sh" "$T/$kind" "$T/tiny.gguf" "$kind" 4 2 \
        2>"$T/$kind.log"; then
        echo "FAIL: loop $kind: $(tail -5 "$T/$kind.log")"; fails=$((fails + 1)); continue
    fi
    /usr/bin/python3 - "$T/$kind" "$kind" <<'PYEOF' || fails=$((fails + 1))
import json, math, re, sys
d, kind = sys.argv[1:3]
r = json.load(open(f"{d}/report.json"))
b = json.load(open(f"{d}/bench.json"))
p = json.load(open(f"{d}/plan.json"))
bad = []
def check(c, m):
    if not c: bad.append(m)
check(r["inputs"]["records"] == b["requests"]["sent"] and r["inputs"]["corrupt_lines"] == 0,
      "records %s vs sent %s" % (r["inputs"]["records"], b["requests"]["sent"]))
check(r["overall"]["successful"] == b["requests"]["ok"], "successful %s vs ok %s" % (r["overall"]["successful"], b["requests"]["ok"]))
c = r["cost"]
check(c["idle_source"] == "metrics" and c["idle_usd"] > 0, "idle cost from the scrapes: %s" % c)
check(abs(c["usd"] - (c["busy_usd"] + c["idle_usd"])) < 1e-9, "busy + idle != total: %s" % c)
# Replica time x price: every replica the pipeline runs is charged between the two scrapes.
price = sum(float(x) for x in re.findall(r"cost_per_hour: ([0-9.]+)", open(f"{d}/pipeline.yaml").read()))
def scrape_total(f):
    return sum(float(l.split()[-1]) for l in open(f) if l.startswith("rightsize_cost_usd_total{") and 'kind="shadow"' not in l)
span_cost = scrape_total(f"{d}/metrics-end.txt") - scrape_total(f"{d}/metrics-start.txt")
check(0.5 * price * 2 / 3600 < span_cost < price * 60 / 3600, "cost between scrapes %g at $%g/h" % (span_cost, price))
check(abs(c["usd"] - span_cost) <= 0.05 * span_cost + 1e-7, "report total %g vs the scrapes' %g" % (c["usd"], span_cost))
rows = {x["figure"]: x for x in r["plan"]["compare"]}
for k in ("accelerator $/1K requests", "accelerator $/1K at the measured rate", "e2e p50", "e2e p95"):
    check(k in rows and rows[k]["measured"] > 0 and rows[k]["predicted"] > 0 and math.isfinite(rows[k]["error"]), "row %s: %s" % (k, rows.get(k)))
# The replay of the bench's own arrivals: every sent request, routed as the gateway routed it (the
# cascade's escalations from the records' confidences), and compared in report-replay.json.
rp = json.load(open(f"{d}/plan-replay.json"))
check(rp["arrived"] == b["requests"]["sent"] and rp["unrouted"] == 0 and rp["completed"] == b["requests"]["ok"],
      "replay: %s vs bench %s" % ({k: rp[k] for k in ("arrived", "unrouted", "completed")}, b["requests"]))
if kind == "cascade":
    check(rp["escalated"] == r["overall"]["escalated"], "replay escalated %s vs measured %s" % (rp["escalated"], r["overall"]["escalated"]))
    # the same rate on both clocks: escalated over every request that met the cascade's first call,
    # the canary's candidate in its place included
    re_ = {x["figure"]: x for x in json.load(open(f"{d}/report-replay.json"))["plan"]["compare"]}.get("escalation rate", {})
    check(re_.get("predicted") is not None and abs(re_["predicted"] - re_["measured"]) < 1e-9,
          "replay escalation rate %s vs measured %s" % (re_.get("predicted"), re_.get("measured")))
rr = {x["figure"]: x for x in json.load(open(f"{d}/report-replay.json"))["plan"]["compare"]}
check(rr.get("e2e p50", {}).get("predicted", 0) > 0, "replay row e2e p50: %s" % rr.get("e2e p50"))
check("betas: {b0_us:" in open(f"{d}/profiles-after/main.yaml").read(), "no calibration after the bench")
# The cold probe (calibrate --idle-ms) reaches the profile, the emitted pipeline and its replay.
check(open(f"{d}/profiles/main.yaml").read().count("- {after_us: ") >= 1, "profile's cold rows")
check("cold: [{after_us: " in open(f"{d}/pipeline.yaml").read(), "pipeline's cold rows")
# The spread (2 rounds: 36 requests at concurrency 1) reaches the profile, the pipeline and the mid replay.
check("\n  spread: [" in open(f"{d}/profiles/main.yaml").read(), "profile's spread")
check(re.search(r",\s+spread: \[", open(f"{d}/pipeline.yaml").read()), "pipeline's spread")
check(", spread: [" in open(f"{d}/pipeline-mid.yaml").read(), "mid pipeline's spread")
# The replay at the bench's speed (the mean of the calibrations before and after) has its rows too.
rm = {x["figure"]: x for x in json.load(open(f"{d}/report-replay-mid.json"))["plan"]["compare"]}
check(rm.get("e2e p50", {}).get("predicted", 0) > 0, "mid replay row e2e p50: %s" % rm.get("e2e p50"))
if kind == "cascade":
    # the prediction is the served pipeline's (plan --pipeline), with its escalations
    check(p["schema"] == "rightsize.pipeline/1" and r["plan"]["schema"] == "rightsize.pipeline/1", "pipeline prediction")
    check("escalation rate" in rows and rows["escalation rate"]["predicted"] > 0, "predicted escalation %s" % rows.get("escalation rate"))
    y = open(f"{d}/pipeline.yaml").read()
    check(y.count("request_overhead_us:") == 3, "every served tier carries the calibrated overhead (the gateway's hop)")
    # The co-location probe (calibrate --neighbour-model against a second worker) reaches the
    # profile, and the three tiers of the pipeline share one host with that factor.
    m = re.search(r"\n  colocated: ([0-9.]+)\n", open(f"{d}/profiles/main.yaml").read())
    check(m and float(m.group(1)) >= 1, "profile's colocated factor")
    check(y.count("planner: {host: this-machine, ") == 3 and len(re.findall(r",\s+colocated: [0-9.]+", y)) == 3,
          "pipeline's host and colocated")
    check(", colocated: " in open(f"{d}/pipeline-mid.yaml").read(), "mid pipeline's colocated")
else:
    check(r["plan"]["id"] == p["plan"]["id"], "plan id")
if kind == "cascade":
    tiers = {t["name"]: t["requests"] for t in r["tiers"]}
    check({"student", "main"} <= set(tiers), "tiers %s" % tiers)
    check(r["traffic"]["escalation_rate"] is not None and r["overall"]["escalated"] > 0, "escalations %s" % r["overall"]["escalated"])
    check(len(r["canaries"]) == 1 and r["canaries"][0]["candidate"]["requests"] > 0, "canary arms %s" % r["canaries"])
else:
    # One fixed replica: the cost per request at the measured rate is the plan's, up to the
    # few seconds of the gateway's life outside the bench.
    e = rows["accelerator $/1K at the measured rate"]["error"]
    check(abs(e) < 0.35, "$/1K at the measured rate off by %.0f%%" % (100 * e))
for m in bad: print("FAIL (%s):" % kind, m)
print("%s: %d records, $/1K %.4g measured vs %.4g planned, e2e p50 %.1f vs %.1f ms" % (kind, r["inputs"]["records"],
      rows["accelerator $/1K requests"]["measured"], rows["accelerator $/1K requests"]["predicted"],
      rows["e2e p50"]["measured"], rows["e2e p50"]["predicted"]))
sys.exit(1 if bad else 0)
PYEOF
done
[ $fails -eq 0 ] && echo "all checks passed" && exit 0
echo "$fails checks failed"; exit 1
