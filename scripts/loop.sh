#!/bin/sh
# scripts/loop.sh — the whole loop on this machine, for one workload:
#   calibrate a local worker through a gateway (`serve` + `calibrate --url`: the gateway's hop is
#   in the profile's request_overhead_us, and the machine runs the processes the bench will) -> a
#   CPU hardware entry and a model entry carrying that profile (a one-machine catalog) ->
#   `plan --json --emit` -> `serve` the emitted pipeline with its tier pointed at the worker
#   (the cascade: the served pipeline, student + teacher + canary, predicted by `plan --pipeline`)
#   -> `bench --workload` open loop through the gateway -> `report --plan` on the gateway's
#   telemetry, with /metrics scraped at the start and end of the bench for the idle cost.
# usage: scripts/loop.sh DIR MODEL.gguf KIND DURATION_S [SEED]
#   KIND: steady (Poisson chat) | bursty (gamma CV 2.5 chat) | cascade (a student/teacher cascade
#   of two workers, with a canary of a third on the student's place)
# Writes DIR/plan.json (the cascade: the served pipeline's prediction; DIR/search.json the
# search's plan), DIR/pipeline.yaml, DIR/bench.json, DIR/telemetry.jsonl, DIR/report.json,
# DIR/report.txt, DIR/replay.csv + DIR/plan-replay.json + DIR/report-replay.json (the served pipeline
# predicted on the bench's own arrivals), DIR/profiles-after/ (the calibration rerun after the
# bench: how far the machine's speed moved) and DIR/load.txt (the load average at calibration, before and after the bench). Env: RS_BIN (default build/rightsize), LOOP_RATE (req/s, default 2),
# LOOP_OUT_TOKENS (default 16), LOOP_CAL_ROUNDS (calibration rounds, default 5), LOOP_CAL_IDLE_MS
# (the cold probe's longest idle gap, default 4x the mean gap between arrivals, 4000 / LOOP_RATE: its
# gaps, G, G/4 and G/16, then span the exponential gaps the bench's workers see, up to its tail),
# LOOP_IN_WORDS (default 24), LOOP_PRICE (USD/replica-hour, default 1),
# LOOP_SLO_E2E_P95_MS (the workload's SLO, default 30000), LOOP_MIN_CONFIDENCE (the cascade's threshold; the default escalates about 30% of a synthesized
# 512-token vocabulary model's answers, whose mean token probability is near 1/512).
# Every process it starts is stopped on exit.
set -eu
DIR=$1 MODEL=$2 KIND=$3 DUR=$4 SEED=${5:-1}
BIN=${RS_BIN:-build/rightsize}
RATE=${LOOP_RATE:-2}
OUT_T=${LOOP_OUT_TOKENS:-16}
IN_W=${LOOP_IN_WORDS:-24}
PRICE=${LOOP_PRICE:-1}
CAL_ROUNDS=${LOOP_CAL_ROUNDS:-5}
CAL_IDLE_MS=${LOOP_CAL_IDLE_MS:-$(awk "BEGIN { printf \"%d\", 4000 / $RATE }")}
PY=/usr/bin/python3
SEQS=8
TOKS=256
mkdir -p "$DIR/catalog" "$DIR/profiles"
PIDS=""
# SIGTERM first: a gateway stops the workers it started; SIGKILL what is left after 5 s.
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    i=0
    for p in $PIDS; do
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 1' INT TERM
log() { echo "loop[$KIND]: $*" >&2; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() {   # URL PID LOG
    i=0
    until curl -sf "$1/health" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 400 ] || ! kill -0 "$2" 2>/dev/null; then log "did not come up: $(tail -5 "$3")"; exit 1; fi
        sleep 0.05
    done
}
# Prompt words that are one token each (after a space) in MODEL's vocabulary, so an N-word prompt
# is the N tokens the workload and the plan say.
for w in the and to a of was he she in it you that his her is for on with they said had but at as be \
    not we so one all there what this from by were have are up out can day very an or him them little \
    big time go went saw like happy play wanted once upon; do
    ids=$("$BIN" gguf tokenize "$MODEL" --no-bos "a $w" 2>/dev/null) || continue
    [ "$(printf '%s' "$ids" | tr -cd ',' | wc -c)" = 1 ] && printf '%s ' "$w"
