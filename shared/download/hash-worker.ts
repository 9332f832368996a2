/**
 * sha256 (and MD5 when asked for) of a file's growing prefix, computed on a
 * worker thread: the download engine writes blocks in any order; as the
 * contiguous prefix of finished blocks grows it calls `hashUpTo(end)`, and
 * the worker reads `[hashed, end)` back (from the page cache: the bytes were
 * just written) and hashes it. The main thread does no per-byte work for the
 * hash: no copy, no transfer, no hash update; it sends one small message per
 * finished block. We chose read-back over handing write buffers to the worker
 * (a copy per byte on the main thread, or a buffer pool waiting on the worker)
 * because the main thread is the download's critical path: it parses HTTP and
 * issues the writes; the worker's memcpy from the page cache costs a few
 * percent of the hash it feeds.
 *
 * Memory: one read buffer (HASH_WORKER_BUFFER, off-heap) and a tiny V8 heap
 * (resourceLimits); the worker's isolate itself costs about 10 MiB of RSS.
 *
 * Failures: a read-back failure (file truncated or removed under us) is
 * reported at once through `onError` (the engine aborts the download), and
 * again by `finish()`. `abort()` terminates the worker and closes the file;
 * after it `finish()` rejects. The file is opened by the constructor (it
 * throws when the file cannot be opened) and read by the worker through that
 * descriptor.
 */
import { closeSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Read buffer of the worker. */
export const HASH_WORKER_BUFFER = 1024 * 1024;

/**
 * The worker (plain CommonJS, run with `eval` so it survives bundling): reads
 * the file back in order up to each `limit` it is sent and hashes it; on
 * `done` it answers with the digests; on a failure it answers with `error`
 * at once and ignores what follows.
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const fd = workerData.fd;
const sha = crypto.createHash('sha256');
const md5 = workerData.md5 ? crypto.createHash('md5') : undefined;
const buf = Buffer.allocUnsafeSlow(workerData.bufferSize);
let hashed = 0;
let failed = false;
parentPort.on('message', (m) => {
  if (failed) return;
  try {
    while (hashed < m.limit) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, m.limit - hashed), hashed);
      if (n <= 0) throw new Error('could not read back bytes ' + hashed + '-' + (m.limit - 1) + ' of ' + workerData.file + ' (the file is shorter)');
      const b = n === buf.length ? buf : buf.subarray(0, n);
      sha.update(b);
      if (md5) md5.update(b);
      hashed += n;
    }
    if (m.done) {
      parentPort.postMessage({ sha256: sha.digest('hex'), md5: md5 ? md5.digest('base64') : undefined, hashed });
    }
  } catch (e) {
    failed = true;
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
});
`;

interface WorkerAnswer {
  sha256?: string;
  md5?: string;
  hashed?: number;
  error?: string;
}

export interface FileDigests {
  /** Lower-case hex. */
  sha256: string;
  /** Base64, when asked for. */
  md5?: string;
}

export interface WorkerHasherOptions {
  /** Also compute MD5. */
  md5?: boolean;
  /** Called once, as soon as the worker fails (read-back error, crash). */
  onError?: (err: Error) => void;
  /** Read buffer size (tests use odd sizes). */
  bufferSize?: number;
}

/** sha256/MD5 of a file's prefix, computed on a worker thread as the prefix grows. */
export class WorkerHasher {
  private readonly worker: Worker;
  private readonly result: Promise<WorkerAnswer>;
  private ended = false;
  private sent = 0;
  /** Opened here and closed here once the worker is gone (a terminated worker closes no descriptor). */
  private fd: number | undefined;

  constructor(
    private readonly file: string,
    options: WorkerHasherOptions = {},
  ) {
    this.fd = openSync(file, 'r');
    try {
      this.worker = new Worker(SOURCE, {
        eval: true,
        workerData: { file, fd: this.fd, md5: options.md5 ?? false, bufferSize: options.bufferSize ?? HASH_WORKER_BUFFER },
        // A tiny heap: the worker holds one read buffer (off-heap) and two hash states.
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 12, stackSizeMb: 1 },
      });
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
    this.result = new Promise<WorkerAnswer>((resolve) => {
      this.worker.once('message', (m: WorkerAnswer) => resolve(m));
      this.worker.once('error', (e: Error) => resolve({ error: e.message }));
      this.worker.once('exit', (code) => resolve({ error: `the hash worker exited early (code ${code})` }));
    });
    void this.result.then((r) => {
      if (r.error !== undefined && !this.ended) options.onError?.(new Error(`hashing ${file} failed: ${r.error}`));
    });
  }

  /** Bytes [0, limit) are on disk: hash them (limits never go down). */
  hashUpTo(limit: number): void {
    if (this.ended || limit <= this.sent) return;
    this.sent = limit;
    this.worker.postMessage({ limit });
  }

  /** Hash up to `size` and return the digests; the worker ends either way. */
  async finish(size: number): Promise<FileDigests> {
    if (this.ended) throw new Error(`hashing ${this.file} was stopped`);
    this.worker.postMessage({ limit: size, done: true });
    try {
      const r = await this.result;
      if (r.error !== undefined || r.sha256 === undefined) throw new Error(`hashing ${this.file} failed: ${r.error ?? 'no digest'}`);
      if (r.hashed !== size) throw new Error(`internal error: hashed ${r.hashed} of ${size} bytes of ${this.file}`);
      return { sha256: r.sha256, md5: r.md5 };
    } finally {
      this.ended = true;
      await this.stop();
    }
  }

  /** Stop the worker (the download failed or was cancelled); no error is reported after this. */
  async abort(): Promise<void> {
    this.ended = true;
    await this.stop();
  }

  private async stop(): Promise<void> {
    await this.worker.terminate();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
