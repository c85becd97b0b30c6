#!/bin/sh
# --scheduling-policy priority honours the request field `priority` (lower runs first, vLLM's
# meaning): with the one sequence slot busy, a low-priority request queued first and a
# high-priority one queued after it, the high-priority one is admitted first. Under the default
# FCFS policy the same arrivals are served in arrival order.
. "$(dirname "$0")/lib/worker_env.sh"

"$BIN" gguf synth --dim 256 --layers 8 --heads 8 --kv-heads 8 --ffn 768 --vocab 512 --ctx 4096 --type q8_0 \
    -q -o "$T/m.gguf" || exit 1

# order POLICY — writes to $T/order which of "low" and "high" got its first token first.
order() {
    start_worker "$T/m.gguf" -t 1 --max-num-seqs 1 --scheduling-policy "$1"
    # req NAME PRIORITY TOKENS — streams; records when its first event arrived. Each request runs
    # for 300+ tokens (~0.4 s alone), so the order of first events is not a matter of milliseconds.
    req() {
        curl -sN --max-time 30 -H "Content-Type: application/json" "$URL/v1/completions" \
            -d "{\"prompt\":\"$1\",\"max_tokens\":$3,\"ignore_eos\":true,\"stream\":true,\"priority\":$2}" |
            { IFS= read -r first; date +%s%N >"$T/$1.first"; cat >/dev/null; }
    }
    # The hog runs until both others are queued behind it, however slow this machine is, and
    # then leaves (its client hangs up, which frees the slot at once).
    req "hog$$" 0 3500 2>/dev/null &
    p1=$!
    i=0; while [ "$(metric num_requests_running)" != 1 ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
    req low 10 300 &
    p2=$!
    i=0; while [ "$(metric num_requests_waiting)" != 1 ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
    req high -5 300 &
    p3=$!
    i=0; while [ "$(metric num_requests_waiting)" != 2 ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
    [ "$(metric num_requests_waiting)" = 2 ] || fail "$1: both requests should be waiting behind the hog"
    PIDS="$PIDS $p1 $p2 $p3"
    pkill -f -- "\"prompt\":\"hog$$\"" 2>/dev/null
    { wait $p1 $p2 $p3; } 2>/dev/null
    if [ "$(cat "$T/high.first")" -lt "$(cat "$T/low.first")" ]; then echo high; else echo low; fi >"$T/order"
    stop_worker
    [ "$WRC" -eq 0 ] || fail "$1: worker exit $WRC"
}
order priority
[ "$(cat "$T/order")" = high ] || fail "priority policy: '$(cat "$T/order")' started first, wanted the priority -5 request"
order fcfs
[ "$(cat "$T/order")" = low ] || fail "fcfs policy: '$(cat "$T/order")' started first, wanted the earlier request"
finish
