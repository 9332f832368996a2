import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ChecksumMismatchError, UserError } from '../../../shared/errors';
import { OciLayout } from '../../../shared/oci/layout';
import { Annotation, MediaType, type ImageConfig, type ImageIndex, type ImageManifest } from '../../../shared/oci/types';

const sha = (s: string | Buffer) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('oci/layout', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(join(tmpdir(), 'layout-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('creates the marker, an empty index and the blob folder', async () => {
    const layout = await OciLayout.create(join(dir, 'l'));
    assert.deepEqual(JSON.parse(await fsp.readFile(join(dir, 'l', 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = await layout.readIndex();
    assert.equal(index.schemaVersion, 2);
    assert.deepEqual(index.manifests, []);
    assert.ok((await fsp.stat(join(dir, 'l', 'blobs', 'sha256'))).isDirectory());
    await OciLayout.open(join(dir, 'l'));
  });

  it('refuses to open a folder that is not a layout', async () => {
    await assert.rejects(OciLayout.open(dir), (e: unknown) => e instanceof UserError && /not an OCI image layout/.test(e.message));
  });

  it('writes blobs content-addressed and reads them back verified', async () => {
    const layout = await OciLayout.create(dir);
    const { digest, size } = await layout.writeBlob('hello');
    assert.equal(digest, sha('hello'));
    assert.equal(size, 5);
    assert.ok(await layout.hasBlob(digest));
    assert.equal((await layout.readBlob(digest)).toString(), 'hello');
    assert.equal(await text(layout.openBlob(digest)), 'hello');
  });

  it('streams a blob and checks the expected digest, removing the temp file on mismatch', async () => {
    const layout = await OciLayout.create(dir);
    const data = Buffer.alloc(3 << 20, 7);
    const ok = await layout.writeBlobStream(Readable.from([data]), { digest: sha(data), size: data.length });
    assert.equal(ok.digest, sha(data));
    await assert.rejects(layout.writeBlobStream(Readable.from([Buffer.from('evil')]), { digest: sha('good') }), ChecksumMismatchError);
    const left = await fsp.readdir(join(dir, 'blobs', 'sha256'));
    assert.deepEqual(left, [sha(data).slice(7)]);
  });

  it('detects a corrupted blob on read and on stream', async () => {
    const layout = await OciLayout.create(dir);
    const { digest } = await layout.writeBlob('original content');
    await fsp.writeFile(layout.blobPath(digest), 'tampered content');
    await assert.rejects(layout.readBlob(digest), ChecksumMismatchError);
    await assert.rejects(text(layout.openBlob(digest)), ChecksumMismatchError);
    assert.equal(await text(layout.openBlob(digest, { verify: false })), 'tampered content');
  });

  it('rejects malformed digests', async () => {
    const layout = await OciLayout.create(dir);
    assert.throws(() => layout.blobPath('sha256:../../etc/passwd'), UserError);
  });

  async function writeImage(layout: OciLayout, arch: string): Promise<{ digest: string; size: number }> {
    const config: ImageConfig = { architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
    const c = await layout.writeBlob(JSON.stringify(config));
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, ...c }, layers: [] };
    return layout.writeBlob(JSON.stringify(manifest));
  }

  it('records ref names, replaces same-name entries and finds images', async () => {
    const layout = await OciLayout.create(dir);
    const a = await writeImage(layout, 'amd64');
    const b = await writeImage(layout, 'arm64');
    await layout.addManifest({ mediaType: MediaType.OciManifest, ...a }, ['v1', 'latest']);
    await layout.addManifest({ mediaType: MediaType.OciManifest, ...b }, ['latest']);
    const index = await layout.readIndex();
    assert.deepEqual(
      index.manifests.map((m) => [m.annotations?.[Annotation.RefName], m.digest]),
      [
        ['v1', a.digest],
        ['latest', b.digest],
      ],
    );
    assert.equal((await layout.findManifest('latest')).config.architecture, 'arm64');
    assert.equal((await layout.findManifest('v1')).descriptor.digest, a.digest);
    await assert.rejects(layout.findManifest(), /several images \(v1, latest\)/);
    await assert.rejects(layout.findManifest('nope'), /no image named 'nope' \(it has: v1, latest\)/);
  });

  it('resolves a nested index to linux/amd64 or the given platform', async () => {
    const layout = await OciLayout.create(dir);
    const a = await writeImage(layout, 'amd64');
    const b = await writeImage(layout, 'arm64');
    const idx: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, ...b, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: MediaType.OciManifest, ...a, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const i = await layout.writeBlob(JSON.stringify(idx));
    await layout.addManifest({ mediaType: MediaType.OciIndex, ...i }, ['multi']);
    assert.equal((await layout.findManifest()).config.architecture, 'amd64');
    assert.equal((await layout.findManifest('multi', { os: 'linux', architecture: 'arm64' })).descriptor.digest, b.digest);
    await assert.rejects(
      layout.findManifest('multi', { os: 'linux', architecture: 's390x' }),
      /has no linux\/s390x image \(it has: linux\/arm64\/v8, linux\/amd64\)/,
    );
  });
});
