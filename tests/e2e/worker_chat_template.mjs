// The worker renders a model's own chat template (tokenizer.chat_template) with the built-in
// Jinja interpreter: a tiny model synthesized on the real Qwen2 vocabulary (whose template adds
// a default system block when the request has none) must answer a chat exactly as
// `rightsize run` answers the prompt @huggingface/jinja (the reference) renders for it, and
// report as many prompt tokens as `gguf tokenize` counts in that text. Installs the pinned
// packages (tests/e2e/package.json + lock) into tests/e2e/node_modules if missing.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { BIN, ROOT, check, failed, freePort, importPinned, start, tempDir, waitHttp } from './lib/harness.mjs';

const VOCAB = path.join(ROOT, 'tests/data/vocab/ggml-vocab-qwen2.gguf');
const { Template } = await importPinned('@huggingface/jinja');
const tmp = tempDir('rs-worker-chat-');

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
const worker = start(BIN, ['worker', '-m', model, '--listen', `127.0.0.1:${port}`, '-t', '1', '--served-model-name', 'q'],
  { stdio: ['ignore', 'inherit', 'pipe'] });
await waitHttp(`${base}/health`, worker, 'worker');
const log = worker.log;
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
if (failed()) process.exit(1);
console.log('worker chat template: the model\'s own template, as the reference renders it');
process.exit(0);
