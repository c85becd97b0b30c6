"""quantize_llamacpp.py — `rightsize quantize` writes the same bytes as llama.cpp's quantizer.

llama.cpp's llama_model_quantize (what its llama-quantize tool calls) is run from the prebuilt
libllama in the node-llama-cpp npm package, through tests/e2e/lib/llama_quantize.c compiled
against the llama.h of the same release (read from the package's source bundle). For each input
model and type, both outputs must be identical files. Skips (77) when node-llama-cpp@3 is not
installed: set NODE_LLAMA_CPP_DIR to a folder whose node_modules holds it (npm i -E
node-llama-cpp@3.21.1), or install it under tests/e2e/ or the repo root.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
VOCAB = os.path.join(ROOT, "tests", "data", "vocab", "ggml-vocab-llama-spm.gguf")
FTYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32}
GGML_Q8_0 = 8
failures = []


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def find_package():
    dirs = [os.environ.get("NODE_LLAMA_CPP_DIR"), os.path.join(ROOT, "tests", "e2e"), ROOT, os.path.join(ROOT, ".bench")]
    for d in filter(None, dirs):
        bundle = os.path.join(d, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle")
        libs = glob.glob(os.path.join(d, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "*", "libllama*.so"))
        if os.path.exists(bundle) and libs:
            return bundle, os.path.dirname(libs[0])
    return None, None


def build_driver(bundle, bins, tmp):
    src = os.path.join(tmp, "llama.cpp")
    subprocess.run(["git", "clone", "-q", bundle, src], check=True, capture_output=True, timeout=120)
    exe = os.path.join(tmp, "llama_quantize")
    libs = [os.path.join(bins, n) for n in os.listdir(bins) if n.startswith(("libllama.", "libllama.v", "libggml.", "libggml-base"))]
    libs = [p for p in libs if "common" not in p]
    subprocess.run(["cc", "-O1", "-I", os.path.join(src, "include"), "-I", os.path.join(src, "ggml", "include"),
                    os.path.join(ROOT, "tests", "e2e", "lib", "llama_quantize.c"), "-o", exe, *libs,
                    "-Wl,-rpath," + bins], check=True, timeout=120)
    return exe


def main():
    bundle, bins = find_package()
    if not bundle:
        print("node-llama-cpp is not installed: skipped (set NODE_LLAMA_CPP_DIR)")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        try:
            lq = build_driver(bundle, bins, tmp)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            print(f"cannot build the llama.cpp quantizer driver ({e}): skipped")
            return 77

        def synth(name, *args):
            path = os.path.join(tmp, name)
            subprocess.run([BIN, "gguf", "synth", *args, "--init-std", "0.05", "-q", "-o", path], check=True)
            return path

        inputs = [
            ("tiny-f32", synth("tiny-f32.gguf", "tiny", "--type", "f32", "--vocab-from", VOCAB), list(FTYPE)),
            ("tiny-f16", synth("tiny-f16.gguf", "tiny", "--type", "f16", "--seed", "3"), ["q8_0", "q4_0", "bf16", "f32"]),
            ("tied-bf16", synth("tied.gguf", "--dim", "128", "--layers", "2", "--heads", "4", "--kv-heads", "2",
                                "--ffn", "320", "--vocab", "1000", "--tied", "--type", "bf16"), ["q8_0", "q4_0", "f16"]),
            # ffn 200 is not a multiple of 32: ffn_down falls back to F16.
            ("odd-ffn", synth("odd.gguf", "--dim", "64", "--layers", "1", "--heads", "2", "--ffn", "200",
                              "--vocab", "512", "--type", "f32"), ["q4_0", "q8_0"]),
        ]
        for name, path, types in inputs:
            for t in types:
                ours, theirs = os.path.join(tmp, f"{name}.{t}.ours.gguf"), os.path.join(tmp, f"{name}.{t}.ref.gguf")
                p = subprocess.run([BIN, "quantize", path, ours, "--type", t, "-q"], capture_output=True, text=True, timeout=60)
                check(p.returncode == 0, f"{name} -> {t}: rightsize quantize exits 0 {p.stderr.strip()[-200:]}")
                r = subprocess.run([lq, bins, path, theirs, str(FTYPE[t])], capture_output=True, text=True, timeout=60)
                if r.returncode != 0:
                    check(False, f"{name} -> {t}: llama.cpp's quantizer failed: {r.stderr[-300:]}")
                    continue
                same = p.returncode == 0 and open(ours, "rb").read() == open(theirs, "rb").read()
                check(same, f"{name} -> {t}: byte-identical to llama.cpp ({os.path.getsize(theirs)} bytes)")

        # A 256-wide model: llama.cpp gives output.weight Q6_K for q4_0. This build writes Q6_K
        # with the engine's own Q6_K quantizer, which is not llama.cpp's search (make_qx_quants):
        # everything else must be identical, and that one tensor within Q6_K's error. With
        # --output-type q8_0 (its --output-tensor-type) the whole file is identical again.
        text = os.path.join(tmp, "t.txt")
        with open(text, "w") as f:
            f.write("the parcel arrived late and the refund is missing " * 20)
        wide = synth("wide.gguf", "--dim", "256", "--layers", "1", "--heads", "4", "--ffn", "512", "--vocab", "600",
                     "--type", "f32")
        ours, theirs = os.path.join(tmp, "w6.ours.gguf"), os.path.join(tmp, "w6.ref.gguf")
        p = subprocess.run([BIN, "quantize", wide, ours, "--type", "q4_0", "-q"], capture_output=True, text=True)
        r = subprocess.run([lq, bins, wide, theirs, str(FTYPE["q4_0"])], capture_output=True, text=True)
        if p.returncode != 0:
            check("q6_k" in p.stderr and "--output-type" in p.stderr,
                  f"q4_0 of a 256-wide model names the Q6_K output it cannot write: {p.stderr.strip()}")
        else:
            info = subprocess.run([BIN, "gguf", "info", ours], capture_output=True, text=True).stdout
            row = [ln.split() for ln in info.splitlines() if ln.strip().startswith("output.weight ")]
            a, b = open(ours, "rb").read(), open(theirs, "rb").read() if r.returncode == 0 else b""
            check(row and row[0][1] == "q6_k" and len(a) == len(b), "q4_0 of a 256-wide model: output.weight is Q6_K, same size")
            if row and len(a) == len(b):
                nbytes = int(row[0][-2])
                diff = [k for k in range(len(a)) if a[k] != b[k]]
                # output.weight is the first tensor of the data section: all differences must fall
                # inside one window of its size (so metadata and every other tensor are identical).
                check(not diff or diff[-1] - diff[0] < nbytes,
                      f"only output.weight differs ({len(diff)} bytes in a {nbytes}-byte tensor)")
                print(f"   note output.weight Q6_K: {len(diff)} of {nbytes} bytes differ from llama.cpp's "
                      "(its make_qx_quants search is not reproduced)")
            for path, who in ((ours, "ours"), (theirs, "llama.cpp's")):
                q = subprocess.run([BIN, "eval", "--perplexity", text, "-m", path, "--kl-reference", wide, "--ctx", "32",
                                    "-q", "-t", "2", "--kv-type", "f32", "--out", path + ".json"],
                                   capture_output=True, text=True, timeout=120)
                check(q.returncode == 0, f"{who} Q6_K file runs: {q.stderr.strip()[-200:]}")
            ko = json.load(open(ours + ".json"))["kl_reference"]["kl_mean"]
            kt = json.load(open(theirs + ".json"))["kl_reference"]["kl_mean"]
            check(ko <= 1.5 * kt + 1e-6, f"KL from f32: ours {ko:.3g} vs llama.cpp's file {kt:.3g} (<= 1.5x)")
        ours, theirs = os.path.join(tmp, "w.ours.gguf"), os.path.join(tmp, "w.ref.gguf")
        p = subprocess.run([BIN, "quantize", wide, ours, "--type", "q4_0", "--output-type", "q8_0", "-q"],
                           capture_output=True, text=True)
        r = subprocess.run([lq, bins, wide, theirs, str(FTYPE["q4_0"]), str(GGML_Q8_0)], capture_output=True, text=True)
        check(p.returncode == 0 and r.returncode == 0 and open(ours, "rb").read() == open(theirs, "rb").read(),
              "q4_0 with output q8_0: byte-identical to llama.cpp with --output-tensor-type q8_0")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("quantize vs llama.cpp: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
