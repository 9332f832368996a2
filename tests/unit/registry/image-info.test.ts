/**
 * image-info against a tiny fake registry on 127.0.0.1 that serves exactly
 * the manifests, indexes and config blobs each test puts in it, behind no
 * auth or a Bearer token server: tag -> digest, annotations from a manifest
 * and from an index (platform choice, index annotations underneath, config
 * labels filling gaps), a hostile config (wrong digest, oversized), not found,
 * and token authentication.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../../../shared/errors';
import { parseReference } from '../../../shared/oci/reference';
import { RegistryClient } from '../../../shared/oci/registry/client';
import { readImageAnnotations, resolveImageDigest } from '../../../shared/oci/registry/image-info';
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest } from '../../../shared/oci/types';

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Served {
  status: number;
  body: Buffer;
  contentType?: string;
}

class FakeRegistry {
  readonly requests: { method: string; path: string; authorization?: string }[] = [];
  /** path -> answer, e.g. /v2/app/manifests/v1 */
  readonly content = new Map<string, Served>();
  /** When set, /v2/ paths need "Bearer <token>", given by GET /token for these Basic credentials. */
  bearer?: { token: string; user: string; password: string };
  host = '';
  private server!: http.Server;

  static async start(): Promise<FakeRegistry> {
    const r = new FakeRegistry();
    r.server = http.createServer((req, res) => r.handle(req, res));
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    r.host = `127.0.0.1:${(r.server.address() as AddressInfo).port}`;
    return r;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Stores a manifest (or index) under its digest and the given tags; returns its digest. */
  manifest(repo: string, doc: object, tags: string[] = []): string {
    const body = Buffer.from(JSON.stringify(doc));
    const digest = digestOf(body);
    const mediaType = (doc as { mediaType?: string }).mediaType ?? MediaType.OciManifest;
    for (const ref of [digest, ...tags]) this.content.set(`/v2/${repo}/manifests/${ref}`, { status: 200, body, contentType: mediaType });
    return digest;
  }

  /** Stores a blob; `as` serves it under another digest (a lying registry). */
  blob(repo: string, body: Buffer, as?: string): Descriptor {
    const digest = as ?? digestOf(body);
    this.content.set(`/v2/${repo}/blobs/${digest}`, { status: 200, body, contentType: 'application/octet-stream' });
    return { mediaType: MediaType.OciConfig, digest, size: body.length };
  }

  /** An image: config with labels, manifest with annotations. */
  image(
    repo: string,
    opts: { labels?: Record<string, string>; annotations?: Record<string, string>; tags?: string[]; arch?: string } = {},
  ): { digest: string; descriptor: Descriptor } {
    const config = this.blob(
      repo,
      Buffer.from(
        JSON.stringify({ architecture: opts.arch ?? 'amd64', os: 'linux', config: { Labels: opts.labels }, rootfs: { type: 'layers', diff_ids: [] } }),
      ),
    );
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config,
      layers: [],
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    };
    const digest = this.manifest(repo, manifest, opts.tags);
    const size = (this.content.get(`/v2/${repo}/manifests/${digest}`) as Served).body.length;
    return { digest, descriptor: { mediaType: MediaType.OciManifest, digest, size } };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, authorization: req.headers.authorization });
    const send = (status: number, body: Buffer | string, headers: Record<string, string> = {}) => {
      const b = Buffer.from(body);
      res.writeHead(status, { 'Content-Length': String(b.length), 'Docker-Distribution-Api-Version': 'registry/2.0', ...headers });
      res.end(b);
    };
    if (url.pathname === '/token') {
      const b = this.bearer;
      const expected = b ? `Basic ${Buffer.from(`${b.user}:${b.password}`).toString('base64')}` : undefined;
      if (!b || req.headers.authorization !== expected) return send(401, JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return send(200, JSON.stringify({ token: b.token, expires_in: 300 }), { 'Content-Type': 'application/json' });
    }
    if (this.bearer && req.headers.authorization !== `Bearer ${this.bearer.token}`) {
      return send(401, JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }), {
        'WWW-Authenticate': `Bearer realm="http://${this.host}/token",service="fake-registry"`,
        'Content-Type': 'application/json',
      });
    }
    if (url.pathname === '/v2/') return send(200, '{}', { 'Content-Type': 'application/json' });
    const served = this.content.get(url.pathname);
    if (!served) {
      const code = url.pathname.includes('/manifests/') ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN';
      return send(404, JSON.stringify({ errors: [{ code, message: `${code.toLowerCase()}`, detail: {} }] }), { 'Content-Type': 'application/json' });
    }
    const headers: Record<string, string> = { 'Content-Type': served.contentType ?? 'application/octet-stream' };
    if (req.method === 'HEAD') {
      res.writeHead(served.status, { ...headers, 'Content-Length': String(served.body.length) });
      res.end();
      return;
    }
    send(served.status, served.body, headers);
  }
}

