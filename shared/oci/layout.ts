/**
 * OCI image layout on disk (image-spec `image-layout.md`): an `oci-layout`
 * marker, `index.json` and content-addressed `blobs/sha256/<hex>`.
 * Blobs are written through a temporary file while hashing, then renamed, so a
 * blob path only ever holds bytes that hash to its name. Reads can verify.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorMessage, ChecksumMismatchError, NotFoundError, UserError } from '../errors';
import { assertDigest, hexOfDigest, HashingStream, sha256Digest } from '../digest';
import { writeFileAtomic } from '../fs/atomic-write';
import { DEFERRED_SCHEMA, DeferredBlobReader, deferredPath, readDeferred, type DeferredBlob } from './deferred';
import { ensureDir } from '../fs/ensure-dir';
import { DEFAULT_PLATFORM, findPlatform, formatPlatform, listPlatforms } from './platform';
import { Annotation, isIndexMediaType, MediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from './types';

/** Verifying pass-through: errors at the end when the bytes do not hash to `expected`. */
class VerifyingStream extends HashingStream {
  constructor(
    private readonly expected: string,
    private readonly what: string,
  ) {
    super();
  }
  override _flush(cb: TransformCallback): void {
    const actual = this.digest();
    if (actual !== this.expected) {
      cb(new ChecksumMismatchError(`Blob ${this.what} in the OCI layout is corrupt: its content hashes to ${actual}; rebuild the image layout.`));
    } else cb();
  }
}

interface FoundManifest {
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

export class OciLayout {
  private indexLock: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {}

  /** Creates a layout at `dir` (or reuses the layout already there: its index and blobs are kept). */
  static async create(dir: string): Promise<OciLayout> {
    try {
      await ensureDir(join(dir, 'blobs', 'sha256'));
    } catch (err) {
      throw new UserError(`Cannot create the OCI image layout folder '${dir}': ${errorMessage(err)}; choose a writable output folder.`, {
        code: 'NotWritable',
        cause: err,
      });
    }
    await fsp.writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    try {
      await fsp.access(join(dir, 'index.json'));
    } catch {
      const empty: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(empty));
    }
    return new OciLayout(dir);
  }

