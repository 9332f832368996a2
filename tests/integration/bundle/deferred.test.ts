/**
 * The deferred model layer end to end with real tools: BundleModelImage
 * records the model layer instead of writing it (the agent holds the model
 * once), PushToACR's library streams it from the model file into Debian's
 * docker-registry, skopeo pulls it back, a Docker engine runs it, and every
 * digest equals the one of the written-blob path (writeModelBlob).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChecksumMismatchError, UserError } from '../../../shared/errors';
import type { Logger } from '../../../shared/log';
import { bundleImage, type BundleOptions } from '../../../shared/oci/bundle';
import { OciLayout } from '../../../shared/oci/layout';
import { RegistryClient } from '../../../shared/oci/registry/client';
import { pushImage } from '../../../shared/oci/registry/push';
import { buildBusyboxBase, busyboxAvailable, type BaseImageInfo } from '../../helpers/base-images';
import { dockerEngine, unavailableReason } from '../../helpers/docker-engine';
import { requirePrerequisite } from '../../helpers/prerequisite';
import { startRegistry, type TestRegistry } from '../../helpers/registry';

/** Bytes the folder's files take on disk (du). */
const diskBytes = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split(/\s/)[0]);

describe('deferred model layer (streamed from the model file) with real tools', function () {
  this.timeout(300000);
  let work: string;
  let base: BaseImageInfo;
  let registry: TestRegistry;
  let model: Buffer;
  let modelSha: string;
  let app: string;

  before(async function () {
    requirePrerequisite(this, busyboxAvailable(), 'busybox (Debian busybox-static)');
    work = mkdtempSync(join(tmpdir(), 'deferred-it-'));
    base = await buildBusyboxBase(join(work, 'base'), '1');
    model = randomBytes(5 * 65535 * 20 + 4321); // several MiB, not a multiple of the stored block size
    modelSha = createHash('sha256').update(model).digest('hex');
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'model.bin'), model);
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'serve.sh'), '#!/bin/sh\ncd /models && sha256sum model.bin\n');
    chmodSync(join(app, 'serve.sh'), 0o755);
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const options = (out: string, extra: Partial<BundleOptions> = {}): BundleOptions => ({
    baseImage: base.spec,
    model: { path: join(work, 'model'), destination: '/models' },
    app: { directory: app, destination: '/app' },
    entrypoint: ['/app/serve.sh'],
    created: '2024-05-06T07:08:09Z',
    tags: ['1'],
    outputPath: out,
    ...extra,
  });

  it('is the same image as the written-blob path, holds no copy of the model, and round-trips through registry, skopeo and Docker', async () => {
    const deferred = await bundleImage(options(join(work, 'out-deferred')));
    const written = await bundleImage(options(join(work, 'out-written'), { writeModelBlob: true }));
    assert.equal(deferred.manifestDigest, written.manifestDigest, 'same image digest');
    assert.equal(deferred.modelLayerDigest, written.modelLayerDigest);
    const modelDigest = deferred.modelLayerDigest as string;
    const hex = modelDigest.slice('sha256:'.length);
    assert.equal(deferred.layers.find((l) => l.role === 'model')?.deferred, true);
    assert.equal(existsSync(join(work, 'out-deferred', 'blobs', 'sha256', hex)), false, 'no model blob in the deferred layout');
    assert.ok(existsSync(join(work, 'out-deferred', 'deferred', 'sha256', `${hex}.json`)));
    assert.ok(existsSync(join(work, 'out-written', 'blobs', 'sha256', hex)));
    // Disk: the deferred layout costs the base and app layers and metadata, not the model again.
    const modelLayerSize = written.layers.find((l) => l.role === 'model')?.size as number;
    assert.ok(diskBytes(join(work, 'out-deferred')) < diskBytes(join(work, 'out-written')) - modelLayerSize + 64 * 1024);
    assert.ok(diskBytes(join(work, 'out-deferred')) < model.length / 4);

    const lines: string[] = [];
    const logger: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(m), debug: () => {} };
    const pushed = await pushImage({
      layout: await OciLayout.open(join(work, 'out-deferred')),
      registry: registry.host,
      repository: 'deferred/a',
      tags: ['1'],
      logger,
    });
    assert.equal(pushed.digest, deferred.manifestDigest);
    assert.match(lines.join('\n'), /uploaded from the model files/);
    const viaBlob = await pushImage({
      layout: await OciLayout.open(join(work, 'out-written')),
      registry: registry.host,
      repository: 'deferred/b',
      tags: ['1'],
    });
    assert.equal(viaBlob.digest, pushed.digest);

    // skopeo pulls the streamed image back into a plain layout: its model blob is the written blob, byte for byte.
    const pulled = join(work, 'pulled');
    execFileSync('skopeo', ['copy', '--insecure-policy', '--src-tls-verify=false', `docker://${registry.host}/deferred/a:1`, `oci:${pulled}:1`], {
      stdio: 'pipe',
    });
    const back = readFileSync(join(pulled, 'blobs', 'sha256', hex));
    assert.ok(back.equals(readFileSync(join(work, 'out-written', 'blobs', 'sha256', hex))));
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/deferred/a:1`], { encoding: 'utf8' })) as {
      Digest: string;
      Layers: string[];
    };
    assert.equal(inspect.Digest, written.manifestDigest);
    assert.ok(inspect.Layers.includes(modelDigest));
  });

  it('the Docker engine pulls the streamed image and the container prints the model sha256', async function () {
    const engine = await dockerEngine();
    requirePrerequisite(this, Boolean(engine), `a Docker engine (${unavailableReason()})`);
    const r = await bundleImage(options(join(work, 'out-run')));
    await pushImage({ layout: await OciLayout.open(join(work, 'out-run')), registry: registry.host, repository: 'deferred/run', tags: ['1'] });
    const ref = `${registry.host}/deferred/run@${r.manifestDigest}`;
    engine!.docker(['pull', ref], { timeoutMs: 120_000 });
    const out = engine!.docker(['run', '--rm', '--network', 'none', ref], { timeoutMs: 120_000 });
    assert.equal(out.trim().split(/\s+/)[0], modelSha);
  });

  it('a model changed after bundling (same size and mtime) is refused before the upload completes: no blob, no tag', async () => {
    const dir = join(work, 'tamper');
    mkdirSync(join(dir, 'model'), { recursive: true });
    const path = join(dir, 'model', 'model.bin');
    writeFileSync(path, model);
    const r = await bundleImage({ ...options(join(dir, 'out')), model: { path: join(dir, 'model'), destination: '/models' } });
    const st = statSync(path);
    const changed = Buffer.from(model);
    changed[changed.length - 10] ^= 0x01;
    writeFileSync(path, changed);
    utimesSync(path, st.atime, st.mtime);
    // One PUT (the default chunk is larger than the layer) and 1 MiB PATCH chunks: neither completes the upload.
    for (const [repository, chunkSize] of [
      ['deferred/tampered', undefined],
      ['deferred/tampered-chunked', 1 << 20],
    ] as const) {
      await assert.rejects(
        pushImage({ layout: await OciLayout.open(join(dir, 'out')), registry: registry.host, repository, tags: ['1'], retries: 0, chunkSize }),
        (err: unknown) => err instanceof ChecksumMismatchError && /changed since the image was built; run BundleModelImage again/.test(err.message),
      );
      const client = new RegistryClient({ registry: registry.host });
      assert.equal(await client.blobSize(repository, r.modelLayerDigest as string), undefined, 'the registry never completed the blob');
      await assert.rejects(client.getManifest(repository, '1'));
    }
  });

  it('a model moved away after bundling: one sentence naming the file and writeModelBlob', async () => {
    const dir = join(work, 'moved');
    mkdirSync(join(dir, 'model'), { recursive: true });
    writeFileSync(join(dir, 'model', 'model.bin'), model.subarray(0, 3 << 20));
    await bundleImage({ ...options(join(dir, 'out')), model: { path: join(dir, 'model'), destination: '/models' } });
    rmSync(join(dir, 'model'), { recursive: true });
    await assert.rejects(
      pushImage({ layout: await OciLayout.open(join(dir, 'out')), registry: registry.host, repository: 'deferred/moved', tags: ['1'] }),
      (err: unknown) => err instanceof UserError && err.code === 'DeferredSourceMissing' && err.message.includes(join(dir, 'model', 'model.bin')),
    );
  });
});
