/**
 * In-memory ModelStore for download unit tests. Each readRange() call is
 * recorded and may be turned into a fault by a script: an HTTP error before
 * the body, a connection reset or a clean (truncated) end after N bytes, or a
 * stall after N bytes.
 */
import { Readable } from 'node:stream';
import type { ModelStore, RangeOptions, StoredObject } from '../../../shared/storage/store';

export type Fault =
  | { kind: 'status'; status: number; retryAfterMs?: number }
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'truncate'; afterBytes: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'overlong' };

export interface RangeCall {
  key: string;
  start: number;
  end: number;
  options?: RangeOptions;
}

export class FakeStore implements ModelStore {
  readonly kind = 's3' as const;
  readonly calls: RangeCall[] = [];
  /** Decide a fault for call number `n` (0-based) of range [start, end). */
  faults: (n: number, start: number, end: number) => Fault | undefined = () => undefined;
  chunkSize = 64 * 1024;

  constructor(private readonly objects: Map<string, Buffer>) {}

  uriOf(key: string): string {
    return `s3://fake/${key}`;
  }

  object(key: string, extra: Partial<StoredObject> = {}): StoredObject {
    const data = this.objects.get(key);
    if (!data) throw new Error(`no ${key}`);
    return { key, size: data.length, lastModified: new Date(0), etag: 'etag-1', ...extra };
  }

  async *list(): AsyncIterable<StoredObject> {
    for (const key of this.objects.keys()) yield this.object(key);
  }

  async head(key: string): Promise<StoredObject | undefined> {
    return this.objects.has(key) ? this.object(key) : undefined;
  }

  async readRange(key: string, start: number, end: number, options?: RangeOptions): Promise<Readable> {
    const n = this.calls.length;
    this.calls.push({ key, start, end, options });
    const data = this.objects.get(key);
    if (!data) throw Object.assign(new Error('NoSuchKey'), { statusCode: 404 });
    if (options?.ifMatch !== undefined && options.ifMatch !== 'etag-1') throw Object.assign(new Error('PreconditionFailed'), { statusCode: 412 });
    const fault = this.faults(n, start, end);
    if (fault?.kind === 'status') throw Object.assign(new Error(`HTTP ${fault.status}`), { statusCode: fault.status, retryAfterMs: fault.retryAfterMs });
    const body = fault?.kind === 'overlong' ? data.subarray(start, Math.min(data.length, end + 10)) : data.subarray(start, end);
    const cut = fault && fault.kind !== 'overlong' ? fault : undefined;
    const chunk = this.chunkSize;
    const signal = options?.signal;
    let pos = 0;
    const stream = new Readable({
      read() {
        if (cut && pos >= cut.afterBytes) {
          if (cut.kind === 'reset') this.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
          else if (cut.kind === 'truncate') this.push(null);
          // 'stall': push nothing, ever
          return;
        }
        if (pos >= body.length) {
          this.push(null);
          return;
        }
        let next = Math.min(body.length, pos + chunk);
        if (cut) next = Math.min(next, Math.max(pos, cut.afterBytes));
        const piece = body.subarray(pos, next);
        pos = next;
        setImmediate(() => this.push(piece));
      },
    });
    signal?.addEventListener('abort', () => stream.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
    return stream;
  }
}
