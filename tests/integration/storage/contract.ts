/**
 * The model-store contract: what FetchModel relies on from every ModelStore
 * (shared/storage/store.ts), as one suite run against each store target
 * (./targets.ts) by contract.test.ts. Listing (all pages, metadata and tags
 * only when asked), head (size, ETag, metadata, tags; absent is undefined),
 * readRange (exact bytes at every boundary, If-Match, HTTP statuses kept for
 * the retry logic, abort). What only one store has (auth modes, SAS, proxies,
 * path-style addressing, regions, versions) stays in azure-blob.test.ts and
 * s3.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { httpStatusOf } from '../../../shared/retry';
import type { ModelStore, StoredObject } from '../../../shared/storage/store';
import type { RunningTarget, StoreTarget } from './targets';
import { collect, pool, readAll } from './util';

/** What differs between the emulators (not between the stores' contracts). */
export interface ContractQuirks {
  /** Objects under many/: enough to page past the store's listing page (Azure 5,000, S3 1,000). */
  many: number;
  /** Parallel uploads while seeding many/. */
  seedConcurrency: number;
  /** A version id the emulator cannot confirm (neither Azurite nor s3rver keeps versions). */
  unknownVersionId: string;
  /** head() reports the Content-MD5 the store computed for a single-request upload. */
  contentMd5OnHead: boolean;
  /** The store answers a read with a stale If-Match with 412 (s3rver ignores If-Match). */
  enforcesIfMatch: boolean;
  /** How the store's ETags look, when the emulator's form is known. */
  etagPattern?: RegExp;
}

const TAGGED = 40;

