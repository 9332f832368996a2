/**
 * Layer writer: tar -> sha256 (diff_id) -> compressor -> sha256 (digest) ->
 * blob file in the layout, in one streaming pass with bounded memory.
 *
 * Compression policy: `gzip` always compresses (zlib default level); `none`
 * writes a plain tar; `auto` samples the content first: when it does not
 * compress (model weights, archives), the layer is a gzip stream of stored
 * deflate blocks (level 0: valid gzip every runtime accepts, written at
 * hashing speed); otherwise normal gzip.
 */
import { open } from 'node:fs/promises';
import { createWriteStream, promises as fsp } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { constants as zc, crc32, createGzip, deflateRawSync } from 'node:zlib';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors';
import type { Logger } from '../log';
import { ProgressMeter } from '../progress';
import { digestOfHex, HashingStream } from '../digest';
import { CountingStream } from '../stream/count';
import type { OciLayout } from './layout';
import { BLOCK, defaultMtime, encodeHeader, tarSize, tarStream, type TarEntry } from './tar';
import { DEFERRED_SCHEMA, deferredSegments, StoredGzipHasher, type DeferredBlob, type DeferredSegment } from './deferred';
import { MediaType } from './types';

export type CompressionPolicy = 'auto' | 'gzip' | 'none';
/** Compress unless the content does not shrink. */
export const DEFAULT_COMPRESSION: CompressionPolicy = 'auto';
export type LayerEncoding = 'gzip' | 'gzip-stored' | 'none';

const SAMPLE_SIZE = 64 * 1024;
/** Compressed/original ratio above which content counts as incompressible. */
const INCOMPRESSIBLE_RATIO = 0.9;
/** Stored-gzip layers at least this big hash their diff_id on a worker thread. */
export const PARALLEL_THRESHOLD = 8 * 1024 * 1024;
/** Layers at least this big report progress. */
const PROGRESS_THRESHOLD = 64 * 1024 * 1024;

export interface SampleResult {
  /** Estimated compressed/original ratio of the whole content (size-weighted). */
  ratio: number;
  sampledBytes: number;
}

/** Up to `samples` spread-out 64 KiB windows of a file, compressed with deflate level 1. */
async function sampleFile(path: string, size: number, samples: number): Promise<{ raw: number; packed: number }> {
  const fh = await open(path, 'r');
  try {
    const n = size <= SAMPLE_SIZE ? 1 : Math.min(samples, Math.ceil(size / SAMPLE_SIZE));
    let raw = 0;
    let packed = 0;
    const buf = Buffer.alloc(Math.min(SAMPLE_SIZE, size));
    for (let i = 0; i < n; i++) {
      const pos = n === 1 ? 0 : Math.floor(((size - buf.length) * i) / (n - 1));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      raw += bytesRead;
      packed += deflateRawSync(buf.subarray(0, bytesRead), { level: 1 }).length;
    }
    return { raw, packed };
  } finally {
    await fh.close();
  }
}

/**
 * Estimates how well the entries' content compresses: every file is sampled
 * (small files whole, big files at up to `samplesPerFile` spread-out windows),
 * each file's ratio weighted by its size. Metadata (headers) counts as compressible.
 */
export async function sampleCompressibility(entries: TarEntry[], samplesPerFile = 8): Promise<SampleResult> {
  let weighted = 0;
  let total = 0;
  let sampledBytes = 0;
  const files = entries.filter((e) => e.type === 'file' && e.size > 0);
  // Many small files: sample at most 256 of them (the biggest), the rest count at the average.
  const bySize = [...files].sort((a, b) => b.size - a.size);
  const sampled = bySize.slice(0, 256);
  let rest = 0;
  for (const f of bySize.slice(256)) rest += f.size;
  for (const f of sampled) {
    const { raw, packed } = await sampleFile(f.source as string, f.size, samplesPerFile);
    if (raw === 0) continue;
    sampledBytes += raw;
    weighted += Math.min(1.05, packed / raw) * f.size;
    total += f.size;
  }
  const headerBytes = entries.length * 512;
  const avg = total > 0 ? weighted / total : 0.3;
  weighted += avg * rest + 0.3 * headerBytes;
  total += rest + headerBytes;
  return { ratio: total > 0 ? weighted / total : 0, sampledBytes };
}

