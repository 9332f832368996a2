/**
 * The local Node base image of the demo and the end-to-end test
 * (scripts/lib/node-base-image.ts): reproducible, cached, and complete: the
 * Node binary in its rootfs runs with only the libraries the image carries
 * (checked with chroot, which needs root: skipped with the reason locally,
 * a failure under CI).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNodeBaseImage, sharedLibraries } from '../../scripts/lib/node-base-image';
import { OciLayout } from '../../shared/oci/layout';
import { requirePrerequisite } from '../helpers/prerequisite';

describe('local Node base image', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'node-base-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the dynamic loader and libc among the shared libraries of node', () => {
    const libs = sharedLibraries(process.execPath);
    assert.ok(
      libs.some((l) => /\/ld-linux[^/]*\.so/.test(l)),
      `loader in ${libs.join(', ')}`,
    );
    assert.ok(
      libs.some((l) => /\/libc\.so/.test(l)),
      `libc in ${libs.join(', ')}`,
    );
    assert.ok(libs.every((l) => l.startsWith('/')));
  });

  it('is reproducible, reused from its cache, and carries node with the libraries it loads', async () => {
    const a = await buildNodeBaseImage({ cacheDir: join(dir, 'a') });
    const again = await buildNodeBaseImage({ cacheDir: join(dir, 'a') });
    const b = await buildNodeBaseImage({ cacheDir: join(dir, 'b') });
    assert.equal(a.cached, false);
    assert.equal(again.cached, true);
    assert.equal(again.manifestDigest, a.manifestDigest);
    assert.equal(b.manifestDigest, a.manifestDigest, 'two builds give the same digest');
    assert.equal(a.nodeVersion, process.version);
    assert.equal(a.spec, `oci:${a.layoutDir}:node`);
    assert.deepEqual(readdirSync(join(dir, 'a')), [a.layoutDir.split('/').pop()], 'no work folders left behind');

    const found = await (await OciLayout.open(a.layoutDir)).findManifest('node');
    assert.deepEqual(found.config.config?.Entrypoint, ['/usr/local/bin/node']);
    assert.equal(found.manifest.layers.length, 1);
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs);
    const blob = join(a.layoutDir, 'blobs', 'sha256', (found.manifest.layers[0]?.digest as string).slice('sha256:'.length));
    execFileSync('tar', ['-xzf', blob, '-C', rootfs]);
    const listed = execFileSync('tar', ['-tzf', blob], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of a.files) assert.ok(listed.includes(f.slice(1)), `${f} in the layer`);
    assert.ok(listed.includes('etc/passwd'));
  });

  it('runs node in a chroot of its rootfs, with only the libraries the image carries', async function () {
    requirePrerequisite(this, process.getuid?.() === 0, 'root (chroot needs it)');
    const a = await buildNodeBaseImage({ cacheDir: join(dir, 'a') });
    const found = await (await OciLayout.open(a.layoutDir)).findManifest('node');
    const rootfs = join(dir, 'chroot');
    mkdirSync(rootfs);
    const blob = join(a.layoutDir, 'blobs', 'sha256', (found.manifest.layers[0]?.digest as string).slice('sha256:'.length));
    execFileSync('tar', ['-xzf', blob, '-C', rootfs]);
    const r = spawnSync('chroot', [rootfs, '/usr/local/bin/node', '-e', 'console.log(process.version)'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), process.version);
  });
});
