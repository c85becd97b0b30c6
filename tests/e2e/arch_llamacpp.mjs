// Every architecture the engine runs (llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3, granite, qwen3moe,
// granitemoe with and without a shared expert, qwen2moe, smollm3, glm4, olmo2 with and without
// windows, and llama with experts as Mixtral files have them) against
// llama.cpp itself, through the npm package node-llama-cpp: for each arch a tiny model is
// synthesized (`rightsize gguf synth --arch A`, llama.cpp's own key and tensor names) in F32 and
// F16, and both engines evaluate the same token sequence.
//
// Checks, per model:
//   * llama.cpp loads the file (it checks every tensor name and shape against the arch);
//   * logits: at every position, our log-softmax against llama.cpp's (node-llama-cpp returns the
//     softmax of the raw logits when sampling greedily; KV cache F32 on both sides, flash
//     attention off). The tolerance comes from the formats (see TOL below);
//   * greedy: `rightsize run --temp 0` generates N_GEN tokens; llama.cpp's argmax at each of those
//     positions must be the same token.
// The synthesized models make each arch's feature count: q/k scaled up (sharp attention), prompt
// longer than the 8-position sliding window, small soft-caps (gemma2), 6 layers for gemma3 (5
// local with RoPE base 10000, 1 global with base 1e6), random rope_factors and an attention
// factor for phi3, half of each head rotated for glm4 (as GLM-4's files say), granite's four
// multipliers (gguf synth's; weights of std 0.1, as at 0.02 the
// 12x embeddings drown the FFN's share), 3 of 8 experts per token for qwen3moe (a router wide
// enough apart that the choice is not a near-tie). Control: every tensor draws
// from a stream seeded by (seed, tensor name), so the llama model of the same seed shares each arch's common weights; our llama logits on the prompt
// must differ from llama.cpp's logits of every other arch by more than 100x the tolerance — the
// arch's features are what the comparison measures.
//
// node-llama-cpp is looked for in NODE_LLAMA_CPP_DIR, tests/e2e/, the repository root and
// `make bench`'s $RS_PEER (default /tmp/rs-peer); when tests/e2e/package.json pins it, it is
// installed there if missing. Skips (77) only when none of that gives a usable copy.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ROOT, importLlamaCpp } from "./lib/harness.mjs";

const { getLlama, LlamaLogLevel } = await importLlamaCpp();

// Tolerance on max |Δ log p| over the vocabulary, per weight type. Both engines compute in
// float32 with an F32 KV cache, so on F32 weights the difference is summation order and libm
// (~1e-7 relative per operation, a few layers and a sharpened softmax amplifying it ~100x) plus,
// for gemma's GeGLU, ggml's GELU: it looks gelu up in a table of f16 inputs and f16 outputs, a
// relative error up to 2^-11 on each activation (we compute it in float32). On F16 weights
// llama.cpp also rounds every matmul's activations to f16 (2^-11 relative) and we do not. On Q8_0
// weights both engines round activations to Q8_0 blocks the same way, so most archs agree to
// ~1e-6, but a last-bit difference upstream (gemma's GELU table above all) can flip one int8
// rounding, a step of 1/127 of a block's largest activation: observed up to 1.5e-2 (gemma3).
// Greedy ids must be identical on F32 and F16; on Q8_0 wherever llama.cpp's top-2 margin exceeds
// twice the deviation (elsewhere a flip could decide a near-tie).
// Observed (this machine, the llama.cpp of node-llama-cpp 3.21.1): f32 <= 1.1e-6 (gemma 2e-4: the
// GELU table; emulating it brings gemma2 to 8e-6), f16 <= 6e-4, q8_0 <= 1e-6 on llama, qwen3 and
// phi3, 3e-3 qwen2, 6e-3 gemma2, 1.5e-2 gemma3.
const TOL = { f32: 2e-5, f16: 2e-3, q8_0: 5e-2 };
const TOL_GELU_F32 = 1e-3;
const N_GEN = 6;

let failures = 0;
const check = (cond, msg) => { if (!cond) { failures++; console.log("FAIL: " + msg); } };

const base = ["--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128", "--vocab", "512",
    "--ctx", "512", "--qk-scale", "4", "--seed", "7"];
