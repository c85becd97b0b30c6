"""train_torch.py — the trainer's loss and gradients against PyTorch (Debian's python3-torch):
`rightsize distill --dump-grads` writes one batch, the student's weights, the teacher's logits,
the loss and every gradient; the same Llama (embedding, RMSNorm, GGUF `llama` RoPE on adjacent
pairs, causal GQA attention, SwiGLU, tied output) and the same distillation loss
(α·T²·KL + (1−α)·CE over the completion tokens) are written here in torch, in float64, and
autograd's gradients are compared tensor by tensor. Skips (77) when torch is not installed.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
except ImportError:
    print("   skip: python3-torch is not installed (scripts/deps installs it)")
    sys.exit(77)

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
DATA = os.path.join(ROOT, "data", "tasks", "support-desk", "dev.jsonl")
D, L, H, KVH, F, ALPHA, TEMP, THETA, EPS = 32, 2, 4, 2, 48, 0.6, 2.0, 10000.0, 1e-5
failures = []


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(*args):
    r = subprocess.run([BIN, "distill", *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        print(r.stderr)
        sys.exit(1)


def load_dump(path):
    raw = open(path, "rb").read()
    B, T, V, P = np.frombuffer(raw, np.uint32, 4, 0)
    o = 16
    loss = np.frombuffer(raw, np.float64, 1, o)[0]; o += 8
    N = int(B * T)
    tok = np.frombuffer(raw, np.int32, N, o); o += 4 * N
    tgt = np.frombuffer(raw, np.int32, N, o); o += 4 * N
    mask = np.frombuffer(raw, np.uint8, N, o); o += N
    w = np.frombuffer(raw, np.float32, int(P), o); o += 4 * int(P)
    g = np.frombuffer(raw, np.float32, int(P), o); o += 4 * int(P)
    tl = np.frombuffer(raw, np.float32, N * int(V), o).reshape(N, int(V))
    return int(B), int(T), int(V), loss, tok, tgt, mask, w, g, tl


def layout(V):
    hd = D // H
    kv = hd * KVH
    names = [("token_embd", (V, D))]
    for l in range(L):
        names += [(f"{l}.attn_norm", (D,)), (f"{l}.wq", (D, D)), (f"{l}.wk", (kv, D)), (f"{l}.wv", (kv, D)),
                  (f"{l}.wo", (D, D)), (f"{l}.ffn_norm", (D,)), (f"{l}.wg", (F, D)), (f"{l}.wu", (F, D)),
                  (f"{l}.wd", (D, F))]
    return names + [("output_norm", (D,))]


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def rope(x, T):  # x (B, T, heads, hd): rotate adjacent pairs
    hd = x.shape[-1]
    inv = THETA ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * c - b * s, a * s + b * c], -1).flatten(-2)


def forward(p, tok, B, T):
    hd = D // H
    x = p["token_embd"][tok].view(B, T, D)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for l in range(L):
        xn = rmsnorm(x, p[f"{l}.attn_norm"])
        q = rope((xn @ p[f"{l}.wq"].T).view(B, T, H, hd), T)
        k = rope((xn @ p[f"{l}.wk"].T).view(B, T, KVH, hd), T)
        v = (xn @ p[f"{l}.wv"].T).view(B, T, KVH, hd)
        k = k.repeat_interleave(H // KVH, 2)
        v = v.repeat_interleave(H // KVH, 2)
        att = torch.einsum("bthd,buhd->bhtu", q, k) / hd ** 0.5
        att = torch.softmax(att.masked_fill(causal, float("-inf")), -1)
        o = torch.einsum("bhtu,buhd->bthd", att, v).reshape(B, T, D)
        x = x + o @ p[f"{l}.wo"].T
        xn = rmsnorm(x, p[f"{l}.ffn_norm"])
        x = x + (torch.nn.functional.silu(xn @ p[f"{l}.wg"].T) * (xn @ p[f"{l}.wu"].T)) @ p[f"{l}.wd"].T
    return rmsnorm(x, p["output_norm"]) @ p["token_embd"].T


def main():
    tmp = tempfile.mkdtemp(prefix="rs-torch-")
    try:
        teacher = os.path.join(tmp, "teacher")
        run("--from-scratch", "--out", teacher, "--data", DATA, "--dim", "32", "--layers", "1", "--heads", "2",
            "--ffn", "32", "--ctx", "96", "--vocab", "500", "--steps", "20", "--batch", "4", "--seq", "40", "--lr", "3e-3")
        dump = os.path.join(tmp, "dump.bin")
        run("--teacher", os.path.join(teacher, "model.gguf"), "--out", os.path.join(tmp, "s"), "--data", DATA,
            "--dim", str(D), "--layers", str(L), "--heads", str(H), "--kv-heads", str(KVH), "--ffn", str(F),
            "--ctx", "96", "--batch", "3", "--seq", "96", "--alpha", str(ALPHA), "--temperature", str(TEMP),
            "--seed", "9", "--dump-grads", dump)
        B, T, V, c_loss, tok, tgt, mask, w, g, tl = load_dump(dump)
        p, off = {}, 0
        for name, shape in layout(V):
            n = int(np.prod(shape))
            p[name] = torch.tensor(w[off:off + n].astype(np.float64).reshape(shape), requires_grad=True)
            off += n
        check(off == len(w), "the weight layout matches the parameter count (%d)" % len(w))
        z = forward(p, torch.tensor(tok.astype(np.int64)), B, T).view(B * T, V)
        m = torch.tensor(mask.astype(bool))
        y = torch.tensor(tgt.astype(np.int64))
        n = m.sum()
        check(n > 10, "the batch has %d completion tokens" % int(n))
        ce = torch.nn.functional.cross_entropy(z[m], y[m], reduction="sum") / n
        zt = torch.tensor(tl.astype(np.float64))[m]
        kl = torch.nn.functional.kl_div(torch.log_softmax(z[m] / TEMP, -1), torch.log_softmax(zt / TEMP, -1),
                                        log_target=True, reduction="sum") / n * TEMP * TEMP
        loss = ALPHA * kl + (1 - ALPHA) * ce
        loss.backward()
        check(abs(loss.item() - c_loss) <= 1e-5 * abs(loss.item()),
              "loss: torch %.8f, rightsize %.8f" % (loss.item(), c_loss))
        check(np.linalg.norm(g) > 0, "the gradient is not zero")
        off, worst = 0, 0.0
        for name, shape in layout(V):
            k = int(np.prod(shape))
            ref = p[name].grad.numpy().ravel()
            got = g[off:off + k].astype(np.float64)
            off += k
            rel = np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)
            worst = max(worst, rel)
            if rel > 1e-3:
                check(False, "gradient of %s: relative error %.2e" % (name, rel))
        check(worst <= 1e-3, "every gradient within 1e-3 relative (worst %.2e) of torch's" % worst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
