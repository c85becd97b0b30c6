#!/usr/bin/python3
"""The gateway's connection layer under attack (loopback only, issue #15 D2, D3, D6, D7, D8, D17):

- D2: 24 clients leave mid-request (16 running on the backend, 8 queued): the backend is told at
  once (its connections close: every started call is cancelled, none runs to the end) and each is
  recorded 499 within a second, not 504 after the timeout;
- D3: a client that half-closes (shutdown(SHUT_WR)) after sending still gets its whole answer;
- D17: a backend that answers 40 MiB meets limits.max_response_bytes: a typed 502 to the client,
  a record that says why, and no 40 MiB held by the gateway; a 40 MiB stream is cut at the same
  size and ends with the typed error event; serve --check validates the key;
- D7: 200 stalled near-1 MiB uploads: past limits.max_buffered_body_bytes the rest are refused
  at once with 503, the RSS stays bounded and comes back once the stalled ones are closed;
- D6: 2,000 slowloris connections that keep trickling header bytes are closed at the header
  deadline all the same, and a well-behaved client is served meanwhile; with a connection cap far
  below 2,000 (a low RLIMIT_NOFILE) the oldest unfinished connections are evicted so the
  well-behaved client still gets in;
- D8: on SIGTERM a half-sent POST and an idle keep-alive connection are closed at once, the
  request in flight still gets its answer, and the gateway exits when it is done (not at the
  shutdown timeout).
"""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import attack as A  # noqa: E402
import serve_env as E  # noqa: E402
from serve_env import check  # noqa: E402

A.raise_nofile()
WORK_MS = 2500
blog = os.path.join(E.T, "slow.jsonl")
pf = os.path.join(E.T, "slow.port")
bp = E.spawn([E.PY, os.path.join(E.ROOT, "tests/e2e/lib/fake_slow_backend.py"), "--work-ms", str(WORK_MS),
              "--port-file", pf, "--log", blog], "slow.log")
bport = E._wait_file(pf, bp, "slow backend")


def config(limits):
    return """listen: 127.0.0.1:0
tiers:
  - {name: slow, url: "http://127.0.0.1:%d/v1", model: m, max_concurrency: 16}
routes:
  - {match: {endpoint: any}, tier: slow}
limits: {request_timeout_s: 8, %s}
""" % (bport, limits)


def events():
    return [json.loads(l) for l in open(blog) if l.strip()]


