// Bundles every task in tasks/<Name>/ (entry index.ts) into one CommonJS file
// with esbuild, and lays out dist/tasks/<Name>/ as the agent will see it:
// index.js, task.json, icon.png and task-lib's lib.json. Fails when a bundle
// holds more than one copy of azure-pipelines-task-lib (the second copy would
// see no inputs: task-lib clears INPUT_* from the environment when it loads).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
const tasks = readdirSync(join(root, 'tasks')).filter((name) => {
  const dir = join(root, 'tasks', name);
  return statSync(dir).isDirectory() && existsSync(join(dir, 'task.json')) && (only.length === 0 || only.includes(name));
});

// The editor's `validation` of each input comes from the input rules table (scripts/lib/task-validation.ts).
const { shippedTaskJson } = await loadTs(join(root, 'scripts', 'lib', 'task-validation.ts'));

for (const name of tasks) {
  const src = join(root, 'tasks', name);
  const out = join(root, 'dist', 'tasks', name);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const started = Date.now();
  const result = await build({
    entryPoints: [join(src, 'index.ts')],
    outfile: join(out, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // No whitespace minification: one statement per line keeps stack traces
    // readable and lets coverage of the bundles map back to shared/*.ts by line.
    minifySyntax: true,
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    metafile: true,
    // ESM dependencies (e.g. @azure/storage-common, @kubernetes/client-node) use
    // import.meta.url, which a CommonJS bundle lacks: give them the bundle's own URL.
    define: { 'import.meta.url': '__bundleImportMetaUrl' },
    banner: { js: "var __bundleImportMetaUrl = require('url').pathToFileURL(__filename).href;" },
    logLevel: 'warning',
    // Optional native speed-ups some dependencies probe for; never needed.
    external: ['bufferutil', 'utf-8-validate', 'cpu-features', 'ssh2', 'aws-crt', '@aws-sdk/signature-v4-crt'],
  });
  const copies = new Set(
    Object.keys(result.metafile.inputs)
      .filter((p) => /azure-pipelines-task-lib\/task\.js$/.test(p))
      .map((p) => p.replace(/\/task\.js$/, '')),
  );
  if (copies.size !== 1) {
    console.error(`${name}: expected exactly one copy of azure-pipelines-task-lib in the bundle, found ${copies.size}: ${[...copies].join(', ')}`);
    process.exit(1);
  }
  copyFileSync(join(root, 'node_modules', 'azure-pipelines-task-lib', 'lib.json'), join(out, 'lib.json'));
  writeFileSync(join(out, 'task.json'), shippedTaskJson(name, readFileSync(join(src, 'task.json'), 'utf8')));
  for (const icon of ['icon.png', 'icon.svg']) {
    if (existsSync(join(src, icon))) copyFileSync(join(src, icon), join(out, icon));
  }
  mkdirSync(join(root, 'dist', 'meta'), { recursive: true });
  writeFileSync(join(root, 'dist', 'meta', `${name}.json`), JSON.stringify(result.metafile));
  const size = statSync(join(out, 'index.js')).size;
  console.log(`built ${name}: dist/tasks/${name}/index.js ${(size / 1024 / 1024).toFixed(1)} MiB in ${Date.now() - started} ms`);
}

/** A TypeScript module of this repository, bundled in memory and loaded as CommonJS. */
async function loadTs(entry) {
  const out = await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'warning' });
  const module = { exports: {} };
  new Function('module', 'exports', 'require', out.outputFiles[0].text)(module, module.exports, createRequire(entry));
  return module.exports;
}
