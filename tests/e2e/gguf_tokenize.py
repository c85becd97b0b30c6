#!/usr/bin/python3
"""`rightsize gguf tokenize` end to end: on every vendored llama.cpp vocabulary the ids printed for
a spread of its test cases equal llama.cpp's (the .out files); --no-bos, specials and --pieces
behave as llama-tokenize's; bad arguments exit 2 and bad files 1 with a message."""
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("RS_ROOT", ".")
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build/rightsize"))
VOCAB = os.path.join(ROOT, "tests/data/vocab")
SEP = "\n__ggml_vocab_test__\n"
fails = []


def run(*args, stdin=None):
    p = subprocess.run([BIN, "gguf", "tokenize", *args], input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def cases(vocab):
    inp = open(os.path.join(VOCAB, vocab + ".inp"), encoding="utf-8").read()
    out = open(os.path.join(VOCAB, vocab + ".out"), encoding="utf-8").read().splitlines()
    texts = inp.split(SEP)
    if texts and texts[-1] == "":
        texts.pop()
    # the file ends with a separator line; the last text keeps no trailing newline
    texts[-1] = texts[-1].removesuffix("\n__ggml_vocab_test__")
    return list(zip(texts, out))


vocabs = sorted(f[:-4] for f in os.listdir(VOCAB) if f.endswith(".inp"))
if len(vocabs) < 14:
    fails.append(f"only {len(vocabs)} vocabularies in {VOCAB}")
with tempfile.TemporaryDirectory() as tmp:
    for v in vocabs:
        path = os.path.join(VOCAB, v)
        cs = cases(v)
        for i in range(0, len(cs), 9):  # every 9th case, through a file so any bytes pass intact
            text, want = cs[i]
            f = os.path.join(tmp, "case")
            open(f, "wb").write(text.encode("utf-8"))
            rc, out, err = run(path, "--no-bos", "--no-parse-special", "-f", f)
            got = out.strip()
            exp = "[" + ", ".join(want.split()) + "]"
            if rc != 0 or got != exp:
                fails.append(f"{v} case {i} {text[:30]!r}: rc {rc} got {got[:120]} want {exp[:120]} {err[:200]}")

    spm = os.path.join(VOCAB, "ggml-vocab-llama-spm.gguf")
    rc, out, _ = run(spm, "Hello world")  # llama-tokenize's own example: BOS first
    if rc != 0 or out.strip() != "[1, 15043, 3186]":
        fails.append(f"BOS: {out!r}")
    rc, out, _ = run(spm, "--no-bos", "<s>hi")
    rc2, out2, _ = run(spm, "--no-bos", "--no-parse-special", "<s>hi")
    if not out.startswith("[1,") or out2.startswith("[1,"):
        fails.append(f"special parsing: {out!r} / {out2!r}")
    rc, out, _ = run(os.path.join(VOCAB, "ggml-vocab-bert-bge.gguf"), "--pieces", "Hello")
    if rc != 0 or out.splitlines() != ["   101 -> '[CLS]'", "  7592 -> ' hello'", "   102 -> '[SEP]'"]:
        fails.append(f"bert pieces: {out!r}")
    rc, out, _ = run(spm, "--count", "-f", "-", stdin=b"Hello world")
    if rc != 0 or out.strip() != "3":
        fails.append(f"--count from stdin: {out!r}")

    for args, code, msg in [((), 2, "MODEL is required"), ((spm,), 2, "give TEXT or -f FILE"),
                            ((spm, "--bogus", "x"), 2, "unknown option '--bogus'"),
                            ((spm, "a", "b"), 2, "unexpected argument 'b'"),
                            ((os.path.join(tmp, "missing.gguf"), "x"), 1, "No such file")]:
        rc, out, err = run(*args)
        if rc != code or msg not in err:
            fails.append(f"{args}: rc {rc} (want {code}) {err!r}")
    rc, out, _ = run("--help")
    if rc != 0 or "--no-bos" not in out:
        fails.append("--help")

for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"gguf tokenize: {len(vocabs)} vocabularies match llama.cpp on every 9th case; flags and errors ok")
