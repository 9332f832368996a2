/**
 * Unpacking `docker save` output: entries and links that would leave the
 * folder are refused, and a refusal ends the unpack (the archive is closed)
 * instead of leaving it hanging.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { UserError } from '../../../shared/errors';
import { unpackArchive } from '../../../shared/oci/docker-build';

async function tarOf(entries: Array<{ name: string; type?: 'file' | 'symlink'; linkname?: string; body?: string }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else pack.entry({ name: e.name }, e.body ?? '');
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

describe('docker-archive unpacking', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'docker-archive-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const unpack = async (entries: Parameters<typeof tarOf>[0]) => {
    const archive = join(work, 'image.tar');
    writeFileSync(archive, await tarOf(entries));
    const dir = join(work, 'out');
    // Settled into a value at once, so a refusal is never an unhandled rejection.
    const run: Promise<unknown> = unpackArchive(archive, dir).then(
      () => 'resolved',
      (e: unknown) => e,
    );
    return { dir, run };
  };

  it('unpacks files and links that stay inside', async () => {
    const { dir, run } = await unpack([
      { name: 'blobs/sha256/aa', body: 'layer' },
      { name: 'abc/layer.tar', type: 'symlink', linkname: '../blobs/sha256/aa' },
      { name: 'manifest.json', body: '[]' },
    ]);
    assert.equal(await run, 'resolved');
    assert.ok(existsSync(join(dir, 'abc', 'layer.tar')));
  });

  for (const [what, entries] of [
    ['an entry that climbs out', [{ name: '../escaped.txt', body: 'x' }]],
    [
      'an absolute link',
      [
        { name: 'etc', type: 'symlink', linkname: '/etc' },
        { name: 'etc/passwd', body: 'x' },
      ],
    ],
    [
      'a link that climbs out',
      [
        { name: 'up', type: 'symlink', linkname: '../../..' },
        { name: 'up/x', body: 'x' },
      ],
    ],
  ] as const) {
    it(`refuses ${what}, and the unpack ends`, async () => {
      const { run } = await unpack(entries as unknown as Parameters<typeof tarOf>[0]);
      const settled = await Promise.race([run, new Promise((r) => setTimeout(() => r('hung'), 5000))]);
      assert.ok(settled instanceof UserError, String(settled));
      assert.match(settled.message, /outside the archive/);
      assert.ok(!existsSync(join(work, 'escaped.txt')));
    });
  }
});
