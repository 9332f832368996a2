import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { chooseEncoding, diffIdOnWorker, PARALLEL_THRESHOLD, sampleCompressibility, StoredGzip, tarRecipe, writeLayer } from '../../../shared/oci/layer';
import { OciLayout } from '../../../shared/oci/layout';
import { collectEntries, tarStream } from '../../../shared/oci/tar';
import { MediaType } from '../../../shared/oci/types';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('oci/layer', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'layer-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('StoredGzip', () => {
    for (const size of [0, 1, 65534, 65535, 65536, 3 * 65535 + 17]) {
      it(`round-trips ${size} bytes in arbitrary chunking, byte-identical regardless of chunk boundaries`, async () => {
        const data = randomBytes(size);
        const chunks = (step: number) => {
          const out: Buffer[] = [];
          for (let i = 0; i < data.length; i += step) out.push(data.subarray(i, i + step));
          return out;
        };
        const a = await buffer(Readable.from(chunks(1000)).pipe(new StoredGzip()));
        const b = await buffer(Readable.from(chunks(70000)).pipe(new StoredGzip()));
        assert.ok(a.equals(b));
        assert.ok(gunzipSync(a).equals(data));
        // Stored blocks: the output is only slightly larger than the input.
        assert.ok(a.length <= size + 10 + 13 + 5 * Math.ceil(size / 65535));
        // Inflating the raw deflate part gives the data too (independent of the gzip wrapper).
        assert.ok(inflateRawSync(a.subarray(10, a.length - 8)).equals(data));
      });
    }
    it('is accepted by the gzip command line tool', async () => {
      const data = randomBytes(200000);
      const gz = await buffer(Readable.from([data]).pipe(new StoredGzip()));
      writeFileSync(join(dir, 'x.gz'), gz);
      execFileSync('gzip', ['-t', join(dir, 'x.gz')]);
      assert.ok(execFileSync('gzip', ['-dc', join(dir, 'x.gz')], { maxBuffer: 1 << 24 }).equals(data));
    });
  });

  describe('compression policy', () => {
    it('auto stores random (weight-like) content and gzips text', async () => {
      mkdirSync(join(dir, 'w'));
      writeFileSync(join(dir, 'w', 'weights.bin'), randomBytes(2 << 20));
      writeFileSync(join(dir, 'w', 'config.json'), JSON.stringify({ a: 1 }));
      const weights = await collectEntries([{ hostPath: join(dir, 'w'), destination: '/models' }]);
      const r = await sampleCompressibility(weights);
      assert.ok(r.ratio > 0.9, `ratio ${r.ratio}`);
      assert.equal((await chooseEncoding('auto', weights)).encoding, 'gzip-stored');

      mkdirSync(join(dir, 't'));
      writeFileSync(join(dir, 't', 'app.py'), 'import os\nprint("hello")\n'.repeat(50000));
      const text = await collectEntries([{ hostPath: join(dir, 't'), destination: '/app' }]);
      assert.ok((await sampleCompressibility(text)).ratio < 0.5);
      assert.equal((await chooseEncoding('auto', text)).encoding, 'gzip');
      assert.equal((await chooseEncoding('gzip', weights)).encoding, 'gzip');
      assert.equal((await chooseEncoding('none', text)).encoding, 'none');
    });
    it('counts a mostly-random layer with a little text as incompressible', async () => {
      mkdirSync(join(dir, 'm'));
      writeFileSync(join(dir, 'm', 'model.safetensors'), randomBytes(4 << 20));
      writeFileSync(join(dir, 'm', 'tokenizer.json'), 'token '.repeat(20000));
      assert.equal((await chooseEncoding('auto', await collectEntries([{ hostPath: join(dir, 'm'), destination: '/models' }]))).encoding, 'gzip-stored');
    });
  });

  describe('writeLayer', () => {
    async function check(compression: 'auto' | 'gzip' | 'none', content: Buffer, format: 'oci' | 'docker' = 'oci') {
      writeFileSync(join(dir, 'model.bin'), content);
      const entries = await collectEntries([{ hostPath: join(dir, 'model.bin'), destination: '/models' }]);
      const tar = await buffer(tarStream(entries, { mtime: 0 }));
      const layout = await OciLayout.create(join(dir, `layout-${compression}-${format}`));
      const r = await writeLayer(layout, entries, { compression, format, mtime: 0 });
      const blob = readFileSync(layout.blobPath(r.digest));
      assert.equal(r.digest, sha(blob), 'digest = sha256 of the stored blob');
      assert.equal(r.size, blob.length);
      assert.equal(r.diffId, sha(tar), 'diff_id = sha256 of the uncompressed tar');
      assert.equal(r.uncompressedSize, tar.length);
      if (compression === 'none') assert.ok(blob.equals(tar));
      else assert.ok(gunzipSync(blob).equals(tar));
      assert.deepEqual(
        (await (await import('node:fs/promises')).readdir(join(layout.dir, 'blobs', 'sha256'))).filter((n) => n.startsWith('.tmp')),
        [],
      );
      return r;
    }
    it('auto on random bytes: stored gzip, OCI gzip media type, digest and diff_id right', async () => {
      const r = await check('auto', randomBytes(1 << 20));
      assert.equal(r.encoding, 'gzip-stored');
      assert.equal(r.mediaType, MediaType.OciLayerGzip);
      assert.ok(r.size > r.uncompressedSize);
    });
    it('auto on a big random file: diff_id hashed on a worker thread, still exact', async () => {
      const r = await check('auto', randomBytes(PARALLEL_THRESHOLD + 12345));
      assert.equal(r.encoding, 'gzip-stored');
    });
    it('the worker-side diff_id follows the same tar bytes as the stream (recipe)', async () => {
      mkdirSync(join(dir, 'r'));
      writeFileSync(join(dir, 'r', 'a.bin'), randomBytes(700));
      writeFileSync(join(dir, 'r', 'b.bin'), randomBytes(513));
      const entries = await collectEntries([{ hostPath: join(dir, 'r'), destination: '/m' }]);
      const tar = await buffer(tarStream(entries, { mtime: 5 }));
      const { result } = diffIdOnWorker(tarRecipe(entries, 5));
      assert.deepEqual(await result, { digest: sha(tar), total: tar.length });
    });
    it('auto on text: compressed', async () => {
      const r = await check('auto', Buffer.from('lorem ipsum dolor '.repeat(100000)));
      assert.equal(r.encoding, 'gzip');
      assert.ok(r.size < r.uncompressedSize / 10);
    });
    it('gzip and none, in OCI and Docker media types', async () => {
      assert.equal((await check('gzip', randomBytes(100000), 'docker')).mediaType, MediaType.DockerLayerGzip);
      const none = await check('none', randomBytes(100000));
      assert.equal(none.mediaType, MediaType.OciLayer);
      assert.equal(none.digest, none.diffId);
      assert.equal((await check('none', randomBytes(10), 'docker')).mediaType, MediaType.DockerLayer);
    });
    it('is deterministic: the same content twice gives the same digest', async () => {
      const data = randomBytes(300000);
      const a = await check('auto', data);
      const b = await check('auto', data);
      assert.equal(a.digest, b.digest);
      assert.equal(a.diffId, b.diffId);
    });
  });
});
