/**
 * `npm run package`: tfx builds the .vsix (running its own task.json checks)
 * and the package holds exactly what the agent needs: per task the bundle,
 * task-lib's lib.json, task.json and icon; no node_modules, sources or maps.
 * With `--repository URL` the listing (manifest fields, assets, overview,
 * help links) is unpacked and checked link by link; without it the links are
 * left out and packaging says so.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { deadRepositoryLink, linksIn } from '../../scripts/lib/doc-links.mjs';

const root = join(__dirname, '..', '..');

function listZip(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/** The text of one entry of a zip file. */
function readZipEntry(file: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      let found = false;
      zip.on('entry', (e: yauzl.Entry) => {
        if (e.fileName !== name) return zip.readEntry();
        found = true;
        zip.openReadStream(e, (err2, stream) => {
          if (err2 || !stream) return reject(err2);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            zip.close();
            resolve(Buffer.concat(chunks).toString('utf8'));
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => {
        if (!found) reject(new Error(`${name} is not in ${file}`));
      });
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('the .vsix package', function () {
  this.timeout(300_000);
  const tasks = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));
  let entries: string[] = [];
  let output = '';
  const vsix = join(root, 'dist', 'test-publisher.model-to-aks-1.2.3.vsix');

  before(async () => {
    if (tasks.some((t) => !existsSync(join(root, 'dist', 'tasks', t, 'index.js')))) {
      execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
    }
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'package.mjs'), '--publisher', 'test-publisher', '--ext-version', '1.2.3'], {
      encoding: 'utf8',
      env: { ...process.env, VSIX_REPOSITORY: '' },
    });
    output = run.stdout + run.stderr;
    assert.equal(run.status, 0, output);
    assert.ok(existsSync(vsix), output);
    entries = await listZip(vsix);
  });

  it('prints its path and size', () => {
    assert.match(output, /packaged .*\.vsix \([\d.]+ MiB\)/);
  });

  it('contributes every task folder with its bundle, lib.json, task.json and icon', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8')) as {
      files: Array<{ path: string }>;
      contributions: Array<{ type: string; properties: { name?: string } }>;
    };
    for (const t of tasks) {
      assert.ok(
        manifest.files.some((f) => f.path === `tasks/${t}`),
        `tasks/${t} not listed under files`,
      );
      assert.ok(
        manifest.contributions.some((c) => c.type === 'ms.vss-distributed-task.task' && c.properties.name === `tasks/${t}`),
        `tasks/${t} not contributed`,
      );
      for (const f of ['index.js', 'lib.json', 'task.json', 'icon.png'])
        assert.ok(entries.includes(`tasks/${t}/${f}`), `tasks/${t}/${f} missing from the vsix`);
    }
  });

  it('holds no node_modules, TypeScript sources or source maps', () => {
    const bad = entries.filter((e) => e.includes('node_modules/') || e.endsWith('.ts') || e.endsWith('.map'));
    assert.deepEqual(bad, []);
  });

  it('carries the extension icon and overview page', () => {
    assert.ok(entries.includes('images/extension-icon.png'));
    assert.ok(entries.includes('overview.md'));
  });

  it('says that the links are left out without a repository URL, and leaves them out', async () => {
    assert.match(output, /No repository URL \(--repository URL or VSIX_REPOSITORY\).*left out/);
    const vsixManifest = await readZipEntry(vsix, 'extension.vsixmanifest');
    assert.doesNotMatch(vsixManifest, /Services\.Links\./);
    for (const t of tasks) {
      const task = await readZipEntry(vsix, `tasks/${t}/task.json`);
      assert.doesNotMatch(task, /helpUrl|Learn more|\]\(docs\//, `tasks/${t}/task.json in the vsix`);
    }
    const overview = await readZipEntry(vsix, 'overview.md');
    assert.deepEqual(
      linksIn(overview).map((l) => l.target),
      ['images/chain.png'],
    );
  });

  it('stamps the extension version into every task.json', async () => {
    assert.equal(tasks.length, 5, `tasks found: ${tasks.join(', ')}`);
    for (const t of tasks) {
      const packaged = JSON.parse(await readZipEntry(vsix, `tasks/${t}/task.json`)) as { version: unknown };
      assert.deepEqual(packaged.version, { Major: 1, Minor: 2, Patch: 3 }, `tasks/${t}/task.json in the vsix`);
    }
  });
});

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

