#!/bin/sh
# Every architecture end to end, from the shell as a user runs it: `gguf synth --arch A` (q8_0,
# with a tokenizer and the chatml template), `gguf info` names the arch, `rightsize run` from text,
# and `rightsize worker` serving it: a greedy completion must be exactly run's text for the same
# prompt (the single-sequence CLI path is the truth), four concurrent requests each get it too
# (batched with each other, sliding windows included), a chat completion answers, and
# `run --chat` (with and without --system) gives the worker's greedy chat reply.
. "$(dirname "$0")/lib/worker_env.sh"

PROMPT="Once upon a time, the little dog saw a big red ball in the park and ran"
for arch in llama qwen2 qwen3 gemma gemma2 gemma3 phi3 granite qwen3moe granitemoe qwen2moe smollm3 glm4 olmo2 ernie4_5 exaone olmoe qwen2vl qwen3vl qwen3vlmoe starcoder2 stablelm phi2 command-r; do
    m="$T/$arch.gguf"
    extra=""
    case $arch in gemma2|gemma3|llama|olmo2) extra="--sliding-window 6" ;; esac
    # shellcheck disable=SC2086
    "$BIN" gguf synth --arch "$arch" --dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --vocab 1000 \
        --qk-scale 4 --type q8_0 --chat-template chatml $extra -q -o "$m" || { fail "$arch: synth"; continue; }
    "$BIN" gguf info "$m" >"$T/info" 2>&1 && grep -q "general.architecture.*$arch" "$T/info" || fail "$arch: gguf info: $(head -5 "$T/info")"
    "$BIN" run -m "$m" -p "$PROMPT" -n 12 --temp 0 --ignore-eos -t 1 >"$T/run.txt" 2>"$T/run.err" || { fail "$arch: run: $(cat "$T/run.err")"; continue; }
    grep -q "kernels" "$T/run.err" || fail "$arch: run printed no timing line"

    start_worker "$m" -t 1 --served-model-name "$arch"
    body=$($PY -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": 12, "temperature": 0, "ignore_eos": True}))' "$PROMPT")
    cpids=""
    for i in 1 2 3 4; do
        curl -s -m 60 -H "Content-Type: application/json" "$URL/v1/completions" -d "$body" >"$T/c$i.json" &
        cpids="$cpids $!"
    done
    PIDS="$PIDS $cpids"
    for p in $cpids; do wait "$p"; done
    for i in 1 2 3 4; do
        $PY - "$T/c$i.json" "$T/run.txt" <<'PYEOF' || fail "$arch: concurrent completion $i differs from run: $(head -c 400 "$T/c$i.json")"
import json, sys
got = json.load(open(sys.argv[1]))["choices"][0]["text"]
want = open(sys.argv[2], encoding="utf-8", errors="replace", newline="").read()[:-1]  # run ends with "\n"
assert got == want, (got, want)
PYEOF
    done
    curl -s -m 60 -H "Content-Type: application/json" "$URL/v1/chat/completions" \
        -d '{"messages":[{"role":"user","content":"Hello there"}],"max_tokens":5,"ignore_eos":true}' >"$T/chat.json"
    $PY -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["usage"]["completion_tokens"] == 5 and r["model"] == sys.argv[2], r' \
        "$T/chat.json" "$arch" || fail "$arch: chat completion: $(head -c 400 "$T/chat.json")"
    # `run --chat` renders the messages as the worker does: the same prompt length and the same
    # greedy reply, with and without a system message.
    for sys_msg in "" "You answer in one word."; do
        body=$($PY -c 'import json,sys
m = ([{"role": "system", "content": sys.argv[1]}] if sys.argv[1] else []) + [{"role": "user", "content": "Hello there"}]
print(json.dumps({"messages": m, "max_tokens": 10, "temperature": 0, "ignore_eos": True}))' "$sys_msg")
        curl -s -m 60 -H "Content-Type: application/json" "$URL/v1/chat/completions" -d "$body" >"$T/chat2.json"
        set -- --chat -p "Hello there"
        [ -n "$sys_msg" ] && set -- "$@" --system "$sys_msg"
        "$BIN" run -m "$m" "$@" -n 10 --temp 0 --ignore-eos -t 1 >"$T/runchat.txt" 2>"$T/runchat.err" ||
            fail "$arch: run --chat: $(cat "$T/runchat.err")"
        $PY - "$T/chat2.json" "$T/runchat.txt" "$T/runchat.err" <<'PYEOF' || fail "$arch: run --chat (system '$sys_msg') differs from the worker's chat reply: $(head -c 300 "$T/chat2.json") / $(head -c 200 "$T/runchat.txt")"
import json, re, sys
r = json.load(open(sys.argv[1]))
got = open(sys.argv[2], encoding="utf-8", errors="replace", newline="").read()[:-1]
assert r["choices"][0]["message"]["content"] == got, (r, got)
n_prompt = int(re.search(r"prompt eval: (\d+) tokens", open(sys.argv[3]).read()).group(1))
assert n_prompt == r["usage"]["prompt_tokens"], (n_prompt, r["usage"])
PYEOF
    done
    stop_worker
    [ "$WRC" -eq 0 ] || fail "$arch: worker exited $WRC"
    echo "$arch: run and worker agree ($(head -c 40 "$T/run.txt" | tr '\n' ' ')...)"
done
finish
