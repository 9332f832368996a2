/**
 * What FetchModel needs from a model store (Azure Blob Storage, S3 and
 * S3-compatible servers): list objects under a prefix with their metadata,
 * look one up, and read byte ranges. Implementations: azure-blob.ts, s3.ts.
 */
import type { Readable } from 'node:stream';
import type { NetworkLimits } from '../net/timeouts';
import type { ProxyOptions } from '../net/proxy';

/**
 * How a store's client reaches its endpoint: proxy settings (agent proxy URL
 * and bypass list; HTTPS_PROXY/HTTP_PROXY/NO_PROXY otherwise, read from `env`),
 * sockets, timeouts and the deadline.
 */
export interface StoreNetworkOptions extends ProxyOptions {
  /** Sockets per host (default 64; at least the download concurrency). */
  maxSockets?: number;
  /** Connect and idle timeouts of each request (default DEFAULT_NETWORK_LIMITS). */
  limits?: Pick<NetworkLimits, 'connectTimeoutMs' | 'idleTimeoutMs'>;
  /** Aborts every request (the task's network deadline). */
  signal?: AbortSignal;
}

export interface StoredObject {
  /** Full blob name / object key. */
  key: string;
  size: number;
  lastModified: Date;
  /** ETag without surrounding quotes. */
  etag?: string;
  /** Blob version id or S3 version id, when versioning is on. */
  versionId?: string;
  /** Base64 Content-MD5 published by the store (blob property), when present. */
  contentMd5?: string;
  /** Base64 x-amz-checksum-sha256 of a single-part S3 object, when present. */
  checksumSha256?: string;
  /** User metadata, keys lower-cased. Filled by list() only when asked for (includeMetadata). */
  metadata?: Record<string, string>;
  /** Blob index tags / S3 object tags, keys as stored. Filled only when asked for. */
  tags?: Record<string, string>;
}

export interface ListOptions {
  /** Also fetch user metadata for each object (blob listing includes it; S3 needs a HEAD per object). */
  includeMetadata?: boolean;
  /** Also fetch blob index tags / S3 object tags for each object. */
  includeTags?: boolean;
}

export interface RangeOptions {
  versionId?: string;
  /** ETag the object must still have; a changed object fails the read (If-Match). */
  ifMatch?: string;
  signal?: AbortSignal;
}

export interface ModelStore {
  /** `azureBlob` or `s3`. */
  readonly kind: 'azureBlob' | 's3';
  /** Display URI of an object: https://account.blob.core.windows.net/container/key or s3://bucket/key. */
  uriOf(key: string): string;
  /** Every object under `prefix` (all pages), in any order. Throws NotFoundError when the container/bucket does not exist. */
  list(prefix: string, options?: ListOptions): AsyncIterable<StoredObject>;
  /** One object (optionally a specific version), with metadata and tags; undefined when absent. */
  head(key: string, options?: { versionId?: string; includeTags?: boolean }): Promise<StoredObject | undefined>;
  /** Bytes [start, end) of an object as a stream. Errors keep their HTTP status (statusCode) so retry logic can classify them. */
  readRange(key: string, start: number, end: number, options?: RangeOptions): Promise<Readable>;
}