function readZipBytes(file: string, name: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      let found = false;
      zip.on('entry', (e: yauzl.Entry) => {
        if (e.fileName !== name) return zip.readEntry();
        found = true;
        zip.openReadStream(e, (err2, stream) => {
          if (err2 || !stream) return reject(err2);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            zip.close();
            resolve(Buffer.concat(chunks));
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => {
        if (!found) reject(new Error(`${name} is not in ${file}`));
      });
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('the .vsix listing with --repository', function () {
  this.timeout(300_000);
  const repo = 'https://github.com/contoso/model-to-aks';
  const tasks = readdirSync(join(root, 'tasks')).filter((n) => existsSync(join(root, 'tasks', n, 'task.json')));
  const vsix = join(root, 'dist', 'listing-publisher.model-to-aks-1.2.4.vsix');
  let entries: string[] = [];
  let vsixManifest = '';
  let output = '';

  /** The repository path (and anchor) an absolute link of the package names, checked to exist. */
  const deadLink = (url: string): string | undefined => {
    const prefix = `${repo}/blob/main/`;
    if (!url.startsWith(prefix)) return url === repo || url === `${repo}/issues` ? undefined : `${url} is not a link into ${repo}`;
    return deadRepositoryLink(root, decodeURIComponent(url.slice(prefix.length)));
  };
  const property = (id: string) =>
    new RegExp(`<Property Id="Microsoft\\.VisualStudio\\.Services\\.${id.replace(/\./g, '\\.')}" Value="([^"]*)"`).exec(vsixManifest)?.[1];

  before(async () => {
    if (tasks.some((t) => !existsSync(join(root, 'dist', 'tasks', t, 'index.js')))) {
      execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
    }
    // As `npm run package -- --publisher X --repository URL` runs it (a trailing slash and .git are tolerated).
    output = execFileSync(
      process.execPath,
      [join(root, 'scripts', 'package.mjs'), '--publisher', 'listing-publisher', '--ext-version', '1.2.4', '--repository', `${repo}.git`],
      { encoding: 'utf8' },
    );
    entries = await listZip(vsix);
    vsixManifest = await readZipEntry(vsix, 'extension.vsixmanifest');
  });

  it('says where its links point', () => {
    assert.match(output, new RegExp(`links to ${repo.replace(/\./g, '\\.')} \\(main\\)`));
  });

  it('is flagged Preview, branded, with a short description', () => {
    assert.match(vsixManifest, /<GalleryFlags>Preview<\/GalleryFlags>/);
    assert.match(property('Branding.Color') ?? '', /^#[0-9a-f]{6}$/i);
    assert.match(property('Branding.Theme') ?? '', /^(dark|light)$/);
    const description = /<Description[^>]*>([^<]*)<\/Description>/.exec(vsixManifest)?.[1] ?? '';
    assert.ok(description.length > 40 && description.length <= 200, description);
    assert.match(description, /without Docker/);
    assert.match(description, /sha256/);
  });

  it('links getstarted, learn, support, license and the repository, each to a file that exists', () => {
    const links = {
      getstarted: property('Links.Getstarted'),
      learn: property('Links.Learn'),
      support: property('Links.Support'),
      license: property('Links.License'),
      repository: property('Links.GitHub'),
    };
    assert.deepEqual(links, {
      getstarted: `${repo}/blob/main/docs/setup.md`,
      learn: `${repo}/blob/main/README.md`,
      support: `${repo}/issues`,
      license: `${repo}/blob/main/LICENSE`,
      repository: repo,
    });
    for (const url of Object.values(links)) assert.equal(deadLink(url ?? ''), undefined, url);
  });

  it('carries the MIT license as the listing license', async () => {
    assert.match(vsixManifest, /<License>LICENSE<\/License>/);
    assert.match(vsixManifest, /Type="Microsoft\.VisualStudio\.Services\.Content\.License" d:Source="File" Path="LICENSE"/);
    assert.match(await readZipEntry(vsix, 'LICENSE'), /^MIT License/);
    assert.equal(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).license, 'MIT');
  });

  it('ships the icons and the chain picture as PNG rendered from their SVG sources', async () => {
    assert.deepEqual(pngSize(await readZipBytes(vsix, 'images/extension-icon.png')), { width: 128, height: 128 });
    const chain = pngSize(await readZipBytes(vsix, 'images/chain.png'));
    assert.ok(chain.width >= 1600 && chain.height >= 300, JSON.stringify(chain));
    assert.match(vsixManifest, /<Icon>images\/extension-icon\.png<\/Icon>/);
    assert.deepEqual(
      entries.filter((e) => e.startsWith('images/') && !e.endsWith('/')).sort(),
      ['images/chain.png', 'images/extension-icon.png'],
      'PNGs only: the SVG sources stay in the repository',
    );
    for (const t of tasks) assert.deepEqual(pngSize(await readZipBytes(vsix, `tasks/${t}/icon.png`)), { width: 128, height: 128 });
  });

  it('overview.md shows the chain first and every link works inside the Marketplace', async () => {
    const overview = await readZipEntry(vsix, 'overview.md');
    const links = linksIn(overview);
    assert.deepEqual(links[0], { image: true, text: links[0]?.text, target: 'images/chain.png' });
    assert.ok(links.length >= 8);
    const addressable = [...vsixManifest.matchAll(/Path="([^"]+)" Addressable="true"/g)].map((m) => m[1]);
    const dead = links
      .map((l) => [
        l.target,
        /^https:/.test(l.target) ? deadLink(l.target) : addressable.includes(l.target) ? undefined : `${l.target} is not an addressable file of the vsix`,
      ])
      .filter(([, why]) => why);
    assert.deepEqual(dead, []);
  });

  it('every task has a helpUrl and absolute Learn more links into the repository, none dead', async () => {
    for (const t of tasks) {
      const task = JSON.parse(await readZipEntry(vsix, `tasks/${t}/task.json`)) as { helpUrl?: string; inputs: Array<{ name: string; helpMarkDown?: string }> };
      assert.equal(task.helpUrl, `${repo}/blob/main/docs/tasks/${t}.md`);
      const learn = task.inputs.flatMap((i) => linksIn(i.helpMarkDown ?? '').map((l) => ({ input: i.name, ...l })));
      assert.ok(learn.filter((l) => l.text === 'Learn more').length >= 5, `${t}: Learn more links`);
      const dead = learn.filter((l) => !/^https:/.test(l.target) || deadLink(l.target)).map((l) => `${l.input}: ${l.target} ${deadLink(l.target) ?? ''}`);
      assert.deepEqual(dead, [], t);
    }
  });
});
