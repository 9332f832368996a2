/**
 * The strong identity of a model, used to find a layer built from the same
 * bytes: a published sha256 (expectedSha256 input, `sha256` metadata, a
 * single-part x-amz-checksum-sha256) plus the size, or else the store's own
 * strong identity of the object: a version id, an Azure Blob ETag (always
 * strong) or a single-part S3 ETag (the MD5 of the bytes), each with the
 * object's URI and size. A weak ETag, a multipart S3 ETag or a name alone is
 * never an identity: such a model is always downloaded.
 */
import { planVerification } from '../download/verify';
import type { StoredObject } from '../storage/store';

export interface ModelIdentity {
  /** The text compared and hashed into the registry tag, e.g. `sha256:<hex> size=<n>`. */
  key: string;
  /** The published sha256 (lower-case hex) when the identity is one. */
  sha256?: string;
  /** For messages: `published sha256 (sha256 metadata)`, `Blob ETag`... */
  source: string;
}

export type IdentityResult = { identity: ModelIdentity } | { identity?: undefined; reason: string };

const HEX32 = /^[0-9a-fA-F]{32}$/;

/** The identity of a single-file model, or why it has none. */
export function modelIdentity(object: StoredObject, kind: 'azureBlob' | 's3', uri: string, expectedSha256?: string): IdentityResult {
  const plan = planVerification(object, kind, expectedSha256);
  const sha = plan.expectations.find((e) => e.algorithm === 'sha256');
  if (sha) {
    // Every sha256 source must agree; a download would fail otherwise.
    const others = plan.expectations.filter((e) => e.algorithm === 'sha256' && e.expected !== sha.expected);
    if (others.length > 0) return { reason: `its published sha256 values disagree (${sha.method} and ${others[0]?.method})` };
    return { identity: { key: `sha256:${sha.expected} size=${object.size}`, sha256: sha.expected, source: `published sha256 (${sha.method})` } };
  }
  if (object.versionId) return { identity: { key: `${kind} ${uri} versionId=${object.versionId} size=${object.size}`, source: 'version id' } };
  const etag = object.etag?.replace(/"/g, '');
  if (!etag) return { reason: 'the store published no sha256, version id or ETag for it' };
  if (etag.startsWith('W/')) return { reason: 'its ETag is weak and no sha256 or version id was published' };
  if (kind === 'azureBlob') return { identity: { key: `${kind} ${uri} etag=${etag} size=${object.size}`, source: 'Blob ETag' } };
  if (HEX32.test(etag)) return { identity: { key: `${kind} ${uri} etag=${etag.toLowerCase()} size=${object.size}`, source: 'single-part ETag' } };
  return { reason: 'its ETag is a multipart ETag and no sha256 or version id was published' };
}
