/**
 * Streaming extraction of `.tar`, `.tar.gz`/`.tgz` (tar-stream + zlib) and
 * `.zip` (yauzl) model archives into a fresh folder, refusing anything that
 * could write or point outside it.
 *
 * Safety rules (a violation is a UserError naming the entry, and the whole
 * destination folder is removed):
 * - entry names are relative: no leading `/`, no drive letter (`C:`), no `..`
 *   segment (`\` counts as a separator), no NUL;
 * - symlinks must not be absolute and must resolve, lexically from their own
 *   folder, inside the destination. Symlinks are created only AFTER every
 *   other entry has been written, so no entry can ever be written through a
 *   symlink (the "symlink, then a file under it" trick); a symlink whose own
 *   folder passes through another symlink of the archive (`d -> .` then
 *   `d/d/d/x`) is refused, so every link is created where its name says; once
 *   all exist, each is resolved step by step through the real links on disk
 *   (dangling ones included: a missing component is taken literally) and
 *   must still land inside (this catches chains of individually harmless
 *   links that escape together, and dangling links that would escape once
 *   their target appears);
 * - hard links must name an earlier regular-file entry of the same archive;
 * - character/block devices, FIFOs and other special entries are skipped with
 *   a warning;
 * - file modes are normalised to 0644, or 0755 when any executable bit is set.
 *
 * Caps (over one: a UserError naming the cap and the `extractLimits` input,
 * and the destination folder is removed). Defaults, raised with the
 * FetchModel input `extractLimits` (`maxBytes=200GiB, maxEntries=2000000, maxRatio=500`):
 * - maxBytes = 64 GiB of extracted file bytes (hard links counted again):
 *   above the largest model archives seen in practice (a 30B-parameter model
 *   in fp16 is ~60 GB, and models that size ship as folders, not archives),
 *   below what a hosted agent's disk can hold;
 * - maxEntries = 1,000,000 entries of any type: model archives hold tens to
 *   thousands of files, while a million empty entries is how inode and
 *   time exhaustion bombs work;
 * - maxRatio = 200 (extracted bytes / archive bytes), applied once more than
 *   64 MiB has been extracted (small archives of text compress far more and
 *   are harmless): weights compress about 1.1:1 and tokenizers/text about
 *   4-10:1, while deflate reaches ~1000:1 on zeros, the signature of a bomb.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readlink, realpath, rm, stat, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yauzl from 'yauzl';
import { ensureDir } from '../fs/ensure-dir';
import { InputError, UserError, errorMessage, isUserError } from '../errors';
import { formatBytes } from '../format';
import type { Logger } from '../log';

type ArchiveFormat = 'tar' | 'tgz' | 'zip';

interface ExtractedFile {
  /** Relative path with `/` separators. */
  path: string;
  size: number;
  executable: boolean;
  /** Lower-case hex sha256 of the extracted bytes (computed while writing). */
  sha256: string;
}

export interface ExtractResult {
  files: ExtractedFile[];
  directories: number;
  symlinks: number;
  skipped: string[];
}

/** Caps on what one archive may expand to (see the module header for the defaults' reasons). */
export interface ExtractLimits {
  /** Extracted file bytes in total. */
  maxBytes: number;
  /** Entries of any type. */
  maxEntries: number;
  /** Extracted bytes divided by the archive file's size. */
  maxRatio: number;
  /** The ratio is held against the archive only once this many bytes were extracted (default 64 MiB). */
  ratioFloorBytes?: number;
}

export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = Object.freeze({ maxBytes: 64 * 1024 ** 3, maxEntries: 1_000_000, maxRatio: 200 });
const RATIO_FLOOR_BYTES = 64 * 1024 * 1024;

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/**
 * Parse the `extractLimits` input: `key=value` pairs separated by commas or
 * new lines, keys maxBytes (a size: 123, 500MiB, 200GiB, 1TiB; KB/MB/GB/TB
 * are powers of 1000), maxEntries (a whole number) and maxRatio (a number),
 * case-insensitive. Keys not given keep their defaults. InputError naming
 * `extractLimits` otherwise.
 */
