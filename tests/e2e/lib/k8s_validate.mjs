// node tests/e2e/lib/k8s_validate.mjs FILE.yaml... — validates every Kubernetes object in the
// files against the upstream OpenAPI schemas (npm `kubernetes-models`), KEDA's CRD schemas
// (`@kubernetes-models/keda`) and the Prometheus operator's (`@kubernetes-models/prometheus-operator`).
// Prints one JSON line per object ({file, kind, name, ok, error}); exits 0 when all are valid,
// 1 when one is not, 77 when the pinned packages cannot be installed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const E2E = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const need = ['kubernetes-models', '@kubernetes-models/keda', '@kubernetes-models/prometheus-operator', 'yaml'];
if (!need.every((p) => fs.existsSync(path.join(E2E, 'node_modules', p, 'package.json')))) {
  try {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--prefix', E2E], { stdio: 'inherit', timeout: 180000 });
  } catch (e) {
    console.log(`skip: cannot install the pinned validators (${e.message}); is the npm registry reachable?`);
    process.exit(77);
  }
}
const mod = async (spec) => import(pathToFileURL(path.join(E2E, 'node_modules', spec + '.js')).href);
const YAML = await import(pathToFileURL(path.join(E2E, 'node_modules/yaml/dist/index.js')).href);

// apiVersion → the package folder holding its models.
function modelPath(apiVersion, kind) {
  if (apiVersion === 'v1') return `kubernetes-models/v1/${kind}`;
  if (apiVersion === 'keda.sh/v1alpha1') return `@kubernetes-models/keda/keda.sh/v1alpha1/${kind}`;
  if (apiVersion === 'monitoring.coreos.com/v1') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

let bad = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    if (doc.errors.length) {
      bad++;
      console.log(JSON.stringify({ file, ok: false, error: `YAML: ${doc.errors[0].message}` }));
      continue;
    }
    const o = doc.toJS();
    if (o === null) continue;
    const line = { file, kind: o.kind, name: o.metadata?.name };
    try {
      const m = await mod(modelPath(o.apiVersion, o.kind));
      const Model = m[o.kind];
      if (!Model) throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
      new Model(o).validate();
      line.ok = true;
    } catch (e) {
      bad++;
      line.ok = false;
      line.error = String(e.message ?? e).slice(0, 600);
    }
    console.log(JSON.stringify(line));
  }
}
process.exit(bad ? 1 : 0);
