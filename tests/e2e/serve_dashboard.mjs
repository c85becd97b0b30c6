// The gateway's live dashboard (/dashboard) in headless Chromium (Debian `chromium`, the pinned
// npm `puppeteer-core`): the admin key is required (401 with a Basic challenge; the browser logs
// in with the key as password and its own fetches carry it), the page is the HTML file byte for
// byte and fetches nothing but the gateway, a screenshot is taken into the build folder, and after
// some traffic (a cascade that escalates, a canary split, cache hits) every figure on the page
// equals what this test computes from a /metrics scrape taken at the same moment (cost figures,
// which grow with idle time, lie between a scrape just before and one just after the page's).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, check, failed, requirePinned, start, tempDir, waitPortFile } from './lib/harness.mjs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
if (!CHROMIUM) { console.log('skip: no chromium (scripts/deps installs it)'); process.exit(77); }
const puppeteer = requirePinned('puppeteer-core');
const tmp = tempDir('rs-dash-');
let browser = null;
const timer = setTimeout(() => { console.log('FAIL: timed out'); if (browser) browser.process()?.kill('SIGKILL'); process.exit(1); }, 120000);

const fake = async (name, delay) => {
  const pf = path.join(tmp, `${name}.port`);
  const p = start('/usr/bin/python3', [path.join(ROOT, 'tests/e2e/lib/fake_backend.py'), '--name', name, '--port-file', pf,
    '--delay-ms', String(delay)]);
  return waitPortFile(pf, p, `fake ${name}`);
};
const [ps, pt, pc] = await Promise.all([fake('student', 5), fake('teacher', 20), fake('cand', 8)]);
const cfg = path.join(tmp, 'p.yaml');
fs.writeFileSync(cfg, `
slo: {ttft_p95_ms: 500, e2e_p95_ms: 40, e2e_p99_ms: 1000}
tiers:
  - {name: student, url: "http://127.0.0.1:${ps}/v1", model: s, cost_per_hour: 3600}
  - {name: teacher, url: "http://127.0.0.1:${pt}/v1", model: t, cost_per_hour: 7200}
  - {name: cand, url: "http://127.0.0.1:${pc}/v1", model: c, cost_per_hour: 1800}
routes:
  - {name: comp, match: {endpoint: completions}, cascade: {first: student, then: teacher, min_confidence: 0.5}}
  - {name: chat, match: {endpoint: chat}, tier: student}
canary:
  - {route: chat, baseline: student, candidate: cand, weight_percent: 50}
cache: {ttl_s: 600}
keys:
  - {name: team-a, sha256: "${crypto.createHash('sha256').update('k-team-a').digest('hex')}"}
  - {name: team-b, sha256: "${crypto.createHash('sha256').update('k-team-b').digest('hex')}"}
`);
const pf = path.join(tmp, 'gw.port');
const gw = start(BIN, ['serve', cfg, '--listen', '127.0.0.1:0', '--port-file', pf, '--admin-key', 's3cret', '--seed', '7']);
const port = await waitPortFile(pf, gw, 'rightsize serve');
const base = `http://127.0.0.1:${port}`;

// ---- auth ----
let r = await fetch(`${base}/dashboard`);
check(r.status === 401 && /Basic/.test(r.headers.get('www-authenticate') ?? ''), `no key: 401 with a Basic challenge (${r.status})`);
r = await fetch(`${base}/admin/dashboard.json`, { headers: { Authorization: 'Bearer nope' } });
check(r.status === 401, `wrong key: 401 (${r.status})`);
r = await fetch(`${base}/dashboard`, { headers: { Authorization: 'Bearer s3cret' } });
const served = await r.text();
check(r.status === 200 && served === fs.readFileSync(path.join(ROOT, 'src/serve/dashboard.html'), 'utf8'),
  'the page served is src/serve/dashboard.html (regenerate dashboard_page.c with scripts/gen_dashboard_page.py)');

