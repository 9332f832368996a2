/**
 * image-info against a real registry (Debian's docker-registry with htpasswd
 * auth): a tag resolves to the digest that was pushed, the image's
 * provenance annotations and config labels are read back, an unknown tag is
 * a NotFound error and bad or missing credentials are auth failures.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../shared/errors';
import { parseReference } from '../../../shared/oci/reference';
import { RegistryClient } from '../../../shared/oci/registry/client';
import { readImageAnnotations, resolveImageDigest } from '../../../shared/oci/registry/image-info';
import { pushImage } from '../../../shared/oci/registry/push';
import { Annotation, MediaType } from '../../../shared/oci/types';
import { startRegistry, type TestRegistry } from '../../helpers/registry';
import { buildTestImage, buildTestIndex, type TestImage, type TestIndex } from './fixture';

describe('image-info against a real registry (htpasswd)', function () {
  this.timeout(120_000);
  const creds = { username: 'reader', password: 'r3ad-only' };
  let registry: TestRegistry;
  let work: string;
  let image: TestImage;
  let index: TestIndex;

  before(async () => {
    registry = await startRegistry({ mode: 'htpasswd', users: { [creds.username]: creds.password } });
    work = mkdtempSync(join(tmpdir(), 'image-info-'));
    image = await buildTestImage(join(work, 'image'), { base: false, modelSize: 4096, modelVersion: '7.1.0', tag: 'v7' });
    await pushImage({ layout: image.layout, registry: registry.host, repository: 'team/model-app', tags: ['v7'], credentials: creds });
    index = await buildTestIndex(join(work, 'index'));
    // pushImage pushes one platform's image; the index goes up by hand over its two images.
    for (const arch of ['amd64', 'arm64'])
      await pushImage({ layout: index.layout, source: arch, registry: registry.host, repository: 'team/multi', tags: [], credentials: creds });
    await client().putManifest('team/multi', 'multi', index.indexBytes, MediaType.OciIndex);
  });
  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const client = (c: { username: string; password: string } | null = creds) =>
    new RegistryClient({ registry: registry.host, credentials: c ?? undefined, retries: 0 });
  const ref = (s: string) => parseReference(`${registry.host}/${s}`);

  it('resolves a tag to the manifest digest that was pushed; a digest reference is returned as is', async () => {
    assert.equal(await resolveImageDigest(client(), ref('team/model-app:v7')), image.manifestDigest);
    const pinned = `sha256:${'e'.repeat(64)}`;
    assert.equal(await resolveImageDigest(client(null), ref(`team/model-app@${pinned}`)), pinned, 'no registry call for a pinned digest');
  });

  it('reads the manifest annotations and the config labels of a tag and of a digest', async () => {
    for (const r of ['team/model-app:v7', `team/model-app@${image.manifestDigest}`]) {
      const a = await readImageAnnotations(client(), ref(r));
      assert.equal(a[Annotation.ModelVersion], '7.1.0', r);
      assert.equal(a[Annotation.ModelSha256], image.modelSha256, r);
    }
  });

  it('resolves an index tag to the index digest (not that of a platform image) and reads through the index without inventing annotations', async () => {
    assert.equal(await resolveImageDigest(client(), ref('team/multi:multi')), index.indexDigest);
    // Neither the index nor its images carry annotations or labels: nothing is invented.
    assert.deepEqual(await readImageAnnotations(client(), ref('team/multi:multi')), {});
  });

  it('an unknown tag is NotFound, naming the tag', async () => {
    await assert.rejects(resolveImageDigest(client(), ref('team/model-app:nope')), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'NotFound');
      assert.match(e.message, /nope/);
      return true;
    });
    await assert.rejects(readImageAnnotations(client(), ref('team/model-app:nope')), (e: unknown) => e instanceof UserError && e.code === 'NotFound');
  });

  it('a wrong password or no credentials is an auth failure naming the registry', async () => {
    for (const c of [{ username: 'reader', password: 'wrong' }, null]) {
      await assert.rejects(resolveImageDigest(client(c), ref('team/model-app:v7')), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'AuthFailed');
        assert.ok(e.message.includes(registry.host), e.message);
        return true;
      });
    }
  });
});