done >"$DIR/words.txt"
[ "$(wc -w <"$DIR/words.txt")" -ge 8 ] || { log "fewer than 8 one-token words in $MODEL's vocabulary"; exit 1; }

# 1. Calibration through a gateway in front of one worker, as the bench will run it (one engine
# thread, the same scheduler knobs): the profile's request_overhead_us then holds the HTTP and the
# gateway's hop, and the step times are measured among the same processes. The cascade's two
# models are the same file, so one calibration serves both (the student's profile is a copy).
# The same calibration runs again after the bench (profiles-after/): not used by any prediction,
# it says how far the machine's speed moved while the bench ran. The cascade runs three workers on
# this machine: its calibration serves a second worker beside the first and probes what one busy
# neighbour costs a step (calibrate --neighbour-model: the profile's colocated:), and its pipeline
# puts the three tiers on one host (planner.host), so the simulator charges it to overlapping work.
NB_TIER="" NB_ROUTE=""
if [ "$KIND" = cascade ]; then
    NB_TIER="  - {name: neighbour, model: $MODEL, threads: 1, cost_per_hour: $PRICE, replicas: 1, max_concurrency: $SEQS,
     scheduler: {max_num_seqs: $SEQS, max_num_batched_tokens: $TOKS}}"
    NB_ROUTE="  - {match: {model: neighbour}, tier: neighbour}"
fi
cat >"$DIR/calibration.yaml" <<CAL
tiers:
  - name: main
    model: $MODEL
    threads: 1
    cost_per_hour: $PRICE
    replicas: 1
    max_concurrency: $SEQS
    scheduler: {max_num_seqs: $SEQS, max_num_batched_tokens: $TOKS}
$NB_TIER
routes:
$NB_ROUTE
  - {match: {endpoint: completions}, tier: main}
limits: {max_queue: 64}
CAL
# The calibration's rounds visit every point in turn (calibrate --rounds): its medians average the
# machine's speed over the calibration, not one instant (a shared VM's speed drifts by 10-30% from
# one minute to the next). The points run closed loop (the warm speed); each round also probes
# single requests after idle gaps of LOOP_CAL_IDLE_MS, 1/4 and 1/16 of it (calibrate --idle-ms),
# (open loop), against the same prompt back to back: the profile's cold: rows, which the simulator charges only
# to requests that find their replica idle, as the bench's open-loop arrivals mostly do (halted
# vCPUs and cooled caches at a request's start; calibrating every point after a pause instead
# over-predicted the bursty workload, whose requests mostly queue behind one another). A calibration left with too
# few usable cells (tokens bunched into few stream events on a busy machine) is repeated once with
# three times the rounds.
NEIGHBOUR=""
[ "$KIND" = cascade ] && NEIGHBOUR="--neighbour-model neighbour"
calibrate_into() {   # PROFILE_DIR TAG
    mkdir -p "$1"
    CPORT=$(free_port)
    "$BIN" serve "$DIR/calibration.yaml" --listen "127.0.0.1:$CPORT" >/dev/null 2>"$DIR/calibration-$2-serve.log" &
    CPID=$!
    PIDS="$PIDS $CPID"
    wait_up "http://127.0.0.1:$CPORT" "$CPID" "$DIR/calibration-$2-serve.log"
    log "calibrating synth-main through the gateway at :$CPORT ($2)"
    for rounds in $CAL_ROUNDS $((CAL_ROUNDS * 3)); do
        "$BIN" calibrate --url "http://127.0.0.1:$CPORT/v1" --served-model main --prompt-file "$DIR/words.txt" \
            --prompt-words 8,24,48 --concurrency 1,2,4,8 --output-tokens "$OUT_T" --rounds $rounds \
            --idle-ms "$CAL_IDLE_MS" --hardware local-cpu $NEIGHBOUR \
            --model-id synth-main --quantization int8 -o "$1/main.yaml" >"$DIR/calibrate-$2.txt" 2>&1 && break
        [ $rounds != "$CAL_ROUNDS" ] && { log "calibrate failed: $(tail -3 "$DIR/calibrate-$2.txt")"; exit 1; }
        log "calibrate: $(tail -1 "$DIR/calibrate-$2.txt"); again with $((CAL_ROUNDS * 3)) rounds"
    done
    kill -TERM "$CPID" 2>/dev/null || true
    wait "$CPID" 2>/dev/null || true
}
echo "calibration: $(cut -d' ' -f1-3 /proc/loadavg)" >"$DIR/load.txt"
calibrate_into "$DIR/profiles" main
models="main"
if [ "$KIND" = cascade ]; then
    models="main student"
    sed 's/^  model: "synth-main"/  model: "synth-student"/' "$DIR/profiles/main.yaml" >"$DIR/profiles/student.yaml"
