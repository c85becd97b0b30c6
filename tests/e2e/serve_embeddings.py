#!/usr/bin/python3
"""`rightsize serve` batching /v1/embeddings to a local worker tier running a real encoder: the
gateway starts `rightsize worker` on a synthesized bert model, 24 concurrent embedding requests
reach it in batched calls (fewer calls than requests, each at most max_batch_size inputs), and
every client gets exactly its own vectors — checked against `rightsize gguf embed` (one input per
pass, no gateway, no batching)."""
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, T, Gateway, check, finish  # noqa: E402

ROOT = os.environ.get("RS_ROOT", ".")
model = os.path.join(T, "bert.gguf")
subprocess.run([BIN, "gguf", "synth", "--arch", "bert", "--qk-scale", "8", "--vocab-from",
                os.path.join(ROOT, "tests", "data", "vocab", "ggml-vocab-bert-bge.gguf"), "-q", "-o", model], check=True)
texts = ["text number %d %s" % (i, "word " * (i % 5)) for i in range(24)]
ref = [json.loads(l)["embedding"] for l in
       subprocess.run([BIN, "gguf", "embed", model, *texts], check=True, capture_output=True, text=True).stdout.splitlines()]

gw = Gateway("""
tiers:
  - {name: emb, model: %s, replicas: {min: 1, max: 1}, threads: 1,
     batching: {max_batch_size: 8, max_queue_delay_microseconds: 20000}}
routes:
  - {match: {endpoint: embeddings}, tier: emb}
""" % model)
if not check(gw.wait_ready("emb"), "local embedding worker ready"):
    print(gw.metrics()[-3000:]); print(open(os.path.join(T, "serve.log")).read()[-3000:]); finish()

out = [None] * len(texts)


def client(i):
    g = Gateway.__new__(Gateway)
    g.port, g.conn = gw.port, None
    inp = [texts[i]] if i % 2 else texts[i]
    st, h, b = g.request("POST", "/v1/embeddings", {"input": inp, "model": "emb"})
    out[i] = (st, b)


ts = [threading.Thread(target=client, args=(i,)) for i in range(len(texts))]
for t in ts:
    t.start()
for t in ts:
    t.join()
for i, (st, b) in enumerate(out):
    r = json.loads(b) if st == 200 else {}
    v = r.get("data", [{}])[0].get("embedding", [])
    diff = max((abs(x - y) for x, y in zip(v, ref[i])), default=1.0) if len(v) == len(ref[i]) else 1.0
    check(st == 200 and diff < 1e-6, "request %d: status %d, differs from gguf embed by %g: %s" % (i, st, diff, b[:200]))
n_batches = gw.metric("rightsize_batch_size_count", 'tier="emb"')
print("%d embedding requests reached the worker in %d batched calls" % (len(texts), n_batches))
check(0 < n_batches < len(texts), "batched: %d calls for %d requests" % (n_batches, len(texts)))
finish()
