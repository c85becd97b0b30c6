// `rightsize serve` with the official `openai` npm client: the same calls made through the gateway
// (a local tier on a synthesized model) and directly against a standalone `rightsize worker` on the
// same model give the same results — completions and chat, streamed and not, with logprobs — and
// the gateway adds its x-rightsize-* headers. Errors come back in OpenAI's shape (the SDK raises
// them as APIError with the right status). Reuses tests/e2e/package.json's pinned client.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, check, finish, freePort, requirePinned, sleep, start as startCmd, tempDir } from './lib/harness.mjs';

const { OpenAI } = requirePinned('openai');
const tmp = tempDir('rs-serve-openai-');
const start = (args) => startCmd(BIN, args);
const waitHealth = async (url, p, what) => {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${url}/health`)).ok) return; } catch { /* not yet */ }
    if (i > 400 || p.exitCode !== null) { console.log(`${what} did not come up:\n${p.log}`); process.exit(1); }
    await sleep(50);
  }
};

const model = path.join(tmp, 'tiny.gguf');
execFileSync(BIN, ['gguf', 'synth', '--shape', 'tiny', '--type', 'q8_0', '--chat-template', 'chatml',
  '--init-std', '0.2', '--seed', '7', '-q', '-o', model]);
const wport = await freePort();
const worker = start(['worker', '-m', model, '--listen', `127.0.0.1:${wport}`, '-t', '1', '--served-model-name', 'tiny']);
await waitHealth(`http://127.0.0.1:${wport}`, worker, 'worker');
const cfg = path.join(tmp, 'p.yaml');
fs.writeFileSync(cfg, `tiers:\n  - {name: tiny, model: ${model}, cost_per_hour: 0.5}\nroutes:\n  - {match: {model: tiny}, tier: tiny}\n`);
const gport = await freePort();
const gw = start(['serve', cfg, '--listen', `127.0.0.1:${gport}`, '--telemetry', path.join(tmp, 't.jsonl')]);
await waitHealth(`http://127.0.0.1:${gport}`, gw, 'serve');
for (let i = 0; i < 400; i++) {   // the gateway answers /health at once; wait for its worker too
  const m = await (await fetch(`http://127.0.0.1:${gport}/metrics`)).text();
  if (m.includes('rightsize_replicas{tier="tiny",state="ready"} 1')) break;
  await sleep(50);
}
const direct = new OpenAI({ baseURL: `http://127.0.0.1:${wport}/v1`, apiKey: 'none' });
const viaGw = new OpenAI({ baseURL: `http://127.0.0.1:${gport}/v1`, apiKey: 'none' });

const calls = [
  ['completion', (c) => c.completions.create({ model: 'tiny', prompt: 'The quick brown', max_tokens: 12, temperature: 0 })
    .then((r) => JSON.stringify([r.choices[0].text, r.choices[0].finish_reason, r.usage]))],
  ['completion+logprobs', (c) => c.completions.create({ model: 'tiny', prompt: 'Once upon', max_tokens: 6, temperature: 0, logprobs: 2 })
    .then((r) => JSON.stringify([r.choices[0].text, r.choices[0].logprobs.tokens, r.choices[0].logprobs.token_logprobs.map((x) => x.toFixed(4))]))],
  ['chat', (c) => c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 10, temperature: 0 })
    .then((r) => JSON.stringify([r.choices[0].message.content, r.choices[0].finish_reason, r.usage]))],
  ['chat stream', async (c) => {
    const s = await c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Count' }], max_tokens: 10,
      temperature: 0, stream: true, stream_options: { include_usage: true } });
    let t = ''; let usage = null;
    for await (const ch of s) { t += ch.choices[0]?.delta?.content ?? ''; if (ch.usage) usage = ch.usage; }
    return JSON.stringify([t, usage]);
  }],
  ['completion stream', async (c) => {
    const s = await c.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 8, temperature: 0, stream: true });
    let t = ''; for await (const ch of s) t += ch.choices[0]?.text ?? '';
    return t;
  }],
];
for (const [name, f] of calls) {
  const [a, b] = [await f(direct), await f(viaGw)];
  check(a === b, `${name}: gateway ${b} != worker ${a}`);
}
// headers through the SDK's raw response
const { response } = await viaGw.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 2 }).withResponse();
check(response.headers.get('x-rightsize-tier') === 'tiny', 'x-rightsize-tier header');
check(Number(response.headers.get('x-rightsize-cost-usd')) > 0, 'x-rightsize-cost-usd header');
check(response.headers.get('x-rightsize-queue-ms') !== null, 'x-rightsize-queue-ms header');
// errors: an unknown model has no route (404); a bad field is the worker's 400 passed through
for (const [body, status] of [[{ model: 'nope', prompt: 'x' }, 404], [{ model: 'tiny', prompt: 'x', max_tokens: -3 }, 400]]) {
  try {
    await viaGw.completions.create(body);
    check(false, `expected ${status} for ${JSON.stringify(body)}`);
  } catch (e) {
    check(e.status === status && typeof e.message === 'string', `error ${e.status} (want ${status}): ${e.message}`);
  }
}
// telemetry against what the client received (docs/telemetry.md): a stream without
// include_usage still records the backend's exact usage; the client sees no usage chunk; the
// model's quantization comes from its GGUF header and its digest is the file's sha256.
const telPath = path.join(tmp, 't.jsonl');
const ref = await viaGw.completions.create({ model: 'tiny', prompt: 'Tell me', max_tokens: 12, temperature: 0 });
const s2 = await viaGw.completions.create({ model: 'tiny', prompt: 'Tell me', max_tokens: 12, temperature: 0, stream: true });
let chunks = 0; let sawUsage = false; let text = '';
for await (const ch of s2) { chunks++; if (ch.usage) sawUsage = true; text += ch.choices[0]?.text ?? ''; }
check(!sawUsage && chunks >= 1, `${chunks} chunks, no usage chunk for a client that did not ask for it`);
check(text === ref.choices[0].text, 'streamed text equals the plain answer');
await sleep(100);
const recs = fs.readFileSync(telPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const last = recs[recs.length - 1];
const digest = 'sha256:' + (await import('node:crypto')).createHash('sha256').update(fs.readFileSync(model)).digest('hex');
check(last.schema === 'rightsize.telemetry/2', `schema ${last.schema}`);
check(last.output_tokens === ref.usage.completion_tokens && last.prompt_tokens === ref.usage.prompt_tokens
  && last.usage_source === 'backend', `streamed record's usage ${last.prompt_tokens}/${last.output_tokens} `
  + `(${last.usage_source}) = the client's ${ref.usage.prompt_tokens}/${ref.usage.completion_tokens}`);
check(last.finish_reason === ref.choices[0].finish_reason, `finish_reason ${last.finish_reason}`);
check(last.ttft_ms > 0 && last.ttft_ms <= last.e2e_ms, `ttft_ms ${last.ttft_ms} within e2e ${last.e2e_ms}`);
check(last.batch_size >= 1, `batch_size reported by the worker: ${last.batch_size}`);
check(last.quantization === 'q8_0', `quantization from the GGUF header: ${last.quantization}`);
check(last.model_digest === digest, `model_digest ${last.model_digest} = sha256 of the file`);
const prev = recs[recs.length - 2];
check(prev.output_tokens === ref.usage.completion_tokens && prev.stream === false, 'plain answer record');
const metricsText = await (await fetch(`http://127.0.0.1:${gport}/metrics`)).text();
const gen = Number((metricsText.match(/^rightsize_generation_tokens_total\{tier="tiny"\} (\S+)$/m) || [])[1]);
const sumTel = recs.filter((r) => r.tier === 'tiny' && r.output_tokens > 0).reduce((a, r) => a + r.output_tokens, 0);
check(gen === sumTel, `generation_tokens_total ${gen} = the records' output tokens ${sumTel}`);
process.kill(gw.pid, 'SIGTERM');
const code = await new Promise((r) => gw.on('exit', (c) => r(c)));
check(code === 0, `serve exit code ${code}`);
finish('serve_openai');
