/**
 * The model layer cache of a warm agent: a model layer already built on this
 * agent is linked into the new layout instead of being built again. Keyed by
 * the model's sha256 (from FetchModel's record, trusted only while the model
 * file's size, times and inode are those recorded at verification), the
 * layer recipe (place in the image, mode, mtime, compression policy) and the
 * zlib version (a `gzip` layer depends on it).
 *
 * An entry is `<key>.json` (descriptor, diff_id, encoding) and `<key>.blob`,
 * a hard link to the blob (a copy across file systems). The blob is trusted
 * while its size, mtime and inode are those recorded (ctime is not used: every
 * link and unlink of the blob moves it); a registry recomputes the digest of
 * every blob it receives, so a damaged cached blob fails a push instead of
 * passing. The `maxEntries` most recently used entries are kept.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isSha256Hex } from '../digest';
import { writeFileAtomic } from '../fs/atomic-write';
import { ensureDir } from '../fs/ensure-dir';
import type { DeferredBlob } from '../oci/deferred';
import type { LayerEncoding } from '../oci/layer';
import { recipeText, type LayerRecipe } from './recipe';

export const DEFAULT_LAYER_CACHE_ENTRIES = 2;
const FORMAT = 1;

export interface CachedLayer {
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
  encoding: LayerEncoding;
}

/** A deferred layer (shared/oci/deferred.ts) without its segments: those are the files of the build that uses it. */
export type CachedDeferredLayer = Omit<DeferredBlob, 'schema' | 'segments'>;

interface Entry {
  format: number;
  modelSha256: string;
  recipe: string;
  layer: CachedLayer;
  stamp: { size: number; mtimeMs: number; ino: number };
  usedAt: number;
}

interface DeferredEntry {
  format: number;
  modelSha256: string;
  recipe: string;
  deferred: CachedDeferredLayer;
  usedAt: number;
}

export type CacheLookup = { hit: CachedLayer; reason?: undefined } | { hit?: undefined; reason: string };

async function linkOrCopy(from: string, to: string): Promise<void> {
  await fsp.rm(to, { force: true });
  try {
    await fsp.link(from, to);
  } catch {
    const tmp = `${to}.tmp-${process.pid}`;
    await fsp.copyFile(from, tmp);
    await fsp.rename(tmp, to);
  }
}

export class LayerCache {
  constructor(
    readonly dir: string,
    private readonly maxEntries = DEFAULT_LAYER_CACHE_ENTRIES,
  ) {}

  static key(modelSha256: string, recipe: LayerRecipe): string {
    return createHash('sha256')
      .update(`${modelSha256}\n${recipeText(recipe)}\nzlib ${process.versions.zlib ?? ''}`)
      .digest('hex');
  }

  private paths(key: string): { json: string; blob: string; deferred: string } {
    return { json: join(this.dir, `${key}.json`), blob: join(this.dir, `${key}.blob`), deferred: join(this.dir, `${key}.deferred.json`) };
  }

  /**
   * The descriptor of a deferred layer of this model and recipe built on this
   * agent, or undefined. Trusted as the caller trusts the model file (its
   * sha256, from FetchModel's record and an unchanged stat): the same bytes in
   * the same recipe give the same layer; the push verifies the digest while it
   * produces the blob.
   */
  async takeDeferred(key: string, modelSha256: string, recipe: LayerRecipe): Promise<CachedDeferredLayer | undefined> {
    const p = this.paths(key);
    let entry: DeferredEntry;
    try {
      entry = JSON.parse(await fsp.readFile(p.deferred, 'utf8')) as DeferredEntry;
    } catch {
      return undefined;
    }
    const d = entry.deferred;
    if (entry.format !== FORMAT || entry.modelSha256 !== modelSha256 || entry.recipe !== recipeText(recipe)) return undefined;
    if (typeof d?.digest !== 'string' || !d.digest.startsWith('sha256:') || !isSha256Hex(d.digest.slice(7))) return undefined;
    if (!d.diffId?.startsWith('sha256:') || !isSha256Hex(d.diffId.slice(7)) || !(d.size > 0) || !(d.tarSize > 0)) return undefined;
    if (d.encoding !== 'none' && d.encoding !== 'gzip-stored') return undefined;
    if (d.encoding === 'gzip-stored' && typeof d.crc32 !== 'number') return undefined;
    entry.usedAt = Date.now();
    await writeFileAtomic(p.deferred, JSON.stringify(entry)).catch(() => undefined);
    return d;
  }

