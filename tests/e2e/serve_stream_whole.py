#!/usr/bin/python3
"""A stream the backend delivers whole before the gateway's first byte goes out is sent sized (one
write, Content-Length) with its cost in the x-rightsize-cost-usd header; a stream still running
when its headers go out stays chunked with the cost as a trailer (docs/serve.md). Either way the
client gets the backend's events byte for byte, keep-alive framing holds over many requests on
one connection, and the cost it is told equals its telemetry record's cost_busy_usd, which is the
ledger's rule for the busy share the backend reported (1 ms at $3.6/h = $0.000001); so does the TTFT
it is told (x-rightsize-ttft-ms, header or trailer alike) the record's ttft_ms.
Client: a raw HTTP/1.1 socket that reads either framing (and trailers)."""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import PY, T, Gateway, _wait_file, check, finish, spawn  # noqa: E402

BACKEND = r'''
import json, sys, time
from http.server import ThreadingHTTPServer
sys.path.insert(0, sys.argv[2])
from fake_http import QuietHandler
chunks = [{"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": w},
           "finish_reason": None}]} for w in ("Hello", " whole", " stream")]
chunks.append({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {},
               "finish_reason": "stop"}], "timings": {"rightsize": {"busy_ns": 1000000}}})
chunks.append({"id": "c1", "object": "chat.completion.chunk", "choices": [],
               "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
BODY = ("".join("data: %s\n\n" % json.dumps(c) for c in chunks) + "data: [DONE]\n\n").encode()
open(sys.argv[3], "wb").write(BODY)   # what every answer carries, for the test to compare
class H(QuietHandler):
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if req["messages"][-1]["content"] == "slow":   # the first event now, the rest 80 ms later, chunked
            first = BODY.index(b"\n\n") + 2
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (first, BODY[:first]))
            self.wfile.flush()
            time.sleep(0.08)
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY) - first, BODY[first:]))
        else:   # the whole answer in one write
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(BODY), BODY))
        self.wfile.flush()
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
'''
src = os.path.join(T, "whole_backend.py")
open(src, "w").write(BACKEND)
pf = os.path.join(T, "whole.port")
sent = os.path.join(T, "whole.body")
bp = spawn([PY, src, pf, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"), sent], "whole.stderr")
bport = _wait_file(pf, bp, "the backend")
gw = Gateway("""
tiers:
  - {name: b, url: "http://127.0.0.1:%d/v1", model: m, cost_per_hour: 3.6}
routes:
  - {tier: b}
""" % bport)


def read_response(f):
    """(status, headers, body, trailers, sized) of one HTTP/1.1 response from a socket file."""
    status = int(f.readline().split()[1])
    hdrs = {}
    for line in iter(f.readline, b"\r\n"):
        k, v = line.decode().split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    trailers = {}
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if n == 0:
                break
            body += f.read(n)
            f.readline()
        for line in iter(f.readline, b"\r\n"):
            k, v = line.decode().split(":", 1)
            trailers[k.strip().lower()] = v.strip()
        return status, hdrs, body, trailers, False
    return status, hdrs, f.read(int(hdrs["content-length"])), trailers, True


s = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
f = s.makefile("rb")
got = {}
for i in range(24):
    slow = i % 8 == 7
    body = json.dumps({"model": "m", "stream": True, "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "slow" if slow else "hi %d" % i}]}).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"X-Request-Id: r%d\r\nContent-Length: %d\r\n\r\n%s" % (i, len(body), body))
    got["r%d" % i] = (slow,) + read_response(f)
s.close()

want = open(sent, "rb").read()
recs = {r["request_id"]: r for r in gw.telemetry()}
sized = chunked = 0
for rid, (slow, st, hdrs, body, trailers, is_sized) in sorted(got.items()):
    check(st == 200 and body == want, "%s: status %d, body %r" % (rid, st, body[:120]))
    check(is_sized != slow, "%s (%s): sent %s" % (rid, "slow" if slow else "whole", "sized" if is_sized else "chunked"))
    cost = hdrs.get("x-rightsize-cost-usd") if is_sized else trailers.get("x-rightsize-cost-usd")
    rec = recs.get(rid, {})
    check(cost is not None and rec.get("cost_busy_usd") is not None
          and round(float(cost) * 1e9) == round(rec["cost_busy_usd"] * 1e9) == 1000,
          "%s: cost told %r, record %r (want $0.000001: 1 ms busy at $3.6/h)" % (rid, cost, rec.get("cost_busy_usd")))
    check(rec.get("status") == 200 and rec.get("output_tokens") == 3 and rec.get("finish_reason") == "stop",
          "%s: record %s" % (rid, rec))
    # the gateway's TTFT, as its record has it (calibrate --url tells its own side of the hop by it)
    ttft = hdrs.get("x-rightsize-ttft-ms") if is_sized else trailers.get("x-rightsize-ttft-ms")
    check(ttft is not None and rec.get("ttft_ms") is not None and abs(float(ttft) - rec["ttft_ms"]) < 0.0015,
          "%s: TTFT told %r, record %r" % (rid, ttft, rec.get("ttft_ms")))
    sized += is_sized
    chunked += not is_sized
print("%d streams sent sized (cost in the header), %d chunked (cost in the trailer), one connection" % (sized, chunked))
gw.stop()
finish()
