// Client keys, the `models:` map and per-key limits through `rightsize serve`, checked with the
// official `openai` npm client (its error classes are the truth for OpenAI's error shapes):
// /v1/models lists the public names a key may use; an unknown model is a 404 model_not_found; a
// missing or wrong key 401 invalid_api_key; a model the key may not use 403; requests per minute,
// tokens per minute and a daily USD budget (charged from the ledger: the backend reports its busy
// share) answer 429 with Retry-After; spend per key is in /metrics, GET /admin/keys and the
// telemetry (by name: the secret appears nowhere); answers (plain and streamed) name the public
// model the client asked for, while the record keeps both. Loopback only; every process is stopped.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, E2E, check, failed, finish, requirePinned, sleep, start, tempDir, waitPortFile } from './lib/harness.mjs';

const { OpenAI } = requirePinned('openai');
const tmp = tempDir('rs-serve-keys-');

// A backend that reports 1 ms of busy time per answer: at $3600/h that is $0.001 a request.
const bpf = path.join(tmp, 'b.port');
const bport = await waitPortFile(bpf, start('/usr/bin/python3', [path.join(E2E, 'lib/fake_backend.py'), '--name', 'b',
  '--port-file', bpf, '--busy-ns', '1000000']), 'fake backend');
const sha = (s) => createHash('sha256').update(s).digest('hex');
const SECRETS = { a: 'sk-team-a-6f1d2c', b: 'sk-team-b-93ae0b', c: 'sk-team-c-11d0f7' };
const cfg = path.join(tmp, 'p.yaml');
fs.writeFileSync(cfg, `tiers:
  - {name: small, url: "http://127.0.0.1:${bport}/v1", model: m-small, cost_per_hour: 3600}
  - {name: big, url: "http://127.0.0.1:${bport}/v1", model: m-big, cost_per_hour: 3600}
routes:
  - {name: chat, match: {endpoint: chat}, tier: small}
  - {name: large, match: {endpoint: chat}, tier: big}
models: {support-bot: chat, big-bot: large}
keys_file: ${path.join(tmp, 'keys.yaml')}
`);
fs.writeFileSync(path.join(tmp, 'keys.yaml'), `keys:
  - {name: team-a, sha256: "${sha(SECRETS.a)}", models: [support-bot], budget_usd: {day: 0.0025}}
  - {name: team-b, sha256: "${sha(SECRETS.b)}", rpm: 2}
  - {name: team-c, sha256: "${sha(SECRETS.c)}", tpm: 10}
`);
// serve --check validates the map: an unknown route is named with its file, line and key
fs.writeFileSync(path.join(tmp, 'bad.yaml'), fs.readFileSync(cfg, 'utf8').replace('big-bot: large', 'big-bot: larg'));
try {
  execFileSync(BIN, ['serve', '--check', path.join(tmp, 'bad.yaml')], { stdio: 'pipe' });
  check(false, 'serve --check accepts a models: map with an unknown route');
} catch (e) {
  const msg = e.stderr.toString();
  check(msg.includes("bad.yaml:7: key 'models.big-bot': unknown route 'larg' (routes: chat, large)"), `--check message: ${msg}`);
}

const pf = path.join(tmp, 'gw.port');
const tel = path.join(tmp, 't.jsonl');
const gw = start(BIN, ['serve', cfg, '--listen', '127.0.0.1:0', '--port-file', pf, '--telemetry', tel,
  '--admin-key', 'adm1n']);
const gport = await waitPortFile(pf, gw, 'serve');
const base = `http://127.0.0.1:${gport}`;
const client = (key) => new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
const A = client(SECRETS.a), B = client(SECRETS.b), C = client(SECRETS.c);
const ask = (c, model, content = 'hello there') =>
  c.chat.completions.create({ model, messages: [{ role: 'user', content }], max_tokens: 4 }).withResponse();
const fails = async (p) => { try { await p; return null; } catch (e) { return e; } };

