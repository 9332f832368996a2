/**
 * Deferred layer blobs: a layer whose bytes are a deterministic function of
 * files already on the agent (an uncompressed tar of the model, or a gzip of
 * stored deflate blocks of that tar) is recorded in the OCI layout as a
 * recipe instead of a second full copy: `deferred/sha256/<hex>.json` beside
 * `blobs/`, holding the descriptor (digest, size, media type), the diff_id,
 * the tar's literal bytes (headers, padding) and the source files' paths with
 * the size and mtime they had when the layer was hashed. The blob file itself
 * is absent.
 *
 * Readers in this project get the bytes through {@link DeferredBlobReader}
 * (or `OciLayout.openBlob`, which uses it): any byte range is produced on the
 * fly from the files, and the whole blob is verified in order against its
 * digest while it streams; a stream that reaches the blob's last byte errors
 * before yielding it when the digest does not match, so an upload of a
 * changed file never completes. Other tools (skopeo, umoci, crane) see a
 * layout with a missing blob: BundleModelImage's `writeModelBlob` input
 * writes it instead, and {@link materializeDeferred} turns a deferred layout
 * into a complete one.
 */
import { createHash, type Hash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { ChecksumMismatchError, errorMessage, UserError } from '../errors';
import { assertDigest, digestOfHex, hexOfDigest } from '../digest';
import { BLOCK, encodeHeader, type TarEntry } from './tar';

export const DEFERRED_SCHEMA = 'io.modeltoaks.deferred-blob.v1';
/** Folder of the layout holding the recipes (not part of the OCI layout spec; other tools ignore it). */
export const DEFERRED_DIR = 'deferred';

/** Literal bytes (base64), a run of zero bytes, or a whole source file. */
export type DeferredSegment = { bytes: string } | { zeros: number } | { path: string; size: number; mtimeMs: number };

export type DeferredEncoding = 'none' | 'gzip-stored';

export interface DeferredBlob {
  schema: typeof DEFERRED_SCHEMA;
  digest: string;
  size: number;
  mediaType: string;
  diffId: string;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  encoding: DeferredEncoding;
  /** CRC-32 of the tar (gzip-stored: the gzip trailer). */
  crc32?: number;
  segments: DeferredSegment[];
}

// gzip of stored blocks (the format of layer.ts's StoredGzip): header, blocks of 65535 bytes, a partial one, an empty final block + trailer.
const STORED_BLOCK = 65535;
const BLOCK_HEADER = 5;
const STRIDE = STORED_BLOCK + BLOCK_HEADER;
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);
const TAIL = 13;

/** Size of the stored-gzip encoding of `tarSize` bytes. */
export function storedGzipSize(tarSize: number): number {
  const rest = tarSize % STORED_BLOCK;
  return GZIP_HEADER.length + Math.floor(tarSize / STORED_BLOCK) * STRIDE + (rest ? rest + BLOCK_HEADER : 0) + TAIL;
}

function blockHeader(length: number): Buffer {
  const h = Buffer.alloc(BLOCK_HEADER);
  h[0] = 0x00;
  h.writeUInt16LE(length, 1);
  h.writeUInt16LE(0xffff ^ length, 3);
  return h;
}

function gzipTail(crc: number, tarSize: number): Buffer {
  const t = Buffer.alloc(TAIL);
  t[0] = 0x01; // final, stored, empty
  t.writeUInt16LE(0, 1);
  t.writeUInt16LE(0xffff, 3);
  t.writeUInt32LE(crc >>> 0, 5);
  t.writeUInt32LE(tarSize % 2 ** 32, 9);
  return t;
}

/** The tar of `entries` as segments (adjacent literal bytes merged; padding and the end marker as zero runs). */
export async function deferredSegments(entries: TarEntry[], mtime: number): Promise<DeferredSegment[]> {
  const out: DeferredSegment[] = [];
  const literal = (b: Buffer) => {
    const last = out[out.length - 1];
    if (last && 'bytes' in last) out[out.length - 1] = { bytes: Buffer.concat([Buffer.from(last.bytes, 'base64'), b]).toString('base64') };
    else out.push({ bytes: b.toString('base64') });
  };
  const zeros = (n: number) => {
    const last = out[out.length - 1];
    if (last && 'zeros' in last) last.zeros += n;
    else out.push({ zeros: n });
  };
  for (const e of entries) {
    literal(encodeHeader(e, mtime));
    if (e.type !== 'file' || e.size === 0) continue;
    const st = await fsp.stat(e.source as string);
    out.push({ path: e.source as string, size: e.size, mtimeMs: st.mtimeMs });
    const pad = (BLOCK - (e.size % BLOCK)) % BLOCK;
    if (pad) zeros(pad);
  }
  zeros(2 * BLOCK);
  return out;
}

