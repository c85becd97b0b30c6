#!/usr/bin/python3
"""10x overload: the gateway holds 6 requests (2 in flight to the one worker + 4 queued); waves of
60 concurrent requests (a third streamed) each get a complete answer (200 with all tokens, [DONE]
when streamed) or a 429 in OpenAI's error shape with Retry-After; none hangs (each client has a
60 s limit), none is lost (the gateway's requests_total matches the clients' counts), and the
gateway's resident memory stays flat across waves."""
import http.client
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import Gateway, check, finish, synth  # noqa: E402

model = synth("m", 5)
gw = Gateway("""
tiers:
  - {name: local, model: %s, max_concurrency: 2, scheduler: {max_num_seqs: 2}}
routes:
  - {match: {endpoint: completions}, tier: local}
limits: {max_queue: 4, retry_after_s: 1}
""" % model)
check(gw.wait_ready("local"), "worker ready")
N, TOK = 60, 300


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def one(i, out):
    stream = i % 3 == 0
    try:
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
        body = {"prompt": "request %d" % i, "max_tokens": TOK, "ignore_eos": True, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read().decode()
        out[i] = (r.status, {k.lower(): v for k, v in r.getheaders()}, data, stream)
    except Exception as e:  # a hang or a reset
        out[i] = (-1, {}, repr(e), stream)


rss = []
tot_ok = tot_429 = 0
for w in range(3):
    out = [None] * N
    ts = [threading.Thread(target=one, args=(i, out)) for i in range(N)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = refused = 0
    for i, (st, h, data, stream) in enumerate(out):
        if st == 429:
            e = json.loads(data)["error"]
            check(e["code"] == "queue_full" and h.get("retry-after") == "1", "wave %d/%d: bad 429 %s %s" % (w, i, data, h))
            refused += 1
        elif st == 200:
            if stream:
                ev = [x for x in data.split("\n\n") if x]
                usage = json.loads(ev[-2][6:]).get("usage") if len(ev) >= 2 else None
                check(ev[-1] == "data: [DONE]" and usage and usage["completion_tokens"] == TOK,
                      "wave %d/%d: stream cut short ...%s" % (w, i, data[-200:]))
            else:
                r = json.loads(data)
                check(r["usage"]["completion_tokens"] == TOK, "wave %d/%d: incomplete %s" % (w, i, r["usage"]))
            ok += 1
        else:
            check(False, "wave %d/%d: status %d %s" % (w, i, st, data[:200]))
    print("wave %d: %d answered, %d refused with 429 (of %d)" % (w, ok, refused, N))
    check(ok >= 6, "wave %d: the admitted requests complete" % w)
    check(refused >= 1, "wave %d: some 429s" % w)
    check(ok + refused == N, "wave %d: none lost" % w)
    tot_ok += ok
    tot_429 += refused
    rss.append(rss_kb(gw.proc.pid))
check(gw.metric("rightsize_requests_total", 'status="200"') == tot_ok, "requests_total{200} == %d" % tot_ok)
check(gw.metric("rightsize_requests_total", 'status="429"') == tot_429, "requests_total{429} == %d" % tot_429)
check(gw.metric("rightsize_rejected_total", 'reason="queue_full"') == tot_429, "rejected_total{queue_full}")
print("gateway RSS after each wave (KiB): %s" % rss)
check(rss[2] - rss[0] < 8192, "memory flat across waves (%s KiB)" % rss)
check(gw.stop() == 0, "serve exits 0")
finish()