export async function chooseEncoding(policy: CompressionPolicy, entries: TarEntry[]): Promise<{ encoding: LayerEncoding; ratio?: number }> {
  if (policy === 'none') return { encoding: 'none' };
  if (policy === 'gzip') return { encoding: 'gzip' };
  const { ratio } = await sampleCompressibility(entries);
  return { encoding: ratio > INCOMPRESSIBLE_RATIO ? 'gzip-stored' : 'gzip', ratio };
}

export function layerMediaType(encoding: LayerEncoding, format: 'oci' | 'docker'): string {
  if (format === 'docker') return encoding === 'none' ? MediaType.DockerLayer : MediaType.DockerLayerGzip;
  return encoding === 'none' ? MediaType.OciLayer : MediaType.OciLayerGzip;
}

export interface LayerResult {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  encoding: LayerEncoding;
  /** Sampled compressibility (auto only). */
  ratio?: number;
  seconds: number;
  /** True when the blob is not written but recorded as deferred (produced from the files when read). */
  deferred?: boolean;
}

export interface WriteLayerOptions {
  compression: CompressionPolicy;
  format?: 'oci' | 'docker';
  mtime?: number;
  logger?: Logger;
  /** Label for progress lines, e.g. `model layer`. */
  label?: string;
  signal?: AbortSignal;
}

const STORED_BLOCK = 65535;
/** gzip member header: no name, mtime 0, no extra flags, OS 255 (unknown): the same bytes on every platform. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/**
 * gzip of stored (uncompressed) deflate blocks of exactly 65535 bytes (RFC
 * 1951 BTYPE=00) plus an empty final block, CRC-32 and size trailer. Valid
 * gzip for every reader, written at memcpy speed, and independent of the zlib
 * version (so the digest is the same on any machine).
 */
export class StoredGzip extends Transform {
  private crc = 0;
  private total = 0;
  private pending: Buffer = Buffer.alloc(0);
  private started = false;

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.crc = crc32(chunk, this.crc);
    this.total += chunk.length;
    const pend = this.pending;
    const length = pend.length + chunk.length;
    const blocks = Math.floor(length / STORED_BLOCK);
    const head = this.started ? 0 : GZIP_HEADER.length;
    this.started = true;
    if (blocks === 0) {
      this.pending = Buffer.concat([pend, chunk]);
      if (head) this.push(GZIP_HEADER);
      cb();
      return;
    }
    // Copy straight from the carried-over bytes and the new chunk into the output (one copy).
    const out = Buffer.allocUnsafe(head + blocks * (STORED_BLOCK + 5));
    let o = head ? GZIP_HEADER.copy(out, 0) : 0;
    let fromPend = 0;
    let fromChunk = 0;
    for (let b = 0; b < blocks; b++) {
      out[o] = 0x00;
      out.writeUInt16LE(STORED_BLOCK, o + 1);
      out.writeUInt16LE(0xffff ^ STORED_BLOCK, o + 3);
      o += 5;
      let need = STORED_BLOCK;
      if (fromPend < pend.length) {
        const n = Math.min(need, pend.length - fromPend);
        o += pend.copy(out, o, fromPend, fromPend + n);
        fromPend += n;
        need -= n;
      }
      if (need > 0) {
        o += chunk.copy(out, o, fromChunk, fromChunk + need);
        fromChunk += need;
      }
    }
    this.pending = Buffer.from(chunk.subarray(fromChunk));
    cb(null, out);
  }

  override _flush(cb: TransformCallback): void {
    const rest = this.pending.length;
    const parts: Buffer[] = [];
    if (!this.started) parts.push(GZIP_HEADER);
    if (rest > 0) {
      const h = Buffer.alloc(5);
      h[0] = 0x00;
      h.writeUInt16LE(rest, 1);
      h.writeUInt16LE(0xffff ^ rest, 3);
      parts.push(h, this.pending);
    }
    const tail = Buffer.alloc(13);
    tail[0] = 0x01; // final, stored, empty
    tail.writeUInt16LE(0, 1);
    tail.writeUInt16LE(0xffff, 3);
    tail.writeUInt32LE(this.crc >>> 0, 5);
    tail.writeUInt32LE(this.total % 2 ** 32, 9);
    parts.push(tail);
    cb(null, Buffer.concat(parts));
  }
}

/** The uncompressed tar as a recipe: literal bytes (headers, padding) and file ranges. */
type TarSegment = { bytes: Uint8Array } | { path: string; size: number };

