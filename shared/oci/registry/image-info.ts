/**
 * Read-only questions about an image already in a registry: the digest a tag
 * points to, and the image's provenance (manifest annotations, falling back to
 * the config's labels). DeployToAKS uses them to pin tags and to trace the
 * model an image carries back to its store.
 */
import { sha256Digest } from '../../digest';
import { ChecksumMismatchError } from '../../errors';
import { DEFAULT_PLATFORM, findPlatform } from '../platform';
import type { ImageReference } from '../reference';
import { isIndexMediaType, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../types';
import type { RegistryClient } from './client';

/** Manifest digest of a tag (or the digest itself when pinned). */
export async function resolveImageDigest(client: RegistryClient, ref: ImageReference): Promise<string> {
  if (ref.digest) return ref.digest;
  const m = await client.getManifest(ref.repository, ref.tag ?? 'latest');
  return m.digest;
}

async function readConfig(client: RegistryClient, repository: string, digest: string): Promise<ImageConfig> {
  const res = await client.getBlob(repository, digest);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 4 << 20) throw new Error(`the config blob ${digest} of ${repository} is larger than 4 MiB`);
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  const actual = sha256Digest(bytes);
  if (actual !== digest) throw new ChecksumMismatchError(`The registry sent a config for ${repository} whose digest is ${actual}, not ${digest}.`);
  return JSON.parse(bytes.toString('utf8')) as ImageConfig;
}

/**
 * Annotations of the image (for an index: of the manifest for `platform`,
 * merged over the index's own), with the config's labels filling keys the
 * annotations lack.
 */
export async function readImageAnnotations(
  client: RegistryClient,
  ref: ImageReference,
  platform: Platform = DEFAULT_PLATFORM,
): Promise<Record<string, string>> {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  let m = await client.getManifest(ref.repository, reference);
  let annotations: Record<string, string> = {};
  if (isIndexMediaType(m.mediaType)) {
    const index = JSON.parse(m.bytes.toString('utf8')) as ImageIndex;
    annotations = { ...(index.annotations ?? {}) };
    const chosen = findPlatform(index.manifests, platform) ?? (index.manifests.length === 1 ? index.manifests[0] : undefined);
    if (!chosen) return annotations;
    m = await client.getManifest(ref.repository, chosen.digest);
  }
  const manifest = JSON.parse(m.bytes.toString('utf8')) as ImageManifest;
  annotations = { ...annotations, ...(manifest.annotations ?? {}) };
  const config = await readConfig(client, ref.repository, manifest.config.digest);
  return { ...(config.config?.Labels ?? {}), ...annotations };
}