describe('image-info (fake registry)', () => {
  let reg: FakeRegistry;
  beforeEach(async () => {
    reg = await FakeRegistry.start();
  });
  afterEach(() => reg.stop());

  const client = (credentials?: { username: string; password: string }) => new RegistryClient({ registry: reg.host, credentials, retries: 0 });
  const ref = (s: string) => parseReference(`${reg.host}/${s}`);
  const manifestGets = () => reg.requests.filter((r) => r.path.includes('/manifests/'));

  describe('resolveImageDigest', () => {
    it('resolves a tag to the sha256 of the manifest bytes the registry serves', async () => {
      const { digest } = reg.image('models/app', { tags: ['v1'] });
      assert.equal(await resolveImageDigest(client(), ref('models/app:v1')), digest);
      assert.deepEqual(
        manifestGets().map((r) => r.path),
        ['/v2/models/app/manifests/v1'],
      );
    });

    it('a reference without tag or digest means latest', async () => {
      const { digest } = reg.image('models/app', { tags: ['latest'] });
      assert.equal(await resolveImageDigest(client(), ref('models/app')), digest);
    });

    it('a pinned digest is returned without asking the registry', async () => {
      const pinned = `sha256:${'d'.repeat(64)}`;
      assert.equal(await resolveImageDigest(client(), ref(`models/app:v1@${pinned}`)), pinned);
      assert.equal(reg.requests.length, 0);
    });

    it('an unknown tag is NotFound, naming the tag', async () => {
      await assert.rejects(resolveImageDigest(client(), ref('models/app:missing')), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'NotFound');
        assert.match(e.message, /missing/);
        return true;
      });
    });
  });

  describe('readImageAnnotations', () => {
    it('returns the manifest annotations with the config labels filling missing keys (annotations win)', async () => {
      reg.image('models/app', {
        tags: ['v1'],
        labels: { 'io.modeltoaks.model.version': 'from-label', 'org.opencontainers.image.source': 'https://example.invalid/repo' },
        annotations: { 'io.modeltoaks.model.version': '1.2.0', 'io.modeltoaks.model.sha256': 'f'.repeat(64) },
      });
      assert.deepEqual(await readImageAnnotations(client(), ref('models/app:v1')), {
        'io.modeltoaks.model.version': '1.2.0',
        'io.modeltoaks.model.sha256': 'f'.repeat(64),
        'org.opencontainers.image.source': 'https://example.invalid/repo',
      });
    });

    it('an image with neither annotations nor labels gives {}', async () => {
      reg.image('models/app', { tags: ['v1'] });
      assert.deepEqual(await readImageAnnotations(client(), ref('models/app:v1')), {});
    });

    it('reads by digest when the reference has one', async () => {
      const { digest } = reg.image('models/app', { annotations: { a: '1' } });
      assert.deepEqual(await readImageAnnotations(client(), ref(`models/app@${digest}`)), { a: '1' });
      assert.deepEqual(
        manifestGets().map((r) => r.path),
        [`/v2/models/app/manifests/${digest}`],
      );
    });

    it('an index: the linux/amd64 image is read, its annotations over the index’s', async () => {
      const amd = reg.image('models/app', { arch: 'amd64', annotations: { arch: 'amd64', shared: 'image' } });
      const arm = reg.image('models/app', { arch: 'arm64', annotations: { arch: 'arm64' } });
      const index: ImageIndex = {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { ...arm.descriptor, platform: { os: 'linux', architecture: 'arm64' } },
          { ...amd.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
        ],
        annotations: { shared: 'index', fromIndex: 'yes' },
      };
      reg.manifest('models/app', index, ['multi']);
      assert.deepEqual(await readImageAnnotations(client(), ref('models/app:multi')), { arch: 'amd64', shared: 'image', fromIndex: 'yes' });
      assert.deepEqual(await readImageAnnotations(client(), ref('models/app:multi'), { os: 'linux', architecture: 'arm64' }), {
        arch: 'arm64',
        shared: 'index',
        fromIndex: 'yes',
      });
    });

    it('an index: a platform variant must match when asked for', async () => {
      const v7 = reg.image('models/app', { arch: 'arm', annotations: { variant: 'v7' } });
      const v8 = reg.image('models/app', { arch: 'arm', annotations: { variant: 'v8' } });
      reg.manifest(
        'models/app',
        {
          schemaVersion: 2,
          mediaType: MediaType.OciIndex,
          manifests: [
            { ...v7.descriptor, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
            { ...v8.descriptor, platform: { os: 'linux', architecture: 'arm', variant: 'v8' } },
          ],
        },
        ['arm'],
      );
      assert.deepEqual(await readImageAnnotations(client(), ref('models/app:arm'), { os: 'linux', architecture: 'arm', variant: 'v8' }), { variant: 'v8' });
    });

    it('an index with one image for another platform: that image is read', async () => {
      const only = reg.image('models/app', { arch: 'arm64', annotations: { only: 'yes' } });
      reg.manifest(
        'models/app',
        { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...only.descriptor, platform: { os: 'linux', architecture: 'arm64' } }] },
        ['one'],
      );
      assert.deepEqual(await readImageAnnotations(client(), ref('models/app:one')), { only: 'yes' });
    });

    it('an index with several images, none for the platform: only the index annotations, no image read', async () => {
      const a = reg.image('models/app', { arch: 'arm64' });
      const b = reg.image('models/app', { arch: 's390x' });
      reg.manifest(
        'models/app',
        {
          schemaVersion: 2,
          mediaType: MediaType.DockerManifestList,
          manifests: [
            { ...a.descriptor, platform: { os: 'linux', architecture: 'arm64' } },
            { ...b.descriptor, platform: { os: 'linux', architecture: 's390x' } },
          ],
          annotations: { idx: '1' },
        },
        ['other'],
      );
      assert.deepEqual(await readImageAnnotations(client(), ref('models/app:other')), { idx: '1' });
      assert.equal(manifestGets().length, 1);
      assert.equal(reg.requests.filter((r) => r.path.includes('/blobs/')).length, 0);
    });

    it('a config blob whose bytes do not match its digest is a ChecksumMismatch', async () => {
      const real = Buffer.from(JSON.stringify({ config: { Labels: { forged: 'yes' } } }));
      const claimed = `sha256:${'0'.repeat(64)}`;
      const config = reg.blob('models/app', real, claimed);
      reg.manifest('models/app', { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [] }, ['v1']);
      await assert.rejects(readImageAnnotations(client(), ref('models/app:v1')), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'ChecksumMismatch');
        assert.ok(e.message.includes(claimed), e.message);
        return true;
      });
    });

    it('a config blob larger than 4 MiB is refused', async () => {
      const huge = Buffer.alloc((4 << 20) + 1024, 0x20);
      const config = reg.blob('models/app', huge);
      reg.manifest('models/app', { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [] }, ['v1']);
      await assert.rejects(readImageAnnotations(client(), ref('models/app:v1')), /larger than 4 MiB/);
    });

    it('a missing config blob is NotFound', async () => {
      reg.manifest(
        'models/app',
        {
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, digest: `sha256:${'1'.repeat(64)}`, size: 2 },
          layers: [],
        },
        ['v1'],
      );
      await assert.rejects(readImageAnnotations(client(), ref('models/app:v1')), (e: unknown) => e instanceof UserError && e.code === 'NotFound');
    });

    it('an unknown tag is NotFound', async () => {
      await assert.rejects(
        readImageAnnotations(client(), ref('models/app:nope')),
        (e: unknown) => e instanceof UserError && e.code === 'NotFound' && /nope/.test(e.message),
      );
    });
  });

  describe('with Bearer token authentication', () => {
    beforeEach(() => {
      reg.bearer = { token: 'tok-123', user: 'ci', password: 'pw' };
    });

    it('gets a token with the credentials and reads the image with it', async () => {
      const { digest } = reg.image('models/app', { tags: ['v1'], annotations: { a: 'b' } });
      const c = client({ username: 'ci', password: 'pw' });
      assert.equal(await resolveImageDigest(c, ref('models/app:v1')), digest);
      assert.deepEqual(await readImageAnnotations(c, ref('models/app:v1')), { a: 'b' });
      assert.ok(reg.requests.some((r) => r.path === '/token'));
      const authed = reg.requests.filter((r) => r.path.startsWith('/v2/models/') && r.authorization === 'Bearer tok-123');
      assert.ok(authed.length >= 3, JSON.stringify(reg.requests));
    });

    it('wrong credentials: an auth failure naming the registry, no image read', async () => {
      reg.image('models/app', { tags: ['v1'] });
      await assert.rejects(resolveImageDigest(client({ username: 'ci', password: 'wrong' }), ref('models/app:v1')), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.code, 'AuthFailed');
        assert.ok(e.message.includes(reg.host), e.message);
        return true;
      });
      assert.equal(reg.requests.filter((r) => r.path.startsWith('/v2/models/') && r.authorization?.startsWith('Bearer')).length, 0);
    });
  });
});
