/**
 * Push an image from an OCI layout to a registry: every blob first (HEAD ->
 * skip, cross-repository mount, or upload), in parallel with bounded
 * concurrency; then the manifest, once per tag. Tags are written only after
 * every blob is in place, so a failed push never leaves a tag on a half image.
 *
 * Uploads: blobs up to one chunk go up as POST + a single PUT with the digest;
 * larger ones as PATCH chunks (`Content-Range: start-end`) read from the file
 * (memory bounded), each retried on transient failures and resumed from the
 * offset the registry reports for the upload, always at the Location it gave.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { errorMessage, ChecksumMismatchError, UserError } from '../../errors';
import { formatBytes, formatRate } from '../../format';
import type { Logger } from '../../log';
import { silentLogger } from '../../log';
import { ProgressMeter } from '../../progress';
import { backoffDelay, isTransientError, sleep } from '../../retry';
import { DeferredBlobReader } from '../deferred';
import type { OciLayout } from '../layout';
import { formatReference, isValidTag } from '../reference';
import type { Descriptor, ImageManifest } from '../types';
import { repositoryScope, type RegistryCredentials } from './auth';
import { RegistryClient } from './client';
import { RegistryError } from './errors';
import { drain, header, type HttpResponse, type PullSource, type RequestBody } from './http';
import { mapLimit } from './pool';
import { CountingStream } from '../../stream/count';

/**
 * 256 MiB: on a loopback docker-registry a 1 GiB blob took ~9.4 s in 64 MiB
 * chunks against ~6.7 s in 256 MiB chunks and ~6.5 s in one PUT (each PATCH
 * costs the registry a fixed amount of work); a broken connection re-sends at
 * most one chunk. See docs/benchmarks.md, PushToACR.
 */
export const DEFAULT_CHUNK_SIZE = 256 << 20;
export const DEFAULT_CONCURRENCY = 3;

export interface PushOptions {
  layout: OciLayout;
  /** The image to push: ref name in the layout (undefined = the only one). */
  source?: string;
  registry: string;
  repository: string;
  /** Tags to write (validated); none = push by digest only. */
  tags: string[];
  credentials?: RegistryCredentials;
  insecure?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  chunkSize?: number;
  concurrency?: number;
  /** Other repositories on the same registry that may hold the blobs (cross-repository mount). */
  mountFrom?: string[];
  /** Retries of one request/chunk on transient failures (default 5) and base delay (default 500 ms). */
  retries?: number;
  retryBaseMs?: number;
  /** Times one blob upload may start over when the registry lost the session (default 3). */
  maxRestarts?: number;
  client?: RegistryClient;
  /** Called before each PATCH chunk (instrumentation and tests). */
  onChunk?: (info: { digest: string; start: number; end: number }) => void | Promise<void>;
  /** Task input named in credential errors. */
  credentialsInput?: string;
  /**
   * Blobs of the image that are not in the layout but in a registry repository
   * (a model layer FetchModel found there, shared/reuse): skipped when the
   * target has them, mounted when they are on the same registry, else an error.
   */
  externalBlobs?: Map<string, { registry: string; repository: string }>;
}

type BlobAction = 'skipped' | 'mounted' | 'uploaded';

/**
 * Where an upload reads a blob's bytes: a file of the layout, or a deferred
 * blob produced from the model files on the fly (shared/oci/deferred.ts).
 */
export interface BlobSource {
  /** Bytes [start, end] (inclusive), a fresh stream each time (uploads resume and retry). */
  open(start: number, end: number): Readable;
  /** The same bytes pulled into the sender's reused buffers (preferred when present: no garbage per piece). */
  pull?(start: number, end: number): PullSource;
  /** Called once the registry lacks the blob, before any byte is sent (e.g. the source files are still there). */
  check?(): Promise<void>;
  /** Called before the upload is completed: throws when the bytes sent do not hash to the digest. */
  verify?(): Promise<void>;
}

