/**
 * Which model to fetch, decided from a listing of the store (pure logic: no I/O).
 *
 * `modelPath` is either an exact key (`models/resnet/model.onnx`) or a prefix
 * ending in `/`. A key without `/` that does not exist but has objects under
 * `key/` is treated as that prefix. Under a prefix, the direct children are
 * looked at:
 *
 * - version folders: the prefix has child folders and either no files beside
 *   them or at least one folder named like a version (`1.4.0/`). Each folder is
 *   a candidate; the chosen one is fetched whole. Files beside them (README,
 *   markers) are ignored.
 * - version files: only files, all with the same extension
 *   (`model-1.0.onnx`, `model-1.1.onnx`): each file is a candidate.
 * - one model folder: anything else (e.g. `model.onnx` + `config.json` +
 *   `tokenizer/`): the prefix itself is the model, fetched whole.
 *
 * Selection:
 * - latestModified: the candidate folder whose newest object is newest, or the
 *   newest candidate file (a one-model folder is fetched as is).
 * - highestVersion: the highest version among child folders named like
 *   versions and child files carrying a version in their name
 *   (`model-1.2.0.onnx`); names that are not versions are ignored.
 * - pinned: `version` names a child folder or file (exactly, or by equal
 *   version: `v1.2` = `1.2.0`); for an exact key it is a blob/S3 version id,
 *   which the caller looks up with head() (see {@link ResolvedModel.versionIdLookup}).
 * - metadata: objects whose user metadata (keys case-insensitive) or tags
 *   match every filter pair; the newest match wins, and when it sits inside a
 *   version folder that folder is fetched whole.
 */
import { createHash } from 'node:crypto';
import { Minimatch } from 'minimatch';
import { errorMessage, InputError, NotFoundError } from '../errors';
import type { StoredObject } from '../storage/store';
import { compareVersions, parseVersion, versionInName, type Version } from './version';

export type VersionSelection = 'latestModified' | 'highestVersion' | 'pinned' | 'metadata';

export const VERSION_SELECTIONS: readonly VersionSelection[] = ['latestModified', 'highestVersion', 'pinned', 'metadata'];

export interface ResolveOptions {
  modelPath: string;
  versionSelection: VersionSelection;
  /** pinned: folder/file name under the prefix, or version id of the exact key. */
  version?: string;
  /** metadata: pairs that must all match (see parseMetadataFilter in inputs/parse.ts). */
  metadataFilter?: Record<string, string>;
  /** Glob narrowing the files of a folder model, relative to the model folder. */
  include?: string;
  /** Where the objects live, for messages, e.g. "container 'models'" or "bucket 'models'". */
  location?: string;
}

interface ResolvedFile {
  object: StoredObject;
  /** Path below the model folder (`/`-separated); the file's base name for a single-file model. */
  relativePath: string;
}

export interface ResolvedModel {
  kind: 'file' | 'folder';
  /** Version folder or file name, the version id/ETag of a single file, or a content id of an unversioned folder. */
  version: string;
  /** The model's folder prefix (ending in `/`) or the file's key. */
  rootKey: string;
  /** Files to fetch, sorted by relativePath. Empty only when {@link versionIdLookup} is set. */
  files: ResolvedFile[];
  /** Why this model was chosen, as a sentence for the log. */
  reason: string;
  /**
   * Set when `version` must be looked up as a version id of an exact key: call
   * `store.head(key, { versionId })` and pass the result to {@link completeVersionLookup}.
   */
  versionIdLookup?: { key: string; versionId: string };
}

/** Which extras the listing must carry for these options. */
export function listOptionsFor(options: Pick<ResolveOptions, 'versionSelection' | 'metadataFilter'>): { includeMetadata: boolean; includeTags: boolean } {
  const metadata = options.versionSelection === 'metadata';
  return { includeMetadata: metadata, includeTags: metadata };
}

