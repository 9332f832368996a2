/**
 * fetchModel called in-process against an in-memory store: which model is
 * chosen, where it lands, how it is verified, what a failed verification
 * leaves behind (nothing), the cache (skip an unchanged model, re-download a
 * changed or tampered one), archive extraction, progress and the summary.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { UserError } from '../../../shared/errors';
import { fetchModel, summarize, type FetchModelOptions } from '../../../shared/fetch/fetch-model';
import type { Logger } from '../../../shared/log';
import type { ProgressUpdate } from '../../../shared/progress';
import { MemoryStore, sha256 } from './memory-store';

interface CapturedLogger extends Logger {
  infos: string[];
  warns: string[];
  updates: ProgressUpdate[];
}

function capture(): CapturedLogger {
  const infos: string[] = [];
  const warns: string[] = [];
  const updates: ProgressUpdate[] = [];
  return { infos, warns, updates, info: (m) => infos.push(m), warn: (m) => warns.push(m), debug: () => {}, progress: (u) => updates.push(u) };
}

/** sha256 of the sorted "path sha256\n" manifest of a folder, computed here independently. */
function folderDigest(files: Record<string, string>): string {
  const lines = Object.keys(files)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((p) => `${p} ${sha256(files[p] as string)}\n`);
  return sha256(lines.join(''));
}

async function tarGz(entries: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const [name, body] of Object.entries(entries)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** Everything under `dir`, relative, sorted (hidden temporaries included). */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map((p) => p.split('\\').join('/')).sort();
}

const t = (iso: string): Date => new Date(iso);
const md5 = (data: string): string => createHash('md5').update(data).digest('base64');

