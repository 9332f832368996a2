/**
 * Fault injection between the FetchModel task and real servers: the task
 * bundle runs as the agent runs it (scripts/lib/agent.ts, a separate process)
 * and talks to Azurite / s3rver through the fault proxy, which cuts responses
 * mid-body and answers 503/429 for a while. The model still arrives with a
 * verified checksum; when the faults never stop, the task fails in one
 * sentence and nothing is left at the destination.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { runTask } from '../../scripts/lib/agent';
import { startAzurite, type TestAzurite } from '../helpers/azurite';
import { startS3Server, type TestS3Server } from '../helpers/s3server';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { ensureBuilt } from './mock-task';

describe('FetchModel task under network faults', function () {
  this.timeout(300_000);
  const model = randomBytes(24 * 1024 * 1024 + 123);
  const modelSha = createHash('sha256').update(model).digest('hex');
  let azurite: TestAzurite;
  let s3: TestS3Server;
  let azureProxy: FaultProxy;
  let s3Proxy: FaultProxy;
  let work: string;

  before(async () => {
    ensureBuilt('FetchModel');
    work = mkdtempSync(join(tmpdir(), 'fetchmodel-faults-'));
    azurite = await startAzurite();
    s3 = await startS3Server();
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('models');
    await container.create();
    await container.getBlockBlobClient('big/model.bin').uploadData(model, { metadata: { sha256: modelSha } });
    await s3.createBucket('models');
    await s3.putObject('models', 'big/model.bin', model, { metadata: { sha256: modelSha } });
    azureProxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: azurite.port });
    s3Proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: s3.port });
  });
  after(async () => {
    await azureProxy?.stop();
    await s3Proxy?.stop();
    await azurite?.stop();
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const azureRun = (dest: string, extra: Record<string, string> = {}) =>
    runTask({
      task: 'FetchModel',
      inputs: {
        provider: 'azureBlob',
        authType: 'connectionString',
        // The account key is Azurite's; the endpoint is the proxy's.
        connectionString: `DefaultEndpointsProtocol=http;AccountName=${azurite.accountName};AccountKey=${azurite.accountKey};BlobEndpoint=${azureProxy.url}/${azurite.accountName};`,
        container: 'models',
        modelPath: 'big/model.bin',
        destination: dest,
        blockSizeMiB: '2',
        concurrency: '4',
        requireChecksum: 'true',
        ...extra,
      },
    });
  const s3Run = (dest: string, extra: Record<string, string> = {}) =>
    runTask({
      task: 'FetchModel',
      inputs: {
        provider: 's3',
        bucket: 'models',
        modelPath: 'big/model.bin',
        destination: dest,
        blockSizeMiB: '2',
        concurrency: '4',
        requireChecksum: 'true',
        s3Endpoint: s3Proxy.url,
        ...extra,
      },
      env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1' },
    });

  it('Azure: completes verified despite responses cut mid-body and a burst of 503s', async () => {
    azureProxy.resetStats();
    azureProxy.setFaults({ cutResponses: { count: 3, afterBytes: 300_000, exact: true }, failRequests: { count: 3, status: 503 }, methods: ['GET'] });
    const run = await azureRun(join(work, 'azure-ok'));
    assert.equal(run.result, 'Succeeded', run.log.join('\n'));
    assert.equal(run.outputs.modelSha256, modelSha);
    // The first three GETs were answered 503 (and asked again); the next three ranged reads were cut
    // 300 000 bytes into their 2 MiB bodies, and each was resumed mid-block, not restarted.
    const { injectedMethods, cuts, requests } = azureProxy.stats;
    assert.deepEqual(injectedMethods, { GET: 3 }, JSON.stringify({ injectedMethods, cuts, requests }));
    assert.equal(cuts, 3, JSON.stringify({ injectedMethods, cuts, requests }));
    const starts = azureProxy.stats.log.flatMap((r) => /^bytes=(\d+)-/.exec(r.headers['x-ms-range'] ?? r.headers['range'] ?? '')?.[1] ?? []).map(Number);
    assert.equal(starts.filter((start) => start % (2 << 20) !== 0).length, 3, `ranges asked from: ${starts.join(', ')}`);
  });

  it('S3: completes verified despite cuts and 429 throttling', async () => {
    s3Proxy.resetStats();
    s3Proxy.setFaults({ cutResponses: { count: 3, afterBytes: 500_000 }, failRequests: { count: 2, status: 429, retryAfterSeconds: 1 }, methods: ['GET'] });
    const run = await s3Run(join(work, 's3-ok'));
    assert.equal(run.result, 'Succeeded', run.log.join('\n'));
    assert.equal(run.outputs.modelSha256, modelSha);
    assert.ok(s3Proxy.stats.cuts >= 1, JSON.stringify(s3Proxy.stats));
  });

  it('fails in one sentence, leaving nothing at the destination, when the faults never stop', async () => {
    const dest = join(work, 'never');
    // Let the listing and properties through, then fail every ranged read.
    s3Proxy.setFaults({ alwaysFail: { status: 503 }, methods: ['GET'] });
    const run = await s3Run(dest, { retries: '2' });
    s3Proxy.setFaults({});
    assert.equal(run.result, 'Failed', run.log.join('\n'));
    assert.ok(!run.message.includes('\n') && !run.message.startsWith('Unexpected'), run.message);
    assert.match(run.message, /model\.bin|503|attempt/i);
    assert.deepEqual(existsSync(dest) ? readdirSync(dest) : [], []);
  });
});