/** A blob file, read straight into the sender's buffers. */
export function fileSource(path: string): BlobSource {
  return {
    open: (start, end) => createReadStream(path, { start, end, highWaterMark: 1 << 20 }),
    pull: (start, end) => {
      let fh: fsp.FileHandle | undefined;
      let pos = start;
      return {
        read: async (buf) => {
          if (pos > end) return 0;
          fh ??= await fsp.open(path, 'r');
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end + 1 - pos), pos);
          if (bytesRead === 0)
            throw new UserError(`Blob file '${path}' is shorter than its descriptor says: the OCI image layout is corrupt; rebuild it.`, {
              code: 'InvalidLayout',
            });
          pos += bytesRead;
          return bytesRead;
        },
        close: async () => {
          await fh?.close();
          fh = undefined;
        },
      };
    },
  };
}

interface BlobReport {
  digest: string;
  size: number;
  mediaType: string;
  action: BlobAction;
  mountedFrom?: string;
  seconds: number;
  /** Bytes actually sent (more than size when chunks were re-sent). */
  bytesSent: number;
  restarts: number;
  /** PATCH requests sent (0 for single-PUT uploads). */
  chunks: number;
}

export interface PushResult {
  digest: string;
  mediaType: string;
  size: number;
  /** registry/repository@digest */
  reference: string;
  tags: string[];
  /** Bytes of blobs and manifest the registry lacked and received. */
  bytesUploaded: number;
  /** Bytes of blobs already there or mounted. */
  bytesSkipped: number;
  blobs: BlobReport[];
  /** The image's annotations (manifest annotations over config labels): the model's identity for the run summary. */
  annotations: Record<string, string>;
}

/** The Content-Range value for a chunk: `start-end`, never with a `bytes ` prefix (ACR rejects it). */
export function contentRange(start: number, end: number): string {
  return `${start}-${end}`;
}

/**
 * Next offset from a registry's `Range: 0-<last>` header. Distribution answers
 * `0-0` for an empty upload too, so `0-0` counts as nothing received.
 */
export function offsetFromRange(range: string | undefined): number | undefined {
  if (!range) return undefined;
  const m = /^(?:bytes=)?(\d+)-(\d+)$/.exec(range.trim());
  if (!m) return undefined;
  const last = Number(m[2]);
  return last === 0 ? 0 : last + 1;
}

/** Upload location with the digest query parameter added (keeps the registry's own parameters). */
export function withDigest(location: URL, digest: string): URL {
  const u = new URL(location.toString());
  u.searchParams.set('digest', digest);
  return u;
}

export class BlobPusher {
  private readonly logger: Logger;
  private readonly scopes: string[];
  private readonly chunkSize: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;

  constructor(
    private readonly client: RegistryClient,
    private readonly repository: string,
    private readonly options: Pick<PushOptions, 'logger' | 'chunkSize' | 'retries' | 'retryBaseMs' | 'maxRestarts' | 'mountFrom' | 'signal' | 'onChunk'> = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.scopes = [repositoryScope(repository, 'pull,push')];
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.retries = options.retries ?? 5;
    this.retryBaseMs = options.retryBaseMs ?? 500;
  }

  private ctx(operation: string) {
    return { operation, registry: this.client.registry, repository: this.repository, input: 'repository' };
  }

  private location(res: HttpResponse, base: URL): URL {
    const loc = header(res, 'location');
    if (!loc)
      throw new RegistryError(`Registry ${this.client.registry} started an upload without a Location header: it does not follow the distribution API.`, {
        status: res.status,
        transient: false,
        code: 'NotARegistry',
      });
    return new URL(loc, base);
  }

