#!/usr/bin/python3
"""The worker's connection layer under attack (loopback only, issue #15 D2, D3, D6, D7, D8):

- D3: a client that half-closes after sending its request gets the whole answer (before, the
  worker took the FIN for a departure and cancelled it);
- D2: 24 clients that leave mid-request (16 generating, 8 queued) are all counted 499 and their
  sequences freed within a second (generation stops);
- D7: 200 stalled near-1 MiB uploads: past --max-buffered-body-mb the rest get 503 at once, RSS
  stays bounded and comes back once the body deadline closed the stalled ones;
- D6: 2,000 slowloris connections trickling header bytes are closed at the header deadline (a
  fixed deadline, not reset by each byte) while /health keeps answering;
- D8: SIGTERM with a half-sent POST and a request generating: the POST's connection is closed at
  once, the running request gets its answer and the worker exits when it is done.
"""
import json
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import attack as A  # noqa: E402
import serve_env as E  # noqa: E402
from serve_env import check  # noqa: E402

A.raise_nofile()
import subprocess  # noqa: E402
model = os.path.join(E.T, "m.gguf")   # big enough that 16 sequences generate for seconds
subprocess.run([E.BIN, "gguf", "synth", "--dim", "256", "--layers", "8", "--heads", "8", "--kv-heads", "8", "--ffn",
                "768", "--vocab", "512", "--ctx", "4096", "--type", "q8_0", "-q", "-o", model], check=True)
w, port = E.start_worker(model, ["--max-num-seqs", "16", "--header-timeout", "1", "--body-timeout", "1",
                                 "--max-buffered-body-mb", "16", "--shutdown-timeout", "20"])


def metric(name, label=""):
    txt = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    tot = 0.0
    for line in txt.splitlines():
        if line.startswith("rightsize_" + name) and line[len("rightsize_" + name)] in "{ " and label in line:
            tot += float(line.split()[-1])
    return tot


def wait_until(cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


# ---- D3 ----
s = A.raw_post(port, "/v1/completions", {"prompt": "half", "max_tokens": 24, "ignore_eos": True}, half_close=True)
raw = A.answer_of(s, timeout=20)
body = raw.split(b"\r\n\r\n")[-1]
ok = A.status_of(raw) == 200 and b'"completion_tokens":24' in body.replace(b" ", b"")
check(ok, "D3: a half-closed client got %r" % raw[:200])
check(metric("requests_total", 'status="499"') == 0, "D3: the half-closed client was counted 499")
print("D3: a client that half-closed got its whole answer (24 tokens)")

# ---- D2 ----
MAX = 3000
leavers = [A.raw_post(port, "/v1/completions", {"prompt": "leave %d" % i, "max_tokens": MAX, "ignore_eos": True})
           for i in range(24)]
check(wait_until(lambda: metric("num_requests_running") == 16, 5), "D2: 16 requests are not running")
t_leave = time.time()
for s in leavers:
    s.close()
check(wait_until(lambda: metric("requests_total", 'status="499"') == 24 and metric("num_requests_running") == 0
                 and metric("num_requests_waiting") == 0, 2.0),
      "D2: after 2 s: %d x 499, %d running, %d waiting" % (metric("requests_total", 'status="499"'),
                                                           metric("num_requests_running"), metric("num_requests_waiting")))
print("statuses:", [(s_, metric("requests_total", "status=\"%s\"" % s_)) for s_ in ("200", "499", "503", "500")])
g1 = metric("generation_tokens_total")
time.sleep(0.3)
check(metric("generation_tokens_total") == g1, "D2: generation went on after the clients left")
check(metric("requests_total", 'status="503"') == 0, "D2: disconnects were counted 503")
print("D2: 24 clients left (16 generating, 8 queued): 24 x 499, sequences freed in %.2f s" % (time.time() - t_leave))

# ---- D7 ----
rss0 = A.rss_mb(w.pid)
ups, peak = [], rss0
for i in range(200):
    ups.append(A.stalled_upload(port, 1000000, 900000))
    if i % 20 == 0:
        peak = max(peak, A.rss_mb(w.pid))
peak = max(peak, A.rss_mb(w.pid))
refused = sum(A.status_of(A.answer_of(s, timeout=0.05)) == 503 for s in ups)
check(refused >= 150, "D7: only %d of 200 stalled uploads were refused by the 16 MiB body budget" % refused)
check(peak - rss0 < 64, "D7: RSS grew %.1f MiB with a 16 MiB body budget" % (peak - rss0))
check(wait_until(lambda: A.closed_by_server(ups) == len(ups), 3.0), "D7: stalled uploads outlived the body deadline")
time.sleep(0.3)
rss2 = A.rss_mb(w.pid)
check(rss2 - rss0 < 12, "D7: %.1f MiB kept after the stalled uploads closed" % (rss2 - rss0))
A.close_all()
print("D7: 200 stalled ~1 MiB uploads: %d refused with 503, RSS %.0f -> peak %.0f -> %.0f MiB" % (refused, rss0, peak, rss2))

# ---- D6 ----
socks = A.slowloris(port, 2000)
lat, early = [], None
t0 = time.time()
while time.time() - t0 < 1.8:
    if early is None and time.time() - t0 > 0.4:
        early = A.closed_by_server(socks[-200:])   # the last opened: 0.4 s old
    A.trickle(socks)
    lat += A.latencies(port, 10)
    time.sleep(0.1)
closed = A.closed_by_server(socks)
check(early is not None and early < 10, "D6: %s of the 200 newest connections were closed before their deadline" % early)
check(len(socks) >= 1900 and closed >= 0.95 * len(socks),
      "D6: %d of %d trickling slowloris connections closed after 1.8 s (header deadline 1 s)" % (closed, len(socks)))
check(metric("connections_closed_total", 'reason="header_deadline"') >= 0.95 * len(socks),
      "D6: connections_closed_total{reason=header_deadline} = %d" % metric("connections_closed_total", 'reason="header_deadline"'))
bad = sum(x == float("inf") for x in lat)
check(bad == 0, "D6: %d of %d /health requests failed during the attack" % (bad, len(lat)))
print("D6: %d slowloris connections trickling: %d closed at the header deadline; /health p50 %.1f ms, p99 %.1f ms"
      % (len(socks), closed, A.pct(lat, 50) * 1e3, A.pct(lat, 99) * 1e3))
A.close_all()

# ---- D8 ----
run = A.raw_post(port, "/v1/completions", {"prompt": "drain", "max_tokens": 2000, "ignore_eos": True})
check(wait_until(lambda: metric("num_requests_running") == 1, 5), "D8: the request is not running")
partial = A.stalled_upload(port, 5000, 100)
time.sleep(0.1)
t_term = time.time()
w.send_signal(signal.SIGTERM)
check(wait_until(lambda: A.closed_by_server([partial]) == 1, 1.0), "D8: the half-sent POST was not closed at once on drain")
t_partial = time.time() - t_term
raw = A.answer_of(run, timeout=20)
check(A.status_of(raw) == 200, "D8: the running request did not get its answer: %r" % raw[:100])
try:
    w.wait(timeout=10)
except Exception:
    pass
t_exit = time.time() - t_term
check(w.poll() == 0 and t_exit < 15, "D8: the worker exited rc=%s after %.1f s" % (w.poll(), t_exit))
print("D8: on SIGTERM the half-sent POST closed after %.0f ms, the running request answered 200, exit after %.2f s"
      % (t_partial * 1e3, t_exit))
A.close_all()
E.finish()