fi

# 2. A one-machine catalog: this CPU at LOOP_PRICE per hour, on demand only; the model's shape
# from the GGUF (quality: the student is marked lower so a cascade has a reason to exist).
shape=$("$BIN" gguf info "$MODEL" | $PY -c '
import re, sys
t = sys.stdin.read()
g = lambda k: re.search(r"llama\." + k + r"\s+u32\s+(\d+)", t).group(1)
print(g("block_count"), g("embedding_length"), g("attention.head_count"), g("attention.head_count_kv"),
      g("feed_forward_length"), g("vocab_size"), g("context_length"))')
set -- $shape
cat >"$DIR/catalog/hardware.yaml" <<HW
hardware:
  - id: local-cpu
    name: this machine, one engine thread
    class: cpu
    tflops: {bf16: 0.05, int8: 0.1}
    memory_gb: 4
    memory_bw_gbs: 5
    interconnect_gbs: 1
    max_devices: 1
    quantizations: [int8]
    derate: {compute: 0.5, bandwidth: 0.5, step_overhead_us: 100}
    startup_s: 1
    spot_interruptions_per_day: 0
    spec_source: "calibrated: profiles/ (rightsize calibrate --url)"
    prices:
      - {kind: on_demand, usd_per_hour: $PRICE, source: "loop test price", date: 2026-12-01, confidence: est}
HW
# The stack: our worker (it reports each request's busy share, so the tier is charged by steps),
# its entry as the repository's catalog has it.
$PY - "$(dirname "$0")/../data/catalog/stacks.yaml" >"$DIR/catalog/stacks.yaml" <<'PY'
import sys
out, keep = ["stacks:"], False
for line in open(sys.argv[1]):
    if line.startswith("  - id:"):
        keep = line.split(":", 1)[1].strip() == "rightsize-worker"
    if keep:
        out.append(line.rstrip("\n"))
if len(out) < 2:
    sys.exit("scripts/loop.sh: no rightsize-worker stack in " + sys.argv[1])
print("\n".join(out))
PY
params=$($PY -c "L,D,F,V=$1,$2,$5,$6; print((L*(4*D*D+3*D*F)+2*V*D)/1e9)")
{
    echo "quality_metric: synthetic"
    echo "models:"
    for m in $models; do
        q=70; [ "$m" = student ] && q=50
        cat <<MD
  - id: synth-$m
    name: synthesized $m
    kind: decoder
    params_b: $params
    layers: $1
    hidden: $2
    heads: $3
    kv_heads: $4
    head_dim: $(($2 / $3))
    ffn: $5
    vocab: $6
    context: $7
    source: "rightsize gguf synth"
    quant:
      - {name: bf16, bytes_per_weight: 2.0, quality: $q}
      - {name: int8, bytes_per_weight: 1.0625, quality: $q}
MD
    done
} >"$DIR/catalog/models.yaml"

# 3. The workload and its plan.
case "$KIND" in
    steady) arr="{process: poisson}" ;;
    bursty) arr="{process: gamma, cv: 2.5}" ;;
    cascade) arr="{process: poisson}" ;;
    *) log "KIND is steady, bursty or cascade"; exit 2 ;;
