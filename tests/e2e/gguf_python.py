"""An independent check of `rightsize gguf synth` files with our own numpy GGUF reader
(tests/ref/gguf_read.py, written from the format description):

- the metadata is exactly llama.cpp's Llama key set, with the right value types and values;
- tensors have llama.cpp's names and shapes, aligned offsets, no overlaps;
- the same seed in F16/BF16/Q8_0/Q4_0 holds the F32 model: numpy re-quantizes the F32 weights
  following the GGML definitions and gets the very same bytes, and the dequantized weights are
  within each format's error bound of the F32 ones.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("RS_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from gguf_read import (ARRAY, BF16, F16, F32, FLOAT32, Q4_0, Q8_0, STRING, UINT32, BOOL,  # noqa: E402
                       dequant, read_gguf)

BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def f16_bits(x):
    return x.astype(np.float16).view(np.uint16)


def bf16_bits(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def roundf(v):  # C roundf on float32 values: half away from zero (exact in float64)
    a = np.floor(np.abs(v.astype(np.float64)) + 0.5)
    return np.where(v < 0, -a, a)


def quant_q8_0(x):
    """GGML Q8_0 in float32 arithmetic: d = amax/127, q = roundf(x / d); returns the bytes."""
    b = x.astype(np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = roundf((b * inv[:, None]).astype(np.float32)).astype(np.int8)
    out = np.zeros(len(b), dtype=np.dtype([("d", "<u2"), ("qs", "i1", 32)]))
    out["d"], out["qs"] = f16_bits(d), q
    return out.tobytes()


def quant_q4_0(x):
    """GGML Q4_0: the signed value of largest magnitude maps to -8; q = min(15, trunc(x/d + 8.5))."""
    b = x.astype(np.float32).reshape(-1, 32)
    idx = np.abs(b).argmax(axis=1)  # first occurrence, as the C loop's strict '>'
    mx = b[np.arange(len(b)), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    t = ((b * inv[:, None]).astype(np.float32) + np.float32(8.5)).astype(np.float32)
    q = np.minimum(15, np.trunc(t).astype(np.int32)).astype(np.uint8)
    out = np.zeros(len(b), dtype=np.dtype([("d", "<u2"), ("qs", "u1", 16)]))
    out["d"], out["qs"] = f16_bits(d), q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def synth(tmp, type_, extra=()):
    path = os.path.join(tmp, f"m-{type_}.gguf")
    cmd = [BIN, "gguf", "synth", "tiny", "--type", type_, "--seed", "5", "--qk-scale", "3", "-q", "-o", path, *extra]
    subprocess.run(cmd, check=True)
    return read_gguf(path)


LLAMA_KEYS = {
    "general.architecture": (STRING, "llama"), "general.name": (STRING, "synth-tiny"),
    "general.alignment": (UINT32, 32), "llama.context_length": (UINT32, 256),
    "llama.embedding_length": (UINT32, 64), "llama.block_count": (UINT32, 2),
    "llama.feed_forward_length": (UINT32, 192), "llama.attention.head_count": (UINT32, 4),
    "llama.attention.head_count_kv": (UINT32, 2), "llama.rope.freq_base": (FLOAT32, 10000.0),
    "llama.rope.dimension_count": (UINT32, 16),
    "llama.attention.layer_norm_rms_epsilon": (FLOAT32, float(np.float32(1e-5))),
    "llama.vocab_size": (UINT32, 512),
    "tokenizer.ggml.model": (STRING, "llama"), "tokenizer.ggml.bos_token_id": (UINT32, 1),
    "tokenizer.ggml.eos_token_id": (UINT32, 2), "tokenizer.ggml.unknown_token_id": (UINT32, 0),
    "tokenizer.ggml.add_bos_token": (BOOL, True),
}
ARRAYS = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"}
FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32}


def check_layout(type_, kv, tensors):
    types = kv["__kv_types__"]
    keys = {k for k in kv if not k.startswith("__")}
    check(keys == set(LLAMA_KEYS) | ARRAYS | {"general.file_type"},
          f"{type_}: key set differs: {sorted(keys ^ (set(LLAMA_KEYS) | ARRAYS | {'general.file_type'}))}")
    for k, (t, v) in LLAMA_KEYS.items():
        check(types.get(k) == t and kv.get(k) == v, f"{type_}: {k} = {kv.get(k)!r} ({types.get(k)}), want {v!r} ({t})")
    check(kv.get("general.file_type") == FILE_TYPE[type_], f"{type_}: general.file_type {kv.get('general.file_type')}")
    for k in ARRAYS:
        check(types.get(k) == ARRAY and len(kv[k]) == 512, f"{type_}: {k} is not a 512-element array")
    toks = kv["tokenizer.ggml.tokens"]
    check(toks[:3] == ["<unk>", "<s>", "</s>"] and toks[3] == "<0x00>" and toks[258] == "<0xFF>", f"{type_}: special tokens")
    check(len(set(toks)) == 512, f"{type_}: duplicate tokens")
    sc = kv["tokenizer.ggml.scores"][259:]
    check(all(a > b for a, b in zip(sc, sc[1:])), f"{type_}: piece scores not decreasing")
    tt = kv["tokenizer.ggml.token_type"]
    check(tt[:3] == [2, 3, 3] and set(tt[3:259]) == {6} and set(tt[259:]) == {1}, f"{type_}: token types")

    qt = {"f32": F32, "f16": F16, "bf16": BF16, "q8_0": Q8_0, "q4_0": Q4_0}[type_]
    want = {"token_embd.weight": (qt, [64, 512]), "output_norm.weight": (F32, [64]), "output.weight": (qt, [64, 512])}
    for l in range(2):
        want.update({
            f"blk.{l}.attn_norm.weight": (F32, [64]), f"blk.{l}.ffn_norm.weight": (F32, [64]),
            f"blk.{l}.attn_q.weight": (qt, [64, 64]), f"blk.{l}.attn_k.weight": (qt, [64, 32]),
            f"blk.{l}.attn_v.weight": (qt, [64, 32]), f"blk.{l}.attn_output.weight": (qt, [64, 64]),
            f"blk.{l}.ffn_gate.weight": (qt, [64, 192]), f"blk.{l}.ffn_up.weight": (qt, [64, 192]),
            f"blk.{l}.ffn_down.weight": (qt, [192, 64]),
        })
    check(set(tensors) == set(want), f"{type_}: tensor names differ: {sorted(set(tensors) ^ set(want))}")
    for name, (t, ne) in want.items():
        if name in tensors:
            check(tensors[name][0] == t and tensors[name][1] == ne, f"{type_}: {name} is {tensors[name][:2]}, want {(t, ne)}")
    check(kv["__data_offset__"] % 32 == 0, f"{type_}: data section misaligned")
    spans = sorted((off, off + len(tensors[n][2])) for n, off in kv["__tensor_offsets__"].items())
    check(all(o % 32 == 0 for o, _ in spans), f"{type_}: misaligned tensor offset")
    check(all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), f"{type_}: overlapping tensors")


def main():
    if not os.access(BIN, os.X_OK):
        print(f"no binary at {BIN}")
        return 1
    with tempfile.TemporaryDirectory(prefix="rs-gguf-py.") as tmp:
        ref_kv, ref = synth(tmp, "f32")
        check_layout("f32", ref_kv, ref)
        x = {n: np.frombuffer(raw, dtype="<f4") for n, (t, ne, raw) in ref.items()}
        # Documented statistics: matrices N(0, 0.02²), q/k scaled by --qk-scale 3, norms 1 + N(0, 0.02²).
        big = np.concatenate([x[f"blk.{l}.{m}.weight"] for l in range(2) for m in ("ffn_gate", "ffn_up", "ffn_down")])
        check(abs(big.std() - 0.02) < 0.0005, f"matrix std {big.std()}")
        qk = np.concatenate([x[f"blk.{l}.attn_{m}.weight"] for l in range(2) for m in "qk"])
        check(abs(qk.std() - 0.06) < 0.003, f"q/k std {qk.std()} (want 0.02 * 3)")
        norms = np.concatenate([x[n] for n in x if n.endswith("norm.weight")])
        check(abs(norms.mean() - 1) < 0.005 and abs(norms.std() - 0.02) < 0.005, f"norms {norms.mean()} ± {norms.std()}")

        for type_ in ("f16", "bf16", "q8_0", "q4_0"):
            kv, tens = synth(tmp, type_)
            check_layout(type_, kv, tens)
            mism = 0
            for name, (t, ne, raw) in tens.items():
                if t == F32:
                    check(raw == ref[name][2], f"{type_}: {name} (f32) differs from the f32 model")
                    continue
                xf = x[name]
                want = {F16: lambda v: f16_bits(v).tobytes(), BF16: lambda v: bf16_bits(v).tobytes(),
                        Q8_0: quant_q8_0, Q4_0: quant_q4_0}[t](xf)
                mism += want != raw
                w = dequant(t, raw, ne).ravel()
                err = np.abs(w - xf.astype(np.float64))
                if t in (F16, BF16):
                    # Round to nearest: half an ulp; f16 subnormals (below 2^-14) have a fixed ulp 2^-24.
                    rel, sub = (2.0 ** -11, 2.0 ** -25) if t == F16 else (2.0 ** -8, 0.0)
                    check(np.all(err <= np.maximum(np.abs(xf) * rel, sub) * (1 + 1e-9)),
                          f"{type_}: {name} error beyond half an ulp")
                else:
                    amax = np.abs(xf.reshape(-1, 32)).max(axis=1)
                    # Q8_0: d = amax/127, error <= d/2 (+ f16 rounding of d); Q4_0: d = amax/8, <= d.
                    bound = amax / 127 * (0.5 + 127 / 2048) if t == Q8_0 else amax / 8 * (1 + 8 / 2048)
                    check(np.all(err.reshape(-1, 32) <= bound[:, None] + 1e-12), f"{type_}: {name} error beyond bound")
                    rms = np.sqrt(np.mean(err ** 2)) / np.sqrt(np.mean(xf.astype(np.float64) ** 2))
                    check(rms < (0.01 if t == Q8_0 else 0.12), f"{type_}: {name} relative rms error {rms}")
            check(mism == 0, f"{type_}: {mism} tensors differ from numpy's own quantization of the f32 weights")
        # The copy of a real vocabulary keeps it intact.
        vocab = os.path.join(ROOT, "tests", "data", "vocab", "ggml-vocab-llama-spm.gguf")
        kv, tens = synth(tmp, "q8_0", ["--vocab", vocab, "--chat-template", "zephyr", "--force"])
        vkv, _ = read_gguf(vocab)
        for k, v in vkv.items():
            if k.startswith("tokenizer."):
                check(kv.get(k) == v, f"--vocab: {k} not copied")
        check(kv["llama.vocab_size"] == 32000 and tens["token_embd.weight"][1] == [64, 32000], "--vocab: vocab size")
        check(kv["tokenizer.chat_template"].startswith("{% for message in messages %}\n{% if message['role'] == 'user' %}"),
              "--chat-template zephyr")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("gguf python: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
