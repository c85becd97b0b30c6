"""Client-side attacks on a server's connection layer, for the hardening tests and the bench
(loopback only; every socket is closed by close_all or at exit): slowloris (headers trickled a
few bytes at a time), stalled uploads (a body that stops before its Content-Length), clients
that half-close or leave, a well-behaved client's latencies, and a process's RSS."""
import http.client
import json
import resource
import select
import socket
import time

_open = []


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _open.append(s)
    return s


def slowloris(port, n):
    """n connections that each sent the start of a request header and nothing more."""
    socks = []
    for i in range(n):
        try:
            s = _connect(port)
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        except OSError:
            pass
    return socks


def trickle(socks):
    """One more header line on each (what resets an idle timer); returns how many took it."""
    ok = 0
    for s in socks:
        try:
            s.send(b"X-a: b\r\n", socket.MSG_DONTWAIT)
            ok += 1
        except OSError:
            pass
    return ok


def closed_by_server(socks):
    """How many of socks the server has closed (end-of-file, a reset, or an answer it sent)."""
    p = select.poll()
    by_fd = {}
    for s in socks:
        try:
            by_fd[s.fileno()] = s
            p.register(s.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        except (OSError, ValueError):
            pass
    n = len(socks) - len(by_fd)
    for fd, ev in p.poll(0):
        n += 1
    return n


def stalled_upload(port, content_length, send_bytes, path="/v1/completions"):
    """A POST that announces content_length bytes of body and sends only send_bytes of them."""
    s = _connect(port)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % (path.encode(), content_length))
    body = b'{"prompt":"' + b"x" * max(0, send_bytes - 11)
    try:
        s.settimeout(10)
        s.sendall(body[:send_bytes])
    except OSError:
        pass
    return s


def answer_of(s, timeout=5):
    """Reads what the server sends until it closes or timeout; returns the bytes."""
    s.settimeout(timeout)
    out = b""
    t0 = time.time()
    try:
        while time.time() - t0 < timeout:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    return out


def status_of(raw):
    """The final (non-1xx) status code in a raw HTTP/1.1 answer, or 0."""
    code = 0
    for line in raw.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 "):
            c = int(line[9:12])
            if c >= 200:
                return c
            code = c
    return 0 if code < 200 else code


def raw_post(port, path, body, half_close=False):
    s = _connect(port)
    data = json.dumps(body).encode()
    s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % (path.encode(), len(data)) + data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    return s


def latencies(port, n, path="/health", body=None, timeout=5):
    """n requests from a well-behaved client, each on a fresh connection: seconds each (inf on failure)."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            if body is None:
                c.request("GET", path)
            else:
                c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            c.close()
            out.append(time.perf_counter() - t0 if r.status == 200 else float("inf"))
        except OSError:
            out.append(float("inf"))
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else float("nan")


def rss_mb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def close_all():
    while _open:
        try:
            _open.pop().close()
        except OSError:
            pass
