/**
 * A model layer described without its bytes: the tar entries (path, type,
 * mode, size), the entries' mtime and the compression policy. Two layers with
 * the same recipe built from the same model bytes are byte-identical when the
 * encoding is deterministic: a plain tar (`none`) or a gzip of stored deflate
 * blocks (`gzip-stored`, written by oci/layer.ts without zlib). A real gzip
 * (`gzip`) depends on the zlib version, so such layers are never reused.
 */
import { createHash } from 'node:crypto';
import type { CompressionPolicy, LayerEncoding } from '../oci/layer';
import { singleFileEntries, tarSize, type TarEntry } from '../oci/tar';

export interface RecipeEntry {
  path: string;
  type: TarEntry['type'];
  mode: number;
  size: number;
  linkname?: string;
}

export interface LayerRecipe {
  entries: RecipeEntry[];
  mtime: number;
  compression: CompressionPolicy;
}

/** Encodings whose bytes depend only on the tar (the ones a layer may be reused with). */
export type ReusableEncoding = 'gzip-stored' | 'none';

export function isReusableEncoding(e: LayerEncoding | string): e is ReusableEncoding {
  return e === 'gzip-stored' || e === 'none';
}

export function recipeOf(entries: TarEntry[], mtime: number, compression: CompressionPolicy): LayerRecipe {
  return {
    entries: entries.map((e) => ({ path: e.path, type: e.type, mode: e.mode, size: e.size, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) })),
    mtime,
    compression,
  };
}

/** The recipe of one model file of `size` bytes named `fileName`, placed under `destination` in the image. */
export function singleFileRecipe(destination: string, fileName: string, size: number, mtime: number, compression: CompressionPolicy): LayerRecipe {
  return recipeOf(singleFileEntries(destination, fileName, size), mtime, compression);
}

/** Canonical text of a recipe (fixed key order): equal texts, equal tars. */
export function recipeText(r: LayerRecipe): string {
  return JSON.stringify({
    entries: r.entries.map((e) => [e.path, e.type, e.mode, e.size, e.linkname ?? '']),
    mtime: r.mtime,
    compression: r.compression,
  });
}

/** sha256 hex of the recipe's canonical text. */
export function recipeKey(r: LayerRecipe): string {
  return createHash('sha256').update(recipeText(r)).digest('hex');
}

/** Bytes of the uncompressed tar the recipe makes. */
export function recipeTarSize(r: LayerRecipe): number {
  return tarSize(
    r.entries.map((e) => ({ ...e })),
    r.mtime,
  );
}

const STORED_BLOCK = 65535;

/**
 * Size of the stored blob for a deterministic encoding: a plain tar is its
 * own size; a stored gzip adds a 10-byte header, 5 bytes per stored block of
 * up to 65535 bytes, an empty final block (5) and the trailer (8).
 */
export function expectedBlobSize(r: LayerRecipe, encoding: ReusableEncoding): number {
  const t = recipeTarSize(r);
  if (encoding === 'none') return t;
  return 10 + t + 5 * Math.ceil(t / STORED_BLOCK) + 13;
}

/** A recipe read back from JSON, or undefined when it is not one. */
export function parseRecipe(value: unknown): LayerRecipe | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!Array.isArray(v.entries) || typeof v.mtime !== 'number' || !['auto', 'gzip', 'none'].includes(String(v.compression))) return undefined;
  const entries: RecipeEntry[] = [];
  for (const raw of v.entries as unknown[]) {
    if (typeof raw !== 'object' || raw === null) return undefined;
    const e = raw as Record<string, unknown>;
    if (typeof e.path !== 'string' || !['file', 'dir', 'symlink'].includes(String(e.type)) || typeof e.mode !== 'number' || typeof e.size !== 'number')
      return undefined;
    entries.push({
      path: e.path,
      type: e.type as RecipeEntry['type'],
      mode: e.mode,
      size: e.size,
      ...(typeof e.linkname === 'string' ? { linkname: e.linkname } : {}),
    });
  }
  return { entries, mtime: v.mtime, compression: v.compression as CompressionPolicy };
}
