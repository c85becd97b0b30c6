#!/usr/bin/python3
"""An OpenAI-compatible backend for the connection tests (loopback only) that notices cancels.

POST /v1/completions "works" for --work-ms in 10 ms slices, watching its client's socket: a
client (the gateway) that closes the connection cancels the work, logged as {"event":
"cancelled"}; work that runs to the end answers like fake_backend.py and logs {"event": "done"}.
A prompt of the form "huge:N" is answered with an N-byte body (with "stream": true, ~64 KiB SSE
text events up to N bytes) (a backend gone wrong: the gateway
must cap it). Every event goes to --log as a JSON line; --port-file receives the chosen port.
"""
import argparse
import json
import os
import select
import threading
import time
from http.server import ThreadingHTTPServer

from fake_http import QuietHandler

ap = argparse.ArgumentParser()
ap.add_argument("--work-ms", type=float, default=3000)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()
lock = threading.Lock()
log = open(args.log, "a", buffering=1)


def event(**kw):
    with lock:
        log.write(json.dumps(kw) + "\n")


class H(QuietHandler):

    def huge_stream(self, size):
        """An endless-looking stream: SSE text events of ~64 KiB until size bytes (then [DONE])."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        event(event="huge", size=size)
        ev = ("data: %s\n\n" % json.dumps({"id": "x", "object": "text_completion", "created": 0, "model": "m",
                                            "choices": [{"index": 0, "text": "z" * 65000, "finish_reason": None}]})).encode()
        try:
            for _ in range(0, size, len(ev)):
                self.wfile.write(ev)
            self.wfile.write(b"data: [DONE]\n\n")
            event(event="huge_sent")
        except OSError:
            event(event="huge_cut")
        self.close_connection = True

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        req = json.loads(self.rfile.read(n) or b"{}")
        prompt = req.get("prompt", "")
        if isinstance(prompt, str) and prompt.startswith("huge:") and req.get("stream"):
            return self.huge_stream(int(prompt[5:]))
        if isinstance(prompt, str) and prompt.startswith("huge:"):
            size = int(prompt[5:])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            event(event="huge", size=size)
            chunk = b" " * 65536
            try:
                for off in range(0, size, len(chunk)):
                    self.wfile.write(chunk[: min(len(chunk), size - off)])
                event(event="huge_sent")
            except OSError:
                event(event="huge_cut")
            return
        event(event="started", prompt=prompt)
        t_end = time.time() + args.work_ms / 1000
        sock = self.connection
        while time.time() < t_end:
            r, _, _ = select.select([sock], [], [], 0.01)
            if r:
                try:
                    data = sock.recv(1, 0x2)  # MSG_PEEK
                except OSError:
                    data = b""
                if not data:
                    event(event="cancelled", prompt=prompt)
                    return
        text = "slow:%s" % prompt
        body = json.dumps({"id": "x", "object": "text_completion", "created": 0, "model": req.get("model"),
                           "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        event(event="done", prompt=prompt)


class Server(ThreadingHTTPServer):
    request_queue_size = 256   # listen backlog: the gateway opens many calls at once
    daemon_threads = True


srv = Server(("127.0.0.1", 0), H)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