  /** Keeps the descriptor of a deferred layer for later builds; never fails the build. */
  async putDeferred(key: string, modelSha256: string, recipe: LayerRecipe, layer: CachedDeferredLayer): Promise<string | undefined> {
    try {
      await ensureDir(this.dir);
      const entry: DeferredEntry = { format: FORMAT, modelSha256, recipe: recipeText(recipe), deferred: layer, usedAt: Date.now() };
      await writeFileAtomic(this.paths(key).deferred, JSON.stringify(entry));
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** A cached layer for the key, linked to `target` (the blob path in the new layout), or why not. */
  async take(key: string, modelSha256: string, recipe: LayerRecipe, target: string): Promise<CacheLookup> {
    const p = this.paths(key);
    let entry: Entry;
    try {
      entry = JSON.parse(await fsp.readFile(p.json, 'utf8')) as Entry;
    } catch {
      return { reason: 'no layer of this model and recipe is cached on this agent' };
    }
    if (entry.format !== FORMAT || entry.modelSha256 !== modelSha256 || entry.recipe !== recipeText(recipe))
      return { reason: 'the cache entry is for another layer' };
    const d = entry.layer?.digest;
    if (typeof d !== 'string' || !d.startsWith('sha256:') || !isSha256Hex(d.slice(7))) return { reason: 'the cache entry is invalid' };
    const st = await fsp.lstat(p.blob).catch(() => undefined);
    if (!st?.isFile() || st.size !== entry.stamp.size || st.mtimeMs !== entry.stamp.mtimeMs || st.ino !== entry.stamp.ino || st.size !== entry.layer.size)
      return { reason: 'the cached blob changed since it was cached' };
    await linkOrCopy(p.blob, target);
    entry.usedAt = Date.now();
    await writeFileAtomic(p.json, JSON.stringify(entry)).catch(() => undefined);
    return { hit: entry.layer };
  }

  /** Keeps the layer just written at `blob` (in the layout) for later builds; never fails the build. */
  async put(key: string, modelSha256: string, recipe: LayerRecipe, layer: CachedLayer, blob: string): Promise<string | undefined> {
    try {
      await ensureDir(this.dir);
      const p = this.paths(key);
      await linkOrCopy(blob, p.blob);
      const st = await fsp.lstat(p.blob);
      const entry: Entry = {
        format: FORMAT,
        modelSha256,
        recipe: recipeText(recipe),
        layer,
        stamp: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino },
        usedAt: Date.now(),
      };
      await writeFileAtomic(p.json, JSON.stringify(entry));
      await this.evict(key);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async evict(keep: string): Promise<void> {
    const names = (await fsp.readdir(this.dir)).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
    const entries = await Promise.all(
      names.map(async (n) => {
        const used = await fsp
          .readFile(join(this.dir, n), 'utf8')
          .then((t) => (JSON.parse(t) as Entry).usedAt ?? 0)
          .catch(() => 0);
        return { key: n.slice(0, 64), used };
      }),
    );
    entries.sort((a, b) => b.used - a.used);
    for (const e of entries.slice(this.maxEntries)) {
      if (e.key === keep) continue;
      const p = this.paths(e.key);
      await fsp.rm(p.json, { force: true });
      await fsp.rm(p.blob, { force: true });
    }
  }
}