/** Check and compile the `include` glob; undefined/blank means everything. */
export function compileInclude(pattern: string | undefined): ((relativePath: string) => boolean) | undefined {
  const glob = pattern?.trim();
  if (!glob) return undefined;
  const fail = (why: string): never => {
    throw new InputError(
      'include',
      `The include glob '${glob}' is not valid: ${why}; use a pattern relative to the model folder such as '*.onnx' or 'tokenizer/**'.`,
    );
  };
  if (glob.startsWith('/')) fail('it is an absolute path');
  if (glob.startsWith('#')) fail('a pattern starting with # is a comment and matches nothing');
  if (glob.split('/').includes('..')) fail("it contains a '..' segment");
  let depthSquare = 0;
  let depthBrace = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') depthSquare++;
    else if (c === ']' && depthSquare > 0) depthSquare--;
    else if (c === '{') depthBrace++;
    else if (c === '}') {
      if (depthBrace === 0) fail("it has a '}' without a matching '{'");
      depthBrace--;
    }
  }
  if (depthSquare > 0) fail("it has a '[' without a matching ']'");
  if (depthBrace > 0) fail("it has a '{' without a matching '}'");
  let mm: Minimatch;
  try {
    mm = new Minimatch(glob, { dot: true, matchBase: !glob.includes('/') });
  } catch (err) {
    return fail(errorMessage(err));
  }
  if (mm.makeRe() === false) fail('it cannot be compiled');
  return (relativePath: string) => mm.match(relativePath);
}

// ---------------------------------------------------------------------------

interface Candidate {
  kind: 'file' | 'folder';
  /** Child name under the prefix (folder name without '/', or file name). */
  name: string;
  /** Folder prefix ending in '/', or the file key. */
  rootKey: string;
  objects: StoredObject[];
  newest: StoredObject;
  version?: Version;
}

