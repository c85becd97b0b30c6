# tests/e2e/lib/worker_env.sh — sourced by the worker_*.sh end-to-end tests (not a test itself).
# Gives: $BIN, $T (temp dir), fail/check helpers, free_port, start_worker, stop_worker, metric.
# Everything a test starts is killed by the EXIT trap (only the pids it recorded).
set -u
BIN=${RS_BIN:-build/rightsize}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/rs-worker-e2e.XXXXXX)
WPID=""
PIDS=""
fails=0
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    [ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
finish() {
    if [ "$fails" -ne 0 ]; then
        echo "--- worker log (tail)"; tail -20 "$T/worker.log" 2>/dev/null
        echo "$fails checks failed"; exit 1
    fi
    echo "all checks passed"; exit 0
}
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_worker MODEL ARGS... — starts a worker on a free port; sets WPID, PORT, URL; waits for /health.
start_worker() {
    model=$1; shift
    PORT=$(free_port)
    URL="http://127.0.0.1:$PORT"
    "$BIN" worker -m "$model" --listen "127.0.0.1:$PORT" "$@" 2>>"$T/worker.log" &
    WPID=$!
    i=0
    while ! curl -sf "$URL/health" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$WPID" 2>/dev/null; then
            echo "worker did not come up"; tail -20 "$T/worker.log"; exit 1
        fi
        sleep 0.05
    done
}

# stop_worker — SIGTERM, wait; sets WRC to its exit status.
stop_worker() {
    kill -TERM "$WPID" 2>/dev/null
    wait "$WPID"; WRC=$?
    WPID=""
}

# metric NAME [LABEL_FILTER] — the value of a rightsize_ sample from /metrics (first match).
metric() {
    curl -s "$URL/metrics" | grep "^rightsize_$1[{ ]" | grep -- "${2:-}" | head -1 | awk '{print $NF}'
}

# rss_kb PID — resident set size in KiB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