esac
{
    echo "name: loop-$KIND"
    echo "class: completion"
    echo "rate_per_s: $RATE"
    echo "arrivals: $arr"
    echo "tokens:"
    echo "  input: {dist: fixed, mean: $IN_W}"
    echo "  output: {dist: fixed, mean: $OUT_T}"
    echo "slo: {e2e_p95_ms: ${LOOP_SLO_E2E_P95_MS:-30000}}"
    echo "quality_min: 60"
    [ "$KIND" = cascade ] && echo "cascade: {escalation_rate: 0.3}"
    if [ "$KIND" = cascade ]; then echo "models: [synth-main, synth-student]"; else echo "models: [synth-main]"; fi
} >"$DIR/workload.yaml"
"$BIN" plan "$DIR/workload.yaml" --catalog "$DIR/catalog" --profiles "$DIR/profiles" --horizon-hours 1 --keep 2 \
    --seed "$SEED" --quiet --json --emit "$DIR/pipeline.emitted.yaml" >"$DIR/plan.json" 2>"$DIR/plan.err" \
    || { log "plan failed: $(tail -3 "$DIR/plan.err")"; exit 1; }

# 4. Serve the emitted pipeline as emitted, its local tier running MODEL with one engine thread (as
# calibrated).
GPORT=$(free_port)
$PY - "$DIR" "$MODEL" "$KIND" "${LOOP_MIN_CONFIDENCE:-0.00208}" <<'PYEOF'
import re, sys
d, model, kind, conf = sys.argv[1:5]
y = open(f"{d}/pipeline.emitted.yaml").read()
y = re.sub(r"\n    threads: [^\n]*", "", y)   # one engine thread, as calibrated
y, n = re.subn(r"(\n    model: )\S+\.gguf[^\n]*", r"\g<1>" + model + r"\n    threads: 1", y)
assert n >= 1, "the emitted pipeline has no local tier: " + y
if kind == "cascade":
    # A student/teacher cascade in front of the planned tier, and a canary putting a candidate in
    # the student's place for 30% of the route (thresholds that never roll it back in a short run).
    # Student and candidate run the same model file as the planned tier, so they take its price,
    # scheduler, step model and planner facts.
    main = re.search(r"  - name: main\n(.*?)(?=\n  - name: |\nroutes:)", y, re.S).group(1)
    cost = re.search(r"cost_per_hour: ([0-9.]+)", main).group(1)
    knobs = main[main.index("    max_concurrency:"):]
    knobs = re.sub(r"\n    autoscaling: .*", "", knobs, flags=re.S)
    tiers = "".join(f"  - name: {t}\n    model: {model}\n    threads: 1\n    accelerator: local-cpu\n"
                    f"    cost_per_hour: {cost}\n    replicas: 1\n{knobs}\n" for t in ("student", "candidate"))
    y = y.replace("routes:\n", tiers + "routes:\n", 1)
    y = re.sub(r"(routes:\n  - match: \{endpoint: completions\}\n)    tier: (\S+)\n",
               r"\1    cascade: {first: student, then: \2, min_confidence: " + conf + r"}\n", y)
    y += ("canary:\n  - {route: completions, baseline: student, candidate: candidate, weight_percent: 30,\n"
          "     rollback: {p95_ms: 600000, error_rate: 0.5, window_s: 60, min_samples: 1024}}\n")
    # The three workers share this machine: one host for the simulator (step.colocated).
    y, n = re.subn(r"\n    planner: \{", "\n    planner: {host: this-machine, ", y)
    assert n == 3, "expected three tiers' planner: lines, got %d" % n
open(f"{d}/pipeline.yaml", "w").write(y)
PYEOF
if [ "$KIND" = cascade ]; then
    # The prediction to hold the measurement against is the pipeline served (student, teacher,
    # canary), not the search's one-tier plan: `plan --pipeline` runs it on the same workload.
    mv "$DIR/plan.json" "$DIR/search.json"
    "$BIN" plan "$DIR/workload.yaml" --pipeline "$DIR/pipeline.yaml" --json >"$DIR/plan.json" 2>"$DIR/plan.err" \
        || { log "plan --pipeline failed: $(tail -3 "$DIR/plan.err")"; exit 1; }
