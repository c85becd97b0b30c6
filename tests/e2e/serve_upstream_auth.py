#!/usr/bin/python3
"""Upstream credentials (loopback only): a remote tier's backend that refuses every request without
the right `Authorization: Bearer KEY` and `X-Org` headers (as `vllm --api-key` or a hosted endpoint
does) answers through the gateway when the tier gives `api_key_env` / `api_key_file` and
`headers:`; the same backend behind a tier without them refuses (401 passed through), and
/health/ready says that tier is not ready because its endpoint refuses it (the probe carries
each tier's credentials). `serve
--check` names the tier whose key is missing, and the key never appears in the gateway's log, its
telemetry, /metrics or the admin API."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from serve_env import BIN, T, Gateway, check, fake_backend, finish  # noqa: E402

KEY_ENV, KEY_FILE = "sk-up-env-5b3e9f01", "sk-up-file-c04d7a22"
_, p_env = fake_backend("env", extra=["--require-header", "Authorization: Bearer " + KEY_ENV,
                                      "--require-header", "X-Org: acme"])
_, p_file = fake_backend("file", extra=["--require-header", "Authorization: Bearer " + KEY_FILE])
key_file = os.path.join(T, "upstream.key")
with open(key_file, "w") as f:
    f.write("  %s  \n# only the first line is the key\n" % KEY_FILE)
config = """
tiers:
  - name: viaenv
    url: "http://127.0.0.1:%d/v1"
    model: m
    api_key_env: RS_TEST_UPSTREAM_KEY
    headers: {X-Org: acme}
  - {name: viafile, url: "http://127.0.0.1:%d/v1", model: m, api_key_file: "%s"}
  - {name: bare, url: "http://127.0.0.1:%d/v1", model: m}
routes:
  - {name: env, match: {endpoint: chat, header: {name: x-to, value: env}}, tier: viaenv}
  - {name: file, match: {endpoint: chat, header: {name: x-to, value: file}}, tier: viafile}
  - {name: bare, match: {endpoint: chat}, tier: bare}
""" % (p_env, p_file, key_file, p_file)

# serve --check: a missing variable / file is named with its tier, before anything starts
cfg = os.path.join(T, "check.yaml")
with open(cfg, "w") as f:
    f.write(config)
env = dict(os.environ)
env.pop("RS_TEST_UPSTREAM_KEY", None)
r = subprocess.run([BIN, "serve", "--check", cfg], env=env, capture_output=True, text=True)
check(r.returncode != 0 and "key 'tiers[0].api_key_env': tier 'viaenv': environment variable RS_TEST_UPSTREAM_KEY"
      " (api_key_env) is not set" in r.stderr, "missing env var named: %d %s" % (r.returncode, r.stderr))
env["RS_TEST_UPSTREAM_KEY"] = KEY_ENV
with open(cfg.replace("check", "nofile"), "w") as f:
    f.write(config.replace(key_file, key_file + ".gone"))
r = subprocess.run([BIN, "serve", "--check", cfg.replace("check", "nofile")], env=env, capture_output=True, text=True)
check(r.returncode != 0 and "tier 'viafile': api_key_file: cannot read" in r.stderr, "missing key file named: %s" % r.stderr)
r = subprocess.run([BIN, "serve", "--check", cfg], env=env, capture_output=True, text=True)
check(r.returncode == 0, "--check passes with the key present: %s" % r.stderr)

os.environ["RS_TEST_UPSTREAM_KEY"] = KEY_ENV   # the gateway inherits it
gw = Gateway(config)
msg = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
st, h, b = gw.post("/v1/chat/completions", msg, {"x-to": "env"})
check(st == 200 and h.get("x-rightsize-tier") == "viaenv", "env key + X-Org header accepted upstream: %d %s" % (st, b[:200]))
st, h, b = gw.post("/v1/chat/completions", msg, {"x-to": "file"})
check(st == 200 and h.get("x-rightsize-tier") == "viafile", "file key accepted upstream: %d %s" % (st, b[:200]))
st, h, b = gw.post("/v1/chat/completions", msg)
check(st == 401 and b"invalid_api_key" in b, "a tier without the key is refused by the backend: %d %s" % (st, b[:200]))
# /health/ready: the probe carries each tier's credentials; the tier without them is refused by
# its endpoint (401), so it and its route are not ready, and the body says which and why
import json  # noqa: E402
import time  # noqa: E402
t0 = time.time()
while True:
    st, _, b = gw.request("GET", "/health/ready")
    ready = json.loads(b)
    tiers = {t["tier"]: t for t in ready["tiers"]}
    if not tiers["bare"]["ready"] or time.time() - t0 > 10:
        break
    time.sleep(0.1)
check(st == 503 and ready["status"] == "not_ready" and not tiers["bare"]["ready"]
      and "401" in tiers["bare"].get("reason", "") and "refuses" in tiers["bare"]["reason"]
      and tiers["viaenv"]["ready"] and tiers["viafile"]["ready"],
      "/health/ready names the tier whose endpoint refuses its credentials: %d %s" % (st, b[:600]))
routes = {r["route"]: r for r in ready["routes"]}
check(not routes["bare"]["ready"] and routes["env"]["ready"] and routes["file"]["ready"],
      "only the route on the refused tier is not ready: %s" % ready["routes"])
print("/health/ready: tier 'bare' not ready: %s" % tiers["bare"]["reason"])
# the client's own Authorization header never goes upstream in place of the tier's
st, h, b = gw.post("/v1/chat/completions", msg, {"Authorization": "Bearer " + KEY_FILE})
check(st == 401, "a client's Authorization is not forwarded: %d" % st)
seen = gw.metrics()
for path in ("/admin/ledger", "/admin/canary", "/admin/keys"):
    seen += gw.admin("GET", path)[2].decode()
check(gw.stop() == 0, "serve exits 0")
seen += open(gw.tel).read() + open(os.path.join(T, "serve.log")).read()
for k in (KEY_ENV, KEY_FILE):
    check(k not in seen, "the upstream key %s... appears nowhere" % k[:9])
finish()