export function parseExtractLimits(text: string | undefined): ExtractLimits {
  const limits: ExtractLimits = { ...DEFAULT_EXTRACT_LIMITS };
  const example = 'e.g. maxBytes=200GiB, maxEntries=2000000, maxRatio=500';
  for (const raw of (text ?? '').split(/[\n\r,;]+/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new InputError('extractLimits', `The extractLimits entry '${entry}' is not a key=value pair: ${example}.`);
    const key = entry.slice(0, eq).trim().toLowerCase();
    const value = entry.slice(eq + 1).trim();
    const bad = (what: string): never => {
      throw new InputError('extractLimits', `The extractLimits value '${entry}' is not valid: ${what}; ${example}.`);
    };
    if (key === 'maxbytes') {
      const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value);
      const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
      const n = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
      if (!Number.isFinite(n) || n <= 0) bad('maxBytes takes a size such as 500MiB, 200GiB or 1TiB');
      limits.maxBytes = n;
    } else if (key === 'maxentries') {
      if (!/^\d+$/.test(value) || Number(value) <= 0) bad('maxEntries takes a whole number above 0');
      limits.maxEntries = Number(value);
    } else if (key === 'maxratio') {
      const n = /^\d+(?:\.\d+)?$/.test(value) ? Number(value) : NaN;
      if (!(n > 0)) bad('maxRatio takes a number above 0');
      limits.maxRatio = n;
    } else {
      throw new InputError(
        'extractLimits',
        `The extractLimits key '${entry.slice(0, eq).trim()}' is not known: use maxBytes, maxEntries and maxRatio, ${example}.`,
      );
    }
  }
  return limits;
}

class ExtractLimitError extends UserError {
  constructor(archive: string, what: string, raise: string) {
    super(
      `The archive ${archive} ${what}; extraction stopped and nothing was kept: if the model really is this large, raise the limit with the extractLimits input (${raise}).`,
      {
        code: 'ExtractLimit',
        input: 'extractLimits',
      },
    );
    this.name = 'ExtractLimitError';
  }
}

/** Alias of {@link archiveFormatOf}. */
export function archiveKind(name: string): ArchiveFormat | undefined {
  return archiveFormatOf(name);
}

/** The archive format a file name implies, or undefined. */
export function archiveFormatOf(name: string): ArchiveFormat | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tgz';
  if (n.endsWith('.tar')) return 'tar';
  if (n.endsWith('.zip')) return 'zip';
  return undefined;
}

class UnsafeEntryError extends UserError {
  constructor(archive: string, entry: string, why: string) {
    super(
      `The archive ${archive} has an unsafe entry ${JSON.stringify(entry)} (${why}); nothing was extracted; rebuild the archive with relative paths that stay inside it.`,
      {
        code: 'UnsafeArchive',
      },
    );
    this.name = 'UnsafeEntryError';
  }
}

/** A safe relative path for an entry name (`/` separators, no `.` segments), or an error. */
export function safeEntryPath(archive: string, name: string): string {
  const why = unsafeReason(name);
  if (why) throw new UnsafeEntryError(archive, name, why);
  const parts = name
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  return parts.join('/');
}

function unsafeReason(name: string): string | undefined {
  if (name.includes('\0')) return 'NUL in the name';
  const n = name.replace(/\\/g, '/');
  if (n.startsWith('/')) return 'absolute path';
  if (/^[A-Za-z]:/.test(n)) return 'drive letter';
  if (n.split('/').includes('..')) return "'..' in the path";
  return undefined;
}

interface PendingSymlink {
  path: string;
  target: string;
  entry: string;
}

/** Bookkeeping shared by the tar and zip readers. */
class Extraction {
  readonly result: ExtractResult = { files: [], directories: 0, symlinks: 0, skipped: [] };
  private readonly regular = new Set<string>();
  private readonly symlinks: PendingSymlink[] = [];
  private readonly madeDirs = new Set<string>();
  private entries = 0;
  private bytes = 0;

