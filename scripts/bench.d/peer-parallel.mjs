// peer-parallel.mjs — the llama.cpp peer of the worker bench: node-llama-cpp (llama.cpp's Node
// binding, CPU only) generating on C sequences of one context at once, which llama.cpp batches
// into one decode per step, as its server does with --parallel C.
//
//   NODE_PATH=/tmp/rs-peer/node_modules node scripts/bench.d/peer-parallel.mjs \
//       --model FILE --streams C --prompt-tokens P --gen M --threads T
//
// Each sequence evaluates its own P fixed token ids, then is driven M greedy steps (EOS ignored).
// Prints one JSON line: {"streams":C,"tokens":C*M,"wall_ms":..,"agg_tps":..,"cpu_s":..,
// "tokens_per_cpu_s":..} where wall_ms runs from the first prompt evaluation to the last token of
// the last sequence, and cpu_s is the process's CPU time (all threads) over the same span.
import { createRequire } from "node:module";
import path from "node:path";

function arg(name, def) {
    const i = process.argv.indexOf(name);
    if (i < 0) {
        if (def === undefined) {
            console.error(`peer-parallel: missing ${name}`);
            process.exit(2);
        }
        return def;
    }
    return process.argv[i + 1];
}
const modelPath = path.resolve(arg("--model"));
const streams = parseInt(arg("--streams", "1"), 10);
const nPrompt = parseInt(arg("--prompt-tokens", "8"), 10);
const nGen = parseInt(arg("--gen", "32"), 10);
const threads = parseInt(arg("--threads", "2"), 10);

const require = createRequire(path.join(process.env.NODE_PATH || "/tmp/rs-peer/node_modules", "x.js"));
const { getLlama, LlamaLogLevel } = await import(require.resolve("node-llama-cpp"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const context = await model.createContext({
    contextSize: streams * (nPrompt + nGen + 16),
    sequences: streams,
    batchSize: Math.max(512, streams * nPrompt),
    threads: { ideal: threads, min: threads },
});

// The same ordinary token ids the worker bench sends (see 30-worker): 100 + (i*7919 + s*31) mod 31000.
const promptOf = (s) => Array.from({ length: nPrompt }, (_, i) => 100 + ((i * 7919 + s * 31) % 31000));
const seqs = Array.from({ length: streams }, () => context.getSequence());
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const counts = await Promise.all(seqs.map(async (seq, s) => {
    let n = 0;
    for await (const tok of seq.evaluate(promptOf(s), { temperature: 0 })) {
        void tok;
        if (++n >= nGen) break;
    }
    return n;
}));
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;  // every thread of the process, llama.cpp's included
const tokens = counts.reduce((a, b) => a + b, 0);
console.log(JSON.stringify({ streams, tokens, wall_ms: wallMs, agg_tps: (tokens * 1000) / wallMs, cpu_s: cpuS,
    tokens_per_cpu_s: tokens / cpuS }));
await context.dispose();
await model.dispose();
await llama.dispose();
