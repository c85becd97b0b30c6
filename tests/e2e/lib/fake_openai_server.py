#!/usr/bin/python3
"""A scripted OpenAI-compatible streaming server for testing `rightsize bench` on 127.0.0.1.

Every delay is chosen by the script, and every request is logged with CLOCK_MONOTONIC
microseconds (time.monotonic_ns, the same clock as the C side's clock_now_us), so a test can
compare what the load generator reports with what the server actually did.

  --ttft-ms A --ttft-jitter-ms J   first token A + U[0, J) ms after the request was read
  --itl-ms B --itl-jitter-ms K     each further token B + U[0, K) ms after the previous one
  --tokens N                       tokens per response (default: the request's max_tokens)
  --stall-at-s T --stall-s S       from T s after the first request, write nothing for S s
  --fault MOD:REM=KIND             requests whose x-request-id number % MOD == REM get KIND:
                                   429 | 400 | 500 | hang (never answer) | close (drop the
                                   connection before answering) | badjson (a malformed chunk)
  --cost-usd X                     send x-rightsize-cost-usd: X on every 200 response
  --cost-trailer                   ... as an HTTP trailer after the stream instead of a header
  --no-usage                       omit the final usage chunk
  --require-key K                  answer 401 unless "Authorization: Bearer K" is sent
  --log FILE                       CSV: id,recv_us,ttft_us,first_us,done_us,tokens,kind,
                                   max_tokens,prompt_words,ignore_eos
  --port-file FILE                 the chosen port is written there (listen port 0)
"""
import argparse
import json
import random
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def now_us():
    return time.monotonic_ns() // 1000


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.first_recv = None
        self.stall_start = None
        self.stall_end = None
        self.log = open(args.log, "w", buffering=1) if args.log else None
        if self.log:
            self.log.write("id,recv_us,ttft_us,first_us,done_us,tokens,kind,max_tokens,prompt_words,ignore_eos\n")
        self.faults = {}
        for f in args.fault:
            mod_rem, kind = f.split("=")
            mod, rem = mod_rem.split(":")
            self.faults[(int(mod), int(rem))] = kind

    def on_request(self, t):
        with self.lock:
            if self.first_recv is None:
                self.first_recv = t
                if self.args.stall_s > 0:
                    self.stall_start = t + int(self.args.stall_at_s * 1e6)
                    self.stall_end = self.stall_start + int(self.args.stall_s * 1e6)
                    if self.log:
                        self.log.write("# stall,%d,%d\n" % (self.stall_start, self.stall_end))

    def fault_for(self, rid):
        for (mod, rem), kind in self.faults.items():
            if rid >= 0 and rid % mod == rem:
                return kind
        return None

    def write_log(self, *fields):
        if self.log:
            with self.lock:
                self.log.write(",".join(str(f) for f in fields) + "\n")


def sleep_until(t_us):
    while True:
        d = t_us - now_us()
        if d <= 0:
            return
        time.sleep(d / 1e6)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs

    def log_message(self, fmt, *a):  # quiet
        pass

    def wait_stall(self):
        st = self.server.state
        if st.stall_start is not None and st.stall_start <= now_us() < st.stall_end:
            sleep_until(st.stall_end)

    def send_chunk(self, data):
        self.wait_stall()
        b = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
        self.wfile.flush()

    def do_POST(self):
        st = self.server.state
        a = st.args
        t_recv = now_us()
        st.on_request(t_recv)
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        rid_s = self.headers.get("x-request-id", "")
        try:
            rid = int(rid_s.rsplit("-", 1)[-1])
        except ValueError:
            rid = -1
        kind = st.fault_for(rid)
        if a.require_key is not None and self.headers.get("Authorization") != "Bearer " + a.require_key:
            kind = "401"
        prompt = body["messages"][-1]["content"] if "messages" in body else body.get("prompt", "")
        req = (int(body.get("max_tokens", 0)), len(prompt.split()), int(body.get("ignore_eos", False) is True))
        if kind in ("401", "429", "400", "500"):
            msg = json.dumps({"error": {"message": "scripted %s" % kind}}).encode()
            self.send_response(int(kind))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            st.write_log(rid, t_recv, -1, -1, now_us(), 0, kind, *req)
            return
        if kind == "close":
            st.write_log(rid, t_recv, -1, -1, now_us(), 0, kind, *req)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if kind == "hang":
            st.write_log(rid, t_recv, -1, -1, -1, 0, kind, *req)
            time.sleep(3600)
            return
        rnd = random.Random(rid)
        tokens = a.tokens or int(body.get("max_tokens", 16))
        chat = "messages" in body
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        if a.cost_usd is not None and not a.cost_trailer:
            self.send_header("x-rightsize-cost-usd", repr(a.cost_usd))
        if a.cost_usd is not None and a.cost_trailer:
            self.send_header("Trailer", "x-rightsize-cost-usd")
        self.end_headers()
        ttft_us = int((a.ttft_ms + rnd.random() * a.ttft_jitter_ms) * 1000)
        t = t_recv + ttft_us
        first_us = None
        for i in range(tokens):
            if i:
                t += int((a.itl_ms + rnd.random() * a.itl_jitter_ms) * 1000)
            sleep_until(t)
            if kind == "badjson" and i == 1:
                self.send_chunk('data: {"choices": [\n\n')
                break
            if chat:
                ch = {"object": "chat.completion.chunk",
                      "choices": [{"index": 0, "delta": {"content": " w%d" % i}, "finish_reason": None}]}
            else:
                ch = {"object": "text_completion", "choices": [{"index": 0, "text": " w%d" % i, "finish_reason": None}]}
            self.send_chunk("data: " + json.dumps(ch) + "\n\n")
            if first_us is None:
                first_us = now_us()
        if kind != "badjson":
            fin = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
            self.send_chunk("data: " + json.dumps(fin) + "\n\n")
            if not a.no_usage:
                u = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": tokens,
                                              "total_tokens": 7 + tokens}}
                self.send_chunk("data: " + json.dumps(u) + "\n\n")
            self.send_chunk("data: [DONE]\n\n")
        if a.cost_usd is not None and a.cost_trailer:
            self.wfile.write(b"0\r\nx-rightsize-cost-usd: %s\r\n\r\n" % repr(a.cost_usd).encode())
        else:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        st.write_log(rid, t_recv, ttft_us, first_us, now_us(), tokens, kind or "ok", *req)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that hang up (a timed-out or interrupted bench) are expected, not news.
        if isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--ttft-ms", type=float, default=0)
    p.add_argument("--ttft-jitter-ms", type=float, default=0)
    p.add_argument("--itl-ms", type=float, default=0)
    p.add_argument("--itl-jitter-ms", type=float, default=0)
    p.add_argument("--tokens", type=int, default=0)
    p.add_argument("--stall-at-s", type=float, default=0)
    p.add_argument("--stall-s", type=float, default=0)
    p.add_argument("--fault", action="append", default=[])
    p.add_argument("--cost-usd", type=float)
    p.add_argument("--no-usage", action="store_true")
    p.add_argument("--cost-trailer", action="store_true")
    p.add_argument("--require-key")
    p.add_argument("--log")
    a = p.parse_args()
    threading.stack_size(256 * 1024)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
