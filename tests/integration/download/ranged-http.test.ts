/**
 * downloadObject over real sockets: a local Range-capable HTTP server, reached
 * through the fault proxy. A 256 MiB random object is downloaded with ranges
 * and verified; mid-body cuts, 503/429 bursts and stalls still end with the
 * right sha256; a server that never recovers fails cleanly with no file left.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadObject } from '../../../shared/download/ranged';
import { UserError } from '../../../shared/errors';
import type { StoredObject } from '../../../shared/storage/store';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy';
import { writeRandomFile } from '../../helpers/random-file';
import { RangeHttpStore, startRangeServer, type RangeServer } from '../../helpers/range-http-store';

const MiB = 1024 * 1024;

describe('download/ranged over HTTP through the fault proxy', function () {
  this.timeout(300_000);
  let dir: string;
  let server: RangeServer;
  let proxy: FaultProxy;
  let store: RangeHttpStore;
  let big: StoredObject;
  let bigSha: string;
  let small: StoredObject;
  let smallSha: string;
  const fast = { baseDelayMs: 5, maxDelayMs: 50 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ranged-http-'));
    bigSha = writeRandomFile(join(dir, 'big.bin'), 256 * MiB).sha256;
    smallSha = writeRandomFile(join(dir, 'small.bin'), 20 * MiB + 123).sha256;
    server = await startRangeServer({ 'models/big.bin': join(dir, 'big.bin'), 'models/small.bin': join(dir, 'small.bin') });
    proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: server.port });
    store = new RangeHttpStore(proxy.url);
    big = (await store.head('models/big.bin')) as StoredObject;
    small = (await store.head('models/small.bin')) as StoredObject;
  });
  after(async () => {
    store?.destroy();
    await proxy?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    proxy.setFaults({});
    proxy.resetStats();
    rmSync(join(dir, 'out'), { recursive: true, force: true });
  });

  it('downloads a 256 MiB object with parallel ranges and the right sha256', async () => {
    const dest = join(dir, 'out.bin');
    const before = server.gets;
    const r = await downloadObject(store, big, dest, { concurrency: 8, blockSize: 8 * MiB });
    assert.equal(r.sha256, bigSha);
    assert.equal(r.bytes, 256 * MiB);
    assert.equal(server.gets - before, 32, 'one ranged GET per 8 MiB block');
    assert.equal(r.retries, 0);
    rmSync(dest);
  });

  it('completes with the right sha256 when connections are cut mid-body, resuming the ranges', async () => {
    // Cut well away from the 1 MiB write-buffer boundaries, so resuming from the last flushed write would show.
    const cutAfter = 3 * MiB + 400_017;
    proxy.setFaults({ cutResponses: { count: 6, afterBytes: cutAfter, exact: true } });
    const dest = join(dir, 'out.bin');
    const r = await downloadObject(store, big, dest, { blockSize: 8 * MiB, ...fast });
    assert.equal(r.sha256, bigSha);
    assert.equal(proxy.stats.cuts, 6);
    assert.equal(r.retries, 6);
    // 32 blocks + 6 resumed remainders; a restart from 0 would need no more requests but more bytes:
    assert.equal(proxy.stats.requests, 38);
    assert.ok(proxy.stats.bytesToClient < 256 * MiB + 6 * 4 * MiB, `resumed, not restarted: ${proxy.stats.bytesToClient} bytes sent`);
    // Resumed, not restarted: each range asked again starts where the cut happened in its block
    // (cutAfter response bytes reached the client, less the response head of ~220 bytes), and ends where the block ends.
    const ranges = proxy.stats.log.map((r) => /^bytes=(\d+)-(\d+)$/.exec(r.headers['range'] ?? '')).map((m) => (m ? [Number(m[1]), Number(m[2])] : [NaN, NaN]));
    const resumed = ranges.filter(([start]) => (start as number) % (8 * MiB) !== 0);
    assert.equal(resumed.length, 6, `ranges asked: ${JSON.stringify(ranges)}`);
    for (const [start, end] of resumed as Array<[number, number]>) {
      const block = Math.floor(start / (8 * MiB)) * 8 * MiB;
      assert.ok(start > block + cutAfter - 512 && start < block + cutAfter, `resumed at ${start}, block at ${block}`);
      assert.equal(end, Math.min(block + 8 * MiB, 256 * MiB) - 1);
      assert.ok(
        ranges.some(([s, e]) => s === block && e === end),
        `block ${block} was asked from its start first`,
      );
    }
    rmSync(dest);
  });

  it('completes after bursts of 503 and 429 (with Retry-After)', async () => {
    const dest = join(dir, 'small.out');
    proxy.setFaults({ failRequests: { count: 5, status: 503 } });
    const r1 = await downloadObject(store, small, dest, { blockSize: 4 * MiB, ...fast });
    assert.equal(r1.sha256, smallSha);
    assert.equal(proxy.stats.injected, 5);
    proxy.setFaults({ failRequests: { count: 2, status: 429, retryAfterSeconds: 1 } });
    const t0 = Date.now();
    const r2 = await downloadObject(store, small, dest, { blockSize: 4 * MiB, ...fast });
    assert.equal(r2.sha256, smallSha);
    assert.ok(Date.now() - t0 >= 1000, 'Retry-After honoured');
    rmSync(dest);
  });

  it('aborts a stalled response after the stall timeout and resumes it', async () => {
    proxy.setFaults({ stallResponses: { count: 1, afterBytes: MiB } });
    const dest = join(dir, 'small.out');
    const r = await downloadObject(store, small, dest, { blockSize: 4 * MiB, stallTimeoutMs: 500, ...fast });
    assert.equal(r.sha256, smallSha);
    assert.equal(proxy.stats.stalls, 1);
    assert.equal(r.retries, 1);
    rmSync(dest);
  });

  it('fails cleanly with nothing at the destination when the faults never stop', async () => {
    proxy.setFaults({ alwaysFail: { status: 503 } });
    const out = join(dir, 'out');
    const dest = join(out, 'model.bin');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    await assert.rejects(downloadObject(store, small, dest, { blockSize: 4 * MiB, retries: 3, ...fast }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /failed after 4 attempts at bytes \d+-\d+: .*503/);
      return true;
    });
    assert.equal(existsSync(dest), false);
    assert.deepEqual(readdirSync(out), []);
  });

  it('gives up on a server that sends a few bytes and then resets, forever (retries have a budget)', async () => {
    // Each response is cut a little way into its body: every attempt "progresses" by a few
    // hundred bytes, which once reset the retry count and kept a range retrying forever.
    proxy.setFaults({ cutResponses: { count: 1_000_000, afterBytes: 600 } });
    const dest = join(dir, 'drip.bin');
    const started = Date.now();
    await assert.rejects(downloadObject(store, small, dest, { blockSize: 4 * MiB, concurrency: 2, retries: 3, ...fast }), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, /failed after \d+ attempts at bytes \d+-\d+/);
      return true;
    });
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    assert.ok(proxy.stats.requests <= 2 * 4 + 2, `${proxy.stats.requests} requests`);
    assert.equal(existsSync(dest), false);
  });

  it('fails cleanly when every connection is cut before any byte arrives', async () => {
    proxy.setFaults({ cutResponses: { count: 1_000_000, afterBytes: 0 } });
    const dest = join(dir, 'cut.bin');
    await assert.rejects(downloadObject(store, small, dest, { blockSize: 4 * MiB, retries: 2, ...fast }), /failed after 3 attempts/);
    assert.equal(existsSync(dest), false);
  });
});
