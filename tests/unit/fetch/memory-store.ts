/**
 * An in-memory ModelStore for fetchModel tests: objects with their own
 * modification time, ETag, metadata, tags and older versions (by version id).
 * Every range read is counted, so a test can tell a cache hit (no reads) from
 * a download. Like the real stores, list() carries user metadata and tags only
 * when asked for them; head() always carries metadata. No faults: those belong to tests/unit/download/fake-store.ts.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ListOptions, ModelStore, RangeOptions, StoredObject } from '../../../shared/storage/store';

export interface MemoryObject {
  data: Buffer;
  lastModified?: Date;
  /** Default: a quoted-free, non-MD5 ETag derived from the content (so no verification comes from it). */
  etag?: string;
  versionId?: string;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  contentMd5?: string;
}

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

export class MemoryStore implements ModelStore {
  readonly objects = new Map<string, MemoryObject>();
  /** Older versions: key -> versionId -> object. */
  readonly versions = new Map<string, Map<string, MemoryObject>>();
  readonly reads: { key: string; start: number; end: number; versionId?: string }[] = [];
  readonly heads: { key: string; versionId?: string }[] = [];

  constructor(
    readonly kind: 'azureBlob' | 's3' = 'azureBlob',
    private readonly base = 'mem://models',
  ) {}

  put(key: string, data: Buffer | string, extra: Omit<MemoryObject, 'data'> = {}): this {
    this.objects.set(key, { data: Buffer.from(data), ...extra });
    return this;
  }

  putVersion(key: string, versionId: string, data: Buffer | string, extra: Omit<MemoryObject, 'data' | 'versionId'> = {}): this {
    let v = this.versions.get(key);
    if (!v) this.versions.set(key, (v = new Map()));
    v.set(versionId, { data: Buffer.from(data), versionId, ...extra });
    return this;
  }

  uriOf(key: string): string {
    return `${this.base}/${key}`;
  }

  private describe(key: string, o: MemoryObject, options: ListOptions = {}): StoredObject {
    return {
      key,
      size: o.data.length,
      lastModified: o.lastModified ?? new Date('2024-01-01T00:00:00Z'),
      etag: o.etag ?? `etag-${sha256(o.data).slice(0, 12)}`,
      versionId: o.versionId,
      contentMd5: o.contentMd5,
      metadata: options.includeMetadata ? { ...(o.metadata ?? {}) } : undefined,
      tags: options.includeTags ? { ...(o.tags ?? {}) } : undefined,
    };
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<StoredObject> {
    for (const [key, o] of this.objects) if (key.startsWith(prefix)) yield this.describe(key, o, options);
  }

  async head(key: string, options: { versionId?: string; includeTags?: boolean } = {}): Promise<StoredObject | undefined> {
    this.heads.push({ key, versionId: options.versionId });
    const current = this.objects.get(key);
    if (options.versionId !== undefined) {
      const old = this.versions.get(key)?.get(options.versionId) ?? (current?.versionId === options.versionId ? current : undefined);
      return old ? this.describe(key, old, { includeMetadata: true, includeTags: options.includeTags }) : undefined;
    }
    return current ? this.describe(key, current, { includeMetadata: true, includeTags: options.includeTags }) : undefined;
  }

  async readRange(key: string, start: number, end: number, options: RangeOptions = {}): Promise<Readable> {
    this.reads.push({ key, start, end, versionId: options.versionId });
    const o = options.versionId !== undefined ? (this.versions.get(key)?.get(options.versionId) ?? this.objects.get(key)) : this.objects.get(key);
    if (!o) throw Object.assign(new Error(`no such key ${key}`), { statusCode: 404 });
    const etag = o.etag ?? `etag-${sha256(o.data).slice(0, 12)}`;
    if (options.ifMatch !== undefined && options.ifMatch !== etag) throw Object.assign(new Error('precondition failed'), { statusCode: 412 });
    return Readable.from([o.data.subarray(start, end)]);
  }
}