  constructor(
    private readonly archive: string,
    private readonly root: string,
    private readonly limits: ExtractLimits,
    private readonly archiveSize: number,
    private readonly logger?: Logger,
  ) {}

  /** Count one entry of any type against maxEntries. */
  count(): void {
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new ExtractLimitError(this.archive, `has more than maxEntries=${this.limits.maxEntries} entries`, `e.g. maxEntries=${this.limits.maxEntries * 2}`);
    }
  }

  /** Count extracted bytes against maxBytes and maxRatio. */
  private grow(n: number): void {
    this.bytes += n;
    const { maxBytes, maxRatio } = this.limits;
    if (this.bytes > maxBytes) {
      throw new ExtractLimitError(
        this.archive,
        `expands to more than maxBytes=${formatBytes(maxBytes)}`,
        `e.g. maxBytes=${Math.ceil((maxBytes * 2) / 1024 ** 3)}GiB`,
      );
    }
    if (this.bytes > (this.limits.ratioFloorBytes ?? RATIO_FLOOR_BYTES) && this.bytes > maxRatio * this.archiveSize) {
      throw new ExtractLimitError(
        this.archive,
        `expands to more than maxRatio=${maxRatio} times its own size of ${formatBytes(this.archiveSize)}, like a compression bomb`,
        `e.g. maxRatio=${maxRatio * 5}`,
      );
    }
  }

  private async ensureDir(rel: string): Promise<void> {
    if (rel === '' || this.madeDirs.has(rel)) return;
    await mkdir(join(this.root, rel), { recursive: true, mode: 0o755 });
    this.madeDirs.add(rel);
  }

  async directory(name: string): Promise<void> {
    const rel = safeEntryPath(this.archive, name);
    await this.ensureDir(rel);
    this.result.directories++;
  }

  async file(name: string, body: AsyncIterable<Buffer>, mode: number): Promise<void> {
    const rel = safeEntryPath(this.archive, name);
    if (rel === '') throw new UnsafeEntryError(this.archive, name, 'empty file name');
    await this.ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
    const target = join(this.root, rel);
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isDirectory()) throw new UnsafeEntryError(this.archive, name, 'a file entry replaces a folder');
    const executable = (mode & 0o111) !== 0;
    const hash = createHash('sha256');
    let size = 0;
    const out = await open(target, 'w', 0o600);
    try {
      for await (const chunk of body) {
        this.grow(chunk.length);
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += (await out.write(chunk, off, chunk.length - off)).bytesWritten;
        size += chunk.length;
      }
    } finally {
      await out.close();
    }
    await chmod(target, executable ? 0o755 : 0o644);
    const sha256 = hash.digest('hex');
    const f = this.result.files.find((x) => x.path === rel);
    if (f) Object.assign(f, { size, executable, sha256 });
    else this.result.files.push({ path: rel, size, executable, sha256 });
    this.regular.add(rel);
  }

  async hardlink(name: string, linkname: string): Promise<void> {
    const rel = safeEntryPath(this.archive, name);
    const why = unsafeReason(linkname);
    if (why) throw new UnsafeEntryError(this.archive, name, `hard link target ${JSON.stringify(linkname)}: ${why}`);
    const targetRel = safeEntryPath(this.archive, linkname);
    if (!this.regular.has(targetRel))
      throw new UnsafeEntryError(this.archive, name, `hard link to ${JSON.stringify(linkname)}, which is not an earlier file of the archive`);
    await this.ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
    await rm(join(this.root, rel), { force: true });
    await link(join(this.root, targetRel), join(this.root, rel));
    const t = this.result.files.find((x) => x.path === targetRel) as ExtractedFile;
    this.grow(t.size);
    this.result.files.push({ ...t, path: rel });
    this.regular.add(rel);
  }

  symlink(name: string, target: string): void {
    const rel = safeEntryPath(this.archive, name);
    if (rel === '') throw new UnsafeEntryError(this.archive, name, 'empty symlink name');
    if (target === '' || target.includes('\0')) throw new UnsafeEntryError(this.archive, name, 'empty or invalid symlink target');
    const t = target.replace(/\\/g, '/');
    if (t.startsWith('/') || /^[A-Za-z]:/.test(t)) throw new UnsafeEntryError(this.archive, name, `symlink to the absolute path ${JSON.stringify(target)}`);
    const resolved = posix.normalize(posix.join(posix.dirname(rel), t));
    if (resolved === '..' || resolved.startsWith('../'))
      throw new UnsafeEntryError(this.archive, name, `symlink to ${JSON.stringify(target)} points outside the destination`);
    this.symlinks.push({ path: rel, target: t, entry: name });
  }

  skip(name: string, type: string): void {
    this.result.skipped.push(name);
    this.logger?.warn(`Skipped ${type} entry ${JSON.stringify(name)} of ${this.archive}: only files, folders and links are extracted.`);
  }

  /** Create the deferred symlinks, then check where each really resolves. */
  async finish(): Promise<void> {
    const links = new Set(this.symlinks.map((s) => s.path));
    for (const s of this.symlinks) {
      // Created where its name says: no folder of its path may itself be a link of the archive.
      const parts = s.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const through = parts.slice(0, i).join('/');
        if (links.has(through)) throw new UnsafeEntryError(this.archive, s.entry, `its folder passes through the symlink ${JSON.stringify(through)}`);
      }
    }
    for (const s of this.symlinks) {
      await this.ensureDir(posix.dirname(s.path) === '.' ? '' : posix.dirname(s.path));
      const at = join(this.root, s.path);
      if (await lstat(at).catch(() => undefined))
        throw new UnsafeEntryError(this.archive, s.entry, 'a symlink entry collides with a file or folder of the same name');
      await symlink(s.target, at);
      this.result.symlinks++;
    }
    const realRoot = await realpath(this.root);
    for (const s of this.symlinks) {
      let real: string;
      try {
        real = await followLinks(realRoot, s.path);
      } catch (err) {
        throw new UnsafeEntryError(this.archive, s.entry, `symlink cannot be resolved (${errorMessage(err)})`);
      }
      const r = relative(realRoot, real);
      if (r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r)) {
        throw new UnsafeEntryError(this.archive, s.entry, `symlink resolves outside the destination through other links`);
      }
    }
  }
}

