import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../shared/errors';
import { blockCount, downloadObject, planRanges } from '../../../shared/download/ranged';
import { FakeStore } from './fake-store';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');
const fast = { baseDelayMs: 1, maxDelayMs: 5 };

describe('download/ranged', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ranged-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('planRanges', () => {
    const cases: { name: string; size: number; block: number; want: [number, number][] }[] = [
      { name: 'empty object has no ranges', size: 0, block: 8, want: [] },
      { name: 'object smaller than a block is one range', size: 5, block: 8, want: [[0, 5]] },
      {
        name: 'exact multiple of the block size',
        size: 16,
        block: 8,
        want: [
          [0, 8],
          [8, 16],
        ],
      },
      {
        name: 'short last block',
        size: 17,
        block: 8,
        want: [
          [0, 8],
          [8, 16],
          [16, 17],
        ],
      },
      {
        name: 'one-byte blocks',
        size: 3,
        block: 1,
        want: [
          [0, 1],
          [1, 2],
          [2, 3],
        ],
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        assert.deepEqual(
          planRanges(c.size, c.block).map((r) => [r.start, r.end]),
          c.want,
        );
        assert.equal(blockCount(c.size, c.block), c.want.length);
      });
    }
    it('rejects a zero block size', () => assert.throws(() => planRanges(10, 0), RangeError));
  });

  it('downloads a multi-block object with correct bytes, sha256 and md5', async () => {
    const data = randomBytes(1_000_003);
    const store = new FakeStore(new Map([['m.bin', data]]));
    const dest = join(dir, 'm.bin');
    let progressed = 0;
    const r = await downloadObject(store, store.object('m.bin'), dest, {
      blockSize: 64 * 1024,
      concurrency: 4,
      hashes: ['md5'],
      onProgress: (n) => (progressed += n),
    });
    assert.ok(readFileSync(dest).equals(data));
    assert.equal(r.sha256, sha(data));
    assert.equal(r.md5, md5(data));
    assert.equal(r.bytes, data.length);
    assert.equal(progressed, data.length);
    assert.equal(store.calls.length, Math.ceil(data.length / (64 * 1024)));
    assert.ok(
      store.calls.every((c) => c.options?.ifMatch === 'etag-1'),
      'If-Match sent with the object etag',
    );
  });

  it('handles body chunks larger than its write buffer, resuming after a cut inside one', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 7);
    const store = new FakeStore(new Map([['k', data]]));
    store.chunkSize = 3 * 1024 * 1024 + 1;
    store.faults = (n) => (n === 0 ? { kind: 'reset', afterBytes: 4 * 1024 * 1024 } : undefined);
    const dest = join(dir, 'k');
    const r = await downloadObject(store, store.object('k'), dest, { blockSize: 8 * 1024 * 1024, ...fast });
    assert.equal(r.sha256, sha(data));
    assert.ok(readFileSync(dest).equals(data));
    assert.deepEqual(
      store.calls.map((c) => c.start),
      [0, 4 * 1024 * 1024],
    );
  });

  it('uses one request for an object smaller than a block and omits md5 unless asked', async () => {
    const data = randomBytes(1000);
    const store = new FakeStore(new Map([['s', data]]));
    const r = await downloadObject(store, store.object('s'), join(dir, 's'));
    assert.equal(store.calls.length, 1);
    assert.deepEqual([store.calls[0].start, store.calls[0].end], [0, 1000]);
    assert.equal(r.md5, undefined);
    assert.equal(r.sha256, sha(data));
  });

  it('writes an empty file for a zero-byte object without any request', async () => {
    const store = new FakeStore(new Map([['z', Buffer.alloc(0)]]));
    const dest = join(dir, 'z');
    const r = await downloadObject(store, store.object('z'), dest, { hashes: ['md5'] });
    assert.equal(readFileSync(dest).length, 0);
    assert.equal(r.sha256, sha(Buffer.alloc(0)));
    assert.equal(r.md5, md5(Buffer.alloc(0)));
    assert.equal(store.calls.length, 0);
  });

  it('resumes a range cut mid-body from the byte where it stopped', async () => {
    const data = randomBytes(300_000);
    const store = new FakeStore(new Map([['k', data]]));
    store.chunkSize = 10_000;
    // The first read of each block (from its start) is reset after 25,000 bytes.
    store.faults = (_n, start) => (start % 100_000 === 0 ? { kind: 'reset', afterBytes: 25_000 } : undefined);
    const r = await downloadObject(store, store.object('k'), join(dir, 'k'), { blockSize: 100_000, concurrency: 2, ...fast });
    assert.equal(r.sha256, sha(data));
    assert.ok(readFileSync(join(dir, 'k')).equals(data));
    const starts = store.calls.map((c) => [c.start, c.end]);
    // 3 blocks: each read once from its start, then resumed at start + 25,000.
    for (const b of [0, 100_000, 200_000]) {
      assert.ok(
        starts.some(([s, e]) => s === b && e === b + 100_000),
        `block ${b} first read`,
      );
      assert.ok(
        starts.some(([s, e]) => s === b + 25_000 && e === b + 100_000),
        `block ${b} resumed at +25000`,
      );
    }
    assert.equal(store.calls.length, 6, 'no range restarted from its beginning');
    assert.equal(r.retries, 3);
  });

  it('detects a truncated body (clean end before the range is complete) and resumes it', async () => {
    const data = randomBytes(200_000);
    const store = new FakeStore(new Map([['k', data]]));
    store.faults = (n) => (n === 0 ? { kind: 'truncate', afterBytes: 70_000 } : undefined);
    const r = await downloadObject(store, store.object('k'), join(dir, 'k'), { blockSize: 1_000_000, ...fast });
    assert.equal(r.sha256, sha(data));
    assert.deepEqual(
      store.calls.map((c) => [c.start, c.end]),
      [
        [0, 200_000],
        [70_000, 200_000],
      ],
    );
  });

  it('retries 503 and 429 bursts and honours a retry-after hint', async () => {
    const data = randomBytes(50_000);
    const store = new FakeStore(new Map([['k', data]]));
    // The hint (600 ms) dwarfs the backoff (at most 5 ms a retry): only waiting for the hint takes that long.
    store.faults = (n) => (n < 3 ? { kind: 'status', status: 503 } : n === 3 ? { kind: 'status', status: 429, retryAfterMs: 600 } : undefined);
    const t0 = Date.now();
    const r = await downloadObject(store, store.object('k'), join(dir, 'k'), fast);
    assert.equal(r.sha256, sha(data));
    assert.equal(r.retries, 4);
    assert.ok(Date.now() - t0 >= 600, 'waited at least the retry-after hint');
  });

  it('aborts a stalled read after the stall timeout and resumes it', async () => {
    const data = randomBytes(100_000);
    const store = new FakeStore(new Map([['k', data]]));
    store.chunkSize = 10_000;
    store.faults = (n) => (n === 0 ? { kind: 'stall', afterBytes: 40_000 } : undefined);
    const r = await downloadObject(store, store.object('k'), join(dir, 'k'), { stallTimeoutMs: 100, ...fast });
    assert.equal(r.sha256, sha(data));
    assert.deepEqual(
      store.calls.map((c) => c.start),
      [0, 40_000],
    );
  });

  it('fails with a UserError after the retries run out and leaves no file', async () => {
    const data = randomBytes(300_000);
    const store = new FakeStore(new Map([['k', data]]));
    store.faults = (_n, start) => (start >= 100_000 ? { kind: 'status', status: 503 } : undefined);
    const dest = join(dir, 'k');
    await assert.rejects(downloadObject(store, store.object('k'), dest, { blockSize: 100_000, retries: 3, ...fast }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /^Downloading s3:\/\/fake\/k failed after 4 attempts at bytes \d+-\d+: HTTP 503/);
      return true;
    });
    assert.equal(existsSync(dest), false);
  });

  it('does not retry a non-transient error (403) and leaves no file', async () => {
    const data = randomBytes(1000);
    const store = new FakeStore(new Map([['k', data]]));
    store.faults = () => ({ kind: 'status', status: 403 });
    const dest = join(dir, 'k');
    await assert.rejects(downloadObject(store, store.object('k'), dest, fast), /failed at bytes 0-999: HTTP 403/);
    assert.equal(store.calls.length, 1);
    assert.equal(existsSync(dest), false);
  });

  it('fails with a clear message when the object changes during the download (412)', async () => {
    const data = randomBytes(1000);
    const store = new FakeStore(new Map([['k', data]]));
    await assert.rejects(downloadObject(store, store.object('k', { etag: 'etag-2' }), join(dir, 'k'), fast), /changed while it was being downloaded/);
  });

  it('rejects a body longer than the range (Range ignored) without retrying', async () => {
    const data = randomBytes(1000);
    const store = new FakeStore(new Map([['k', data]]));
    store.faults = () => ({ kind: 'overlong' });
    await assert.rejects(downloadObject(store, store.object('k'), join(dir, 'k'), { blockSize: 500, ...fast }), /Range not honoured/);
  });

  it('keeps going when a flaky link makes progress on every attempt', async () => {
    const data = randomBytes(200_000);
    const store = new FakeStore(new Map([['k', data]]));
    store.chunkSize = 5_000;
    // Every read is reset after 20,000 bytes: 10 reads, more than `retries`, but each makes progress.
    store.faults = () => ({ kind: 'reset', afterBytes: 20_000 });
    const r = await downloadObject(store, store.object('k'), join(dir, 'k'), { retries: 2, ...fast });
    assert.equal(r.sha256, sha(data));
    assert.equal(store.calls.length, 10);
  });

  it('stops when the caller aborts and removes the file', async () => {
    const data = randomBytes(100_000);
    const store = new FakeStore(new Map([['k', data]]));
    store.faults = () => ({ kind: 'stall', afterBytes: 1000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('cancelled by test')), 50);
    const dest = join(dir, 'k');
    await assert.rejects(downloadObject(store, store.object('k'), dest, { signal: ac.signal, ...fast }), /cancelled by test/);
    assert.equal(existsSync(dest), false);
  });

  it('bounds the buffers: never more blocks in flight than the concurrency', async () => {
    const data = randomBytes(64 * 1024 * 20);
    const store = new FakeStore(new Map([['k', data]]));
    let inFlight = 0;
    let peak = 0;
    const orig = store.readRange.bind(store);
    store.readRange = async (...args) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      const s = await orig(...args);
      s.once('close', () => inFlight--);
      return s;
    };
    const r = await downloadObject(store, store.object('k'), join(dir, 'k'), { blockSize: 64 * 1024, concurrency: 3 });
    assert.equal(r.sha256, sha(data));
    assert.ok(peak <= 3, `peak ${peak}`);
  });

  describe('hashing on a worker thread', () => {
    it('gives the same sha256 and md5 with out-of-order blocks', async () => {
      const data = randomBytes(3_000_017);
      const store = new FakeStore(new Map([['k', data]]));
      // Later blocks finish first: the first read of every even block is slowed by a reset.
      store.faults = (n, start) => (n < 8 && (start / 100_000) % 2 === 0 ? { kind: 'reset', afterBytes: 50_000 } : undefined);
      const dest = join(dir, 'k');
      const r = await downloadObject(store, store.object('k'), dest, { blockSize: 100_000, concurrency: 6, hashes: ['md5'], hashInWorker: true, ...fast });
      assert.equal(r.sha256, sha(data));
      assert.equal(r.md5, md5(data));
      assert.ok(readFileSync(dest).equals(data));
    });

    it('hashes on the main thread when hashInWorker is false (read-back of out-of-order blocks)', async () => {
      const data = randomBytes(3_000_017);
      const store = new FakeStore(new Map([['k', data]]));
      store.faults = (n, start) => (n < 8 && (start / 100_000) % 2 === 0 ? { kind: 'reset', afterBytes: 50_000 } : undefined);
      const dest = join(dir, 'k');
      const r = await downloadObject(store, store.object('k'), dest, { blockSize: 100_000, concurrency: 6, hashes: ['md5'], hashInWorker: false, ...fast });
      assert.equal(r.sha256, sha(data));
      assert.equal(r.md5, md5(data));
      assert.ok(readFileSync(dest).equals(data));
    });

    it('stops the worker and removes the file on failure', async () => {
      const data = randomBytes(500_000);
      const store = new FakeStore(new Map([['k', data]]));
      store.faults = (_n, start) => (start >= 200_000 ? { kind: 'status', status: 500 } : undefined);
      const dest = join(dir, 'k');
      await assert.rejects(downloadObject(store, store.object('k'), dest, { blockSize: 100_000, retries: 1, hashInWorker: true, ...fast }), UserError);
      assert.equal(existsSync(dest), false);
    });
  });
});
