/**
 * Pull one image (manifest, config, layers) from a registry into an OCI
 * layout: tag or digest, index -> platform selection, blobs streamed with
 * digest verification, blobs already in the layout skipped.
 */
import { ChecksumMismatchError, UserError } from '../../errors';
import type { Logger } from '../../log';
import { silentLogger } from '../../log';
import { formatBytes } from '../../format';
import { ProgressMeter } from '../../progress';
import { withRetry, isTransientError } from '../../retry';
import { CountingStream } from '../../stream/count';
import type { OciLayout } from '../layout';
import { DEFAULT_PLATFORM, findPlatform, formatPlatform, listPlatforms } from '../platform';
import type { ImageReference } from '../reference';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../types';
import type { RegistryCredentials } from './auth';
import { RegistryClient } from './client';
import { mapLimit } from './pool';

export interface PullOptions {
  reference: ImageReference;
  platform?: Platform;
  layout: OciLayout;
  credentials?: RegistryCredentials;
  insecure?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  /** Parallel blob downloads (default 3). */
  concurrency?: number;
  retries?: number;
  retryBaseMs?: number;
  /** Reuse a client (and its tokens). */
  client?: RegistryClient;
}

export interface PullResult {
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Digest of the index the manifest was chosen from, when the reference named an index. */
  indexDigest?: string;
}

export async function pullImage(options: PullOptions): Promise<PullResult> {
  const { reference, layout } = options;
  const logger = options.logger ?? silentLogger;
  const platform = options.platform ?? DEFAULT_PLATFORM;
  const client =
    options.client ??
    new RegistryClient({
      registry: reference.registry,
      credentials: options.credentials,
      insecure: options.insecure,
      logger,
      signal: options.signal,
      retries: options.retries,
      retryBaseMs: options.retryBaseMs,
    });
  const repo = reference.repository;
  const first = await client.getManifest(repo, reference.digest ?? reference.tag ?? 'latest');
  if (reference.digest && first.digest !== reference.digest) {
    throw new ChecksumMismatchError(
      `Registry ${reference.registry} sent content for ${reference.toString()} that hashes to ${first.digest}: the registry or a proxy altered it.`,
    );
  }

  let indexDigest: string | undefined;
  let manifestResponse = first;
  let chosenPlatform: Platform | undefined;
  if (isIndexMediaType(first.mediaType)) {
    indexDigest = first.digest;
    const index = JSON.parse(first.bytes.toString('utf8')) as ImageIndex;
    // An image manifest for the platform first, a nested index only failing that.
    const match =
      findPlatform(
        index.manifests.filter((m) => isManifestMediaType(m.mediaType)),
        platform,
      ) ?? findPlatform(index.manifests, platform);
    if (!match) {
      throw new UserError(
        `Image ${reference.toString()} has no ${formatPlatform(platform)} variant (it has: ${listPlatforms(index.manifests) || 'none'}): choose one of these platforms or another image.`,
        { code: 'NoMatchingPlatform' },
      );
    }
    chosenPlatform = match.platform;
    await layout.writeBlob(first.bytes);
    manifestResponse = await client.getManifest(repo, match.digest);
    if (manifestResponse.digest !== match.digest) {
      throw new ChecksumMismatchError(
        `Registry ${reference.registry} sent a manifest for ${match.digest} that hashes to ${manifestResponse.digest}: the registry or a proxy altered it.`,
      );
    }
  } else if (!isManifestMediaType(first.mediaType)) {
    throw new UserError(`${reference.toString()} is not a container image (media type '${first.mediaType || 'unknown'}'): use an image reference.`, {
      code: 'ManifestInvalid',
    });
  }

  const manifest = JSON.parse(manifestResponse.bytes.toString('utf8')) as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers))
    throw new UserError(`The manifest of ${reference.toString()} has no config or layers: it is not a runnable image.`, { code: 'ManifestInvalid' });
  await layout.writeBlob(manifestResponse.bytes);

  const blobs = [manifest.config, ...manifest.layers];
  let fetched = 0;
  let reused = 0;
  await mapLimit(blobs, options.concurrency ?? 3, async (d) => {
    if (await layout.hasBlob(d.digest)) {
      reused += d.size;
      return;
    }
    await withRetry(
      async () => {
        const res = await client.getBlob(repo, d.digest);
        const meter = d.size > 32 << 20 ? new ProgressMeter({ label: `Pulling ${d.digest.slice(7, 19)}`, total: d.size, sink: logger.progress }) : undefined;
        await layout.writeBlobStream(res.body.pipe(new CountingStream((n) => meter?.add(n))), { digest: d.digest, size: d.size });
        meter?.finish();
      },
      {
        retries: options.retries ?? 5,
        baseDelayMs: options.retryBaseMs ?? 500,
        signal: options.signal,
        isRetryable: (e) => isTransientError(e) || e instanceof ChecksumMismatchError,
      },
    );
    fetched += d.size;
  });
  const config = await layout.readJson<ImageConfig>(manifest.config.digest);
  logger.info(
    `Pulled ${reference.toString()} (${manifestResponse.digest}): ${manifest.layers.length} layers, ${formatBytes(fetched)} downloaded, ${formatBytes(reused)} already present.`,
  );
  const manifestDescriptor: Descriptor = { mediaType: manifestResponse.mediaType, digest: manifestResponse.digest, size: manifestResponse.bytes.length };
  if (chosenPlatform) manifestDescriptor.platform = chosenPlatform;
  return { manifestDescriptor, manifest, config, ...(indexDigest ? { indexDigest } : {}) };
}