/**
 * Where `rel` (below `start`) really leads, following every symlink on the
 * way like the kernel does, but taking components that do not exist
 * literally (so a dangling link is judged by where it would point once its
 * target appears). Throws on more than 40 links (a loop).
 */
async function followLinks(start: string, rel: string): Promise<string> {
  let cur = start;
  let parts = rel.split('/');
  let hops = 0;
  while (parts.length > 0) {
    const p = parts.shift() as string;
    if (p === '' || p === '.') continue;
    if (p === '..') {
      cur = dirname(cur);
      continue;
    }
    const next = join(cur, p);
    const st = await lstat(next).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      if (++hops > 40) throw new Error('too many levels of symbolic links');
      const target = await readlink(next);
      if (isAbsolute(target)) cur = '/';
      parts = [...target.split('/'), ...parts];
      continue;
    }
    cur = next;
  }
  return cur;
}

async function extractTar(file: string, gz: boolean, x: Extraction): Promise<void> {
  const ex = tar.extract();
  const src = createReadStream(file, { highWaterMark: 1024 * 1024 });
  const feeding = gz ? pipeline(src, createGunzip(), ex) : pipeline(src, ex);
  feeding.catch(() => undefined);
  try {
    for await (const item of ex) {
      // tar-stream 3 entries are streamx Readables: async-iterable chunks and resume().
      const entry = item as unknown as Readable & { header: tar.Header };
      const h = entry.header;
      const name = h.name;
      x.count();
      switch (h.type) {
        case 'file':
        case 'contiguous-file':
          await x.file(name, entry, h.mode ?? 0o644);
          break;
        case 'directory':
          await x.directory(name);
          entry.resume();
          break;
        case 'symlink':
          x.symlink(name, h.linkname ?? '');
          entry.resume();
          break;
        case 'link':
          await x.hardlink(name, h.linkname ?? '');
          entry.resume();
          break;
        default:
          x.skip(name, String(h.type));
          entry.resume();
      }
    }
    await feeding;
  } catch (err) {
    ex.destroy();
    src.destroy();
    throw err;
  }
}

