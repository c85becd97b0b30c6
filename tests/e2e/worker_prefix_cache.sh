#!/bin/sh
# Prefix caching through `rightsize worker` with curl: requests sharing a 384-token system prefix
# reuse its KV blocks (usage.prompt_tokens_details.cached_tokens, timings.cache_n,
# rightsize_prefix_cache_{queries,hits}_total), the greedy outputs are identical to a worker with
# --no-enable-prefix-caching, and a warm request's busy share (what the ledger charges) is below
# the same request's cold one.
. "$(dirname "$0")/lib/worker_env.sh"

"$BIN" gguf synth --shape small --type q8_0 -q -o "$T/small.gguf" || exit 1
"$BIN" worker --help >"$T/out" 2>&1 && grep -q -- "--no-enable-prefix-caching" "$T/out" || fail "worker --help"

# body TAIL_SEED — a completion on token ids: the shared prefix, then 8 tail tokens.
body() {
    $PY - "$1" <<'PYEOF'
import json, sys
s = int(sys.argv[1])
prefix = [(i * 37 + 11) % 4000 + 10 for i in range(384)]
tail = [(s * 101 + i * 13) % 4000 + 10 for i in range(8)]
print(json.dumps({"prompt": prefix + tail, "max_tokens": 6, "temperature": 0, "ignore_eos": True}))
PYEOF
}
for s in 1 2 3 4 5; do body $s >"$T/req$s"; done
# run NAME TAIL — POSTs request TAIL, saves the answer as $T/NAME.json.
run() {
    c=$(curl -s -o "$T/$1.json" -w '%{http_code}' -H "Content-Type: application/json" --data-binary @"$T/req$2" "$URL/v1/completions")
    [ "$c" = 200 ] || fail "$1: HTTP $c $(cat "$T/$1.json")"
}
field() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/$1.json" "$2"; }

start_worker "$T/small.gguf" -t 1 --no-enable-prefix-caching
for s in 1 2 3 4 5; do run off$s $s; done
[ "$(metric prefix_cache_hits_total)" = 0 ] || fail "hits with the cache off"
[ "$(field off2 'd["usage"]["prompt_tokens_details"]["cached_tokens"]')" = 0 ] || fail "cached_tokens with the cache off"
stop_worker

start_worker "$T/small.gguf" -t 1
run cold1 1
run warm2 2
run warm3 3
run warm1 1
[ "$(field cold1 'd["usage"]["prompt_tokens_details"]["cached_tokens"]')" = 0 ] || fail "first request found a cache"
# 392 prompt tokens, blocks of 16: the shared 384 are 24 full blocks; a repeat finds its own
# tail's block too, minus the last token (always computed): 384 + 0 (8-token tail is partial).
for n in warm2 warm3 warm1; do
    [ "$(field $n 'd["usage"]["prompt_tokens_details"]["cached_tokens"]')" = 384 ] || fail "$n cached_tokens: $(cat "$T/$n.json")"
    [ "$(field $n 'd["timings"]["cache_n"]')" = 384 ] || fail "$n timings.cache_n"
done
for s in 1 2 3; do
    a=$(field off$s 'd["choices"][0]["text"]'); b=$(field $([ $s = 1 ] && echo warm1 || echo warm$s) 'd["choices"][0]["text"]')
    [ "$a" = "$b" ] || fail "request $s: cache on '$b' != cache off '$a'"
done
[ "$(field cold1 'd["choices"][0]["text"]')" = "$(field off1 'd["choices"][0]["text"]')" ] || fail "cold text differs"
q=$(metric prefix_cache_queries_total); h=$(metric prefix_cache_hits_total)
[ "$q" = 1568 ] && [ "$h" = 1152 ] || fail "metrics: queries $q (want 4 x 392), hits $h (want 3 x 384)"
# The ledger charges the busy share: the warm repeat computed 8 prompt tokens, not 392.
cold=$(field cold1 'd["timings"]["rightsize"]["busy_ns"]'); warm=$(field warm1 'd["timings"]["rightsize"]["busy_ns"]')
[ "$warm" -lt "$cold" ] || fail "busy_ns warm $warm not below cold $cold"
echo "busy_ns cold $cold warm $warm"
stop_worker

# A pool of 40 blocks (640 positions) for five concurrent 398-position requests: admission waits,
# cached blocks are evicted and shared ones reused; every answer is still the cache-off one.
start_worker "$T/small.gguf" -t 1 --kv-blocks 40
pids=""
for s in 1 2 3 4 5; do run con$s $s & pids="$pids $!"; done
for p in $pids; do wait $p; done
for s in 1 2 3 4 5; do
    [ "$(field con$s 'd["choices"][0]["text"]')" = "$(field off$s 'd["choices"][0]["text"]')" ] || fail "concurrent $s differs"
done
[ "$(metric prefix_cache_hits_total)" -gt 0 ] || fail "no hits under the small pool"
echo "small pool: hits $(metric prefix_cache_hits_total) of $(metric prefix_cache_queries_total), preemptions $(metric num_preemptions_total)"
stop_worker
finish