const ARCHS = [
    ["llama", []],
    ["qwen2", []],
    ["qwen3", []],
    ["gemma2", ["--sliding-window", "8", "--attn-softcap", "3", "--final-softcap", "0.4"]],
    ["gemma3", ["--layers", "6", "--sliding-window", "8", "--rope-theta", "1000000"]],
    ["phi3", ["--rope-attn-factor", "1.2"]],
    ["granite", ["--init-std", "0.1"]],
    ["qwen3moe", ["--experts", "8", "--experts-used", "3"]],
    ["granitemoe", ["--experts", "6", "--experts-used", "2", "--init-std", "0.1"]],
    ["granitemoe", ["--experts", "6", "--experts-used", "2", "--init-std", "0.1", "--shared-expert-ffn", "96"],
        "granitemoe-shared"],
    ["qwen2moe", ["--experts", "8", "--experts-used", "2"]],
    ["smollm3", ["--layers", "4"]],
    ["gemma", []],
    ["glm4", ["--rope-dim", "8"]],
    ["olmo2", ["--layers", "4"]],
    ["olmo2", ["--layers", "4", "--sliding-window", "8"], "olmo2-swa"],
    ["ernie4_5", []],
    ["exaone", []],
    ["olmoe", ["--kv-heads", "4", "--experts", "8", "--experts-used", "3"]],
    // this llama.cpp does not read qwen2vl's RMS epsilon (it uses 0): an epsilon of ~0 on both sides
    ["qwen2vl", ["--rms-eps", "1e-30"]],
    // RoPE base 20, so that the pair qwen3vl leaves unturned turns visibly in qwen3
    ["qwen3vl", ["--rope-theta", "20"]],
    ["qwen3vlmoe", ["--rope-theta", "20", "--experts", "8", "--experts-used", "3"]],
    ["starcoder2", []],
    ["stablelm", ["--rope-dim", "4"]],
    ["phi2", ["--rope-dim", "8"]],
    ["command-r", []],
    ["llama", ["--experts", "4", "--experts-used", "2"], "mixtral"],
];

// Prompt: 24 deterministic ids in [3, 512) after BOS (1), longer than the 8-position window.
const prompt = [1];
for (let i = 0, x = 12345; i < 23; i++) { x = (x * 1103515245 + 12345) % 2147483648; prompt.push(3 + (x % 509)); }

function logSoftmax(row) {
    let mx = -Infinity;
    for (const v of row) if (v > mx) mx = v;
    let s = 0;
    for (const v of row) s += Math.exp(v - mx);
    const l = Math.log(s) + mx;
    return Array.from(row, (v) => v - l);
}

// Ours: greedy ids and the logits of every position (prompt + generated).
function ours(path, nVocab) {
    const dump = path + ".logits";
    const out = execFileSync(BIN, ["run", "-m", path, "--prompt-ids", prompt.join(","), "-n", String(N_GEN), "--temp", "0",
        "--ignore-eos", "--print-ids", "--kv-type", "f32", "--threads", "1", "--dump-logits", dump],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const gen = out.trim().split(/\s+/).map(Number);
    const buf = readFileSync(dump);
    const f = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const rows = [];
    for (let i = 0; i < f.length / nVocab; i++) rows.push(f.subarray(i * nVocab, (i + 1) * nVocab));
    return { gen, rows };
}

// llama.cpp's log-probabilities at every position of tokens.
async function theirs(llama, path, tokens, nVocab) {
    const model = await llama.loadModel({ modelPath: path });
    try {
        const ctx = await model.createContext({ contextSize: 512, threads: 1, flashAttention: false,
            experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
        const seq = ctx.getSequence();
        const res = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true } }]));
        const rows = res.map((r) => {
            const lp = new Float64Array(nVocab).fill(-Infinity);
            for (const [tok, p] of r.next.probabilities) lp[tok] = Math.log(p);
            return lp;
        });
        await ctx.dispose();
        return rows;
    } finally {
        await model.dispose();
    }
}

