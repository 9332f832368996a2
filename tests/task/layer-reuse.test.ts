/**
 * Zero-byte app-only builds (issue 13, section 1) and the warm-agent layer
 * cache (section 2), as the agent runs the three bundles: FetchModel (real
 * Azurite) -> BundleModelImage -> PushToACR (real docker-registry, Basic auth).
 * The first build records the model -> layer mapping in the repository; a
 * fresh agent then downloads and uploads no model byte and builds the same
 * image digest as the full path. Stale, tampered and missing mappings fall
 * back to the download and say why.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { OciLayout } from '../../shared/oci/layout';
import { mappingTag } from '../../shared/reuse/mapping';
import { singleFileRecipe } from '../../shared/reuse/recipe';
import { startAzurite, type TestAzurite } from '../helpers/azurite';
import { startRegistry, type TestRegistry } from '../helpers/registry';
import { startS3Server, type TestS3Server } from '../helpers/s3server';
import { ensureBuilt, runMock, type EndpointSpec, type MockRun } from './mock-task';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const MODEL_SIZE = 3 * 1024 * 1024 + 123;

function failure(r: MockRun): string {
  const m = /##vso\[task\.(?:complete result=Failed|issue type=error)[^\]]*\]([^\n]*)/.exec(r.stdout);
  return m ? (m[1] as string) : r.stdout.slice(-3000);
}

describe('layer reuse: zero-byte app-only builds (FetchModel -> BundleModelImage -> PushToACR)', function () {
  this.timeout(300_000);
  let azurite: TestAzurite;
  let registry: TestRegistry;
  let work: string;
  const model = randomBytes(MODEL_SIZE);
  const auth = 'Basic ' + Buffer.from('pusher:pusher-pw').toString('base64');

  const connection = (): Record<string, EndpointSpec> => ({
    reg: {
      scheme: 'UsernamePassword',
      parameters: { registry: `http://${registry.host}`, username: 'pusher', password: 'pusher-pw' },
      data: { registrytype: 'Others' },
    },
  });

  before(async () => {
    ensureBuilt('FetchModel');
    ensureBuilt('BundleModelImage');
    ensureBuilt('PushToACR');
    azurite = await startAzurite();
    registry = await startRegistry({ mode: 'htpasswd', users: { pusher: 'pusher-pw' } });
    work = mkdtempSync(join(tmpdir(), 'layer-reuse-'));
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('models');
    await container.create();
    await container.getBlockBlobClient('resnet/model.bin').uploadData(model, { metadata: { sha256: sha(model) } });
    for (const v of ['v1', 'v2']) {
      mkdirSync(join(work, `app-${v}`));
      writeFileSync(join(work, `app-${v}`, 'serve.py'), `print("app ${v}")\n`);
    }
  });
  after(async () => {
    await azurite?.stop();
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const fetchInputs = (dest: string, extra: Record<string, string> = {}) => ({
    provider: 'azureBlob',
    authType: 'connectionString',
    connectionString: azurite.connectionString,
    container: 'models',
    modelPath: 'resnet/model.bin',
    destination: dest,
    reuseRegistryConnection: 'reg',
    reuseRepository: 'models/scorer',
    ...extra,
  });

  async function fetchModel(dest: string, extra: Record<string, string> = {}): Promise<MockRun> {
    const r = await runMock({ task: 'FetchModel', inputs: fetchInputs(dest, extra), endpoints: connection() });
    assert.ok(r.succeeded, failure(r));
    return r;
  }

  async function bundle(fetched: MockRun, app: string, out: string, extra: Record<string, string> = {}): Promise<MockRun> {
    const r = await runMock({
      task: 'BundleModelImage',
      inputs: {
        baseImage: 'scratch',
        modelPath: fetched.outputs['modelPath'],
        modelSha256: fetched.outputs['modelSha256'],
        modelUri: fetched.outputs['modelUri'],
        modelVersion: fetched.outputs['modelVersion'],
        appDirectory: join(work, app),
        outputPath: out,
        tags: 'build',
        layerCache: 'false',
        ...extra,
      },
    });
    assert.ok(r.succeeded, failure(r));
    return r;
  }

  async function push(layout: string, repository = 'models/scorer', extra: Record<string, string> = {}): Promise<MockRun> {
    const r = await runMock({
      task: 'PushToACR',
      inputs: { imageLayout: layout, registryType: 'serviceConnection', dockerRegistryConnection: 'reg', repository, tags: 'latest', ...extra },
      endpoints: connection(),
    });
    assert.ok(r.succeeded, failure(r));
    return r;
  }

  async function api(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${registry.url}${path}`, { method, body, headers: { Authorization: auth, ...headers } });
  }

  const tag = () => mappingTag(`sha256:${sha(model)} size=${MODEL_SIZE}`, singleFileRecipe('/models', 'model.bin', MODEL_SIZE, 0, 'auto'));
  let mappingBytes: Buffer;
  let zeroByteDigest: string;

  it('first build: downloads, bundles, pushes and records the model layer mapping', async () => {
    const f = await fetchModel(join(work, 'agent1'));
    assert.match(f.stdout, /Layer reuse: no layer of this model is recorded in 127\.0\.0\.1:\d+\/models\/scorer yet; downloading\./);
    assert.equal(f.outputs['modelBytesDownloaded'], String(MODEL_SIZE));
    assert.equal(f.outputs['modelLayerReused'], 'false');
    const b = await bundle(f, 'app-v1', join(work, 'out1'));
    const p = await push(b.outputs['imageLayout'] as string);
    const modelLayerSize = await layerSize(b.outputs['imageLayout'] as string, b.outputs['modelLayerDigest'] as string);
    assert.ok(modelLayerSize > MODEL_SIZE);
    assert.equal(p.outputs['modelBytesUploaded'], String(modelLayerSize));
    assert.match(p.stdout, /Recorded model layer sha256:[0-9a-f]{64} for this model as 127\.0\.0\.1:\d+\/models\/scorer:model-layer-[0-9a-f]{64}/);
    const res = await api('GET', `/v2/models/scorer/manifests/${tag()}`, undefined, { Accept: 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(res.status, 200);
    mappingBytes = Buffer.from(await res.arrayBuffer());
    const m = JSON.parse(mappingBytes.toString()) as { layers: { digest: string }[]; annotations: Record<string, string> };
    assert.equal(m.layers[0]?.digest, b.outputs['modelLayerDigest']);
    assert.equal(m.annotations['io.modeltoaks.model.sha256'], sha(model));
  });

  async function layerSize(layoutDir: string, digest: string): Promise<number> {
    const layout = await OciLayout.open(layoutDir);
    const found = await layout.findManifest('build');
    return found.manifest.layers.find((l) => l.digest === digest)?.size ?? -1;
  }

  it('app-only commit on a fresh agent: no model byte downloaded or uploaded', async () => {
    const dest = join(work, 'agent2');
    const f = await fetchModel(dest);
    assert.equal(f.outputs['modelBytesDownloaded'], '0');
    assert.equal(f.outputs['modelLayerReused'], 'true');
    assert.equal(f.outputs['modelSha256'], sha(model));
    assert.equal(f.outputs['modelSizeBytes'], String(MODEL_SIZE));
    assert.ok(!existsSync(f.outputs['modelPath'] as string), 'the model file is not downloaded');
    assert.match(f.stdout, /nothing downloaded/);
    const b = await bundle(f, 'app-v2', join(work, 'out2'));
    zeroByteDigest = b.outputs['imageDigest'] as string;
    const layout = await OciLayout.open(b.outputs['imageLayout'] as string);
    const found = await layout.findManifest('build');
    assert.equal(await layout.hasBlob(b.outputs['modelLayerDigest'] as string), false, 'the model layer blob is not in the layout');
    const app = found.manifest.layers[found.manifest.layers.length - 1];
    const manifestSize = (await layout.readBlob(found.descriptor.digest)).length;
    const p = await push(b.outputs['imageLayout'] as string);
    assert.equal(p.outputs['imageDigest'], zeroByteDigest);
    assert.equal(p.outputs['modelBytesUploaded'], '0');
    assert.equal(Number(p.outputs['bytesUploaded']), (app?.size ?? 0) + found.manifest.config.size + manifestSize, 'app layer + config + manifest');
    assert.match(p.stdout, /already recorded/);
    // The pushed image is whole: pulled back by skopeo and unpacked by umoci (which checks each layer's diff_id), it holds the model.
    const pulled = join(work, 'pulled');
    execFileSync(
      'skopeo',
      [
        'copy',
        '--insecure-policy',
        '--src-tls-verify=false',
        '--src-creds',
        'pusher:pusher-pw',
        `docker://${registry.host}/models/scorer:latest`,
        `oci:${pulled}:x`,
      ],
      {
        stdio: 'pipe',
      },
    );
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${pulled}:x`, join(work, 'unpacked')], { stdio: 'pipe' });
    assert.equal(sha(readFileSync(join(work, 'unpacked', 'rootfs', 'models', 'model.bin'))), sha(model));
    assert.equal(readFileSync(join(work, 'unpacked', 'rootfs', 'app', 'serve.py'), 'utf8'), 'print("app v2")\n');
  });

  it('the full path builds the same image digest; reuseLayers false turns the lookup off', async () => {
    const f = await fetchModel(join(work, 'agent3'), { reuseLayers: 'false' });
    assert.ok(!/Layer reuse/.test(f.stdout), 'no lookup when turned off');
    assert.equal(f.outputs['modelBytesDownloaded'], String(MODEL_SIZE));
    assert.equal(f.outputs['modelLayerReused'], 'false');
    const b = await bundle(f, 'app-v2', join(work, 'out3'));
    assert.equal(b.outputs['imageDigest'], zeroByteDigest);
  });

  it('a mapping whose layer does not fit the model falls back to the download and says why', async () => {
    const m = JSON.parse(mappingBytes.toString()) as { layers: { mediaType: string; digest: string; size: number }[]; annotations: Record<string, string> };
    const cases: { name: string; change: () => Promise<void>; reason: RegExp }[] = [
      {
        name: 'another model named',
        change: async () => {
          m.annotations['io.modeltoaks.reuse.identity'] = 'sha256:' + 'a'.repeat(64) + ' size=1';
        },
        reason: /does not check out: it is for another model/,
      },
      {
        name: 'a layer of another size',
        change: async () => {
          const config = await api('HEAD', `/v2/models/scorer/blobs/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`);
          assert.equal(config.status, 200);
          m.layers[0] = {
            mediaType: m.layers[0]?.mediaType as string,
            digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
            size: 2,
          };
        },
        reason: /does not check out: its layer has 2 bytes where a layer of this model has \d+/,
      },
      {
        name: 'a blob of the right size that is not this layer',
        change: async () => {
          const size = (JSON.parse(mappingBytes.toString()) as typeof m).layers[0]?.size as number;
          const junk = randomBytes(size);
          const start = await api('POST', '/v2/models/scorer/blobs/uploads/');
          const loc = new URL(start.headers.get('location') as string, registry.url);
          loc.searchParams.set('digest', `sha256:${sha(junk)}`);
          const put = await fetch(loc, { method: 'PUT', body: junk, headers: { Authorization: auth, 'Content-Type': 'application/octet-stream' } });
          assert.equal(put.status, 201);
          m.layers[0] = { mediaType: m.layers[0]?.mediaType as string, digest: `sha256:${sha(junk)}`, size };
        },
        reason: /does not check out: layer sha256:[0-9a-f]{64} does not start like a layer of this model/,
      },
    ];
    for (const c of cases) {
      Object.assign(m, JSON.parse(mappingBytes.toString()));
      await c.change();
      const put = await api('PUT', `/v2/models/scorer/manifests/${tag()}`, Buffer.from(JSON.stringify(m)), {
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      });
      assert.equal(put.status, 201, `${c.name}: ${await put.text()}`);
      const f = await fetchModel(join(work, `tampered-${c.name.replace(/\W+/g, '-')}`));
      assert.match(f.stdout, c.reason, c.name);
      assert.match(f.stdout, /; downloading\./, c.name);
      assert.equal(f.outputs['modelBytesDownloaded'], String(MODEL_SIZE), c.name);
      assert.equal(f.outputs['modelLayerReused'], 'false', c.name);
    }
    // The good mapping back.
    const put = await api('PUT', `/v2/models/scorer/manifests/${tag()}`, mappingBytes, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(put.status, 201);
  });

  it('a repository whose mapping names a layer it no longer holds: falls back and says so', async () => {
    const layer = (JSON.parse(mappingBytes.toString()) as { layers: { digest: string }[] }).layers[0]?.digest as string;
    for (const d of [layer, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a']) {
      const res = await api('POST', `/v2/models/stale/blobs/uploads/?mount=${d}&from=models/scorer`);
      assert.equal(res.status, 201);
    }
    const put = await api('PUT', `/v2/models/stale/manifests/${tag()}`, mappingBytes, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(put.status, 201);
    assert.equal((await api('DELETE', `/v2/models/stale/blobs/${layer}`)).status, 202);
    const f = await fetchModel(join(work, 'agent-stale'), { reuseRepository: 'models/stale' });
    assert.match(f.stdout, /Layer reuse: 127\.0\.0\.1:\d+\/models\/stale no longer holds the model layer sha256:[0-9a-f]{64} its mapping names; downloading\./);
    assert.equal(f.outputs['modelBytesDownloaded'], String(MODEL_SIZE));
  });

  it('a zero-byte build pushed to another repository of the registry mounts the layer; a registry without it fails with one line', async () => {
    const f = await fetchModel(join(work, 'agent4'));
    assert.equal(f.outputs['modelLayerReused'], 'true');
    const b = await bundle(f, 'app-v2', join(work, 'out4'));
    const p = await push(b.outputs['imageLayout'] as string, 'models/other');
    assert.equal(p.outputs['modelBytesUploaded'], '0');
    assert.match(p.stdout, /mounted from models\/scorer/);
    const other = await startRegistry();
    try {
      const r = await runMock({
        task: 'PushToACR',
        inputs: {
          imageLayout: b.outputs['imageLayout'],
          registryType: 'serviceConnection',
          dockerRegistryConnection: 'plain',
          repository: 'models/scorer',
          tags: 'latest',
        },
        endpoints: {
          plain: { scheme: 'UsernamePassword', parameters: { registry: `http://${other.host}`, username: '', password: '' }, data: { registrytype: 'Others' } },
        },
      });
      assert.equal(r.succeeded, false);
      assert.match(
        failure(r),
        /is not in the OCI image layout: FetchModel found it in 127\.0\.0\.1:\d+\/models\/scorer and downloaded nothing, but 127\.0\.0\.1:\d+\/models\/scorer lacks it/,
      );
    } finally {
      await other.stop();
    }
  });

  it('BundleModelImage refuses a reused layer for another place in the image, naming the inputs to align', async () => {
    const f = await fetchModel(join(work, 'agent5'));
    assert.equal(f.outputs['modelLayerReused'], 'true');
    const r = await runMock({
      task: 'BundleModelImage',
      inputs: {
        baseImage: 'scratch',
        modelPath: f.outputs['modelPath'],
        modelDestination: '/opt/model',
        outputPath: join(work, 'out5'),
        tags: 'x',
        layerCache: 'false',
      },
    });
    assert.equal(r.succeeded, false);
    assert.match(failure(r), /holds its layer for \/models\/model\.bin .* but this step puts it at \/opt\/model\/model\.bin .*reuseModelDestination/);
  });

  describe('S3 (s3rver): the single-part ETag is the identity', () => {
    let s3: TestS3Server;
    before(async () => {
      s3 = await startS3Server();
      await s3.createBucket('models');
      await s3.putObject('models', 'bert/model.bin', model);
    });
    after(async () => {
      await s3?.stop();
    });
    const s3Fetch = async (dest: string): Promise<MockRun> => {
      const r = await runMock({
        task: 'FetchModel',
        inputs: {
          provider: 's3',
          s3Connection: 's3conn',
          bucket: 'models',
          modelPath: 'bert/model.bin',
          destination: dest,
          reuseRegistryConnection: 'reg',
          reuseRepository: 'models/bert',
        },
        endpoints: {
          ...connection(),
          s3conn: {
            scheme: 'UsernamePassword',
            url: s3.endpoint,
            parameters: { username: s3.accessKeyId, password: s3.secretAccessKey },
            data: { region: 'us-east-1', forcePathStyle: 'true' },
          },
        },
      });
      assert.ok(r.succeeded, failure(r));
      return r;
    };

    it('first build records the layer; a fresh agent then downloads nothing and builds the same digest', async () => {
      const first = await s3Fetch(join(work, 's3-agent1'));
      assert.equal(first.outputs['modelBytesDownloaded'], String(MODEL_SIZE));
      const b1 = await bundle(first, 'app-v1', join(work, 's3-out1'));
      const p1 = await push(b1.outputs['imageLayout'] as string, 'models/bert');
      assert.match(p1.stdout, /Recorded model layer/);
      const second = await s3Fetch(join(work, 's3-agent2'));
      assert.match(second.stdout, /identity: single-part ETag/);
      assert.equal(second.outputs['modelBytesDownloaded'], '0');
      assert.equal(second.outputs['modelSha256'], sha(model));
      const b2 = await bundle(second, 'app-v1', join(work, 's3-out2'));
      assert.equal(b2.outputs['imageDigest'], b1.outputs['imageDigest']);
      const p2 = await push(b2.outputs['imageLayout'] as string, 'models/bert');
      assert.equal(p2.outputs['modelBytesUploaded'], '0');
    });
  });

  describe('warm agent: the model layer cache', () => {
    it('a second build of the same model links the cached layer (hit); another place in the image misses', async () => {
      const cache = join(work, 'layer-cache');
      const f = await fetchModel(join(work, 'warm'), { reuseLayers: 'false' });
      const first = await bundle(f, 'app-v1', join(work, 'warm-out1'), { layerCache: 'true', layerCacheDirectory: cache });
      assert.match(first.stdout, /Layer cache: no layer of this model and recipe is cached on this agent; building the model layer\./);
      const again = await fetchModel(join(work, 'warm'), { reuseLayers: 'false' });
      assert.equal(again.outputs['modelBytesDownloaded'], '0');
      assert.match(again.stdout, /size, mtime, ctime and inode unchanged since it was verified/);
      const second = await bundle(again, 'app-v2', join(work, 'warm-out2'), { layerCache: 'true', layerCacheDirectory: cache });
      assert.match(second.stdout, /Model layer sha256:[0-9a-f]{64}: from this agent's layer cache/);
      assert.equal(second.outputs['modelLayerDigest'], first.outputs['modelLayerDigest']);
      assert.equal(second.outputs['imageDigest'], zeroByteDigest, 'same image as the zero-byte and full paths');
      const layout = await OciLayout.open(second.outputs['imageLayout'] as string);
      // A deferred layer (the default): its descriptor came from the cache, its bytes come from the model file.
      const hash = createHash('sha256');
      for await (const chunk of layout.openBlob(second.outputs['modelLayerDigest'] as string) as AsyncIterable<Buffer>) hash.update(chunk);
      assert.equal(`sha256:${hash.digest('hex')}`, second.outputs['modelLayerDigest'], 'the layer from the cache produces its digest');
      const elsewhere = await bundle(again, 'app-v2', join(work, 'warm-out3'), {
        layerCache: 'true',
        layerCacheDirectory: cache,
        modelDestination: '/srv/models',
      });
      assert.match(elsewhere.stdout, /Layer cache: no layer of this model and recipe is cached on this agent/);
    });
  });
});
