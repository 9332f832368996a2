/**
 * Parallel ranged download of one stored object to a local file.
 *
 * How it works:
 * - The object is cut into blocks of `blockSize` bytes (one block, one request
 *   when the object is smaller than a block). Up to `concurrency` blocks are in
 *   flight at once, each read with `store.readRange()` into a reusable block
 *   buffer taken from a small pool, then written at its offset with a
 *   positional write on the one file descriptor.
 * - sha256 (and MD5 when asked for) is computed exactly once, over the bytes in
 *   object order: a finished block is hashed as soon as every block before it
 *   is hashed; a block that finishes early keeps its buffer until then.
 *   We chose holding blocks in memory over re-reading them from the page cache
 *   because (a) the bytes hashed are then exactly the bytes received, with no
 *   second read that could hit the disk when the page cache is under pressure
 *   and (b) blocks from one server finish nearly in order, so only a couple of
 *   extra buffers are needed. Memory stays bounded: blocks are started in
 *   order and only when a pool buffer is free, so at most
 *   `concurrency + WINDOW_SLACK` block buffers ever exist
 *   (8 + 2 blocks of 8 MiB = 80 MiB with the defaults), whatever the size of
 *   the object. There is no deadlock: the lowest unhashed block always owns a
 *   buffer (it was started before every held block), so it can finish.
 * - Every range is checked for its exact byte count. A transient failure
 *   (5xx, 429, resets, timeouts, truncated bodies, stalls) is retried with
 *   backoff, RESUMING the range at the first byte not yet received. A read that
 *   delivers no byte for `stallTimeoutMs` is aborted and retried. An attempt
 *   that made progress does not use up the retry budget (a flaky link still
 *   finishes); `retries` failures in a row without a byte of progress end the
 *   download.
 * - On failure every request is aborted, the file descriptor closed and the
 *   partial file removed; the error is a {@link UserError} saying what failed
 *   after how many attempts.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { UserError, errorMessage } from '../errors';
import type { Logger } from '../log';
import { backoffDelay, httpStatusOf, isTransientError } from '../retry';
import type { ModelStore, StoredObject } from '../storage/store';

export type HashAlgorithm = 'sha256' | 'md5';

export interface DownloadOptions {
  /** Blocks in flight at once (default 8). */
  concurrency?: number;
  /** Bytes per ranged GET (default 8 MiB). */
  blockSize?: number;
  /** Failures in a row without progress tolerated per block (default 6). */
  retries?: number;
  /** Hashes to compute; sha256 is always computed, md5 only when listed. */
  hashes?: HashAlgorithm[];
  /** Called with the number of NEW bytes received (retried bytes are not counted twice). */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  logger?: Logger;
  /** ETag the object must keep while it is read (default: the object's etag). Pass '' to disable. */
  ifMatch?: string;
  /** A read that delivers no byte for this long is aborted and retried (default 60 s). */
  stallTimeoutMs?: number;
  /** Backoff base and ceiling (defaults 500 ms and 15 s); tests lower them. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface DownloadResult {
  /** Lower-case hex sha256 of the whole object. */
  sha256: string;
  /** Base64 MD5, when asked for. */
  md5?: string;
  bytes: number;
  /** How many range reads were retried (for logs and tests). */
  retries: number;
}

export interface PlannedRange {
  index: number;
  /** First byte (inclusive). */
  start: number;
  /** End (exclusive). */
  end: number;
}

export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;
export const DEFAULT_RETRIES = 6;
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
/** Extra block buffers beyond `concurrency` for blocks that finish ahead of the hash. */
const WINDOW_SLACK = 2;

/** Number of blocks an object of `size` bytes is read in. */
export function blockCount(size: number, blockSize: number): number {
  if (size <= 0) return 0;
  return Math.ceil(size / blockSize);
}

/** The range of block `index`. */
export function rangeOf(index: number, size: number, blockSize: number): PlannedRange {
  const start = index * blockSize;
  return { index, start, end: Math.min(size, start + blockSize) };
}

/** Every range of an object (for tests and logs; the downloader computes them lazily). */
export function planRanges(size: number, blockSize: number): PlannedRange[] {
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  const n = blockCount(size, blockSize);
  const out: PlannedRange[] = [];
  for (let i = 0; i < n; i++) out.push(rangeOf(i, size, blockSize));
  return out;
}

/** A range read that stopped delivering bytes. */
class StallError extends Error {
  readonly code = 'TimeoutError';
  readonly transient = true;
  constructor(ms: number) {
    super(`no data received for ${Math.round(ms / 1000)} s`);
    this.name = 'StallError';
  }
}

/** The body ended before the requested range was complete. */
class TruncatedBodyError extends Error {
  readonly code = 'TruncatedBody';
  readonly transient = true;
  constructor(got: number, wanted: number) {
    super(`response body ended after ${got} of ${wanted} bytes`);
    this.name = 'TruncatedBodyError';
  }
}

