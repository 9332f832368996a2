/**
 * Public surface of shared/download/: getting a model's bytes onto disk: ranged parallel download, verification, extraction, atomic placement and the cache.
 * Code outside this folder imports from here; modules inside import each other directly.
 */
export { checkCache, removeCacheMarker, writeCacheMarker } from './cache';
export { archiveKind, extractArchive, parseExtractLimits } from './extract';
export type { ExtractLimits, ExtractResult } from './extract';
export { beginPlacement, ensureWritableDir, sweepStaleTemporaries } from './placement';
export type { Placement } from './placement';
export { DEFAULT_BLOCK_SIZE, DEFAULT_CONCURRENCY, DEFAULT_RETRIES, downloadObject } from './ranged';
export type { DownloadOptions, DownloadResult } from './ranged';
export { manifestDigest, parseExpectedSha256, planVerification, verifyOrThrow } from './verify';
export type { Verdict } from './verify';
