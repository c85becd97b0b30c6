# `rightsize gguf synth --arch bert` and `rightsize gguf embed` from the shell: every embedding has
# unit L2 norm (computed here in float64), the same text gives the same vector, different texts
# differ, CLS pooling differs from mean pooling on one model's weights, and bad input gets a clear
# error (no vocabulary, a decoder model, an unknown pooling).
import json, math, os, subprocess, sys, tempfile

BIN = os.environ.get("RS_BIN", "build/rightsize")
ROOT = os.environ.get("RS_ROOT", ".")
VOCAB = os.path.join(ROOT, "tests", "data", "vocab", "ggml-vocab-bert-bge.gguf")
fails = 0

def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL: " + msg)

def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)

with tempfile.TemporaryDirectory() as tmp:
    mean, cls, llama = (os.path.join(tmp, n) for n in ("mean.gguf", "cls.gguf", "llama.gguf"))
    for path, pool in ((mean, "mean"), (cls, "cls")):
        r = run("gguf", "synth", "--arch", "bert", "--pooling", pool, "--vocab-from", VOCAB, "-q", "-o", path)
        check(r.returncode == 0, f"synth {pool}: {r.stderr}")
    texts = ["hello world", "hello world", "an entirely different sentence"]
    out = {}
    for path in (mean, cls):
        r = run("gguf", "embed", path, *texts)
        check(r.returncode == 0, f"embed: {r.stderr}")
        out[path] = [json.loads(l) for l in r.stdout.splitlines()]
        check(len(out[path]) == 3, f"{len(out[path])} lines for 3 texts")
        for e in out[path]:
            v = e["embedding"]
            check(len(v) == 64, f"dimension {len(v)}, want 64")
            n = math.sqrt(sum(x * x for x in v))
            check(abs(n - 1) < 1e-5, f"norm {n}, want 1")
        a, b, c = (e["embedding"] for e in out[path])
        check(a == b, "the same text gave different vectors")
        check(max(abs(x - y) for x, y in zip(a, c)) > 1e-4, "different texts gave the same vector")
        check(out[path][0]["tokens"] == 4, f"'hello world' is {out[path][0]['tokens']} tokens, want 4 ([CLS] hello world [SEP])")
    d = sum(x * y for x, y in zip(out[mean][2]["embedding"], out[cls][2]["embedding"]))
    check(d < 0.9999, f"mean and CLS pooling agree (cos {d})")
    r = run("gguf", "synth", "--arch", "bert", "-q", "-o", os.path.join(tmp, "x.gguf"))
    check(r.returncode == 2 and "--vocab-from" in r.stderr, f"no vocabulary: rc {r.returncode} {r.stderr}")
    r = run("gguf", "synth", "--arch", "bert", "--pooling", "max", "--vocab-from", VOCAB, "-o", os.path.join(tmp, "x.gguf"))
    check(r.returncode == 2 and "--pooling" in r.stderr, f"bad pooling: rc {r.returncode} {r.stderr}")
    run("gguf", "synth", "tiny", "-q", "-o", llama)
    r = run("gguf", "embed", llama, "hi")
    check(r.returncode != 0 and "not an encoder" in r.stderr, f"decoder model: rc {r.returncode} {r.stderr}")

print(f"{fails} failure(s)" if fails else "embed_cli: ok")
sys.exit(1 if fails else 0)