/**
 * A streaming hasher of the stored-gzip encoding of a tar of known size, fed
 * the tar's bytes: hashes the block headers and slices of the given chunks
 * (no copy of the data), and the trailer at the end. Also the CRC-32.
 */
export class StoredGzipHasher {
  private readonly hash = createHash('sha256');
  private crc = 0;
  private seen = 0;

  constructor(private readonly tarSize: number) {
    this.hash.update(GZIP_HEADER);
  }

  update(chunk: Buffer): void {
    this.crc = crc32(chunk, this.crc);
    let o = 0;
    while (o < chunk.length) {
      const inBlock = this.seen % STORED_BLOCK;
      if (inBlock === 0) this.hash.update(blockHeader(Math.min(STORED_BLOCK, this.tarSize - this.seen)));
      const n = Math.min(STORED_BLOCK - inBlock, chunk.length - o);
      this.hash.update(chunk.subarray(o, o + n));
      o += n;
      this.seen += n;
    }
  }

  /** The blob's digest and the tar's CRC-32; a UserError when the tar was not `tarSize` bytes. */
  finish(): { digest: string; crc32: number; size: number } {
    if (this.seen !== this.tarSize)
      throw new UserError(
        `A file changed while the layer was being hashed (${this.seen} bytes read, ${this.tarSize} expected): make sure nothing writes to the model or app files during the build.`,
        { code: 'FileChanged' },
      );
    this.hash.update(gzipTail(this.crc, this.tarSize));
    return { digest: digestOfHex(this.hash.digest('hex')), crc32: this.crc >>> 0, size: storedGzipSize(this.tarSize) };
  }
}

export function deferredPath(layoutDir: string, digest: string): string {
  return join(layoutDir, DEFERRED_DIR, 'sha256', `${hexOfDigest(digest)}.json`);
}

export async function readDeferred(layoutDir: string, digest: string): Promise<DeferredBlob | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(deferredPath(layoutDir, digest), 'utf8');
  } catch {
    return undefined;
  }
  let record: DeferredBlob;
  try {
    record = JSON.parse(text) as DeferredBlob;
  } catch (err) {
    throw new UserError(`The deferred blob record of ${digest} in the OCI layout '${layoutDir}' is not JSON: rebuild the image layout.`, {
      code: 'InvalidLayout',
      cause: err,
    });
  }
  if (record.schema !== DEFERRED_SCHEMA || record.digest !== digest || !Array.isArray(record.segments) || !['none', 'gzip-stored'].includes(record.encoding))
    throw new UserError(
      `The deferred blob record of ${digest} in the OCI layout '${layoutDir}' is not one this version understands (${DEFERRED_SCHEMA}): rebuild the image layout with this version of BundleModelImage.`,
      { code: 'InvalidLayout' },
    );
  return record;
}

const CHUNK = 16 * STRIDE; // ~1 MiB of output, whole stored blocks

/** Source files opened by one reading pass (a stream or a pull), closed when it ends. */
type OpenFiles = Map<string, Promise<FileHandle>>;

async function closeFiles(files: OpenFiles): Promise<void> {
  const handles = [...files.values()];
  files.clear();
  for (const h of handles) await (await h.catch(() => undefined))?.close();
}

interface Placed {
  start: number;
  end: number;
  seg: DeferredSegment;
  literal?: Buffer;
}

/**
 * Produces any byte range of a deferred blob from its source files and
 * verifies the whole blob, in order, against its digest.
 */
export class DeferredBlobReader {
  private readonly placed: Placed[] = [];
  private readonly hash: Hash = createHash('sha256');
  /** Blob bytes hashed so far: [0, next). */
  private next = 0;
  private result?: string;
  private checked?: Promise<void>;
  private readonly tail?: Buffer;

  constructor(
    readonly record: DeferredBlob,
    private readonly where = 'the OCI image layout',
  ) {
    assertDigest(record.digest);
    let pos = 0;
    for (const seg of record.segments) {
      const literal = 'bytes' in seg ? Buffer.from(seg.bytes, 'base64') : undefined;
      const len = 'bytes' in seg ? (literal as Buffer).length : 'zeros' in seg ? seg.zeros : seg.size;
      this.placed.push({ start: pos, end: pos + len, seg, literal });
      pos += len;
    }
    const expected = record.encoding === 'none' ? pos : storedGzipSize(pos);
    if (pos !== record.tarSize || expected !== record.size)
      throw new UserError(`The deferred blob record of ${record.digest} in ${where} is inconsistent (sizes do not add up): rebuild the image layout.`, {
        code: 'InvalidLayout',
      });
    if (record.encoding === 'gzip-stored') this.tail = gzipTail(record.crc32 ?? 0, record.tarSize);
  }

