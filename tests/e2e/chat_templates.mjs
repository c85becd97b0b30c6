// Chat templates end to end: every real template in tests/data/templates (llama.cpp's
// models/templates) is rendered with five conversations (single turn, system + multi-turn,
// no generation prompt with an assistant reply, Unicode and JSON-hostile text, tools) by our
// Jinja interpreter (`rightsize gguf render-chat --vars`) and by @huggingface/jinja, the
// reference implementation Hugging Face uses. The text must be byte-identical; where the
// reference raises (a template that needs variables we do not pass, or raise_exception), ours
// must fail with the same message. Installs the pinned package (tests/e2e/package.json + lock)
// into tests/e2e/node_modules if missing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, importPinned, tempDir } from './lib/harness.mjs';

const DIR = path.join(ROOT, 'tests/data/templates');
const { Template } = await importPinned('@huggingface/jinja');

const tool = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'Get the current weather',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city'] },
  },
};
const conversations = [
  { messages: [{ role: 'user', content: 'Hello' }], add_generation_prompt: true },
  { messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello! How can I help?' }, { role: 'user', content: 'What is 2+2?' }], add_generation_prompt: true },
  { messages: [{ role: 'user', content: '  Tell me a joke.  ' },
    { role: 'assistant', content: 'Why did the chicken cross the road?\nTo get to the other side.' }], add_generation_prompt: false },
  { messages: [{ role: 'system', content: 'Grüße — 世界 🦙 "quoted" <b>bold</b> \\ back\tslash' },
    { role: 'user', content: 'Ünïcödé?\n\n  Two lines  ' }], add_generation_prompt: true },
  { messages: [{ role: 'user', content: 'What is the weather in Paris?' }], add_generation_prompt: true, tools: [tool] },
];

const tmp = tempDir('rs-chat-templates-');

const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.jinja')).sort();
const mismatches = [];
let renders = 0, refErrors = 0;
for (const f of files) {
  const src = fs.readFileSync(path.join(DIR, f), 'utf8');
  let tmpl = null, parseErr = null;
  try { tmpl = new Template(src); } catch (e) { parseErr = e.message; }
  const why = [];
  for (const [i, conv] of conversations.entries()) {
    const vars = { ...conv, bos_token: '<s>', eos_token: '</s>' };
    let ref = null, refErr = parseErr;
    if (tmpl) { try { ref = tmpl.render(vars); } catch (e) { refErr = e.message; } }
    const vf = path.join(tmp, 'vars.json');
    fs.writeFileSync(vf, JSON.stringify(vars));
    const p = spawnSync(BIN, ['gguf', 'render-chat', path.join(DIR, f), '--vars', vf], { encoding: 'utf8', timeout: 20000 });
    const ours = p.status === 0 ? p.stdout : null;
    if (refErr !== null) {
      refErrors++;
      if (ours !== null) why.push(`conversation ${i}: the reference fails ('${refErr}') but ours rendered`);
      else if (!p.stderr.toLowerCase().includes(refErr.toLowerCase()))
        why.push(`conversation ${i}: the reference fails with '${refErr}', ours with '${p.stderr.trim()}'`);
      continue;
    }
    renders++;
    if (ours === null) { why.push(`conversation ${i}: ours fails: ${p.stderr.trim()}`); continue; }
    if (ours !== ref) {
      let k = 0;
      while (k < ref.length && ours[k] === ref[k]) k++;
      why.push(`conversation ${i}: differs at byte ${k}: reference ${JSON.stringify(ref.slice(k, k + 50))}, ours ${JSON.stringify(ours.slice(k, k + 50))}`);
    }
  }
  if (why.length) mismatches.push(`${f}: ${why.join('; ')}`);
}
for (const m of mismatches) console.log(`FAIL: ${m}`);
console.log(`chat templates: ${files.length - mismatches.length}/${files.length} templates match @huggingface/jinja ` +
  `on all ${conversations.length} conversations (${renders} identical renders, ${refErrors} reference errors reproduced)`);
if (files.length < 60) { console.log(`FAIL: only ${files.length} templates in ${DIR}`); process.exit(1); }
process.exit(mismatches.length ? 1 : 0);
