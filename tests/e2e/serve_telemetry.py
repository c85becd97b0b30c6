#!/usr/bin/python3
"""Telemetry against independent truth (#11 parts 1-3, #15 D16). Scripted streaming backends
(tests/e2e/lib/fake_stream_backend.py: one SSE event per token, a `role` chunk first, a known
delay before the first content token) behind `rightsize serve`; curl is the client.
- Streams pass through as sent: curl receives exactly the backend's events (less the usage chunk
  the gateway asked for on a client's behalf that did not ask for it).
- Telemetry: tokens from the backend's usage (usage_source "backend"), or counted events where a
  backend sends none ("counted"); TTFT at the first content token (not the role chunk); TPOT;
  finish_reason; /metrics token counters equal the tokens the client received.
- 4xx answers stay out of the latency histograms; cost by tier and route.
- A backend killed mid-stream: the client gets a final chunk with finish_reason "error", an error
  event and [DONE]; telemetry says status 502 (http_status 200) with the error.
- #15 D16: a worker whose served model name has CR and malformed UTF-8 still passes promtool.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import PY, ROOT, T, BIN, Gateway, check, finish, spawn, synth, _wait_file  # noqa: E402

if not shutil.which("curl"):
    print("skip: curl not installed")
    sys.exit(77)


def backend(name, *extra):
    pf = os.path.join(T, name + ".port")
    logf = os.path.join(T, name + ".log.jsonl")
    p = spawn([PY, os.path.join(ROOT, "tests/e2e/lib/fake_stream_backend.py"), "--port-file", pf, "--log", logf]
              + list(extra), name + ".stderr")
    return p, _wait_file(pf, p, name), logf


def events_of(raw):
    return [e for e in raw.replace("\r\n", "\n").split("\n\n") if e.strip()]


def data_of(ev):
    return "\n".join(l[5:].lstrip(" ") for l in ev.split("\n") if l.startswith("data:"))


def curl_stream(port, path, body, out=None):
    argv = ["curl", "-sN", "--max-time", "30", "-H", "Content-Type: application/json", "-d", json.dumps(body),
            "http://127.0.0.1:%d%s" % (port, path)]
    if out:
        return subprocess.Popen(argv, stdout=open(out, "wb"))
    return subprocess.run(argv, capture_output=True, timeout=40).stdout.decode()


_, fs_port, fs_log = backend("fs", "--tokens", "20", "--first-ms", "150", "--gap-ms", "10")
_, nu_port, _ = backend("nu", "--tokens", "12", "--no-usage")
die_proc, die_port, _ = backend("dies", "--tokens", "200", "--gap-ms", "40")
gw = Gateway("""
tiers:
  - {name: fs, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 3.6}
  - {name: nu, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 3.6, quantization: q4_k_m}
  - {name: dies, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 3.6}
routes:
  - {name: chatty, match: {endpoint: chat, header: {name: x-tier, value: dies}}, tier: dies}
  - {name: chatty-fs, match: {endpoint: chat}, tier: fs}
  - {name: plain, match: {endpoint: completions}, tier: nu}
