/**
 * Test images written straight into an OCI layout (no dependency on the
 * bundling library): a busybox-static base layer (runnable by a real engine),
 * a "model" layer of deterministic pseudo-random bytes of any size (streamed,
 * never buffered) and a small "app" layer. Layers are uncompressed tar.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { OciLayout } from '../../../shared/oci/layout';
import { Annotation, MediaType, type Descriptor, type ImageConfig, type ImageManifest } from '../../../shared/oci/types';

interface FileSpec {
  name: string;
  mode?: number;
  /** Content, or a size of pseudo-random bytes derived from `seed`. */
  content?: Buffer | string;
  size?: number;
  seed?: string;
  linkname?: string;
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
export function randomStream(seed: string, size: number): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(1 << 20);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, zero.length);
      left -= n;
      this.push(cipher.update(zero.subarray(0, n)));
    },
  });
}

export async function writeTarLayer(layout: OciLayout, files: FileSpec[]): Promise<{ descriptor: Descriptor; diffId: string }> {
  const pack = tarPack();
  const done = layout.writeBlobStream(Readable.from(pack));
  const epoch = new Date(0);
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        pack.entry({ name: `${d}/`, type: 'directory', mode: 0o755, mtime: epoch, uid: 0, gid: 0 });
      }
    }
    if (f.linkname) {
      pack.entry({ name: f.name, type: 'symlink', linkname: f.linkname, mode: 0o777, mtime: epoch });
      continue;
    }
    if (f.content !== undefined) {
      pack.entry({ name: f.name, mode: f.mode ?? 0o644, mtime: epoch, uid: 0, gid: 0 }, typeof f.content === 'string' ? Buffer.from(f.content) : f.content);
      continue;
    }
    const size = f.size ?? 0;
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name: f.name, size, mode: f.mode ?? 0o644, mtime: epoch, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
      randomStream(f.seed ?? f.name, size).pipe(entry);
    });
  }
  pack.finalize();
  const { digest, size } = await done;
  return { descriptor: { mediaType: MediaType.OciLayer, digest, size }, diffId: digest };
}

export interface TestImageOptions {
  /** Model bytes (default 1 MiB). */
  modelSize?: number;
  modelSeed?: string;
  /** App file content (change it to produce an app-only change). */
  app?: string;
  modelVersion?: string;
  tag?: string;
  /** Include a busybox base layer when busybox-static is installed (default true). */
  base?: boolean;
}

export interface TestImage {
  layout: OciLayout;
  manifestDigest: string;
  manifestSize: number;
  manifest: ImageManifest;
  config: Descriptor;
  base?: Descriptor;
  model: Descriptor;
  app: Descriptor;
  modelSha256: string;
}

export const BUSYBOX = '/bin/busybox';

export async function buildTestImage(dir: string, options: TestImageOptions = {}): Promise<TestImage> {
  const layout = await OciLayout.create(dir);
  const layers: Array<{ descriptor: Descriptor; diffId: string }> = [];
  let base: Descriptor | undefined;
  if ((options.base ?? true) && existsSync(BUSYBOX)) {
    const applets = ['sh', 'cat', 'sha256sum', 'echo', 'ls'];
    const b = await writeTarLayer(layout, [
      { name: 'bin/busybox', mode: 0o755, content: readFileSync(BUSYBOX) },
      ...applets.map((a) => ({ name: `bin/${a}`, linkname: 'busybox' })),
      { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
    ]);
    layers.push(b);
    base = b.descriptor;
  }
  const modelSize = options.modelSize ?? 1 << 20;
  const seed = options.modelSeed ?? 'model';
  const model = await writeTarLayer(layout, [{ name: 'models/model.bin', size: modelSize, seed }]);
  layers.push(model);
  const app = await writeTarLayer(layout, [{ name: 'app/main.sh', mode: 0o755, content: options.app ?? '#!/bin/sh\necho hello from app v1\n' }]);
  layers.push(app);
  const modelHash = createHash('sha256');
  for await (const c of randomStream(seed, modelSize)) modelHash.update(c as Buffer);
  const modelSha256 = modelHash.digest('hex');
  const config: ImageConfig = {
    created: '1970-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['sha256sum', '/models/model.bin'], Labels: { [Annotation.ModelVersion]: options.modelVersion ?? '3' } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const cfg = await layout.writeBlob(JSON.stringify(config));
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configDesc,
    layers: layers.map((l) => l.descriptor),
    annotations: { [Annotation.ModelVersion]: options.modelVersion ?? '3', [Annotation.ModelSha256]: modelSha256 },
  };
  const m = await layout.writeBlob(JSON.stringify(manifest));
  await layout.addManifest({ mediaType: MediaType.OciManifest, digest: m.digest, size: m.size }, [options.tag ?? 'latest']);
  return {
    layout,
    manifestDigest: m.digest,
    manifestSize: m.size,
    manifest,
    config: configDesc,
    base,
    model: model.descriptor,
    app: app.descriptor,
    modelSha256,
  };
}

/** `skopeo inspect` of an image on a plain-http registry. */
export function skopeoInspectArgs(ref: string, creds?: { username: string; password: string }, raw = false): string[] {
  return ['inspect', ...(raw ? ['--raw'] : []), '--tls-verify=false', ...(creds ? ['--creds', `${creds.username}:${creds.password}`] : []), `docker://${ref}`];
}

export interface TestIndex {
  layout: OciLayout;
  indexDigest: string;
  indexBytes: Buffer;
  amd64: string;
  arm64: string;
}

/**
 * A layout with a two-platform OCI index (linux/amd64 and linux/arm64, both
 * small images), ref names 'amd64', 'arm64' for the images and 'multi' for the index.
 */
export async function buildTestIndex(dir: string): Promise<TestIndex> {
  const layout = await OciLayout.create(dir);
  const digests: Record<string, string> = {};
  const descriptors: Descriptor[] = [];
  for (const arch of ['amd64', 'arm64']) {
    const layer = await writeTarLayer(layout, [
      { name: 'etc/arch', content: `${arch}\n` },
      { name: 'data/blob.bin', size: 200_000, seed: `base-${arch}` },
    ]);
    const config: ImageConfig = { architecture: arch, os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } };
    const cfg = await layout.writeBlob(JSON.stringify(config));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
      layers: [layer.descriptor],
    };
    const m = await layout.writeBlob(JSON.stringify(manifest));
    const desc: Descriptor = { mediaType: MediaType.OciManifest, digest: m.digest, size: m.size, platform: { architecture: arch, os: 'linux' } };
    await layout.addManifest(desc, [arch]);
    descriptors.push(desc);
    digests[arch] = m.digest;
  }
  const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: descriptors }));
  const idx = await layout.writeBlob(indexBytes);
  await layout.addManifest({ mediaType: MediaType.OciIndex, digest: idx.digest, size: idx.size }, ['multi']);
  return { layout, indexDigest: idx.digest, indexBytes, amd64: digests['amd64'] as string, arm64: digests['arm64'] as string };
}
