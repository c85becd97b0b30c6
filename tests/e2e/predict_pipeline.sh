#!/bin/sh
# The predict loop's plumbing on the `tiny` shape (no timing assertions): calibrate in-process and
# against a live worker (--url), load both profiles in `plan --profile` (text and JSON), bench the
# worker with the same workload (`bench --workload`) and check the JSON fields the comparison in
# scripts/bench.d/70-predict reads. Also the verbs' usage errors.
. "$(dirname "$0")/lib/worker_env.sh"

"$BIN" gguf synth --shape tiny --type q8_0 -q -o "$T/tiny.gguf" || exit 1
cat >"$T/wl.yaml" <<WL
name: predict-e2e
class: completion
rate_per_s: 4
arrivals: {process: poisson}
tokens:
  input: {dist: fixed, mean: 12}
  output: {dist: fixed, mean: 8}
slo: {e2e_p95_ms: 5000}
WL

# 1. In-process calibration -> profile -> prediction.
"$BIN" calibrate -m "$T/tiny.gguf" -t 1 --max-prefill 32 --max-rows 4 --max-ctx 64 --repeats 1 -q \
    -o "$T/prof.yaml" >"$T/cal.out" 2>&1 || fail "calibrate -m: $(cat "$T/cal.out")"
grep -q "^fit: step_us" "$T/cal.out" || fail "calibrate -m printed no fit"
"$BIN" plan "$T/wl.yaml" --profile "$T/prof.yaml" --max-num-seqs 4 --max-num-batched-tokens 128 \
    --horizon-hours 0.05 >"$T/plan.out" 2>&1 || fail "plan --profile: $(cat "$T/plan.out")"
grep -q "^  e2e " "$T/plan.out" && grep -q "^  ttft " "$T/plan.out" && grep -q "throughput:" "$T/plan.out" \
    || fail "plan --profile text: $(cat "$T/plan.out")"

# 2. The live worker: endpoint calibration and a workload bench. A model some 30x tiny's size, so a
# token takes a fraction of a millisecond: tiny's tokens can come so fast that a loaded machine's
# HTTP thread sends a whole answer in one or two writes, leaving no inter-token gaps to measure.
"$BIN" gguf synth --dim 256 --layers 8 --heads 8 --kv-heads 8 --ffn 768 --vocab 512 --ctx 512 --type q8_0 \
    -q -o "$T/w.gguf" || exit 1
start_worker "$T/w.gguf" -t 1 --max-num-seqs 4 --max-num-batched-tokens 128 --served-model-name tiny
"$BIN" calibrate --url "$URL/v1" --served-model-name tiny --prompt-words 4,12 --concurrency 1,2 --output-tokens 6 \
    --rounds 1 -o "$T/purl.yaml" >"$T/curl.out" 2>&1 || fail "calibrate --url: $(cat "$T/curl.out")"
grep -q "request_overhead_us = " "$T/curl.out" && grep -q "TTFT rows 2" "$T/curl.out" \
    || fail "calibrate --url output: $(cat "$T/curl.out")"
"$BIN" calibrate --url "$URL/v1" --served-model nonesuch --prompt-words 4,12 --concurrency 1 --output-tokens 4 \
    --rounds 1 >"$T/bad.out" 2>&1; [ $? -eq 1 ] && grep -q "failed" "$T/bad.out" || fail "wrong model name: $(cat "$T/bad.out")"
"$BIN" bench --url "$URL/v1" --endpoint completions --model tiny --workload "$T/wl.yaml" --duration 3 --seed 3 --ignore-eos \
    --quiet --json "$T/bench.json" >"$T/bench.out" 2>&1 || fail "bench --workload: $(cat "$T/bench.out")"
stop_worker
[ "$WRC" -eq 0 ] || fail "worker exit status $WRC"

for prof in prof purl; do
    "$BIN" plan "$T/wl.yaml" --profile "$T/$prof.yaml" --max-num-seqs 4 --max-num-batched-tokens 128 \
        --horizon-hours 0.05 --json >"$T/$prof.json" 2>"$T/$prof.err" || fail "plan --profile $prof: $(cat "$T/$prof.err")"
done
$PY - "$T" <<'PYEOF' || fail "JSON fields"
import json, sys
t = sys.argv[1]
for prof in ("prof", "purl"):
    p = json.load(open(f"{t}/{prof}.json"))
    assert p["schema"] == "rightsize.predict/1", p
    for k in ("ttft", "e2e", "tpot"):
        assert {"p50", "p95", "mean"} <= set(p["latency_ms"][k]), p["latency_ms"]
    assert p["requests"]["completed"] > 0 and p["throughput"]["requests_per_s"] > 0, p
    assert p["config"]["max_num_seqs"] == 4 and p["config"]["max_num_batched_tokens"] == 128, p["config"]
purl = open(f"{t}/purl.yaml").read()
assert "betas:" in purl and "endpoint http://127.0.0.1" in purl, purl
b = json.load(open(f"{t}/bench.json"))
assert b["config"]["workload"].endswith("wl.yaml") and b["config"]["mode"] == "open", b["config"]
assert b["requests"]["ok"] > 0 and b["errors"]["total"] == 0, (b["requests"], b["errors"])
for k in ("ttft", "e2e"):
    assert b["latency_ms"][k]["n"] == b["requests"]["ok"] and b["latency_ms"][k]["p95"] > 0, b["latency_ms"][k]
assert b["throughput"]["requests_per_s"] > 0 and 0 < b["throughput"]["output_tokens"] <= 8 * b["requests"]["ok"], b["throughput"]
PYEOF

# 3. Usage errors: one line, exit 2 (or 1 for a file that cannot be read).
"$BIN" calibrate -m "$T/tiny.gguf" --url "$URL/v1" >"$T/e" 2>&1; [ $? -eq 2 ] && grep -q "either -m" "$T/e" || fail "-m and --url: $(cat "$T/e")"
"$BIN" calibrate --url "$URL/v1" --concurrency 2,4 >"$T/e" 2>&1; [ $? -eq 2 ] && grep -q "include 1" "$T/e" || fail "no C=1: $(cat "$T/e")"
"$BIN" calibrate --url "$URL/v1" --prompt-words 4,x >"$T/e" 2>&1; [ $? -eq 2 ] || fail "bad --prompt-words accepted"
"$BIN" plan "$T/wl.yaml" --profile "$T/missing.yaml" >"$T/e" 2>&1; [ $? -eq 1 ] && grep -q "missing.yaml" "$T/e" || fail "missing profile: $(cat "$T/e")"
"$BIN" plan "$T/wl.yaml" --profile "$T/prof.yaml" --max-num-seqs 64 --max-num-batched-tokens 16 >"$T/e" 2>&1; [ $? -eq 2 ] \
    && grep -q "max_num_batched_tokens" "$T/e" || fail "bad knobs: $(cat "$T/e")"
"$BIN" plan "$T/wl.yaml" --profile "$T/prof.yaml" --emit "$T/x.yaml" >"$T/e" 2>&1; [ $? -eq 2 ] || fail "--profile with --emit accepted"
finish