function newestOf(objects: StoredObject[]): StoredObject {
  let best = objects[0] as StoredObject;
  for (const o of objects) {
    const d = o.lastModified.getTime() - best.lastModified.getTime();
    if (d > 0 || (d === 0 && o.key > best.key)) best = o;
  }
  return best;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function sample(names: string[], max = 8): string {
  const shown = names
    .slice(0, max)
    .map((n) => `'${n}'`)
    .join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

function extensionOf(name: string): string {
  const m = /(\.[A-Za-z][A-Za-z0-9]*(?:\.(?:gz|bz2|xz|zst))?)$/.exec(name);
  return (m?.[1] ?? '').toLowerCase();
}

/** Drop directory markers: keys ending in '/', and zero-byte blobs that are also a folder (ADLS `hdi_isfolder`). */
function dropDirectoryMarkers(objects: StoredObject[]): StoredObject[] {
  const keys = new Set(objects.map((o) => o.key));
  const folderNames = new Set<string>();
  for (const k of keys) {
    for (let i = k.indexOf('/'); i > 0; i = k.indexOf('/', i + 1)) folderNames.add(k.slice(0, i));
  }
  return objects.filter((o) => {
    if (o.key.endsWith('/')) return false;
    if (o.metadata?.hdi_isfolder === 'true') return false;
    if (o.size === 0 && folderNames.has(o.key)) return false;
    return true;
  });
}

function contentId(objects: StoredObject[]): string {
  const h = createHash('sha256');
  for (const o of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    h.update(`${o.key}\t${o.etag ?? ''}\t${o.versionId ?? ''}\t${o.size}\n`);
  }
  return `content-${h.digest('hex').slice(0, 16)}`;
}

function fileVersionLabel(o: StoredObject): string {
  return o.versionId ?? o.etag ?? o.lastModified.toISOString();
}

interface Layout {
  prefix: string;
  all: StoredObject[];
  folders: Candidate[];
  files: Candidate[];
  shape: 'versionFolders' | 'versionFiles' | 'oneFolder';
}

function layoutOf(prefix: string, objects: StoredObject[]): Layout {
  const folderMap = new Map<string, StoredObject[]>();
  const files: Candidate[] = [];
  for (const o of objects) {
    const rest = o.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) {
      files.push({ kind: 'file', name: rest, rootKey: o.key, objects: [o], newest: o, version: versionInName(rest) });
    } else {
      const name = rest.slice(0, slash);
      const list = folderMap.get(name) ?? [];
      list.push(o);
      folderMap.set(name, list);
    }
  }
  const folders: Candidate[] = [...folderMap].map(([name, list]) => ({
    kind: 'folder',
    name,
    rootKey: `${prefix}${name}/`,
    objects: list,
    newest: newestOf(list),
    version: parseVersion(name),
  }));
  let shape: Layout['shape'];
  if (folders.length > 0 && (files.length === 0 || folders.some((f) => f.version))) shape = 'versionFolders';
  else if (folders.length === 0 && files.length > 0 && new Set(files.map((f) => extensionOf(f.name))).size === 1) shape = 'versionFiles';
  else shape = 'oneFolder';
  return { prefix, all: objects, folders, files, shape };
}

function folderModel(rootKey: string, objects: StoredObject[], version: string, reason: string): ResolvedModel {
  const files = objects
    .map((object) => ({ object, relativePath: object.key.slice(rootKey.length) }))
    .sort((a, b) => (a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0));
  return { kind: 'folder', version, rootKey, files, reason };
}

function fileModel(object: StoredObject, version: string, reason: string): ResolvedModel {
  const slash = object.key.lastIndexOf('/');
  return { kind: 'file', version, rootKey: object.key, files: [{ object, relativePath: object.key.slice(slash + 1) }], reason };
}

function candidateModel(c: Candidate, reason: string): ResolvedModel {
  if (c.kind === 'folder') return folderModel(c.rootKey, c.objects, c.name, reason);
  return fileModel(c.newest, c.version ? c.name : fileVersionLabel(c.newest), reason);
}

function metadataMatches(o: StoredObject, filter: Record<string, string>): boolean {
  const lookup = (source: Record<string, string> | undefined, key: string): string | undefined => {
    if (!source) return undefined;
    const lower = key.toLowerCase();
    for (const [k, v] of Object.entries(source)) if (k.toLowerCase() === lower) return v;
    return undefined;
  };
  return Object.entries(filter).every(([k, v]) => lookup(o.metadata, k) === v || lookup(o.tags, k) === v);
}

function filterText(filter: Record<string, string>): string {
  return Object.entries(filter)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

function applyInclude(model: ResolvedModel, include: string | undefined, location: string): ResolvedModel {
  const matcher = compileInclude(include);
  if (!matcher || model.kind === 'file') return model;
  const files = model.files.filter((f) => matcher(f.relativePath));
  if (files.length === 0) {
    throw new NotFoundError(
      `None of the ${plural(model.files.length, 'file')} of model folder '${model.rootKey}' in ${location} matches the include glob '${include?.trim()}' (files include ${sample(
        model.files.map((f) => f.relativePath),
        5,
      )}): check the include input.`,
      { input: 'include' },
    );
  }
  return { ...model, files, reason: `${model.reason} The include glob '${include?.trim()}' keeps ${files.length} of ${plural(model.files.length, 'file')}.` };
}

function byHighest(a: Candidate, b: Candidate): number {
  const d = compareVersions(a.version as Version, b.version as Version);
  if (d !== 0) return d;
  if (a.kind !== b.kind) return a.kind === 'folder' ? 1 : -1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function byNewest(a: Candidate, b: Candidate): number {
  const d = a.newest.lastModified.getTime() - b.newest.lastModified.getTime();
  if (d !== 0) return d;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function maxBy<T>(items: T[], cmp: (a: T, b: T) => number): T {
  return items.reduce((best, x) => (cmp(x, best) > 0 ? x : best));
}

/** Resolve the model to fetch from every object listed under `modelPath`. */
export function resolveModel(listed: StoredObject[], options: ResolveOptions): ResolvedModel {
  const location = options.location ?? 'the store';
  const modelPath = options.modelPath.trim().replace(/^\/+/, '');
  if (!modelPath)
    throw new InputError(
      'modelPath',
      'The modelPath input is empty: give a blob/object key such as models/resnet/model.onnx or a prefix ending in / such as models/resnet/.',
    );
  const selection = options.versionSelection;
  if (!VERSION_SELECTIONS.includes(selection)) {
    throw new InputError(
      'versionSelection',
      `The versionSelection '${String(selection)}' is not known: use latestModified, highestVersion, pinned or metadata.`,
    );
  }
  const pinned = options.version?.trim();
  if (selection === 'pinned' && !pinned) {
    throw new InputError(
      'version',
      'versionSelection is pinned but the version input is empty: give the version folder or file name (e.g. 1.4.0) or a blob/S3 version id.',
    );
  }
  const filter = options.metadataFilter ?? {};
  if (selection === 'metadata' && Object.keys(filter).length === 0) {
    throw new InputError(
      'metadataFilter',
      'versionSelection is metadata but the metadataFilter input is empty: give key=value pairs such as stage=production.',
    );
  }
  compileInclude(options.include); // validate early, whatever is chosen

  const objects = dropDirectoryMarkers(listed.filter((o) => o.key.startsWith(modelPath)));

  // Exact key.
  if (!modelPath.endsWith('/')) {
    const exact = objects.find((o) => o.key === modelPath);
    if (exact) return resolveExactKey(exact, options, selection, pinned, filter, location);
    const asFolder = `${modelPath}/`;
    if (objects.some((o) => o.key.startsWith(asFolder))) {
      return resolveModel(listed, { ...options, modelPath: asFolder });
    }
    const near = objects.map((o) => o.key);
    throw new NotFoundError(
      `No object named '${modelPath}' exists in ${location}${near.length ? ` (keys starting with it: ${sample(near, 5)})` : ''}: check the modelPath input (end it with / to select under a prefix).`,
      { input: 'modelPath' },
    );
  }

  if (objects.length === 0) {
    throw new NotFoundError(`No objects exist under '${modelPath}' in ${location}: check the modelPath input and that the model was published there.`, {
      input: 'modelPath',
    });
  }
  const layout = layoutOf(modelPath, objects);
  const model = (() => {
    switch (selection) {
      case 'latestModified':
        return latestModified(layout);
      case 'highestVersion':
        return highestVersion(layout, location);
      case 'pinned':
        return pinnedUnderPrefix(layout, pinned as string, location);
      case 'metadata':
        return byMetadata(layout, filter, location);
    }
  })();
  return applyInclude(model, options.include, location);
}

function resolveExactKey(
  exact: StoredObject,
  options: ResolveOptions,
  selection: VersionSelection,
  pinned: string | undefined,
  filter: Record<string, string>,
  location: string,
): ResolvedModel {
  switch (selection) {
    case 'pinned': {
      const version = pinned as string;
      if (exact.versionId === version)
        return fileModel(exact, version, `'${exact.key}' is the exact key and its current version id is the pinned '${version}'.`);
      const slash = exact.key.lastIndexOf('/');
      const name = exact.key.slice(slash + 1);
      const nameVersion = versionInName(name);
      const pinnedVersion = parseVersion(version);
      if (
        name === version ||
        (nameVersion && pinnedVersion && compareVersions(nameVersion, pinnedVersion) === 0 && nameVersion.prerelease.length === pinnedVersion.prerelease.length)
      ) {
        return fileModel(exact, version, `'${exact.key}' is the exact key and its name carries the pinned version '${version}'.`);
      }
      return {
        kind: 'file',
        version,
        rootKey: exact.key,
        files: [],
        reason: `'${exact.key}' is an exact key, so the pinned version '${version}' is taken as its version id.`,
        versionIdLookup: { key: exact.key, versionId: version },
      };
    }
    case 'metadata':
      if (!metadataMatches(exact, filter)) {
        throw new NotFoundError(
          `The object '${exact.key}' in ${location} does not match ${filterText(filter)} (its metadata: ${describeMetadata(exact)}): check the metadataFilter input.`,
          { input: 'metadataFilter' },
        );
      }
      return fileModel(exact, fileVersionLabel(exact), `'${exact.key}' is the exact key and matches ${filterText(filter)}.`);
    default:
      void options;
      return fileModel(exact, fileVersionLabel(exact), `'${exact.key}' is an exact key (modified ${exact.lastModified.toISOString()}).`);
  }
}

function describeMetadata(o: StoredObject): string {
  const pairs = [...Object.entries(o.metadata ?? {}), ...Object.entries(o.tags ?? {})].map(([k, v]) => `${k}=${v}`);
  return pairs.length ? pairs.join(', ') : 'none';
}

function latestModified(layout: Layout): ResolvedModel {
  const { prefix, shape } = layout;
  if (shape === 'versionFolders') {
    const best = maxBy(layout.folders, byNewest);
    const why =
      layout.folders.length === 1
        ? `'${best.rootKey}' is the only folder under '${prefix}'.`
        : `'${best.rootKey}' holds the newest object ('${best.newest.key}', modified ${best.newest.lastModified.toISOString()}) of the ${plural(layout.folders.length, 'folder')} under '${prefix}'.`;
    return candidateModel(best, why);
  }
  if (shape === 'versionFiles') {
    const best = maxBy(layout.files, byNewest);
    const why =
      layout.files.length === 1
        ? `'${best.rootKey}' is the only object under '${prefix}'.`
        : `'${best.rootKey}' is the newest (modified ${best.newest.lastModified.toISOString()}) of the ${plural(layout.files.length, 'file')} under '${prefix}'.`;
    return candidateModel(best, why);
  }
  return oneFolder(layout);
}

function oneFolder(layout: Layout): ResolvedModel {
  const newest = newestOf(layout.all);
  // A prefix that is itself a version folder (`bert/2.0.0/`) is that version.
  const last = layout.prefix
    .split('/')
    .filter((s) => s.length > 0)
    .pop();
  return folderModel(
    layout.prefix,
    layout.all,
    last !== undefined && parseVersion(last) ? last : contentId(layout.all),
    `'${layout.prefix}' holds one model (${plural(layout.all.length, 'file')}, no version folders), fetched whole; newest object modified ${newest.lastModified.toISOString()}.`,
  );
}

function highestVersion(layout: Layout, location: string): ResolvedModel {
  const folders = layout.folders.filter((f) => f.version);
  const files = layout.files.filter((f) => f.version);
  const candidates = [...folders, ...files];
  if (candidates.length === 0) {
    const names = [...layout.folders.map((f) => `${f.name}/`), ...layout.files.map((f) => f.name)];
    throw new NotFoundError(
      `No folder or file directly under '${layout.prefix}' in ${location} is named like a version such as 1.4.0 (found ${sample(names)}): publish versions as <prefix>/<version>/ or name-<version>.<ext>, or use versionSelection latestModified.`,
      { input: 'modelPath' },
    );
  }
  const best = maxBy(candidates, byHighest);
  const ignored = layout.folders.length + layout.files.length - candidates.length;
  const why = `'${best.rootKey}' has the highest version (${best.version?.raw}) of the ${plural(candidates.length, 'versioned name')} under '${layout.prefix}'${ignored ? ` (${ignored} other ${ignored === 1 ? 'name' : 'names'} ignored)` : ''}.`;
  const model = candidateModel(best, why);
  return best.kind === 'file' ? { ...model, version: best.version?.raw ?? model.version } : model;
}

function sameVersion(a: Version | undefined, b: Version | undefined): boolean {
  return !!a && !!b && compareVersions(a, b) === 0 && a.prerelease.length === b.prerelease.length;
}

function pinnedUnderPrefix(layout: Layout, version: string, location: string): ResolvedModel {
  const folder = layout.folders.find((f) => f.name === version);
  if (folder) return candidateModel(folder, `'${folder.rootKey}' is the pinned version folder '${version}'.`);
  const file = layout.files.find((f) => f.name === version);
  if (file) return candidateModel(file, `'${file.rootKey}' is the pinned file '${version}'.`);
  const wanted = parseVersion(version);
  const equal = [...layout.folders, ...layout.files].filter((c) => sameVersion(c.version, wanted));
  if (equal.length === 1) {
    const c = equal[0] as Candidate;
    const model = candidateModel(c, `'${c.rootKey}' carries the pinned version '${version}'.`);
    return c.kind === 'file' ? { ...model, version: c.version?.raw ?? version } : model;
  }
  if (equal.length > 1) {
    throw new NotFoundError(
      `The pinned version '${version}' matches several names under '${layout.prefix}' in ${location} (${sample(equal.map((c) => c.name))}): set the version input to the exact folder or file name.`,
      { input: 'version' },
    );
  }
  const names = [...layout.folders.map((f) => `${f.name}/`), ...layout.files.map((f) => f.name)];
  throw new NotFoundError(
    `The pinned version '${version}' is not a folder or file under '${layout.prefix}' in ${location} (found ${sample(names)}): check the version input, or point modelPath at the exact key to pin a blob/S3 version id.`,
    { input: 'version' },
  );
}

function byMetadata(layout: Layout, filter: Record<string, string>, location: string): ResolvedModel {
  const matches = layout.all.filter((o) => metadataMatches(o, filter));
  if (matches.length === 0) {
    throw new NotFoundError(
      `No object under '${layout.prefix}' in ${location} matches ${filterText(filter)}: ${plural(layout.all.length, 'object')} ${layout.all.length === 1 ? 'was' : 'were'} checked; check the metadataFilter input (keys are case-insensitive, values exact; blob index tags and S3 object tags count too).`,
      { input: 'metadataFilter' },
    );
  }
  const newest = newestOf(matches);
  const matchText = `${plural(matches.length, 'object')} of ${layout.all.length} match ${filterText(filter)}`;
  if (layout.shape === 'versionFolders') {
    const rest = newest.key.slice(layout.prefix.length);
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      const folder = layout.folders.find((f) => f.name === rest.slice(0, slash)) as Candidate;
      return candidateModel(
        folder,
        `${matchText}; the newest, '${newest.key}' (modified ${newest.lastModified.toISOString()}), is in version folder '${folder.rootKey}', fetched whole.`,
      );
    }
  }
  const name = newest.key.slice(newest.key.lastIndexOf('/') + 1);
  const v = versionInName(name);
  return fileModel(
    newest,
    v ? v.raw : fileVersionLabel(newest),
    `${matchText}; '${newest.key}' is the newest of them (modified ${newest.lastModified.toISOString()}).`,
  );
}

/**
 * Finish a pinned version-id resolution: `object` is what `head(key, { versionId })`
 * returned. Throws NotFoundError naming the version input when it is absent.
 */
export function completeVersionLookup(model: ResolvedModel, object: StoredObject | undefined, location = 'the store'): ResolvedModel {
  const lookup = model.versionIdLookup;
  if (!lookup) return model;
  if (!object) {
    throw new NotFoundError(
      `The pinned version '${lookup.versionId}' of '${lookup.key}' does not exist in ${location} (it is neither a name under the key's folder nor a version id of the key): check the version input; version ids need versioning enabled on the container/bucket.`,
      { input: 'version' },
    );
  }
  const slash = lookup.key.lastIndexOf('/');
  return {
    kind: 'file',
    version: lookup.versionId,
    rootKey: lookup.key,
    files: [{ object: { ...object, key: lookup.key, versionId: object.versionId ?? lookup.versionId }, relativePath: lookup.key.slice(slash + 1) }],
    reason: `'${lookup.key}' is pinned to version id '${lookup.versionId}' (modified ${object.lastModified.toISOString()}).`,
  };
}