fi
"$BIN" serve "$DIR/pipeline.yaml" --listen "127.0.0.1:$GPORT" --telemetry "$DIR/telemetry.jsonl" 2>"$DIR/serve.log" &
SPID=$!
PIDS="$PIDS $SPID"
wait_up "http://127.0.0.1:$GPORT" "$SPID" "$DIR/serve.log"

# 5. Open-loop bench through the gateway, /metrics scraped before and after.
curl -sf "http://127.0.0.1:$GPORT/metrics" >"$DIR/metrics-start.txt"
echo "bench start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$DIR/load.txt"
log "bench $DUR s at $RATE req/s"
"$BIN" bench --url "http://127.0.0.1:$GPORT/v1" --endpoint completions --model main --prompt-file "$DIR/words.txt" \
    --ignore-eos --workload "$DIR/workload.yaml" --duration "$DUR" --seed "$SEED" --quiet --json "$DIR/bench.json" \
    --trace "$DIR/bench-trace.csv" >"$DIR/bench.txt" 2>&1 || { log "bench failed: $(tail -3 "$DIR/bench.txt")"; exit 1; }
curl -sf "http://127.0.0.1:$GPORT/metrics" >"$DIR/metrics-end.txt"
echo "bench end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$DIR/load.txt"
kill -TERM "$SPID"; wait "$SPID" || true
calibrate_into "$DIR/profiles-after" after

# 6. The same pipeline predicted on the arrivals that came: the bench's schedule (send times
# and token counts) with each request's first-tier confidence from its record, replayed by
# `plan --pipeline --trace`. Against plan.json (the workload's own draw over an hour) this takes
# the window's sampling noise out of the latency comparison (a 45 s bursty window holds a few
# bursts, whose percentiles differ from an hour's), leaving the step model, the policies and the
# machine's drift.
$PY - "$DIR" <<'PYEOF'
import csv, json, sys
d = sys.argv[1]
recs = {}
for line in open(f"{d}/telemetry.jsonl"):
    r = json.loads(line)
    if r.get("request_id"):
        recs[r["request_id"]] = r
rows = [l for l in open(f"{d}/bench-trace.csv") if not l.startswith("#")]
with open(f"{d}/replay.csv", "w") as out:
    out.write("id,t_s,prompt_chars,in_tokens,out_tokens,confidence,status\n")
    for b in csv.DictReader(rows):
        r = recs.get("rs-bench-%012d" % int(b["id"]))
        if r is None or b["outcome"] == "not_sent":
            continue
        conf = r.get("confidence")
        status = r.get("status") or 200
        if r.get("escalated"):
            status = 200   # the first tier answered; its confidence sent the request on
        pt = r.get("first_tier_prompt_tokens") or r.get("prompt_tokens") or int(b["input_tokens"])
        out.write("%s,%.6f,%d,%d,%d,%s,%d\n" % (b["id"], int(b["sched_us"]) / 1e6, r.get("prompt_chars") or 0, pt,
                                               r.get("output_tokens") or int(b["max_tokens"]),
                                               "1" if conf is None else repr(float(conf)), status))
PYEOF
"$BIN" plan --pipeline "$DIR/pipeline.yaml" --trace "$DIR/replay.csv" --endpoint completions --json >"$DIR/plan-replay.json" \
    2>"$DIR/plan-replay.err" || { log "plan --pipeline --trace failed: $(tail -3 "$DIR/plan-replay.err")"; exit 1; }

