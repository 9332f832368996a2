/**
 * Reproducible tar writer for image layers. Given the same files it writes the
 * same bytes on any machine: entries sorted by path, every parent folder
 * written explicitly, a fixed mtime (SOURCE_DATE_EPOCH or 0), uid/gid 0, empty
 * user/group names, modes normalised to 0644/0755 (the executable bit is
 * kept), folders 0755. PAX extended headers carry names that do not fit ustar,
 * non-ASCII names and sizes of 8 GiB or more. File content is streamed.
 */
import { createReadStream, promises as fsp, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { NotFoundError, UserError } from '../errors';
import { IgnoreMatcher, type MatchInfo } from './dockerignore';

type EntryType = 'file' | 'dir' | 'symlink';

export interface TarEntry {
  /** Path inside the archive, slash-separated, no leading slash, no trailing slash (e.g. `models/model.bin`). */
  path: string;
  type: EntryType;
  /** Permission bits (normalised already when collected). */
  mode: number;
  /** Bytes of content (files only). */
  size: number;
  /** File on disk with the content (files only). */
  source?: string;
  /** Link target (symlinks only). */
  linkname?: string;
}

export const BLOCK = 512;
/** Largest size an ustar header holds in 11 octal digits. */
export const USTAR_MAX_SIZE = 0o77777777777;

export function defaultMtime(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SOURCE_DATE_EPOCH?.trim();
  if (raw && /^\d+$/.test(raw)) return Number(raw);
  return 0;
}

function normalizeMode(type: EntryType, mode: number): number {
  if (type === 'dir') return 0o755;
  if (type === 'symlink') return 0o777;
  return mode & 0o111 ? 0o755 : 0o644;
}

// ------------------------------------------------------------- headers

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

function writeString(buf: Buffer, s: string, offset: number, length: number): void {
  buf.write(s, offset, length, 'utf8');
}

function writeOctal(buf: Buffer, value: number, offset: number, length: number): void {
  // length-1 octal digits followed by NUL, zero padded.
  const s = Math.floor(value)
    .toString(8)
    .padStart(length - 1, '0');
  buf.write(s.slice(-(length - 1)), offset, length - 1, 'ascii');
  buf[offset + length - 1] = 0;
}

/** Splits `name` into ustar prefix (<=155) and name (<=100) at a slash, when possible. */
export function splitUstarName(name: string): { prefix: string; name: string } | undefined {
  if (!isAscii(name)) return undefined;
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, name: rest };
  }
  return undefined;
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, 'utf8');
}

interface HeaderFields {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
}

