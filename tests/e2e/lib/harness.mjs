// What every Node end-to-end test needs, written once: where the binary and the repository are,
// the pinned npm packages of tests/e2e/package.json (installed with `npm ci` when missing; exit 77
// = skipped when the registry cannot be reached), a temporary folder and child processes that are
// removed and killed when the test exits however it exits, and the small helpers (free port,
// sleep, waiting for a port file). Tests keep their own checks; `check`/`finish` count and report.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = process.env.RS_ROOT ?? process.cwd();
export const BIN = process.env.RS_BIN ?? path.join(ROOT, 'build', 'rightsize');
export const E2E = path.join(ROOT, 'tests', 'e2e');

let failures = 0;
export const fail = (msg) => { failures++; console.log(`FAIL: ${msg}`); };
export const check = (cond, msg) => { if (!cond) fail(msg); };
export const failed = () => failures;
// Prints the verdict line and exits 1 if any check failed.
export const finish = (name) => {
  console.log(failures ? `${name}: ${failures} check(s) failed` : `${name}: all checks passed`);
  process.exit(failures ? 1 : 0);
};

const npmCi = (why) => {
  try {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--prefix', E2E], { stdio: 'ignore', timeout: 240000 });
  } catch (e) {
    console.log(`skip: cannot install ${why} (${e.message}); is the npm registry reachable?`);
    process.exit(77);
  }
};
const e2eRequire = createRequire(path.join(E2E, 'package.json'));

// A package pinned in tests/e2e/package.json, installed there if missing: require()d (CommonJS).
export const requirePinned = (name) => {
  if (!fs.existsSync(path.join(E2E, 'node_modules', name, 'package.json'))) npmCi(`the pinned ${name}`);
  return e2eRequire(name);
};
// The same, for an ES module: import()ed.
export const importPinned = async (name) => {
  if (!fs.existsSync(path.join(E2E, 'node_modules', name, 'package.json'))) npmCi(`the pinned ${name}`);
  return import(pathToFileURL(e2eRequire.resolve(name)).href);
};

// node-llama-cpp (llama.cpp itself, the peer of the engine tests): looked for in
// NODE_LLAMA_CPP_DIR, tests/e2e/, the repository root, .bench/ and `make bench`'s $RS_PEER
// (default /tmp/rs-peer); installed into tests/e2e when missing; exits 77 when there is no copy.
// Returns the module.
export const importLlamaCpp = async () => {
  const dirs = [process.env.NODE_LLAMA_CPP_DIR, E2E, ROOT, path.join(ROOT, '.bench'),
    process.env.RS_PEER ?? '/tmp/rs-peer'].filter(Boolean);
  const entry = (d) => path.join(d, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  let pkg = dirs.map(entry).find((f) => fs.existsSync(f));
  if (!pkg) {
    npmCi('node-llama-cpp');
    pkg = [entry(E2E)].find((f) => fs.existsSync(f));
  }
  if (!pkg) {
    console.log(`skip: node-llama-cpp is not installed (looked in ${dirs.join(', ')})`);
    process.exit(77);
  }
  return import(pathToFileURL(pkg).href);
};

// Exit handling: every folder from tempDir is removed and every process from start is killed
// (its whole process group) on exit, on SIGINT/SIGTERM and on an uncaught error.
const cleanups = [];
process.on('exit', () => { for (const f of cleanups.reverse()) { try { f(); } catch { /* best effort */ } } });
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(1));

export const tempDir = (prefix) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};
export const onExit = (f) => { cleanups.push(f); };

// Spawns cmd in its own process group, stderr collected in p.log, p.exited resolving to the exit
// code (or the signal's name).
export const start = (cmd, args, opts = {}) => {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...opts });
  p.log = '';
  p.stderr?.on('data', (d) => { p.log += d; });
  p.exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve(code ?? sig)));
  cleanups.push(() => {
    if (p.exitCode === null && p.signalCode === null) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
  });
  return p;
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
// Waits (up to 20 s) for a port file a child writes; exits the test with the child's log if it
// dies or never writes it.
export const waitPortFile = async (file, p, what) => {
  for (let i = 0; !fs.existsSync(file) || fs.readFileSync(file, 'utf8').trim() === ''; i++) {
    if (i > 400 || p.exitCode !== null) { console.log(`${what} did not come up:\n${p.log}`); process.exit(1); }
    await sleep(50);
  }
  return Number(fs.readFileSync(file, 'utf8'));
};
// Waits (up to 20 s) until GET url answers 200.
export const waitHttp = async (url, p, what) => {
  for (let i = 0; ; i++) {
    try { if ((await fetch(url)).status === 200) return; } catch { /* not up yet */ }
    if (i > 400 || p.exitCode !== null) { console.log(`${what} did not come up:\n${p.log}`); process.exit(1); }
    await sleep(50);
  }
};