export function tarRecipe(entries: TarEntry[], mtime: number): TarSegment[] {
  const out: TarSegment[] = [];
  for (const e of entries) {
    out.push({ bytes: encodeHeader(e, mtime) });
    if (e.type !== 'file' || e.size === 0) continue;
    out.push({ path: e.source as string, size: e.size });
    const pad = (BLOCK - (e.size % BLOCK)) % BLOCK;
    if (pad) out.push({ bytes: new Uint8Array(pad) });
  }
  out.push({ bytes: new Uint8Array(2 * BLOCK) });
  return out;
}

const DIFF_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const h = createHash('sha256');
const buf = Buffer.allocUnsafe(4 << 20);
let total = 0;
try {
  for (const seg of workerData) {
    if (seg.bytes) { h.update(seg.bytes); total += seg.bytes.length; continue; }
    const fd = fs.openSync(seg.path, 'r');
    try {
      let pos = 0;
      while (pos < seg.size) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, seg.size - pos), pos);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        pos += n;
      }
      total += pos;
    } finally { fs.closeSync(fd); }
  }
  parentPort.postMessage({ hex: h.digest('hex'), total });
} catch (err) {
  parentPort.postMessage({ error: String(err && err.message || err) });
}
`;

/**
 * sha256 of the uncompressed tar (the diff_id) on a worker thread that reads
 * the files itself (from the page cache), so the main thread only hashes the
 * stored blob: the two hashes of a model layer run on two cores with no data
 * passed between threads.
 */
export function diffIdOnWorker(recipe: TarSegment[]): { result: Promise<{ digest: string; total: number }>; cancel: () => Promise<void> } {
  const worker = new Worker(DIFF_WORKER_SOURCE, { eval: true, workerData: recipe });
  const result = new Promise<{ digest: string; total: number }>((resolve, reject) => {
    worker.once('message', (m: { hex?: string; total?: number; error?: string }) => {
      if (m.hex) resolve({ digest: digestOfHex(m.hex), total: m.total ?? 0 });
      else reject(new Error(`hashing the layer failed: ${m.error}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`hash worker exited with code ${code}`)));
  });
  result.catch(() => undefined);
  return { result, cancel: async () => void (await worker.terminate()) };
}

/** Writes the entries as one layer blob into the layout. */
export async function writeLayer(layout: OciLayout, entries: TarEntry[], options: WriteLayerOptions): Promise<LayerResult> {
  const { encoding, ratio } = await chooseEncoding(options.compression, entries);
  const mtime = options.mtime ?? defaultMtime();
  const total = tarSize(entries, mtime);
  const recipe = encoding === 'gzip-stored' && total >= PARALLEL_THRESHOLD ? tarRecipe(entries, mtime) : undefined;
  return writeTarLayer(layout, () => tarStream(entries, { mtime }), total, encoding, options, ratio, recipe);
}

/** Samples a ready-made tar file like a file entry (used for layers exported by Docker). */
export async function chooseEncodingForFile(policy: CompressionPolicy, path: string, size: number): Promise<{ encoding: LayerEncoding; ratio?: number }> {
  return chooseEncoding(policy, [{ path: 'layer.tar', type: 'file', mode: 0o644, size, source: path }]);
}