def wait_until(cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


gw = E.Gateway(config("header_timeout_s: 1, body_timeout_s: 1, max_buffered_body_bytes: 16777216, "
                      "max_response_bytes: 1048576"))

# ---- D3 (started first: its answer takes WORK_MS) ----
half = A.raw_post(gw.port, "/v1/completions", {"prompt": "half", "max_tokens": 2}, half_close=True)

# ---- D2 ----
time.sleep(0.1)
leavers = [A.raw_post(gw.port, "/v1/completions", {"prompt": "leave-%d" % i, "max_tokens": 2}) for i in range(24)]
time.sleep(0.6)
t_leave = time.time()
for s in leavers:
    s.close()
recs = lambda: [r for r in gw.telemetry() if r.get("status") == 499]   # noqa: E731
check(wait_until(lambda: len(recs()) == 24, 2.0), "D2: %d of 24 clients that left recorded 499 within 2 s" % len(recs()))
t_recorded = time.time() - t_leave
ev = [e for e in events() if str(e.get("prompt", "")).startswith("leave-")]
started = sum(e["event"] == "started" for e in ev)
check(wait_until(lambda: sum(e["event"] == "cancelled" for e in events()
                             if str(e.get("prompt", "")).startswith("leave-")) >= started, 1.0),
      "D2: the backend was not told of every client that left")
ev = [e for e in events() if str(e.get("prompt", "")).startswith("leave-")]
cancelled = sum(e["event"] == "cancelled" for e in ev)
done = sum(e["event"] == "done" for e in ev)
check(started >= 15 and cancelled == started and done == 0,
      "D2: backend started %d, cancelled %d, ran to the end %d (want >= 15 (16 slots, one holds the D3 request), all cancelled, none done)"
      % (started, cancelled, done))
check(not [r for r in gw.telemetry() if r.get("status") == 504], "D2: some requests were recorded 504")
print("D2: 24 clients left: %d backend calls cancelled, 0 run to the end, 24 x 499 recorded within %.2f s"
      % (cancelled, t_recorded))

# ---- D3 ----
raw = A.answer_of(half, timeout=WORK_MS / 1000 + 3)
check(A.status_of(raw) == 200 and b"slow:half" in raw, "D3: a half-closed client got %r" % raw[:120])
rec = [r for r in gw.telemetry() if r.get("status") == 200]
check(len(rec) == 1, "D3: the half-closed client's record is missing or wrong: %s" % rec)
print("D3: a client that half-closed got its whole answer (%d bytes), recorded 200" % len(raw))

# ---- D17 ----
rss0 = A.rss_mb(gw.proc.pid)
st, hd, body = gw.post("/v1/completions", {"prompt": "huge:41943040", "max_tokens": 2})
err = json.loads(body).get("error", {}) if body.startswith(b"{") else {}
check(st == 502 and err.get("code") == "response_too_large", "D17: a 40 MiB answer gave %d %r" % (st, body[:200]))
rss1 = A.rss_mb(gw.proc.pid)
check(rss1 - rss0 < 16, "D17: RSS grew %.1f MiB for a capped answer" % (rss1 - rss0))
rec = [r for r in gw.telemetry() if r.get("status") == 502]
check(len(rec) == 1 and "max_response_bytes" in (rec[0].get("error") or ""),
      "D17: the record does not say why: %s" % rec)
check(wait_until(lambda: any(e["event"] == "huge_cut" for e in events()), 2.0),
      "D17: the backend's transfer was not cut")
# the same cap on a stream passed through: the events before it, then the typed error event
import http.client  # noqa: E402
rss0 = A.rss_mb(gw.proc.pid)
hc = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
hc.request("POST", "/v1/completions", body=json.dumps({"prompt": "huge:41943040", "max_tokens": 2, "stream": True}),
           headers={"Content-Type": "application/json"})
hr = hc.getresponse()
sbody = hr.read()
hc.close()
sevs = [l[6:] for l in sbody.decode().split("\n") if l.startswith("data: ")]
last = [json.loads(d) for d in sevs[-3:-1]] if len(sevs) >= 3 else []
check(hr.status == 200 and sevs and sevs[-1] == "[DONE]" and len(last) == 2
      and last[0]["choices"][0]["finish_reason"] == "error" and last[1].get("error", {}).get("code") == "response_too_large",
      "D17: a 40 MiB stream did not end with the response_too_large error event: %d, %d bytes, tail %r"
      % (hr.status, len(sbody), sbody[-300:]))
check(len(sbody) < 1048576 + 131072, "D17: the client was sent %d bytes of a stream capped at 1 MiB" % len(sbody))
rss1 = A.rss_mb(gw.proc.pid)
check(rss1 - rss0 < 16, "D17: RSS grew %.1f MiB for a capped stream" % (rss1 - rss0))
srec = lambda: [r for r in gw.telemetry() if r.get("stream") and r.get("status") == 502]   # noqa: E731
check(wait_until(lambda: len(srec()) == 1, 2.0) and "max_response_bytes" in (srec()[0].get("error") or "")
      and srec()[0].get("reason", "").startswith("response_too_large"), "D17: the stream's record: %s" % srec())
check(wait_until(lambda: sum(e["event"] == "huge_cut" for e in events()) >= 2, 2.0),
      "D17: the backend's stream was not cut")
print("D17: a 40 MiB stream -> cut at 1 MiB (%d bytes sent) with the response_too_large event, RSS +%.1f MiB"
      % (len(sbody), rss1 - rss0))
bad = os.path.join(E.T, "bad.yaml")
open(bad, "w").write(config("max_response_bytes: 10"))
import subprocess  # noqa: E402
chk = subprocess.run([E.BIN, "serve", "--check", bad], capture_output=True, text=True)
check(chk.returncode != 0 and "max_response_bytes" in chk.stderr, "D17: serve --check let max_response_bytes: 10 pass")
print("D17: a 40 MiB answer -> 502 response_too_large, RSS +%.1f MiB, record says why" % (rss1 - rss0))

# ---- D7 ----
rss0 = A.rss_mb(gw.proc.pid)
ups, peak = [], rss0
for i in range(200):
    ups.append(A.stalled_upload(gw.port, 1000000, 900000))
    if i % 20 == 0:
        peak = max(peak, A.rss_mb(gw.proc.pid))
peak = max(peak, A.rss_mb(gw.proc.pid))
refused = sum(A.status_of(A.answer_of(s, timeout=0.05)) == 503 for s in ups)
check(refused >= 150, "D7: only %d of 200 stalled uploads were refused by the 16 MiB body budget" % refused)
check(peak - rss0 < 64, "D7: RSS grew %.1f MiB with a 16 MiB body budget" % (peak - rss0))
# The accepted ones stall: the body deadline (1 s) closes them and their memory goes back.
check(wait_until(lambda: A.closed_by_server(ups) == len(ups), 3.0), "D7: stalled uploads outlived the body deadline")
time.sleep(0.3)
rss2 = A.rss_mb(gw.proc.pid)
check(rss2 - rss0 < 12, "D7: %.1f MiB kept after the stalled uploads closed" % (rss2 - rss0))
A.close_all()
st, _, _ = gw.post("/v1/completions", {"prompt": "after", "max_tokens": 2})
check(st == 200, "D7: a request after the uploads got %d" % st)
print("D7: 200 stalled ~1 MiB uploads: %d refused with 503, RSS %.0f -> peak %.0f -> %.0f MiB" % (refused, rss0, peak, rss2))

# ---- D6: the header deadline is not reset by trickled bytes ----
socks = A.slowloris(gw.port, 2000)
lat = []
t0 = time.time()
early = None
while time.time() - t0 < 1.8:
    if early is None and time.time() - t0 > 0.4:
        early = A.closed_by_server(socks[-200:])   # the last opened: 0.4 s old
    A.trickle(socks)
    lat += A.latencies(gw.port, 10)
    time.sleep(0.1)
closed = A.closed_by_server(socks)
check(early is not None and early < 10, "D6: %s of the 200 newest connections were closed before their deadline" % early)
check(len(socks) >= 1900 and closed >= 0.95 * len(socks),
      "D6: %d of %d trickling slowloris connections closed after 1.8 s (header deadline 1 s)" % (closed, len(socks)))
check(gw.metric("rightsize_connections_closed_total", 'reason="header_deadline"') >= 0.95 * len(socks),
      "D6: connections_closed_total{reason=header_deadline} = %d"
      % gw.metric("rightsize_connections_closed_total", 'reason="header_deadline"'))
ok = sum(x != float("inf") for x in lat)
check(ok == len(lat), "D6: %d of %d well-behaved requests failed during the attack" % (len(lat) - ok, len(lat)))
print("D6: %d slowloris connections trickling: %d closed at the header deadline; well-behaved /health p50 %.1f ms, "
      "p99 %.1f ms (%d requests)" % (len(socks), closed, A.pct(lat, 50) * 1e3, A.pct(lat, 99) * 1e3, len(lat)))
A.close_all()
gw.stop()

# ---- D6 (cap) and D8 on a gateway with a low descriptor limit and long deadlines ----
wrap = os.path.join(E.T, "lownofile.sh")
open(wrap, "w").write('#!/bin/sh\nulimit -n 1700\nexec "%s" "$@"\n' % E.BIN)
os.chmod(wrap, 0o755)
E.BIN = wrap
gw2 = E.Gateway(config("header_timeout_s: 60, body_timeout_s: 60"), extra=["--shutdown-timeout", "20"], name="capped")
socks = A.slowloris(gw2.port, 2000)
lat = A.latencies(gw2.port, 30)
ok = sum(x != float("inf") for x in lat)
check(ok == len(lat), "D6 cap: %d of %d well-behaved requests failed behind 2,000 half-open connections" % (len(lat) - ok, len(lat)))
evicted = A.closed_by_server(socks)
check(gw2.metric("rightsize_connections_closed_total", 'reason="evicted"') >= evicted,
      "D6 cap: connections_closed_total{reason=evicted} = %d" % gw2.metric("rightsize_connections_closed_total", 'reason="evicted"'))
check(evicted >= 1500, "D6 cap: only %d of 2,000 half-open connections evicted under a ~400-connection cap" % evicted)
print("D6 cap: 2,000 half-open connections over a ~400 cap: %d evicted, well-behaved /health p99 %.1f ms"
      % (evicted, A.pct(lat, 99) * 1e3))
A.close_all()

# D8: one request in flight, one half-sent POST, one idle keep-alive connection; then SIGTERM.
inflight = A.raw_post(gw2.port, "/v1/completions", {"prompt": "drain", "max_tokens": 2})
time.sleep(0.2)
partial = A.stalled_upload(gw2.port, 5000, 100)
# A keep-alive connection that then sits idle (an answered POST: it stays open).
import http.client  # noqa: E402
keep = http.client.HTTPConnection("127.0.0.1", gw2.port, timeout=5)
keep.request("POST", "/v1/none", body="{}", headers={"Content-Type": "application/json"})
kr = keep.getresponse()
kr.read()
check(kr.status == 404 and keep.sock is not None, "D8: could not open an idle keep-alive connection")
t_term = time.time()
gw2.proc.send_signal(signal.SIGTERM)
check(wait_until(lambda: A.closed_by_server([partial]) == 1, 1.0), "D8: the half-sent POST was not closed at once on drain")
t_partial = time.time() - t_term
keep_closed = wait_until(lambda: A.closed_by_server([keep.sock]) == 1, 1.0)
check(keep_closed, "D8: an idle keep-alive connection was not closed on drain")
raw = A.answer_of(inflight, timeout=WORK_MS / 1000 + 2)
check(A.status_of(raw) == 200 and b"slow:drain" in raw, "D8: the request in flight did not get its answer: %r" % raw[:100])
try:
    gw2.proc.wait(timeout=5)
except Exception:
    pass
t_exit = time.time() - t_term
check(gw2.proc.poll() == 0 and t_exit < WORK_MS / 1000 + 2,
      "D8: the gateway exited rc=%s after %.1f s (the request in flight needed %.1f s)" % (gw2.proc.poll(), t_exit, WORK_MS / 1000))
print("D8: on SIGTERM the half-sent POST closed after %.0f ms, the request in flight answered 200, exit after %.2f s"
      % (t_partial * 1e3, t_exit))
A.close_all()
E.finish()
