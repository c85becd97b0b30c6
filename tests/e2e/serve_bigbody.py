#!/usr/bin/python3
"""Large request bodies cannot stall the gateway's other clients (issue 15, D13; loopback only).

Two senders post 1 MiB completions (`{"prompt":[…520k token ids]}`) back to back while a third
client polls GET /health on its own connection. The gateway checks big bodies off its event-loop
thread and forwards them by splicing the few fields it changes into the client's bytes, so the
/health poller's p50/p99 stay small. The bound (p99 < 50 ms) is generous for a busy 2-core
machine; before the change each big body held the loop for ~0.4 s and /health's p50 was ~300 ms.
Also checks that the big requests themselves are answered and forwarded whole (the backend sees
all 520k ids and the gateway's max_tokens), that a big body with a duplicated key is refused, and
that with the response cache on a big cacheable body costs the loop no more than with it off
(its key is made where the body is checked, not from a tree on the loop)."""
import http.client
import json
import multiprocessing
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import T, Gateway, check, finish  # noqa: E402

N_IDS = 520000
# The backend and the senders run in processes of their own, so the /health poller's times are
# the gateway's, not this interpreter's lock.
SEEN = None   # backend: a file receiving (n prompt ids, max_tokens, model) of each forwarded big request
ANSWER = json.dumps({"id": "x", "object": "text_completion", "created": 0, "model": "m", "choices": [
    {"index": 0, "text": "ok", "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": N_IDS, "completion_tokens": 1, "total_tokens": N_IDS + 1}}).encode()


class Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.reply(b'{"status":"ok"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not os.path.exists(SEEN):   # parse the first (json.loads of 1 MiB costs the machine ~50 ms)
            req = json.loads(body)
            with open(SEEN, "w") as f:
                json.dump([len(req.get("prompt", [])), req.get("max_tokens"), req.get("model")], f)
        self.reply(ANSWER)

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def backend(seen, port_q):
    global SEEN
    SEEN = seen
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    srv.daemon_threads = True
    port_q.put(srv.server_address[1])
    srv.serve_forever()


q = multiprocessing.Queue()
seen_path = os.path.join(T, "seen.json")
bp = multiprocessing.Process(target=backend, args=(seen_path, q), daemon=True)
bp.start()
backend_port = q.get(timeout=30)
gw = Gateway("""
tiers:
  - {name: b, url: "http://127.0.0.1:%d/v1", model: tier-model, max_concurrency: 8}
routes:
  - {match: {endpoint: any}, tier: b}
limits: {max_body_bytes: 2097152, max_tokens: 64, request_timeout_s: 60}
""" % backend_port)
gw.wait_ready("b")

big = json.dumps({"model": "client-model", "prompt": [i % 10 for i in range(N_IDS)]}, separators=(",", ":")).encode()
check(1000000 < len(big) <= 1100000, "the big body is ~1 MiB (%d bytes)" % len(big))


def post_big(body):
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=60)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def sender(stop, out):
    while not stop.is_set():
        out.put(post_big(big))


# The big request alone is answered and forwarded whole, with the gateway's edits.
check(post_big(big) == 200, "a 1 MiB completion is answered")
seen = json.load(open(seen_path)) if os.path.exists(seen_path) else None
check(seen == [N_IDS, 16, "tier-model"],
      "the backend got every prompt id, max_tokens set to OpenAI's default 16, the tier's model: %s" % (seen,))

stop, out = multiprocessing.Event(), multiprocessing.Queue()
senders = [multiprocessing.Process(target=sender, args=(stop, out), daemon=True) for _ in range(2)]
for p in senders:
    p.start()
time.sleep(0.5)   # both senders are uploading and being checked
lat = []
c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
t_end = time.time() + 6
while time.time() < t_end:
    t0 = time.perf_counter()
    c.request("GET", "/health")
    r = c.getresponse()
    r.read()
    lat.append((time.perf_counter() - t0) * 1000)
    check(r.status == 200, "/health answered 200 under big bodies (%d)" % r.status)
    time.sleep(0.01)
stop.set()
statuses = []
for p in senders:
    p.join(90)
while not out.empty():
    statuses.append(out.get())
c.close()
lat.sort()
p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]
load = open("/proc/loadavg").read().split()[0]
print("health polls: %d, p50 %.2f ms, p99 %.2f ms, max %.2f ms; big bodies sent: %d (load %s)" % (
    len(lat), p50, p99, lat[-1], len(statuses), load))
