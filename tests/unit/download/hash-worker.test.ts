import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readlinkSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerHasher } from '../../../shared/download/hash-worker';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

/** Descriptors of this process open on `file` (Linux). */
function openOn(file: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
}

describe('download/hash-worker', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hash-worker-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const cases = [
    { name: 'odd buffer and odd steps', size: 1_000_003, bufferSize: 4097, steps: [1, 4096, 4097, 99_999, 500_000, 1_000_003] },
    { name: 'one step, buffer bigger than the file', size: 70_001, bufferSize: 1 << 20, steps: [70_001] },
    { name: 'one-byte buffer', size: 3001, bufferSize: 1, steps: [7, 7, 3000] },
    { name: 'empty file', size: 0, bufferSize: 16, steps: [] },
  ];
  for (const c of cases) {
    it(`gives the single-thread digests: ${c.name}`, async () => {
      const data = randomBytes(c.size);
      const file = join(dir, 'f');
      writeFileSync(file, data);
      const errors: Error[] = [];
      const h = new WorkerHasher(file, { md5: true, bufferSize: c.bufferSize, onError: (e) => errors.push(e) });
      for (const s of c.steps) h.hashUpTo(s);
      const d = await h.finish(c.size);
      assert.equal(d.sha256, sha(data));
      assert.equal(d.md5, md5(data));
      assert.deepEqual(errors, []);
      assert.equal(openOn(file), 0, 'the descriptor is closed after finish');
    });
  }

  it('computes no MD5 unless asked', async () => {
    const file = join(dir, 'f');
    writeFileSync(file, 'abc');
    const h = new WorkerHasher(file);
    const d = await h.finish(3);
    assert.equal(d.sha256, sha(Buffer.from('abc')));
    assert.equal(d.md5, undefined);
  });

  it('reports a read-back failure at once, before finish, and finish rejects', async () => {
    const file = join(dir, 'f');
    writeFileSync(file, randomBytes(10_000));
    truncateSync(file, 4000);
    let onError: (e: Error) => void = () => undefined;
    const reported = new Promise<Error>((resolve) => {
      onError = resolve;
    });
    const h = new WorkerHasher(file, { bufferSize: 1000, onError });
    h.hashUpTo(10_000);
    const err = await reported;
    assert.match(err.message, /could not read back bytes 4000-9999 .*shorter/);
    await assert.rejects(h.finish(10_000), /could not read back bytes 4000-9999/);
    assert.equal(openOn(file), 0);
  });

  it('throws when the file cannot be opened', () => {
    assert.throws(() => new WorkerHasher(join(dir, 'missing')), /ENOENT/);
  });

  it('abort terminates the worker and closes the file; no error is reported and finish rejects', async () => {
    const data = randomBytes(2_000_000);
    const file = join(dir, 'f');
    writeFileSync(file, data);
    const errors: Error[] = [];
    const h = new WorkerHasher(file, { bufferSize: 1024, onError: (e) => errors.push(e) });
    assert.equal(openOn(file), 1);
    h.hashUpTo(2_000_000);
    await h.abort();
    assert.equal(openOn(file), 0);
    h.hashUpTo(1); // ignored
    await assert.rejects(h.finish(2_000_000), /was stopped/);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(errors, []);
  });
});