  /** Opens an existing layout; a clear UserError when `dir` is not one. */
  static async open(dir: string): Promise<OciLayout> {
    let marker: { imageLayoutVersion?: string };
    try {
      marker = JSON.parse(await fsp.readFile(join(dir, 'oci-layout'), 'utf8')) as { imageLayoutVersion?: string };
    } catch (err) {
      throw new UserError(
        `'${dir}' is not an OCI image layout (no readable oci-layout file): point to a folder written by BundleModelImage, skopeo or umoci.`,
        { code: 'NotALayout', cause: err },
      );
    }
    if (typeof marker.imageLayoutVersion !== 'string' || !marker.imageLayoutVersion.startsWith('1.')) {
      throw new UserError(`'${dir}' has an unsupported OCI image layout version '${String(marker.imageLayoutVersion)}' (expected 1.x).`, {
        code: 'NotALayout',
      });
    }
    const layout = new OciLayout(dir);
    await layout.readIndex();
    return layout;
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', hexOfDigest(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      await fsp.access(this.blobPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  /** True when the blob is there as a file or recorded as deferred (produced from the source files on demand). */
  async hasContent(digest: string): Promise<boolean> {
    return (await this.hasBlob(digest)) || (await readDeferred(this.dir, digest)) !== undefined;
  }

  /** Records a deferred blob (see ./deferred.ts) instead of writing its bytes. */
  async writeDeferred(record: DeferredBlob): Promise<void> {
    await ensureDir(join(this.dir, 'deferred', 'sha256'));
    await writeFileAtomic(deferredPath(this.dir, record.digest), JSON.stringify({ ...record, schema: DEFERRED_SCHEMA }));
  }

  /** The reader of a deferred blob, or undefined when the blob is a file (or absent). */
  async deferredReader(digest: string): Promise<DeferredBlobReader | undefined> {
    if (await this.hasBlob(digest)) return undefined;
    const record = await readDeferred(this.dir, digest);
    return record ? new DeferredBlobReader(record, `the OCI image layout '${this.dir}'`) : undefined;
  }

  /** Digests of the deferred blobs recorded in the layout. */
  async deferredDigests(): Promise<string[]> {
    const names = await fsp.readdir(join(this.dir, 'deferred', 'sha256')).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}\.json$/.test(n)).map((n) => `sha256:${n.slice(0, 64)}`);
  }

  /**
   * Writes a deferred blob's bytes into blobs/ (verified while written) and
   * drops its record: the layout becomes readable by any OCI tool.
   */
  async materialize(digest: string): Promise<void> {
    const reader = await this.deferredReader(digest);
    if (!reader) return;
    await this.writeBlobStream(reader.open(), { digest, size: reader.size });
    await fsp.rm(deferredPath(this.dir, digest), { force: true });
  }

  async writeBlob(data: Buffer | string): Promise<{ digest: string; size: number }> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const digest = sha256Digest(buf);
    if (!(await this.hasBlob(digest))) await writeFileAtomic(this.blobPath(digest), buf);
    return { digest, size: buf.length };
  }

  /** A temporary file inside the layout (same file system as the blobs, so rename is atomic). */
  tempPath(): string {
    return join(this.dir, 'blobs', 'sha256', `.tmp-${randomBytes(8).toString('hex')}`);
  }

  /** Moves a file whose digest the caller computed into place (used by the layer writer). */
  async commitTemp(tmp: string, digest: string): Promise<void> {
    await fsp.rename(tmp, this.blobPath(digest));
  }

  async writeBlobStream(source: Readable, expected?: { digest: string; size?: number }): Promise<{ digest: string; size: number }> {
    if (expected) assertDigest(expected.digest);
    const tmp = this.tempPath();
    const hasher = new HashingStream();
    try {
      await pipeline(source, hasher, createWriteStream(tmp));
      const digest = hasher.digest();
      if (expected && digest !== expected.digest) {
        throw new ChecksumMismatchError(
          `Blob content hashes to ${digest}, not the expected ${expected.digest}: the source sent corrupt or different data; retry, and check the source.`,
        );
      }
      if (expected?.size !== undefined && hasher.bytes !== expected.size) {
        throw new ChecksumMismatchError(`Blob ${expected.digest} has ${hasher.bytes} bytes, not the expected ${expected.size}: retry, and check the source.`);
      }
      await fsp.rename(tmp, this.blobPath(digest));
      return { digest, size: hasher.bytes };
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Streams a blob; with `verify` (default true) the stream errors at the end when the bytes do not match. */
  openBlob(digest: string, options: { verify?: boolean } = {}): Readable {
    // A deferred blob (no file, a record) is produced from its source files, always verified.
    if (!existsSync(this.blobPath(digest))) {
      let text: string | undefined;
      try {
        text = readFileSync(deferredPath(this.dir, digest), 'utf8');
      } catch {
        text = undefined;
      }
      if (text !== undefined) {
        const open = async () => {
          const record = await readDeferred(this.dir, digest);
          return new DeferredBlobReader(record as DeferredBlob, `the OCI image layout '${this.dir}'`).open();
        };
        return Readable.from(
          (async function* () {
            yield* (await open()) as AsyncIterable<Buffer>;
          })(),
          { objectMode: false },
        );
      }
    }
    const file = createReadStream(this.blobPath(digest), { highWaterMark: 1 << 20 });
    if (options.verify === false) return file;
    const verifier = new VerifyingStream(digest, digest);
    file.on('error', (err) => verifier.destroy(err));
    return file.pipe(verifier);
  }

  async readBlob(digest: string): Promise<Buffer> {
    let buf: Buffer;
    try {
      buf = await fsp.readFile(this.blobPath(digest));
    } catch (err) {
      throw new NotFoundError(`Blob ${digest} is missing from the OCI image layout '${this.dir}': the layout is incomplete; rebuild it.`, { cause: err });
    }
    const actual = sha256Digest(buf);
    if (actual !== digest)
      throw new ChecksumMismatchError(`Blob ${digest} in the OCI layout '${this.dir}' is corrupt: its content hashes to ${actual}; rebuild the image layout.`);
    return buf;
  }

  async readJson<T>(digest: string): Promise<T> {
    const buf = await this.readBlob(digest);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (err) {
      throw new UserError(`Blob ${digest} in the OCI layout '${this.dir}' is not valid JSON: rebuild the image layout.`, { code: 'InvalidLayout', cause: err });
    }
  }

  async readIndex(): Promise<ImageIndex> {
    let index: ImageIndex;
    try {
      index = JSON.parse(await fsp.readFile(join(this.dir, 'index.json'), 'utf8')) as ImageIndex;
    } catch (err) {
      throw new UserError(`'${this.dir}' is not a valid OCI image layout: index.json is missing or not JSON; rebuild it.`, { code: 'NotALayout', cause: err });
    }
    if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
      throw new UserError(`'${this.dir}' is not a valid OCI image layout: index.json lacks schemaVersion 2 or a manifests list.`, { code: 'NotALayout' });
    }
    return index;
  }

  /**
   * Adds a manifest (or index) descriptor to index.json: one entry per ref name
   * (annotation org.opencontainers.image.ref.name), replacing entries with the
   * same ref name. Without ref names, one unnamed entry (deduplicated by digest).
   */
  async addManifest(descriptor: Descriptor, refNames: string[] = []): Promise<void> {
    const run = this.indexLock.then(async () => {
      const index = await this.readIndex();
      const names = [...new Set(refNames)];
      let manifests = index.manifests;
      const base: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
      if (descriptor.platform) base.platform = descriptor.platform;
      if (descriptor.artifactType) base.artifactType = descriptor.artifactType;
      if (names.length === 0) {
        manifests = manifests.filter((m) => !(m.digest === descriptor.digest && !m.annotations?.[Annotation.RefName]));
        manifests.push({ ...base, ...(descriptor.annotations ? { annotations: { ...descriptor.annotations } } : {}) });
      } else {
        manifests = manifests.filter((m) => !names.includes(m.annotations?.[Annotation.RefName] ?? '\u0000'));
        for (const name of names) manifests.push({ ...base, annotations: { ...(descriptor.annotations ?? {}), [Annotation.RefName]: name } });
      }
      index.manifests = manifests;
      if (!index.mediaType) index.mediaType = MediaType.OciIndex;
      await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(index));
    });
    this.indexLock = run.catch(() => undefined);
    await run;
  }

  /** Ref names in index.json, in order. */
  async refNames(): Promise<string[]> {
    const index = await this.readIndex();
    return index.manifests.map((m) => m.annotations?.[Annotation.RefName]).filter((n): n is string => !!n);
  }

  /**
   * The image named `refName` (or the only one when undefined). A nested index
   * resolves to `platform` (default linux/amd64).
   */
  async findManifest(refName?: string, platform: Platform = DEFAULT_PLATFORM): Promise<FoundManifest> {
    const index = await this.readIndex();
    let entry: Descriptor | undefined;
    if (refName === undefined) {
      const digests = new Set(index.manifests.map((m) => m.digest));
      if (digests.size === 0) throw new NotFoundError(`The OCI image layout '${this.dir}' holds no image.`);
      if (digests.size > 1) {
        const names = index.manifests.map((m) => m.annotations?.[Annotation.RefName] ?? m.digest);
        throw new UserError(`The OCI image layout '${this.dir}' holds several images (${names.join(', ')}): name the one to use (layout:tag).`, {
          code: 'Ambiguous',
        });
      }
      entry = index.manifests[0];
    } else {
      entry = index.manifests.find((m) => m.annotations?.[Annotation.RefName] === refName) ?? index.manifests.find((m) => m.digest === refName);
      if (!entry) {
        const names = index.manifests.map((m) => m.annotations?.[Annotation.RefName]).filter((n) => !!n);
        throw new NotFoundError(
          `The OCI image layout '${this.dir}' has no image named '${refName}' (it has: ${names.length ? names.join(', ') : 'no named images'}).`,
        );
      }
    }
    return this.resolve(entry, platform, 0);
  }

  private async resolve(descriptor: Descriptor, platform: Platform, depth: number): Promise<FoundManifest> {
    if (depth > 4) throw new UserError(`The OCI image layout '${this.dir}' nests image indexes too deeply.`, { code: 'InvalidLayout' });
    if (isIndexMediaType(descriptor.mediaType)) {
      const nested = await this.readJson<ImageIndex>(descriptor.digest);
      const match = findPlatform(nested.manifests, platform);
      if (!match) {
        throw new UserError(
          `The image index ${descriptor.digest} has no ${formatPlatform(platform)} image (it has: ${listPlatforms(nested.manifests)}): set the platform input to one of these.`,
          { code: 'NoMatchingPlatform' },
        );
      }
      return this.resolve(match, platform, depth + 1);
    }
    const manifest = await this.readJson<ImageManifest>(descriptor.digest);
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new UserError(`Blob ${descriptor.digest} in the OCI layout '${this.dir}' is not an image manifest.`, { code: 'InvalidLayout' });
    }
    const config = await this.readJson<ImageConfig>(manifest.config.digest);
    return { descriptor, manifest, config };
  }
}
