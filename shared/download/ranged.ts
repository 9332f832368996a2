/**
 * Parallel ranged download of one stored object to a local file.
 *
 * How it works:
 * - The object is cut into blocks of `blockSize` bytes (one block, one request
 *   when the object is smaller than a block). Up to `concurrency` blocks are in
 *   flight at once, each read with `store.readRange()`. Each in-flight range
 *   owns one small write buffer (512 KiB): received bytes are copied into it and
 *   written with a positional write on the one file descriptor whenever it is
 *   full or the range ends. Memory is therefore bounded by
 *   `concurrency x 512 KiB` (+ one hash buffer), whatever the object or block
 *   size: ~5 MiB with the defaults.
 * - sha256 (and MD5 when asked for) is computed exactly once, over the bytes
 *   in object order, by RE-READING the file from the page cache as the
 *   contiguous prefix of finished blocks grows (a block that finishes early
 *   simply waits on disk). We chose this over holding out-of-order blocks in
 *   memory because memory must stay bounded at the task's 200 MB peak RSS
 *   target: holding whole blocks costs `(concurrency + slack) x blockSize`
 *   (80+ MiB with 8 x 8 MiB, more with bigger blocks), re-reading costs one
 *   memcpy per byte from the page cache (a few GB/s, well below the hash's
 *   own cost). The bytes hashed are then the bytes actually on disk, which is
 *   what the user gets. If the page cache was evicted, the re-read hits the
 *   disk: slower, still correct. Fast path: a write that lands exactly at the
 *   end of the hashed prefix is hashed straight from its buffer, so in-order
 *   data is never read back. By default (`hashInWorker`, objects of more than
 *   one block) a worker thread (hash-worker.ts) does the read-back and hashing
 *   instead, so the hash (~1 s of CPU per GiB, ~2 s with MD5) runs beside the
 *   main thread's network handling, off the download's critical path.
 * - Every range is checked for its exact byte count. A transient failure
 *   (5xx, 429, resets, timeouts, truncated bodies, stalls) is retried with
 *   backoff, RESUMING the range at the first byte not yet received. A read that
 *   delivers no byte for `stallTimeoutMs` is aborted and retried. An attempt
 *   that made progress (1/64 of its range, at most 256 KiB: {@link minProgressBytes})
 *   does not use up the retry budget (a flaky link still finishes); `retries`
 *   failures in a row without that much progress end the download, so a
 *   server that sends a few bytes and resets, forever, cannot keep it going.
 *   Each range thus takes at most `(retries + 1) x (P + 1)` attempts, P being
 *   the number of progressing attempts it can see: PROGRESS_PARTS for ranges up
 *   to 16 MiB, `ceil(length / MIN_PROGRESS_BYTES)` above.
 * - On failure every request is aborted, the file descriptor closed and the
 *   partial file removed; the error is a {@link UserError} saying what failed
 *   after how many attempts.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { RetryableError, UserError, errorMessage } from '../errors';
import type { Logger } from '../log';
import { backoffDelay, httpStatusOf, isTransientError, sleep } from '../retry';
import type { ModelStore, StoredObject } from '../storage/store';
import { WorkerHasher } from './hash-worker';

export type HashAlgorithm = 'sha256' | 'md5';

export interface DownloadOptions {
  /** Blocks in flight at once (default 8). */
  concurrency?: number;
  /** Bytes per ranged GET (default 8 MiB). */
  blockSize?: number;
  /** Failures in a row without progress (see minProgressBytes) tolerated per block (default 6). */
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
  /**
   * Hash on a worker thread (shared/download/hash-worker.ts: it reads the
   * finished prefix back from the page cache) instead of the main thread, so
   * the hash (about 1 s of CPU per GiB, 2 s with MD5) runs beside the main
   * thread's HTTP parsing and writes. Default true; it costs about 10 MiB of
   * peak RSS (a second V8 isolate), paid for by the smaller write buffers.
   * Objects of one block are hashed on the main thread (nothing to overlap).
   */
  hashInWorker?: boolean;
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
/**
 * An attempt that delivers at least 1/PROGRESS_PARTS of its range, or
 * MIN_PROGRESS_BYTES of a big range, counts as progress and does not use up
 * the retry budget. A range thus sees at most max(PROGRESS_PARTS,
 * ceil(length / MIN_PROGRESS_BYTES)) progressing attempts, each followed by
 * at most `retries` failures.
 */
