// Builds the .vsix with tfx-cli from a staging folder holding only what the
// agent and the Marketplace need: each task's bundle, lib.json, task.json and
// icon, the manifest, overview and images. No node_modules, no source maps.
// Publisher and version: --publisher/--ext-version flags or the
// VSIX_PUBLISHER/VSIX_VERSION environment variables, else vss-extension.json.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
const publisher = flag('--publisher') ?? process.env.VSIX_PUBLISHER ?? manifest.publisher;
const version = flag('--ext-version') ?? process.env.VSIX_VERSION ?? manifest.version;

const stage = join(root, 'dist', 'vsix');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

const listed = new Set(manifest.files.map((f) => f.path));
const taskNames = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));
for (const name of taskNames) {
  if (!existsSync(join(root, 'dist', 'tasks', name, 'index.js'))) {
    console.error(`tasks/${name} is not built: run npm run build first.`);
    process.exit(1);
  }
}
for (const name of taskNames) {
  const from = join(root, 'dist', 'tasks', name);
  if (!listed.has(`tasks/${name}`)) {
    console.error(`tasks/${name} is built but not listed under "files" in vss-extension.json: tfx would leave it out.`);
    process.exit(1);
  }
  const to = join(stage, 'tasks', name);
  mkdirSync(to, { recursive: true });
  for (const file of readdirSync(from)) {
    if (/\.(js|json|png|svg|txt)$/.test(file) && !file.endsWith('.map')) cpSync(join(from, file), join(to, file));
  }
  // The task's own version follows the extension's, so an upload always updates the task.
  const [major, minor, patch] = version.split('.').map(Number);
  const taskJson = JSON.parse(readFileSync(join(to, 'task.json'), 'utf8'));
  taskJson.version = { Major: major, Minor: minor, Patch: patch };
  writeFileSync(join(to, 'task.json'), JSON.stringify(taskJson, null, 2));
}
for (const f of manifest.files.filter((f) => f.path.startsWith('tasks/'))) {
  if (!existsSync(join(stage, f.path))) {
    console.error(`vss-extension.json lists ${f.path}, which the build did not produce: run npm run build first.`);
    process.exit(1);
  }
}
cpSync(join(root, 'vss-extension.json'), join(stage, 'vss-extension.json'));
for (const extra of ['overview.md', 'LICENSE', 'images']) {
  if (existsSync(join(root, extra))) cpSync(join(root, extra), join(stage, extra), { recursive: true });
}

const outDir = join(root, 'dist');
const tfx = join(root, 'node_modules', '.bin', 'tfx');
let out;
try {
  out = execFileSync(
    tfx,
    [
      'extension',
      'create',
      '--root',
      stage,
      '--manifests',
      'vss-extension.json',
      '--output-path',
      outDir,
      '--override',
      JSON.stringify({ publisher, version }),
      '--no-prompt',
      '--json',
    ],
    { encoding: 'utf8', env: { ...process.env, TFX_TRACE: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
} catch (err) {
  // tfx explains what is wrong on stderr: show that, not a stack.
  console.error(`tfx could not create the extension:\n${String(err.stderr ?? err.message).replace(/\x1b\[[0-9;]*m/g, '')}`);
  process.exit(1);
}
const { path } = JSON.parse(out.slice(out.indexOf('{')));
const size = statSync(path).size;
console.log(`packaged ${path} (${(size / 1024 / 1024).toFixed(2)} MiB), publisher ${publisher}, version ${version}`);
