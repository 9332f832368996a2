/**
 * Deciding how a downloaded object can be verified, and judging the result.
 *
 * Sources of an expected hash, strongest first:
 * 1. the user's `expectedSha256` input (64 hex characters);
 * 2. a `sha256` user metadata key on the object (hex, or base64 of 32 bytes);
 * 3. S3 `x-amz-checksum-sha256` (base64 of the whole object's sha256) — only
 *    for single-part objects: a multipart (composite) checksum ends in `-N`
 *    and is a hash of part hashes, not of the object;
 * 4. Azure blob `Content-MD5` (base64 of 16 bytes);
 * 5. an S3 ETag of 32 hex characters (single-part upload without SSE-KMS:
 *    the MD5 of the object). Multipart ETags contain `-` and are not MD5;
 *    Azure ETags are never MD5.
 * Every available source is checked; one mismatch fails the download. sha256
 * is always computed; MD5 only when an MD5 source exists and no sha256 source
 * does (an extra hash costs CPU on the hot path).
 */
import { createHash } from 'node:crypto';
import { isSha256Hex, withoutSha256Prefix } from '../digest';
import { ChecksumMismatchError, InputError } from '../errors';
import type { StoredObject } from '../storage/store';
import type { HashAlgorithm } from './ranged';

interface Expectation {
  algorithm: HashAlgorithm;
  /** Normalised expected value: lower-case hex for sha256, base64 for md5. */
  expected: string;
  /** Where the expectation came from, e.g. `expectedSha256 input`, `sha256 metadata`, `Content-MD5`. */
  method: string;
}

interface VerificationPlan {
  /** Hashes the downloader must compute (always includes sha256). */
  hashes: HashAlgorithm[];
  expectations: Expectation[];
  /** Published values that were present but unusable (for a warning in the log). */
  notes: string[];
}

interface ComputedHashes {
  /** Lower-case hex. */
  sha256: string;
  /** Base64. */
  md5?: string;
}

interface Mismatch {
  method: string;
  algorithm: HashAlgorithm;
  expected: string;
  actual: string;
}

export interface Verdict {
  verified: boolean;
  /** Sources checked, joined with ' and ' (e.g. `sha256 metadata and Content-MD5`), or `none`. */
  method: string;
  mismatch?: Mismatch;
}