// ---- traffic: cascades (the fake's answers carry no logprobs: every one escalates), chat split
// by the canary, repeats answered by the response cache ----
let nPost = 0;   // alternate the two client keys
const post = (p, body) => fetch(`${base}${p}`, { method: 'POST', body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json', Authorization: `Bearer k-team-${nPost++ % 2 ? 'b' : 'a'}` } });
const sent = [];
for (let i = 0; i < 12; i++) sent.push(post('/v1/completions', { prompt: `c${i}`, max_tokens: 4 }));
for (let i = 0; i < 20; i++) sent.push(post('/v1/chat/completions', { messages: [{ role: 'user', content: `m${i % 5}` }], temperature: 0 }));
for (const s of await Promise.all(sent)) { check(s.status === 200, `traffic answered (${s.status})`); await s.arrayBuffer(); }
for (let i = 0; i < 5; i++) {   // repeats: cache hits
  const s = await post('/v1/chat/completions', { messages: [{ role: 'user', content: `m${i}` }], temperature: 0 });
  await s.arrayBuffer();
}
await new Promise((res) => setTimeout(res, 300));   // one gateway tick publishes costs and the hour bucket

// ---- the page ----
const scrape = async () => (await fetch(`${base}/metrics`)).text();
function parse(text) {   // an independent reading of the text format
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const head = line.slice(0, sp), value = Number(line.slice(sp + 1));
    const br = head.indexOf('{');
    const name = br < 0 ? head : head.slice(0, br);
    const labels = {};
    if (br >= 0) for (const m of head.slice(br + 1, -1).matchAll(/(\w+)="([^"]*)"/g)) labels[m[1]] = m[2];
    out.push({ name, labels, value });
  }
  return out;
}
const total = (ms, n, f = () => true) => ms.filter((s) => s.name === n && f(s.labels)).reduce((a, s) => a + s.value, 0);
function hq(ms, n, q) {   // histogram_quantile over all tiers
  const cum = {};
  for (const s of ms.filter((x) => x.name === `${n}_bucket`)) cum[s.labels.le] = (cum[s.labels.le] ?? 0) + s.value;
  const les = Object.keys(cum).sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  const n_ = cum['+Inf'] ?? 0;
  if (!n_) return null;
  const rank = q * n_;
  let prevLe = 0, prevC = 0;
  for (const le of les) {
    if (cum[le] >= rank) {
      if (le === '+Inf') return prevLe;
      return cum[le] === prevC ? Number(le) : prevLe + (Number(le) - prevLe) * (rank - prevC) / (cum[le] - prevC);
    }
    prevLe = Number(le); prevC = cum[le];
  }
  return null;
}

try {
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  const page = await browser.newPage();
  await page.authenticate({ username: 'admin', password: 's3cret' });   // the Basic login a person types
  const foreign = [];
  page.on('request', (q) => { if (!q.url().startsWith(base)) foreign.push(q.url()); });
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(`${base}/dashboard`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.rsLast !== null, { timeout: 20000 });
  const s1 = parse(await scrape());
  await page.evaluate(() => window.rsRefresh());
  const s2 = parse(await scrape());
  const shotDir = process.env.RS_BUILD ?? tmp;
  const shot = path.join(shotDir, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  const png = fs.readFileSync(shot);
  check(png.length > 10000 && png.subarray(1, 4).toString() === 'PNG', `screenshot ${shot} is a real PNG`);
  check(foreign.length === 0, `self-contained (fetched ${foreign.join(', ')})`);
  const status = await page.$eval('#status', (e) => e.textContent);
  check(status.startsWith('updated'), `the page updated (${status})`);

  const figs = Object.fromEntries(await page.$$eval('[data-k]', (es) => es.map((e) => [e.dataset.k, [e.textContent, e.dataset.v ?? '']])));
  const same = (k, v, d) => check(figs[k] && figs[k][0] === (v === null ? '–' : v.toFixed(d)), `${k}: page '${figs[k]?.[0]}' vs /metrics ${v}`);
  const between = (k, a, b) => { const v = Number(figs[k]?.[1]); check(v >= Math.min(a, b) - 1e-12 && v <= Math.max(a, b) + 1e-12, `${k}: page ${v} within [${a}, ${b}]`); };
  const reqs = total(s2, 'rightsize_requests_total');
  check(reqs === 37 && total(s1, 'rightsize_requests_total') === reqs, `37 requests counted (${reqs})`);
  same('requests', reqs, 0);
  const cost = (s) => total(s, 'rightsize_cost_usd_total');
  between('cost_usd', cost(s1), cost(s2));
  between('cost_per_1k', 1000 * cost(s1) / reqs, 1000 * cost(s2) / reqs);
  same('busy_per_1k', 1000 * total(s2, 'rightsize_request_cost_usd_total') / reqs, 6);
  check(Number(figs.cost_per_1k[1]) > 0, 'the replicas cost something per 1K (remote fakes report no busy share: busy is 0)');
  for (const [k, n] of [['e2e', 'rightsize_e2e_request_latency_seconds'], ['ttft', 'rightsize_time_to_first_token_seconds']])
    for (const q of [50, 95, 99]) { const v = hq(s2, n, q / 100); same(`${k}_p${q}`, v === null ? null : v * 1000, 1); }
  same('slo_e2e_p95', 40, 0);
  same('slo_ttft_p95', 500, 0);
  check(figs.slo_ttft_p99[0] === '–', 'an SLO not set shows –');
  const e2eClass = await page.$eval('[data-k="e2e_p95"]', (e) => e.className);
  const p95 = hq(s2, 'rightsize_e2e_request_latency_seconds', 0.95) * 1000;
  check(e2eClass === (p95 <= 40 ? 'ok' : 'miss'), `e2e p95 ${p95} ms against its 40 ms SLO marked '${e2eClass}'`);
  same('queue', total(s2, 'rightsize_num_requests_waiting'), 0);
  same('running', total(s2, 'rightsize_num_requests_running'), 0);
  const ncas = total(s2, 'rightsize_routing_decisions_total', (l) => l.decision === 'cascade');
  check(ncas === 12, `12 cascade decisions (${ncas})`);
  same('escalation_pct', 100 * total(s2, 'rightsize_cascade_escalations_total') / ncas, 1);
  check(figs.escalation_pct[0] === '100.0', 'every cascade escalated');
  const hits = total(s2, 'rightsize_response_cache_hits_total'), misses = total(s2, 'rightsize_response_cache_misses_total');
  check(hits >= 5, `cache hits (${hits})`);
  same('cache_hit_pct', 100 * hits / (hits + misses), 1);

  const table = (id) => page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const reps = await table('replicas');
  for (const t of ['student', 'teacher', 'cand']) {
    const row = reps.find((x) => x[0] === t);
    const ready = total(s2, 'rightsize_replicas', (l) => l.tier === t && l.state === 'ready');
    check(row && row[1] === String(ready) && ready === 1, `replicas of ${t}: page ${row?.[1]} vs /metrics ${ready}`);
  }
  const decs = await table('decisions');
  const ndec = total(s2, 'rightsize_routing_decisions_total');
  for (const s of s2.filter((x) => x.name === 'rightsize_routing_decisions_total')) {
    const row = decs.find((x) => x[0] === s.labels.decision);
    check(row && row[1] === String(s.value) && row[2] === (100 * s.value / ndec).toFixed(1), `decision ${s.labels.decision}: ${row} vs ${s.value}`);
  }
  const tiers = await table('tiers');
  for (const s of s2.filter((x) => x.name === 'rightsize_e2e_request_latency_seconds_count')) {
    const row = tiers.find((x) => x[0] === s.labels.tier);
    check(row && row[1] === String(s.value), `answered by ${s.labels.tier}: ${row} vs ${s.value}`);
  }
  const cans = await table('canaries');
  const w = total(s2, 'rightsize_canary_weight_percent', (l) => l.route === 'chat');
  check(cans.length === 1 && cans[0][0] === 'chat' && cans[0][1] === 'cand' && cans[0][2] === w.toFixed(1) && cans[0][3] === 'live',
    `canary row ${JSON.stringify(cans)} vs weight ${w}`);
  const keySeries = s2.filter((x) => x.name === 'rightsize_key_spend_usd_total');
  const keys = await table('keys');
  check(keys.length === keySeries.length && keySeries.length === 2, `spend per key: ${keys.length} rows for ${keySeries.length} series`);
  for (const s of keySeries) check(keys.some((x) => x[0] === s.labels.key && x[1] === s.value.toFixed(6)), `key ${s.labels.key} spend`);
  if (!keySeries.length) check(await page.$eval('#keys-none', (e) => !e.hidden), 'no key spend: says so');

  // $/1K by hour: the bars are the JSON's hours; their requests add up to the ledger's
  const jf = await (await fetch(`${base}/admin/dashboard.json`, { headers: { 'x-admin-key': 's3cret' } })).json();
  check(jf.hours.reduce((a, h) => a + h.requests, 0) === 37, 'x-admin-key works; hours add up to 37 requests');
  const j = await page.evaluate(() => window.rsLast.json);   // what the page drew from
  check(j.hours.reduce((a, h) => a + h.requests, 0) === j.ledger.requests && j.ledger.requests === 37,
    `hourly requests add up to the ledger's ${j.ledger.requests}`);
  const bars = await page.$$eval('#hours rect', (rs) => rs.map((e) => Number(e.dataset.v)));
  check(bars.length === j.hours.length && bars.length >= 1, `one bar per hour (${bars.length})`);
  const last = j.hours[j.hours.length - 1];
  check(Math.abs(bars[bars.length - 1] - 1000 * last.cost_nusd / 1e9 / last.requests) <= 1e-6 * bars[bars.length - 1] + 1e-9,
    `this hour's bar ${bars[bars.length - 1]} = its $/1K`);
  same('cost_per_1k_hour', 1000 * last.cost_nusd / 1e9 / last.requests, 6);
} finally {
  clearTimeout(timer);
  if (browser) await browser.close();
}
console.log(failed() ? `serve_dashboard: ${failed()} check(s) failed` : 'serve_dashboard: all checks passed');
process.exit(failed() ? 1 : 0);
