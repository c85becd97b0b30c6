#!/bin/sh
# Overload: 10x more concurrent requests than the worker admits (2 running + 4 waiting) → each
# one gets a complete answer (200, all its tokens, [DONE] when streamed) or a 429 with
# Retry-After in OpenAI's error shape; none hangs, none is lost (the counts match the server's
# own metrics), and the worker's memory stays flat across waves. Prefix caching is off here: the
# blocks it keeps from each wave's distinct prompts fill untouched pages of the KV pool, which is
# growth up to the configured pool, not a leak (worker_prefix_cache.sh covers the cache).
. "$(dirname "$0")/lib/worker_env.sh"

"$BIN" gguf synth --dim 256 --layers 8 --heads 8 --kv-heads 8 --ffn 768 --vocab 512 --ctx 4096 --type q8_0 \
    -q -o "$T/m.gguf" || exit 1
start_worker "$T/m.gguf" -t 1 --max-num-seqs 2 --max-num-batched-tokens 64 --max-num-queued-reqs 4 \
    --no-enable-prefix-caching
N=60        # concurrent requests per wave: 10x the 6 the worker holds
TOK=300     # tokens each (0.3-0.6 s per pair of running requests on this model)

# wave W — N concurrent curls (a third streamed), each bounded by --max-time; outcomes in $T/W-*.
wave() {
    w=$1; pids=""
    i=0
    while [ $i -lt $N ]; do
        stream=false; [ $((i % 3)) -eq 0 ] && stream=true
        curl -s --max-time 60 -o "$T/$w-$i.body" -D "$T/$w-$i.hdr" -w '%{http_code}' \
            -H "Content-Type: application/json" "$URL/v1/completions" \
            -d "{\"prompt\":\"request $i\",\"max_tokens\":$TOK,\"ignore_eos\":true,\"stream\":$stream,\"stream_options\":$( $stream && echo '{"include_usage":true}' || echo null)}" \
            >"$T/$w-$i.code" 2>/dev/null &
        pids="$pids $!"
        i=$((i + 1))
    done
    PIDS="$PIDS $pids"
    for p in $pids; do wait "$p" || echo "curl exit $?" >>"$T/$w.curlfail"; done
}

# judge W — every request answered in full or refused properly; prints "ok refused".
judge() {
    $PY - "$T" "$1" "$N" "$TOK" <<'PYEOF'
import json, os, sys
d, w, n, tok = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ok = refused = 0
bad = []
for i in range(n):
    code = open(f"{d}/{w}-{i}.code").read().strip()
    body = open(f"{d}/{w}-{i}.body", encoding="utf-8", errors="replace").read()
    hdr = open(f"{d}/{w}-{i}.hdr").read().lower()
    if code == "429":
        e = json.loads(body)["error"]
        if e["code"] != "queue_full" or "retry-after: 1" not in hdr: bad.append(f"{i}: bad 429 {body} {hdr}")
        refused += 1
    elif code == "200":
        if body.startswith("data: "):
            ev = [x for x in body.split("\n\n") if x]
            usage = json.loads(ev[-2][6:]).get("usage") if len(ev) >= 2 else None
            if ev[-1] != "data: [DONE]" or not usage: bad.append(f"{i}: stream cut short: ...{body[-200:]}")
            elif usage["completion_tokens"] != tok: bad.append(f"{i}: usage {usage}")
        else:
            r = json.loads(body)
            fr = r["choices"][0]["finish_reason"]
            if fr != "length" or r["usage"]["completion_tokens"] != tok:  # ignore_eos: always all tokens
                bad.append(f"{i}: incomplete {fr} {r['usage']}")
        ok += 1
    else:
        bad.append(f"{i}: status {code!r} {body[:200]}")
print(ok, refused)
for b in bad[:5]: print("BAD", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
}

rss0=$(rss_kb "$WPID")
total_ok=0 total_refused=0
for w in 1 2 3; do
    # Start each wave on an idle worker: the last answer of a wave can reach its client just
    # before the engine thread retires that sequence (seen under ASan), leaving 5 free places.
    k=0
    until [ "$(metric num_requests_running)" = 0 ] && [ "$(metric num_requests_waiting)" = 0 ]; do
        k=$((k + 1)); [ $k -gt 100 ] && fail "wave $w: worker not idle before the wave" && break
        sleep 0.1
    done
    wave "$w"
    [ -f "$T/$w.curlfail" ] && fail "wave $w: curl failures (hang or reset): $(cat "$T/$w.curlfail" | sort | uniq -c)"
    res=$(judge "$w") || fail "wave $w: bad answers"
    set -- $res
    echo "wave $w: $1 answered, $2 refused with 429 (of $N)"
    [ "$1" -ge 6 ] || fail "wave $w: only $1 answered; the 6 admitted requests must complete"
    [ "$2" -ge 1 ] || fail "wave $w: no 429 although $N requests hit a worker holding 6"
    [ $(($1 + $2)) -eq "$N" ] || fail "wave $w: $1 + $2 != $N (lost requests)"
    total_ok=$((total_ok + $1)); total_refused=$((total_refused + $2))
    eval "rss$w=\$(rss_kb \"\$WPID\")"
done
# None lost: the server counted exactly what the clients saw.
[ "$(metric requests_total 'status="200"')" = "$total_ok" ] || fail "requests_total{200} $(metric requests_total 'status="200"') != $total_ok"
[ "$(metric rejected_total 'reason="queue_full"')" = "$total_refused" ] || fail "rejected_total{queue_full} != $total_refused"
[ "$(metric num_requests_running)" = 0 ] && [ "$(metric num_requests_waiting)" = 0 ] || fail "running/waiting not back to 0"
# Memory bounded: the third wave costs no more than the second (+8 MiB slack), and stays small.
echo "RSS KiB: start $rss0, after waves $rss1 $rss2 $rss3"
[ "$rss3" -le $((rss2 + 8192)) ] || fail "RSS grew from $rss2 to $rss3 KiB between identical waves"
[ "$rss3" -le 262144 ] || fail "RSS $rss3 KiB above 256 MiB"
stop_worker
[ "$WRC" -eq 0 ] || fail "worker exit $WRC"
finish