// /v1/models: the public names each key may use
check(JSON.stringify((await A.models.list()).data.map((m) => m.id)) === '["support-bot"]', 'team-a lists support-bot only');
const bm = (await B.models.list()).data;
check(JSON.stringify(bm.map((m) => m.id)) === '["support-bot","big-bot"]' && bm[0].object === 'model',
  `team-b lists both: ${JSON.stringify(bm)}`);

// 401: no key, a wrong key
let e = await fails(client('sk-wrong').chat.completions.create({ model: 'support-bot', messages: [{ role: 'user', content: 'x' }] }));
check(e?.constructor?.name === 'AuthenticationError' && e.status === 401 && e.code === 'invalid_api_key', `wrong key: ${e}`);
const nokey = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: 'support-bot', messages: [{ role: 'user', content: 'x' }] }) });
const nk = await nokey.json();
check(nokey.headers.get('www-authenticate') === 'Bearer', 'a 401 says how to authenticate (WWW-Authenticate: Bearer)');
check(nokey.status === 401 && nk.error?.code === 'invalid_api_key' && nk.error?.type === 'invalid_request_error' && 'param' in nk.error,
  `no key: ${nokey.status} ${JSON.stringify(nk)}`);
e = await fails(client('sk-wrong').models.list());
check(e?.status === 401, `/v1/models needs a key: ${e}`);

// per-minute limits count in UTC minutes: run the rpm/tpm checks with 15 s of the minute ahead
if (Date.now() % 60000 > 45000) await sleep(60200 - (Date.now() % 60000));
// routing by model name: the map's route decides the tier
const rb = await ask(B, 'big-bot');
check(rb.response.headers.get('x-rightsize-tier') === 'big', `big-bot → big: ${rb.response.headers.get('x-rightsize-tier')}`);
// 404 for a model outside the map
e = await fails(ask(B, 'gpt-4o'));
check(e?.constructor?.name === 'NotFoundError' && e.code === 'model_not_found' && e.type === 'invalid_request_error', `unknown model: ${e}`);
// rpm 2: team-b has made one request this minute; one more passes, the next is refused
const rb2 = await ask(B, 'support-bot');
check(rb2.response.headers.get('x-rightsize-tier') === 'small', 'support-bot → small');
e = await fails(ask(B, 'support-bot'));
const ra = +(e?.headers?.get?.('retry-after') ?? 0);
check(e?.constructor?.name === 'RateLimitError' && e.code === 'rate_limit_exceeded' && e.type === 'requests' && ra >= 1 && ra <= 60,
  `rpm: ${e} retry-after ${ra}`);

// 403: a model the key may not use
e = await fails(ask(A, 'big-bot'));
check(e?.constructor?.name === 'PermissionDeniedError' && e.status === 403, `team-a on big-bot: ${e}`);

// a daily budget of $0.0025: three requests of $0.001 pass (spent 0, 0.001, 0.002 < 0.0025), the fourth is refused
for (let i = 0; i < 3; i++) {
  const r = await ask(A, 'support-bot');
  check(r.response.headers.get('x-rightsize-cost-usd') === '0.001000000', `cost header ${r.response.headers.get('x-rightsize-cost-usd')}`);
}
e = await fails(ask(A, 'support-bot'));
const raDay = +(e?.headers?.get?.('retry-after') ?? 0);
check(e?.constructor?.name === 'RateLimitError' && e.code === 'insufficient_quota' && raDay >= 1 && raDay <= 86400,
  `budget: ${e} retry-after ${raDay}`);

// tpm 10: the backend counts 2 prompt words + 3 generated = 5 tokens a request
await ask(C, 'support-bot');
await ask(C, 'support-bot');
e = await fails(ask(C, 'support-bot'));
check(e?.status === 429 && e.type === 'tokens' && e.code === 'rate_limit_exceeded', `tpm: ${e}`);

