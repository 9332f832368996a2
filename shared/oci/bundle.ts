/**
 * bundleImage(): the library entry behind the BundleModelImage task, usable
 * from any Node program. Writes an OCI image layout holding base layers, a
 * model layer and an app layer (in that order), reproducibly: identical
 * inputs give an identical manifest digest on any machine.
 */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, UserError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { IgnoreMatcher } from './dockerignore';
import { buildConfig, convertLayerMediaType, DEFAULT_IMAGE_FORMAT, type ImageFormat, type ImageSettings, type NewLayer } from './image';
import { DEFAULT_COMPRESSION, deferLayer, writeLayer, type CompressionPolicy, type LayerResult } from './layer';
import { OciLayout } from './layout';
import { DEFAULT_PLATFORM, formatPlatform } from './platform';
import { createdFromEpoch, provenanceMetadata, type Provenance } from './provenance';
import { parseReference } from './reference';
import { pullImage as registryPull, type PullOptions, type PullResult } from './registry/pull';
import type { RegistryCredentials } from './registry/auth';
import { prepareStaging, resolveOutputPath } from './staging';
import { collectEntries, defaultMtime, type TreeSource } from './tar';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from './types';
import { finishImage, validateTags, type BundleResult, type LayerSummary } from './write-image';
import { planModelLayer, type ModelPlan } from '../reuse/bundle-model';
import { LayerCache } from '../reuse/layer-cache';
import { isReusableEncoding, recipeOf } from '../reuse/recipe';
import { writeLayerSidecar } from '../reuse/records';
import { layerMediaType } from './layer';
import { DEFERRED_SCHEMA, deferredSegments, readDeferred, type DeferredBlob } from './deferred';

/** The registry pull (shared/oci/registry/pull.ts), replaceable for tests. */
type PullImageFn = (options: PullOptions) => Promise<PullResult>;

/** Where the model and the app go in the image unless told (task.json's modelDestination / appDestination defaults). */
export const DEFAULT_MODEL_DESTINATION = '/models';
export const DEFAULT_APP_DESTINATION = '/app';

/** Image settings (entrypoint, cmd, env, workingDirectory, ports, user, labels) as in ./image, plus what the build needs. */
export interface BundleOptions extends Omit<ImageSettings, 'platform' | 'created'> {
  /** `scratch`, `oci:PATH[:tag]` or a registry reference. */
  baseImage: string;
  baseCredentials?: RegistryCredentials;
  insecure?: boolean;
  /** Registry pull implementation (default: shared/oci/registry/pull). */
  pullImage?: PullImageFn;
  platform?: Platform;
  model?: { path: string; destination?: string };
  app?: { directory: string; destination?: string; ignoreFile?: string };
  compression?: CompressionPolicy;
  /**
   * Write the model layer's blob into the layout (a complete layout for any
   * OCI tool). Default false: when its encoding is deterministic (plain tar,
   * stored gzip) the layer is recorded as deferred and produced from the model
   * files when pushed or read, so the agent holds the model once.
   */
  writeModelBlob?: boolean;
  imageFormat?: ImageFormat;
  provenance?: Provenance;
  /** RFC 3339 creation time (default: SOURCE_DATE_EPOCH or the epoch). */
  created?: string;
  /** mtime of every tar entry (default SOURCE_DATE_EPOCH or 0). */
  mtime?: number;
  imageName?: string;
  tags?: string[];
  outputPath: string;
  /** Folder of this agent's model layer cache (shared/reuse/layer-cache.ts); undefined: no cache. */
  layerCache?: string;
  logger?: Logger;
  signal?: AbortSignal;
}

/** `oci:PATH[:tag]` -> path and optional ref name (a `:` after the last path separator starts the tag). */
export function parseOciBase(spec: string): { path: string; refName?: string } {
  const rest = spec.slice('oci:'.length);
  const lastSep = Math.max(rest.lastIndexOf('/'), rest.lastIndexOf('\\'));
  const colon = rest.indexOf(':', lastSep + 1);
  // A Windows drive letter (C:\...) is not a tag separator.
  if (colon > 0 && !(colon === 1 && lastSep < 0 && /^[A-Za-z]$/.test(rest[0])))
    return { path: rest.slice(0, colon), refName: rest.slice(colon + 1) || undefined };
  return { path: rest };
}

async function copyBlob(from: OciLayout, to: OciLayout, d: Descriptor): Promise<void> {
  if (await to.hasBlob(d.digest)) return;
  await to.writeBlobStream(from.openBlob(d.digest, { verify: false }), { digest: d.digest, size: d.size });
}

