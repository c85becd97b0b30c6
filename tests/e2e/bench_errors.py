#!/usr/bin/python3
"""bench (c): errors are counted by kind. The fake server scripts a fault by request number
(x-request-id % 10): 1 drops the connection, 3 answers 429, 5 answers 500, 7 answers 400,
8 sends a malformed chunk, 9 never answers (the 1 s --timeout fires). 100 requests, closed loop:
exactly 10 of each kind and 40 ok. The x-rightsize-cost-usd header (0.25 on every 200) sums over
the 50 responses that carried it. Also: usage errors exit 2 with a message, and a refused port
counts connection errors and exits 1.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from benchtest import BIN, FakeServer, bench, check, read_trace, tmpdir  # noqa: E402

tmp = tmpdir()
tr = os.path.join(tmp, "t.csv")
faults = ["10:1=close", "10:3=429", "10:5=500", "10:7=400", "10:8=badjson", "10:9=hang"]
args = []
for f in faults:
    args += ["--fault", f]
with FakeServer(tmp, "--ttft-ms", "2", "--itl-ms", "1", "--tokens", "4", "--cost-usd", "0.25", *args) as srv:
    out, err = bench("--url", srv.url, "--concurrency", "10", "--requests", "100", "--timeout", "1",
                     "--output-tokens", "4", "--json", "-", "--trace", tr)
rep = json.loads(out)
e = rep["errors"]
want = {"connection": 10, "http_429": 10, "http_5xx": 10, "http_4xx": 10, "protocol": 10, "timeout": 10,
        "other": 0}
for k, v in want.items():
    check(e[k] == v, "errors.%s = %d, wanted %d (all: %s)" % (k, e[k], v, e))
check(e["total"] == 60 and rep["requests"]["ok"] == 40, "total %d ok %d" % (e["total"], rep["requests"]["ok"]))
# Each request's outcome matches its scripted fault.
kinds = {1: "connection", 3: "http_429", 5: "http_5xx", 7: "http_4xx", 8: "protocol", 9: "timeout"}
_, rows = read_trace(tr)
for r in rows:
    wantk = kinds.get(r["id"] % 10, "ok")
    check(r["outcome"] == wantk, "request %d: %s, wanted %s" % (r["id"], r["outcome"], wantk))
    if wantk == "timeout":
        check(950000 <= r["e2e_us"] <= 1500000, "timeout after %d us, wanted ~1 s" % r["e2e_us"])
check(abs(rep["cost_usd"]["total"] - 12.5) < 1e-9 and rep["cost_usd"]["responses_with_cost"] == 50,
      "cost %s, wanted 12.5 over 50" % rep["cost_usd"])
check(re.search(r"errors: http_429 10 http_4xx 10 http_5xx 10 timeout 10 connection 10 protocol 10", err),
      "text summary (on stderr with --json -) lacks the errors line:\n" + err)

# The cost may also come as an HTTP trailer (known only once the stream ends).
with FakeServer(tmp, "--tokens", "3", "--cost-usd", "0.125", "--cost-trailer") as srv:
    out, _ = bench("--url", srv.url, "--concurrency", "2", "--requests", "8", "--json", "-")
c = json.loads(out)["cost_usd"]
check(abs(c["total"] - 1.0) < 1e-9 and c["responses_with_cost"] == 8, "trailer cost %s, wanted 1.0 over 8" % c)

# --api-key (or $OPENAI_API_KEY) is sent as a bearer token; without it the server says 401.
with FakeServer(tmp, "--tokens", "2", "--require-key", "sk-test-42") as srv:
    out, _ = bench("--url", srv.url, "--concurrency", "2", "--requests", "4", "--json", "-", expect_rc=1)
    check(json.loads(out)["errors"]["http_4xx"] == 4, "no key: %s" % json.loads(out)["errors"])
    out, _ = bench("--url", srv.url, "--concurrency", "2", "--requests", "4", "--api-key", "sk-test-42", "--json", "-")
    check(json.loads(out)["requests"]["ok"] == 4, "with --api-key: %s" % json.loads(out)["errors"])
    env = dict(os.environ, OPENAI_API_KEY="sk-test-42")
    p = subprocess.run([BIN, "bench", "--quiet", "--url", srv.url, "--concurrency", "2", "--requests", "4", "--json", "-"],
                       capture_output=True, text=True, timeout=60, env=env)
    check(p.returncode == 0 and json.loads(p.stdout)["requests"]["ok"] == 4, "with $OPENAI_API_KEY: %r" % p.stderr)

# Usage errors: exit 2 and say what is wrong.
for bad, words in ((["--rate", "10"], "--url is required"),
                   (["--url", "http://127.0.0.1:1/v1", "--rate", "x", "--duration", "1"], "--rate 'x'"),
                   (["--url", "http://127.0.0.1:1/v1", "--rate", "5"], "needs --duration"),
                   (["--url", "http://127.0.0.1:1/v1", "--rate", "5", "--duration", "1", "--concurrency", "2"],
                    "either"),
                   (["--url", "ftp://x", "--concurrency", "1", "--requests", "1"], "http://"),
                   (["--url", "http://127.0.0.1:1/v1", "--concurrency", "1", "--requests", "1",
                     "--endpoint", "rerank"], "chat, completions or embeddings"),
                   (["--url", "http://127.0.0.1:1/v1", "--concurrency", "1", "--requests", "1", "--bogus"],
                    "unknown"),
                   (["--url", "http://127.0.0.1:1/v1", "--concurrency", "1", "--requests", "1",
                     "--prompt-file", "/nonexistent/p.txt"], "cannot open prompt file")):
    p = subprocess.run([BIN, "bench"] + bad, capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and words in p.stderr, "bench %s: rc %d, stderr %r" % (bad, p.returncode, p.stderr))

# Nothing listening: every request is a connection error, exit 1.
out, err = bench("--url", "http://127.0.0.1:1/v1", "--concurrency", "2", "--requests", "6", expect_rc=1)
check("connection 6" in out and "no request succeeded" in err, "refused port: %r %r" % (out, err))
# Without --quiet a progress line goes to stderr once a second (and at the end); stdout stays clean.
with FakeServer(tmp, "--ttft-ms", "400", "--tokens", "2") as srv:
    p = subprocess.run([BIN, "bench", "--url", srv.url, "--rate", "5", "--duration", "2", "--output-tokens", "2"],
                       capture_output=True, text=True, timeout=60)
lines = [l for l in p.stderr.splitlines() if re.match(r"^\[ +\d+s\] sent \d+/\d+  done \d+  in-flight \d+  errors \d+  rps [\d.]+$", l)]
check(p.returncode == 0 and len(lines) >= 2 and "in-flight" not in p.stdout, "progress lines: %r" % p.stderr)
last = re.match(r"^\[ +\d+s\] sent (\d+)/(\d+)  done (\d+)  in-flight 0", lines[-1])
check(last and last.group(1) == last.group(2) == last.group(3), "last progress line %r" % lines[-1])
# SIGINT stops new sends, lets open streams finish, reports what completed, exits 0.
import signal  # noqa: E402
import time  # noqa: E402
with FakeServer(tmp, "--ttft-ms", "200", "--tokens", "2") as srv:
    p = subprocess.Popen([BIN, "bench", "--quiet", "--url", srv.url, "--rate", "20", "--duration", "30",
                          "--output-tokens", "2", "--json", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
check(p.returncode == 0 and "stopped by signal" in err, "after SIGINT: rc %d, %r" % (p.returncode, err))
rep = json.loads(out)
r = rep["requests"]
check(0 < r["sent"] < r["scheduled"] and r["completed"] == r["sent"] == r["ok"], "after SIGINT: %s" % r)
print("errors ok: %s" % {k: e[k] for k in want})
