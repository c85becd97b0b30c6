// `rightsize plan --html` opened in headless Chromium (Debian `chromium`, driven by the pinned
// npm `puppeteer-core`): the page renders, a screenshot is taken, the summary comes first, there is
// no horizontal scrolling at desktop or phone width, every chart has titled axes with units and
// tick labels without e-notation, and every figure the summary shows equals the same run's --json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, check, failed, requirePinned, tempDir } from './lib/harness.mjs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
if (!CHROMIUM) { console.log('skip: no chromium (scripts/deps installs it)'); process.exit(77); }
const puppeteer = requirePinned('puppeteer-core');
const tmp = tempDir('rs-plan-html-');
let browser = null;
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { if (browser) browser.process()?.kill('SIGKILL'); process.exit(1); });

const html = path.join(tmp, 'r.html');
const json = JSON.parse(execFileSync(BIN, ['plan', 'data/workloads/support-assistant.yaml', '--quiet', '--horizon-hours', '4',
  '--html', html, '--json'], { cwd: ROOT, timeout: 240000, stdio: ['ignore', 'pipe', 'ignore'] }).toString());
const get = (obj, dotted) => dotted.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

const timer = setTimeout(() => { console.log('FAIL: timed out'); if (browser) browser.process()?.kill('SIGKILL'); process.exit(1); }, 120000);
try {
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] });
  const page = await browser.newPage();
  const requests = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  for (const [w, h] of [[1280, 900], [390, 844]]) {
    await page.setViewport({ width: w, height: h });
    await page.goto(`file://${html}`, { waitUntil: 'load' });
    const shot = path.join(tmp, `plan-${w}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    const png = fs.readFileSync(shot);
    check(png.length > 10000 && png.subarray(1, 4).toString() === 'PNG', `screenshot at ${w} px is a real PNG`);
    const scroll = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    check(scroll[0] <= scroll[1], `no horizontal scroll at ${w} px (scrollWidth ${scroll[0]} > ${scroll[1]})`);
  }
  check(requests.length === 0, `self-contained (fetched ${requests.join(', ')})`);
  const first = await page.evaluate(() => document.querySelector('h2')?.textContent);
  check(first === 'Summary', `the summary comes first (first h2: ${first})`);
  // Charts: cost breakdown, latency vs load, savings by lever, Pareto frontier; axes titled with units.
  const charts = await page.evaluate(() => [...document.querySelectorAll('figure')].map((f) => ({
    id: f.id, x: f.querySelector('text.xl')?.textContent ?? '', y: f.querySelector('text.yl')?.textContent ?? '',
    ticks: [...f.querySelectorAll('svg text')].map((t) => t.textContent),
    box: f.querySelector('svg').getBoundingClientRect().width })));
  for (const id of ['chart-cost', 'chart-load', 'chart-savings', 'chart-pareto'])
    check(charts.some((c) => c.id === id), `chart ${id} present`);
  for (const c of charts) {
    check(/dollars|milliseconds|per second|component|lever/.test(c.x) && /dollars|milliseconds/.test(c.y),
      `${c.id}: axes say their units (x '${c.x}', y '${c.y}')`);
    check(!c.ticks.some((t) => /\de[+-]?\d/.test(t)), `${c.id}: no e-notation in labels`);
    check(c.ticks.length >= 6, `${c.id}: tick labels on the axes`);
    check(c.box > 300, `${c.id}: drawn at a readable width (${c.box} px)`);
  }
  // Every data-k figure equals the JSON value at that key (as printed: rounded to its decimals).
  const figs = await page.evaluate(() => [...document.querySelectorAll('[data-k]')].map((e) => [e.dataset.k, e.textContent]));
  check(figs.length >= 6, `summary carries its figures (${figs.length})`);
  for (const [k, text] of figs) {
    const v = get(json, k);
    if (typeof v === 'string') { check(v === text, `${k}: page '${text}' vs json '${v}'`); continue; }
    const dec = (text.split('.')[1] ?? '').length;
    check(typeof v === 'number' && Number(v.toFixed(dec)) === Number(text), `${k}: page ${text} vs json ${v}`);
  }
  const rows = await page.evaluate(() => document.querySelectorAll('table tbody tr').length);
  check(rows >= json.candidates.length, `tables list the simulated candidates (${rows} rows)`);
} finally {
  clearTimeout(timer);
  if (browser) await browser.close();
}
console.log(failed() ? `plan_html: ${failed()} failure(s)` : 'plan_html: ok');
process.exit(failed() ? 1 : 0);