  /**
   * A blob that is not on disk but in `from` (a repository of `registry`):
   * skipped when the target repository has it, mounted when it is on this
   * registry; otherwise an error saying how to get it there.
   */
  async pushExternal(d: Descriptor, from: { registry: string; repository: string }): Promise<BlobReport> {
    const started = Date.now();
    const report = (action: BlobAction, mountedFrom?: string): BlobReport => ({
      digest: d.digest,
      size: d.size,
      mediaType: d.mediaType,
      action,
      mountedFrom,
      seconds: (Date.now() - started) / 1000,
      bytesSent: 0,
      restarts: 0,
      chunks: 0,
    });
    if ((await this.client.blobSize(this.repository, d.digest, this.scopes)) !== undefined) return report('skipped');
    if (from.registry === this.client.registry && from.repository !== this.repository) {
      const url = new URL(`/v2/${this.repository}/blobs/uploads/`, this.client.baseUrl);
      url.searchParams.set('mount', d.digest);
      url.searchParams.set('from', from.repository);
      const res = await this.client.request({
        method: 'POST',
        path: url,
        scopes: [...this.scopes, repositoryScope(from.repository, 'pull')],
        expect: [201, 202],
        context: this.ctx(`mount of blob ${short(d.digest)}`),
      });
      await drain(res);
      if (res.status === 201) return report('mounted', from.repository);
    }
    throw new UserError(
      `Layer ${d.digest} is not in the OCI image layout: FetchModel found it in ${from.registry}/${from.repository} and downloaded nothing, but ${this.client.registry}/${this.repository} lacks it and cannot mount it from there: push to that repository, or set FetchModel's reuseLayers to false so the model is downloaded and bundled.`,
      { code: 'InvalidLayout', input: 'repository' },
    );
  }

  /** Push one blob from `source` (a file path or a BlobSource); returns what was done. */
  async push(d: Descriptor, source: string | BlobSource): Promise<BlobReport> {
    const from = typeof source === 'string' ? fileSource(source) : source;
    const started = Date.now();
    const report = (action: BlobAction, extra: Partial<BlobReport> = {}): BlobReport => ({
      digest: d.digest,
      size: d.size,
      mediaType: d.mediaType,
      action,
      seconds: (Date.now() - started) / 1000,
      bytesSent: 0,
      restarts: 0,
      chunks: 0,
      ...extra,
    });
    if ((await this.client.blobSize(this.repository, d.digest, this.scopes)) !== undefined) return report('skipped');

    let session: URL | undefined;
    for (const repo of this.options.mountFrom ?? []) {
      if (repo === this.repository) continue;
      const has = await this.client.blobSize(repo, d.digest, [repositoryScope(repo, 'pull')]).catch(() => undefined);
      if (has === undefined) continue;
      const url = new URL(`/v2/${this.repository}/blobs/uploads/`, this.client.baseUrl);
      url.searchParams.set('mount', d.digest);
      url.searchParams.set('from', repo);
      const res = await this.client.request({
        method: 'POST',
        path: url,
        scopes: [...this.scopes, repositoryScope(repo, 'pull')],
        expect: [201, 202],
        context: this.ctx(`mount of blob ${short(d.digest)}`),
      });
      await drain(res);
      if (res.status === 201) return report('mounted', { mountedFrom: repo });
      session = this.location(res, url);
      break;
    }
    await from.check?.();
    const sent = await this.upload(d, from, session);
    return report('uploaded', { bytesSent: sent.bytes, restarts: sent.restarts, chunks: sent.chunks });
  }

  private async startUpload(): Promise<URL> {
    const url = new URL(`/v2/${this.repository}/blobs/uploads/`, this.client.baseUrl);
    const res = await this.client.request({ method: 'POST', path: url, scopes: this.scopes, expect: [202], context: this.ctx('start of a blob upload') });
    await drain(res);
    return this.location(res, url);
  }

  /** Where the registry says an upload stands; undefined when it lost the session. */
  async uploadStatus(location: URL): Promise<{ offset: number; location: URL } | undefined> {
    const res = await this.client.request({
      method: 'GET',
      path: location,
      scopes: this.scopes,
      expect: [204, 200],
      allow: [404, 400, 416],
      context: this.ctx('upload status check'),
    });
    await drain(res);
    if (res.status !== 204 && res.status !== 200) return undefined;
    return {
      offset: offsetFromRange(header(res, 'range')) ?? 0,
      location: header(res, 'location') ? new URL(header(res, 'location') as string, location) : location,
    };
  }

