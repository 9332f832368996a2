import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../shared/errors';
import { beginPlacement, ensureWritableDir, replaceAtomically, sweepStaleTemporaries } from '../../../shared/download/placement';
import { CACHE_MARKER, checkCache, removeCacheMarker, sha256File, TRUSTED_STAT, writeCacheMarker, type CacheQuery } from '../../../shared/download/cache';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const isRoot = process.getuid?.() === 0;

describe('download/placement', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'place-'));
  });
  afterEach(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a file under a hidden .partial- name and renames it into place on commit', async () => {
    const final = join(dir, 'models', 'model.onnx');
    const p = await beginPlacement(final, 'file', { within: dir });
    assert.match(p.tempPath, /\/models\/\.model\.onnx\.partial-[0-9a-f]+$/);
    writeFileSync(p.tempPath, 'new');
    assert.equal(existsSync(final), false, 'nothing at the final path before commit');
    await p.commit();
    assert.equal(readFileSync(final, 'utf8'), 'new');
    assert.deepEqual(readdirSync(join(dir, 'models')), ['model.onnx']);
  });

  it('replaces an existing file and leaves no old copy', async () => {
    const final = join(dir, 'model.bin');
    writeFileSync(final, 'old');
    const p = await beginPlacement(final, 'file', { within: dir });
    writeFileSync(p.tempPath, 'new');
    await p.commit();
    assert.equal(readFileSync(final, 'utf8'), 'new');
    assert.deepEqual(readdirSync(dir), ['model.bin']);
  });

  it('replaces an existing folder with a new one', async () => {
    const final = join(dir, 'resnet');
    mkdirSync(join(final, 'old-sub'), { recursive: true });
    writeFileSync(join(final, 'old-sub', 'f'), 'old');
    const p = await beginPlacement(final, 'folder', { within: dir });
    assert.ok(existsSync(p.tempPath), 'temp folder created');
    writeFileSync(join(p.tempPath, 'weights.bin'), 'new');
    await p.commit();
    assert.deepEqual(readdirSync(final), ['weights.bin']);
    assert.deepEqual(readdirSync(dir), ['resnet']);
  });

  it('abort removes the temporary and leaves an existing model untouched', async () => {
    const final = join(dir, 'model.bin');
    writeFileSync(final, 'old');
    const p = await beginPlacement(final, 'folder', { within: dir });
    writeFileSync(join(p.tempPath, 'half'), 'x');
    await p.abort();
    await p.abort();
    assert.deepEqual(readdirSync(dir), ['model.bin']);
    assert.equal(readFileSync(final, 'utf8'), 'old');
  });

  it('puts the old model back when the new one cannot be moved in', async () => {
    const final = join(dir, 'model.bin');
    writeFileSync(final, 'old');
    await assert.rejects(replaceAtomically(join(dir, 'does-not-exist'), final), (e: unknown) => e instanceof UserError && e.input === 'destination');
    assert.equal(readFileSync(final, 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir), ['model.bin']);
  });

  it('fails with a UserError naming the destination input when the folder is not writable', async function () {
    if (isRoot) {
      // root ignores permission bits; a path under a regular file can never be created.
      writeFileSync(join(dir, 'file'), 'x');
      await assert.rejects(
        beginPlacement(join(dir, 'file', 'sub', 'model.bin'), 'file', { within: dir }),
        (e: unknown) => e instanceof UserError && e.input === 'destination' && /'destination' input/.test(e.message),
      );
      return;
    }
    chmodSync(dir, 0o555);
    await assert.rejects(ensureWritableDir(join(dir, 'x')), (e: unknown) => e instanceof UserError && e.input === 'destination');
    await assert.rejects(beginPlacement(join(dir, 'model.bin'), 'file', { within: dir }), (e: unknown) => e instanceof UserError && e.input === 'destination');
  });

  it('sweeps temporaries left by killed runs', async () => {
    writeFileSync(join(dir, '.model.bin.partial-abc'), 'x');
    mkdirSync(join(dir, '.resnet.old-123'));
    writeFileSync(join(dir, 'model.bin'), 'keep');
    const removed = await sweepStaleTemporaries(dir);
    assert.deepEqual(removed.sort(), ['.model.bin.partial-abc', '.resnet.old-123']);
    assert.deepEqual(readdirSync(dir), ['model.bin']);
  });
});