// max over positions and tokens of |Δ log p| (tokens llama.cpp gives a probability above 1e-30)
function maxDiff(ourRows, theirRows) {
    let worst = 0;
    for (let i = 0; i < theirRows.length; i++) {
        const a = logSoftmax(ourRows[i]), b = theirRows[i];
        for (let t = 0; t < b.length; t++)
            if (b[t] > -69) worst = Math.max(worst, Math.abs(a[t] - b[t]));
    }
    return worst;
}

const argmax = (row) => { let k = 0; for (let t = 1; t < row.length; t++) if (row[t] > row[k]) k = t; return k; };

const tmp = mkdtempSync(join(tmpdir(), "rs-arch-llamacpp."));
let llama;
try {
    try {
        llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    } catch (e) {
        console.log("node-llama-cpp has no usable prebuilt binary here (" + e.message + "): skipped");
        process.exit(77);
    }
    const summary = [], ourF32 = {}, theirF32 = {};
    for (const [arch, extra, label = arch] of ARCHS) {
        for (const type of ["f32", "f16", "q8_0"]) {
            const name = `${label}-${type}`, path = join(tmp, name + ".gguf");
            execFileSync(BIN, ["gguf", "synth", "--arch", arch, ...base, ...extra, "--type", type, "-q", "-o", path],
                { stdio: "inherit" });
            const us = ours(path, 512);
            check(us.gen.length === N_GEN, `${name}: generated ${us.gen.length} of ${N_GEN} tokens`);
            const tokens = prompt.concat(us.gen);
            check(us.rows.length === tokens.length, `${name}: ${us.rows.length} logit rows for ${tokens.length} positions`);
            let them;
            try {
                them = await theirs(llama, path, tokens, 512);
            } catch (e) {
                check(false, `${name}: llama.cpp refused the file: ${e.message}`);
                continue;
            }
            const d = maxDiff(us.rows, them);
            const tol = type === "f32" && (arch.startsWith("gemma") || arch === "starcoder2" || arch === "phi2") ? TOL_GELU_F32 : TOL[type];
            check(d < tol, `${name}: max |Δ log p| vs llama.cpp ${d.toExponential(2)} >= ${tol}`);
            // Greedy: llama.cpp's argmax at the last prompt position and after each generated token.
            const theirGreedy = [];
            let decided = 0;
            for (let i = prompt.length - 1; i < tokens.length - 1; i++) {
                const k = argmax(them[i]), sorted = Array.from(them[i]).sort((a, b) => b - a);
                const sure = type !== "q8_0" || sorted[0] - sorted[1] > 2 * d;
                theirGreedy.push(sure ? k : us.gen[theirGreedy.length]);
                decided += sure;
            }
            check(decided > 0 && theirGreedy.join(" ") === us.gen.join(" "),
                `${name}: greedy ${us.gen.join(" ")} vs llama.cpp ${theirGreedy.join(" ")} (${decided} decided steps)`);
            if (type === "f32") { ourF32[label] = us.rows; theirF32[label] = them; }
            summary.push(`${name}: max |Δ log p| ${d.toExponential(2)} (tol ${tol}), greedy ${us.gen.join(" ")}`);
            console.log(summary[summary.length - 1]);
        }
    }
    for (const [arch, , label = arch] of ARCHS.slice(1)) {
        // ernie4_5 is llama's layout under its own name: nothing to tell apart (llama.cpp loading
        // the file checks its names and shapes)
        if (!ourF32.llama || !theirF32[label] || arch === "ernie4_5") continue;
        const gap = maxDiff(ourF32.llama.slice(0, prompt.length), theirF32[label].slice(0, prompt.length));
        check(gap > 100 * TOL.f32, `control: our llama logits are within ${gap.toExponential(2)} of llama.cpp's ${label}`);
        console.log(`control: our llama vs llama.cpp's ${label} on the prompt: max |Δ log p| ${gap.toExponential(2)}`);
    }
    // The window matters: llama.cpp's gemma2 with a window longer than the prompt is far from ours with 8.
    const wide = join(tmp, "gemma2-wide.gguf");
    execFileSync(BIN, ["gguf", "synth", "--arch", "gemma2", ...base, ...ARCHS[3][1].slice(2), "--sliding-window", "4096",
        "-q", "-o", wide], { stdio: "inherit" });
    if (ourF32.gemma2) {
        const gap = maxDiff(ourF32.gemma2.slice(0, prompt.length), (await theirs(llama, wide, prompt, 512)));
        check(gap > 100 * TOL_GELU_F32, `control: gemma2 window 8 vs 4096 differ by only ${gap.toExponential(2)}`);
        console.log(`control: our gemma2 (window 8) vs llama.cpp's gemma2 (window 4096): max |Δ log p| ${gap.toExponential(2)}`);
    }
    // The routing matters: the same experts mixed 2 per token (llama.cpp) are far from ours with 3,
    // and a dense qwen3 of the same seed is far from both.
    const two = join(tmp, "qwen3moe-2.gguf");
    execFileSync(BIN, ["gguf", "synth", "--arch", "qwen3moe", ...base, "--experts", "8", "--experts-used", "2",
        "-q", "-o", two], { stdio: "inherit" });
    if (ourF32.qwen3moe && ourF32.qwen3) {
        const gap = maxDiff(ourF32.qwen3moe.slice(0, prompt.length), (await theirs(llama, two, prompt, 512)));
        check(gap > 100 * TOL.f32, `control: qwen3moe 3 vs 2 experts per token differ by only ${gap.toExponential(2)}`);
        console.log(`control: our qwen3moe (3 of 8 experts) vs llama.cpp's (2 of 8): max |Δ log p| ${gap.toExponential(2)}`);
    }
    // NoPE matters: our 4-layer llama (rotating every layer) is far from llama.cpp's smollm3 of the
    // same weights, which differs only in its 4th layer not rotating
    const l4 = join(tmp, "llama-4.gguf");
    execFileSync(BIN, ["gguf", "synth", "--arch", "llama", ...base, "--layers", "4", "-q", "-o", l4], { stdio: "inherit" });
    if (theirF32.smollm3) {
        const gap = maxDiff(ours(l4, 512).rows.slice(0, prompt.length), theirF32.smollm3.slice(0, prompt.length));
        check(gap > 100 * TOL.f32, `control: llama and smollm3 (NoPE layer) differ by only ${gap.toExponential(2)}`);
        console.log(`control: our llama (4 layers) vs llama.cpp's smollm3: max |Δ log p| ${gap.toExponential(2)}`);
    }
    // qwen3vl's interleaved M-RoPE leaves a text pair unturned: our qwen3 of the same weights and
    // RoPE base is far from llama.cpp's qwen3vl
    const q3 = join(tmp, "qwen3-theta20.gguf");
    execFileSync(BIN, ["gguf", "synth", "--arch", "qwen3", ...base, "--rope-theta", "20", "-q", "-o", q3], { stdio: "inherit" });
    if (theirF32.qwen3vl) {
        const gap = maxDiff(ours(q3, 512).rows.slice(0, prompt.length), theirF32.qwen3vl.slice(0, prompt.length));
        check(gap > 100 * TOL.f32, `control: qwen3 and qwen3vl (a still pair) differ by only ${gap.toExponential(2)}`);
        console.log(`control: our qwen3 vs llama.cpp's qwen3vl, RoPE base 20 (the unturned pair): max |Δ log p| ${gap.toExponential(2)}`);
    }
    // and each mixture is far from the dense arch it extends (same seed: same attention weights)
    // (and olmo2's window changes it)
    for (const [dense, moe] of [["qwen3", "qwen3moe"], ["granite", "granitemoe"], ["llama", "mixtral"],
        ["granitemoe", "granitemoe-shared"], ["qwen2", "qwen2moe"], ["olmo2", "olmo2-swa"]]) {
        if (!ourF32[dense] || !theirF32[moe]) continue;
        const gap = maxDiff(ourF32[dense].slice(0, prompt.length), theirF32[moe].slice(0, prompt.length));
        check(gap > 100 * TOL.f32, `control: ${dense} and ${moe} differ by only ${gap.toExponential(2)}`);
        console.log(`control: our ${dense} vs llama.cpp's ${moe} (what the latter adds): max |Δ log p| ${gap.toExponential(2)}`);
    }
} finally {
    if (llama) await llama.dispose();
    rmSync(tmp, { recursive: true, force: true });
}
if (failures) { console.log(`${failures} failures`); process.exit(1); }
console.log("arch llama.cpp: all checks passed");
