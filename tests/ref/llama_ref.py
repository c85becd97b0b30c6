"""llama_ref.py — an independent float64 numpy forward pass of a GGUF decoder model, for tests:
llama, qwen2, qwen3, gemma2, gemma3 and phi3 (their differences are listed at the bottom).

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

The other architectures, as their GGUF files and llama.cpp define them:
  * qwen2: q/k/v biases; NeoX RoPE (half-split pairs). qwen3: RMSNorm of each q and k head
    (attn_q_norm/attn_k_norm) before RoPE; NeoX RoPE.
  * gemma2/gemma3: embeddings times sqrt(n_embd); NeoX RoPE; RMSNorm of each sublayer's output
    (post_attention_norm, post_ffw_norm) before its residual add; FFN gelu_tanh(gate) * up;
    queries scaled by 1/sqrt(head_dim); sliding-window layers (gemma2: even layers, window 4096
    unless the key says; gemma3: l % 6 < 5 when the key is present) see only the last n_swa
    positions; gemma3's local layers rotate with base 10000 unscaled, and it has q/k norms;
    gemma2 soft-caps scores c*tanh(s/c) (attn_logit_softcapping, 50) and logits
    (final_logit_softcapping, 30); output always tied on gemma2.
  * phi3: attn_qkv holds q, k, v rows; ffn_up holds gate rows then up rows; NeoX RoPE divided by
    rope_factors_short (rope_factors_long when the context exceeds
    rope.scaling.original_context_length), cos/sin times rope.scaling.attn_factor.
  * granite: llama with four multipliers: embeddings times embedding_scale, scores q.k times
    attention.scale (instead of 1/sqrt(head_dim)), each sublayer's output times residual_scale
    before its residual add, logits divided by logit_scale (absent or 0: none).
  * granitemoe: granite with the mixture below; llama with llama.expert_count: Mixtral's mixture.
  * qwen2moe: qwen2 (biases, NeoX RoPE) with the mixture below, its weights not renormalized, plus
    a shared expert (ffn_*_shexp) on every row times sigmoid(ffn_gate_inp_shexp . x); granitemoe's
    shared expert, when the file has one, is added ungated.
  * glm4: llama's adjacent-pair RoPE (often on part of each head: rope.dimension_count), q/k/v
    biases, ffn_up holding gate rows then up rows as phi3's, and gemma2's post-norms of both
    sublayers' outputs before their residual adds.
  * olmo2 (OLMo 2 and 3): no pre-norms (each sublayer reads the residual stream as it is), an
    RMSNorm over all of q and one over all of k (not per head), gemma2's post-norms, NeoX RoPE;
    with attention.sliding_window, layers l % 4 < 3 are local, their RoPE unscaled.
  * ernie4_5 (ERNIE 4.5, dense): llama's layout. exaone (EXAONE 3/3.5): llama's layout, NeoX RoPE.
  * qwen2vl, qwen3vl (text): qwen2 and qwen3 with M-RoPE, which for text is NeoX RoPE except
    that the pairs M-RoPE gives a token's 4th position (0 for text) do not turn; qwen3vl's
    sections interleave (sector % 3 picks t, h, w while 3 x the section lasts); qwen3vlmoe is
    qwen3moe with qwen3vl's M-RoPE.
  * starcoder2: LayerNorm (mean removed; weight and bias; layer_norm_epsilon) for every norm, biases
    on q/k/v, attn_output, ffn_up and ffn_down, and a gateless FFN down(gelu_tanh(up x)); NeoX RoPE.
    stablelm (StableLM 2): the same LayerNorm, q/k/v biases, SwiGLU, NeoX RoPE on part of each head.
    phi2: starcoder2's layer computed in parallel (x + attn(h) + ffn(h), h = LayerNorm(x)), an
    output bias, NeoX RoPE on part of each head. command-r: LayerNorm without biases, attention and
    SwiGLU in parallel, llama's RoPE, output tied, logits times logit_scale.
  * olmoe (OLMoE): olmo2's whole-vector q/k norms with pre-norms, and the mixture below without
    renormalized weights; NeoX RoPE.
  * gemma (Gemma 1): gemma2 without post-norms, soft-caps or windows; output tied.
  * smollm3: llama whose layers l with (l + 1) % 4 == 0 rotate neither q nor k (NoPE).
  * qwen3moe: qwen3 whose FFN is a mixture of experts (Qwen3MoeSparseMoeBlock): router
    probabilities p = softmax(ffn_gate_inp . x); the expert_used_count largest, their p renormalized
    to sum 1; the output sum_k p_k * down_k(silu(gate_k x) * up_k x), expert k's matrices being
    slice k of the 3-D ffn_{gate,up,down}_exps.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_read import F32, F16, BF16, dequant, read_gguf  # noqa: E402


class Model:
    pass


ARCHS = ("llama", "ernie4_5", "exaone", "olmoe", "qwen2vl", "qwen3vl", "qwen3vlmoe", "starcoder2", "stablelm", "phi2", "command-r", "qwen2", "qwen3", "glm4", "olmo2", "gemma", "gemma2", "gemma3", "phi3", "granite", "qwen3moe", "granitemoe", "qwen2moe",
         "smollm3")


def load(path, n_ctx=None):
    kv, tensors = read_gguf(path)
    arch = kv["general.architecture"]
    if arch not in ARCHS:
        raise ValueError(f"unsupported architecture: {arch}")
    m = Model()
    m.kv = kv
    m.arch = arch
    g = lambda k, d=None: kv.get(f"{arch}.{k}", d)  # noqa: E731
    m.n_embd = g("embedding_length")
    m.n_layer = g("block_count")
    m.n_ff = g("feed_forward_length")
    m.n_head = g("attention.head_count")
    m.n_head_kv = g("attention.head_count_kv", m.n_head)
    m.head_dim = g("attention.key_length", m.n_embd // m.n_head)
    m.n_rot = g("rope.dimension_count", m.head_dim)
    m.layer_norm = arch in ("starcoder2", "stablelm", "phi2", "command-r")
    m.parallel = arch in ("phi2", "command-r")
    m.eps = g("attention.layer_norm_epsilon" if m.layer_norm else "attention.layer_norm_rms_epsilon")
    m.base = g("rope.freq_base", 10000.0)
    factor = 1.0
    if g("rope.scaling.type", "none") == "linear":
        factor = g("rope.scaling.factor", 1.0)
    elif g("rope.scale_linear") is not None:
        factor = g("rope.scale_linear")
    m.freq_scale = 1.0 / factor if factor else 1.0
    m.gemma = arch in ("gemma", "gemma2", "gemma3")
    m.post_norms = arch in ("gemma2", "gemma3", "glm4", "olmo2")
    m.rope_default = "normal" if arch in ("llama", "ernie4_5", "granite", "granitemoe", "smollm3", "glm4", "command-r") else "neox"
    m.attn_factor = g("rope.scaling.attn_factor", 1.0)
    m.n_swa, period = 0, 0
    if arch == "gemma2":
        m.n_swa, period = g("attention.sliding_window", 4096), 2
    elif arch == "gemma3" and g("attention.sliding_window"):
        m.n_swa, period = g("attention.sliding_window"), 6
    elif arch == "llama" and g("attention.sliding_window"):
        m.n_swa = g("attention.sliding_window")
    elif arch == "olmo2" and g("attention.sliding_window"):
        m.n_swa, period = g("attention.sliding_window"), 4
    period = g("attention.sliding_window_pattern", period)
    m.swa = [m.n_swa > 0 and (period == 0 or l % period < period - 1) for l in range(m.n_layer)]
    m.base_swa = g("rope.freq_base_swa", 10000.0 if arch == "gemma3" else m.base)
    m.freq_scale_swa = 1.0 if arch in ("gemma3", "olmo2") else m.freq_scale
    m.attn_softcap = g("attn_logit_softcapping", 50.0) if arch == "gemma2" else 0.0
    m.final_softcap = g("final_logit_softcapping", 30.0 if arch == "gemma2" else 0.0) if m.gemma else 0.0
    big = {"gemma2": 46, "gemma3": 62}.get(arch)
    m.q_scale = 1.0 / np.sqrt(m.n_embd // m.n_head if m.n_layer == big else m.head_dim)
    granite = arch in ("granite", "granitemoe")
    m.embd_scale = (g("embedding_scale") or 1.0) if granite else np.sqrt(m.n_embd) if m.gemma else 1.0
    if granite and g("attention.scale"):
        m.q_scale = g("attention.scale")
    m.residual_scale = (g("residual_scale") or 1.0) if granite else 1.0
    m.logit_scale = g("logit_scale") if granite else 1.0
    m.n_expert_used = g("expert_used_count", 0) if g("expert_count") else 0
    m.expert_norm = arch not in ("qwen2moe", "olmoe")
    # M-RoPE on text (all of a token's positions equal but the 4th, which is 0): the pairs whose
    # sector takes the 4th position stay put
    m.rope_still = None
    if arch in ("qwen2vl", "qwen3vl", "qwen3vlmoe"):
        sec = list(g("rope.dimension_sections")) + [0] * 4
        total = sum(sec[:4])
        still = []
        for i in range(m.n_rot // 2):
            s = i % total
            if arch in ("qwen3vl", "qwen3vlmoe"):
                still.append(not ((s % 3 == 0 and s < 3 * sec[0]) or (s % 3 == 1 and s < 3 * sec[1])
                                  or (s % 3 == 2 and s < 3 * sec[2])))
            else:
                still.append(s >= sec[0] + sec[1] + sec[2])
        m.rope_still = np.array(still)

    m.w = {}
    m.qtype = {}
    for name, (ttype, ne, raw) in tensors.items():
        m.w[name] = dequant(ttype, raw, ne)
        m.qtype[name] = ttype
    m.tied = "output.weight" not in m.w or arch in ("gemma", "gemma2")
    m.out_name = "token_embd.weight" if m.tied else "output.weight"
    m.rope_freqs = m.w.get("rope_freqs.weight")
    if m.rope_freqs is None:
        long_ctx = n_ctx is not None and n_ctx > g("rope.scaling.original_context_length", g("context_length"))
        m.rope_freqs = m.w.get("rope_factors_long.weight" if long_ctx else "rope_factors_short.weight")
    split(m)
    m.n_vocab = m.w["token_embd.weight"].shape[0]
    return m


def split(m):
    """Views fused tensors as their parts: attn_qkv as attn_q/k/v, phi3's and glm4's ffn_up as ffn_gate + ffn_up."""
    q_dim, kv_dim = m.n_head * m.head_dim, m.n_head_kv * m.head_dim
    for l in range(m.n_layer):
        p = f"blk.{l}."
        for suffix in ("weight", "bias"):
            w = m.w.pop(p + "attn_qkv." + suffix, None)
            if w is None:
                continue
            qt = m.qtype.get(p + "attn_qkv." + suffix)
            parts = (w[:q_dim], w[q_dim:q_dim + kv_dim], w[q_dim + kv_dim:])
            for nm, part in zip(("attn_q", "attn_k", "attn_v"), parts):
                m.w[f"{p}{nm}.{suffix}"], m.qtype[f"{p}{nm}.{suffix}"] = part, qt
        if m.arch in ("phi3", "glm4"):
            w, qt = m.w[p + "ffn_up.weight"], m.qtype[p + "ffn_up.weight"]
            m.w[p + "ffn_gate.weight"], m.w[p + "ffn_up.weight"] = w[:m.n_ff], w[m.n_ff:]
            m.qtype[p + "ffn_gate.weight"] = qt


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


def g_logit_mult(m):
    """command-r multiplies its logits by logit_scale (granite divides)."""
    return m.kv.get("command-r.logit_scale", 0.0)


def granite_arch(m):
    return m.arch in ("granite", "granitemoe")


def moe(m, h, p, act_q8):
    """The mixture-of-experts FFN of rows h (T, n_embd)."""
    logits = matmul(m, h, p + "ffn_gate_inp.weight", act_q8)        # (T, n_expert)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    out = np.zeros_like(h)
    quant = act_q8 and m.qtype[p + "ffn_gate_exps.weight"] not in (F32, F16, BF16)
    for t in range(h.shape[0]):
        top = np.argsort(-prob[t], kind="stable")[:m.n_expert_used]
        w = prob[t, top] / prob[t, top].sum() if m.expert_norm else prob[t, top]
        xt = q8_round(h[t:t + 1]) if quant else h[t:t + 1]
        for e, we in zip(top, w):
            gate = xt @ m.w[p + "ffn_gate_exps.weight"][e].T
            up = xt @ m.w[p + "ffn_up_exps.weight"][e].T
            a = gate / (1.0 + np.exp(-gate)) * up
            out[t] += we * ((q8_round(a) if quant else a) @ m.w[p + "ffn_down_exps.weight"][e].T)[0]
    if p + "ffn_gate_shexp.weight" in m.w:                           # the shared expert
        gate = matmul(m, h, p + "ffn_gate_shexp.weight", act_q8)
        up = matmul(m, h, p + "ffn_up_shexp.weight", act_q8)
        y = matmul(m, gate / (1.0 + np.exp(-gate)) * up, p + "ffn_down_shexp.weight", act_q8)
        g = m.w.get(p + "ffn_gate_inp_shexp.weight")
        out += y if g is None else y / (1.0 + np.exp(-(h @ g)))[:, None]
    return out


def norm(m, x, name):
    """The model's pre-norm of x: RMSNorm, or LayerNorm with its bias (starcoder2)."""
    if not m.layer_norm:
        return rmsnorm(x, m.w[name + ".weight"], m.eps)
    c = x - x.mean(axis=-1, keepdims=True)
    y = c / np.sqrt(np.mean(c * c, axis=-1, keepdims=True) + m.eps) * m.w[name + ".weight"]
    return y + m.w[name + ".bias"] if name + ".bias" in m.w else y


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, m, variant, base=None, freq_scale=None):
    """x: (T, heads, head_dim); rotates the first n_rot features of each head."""
    half = m.n_rot // 2
    base = m.base if base is None else base
    freq_scale = m.freq_scale if freq_scale is None else freq_scale
    i = np.arange(half, dtype=np.float64)
    theta = np.outer(np.asarray(pos, dtype=np.float64) * freq_scale, base ** (-2.0 * i / m.n_rot))
    if m.rope_freqs is not None:
        theta = theta / m.rope_freqs[None, :]
    if getattr(m, "rope_still", None) is not None:
        theta = theta * ~m.rope_still[None, :]
    c, s = np.cos(theta)[:, None, :] * m.attn_factor, np.sin(theta)[:, None, :] * m.attn_factor
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


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * x * (1.0 + 0.044715 * x * x)))