function ustarHeader(f: HeaderFields): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  writeString(h, f.name, 0, 100);
  writeOctal(h, f.mode, 100, 8);
  writeOctal(h, 0, 108, 8); // uid
  writeOctal(h, 0, 116, 8); // gid
  writeOctal(h, f.size > USTAR_MAX_SIZE ? 0 : f.size, 124, 12);
  writeOctal(h, f.mtime, 136, 12);
  h.fill(0x20, 148, 156); // checksum placeholder: spaces
  h.write(f.typeflag, 156, 1, 'ascii');
  writeString(h, f.linkname, 157, 100);
  h.write('ustar\u0000', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  // uname/gname (265, 297) stay empty; devmajor/devminor 0.
  writeOctal(h, 0, 329, 8);
  writeOctal(h, 0, 337, 8);
  writeString(h, f.prefix, 345, 155);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The header block(s) of one entry: an optional PAX `x` header plus the ustar header. */
export function encodeHeader(entry: TarEntry, mtime: number): Buffer {
  const archiveName = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  const typeflag = entry.type === 'dir' ? '5' : entry.type === 'symlink' ? '2' : '0';
  const size = entry.type === 'file' ? entry.size : 0;
  const linkname = entry.linkname ?? '';
  const pax: Buffer[] = [];
  let split = splitUstarName(archiveName);
  if (!split) {
    pax.push(paxRecord('path', archiveName));
    // A readable ASCII fallback name for tools without PAX support.
    const fallback = Buffer.from(archiveName.replace(/[^\x20-\x7e]/g, '_'))
      .subarray(0, 99)
      .toString('ascii');
    split = { prefix: '', name: fallback };
  }
  let ustarLink = linkname;
  if (linkname && (!isAscii(linkname) || Buffer.byteLength(linkname) > 100)) {
    pax.push(paxRecord('linkpath', linkname));
    ustarLink = linkname.replace(/[^\x20-\x7e]/g, '_').slice(0, 100);
  }
  if (size > USTAR_MAX_SIZE) pax.push(paxRecord('size', String(size)));
  const main = ustarHeader({ name: split.name, prefix: split.prefix, mode: entry.mode, size, mtime, typeflag, linkname: ustarLink });
  if (pax.length === 0) return main;
  const body = Buffer.concat(pax);
  const base = posix.basename(entry.path);
  const paxName = `PaxHeaders.0/${Buffer.from(base.replace(/[^\x20-\x7e]/g, '_'))
    .subarray(0, 80)
    .toString('ascii')}`;
  const xh = ustarHeader({ name: paxName, prefix: '', mode: 0o644, size: body.length, mtime, typeflag: 'x', linkname: '' });
  return Buffer.concat([xh, body, Buffer.alloc(padding(body.length)), main]);
}

/** Exact byte length of the archive `entries` make (for progress totals). */
export function tarSize(entries: TarEntry[], mtime = 0): number {
  let total = 2 * BLOCK;
  for (const e of entries) {
    total += encodeHeader(e, mtime).length;
    if (e.type === 'file') total += e.size + padding(e.size);
  }
  return total;
}

// ------------------------------------------------------------- collecting files

export interface TreeSource {
  /** File or folder on disk. */
  hostPath: string;
  /** Absolute destination inside the image. A folder's content goes under it; a file goes to `destination/basename` unless `fileDestination` is set. */
  destination: string;
  /** For a single file: its exact path inside the image. */
  fileDestination?: string;
  /** `.dockerignore`-style exclusion patterns, relative to `hostPath`. */
  ignore?: IgnoreMatcher;
  /** Input name used in error messages. */
  input?: string;
}

function cleanDestination(dest: string, input?: string): string {
  const normalized = posix.normalize(`/${dest.replace(/\\/g, '/')}`);
  const parts = normalized.split('/').filter((s) => s.length > 0);
  if (parts.some((p) => p === '..')) throw new UserError(`Destination '${dest}' must not contain '..'.`, { code: 'InvalidInput', input });
  return parts.join('/');
}

function addParents(map: Map<string, TarEntry>, path: string): void {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (!map.has(p)) map.set(p, { path: p, type: 'dir', mode: 0o755, size: 0 });
  }
}

/**
 * The entries a single file of `size` bytes named `fileName` makes when placed
 * under `destination` (as {@link collectEntries} lists them; mode 0644), for
 * describing a layer without the file on disk (shared/reuse).
 */
export function singleFileEntries(destination: string, fileName: string, size: number, mode = 0o644): TarEntry[] {
  const path = [cleanDestination(destination), fileName].filter((s) => s).join('/');
  const map = new Map<string, TarEntry>();
  addParents(map, path);
  map.set(path, { path, type: 'file', mode: normalizeMode('file', mode), size });
  return sortEntries([...map.values()]);
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  // Outside means `..` as the first segment (a name like `..data` is inside).
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel) && !/^[A-Za-z]:/.test(rel));
}

async function checkLink(root: string, hostPath: string, archivePath: string, input?: string): Promise<string> {
  const target = await fsp.readlink(hostPath);
  if (posix.isAbsolute(target) || /^[A-Za-z]:[\\/]/.test(target)) {
    throw new UserError(
      `Symbolic link '${hostPath}' points to the absolute path '${target}', outside the folder given in '${input ?? 'the input'}': replace it with a relative link inside the folder or a copy of the file.`,
      { code: 'SymlinkEscape', input },
    );
  }
  if (!isInside(root, resolve(dirname(hostPath), target))) {
    throw new UserError(
      `Symbolic link '${hostPath}' (${archivePath}) points to '${target}', outside the folder given in '${input ?? 'the input'}': replace it with a link inside the folder or a copy of the file.`,
      { code: 'SymlinkEscape', input },
    );
  }
  return target.replace(/\\/g, '/');
}

function fileEntry(path: string, st: Stats, source: string): TarEntry {
  return { path, type: 'file', mode: normalizeMode('file', st.mode), size: st.size, source };
}

/**
 * Walks the sources and returns the sorted entry list (parents explicit).
 * Later sources win on the same path.
 */
