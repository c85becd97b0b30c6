"""A scripted OpenAI-shaped chat backend for the trace-replay contract test.

Each request's user message is "rid=ID;conf=C;status=S;" padded with 'x' to its prompt length.
The backend runs it as an engine with fixed step times would, one request per replica (the
gateway sends one at a time per replica: max_concurrency 1):
  prefill step = b0 + prefill_token_us * in_tokens   (in_tokens = len(content) // 4)
  decode step  = b0 + decode_row_us                  (out_tokens - 1 of them)
It sleeps that long, then answers max_tokens tokens, each with logprob ln(C) (so the cascade's
mean confidence is C), and reports its busy share as timings.rightsize.busy_ns (one row per step:
the request's share is the whole step) — except for the models named by --silent, which report
none, as vLLM, TGI or llama.cpp's server do. The first call for a request id answers status S
instead when S != 200 (no step is run: no busy share); later calls (an escalation) answer 200.
"""
import argparse
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--tiers", required=True, help='JSON {"model": [b0_us, prefill_token_us, decode_row_us]}')
ap.add_argument("--silent", default="", help="comma-separated models that report no busy share")
args = ap.parse_args()
SILENT = set(m for m in args.silent.split(",") if m)
STEPS = json.loads(args.tiers)
seen = set()
lock = threading.Lock()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status, body, ctype="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, "{}")

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = req["model"]
        content = req["messages"][-1]["content"]
        fields = dict(kv.split("=") for kv in content.split(";")[:3])
        rid, conf, status = fields["rid"], float(fields["conf"]), int(fields["status"])
        with lock:
            first = rid not in seen
            seen.add(rid)
        if first and status != 200:
            err = {"error": {"message": "scripted %d" % status, "type": "server_error" if status >= 500
                             else "invalid_request_error", "code": None, "param": None}}
            return self._send(status, json.dumps(err))
        b0, per_tok, per_row = STEPS[model]
        n_in, n_out = len(content) // 4, int(req["max_tokens"])
        steps_us = [b0 + per_tok * n_in] + [b0 + per_row] * (n_out - 1)
        busy_ns = sum(steps_us) * 1000
        time.sleep(sum(steps_us) / 1e6)
        lp = math.log(conf)
        toks = [{"token": "t", "logprob": lp, "bytes": [116], "top_logprobs": []} for _ in range(n_out)]
        usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
        timings = {} if model in SILENT else {"rightsize": {"busy_ns": busy_ns}}
        head = {"id": "chatcmpl-" + rid, "created": int(time.time()), "model": model}
        if req.get("stream"):
            chunks = []
            for i in range(n_out):
                c = dict(head, object="chat.completion.chunk",
                         choices=[{"index": 0, "delta": {"content": "t"}, "logprobs": None, "finish_reason": None}])
                chunks.append(c)
            chunks.append(dict(head, object="chat.completion.chunk", timings=timings,
                               choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}]))
            body = "".join("data: %s\n\n" % json.dumps(c) for c in chunks) + "data: [DONE]\n\n"
            return self._send(200, body, "text/event-stream")
        resp = dict(head, object="chat.completion", usage=usage, timings=timings,
                    choices=[{"index": 0, "message": {"role": "assistant", "content": "t" * n_out},
                              "logprobs": {"content": toks}, "finish_reason": "length"}])
        self._send(200, json.dumps(resp))


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
