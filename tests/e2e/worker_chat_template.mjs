// The worker renders a model's own chat template (tokenizer.chat_template) with the built-in
// Jinja interpreter: a tiny model synthesized on the real Qwen2 vocabulary (whose template adds
// a default system block when the request has none) must answer a chat exactly as
// `rightsize run` answers the prompt @huggingface/jinja (the reference) renders for it, and
// report as many prompt tokens as `gguf tokenize` counts in that text. Installs the pinned
// packages (tests/e2e/package.json + lock) into tests/e2e/node_modules if missing.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const BIN = process.env.RS_BIN ?? path.resolve('build/rightsize');
const ROOT = process.env.RS_ROOT ?? process.cwd();
const E2E = path.join(ROOT, 'tests/e2e');
const VOCAB = path.join(ROOT, 'tests/data/vocab/ggml-vocab-qwen2.gguf');
let failures = 0;
const check = (cond, msg) => { if (!cond) { failures++; console.log(`FAIL: ${msg}`); } };

if (!fs.existsSync(path.join(E2E, 'node_modules/@huggingface/jinja/package.json'))) {
  try {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--prefix', E2E], { stdio: 'inherit', timeout: 180000 });
  } catch (e) {
    console.log(`skip: cannot install the pinned @huggingface/jinja (${e.message}); is the npm registry reachable?`);
    process.exit(77);
  }
}
const { Template } = await import(createRequire(path.join(E2E, 'package.json')).resolve('@huggingface/jinja'));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-worker-chat-'));
let worker = null;
process.on('exit', () => {
  if (worker && worker.exitCode === null) worker.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

const model = path.join(tmp, 'qwen.gguf');
execFileSync(BIN, ['gguf', 'synth', '--shape', 'tiny', '--type', 'q8_0', '--vocab-from', VOCAB,
  '--init-std', '0.2', '--seed', '3', '-q', '-o', model]);
const info = execFileSync(BIN, ['gguf', 'info', model]).toString();
const m = info.match(/tokenizer\.chat_template[^\n]*/);
check(m !== null, 'the synthesized model carries the vocabulary\'s chat template');

// The template text for the reference, read straight from the vocabulary file's bytes (the key,
// its u32 type, its u64 length, the text).
const tmplText = execFileSync('node', ['-e', `
  const fs = require('fs'); const b = fs.readFileSync(process.argv[1]);
  const k = Buffer.from('tokenizer.chat_template'); const i = b.indexOf(k);
  const n = Number(b.readBigUInt64LE(i + k.length + 4));
  process.stdout.write(b.subarray(i + k.length + 12, i + k.length + 12 + n));`, VOCAB]).toString();
check(tmplText.includes('You are a helpful assistant'), 'the Qwen2 template has a default system block');
const render = (messages) => new Template(tmplText).render({ messages, add_generation_prompt: true,
  bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' });

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
worker = spawn(BIN, ['worker', '-m', model, '--listen', `127.0.0.1:${port}`, '-t', '1', '--served-model-name', 'q'],
  { stdio: ['ignore', 'inherit', 'pipe'] });
let log = '';
worker.stderr.on('data', (d) => { log += d; });
for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) })).ok) break; } catch { /* not up yet */ }
  if (i > 300 || worker.exitCode !== null) { console.log(`worker did not come up:\n${log}`); process.exit(1); }
  await sleep(50);
}
check(log.includes("chat template the model's own (Jinja)"), `worker log names the model's template: ${log}`);

const N = 12;
const decoder = new TextDecoder('utf-8');
for (const messages of [[{ role: 'user', content: 'Hi there' }],
  [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+2?' }],
  [{ role: 'user', content: 'One' }, { role: 'assistant', content: 'Two' }, { role: 'user', content: 'Three?' }]]) {
  const prompt = render(messages);
  const want = decoder.decode(execFileSync(BIN, ['run', '-m', model, '-p', prompt, '-n', String(N), '--temp', '0', '-t', '1'],
    { stdio: ['ignore', 'pipe', 'ignore'], timeout: 30000 })).replace(/\n$/, '');
  const count = execFileSync(BIN, ['gguf', 'tokenize', model, '--count', prompt], { timeout: 30000 }).toString().trim();
  const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'q', messages, max_tokens: N, temperature: 0 }), signal: AbortSignal.timeout(30000) });
  const j = await r.json();
  check(r.status === 200, `chat ${JSON.stringify(messages)}: status ${r.status} ${JSON.stringify(j)}`);
  if (r.status !== 200) continue;
  check(j.choices[0].message.content === want, `chat ${JSON.stringify(messages)}: ${JSON.stringify(j.choices[0].message.content)} != run ${JSON.stringify(want)}`);
  check(String(j.usage.prompt_tokens) === count, `prompt tokens ${j.usage.prompt_tokens} != ${count} of the reference prompt`);
}
if (failures) process.exit(1);
console.log('worker chat template: the model\'s own template, as the reference renders it');
process.exit(0);