  private async upload(d: Descriptor, source: BlobSource, session?: URL): Promise<{ bytes: number; restarts: number; chunks: number }> {
    const signal = this.options.signal;
    const maxRestarts = this.options.maxRestarts ?? 3;
    const meter =
      d.size > this.chunkSize || d.size >= 32 << 20
        ? new ProgressMeter({ label: `Uploading ${short(d.digest)}`, total: d.size, sink: this.logger.progress })
        : undefined;
    let bytes = 0;
    let restarts = 0;
    let chunks = 0;
    let location = session ?? (await this.startUpload());
    let offset = 0;
    let failures = 0;
    /** A failure of the source itself (file changed, digest mismatch): never retried, never blamed on the registry. */
    let sourceError: unknown;
    const open = (start: number, end: number): RequestBody => {
      if (source.pull) {
        const pull = source.pull.bind(source);
        return {
          pull: () => {
            const inner = pull(start, end);
            return {
              read: async (buf: Buffer) => {
                try {
                  const n = await inner.read(buf);
                  bytes += n;
                  return n;
                } catch (e) {
                  sourceError = e;
                  throw e;
                }
              },
              close: () => inner.close(),
            };
          },
        };
      }
      return openStream(start, end);
    };
    const openStream = (start: number, end: number) => () => {
      const file = source.open(start, end);
      file.on('error', (e) => {
        sourceError = e;
      });
      const m = new CountingStream(
        (n) => {
          bytes += n;
        },
        { highWaterMark: 1 << 20 },
      );
      file.on('error', (e) => m.destroy(e));
      return file.pipe(m);
    };

    const fail = async (err: unknown): Promise<void> => {
      const lost = err instanceof RegistryError && err.code === 'UploadInvalid';
      if (!lost && !isTransientError(err)) throw err;
      failures++;
      if (failures > this.retries) throw err;
      const delay = backoffDelay(failures, this.retryBaseMs, 15_000);
      this.logger.info(
        `Upload of ${short(d.digest)} interrupted at ${formatBytes(offset)} (${errorMessage(err)}); resuming in ${(delay / 1000).toFixed(1)} s.`,
      );
      await sleep(delay, signal);
      let status: { offset: number; location: URL } | undefined;
      try {
        status = lost ? undefined : await this.uploadStatus(location);
      } catch (statusErr) {
        if (!isTransientError(statusErr)) throw statusErr;
        return; // try the same chunk again later
      }
      if (status && status.offset <= d.size) {
        offset = status.offset;
        location = status.location;
        return;
      }
      restarts++;
      if (restarts > maxRestarts) throw err;
      this.logger.info(`Registry dropped the upload session of ${short(d.digest)}; starting it again.`);
      offset = 0;
      location = await this.startUpload();
    };

    const small = d.size <= this.chunkSize;
    for (;;) {
      try {
        if (small && offset === 0) {
          // single PUT with the whole blob and its digest
          const res = await this.client.request({
            method: 'PUT',
            path: withDigest(location, d.digest),
            scopes: this.scopes,
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(d.size) },
            body: open(0, Math.max(0, d.size - 1)),
            expect: [201, 204],
            retry: false,
            context: this.ctx(`upload of blob ${short(d.digest)}`),
          });
          await drain(res);
          meter?.add(d.size);
          break;
        }
        while (offset < d.size) {
          const end = Math.min(offset + this.chunkSize, d.size) - 1;
          await this.options.onChunk?.({ digest: d.digest, start: offset, end });
          chunks++;
          const res = await this.client.request({
            method: 'PATCH',
            path: location,
            scopes: this.scopes,
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': contentRange(offset, end), 'Content-Length': String(end - offset + 1) },
            body: open(offset, end),
            expect: [202, 204],
            retry: false,
            context: this.ctx(`upload of blob ${short(d.digest)}`),
          });
          await drain(res);
          const next = offsetFromRange(header(res, 'range'));
          location = header(res, 'location') ? new URL(header(res, 'location') as string, location) : location;
          const newOffset = next !== undefined && next > 0 ? next : end + 1;
          if (newOffset <= offset) {
            // Accepted but not kept: counted as a failed attempt, so a registry that never advances cannot loop forever.
            throw new RegistryError(
              `Registry ${this.client.registry} accepted bytes ${offset}-${end} of blob ${short(d.digest)} but reports no progress (Range ${header(res, 'range') ?? 'missing'}): it does not follow the distribution API.`,
              { status: res.status, transient: true },
            );
          }
          meter?.add(newOffset - offset);
          offset = newOffset;
          failures = 0;
        }
        await source.verify?.().catch((e: unknown) => {
          sourceError = e;
          throw e;
        });
        const res = await this.client.request({
          method: 'PUT',
          path: withDigest(location, d.digest),
          scopes: this.scopes,
          headers: { 'Content-Type': 'application/octet-stream' },
          expect: [201, 204],
          retry: false,
          slowAnswer: true,
          context: this.ctx(`completion of blob ${short(d.digest)}`),
        });
        await drain(res);
        break;
      } catch (err) {
        if (sourceError !== undefined && (err === sourceError || !isTransientError(err))) throw sourceError;
        if (err instanceof ChecksumMismatchError) {
          throw new ChecksumMismatchError(
            `The registry computed another digest for blob ${d.digest} than its name: the OCI image layout is corrupt; rebuild it.`,
            { cause: err },
          );
        }
        // A completing PUT may have landed before the connection broke.
        if (isTransientError(err) && (await this.client.blobSize(this.repository, d.digest, this.scopes).catch(() => undefined)) === d.size) break;
        await fail(err);
      }
    }
    meter?.finish();
    return { bytes, restarts, chunks };
  }
}

