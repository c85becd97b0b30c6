"""quantize_llamacpp.py — `rightsize quantize` writes the same bytes as llama.cpp's quantizer.

llama.cpp's llama_model_quantize (what its llama-quantize tool calls) is run from the prebuilt
libllama in the node-llama-cpp npm package, through tests/e2e/lib/llama_quantize.c compiled
against the llama.h of the same release (read from the package's source bundle). For each input
model and file type (every single type and every mix this build writes), both outputs must be
identical files. The inputs cover llama (untied, 8 layers, so the use_more_bits layers of the
_M mixes differ from the rest), qwen2 with grouped-query attention (n_head/n_head_kv = 4 changes
Q2_K's and IQ4_NL's attn_v), phi3 (fused attn_qkv), a tied model whose rows are not
multiples of 256 (K-quant fallbacks) nor of 32 for ffn_down (F16), and mixtures of experts
(Mixtral's 8 experts, qwen2moe's shared expert). The quantized files must load
(`gguf info`) and run (`run`), and their KL divergence from the f32 model must order as their
bits do. Skips (77) when node-llama-cpp@3 is not installed: set NODE_LLAMA_CPP_DIR to a folder
whose node_modules holds it (npm i -E node-llama-cpp@3.21.1), or install it under tests/e2e/ or
the repo root.
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
# llama.cpp's LLAMA_FTYPE_* numbers (include/llama.h), independent of the code under test.
FTYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q2_k": 10, "q3_k_s": 11,
         "q3_k_m": 12, "q3_k_l": 13, "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18,
         "iq4_nl": 25, "bf16": 32}
MIXES = ["q4_k_m", "q5_k_m", "q4_k_s", "q5_k_s", "q6_k", "q3_k_m", "q2_k", "iq4_nl"]
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
    # Only the public headers are needed: check out just those (the whole tree is slow to write).
    subprocess.run(["git", "clone", "-q", "-n", bundle, src], check=True, capture_output=True, timeout=120)
    subprocess.run(["git", "-C", src, "checkout", "-q", "HEAD", "--", "include", "ggml/include"], check=True,
                   capture_output=True, timeout=120)
    exe = os.path.join(tmp, "llama_quantize")
    libs = [os.path.join(bins, n) for n in os.listdir(bins) if n.startswith(("libllama.", "libllama.v", "libggml.", "libggml-base"))]
    libs = [p for p in libs if "common" not in p]
    subprocess.run(["cc", "-O1", "-I", os.path.join(src, "include"), "-I", os.path.join(src, "ggml", "include"),
                    os.path.join(ROOT, "tests", "e2e", "lib", "llama_quantize.c"), "-o", exe, *libs,
                    "-Wl,-rpath," + bins], check=True, timeout=120)
    return exe


def tensor_types(path):
    """name -> type, from `gguf info`'s tensor table."""
    out = subprocess.run([BIN, "gguf", "info", path], capture_output=True, text=True, timeout=30)
    rows, in_table = {}, False
    for ln in out.stdout.splitlines():
        f = ln.split()
        if f[:2] == ["name", "type"]:
            in_table = True
        elif in_table and len(f) >= 3 and f[2].startswith("["):
            rows[f[0]] = f[1]
    return out.returncode, rows


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

        def both(name, path, t, *extra):
            ours, theirs = os.path.join(tmp, f"{name}.{t}.ours.gguf"), os.path.join(tmp, f"{name}.{t}.ref.gguf")
            p = subprocess.run([BIN, "quantize", path, ours, "--type", t, "-q", *extra[:2]], capture_output=True, text=True,
                               timeout=60)
            r = subprocess.run([lq, bins, path, theirs, str(FTYPE[t]), *extra[2:]], capture_output=True, text=True, timeout=60)
            if p.returncode != 0 or r.returncode != 0:
                check(False, f"{name} -> {t}: ours rc {p.returncode} {p.stderr.strip()[-200:]}; llama.cpp rc {r.returncode} "
                             f"{r.stderr.strip()[-200:]}")
                return None
            same = open(ours, "rb").read() == open(theirs, "rb").read()
            check(same, f"{name} -> {t}: byte-identical to llama.cpp ({os.path.getsize(theirs)} bytes)")
            return ours

        llama8 = synth("llama8.gguf", "--dim", "256", "--layers", "8", "--heads", "4", "--ffn", "256", "--vocab", "300",
                       "--type", "f32")
        inputs = [
            ("llama8", llama8, [t for t in FTYPE if t != "f32"]),
            # a real 32000-token SentencePiece vocabulary in the metadata
            ("tiny-spm", synth("tiny.gguf", "tiny", "--type", "f16", "--seed", "3", "--vocab-from", VOCAB), ["q4_k_m"]),
            ("qwen2-gqa", synth("qwen2.gguf", "--arch", "qwen2", "--dim", "256", "--layers", "3", "--heads", "8",
                                "--kv-heads", "2", "--ffn", "256", "--vocab", "300", "--type", "f16"),
             MIXES + ["q5_1"]),
            ("phi3-qkv", synth("phi3.gguf", "--arch", "phi3", "--dim", "256", "--layers", "2", "--heads", "4", "--ffn", "256",
                               "--vocab", "300", "--type", "bf16"), ["q4_k_m", "q5_k_m", "q3_k_m"]),
            # rows of 320 (K-quants fall back to 32-blocks) and ffn 200 (ffn_down falls back to F16); tied output.
            ("odd-tied", synth("odd.gguf", "--dim", "320", "--layers", "2", "--heads", "5", "--ffn", "200", "--vocab", "300",
                               "--tied", "--type", "f32"), MIXES + ["q4_1", "q5_0", "q8_0", "f32"]),
            # mixtures of experts: 8 experts (Mixtral's rules: attn_v/attn_k Q8_0, attn_output Q5_K), and
            # qwen2moe's shared expert (a second ffn_down per layer: the layer comes from the name)
            ("mixtral", synth("mixtral.gguf", "--dim", "256", "--layers", "8", "--heads", "4", "--ffn", "256", "--vocab",
                              "300", "--experts", "8", "--experts-used", "2", "--type", "f32"), MIXES + ["q8_0"]),
            ("qwen2moe", synth("qwen2moe.gguf", "--arch", "qwen2moe", "--dim", "256", "--layers", "8", "--heads", "4",
                               "--ffn", "256", "--vocab", "300", "--experts", "4", "--experts-used", "2",
                               "--shared-expert-ffn", "256", "--type", "f32"), ["q4_k_m", "q5_k_m", "q3_k_m"]),
        ]
        outs = {}
        for name, path, types in inputs:
            for t in types:
                outs[(name, t)] = both(name, path, t)

        # The mixes are mixes: what llama.cpp gives llama8 (8 layers: use_more_bits picks 0, 3, 6, 7).
        rc, ty = tensor_types(outs[("llama8", "q4_k_m")] or llama8)
        check(rc == 0 and ty.get("output.weight") == "q6_k" and ty.get("token_embd.weight") == "q4_k"
              and [ty.get(f"blk.{i}.attn_v.weight") for i in range(8)] == ["q6_k", "q4_k", "q4_k", "q6_k", "q4_k", "q4_k",
                                                                           "q6_k", "q6_k"]
              and ty.get("blk.0.attn_norm.weight") == "f32",
              "q4_k_m of llama8: Q6_K output and attn_v of layers 0, 3, 6, 7; Q4_K token_embd; f32 norms")
        rc, ty = tensor_types(outs[("odd-tied", "q4_k_m")] or llama8)
        check(rc == 0 and ty.get("token_embd.weight") == "q8_0" and ty.get("blk.0.attn_q.weight") == "q5_0"
              and ty.get("blk.0.ffn_down.weight") == "f16",
              "q4_k_m of rows 320/200: tied embedding Q8_0, Q4_K -> Q5_0, ffn_down -> F16")

        rc, ty = tensor_types(outs[("mixtral", "q4_k_m")] or llama8)
        check(rc == 0 and ty.get("blk.0.attn_v.weight") == "q8_0" and ty.get("blk.0.attn_k.weight") == "q8_0"
              and ty.get("blk.0.attn_output.weight") == "q5_k" and ty.get("blk.0.ffn_gate_inp.weight") == "f32",
              "q4_k_m of 8 experts: attn_v and attn_k Q8_0, attn_output Q5_K, the router left f32")
        for name in ("mixtral", "qwen2moe"):
            path = outs.get((name, "q4_k_m"))
            g = subprocess.run([BIN, "run", "-m", path or llama8, "--prompt-ids", "1,5,9,13", "-n", "4", "--temp", "0",
                                "--print-ids", "-t", "2"], capture_output=True, text=True, timeout=60)
            check(path is not None and g.returncode == 0, f"{name} q4_k_m runs: {g.stderr.strip()[-200:]}")

        # They load and run, and their error orders as their bits do.
        text = os.path.join(tmp, "t.txt")
        with open(text, "w") as f:
            f.write("the parcel arrived late and the refund is missing " * 8)
        kl = {}
        for t in ["q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k"]:
            path = outs.get(("llama8", t))
            if not path:
                continue
            g = subprocess.run([BIN, "run", "-m", path, "--prompt-ids", "1,5,9,13", "-n", "4", "--temp", "0", "-t", "2",
                                "--print-ids"], capture_output=True, text=True, timeout=60)
            check(g.returncode == 0 and len(g.stdout.split()) >= 1, f"llama8 {t} runs: {g.stderr.strip()[-150:]}")
            q = subprocess.run([BIN, "eval", "--perplexity", text, "-m", path, "--kl-reference", llama8, "--ctx", "32",
                                "-q", "-t", "2", "--kv-type", "f32", "--out", path + ".json"],
                               capture_output=True, text=True, timeout=120)
            if q.returncode == 0:
                kl[t] = json.load(open(path + ".json"))["kl_reference"]["kl_mean"]
        order = ["q8_0", "q6_k", "q4_k_m", "q2_k"]
        check(all(t in kl for t in order) and all(kl[a] < kl[b] for a, b in zip(order, order[1:])),
              "KL from f32 grows as bits shrink: " + ", ".join(f"{t} {kl.get(t, float('nan')):.3g}" for t in kl))

        # One thread or several: the same bytes.
        one = os.path.join(tmp, "one.gguf")
        p = subprocess.run([BIN, "quantize", llama8, one, "q5_k_m", "-q", "-t", "1"], capture_output=True, text=True,
                           timeout=60)
        ref = os.path.join(tmp, "llama8.q5_k_m.ref.gguf")
        check(p.returncode == 0 and os.path.exists(ref) and open(one, "rb").read() == open(ref, "rb").read(),
              "-t 1 writes the same bytes as the default thread count")

        # --output-type is llama-quantize's --output-tensor-type.
        both("llama8-outq8", llama8, "q4_k_m", "--output-type", "q8_0", str(GGML_Q8_0))

        # The progress line: one per tensor, with the type each gets.
        p = subprocess.run([BIN, "quantize", llama8, os.path.join(tmp, "p.gguf"), "q4_k_m"], capture_output=True, text=True,
                           timeout=60)
        lines = [ln for ln in p.stderr.splitlines() if ln.startswith("[")]
        check(p.returncode == 0 and len(lines) == len(tensor_types(llama8)[1])
              and any("blk.0.attn_v.weight" in ln and "q6_k" in ln for ln in lines),
              f"one progress line per tensor ({len(lines)}), e.g. {lines[0] if lines else ''}")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("quantize vs llama.cpp: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
