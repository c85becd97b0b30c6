"""run_cli.py — `rightsize run` as a user meets it: its output contract (text on stdout, exactly one
timing line on stderr in the format the benchmarks parse), seeded sampling, the --dump-logits
layout, the context limit, and a clear one-line error with the right exit status for bad input.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from gguf_read import read_gguf  # noqa: E402
from gguf_write import write_gguf  # noqa: E402

TIMING = re.compile(r"^prompt eval: (\d+) tokens in (\d+\.\d+) ms \((\d+\.\d+) tokens/s\); "
                    r"generation: (\d+) tokens in (\d+\.\d+) ms \((\d+\.\d+) tokens/s\); "
                    r"kernels (amx|avx512vnni|avxvnni|avx2|ref)$")
failures = []


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(*args):
    p = subprocess.run([BIN, "run", *args], capture_output=True, text=True, errors="replace")
    return p.returncode, p.stdout, p.stderr


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "tiny.gguf")
        subprocess.run([BIN, "gguf", "synth", "--shape", "tiny", "--type", "q8_0", "--seed", "3", "-q", "-o", model],
                       check=True)

        rc, out, err = run("--help")
        check(rc == 0 and "--dump-logits" in out and "prompt eval:" in out, "--help exits 0 and documents the output")

        # Text from a prompt: the tokenizer, streaming, the one timing line.
        rc, out, err = run("-m", model, "-p", "Hello world", "-n", "12", "--seed", "1", "--ignore-eos", "-t", "1")
        lines = [ln for ln in err.splitlines() if ln.strip()]
        m = TIMING.match(lines[-1]) if lines else None
        check(rc == 0 and m is not None, f"-p prompt: exit 0 and a timing line ({lines[-1:]!r})")
        check(sum(1 for ln in lines if ln.startswith("prompt eval:")) == 1, "exactly one timing line on stderr")
        if m:
            check(int(m.group(4)) == 12, f"generation counts the 12 tokens asked for ({m.group(4)})")
            check(int(m.group(1)) >= 3, f"prompt eval counts BOS + the prompt's tokens ({m.group(1)})")
        check(len(out) > 0, "generated text goes to stdout")

        # Seeded sampling is reproducible; another seed gives another sequence.
        args = ("-m", model, "--prompt-ids", "1,20,30,40", "-n", "16", "--temp", "1.0", "--top-k", "0",
                "--top-p", "1", "--min-p", "0", "--print-ids", "--ignore-eos")
        a = run(*args, "--seed", "7")[1].split()
        b = run(*args, "--seed", "7")[1].split()
        c = run(*args, "--seed", "8")[1].split()
        check(len(a) == 16 and a == b, "same seed, same tokens")
        check(a != c, "another seed, other tokens")

        # --dump-logits: P + G rows of n_vocab float32; greedy tokens are the argmax of rows P-1...
        dump = os.path.join(tmp, "l.bin")
        rc, out, err = run("-m", model, "--prompt-ids", "1,2,3,4,5", "-n", "6", "--temp", "0", "--print-ids",
                           "--ignore-eos", "--dump-logits", dump)
        ids = [int(t) for t in out.split()]
        n_vocab = read_gguf(model)[1]["token_embd.weight"][1][1]
        logits = np.fromfile(dump, dtype="<f4")
        check(rc == 0 and logits.size == (5 + 6) * n_vocab, f"dump holds (5 + 6) x {n_vocab} floats ({logits.size})")
        rows = logits.reshape(-1, n_vocab)
        check(list(rows[4:10].argmax(axis=1)) == ids, "greedy tokens are the argmax of dumped rows P-1 .. P+G-2")

        # The context limit stops generation with a note; a prompt beyond it is refused.
        rc, out, err = run("-m", model, "--prompt-tokens", "10", "--ctx", "16", "-n", "20", "--temp", "0",
                           "--print-ids", "--ignore-eos")
        check(rc == 0 and len(out.split()) == 6 and "context limit" in err,
              f"--ctx 16 with a 10-token prompt generates 6 tokens and says why ({len(out.split())})")
        rc, out, err = run("-m", model, "--prompt-tokens", "20", "--ctx", "16")
        check(rc == 2 and "context" in err, "a prompt beyond --ctx is refused (exit 2)")

        # Bad input: one clear line and the right status, never a crash.
        bad = [
            (("-p", "x"), 2, "-m FILE is required"),
            (("-m", model), 2, "exactly one of"),
            (("-m", model, "-p", "x", "--temp", "hot"), 2, "--temp expects a number"),
            (("-m", model, "-p", "x", "--top-p", "1.5"), 2, "--top-p expects a number in"),
            (("-m", model, "-p", "x", "--bogus"), 2, "unknown option '--bogus'"),
            (("-m", model, "-p", "x", "-n"), 2, "-n needs a value"),
            (("-m", model, "--prompt-ids", f"1,{n_vocab}"), 2, "--prompt-ids"),
            (("-m", model, "--prompt-ids", "1,,2"), 2, "--prompt-ids"),
            (("-m", model, "-p", "x", "--kv-type", "q8_0"), 2, "--kv-type must be f16 or f32"),
            (("-m", os.path.join(tmp, "absent.gguf"), "-p", "x"), 1, "absent.gguf"),
        ]
        kv, tensors = read_gguf(model)
        kv2 = {("gpt2." + k[6:] if k.startswith("llama.") else k): v for k, v in kv.items() if not k.startswith("__")}
        kv2["general.architecture"] = "gpt2"
        kv2["__kv_types__"] = {("gpt2." + k[6:] if k.startswith("llama.") else k): v
                               for k, v in kv["__kv_types__"].items()}
        gpt2 = os.path.join(tmp, "gpt2.gguf")
        write_gguf(gpt2, kv2, tensors)
        bad.append((("-m", gpt2, "-p", "x"), 1, "unsupported architecture 'gpt2'"))
        trunc = os.path.join(tmp, "trunc.gguf")
        with open(model, "rb") as f, open(trunc, "wb") as g:
            g.write(f.read()[: os.path.getsize(model) // 2])
        bad.append((("-m", trunc, "-p", "x"), 1, "trunc.gguf"))
        for args, want_rc, want_msg in bad:
            rc, out, err = run(*args)
            msg = err.strip().splitlines()
            check(rc == want_rc and len(msg) == 1 and want_msg in msg[0],
                  f"{' '.join(a if len(a) < 30 else '...' + a[-12:] for a in args)}: exit {rc}, {msg[:1]!r}")

    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
