#!/usr/bin/python3
"""The gateway's request limits cannot be walked around (loopback only):
1. limits.max_tokens holds for `max_tokens` and for `max_completion_tokens`; a request that gives
   neither reaches the backend with max_tokens set (chat: the limit; completions: OpenAI's 16);
2. a key given twice (`{"max_tokens":1,"max_tokens":100000}`) is refused — cJSON would check the
   first copy and a Python backend would obey the last;
3. a NUL character in a prompt (`\\u0000`, which would silently cut the prompt) and bytes after
   the JSON value are refused with 400, and none of these reach the backend;
4. an IPv6 listen address ([::1]:0) works."""
import http.client
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import T, Gateway, check, fake_backend, finish  # noqa: E402

log = os.path.join(T, "fwd.log")
_, port = fake_backend("b", log=log)
gw = Gateway("""
tiers:
  - {name: b, url: "http://127.0.0.1:%d/v1", model: m}
routes:
  - {match: {endpoint: any}, tier: b}
limits: {max_tokens: 50}
""" % port)


def raw(body):
    """POSTs body bytes exactly as given; returns (status, parsed JSON body)."""
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    c.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, {}


def forwarded():
    return [json.loads(l) for l in open(log)] if os.path.exists(log) else []


msg = [{"role": "user", "content": "hi"}]
# 1. both names, and neither
st, _, b = gw.post("/v1/chat/completions", {"messages": msg, "max_completion_tokens": 100000})
check(st == 400 and b"max_completion_tokens" in b, "max_completion_tokens over the limit: %d %s" % (st, b[:200]))
st, _, b = gw.post("/v1/chat/completions", {"messages": msg, "max_tokens": 51})
check(st == 400 and b"limit of 50" in b, "max_tokens over the limit: %d %s" % (st, b[:200]))
st, _, b = gw.post("/v1/chat/completions", {"messages": msg, "max_tokens": -3})
check(st == 400, "negative max_tokens refused: %d" % st)
n0 = len(forwarded())
check(n0 == 0, "refused requests never reach the backend (%d did)" % n0)
st, _, _ = gw.post("/v1/chat/completions", {"messages": msg})
check(st == 200, "chat without max_tokens answered: %d" % st)
st, _, _ = gw.post("/v1/completions", {"prompt": "hi"})
check(st == 200, "completion without max_tokens answered: %d" % st)
st, _, _ = gw.post("/v1/chat/completions", {"messages": msg, "max_completion_tokens": 7})
check(st == 200, "max_completion_tokens within the limit answered: %d" % st)
fw = forwarded()
check([f.get("max_tokens") for f in fw] == [50, 16, None],
      "forwarded max_tokens: chat → limit, completions → 16, explicit max_completion_tokens untouched: %s" %
      [f.get("max_tokens") for f in fw])

# 2. duplicated key
st, b = raw(b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":1,"max_tokens":100000}')
check(st == 400 and "twice" in b.get("error", {}).get("message", ""), "duplicate key refused: %d %s" % (st, b))
# 3. NUL in a string, trailing bytes, and an escaped backslash before u0000 (legal text) accepted
st, b = raw(b'{"messages":[{"role":"user","content":"a\\u0000b"}]}')
check(st == 400 and "NUL" in b.get("error", {}).get("message", ""), "NUL in a prompt refused: %d %s" % (st, b))
st, b = raw(b'{"messages":[{"role":"user","content":"hi"}]} garbage')
check(st == 400 and "after its JSON" in b.get("error", {}).get("message", ""), "trailing bytes refused: %d %s" % (st, b))
st, b = raw(b'{"messages":[{"role":"user","content":"a\\\\u0000b"}],"max_tokens":2}')
check(st == 200, "an escaped backslash followed by u0000 is plain text: %d %s" % (st, b))
check(len(forwarded()) == 4, "only the valid requests reached the backend: %d" % len(forwarded()))
check(gw.stop() == 0, "serve exits 0")

# 4. listen addresses the worker and the gateway share: [::1] (IPv6) and localhost.
gw6 = Gateway("""
listen: "[::1]:0"
tiers:
  - {name: b, url: "http://127.0.0.1:%d/v1", model: m}
routes:
  - {match: {endpoint: any}, tier: b}
""" % port, extra=["--listen", "[::1]:0"], name="v6")
c = http.client.HTTPConnection("::1", gw6.port, timeout=10)
c.request("GET", "/health")
check(c.getresponse().status == 200, "the gateway answers on [::1]")
c.close()
check(gw6.stop() == 0, "serve on [::1] exits 0")
finish()
