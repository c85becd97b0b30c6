"""Helpers for the `rightsize bench` end-to-end tests: start the scripted fake server on
127.0.0.1 (and always stop it), run the bench verb, read the server's log and the bench trace."""
import atexit
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("RS_ROOT", os.path.abspath(os.path.join(HERE, "..", "..", "..")))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
PY = "/usr/bin/python3"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class FakeServer:
    """Context manager: `with FakeServer(tmp, "--ttft-ms", "20") as s:` gives s.url and s.log."""

    def __init__(self, tmp, *args):
        self.tmp = tmp
        self.args = list(args)
        # A fresh directory per server: names built from id(self) could repeat once an earlier
        # server object is collected, and a stale port file would point at a dead server.
        d = tempfile.mkdtemp(dir=tmp, prefix="srv-")
        self.log = os.path.join(d, "server.csv")
        self.port_file = os.path.join(d, "port")
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen([PY, os.path.join(HERE, "fake_openai_server.py"),
                                      "--port-file", self.port_file, "--log", self.log] + self.args)
        deadline = time.time() + 10
        while not os.path.exists(self.port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                self.stop()
                fail("fake server did not start")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = "http://127.0.0.1:%d/v1" % self.port
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __exit__(self, *exc):
        self.stop()

    def records(self):
        """Rows of the server log keyed by request id, and the stall window (or None).
        The server logs a request after its last byte is sent, so the client can be done first:
        wait until the log has not grown for 300 ms (at most 5 s) before reading it."""
        last, stable_since, deadline = -1, time.time(), time.time() + 5
        while time.time() < deadline:
            size = os.path.getsize(self.log)
            if size != last:
                last, stable_since = size, time.time()
            elif time.time() - stable_since >= 0.3:
                break
            time.sleep(0.05)
        rows, stall = {}, None
        with open(self.log) as f:
            for line in f:
                if line.startswith("# stall,"):
                    _, a, b = line.strip().split(",")
                    stall = (int(a), int(b))
                elif line[0].isdigit() or line[0] == "-":
                    p = line.strip().split(",")
                    rows[int(p[0])] = {"recv_us": int(p[1]), "ttft_us": int(p[2]), "first_us": int(p[3]),
                                       "done_us": int(p[4]), "tokens": int(p[5]), "kind": p[6],
                                       "max_tokens": int(p[7]), "prompt_words": int(p[8]),
                                       "ignore_eos": int(p[9])}
        return rows, stall


def bench(*args, timeout=120, expect_rc=0):
    """Runs `rightsize bench ARGS --quiet`; returns (stdout, stderr)."""
    p = subprocess.run([BIN, "bench", "--quiet"] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    if expect_rc is not None and p.returncode != expect_rc:
        fail("bench %s exited %d (wanted %d)\nstdout:\n%s\nstderr:\n%s"
             % (" ".join(args), p.returncode, expect_rc, p.stdout, p.stderr))
    return p.stdout, p.stderr


def read_trace(path):
    """The --trace CSV: (t0_mono_us, list of row dicts with int fields where numeric)."""
    with open(path) as f:
        first = f.readline()
        t0 = int(first.split("=")[1])
        rows = []
        for r in csv.DictReader(f):
            for k, v in r.items():
                if k != "outcome":
                    r[k] = float(v) if k == "cost_usd" else int(v)
            rows.append(r)
    return t0, rows


def read_json(path):
    with open(path) as f:
        return json.load(f)


def tmpdir():
    """A temporary directory, removed when the test exits."""
    d = tempfile.mkdtemp(prefix="rs-bench-")
    atexit.register(shutil.rmtree, d, True)
    return d
