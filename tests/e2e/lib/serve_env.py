"""Helpers for the serve_* end-to-end tests: start the gateway / fake backends / workers on
loopback, talk HTTP with keep-alive, and kill everything at exit (only what was started)."""
import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("RS_BIN", "build/rightsize")
ROOT = os.environ.get("RS_ROOT", ".")
PY = "/usr/bin/python3"
T = tempfile.mkdtemp(prefix="rs-serve-e2e.")
PROCS = []


def _cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
    shutil.rmtree(T, ignore_errors=True)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))

fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)
        print("FAIL:", msg, flush=True)
    return cond


def finish():
    if fails:
        print("%d checks failed" % len(fails))
        for name in ("serve.log",):
            pth = os.path.join(T, name)
            if os.path.exists(pth):
                print("--- %s (tail)" % name)
                print("".join(open(pth, errors="replace").readlines()[-25:]))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def _wait_file(path, proc, what, timeout=20):
    t0 = time.time()
    # The file may exist before its contents are written: wait for a whole number.
    while not os.path.exists(path) or not open(path).read().strip().isdigit():
        if proc.poll() is not None or time.time() - t0 > timeout:
            print("%s did not come up" % what)
            log = os.path.join(T, "serve.log")
            if os.path.exists(log):
                print(open(log, errors="replace").read()[-3000:])
            sys.exit(1)
        time.sleep(0.02)
    return int(open(path).read().strip())


def spawn(argv, log_name):
    """Starts a process in its own process group (so its children die with it)."""
    log = open(os.path.join(T, log_name), "a")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    PROCS.append(p)
    return p


def fake_backend(name, delay_ms=0, log=None, extra=()):
    pf = os.path.join(T, "fake-%s.port" % name)
    argv = [PY, os.path.join(ROOT, "tests/e2e/lib/fake_backend.py"), "--name", name, "--port-file", pf,
            "--delay-ms", str(delay_ms)] + list(extra)
    if log:
        argv += ["--log", log]
    p = spawn(argv, "fake-%s.log" % name)
    return p, _wait_file(pf, p, "fake backend " + name)


def synth(name, seed, extra=()):
    path = os.path.join(T, name + ".gguf")
    subprocess.run([BIN, "gguf", "synth", "--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "4",
                    "--ffn", "128", "--vocab", "512", "--ctx", "512", "--type", "q8_0", "--seed", str(seed), "-q",
                    "-o", path] + list(extra), check=True)
    return path


class Gateway:
    def __init__(self, config_text, extra=(), name="serve"):
        self.cfg = os.path.join(T, name + ".yaml")
        with open(self.cfg, "w") as f:
            f.write(config_text)
        pf = os.path.join(T, name + ".port")
        self.tel = os.path.join(T, name + ".jsonl")
        self.proc = spawn([BIN, "serve", self.cfg, "--listen", "127.0.0.1:0", "--port-file", pf, "--telemetry",
                           self.tel, "--admin-key", "secret"] + list(extra), "serve.log")
        self.port = _wait_file(pf, self.proc, "rightsize serve")
        self.conn = None

    def request(self, method, path, body=None, headers=None, timeout=60):
        """One request on a keep-alive connection; returns (status, headers dict lower-case, body bytes)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                return r.status, hdrs, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)

    def admin(self, method, path, body=None):
        return self.request(method, path, body, {"Authorization": "Bearer secret"})

    def ledger(self):
        return json.loads(self.admin("GET", "/admin/ledger")[2])

    def metrics(self):
        return self.request("GET", "/metrics")[2].decode()

    def metric(self, name, label_sub=""):
        for line in self.metrics().splitlines():
            if line.startswith(name) and (line[len(name)] in "{ ") and label_sub in line:
                return float(line.split()[-1])
        return 0.0

    def wait_ready(self, tier, n=1, timeout=30):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.metric("rightsize_replicas", 'tier="%s",state="ready"' % tier) >= n:
                return True
            time.sleep(0.05)
        return False

    def telemetry(self):
        # Complete lines only: a record the gateway is appending at this moment may be half there.
        return [json.loads(l) for l in open(self.tel) if l.endswith("\n") and l.strip()]

    def stop(self):
        if self.conn:
            self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return -9



def start_redis():
    """A redis-server on a free loopback port, data in T, stopped at exit: (process, port), or
    (None, None) when redis-server is not installed."""
    exe = shutil.which("redis-server")
    if not exe:
        return None, None
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", T, "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    PROCS.append(proc)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    return proc, port

def start_worker(model, extra=()):
    pf = os.path.join(T, "w-%d.port" % len(PROCS))
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = spawn([BIN, "worker", "-m", model, "--listen", "127.0.0.1:%d" % port, "-t", "1"] + list(extra), "worker.log")
    t0 = time.time()
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                c.close()
                break
        except OSError:
            pass
        if p.poll() is not None or time.time() - t0 > 30:
            print("worker did not come up")
            sys.exit(1)
        time.sleep(0.05)
    return p, port


def post_direct(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data
