#!/bin/sh
# `rightsize worker` over plain HTTP with curl: health, API key (401), body limit (413), invalid
# JSON/UTF-8 and bad fields (400 naming the field), SSE framing, chat-template errors, flag
# validation, and /metrics checked by Prometheus's own `promtool check metrics`.
. "$(dirname "$0")/lib/worker_env.sh"

"$BIN" gguf synth --shape tiny --type q8_0 --chat-template chatml -q -o "$T/tiny.gguf" || exit 1
"$BIN" gguf synth --shape tiny --type q8_0 -q -o "$T/notmpl.gguf" || exit 1

# Flags: help, bad values, unknown template.
"$BIN" worker --help >"$T/out" 2>&1 && grep -q -- "--max-num-queued-reqs" "$T/out" || fail "worker --help"
"$BIN" worker -m "$T/tiny.gguf" --max-num-seqs 0 >"$T/out" 2>&1; [ $? -eq 2 ] && grep -q "max-num-seqs" "$T/out" || fail "bad --max-num-seqs: $(cat "$T/out")"
"$BIN" worker -m "$T/tiny.gguf" --listen nonsense >"$T/out" 2>&1; [ $? -eq 2 ] || fail "bad --listen accepted"
"$BIN" worker -m "$T/tiny.gguf" --scheduling-policy lifo >"$T/out" 2>&1; [ $? -eq 2 ] || fail "bad policy accepted"
"$BIN" worker -m "$T/tiny.gguf" --chat-template jinja9 --listen 127.0.0.1:0 >"$T/out" 2>&1; [ $? -eq 2 ] && grep -q "chatml" "$T/out" || fail "unknown --chat-template: $(cat "$T/out")"
"$BIN" worker -m "$T/missing.gguf" --listen 127.0.0.1:0 >"$T/out" 2>&1; [ $? -eq 1 ] || fail "missing model should exit 1"

