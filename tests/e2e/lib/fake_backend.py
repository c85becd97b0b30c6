#!/usr/bin/python3
"""A trivial OpenAI-compatible backend for the gateway's end-to-end tests (loopback only).

Answers POST /v1/completions and /v1/chat/completions with the text "<name>:<prompt>" (plain or
as one SSE chunk + [DONE] when stream is true) and POST /v1/embeddings with one vector per
input ([len(input), name-hash]). --delay-ms adds a fixed delay per request. Every request is
logged to --log as a JSON line {"path", "n_inputs", "model", "max_tokens"} so a test can count
calls and batch sizes and see what the gateway forwarded. --port-file receives the chosen port.
--require-header 'Name: value' (repeatable) refuses every request (GET /models too) that lacks
one of them with 401, as `vllm --api-key` or a hosted endpoint does. --busy-ns N reports a busy share of N ns per
answer (timings.rightsize.busy_ns, what `rightsize worker` reports), so the gateway charges it.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--name", default="fake")
ap.add_argument("--delay-ms", type=float, default=0)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log")
ap.add_argument("--require-header", action="append", default=[])
ap.add_argument("--busy-ns", type=int, default=0)
args = ap.parse_args()
required = [h.split(":", 1) for h in args.require_header]
lock = threading.Lock()
log = open(args.log, "a", buffering=1) if args.log else None


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body go in two writes: no 40 ms delayed-ACK stall

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self):
        """401 when a --require-header is missing or wrong (GET /models too, as vllm --api-key does)."""
        for name, value in required:
            if self.headers.get(name.strip()) != value.strip():
                self.send(401, json.dumps({"error": {"message": "missing or wrong %s" % name.strip(),
                                                     "type": "invalid_request_error", "param": None,
                                                     "code": "invalid_api_key"}}).encode())
                return True
        return False

    def do_GET(self):
        if self.refuse():
            return
        self.send(200, b'{"status":"ok"}')

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.refuse():
            return
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        path = self.path
        if path.endswith("/embeddings"):
            inp = req.get("input")
            inp = [inp] if isinstance(inp, str) else inp
            if log:
                with lock:
                    log.write(json.dumps({"path": path, "n_inputs": len(inp), "model": req.get("model")}) + "\n")
            data = [{"object": "embedding", "index": i, "embedding": [float(len(s)), float(hash(args.name) % 97)]}
                    for i, s in enumerate(inp)]
            body = {"object": "list", "data": data, "model": req.get("model"),
                    "usage": {"prompt_tokens": sum(len(s) for s in inp), "total_tokens": sum(len(s) for s in inp)}}
            return self.send(200, json.dumps(body).encode())
        chat = path.endswith("/chat/completions")
        prompt = req["messages"][-1]["content"] if chat else req.get("prompt", "")
        text = "%s:%s" % (args.name, prompt)
        if log:
            with lock:
                log.write(json.dumps({"path": path, "n_inputs": 1, "model": req.get("model"),
                                      "max_tokens": req.get("max_tokens")}) + "\n")
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 3, "total_tokens": len(prompt.split()) + 3}
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                      "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        resp = {"id": "x", "object": "chat.completion" if chat else "text_completion", "created": 0,
                "model": req.get("model"), "choices": [choice], "usage": usage}
        if args.busy_ns:
            resp["timings"] = {"rightsize": {"busy_ns": args.busy_ns}}
        if req.get("stream"):
            if chat:
                ch = {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            else:
                ch = {"index": 0, "text": text, "finish_reason": "stop"}
            chunk = dict(resp, choices=[ch], object="chat.completion.chunk" if chat else "text_completion")
            chunk.pop("usage")
            body = ("data: %s\n\ndata: [DONE]\n\n" % json.dumps(chunk)).encode()
            return self.send(200, body, "text/event-stream")
        self.send(200, json.dumps(resp).encode())


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