# 6b. The same replay at the machine's speed during the bench, as near as it can be known: every
# step-time figure (betas, overhead, cold rows, spread) the mean of the calibrations before and after. Not
# a prediction (it uses the after-calibration): the error left is the model's, with the drift of a
# shared machine's speed between calibration and bench taken out.
$PY - "$DIR" <<'PYEOF'
import re, sys
d = sys.argv[1]
NUM = r"([0-9.e+-]+)"
def prof(path):
    t = open(path).read()
    v = {k: float(re.search(k + ": " + NUM, t).group(1)) for k in ("b0_us", "prefill_token_us", "decode_row_us", "context_token_us")}
    for k in ("request_overhead_us", "multi_row_us", "colocated"):   # optional keys
        m = re.search(k + ": " + NUM, t)
        v[k] = float(m.group(1)) if m else 0.0
    v["cold"] = [tuple(float(x) for x in r) for r in
                 re.findall(r"- \{after_us: " + NUM + ", wake_us: " + NUM + ", step_factor: " + NUM + r"\}", t)]
    m = re.search(r"\n  spread: \[([^\]]*)\]\n  spread_window_us: " + NUM, t)
    v["spread"] = ([float(x) for x in m.group(1).split(",")], float(m.group(2))) if m else None
    return v
a, b = prof(f"{d}/profiles/main.yaml"), prof(f"{d}/profiles-after/main.yaml")
mid = {k: (a[k] + b[k]) / 2 for k in a if k not in ("cold", "spread")}
step = "step: {" + ", ".join("%s: %.17g" % (k, mid[k]) for k in ("b0_us", "prefill_token_us", "decode_row_us", "context_token_us",
                                                                 "multi_row_us", "request_overhead_us"))
if mid["colocated"] > 0:
    step += ", colocated: %.17g" % mid["colocated"]
if a["cold"] and len(a["cold"]) == len(b["cold"]):
    step += ", cold: [" + ", ".join("{after_us: %.17g, wake_us: %.17g, step_factor: %.17g}" % (x[0], (x[1] + y[1]) / 2, (x[2] + y[2]) / 2)
                                    for x, y in zip(a["cold"], b["cold"])) + "]"
if a["spread"] and b["spread"] and len(a["spread"][0]) == len(b["spread"][0]):   # quantile by quantile
    step += ", spread: [" + ", ".join("%.17g" % ((x + y) / 2) for x, y in zip(a["spread"][0], b["spread"][0])) + "]"
    step += ", spread_window_us: %.17g" % ((a["spread"][1] + b["spread"][1]) / 2)
step += "}"
y = open(f"{d}/pipeline.yaml").read()
out, i, n = [], 0, 0
while (j := y.find("step: {", i)) >= 0:   # every local tier runs MODEL: the same profile
    k, depth = j + len("step: "), 0
    while True:   # to the brace that closes the step's flow map (cold rows nest braces)
        depth += {"{": 1, "}": -1}.get(y[k], 0)
        k += 1
        if depth == 0:
            break
    out += [y[i:j], step]
    i, n = k, n + 1
assert n >= 1, "no step: in pipeline.yaml"
y = "".join(out) + y[i:]
open(f"{d}/pipeline-mid.yaml", "w").write(y)
PYEOF
"$BIN" plan --pipeline "$DIR/pipeline-mid.yaml" --trace "$DIR/replay.csv" --endpoint completions --json \
    >"$DIR/plan-replay-mid.json" 2>"$DIR/plan-replay-mid.err" \
    || { log "plan --pipeline --trace (mid) failed: $(tail -3 "$DIR/plan-replay-mid.err")"; exit 1; }

# 7. The review against the plan, and against the replays.
"$BIN" report "$DIR/telemetry.jsonl" --plan "$DIR/plan-replay.json" --metrics "$DIR/metrics-start.txt" \
    --metrics "$DIR/metrics-end.txt" --quiet --json >"$DIR/report-replay.json"
"$BIN" report "$DIR/telemetry.jsonl" --plan "$DIR/plan-replay-mid.json" --metrics "$DIR/metrics-start.txt" \
    --metrics "$DIR/metrics-end.txt" --quiet --json >"$DIR/report-replay-mid.json"
"$BIN" report "$DIR/telemetry.jsonl" --plan "$DIR/plan.json" --metrics "$DIR/metrics-start.txt" \
    --metrics "$DIR/metrics-end.txt" --quiet --json >"$DIR/report.json"
"$BIN" report "$DIR/telemetry.jsonl" --plan "$DIR/plan.json" --metrics "$DIR/metrics-start.txt" \
    --metrics "$DIR/metrics-end.txt" --quiet >"$DIR/report.txt"
log "done: $DIR/report.json"