export const MIN_PROGRESS_BYTES = 256 * 1024;
export const PROGRESS_PARTS = 64;

export function minProgressBytes(rangeLength: number): number {
  return Math.max(1, Math.min(MIN_PROGRESS_BYTES, Math.ceil(rangeLength / PROGRESS_PARTS)));
}
/** Write buffer per in-flight range (512 KiB: half the write calls of 256 KiB, half the memory of 1 MiB). */
const WRITE_BUFFER = 512 * 1024;
/** Read buffer of the in-order hasher. */
const HASH_BUFFER = 2 * 1024 * 1024;

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
class StallError extends RetryableError {
  constructor(ms: number) {
    super(`no data received for ${Math.round(ms / 1000)} s`, { code: 'TimeoutError', transient: true });
    this.name = 'StallError';
  }
}

/** The body ended before the requested range was complete. */
class TruncatedBodyError extends RetryableError {
  constructor(got: number, wanted: number) {
    super(`response body ended after ${got} of ${wanted} bytes`, { code: 'TruncatedBody', transient: true });
    this.name = 'TruncatedBodyError';
  }
}

/** The store sent more bytes than the range holds (it ignored the Range header). Not retried. */
class OverlongBodyError extends RetryableError {
  constructor(wanted: number) {
    super(`the store returned more than the ${wanted} bytes requested (Range not honoured)`, { transient: false });
    this.name = 'OverlongBodyError';
  }
}

/** Bytes of a range received and written so far; a retry resumes at `filled`. */
interface BlockState {
  filled: number;
}

/** One download's settings, defaults applied. */
interface DownloadPlan {
  uri: string;
  size: number;
  blockSize: number;
  blocks: number;
  concurrency: number;
  retries: number;
  stallMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  ifMatch: string | undefined;
  md5: boolean;
  hashInWorker: boolean;
}

/** Step 1: the plan (block size and count, parallelism, retry budget, ETag to hold). */
function planDownload(store: ModelStore, object: StoredObject, options: DownloadOptions): DownloadPlan {
  const size = object.size;
  const uri = store.uriOf(object.key);
  if (!Number.isSafeInteger(size) || size < 0) throw new UserError(`Cannot download ${uri}: the store reported an invalid size (${size}).`);
  const blockSize = Math.max(1, Math.floor(options.blockSize ?? DEFAULT_BLOCK_SIZE));
  const blocks = blockCount(size, blockSize);
  return {
    uri,
    size,
    blockSize,
    blocks,
    concurrency: Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY)),
    retries: Math.max(0, Math.floor(options.retries ?? DEFAULT_RETRIES)),
    stallMs: options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 15_000,
    ifMatch: options.ifMatch === undefined ? object.etag : options.ifMatch || undefined,
    md5: options.hashes?.includes('md5') ?? false,
    hashInWorker: blocks > 1 && (options.hashInWorker ?? true),
  };
}

/** Positional write of `buf[0, len)` at `position`, looping over short writes. */
async function writeAt(fh: FileHandle, buf: Buffer, len: number, position: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const { bytesWritten } = await fh.write(buf, off, len - off, position + off);
    off += bytesWritten;
  }
}

/**
 * In-order hashing (see the module header): blocks finish in any order; the
 * bytes are hashed once, in object order, by reading back the contiguous
 * prefix of finished blocks from the file (or on a worker thread), except
 * that a write landing exactly at the end of the hashed prefix is hashed from
 * its buffer ({@link wrote}).
 */