export function modelStoreContract(target: StoreTarget, quirks: ContractQuirks): void {
  describe(`ModelStore contract: ${target.name}`, function () {
    this.timeout(120_000);
    let running: RunningTarget;
    let store: ModelStore;
    const big = randomBytes(3 * 1024 * 1024 + 17);

    before(async function () {
      // Azurite creates 5,003 blobs at its own pace (about 45 s on two idle cores); leave room for a busy machine.
      this.timeout(360_000);
      running = await target.start();
      const keys = Array.from({ length: quirks.many }, (_, i) => `many/${String(i).padStart(5, '0')}.bin`);
      await pool(keys, quirks.seedConcurrency, (k) => running.put(k, 'x'));
      await running.put('meta/prod.onnx', 'production model', { metadata: { Stage: 'production', Owner: 'ml' }, tags: { stage: 'production' } });
      await running.put('meta/dev.onnx', 'dev model', { metadata: { stage: 'dev' } });
      const tagged = Array.from({ length: TAGGED }, (_, i) => `tagged/m-${i}.onnx`);
      await pool(tagged, 16, (k) =>
        running.put(k, k, { metadata: { Stage: k.endsWith('7.onnx') ? 'production' : 'dev' }, tags: { idx: k.slice('tagged/m-'.length, -'.onnx'.length) } }),
      );
      await running.put('big/model.bin', big);
      store = running.store();
    });
    after(async () => {
      await running?.stop();
    });

    it(`lists every object under a prefix, paging past the page size (${quirks.many})`, async () => {
      const listed = await collect(store.list('many/'));
      assert.equal(listed.length, quirks.many);
      assert.equal(new Set(listed.map((o) => o.key)).size, quirks.many);
      const first = listed.find((o) => o.key === 'many/00000.bin');
      assert.ok(first);
      assert.equal(first.size, 1);
      assert.ok(first.etag && !first.etag.startsWith('"'));
      if (quirks.etagPattern) assert.match(first.etag ?? '', quirks.etagPattern);
      assert.ok(first.lastModified instanceof Date);
      assert.equal(first.metadata, undefined);
      assert.equal(first.tags, undefined);
    });

    it('lists metadata (keys lower-cased) and tags only when asked', async () => {
      const plain = await collect(store.list('meta/'));
      assert.deepEqual(
        plain.map((o) => o.metadata),
        [undefined, undefined],
      );
      const rich = await collect(store.list('meta/', { includeMetadata: true, includeTags: true }));
      const prod = rich.find((o) => o.key === 'meta/prod.onnx');
      assert.deepEqual(prod?.metadata, { stage: 'production', owner: 'ml' });
      assert.deepEqual(prod?.tags, { stage: 'production' });
      const dev = rich.find((o) => o.key === 'meta/dev.onnx');
      assert.deepEqual(dev?.metadata, { stage: 'dev' });
      assert.deepEqual(dev?.tags, {});
    });

    it(`lists metadata and tags of ${TAGGED} objects (S3: a HEAD per object, bounded)`, async () => {
      const plain = await collect(store.list('tagged/'));
      assert.equal(plain.length, TAGGED);
      assert.ok(plain.every((o) => o.metadata === undefined && o.tags === undefined));
      const rich = await collect(store.list('tagged/', { includeMetadata: true, includeTags: true }));
      assert.equal(rich.length, TAGGED);
      const seven = rich.find((o) => o.key === 'tagged/m-7.onnx');
      assert.deepEqual(seven?.metadata, { stage: 'production' });
      assert.deepEqual(seven?.tags, { idx: '7' });
      assert.equal(rich.filter((o) => o.metadata?.stage === 'production').length, 4); // 7, 17, 27, 37
      const tagsOnly = await collect(store.list('tagged/m-1', { includeTags: true }));
      assert.ok(tagsOnly.every((o) => o.tags !== undefined && o.metadata === undefined));
    });

    it('head() returns size, ETag, metadata and (when asked) tags; undefined when absent', async () => {
      const h = await store.head('meta/prod.onnx', { includeTags: true });
      assert.ok(h);
      assert.equal(h.size, 16);
      if (quirks.contentMd5OnHead) assert.equal(h.contentMd5, createHash('md5').update('production model').digest('base64'));
      assert.deepEqual(h.metadata, { stage: 'production', owner: 'ml' });
      assert.deepEqual(h.tags, { stage: 'production' });
      const listed = (await collect(store.list('meta/prod.onnx')))[0] as StoredObject;
      assert.equal(h.etag, listed.etag);
      const seven = await store.head('tagged/m-7.onnx', { includeTags: true });
      assert.ok(seven);
      assert.equal(seven.size, 'tagged/m-7.onnx'.length);
      assert.deepEqual(seven.metadata, { stage: 'production' });
      assert.deepEqual(seven.tags, { idx: '7' });
      assert.equal(seven.checksumSha256, undefined); // neither emulator publishes x-amz-checksum-sha256
      assert.equal(await store.head('meta/absent.onnx'), undefined);
    });

    it('head() with a version id the emulator cannot confirm reports it absent (no versioning in the emulators)', async () => {
      assert.equal(await store.head('meta/prod.onnx', { versionId: quirks.unknownVersionId }), undefined);
    });

    it('readRange() returns exactly bytes [start, end) at every boundary', async () => {
      const n = big.length;
      const ranges: Array<[number, number]> = [
        [0, 1],
        [0, n],
        [n - 1, n],
        [1024 * 1024 - 1, 1024 * 1024 + 1],
        [12345, 2 * 1024 * 1024 + 7],
        [n - 17, n],
      ];
      for (const [s, e] of ranges) {
        const got = await readAll(await store.readRange('big/model.bin', s, e));
        assert.equal(got.length, e - s, `length of [${s}, ${e})`);
        assert.ok(got.equals(big.subarray(s, e)), `bytes of [${s}, ${e})`);
      }
      assert.equal((await readAll(await store.readRange('big/model.bin', 10, 10))).length, 0);
      assert.equal((await readAll(await store.readRange('big/model.bin', 5, 5))).length, 0);
    });

    it(`readRange() honours If-Match${quirks.enforcesIfMatch ? '' : ' (a stale one is not detected by this emulator)'} and keeps HTTP statuses for the retry logic`, async () => {
      const h = await store.head('big/model.bin');
      const ok = await readAll(await store.readRange('big/model.bin', 0, 10, { ifMatch: h?.etag }));
      assert.ok(ok.equals(big.subarray(0, 10)));
      if (quirks.enforcesIfMatch)
        await assert.rejects(store.readRange('big/model.bin', 0, 10, { ifMatch: '0x8DEADBEEF' }), (e: unknown) => httpStatusOf(e) === 412);
      await assert.rejects(store.readRange('big/absent.bin', 0, 10), (e: unknown) => httpStatusOf(e) === 404);
    });

    /** The abort itself: an AbortError (Azure SDK), or the body torn down by it (the AWS SDK destroys the socket: Node's 'aborted'). */
    const isAbort = (e: unknown): boolean => e instanceof Error && (e.name === 'AbortError' || /^(the operation was )?aborted\.?$/i.test(e.message));

    it('readRange() can be aborted while the request is in flight', async () => {
      const ac = new AbortController();
      const reading = store.readRange('big/model.bin', 0, big.length, { signal: ac.signal }).then(readAll);
      setImmediate(() => ac.abort());
      await assert.rejects(reading, (e: unknown) => isAbort(e) || assert.fail(`not an abort: ${String(e)}`));
      // And a signal aborted before the call.
      await assert.rejects(
        store.readRange('big/model.bin', 0, 10, { signal: AbortSignal.abort() }).then(readAll),
        (e: unknown) => isAbort(e) || assert.fail(`not an abort: ${String(e)}`),
      );
    });

    it('readRange() can be aborted while its body is arriving', async () => {
      const ac = new AbortController();
      const stream = await store.readRange('big/model.bin', 0, big.length, { signal: ac.signal });
      let received = 0;
      const reading = (async () => {
        for await (const c of stream) {
          received += (c as Buffer).length;
          if (!ac.signal.aborted) ac.abort();
        }
      })();
      await assert.rejects(reading, (e: unknown) => isAbort(e) || assert.fail(`not an abort: ${String(e)}`));
      assert.ok(received > 0 && received < big.length, `${received} of ${big.length} bytes read before the abort took effect`);
    });
  });
}