/** Streams an uncompressed tar (from `open()`) through the hashes and the chosen encoder into a blob. */
export async function writeTarLayer(
  layout: OciLayout,
  open: () => NodeJS.ReadableStream,
  total: number,
  encoding: LayerEncoding,
  options: WriteLayerOptions,
  ratio?: number,
  /** When given, the diff_id is hashed from this recipe on a worker thread instead of inline. */
  diffRecipe?: TarSegment[],
): Promise<LayerResult> {
  const started = Date.now();
  const meter =
    total >= PROGRESS_THRESHOLD && options.logger?.progress
      ? new ProgressMeter({ label: `Writing ${options.label ?? 'layer'}`, total, sink: options.logger.progress })
      : undefined;
  const stored = new HashingStream();
  const tmp = layout.tempPath();
  const offload = diffRecipe && encoding !== 'none' ? diffIdOnWorker(diffRecipe) : undefined;
  // With the diff_id hashed on a worker, the main thread only counts the tar's bytes.
  const diff = offload ? new CountingStream() : new HashingStream();
  const stages: NodeJS.ReadWriteStream[] = [diff];
  if (meter) stages.push(new CountingStream((n) => meter.add(n)));
  if (encoding === 'gzip-stored') stages.push(new StoredGzip());
  else if (encoding === 'gzip') stages.push(createGzip({ level: zc.Z_DEFAULT_COMPRESSION, chunkSize: 1 << 20, memLevel: 9 }));
  if (encoding !== 'none') stages.push(stored);
  try {
    await pipeline([open(), ...stages, createWriteStream(tmp, { highWaterMark: 1 << 20 })], { signal: options.signal });
    let diffId = diff instanceof HashingStream ? diff.digest() : '';
    const digest = encoding === 'none' ? diffId : stored.digest(); // a plain tar's digest is its diff_id
    if (offload) {
      const r = await offload.result;
      if (r.total !== diff.bytes)
        throw new UserError(
          `A file changed while the layer was being written (${r.total} bytes hashed, ${diff.bytes} written): make sure nothing writes to the model or app files during the build.`,
          { code: 'FileChanged' },
        );
      diffId = r.digest;
    }
    await layout.commitTemp(tmp, digest);
    meter?.finish();
    return {
      mediaType: layerMediaType(encoding, options.format ?? 'oci'),
      digest,
      size: encoding === 'none' ? diff.bytes : stored.bytes,
      diffId,
      uncompressedSize: diff.bytes,
      encoding,
      ratio,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (err) {
    await offload?.cancel();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Records the entries as a deferred layer (./deferred.ts): the digest, size
 * and diff_id are computed from the files, nothing but a small recipe is
 * written. Only deterministic encodings can be deferred (plain tar, stored
 * gzip): returns undefined when the policy picks real gzip (the caller
 * writes the blob then). Plain tar takes one sha256 pass (digest = diff_id);
 * stored gzip two, on two threads: the diff_id on a worker reading the files
 * itself, the blob digest here over the same bytes framed as stored blocks
 * (no copy).
 */
export async function deferLayer(layout: OciLayout, entries: TarEntry[], options: WriteLayerOptions): Promise<LayerResult | undefined> {
  const { encoding, ratio } = await chooseEncoding(options.compression, entries);
  if (encoding === 'gzip') return undefined;
  const started = Date.now();
  const mtime = options.mtime ?? defaultMtime();
  const total = tarSize(entries, mtime);
  const segments = await deferredSegments(entries, mtime);
  const meter =
    total >= PROGRESS_THRESHOLD && options.logger?.progress
      ? new ProgressMeter({ label: `Hashing ${options.label ?? 'layer'}`, total, sink: options.logger.progress })
      : undefined;
  const offload = encoding === 'gzip-stored' ? diffIdOnWorker(tarRecipe(entries, mtime)) : undefined;
  const stored = encoding === 'gzip-stored' ? new StoredGzipHasher(total) : undefined;
  const diff = offload ? new CountingStream() : new HashingStream();
  const sink = new Transform({
    transform(chunk: Buffer, _e, cb) {
      stored?.update(chunk);
      meter?.add(chunk.length);
      cb();
    },
  });
  try {
    await pipeline([tarStream(entries, { mtime }), diff, sink], { signal: options.signal });
    let diffId = diff instanceof HashingStream ? diff.digest() : '';
    let digest = diffId;
    let size = diff.bytes;
    let crc: number | undefined;
    if (stored && offload) {
      const s = stored.finish();
      digest = s.digest;
      size = s.size;
      crc = s.crc32;
      const r = await offload.result;
      if (r.total !== diff.bytes)
        throw new UserError(
          `A file changed while the layer was being hashed (${r.total} bytes hashed, ${diff.bytes} read): make sure nothing writes to the model or app files during the build.`,
          { code: 'FileChanged' },
        );
      diffId = r.digest;
    }
    await assertUnchanged(segments);
    const mediaType = layerMediaType(encoding, options.format ?? 'oci');
    const record: DeferredBlob = {
      schema: DEFERRED_SCHEMA,
      digest,
      size,
      mediaType,
      diffId,
      tarSize: diff.bytes,
      encoding,
      ...(crc !== undefined ? { crc32: crc } : {}),
      segments,
    };
    await layout.writeDeferred(record);
    meter?.finish();
    return { mediaType, digest, size, diffId, uncompressedSize: diff.bytes, encoding, ratio, seconds: (Date.now() - started) / 1000, deferred: true };
  } catch (err) {
    await offload?.cancel();
    throw err;
  }
}

/** The files still have the size and mtime recorded before hashing (else the hashes may mix two versions). */
async function assertUnchanged(segments: DeferredSegment[]): Promise<void> {
  for (const s of segments) {
    if (!('path' in s)) continue;
    const st = await fsp.stat(s.path);
    if (st.size !== s.size || st.mtimeMs !== s.mtimeMs)
      throw new UserError(`'${s.path}' changed while the layer was being hashed: make sure nothing writes to the model or app files during the build.`, {
        code: 'FileChanged',
      });
  }
}
