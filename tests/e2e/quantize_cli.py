"""quantize_cli.py — `rightsize quantize` end to end without llama.cpp: every type loads and
runs, weights round-trip within each format's bound (numpy dequantization by tests/ref/gguf_read.py),
quality falls in the expected order (eval --kl-reference: Q8_0 closer to F32 than Q4_0), and bad
input is refused with a reason. (Byte identity with llama.cpp: quantize_llamacpp.py.)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
VOCAB = os.path.join(ROOT, "tests", "data", "vocab", "ggml-vocab-llama-spm.gguf")
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from gguf_read import dequant, read_gguf  # noqa: E402

failures = []
# Largest |w - w'| relative to the block's max |w|: q8_0 half a step of 1/127, q4_0 one step of 1/8
# (its scale is the signed max / -8, so the far side spans 16 steps), each plus the f16 rounding
# of the stored scale (2^-11 of the block max); f16/bf16 relative rounding.
BOUND = {"q8_0": 0.5 / 127 + 2 ** -11, "q4_0": 1 / 8 + 2 ** -11, "f16": 2 ** -11, "bf16": 2 ** -8, "f32": 0}


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def tensors(path):
    kv, ts = read_gguf(path)
    return {n: {"type": v[0], "ne": v[1], "data": v[2]} for n, v in ts.items()}, {"kv": kv}


def weights(t):
    return np.asarray(dequant(t["type"], t["data"], t["ne"]), dtype=np.float64).reshape(-1)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.gguf")
        subprocess.run([BIN, "gguf", "synth", "tiny", "--type", "f32", "--init-std", "0.08", "--qk-scale", "4",
                        "--vocab-from", VOCAB, "-q", "-o", src], check=True)
        text = os.path.join(tmp, "t.txt")
        with open(text, "w") as f:
            f.write("Tickets about billing, refunds and late parcels arrive every day at the desk. " * 12)
        src_t, _ = tensors(src)
        kl = {}
        for t in ("f16", "bf16", "q8_0", "q4_0"):
            out = os.path.join(tmp, f"{t}.gguf")
            p = subprocess.run([BIN, "quantize", src, out, "--type", t.upper()], capture_output=True, text=True, timeout=60)
            check(p.returncode == 0 and "[  21/  21]" in p.stderr and "quantize:" in p.stderr,
                  f"{t}: exits 0 with a progress line per tensor")
            got, g = tensors(out)
            kv = g["kv"]
            check(kv.get("general.file_type") == {"f16": 1, "bf16": 32, "q8_0": 7, "q4_0": 2}[t],
                  f"{t}: general.file_type {kv.get('general.file_type')}")
            worst = 0.0
            for name, st in src_t.items():
                a, b = weights(st), weights(got[name])
                if len(st["ne"]) < 2:
                    check(got[name]["type"] == st["type"] and np.array_equal(a, b), f"{t}: {name} kept as is")
                    continue
                bs = 32
                blocks = np.abs(a.reshape(-1, bs)).max(axis=1, keepdims=True)
                rel = np.abs(a - b).reshape(-1, bs) / np.maximum(blocks, 1e-30)
                worst = max(worst, float(rel.max()))
            bound = BOUND["q8_0"] if t == "q4_0" else BOUND[t]  # q4_0's output.weight is q8_0 here
            if t == "q4_0":
                worst_q4 = max(float((np.abs(weights(src_t[n]) - weights(got[n])).reshape(-1, 32) /
                                      np.maximum(np.abs(weights(src_t[n])).reshape(-1, 32).max(axis=1, keepdims=True), 1e-30)).max())
                               for n in src_t if got[n]["type"] == 2)
                check(worst_q4 <= BOUND["q4_0"], f"q4_0: weights within one step of the block scale ({worst_q4:.4f})")
                check(got["output.weight"]["type"] == 8, "q4_0: output.weight is q8_0 (64 columns: no Q6_K)")
            else:
                check(worst <= bound, f"{t}: weights within {bound:.2e} of the block max ({worst:.2e})")
            r = subprocess.run([BIN, "eval", "--perplexity", text, "-m", out, "--kl-reference", src, "--ctx", "64",
                                "--kv-type", "f32", "-t", "2", "-q"], capture_output=True, text=True, timeout=120)
            check(r.returncode == 0, f"{t}: the quantized model runs (eval --kl-reference) {r.stderr.strip()[-200:]}")
            line = [ln for ln in r.stdout.splitlines() if ln.startswith("reference:")]
            kl[t] = float(line[0].split("KL mean")[1].split()[0]) if line else float("nan")
        check(kl["f16"] < kl["q8_0"] < kl["q4_0"], f"KL from F32 grows as bits shrink: {kl}")

        # Bad input.
        def bad(args, rc, needle, what):
            p = subprocess.run([BIN, "quantize", *args], capture_output=True, text=True, timeout=30)
            check(p.returncode == rc and needle in p.stderr, f"{what}: {p.stderr.strip()}")
        bad([src, src, "--type", "q8_0"], 1, "is the input file", "refuses to overwrite its input")
        os.symlink(src, os.path.join(tmp, "link.gguf"))
        bad([src, os.path.join(tmp, "link.gguf"), "--type", "q8_0"], 1, "is the input file", "refuses a link to its input")
        check(tensors(src)[0].keys() == src_t.keys(), "the input is intact")
        bad([os.path.join(tmp, "q8_0.gguf"), os.path.join(tmp, "x.gguf"), "--type", "q4_0"], 1, "--allow-requantize",
            "refuses to requantize without --allow-requantize")
        p = subprocess.run([BIN, "quantize", os.path.join(tmp, "q8_0.gguf"), os.path.join(tmp, "x.gguf"), "--type", "q4_0",
                            "--allow-requantize", "-q"], capture_output=True, text=True)
        check(p.returncode == 0, "--allow-requantize requantizes")
        bad([src, os.path.join(tmp, "y.gguf"), "--type", "iq2_xxs"], 2, "unknown --type 'iq2_xxs'", "names an unknown type")
        bad([os.path.join(tmp, "none.gguf"), os.path.join(tmp, "y.gguf"), "--type", "q8_0"], 1, "none.gguf", "names a missing input")
        bad([src], 2, "IN.gguf OUT.gguf", "usage without an output")
        check(not os.path.exists(os.path.join(tmp, "y.gguf")) and not os.path.exists(os.path.join(tmp, "y.gguf.tmp")),
              "a failed run leaves no output behind")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("quantize cli: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