/** The store sent more bytes than the range holds (it ignored the Range header). Not retried. */
class OverlongBodyError extends Error {
  readonly transient = false;
  constructor(wanted: number) {
    super(`the store returned more than the ${wanted} bytes requested (Range not honoured)`);
    this.name = 'OverlongBodyError';
  }
}

/** Blocks on acquire() until one of a fixed number of buffers is free. */
class BufferPool {
  private readonly free: Buffer[] = [];
  private created = 0;
  private readonly waiters: ((b: Buffer) => void)[] = [];

  constructor(private readonly max: number, private readonly size: number) {}

  acquire(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.created < this.max) {
      this.created++;
      return Promise.resolve(Buffer.allocUnsafeSlow(this.size));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(b: Buffer): void {
    const w = this.waiters.shift();
    if (w) w(b);
    else this.free.push(b);
  }

  /** Wake every waiter (on failure) with a buffer they will hand straight back. */
  drain(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters.shift();
      w?.(Buffer.alloc(0));
    }
  }
}

interface BlockState {
  filled: number;
}

/**
 * Download `object` into `destFile` (created or truncated). Returns the hashes
 * of the bytes written. On failure `destFile` is removed.
 */
export async function downloadObject(store: ModelStore, object: StoredObject, destFile: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const size = object.size;
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
  const blockSize = Math.max(1, Math.floor(options.blockSize ?? DEFAULT_BLOCK_SIZE));
  const retries = Math.max(0, Math.floor(options.retries ?? DEFAULT_RETRIES));
  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 15_000;
  const ifMatch = options.ifMatch === undefined ? object.etag : options.ifMatch || undefined;
  const logger = options.logger;
  const uri = store.uriOf(object.key);
  if (!Number.isSafeInteger(size) || size < 0) throw new UserError(`Cannot download ${uri}: the store reported an invalid size (${size}).`);

  const sha256 = createHash('sha256');
  const md5: Hash | undefined = options.hashes?.includes('md5') ? createHash('md5') : undefined;
  const blocks = blockCount(size, blockSize);
  // One buffer of the object's size for a single small object; otherwise full blocks.
  const bufferSize = blocks <= 1 ? size : blockSize;
  const pool = new BufferPool(Math.min(blocks, concurrency + WINDOW_SLACK), bufferSize);
  const cancel = new AbortController();
  const onOuterAbort = (): void => cancel.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let fh: FileHandle | undefined;
  let nextToStart = 0;
  let nextToHash = 0;
  let retried = 0;
  let failure: unknown;
  const held = new Map<number, { buf: Buffer; len: number }>();

  const fail = (err: unknown): void => {
    if (failure === undefined) failure = err;
    cancel.abort(err);
    pool.drain();
  };

  const hashReady = (index: number, buf: Buffer, len: number): void => {
    held.set(index, { buf, len });
    for (let h = held.get(nextToHash); h !== undefined; h = held.get(nextToHash)) {
      held.delete(nextToHash);
      const bytes = h.len === h.buf.length ? h.buf : h.buf.subarray(0, h.len);
      sha256.update(bytes);
      md5?.update(bytes);
      pool.release(h.buf);
      nextToHash++;
    }
  };

  /** One read of the rest of a range into `buf` at `state.filled`; resolves when the range is complete. */
  const readOnce = async (range: PlannedRange, buf: Buffer, state: BlockState): Promise<void> => {
    const length = range.end - range.start;
    const attempt = new AbortController();
    const onCancel = (): void => attempt.abort(cancel.signal.reason);
    cancel.signal.addEventListener('abort', onCancel, { once: true });
    let stream: Readable | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stallReject: ((e: Error) => void) | undefined;
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        const e = new StallError(stallMs);
        attempt.abort(e);
        stream?.destroy(e);
        stallReject?.(e);
      }, stallMs);
    };
    try {
      arm();
      const stalled = new Promise<never>((_, reject) => {
        stallReject = reject;
      });
      stalled.catch(() => undefined);
      stream = await Promise.race([
        store.readRange(object.key, range.start + state.filled, range.end, { versionId: object.versionId, ifMatch, signal: attempt.signal }),
        stalled,
      ]);
      if (cancel.signal.aborted) throw cancel.signal.reason;
      const s = stream;
      await new Promise<void>((resolve, reject) => {
        stallReject = reject;
        let settled = false;
        const done = (err?: unknown): void => {
          if (settled) return;
          settled = true;
          s.off('data', onData);
          if (err) reject(err);
          else resolve();
        };
        const onData = (chunk: Buffer): void => {
          arm();
          if (state.filled + chunk.length > length) {
            done(new OverlongBodyError(length));
            s.destroy();
            return;
          }
          chunk.copy(buf, state.filled);
          state.filled += chunk.length;
          options.onProgress?.(chunk.length);
        };
        s.on('data', onData);
        s.once('end', () => done(state.filled < length ? new TruncatedBodyError(state.filled, length) : undefined));
        s.once('error', (e) => done(e));
        s.once('close', () => done(state.filled < length ? new TruncatedBodyError(state.filled, length) : undefined));
      });
    } finally {
      if (timer) clearTimeout(timer);
      cancel.signal.removeEventListener('abort', onCancel);
      if (stream && !stream.destroyed) stream.destroy();
    }
  };

  /** Read one range completely, resuming after transient failures. */
  const fetchRange = async (range: PlannedRange, buf: Buffer): Promise<void> => {
    const state: BlockState = { filled: 0 };
    const length = range.end - range.start;
    let attempts = 0;
    let failuresInARow = 0;
    for (;;) {
      attempts++;
      const before = state.filled;
      try {
        await readOnce(range, buf, state);
        return;
      } catch (err) {
        if (cancel.signal.aborted) throw cancel.signal.reason;
        if (state.filled >= length && !(err instanceof OverlongBodyError)) return; // complete; the error came after the last byte
        const progressed = state.filled > before;
        failuresInARow = progressed ? 1 : failuresInARow + 1;
        if (!isTransientError(err)) throw describeFailure(uri, range, state.filled, attempts, err, false);
        if (failuresInARow > retries) throw describeFailure(uri, range, state.filled, attempts, err, true);
        const hinted = retryAfterMsOf(err);
        const delay = Math.max(backoffDelay(failuresInARow, baseDelayMs, maxDelayMs), hinted ?? 0);
        retried++;
        logger?.debug(
          `Reading bytes ${range.start + state.filled}-${range.end - 1} of ${uri} failed (${errorMessage(err)}); ` +
            `resuming in ${delay} ms (attempt ${attempts + 1}).`,
        );
        await sleep(delay, cancel.signal);
      }
    }
  };

  const writeAll = async (buf: Buffer, len: number, position: number): Promise<void> => {
    let off = 0;
    while (off < len) {
      const { bytesWritten } = await (fh as FileHandle).write(buf, off, len - off, position + off);
      off += bytesWritten;
    }
  };

  const worker = async (): Promise<void> => {
    while (failure === undefined) {
      const buf = await pool.acquire();
      if (failure !== undefined || nextToStart >= blocks) {
        if (buf.length > 0) pool.release(buf);
        return;
      }
      const range = rangeOf(nextToStart++, size, blockSize);
      const len = range.end - range.start;
      try {
        await fetchRange(range, buf);
        await writeAll(buf, len, range.start);
        hashReady(range.index, buf, len);
      } catch (err) {
        fail(err);
        return;
      }
    }
  };

  try {
    try {
      fh = await open(destFile, 'w');
      if (size > 0) await fh.truncate(size);
    } catch (err) {
      throw new UserError(`Cannot write the download to ${destFile}: ${errorMessage(err)}. Check that the 'destination' folder is writable and has ${size} bytes free.`, {
        input: 'destination',
        cause: err,
      });
    }
    if (options.signal?.aborted) throw options.signal.reason;
    if (blocks > 0) await Promise.all(Array.from({ length: Math.min(concurrency, blocks) }, () => worker()));
    if (failure !== undefined) throw failure;
    if (nextToHash !== blocks) throw new Error(`internal error: hashed ${nextToHash} of ${blocks} blocks`);
    await fh.close();
    fh = undefined;
    return { sha256: sha256.digest('hex'), md5: md5?.digest('base64'), bytes: size, retries: retried };
  } catch (err) {
    if (fh) await fh.close().catch(() => undefined);
    fh = undefined;
    await unlink(destFile).catch(() => undefined);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

function retryAfterMsOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const v = (err as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(v, 60_000) : undefined;
}

function describeFailure(uri: string, range: PlannedRange, filled: number, attempts: number, err: unknown, exhausted: boolean): UserError {
  const status = httpStatusOf(err);
  const what = `${errorMessage(err)}${status !== undefined && !errorMessage(err).includes(String(status)) ? ` (HTTP ${status})` : ''}`;
  const at = `bytes ${range.start + filled}-${range.end - 1}`;
  if (status === 412) {
    return new UserError(`Downloading ${uri} failed: the object changed while it was being downloaded (ETag no longer matches); re-run the pipeline to fetch the new version.`, {
      code: 'ObjectChanged',
      cause: err,
    });
  }
  if (exhausted) {
    return new UserError(
      `Downloading ${uri} failed after ${attempts} attempts at ${at}: ${what}; check the store's health and the network, then re-run (or raise 'retries').`,
      { code: 'DownloadFailed', cause: err },
    );
  }
  return new UserError(`Downloading ${uri} failed at ${at}: ${what}; check the store, the object and the credentials' read permission, then re-run.`, {
    code: 'DownloadFailed',
    cause: err,
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
