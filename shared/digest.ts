/**
 * sha256 digests as image manifests write them (`sha256:` followed by 64
 * lowercase hex characters): the one place that builds, checks, takes apart
 * and computes them, for a buffer or for a stream (the model of
 * go-containerregistry's v1/hash.go).
 */
import { createHash } from 'node:crypto';
import type { TransformCallback } from 'node:stream';
import { UserError } from './errors';
import { CountingStream } from './stream/count';

export const SHA256_PREFIX = 'sha256:';

/** A canonical digest: `sha256:` and 64 lowercase hex characters. */
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const HEX_RE = /^[a-f0-9]{64}$/;
const ANY_CASE_HEX_RE = /^[a-fA-F0-9]{64}$/;

/** True for `sha256:` followed by 64 lowercase hex characters. */
export function isDigest(value: string): boolean {
  return DIGEST_RE.test(value);
}

/** Throws a UserError (code InvalidDigest) unless `value` is a canonical digest. */
export function assertDigest(value: string): void {
  if (!isDigest(value))
    throw new UserError(`'${value}' is not a sha256 digest (expected sha256: followed by 64 lowercase hex characters).`, { code: 'InvalidDigest' });
}

/** True for 64 hex characters (lowercase only unless `anyCase`). */
export function isSha256Hex(value: string, options: { anyCase?: boolean } = {}): boolean {
  return (options.anyCase ? ANY_CASE_HEX_RE : HEX_RE).test(value);
}

/** `sha256:` + hex. */
export function digestOfHex(hex: string): string {
  return `${SHA256_PREFIX}${hex}`;
}

/** The 64 hex characters of a canonical digest (InvalidDigest otherwise). */
export function hexOfDigest(digest: string): string {
  assertDigest(digest);
  return digest.slice(SHA256_PREFIX.length);
}

/**
 * `value` without a leading `sha256:` (nothing else is checked). Exact case
 * by default, as digests write it; `anyCase` also strips `SHA256:` as people
 * write it in inputs and metadata.
 */
export function withoutSha256Prefix(value: string, options: { anyCase?: boolean } = {}): string {
  return value.replace(options.anyCase ? /^sha256:/i : /^sha256:/, '');
}

/** The digest of some bytes (a string is hashed as UTF-8). */
export function sha256Digest(data: Buffer | string): string {
  return digestOfHex(createHash('sha256').update(data).digest('hex'));
}

/** Pass-through stream that hashes and counts what flows through it. */
export class HashingStream extends CountingStream {
  private readonly hash = createHash('sha256');
  private result?: string;

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    super._transform(chunk, enc, cb);
  }

  /** `sha256:<hex>` of everything seen; call once the stream has finished. */
  digest(): string {
    if (!this.result) this.result = digestOfHex(this.hash.digest('hex'));
    return this.result;
  }
}
