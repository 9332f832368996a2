/**
 * downloadObject against the real stores (S3Store over s3rver, AzureBlobStore
 * over Azurite), each reached through the fault proxy: a 256 MiB object is
 * downloaded with ranges and verified against what the store publishes;
 * mid-body cuts and 503 bursts still complete with the right sha256; faults
 * that never stop fail cleanly with nothing at the destination.
 * The stores' own SDK retries are turned off (1 attempt) so that the engine's
 * retry/resume logic is what is being tested. The stores are started and
 * seeded by the same targets as the model-store contract
 * (../storage/targets.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadObject } from '../../../shared/download/ranged';
import { judge, planVerification } from '../../../shared/download/verify';
import { UserError } from '../../../shared/errors';
import type { ModelStore, StoredObject } from '../../../shared/storage/store';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy';
import { writeRandomFile } from '../../helpers/random-file';
import { azuriteTarget, s3rverTarget, type StoreTarget } from '../storage/targets';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
const KEY = 'models/resnet/1.0.0/model.bin';
const fast = { baseDelayMs: 10, maxDelayMs: 100 };

interface Harness {
  target: StoreTarget;
  /** What the store publishes that lets the download be verified. */
  method: string;
}

const harnesses: Harness[] = [
  { target: s3rverTarget, method: 'ETag (MD5)' },
  { target: azuriteTarget, method: 'Content-MD5' },
];

/** The store's service with the model uploaded, reached through a fault proxy, with the SDK's own retries off. */
async function setup(h: Harness, file: string, md5: string): Promise<{ store: ModelStore; proxy: FaultProxy; stop(): Promise<void> }> {
  const running = await h.target.start();
  await running.putFile(KEY, file, SIZE, md5);
  const proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: running.port });
  return {
    store: running.store({ via: proxy.url, noSdkRetries: true }),
    proxy,
    async stop() {
      await proxy.stop();
      await running.stop();
    },
  };
}

describe('download/ranged against the real stores through the fault proxy', function () {
  this.timeout(600_000);
  let dir: string;
  let sha: string;
  let md5: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ranged-stores-'));
    ({ sha256: sha, md5 } = writeRandomFile(join(dir, 'source.bin'), SIZE));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const h of harnesses) {
    describe(h.target.name, () => {
      let env: Awaited<ReturnType<typeof setup>>;
      let object: StoredObject;
      before(async () => {
        env = await setup(h, join(dir, 'source.bin'), md5);
        object = (await env.store.head(KEY)) as StoredObject;
        assert.equal(object.size, SIZE);
      });
      after(async () => env?.stop());
      beforeEach(() => {
        env.proxy.setFaults({});
        env.proxy.resetStats();
      });

      it(`downloads 256 MiB with ranges and verifies it (${h.method})`, async () => {
        const dest = join(dir, 'out.bin');
        const plan = planVerification(object, env.store.kind);
        const r = await downloadObject(env.store, object, dest, { blockSize: 8 * MiB, concurrency: 8, hashes: plan.hashes });
        assert.equal(r.sha256, sha);
        assert.deepEqual(judge(plan, r), { verified: true, method: h.method });
        assert.equal(env.proxy.stats.methods.GET, 32);
        rmSync(dest);
      });

      it('completes with the right sha256 despite mid-body cuts and a 503 burst', async () => {
        env.proxy.setFaults({ cutResponses: { count: 5, afterBytes: 2 * MiB + 1 } });
        const dest = join(dir, 'out.bin');
        const r1 = await downloadObject(env.store, object, dest, { blockSize: 8 * MiB, ...fast });
        assert.equal(r1.sha256, sha);
        assert.equal(env.proxy.stats.cuts, 5);
        assert.ok(r1.retries >= 5);
        env.proxy.setFaults({ failRequests: { count: 6, status: 503 } });
        const r2 = await downloadObject(env.store, object, dest, { blockSize: 8 * MiB, ...fast });
        assert.equal(r2.sha256, sha);
        assert.equal(env.proxy.stats.injected, 6);
        rmSync(dest);
      });

      it('fails cleanly with nothing at the destination when the store never recovers', async () => {
        env.proxy.setFaults({ alwaysFail: { status: 503 } });
        const out = join(dir, 'out');
        rmSync(out, { recursive: true, force: true });
        mkdirSync(out);
        const dest = join(out, 'model.bin');
        await assert.rejects(downloadObject(env.store, object, dest, { blockSize: 8 * MiB, retries: 2, ...fast }), (e: unknown) => {
          assert.ok(e instanceof UserError, String(e));
          assert.match(e.message, /^Downloading .*model\.bin failed after 3 attempts/);
          return true;
        });
        assert.equal(existsSync(dest), false);
        assert.deepEqual(readdirSync(out), []);
      });
    });
  }
});
