#!/usr/bin/python3
"""The gateway's /metrics under real Prometheus tools: `promtool check metrics` passes on the
exposition after traffic (cascade, rejections, batching, replicas by state), and a real Prometheus
server (Debian's package, on a loopback port with a temporary config) scrapes the gateway and
answers a query for rightsize_ series through its HTTP API — among them the generated tokens of
streamed answers, equal to the tokens curl received (a scripted one-event-per-token backend)."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import PY, ROOT, T, Gateway, _wait_file, check, fake_backend, finish, spawn  # noqa: E402

if not shutil.which("prometheus") or not shutil.which("promtool"):
    print("skip: prometheus/promtool not installed (Debian package 'prometheus', listed in scripts/deps)")
    sys.exit(77)
_, fast = fake_backend("fast")
spf = os.path.join(T, "st.port")
stp = spawn([PY, os.path.join(ROOT, "tests/e2e/lib/fake_stream_backend.py"), "--port-file", spf, "--tokens", "9"],
            "st.log")
st_port = _wait_file(spf, stp, "stream backend")
gw = Gateway("""
tiers:
  - {name: fast, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 1}
  - {name: emb, url: "http://127.0.0.1:%d/v1", model: e, batching: {max_batch_size: 4, max_queue_delay_microseconds: 1000}}
  - {name: st, url: "http://127.0.0.1:%d/v1", model: s, cost_per_hour: 1}
routes:
  - {match: {endpoint: completions}, tier: fast}
  - {match: {endpoint: embeddings}, tier: emb}
  - {match: {endpoint: chat, model: s}, tier: st}
""" % (fast, fast, st_port))
received = 0
for i in range(5):   # streamed through curl: count the content tokens the client got
    out = subprocess.run(["curl", "-sN", "--max-time", "20", "-H", "Content-Type: application/json", "-d",
                          json.dumps({"model": "s", "messages": [{"role": "user", "content": "hi %d" % i}],
                                      "stream": True}), "http://127.0.0.1:%d/v1/chat/completions" % gw.port],
                         capture_output=True, text=True, timeout=30).stdout
    for ev in out.split("\n\n"):
        if ev.startswith("data: {"):
            ch = json.loads(ev[6:]).get("choices") or [{}]
            received += bool((ch[0].get("delta") or {}).get("content"))
for i in range(20):
    gw.post("/v1/completions", {"prompt": "p%d" % i})
    gw.post("/v1/embeddings", {"input": "e%d" % i})
gw.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "no route"}]})
time.sleep(0.2)
text = gw.metrics()
path = os.path.join(T, "metrics.txt")
open(path, "w").write(text)
r = subprocess.run(["promtool", "check", "metrics"], stdin=open(path), capture_output=True, text=True)
check(r.returncode == 0, "promtool check metrics: %s %s" % (r.stdout, r.stderr))
for name in ["rightsize_routing_decisions_total{decision=\"rule\"} 45", "rightsize_rejected_total{reason=\"no_route\"} 1",
             "rightsize_replicas{tier=\"fast\",state=\"ready\"} 1", "rightsize_cost_usd_total{kind=\"idle\"}",
             "rightsize_batch_size_count{tier=\"emb\"}", "rightsize_requests_total{status=\"404\"} 1"]:
    check(name in text, "exposition has %s" % name)

import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
pport = s.getsockname()[1]
s.close()
cfg = os.path.join(T, "prom.yml")
open(cfg, "w").write("""global: {scrape_interval: 1s}
scrape_configs:
  - job_name: rightsize
    static_configs: [{targets: ["127.0.0.1:%d"]}]
""" % gw.port)
spawn(["prometheus", "--config.file", cfg, "--storage.tsdb.path", os.path.join(T, "tsdb"),
       "--web.listen-address", "127.0.0.1:%d" % pport], "prometheus.log")
q = "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, urllib.parse.quote('rightsize_requests_total{status="200"}'))
value = None
t0 = time.time()
while time.time() - t0 < 40 and value is None:
    try:
        res = json.load(urllib.request.urlopen(q, timeout=2))
        if res["status"] == "success" and res["data"]["result"]:
            value = float(res["data"]["result"][0]["value"][1])
    except OSError:
        pass
    time.sleep(0.5)
check(value == 45, "Prometheus scraped rightsize_requests_total{status=200} = %s (want 45)" % value)
q = "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, urllib.parse.quote('rightsize_generation_tokens_total{tier="st"}'))
res = json.load(urllib.request.urlopen(q, timeout=5))
got = float(res["data"]["result"][0]["value"][1]) if res["data"]["result"] else None
check(received == 45 and got == received, "Prometheus: generation_tokens_total{tier=st} = %s, curl received %d tokens"
      % (got, received))
check(gw.stop() == 0, "serve exits 0")
finish()