class InOrderHasher {
  private readonly sha256 = createHash('sha256');
  private readonly md5: Hash | undefined;
  /** Finished blocks beyond the contiguous prefix. */
  private readonly finished = new Set<number>();
  /** Blocks [0, contiguous) are on disk. */
  private contiguous = 0;
  /** Bytes [0, hashed) are hashed (may run ahead of the finished blocks through the fast path). */
  private hashed = 0;
  private hashing: Promise<void> | undefined;
  private hashBuffer: Buffer | undefined;
  private worker: WorkerHasher | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly destFile: string,
    private readonly plan: DownloadPlan,
    /** Called with a read-back failure; `stopped()` then turns true. */
    private readonly fail: (err: unknown) => void,
    private readonly stopped: () => boolean,
  ) {
    this.md5 = plan.md5 ? createHash('md5') : undefined;
    if (plan.hashInWorker) this.worker = new WorkerHasher(destFile, { md5: plan.md5, onError: (err) => this.fail(err) });
  }

  private prefixEnd(): number {
    return Math.min(this.plan.size, this.contiguous * this.plan.blockSize);
  }

  /** Block `index` is entirely on disk. */
  blockDone(index: number): void {
    this.finished.add(index);
    const before = this.contiguous;
    while (this.finished.has(this.contiguous)) this.finished.delete(this.contiguous++);
    if (this.worker) {
      if (this.contiguous > before) this.worker.hashUpTo(this.prefixEnd());
    } else this.kick();
  }

  /** `bytes` were just written at `position`: the fast path hashes them now if they continue the hashed prefix. */
  wrote(position: number, bytes: Buffer): void {
    if (this.worker || position !== this.hashed || this.hashing || this.stopped()) return;
    this.update(bytes);
  }

  private update(bytes: Buffer): void {
    this.sha256.update(bytes);
    this.md5?.update(bytes);
    this.hashed += bytes.length;
  }

  /** Start the read-back unless it is running; it re-checks when it stops. */
  private kick(): void {
    if (this.hashing) return;
    this.hashing = this.readBack()
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.hashing = undefined;
        // Blocks may have finished while the last read was in flight.
        if (!this.stopped() && this.hashed < this.prefixEnd()) this.kick();
      });
  }

  /** Hash [hashed, end of the contiguous prefix) by reading it back from the file. */
  private async readBack(): Promise<void> {
    for (;;) {
      const limit = this.prefixEnd();
      if (this.hashed >= limit || this.stopped()) return;
      this.hashBuffer ??= Buffer.allocUnsafeSlow(Math.min(HASH_BUFFER, this.plan.size));
      const want = Math.min(this.hashBuffer.length, limit - this.hashed);
      const { bytesRead } = await this.fh.read(this.hashBuffer, 0, want, this.hashed);
      if (bytesRead <= 0) throw new Error(`internal error: could not read back bytes ${this.hashed}-${limit - 1} of ${this.destFile}`);
      this.update(bytesRead === this.hashBuffer.length ? this.hashBuffer : this.hashBuffer.subarray(0, bytesRead));
    }
  }

  /** Wait for the read-back in flight, if any. */
  async settle(): Promise<void> {
    while (this.hashing) await this.hashing;
  }

  /** The digests, once every block is done and hashed. */
  async digests(): Promise<{ sha256: string; md5?: string }> {
    const { blocks, size } = this.plan;
    if (this.contiguous !== blocks) throw new Error(`internal error: ${this.contiguous} of ${blocks} blocks finished`);
    if (this.worker) {
      const digests = await this.worker.finish(size);
      this.worker = undefined;
      return digests;
    }
    if (this.hashed !== size) throw new Error(`internal error: hashed ${this.hashed} of ${size} bytes`);
    return { sha256: this.sha256.digest('hex'), md5: this.md5?.digest('base64') };
  }

  /** Stop hashing after a failure. */
  async abort(): Promise<void> {
    await this.worker?.abort().catch(() => undefined);
    this.worker = undefined;
    while (this.hashing) await this.hashing.catch(() => undefined);
  }
}

/**
 * One attempt's write buffer: received bytes are copied in and written with a
 * positional write when it is full or the attempt ends; at most one write is
 * in flight. `state.filled` counts the bytes received AND written.
 */
