"""forward_vs_numpy.py — the engine's forward pass against an independent numpy float64 model.

For each synthesized model (`rightsize gguf synth`, shapes tiny and small, every weight type,
q/k weights scaled up so attention is far from uniform) it runs `rightsize run --prompt-ids ...
--temp 0 --dump-logits` and recomputes the logits of the same sequence (prompt + the tokens the
engine generated) with tests/ref/llama_ref.py, which shares no code with the engine.

Checks and why the tolerances are what they are (err = max |ours - ref| / max |ref| per model):
  * f32/f16/bf16 weights, f32 KV: the engine computes in float32 (the reference in float64);
    each dot product carries ~1e-7 relative error and a few layers of peaked softmax amplify it
    by at most ~100x, so 1e-4 is tight but safe (observed ~1e-6).
  * q8_0/q4_0 weights: the engine rounds activations to Q8_0 blocks before every quantized
    product (as llama.cpp does); how much that moves the logits depends on the model (sharpened
    attention amplifies it), so the bound is measured, not guessed: E = err(reference with the
    same Q8_0 activation rounding, plain float64 reference). Ours must be within 1.5·E + 1e-4 of
    the plain reference, and within 0.5·E + 1e-4 of the rounding-emulating reference (the
    residual is float32 arithmetic, ~1e-7, plus the odd activation that lies within float noise
    of a rounding half-way point and rounds the other way).
  * f16 KV cache (default): K and V rounded to f16 (relative 2^-11 ≈ 4.9e-4) shift each scaled
    score by up to ~2^-11·|score|; with q/k scaled up, scores reach tens, so attention weights
    move by a few percent and logits by ~1e-2 relative: bound 5e-2 (the C unit tests check the
    f16 cache itself exactly against round-to-nearest-even).
  * Greedy continuation: at every generated step where the reference's top-2 margin exceeds
    twice our largest logit deviation in that row (so the argmax provably cannot differ), the
    engine's token must be the reference's argmax (for quantized weights, the reference with
    Q8_0 activations); for float weights every step must qualify.
  * RoPE variant: the same reference with the half-split (NeoX) rotation must differ from our
    logits by at least 100x the f32 tolerance — the proof that these checks would catch it.
  * Variants derived from the tiny f32 model (tests/ref/gguf_write.py): grouped-query attention
    (K/V heads sliced to half), tied output (output.weight dropped), linear RoPE scaling, RoPE on
    half of each head with another theta, Llama 3 rope_freqs factors; plus a prompt longer than one KV block (all prompts: 40 tokens vs blocks
    of 16) and a prefill split over several forward steps (--batch 16).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from gguf_read import read_gguf  # noqa: E402
from gguf_write import write_gguf  # noqa: E402
from llama_ref import forward, load  # noqa: E402

N_PROMPT, N_GEN = 40, 8
TOL = {"f32": 1e-4, "f16": 1e-4, "bf16": 1e-4}
TOL_KV_F16 = 5e-2
failures = []


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def synth(path, shape, wtype, seed):
    subprocess.run([BIN, "gguf", "synth", "--shape", shape, "--type", wtype, "--seed", str(seed),
                    "--qk-scale", "8", "-q", "-o", path], check=True, stdout=subprocess.DEVNULL)


def run_engine(path, prompt, tmp, extra=()):
    dump = os.path.join(tmp, "logits.bin")
    cmd = [BIN, "run", "-m", path, "--prompt-ids", ",".join(map(str, prompt)), "-n", str(N_GEN),
           "--temp", "0", "--print-ids", "--ignore-eos", "-t", "2", "--dump-logits", dump, *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    gen = [int(t) for t in out.stdout.split()]
    logits = np.fromfile(dump, dtype="<f4").astype(np.float64)
    return gen, logits.reshape(len(prompt) + len(gen), -1)


def rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def compare(name, path, prompt, tmp, tol, extra=(), quant=False, strict_greedy=False, ref_ctx=None):
    """Runs the engine and the reference on one model; returns (our logits, reference model, sequence)."""
    m = load(path, n_ctx=ref_ctx)
    gen, ours = run_engine(path, prompt, tmp, extra)
    check(len(gen) == N_GEN, f"{name}: generated {len(gen)} of {N_GEN} tokens")
    seq = prompt + gen
    ref = forward(m, seq)
    err = rel_err(ours, ref)
    if quant:
        # What Q8_0 activation rounding alone does to this model, measured on the reference.
        ref_q8 = forward(m, seq, act_q8=True)
        effect = rel_err(ref_q8, ref)
        bound = 1.5 * effect + 1e-4
        check(err < bound, f"{name}: logits vs float64 reference, err {err:.2e} < 1.5 x Q8_0-activation effect "
                           f"{effect:.2e} + 1e-4")
        err_q = rel_err(ours, ref_q8)
        bound_q = 0.5 * effect + 1e-4
        check(err_q < bound_q, f"{name}: logits vs reference with Q8_0 activations, err {err_q:.2e} < {bound_q:.2e}")
        ref = ref_q8  # greedy below: against the computation the engine specifies
    else:
        check(err < tol, f"{name}: logits vs float64 reference, err {err:.2e} < {tol:g}")
    # Greedy: where the reference's top-2 margin exceeds twice our largest deviation in that row,
    # the argmax cannot differ, so our token must be the reference's argmax.
    decided = agree = 0
    for i, tok in enumerate(gen):
        r = len(prompt) - 1 + i
        top2 = np.sort(ref[r])[-2:]
        if top2[1] - top2[0] > 2 * np.abs(ours[r] - ref[r]).max():
            decided += 1
            agree += int(ref[r].argmax() == tok)
    need = N_GEN if strict_greedy else 1
    check(decided >= need and agree == decided,
          f"{name}: greedy tokens match the reference at {agree}/{decided} decided steps (need >= {need})")
    return ours, m, seq


def main():
    if not os.path.exists(BIN):
        print(f"missing {BIN}: build first")
        return 1
    rng = np.random.default_rng(2024)
    with tempfile.TemporaryDirectory() as tmp:
        for si, shape in enumerate(("tiny", "small")):
            for ti, wtype in enumerate(("f32", "f16", "bf16", "q8_0", "q4_0")):
                path = os.path.join(tmp, f"{shape}-{wtype}.gguf")
                synth(path, shape, wtype, seed=11 + 10 * si + ti)
                n_vocab = load(path).n_vocab
                prompt = [1] + [int(t) for t in rng.integers(3, n_vocab, N_PROMPT - 1)]
                quant = wtype in ("q8_0", "q4_0")
                ours, m, seq = compare(f"{shape} {wtype}", path, prompt, tmp, TOL.get(wtype),
                                       extra=("--kv-type", "f32"), quant=quant, strict_greedy=not quant)
                if wtype == "f32":
                    neox = rel_err(ours, forward(m, seq, rope_variant="neox"))
                    check(neox > 100 * TOL["f32"],
                          f"{shape}: the NeoX (half-split) RoPE reference differs by {neox:.2e} (> {100 * TOL['f32']:g})")
                    compare(f"{shape} f32, f16 KV cache", path, prompt, tmp, TOL_KV_F16)
                    compare(f"{shape} f32, prefill in steps of 16 rows", path, prompt, tmp, TOL["f32"],
                            extra=("--kv-type", "f32", "--batch", "16"), strict_greedy=True)

        # Variants of the tiny f32 model.
        base = os.path.join(tmp, "tiny-f32.gguf")
        kv, tensors = read_gguf(base)
        n_vocab = load(base).n_vocab
        prompt = [1] + [int(t) for t in rng.integers(3, n_vocab, N_PROMPT - 1)]
        f32_kv = ("--kv-type", "f32")

        def variant(name, kv2, t2):
            p = os.path.join(tmp, name.replace(" ", "_") + ".gguf")
            write_gguf(p, kv2, t2)
            return p

        # GQA: keep half of the K/V heads (query head h reads KV head h // group).
        n_head = kv["llama.attention.head_count"]
        n_kv = kv.get("llama.attention.head_count_kv", n_head)
        hd = kv["llama.embedding_length"] // n_head
        kv_g = dict(kv)
        kv_g["__kv_types__"] = dict(kv["__kv_types__"])
        new_kv = max(1, n_kv // 2) if n_kv > 1 else 1
        if new_kv == n_kv and n_head > 1:
            new_kv = 1
        kv_g["llama.attention.head_count_kv"] = new_kv
        kv_g["__kv_types__"].setdefault("llama.attention.head_count_kv", 4)
        t_g = dict(tensors)
        for name, (tt, ne, raw) in tensors.items():
            if name.endswith("attn_k.weight") or name.endswith("attn_v.weight"):
                row_bytes = len(raw) // ne[1]
                t_g[name] = (tt, [ne[0], new_kv * hd], raw[:row_bytes * new_kv * hd])
        compare(f"GQA ({n_head} query heads, {new_kv} KV heads)", variant("gqa", kv_g, t_g), prompt, tmp,
                TOL["f32"], extra=f32_kv, strict_greedy=True)

        # Tied output: no output.weight, logits through token_embd.
        t_tied = {k: v for k, v in tensors.items() if k != "output.weight"}
        ours_tied, _, _ = compare("tied output embedding", variant("tied", kv, t_tied), prompt, tmp, TOL["f32"],
                                  extra=f32_kv, strict_greedy=True)

        # Linear RoPE scaling, factor 4: must match the reference and differ from the unscaled model.
        kv_l = dict(kv)
        kv_l["llama.rope.scaling.type"] = "linear"
        kv_l["llama.rope.scaling.factor"] = 4.0
        p_lin = variant("linear", kv_l, tensors)
        ours_lin, m_lin, seq = compare("linear RoPE scaling x4", p_lin, prompt, tmp, TOL["f32"], extra=f32_kv)
        m_lin.freq_scale = 1.0
        d = rel_err(ours_lin, forward(m_lin, seq))
        check(d > 100 * TOL["f32"], f"linear RoPE scaling changes the logits (vs unscaled reference: {d:.2e})")

        # Partial rotation (rope.dimension_count = head_dim / 2) and another theta.
        kv_p = dict(kv)
        kv_p["__kv_types__"] = dict(kv["__kv_types__"])
        kv_p["llama.rope.dimension_count"] = hd // 2
        kv_p["__kv_types__"].setdefault("llama.rope.dimension_count", 4)
        kv_p["llama.rope.freq_base"] = 500000.0
        compare("partial RoPE (half the head) with theta 500000", variant("partial", kv_p, tensors), prompt, tmp,
                TOL["f32"], extra=f32_kv, strict_greedy=True)

        # Llama 3 rope_freqs: per-pair frequency divisors.
        n_rot = kv.get("llama.rope.dimension_count", hd)
        freqs = np.linspace(1.0, 8.0, n_rot // 2).astype("<f4")
        t_f = dict(tensors)
        t_f["rope_freqs.weight"] = (0, [n_rot // 2], freqs.tobytes())
        ours_f, m_f, seq = compare("rope_freqs factors", variant("freqs", kv, t_f), prompt, tmp, TOL["f32"],
                                   extra=f32_kv)
        m_f.rope_freqs = None
        d = rel_err(ours_f, forward(m_f, seq))
        check(d > 100 * TOL["f32"], f"rope_freqs changes the logits (vs reference without: {d:.2e})")

        arch_models(tmp, rng)

    print(f"{len(failures)} failures")
    return 1 if failures else 0


# Each architecture's tiny model (gguf synth --arch) against the reference's definition of it:
# f32 (every greedy step decided) and q8_0 (the quantized path through fused tensor views too).
ARCH_ARGS = {
    "llama (Mistral-style window 8)": ("llama", ["--sliding-window", "8"]),
    "qwen2": ("qwen2", []),
    "qwen3": ("qwen3", []),
    "gemma2": ("gemma2", ["--sliding-window", "8", "--attn-softcap", "3", "--final-softcap", "0.4"]),
    "gemma3": ("gemma3", ["--layers", "6", "--sliding-window", "8", "--rope-theta", "1000000", "--final-softcap", "2"]),
    "phi3": ("phi3", ["--rope-attn-factor", "1.2"]),
    "granite": ("granite", ["--init-std", "0.1"]),
    "qwen3moe": ("qwen3moe", ["--experts", "8", "--experts-used", "3"]),
    "granitemoe": ("granitemoe", ["--experts", "6", "--experts-used", "2", "--init-std", "0.1"]),
    "llama with experts (Mixtral)": ("llama", ["--experts", "4", "--experts-used", "2"]),
    "granitemoe with a shared expert": ("granitemoe", ["--experts", "6", "--experts-used", "2", "--init-std", "0.1",
                                                       "--shared-expert-ffn", "96"]),
    "qwen2moe": ("qwen2moe", ["--experts", "8", "--experts-used", "2"]),
    "smollm3": ("smollm3", ["--layers", "4"]),
    "gemma": ("gemma", []),
    "glm4 (half of each head rotated)": ("glm4", ["--rope-dim", "8"]),
    "olmo2 (window 8 on 3 of 4 layers)": ("olmo2", ["--layers", "4", "--sliding-window", "8"]),
    "exaone": ("exaone", []),
    "olmoe": ("olmoe", ["--kv-heads", "4", "--experts", "8", "--experts-used", "3"]),
    "qwen2vl (text)": ("qwen2vl", []),
    "starcoder2": ("starcoder2", []),
    "stablelm (a quarter of each head rotated)": ("stablelm", ["--rope-dim", "4"]),
    "phi2 (parallel attention and FFN)": ("phi2", ["--rope-dim", "8"]),
    "command-r": ("command-r", []),
    "qwen3vl (text, RoPE base 20)": ("qwen3vl", ["--rope-theta", "20"]),
    "qwen3vlmoe (text, RoPE base 20)": ("qwen3vlmoe", ["--rope-theta", "20", "--experts", "8", "--experts-used", "3"]),
}


def arch_models(tmp, rng):
    base = ["--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128", "--vocab", "512",
            "--ctx", "512", "--qk-scale", "4"]
    prompt = [1] + [int(t) for t in rng.integers(3, 512, N_PROMPT - 1)]
    f32_kv = ("--kv-type", "f32")
    for name, (arch, extra) in ARCH_ARGS.items():
        for wtype in ("f32", "q8_0"):
            slug = "".join(c if c.isalnum() else "-" for c in name.lower())
            path = os.path.join(tmp, f"arch-{slug}-{wtype}.gguf")
            subprocess.run([BIN, "gguf", "synth", "--arch", arch, *base, *extra, "--type", wtype, "--seed", "5",
                            "-q", "-o", path], check=True, stdout=subprocess.DEVNULL)
            quant = wtype != "f32"
            ours, m, seq = compare(f"{name} {wtype}", path, prompt, tmp, TOL.get(wtype), extra=f32_kv, quant=quant,
                                   strict_greedy=not quant)
            if arch == "phi3" and wtype == "f32":
                # A context past rope.scaling.original_context_length (512) switches to the long factors.
                ours_l, _, _ = compare("phi3 f32, --ctx 1024 (rope_factors_long)", path, prompt, tmp, TOL["f32"],
                                       extra=(*f32_kv, "--ctx", "1024"), strict_greedy=True, ref_ctx=1024)
                d = rel_err(ours_l, ours)
                check(d > 100 * TOL["f32"], f"phi3: long vs short rope factors change the logits ({d:.2e})")


if __name__ == "__main__":
    sys.exit(main())
