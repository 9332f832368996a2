import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../../shared/log';
import { pushImage } from '../../../shared/oci/registry/push';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy';
import { startRegistry, type TestRegistry } from '../../helpers/registry';
import { buildTestImage, skopeoInspectArgs, type TestImage } from './fixture';

function digestAt(ref: string): string {
  return (JSON.parse(execFileSync('skopeo', skopeoInspectArgs(ref), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { Digest: string }).Digest;
}

describe('registry push under network faults (fault proxy in front of docker-registry)', function () {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  let image: TestImage;
  const lines: string[] = [];
  const logger: Logger = { ...silentLogger, info: (m) => lines.push(m) };
  const host = () => `127.0.0.1:${proxy.port}`;
  const push = (repository: string, extra: Partial<Parameters<typeof pushImage>[0]> = {}) =>
    pushImage({ layout: image.layout, registry: host(), repository, tags: ['1'], chunkSize: 1 << 20, retryBaseMs: 20, logger, ...extra });

  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: registry.port });
    work = mkdtempSync(join(tmpdir(), 'push-faults-'));
    image = await buildTestImage(join(work, 'img'), { modelSize: 6 << 20, base: false });
  });
  afterEach(() => {
    proxy.setFaults({});
    lines.length = 0;
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('resumes a chunked upload from the registry-reported offset after 503s on chunks', async () => {
    proxy.resetStats();
    proxy.setFaults({ methods: ['PATCH'], failRequests: { count: 3, status: 503 } });
    const result = await push('faults/503');
    assert.equal(result.digest, image.manifestDigest);
    assert.equal(proxy.stats.injected, 3);
    const model = result.blobs.find((b) => b.digest === image.model.digest);
    assert.equal(model?.restarts, 0, 'resumed, not restarted');
    assert.ok(lines.some((l) => /interrupted at .*resuming/.test(l)));
    assert.equal(digestAt(`${registry.host}/faults/503:1`), image.manifestDigest);
  });

  it('resumes from the registry-reported offset when the registry holds part of a chunk', async () => {
    proxy.resetStats();
    const starts: number[] = [];
    const MiB = 1 << 20;
    const kept = 300_000;
    const result = await push('faults/partial', {
      onChunk: ({ digest, start }) => {
        if (digest !== image.model.digest) return;
        starts.push(start);
        // The third chunk is cut after `kept` bytes, which the registry keeps (distribution itself drops
        // a session whose PATCH broke, so the proxy hands it those bytes as a complete smaller PATCH).
        if (start === 2 * MiB) proxy.setFaults({ methods: ['PATCH'], truncateRequests: { count: 1, afterBytes: kept } });
      },
    });
    assert.equal(result.digest, image.manifestDigest);
    assert.equal(proxy.stats.requestCutMethods['PATCH'], 1);
    const cutAt = starts.indexOf(2 * MiB);
    // The registry holds 2 MiB + kept bytes: the next chunk starts there, not at the cut chunk's start.
    assert.equal(starts[cutAt + 1], 2 * MiB + kept, `chunks started at ${starts.join(', ')}`);
    const resumedAt = 2 * MiB + kept;
    const patches = proxy.stats.log.filter((r) => r.method === 'PATCH').map((r) => r.headers['content-range']);
    assert.ok(patches.includes(`${resumedAt}-${Math.min(resumedAt + MiB, image.model.size) - 1}`), `PATCH ranges: ${patches.join(', ')}`);
    // It asked the registry where the upload stood before resuming.
    assert.ok(proxy.stats.log.some((r) => r.method === 'GET' && r.target.includes('/blobs/uploads/')));
    const model = result.blobs.find((b) => b.digest === image.model.digest);
    assert.equal(model?.restarts, 0, 'resumed, not restarted');
    assert.equal(digestAt(`${registry.host}/faults/partial:1`), image.manifestDigest);
  });

  it('completes through 429 Too Many Requests on every kind of request', async () => {
    proxy.resetStats();
    // HEAD (blob exists?), POST (upload start), PATCH (chunk), PUT (blob, completion, manifest) and GET (upload status after a failure).
    const perMethod = { HEAD: 2, POST: 2, PATCH: 2, PUT: 2, GET: 1 };
    proxy.setFaults({ methods: Object.keys(perMethod), failRequests: { count: perMethod, status: 429, retryAfterSeconds: 0 } });
    const result = await push('faults/429', { retries: 9 });
    assert.equal(result.digest, image.manifestDigest);
    assert.deepEqual(proxy.stats.injectedMethods, perMethod);
    assert.equal(digestAt(`${registry.host}/faults/429:1`), image.manifestDigest);
  });

  it('completes with the right digest when connections are cut mid-transfer', async () => {
    proxy.resetStats();
    // Upload bodies cut on their way to the registry (chunks and whole-blob PUTs), then answers cut on their way back.
    proxy.setFaults({ methods: ['PATCH', 'PUT'], cutRequests: { count: { PATCH: 2, PUT: 1 }, afterBytes: 100 }, cutResponses: { count: 3, afterBytes: 0 } });
    const result = await push('faults/cut', { retries: 8 });
    assert.equal(result.digest, image.manifestDigest);
    assert.deepEqual(proxy.stats.requestCutMethods, { PATCH: 2, PUT: 1 });
    assert.ok(proxy.stats.cuts >= 3);
    assert.equal(digestAt(`${registry.host}/faults/cut:1`), image.manifestDigest);
  });

  it('fails when faults never stop, and writes no tag', async () => {
    proxy.setFaults({ methods: ['PATCH'], alwaysFail: { status: 503 } });
    await assert.rejects(push('faults/never', { retries: 3 }), /failed during .* HTTP 503/);
    proxy.setFaults({});
    assert.throws(() => digestAt(`${registry.host}/faults/never:1`));
  });
});

describe('registry push of a 512 MiB layer', function () {
  let registry: TestRegistry;
  let work: string;

  before(async () => {
    registry = await startRegistry();
    work = mkdtempSync(join(tmpdir(), 'push-big-'));
  });
  after(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('goes up in 64 MiB chunks with bounded memory and the right digest', async () => {
    const image = await buildTestImage(join(work, 'big'), { modelSize: 512 << 20, base: false, modelSeed: 'big' });
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    try {
      const result = await pushImage({
        layout: image.layout,
        registry: registry.host,
        repository: 'big/model',
        tags: ['1'],
        chunkSize: 64 << 20,
        logger: silentLogger,
      });
      assert.equal(result.digest, image.manifestDigest);
      const model = result.blobs.find((b) => b.digest === image.model.digest);
      assert.equal(model?.action, 'uploaded');
      assert.equal(model?.chunks, Math.ceil(image.model.size / (64 << 20)));
    } finally {
      clearInterval(timer);
    }
    assert.ok(peak - rssBefore < 200 << 20, `RSS grew by ${((peak - rssBefore) / 1048576).toFixed(0)} MiB`);
    assert.equal(digestAt(`${registry.host}/big/model:1`), image.manifestDigest);
  });
});
