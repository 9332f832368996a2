import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { ChecksumMismatchError, UserError } from '../../../shared/errors';
import { DeferredBlobReader, storedGzipSize } from '../../../shared/oci/deferred';
import { deferLayer, writeLayer } from '../../../shared/oci/layer';
import { OciLayout } from '../../../shared/oci/layout';
import { collectEntries } from '../../../shared/oci/tar';

describe('oci/deferred', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'deferred-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function both(compression: 'auto' | 'none', files: Record<string, Buffer>) {
    mkdirSync(join(dir, 'model'), { recursive: true });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, 'model', name), data);
    const entries = await collectEntries([{ hostPath: join(dir, 'model'), destination: '/models' }]);
    const written = await OciLayout.create(join(dir, 'written'));
    const deferredLayout = await OciLayout.create(join(dir, 'deferred'));
    const w = await writeLayer(written, entries, { compression, mtime: 0 });
    const d = await deferLayer(deferredLayout, entries, { compression, mtime: 0 });
    assert.ok(d, 'deferrable');
    return { w, d, written, deferredLayout, blob: readFileSync(written.blobPath(w.digest)) };
  }

  for (const [name, size] of [
    ['small', 70_000],
    ['one block', 65535 - 1024],
    ['block boundary', 65535 * 3],
    ['3 MiB + odd', (3 << 20) + 777],
    ['over the parallel threshold', (9 << 20) + 3],
  ] as const) {
    it(`gzip-stored (${name}): same digest, diff_id, size and bytes as the written blob; no blob file written`, async () => {
      const { w, d, deferredLayout, blob } = await both('auto', { 'weights.bin': randomBytes(size), 'b.bin': randomBytes(100) });
      assert.equal(w.encoding, 'gzip-stored');
      assert.deepEqual([d.digest, d.diffId, d.size, d.mediaType, d.encoding], [w.digest, w.diffId, w.size, w.mediaType, w.encoding]);
      assert.equal(d.size, storedGzipSize(d.uncompressedSize));
      assert.equal(d.deferred, true);
      assert.equal(await deferredLayout.hasBlob(d.digest), false);
      assert.equal(await deferredLayout.hasContent(d.digest), true);
      const streamed = await buffer(deferredLayout.openBlob(d.digest));
      assert.ok(streamed.equals(blob), 'openBlob streams the same bytes');
    });
  }

  it('plain tar: digest = diff_id, same bytes', async () => {
    const { w, d, deferredLayout, blob } = await both('none', { 'm.bin': randomBytes(200_003) });
    assert.equal(d.digest, w.digest);
    assert.equal(d.digest, d.diffId);
    assert.ok((await buffer(deferredLayout.openBlob(d.digest))).equals(blob));
  });

  it('gives any byte range, including ranges across block headers and the trailer', async () => {
    const { d, deferredLayout, blob } = await both('auto', { 'w.bin': randomBytes(5 * 65535 + 1234) });
    const reader = (await deferredLayout.deferredReader(d.digest)) as DeferredBlobReader;
    for (const [s, e] of [
      [0, 9],
      [3, 20],
      [65540, 65550],
      [65530, 131100],
      [blob.length - 20, blob.length - 1],
      [100, blob.length - 1],
    ]) {
      assert.ok((await buffer(reader.open(s, e))).equals(blob.subarray(s, e + 1)), `range ${s}-${e}`);
    }
  });

  it('a file changed behind the same size and mtime fails before the last chunk is yielded', async () => {
    const data = randomBytes(3 << 20);
    const { d, deferredLayout } = await both('auto', { 'w.bin': data });
    const path = join(dir, 'model', 'w.bin');
    const st = statSync(path);
    data[1000] ^= 0xff;
    writeFileSync(path, data);
    utimesSync(path, st.atime, st.mtime);
    const reader = (await deferredLayout.deferredReader(d.digest)) as DeferredBlobReader;
    const seen: number[] = [];
    const stream = reader.open();
    stream.on('data', (c: Buffer) => seen.push(c.length));
    await assert.rejects(
      new Promise((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('error', reject);
      }),
      (err: unknown) => err instanceof ChecksumMismatchError && /changed since the image was built/.test(err.message),
    );
    assert.ok(seen.reduce((a, b) => a + b, 0) < d.size, 'the final chunk is never handed out');
    await assert.rejects(reader.verify(), ChecksumMismatchError);
  });

  it('a changed or missing source file is named before any byte is produced', async () => {
    const { d, deferredLayout } = await both('auto', { 'w.bin': randomBytes(70_000) });
    writeFileSync(join(dir, 'model', 'w.bin'), randomBytes(70_001));
    await assert.rejects(buffer(deferredLayout.openBlob(d.digest)), (e: unknown) => e instanceof UserError && e.code === 'FileChanged');
    rmSync(join(dir, 'model', 'w.bin'));
    await assert.rejects(
      buffer(deferredLayout.openBlob(d.digest)),
      (e: unknown) => e instanceof UserError && e.code === 'DeferredSourceMissing' && /writeModelBlob/.test(e.message),
    );
  });

  it('materialize writes the verified blob and drops the record', async () => {
    const { d, deferredLayout, blob } = await both('auto', { 'w.bin': randomBytes(300_000) });
    await deferredLayout.materialize(d.digest);
    assert.ok(readFileSync(deferredLayout.blobPath(d.digest)).equals(blob));
    assert.deepEqual(await deferredLayout.deferredDigests(), []);
    assert.equal(existsSync(join(deferredLayout.dir, 'deferred', 'sha256', `${d.digest.slice(7)}.json`)), false);
  });

  it('gzip (real compression) is not deferred', async () => {
    mkdirSync(join(dir, 't'));
    writeFileSync(join(dir, 't', 'a.txt'), 'text '.repeat(100000));
    const entries = await collectEntries([{ hostPath: join(dir, 't'), destination: '/app' }]);
    assert.equal(await deferLayer(await OciLayout.create(join(dir, 'l')), entries, { compression: 'auto', mtime: 0 }), undefined);
  });
});
