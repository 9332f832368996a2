/**
 * `npm run package`: tfx builds the .vsix (running its own task.json checks)
 * and the package holds exactly what the agent needs: per task the bundle,
 * task-lib's lib.json, task.json and icon; no node_modules, sources or maps.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import yauzl from 'yauzl';

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
    output = execFileSync(process.execPath, [join(root, 'scripts', 'package.mjs'), '--publisher', 'test-publisher', '--ext-version', '1.2.3'], {
      encoding: 'utf8',
    });
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

  it('stamps the extension version into every task.json', async () => {
    assert.equal(tasks.length, 5, `tasks found: ${tasks.join(', ')}`);
    for (const t of tasks) {
      const packaged = JSON.parse(await readZipEntry(vsix, `tasks/${t}/task.json`)) as { version: unknown };
      assert.deepEqual(packaged.version, { Major: 1, Minor: 2, Patch: 3 }, `tasks/${t}/task.json in the vsix`);
    }
  });
});