describe('download/cache', () => {
  let dir: string;
  const query: CacheQuery = {
    uri: 's3://bucket/models/resnet/1.2.0/',
    version: '1.2.0',
    layout: 'folder',
    objects: [
      { key: 'models/resnet/1.2.0/a.bin', etag: 'e1', size: 3 },
      { key: 'models/resnet/1.2.0/sub/b.bin', etag: 'e2', versionId: 'v2', size: 4 },
    ],
  };
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cache-'));
    mkdirSync(join(dir, '1.2.0', 'sub'), { recursive: true });
    writeFileSync(join(dir, '1.2.0', 'a.bin'), 'aaa');
    writeFileSync(join(dir, '1.2.0', 'sub', 'b.bin'), 'bbbb');
    await writeCacheMarker(dir, {
      uri: query.uri,
      version: '1.2.0',
      layout: 'folder',
      modelPath: '1.2.0',
      modelSha256: 'f'.repeat(64),
      objects: query.objects.map((o, i) => ({ ...o, sha256: sha(i === 0 ? 'aaa' : 'bbbb') })),
      files: [
        { path: '1.2.0/a.bin', size: 3, sha256: sha('aaa') },
        { path: '1.2.0/sub/b.bin', size: 4, sha256: sha('bbbb') },
      ],
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('hits when the same objects are intact on disk', async () => {
    const r = await checkCache(dir, query);
    assert.equal(r.hit, true);
    if (r.hit) assert.equal(r.marker.modelPath, '1.2.0');
    assert.ok(existsSync(join(dir, CACHE_MARKER)));
  });

  const misses: { name: string; change: (q: CacheQuery) => CacheQuery; reason: RegExp }[] = [
    { name: 'another URI', change: (q) => ({ ...q, uri: 's3://bucket/other/' }), reason: /holds s3:\/\/bucket\/models/ },
    { name: 'another version', change: (q) => ({ ...q, version: '1.3.0' }), reason: /version 1.2.0/ },
    { name: 'another layout', change: (q) => ({ ...q, layout: 'extracted' }), reason: /layout/ },
    { name: 'a changed ETag', change: (q) => ({ ...q, objects: [{ ...q.objects[0], etag: 'e9' }, q.objects[1]] }), reason: /a.bin changed/ },
    { name: 'a changed version id', change: (q) => ({ ...q, objects: [q.objects[0], { ...q.objects[1], versionId: 'v3' }] }), reason: /b.bin changed/ },
    { name: 'an extra object', change: (q) => ({ ...q, objects: [...q.objects, { key: 'c', etag: 'x', size: 1 }] }), reason: /set of objects/ },
    {
      name: 'no ETag or version id to compare',
      change: (q) => ({ ...q, objects: [{ key: q.objects[0].key, size: 3 }, q.objects[1]] }),
      reason: /neither an ETag/,
    },
  ];
  for (const m of misses) {
    it(`misses on ${m.name}`, async () => {
      const r = await checkCache(dir, m.change(query));
      assert.equal(r.hit, false);
      if (!r.hit) assert.match(r.reason, m.reason);
    });
  }

  it('misses when a local file was edited with the same size (full re-hash)', async () => {
    writeFileSync(join(dir, '1.2.0', 'sub', 'b.bin'), 'BBBB');
    const r = await checkCache(dir, query);
    assert.deepEqual(r, { hit: false, reason: 'local file 1.2.0/sub/b.bin no longer matches its sha256' });
  });

  it('trusts files whose size, mtime, ctime and inode are unchanged since verification (no re-hash)', async () => {
    const r = await checkCache(dir, query);
    assert.equal(r.hit, true);
    if (r.hit) assert.equal(r.how, TRUSTED_STAT);
  });

  it('re-hashes every file with reverify', async () => {
    const r = await checkCache(dir, { ...query, reverify: true });
    assert.equal(r.hit, true);
    if (r.hit) assert.equal(r.how, 're-hashed');
  });

  it('catches a same-size edit whose mtime was set back (ctime moved): re-hashed, miss', async () => {
    const p = join(dir, '1.2.0', 'sub', 'b.bin');
    // A whole-second mtime, recorded, so that it can be set back exactly after the edit.
    utimesSync(p, 1_700_000_000, 1_700_000_000);
    await writeCacheMarker(dir, JSON.parse(readFileSync(join(dir, CACHE_MARKER), 'utf8')) as Parameters<typeof writeCacheMarker>[1]);
    assert.equal((await checkCache(dir, query)).hit, true);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(p, 'BBBB');
    utimesSync(p, 1_700_000_000, 1_700_000_000);
    assert.equal(statSync(p).mtimeMs, 1_700_000_000_000);
    assert.deepEqual(await checkCache(dir, query), { hit: false, reason: 'local file 1.2.0/sub/b.bin no longer matches its sha256' });
  });

  it('re-hashes a file replaced by an identical copy (other inode) and still hits', async () => {
    const p = join(dir, '1.2.0', 'a.bin');
    writeFileSync(`${p}.new`, 'aaa');
    renameSync(`${p}.new`, p);
    const r = await checkCache(dir, query);
    assert.equal(r.hit, true);
    if (r.hit) assert.equal(r.how, 're-hashed');
  });

  it('misses when a local file was truncated or deleted', async () => {
    writeFileSync(join(dir, '1.2.0', 'a.bin'), 'a');
    assert.deepEqual(await checkCache(dir, query), { hit: false, reason: 'local file 1.2.0/a.bin was modified' });
    rmSync(join(dir, '1.2.0', 'a.bin'));
    assert.deepEqual(await checkCache(dir, query), { hit: false, reason: 'local file 1.2.0/a.bin is missing' });
  });

  it('misses without a marker, or with a corrupt one', async () => {
    writeFileSync(join(dir, CACHE_MARKER), '{not json');
    assert.deepEqual(await checkCache(dir, query), { hit: false, reason: 'the cache marker is unreadable' });
    await removeCacheMarker(dir);
    assert.deepEqual(await checkCache(dir, query), { hit: false, reason: 'no earlier download in the destination' });
  });

  it('hashes files by streaming', async () => {
    assert.equal(await sha256File(join(dir, '1.2.0', 'a.bin')), sha('aaa'));
  });
});
