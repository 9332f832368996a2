/**
 * FetchModel's library entry: resolve which model to fetch from a store,
 * skip it when the destination already holds it, otherwise download every
 * file with ranged parallel GETs, verify, optionally extract, and move the
 * result into place atomically. Usable from the task and from plain scripts.
 *
 * Where the model lands (`destination` is a folder D; nothing else in D is touched):
 * - a single-file model: D/<file name>;
 * - a folder model: D/<folder name>/ (the version folder's or prefix's last
 *   segment), keeping the files' relative layout;
 * - an extracted archive: D/<archive name without extension>/.
 * modelPath is that file or folder. Everything is first written under a
 * temporary sibling name starting with `.` and renamed into place (replacing
 * an older copy) only once complete and verified.
 */
import { dirname, join, resolve } from 'node:path';
import { lstat, mkdir, rm, rmdir } from 'node:fs/promises';
import { ChecksumMismatchError, UserError } from '../errors';
import type { Logger } from '../log';
import { ProgressMeter } from '../progress';
import { formatBytes, formatDuration, formatRate } from '../format';
import type { ModelStore, StoredObject } from '../storage/store';
import { downloadObject } from '../download/ranged';
import { planVerification, verifyOrThrow, manifestDigest, parseExpectedSha256, type Verdict } from '../download/verify';
import { beginPlacement, ensureWritableDir, sweepStaleTemporaries, type Placement } from '../download/placement';
import { checkCache, writeCacheMarker, removeCacheMarker } from '../download/cache';
import { archiveKind, extractArchive, type ExtractLimits } from '../download/extract';
import { checkModelKeys, checkModelPathInput } from './keys';
import { mapLimit } from '../oci/registry/pool';
import { findReusableLayer, identityFor, type LayerReuseOptions } from '../reuse/fetch';
import { removeModelRecord, stampOf, writeModelRecord } from '../reuse/records';
import { completeVersionLookup, listOptionsFor, resolveModel, type ResolvedModel, type VersionSelection } from './resolve';

export interface FetchModelOptions {
  store: ModelStore;
  /** Exact key, or a prefix ending in `/`. */
  modelPath: string;
  versionSelection: VersionSelection;
  version?: string;
  metadataFilter?: Record<string, string>;
  include?: string;
  /** Folder the model is placed in. */
  destination: string;
  expectedSha256?: string;
  requireChecksum?: boolean;
  extract?: boolean;
  /** Caps for extraction (default DEFAULT_EXTRACT_LIMITS). */
  extractLimits?: ExtractLimits;
  concurrency?: number;
  blockSize?: number;
  retries?: number;
  /** A range read that delivers no byte for this long is retried (default: the download engine's). */
  stallTimeoutMs?: number;
  /** Where the objects live, for messages: e.g. "container 'models'". */
  location?: string;
  /**
   * Look for a layer of the model in the registry first (single-file models):
   * when one checks out, nothing is downloaded (shared/reuse).
   */
  reuse?: LayerReuseOptions;
  /** Re-hash a cached copy in full instead of trusting its recorded size, times and inode. */
  reverify?: boolean;
  logger: Logger;
  signal?: AbortSignal;
}

interface FetchedFile {
  relativePath: string;
  key: string;
  size: number;
  sha256: string;
  verifiedBy?: string;
}

export interface FetchModelResult {
  modelPath: string;
  modelUri: string;
  modelVersion: string;
  modelSha256: string;
  modelSizeBytes: number;
  kind: 'file' | 'folder';
  files: FetchedFile[];
  /** True when the destination already held this model and nothing was downloaded. */
  cached: boolean;
  /** Every file was verified against a published or expected checksum. */
  verified: boolean;
  /** How verification was done, as a phrase for the summary. */
  verification: string;
  reason: string;
  seconds: number;
  /** Model bytes read from the store by this run (0 for a cached copy or a reused layer). */
  bytesDownloaded: number;
  /** Set when nothing was downloaded because the registry holds a checked layer of the model. */
  layerReused?: { registry: string; repository: string; digest: string };
}

async function collect(store: ModelStore, prefix: string, options: ReturnType<typeof listOptionsFor>): Promise<StoredObject[]> {
  const all: StoredObject[] = [];
  for await (const o of store.list(prefix, options)) all.push(o);
  return all;
}

