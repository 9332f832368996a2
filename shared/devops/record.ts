/**
 * What the tasks record on a pipeline run so a later run or a classic release
 * can find it: the pushed image (reference by digest, tags, the model inside)
 * and the fetched model. Pure data: parsing, naming, comparing, and the record
 * file written into the artifact staging directory.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError, errorMessage } from '../errors';
import { ensureDir, writeFileAtomic } from '../fs';

/** The record file PushToACR writes into the artifact staging directory (published with the artifact). */
export const RECORD_FILE = 'modeltoaks-image.json';

/** Build property names (a build's properties are a name -> value map). */
export const RunProperty = {
  Image: 'ModelToAks.Image',
  Model: 'ModelToAks.Model',
} as const;

/** The model's identity, as FetchModel resolved it or as the image's annotations carry it. */
export interface ModelIdentity {
  uri?: string;
  version?: string;
  sha256?: string;
}

/** What PushToACR pushed. */
export interface ImageRecord {
  /** registry/repository@sha256:... */
  imageRef: string;
  digest: string;
  tags: string[];
  model: ModelIdentity;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A model identity from parsed JSON; unknown fields ignored, non-strings dropped. */
export function modelIdentityOf(v: unknown): ModelIdentity {
  if (!v || typeof v !== 'object') return {};
  const o = v as Record<string, unknown>;
  const m: ModelIdentity = {};
  const uri = optionalString(o.uri);
  const version = optionalString(o.version);
  const sha256 = optionalString(o.sha256);
  if (uri) m.uri = uri;
  if (version) m.version = version;
  if (sha256) m.sha256 = sha256;
  return m;
}

/** Parses an image record (a file's or a build property's text); `source` names where it came from for the error. */
export function parseImageRecord(text: string, source: string): ImageRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UserError(`The image record in ${source} is not valid JSON (${errorMessage(err)}): re-run the build that pushed the image.`, {
      code: 'InvalidRecord',
      cause: err,
    });
  }
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const imageRef = optionalString(o.imageRef);
  const digest = optionalString(o.digest);
  if (!imageRef || !digest || !DIGEST.test(digest) || !imageRef.endsWith(`@${digest}`)) {
    throw new UserError(
      `The image record in ${source} has no image reference pinned by a sha256 digest: re-run the build that pushed the image with this version of PushToACR.`,
      { code: 'InvalidRecord' },
    );
  }
  const tags = Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === 'string') : [];
  return { imageRef, digest, tags, model: modelIdentityOf(o.model) };
}

/** The text a record is stored as (file and build property alike). */
export function formatImageRecord(record: ImageRecord): string {
  return JSON.stringify({ imageRef: record.imageRef, digest: record.digest, tags: record.tags, model: record.model });
}

/** The model's name for the run tag: the last segment of FetchModel's `modelPath` ('models/diabetes/' -> 'diabetes'). */
export function modelName(modelPath: string): string {
  const segments = modelPath.split('/').filter((s) => s !== '');
  return segments[segments.length - 1] ?? modelPath;
}

/** The tag a run gets for the model it shipped: `model:<name>@<version>`. */
export function modelTag(name: string, version: string): string {
  return `model:${name}@${version}`;
}

/**
 * Whether two model identities name different models: any of uri, version or
 * sha256 that the previous run recorded and differs (or is now missing)
 * counts. Nothing recorded before counts as changed.
 */
export function modelDiffers(previous: ModelIdentity | undefined, current: ModelIdentity): boolean {
  if (!previous || (!previous.uri && !previous.version && !previous.sha256)) return true;
  return previous.uri !== current.uri || previous.version !== current.version || previous.sha256 !== current.sha256;
}

/** Writes the record file into `dir` (whole or not at all); returns its path. */
export async function writeImageRecordFile(dir: string, record: ImageRecord): Promise<string> {
  await ensureDir(dir);
  const path = join(dir, RECORD_FILE);
  await writeFileAtomic(path, `${formatImageRecord(record)}\n`);
  return path;
}

/**
 * The record files under `root` (a release's downloaded artifact of one
 * alias): `root/<file>`, `root/<artifact>/<file>` and one level deeper, in
 * name order. Missing folders yield nothing.
 */
export async function findImageRecordFiles(root: string, maxDepth = 2): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string, depth: number): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) if (e.isFile() && e.name === RECORD_FILE) found.push(join(dir, e.name));
    if (depth >= maxDepth) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name), depth + 1);
  }
  await walk(root, 0);
  return found;
}

/** Reads and parses one record file. */
export async function readImageRecordFile(path: string): Promise<ImageRecord> {
  return parseImageRecord(await readFile(path, 'utf8'), `file '${path}'`);
}