// spend per key: /metrics, the admin API, the telemetry
const metrics = await (await fetch(`${base}/metrics`)).text();
check(metrics.includes('rightsize_key_spend_usd_total{key="team-a"} 0.003'), 'metric key_spend_usd_total{team-a} = 0.003');
check(metrics.includes('rightsize_key_requests_total{key="team-b"} 2'), 'metric key_requests_total{team-b} = 2');
check(metrics.includes('rightsize_key_tokens_total{key="team-c"} 10'), 'metric key_tokens_total{team-c} = 10');
check(/rightsize_key_rejected_total\{key="team-a"\} 2/.test(metrics), 'metric key_rejected_total{team-a} = 2 (403 + budget)');
const adm = await (await fetch(`${base}/admin/keys`, { headers: { Authorization: 'Bearer adm1n' } })).json();
const ka = adm.keys.find((k) => k.name === 'team-a');
check(ka && Math.abs(ka.spend_day_usd - 0.003) < 1e-12 && ka.budget_day_usd === 0.0025 && ka.rpm === null,
  `admin keys: ${JSON.stringify(ka)}`);
const kb = adm.keys.find((k) => k.name === 'team-b');
check(kb && kb.requests_minute === 2 && kb.rpm === 2, `admin keys team-b: ${JSON.stringify(kb)}`);
// SIGHUP: a new key applies, and the counters of kept keys survive (team-a's budget stays spent)
fs.appendFileSync(path.join(tmp, 'keys.yaml'), `  - {name: team-d, sha256: "${sha('sk-team-d-0c4f')}"}\n`);
process.kill(gw.pid, 'SIGHUP');
let rd = null;
for (let i = 0; i < 100 && !rd; i++) { await sleep(50); rd = await ask(client('sk-team-d-0c4f'), 'big-bot').catch(() => null); }
check(rd && rd.response.status === 200, 'a key added by SIGHUP works');
// answers name the public model the client asked for, not the backend's (m-big / m-small):
// the plain answer and every chunk of a stream (the openai client reads chunk.model)
check(rb.data.model === 'big-bot' && rd.data.model === 'big-bot', `answer model: ${rb.data.model}, ${rd.data.model}`);
const st = await client('sk-team-d-0c4f').chat.completions.create({ model: 'support-bot', stream: true,
  messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
const chunkModels = [];
for await (const ch of st) chunkModels.push(ch.model);
check(chunkModels.length >= 1 && chunkModels.every((m) => m === 'support-bot'), `stream chunk models: ${chunkModels}`);
e = await fails(ask(A, 'support-bot'));
check(e?.code === 'insufficient_quota', `team-a's spend survives the reload: ${e}`);
process.kill(gw.pid, 'SIGTERM');
check(await gw.exited === 0, 'serve exits 0');
const recs = fs.readFileSync(tel, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const byKey = (k) => recs.filter((r) => r.key === k);
check(byKey('team-a').length === 6 && byKey('team-b').length === 4 && byKey('team-c').length === 3,
  `telemetry key names: ${recs.map((r) => r.key)}`);
const served = byKey('team-d');
check(served.length === 2 && served.every((r) => r.status === 200 && r.requested_model === (r.stream ? 'support-bot' : 'big-bot')
  && r.model === (r.stream ? 'm-small' : 'm-big')), `telemetry keeps both names: ${JSON.stringify(served.map((r) => [r.model, r.requested_model]))}`);
const spentA = byKey('team-a').reduce((s, r) => s + r.cost_busy_usd, 0);
check(Math.abs(spentA - 0.003) < 1e-12, `telemetry team-a spend ${spentA}`);
check(byKey('team-a').some((r) => r.status === 429 && r.reason === 'budget_day'), 'telemetry says why team-a was refused');
const everything = fs.readFileSync(tel, 'utf8') + gw.log + metrics + JSON.stringify(adm);
for (const s of Object.values(SECRETS)) check(!everything.includes(s), `secret ${s.slice(0, 8)}… never written`);

if (failed()) console.log(gw.log.slice(-3000));
finish('serve_keys');
