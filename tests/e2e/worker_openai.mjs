// `rightsize worker` end to end with the official `openai` npm client: completions and chat,
// streamed and not, logprobs, stop sequences, seeds, errors — checked against an independent
// truth: `rightsize run --temp 0` (the single-sequence CLI path) for the same prompt must give
// exactly the text the server returns, also when 8 requests run batched together.
// Installs the pinned client (tests/e2e/package.json + lock) into tests/e2e/node_modules if missing.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { BIN, check, fail, failed, finish, freePort, requirePinned, start, tempDir, waitHttp } from './lib/harness.mjs';

const { OpenAI } = requirePinned('openai');
const tmp = tempDir('rs-worker-openai-');

// ---- a model and a worker ----
const model = path.join(tmp, 'tiny.gguf');
// --init-std 0.2 makes the random model's distributions peaked, so greedy choices have margins.
execFileSync(BIN, ['gguf', 'synth', '--shape', 'tiny', '--type', 'q8_0', '--chat-template', 'chatml',
  '--init-std', '0.2', '--seed', '7', '-q', '-o', model]);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const worker = start(BIN, ['worker', '-m', model, '--listen', `127.0.0.1:${port}`, '-t', '1',
  '--max-num-seqs', '8', '--served-model-name', 'tiny'], { stdio: ['ignore', 'inherit', 'pipe'] });
await waitHttp(`${base}/health`, worker, 'worker');

// ---- the reference: rightsize run, greedy, one sequence ----
const decoder = new TextDecoder('utf-8');  // replaces invalid bytes the way the server does
const ref = (prompt, n) => {
  const out = execFileSync(BIN, ['run', '-m', model, '-p', prompt, '-n', String(n), '--temp', '0', '-t', '1'],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  return decoder.decode(out.subarray(0, out.length - 1));  // run ends with "\n"
};
const chatml = (msgs) => msgs.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') +
  '<|im_start|>assistant\n';

const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30000 });
const N = 16;

// Models.
const models = await client.models.list();
check(models.data.length === 1 && models.data[0].id === 'tiny', `models: ${JSON.stringify(models.data)}`);

// Completions, one at a time, greedy: exactly run's text.
const prompts = ['Hello world', 'The quick brown fox', 'Once upon a time', '1 2 3 4'];
const refs = {};
for (const p of prompts) {
  refs[p] = ref(p, N);
  const r = await client.completions.create({ model: 'tiny', prompt: p, max_tokens: N, temperature: 0 });
  check(r.choices[0].text === refs[p], `completion '${p}': ${JSON.stringify(r.choices[0].text)} != run ${JSON.stringify(refs[p])}`);
  check(r.usage.prompt_tokens > 0 && r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens,
    `usage ${JSON.stringify(r.usage)}`);
  check(['length', 'stop'].includes(r.choices[0].finish_reason), `finish_reason ${r.choices[0].finish_reason}`);
}