/** A tag failure's message, extended with the tags already written and those not written. */
export function withTagsWritten(message: string, failedTag: string, written: string[], notWritten: string[]): string {
  return `${message.replace(/[.\s]+$/, '')}. Pushing stopped at tag '${failedTag}': already written: ${written.join(', ')}; not written: ${notWritten.join(', ')} (the image is complete under the written tags; fix the cause and re-run to write the rest).`;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

/** Push the image `source` of `layout` to `registry/repository` under `tags`. */
export async function pushImage(options: PushOptions): Promise<PushResult> {
  const logger = options.logger ?? silentLogger;
  for (const t of options.tags) {
    if (!isValidTag(t))
      throw new UserError(
        `'${t}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128 characters; not starting with '.' or '-'): fix the tags input.`,
        { code: 'InvalidInput', input: 'tags' },
      );
  }
  const found = await options.layout.findManifest(options.source);
  const manifestBytes = await options.layout.readBlob(found.descriptor.digest);
  const manifest: ImageManifest = found.manifest;
  const mediaType = manifest.mediaType ?? found.descriptor.mediaType;

  const blobs: Descriptor[] = [manifest.config, ...manifest.layers];
  // Deferred layers (BundleModelImage without writeModelBlob) are produced from the model files while they upload.
  const sources = new Map<string, BlobSource>();
  for (const b of blobs) {
    if (options.externalBlobs?.has(b.digest) && !(await options.layout.hasBlob(b.digest))) continue;
    if (await options.layout.hasBlob(b.digest)) {
      sources.set(b.digest, fileSource(options.layout.blobPath(b.digest)));
      continue;
    }
    const deferred = await options.layout.deferredReader(b.digest);
    if (deferred) {
      sources.set(b.digest, deferred);
      continue;
    }
    throw new UserError(
      `The OCI image layout '${options.layout.dir}' lacks blob ${b.digest} of the image: it is incomplete; rebuild it or publish the whole folder.`,
      { code: 'InvalidLayout', input: 'imageLayout' },
    );
  }

  const controller = new AbortController();
  options.signal?.addEventListener('abort', () => controller.abort(options.signal?.reason));
  const client =
    options.client ??
    new RegistryClient({
      registry: options.registry,
      credentials: options.credentials,
      insecure: options.insecure,
      logger,
      signal: controller.signal,
      retries: options.retries,
      retryBaseMs: options.retryBaseMs,
      credentialsInput: options.credentialsInput,
    });
  await client.ping();
  const pusher = new BlobPusher(client, options.repository, { ...options, logger, signal: controller.signal });

  const started = Date.now();
  let reports: BlobReport[];
  try {
    reports = await mapLimit(blobs, Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY), async (b) => {
      const external = options.externalBlobs?.get(b.digest);
      const source = sources.get(b.digest);
      const r = external && !source ? await pusher.pushExternal(b, external) : await pusher.push(b, source as BlobSource);
      const kind = b === manifest.config ? 'Config' : 'Layer';
      const streamed = source instanceof DeferredBlobReader ? ' from the model files' : '';
      if (r.action === 'uploaded') {
        logger.info(
          `${kind} ${short(b.digest)} (${formatBytes(b.size)}): uploaded${streamed} in ${r.seconds.toFixed(1)} s, ${formatRate(b.size / Math.max(r.seconds, 1e-3))}${r.restarts ? `, restarted ${r.restarts}x` : ''}`,
        );
      } else if (r.action === 'mounted') {
        logger.info(`${kind} ${short(b.digest)} (${formatBytes(b.size)}): mounted from ${r.mountedFrom}`);
      } else {
        logger.info(`${kind} ${short(b.digest)} (${formatBytes(b.size)}): skipped, already in the repository`);
      }
      return r;
    });
  } catch (err) {
    controller.abort(err);
    throw err;
  }

  // Every blob is in place: now (and only now) the tags.
  const references = options.tags.length ? options.tags : [found.descriptor.digest];
  const written: string[] = [];
  for (const ref of references) {
    try {
      const returned = await client.putManifest(options.repository, ref, manifestBytes, mediaType);
      if (returned && returned !== found.descriptor.digest) {
        throw new ChecksumMismatchError(
          `Registry ${options.registry} stored the manifest for tag '${ref}' as ${returned}, not ${found.descriptor.digest}: it rewrote the manifest; this registry cannot keep the image digest.`,
        );
      }
    } catch (err) {
      // Half done: say which tags already point at the image.
      if (written.length > 0 && err instanceof Error) err.message = withTagsWritten(err.message, ref, written, references.slice(written.length));
      throw err;
    }
    written.push(ref);
  }

  const uploaded = reports.filter((r) => r.action === 'uploaded').reduce((n, r) => n + r.size, 0) + manifestBytes.length;
  const skipped = reports.filter((r) => r.action !== 'uploaded').reduce((n, r) => n + r.size, 0);
  const seconds = (Date.now() - started) / 1000;
  const reference = formatReference({ registry: options.registry, repository: options.repository, digest: found.descriptor.digest });
  logger.info(
    `Pushed ${reference} with tags ${references.join(', ')}: ${formatBytes(uploaded)} uploaded, ${formatBytes(skipped)} skipped or mounted, ${seconds.toFixed(1)} s (${formatRate(uploaded / Math.max(seconds, 1e-3))}).`,
  );
  return {
    digest: found.descriptor.digest,
    mediaType,
    size: manifestBytes.length,
    reference,
    tags: options.tags,
    bytesUploaded: uploaded,
    bytesSkipped: skipped,
    blobs: reports,
    annotations: { ...(found.config.config?.Labels ?? {}), ...(manifest.annotations ?? {}) },
  };
}
