// A backend killed mid-stream, seen through the official `openai` npm client: the client gets
// the chunks sent so far, then a chunk whose finish_reason is "error", then the SDK raises the
// gateway's error event as an APIError — never a stream that looks finished. The gateway's
// telemetry says status 502 (HTTP 200) with the error. Backend: tests/e2e/lib/fake_stream_backend.py
// (one SSE event per token, 40 ms apart), killed with SIGKILL after the client saw 5 tokens.
import fs from 'node:fs';
import path from 'node:path';
import { BIN, E2E, check, finish as finishTest, freePort, requirePinned, sleep, start, tempDir, waitHttp,
  waitPortFile as waitFile } from './lib/harness.mjs';

const { OpenAI } = requirePinned('openai');
const tmp = tempDir('rs-stream-cut-');

const pf = path.join(tmp, 'b.port');
const backend = start('/usr/bin/python3', [path.join(E2E, 'lib/fake_stream_backend.py'), '--port-file', pf,
  '--tokens', '200', '--gap-ms', '40']);
const bport = await waitFile(pf, backend, 'stream backend');
const cfg = path.join(tmp, 'p.yaml');
fs.writeFileSync(cfg, `tiers:\n  - {name: b, url: "http://127.0.0.1:${bport}/v1", model: m, cost_per_hour: 1}\n`
  + 'routes:\n  - {match: {endpoint: chat}, tier: b}\n');
const gport = await freePort();
const tel = path.join(tmp, 't.jsonl');
const gw = start(BIN, ['serve', cfg, '--listen', `127.0.0.1:${gport}`, '--telemetry', tel]);
await waitHttp(`http://127.0.0.1:${gport}/health`, gw, 'serve');

const client = new OpenAI({ baseURL: `http://127.0.0.1:${gport}/v1`, apiKey: 'none', maxRetries: 0, timeout: 20000 });
const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'go' }],
  stream: true, max_tokens: 200 });
let tokens = 0; let finish = null; let raised = null;
try {
  for await (const ch of stream) {
    if (ch.choices[0]?.delta?.content) tokens++;
    if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
    if (tokens === 5 && backend.exitCode === null && backend.signalCode === null) process.kill(-backend.pid, 'SIGKILL');
  }
} catch (e) {
  raised = e;
}
check(tokens >= 5 && tokens < 200, `the client got the tokens sent before the kill (${tokens})`);
check(finish === 'error', `a chunk with finish_reason "error" before the error (got ${finish})`);
check(raised instanceof OpenAI.APIError, `the SDK raises the stream's error event as an APIError (${raised})`);
check(raised && /stream ended|partial|closed/i.test(raised.message), `its message says what happened: ${raised?.message}`);
await sleep(200);
const rec = fs.readFileSync(tel, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).pop();
check(rec.status === 502 && rec.http_status === 200 && rec.finish_reason === 'error' && rec.error,
  `telemetry: status ${rec.status}, http_status ${rec.http_status}, finish ${rec.finish_reason}, error ${rec.error}`);
process.kill(gw.pid, 'SIGTERM');
const code = await new Promise((r) => gw.on('exit', (c) => r(c)));
check(code === 0, `serve exit code ${code}`);
finishTest('serve_stream_cut');
