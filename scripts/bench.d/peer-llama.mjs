// peer-llama.mjs — the llama.cpp peer measured through its Node binding (node-llama-cpp), CPU only.
//
//   NODE_PATH=/tmp/rs-peer/node_modules node scripts/bench.d/peer-llama.mjs \
//       --model FILE --prompt-tokens 128 --gen 64 --threads 1
//
// Loads FILE with gpuLayers 0, evaluates a prompt of N fixed token ids (prefill), then generates
// M tokens greedily one at a time (decode at depth N, EOS ignored: the generator is simply driven
// M steps). Prints one JSON line on stdout: {"prompt_tps":..,"gen_tps":..,"prompt_ms":..,"gen_ms":..}.
// Used by scripts/bench.d/20-engine at 1 thread; at 2 threads llama-bench is the fairer peer.
import { createRequire } from "node:module";
import path from "node:path";

function arg(name, def) {
    const i = process.argv.indexOf(name);
    if (i < 0) {
        if (def === undefined) {
            console.error(`peer-llama: missing ${name} (usage: --model FILE --prompt-tokens N --gen M --threads T)`);
            process.exit(2);
        }
        return def;
    }
    return process.argv[i + 1];
}

const modelPath = path.resolve(arg("--model"));
const nPrompt = parseInt(arg("--prompt-tokens", "128"), 10);
const nGen = parseInt(arg("--gen", "64"), 10);
const threads = parseInt(arg("--threads", "1"), 10);
if (!(nPrompt > 0 && nGen > 0 && threads > 0)) {
    console.error("peer-llama: --prompt-tokens, --gen and --threads must be positive integers");
    process.exit(2);
}

// Resolve the package from NODE_PATH (/tmp/rs-peer/node_modules), never from the repo.
const require = createRequire(path.join(process.env.NODE_PATH || "/tmp/rs-peer/node_modules", "x.js"));
const { getLlama, LlamaLogLevel } = await import(require.resolve("node-llama-cpp"));

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const context = await model.createContext({
    contextSize: nPrompt + nGen + 16,
    batchSize: Math.max(nPrompt, 32),
    threads: { ideal: threads, min: threads },
});
const seq = context.getSequence();

// Fixed ordinary token ids (no BOS/EOS/control tokens), the same every run.
const vocab = model.tokens.trimmedLength ?? 32000;
const prompt = [];
for (let i = 0; i < nPrompt; i++) prompt.push(100 + ((i * 7919) % Math.max(1, Math.min(vocab, 32000) - 200)));

let t0 = performance.now();
await seq.evaluateWithoutGeneratingNewTokens(prompt);
const promptMs = performance.now() - t0;

let count = 0;
t0 = performance.now();
for await (const tok of seq.evaluate([prompt[nPrompt - 1]], { temperature: 0 })) {
    void tok;
    if (++count >= nGen) break;
}
const genMs = performance.now() - t0;

console.log(JSON.stringify({
    prompt_tps: nPrompt / (promptMs / 1000), gen_tps: nGen / (genMs / 1000),
    prompt_ms: promptMs, gen_ms: genMs, threads,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
