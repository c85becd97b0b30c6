// The BERT-family encoder against llama.cpp itself (through the npm package node-llama-cpp): for
// synthesized bert models (mean, CLS and last pooling) and a nomic-bert model, each input's
// embedding from `rightsize gguf embed` against llama.cpp's embedding context on the same text.
// Pass: cosine >= 0.9999 on F32 and on F16 weights (derivation below).
// node-llama-cpp is looked for in NODE_LLAMA_CPP_DIR, tests/e2e/, the repository root and
// $RS_PEER (default /tmp/rs-peer), and installed when tests/e2e/package.json pins it; skips (77)
// when there is no usable copy.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ROOT, importLlamaCpp } from "./lib/harness.mjs";

const { getLlama, LlamaLogLevel } = await importLlamaCpp();

// F32: both engines compute in float32; the differences are summation order, libm and ggml's GELU
// (a table over f16 inputs: up to 2^-11 relative per activation), far below 1e-4 of the angle.
// F16: llama.cpp also rounds each matmul's activations to f16 (2^-11 relative, ~5e-4) and we keep
// them in f32; over a few layers the vectors differ by ~1e-3 relative, 1 - cos ~ 5e-7 .. 1e-5
// at most; observed 2e-10 on this llama.cpp, whose CPU path converts F16 weights to f32 for these
// small products. 1e-4 bounds both and still catches any wrong operation (a wrong pooling, bias or
// norm gives cosines well under 0.99 on these random models).
const MIN_COS = { f32: 0.9999, f16: 0.9999 };
const VOCAB = join(ROOT, "tests", "data", "vocab", "ggml-vocab-bert-bge.gguf");
const TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog.",
    "Embeddings map text to vectors; similar texts get similar vectors.", "a"];

let failures = 0;
const tmp = mkdtempSync(join(tmpdir(), "rs-embed-llamacpp."));
try {
    let llama;
    try {
        llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    } catch (e) {
        console.log("node-llama-cpp has no usable prebuilt binary here (" + e.message + "): skipped");
        process.exit(77);
    }
    const models = [
        ["bert-mean-f32", ["--arch", "bert", "--pooling", "mean", "--qk-scale", "8"], "f32"],
        ["bert-cls-f32", ["--arch", "bert", "--pooling", "cls", "--layers", "3", "--qk-scale", "8"], "f32"],
        ["bert-last-f32", ["--arch", "bert", "--pooling", "last", "--dim", "96", "--heads", "3", "--ffn", "384"], "f32"],
        ["bert-mean-f16", ["--arch", "bert", "--pooling", "mean", "--type", "f16", "--qk-scale", "8"], "f16"],
        ["nomic-mean-f32", ["--arch", "nomic-bert", "--pooling", "mean", "--qk-scale", "8"], "f32"],
    ];
    for (const [name, args, type] of models) {
        const path = join(tmp, name + ".gguf");
        execFileSync(BIN, ["gguf", "synth", ...args, ...(type === "f16" ? [] : ["--type", type]), "--vocab-from", VOCAB,
            "-q", "-o", path], { stdio: "inherit" });
        const ours = execFileSync(BIN, ["gguf", "embed", path, ...TEXTS], { encoding: "utf8" })
            .trim().split("\n").map((l) => JSON.parse(l));
        const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
        const ctx = await model.createEmbeddingContext({ contextSize: 128, threads: 1 });
        let worst = 1;
        for (let i = 0; i < TEXTS.length; i++) {
            // llama.cpp tokenizes the text itself (adding [CLS] and [SEP]): the tokenizer is checked too.
            const ref = (await ctx.getEmbeddingFor(TEXTS[i])).vector;
            const a = ours[i].embedding;
            let dot = 0, na = 0, nb = 0;
            for (let k = 0; k < a.length; k++) { dot += a[k] * ref[k]; na += a[k] * a[k]; nb += ref[k] * ref[k]; }
            const cos = a.length === ref.length ? dot / Math.sqrt(na * nb) : 0;
            worst = Math.min(worst, cos);
            if (!(cos >= MIN_COS[type])) {
                failures++;
                console.log(`FAIL ${name}: "${TEXTS[i]}" cosine ${cos} < ${MIN_COS[type]} (dims ${a.length}/${ref.length})`);
            }
        }
        console.log(`${name}: worst cosine ${worst.toFixed(9)} (1 - cos = ${(1 - worst).toExponential(2)}) over ${TEXTS.length} inputs`);
        await ctx.dispose();
        await model.dispose();
    }
} finally {
    rmSync(tmp, { recursive: true, force: true });
}
if (failures) { console.log(`${failures} failure(s)`); process.exit(1); }
console.log("embed_llamacpp: ok");