check(len(statuses) >= 4, "the senders kept the gateway busy (%d big bodies)" % len(statuses))
check(all(s == 200 for s in statuses), "every big request was answered 200: %s" % sorted(set(statuses)))
check(p50 < 10, "/health p50 under big bodies < 10 ms (%.2f ms)" % p50)
check(p99 < 50, "/health p99 under big bodies < 50 ms (%.2f ms)" % p99)

# A big body still gets every check: a duplicated key far into it is refused.
dup = big[:-1] + b',"max_tokens":1,"max_tokens":100000}'
check(post_big(dup) == 400, "a 1 MiB body with a duplicated key is refused")

# With the response cache on, a big cacheable body (temperature 0) is keyed where it is checked
# (the check thread): the loop neither canonicalizes its 520k-node tree nor frees it. Truth: the
# loop thread's CPU time per big request (schedstat, ns) against the same gateway with the cache
# off, the two measured alternately; before, the cache's key cost the loop ~20x more.
gwc = Gateway("""
tiers:
  - {name: b, url: "http://127.0.0.1:%d/v1", model: tier-model, max_concurrency: 8}
routes:
  - {match: {endpoint: any}, tier: b}
limits: {max_body_bytes: 2097152, max_tokens: 64, request_timeout_s: 60}
cache: {max_entry_bytes: 4194304, max_bytes: 67108864}
""" % backend_port, name="serve-cache")
gwc.wait_ready("b")


def loop_cpu_ns(pid):
    return int(open("/proc/%d/task/%d/schedstat" % (pid, pid)).read().split()[0])


def cost_per_request(g, bodies):
    global gw
    keep, gw = gw, g   # post_big talks to gw
    try:
        t0 = loop_cpu_ns(g.proc.pid)
        ok = all(post_big(b) == 200 for b in bodies)
        return (loop_cpu_ns(g.proc.pid) - t0) / len(bodies) / 1e6, ok
    finally:
        gw = keep


gw_plain = gw
on, off = [], []
for rnd in range(3):
    bodies = [json.dumps({"model": "client-model", "temperature": 0, "prompt": [rnd * 100 + k] + [i % 10 for i in range(N_IDS - 1)]},
                         separators=(",", ":")).encode() for k in range(4)]
    ms, ok_on = cost_per_request(gwc, bodies)
    on.append(ms)
    ms, ok_off = cost_per_request(gw_plain, bodies)
    off.append(ms)
    check(ok_on and ok_off, "big cacheable requests answered 200")
on.sort(), off.sort()
print("loop CPU per 1 MiB cacheable request: cache on %.2f ms, off %.2f ms (medians of 3 x 4)" % (on[1], off[1]))
check(on[1] < 2 * off[1] + 1, "the cache's key does not cost the loop a tree walk: %.2f ms vs %.2f ms per big request"
      % (on[1], off[1]))
st, h, _ = gwc.request("POST", "/v1/completions", json.loads(bodies[0]))   # spaces: the same canonical body
check(st == 200 and h.get("x-rightsize-cache") == "hit", "a big body seen before is a cache hit (%d %s)"
      % (st, h.get("x-rightsize-cache")))
check(gwc.stop() == 0, "serve (cache) exits 0")
check(gw.stop() == 0, "serve exits 0")
bp.terminate()
bp.join(10)
finish()