""" % (fs_port, nu_port, die_port))

# 1. a stream whose client did not ask for usage: every backend event but the usage chunk
msgs = [{"role": "user", "content": "hello there"}]
raw = curl_stream(gw.port, "/v1/chat/completions", {"model": "m", "messages": msgs, "stream": True, "max_tokens": 20})
ev = events_of(raw)
def backend_log(path, n):
    t0 = time.time()
    while time.time() - t0 < 10:
        lines = [json.loads(l) for l in open(path) if l.endswith("\n")] if os.path.exists(path) else []  # complete lines only
        if len(lines) >= n:
            return lines
        time.sleep(0.02)
    return lines


sent = backend_log(fs_log, 1)
check(sent and sent[-1]["include_usage"] is True, "the gateway asks the backend for usage: %s" % sent[-1:])
check(len(ev) == sent[-1]["events"] - 1, "client got %d events, backend sent %d (+1 usage chunk dropped)"
      % (len(ev), sent[-1]["events"]))
check(not any('"usage"' in e for e in ev), "no usage chunk reaches a client that did not ask for it")
def piece(e):
    d = data_of(e)
    if not d.startswith("{"):
        return ""
    ch = (json.loads(d).get("choices") or [{}])[0]
    return ch.get("text") or (ch.get("delta") or {}).get("content") or ""


content = [e for e in ev if piece(e)]
check(len(content) == 20, "20 content events, one per token (got %d)" % len(content))

# 2. with include_usage: the usage chunk passes; telemetry equals it
raw = curl_stream(gw.port, "/v1/chat/completions", {"model": "m", "messages": msgs, "stream": True, "max_tokens": 20,
                                                     "stream_options": {"include_usage": True}})
ev = events_of(raw)
check(len(ev) == backend_log(fs_log, 2)[-1]["events"], "every event passes through as sent")
usage = [json.loads(data_of(e))["usage"] for e in ev if '"usage"' in e]
check(len(usage) == 1 and usage[0]["completion_tokens"] == 20, "client's usage chunk: %s" % usage)

# 3. a backend without usage: tokens counted from events, and said so
raw = curl_stream(gw.port, "/v1/completions", {"model": "m", "prompt": "x", "stream": True, "max_tokens": 12})
check(sum(bool(piece(e)) for e in events_of(raw)) == 12, "12 text events through the gateway")

# 4. a 400 from the backend: answered, recorded, not in the latency histograms
st = gw.post("/v1/completions", {"model": "m", "prompt": "bad"})[0]
check(st == 400, "the backend's 400 reaches the client (%s)" % st)

# 5. a backend killed mid-stream
out = os.path.join(T, "cut.sse")
argv = ["curl", "-sN", "--max-time", "30", "-H", "Content-Type: application/json", "-H", "x-tier: dies", "-d",
        json.dumps({"model": "m", "messages": msgs, "stream": True, "max_tokens": 200}),
        "http://127.0.0.1:%d/v1/chat/completions" % gw.port]
cp = subprocess.Popen(argv, stdout=open(out, "wb"))
t0 = time.time()
while open(out, "rb").read().count(b'"content": "t') < 5 and time.time() - t0 < 20:
    time.sleep(0.02)
os.killpg(die_proc.pid, signal.SIGKILL)
cp.wait(timeout=30)
ev = events_of(open(out, "rb").read().decode())
chunks = [json.loads(data_of(e)) for e in ev if data_of(e) != "[DONE]"]
fins = [c["choices"][0].get("finish_reason") for c in chunks if c.get("choices")]
check("error" in fins, "the cut stream ends with finish_reason 'error' (got %s)" % fins[-3:])
check(any("error" in c for c in chunks), "an error event reaches the client")
check(ev and data_of(ev[-1]) == "[DONE]", "the stream still ends with [DONE]")
check(fins.count("stop") + fins.count("length") == 0, "no normal finish on a cut stream")

time.sleep(0.3)
rec = gw.telemetry()
check(len(rec) == 5, "5 telemetry records (got %d)" % len(rec))
r1, r2, r3, r4, r5 = rec[:5]
for r in rec:
    check(r.get("schema") == "rightsize.telemetry/2", "schema field in %s" % r.get("id"))
check(r1["output_tokens"] == 20 and r1["prompt_tokens"] == 7 and r1["usage_source"] == "backend",
      "stream without client usage: tokens from the backend's usage (%s)" % r1)
check(r2["output_tokens"] == usage[0]["completion_tokens"] and r2["prompt_tokens"] == usage[0]["prompt_tokens"],
      "telemetry tokens equal the client's usage")
for r in (r1, r2):
    check(r["finish_reason"] == "length", "finish_reason from the stream (%s)" % r["finish_reason"])
    check(150 <= r["ttft_ms"] < 1500, "TTFT at the first content token, after the 150 ms delay (%s)" % r["ttft_ms"])
    check(5 <= r["tpot_ms"] < 200, "TPOT ~ the 10 ms gap (%s)" % r["tpot_ms"])
    check(r["status"] == 200 and r["error"] is None, "ok stream: status 200, no error")
check(r3["usage_source"] == "counted" and r3["output_tokens"] == 12 and r3["prompt_tokens"] is None,
      "no usage from the backend: counted events, said so (%s)" % r3)
check(r3["quantization"] == "q4_k_m", "a remote tier's quantization from its config")
check(r4["status"] == 400 and r4["error"] == "bad prompt", "a 4xx: status and the backend's error (%s)" % r4)
check(r5["status"] == 502 and r5["http_status"] == 200 and r5["finish_reason"] == "error" and r5["error"],
      "a cut stream: status 502 with its error in telemetry (%s)" % r5)

text = gw.metrics()
path = os.path.join(T, "metrics.txt")
open(path, "w").write(text)
if shutil.which("promtool"):
    pr = subprocess.run(["promtool", "check", "metrics"], stdin=open(path), capture_output=True, text=True)
    check(pr.returncode == 0, "promtool check metrics: %s %s" % (pr.stdout, pr.stderr))
check(gw.metric("rightsize_generation_tokens_total", 'tier="fs"') == 40, "generated tokens on fs = 20 + 20")
check(gw.metric("rightsize_generation_tokens_total", 'tier="nu"') == 12, "counted tokens on nu = 12")
check(gw.metric("rightsize_e2e_request_latency_seconds_count", 'tier="nu"') == 1,
      "the 400 is not in the e2e histogram (only the answered stream is)")
check(gw.metric("rightsize_requests_total", 'status="400"') == 1, "the 400 is counted as a request")
check(gw.metric("rightsize_request_cost_usd_total", 'tier="fs",route="chatty-fs"') > 0, "cost by tier and route")
# 7. a client that leaves mid-stream is recorded as 499, not as a broken backend
subprocess.run(["curl", "-sN", "--max-time", "0.3", "-H", "Content-Type: application/json", "-d",
                json.dumps({"model": "m", "messages": msgs, "stream": True}),
                "http://127.0.0.1:%d/v1/chat/completions" % gw.port], capture_output=True, timeout=10)
t0 = time.time()
while len(gw.telemetry()) < 6 and time.time() - t0 < 10:
    time.sleep(0.05)
last = gw.telemetry()[-1]
check(last["status"] == 499 and last["http_status"] == 200 and "client left" in (last["error"] or ""),
      "a client that left mid-stream: 499 (%s)" % {k: last[k] for k in ("status", "http_status", "error")})
check(gw.stop() == 0, "serve exits 0")

# 6. #15 D16: CR and malformed UTF-8 in a worker's model name keep /metrics valid
if shutil.which("promtool"):
    model = synth("d16", 3)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    wp = spawn([BIN.encode(), b"worker", b"-m", model.encode(), b"--listen", b"127.0.0.1:%d" % port, b"-t", b"1",
                b"--served-model-name", b"bad\rname\xff\xc3("], "worker.log")
    import urllib.request
    text = None
    t0 = time.time()
    while text is None and time.time() - t0 < 30 and wp.poll() is None:
        try:
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2).read()
        except OSError:
            time.sleep(0.05)
    check(text is not None, "the worker answers /metrics")
    if text is not None:
        open(path, "wb").write(text)
        pr = subprocess.run(["promtool", "check", "metrics"], stdin=open(path), capture_output=True, text=True)
        check(pr.returncode == 0, "promtool accepts the worker's /metrics with a CR/invalid UTF-8 model name: %s"
              % pr.stderr[-300:])
        check(b"bad\xef\xbf\xbdname\xef\xbf\xbd\xef\xbf\xbd(" in text, "the bad bytes became U+FFFD")
finish()