export async function collectEntries(sources: TreeSource[]): Promise<TarEntry[]> {
  const map = new Map<string, TarEntry>();
  for (const src of sources) {
    const dest = cleanDestination(src.destination, src.input);
    let st: Stats;
    try {
      st = await fsp.stat(src.hostPath);
    } catch (err) {
      throw new NotFoundError(
        `'${src.hostPath}' given in '${src.input ?? 'the input'}' does not exist or cannot be read: check the path (and that the step producing it ran).`,
        { input: src.input, cause: err },
      );
    }
    if (st.isFile()) {
      const path = src.fileDestination
        ? cleanDestination(src.fileDestination, src.input)
        : [dest, posix.basename(src.hostPath.replace(/\\/g, '/'))].filter((s) => s).join('/');
      addParents(map, path);
      map.set(path, fileEntry(path, st, src.hostPath));
      continue;
    }
    if (!st.isDirectory())
      throw new UserError(`'${src.hostPath}' given in '${src.input ?? 'the input'}' is neither a file nor a folder.`, {
        code: 'InvalidInput',
        input: src.input,
      });
    const root = await fsp.realpath(src.hostPath);
    if (dest) {
      addParents(map, dest);
      map.set(dest, { path: dest, type: 'dir', mode: 0o755, size: 0 });
    }
    const ignore = src.ignore;
    // The builder's walk (fsutil, as `docker build` does it): each folder hands its per-pattern
    // results to its children (MatchesUsingParentResults); an excluded folder is walked only
    // when an exception could re-include something inside it; its entry then comes from
    // addParents when something inside is kept.
    const walk = async (hostDir: string, rel: string, parentInfo?: MatchInfo): Promise<void> => {
      const names = (await fsp.readdir(hostDir)).sort();
      for (const name of names) {
        const relPath = rel ? `${rel}/${name}` : name;
        const hostPath = join(hostDir, name);
        const archivePath = dest ? `${dest}/${relPath}` : relPath;
        const lst = await fsp.lstat(hostPath);
        const result = ignore?.matchUsingParent(relPath, parentInfo);
        const excluded = result?.excluded ?? false;
        if (lst.isDirectory()) {
          if (excluded && ignore?.canSkipExcludedDir(relPath)) continue;
          if (!excluded) {
            addParents(map, archivePath);
            map.set(archivePath, { path: archivePath, type: 'dir', mode: 0o755, size: 0 });
          }
          await walk(hostPath, relPath, result?.info);
          continue;
        }
        if (excluded) continue;
        if (lst.isSymbolicLink()) {
          const linkname = await checkLink(root, join(root, relPath), archivePath, src.input);
          addParents(map, archivePath);
          map.set(archivePath, { path: archivePath, type: 'symlink', mode: 0o777, size: 0, linkname });
        } else if (lst.isFile()) {
          addParents(map, archivePath);
          map.set(archivePath, fileEntry(archivePath, lst, hostPath));
        }
        // Sockets, FIFOs and devices are not image content: skipped.
      }
    };
    await walk(src.hostPath, '');
  }
  return sortEntries([...map.values()]);
}

/** Byte-wise order of the UTF-8 paths (parents come before their children). */
function sortEntries(entries: TarEntry[]): TarEntry[] {
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.path, 'utf8'), Buffer.from(b.path, 'utf8')));
}

// ------------------------------------------------------------- streaming

export interface TarStreamOptions {
  mtime?: number;
  /** Read buffer per file (default 1 MiB). */
  chunkSize?: number;
}

/** Streams the archive of `entries` (already sorted). Errors if a file changes size while being read. */
export function tarStream(entries: TarEntry[], options: TarStreamOptions = {}): Readable {
  const mtime = options.mtime ?? defaultMtime();
  const chunkSize = options.chunkSize ?? 1 << 20;
  async function* generate(): AsyncGenerator<Buffer> {
    for (const entry of entries) {
      yield encodeHeader(entry, mtime);
      if (entry.type !== 'file' || entry.size === 0) continue;
      let read = 0;
      const file = createReadStream(entry.source as string, { highWaterMark: chunkSize });
      for await (const chunk of file as AsyncIterable<Buffer>) {
        read += chunk.length;
        if (read > entry.size) break;
        yield chunk;
      }
      file.destroy();
      if (read !== entry.size) {
        throw new UserError(
          `File '${entry.source}' changed size while it was being packed (expected ${entry.size} bytes): make sure nothing writes to it during the build.`,
          { code: 'FileChanged' },
        );
      }
      const pad = padding(entry.size);
      if (pad) yield Buffer.alloc(pad);
    }
    yield Buffer.alloc(2 * BLOCK);
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: chunkSize });
}