/** Find the model: an exact key (optionally a version id of it), else a prefix listing. */
async function resolveFromStore(options: FetchModelOptions): Promise<ResolvedModel> {
  const { store, modelPath } = options;
  checkModelPathInput(modelPath);
  const resolveOptions = {
    modelPath,
    versionSelection: options.versionSelection,
    version: options.version,
    metadataFilter: options.metadataFilter,
    include: options.include,
    location: options.location,
  };
  const listOptions = listOptionsFor(resolveOptions);
  let listed: StoredObject[];
  if (modelPath.endsWith('/')) {
    listed = await collect(store, modelPath, listOptions);
  } else {
    // An exact key; when it does not exist, the key may name a folder without its trailing slash.
    const exact = await store.head(modelPath, { includeTags: listOptions.includeTags });
    if (exact) listed = [exact];
    else listed = await collect(store, `${modelPath}/`, listOptions);
  }
  let model = resolveModel(listed, resolveOptions);
  if (model.versionIdLookup) {
    const { key, versionId } = model.versionIdLookup;
    model = completeVersionLookup(model, await store.head(key, { versionId }), options.location);
  }
  // The one place listed keys are checked before any becomes a local path.
  checkModelKeys(model, modelPath, options.location ?? 'the store');
  return withPublishedChecksums(store, model);
}

/** HEADs of the chosen files run at once while filling in what a listing leaves out. */
const HEAD_CONCURRENCY = 8;

/**
 * A listing leaves out user metadata (S3 always, Blob unless asked) and, on
 * S3, the checksums: the chosen files are asked for theirs (one HEAD each), so
 * a published `sha256` metadata key or checksum is checked for a folder model
 * and for a file chosen under a prefix, not only for an exact key. A file that
 * changed since it was listed (other ETag) keeps its listing: the download
 * notices the change and fails.
 */
async function withPublishedChecksums(store: ModelStore, model: ResolvedModel): Promise<ResolvedModel> {
  const missing = model.files.filter((f) => f.object.metadata === undefined);
  if (missing.length === 0) return model;
  const heads = await mapLimit(missing, HEAD_CONCURRENCY, (f) => store.head(f.object.key, { versionId: f.object.versionId }));
  const fresh = new Map<string, StoredObject>();
  missing.forEach((f, i) => {
    const head = heads[i];
    if (head && (f.object.etag === undefined || head.etag === f.object.etag)) {
      fresh.set(f.object.key, {
        ...f.object,
        metadata: head.metadata ?? {},
        contentMd5: f.object.contentMd5 ?? head.contentMd5,
        checksumSha256: f.object.checksumSha256 ?? head.checksumSha256,
      });
    }
  });
  return { ...model, files: model.files.map((f) => ({ ...f, object: fresh.get(f.object.key) ?? f.object })) };
}

/** What is written where for a resolved model. */
function layoutOf(model: ResolvedModel, extract: boolean): 'file' | 'folder' | 'extracted' {
  if (model.kind === 'folder') return 'folder';
  return extract ? 'extracted' : 'file';
}

/** The file or folder name the model gets inside the destination. */
function localName(model: ResolvedModel, layout: 'file' | 'folder' | 'extracted', fileName: string): string {
  if (layout === 'file') return fileName;
  if (layout === 'extracted') return fileName.replace(/(\.tar\.gz|\.tgz|\.tar|\.zip)$/i, '') || 'model';
  const segments = model.rootKey.split('/').filter((s) => s.length > 0);
  return segments[segments.length - 1] ?? 'model';
}

/**
 * Fetches the model into `destination`. A failed fetch leaves no folder it
 * created: the destination (and the parents it needed) are removed again when
 * they did not exist before and are still empty.
 */
export async function fetchModel(options: FetchModelOptions): Promise<FetchModelResult> {
  const created = await outermostMissing(options.destination);
  try {
    return await fetchInto(options);
  } catch (err) {
    if (created) await removeEmptyUpTo(options.destination, created);
    throw err;
  }
}

/** The outermost folder of `dir` that does not exist yet (what a recursive mkdir creates), if any. */
async function outermostMissing(dir: string): Promise<string | undefined> {
  let missing: string | undefined;
  let d = resolve(dir);
  for (;;) {
    const exists = await lstat(d).then(
      () => true,
      () => false,
    );
    if (exists) return missing;
    missing = d;
    const parent = dirname(d);
    if (parent === d) return missing;
    d = parent;
  }
}

/** Removes `dir` and its parents up to `top` while they are empty (rmdir never removes content). */
async function removeEmptyUpTo(dir: string, top: string): Promise<void> {
  let d = resolve(dir);
  for (;;) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === top || dirname(d) === d) return;
    d = dirname(d);
  }
}

