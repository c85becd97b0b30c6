#!/bin/sh
# A client that hangs up frees its sequence at once — mid-stream, while waiting for a whole
# (unstreamed) answer, or while queued: the worker stops generating for it
# (generation_tokens_total stops growing long before max_tokens), num_requests_running/waiting
# and the KV usage go back to 0, requests_total counts them as 499 (not 503), and the next request
# is served normally.
. "$(dirname "$0")/lib/worker_env.sh"

"$BIN" gguf synth --dim 256 --layers 8 --heads 8 --kv-heads 8 --ffn 768 --vocab 512 --ctx 4096 --type q8_0 \
    -q -o "$T/m.gguf" || exit 1
start_worker "$T/m.gguf" -t 1 --max-num-seqs 1
MAX=3500   # ~5 s of generation on this model if nobody stopped it

# A streamed request, abandoned after 0.7 s (curl exits on --max-time: the socket closes).
curl -sN --max-time 0.7 -H "Content-Type: application/json" "$URL/v1/completions" \
    -d "{\"prompt\":\"tell me everything\",\"max_tokens\":$MAX,\"ignore_eos\":true,\"stream\":true}" >"$T/partial" 2>/dev/null
grep -q '^data: {' "$T/partial" || fail "no streamed data before the disconnect"
grep -q '\[DONE\]' "$T/partial" && fail "the stream finished before the client left (model too fast?)"
# Within a second the sequence is gone and generation has stopped.
i=0
while [ "$(metric num_requests_running)" != 0 ] && [ $i -lt 40 ]; do sleep 0.025; i=$((i + 1)); done
[ "$(metric num_requests_running)" = 0 ] || fail "num_requests_running $(metric num_requests_running) after the disconnect"
g1=$(metric generation_tokens_total)
sleep 0.5
g2=$(metric generation_tokens_total)
[ "$g1" = "$g2" ] || fail "generation went on after the disconnect ($g1 -> $g2 tokens)"
[ "$g2" -lt "$MAX" ] || fail "all $MAX tokens were generated for a client that left"
[ "$(metric kv_cache_usage_perc)" = 0 ] || fail "KV blocks still held: usage $(metric kv_cache_usage_perc)"
grep -Eq "client went away|went away while it waited" "$T/worker.log" || fail "the worker did not log the disconnect"
echo "disconnected after ~0.7 s: $g2 of $MAX tokens generated, running back to 0"

# wait_metric NAME VALUE — polls /metrics for up to 1 s.
wait_metric() {
    i=0
    while [ "$(metric "$1")" != "$2" ] && [ $i -lt 40 ]; do sleep 0.025; i=$((i + 1)); done
    [ "$(metric "$1")" = "$2" ]
}

# Unstreamed: the client gives up waiting for the whole answer.
curl -s --max-time 0.7 -H "Content-Type: application/json" "$URL/v1/completions" \
    -d "{\"prompt\":\"all at once\",\"max_tokens\":$MAX,\"ignore_eos\":true}" >/dev/null 2>&1
wait_metric num_requests_running 0 || fail "unstreamed: num_requests_running $(metric num_requests_running) after the disconnect"
g3=$(metric generation_tokens_total)
sleep 0.5
[ "$(metric generation_tokens_total)" = "$g3" ] || fail "unstreamed: generation went on after the disconnect"
[ $((g3 - g2)) -lt "$MAX" ] || fail "unstreamed: all tokens generated for a client that left"

# Queued: with one sequence slot busy, a second request waits; its client leaves before it runs.
curl -sN --max-time 3 -H "Content-Type: application/json" "$URL/v1/completions" \
    -d "{\"prompt\":\"hog\",\"max_tokens\":$MAX,\"ignore_eos\":true,\"stream\":true}" >/dev/null 2>&1 &
HOG=$!
PIDS="$PIDS $HOG"
wait_metric num_requests_running 1 || fail "the first request is not running"
curl -s --max-time 0.5 -H "Content-Type: application/json" "$URL/v1/completions" \
    -d '{"prompt":"queued","max_tokens":5}' >/dev/null 2>&1
wait_metric num_requests_waiting 0 || fail "queued: num_requests_waiting $(metric num_requests_waiting) after its client left"
[ "$(metric num_requests_running)" = 1 ] || fail "queued: the running request was disturbed"
kill "$HOG" 2>/dev/null; wait "$HOG" 2>/dev/null
wait_metric num_requests_running 0 || fail "the first request was not freed"
grep -q "went away while it waited" "$T/worker.log" || fail "the queued disconnect was not noticed by the watcher"
# Clients that left are counted as 499 (client closed request), never as the server's 503.
[ -z "$(metric requests_total 'status="503"')" ] || fail "a client that left was counted as 503"
# (A client whose connection MHD itself sees close is not answered at all and not counted; one
# the watcher frees while its answer is pending is.)
i=0; while [ -z "$(metric requests_total 'status="499"')" ] && [ $i -lt 200 ]; do sleep 0.025; i=$((i + 1)); done
[ "$(metric requests_total 'status="499"')" -ge 1 ] 2>/dev/null || fail "requests_total{status=499} is '$(metric requests_total 'status="499"')', wanted >= 1"

# The worker is healthy afterwards.
out=$(curl -s -H "Content-Type: application/json" "$URL/v1/completions" -d '{"prompt":"again","max_tokens":4,"ignore_eos":true}')
echo "$out" | grep -q '"completion_tokens":4' || fail "request after the disconnect: $out"
stop_worker
[ "$WRC" -eq 0 ] || fail "worker exit $WRC"
finish
