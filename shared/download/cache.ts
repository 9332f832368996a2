/**
 * Skip a download when the destination already holds the same model.
 *
 * After a successful fetch, a marker file (`.fetchmodel-cache.json`) is
 * written into the destination folder, recording the resolved remote objects
 * (key, ETag, version id, size, sha256) and the local files they became
 * (relative path, size, sha256). A later run that resolves to the SAME remote
 * objects calls {@link checkCache}: it is a hit only when
 *   1. the marker parses and has the same URI, version and layout,
 *   2. the same set of object keys with identical ETag / version id and size
 *      (an object with neither ETag nor version id never hits),
 *   3. every recorded local file exists as a regular file with its size, and
 *   4. every local file is unchanged since it was verified.
 * Decision for step 4 (what is trusted): right after a verified download the
 * marker records each file's size, mtime, ctime and inode. A file whose four
 * values are still the same is trusted without reading it: any write through
 * the file system changes mtime and ctime, a replaced file has another inode,
 * and ctime cannot be set back from user space (utimes sets mtime but moves
 * ctime to now). What this does not catch is a write below the file system
 * (raw device, another OS) or a clock set back to the exact nanosecond, which
 * is why `reverify` (FetchModel's `reverify` input) re-hashes every file in
 * full against its recorded sha256, as does a file whose values differ or
 * that has no recorded values (markers of older versions). The marker is
 * written atomically (temp + rename) after the model is in place, and removed
 * before a model is replaced.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../fs/atomic-write';

export const CACHE_MARKER = '.fetchmodel-cache.json';
const FORMAT = 1;

interface CachedObject {
  key: string;
  etag?: string;
  versionId?: string;
  size: number;
  /** Lower-case hex sha256 of the object's bytes. */
  sha256: string;
}

interface CachedFile {
  /** Path relative to the destination folder, `/` separators. */
  path: string;
  size: number;
  sha256: string;
  /** stat of the file right after it was verified (written by writeCacheMarker). */
  stamp?: { mtimeMs: number; ctimeMs: number; ino: number };
}

interface CacheMarker {
  format: number;
  /** modelUri output of the fetch. */
  uri: string;
  /** modelVersion output of the fetch. */
  version: string;
  /** How the objects were laid out locally (chosen by the caller, e.g. 'file', 'folder', 'extracted'). */
  layout: string;
  /** modelPath output, relative to the destination folder. */
  modelPath: string;
  /** modelSha256 output. */
  modelSha256: string;
  objects: CachedObject[];
  files: CachedFile[];
  fetchedAt: string;
}

interface ExpectedObject {
  key: string;
  etag?: string;
  versionId?: string;
  size: number;
}

export interface CacheQuery {
  uri: string;
  version: string;
  layout: string;
  objects: ExpectedObject[];
  /** Re-hash every file in full even when its size, times and inode are unchanged. */
  reverify?: boolean;
}

/** On a hit, `how` says how the local files were checked: `re-hashed` or the trusted-stat phrase. */
type CacheCheck = { hit: true; marker: CacheMarker; how: string } | { hit: false; reason: string };

export const TRUSTED_STAT = 'size, mtime, ctime and inode unchanged since it was verified';

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), h);
  return h.digest('hex');
}

function miss(reason: string): CacheCheck {
  return { hit: false, reason };
}

/** Is `dest` already holding exactly these objects, intact? */
export async function checkCache(dest: string, query: CacheQuery): Promise<CacheCheck> {
  let marker: CacheMarker;
  try {
    marker = JSON.parse(await readFile(join(dest, CACHE_MARKER), 'utf8')) as CacheMarker;
  } catch (err) {
    return miss((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no earlier download in the destination' : 'the cache marker is unreadable');
  }
  if (marker.format !== FORMAT || !Array.isArray(marker.objects) || !Array.isArray(marker.files)) return miss('the cache marker has an unknown format');
  if (marker.uri !== query.uri) return miss(`the destination holds ${marker.uri}`);
  if (marker.version !== query.version) return miss(`the destination holds version ${marker.version}`);
  if (marker.layout !== query.layout) return miss(`the destination holds a '${marker.layout}' layout, not '${query.layout}'`);
  if (marker.objects.length !== query.objects.length) return miss('the set of objects changed');
  const byKey = new Map(marker.objects.map((o) => [o.key, o]));
  for (const q of query.objects) {
    const m = byKey.get(q.key);
    if (!m) return miss(`${q.key} was not part of the earlier download`);
    if (q.etag === undefined && q.versionId === undefined) return miss(`${q.key} has neither an ETag nor a version id to compare`);
    if (m.size !== q.size || m.etag !== q.etag || m.versionId !== q.versionId) return miss(`${q.key} changed since the earlier download`);
  }
  let rehashed = 0;
  for (const f of marker.files) {
    if (typeof f.path !== 'string' || f.path.split('/').includes('..') || f.path.startsWith('/')) return miss('the cache marker is invalid');
    const p = join(dest, f.path);
    let unchanged = false;
    try {
      const s = await lstat(p);
      if (!s.isFile() || s.size !== f.size) return miss(`local file ${f.path} was modified`);
      unchanged = !!f.stamp && s.mtimeMs === f.stamp.mtimeMs && s.ctimeMs === f.stamp.ctimeMs && s.ino === f.stamp.ino;
    } catch {
      return miss(`local file ${f.path} is missing`);
    }
    if (unchanged && !query.reverify) continue;
    rehashed++;
    if ((await sha256File(p)) !== f.sha256) return miss(`local file ${f.path} no longer matches its sha256`);
  }
  return { hit: true, marker, how: rehashed > 0 ? 're-hashed' : TRUSTED_STAT };
}

/** Record what was fetched (atomically). */
export async function writeCacheMarker(dest: string, marker: Omit<CacheMarker, 'format' | 'fetchedAt'> & { fetchedAt?: string }): Promise<void> {
  const full: CacheMarker = { format: FORMAT, fetchedAt: marker.fetchedAt ?? new Date().toISOString(), ...marker } as CacheMarker;
  full.format = FORMAT;
  // The files as they are now, just verified and in place: what a later cheap check compares.
  full.files = await Promise.all(
    full.files.map(async (f) => {
      const s = await lstat(join(dest, f.path)).catch(() => undefined);
      return s?.isFile() && s.size === f.size ? { ...f, stamp: { mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino } } : f;
    }),
  );
  await writeFileAtomic(join(dest, CACHE_MARKER), `${JSON.stringify(full, null, 2)}\n`);
}

/** Forget the earlier download (call before replacing the model). */
export async function removeCacheMarker(dest: string): Promise<void> {
  await rm(join(dest, CACHE_MARKER), { force: true });
}