async function fetchInto(options: FetchModelOptions): Promise<FetchModelResult> {
  const started = Date.now();
  const { store, logger } = options;
  const expectedSha256 = parseExpectedSha256(options.expectedSha256);
  const destination = options.destination;
  checkModelPathInput(options.modelPath);
  await ensureWritableDir(destination);
  // Temporaries of an earlier fetch into this destination that was killed.
  const swept = await sweepStaleTemporaries(destination);
  if (swept.length > 0)
    logger.info(
      `Removed ${swept.length === 1 ? '1 partial download' : `${swept.length} partial downloads`} left in ${destination} by an earlier run that was stopped: ${swept.join(', ')}.`,
    );

  const model = await resolveFromStore(options);
  const layout = layoutOf(model, options.extract ?? false);
  if (layout === 'extracted' && !archiveKind(model.rootKey)) {
    throw new UserError(
      `The 'extract' input is true but '${model.rootKey}' is not a .tar, .tar.gz, .tgz or .zip archive; set extract to false or point modelPath at an archive.`,
      { input: 'extract', code: 'NotAnArchive' },
    );
  }
  const modelUri = store.uriOf(model.rootKey);
  const totalBytes = model.files.reduce((n, f) => n + f.object.size, 0);
  logger.info(`Resolved ${modelUri} (version ${model.version}): ${model.reason}`);
  logger.info(`${model.files.length === 1 ? '1 file' : `${model.files.length} files`}, ${formatBytes(totalBytes)}.`);

  const fileName = model.files[0]?.relativePath ?? 'model';
  const name = localName(model, layout, fileName);
  const modelPathLocal = join(destination, name);

  // Cache: the same objects (ETag / version id / size) already fetched and intact.
  const cache = await checkCache(destination, {
    uri: modelUri,
    version: model.version,
    layout,
    objects: model.files.map((f) => ({ key: f.object.key, etag: f.object.etag, versionId: f.object.versionId, size: f.object.size })),
    reverify: options.reverify,
  });
  if (cache.hit) {
    const m = cache.marker;
    if (expectedSha256 && expectedSha256 !== m.modelSha256) {
      logger.info(`The destination holds version ${m.version}, but its sha256 differs from expectedSha256: downloading again.`);
    } else {
      logger.info(`${destination} already holds ${modelUri} version ${m.version} (same ETag/version id, ${cache.how}): download skipped.`);
      const files = m.objects.map((o, i) => ({ relativePath: model.files[i]?.relativePath ?? o.key, key: o.key, size: o.size, sha256: o.sha256 }));
      if (layout === 'file') await recordModel(options, model, modelUri, name, m.modelSha256, 'cached copy of a verified download').catch(() => undefined);
      return {
        modelPath: modelPathLocal,
        modelUri,
        modelVersion: m.version,
        modelSha256: m.modelSha256,
        modelSizeBytes: m.objects.reduce((n, o) => n + o.size, 0),
        kind: model.kind,
        files,
        cached: true,
        verified: true,
        verification: cache.how === 're-hashed' ? 'cached copy re-hashed against the sha256 recorded when it was verified' : `cached copy: ${cache.how}`,
        reason: model.reason,
        seconds: (Date.now() - started) / 1000,
        bytesDownloaded: 0,
      };
    }
  } else {
    logger.debug(`No usable cached copy: ${cache.reason}`);
  }

  // Layer reuse: the registry may already hold a layer made of these bytes.
  if (options.reuse) {
    const only = model.files[0];
    if (layout !== 'file' || !only) {
      logger.info(`Layer reuse: not tried, it covers single-file models that are not extracted; downloading.`);
    } else {
      const found = await findReusableLayer(options.reuse, { object: only.object, kind: store.kind, uri: modelUri, fileName: name, expectedSha256 }, logger);
      if (found) {
        // The destination no longer holds a model at modelPath: an older copy there is not this model.
        await removeCacheMarker(destination).catch(() => undefined);
        await rm(modelPathLocal, { force: true, recursive: true });
        await writeModelRecord(destination, {
          name,
          modelUri,
          modelVersion: model.version,
          modelSha256: found.hit.modelSha256,
          size: only.object.size,
          identity: found.identity.key,
          verifiedBy: found.hit.verifiedBy,
          reused: {
            registry: options.reuse.client.registry,
            repository: options.reuse.repository,
            recipe: found.recipe,
            layer: { digest: found.hit.layer.digest, size: found.hit.layer.size, diffId: found.hit.layer.diffId, encoding: found.hit.layer.encoding },
          },
        });
        return {
          modelPath: modelPathLocal,
          modelUri,
          modelVersion: model.version,
          modelSha256: found.hit.modelSha256,
          modelSizeBytes: totalBytes,
          kind: model.kind,
          files: [{ relativePath: only.relativePath, key: only.object.key, size: only.object.size, sha256: found.hit.modelSha256 }],
          cached: false,
          verified: true,
          verification: `not downloaded: the registry holds a layer of it, recorded by a run that hashed it (${found.hit.verifiedBy})`,
          reason: model.reason,
          seconds: (Date.now() - started) / 1000,
          bytesDownloaded: 0,
          layerReused: { registry: options.reuse.client.registry, repository: options.reuse.repository, digest: found.hit.layer.digest },
        };
      }
    }
  }

  // Where bytes are written before they are trusted.
  const placement: Placement = await beginPlacement(modelPathLocal, layout === 'file' ? 'file' : 'folder', { within: destination });
  const archiveTemp = layout === 'extracted' ? join(destination, `.${fileName}.partial-archive-${process.pid}`) : undefined;
  const meter = new ProgressMeter({ label: `Downloading ${modelUri}`, total: totalBytes, sink: logger.progress });
  const fetched: FetchedFile[] = [];
  const verdicts: Verdict[] = [];
  try {
    for (const file of model.files) {
      const target =
        layout === 'file' ? placement.tempPath : layout === 'extracted' ? (archiveTemp as string) : join(placement.tempPath, ...file.relativePath.split('/'));
      if (layout === 'folder') await mkdir(dirname(target), { recursive: true });
      const uri = store.uriOf(file.object.key);
      // The whole-model expectation applies to a file model; a folder's applies to its manifest.
      const plan = planVerification(file.object, store.kind, model.kind === 'file' ? expectedSha256 : undefined);
      for (const note of plan.notes) logger.debug(`${uri}: ${note}`);
      const result = await downloadObject(store, file.object, target, {
        concurrency: options.concurrency,
        blockSize: options.blockSize,
        retries: options.retries,
        hashes: plan.hashes,
        onProgress: (n) => meter.add(n),
        stallTimeoutMs: options.stallTimeoutMs,
        signal: options.signal,
        logger,
      });
      const verdict = verifyOrThrow(uri, plan, result);
      verdicts.push(verdict);
      fetched.push({
        relativePath: file.relativePath,
        key: file.object.key,
        size: result.bytes,
        sha256: result.sha256,
        verifiedBy: verdict.verified ? verdict.method : undefined,
      });
    }
    meter.finish();

    let modelSha256: string;
    if (model.kind === 'folder') {
      modelSha256 = manifestDigest(fetched.map((f) => ({ path: f.relativePath, sha256: f.sha256 })));
      if (expectedSha256) {
        if (expectedSha256 !== modelSha256) {
          throw new ChecksumMismatchError(
            `Checksum mismatch for ${modelUri}: the folder's manifest sha256 is ${modelSha256} but expectedSha256 is ${expectedSha256}; the download was removed; check the expectedSha256 input (for a folder it is the sha256 of its sorted 'path sha256' manifest).`,
            { input: 'expectedSha256' },
          );
        }
        for (const f of fetched) f.verifiedBy = f.verifiedBy ? `${f.verifiedBy} and expectedSha256 (manifest)` : 'expectedSha256 (manifest)';
      }
    } else {
      modelSha256 = (fetched[0] as FetchedFile).sha256;
    }

    const unverified = fetched.filter((f) => !f.verifiedBy);
    if (unverified.length > 0) {
      const what = unverified.length === 1 ? `'${unverified[0]?.key}'` : `${unverified.length} files (e.g. '${unverified[0]?.key}')`;
      const message = `Nothing published a checksum for ${what}: no Content-MD5, single-part ETag, x-amz-checksum-sha256 or sha256 metadata, and no expectedSha256 input`;
      if (options.requireChecksum) {
        throw new UserError(
          `${message}; requireChecksum is true, so the download was removed: publish a sha256 metadata key with the model or set expectedSha256.`,
          {
            code: 'ChecksumRequired',
            input: 'requireChecksum',
          },
        );
      }
      logger.warn(`${message}; the model (sha256 ${modelSha256}) is unverified. Set expectedSha256 or requireChecksum to enforce verification.`);
    }

    let extractedFiles: Array<{ path: string; size: number; sha256: string }> = [];
    if (layout === 'extracted') {
      logger.info(`Extracting ${fileName} into ${modelPathLocal}.`);
      const extracted = await extractArchive(archiveTemp as string, placement.tempPath, {
        format: archiveKind(fileName),
        displayName: modelUri,
        logger,
        limits: options.extractLimits,
      });
      extractedFiles = extracted.files.map((f) => ({ path: `${name}/${f.path}`, size: f.size, sha256: f.sha256 }));
      await rm(archiveTemp as string, { force: true });
    }

    await removeCacheMarker(destination).catch(() => undefined);
    await removeModelRecord(destination).catch(() => undefined);
    await placement.commit();
    await writeCacheMarker(destination, {
      uri: modelUri,
      version: model.version,
      layout,
      modelPath: name,
      modelSha256,
      objects: model.files.map((f, i) => ({
        key: f.object.key,
        etag: f.object.etag,
        versionId: f.object.versionId,
        size: f.object.size,
        sha256: (fetched[i] as FetchedFile).sha256,
      })),
      // Extracted models are checked by their extracted files (re-hashed on a cache hit).
      files:
        layout === 'extracted'
          ? extractedFiles
          : fetched.map((f) => ({ path: layout === 'file' ? name : `${name}/${f.relativePath}`, size: f.size, sha256: f.sha256 })),
    });

    const seconds = (Date.now() - started) / 1000;
    if (layout === 'file') {
      const how = unverified.length === 0 ? `verified by ${verdicts[0]?.method ?? 'expectedSha256'}` : 'hashed on arrival (nothing published a checksum)';
      // Without the record the model is bundled as before; only layer reuse and the layer cache are lost.
      await recordModel(options, model, modelUri, name, modelSha256, how).catch((err: Error) =>
        logger.debug(`The model record for BundleModelImage could not be written: ${err.message}`),
      );
    }
    const methods = [...new Set(verdicts.filter((v) => v.verified).map((v) => v.method))];
    const verification =
      unverified.length === 0 ? methods.join('; ') || 'expectedSha256 (manifest)' : methods.length ? `partly (${methods.join('; ')})` : 'not verified';
    return {
      modelPath: modelPathLocal,
      modelUri,
      modelVersion: model.version,
      modelSha256,
      modelSizeBytes: totalBytes,
      kind: model.kind,
      files: fetched,
      cached: false,
      verified: unverified.length === 0,
      verification,
      reason: model.reason,
      seconds,
      bytesDownloaded: totalBytes,
    };
  } catch (err) {
    // A cleanup that fails must not hide the failure being reported.
    await placement.abort().catch(() => undefined);
    if (archiveTemp) await rm(archiveTemp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Leaves the record BundleModelImage reads next to the model (shared/reuse/records.ts):
 * the model's identity and its file as it is now, right after verification.
 */
async function recordModel(
  options: FetchModelOptions,
  model: ResolvedModel,
  modelUri: string,
  name: string,
  modelSha256: string,
  verifiedBy: string,
): Promise<void> {
  const only = model.files[0];
  if (!only) return;
  const id = identityFor(only.object, options.store.kind, modelUri, parseExpectedSha256(options.expectedSha256));
  await writeModelRecord(options.destination, {
    name,
    modelUri,
    modelVersion: model.version,
    modelSha256,
    size: only.object.size,
    identity: id.identity?.key,
    verifiedBy,
    local: await stampOf(join(options.destination, name)),
  });
}

/** The task's closing line. */
export function fetchMessage(result: FetchModelResult): string {
  if (result.layerReused)
    return `Found ${result.modelUri} version ${result.modelVersion} as layer ${result.layerReused.digest.slice(0, 19)} in ${result.layerReused.registry}/${result.layerReused.repository}: nothing downloaded`;
  const message = `${result.cached ? 'Already had' : 'Fetched'} ${result.modelUri} version ${result.modelVersion}`;
  return result.verified ? message : `${message} (unverified)`;
}

export function summarize(result: FetchModelResult): string[] {
  const rate = result.cached || result.seconds <= 0 ? '' : `, ${formatRate(result.modelSizeBytes / result.seconds)}`;
  return [
    'Summary',
    `  model:     ${result.modelUri}`,
    `  version:   ${result.modelVersion}`,
    `  sha256:    ${result.modelSha256}${result.kind === 'folder' ? ' (manifest of the folder)' : ''}`,
    `  size:      ${formatBytes(result.modelSizeBytes)} in ${result.files.length === 1 ? '1 file' : `${result.files.length} files`}`,
    `  local:     ${result.modelPath}`,
    `  fetched:   ${result.layerReused ? `no, layer ${result.layerReused.digest} in ${result.layerReused.registry}/${result.layerReused.repository} holds it` : result.cached ? 'no, the destination already held this version' : `in ${formatDuration(result.seconds)}${rate}`}`,
    `  bytes:     ${formatBytes(result.bytesDownloaded)} downloaded`,
    `  verified:  ${result.verification}`,
  ];
}
