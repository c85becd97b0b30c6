#!/bin/sh
# `rightsize run --chat` as a conversation on stdin, against the worker's /v1/chat/completions:
# a two-turn conversation (with a system message) piped into run must print exactly the worker's
# greedy reply to turn 1, then its reply to the whole conversation (system, user 1, run's reply 1,
# user 2); turn 2 must compute fewer prompt positions than the conversation holds (the KV blocks
# it shares with turn 1 are reused). Also: a model without a chat template is refused with the fix.
. "$(dirname "$0")/lib/worker_env.sh"

m="$T/chat.gguf"
"$BIN" gguf synth --dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --vocab 1000 --qk-scale 4 --type q8_0 \
    --chat-template chatml -q -o "$m" || { fail "synth"; finish; }
SYS="You are a terse assistant who answers in one line."
U1="Hello there, how are you today?"
U2="Tell me about the little dog in the park."
printf '%s\n\n%s\n' "$U1" "$U2" |
    "$BIN" run -m "$m" --chat --system "$SYS" -n 12 --temp 0 --ignore-eos -t 1 >"$T/out.txt" 2>"$T/err.txt" ||
    fail "run --chat conversation: $(cat "$T/err.txt")"
[ "$(grep -c 'prompt eval:' "$T/err.txt")" -eq 2 ] || fail "expected one timing line per turn: $(cat "$T/err.txt")"

start_worker "$m" -t 1
$PY - "$URL" "$SYS" "$U1" "$U2" "$T/out.txt" "$T/err.txt" <<'PYEOF' || fail "the conversation differs from the worker's chat replies"
import json, re, sys, urllib.request
url, system, u1, u2, out_path, err_path = sys.argv[1:7]

def chat(messages):
    body = json.dumps({"messages": messages, "max_tokens": 12, "temperature": 0, "ignore_eos": True}).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = json.load(urllib.request.urlopen(req, timeout=60))
    return r["choices"][0]["message"]["content"], r["usage"]["prompt_tokens"]

msgs = [{"role": "system", "content": system}, {"role": "user", "content": u1}]
r1, p1 = chat(msgs)
msgs += [{"role": "assistant", "content": r1}, {"role": "user", "content": u2}]
r2, p2 = chat(msgs)
got = open(out_path, encoding="utf-8", errors="replace", newline="").read()
want = r1 + "\n" + r2 + "\n"
assert got == want, (got, want)
evals = [int(n) for n in re.findall(r"prompt eval: (\d+) tokens", open(err_path).read())]
assert evals[0] == p1, (evals, p1)
assert 0 < evals[1] < p2, ("turn 2 should reuse turn 1's KV blocks", evals, p2)
print(f"run --chat: 2 turns equal the worker's replies; turn 2 computed {evals[1]} of {p2} prompt positions")
PYEOF
stop_worker
[ "$WRC" -eq 0 ] || fail "worker exited $WRC"

# no template: refused, naming the fix
"$BIN" gguf synth --dim 64 --layers 1 --heads 2 --ffn 128 --vocab 300 -q -o "$T/plain.gguf" || fail "synth plain"
if echo hi | "$BIN" run -m "$T/plain.gguf" --chat -n 2 >"$T/o2" 2>"$T/e2"; then
    fail "run --chat on a model without a template succeeded"
fi
grep -q -- "--chat-template" "$T/e2" || fail "no-template error does not name --chat-template: $(cat "$T/e2")"
finish