start_worker "$T/tiny.gguf" -t 1 --api-key sekret --max-body-bytes 2048 --served-model-name tiny
AUTH="Authorization: Bearer sekret"
# code METHOD PATH [BODY] [CURL_ARGS...] — prints the status, body into $T/body, headers $T/hdr.
code() {
    m=$1; p=$2; shift 2
    if [ $# -gt 0 ]; then b=$1; shift; set -- --data-binary "$b" "$@"; fi
    curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" -H "Content-Type: application/json" "$@" "$URL$p"
}

[ "$(code GET /health)" = 200 ] && grep -q '"ok"' "$T/body" || fail "health"
[ "$(code GET /v1/models)" = 401 ] && grep -q '"code":"invalid_api_key"' "$T/body" || fail "models without key: $(cat "$T/body")"
[ "$(code GET /v1/models '' -H "Authorization: Bearer wrong")" = 401 ] || fail "models with a wrong key"
[ "$(code GET /v1/models '' -H "$AUTH")" = 200 ] && grep -q '"id":"tiny"' "$T/body" || fail "models with key"
[ "$(code POST /v1/completions '{"prompt":"Hello","max_tokens":5,"ignore_eos":true}' -H "$AUTH")" = 200 ] || fail "completion: $(cat "$T/body")"
grep -q '"object":"text_completion"' "$T/body" && grep -q '"completion_tokens":5' "$T/body" || fail "completion body: $(cat "$T/body")"
grep -qi '^x-rightsize-queue-ms: [0-9.]*' "$T/hdr" && grep -qi '^x-rightsize-ttft-ms: [0-9.]*' "$T/hdr" || fail "timing headers: $(cat "$T/hdr")"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/body" || fail "completion body is not JSON"

# 400s: the field is named; invalid JSON / UTF-8 have their own codes.
[ "$(code POST /v1/completions '{"prompt":"x","temperature":"hot"}' -H "$AUTH")" = 400 ] && grep -q '"param":"temperature"' "$T/body" || fail "bad temperature: $(cat "$T/body")"
[ "$(code POST /v1/completions '{"prompt":' -H "$AUTH")" = 400 ] && grep -q '"code":"invalid_json"' "$T/body" || fail "invalid json: $(cat "$T/body")"
printf '{"prompt":"\377"}' >"$T/bad_utf8"
[ "$(code POST /v1/completions @"$T/bad_utf8" -H "$AUTH")" = 400 ] && grep -q '"code":"invalid_utf8"' "$T/body" || fail "invalid utf-8: $(cat "$T/body")"
[ "$(code POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"n":3}' -H "$AUTH")" = 400 ] && grep -q '"param":"n"' "$T/body" || fail "n=3: $(cat "$T/body")"
[ "$(code POST /v1/completions '{"prompt":"x","model":"other"}' -H "$AUTH")" = 404 ] && grep -q '"code":"model_not_found"' "$T/body" || fail "unknown model: $(cat "$T/body")"
[ "$(code POST /v1/rerank '{}' -H "$AUTH")" = 404 ] || fail "unknown path"
[ "$(code POST /v1/embeddings '{"input":"hi"}' -H "$AUTH")" = 400 ] || fail "embeddings on a generation worker: 400"

# 413: a body over --max-body-bytes (2048).
$PY -c 'print("{\"prompt\":\"" + "a"*5000 + "\"}")' >"$T/big"
[ "$(code POST /v1/completions @"$T/big" -H "$AUTH")" = 413 ] && grep -q '"code":"request_too_large"' "$T/body" || fail "413: $(cat "$T/body")"

# SSE: every event is "data: <json>" and the stream ends with [DONE].
curl -sN -H "$AUTH" -H "Content-Type: application/json" "$URL/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}' >"$T/sse"
$PY - "$T/sse" <<'PYEOF' || fail "SSE framing: $(head -c 600 "$T/sse")"
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
assert raw.endswith("\n\n"), "stream does not end with a blank line"
events = [e for e in raw.split("\n\n") if e]
assert all(e.startswith("data: ") for e in events), "an event without 'data: '"
assert events[-1] == "data: [DONE]", events[-1]
chunks = [json.loads(e[6:]) for e in events[:-1]]
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6
assert any(c["choices"] and c["choices"][0]["finish_reason"] == "length" for c in chunks)
assert all(c["object"] == "chat.completion.chunk" for c in chunks)
PYEOF

# /metrics: Prometheus's own checker, and the counters saw what happened above.
curl -s "$URL/metrics" >"$T/metrics"
promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 || fail "promtool check metrics: $(cat "$T/promtool")"
for m in num_requests_running num_requests_waiting kv_cache_usage_perc time_to_first_token_seconds_bucket \
         inter_token_latency_seconds_count e2e_request_latency_seconds_sum request_queue_time_seconds_count \
         batch_size_bucket prompt_tokens_total generation_tokens_total; do
    grep -q "^rightsize_$m{model=\"tiny\",quantization=\"q8_0\"" "$T/metrics" || fail "metric $m missing"
done
[ "$(metric requests_total 'status="413"')" = 1 ] || fail "requests_total{status=413}"
[ "$(metric rejected_total 'reason="unauthorized"')" = 2 ] || fail "rejected_total{unauthorized}"
[ "$(metric generation_tokens_total)" = 11 ] || fail "generation_tokens_total $(metric generation_tokens_total) != 11"
[ "$(metric time_to_first_token_seconds_count)" = 2 ] || fail "ttft count"
stop_worker
[ "$WRC" -eq 0 ] || fail "worker exit $WRC after SIGTERM"

# A model without a chat template serves completions; chat gets a 400 that says what to do.
start_worker "$T/notmpl.gguf" -t 1
[ "$(code POST /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}]}')" = 400 ] && grep -q "chat-template" "$T/body" || fail "no template: $(cat "$T/body")"
[ "$(code POST /v1/completions '{"prompt":"hi","max_tokens":2}')" = 200 ] || fail "completions without a template"
stop_worker
finish
