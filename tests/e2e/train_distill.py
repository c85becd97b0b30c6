"""train_distill.py — `rightsize distill` as a user meets it: a from-scratch run writes a GGUF that
`rightsize run` loads; a run killed mid-way and resumed with --resume ends with the same bytes as
an uninterrupted one (it loses only the steps since its last checkpoint); the thread count does
not change the bytes; a corrupt state, a checkpoint of another shape and a teacher of another
vocabulary are refused with the reason; distillation from a teacher runs and its KL term is
reported; bad flags exit 2 with a message.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
DATA = os.path.join(ROOT, "data", "tasks", "support-desk", "dev.jsonl")
failures = []


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def distill(*args, timeout=120):
    return subprocess.run([BIN, "distill", *args], capture_output=True, text=True, timeout=timeout)


SHAPE = ["--dim", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "64", "--ctx", "64"]
COMMON = ["--data", DATA, "--vocab", "500", "--steps", "30", "--batch", "4", "--seq", "48", "--ckpt-every", "10",
          "--log-every", "10", "--seed", "5", "--name", "t"]


def read(p):
    with open(p, "rb") as f:
        return f.read()


def main():
    tmp = tempfile.mkdtemp(prefix="rs-train-")
    procs = []
    try:
        a, b, c = (os.path.join(tmp, x) for x in "abc")
        r = distill("--from-scratch", "--out", a, *SHAPE, *COMMON, "-t", "2")
        check(r.returncode == 0, "from-scratch run exits 0 (%s)" % r.stderr.strip().splitlines()[-1:])
        check("step 30/30 loss" in r.stderr and "tok/s" in r.stderr and "GFLOP/s" in r.stderr,
              "progress lines carry step, loss, tokens/s and FLOP/s")
        first = [l for l in r.stderr.splitlines() if l.startswith("step 10/")]
        last = [l for l in r.stderr.splitlines() if l.startswith("step 30/")]
        check(first and last and float(last[0].split()[3]) < float(first[0].split()[3]), "the loss goes down")
        model = os.path.join(a, "model.gguf")
        g = subprocess.run([BIN, "run", "-m", model, "-p", "Ticket: my router will not turn on.\nIntent:", "-n", "4",
                            "--temp", "0"], capture_output=True, text=True, timeout=60)
        check(g.returncode == 0 and "tokens/s" in g.stderr, "the checkpoint runs in `rightsize run`")

        # Same run on 1 thread, killed after its first checkpoint, then resumed: identical bytes.
        p = subprocess.Popen([BIN, "distill", "--from-scratch", "--out", b, *SHAPE, *COMMON, "-t", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        state = os.path.join(b, "state.bin")
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists(state) and p.poll() is None:
            time.sleep(0.01)
        p.kill()
        p.wait()
        check(os.path.exists(state), "the killed run left a checkpoint")
        r = distill("--from-scratch", "--out", b, *SHAPE, *COMMON, "-t", "1", "--resume")
        check(r.returncode == 0 and "resuming" in r.stderr, "--resume continues (%s)" % r.stderr.strip()[-200:])
        check(read(os.path.join(b, "model.gguf")) == read(model),
              "killed + resumed on 1 thread == uninterrupted on 2 threads, byte for byte")

        # Refusals.
        shutil.copytree(a, c)
        st = bytearray(read(os.path.join(c, "state.bin")))
        st[len(st) // 2] ^= 0xFF
        with open(os.path.join(c, "state.bin"), "wb") as f:
            f.write(st)
        r = distill("--from-scratch", "--out", c, *SHAPE, *COMMON, "--steps", "40", "--resume")
        check(r.returncode == 1 and "corrupt" in r.stderr, "a corrupt state is refused: " + r.stderr.strip()[-120:])
        big = SHAPE[:1] + ["64"] + SHAPE[2:]
        r = distill("--from-scratch", "--out", a, *big, *COMMON, "--steps", "40", "--resume")
        check(r.returncode == 1 and "shape differs" in r.stderr, "a checkpoint of another shape is refused: " +
              r.stderr.strip()[-120:])

        # Distillation from the trained model as teacher; a teacher of another vocabulary is refused.
        d = os.path.join(tmp, "d")
        r = distill("--teacher", model, "--out", d, "--dim", "16", "--layers", "1", "--heads", "2", "--ffn", "32",
                    "--ctx", "64", "--data", DATA, "--steps", "10", "--batch", "4", "--seq", "48", "--log-every", "5",
                    "--alpha", "0.7", "--temperature", "2")
        check(r.returncode == 0 and " kl " in r.stderr, "distilling from a teacher runs")
        kl = [float(l.split("kl ")[1].split(")")[0]) for l in r.stderr.splitlines() if l.startswith("step ")]
        check(kl and max(kl) > 0, "the KL term is reported and positive (%s)" % kl)
        e = os.path.join(tmp, "e")
        r = distill("--from-scratch", "--out", e, *SHAPE, *COMMON, "--vocab", "520", "--steps", "1")
        check(r.returncode == 0, "a second vocabulary builds")
        r = distill("--teacher", os.path.join(e, "model.gguf"), "--out", d, "--dim", "16", "--layers", "1",
                    "--heads", "2", "--ffn", "32", "--ctx", "64", "--data", DATA, "--steps", "20", "--batch", "4",
                    "--seq", "48", "--resume")
        check(r.returncode == 1 and "vocabulary differs" in r.stderr,
              "resuming against a teacher of another vocabulary is refused: " + r.stderr.strip()[-120:])

        # Usage errors.
        r = distill("--from-scratch", "--teacher", model, "--data", DATA, "--out", d)
        check(r.returncode == 2 and "exactly one" in r.stderr, "--teacher with --from-scratch is a usage error")
        r = distill("--bogus")
        check(r.returncode == 2 and "unknown option" in r.stderr, "an unknown flag is a usage error")
        r = distill("--help")
        check(r.returncode == 0 and "--resume" in r.stdout and "--temperature" in r.stdout, "--help documents the flags")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
