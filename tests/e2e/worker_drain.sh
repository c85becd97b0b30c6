#!/bin/sh
# SIGTERM drains: requests in flight run to completion, new ones get 503 (and /health says
# draining), and the worker exits 0. With a short --shutdown-timeout, what is still running is
# aborted with an error event in the stream, and the worker still exits 0 promptly.
. "$(dirname "$0")/lib/worker_env.sh"

"$BIN" gguf synth --dim 256 --layers 8 --heads 8 --kv-heads 8 --ffn 768 --vocab 512 --ctx 4096 --type q8_0 \
    -q -o "$T/m.gguf" || exit 1

# stream_bg N FILE — a streamed request for N tokens in the background; waits for its first bytes.
stream_bg() {
    curl -sN --max-time 60 -H "Content-Type: application/json" "$URL/v1/completions" \
        -d "{\"prompt\":\"drain me\",\"max_tokens\":$1,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" >"$2" 2>/dev/null &
    CPID=$!
    PIDS="$PIDS $CPID"
    i=0
    while ! grep -q '^data: ' "$2" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
}

# 1. In-flight requests finish; new ones are refused; exit 0.
start_worker "$T/m.gguf" -t 1 --shutdown-timeout 30
stream_bg 1200 "$T/a"
kill -TERM "$WPID"
sleep 0.2
code=$(curl -s -o "$T/refused" -w '%{http_code}' -H "Content-Type: application/json" "$URL/v1/completions" -d '{"prompt":"late"}')
[ "$code" = 503 ] && grep -q '"code":"shutting_down"' "$T/refused" || fail "new request during drain: $code $(cat "$T/refused")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" = 503 ] || fail "/health during drain"
wait "$CPID" || fail "in-flight curl failed"
wait "$WPID"; WRC=$?; WPID=""
[ "$WRC" -eq 0 ] || fail "worker exit $WRC after drain"
tail -c 200 "$T/a" | grep -q 'data: \[DONE\]' || fail "in-flight stream did not end with [DONE]"
grep -q '"finish_reason":"length"' "$T/a" && grep -q '"completion_tokens":1200' "$T/a" || fail "in-flight request did not complete: $(tail -c 300 "$T/a")"

# 2. Past --shutdown-timeout the rest is aborted with an error event; the exit is prompt and 0.
start_worker "$T/m.gguf" -t 1 --shutdown-timeout 1
stream_bg 4000 "$T/b"
t0=$(date +%s)
kill -TERM "$WPID"
wait "$WPID"; WRC=$?; WPID=""
secs=$(( $(date +%s) - t0 ))
[ "$WRC" -eq 0 ] || fail "worker exit $WRC after the shutdown timeout"
[ "$secs" -le 4 ] || fail "shutdown took $secs s with --shutdown-timeout 1"
wait "$CPID"
grep -q '"error":{' "$T/b" && tail -c 100 "$T/b" | grep -q 'data: \[DONE\]' || fail "aborted stream lacks an error event: $(tail -c 300 "$T/b")"
finish