interface BaseImage {
  name: string;
  digest: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

async function loadBase(options: BundleOptions, layout: OciLayout, platform: Platform, logger: Logger): Promise<BaseImage | undefined> {
  const spec = options.baseImage.trim();
  if (!spec || spec.toLowerCase() === 'scratch') return undefined;
  if (spec.startsWith('oci:')) {
    const { path, refName } = parseOciBase(spec);
    let source: OciLayout;
    try {
      source = await OciLayout.open(resolve(path));
    } catch (err) {
      throw new InputError('baseImage', `Base image '${spec}' was not found: '${path}' is not an OCI image layout; check the path in 'baseImage'.`, err);
    }
    let found;
    try {
      found = await source.findManifest(refName, platform);
    } catch (err) {
      const why = err instanceof UserError ? err.message : String(err);
      throw new InputError('baseImage', `Base image '${spec}' cannot be used: ${why.charAt(0).toLowerCase()}${why.slice(1).replace(/\.$/, '')}.`, err);
    }
    await copyBlob(source, layout, found.manifest.config);
    for (const l of found.manifest.layers) await copyBlob(source, layout, l);
    logger.info(`Base image ${spec}: ${found.descriptor.digest} (${formatPlatform(platform)}, ${found.manifest.layers.length} layers)`);
    return { name: spec, digest: found.descriptor.digest, manifest: found.manifest, config: found.config };
  }
  const reference = parseReference(spec, { defaultTag: 'latest', input: 'baseImage' });
  const pull = options.pullImage ?? registryPull;
  const pulled = await pull({ reference, platform, layout, credentials: options.baseCredentials, insecure: options.insecure, logger, signal: options.signal });
  logger.info(`Base image ${reference.toString()}: ${pulled.manifestDescriptor.digest} (${formatPlatform(platform)}, ${pulled.manifest.layers.length} layers)`);
  return { name: reference.toString(), digest: pulled.manifestDescriptor.digest, manifest: pulled.manifest, config: pulled.config };
}

/**
 * A path inside the image as the user wrote it: refused (naming `input`)
 * when a segment is '..', '.' or empty, or it holds a backslash or a control
 * character, before anything normalises it (`../../etc` must not become `/etc`).
 */
function validateImageDestination(value: string, input: string): string {
  const shown = JSON.stringify(value).slice(1, -1);
  const why = (reason: string) =>
    new InputError(
      input,
      `Input '${input}' ('${shown}') ${reason}: give an absolute path inside the image such as /models, without '.', '..' or empty segments.`,
    );
  if (!value.trim()) throw why('is empty');
  if (/[\x00-\x1f\x7f]/.test(value)) throw why('contains a control character');
  if (value.includes('\\')) throw why("contains a backslash (image paths use '/')");
  const segments = value.replace(/^\//, '').replace(/\/$/, '').split('/');
  if (value !== '/' && segments.some((seg) => seg === '' || seg === '.' || seg === '..')) throw why("has an empty, '.' or '..' segment");
  return value;
}

/**
 * The model layer from the file: linked from this agent's layer cache when it
 * holds it, else written (and cached); recorded in the layout for PushToACR's
 * mapping when FetchModel vouches for the file and the encoding is reproducible.
 */
async function buildModelLayer(
  layout: OciLayout,
  entries: Awaited<ReturnType<typeof collectEntries>>,
  o: { compression: CompressionPolicy; format: ImageFormat; mtime: number; logger: Logger; label: string; signal?: AbortSignal },
  options: BundleOptions,
  plan: ModelPlan | undefined,
  where: TreeSource,
): Promise<LayerResult> {
  const logger = o.logger;
  const trusted = plan?.kind === 'local' ? plan.trusted : undefined;
  if (plan?.kind === 'local' && plan.why) logger.debug(`Model layer not cached or recorded for reuse: ${plan.why}.`);
  const recipe = recipeOf(entries, o.mtime, o.compression);
  const cache = trusted && options.layerCache ? new LayerCache(options.layerCache) : undefined;
  const key = trusted ? LayerCache.key(trusted.modelSha256, recipe) : '';
  let layer: LayerResult | undefined;
  if (cache && trusted && !options.writeModelBlob) {
    // A deferred layer of this model was built here before: its descriptor (no blob) skips the hashing pass.
    const got = await cache.takeDeferred(key, trusted.modelSha256, recipe).catch(() => undefined);
    if (got) {
      // The media type follows this build's image format (the cache key holds the recipe, not the format).
      const mediaType = layerMediaType(got.encoding, o.format);
      const record: DeferredBlob = { ...got, mediaType, schema: DEFERRED_SCHEMA, segments: await deferredSegments(entries, o.mtime) };
      await layout.writeDeferred(record);
      layer = { ...got, mediaType, uncompressedSize: got.tarSize, seconds: 0, deferred: true };
      logger.info(
        `Model layer ${layer.digest}: from this agent's layer cache (${options.layerCache}); not hashed again, produced from the model file when pushed.`,
      );
    }
  }
  if (!layer && cache && trusted) {
    const started = Date.now();
    const tmp = layout.tempPath();
    const got = await cache.take(key, trusted.modelSha256, recipe, tmp).catch((err: Error) => ({ hit: undefined, reason: err.message }));
    if (got.hit) {
      await layout.commitTemp(tmp, got.hit.digest);
      layer = { ...got.hit, mediaType: layerMediaType(got.hit.encoding, o.format), seconds: (Date.now() - started) / 1000 };
      logger.info(`Model layer ${layer.digest}: from this agent's layer cache (${options.layerCache}); not rebuilt.`);
    } else {
      await fsp.rm(tmp, { force: true });
      logger.info(`Layer cache: ${got.reason}; building the model layer.`);
    }
  }
  if (!layer) {
    logger.info(`Writing model layer from ${where.hostPath} to ${where.destination} (${entries.filter((e) => e.type === 'file').length} files)`);
    layer = (options.writeModelBlob ? undefined : await deferLayer(layout, entries, o)) ?? (await writeLayer(layout, entries, o));
    if (layer.deferred)
      logger.info(
        `Model layer ${layer.digest} is deferred: the layout records how to produce it from the model files, which must stay in place until the image is pushed (set writeModelBlob to write it into the layout).`,
      );
    if (cache && trusted) {
      const record = layer.deferred ? await readDeferred(layout.dir, layer.digest) : undefined;
      const failed = record
        ? await cache.putDeferred(key, trusted.modelSha256, recipe, {
            digest: record.digest,
            size: record.size,
            mediaType: record.mediaType,
            diffId: record.diffId,
            tarSize: record.tarSize,
            encoding: record.encoding,
            ...(record.crc32 !== undefined ? { crc32: record.crc32 } : {}),
          })
        : await cache.put(
            key,
            trusted.modelSha256,
            recipe,
            { digest: layer.digest, size: layer.size, diffId: layer.diffId, uncompressedSize: layer.uncompressedSize, encoding: layer.encoding },
            layout.blobPath(layer.digest),
          );
      if (failed) logger.warn(`The model layer could not be kept in the layer cache ${options.layerCache} (${failed}); the next build rebuilds it.`);
    }
  }
  if (trusted?.identity && isReusableEncoding(layer.encoding)) {
    await writeLayerSidecar(layout.dir, {
      identity: trusted.identity,
      recipe,
      modelSha256: trusted.modelSha256,
      verifiedBy: trusted.verifiedBy,
      layer: { digest: layer.digest, size: layer.size, diffId: layer.diffId, encoding: layer.encoding, mediaType: layer.mediaType },
    });
  }
  return layer;
}

export async function bundleImage(options: BundleOptions): Promise<BundleResult> {
  const logger = options.logger ?? silentLogger;
  const platform = options.platform ?? DEFAULT_PLATFORM;
  const format = options.imageFormat ?? DEFAULT_IMAGE_FORMAT;
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const created = options.created ?? createdFromEpoch();
  const mtime = options.mtime ?? defaultMtime();
  const tags = validateTags(options.tags ?? ['latest']);
  const outputPath = await resolveOutputPath(options.outputPath);

  // Validate sources before any slow work.
  const modelSource: TreeSource | undefined = options.model
    ? {
        hostPath: resolve(options.model.path),
        destination: validateImageDestination(options.model.destination ?? DEFAULT_MODEL_DESTINATION, 'modelDestination'),
        input: 'modelPath',
      }
    : undefined;
  let appSource: TreeSource | undefined;
  if (options.app) {
    const dir = resolve(options.app.directory);
    const st = await fsp.stat(dir).catch(() => undefined);
    if (!st?.isDirectory())
      throw new InputError(
        'appDirectory',
        `App directory '${options.app.directory}' given in 'appDirectory' does not exist or is not a folder: check the path.`,
      );
    const ignoreFile = options.app.ignoreFile ?? join(dir, '.dockerignore');
    const ignoreText = await fsp.readFile(ignoreFile, 'utf8').catch(() => undefined);
    if (options.app.ignoreFile && ignoreText === undefined)
      throw new InputError('appDirectory', `Exclusion file '${options.app.ignoreFile}' cannot be read: check the path.`);
    appSource = {
      hostPath: dir,
      destination: validateImageDestination(options.app.destination ?? DEFAULT_APP_DESTINATION, 'appDestination'),
      ignore: ignoreText ? IgnoreMatcher.parse(ignoreText, { file: ignoreFile, input: 'appDirectory' }) : undefined,
      input: 'appDirectory',
    };
  }
  // Where the model layer comes from: the registry (FetchModel downloaded nothing), the layer cache, or the file.
  const plan: ModelPlan | undefined = modelSource ? await planModelLayer(modelSource.hostPath, modelSource.destination, compression, mtime) : undefined;
  if (modelSource && plan?.kind !== 'remote' && !(await fsp.stat(modelSource.hostPath).catch(() => undefined))) {
    throw new InputError(
      'modelPath',
      `Model path '${options.model?.path}' given in 'modelPath' does not exist: check the path (typically the modelPath output of FetchModel).`,
    );
  }
  const modelEntries = modelSource && plan?.kind !== 'remote' ? await collectEntries([modelSource]) : undefined;
  const appEntries = appSource ? await collectEntries([appSource]) : undefined;

  const staging = await prepareStaging(outputPath);
  try {
    const layout = await OciLayout.create(staging);
    const base = await loadBase(options, layout, platform, logger);
    const summary: LayerSummary[] = (base?.manifest.layers ?? []).map((l) => ({
      role: 'base',
      mediaType: convertLayerMediaType(l.mediaType, format),
      digest: l.digest,
      size: l.size,
    }));
    const newLayers: NewLayer[] = [];
    const layerDescriptors: Descriptor[] = [...(base?.manifest.layers ?? [])];
    let modelLayer: LayerResult | undefined;
    let appLayer: LayerResult | undefined;
    if (plan?.kind === 'remote') {
      const { layer, registry, repository } = plan.record.reused;
      logger.info(
        `Model layer ${layer.digest}: taken from ${registry}/${repository} (FetchModel found it there and downloaded nothing); its blob is not in the layout.`,
      );
      modelLayer = {
        mediaType: layerMediaType(layer.encoding, format),
        digest: layer.digest,
        size: layer.size,
        diffId: layer.diffId,
        uncompressedSize: 0,
        encoding: layer.encoding,
        seconds: 0,
      };
      await writeLayerSidecar(layout.dir, {
        identity: plan.record.identity ?? '',
        recipe: plan.recipe,
        modelSha256: plan.record.modelSha256,
        verifiedBy: plan.record.verifiedBy,
        layer: { ...layer, mediaType: modelLayer.mediaType },
        remote: { registry, repository },
      });
    } else if (modelEntries) {
      modelLayer = await buildModelLayer(
        layout,
        modelEntries,
        { compression, format, mtime, logger, label: 'model layer', signal: options.signal },
        options,
        plan,
        modelSource as TreeSource,
      );
    }
    if (modelLayer) {
      newLayers.push({
        diffId: modelLayer.diffId,
        createdBy: `BundleModelImage: model -> ${modelSource?.destination}`,
        comment: options.provenance?.modelSha256 ? `model sha256 ${options.provenance.modelSha256.toLowerCase()}` : undefined,
      });
      layerDescriptors.push({ mediaType: modelLayer.mediaType, digest: modelLayer.digest, size: modelLayer.size });
      summary.push({
        role: 'model',
        mediaType: modelLayer.mediaType,
        digest: modelLayer.digest,
        size: modelLayer.size,
        diffId: modelLayer.diffId,
        encoding: modelLayer.encoding,
        seconds: modelLayer.seconds,
        ...(modelLayer.deferred ? { deferred: true } : {}),
      });
    }
    if (appEntries) {
      logger.info(`Writing app layer from ${appSource?.hostPath} to ${appSource?.destination} (${appEntries.filter((e) => e.type === 'file').length} files)`);
      appLayer = await writeLayer(layout, appEntries, { compression, format, mtime, logger, label: 'app layer', signal: options.signal });
      newLayers.push({ diffId: appLayer.diffId, createdBy: `BundleModelImage: app -> ${appSource?.destination}` });
      layerDescriptors.push({ mediaType: appLayer.mediaType, digest: appLayer.digest, size: appLayer.size });
      summary.push({
        role: 'app',
        mediaType: appLayer.mediaType,
        digest: appLayer.digest,
        size: appLayer.size,
        diffId: appLayer.diffId,
        encoding: appLayer.encoding,
        seconds: appLayer.seconds,
      });
    }
    const { labels, annotations } = provenanceMetadata(options.provenance, created, base);
    const config = buildConfig(
      base?.config,
      {
        platform,
        entrypoint: options.entrypoint,
        cmd: options.cmd,
        env: options.env,
        workingDirectory: options.workingDirectory,
        ports: options.ports,
        user: options.user,
        labels: { ...labels, ...(options.labels ?? {}) },
        created,
      },
      newLayers,
    );
    const result = await finishImage({
      layout,
      staging,
      outputPath,
      format,
      config,
      layers: layerDescriptors,
      annotations,
      tags,
      imageName: options.imageName,
      summary,
      logger,
    });
    return { ...result, modelLayerDigest: modelLayer?.digest, appLayerDigest: appLayer?.digest, baseDigest: base?.digest };
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw err;
  }
}
