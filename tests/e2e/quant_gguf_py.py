"""quant_gguf_py.py — our tensor types against llama.cpp's own Python implementation (gguf-py).

gguf-py (numpy) ships inside the llama.cpp source that the npm package node-llama-cpp@3.21.1
carries (llama/gitRelease.bundle). This test installs the package into tests/e2e/node_modules
(pinned in tests/e2e/package.json; skips with 77 only when npm cannot install it), takes gguf-py
out of the bundle, and then:
  1. writes, with gguf-py's GGUFWriter, one tensor of random blocks of every type ggml defines
     (random codes, valid f16 scales) and checks that `rightsize gguf info` opens the file and
     names every tensor's type and byte size as gguf-py's GGML_QUANT_SIZES does, marking the
     ones the engine cannot compute with;
  2. for every type the engine computes with, checks `rightsize gguf dump` (our reference
     dequantization) against gguf.quants.dequantize bit for bit.
The matmul kernels are checked against a float64 product of this dequantization in
tests/test_matmul.c.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("RS_ROOT", os.getcwd())
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
E2E = os.path.join(ROOT, "tests", "e2e")
PKG = os.path.join(E2E, "node_modules", "node-llama-cpp")

# The types the engine computes with, and the byte offsets of each block's f16 scale fields.
SUPPORTED = {
    "F32": [], "F16": [], "BF16": [],
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "IQ4_NL": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}
# gguf-py's size table gives Q8_1 40 bytes where ggml's block_q8_1 is 36 (two f16 + 32 codes, the
# size llama.cpp's loader uses), so its writer cannot make a valid Q8_1 tensor: skipped (an
# activation format, never found in model files; tests/test_gguf.c covers our table).
SKIP = {"Q8_1"}


def ensure_gguf_py(tmp):
    if not os.path.isdir(PKG):
        try:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", E2E], check=True, timeout=240,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except (OSError, subprocess.SubprocessError) as e:
            print(f"skip: cannot install node-llama-cpp from npm ({e}); is the npm registry reachable?")
            sys.exit(77)
    bundle = os.path.join(PKG, "llama", "gitRelease.bundle")
    src = os.path.join(tmp, "llama.cpp")
    subprocess.run(["git", "clone", "-q", "--no-checkout", bundle, src], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["git", "-C", src, "checkout", "-q", "HEAD", "--", "gguf-py"], check=True)
    sys.path.insert(0, os.path.join(src, "gguf-py"))


def random_blocks(rng, name, block_size, type_size, n_blocks):
    if name in ("F32", "F16", "BF16"):
        vals = rng.standard_normal(n_blocks * block_size).astype(np.float32)
        raw = {"F32": vals, "F16": vals.astype(np.float16)}.get(name)
        if raw is None:  # bf16: the top half of each float32
            raw = (vals.view(np.uint32) >> 16).astype(np.uint16)
        return raw.view(np.uint8).copy()
    data = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in SUPPORTED.get(name, []):
        d = (rng.uniform(1e-3, 1.0, n_blocks) * rng.choice([-1.0, 1.0], n_blocks)).astype(np.float16)
        data[:, off:off + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    return data.reshape(-1)


def main():
    failures = []
    with tempfile.TemporaryDirectory(prefix="rs-quant-py.") as tmp:
        ensure_gguf_py(tmp)
        import gguf
        from gguf.quants import dequantize

        rng = np.random.default_rng(13)
        path = os.path.join(tmp, "types.gguf")
        w = gguf.GGUFWriter(path, "llama")
        tensors = {}
        for qt, (bs, ts) in gguf.GGML_QUANT_SIZES.items():
            if qt.name in SKIP:
                continue
            n_blocks = 8 if bs >= 256 else 64 if bs >= 32 else 256
            cols = bs * n_blocks // 4 if bs >= 32 else 64
            rows = bs * n_blocks // cols
            if qt.name in ("I8", "I16", "I32", "I64", "F64"):
                raw = rng.integers(0, 256, size=n_blocks * ts, dtype=np.uint8)
            else:
                raw = random_blocks(rng, qt.name, bs, ts, n_blocks)
            name = "t." + qt.name.lower()
            w.add_tensor(name, raw, raw_shape=(rows, cols // bs * ts), raw_dtype=qt)  # uint8 data: shape in bytes
            tensors[name] = (qt, raw, rows, cols, ts * n_blocks)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

        info = subprocess.run([BIN, "gguf", "info", path], capture_output=True, text=True, timeout=60)
        if info.returncode != 0:
            failures.append(f"gguf info refused a file gguf-py wrote: {info.stderr.strip()}")
        listed = {}
        for line in info.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0] in tensors:
                listed[parts[0]] = (parts[1], int(parts[-2]))
        for name, (qt, raw, rows, cols, nbytes) in tensors.items():
            want_type = qt.name.lower() + ("" if qt.name in SUPPORTED else "*")
            got = listed.get(name)
            if got != (want_type, nbytes):
                failures.append(f"gguf info: {name}: got {got}, want ({want_type!r}, {nbytes})")

        checked = 0
        for name, (qt, raw, rows, cols, nbytes) in tensors.items():
            if qt.name not in SUPPORTED:
                dump = subprocess.run([BIN, "gguf", "dump", path, name], capture_output=True, text=True, timeout=60)
                if dump.returncode == 0 or "cannot dequantize" not in dump.stderr:
                    failures.append(f"gguf dump {name}: expected a refusal, got rc {dump.returncode}")
                continue
            want = dequantize(raw.reshape(rows, -1), qt).astype(np.float32).reshape(-1)
            dump = subprocess.run([BIN, "gguf", "dump", path, name], capture_output=True, text=True, timeout=60)
            if dump.returncode != 0:
                failures.append(f"gguf dump {name}: {dump.stderr.strip()}")
                continue
            got = np.array([float(v) for v in dump.stdout.split()], dtype=np.float32)
            if got.shape != want.shape:
                failures.append(f"{qt.name}: {got.shape[0]} values, want {want.shape[0]}")
                continue
            same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
            if not same.all():
                i = int(np.argmin(same))
                failures.append(f"{qt.name}: {int((~same).sum())} of {same.size} values differ from gguf-py "
                                f"(first at {i}: ours {got[i]!r}, gguf-py {want[i]!r})")
            checked += 1
        print(f"gguf info named all {len(tensors)} types gguf-py writes; {checked} types dequantize bit-exactly as gguf-py")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