describe('fetchModel (in-process, in-memory store)', () => {
  let dest: string;
  let store: MemoryStore;
  let logger: CapturedLogger;

  beforeEach(() => {
    dest = mkdtempSync(join(tmpdir(), 'fetch-model-'));
    store = new MemoryStore();
    logger = capture();
  });
  afterEach(() => rmSync(dest, { recursive: true, force: true }));

  const run = (over: Partial<FetchModelOptions>): ReturnType<typeof fetchModel> =>
    fetchModel({
      store,
      modelPath: 'models/',
      versionSelection: 'latestModified',
      destination: dest,
      logger,
      location: "container 'models'",
      blockSize: 4,
      concurrency: 2,
      retries: 0,
      ...over,
    });

  describe('selection and placement', () => {
    it('fetches an exact key as a file model into <destination>/<file name>, verified by its sha256 metadata', async () => {
      const data = 'onnx weights v1';
      store.put('models/resnet/model.onnx', data, { metadata: { sha256: sha256(data) } });
      const r = await run({ modelPath: 'models/resnet/model.onnx' });
      assert.equal(r.kind, 'file');
      assert.equal(r.modelPath, join(dest, 'model.onnx'));
      assert.equal(readFileSync(r.modelPath, 'utf8'), data);
      assert.equal(r.modelUri, 'mem://models/models/resnet/model.onnx');
      assert.equal(r.modelSha256, sha256(data));
      assert.equal(r.modelSizeBytes, data.length);
      assert.equal(r.cached, false);
      assert.equal(r.verified, true);
      assert.match(r.verification, /sha256 metadata/);
      assert.deepEqual(
        r.files.map((f) => f.relativePath),
        ['model.onnx'],
      );
      // Only the model, the cache marker and the model record (for BundleModelImage): no temporaries left.
      assert.deepEqual(tree(dest), ['.fetchmodel-cache.json', '.fetchmodel-model.json', 'model.onnx']);
    });

    it('fetches the newest version folder as a folder model into <destination>/<version>/, keeping the layout', async () => {
      const v2 = { 'model.onnx': 'weights 2', 'tokenizer/vocab.txt': 'a b c' };
      store.put('models/bert/1.0.0/model.onnx', 'weights 1', { lastModified: t('2024-01-01T00:00:00Z') });
      store.put('models/bert/2.0.0/model.onnx', v2['model.onnx'], { lastModified: t('2024-02-01T00:00:00Z') });
      store.put('models/bert/2.0.0/tokenizer/vocab.txt', v2['tokenizer/vocab.txt'], { lastModified: t('2024-02-01T00:00:00Z') });
      const r = await run({ modelPath: 'models/bert/' });
      assert.equal(r.kind, 'folder');
      assert.equal(r.modelVersion, '2.0.0');
      assert.equal(r.modelPath, join(dest, '2.0.0'));
      assert.equal(readFileSync(join(dest, '2.0.0', 'model.onnx'), 'utf8'), 'weights 2');
      assert.equal(readFileSync(join(dest, '2.0.0', 'tokenizer', 'vocab.txt'), 'utf8'), 'a b c');
      assert.equal(r.modelSha256, folderDigest(v2));
      assert.equal(r.modelSizeBytes, 'weights 2'.length + 'a b c'.length);
      assert.deepEqual(
        r.files.map((f) => f.relativePath),
        ['model.onnx', 'tokenizer/vocab.txt'],
      );
      assert.ok(!existsSync(join(dest, '1.0.0')), 'the older version is not fetched');
      assert.ok(
        logger.infos.some((l) => l.includes('2 files')),
        logger.infos.join('\n'),
      );
    });

    it('takes a key without its trailing slash as a folder when no object has that exact name', async () => {
      store.put('models/bert/2.0.0/model.onnx', 'w');
      store.put('models/bert/2.0.0/config.json', '{}');
      const r = await run({ modelPath: 'models/bert/2.0.0' });
      assert.equal(r.kind, 'folder');
      assert.equal(r.modelVersion, '2.0.0');
      assert.equal(r.modelPath, join(dest, '2.0.0'));
      assert.equal(readFileSync(join(r.modelPath, 'model.onnx'), 'utf8'), 'w');
      assert.equal(readFileSync(join(r.modelPath, 'config.json'), 'utf8'), '{}');
    });

    it('highestVersion picks the highest semantic version, not the newest', async () => {
      store.put('models/bert/10.0.0/model.onnx', 'ten', { lastModified: t('2024-01-01T00:00:00Z') });
      store.put('models/bert/9.0.0/model.onnx', 'nine', { lastModified: t('2024-03-01T00:00:00Z') });
      const r = await run({ modelPath: 'models/bert/', versionSelection: 'highestVersion' });
      assert.equal(r.modelVersion, '10.0.0');
      assert.equal(readFileSync(join(dest, '10.0.0', 'model.onnx'), 'utf8'), 'ten');
    });

    it('pinned picks the named version folder', async () => {
      store.put('models/bert/1.0.0/model.onnx', 'one', { lastModified: t('2024-01-01T00:00:00Z') });
      store.put('models/bert/2.0.0/model.onnx', 'two', { lastModified: t('2024-03-01T00:00:00Z') });
      const r = await run({ modelPath: 'models/bert/', versionSelection: 'pinned', version: '1.0.0' });
      assert.equal(r.modelVersion, '1.0.0');
      assert.equal(readFileSync(join(dest, '1.0.0', 'model.onnx'), 'utf8'), 'one');
      assert.ok(!existsSync(join(dest, '2.0.0')));
    });

    it('pinned on an exact key reads that version id of the object', async () => {
      store.put('models/model.onnx', 'current', { versionId: 'v-current' });
      store.putVersion('models/model.onnx', 'v-old', 'old bytes');
      const r = await run({ modelPath: 'models/model.onnx', versionSelection: 'pinned', version: 'v-old' });
      assert.equal(r.modelVersion, 'v-old');
      assert.equal(readFileSync(join(dest, 'model.onnx'), 'utf8'), 'old bytes');
      assert.ok(
        store.heads.some((h) => h.versionId === 'v-old'),
        'the version was looked up by id',
      );
      assert.ok(
        store.reads.every((x) => x.versionId === 'v-old'),
        'every range read names the version',
      );
    });

    it('a pinned version id that does not exist fails naming the version and leaves nothing', async () => {
      store.put('models/model.onnx', 'current', { versionId: 'v-current' });
      await assert.rejects(run({ modelPath: 'models/model.onnx', versionSelection: 'pinned', version: 'v-missing' }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /v-missing/);
        return true;
      });
      assert.deepEqual(tree(dest), []);
    });

    it('metadata selection picks the newest object matching the filter', async () => {
      store.put('models/a.onnx', 'staging', { lastModified: t('2024-03-01T00:00:00Z'), metadata: { stage: 'staging' } });
      store.put('models/b.onnx', 'prod-old', { lastModified: t('2024-01-01T00:00:00Z'), metadata: { stage: 'production' } });
      store.put('models/c.onnx', 'prod-new', { lastModified: t('2024-02-01T00:00:00Z'), metadata: { stage: 'production' } });
      const r = await run({ versionSelection: 'metadata', metadataFilter: { stage: 'production' } });
      assert.equal(r.modelPath, join(dest, 'c.onnx'));
      assert.equal(readFileSync(r.modelPath, 'utf8'), 'prod-new');
    });

    it('include narrows the files of a folder model', async () => {
      store.put('models/bert/1.0.0/model.onnx', 'w');
      store.put('models/bert/1.0.0/notes/readme.md', 'docs');
      const r = await run({ modelPath: 'models/bert/1.0.0/', include: '*.onnx' });
      assert.deepEqual(
        r.files.map((f) => f.relativePath),
        ['model.onnx'],
      );
      assert.ok(!existsSync(join(r.modelPath, 'notes')));
    });

    it('a missing model is a NotFound error naming the path, and nothing is written', async () => {
      store.put('models/other/model.onnx', 'w');
      await assert.rejects(run({ modelPath: 'models/missing/' }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'NotFound');
        assert.match(e.message, /models\/missing\//);
        return true;
      });
      assert.deepEqual(tree(dest), []);
    });

    it('rejects a malformed expectedSha256 before reading anything', async () => {
      store.put('models/model.onnx', 'w');
      await assert.rejects(
        run({ modelPath: 'models/model.onnx', expectedSha256: 'abc' }),
        (e: unknown) => e instanceof UserError && /expectedSha256/.test(e.message),
      );
      assert.equal(store.reads.length, 0);
    });
  });

  describe('verification', () => {
    it('verifies a file against expectedSha256 (with or without the sha256: prefix)', async () => {
      store.put('models/model.onnx', 'bytes');
      const r = await run({ modelPath: 'models/model.onnx', expectedSha256: `sha256:${sha256('bytes').toUpperCase()}` });
      assert.equal(r.verified, true);
      assert.match(r.verification, /expectedSha256/);
    });

    it('verifies by Content-MD5 when that is all the store publishes', async () => {
      const data = 'md5 verified';
      store.put('models/model.onnx', data, { contentMd5: md5(data) });
      const r = await run({ modelPath: 'models/model.onnx' });
      assert.equal(r.verified, true);
      assert.match(r.verification, /Content-MD5/);
    });

    it('a sha256 metadata mismatch fails with ChecksumMismatch and leaves nothing at the destination', async () => {
      store.put('models/model.onnx', 'corrupted bytes', { metadata: { sha256: sha256('original bytes') } });
      await assert.rejects(run({ modelPath: 'models/model.onnx' }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'ChecksumMismatch');
        assert.match(e.message, /mem:\/\/models\/models\/model\.onnx/);
        return true;
      });
      assert.deepEqual(tree(dest), []);
    });

    it('an expectedSha256 mismatch on a file fails and leaves nothing', async () => {
      store.put('models/model.onnx', 'bytes');
      await assert.rejects(
        run({ modelPath: 'models/model.onnx', expectedSha256: 'a'.repeat(64) }),
        (e: unknown) => e instanceof UserError && e.code === 'ChecksumMismatch',
      );
      assert.deepEqual(tree(dest), []);
    });

    it('checks a folder against expectedSha256 of its manifest: a match verifies every file', async () => {
      const files = { 'a.bin': 'A', 'sub/b.bin': 'B' };
      for (const [p, d] of Object.entries(files)) store.put(`models/m/1.0.0/${p}`, d);
      const r = await run({ modelPath: 'models/m/1.0.0/', expectedSha256: folderDigest(files) });
      assert.equal(r.verified, true);
      assert.ok(
        r.files.every((f) => /expectedSha256 \(manifest\)/.test(f.verifiedBy ?? '')),
        JSON.stringify(r.files),
      );
    });

    it('a folder whose manifest differs from expectedSha256 fails and leaves nothing, not even the part already written', async () => {
      store.put('models/m/1.0.0/a.bin', 'A');
      store.put('models/m/1.0.0/b.json', 'B');
      await assert.rejects(run({ modelPath: 'models/m/1.0.0/', expectedSha256: 'b'.repeat(64) }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'ChecksumMismatch');
        assert.match(e.message, /manifest/);
        return true;
      });
      assert.deepEqual(tree(dest), []);
    });

    it('without any published checksum: a warning and verified=false, or an error and nothing left with requireChecksum', async () => {
      store.put('models/model.onnx', 'unverifiable');
      const r = await run({ modelPath: 'models/model.onnx' });
      assert.equal(r.verified, false);
      assert.equal(r.verification, 'not verified');
      assert.ok(
        logger.warns.some((w) => w.includes('models/model.onnx') && /unverified/.test(w)),
        logger.warns.join('\n'),
      );

      const dest2 = mkdtempSync(join(tmpdir(), 'fetch-model-req-'));
      try {
        await assert.rejects(run({ modelPath: 'models/model.onnx', destination: dest2, requireChecksum: true }), (e: unknown) => {
          assert.ok(e instanceof UserError);
          assert.match(e.message, /requireChecksum/);
          return true;
        });
        assert.deepEqual(tree(dest2), []);
      } finally {
        rmSync(dest2, { recursive: true, force: true });
      }
    });

    it('a folder where only some files publish a checksum is reported as partly verified', async () => {
      store.put('models/m/1.0.0/a.bin', 'A', { contentMd5: md5('A') });
      store.put('models/m/1.0.0/b.json', 'B');
      const r = await run({ modelPath: 'models/m/1.0.0/' });
      assert.equal(r.kind, 'folder');
      assert.equal(r.verified, false);
      assert.equal(r.verification, 'partly (Content-MD5)');
    });

    // Listings carry no user metadata (S3 never; Blob only when asked), so the chosen files are
    // asked for theirs: a published `sha256` metadata key is checked for a folder model and for a
    // file chosen under a prefix, as docs/troubleshooting.md tells publishers.
    it('verifies the files of a folder model by their published sha256 metadata', async () => {
      store.put('models/m/1.0.0/a.bin', 'A', { metadata: { sha256: sha256('A') } });
      store.put('models/m/1.0.0/b.json', 'B', { metadata: { sha256: sha256('B') } });
      const r = await run({ modelPath: 'models/m/1.0.0/', requireChecksum: true });
      assert.equal(r.verified, true);
      assert.match(r.verification, /sha256 metadata/);
    });

    it('verifies a file chosen under a prefix by its published sha256 metadata, and refuses a mismatch', async () => {
      store.put('models/v/model-1.0.onnx', 'one', { metadata: { sha256: sha256('one') } });
      store.put('models/v/model-1.1.onnx', 'eleven', { metadata: { sha256: sha256('not eleven') } });
      await assert.rejects(
        run({ modelPath: 'models/v/', versionSelection: 'highestVersion' }),
        (e: unknown) => e instanceof UserError && /sha256/i.test((e as Error).message),
      );
      store.put('models/v/model-1.1.onnx', 'eleven', { metadata: { sha256: sha256('eleven') } });
      const r = await run({ modelPath: 'models/v/', versionSelection: 'highestVersion', requireChecksum: true });
      assert.equal(r.verified, true);
      assert.match(r.verification, /sha256 metadata/);
    });
  });

  describe('cache', () => {
    it('skips an unchanged model (no reads), re-hashing the local copy', async () => {
      const data = 'cached weights';
      store.put('models/model.onnx', data, { metadata: { sha256: sha256(data) } });
      const first = await run({ modelPath: 'models/model.onnx' });
      const readsAfterFirst = store.reads.length;
      assert.ok(readsAfterFirst > 0);
      const second = await run({ modelPath: 'models/model.onnx' });
      assert.equal(second.cached, true);
      assert.equal(store.reads.length, readsAfterFirst, 'a cache hit reads nothing from the store');
      assert.equal(second.modelPath, first.modelPath);
      assert.equal(second.modelSha256, first.modelSha256);
      assert.equal(second.modelSizeBytes, data.length);
      assert.equal(second.verified, true);
      assert.ok(
        logger.infos.some((l) => /download skipped/.test(l)),
        logger.infos.join('\n'),
      );
      assert.match(summarize(second).join('\n'), /fetched: +no, the destination already held this version/);
    });

    it('downloads again when the object changed in the store', async () => {
      store.put('models/m/1.0.0/a.bin', 'A1');
      store.put('models/m/1.0.0/c.json', 'C');
      await run({ modelPath: 'models/m/1.0.0/' });
      store.put('models/m/1.0.0/a.bin', 'A2 changed');
      const r = await run({ modelPath: 'models/m/1.0.0/' });
      assert.equal(r.cached, false);
      assert.equal(readFileSync(join(dest, '1.0.0', 'a.bin'), 'utf8'), 'A2 changed');
      assert.equal(r.modelSha256, folderDigest({ 'a.bin': 'A2 changed', 'c.json': 'C' }));
    });

    it('downloads again when the local copy was edited', async () => {
      store.put('models/model.onnx', 'good');
      await run({ modelPath: 'models/model.onnx' });
      writeFileSync(join(dest, 'model.onnx'), 'evil');
      const r = await run({ modelPath: 'models/model.onnx' });
      assert.equal(r.cached, false);
      assert.equal(readFileSync(join(dest, 'model.onnx'), 'utf8'), 'good');
    });

    it('does not trust a cached copy whose sha256 differs from expectedSha256', async () => {
      store.put('models/model.onnx', 'good');
      await run({ modelPath: 'models/model.onnx' });
      const reads = store.reads.length;
      await assert.rejects(
        run({ modelPath: 'models/model.onnx', expectedSha256: 'c'.repeat(64) }),
        (e: unknown) => e instanceof UserError && e.code === 'ChecksumMismatch',
      );
      assert.ok(store.reads.length > reads, 'the model was downloaded again rather than served from the cache');
    });
  });

  describe('extraction', () => {
    it('extracts a .tar.gz into <destination>/<archive name>/ and removes the archive', async () => {
      const archive = await tarGz({ 'model.onnx': 'weights', 'config/labels.txt': 'cat\ndog\n' });
      store.put('models/resnet-1.2.0.tar.gz', archive, { metadata: { sha256: sha256(archive) } });
      const r = await run({ modelPath: 'models/resnet-1.2.0.tar.gz', extract: true });
      assert.equal(r.modelPath, join(dest, 'resnet-1.2.0'));
      assert.equal(readFileSync(join(r.modelPath, 'model.onnx'), 'utf8'), 'weights');
      assert.equal(readFileSync(join(r.modelPath, 'config', 'labels.txt'), 'utf8'), 'cat\ndog\n');
      assert.equal(r.modelSha256, sha256(archive), 'modelSha256 is the archive as stored');
      assert.deepEqual(tree(dest), [
        '.fetchmodel-cache.json',
        'resnet-1.2.0',
        'resnet-1.2.0/config',
        'resnet-1.2.0/config/labels.txt',
        'resnet-1.2.0/model.onnx',
      ]);

      // The extracted files are what the cache re-hashes.
      const again = await run({ modelPath: 'models/resnet-1.2.0.tar.gz', extract: true });
      assert.equal(again.cached, true);
      writeFileSync(join(r.modelPath, 'model.onnx'), 'tampered');
      const third = await run({ modelPath: 'models/resnet-1.2.0.tar.gz', extract: true });
      assert.equal(third.cached, false);
      assert.equal(readFileSync(join(r.modelPath, 'model.onnx'), 'utf8'), 'weights');
    });

    it('refuses extract=true on something that is not an archive, before downloading', async () => {
      store.put('models/model.onnx', 'w');
      await assert.rejects(run({ modelPath: 'models/model.onnx', extract: true }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /not a \.tar, \.tar\.gz, \.tgz or \.zip archive/);
        return true;
      });
      assert.equal(store.reads.length, 0);
      assert.deepEqual(tree(dest), []);
    });

    it('a corrupt archive fails and leaves neither the archive nor a partial folder', async () => {
      const bad = Buffer.from('this is not gzip at all');
      store.put('models/broken.tgz', bad);
      await assert.rejects(run({ modelPath: 'models/broken.tgz', extract: true }), (e: unknown) => e instanceof Error);
      assert.deepEqual(tree(dest), []);
    });
  });

  describe('progress and summary', () => {
    it('reports progress ending in a done update with every byte counted', async () => {
      const data = Buffer.alloc(64 * 1024, 7);
      store.put('models/big.bin', data);
      await run({ modelPath: 'models/big.bin', blockSize: 8 * 1024 });
      const last = logger.updates[logger.updates.length - 1];
      assert.ok(last, 'at least one progress update');
      assert.equal(last.done, true);
      assert.equal(last.bytesDone, data.length);
      assert.equal(last.bytesTotal, data.length);
      assert.match(last.label, /mem:\/\/models\/models\/big\.bin/);
    });

    it('summarize names the model, version, digest, size, local path and verification', async () => {
      const files = { 'a.bin': 'AAAA', 'b.bin': 'BB' };
      for (const [p, d] of Object.entries(files)) store.put(`models/m/3.1.0/${p}`, d, { contentMd5: md5(d) });
      const r = await run({ modelPath: 'models/m/' });
      const text = summarize(r).join('\n');
      assert.match(text, /^Summary/);
      assert.match(text, /model: +mem:\/\/models\/models\/m\/3\.1\.0\//);
      assert.match(text, /version: +3\.1\.0/);
      assert.ok(text.includes(`${folderDigest(files)} (manifest of the folder)`), text);
      assert.match(text, /size: +6 B in 2 files/);
      assert.ok(text.includes(`local:     ${join(dest, '3.1.0')}`), text);
      assert.match(text, /fetched: +in /);
      assert.match(text, /verified: +Content-MD5$/m);
    });

    it('summarize of a single file says 1 file and no manifest note', () => {
      const text = summarize({
        modelPath: '/d/m.onnx',
        modelUri: 's3://b/m.onnx',
        modelVersion: 'v1',
        modelSha256: 'f'.repeat(64),
        modelSizeBytes: 2048,
        kind: 'file',
        files: [{ relativePath: 'm.onnx', key: 'm.onnx', size: 2048, sha256: 'f'.repeat(64) }],
        cached: false,
        verified: false,
        verification: 'not verified',
        reason: 'exact key',
        seconds: 2,
        bytesDownloaded: 2048,
      }).join('\n');
      assert.match(text, /size: +2\.0 KiB in 1 file$/m);
      assert.ok(!text.includes('manifest'), text);
      assert.match(text, /fetched: +in .*\/s/);
      assert.match(text, /verified: +not verified/);
    });
  });
});