// The same prompts and chats, all at once: continuous batching must not change any answer.
const chatMsgs = [[{ role: 'user', content: 'Hi there' }],
  [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2+2?' }]];
const chatRefs = chatMsgs.map((m) => ref(chatml(m), N));
const together = await Promise.all([
  ...prompts.map((p) => client.completions.create({ model: 'tiny', prompt: p, max_tokens: N, temperature: 0 })
    .then((r) => [r.choices[0].text, refs[p], p])),
  ...chatMsgs.map((m, i) => client.chat.completions.create({ model: 'tiny', messages: m, max_tokens: N, temperature: 0 })
    .then((r) => [r.choices[0].message.content, chatRefs[i], `chat ${i}`])),
  ...prompts.slice(0, 2).map((p) => client.completions.create({ model: 'tiny', prompt: p, max_tokens: N, temperature: 0, stream: true })
    .then(async (s) => { let t = ''; for await (const c of s) t += c.choices[0]?.text ?? ''; return [t, refs[p], `stream ${p}`]; })),
]);
for (const [got, want, what] of together) check(got === want, `batched ${what}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);

// Streamed completion with usage and logprobs.
{
  const p = prompts[0];
  const s = await client.completions.create({ model: 'tiny', prompt: p, max_tokens: N, temperature: 0, stream: true,
    logprobs: 2, stream_options: { include_usage: true } });
  let text = '', nTok = 0, finish = null, usage = null;
  for await (const c of s) {
    if (c.usage) usage = c.usage;
    const ch = c.choices[0];
    if (!ch) continue;
    text += ch.text;
    if (ch.logprobs) nTok += ch.logprobs.tokens.length;
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  check(text === refs[p], `stream text ${JSON.stringify(text)} != ${JSON.stringify(refs[p])}`);
  check(finish !== null, 'stream: no finish_reason');
  check(usage && usage.completion_tokens === nTok, `stream usage ${JSON.stringify(usage)} vs ${nTok} logprob tokens`);
}

// Chat with logprobs: shapes, ranges, and greedy picks the most likely token.
{
  const r = await client.chat.completions.create({ model: 'tiny', messages: chatMsgs[0], max_tokens: N, temperature: 0,
    logprobs: true, top_logprobs: 3 });
  const ch = r.choices[0];
  check(ch.message.role === 'assistant' && ch.message.content === chatRefs[0], `chat content ${JSON.stringify(ch.message.content)}`);
  const lp = ch.logprobs?.content ?? [];
  check(lp.length === r.usage.completion_tokens, `chat logprobs ${lp.length} entries for ${r.usage.completion_tokens} tokens`);
  for (const e of lp) {
    check(e.top_logprobs.length === 3, `top_logprobs length ${e.top_logprobs.length}`);
    check(e.logprob <= 0 && Array.isArray(e.bytes), `entry ${JSON.stringify(e)}`);
    const tops = e.top_logprobs.map((t) => t.logprob);
    check(tops[0] >= tops[1] && tops[1] >= tops[2], `tops not sorted: ${tops}`);
    check(Math.abs(e.logprob - tops[0]) < 1e-6, `greedy token logprob ${e.logprob} is not the max ${tops[0]}`);
    check(tops.reduce((a, x) => a + Math.exp(x), 0) <= 1 + 1e-5, `probabilities sum above 1: ${tops}`);
  }
  // Streamed chat gives the same text; the first chunk carries the role.
  const s = await client.chat.completions.create({ model: 'tiny', messages: chatMsgs[0], max_tokens: N, temperature: 0, stream: true });
  let text = '', role = null;
  for await (const c of s) { role ??= c.choices[0]?.delta?.role; text += c.choices[0]?.delta?.content ?? ''; }
  check(role === 'assistant' && text === chatRefs[0], `chat stream ${JSON.stringify(text)} role ${role}`);
}

// Stop sequences: cut where the stop string begins (it may span tokens), streamed or not.
{
  const full = refs[prompts[1]];
  let at = -1;
  for (let i = 2; i + 3 <= full.length; i++) if (/^[\x20-\x7e]{3}$/.test(full.slice(i, i + 3))) { at = i; break; }
  if (at < 0) fail(`no ASCII window in ${JSON.stringify(full)} to use as a stop string`);
  else {
    const stop = full.slice(at, at + 3), want = full.slice(0, full.indexOf(stop));
    const r = await client.completions.create({ model: 'tiny', prompt: prompts[1], max_tokens: N, temperature: 0, stop: [stop] });
    check(r.choices[0].text === want && r.choices[0].finish_reason === 'stop',
      `stop ${JSON.stringify(stop)}: ${JSON.stringify(r.choices[0].text)} (${r.choices[0].finish_reason}) != ${JSON.stringify(want)}`);
    const s = await client.completions.create({ model: 'tiny', prompt: prompts[1], max_tokens: N, temperature: 0, stop, stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.text ?? '';
    check(text === want, `streamed stop: ${JSON.stringify(text)} != ${JSON.stringify(want)}`);
  }
}

// Seeds: the same seed gives the same sample.
{
  const ask = (seed) => client.completions.create({ model: 'tiny', prompt: 'Sample', max_tokens: 12, temperature: 1.0,
    top_p: 0.95, seed }).then((r) => r.choices[0].text);
  const [a, b] = [await ask(42), await ask(42)];
  check(a === b, `seed 42 twice: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
}

// Errors in OpenAI's shape, surfaced as the client's typed errors.
const expectError = async (what, fn, status, param, code) => {
  try { await fn(); fail(`${what}: no error`); } catch (e) {
    check(e.status === status, `${what}: status ${e.status}, wanted ${status} (${e.message})`);
    if (param !== undefined) check(e.param === param, `${what}: param ${e.param}, wanted ${param}`);
    if (code !== undefined) check(e.code === code, `${what}: code ${e.code}, wanted ${code}`);
  }
};
await expectError('max_tokens 0', () => client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 0 }), 400, 'max_tokens');
await expectError('n 2', () => client.completions.create({ model: 'tiny', prompt: 'x', n: 2 }), 400, 'n');
await expectError('unknown model', () => client.completions.create({ model: 'gpt-9', prompt: 'x' }), 404, 'model', 'model_not_found');
await expectError('context', () => client.completions.create({ model: 'tiny', prompt: 'word '.repeat(400), max_tokens: 4 }),
  400, 'prompt', 'context_length_exceeded');
await expectError('max_tokens overflow', () => client.chat.completions.create({ model: 'tiny', messages: chatMsgs[0], max_tokens: 1000 }),
  400, 'max_tokens', 'context_length_exceeded');

// Timing headers and the timings object.
{
  const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: 4 }) });
  const body = await res.json();
  const q = Number(res.headers.get('x-rightsize-queue-ms')), t = Number(res.headers.get('x-rightsize-ttft-ms'));
  check(res.status === 200 && q >= 0 && t >= q, `timing headers queue ${q} ttft ${t}`);
  check(body.timings && body.timings.predicted_n === body.usage.completion_tokens && body.timings.ttft_ms >= body.timings.queue_ms,
    `timings ${JSON.stringify(body.timings)}`);
}

// Drain and exit 0.
worker.kill('SIGTERM');
const code = await worker.exited;
check(code === 0, `worker exit code ${code} after SIGTERM`);
if (failed()) console.log(`worker log:\n${worker.log.slice(-2000)}`);
finish('worker_openai');
