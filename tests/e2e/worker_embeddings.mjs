// `rightsize worker` on an embedding model, end to end with the official `openai` npm client:
// /v1/embeddings with a string, an array of strings, token ids, float and base64 (the client's
// default) encodings, 12 concurrent requests batched into shared encoder passes — every vector
// checked against an independent path, `rightsize gguf embed` (one input per pass, no HTTP, no
// batching) — plus usage, errors naming the field, and the refusal of completions (and, on a
// generation worker, of embeddings). Installs the pinned client into tests/e2e/node_modules.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { BIN, ROOT, check, failed, finish, freePort, requirePinned, start as startCmd, tempDir, waitHttp }
  from './lib/harness.mjs';

const { OpenAI } = requirePinned('openai');
const tmp = tempDir('rs-worker-embed-');
setTimeout(() => { console.log('timed out'); process.exit(1); }, 90000).unref();

const start = async (model, name) => {
  const port = await freePort();
  const w = startCmd(BIN, ['worker', '-m', model, '--listen', `127.0.0.1:${port}`, '-t', '1', '--served-model-name', name],
    { stdio: ['ignore', 'inherit', 'pipe'] });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`, w, 'worker');
  return { w, base };
};

const VOCAB = path.join(ROOT, 'tests/data/vocab/ggml-vocab-bert-bge.gguf');
const model = path.join(tmp, 'bert.gguf');
execFileSync(BIN, ['gguf', 'synth', '--arch', 'bert', '--pooling', 'cls', '--qk-scale', '8', '--vocab-from', VOCAB,
  '-q', '-o', model]);
const texts = ['hello world', 'The quick brown fox jumps over the lazy dog.', 'embeddings, batched', 'a', 'b c d e f g',
  'rightsize serves bge-small on a CPU'];
const ref = execFileSync(BIN, ['gguf', 'embed', model, ...texts], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l));
const maxDiff = (a, b) => a.length !== b.length ? Infinity : Math.max(...a.map((x, i) => Math.abs(x - b[i])));
// Each vector is computed in float32 by the same kernels whether alone or batched; rows of a
// product are independent, so only the printing (9 significant digits) separates them.
const TOL = 1e-6;

const { w, base } = await start(model, 'emb');
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30000 });

// One string, float.
let r = await client.embeddings.create({ model: 'emb', input: texts[0], encoding_format: 'float' });
check(r.object === 'list' && r.data.length === 1 && r.data[0].index === 0 && r.model === 'emb', `shape ${JSON.stringify(r).slice(0, 200)}`);
check(maxDiff(r.data[0].embedding, ref[0].embedding) < TOL, `string: differs from gguf embed by ${maxDiff(r.data[0].embedding, ref[0].embedding)}`);
check(r.usage.prompt_tokens === ref[0].tokens && r.usage.total_tokens === ref[0].tokens, `usage ${JSON.stringify(r.usage)}, want ${ref[0].tokens}`);

// An array of strings, base64 (the client's default encoding, decoded by the client).
r = await client.embeddings.create({ model: 'emb', input: texts });
check(r.data.length === texts.length, `${r.data.length} vectors for ${texts.length} inputs`);
r.data.forEach((d, i) => check(d.index === i && maxDiff(d.embedding, ref[i].embedding) < TOL, `array/base64 input ${i}: differs by ${maxDiff(d.embedding, ref[i].embedding)}`));
const want = ref.reduce((s, x) => s + x.tokens, 0);
check(r.usage.prompt_tokens === want, `usage ${r.usage.prompt_tokens}, want ${want}`);

// Token ids, as gguf tokenize gives them (with [CLS] and [SEP]).
const ids = execFileSync(BIN, ['gguf', 'tokenize', model, texts[1]], { encoding: 'utf8' }).match(/\d+/g).map(Number);
r = await client.embeddings.create({ model: 'emb', input: ids, encoding_format: 'float' });
check(maxDiff(r.data[0].embedding, ref[1].embedding) < TOL, `token ids: differ by ${maxDiff(r.data[0].embedding, ref[1].embedding)}`);
r = await client.embeddings.create({ model: 'emb', input: [ids, ids.slice(0, 3)], encoding_format: 'float' });
check(r.data.length === 2 && maxDiff(r.data[0].embedding, ref[1].embedding) < TOL, 'arrays of token ids');

// 12 concurrent requests: the encoder batches what waits; every answer still equals the reference.
const all = await Promise.all(Array.from({ length: 12 }, (_, k) =>
  client.embeddings.create({ model: 'emb', input: [texts[k % texts.length], texts[(k + 1) % texts.length]] })));
all.forEach((res, k) => {
  check(maxDiff(res.data[0].embedding, ref[k % texts.length].embedding) < TOL &&
        maxDiff(res.data[1].embedding, ref[(k + 1) % texts.length].embedding) < TOL, `concurrent request ${k} differs`);
});

// Errors: 400 naming the field.
const err = async (body, status, param, url = '/v1/embeddings') => {
  const res = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await res.json();
  check(res.status === status && (param === undefined || j.error?.param === param), `${JSON.stringify(body)} → ${res.status} ${JSON.stringify(j)}`);
  return j;
};
await err({ model: 'emb' }, 400, 'input');
await err({ input: 5 }, 400, 'input');
await err({ input: [] }, 400, 'input');
await err({ input: [[]] }, 400, 'input');
await err({ input: [1.5] }, 400, 'input');
await err({ input: [99999999] }, 400, 'input');
await err({ input: 'x '.repeat(300) }, 400, 'input');
await err({ input: 'x', encoding_format: 'int8' }, 400, 'encoding_format');
await err({ input: 'x', model: 'other' }, 404, 'model');
let j = await err({ prompt: 'hi' }, 400, null, '/v1/completions');
check(/embedding model/.test(j.error?.message), `completions refusal says why: ${j.error?.message}`);
await err({ messages: [{ role: 'user', content: 'hi' }] }, 400, null, '/v1/chat/completions');

// rightsize bench drives the endpoint too (--endpoint embeddings).
const bench = execFileSync(BIN, ['bench', '--url', `${base}/v1`, '--endpoint', 'embeddings', '--model', 'emb',
  '--concurrency', '2', '--requests', '6', '--input-tokens', '8'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
check(/completed 6, ok 6, errors 0/.test(bench), `bench: ${bench.slice(0, 400)}`);

// A generation worker refuses embeddings, and says so.
const llama = path.join(tmp, 'tiny.gguf');
execFileSync(BIN, ['gguf', 'synth', 'tiny', '-q', '-o', llama]);
const g = await start(llama, 'tiny');
const res = await fetch(`${g.base}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input: 'hi' }) });
j = await res.json();
check(res.status === 400 && /generation model/.test(j.error?.message), `generation worker: ${res.status} ${JSON.stringify(j)}`);

for (const p of [w, g.w]) p.kill('SIGTERM');
check((await w.exited) === 0 && (await g.w.exited) === 0, 'workers exit 0 after SIGTERM');
if (failed()) console.log(`worker log:\n${w.log.slice(-2000)}`);
finish('worker_embeddings');