const HEX32 = /^[0-9a-fA-F]{32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The `expectedSha256` input, normalised to lower-case hex; empty means none. */
export function parseExpectedSha256(value: string | undefined): string | undefined {
  const v = withoutSha256Prefix((value ?? '').trim(), { anyCase: true });
  if (v === '') return undefined;
  if (!isSha256Hex(v, { anyCase: true })) {
    throw new InputError(
      'expectedSha256',
      `The 'expectedSha256' input must be 64 hexadecimal characters (a sha256 digest, optionally prefixed 'sha256:'), got ${v.length} characters; fix the value or leave it empty.`,
    );
  }
  return v.toLowerCase();
}

/** Base64 of `bytes` length decoded strictly, else undefined. */
function strictBase64(value: string, bytes: number): Buffer | undefined {
  const v = value.trim();
  if (!BASE64.test(v) || v.length % 4 !== 0) return undefined;
  const b = Buffer.from(v, 'base64');
  return b.length === bytes ? b : undefined;
}

/** A sha256 written as hex or base64, normalised to lower-case hex. */
export function normaliseSha256(value: string): string | undefined {
  const v = withoutSha256Prefix(value.trim(), { anyCase: true });
  if (isSha256Hex(v, { anyCase: true })) return v.toLowerCase();
  return strictBase64(v, 32)?.toString('hex');
}

/** Decide what to compute and what to compare against for one object. */
export function planVerification(object: StoredObject, kind: 'azureBlob' | 's3', expectedSha256?: string): VerificationPlan {
  const expectations: Expectation[] = [];
  const notes: string[] = [];
  if (expectedSha256) expectations.push({ algorithm: 'sha256', expected: parseExpectedSha256(expectedSha256) as string, method: 'expectedSha256 input' });

  const meta = object.metadata?.sha256;
  if (meta !== undefined) {
    const n = normaliseSha256(meta);
    if (n) expectations.push({ algorithm: 'sha256', expected: n, method: 'sha256 metadata' });
    else notes.push(`the object's 'sha256' metadata value is neither 64 hex characters nor base64 of 32 bytes; ignored`);
  }

  if (object.checksumSha256) {
    const c = object.checksumSha256.trim();
    if (/-\d+$/.test(c)) notes.push('the S3 checksum is a multipart (composite) checksum, not a hash of the whole object; not used');
    else {
      const b = strictBase64(c, 32);
      if (b) expectations.push({ algorithm: 'sha256', expected: b.toString('hex'), method: 'x-amz-checksum-sha256' });
      else notes.push('the S3 x-amz-checksum-sha256 value is not base64 of 32 bytes; ignored');
    }
  }

  const hasSha256 = expectations.length > 0;
  if (object.contentMd5) {
    const b = strictBase64(object.contentMd5, 16);
    if (b) expectations.push({ algorithm: 'md5', expected: b.toString('base64'), method: 'Content-MD5' });
    else notes.push('the Content-MD5 value is not base64 of 16 bytes; ignored');
  }
  if (kind === 's3' && object.etag && !expectations.some((e) => e.algorithm === 'md5')) {
    const etag = object.etag.replace(/^W\//, '').replace(/"/g, '');
    if (HEX32.test(etag)) expectations.push({ algorithm: 'md5', expected: Buffer.from(etag, 'hex').toString('base64'), method: 'ETag (MD5)' });
  }
  // MD5 is computed only when it is the only thing to check against.
  const useMd5 = !hasSha256 && expectations.some((e) => e.algorithm === 'md5');
  const kept = useMd5 ? expectations : expectations.filter((e) => e.algorithm === 'sha256');
  return { hashes: useMd5 ? ['sha256', 'md5'] : ['sha256'], expectations: kept, notes };
}

/** Compare computed hashes with the plan's expectations. */
export function judge(plan: VerificationPlan, computed: ComputedHashes): Verdict {
  if (plan.expectations.length === 0) return { verified: false, method: 'none' };
  const method = plan.expectations.map((e) => e.method).join(' and ');
  for (const e of plan.expectations) {
    const actual = e.algorithm === 'sha256' ? computed.sha256 : computed.md5;
    if (actual === undefined) throw new Error(`internal error: ${e.algorithm} was not computed`);
    if (actual !== e.expected) return { verified: false, method, mismatch: { method: e.method, algorithm: e.algorithm, expected: e.expected, actual } };
  }
  return { verified: true, method };
}

/** The error for a verdict with a mismatch. */
function mismatchError(uri: string, m: Mismatch): ChecksumMismatchError {
  const input = m.method === 'expectedSha256 input' ? 'expectedSha256' : undefined;
  const advice =
    input !== undefined
      ? 'check the expectedSha256 input against the model you meant to fetch'
      : 'the stored object is corrupt or its published checksum is stale; re-upload the model or fix its checksum';
  return new ChecksumMismatchError(
    `Checksum mismatch for ${uri}: ${m.algorithm} expected ${m.expected} (from the ${m.method}) but the downloaded bytes hash to ${m.actual}; the download was removed; ${advice}.`,
    { input },
  );
}

/** Judge, and throw ChecksumMismatchError on a mismatch. */
export function verifyOrThrow(uri: string, plan: VerificationPlan, computed: ComputedHashes): Verdict {
  const v = judge(plan, computed);
  if (v.mismatch) throw mismatchError(uri, v.mismatch);
  return v;
}

interface ManifestEntry {
  /** Path relative to the model folder; `\` is turned into `/`. */
  path: string;
  /** Lower-case hex sha256 of the file. */
  sha256: string;
}

/**
 * The manifest of a multi-file model and its digest (the `modelSha256` of a folder).
 *
 * Exact format: one line per file, `<relative path> <sha256>\n`, where the
 * relative path uses `/` separators (no leading `./` or `/`), then ONE space,
 * then the file's sha256 as 64 lower-case hex characters, then a line feed
 * (also after the last line). Lines are sorted by the UTF-8 bytes of the path
 * (bytewise, like `LC_ALL=C sort`). The digest is the lower-case hex sha256 of
 * the UTF-8 text. It can be reproduced in a shell in the model folder with:
 *   find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum \
 *     | awk '{print $2" "$1}' | sha256sum
 * (for paths without spaces or newlines).
 */
export function manifestText(entries: ManifestEntry[]): string {
  const lines = entries.map((e) => {
    const p = e.path
      .replace(/\\/g, '/')
      .replace(/^(\.\/)+/, '')
      .replace(/^\/+/, '');
    if (p === '' || /[\n\r]/.test(p)) throw new Error(`invalid manifest path ${JSON.stringify(e.path)}`);
    if (!isSha256Hex(e.sha256, { anyCase: true })) throw new Error(`invalid sha256 for ${p}`);
    return { key: Buffer.from(p, 'utf8'), line: `${p} ${e.sha256.toLowerCase()}\n` };
  });
  lines.sort((a, b) => Buffer.compare(a.key, b.key));
  return lines.map((l) => l.line).join('');
}

export function manifestDigest(entries: ManifestEntry[]): string {
  return createHash('sha256').update(manifestText(entries), 'utf8').digest('hex');
}