  get size(): number {
    return this.record.size;
  }

  /** The source files as recorded (paths the layer reads). */
  sources(): string[] {
    return this.record.segments.flatMap((s) => ('path' in s ? [s.path] : []));
  }

  /** Every source file still there with the size and mtime recorded; once. */
  check(): Promise<void> {
    this.checked ??= this.doCheck();
    return this.checked;
  }

  private async doCheck(): Promise<void> {
    for (const s of this.record.segments) {
      if (!('path' in s)) continue;
      const st = await fsp.stat(s.path).catch((err: NodeJS.ErrnoException) => {
        throw new UserError(
          `Layer ${this.record.digest} of ${this.where} is produced from '${s.path}', which cannot be read (${err.code ?? errorMessage(err)}): keep the model files in place until the image is pushed (same job), or set writeModelBlob on BundleModelImage to write the layer into the layout.`,
          { code: 'DeferredSourceMissing', cause: err },
        );
      });
      if (st.size !== s.size || Math.abs(st.mtimeMs - s.mtimeMs) >= 1)
        throw new UserError(
          `Layer ${this.record.digest} of ${this.where} is produced from '${s.path}', which changed since the image was built (size ${st.size}, was ${s.size}; modified ${new Date(st.mtimeMs).toISOString()}): run BundleModelImage again after the last change to the model.`,
          { code: 'FileChanged' },
        );
    }
  }

