/**
 * fetchModel in-process against the real stores (Azure Blob on Azurite, S3 on
 * s3rver): the same scenarios on both. A versioned folder model is chosen by
 * highest version, verified by the store's MD5 and placed; a second fetch
 * is a cache hit; a re-published object is fetched again; a wrong published
 * checksum leaves nothing behind; an archive is extracted; a missing prefix
 * is NotFound naming it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import * as tar from 'tar-stream';
import { UserError } from '../../../shared/errors';
import { fetchModel, summarize, type FetchModelOptions } from '../../../shared/fetch/fetch-model';
import { silentLogger } from '../../../shared/log';
import { azureBlobStoreFromConnectionString } from '../../../shared/storage/azure-blob';
import { S3Store } from '../../../shared/storage/s3';
import type { ModelStore } from '../../../shared/storage/store';
import { startAzurite, type TestAzurite } from '../../helpers/azurite';
import { startS3Server, type TestS3Server } from '../../helpers/s3server';

const sha256 = (d: Buffer | string): string => createHash('sha256').update(d).digest('hex');

interface Env {
  store: ModelStore;
  uriPrefix: string;
  put(key: string, data: Buffer | string, metadata?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

const stores: { name: string; start(): Promise<Env> }[] = [
  {
    name: 'Azure Blob (Azurite)',
    async start() {
      const az: TestAzurite = await startAzurite();
      const container: ContainerClient = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient('models');
      await container.create();
      return {
        store: azureBlobStoreFromConnectionString(az.connectionString, 'models', { maxTries: 1 }),
        uriPrefix: `${az.blobEndpoint}/models/`,
        async put(key, data, metadata) {
          const body = Buffer.from(data);
          await container.getBlockBlobClient(key).upload(body, body.length, { metadata });
        },
        stop: () => az.stop(),
      };
    },
  },
  {
    name: 'S3 (s3rver)',
    async start() {
      const s3: TestS3Server = await startS3Server({ inProcess: true, buckets: ['models'] });
      return {
        store: new S3Store({
          bucket: 'models',
          endpoint: s3.endpoint,
          region: s3.region,
          forcePathStyle: true,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
          maxAttempts: 1,
        }),
        uriPrefix: 's3://models/',
        put: (key, data, metadata) => s3.putObject('models', key, Buffer.from(data), { metadata }),
        stop: () => s3.stop(),
      };
    },
  },
];

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

for (const s of stores) {
  describe(`fetchModel against ${s.name}`, function () {
    this.timeout(120_000);
    let env: Env;
    let dest: string;
    before(async () => {
      env = await s.start();
    });
    after(async () => env?.stop());
    beforeEach(() => {
      dest = mkdtempSync(join(tmpdir(), 'fetch-model-it-'));
    });
    afterEach(() => rmSync(dest, { recursive: true, force: true }));

    const run = (over: Partial<FetchModelOptions>) =>
      fetchModel({
        store: env.store,
        modelPath: 'x',
        versionSelection: 'highestVersion',
        destination: dest,
        logger: silentLogger,
        blockSize: 1024,
        retries: 0,
        ...over,
      });

    it('fetches the highest version folder, verified, then hits the cache, then re-fetches a re-published file', async () => {
      const files: Record<string, string> = { 'model.onnx': 'o'.repeat(5000), 'tokenizer/vocab.txt': 'hello world\n' };
      await env.put('bert/1.9.0/model.onnx', 'old');
      for (const [p, d] of Object.entries(files)) await env.put(`bert/2.10.0/${p}`, d, { sha256: sha256(d) });

      const r = await run({ modelPath: 'bert/' });
      assert.equal(r.modelVersion, '2.10.0');
      assert.equal(r.modelUri, `${env.uriPrefix}bert/2.10.0/`);
      assert.equal(r.modelPath, join(dest, '2.10.0'));
      for (const [p, d] of Object.entries(files)) assert.equal(readFileSync(join(dest, '2.10.0', p), 'utf8'), d);
      // Verified by the sha256 metadata each file publishes (asked for with a HEAD: listings leave it out).
      assert.equal(r.verified, true);
      assert.equal(r.verification, 'sha256 metadata');
      assert.equal(r.cached, false);
      assert.match(summarize(r).join('\n'), /version: +2\.10\.0/);

      const again = await run({ modelPath: 'bert/' });
      assert.equal(again.cached, true);
      assert.equal(again.modelSha256, r.modelSha256);

      await env.put('bert/2.10.0/model.onnx', 'republished', { sha256: sha256('republished') });
      const third = await run({ modelPath: 'bert/' });
      assert.equal(third.cached, false);
      assert.equal(readFileSync(join(dest, '2.10.0', 'model.onnx'), 'utf8'), 'republished');
      assert.notEqual(third.modelSha256, r.modelSha256);
    });

    it('an exact key is verified by its sha256 metadata', async () => {
      await env.put('single/model.bin', 'single file', { sha256: sha256('single file') });
      const r = await run({ modelPath: 'single/model.bin' });
      assert.equal(r.verified, true);
      assert.match(r.verification, /sha256 metadata/);
      assert.equal(readFileSync(join(dest, 'model.bin'), 'utf8'), 'single file');
    });

    it('a file whose published sha256 is wrong fails with ChecksumMismatch and leaves nothing', async () => {
      await env.put('bad/model.bin', 'actual bytes', { sha256: sha256('other bytes') });
      await assert.rejects(
        run({ modelPath: 'bad/model.bin' }),
        (e: unknown) => e instanceof UserError && e.code === 'ChecksumMismatch' && e.message.includes(`${env.uriPrefix}bad/model.bin`),
      );
      assert.deepEqual(readdirSync(dest), []);
    });

    it('extracts a pinned archive', async () => {
      const archive = await tarGz({ 'model.onnx': 'weights', 'labels.txt': 'a\nb\n' });
      await env.put('packed/resnet-1.0.0.tgz', archive, { sha256: sha256(archive) });
      await env.put('packed/resnet-2.0.0.tgz', 'not used');
      const r = await run({ modelPath: 'packed/', versionSelection: 'pinned', version: '1.0.0', extract: true });
      assert.equal(r.modelPath, join(dest, 'resnet-1.0.0'));
      assert.deepEqual(readdirSync(r.modelPath).sort(), ['labels.txt', 'model.onnx']);
      assert.equal(readFileSync(join(r.modelPath, 'model.onnx'), 'utf8'), 'weights');
      assert.equal(r.modelSha256, sha256(archive));
    });

    it('a prefix with nothing under it is NotFound, naming it', async () => {
      await assert.rejects(
        run({ modelPath: 'nothing-here/' }),
        (e: unknown) => e instanceof UserError && e.code === 'NotFound' && e.message.includes('nothing-here/'),
      );
      assert.deepEqual(readdirSync(dest), []);
    });
  });
}
