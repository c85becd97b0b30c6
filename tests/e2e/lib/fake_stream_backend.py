#!/usr/bin/python3
"""A scripted OpenAI-compatible streaming backend for the telemetry tests (loopback only).

POST /v1/chat/completions and /v1/completions with "stream": true answer with one SSE event per
token, each written and flushed as its own HTTP chunk: (chat) a `role` chunk at once, then after
--first-ms the first of --tokens content chunks ("t0 ", "t1 ", ...) spaced by --gap-ms, a final
chunk with finish_reason "length" (carrying timings.rightsize.busy_ns as a rightsize worker's does,
unless --no-usage), the usage chunk when the request asked for
stream_options.include_usage (unless --no-usage), and [DONE]. A non-streamed request gets the
whole answer with usage. A prompt/message "bad" gets a 400 in OpenAI's shape. Each request is
logged to --log as {"path", "include_usage", "events", "model"} when it ends, so a test can
compare what was sent with what its client received. GET answers 200 (health probes).
"""
import argparse
import json
import time
from http.server import ThreadingHTTPServer

from fake_http import QuietHandler

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--tokens", type=int, default=20)
ap.add_argument("--first-ms", type=float, default=0)
ap.add_argument("--gap-ms", type=float, default=0)
ap.add_argument("--no-usage", action="store_true")
ap.add_argument("--log")
args = ap.parse_args()
log = open(args.log, "a", buffering=1) if args.log else None
PROMPT_TOKENS = 7
BUSY_NS = 1000000   # the busy share the final chunk reports (timings.rightsize.busy_ns), 1 ms


class H(QuietHandler):

    def event(self, obj):
        data = ("data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))).encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        self.sent += 1

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        chat = self.path.endswith("/chat/completions")
        prompt = req["messages"][-1]["content"] if chat else req.get("prompt", "")
        if prompt == "bad":
            body = json.dumps({"error": {"message": "bad prompt", "type": "invalid_request_error", "param": None,
                                         "code": None}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        n = args.tokens
        head = {"id": "fake-1", "object": "chat.completion.chunk" if chat else "text_completion", "created": 1,
                "model": req.get("model")}
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": n, "total_tokens": PROMPT_TOKENS + n}
        want_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        self.sent = 0
        if not req.get("stream"):
            text = "".join("t%d " % i for i in range(n))
            ch = {"index": 0, "finish_reason": "length", "logprobs": None}
            ch.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            body = json.dumps(dict(head, object="chat.completion" if chat else "text_completion", choices=[ch],
                                   usage=usage)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if chat:
            self.event(dict(head, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                            "logprobs": None, "finish_reason": None}]))
        time.sleep(args.first_ms / 1000)
        for i in range(n):
            if i:
                time.sleep(args.gap_ms / 1000)
            piece = "t%d " % i
            ch = {"index": 0, "logprobs": None, "finish_reason": None}
            ch.update({"delta": {"content": piece}} if chat else {"text": piece})
            self.event(dict(head, choices=[ch]))
        ch = {"index": 0, "logprobs": None, "finish_reason": "length"}
        ch.update({"delta": {}} if chat else {"text": ""})
        final = dict(head, choices=[ch])
        if not args.no_usage:   # a rightsize worker reports its busy share with the final chunk
            final["timings"] = {"rightsize": {"busy_ns": BUSY_NS}}
        self.event(final)
        if want_usage and not args.no_usage:
            self.event(dict(head, choices=[], usage=usage))
        self.event("[DONE]")
        if log:   # before the stream's end, so a client that saw the end also sees this line
            log.write(json.dumps({"path": self.path, "include_usage": want_usage, "events": self.sent,
                                  "model": req.get("model")}) + "\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