def forward(m, tokens, rope_variant=None, act_q8=False):
    rope_variant = rope_variant or m.rope_default
    tokens = np.asarray(tokens, dtype=np.int64)
    T, hd, group = len(tokens), m.head_dim, m.n_head // m.n_head_kv
    pos = np.arange(T)
    x = m.w["token_embd.weight"][tokens].copy()                      # (T, n_embd)
    x *= m.embd_scale
    mask = np.triu(np.full((T, T), -np.inf), k=1)                    # causal
    window = mask + np.tril(np.full((T, T), -np.inf), k=-m.n_swa) if m.n_swa else mask
    w = lambda name: m.w.get(name)  # noqa: E731  (optional tensors)
    for l in range(m.n_layer):
        p = f"blk.{l}."
        h = norm(m, x, p + "attn_norm") if m.arch != "olmo2" else x   # olmo2: no pre-norms
        q = matmul(m, h, p + "attn_q.weight", act_q8)
        k = matmul(m, h, p + "attn_k.weight", act_q8)
        v = matmul(m, h, p + "attn_v.weight", act_q8)
        for t, nm in ((q, "attn_q.bias"), (k, "attn_k.bias"), (v, "attn_v.bias")):
            if w(p + nm) is not None:
                t += w(p + nm)
        q, k, v = q.reshape(T, m.n_head, hd), k.reshape(T, m.n_head_kv, hd), v.reshape(T, m.n_head_kv, hd)
        if w(p + "attn_q_norm.weight") is not None and m.arch in ("olmo2", "olmoe"):  # over all of q, all of k
            q = rmsnorm(q.reshape(T, -1), m.w[p + "attn_q_norm.weight"], m.eps).reshape(q.shape)
            k = rmsnorm(k.reshape(T, -1), m.w[p + "attn_k_norm.weight"], m.eps).reshape(k.shape)
        elif w(p + "attn_q_norm.weight") is not None:
            q = rmsnorm(q, m.w[p + "attn_q_norm.weight"], m.eps)
            k = rmsnorm(k, m.w[p + "attn_k_norm.weight"], m.eps)
        local = m.swa[l]
        rb = (m.base_swa, m.freq_scale_swa) if local else (m.base, m.freq_scale)
        if not (m.arch == "smollm3" and (l + 1) % 4 == 0):            # smollm3: every 4th layer NoPE
            q, k = rope(q, pos, m, rope_variant, *rb), rope(k, pos, m, rope_variant, *rb)
        att = np.empty((T, m.n_head, hd))
        for head in range(m.n_head):
            kvh = head // group
            s = q[:, head, :] @ k[:, kvh, :].T * (m.q_scale if m.gemma or granite_arch(m) else 1.0 / np.sqrt(hd))
            if m.attn_softcap:
                s = m.attn_softcap * np.tanh(s / m.attn_softcap)
            s = s + (window if local else mask)                      # (T, T)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            att[:, head, :] = (s / s.sum(axis=1, keepdims=True)) @ v[:, kvh, :]
        o = matmul(m, att.reshape(T, m.n_head * hd), p + "attn_output.weight", act_q8)
        if w(p + "attn_output.bias") is not None:
            o = o + m.w[p + "attn_output.bias"]
        if m.post_norms:
            o = rmsnorm(o, m.w[p + "post_attention_norm.weight"], m.eps)
        if m.parallel:                             # the FFN reads the attention's input h
            attn_out = o
        else:
            x = x + o * m.residual_scale
            h = norm(m, x, p + "ffn_norm") if m.arch != "olmo2" else x
        if m.n_expert_used:
            o = moe(m, h, p, act_q8)
        elif m.arch in ("starcoder2", "phi2"):                        # down(gelu(up x + b) ) + b
            a = gelu_tanh(matmul(m, h, p + "ffn_up.weight", act_q8) + m.w[p + "ffn_up.bias"])
            o = matmul(m, a, p + "ffn_down.weight", act_q8) + m.w[p + "ffn_down.bias"]
        else:
            gate = matmul(m, h, p + "ffn_gate.weight", act_q8)
            up = matmul(m, h, p + "ffn_up.weight", act_q8)
            act = gelu_tanh(gate) if m.gemma else gate / (1.0 + np.exp(-gate))
            o = matmul(m, act * up, p + "ffn_down.weight", act_q8)
        if m.post_norms:
            o = rmsnorm(o, m.w[p + "post_ffw_norm.weight"], m.eps)
        if m.parallel:
            o = o + attn_out
        x = x + o * m.residual_scale
    h = norm(m, x, "output_norm")
    logits = matmul(m, h, m.out_name, act_q8)                        # (T, n_vocab)
    if m.arch in ("qwen2", "phi3", "phi2") and w("output.bias") is not None:
        logits = logits + m.w["output.bias"]
    logits = logits / m.logit_scale
    if m.arch == "command-r" and g_logit_mult(m):
        logits = logits * g_logit_mult(m)
    if m.final_softcap:
        logits = m.final_softcap * np.tanh(logits / m.final_softcap)
    return logits


if __name__ == "__main__":
    # llama_ref.py MODEL ID,ID,... — prints the argmax of each row
    model = load(sys.argv[1])
    ids = [int(t) for t in sys.argv[2].split(",")]
    print(" ".join(str(int(i)) for i in forward(model, ids).argmax(axis=1)))
