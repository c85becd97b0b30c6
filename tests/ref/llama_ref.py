"""llama_ref.py — an independent float64 numpy forward pass of a GGUF `llama` model, for tests.

Written from the architecture's definition (and GGUF's conventions), not from our C code:
full causal self-attention over the whole sequence at once (no KV cache, no batching, no
threading), every weight dequantized to float64 by tests/ref/gguf_read.py.

    from llama_ref import load, forward
    m = load("model.gguf")
    logits = forward(m, [1, 15, 27])            # (3, n_vocab) float64: row i predicts token i+1
    logits = forward(m, ids, rope="neox")       # the half-split RoPE variant (a WRONG model for
                                                # GGUF llama files; tests use it to prove they
                                                # would notice)
    logits = forward(m, ids, act_q8=True)       # activations rounded to Q8_0 blocks before
                                                # each product with a quantized weight, as
                                                # llama.cpp's CPU kernels do

GGUF llama conventions used here:
  * a 2-D tensor with ne = [cols, rows] is the matrix W of shape (rows, cols); y = x @ W.T
  * RoPE "normal" (GGML rope mode 0) rotates adjacent pairs (x[2i], x[2i+1]) of each head by
    angle pos * freq_scale * base^(-2i/n_rot) / rope_freqs[i]; features past n_rot stay as is
  * query head h reads KV head h // (n_head / n_head_kv)
  * output.weight absent: logits use token_embd (tied)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_read import F32, F16, BF16, dequant, read_gguf  # noqa: E402


class Model:
    pass


def load(path):
    kv, tensors = read_gguf(path)
    arch = kv["general.architecture"]
    if arch != "llama":
        raise ValueError(f"not a llama model: {arch}")
    m = Model()
    m.kv = kv
    g = lambda k, d=None: kv.get(f"llama.{k}", d)  # noqa: E731
    m.n_embd = g("embedding_length")
    m.n_layer = g("block_count")
    m.n_ff = g("feed_forward_length")
    m.n_head = g("attention.head_count")
    m.n_head_kv = g("attention.head_count_kv", m.n_head)
    m.head_dim = g("attention.key_length", m.n_embd // m.n_head)
    m.n_rot = g("rope.dimension_count", m.head_dim)
    m.eps = g("attention.layer_norm_rms_epsilon")
    m.base = g("rope.freq_base", 10000.0)
    factor = 1.0
    if g("rope.scaling.type", "none") == "linear":
        factor = g("rope.scaling.factor", 1.0)
    elif g("rope.scale_linear") is not None:
        factor = g("rope.scale_linear")
    m.freq_scale = 1.0 / factor if factor else 1.0

    m.w = {}
    m.qtype = {}
    for name, (ttype, ne, raw) in tensors.items():
        m.w[name] = dequant(ttype, raw, ne)
        m.qtype[name] = ttype
    m.tied = "output.weight" not in m.w
    m.out_name = "token_embd.weight" if m.tied else "output.weight"
    m.rope_freqs = m.w.get("rope_freqs.weight")
    m.n_vocab = m.w["token_embd.weight"].shape[0]
    return m


def q8_round(x):
    """Rounds each row of x to Q8_0 blocks of 32 as llama.cpp's quantize_row_q8_0 does (float32
    arithmetic): d = max|x| / 127, q = roundf(x * (1/d)) (halves away from zero), value = q * f16(d)."""
    shape = x.shape
    b = x.reshape(-1, 32).astype(np.float32)
    d = (np.abs(b).max(axis=1, keepdims=True) / np.float32(127.0)).astype(np.float32)
    inv = np.zeros_like(d)
    np.divide(np.float32(1.0), d, out=inv, where=d > 0)
    t = (b * inv).astype(np.float64)
    q = np.sign(t) * np.floor(np.abs(t) + 0.5)
    return (q * d.astype(np.float16).astype(np.float64)).reshape(shape)


def matmul(m, x, name, act_q8):
    w = m.w[name]
    if act_q8 and m.qtype[name] not in (F32, F16, BF16):
        x = q8_round(x)
    return x @ w.T


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, m, variant):
    """x: (T, heads, head_dim); rotates the first n_rot features of each head."""
    half = m.n_rot // 2
    i = np.arange(half, dtype=np.float64)
    theta = np.outer(np.asarray(pos, dtype=np.float64) * m.freq_scale, m.base ** (-2.0 * i / m.n_rot))
    if m.rope_freqs is not None:
        theta = theta / m.rope_freqs[None, :]
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    y = x.copy()
    if variant == "normal":       # GGUF llama: adjacent pairs
        a, b = x[..., 0:m.n_rot:2], x[..., 1:m.n_rot:2]
        y[..., 0:m.n_rot:2] = a * c - b * s
        y[..., 1:m.n_rot:2] = a * s + b * c
    elif variant == "neox":       # half-split pairs (x[i], x[i + n_rot/2])
        a, b = x[..., :half], x[..., half:m.n_rot]
        y[..., :half] = a * c - b * s
        y[..., half:m.n_rot] = a * s + b * c
    else:
        raise ValueError(variant)
    return y


def forward(m, tokens, rope_variant="normal", act_q8=False):
    tokens = np.asarray(tokens, dtype=np.int64)
    T, hd, group = len(tokens), m.head_dim, m.n_head // m.n_head_kv
    pos = np.arange(T)
    x = m.w["token_embd.weight"][tokens].copy()                      # (T, n_embd)
    mask = np.triu(np.full((T, T), -np.inf), k=1)                    # causal
    for l in range(m.n_layer):
        p = f"blk.{l}."
        h = rmsnorm(x, m.w[p + "attn_norm.weight"], m.eps)
        q = matmul(m, h, p + "attn_q.weight", act_q8).reshape(T, m.n_head, hd)
        k = matmul(m, h, p + "attn_k.weight", act_q8).reshape(T, m.n_head_kv, hd)
        v = matmul(m, h, p + "attn_v.weight", act_q8).reshape(T, m.n_head_kv, hd)
        q, k = rope(q, pos, m, rope_variant), rope(k, pos, m, rope_variant)
        att = np.empty((T, m.n_head, hd))
        for head in range(m.n_head):
            kvh = head // group
            s = q[:, head, :] @ k[:, kvh, :].T / np.sqrt(hd) + mask  # (T, T)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            att[:, head, :] = (s / s.sum(axis=1, keepdims=True)) @ v[:, kvh, :]
        x = x + matmul(m, att.reshape(T, m.n_head * hd), p + "attn_output.weight", act_q8)
        h = rmsnorm(x, m.w[p + "ffn_norm.weight"], m.eps)
        gate = matmul(m, h, p + "ffn_gate.weight", act_q8)
        up = matmul(m, h, p + "ffn_up.weight", act_q8)
        x = x + matmul(m, gate / (1.0 + np.exp(-gate)) * up, p + "ffn_down.weight", act_q8)
    h = rmsnorm(x, m.w["output_norm.weight"], m.eps)
    return matmul(m, h, m.out_name, act_q8)                          # (T, n_vocab)


if __name__ == "__main__":
    # llama_ref.py MODEL ID,ID,... — prints the argmax of each row
    model = load(sys.argv[1])
    ids = [int(t) for t in sys.argv[2].split(",")]
    print(" ".join(str(int(i)) for i in forward(model, ids).argmax(axis=1)))
