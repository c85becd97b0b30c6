"""eval_perplexity.py — `rightsize eval --perplexity` and `--kl-reference` against independent math.

* Perplexity: the same chunks llama-perplexity evaluates (floor(n/ctx) chunks of ctx tokens, BOS
  first, second half scored) recomputed with tests/ref/llama_ref.py, a float64 numpy forward pass
  that shares no code with the engine; ppl must agree within 0.1% (f32 weights, f32 KV).
* KL / top-1 / delta ppl of a Q8_0 model against its F32 reference: each chunk's logits dumped by
  `rightsize run --prompt-ids CHUNK --dump-logits` for both models, then numpy float64
  log-softmax, KL(ref || model), percentile and argmax; eval's figures must match to 1e-6 relative.
* Bad input: too short a text, mismatched vocabularies, a missing file get clear errors.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("RS_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "rightsize"))
VOCAB = os.path.join(ROOT, "tests", "data", "vocab", "ggml-vocab-llama-spm.gguf")
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from llama_ref import forward, load  # noqa: E402

CTX = 64
failures = []

TEXT = ("The support desk answers questions about billing, shipping and returns. A customer wrote "
        "that the parcel arrived late and the box was damaged, and asked for a refund. Another asked "
        "how to change the email address on the account. Most tickets are short; some mention two "
        "problems at once, and a few are angry. ") * 4


def check(cond, what):
    print(("   ok   " if cond else "   FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def synth(path, wtype, seed=5, vocab=VOCAB):
    args = [BIN, "gguf", "synth", "tiny", "--type", wtype, "--seed", str(seed), "--init-std", "0.08",
            "--qk-scale", "4", "-q", "-o", path]
    if vocab:
        args += ["--vocab-from", vocab]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def evaluate(args):
    p = subprocess.run([BIN, "eval", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def chunks(ids, bos):
    n = len(ids) // CTX
    out = []
    for c in range(n):
        ch = list(ids[c * CTX:(c + 1) * CTX])
        ch[0] = bos
        out.append(ch)
    return out


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def dumped_logits(model, chunk, tmp):
    dump = os.path.join(tmp, "dump.bin")
    subprocess.run([BIN, "run", "-m", model, "--prompt-ids", ",".join(map(str, chunk)), "-n", "0",
                    "--kv-type", "f32", "-t", "2", "--ctx", str(CTX), "--dump-logits", dump],
                   check=True, capture_output=True, timeout=60)
    return np.fromfile(dump, dtype="<f4").astype(np.float64).reshape(len(chunk), -1)


def scored(logits, chunk):
    """Negative log-likelihoods and log-probs of the second half, as llama-perplexity scores."""
    first = CTX // 2
    lp = log_softmax(logits[first:CTX - 1])
    nll = -lp[np.arange(lp.shape[0]), chunk[first + 1:CTX]]
    return nll, lp


def main():
    if not os.path.exists(BIN):
        print(f"missing {BIN}: build first")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "text.txt")
        with open(text, "w") as f:
            f.write(TEXT)
        f32, q8 = os.path.join(tmp, "f32.gguf"), os.path.join(tmp, "q8.gguf")
        synth(f32, "f32")
        synth(q8, "q8_0")
        toks = os.path.join(tmp, "toks.txt")
        out = os.path.join(tmp, "r.json")
        rc, so, se = evaluate(["--perplexity", text, "-m", f32, "--ctx", str(CTX), "--batch", "24",
                               "--kv-type", "f32", "-t", "2", "--save-tokens", toks, "--out", out, "-q"])
        check(rc == 0, f"eval --perplexity exits 0 ({se.strip()[-200:]})")
        if rc != 0:
            return 1
        ids = [int(t) for t in open(toks).read().split()]
        r = json.load(open(out))
        m = load(f32)
        bos = 1
        check(ids[0] == bos, "the text is tokenized with BOS first")
        cs = chunks(ids, bos)
        nll = np.concatenate([scored(forward(m, ch), ch)[0] for ch in cs])
        ppl_ref = float(np.exp(nll.mean()))
        p = r["perplexity"]
        check(p["chunks"] == len(cs) and p["scored"] == len(nll) and p["tokens"] == len(ids),
              f"chunking: {p['chunks']} chunks, {p['scored']} scored of {p['tokens']} tokens "
              f"(want {len(cs)}, {len(nll)}, {len(ids)})")
        check(abs(p["ppl"] / ppl_ref - 1) < 1e-3,
              f"ppl {p['ppl']:.6f} vs float64 numpy forward {ppl_ref:.6f} (within 0.1%)")
        check(f"perplexity: {p['ppl']:.4f}" in so, "the summary line prints the perplexity")

        # KL of Q8_0 against F32 over the same chunks, from dumped logits.
        out2 = os.path.join(tmp, "kl.yaml")
        rc, so, se = evaluate(["--perplexity", text, "-m", q8, "--kl-reference", f32, "--ctx", str(CTX),
                               "--kv-type", "f32", "-t", "2", "--out", out2, "-q"])
        check(rc == 0, f"eval --kl-reference exits 0 ({se.strip()[-200:]})")
        y = open(out2).read()
        vals = {}
        for line in y.splitlines():
            k, _, v = line.strip().partition(":")
            vals[k] = v.strip()
        kls, agree, nll_m, nll_r = [], [], [], []
        for ch in cs:
            lm, lpm = scored(dumped_logits(q8, ch, tmp), ch)
            lr, lpr = scored(dumped_logits(f32, ch, tmp), ch)
            kls.append((np.exp(lpr) * (lpr - lpm)).sum(axis=1))
            agree.append(lpr.argmax(axis=1) == lpm.argmax(axis=1))
            nll_m.append(lm)
            nll_r.append(lr)
        kls, agree = np.concatenate(kls), np.concatenate(agree)
        ppl_m, ppl_r = np.exp(np.concatenate(nll_m).mean()), np.exp(np.concatenate(nll_r).mean())

        def close(name, want, tol=1e-6, abs_tol=1e-9):
            got = float(vals.get(name, "nan"))
            ok = abs(got - want) <= tol * abs(want) + abs_tol
            check(ok, f"{name}: eval {got:.9g} vs numpy {want:.9g}")

        check(kls.mean() > 1e-5, f"the Q8_0 model differs measurably from F32 (KL mean {kls.mean():.3g})")
        close("kl_mean", kls.mean(), 1e-4)
        close("kl_p99", float(np.percentile(kls, 99)), 1e-4)
        close("top1_agree", agree.mean())
        close("ppl", ppl_m, 1e-5)
        close("ref_ppl", ppl_r, 1e-5)
        close("delta_ppl", ppl_m - ppl_r, 1e-3, 1e-6)
        check(vals.get("quality") == vals.get("top1_agree"), "quality is the top-1 agreement")
        check(vals.get("dataset") == '"text.txt"' and len(vals.get("date", "")) == 12,
              f"results name the data set and the date ({vals.get('dataset')}, {vals.get('date')})")

        # Bad input.
        short = os.path.join(tmp, "short.txt")
        with open(short, "w") as f:
            f.write("Too short.")
        rc, _, se = evaluate(["--perplexity", short, "-m", f32, "--ctx", str(CTX), "-q"])
        check(rc == 1 and "at least 128" in se, f"a short text is refused: {se.strip()}")
        other = os.path.join(tmp, "other.gguf")
        synth(other, "f32", vocab=None)
        rc, _, se = evaluate(["--perplexity", text, "-m", f32, "--kl-reference", other, "--ctx", str(CTX), "-q"])
        check(rc == 1 and "vocabulary" in se, f"a reference with another vocabulary is refused: {se.strip()}")
        rc, _, se = evaluate(["--perplexity", os.path.join(tmp, "nope.txt"), "-m", f32, "-q"])
        check(rc == 1 and "nope.txt" in se, f"a missing text is named: {se.strip()}")
        rc, _, se = evaluate(["--perplexity", text])
        check(rc == 2 and "-m MODEL" in se, f"a missing model is a usage error: {se.strip()}")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("eval perplexity: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