  /** Reads tar bytes [pos, pos + len) into buf at off (source files opened once per `files` map). */
  private async fillTar(buf: Buffer, off: number, pos: number, len: number, files: OpenFiles): Promise<void> {
    let lo = 0;
    let hi = this.placed.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.placed[mid].start <= pos) lo = mid;
      else hi = mid - 1;
    }
    for (let i = lo; len > 0 && i < this.placed.length; i++) {
      const p = this.placed[i];
      const from = pos - p.start;
      const n = Math.min(len, p.end - pos);
      if (n <= 0) continue;
      const seg = p.seg;
      if ('bytes' in seg) (p.literal as Buffer).copy(buf, off, from, from + n);
      else if ('zeros' in seg) buf.fill(0, off, off + n);
      else await this.readFile(files, seg.path, buf, off, from, n);
      off += n;
      pos += n;
      len -= n;
    }
  }

  private async readFile(files: OpenFiles, path: string, buf: Buffer, off: number, filePos: number, len: number): Promise<void> {
    let fh = files.get(path);
    if (!fh) {
      fh = fsp.open(path, 'r');
      files.set(path, fh);
    }
    const handle = await fh;
    while (len > 0) {
      const { bytesRead } = await handle.read(buf, off, len, filePos);
      if (bytesRead === 0)
        throw new UserError(`'${path}' became shorter while layer ${this.record.digest} was being read from it: run BundleModelImage again.`, {
          code: 'FileChanged',
        });
      off += bytesRead;
      filePos += bytesRead;
      len -= bytesRead;
    }
  }

  /** Blob bytes [pos, pos + len) (len at most about a MiB). */
  private async produce(pos: number, len: number, files: OpenFiles): Promise<Buffer> {
    const out = Buffer.allocUnsafe(len);
    await this.produceInto(out, pos, len, Buffer.allocUnsafe(len), files);
    return out;
  }

  /** Writes blob bytes [pos, pos + len) into out[0, len); `scratch` (at least len bytes) holds the tar bytes meanwhile. */
  private async produceInto(out: Buffer, pos: number, len: number, scratch: Buffer, files: OpenFiles): Promise<void> {
    if (this.record.encoding === 'none') {
      await this.fillTar(out, 0, pos, len, files);
      return;
    }
    const tail = this.tail as Buffer;
    const tailStart = this.size - TAIL;
    // The stored data this range covers is one contiguous run of the tar: read it once, then lay out around the block headers.
    const copies: { outOff: number; tarPos: number; n: number }[] = [];
    let o = 0;
    let p = pos;
    while (o < len) {
      if (p < GZIP_HEADER.length) {
        const n = Math.min(GZIP_HEADER.length - p, len - o);
        GZIP_HEADER.copy(out, o, p, p + n);
        o += n;
        p += n;
      } else if (p >= tailStart) {
        const n = Math.min(this.size - p, len - o);
        tail.copy(out, o, p - tailStart, p - tailStart + n);
        o += n;
        p += n;
      } else {
        const q = p - GZIP_HEADER.length;
        const k = Math.floor(q / STRIDE);
        const within = q % STRIDE;
        const blockLen = Math.min(STORED_BLOCK, this.record.tarSize - k * STORED_BLOCK);
        if (within < BLOCK_HEADER) {
          const h = blockHeader(blockLen);
          const n = Math.min(BLOCK_HEADER - within, len - o);
          h.copy(out, o, within, within + n);
          o += n;
          p += n;
        } else {
          const inBlock = within - BLOCK_HEADER;
          const n = Math.min(blockLen - inBlock, len - o);
          copies.push({ outOff: o, tarPos: k * STORED_BLOCK + inBlock, n });
          o += n;
          p += n;
        }
      }
    }
    if (copies.length) {
      const first = copies[0].tarPos;
      const last = copies[copies.length - 1];
      const total = last.tarPos + last.n - first;
      await this.fillTar(scratch, 0, first, total, files);
      for (const c of copies) scratch.copy(out, c.outOff, c.tarPos - first, c.tarPos - first + c.n);
    }
  }

  /**
   * Blob bytes [start, end] (inclusive) pulled into the caller's buffers
   * (the registry client's upload path: no garbage per piece). Verified like
   * {@link open}: the read that would return the last byte throws instead
   * when the digest does not match.
   */
  pull(start: number, end: number): { read(buf: Buffer): Promise<number>; close(): Promise<void> } {
    let pos = start;
    let scratch: Buffer | undefined;
    const files: OpenFiles = new Map();
    return {
      read: async (buf: Buffer) => {
        await this.check();
        if (pos > end) return 0;
        const n = Math.min(buf.length, end + 1 - pos);
        if (pos > this.next) await this.hashTo(pos, files);
        if (!scratch || scratch.length < n) scratch = Buffer.allocUnsafeSlow(n);
        await this.produceInto(buf, pos, n, scratch, files);
        const piece = buf.subarray(0, n);
        this.absorb(pos, piece);
        pos += n;
        if (pos === this.size) this.assertVerified();
        return n;
      },
      close: () => closeFiles(files),
    };
  }

  /** Hashes the part of [pos, pos + buf.length) that extends the verified prefix. */
  private absorb(pos: number, buf: Buffer): void {
    if (this.result || pos > this.next || pos + buf.length <= this.next) return;
    this.hash.update(buf.subarray(this.next - pos));
    this.next = pos + buf.length;
    if (this.next === this.size) this.result = digestOfHex(this.hash.digest('hex'));
  }

  /** Makes the verified prefix reach `pos` (reads what was skipped). */
  private async hashTo(pos: number, files: OpenFiles): Promise<void> {
    while (this.next < pos && !this.result) {
      const n = Math.min(CHUNK, pos - this.next);
      this.absorb(this.next, await this.produce(this.next, n, files));
    }
  }

  /** Throws unless the whole blob was read and hashes to its digest. */
  private assertVerified(): void {
    if (this.result !== this.record.digest)
      throw new ChecksumMismatchError(
        `Layer ${this.record.digest} of ${this.where}, produced from ${this.sources()
          .map((s) => `'${s}'`)
          .join(', ')}, hashes to ${this.result}: the files changed since the image was built; run BundleModelImage again.`,
      );
  }

  /** Reads (where needed) and verifies the whole blob; throws ChecksumMismatchError when it does not match. */
  async verify(): Promise<void> {
    await this.check();
    const files: OpenFiles = new Map();
    try {
      await this.hashTo(this.size, files);
    } finally {
      await closeFiles(files);
    }
    this.assertVerified();
  }

  /**
   * Blob bytes [start, end] (inclusive) as a stream. Bytes are hashed in
   * order as they are produced; a stream that includes the last byte
   * verifies the whole digest before yielding its final chunk.
   */
  open(start = 0, end = this.size - 1): Readable {
    return Readable.from(this.generate(start, end), { objectMode: false, highWaterMark: CHUNK });
  }

  private async *generate(start: number, end: number): AsyncGenerator<Buffer> {
    await this.check();
    const files: OpenFiles = new Map();
    try {
      for (let pos = start; pos <= end;) {
        const n = Math.min(CHUNK, end + 1 - pos);
        if (pos > this.next) await this.hashTo(pos, files);
        const buf = await this.produce(pos, n, files);
        this.absorb(pos, buf);
        pos += n;
        if (pos === this.size) this.assertVerified();
        yield buf;
      }
    } finally {
      await closeFiles(files);
    }
  }
}