function zipMode(entry: yauzl.Entry): number {
  const madeBy = entry.versionMadeBy >> 8;
  // 3 = Unix, 19 = macOS: the high 16 bits of the external attributes are st_mode.
  return madeBy === 3 || madeBy === 19 ? entry.externalFileAttributes >>> 16 : 0;
}

async function readAll(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) throw new Error('symlink target too long');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The next entry of a lazyEntries zip, or undefined at the end. */
function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: yauzl.Entry): void => {
      cleanup();
      resolve(e);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(undefined);
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

async function extractZip(file: string, x: Extraction, archive: string): Promise<void> {
  let zip: yauzl.ZipFile | undefined;
  try {
    zip = await yauzl.openPromise(file, { decodeStrings: false, validateEntrySizes: true, autoClose: true });
    for (;;) {
      const entry = await nextEntry(zip);
      if (!entry) break;
      const raw = entry.fileName as unknown as Buffer;
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false);
      const mode = zipMode(entry);
      const type = mode & 0o170000;
      x.count();
      if (name.endsWith('/') || type === 0o040000) await x.directory(name);
      else if (type === 0o120000) x.symlink(name, await readAll(await zip.openReadStreamPromise(entry), 4096));
      else if (type === 0 || type === 0o100000) await x.file(name, await zip.openReadStreamPromise(entry), mode);
      else x.skip(name, `special (mode ${type.toString(8)})`);
    }
  } catch (err) {
    if (!isUserError(err))
      throw new UserError(`The archive ${archive} is not a valid zip file (${errorMessage(err)}); check that the model was uploaded completely.`, {
        code: 'BadArchive',
        cause: err,
      });
    throw err;
  } finally {
    zip?.close();
  }
}

/**
 * Extract `archiveFile` into `destDir` (created; must not exist or be empty).
 * On any failure `destDir` is removed entirely. `displayName` names the
 * archive in messages (e.g. its URI).
 */
export async function extractArchive(
  archiveFile: string,
  destDir: string,
  options: { format?: ArchiveFormat; displayName?: string; logger?: Logger; limits?: ExtractLimits } = {},
): Promise<ExtractResult> {
  const display = options.displayName ?? archiveFile;
  const format = options.format ?? archiveFormatOf(archiveFile);
  if (!format)
    throw new UserError(`Cannot extract ${display}: only .tar, .tar.gz, .tgz and .zip archives are supported; turn off the 'extract' input for other files.`, {
      input: 'extract',
    });
  await ensureDir(destDir);
  try {
    const x = new Extraction(display, destDir, options.limits ?? DEFAULT_EXTRACT_LIMITS, (await stat(archiveFile)).size, options.logger);
    if (format === 'zip') await extractZip(archiveFile, x, display);
    else await extractTar(archiveFile, format === 'tgz', x);
    await x.finish();
    return x.result;
  } catch (err) {
    await rm(destDir, { recursive: true, force: true });
    if (isUserError(err)) throw err;
    throw new UserError(
      `Extracting ${display} failed (${errorMessage(err)}); check that the archive is a valid ${format === 'zip' ? 'zip' : format === 'tgz' ? 'gzip-compressed tar' : 'tar'} file.`,
      {
        code: 'BadArchive',
        cause: err,
      },
    );
  }
}
