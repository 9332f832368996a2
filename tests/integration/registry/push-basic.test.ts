import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushImage } from '../../../shared/oci/registry/push';
import { pullImage } from '../../../shared/oci/registry/pull';
import { RegistryClient } from '../../../shared/oci/registry/client';
import { OciLayout } from '../../../shared/oci/layout';
import { parseReference } from '../../../shared/oci/reference';
import { MediaType } from '../../../shared/oci/types';
import { silentLogger, type Logger } from '../../../shared/log';
import { startRegistry, type TestRegistry } from '../../helpers/registry';
import { buildTestImage, buildTestIndex, skopeoInspectArgs, type TestImage } from './fixture';

interface SkopeoInspect {
  Digest: string;
  Layers: string[];
  RepoTags?: string[];
}

function inspect(ref: string, creds?: { username: string; password: string }): SkopeoInspect {
  return JSON.parse(execFileSync('skopeo', skopeoInspectArgs(ref, creds), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as SkopeoInspect;
}

function collectingLogger(lines: string[]): Logger {
  return { info: (m) => lines.push(m), warn: (m) => lines.push(m), debug: () => {}, progress: (u) => lines.push(u.line) };
}

describe('registry push (Basic auth, real docker-registry)', function () {
  const creds = { username: 'alice', password: 's3cret-pw' };
  let registry: TestRegistry;
  let work: string;
  let image: TestImage;

  before(async () => {
    registry = await startRegistry({ mode: 'htpasswd', users: { [creds.username]: creds.password } });
    work = mkdtempSync(join(tmpdir(), 'push-basic-'));
    image = await buildTestImage(join(work, 'v1'), { modelSize: 3 << 20 });
  });
  after(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('pushes all blobs, then the tags; skopeo sees the same digest, tags and layers', async () => {
    const lines: string[] = [];
    const result = await pushImage({
      layout: image.layout,
      registry: registry.host,
      repository: 'team/app',
      tags: ['1', 'latest'],
      credentials: creds,
      logger: collectingLogger(lines),
    });
    assert.equal(result.digest, image.manifestDigest);
    assert.equal(result.reference, `${registry.host}/team/app@${image.manifestDigest}`);
    const total = image.manifest.layers.reduce((n, l) => n + l.size, 0) + image.config.size + image.manifestSize;
    assert.equal(result.bytesUploaded, total);
    assert.equal(result.bytesSkipped, 0);
    for (const tag of ['1', 'latest']) {
      const info = inspect(`${registry.host}/team/app:${tag}`, creds);
      assert.equal(info.Digest, image.manifestDigest);
      assert.deepEqual(
        info.Layers,
        image.manifest.layers.map((l) => l.digest),
      );
      assert.deepEqual([...(info.RepoTags ?? [])].sort(), ['1', 'latest']);
    }
    assert.ok(
      lines.some((l) => /Layer sha256:.*uploaded in/.test(l)),
      lines.join('\n'),
    );
  });

  it('a second push of the same image uploads nothing but the manifest', async () => {
    const result = await pushImage({
      layout: image.layout,
      registry: registry.host,
      repository: 'team/app',
      tags: ['2'],
      credentials: creds,
      logger: silentLogger,
    });
    assert.equal(result.bytesUploaded, image.manifestSize);
    assert.ok(result.blobs.every((b) => b.action === 'skipped'));
    assert.equal(inspect(`${registry.host}/team/app:2`, creds).Digest, image.manifestDigest);
  });

  it('after an app-only change uploads only the app layer, config and manifest', async () => {
    const v2 = await buildTestImage(join(work, 'v2'), { modelSize: 3 << 20, app: '#!/bin/sh\necho hello from app v2\n' });
    assert.equal(v2.model.digest, image.model.digest);
    const result = await pushImage({
      layout: v2.layout,
      registry: registry.host,
      repository: 'team/app',
      tags: ['3'],
      credentials: creds,
      logger: silentLogger,
    });
    assert.equal(result.bytesUploaded, v2.app.size + v2.config.size + v2.manifestSize);
    assert.equal(result.blobs.filter((b) => b.action === 'uploaded').length, 2);
    assert.equal(inspect(`${registry.host}/team/app:3`, creds).Digest, v2.manifestDigest);
  });

  it('mounts the model layer when pushing to a second repository', async () => {
    const result = await pushImage({
      layout: image.layout,
      registry: registry.host,
      repository: 'team/other',
      tags: ['1'],
      credentials: creds,
      mountFrom: ['team/app'],
      logger: silentLogger,
    });
    const model = result.blobs.find((b) => b.digest === image.model.digest);
    assert.equal(model?.action, 'mounted');
    assert.equal(model?.mountedFrom, 'team/app');
    assert.equal(result.bytesUploaded, image.manifestSize);
    assert.equal(inspect(`${registry.host}/team/other:1`, creds).Digest, image.manifestDigest);
  });

  it('goes up in chunks when the blob is larger than the chunk size', async () => {
    const lines: string[] = [];
    const result = await pushImage({
      layout: image.layout,
      registry: registry.host,
      repository: 'team/chunked',
      tags: ['c'],
      credentials: creds,
      chunkSize: 1 << 20,
      logger: collectingLogger(lines),
    });
    assert.equal(result.digest, image.manifestDigest);
    assert.equal(inspect(`${registry.host}/team/chunked:c`, creds).Digest, image.manifestDigest);
    const model = result.blobs.find((b) => b.digest === image.model.digest);
    assert.equal(model?.action, 'uploaded');
    assert.equal(model?.chunks, Math.ceil(image.model.size / (1 << 20)));
  });

  it('fails with a clear message on wrong credentials and writes no tag', async () => {
    await assert.rejects(
      pushImage({
        layout: image.layout,
        registry: registry.host,
        repository: 'team/denied',
        tags: ['x'],
        credentials: { username: 'alice', password: 'wrong' },
        logger: silentLogger,
        retries: 0,
      }),
      (err: Error) => {
        assert.match(err.message, /rejected the credentials/);
        return true;
      },
    );
    assert.throws(() => inspect(`${registry.host}/team/denied:x`, creds));
  });

  it('rejects an invalid tag before sending anything', async () => {
    await assert.rejects(
      pushImage({ layout: image.layout, registry: registry.host, repository: 'team/app', tags: ['-bad'], credentials: creds }),
      /not a valid tag/,
    );
  });

  it('pulls a base image by tag and by digest from a multi-platform index with Basic auth', async () => {
    const index = await buildTestIndex(join(work, 'index'));
    for (const arch of ['amd64', 'arm64'])
      await pushImage({
        layout: index.layout,
        source: arch,
        registry: registry.host,
        repository: 'base/multi',
        tags: [],
        credentials: creds,
        logger: silentLogger,
      });
    await new RegistryClient({ registry: registry.host, credentials: creds }).putManifest('base/multi', '1', index.indexBytes, MediaType.OciIndex);
    const dest = await OciLayout.create(join(work, 'pulled'));
    const byTag = await pullImage({ reference: parseReference(`${registry.host}/base/multi:1`), layout: dest, credentials: creds, logger: silentLogger });
    assert.equal(byTag.manifestDescriptor.digest, index.amd64);
    assert.equal(byTag.indexDigest, index.indexDigest);
    const byDigest = await pullImage({
      reference: parseReference(`${registry.host}/base/multi@${index.indexDigest}`),
      platform: { os: 'linux', architecture: 'arm64' },
      layout: dest,
      credentials: creds,
      logger: silentLogger,
    });
    assert.equal(byDigest.manifestDescriptor.digest, index.arm64);
    assert.equal(byDigest.config.architecture, 'arm64');
    for (const d of [byDigest.manifest.config, ...byDigest.manifest.layers]) assert.ok(await dest.hasBlob(d.digest));
    await assert.rejects(
      pullImage({
        reference: parseReference(`${registry.host}/base/multi:1`),
        layout: dest,
        credentials: { username: 'alice', password: 'bad' },
        logger: silentLogger,
        retries: 0,
      }),
      /rejected the credentials/,
    );
  });
});
