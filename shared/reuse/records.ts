/**
 * The two small files that carry a model's identity from task to task:
 *
 * - `.fetchmodel-model.json` in FetchModel's destination: which model file
 *   FetchModel placed there (name, sha256, strong identity, and the file's
 *   size, mtime, ctime and inode right after it was verified), or, when no
 *   byte was downloaded, the layer in the registry that holds it.
 *   BundleModelImage reads it next to its modelPath.
 * - `model-layer.json` in the OCI layout BundleModelImage writes: the model
 *   layer's recipe, digest and diff_id with the identity of the model it was
 *   built from, and, when its blob is not in the layout, the registry
 *   repository that holds it. PushToACR reads it to skip that blob and to
 *   record the model -> layer mapping in the registry.
 */
import { lstat, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isSha256Hex } from '../digest';
import { writeFileAtomic } from '../fs/atomic-write';
import { parseRecipe, type LayerRecipe, type ReusableEncoding } from './recipe';

export const MODEL_RECORD = '.fetchmodel-model.json';
export const LAYER_SIDECAR = 'model-layer.json';
const FORMAT = 1;

/** What stat says of a file, compared to decide whether it changed since it was verified. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface ReusedLayer {
  digest: string;
  size: number;
  diffId: string;
  encoding: ReusableEncoding;
}

export interface ModelRecord {
  format: number;
  /** File name of the model inside the destination (modelPath's last segment). */
  name: string;
  modelUri: string;
  modelVersion: string;
  /** Lower-case hex. */
  modelSha256: string;
  size: number;
  /** The model's strong identity (shared/reuse/identity.ts), when it has one. */
  identity?: string;
  /** How the bytes were verified (or that they were hashed on arrival). */
  verifiedBy: string;
  /** The file as it was right after verification (absent when it was not downloaded). */
  local?: FileStamp;
  /** Set when FetchModel downloaded nothing: the layer in the registry holding these bytes. */
  reused?: { registry: string; repository: string; recipe: LayerRecipe; layer: ReusedLayer };
}

export interface LayerSidecar {
  format: number;
  identity: string;
  recipe: LayerRecipe;
  modelSha256: string;
  verifiedBy: string;
  layer: ReusedLayer & { mediaType: string };
  /** Set when the layer's blob is not in the layout: the registry repository holding it. */
  remote?: { registry: string; repository: string };
}

export async function stampOf(path: string): Promise<FileStamp | undefined> {
  try {
    const s = await lstat(path);
    if (!s.isFile()) return undefined;
    return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino };
  } catch {
    return undefined;
  }
}

export function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return !!a && !!b && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

const isDigest = (d: unknown): d is string => typeof d === 'string' && d.startsWith('sha256:') && isSha256Hex(d.slice(7));

function parseLayer(v: unknown): ReusedLayer | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const l = v as Record<string, unknown>;
  if (!isDigest(l.digest) || !isDigest(l.diffId) || typeof l.size !== 'number' || (l.encoding !== 'gzip-stored' && l.encoding !== 'none')) return undefined;
  return { digest: l.digest, diffId: l.diffId, size: l.size, encoding: l.encoding };
}

export async function writeModelRecord(destination: string, record: Omit<ModelRecord, 'format'>): Promise<void> {
  await writeFileAtomic(join(destination, MODEL_RECORD), `${JSON.stringify({ format: FORMAT, ...record }, null, 2)}\n`);
}

export async function removeModelRecord(destination: string): Promise<void> {
  await rm(join(destination, MODEL_RECORD), { force: true });
}

/** The record FetchModel left next to `modelPath` for that very file, when there is a valid one. */
export async function readModelRecord(modelPath: string): Promise<ModelRecord | undefined> {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(await readFile(join(dirname(modelPath), MODEL_RECORD), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (v.format !== FORMAT || v.name !== basename(modelPath) || typeof v.modelSha256 !== 'string' || !isSha256Hex(v.modelSha256)) return undefined;
  if (typeof v.size !== 'number' || typeof v.modelUri !== 'string' || typeof v.modelVersion !== 'string') return undefined;
  const record: ModelRecord = {
    format: FORMAT,
    name: v.name,
    modelUri: v.modelUri,
    modelVersion: v.modelVersion,
    modelSha256: v.modelSha256,
    size: v.size,
    identity: typeof v.identity === 'string' ? v.identity : undefined,
    verifiedBy: typeof v.verifiedBy === 'string' ? v.verifiedBy : 'unknown',
    local: v.local as FileStamp | undefined,
  };
  if (v.reused !== undefined) {
    const r = v.reused as Record<string, unknown>;
    const recipe = parseRecipe(r.recipe);
    const layer = parseLayer(r.layer);
    if (!recipe || !layer || typeof r.registry !== 'string' || typeof r.repository !== 'string') return undefined;
    record.reused = { registry: r.registry, repository: r.repository, recipe, layer };
  }
  return record;
}

export async function writeLayerSidecar(layoutDir: string, sidecar: Omit<LayerSidecar, 'format'>): Promise<void> {
  await writeFileAtomic(join(layoutDir, LAYER_SIDECAR), `${JSON.stringify({ format: FORMAT, ...sidecar }, null, 2)}\n`);
}

/** The layout's model layer record, when it has a valid one. */
export async function readLayerSidecar(layoutDir: string): Promise<LayerSidecar | undefined> {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(await readFile(join(layoutDir, LAYER_SIDECAR), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const recipe = parseRecipe(v.recipe);
  const layer = parseLayer(v.layer);
  const mediaType = (v.layer as Record<string, unknown> | undefined)?.mediaType;
  if (v.format !== FORMAT || !recipe || !layer || typeof mediaType !== 'string' || typeof v.identity !== 'string') return undefined;
  if (typeof v.modelSha256 !== 'string' || !isSha256Hex(v.modelSha256)) return undefined;
  const remote = v.remote as { registry?: unknown; repository?: unknown } | undefined;
  return {
    format: FORMAT,
    identity: v.identity,
    recipe,
    modelSha256: v.modelSha256,
    verifiedBy: typeof v.verifiedBy === 'string' ? v.verifiedBy : 'unknown',
    layer: { ...layer, mediaType },
    ...(remote && typeof remote.registry === 'string' && typeof remote.repository === 'string'
      ? { remote: { registry: remote.registry, repository: remote.repository } }
      : {}),
  };
}