class RangeWriter {
  /** Bytes in `buf` not yet written; they start at range.start + state.filled. */
  private pending = 0;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly buf: Buffer,
    private readonly range: PlannedRange,
    private readonly state: BlockState,
    private readonly fh: FileHandle,
    private readonly hasher: InOrderHasher,
    private readonly onProgress: ((bytes: number) => void) | undefined,
  ) {}

  /** Bytes of the range received so far (written or buffered). */
  get received(): number {
    return this.state.filled + this.pending;
  }

  get full(): boolean {
    return this.pending === this.buf.length;
  }

  /** Copy `chunk[from..]` into the buffer until it is full; returns the offset reached. */
  fill(chunk: Buffer, from: number): number {
    const n = Math.min(chunk.length - from, this.buf.length - this.pending);
    chunk.copy(this.buf, this.pending, from, from + n);
    this.pending += n;
    return from + n;
  }

  /** Write what is buffered (after the write in flight, if any). */
  flush(): Promise<void> {
    if (this.inflight) return this.inflight.then(() => this.flush());
    if (this.pending === 0) return Promise.resolve();
    const n = this.pending;
    const position = this.range.start + this.state.filled;
    this.inflight = writeAt(this.fh, this.buf, n, position)
      .then(() => {
        this.hasher.wrote(position, n === this.buf.length ? this.buf : this.buf.subarray(0, n));
        this.state.filled += n;
        this.pending = 0;
        this.onProgress?.(n);
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** Forget what is buffered (its write failed). */
  discard(): void {
    this.pending = 0;
  }
}

/** Aborts a read that delivers no byte for `ms`: re-armed on every chunk. */
class StallTimer {
  private timer: NodeJS.Timeout | undefined;
  /** Rejects whoever waits for the read (the request, then the body) when the timer fires. */
  rejectWaiter: ((e: Error) => void) | undefined;

  constructor(
    private readonly ms: number,
    private readonly onStall: (e: StallError) => void,
  ) {}

  arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const e = new StallError(this.ms);
      this.onStall(e);
      this.rejectWaiter?.(e);
    }, this.ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/**
 * Pump a range's body into `writer`: pauses the stream while the buffer is
 * written, checks the byte count (more than the range: {@link OverlongBodyError};
 * an end before it: {@link TruncatedBodyError}). Resolves when the body ended
 * complete; the caller flushes what is buffered.
 */
function pumpBody(s: Readable, writer: RangeWriter, length: number, stall: StallTimer): Promise<void> {
  const startFilled = writer.received;
  return new Promise<void>((resolve, reject) => {
    stall.rejectWaiter = reject;
    let settled = false;
    let writing = false;
    let ended = false;
    let closedEarly = false;
    let deferredError: unknown;
    let received = 0;
    // Chunks that arrived while a write was in flight (normally none: the stream is paused).
    const queue: Buffer[] = [];
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      s.off('data', onData);
      if (err) reject(err);
      else resolve();
    };
    /** Continue after a write: queued data, then end/errors, else more data. */
    const proceed = (): void => {
      while (!settled && !writing) {
        const next = queue.shift();
        if (next) {
          consume(next, 0);
          continue;
        }
        if (deferredError !== undefined) return finish(deferredError);
        if (ended || closedEarly) return finish(writer.received < length ? new TruncatedBodyError(writer.received, length) : undefined);
        s.resume();
        return;
      }
    };
    const consume = (chunk: Buffer, from: number): void => {
      let off = from;
      while (off < chunk.length) {
        off = writer.fill(chunk, off);
        if (writer.full) {
          writing = true;
          s.pause();
          const rest = off < chunk.length ? chunk.subarray(off) : undefined;
          writer.flush().then(
            () => {
              writing = false;
              if (rest) queue.unshift(rest);
              proceed();
            },
            (e: unknown) => {
              writing = false;
              // A failed local write is not the network's: not retried.
              finish(new RetryableError(errorMessage(e), { transient: false, code: (e as NodeJS.ErrnoException).code, cause: e }));
            },
          );
          return;
        }
      }
    };
    const onData = (chunk: Buffer): void => {
      stall.arm();
      received += chunk.length;
      if (startFilled + received > length) {
        finish(new OverlongBodyError(length));
        s.destroy();
        return;
      }
      if (writing || queue.length > 0) queue.push(chunk);
      else consume(chunk, 0);
    };
    s.on('data', onData);
    s.once('end', () => {
      ended = true;
      proceed();
    });
    s.once('error', (e) => {
      if (writing) deferredError = e;
      else finish(e);
    });
    s.once('close', () => {
      closedEarly = true;
      proceed();
    });
  });
}

/**
 * One download in progress: `concurrency` range workers take the next block,
 * fetch it (with resume and the retry budget) and hand it to the hasher. The
 * first failure aborts every request.
 */
class RangedDownload {
  private readonly cancel = new AbortController();
  private failure: unknown;
  private nextToStart = 0;
  /** Range reads retried (reported in the result). */
  retried = 0;

  constructor(
    private readonly store: ModelStore,
    private readonly object: StoredObject,
    private readonly plan: DownloadPlan,
    private readonly options: DownloadOptions,
  ) {}

  get signal(): AbortSignal {
    return this.cancel.signal;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Record the first failure and abort everything. */
  fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err;
    this.cancel.abort(err);
  }

  abort(reason: unknown): void {
    this.cancel.abort(reason);
  }

  /** Step 2: fetch every block with `concurrency` workers; throws the first failure. */
  async fetchAll(fh: FileHandle, hasher: InOrderHasher): Promise<void> {
    const { blocks, concurrency } = this.plan;
    if (blocks > 0) await Promise.all(Array.from({ length: Math.min(concurrency, blocks) }, () => this.rangeWorker(fh, hasher)));
    await hasher.settle();
    if (this.failure !== undefined) throw this.failure;
  }

  private async rangeWorker(fh: FileHandle, hasher: InOrderHasher): Promise<void> {
    const { size, blockSize, blocks } = this.plan;
    const buf = Buffer.allocUnsafeSlow(Math.min(WRITE_BUFFER, blockSize, size));
    while (this.failure === undefined && this.nextToStart < blocks) {
      const range = rangeOf(this.nextToStart++, size, blockSize);
      try {
        await this.fetchRange(range, (state) => new RangeWriter(buf, range, state, fh, hasher, this.options.onProgress));
        hasher.blockDone(range.index);
      } catch (err) {
        this.fail(err);
        return;
      }
    }
  }

  /**
   * Step 3: read one range completely, resuming after transient failures.
   * The retry budget: `retries` failures in a row without progress
   * ({@link minProgressBytes}) end the download; an attempt with progress
   * starts the count again.
   */
  private async fetchRange(range: PlannedRange, writerFor: (state: BlockState) => RangeWriter): Promise<void> {
    const { uri, retries, baseDelayMs, maxDelayMs } = this.plan;
    const state: BlockState = { filled: 0 };
    const length = range.end - range.start;
    let attempts = 0;
    let failuresInARow = 0;
    for (;;) {
      attempts++;
      const before = state.filled;
      try {
        await this.readOnce(range, writerFor(state));
        return;
      } catch (err) {
        if (this.cancel.signal.aborted) throw this.cancel.signal.reason;
        if (state.filled >= length && !(err instanceof OverlongBodyError)) return; // complete; the error came after the last byte
        // Only real progress resets the count: a server that sends a few bytes and resets, forever,
        // must not keep the download going (each range then ends after `retries` such attempts).
        const progressed = state.filled - before >= minProgressBytes(length);
        failuresInARow = progressed ? 1 : failuresInARow + 1;
        if (!isTransientError(err)) throw describeFailure(uri, range, state.filled, attempts, err, false);
        if (failuresInARow > retries) throw describeFailure(uri, range, state.filled, attempts, err, true);
        const hinted = retryAfterMsOf(err);
        const delay = Math.max(backoffDelay(failuresInARow, baseDelayMs, maxDelayMs), hinted ?? 0);
        this.retried++;
        this.options.logger?.debug(
          `Reading bytes ${range.start + state.filled}-${range.end - 1} of ${uri} failed (${errorMessage(err)}); ` +
            `resuming in ${delay} ms (attempt ${attempts + 1}).`,
        );
        await sleep(delay, this.cancel.signal);
      }
    }
  }

  /**
   * Step 4: one read of the rest of a range, from the first byte not yet
   * received, through `writer` to the file. On failure what was received is
   * written first, so the retry resumes after it.
   */
  private async readOnce(range: PlannedRange, writer: RangeWriter): Promise<void> {
    // A worker that finished its block as the download was cancelled starts nothing new.
    this.cancel.signal.throwIfAborted();
    const length = range.end - range.start;
    const attempt = new AbortController();
    const onCancel = (): void => attempt.abort(this.cancel.signal.reason);
    this.cancel.signal.addEventListener('abort', onCancel, { once: true });
    let stream: Readable | undefined;
    const stall = new StallTimer(this.plan.stallMs, (e) => {
      attempt.abort(e);
      stream?.destroy(e);
    });
    try {
      stall.arm();
      const stalled = new Promise<never>((_, reject) => {
        stall.rejectWaiter = reject;
      });
      stalled.catch(() => undefined);
      stream = await Promise.race([
        this.store.readRange(this.object.key, range.start + writer.received, range.end, {
          versionId: this.object.versionId,
          ifMatch: this.plan.ifMatch,
          signal: attempt.signal,
        }),
        stalled,
      ]);
      if (this.cancel.signal.aborted) throw this.cancel.signal.reason;
      await pumpBody(stream, writer, length, stall);
      await writer.flush();
    } catch (err) {
      // Keep what was received: write it so the retry resumes after it.
      await writer.flush().catch(() => writer.discard());
      throw err;
    } finally {
      stall.stop();
      this.cancel.signal.removeEventListener('abort', onCancel);
      if (stream && !stream.destroyed) stream.destroy();
    }
  }
}

/**
 * Download `object` into `destFile` (created or truncated). Returns the hashes
 * of the bytes written. On failure `destFile` is removed.
 *
 * The steps: {@link planDownload}; open and size the file; {@link RangedDownload.fetchAll}
 * (each block by {@link RangedDownload.fetchRange}, each attempt by
 * {@link RangedDownload.readOnce} → {@link pumpBody} → {@link RangeWriter} →
 * {@link writeAt}); {@link InOrderHasher} hashes in object order; the digests.
 */
export async function downloadObject(store: ModelStore, object: StoredObject, destFile: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const plan = planDownload(store, object, options);
  const download = new RangedDownload(store, object, plan, options);
  const onOuterAbort = (): void => download.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let fh: FileHandle | undefined;
  let hasher: InOrderHasher | undefined;
  try {
    fh = await openDestination(destFile, plan.size);
    if (options.signal?.aborted) throw options.signal.reason;
    hasher = new InOrderHasher(
      fh,
      destFile,
      plan,
      (err) => download.fail(err),
      () => download.failed,
    );
    await download.fetchAll(fh, hasher);
    const digests = await hasher.digests();
    await fh.close();
    fh = undefined;
    return { sha256: digests.sha256, md5: digests.md5, bytes: plan.size, retries: download.retried };
  } catch (err) {
    download.abort(err);
    await hasher?.abort();
    if (fh) await fh.close().catch(() => undefined);
    fh = undefined;
    await unlink(destFile).catch(() => undefined);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

/** Create (or truncate) the file and give it its final size. */
async function openDestination(destFile: string, size: number): Promise<FileHandle> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(destFile, 'w+');
    if (size > 0) await fh.truncate(size);
    return fh;
  } catch (err) {
    // Keep the handle closed when truncating failed (the original closed it in the cleanup).
    await fh?.close().catch(() => undefined);
    throw new UserError(
      `Cannot write the download to ${destFile}: ${errorMessage(err)}. Check that the 'destination' folder is writable and has ${size} bytes free.`,
      {
        input: 'destination',
        cause: err,
      },
    );
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
    return new UserError(
      `Downloading ${uri} failed: the object changed while it was being downloaded (ETag no longer matches); re-run the pipeline to fetch the new version.`,
      {
        code: 'ObjectChanged',
        cause: err,
      },
    );
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
