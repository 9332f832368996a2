// Builds the .vsix with tfx-cli from a staging folder holding only what the
// agent and the Marketplace need: each task's bundle, lib.json, task.json and
// icon, the manifest, overview, LICENSE and the images (PNG rendered here from
// images/*.svg). No node_modules, no source maps.
// Publisher and version: --publisher/--ext-version flags or the
// VSIX_PUBLISHER/VSIX_VERSION environment variables, else vss-extension.json.
// Links: --repository URL (or VSIX_REPOSITORY) is the project's repository;
// the staged copies of task.json (helpUrl, "Learn more" links), overview.md
// and vss-extension.json (links, repository) get absolute URLs of its files
// on --docs-branch (VSIX_DOCS_BRANCH, default main). The sources hold only
// repository paths (scripts/lib/doc-links.mjs); without a repository those
// links are left out of the package, and packaging says so.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  classifyOverviewLink,
  deadRepositoryLink,
  fillTaskLinks,
  normalizeRepository,
  repositoryFileUrl,
  repositorySupportUrl,
  rewriteLinks,
  taskRepositoryLinks,
} from './lib/doc-links.mjs';
import { renderSvgFile } from './lib/render-svg.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
const publisher = flag('--publisher') ?? process.env.VSIX_PUBLISHER ?? manifest.publisher;
const version = flag('--ext-version') ?? process.env.VSIX_VERSION ?? manifest.version;
const fail = (message) => {
  console.error(message);
  process.exit(1);
};
let repository;
const repositoryArg = flag('--repository') ?? process.env.VSIX_REPOSITORY;
if (repositoryArg) {
  try {
    repository = normalizeRepository(repositoryArg);
  } catch (err) {
    fail(err.message);
  }
}
const branch = flag('--docs-branch') ?? process.env.VSIX_DOCS_BRANCH ?? 'main';

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
  const source = JSON.parse(readFileSync(join(to, 'task.json'), 'utf8'));
  if (!source.helpUrl) fail(`tasks/${name}/task.json has no helpUrl: set it to the repository path of its documentation, e.g. "docs/tasks/${name}.md".`);
  for (const { where, target } of taskRepositoryLinks(source)) {
    const dead = deadRepositoryLink(root, target);
    if (dead) fail(`tasks/${name}/task.json ${where} links to ${target}, a dead link: ${dead}.`);
  }
  let taskJson;
  try {
    taskJson = fillTaskLinks(source, repository, branch);
  } catch (err) {
    fail(`tasks/${name}/task.json: ${err.message}.`);
  }
  taskJson.version = { Major: major, Minor: minor, Patch: patch };
  writeFileSync(join(to, 'task.json'), JSON.stringify(taskJson, null, 2));
}
for (const f of manifest.files.filter((f) => f.path.startsWith('tasks/'))) {
  if (!existsSync(join(stage, f.path))) {
    console.error(`vss-extension.json lists ${f.path}, which the build did not produce: run npm run build first.`);
    process.exit(1);
  }
}
cpSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));

// Images: each images/*.svg is rendered to PNG (the Marketplace shows no SVG
// on a listing); the extension icon at the 128 px the gallery asks for, other
// pictures at twice their drawn size for sharp high-DPI screens.
mkdirSync(join(stage, 'images'), { recursive: true });
for (const file of readdirSync(join(root, 'images'))) {
  const from = join(root, 'images', file);
  if (file.endsWith('.svg')) {
    const width = file === 'extension-icon.svg' ? 128 : 2 * Number(/<svg[^>]*\swidth="(\d+)"/.exec(readFileSync(from, 'utf8'))?.[1] ?? 500);
    try {
      writeFileSync(join(stage, 'images', file.replace(/\.svg$/, '.png')), renderSvgFile(from, width));
    } catch (err) {
      fail(`could not render images/${file}: ${err.message}`);
    }
  } else if (/\.(png|jpe?g|gif)$/.test(file)) cpSync(from, join(stage, 'images', file));
}

// overview.md: links to files the package carries (addressable folders) stay
// relative; links to other repository files become absolute, or plain text
// without a repository; anything else is a dead link and stops the packaging.
const addressable = manifest.files.filter((f) => f.addressable).map((f) => f.path.replace(/\/$/, ''));
const shipped = (path) => addressable.some((dir) => path.startsWith(`${dir}/`)) && existsSync(join(stage, path));
const overview = rewriteLinks(readFileSync(join(root, 'overview.md'), 'utf8'), (target) => {
  const kind = classifyOverviewLink(root, target, shipped);
  if (typeof kind === 'object') fail(`overview.md links to ${target}, which would be a dead link in the Marketplace: ${kind.dead}.`);
  if (kind !== 'repository') return undefined;
  return repository ? repositoryFileUrl(repository, target, branch) : null;
});
writeFileSync(join(stage, 'overview.md'), overview);

// The listing's links come from the repository too.
const staged = { ...manifest };
const listingPages = { getstarted: 'docs/setup.md', learn: 'README.md', license: 'LICENSE' };
for (const [key, path] of Object.entries(listingPages)) {
  if (!existsSync(join(root, path))) fail(`the listing's ${key} link names ${path}, which does not exist.`);
}
if (repository) {
  staged.links = Object.fromEntries(Object.entries(listingPages).map(([key, path]) => [key, { uri: repositoryFileUrl(repository, path, branch) }]));
  staged.links.support = { uri: repositorySupportUrl(repository) };
  staged.repository = { type: 'git', uri: repository };
} else {
  console.warn(
    "No repository URL (--repository URL or VSIX_REPOSITORY): the tasks' helpUrl and Learn more links, the overview's links to the docs and the listing's links (getstarted, learn, support, license, repository) are left out of this package.",
  );
}
writeFileSync(join(stage, 'vss-extension.json'), JSON.stringify(staged, null, 2));

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
console.log(
  `packaged ${path} (${(size / 1024 / 1024).toFixed(2)} MiB), publisher ${publisher}, version ${version}, ${repository ? `links to ${repository} (${branch})` : 'no links to the repository'}`,
);
