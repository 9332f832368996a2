/**
 * bundleImage(): the library entry behind the BundleModelImage task, usable
 * from any Node program. Writes an OCI image layout holding base layers, a
 * model layer and an app layer (in that order), reproducibly: identical
 * inputs give an identical manifest digest on any machine.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError, UserError } from '../errors';
import { formatBytes } from '../format';
import { ensureDir, EnsureDirError } from '../fs/ensure-dir';
import { silentLogger, type Logger } from '../log';
import { IgnoreMatcher } from './dockerignore';
import { buildConfig, buildManifest, canonicalJson, configMediaType, convertLayerMediaType, manifestMediaType, type ImageFormat, type NewLayer } from './image';
import { writeLayer, type CompressionPolicy, type LayerResult } from './layer';
import { DEFAULT_PLATFORM, formatPlatform, OciLayout } from './layout';
import { parseReference } from './reference';
import { pullImage as registryPull, type PullOptions, type PullResult } from './registry/pull';
import type { RegistryCredentials } from './registry/auth';
import { collectEntries, defaultMtime, type TreeSource } from './tar';
import { Annotation, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from './types';

export const IMAGE_NAME_ANNOTATION = 'io.modeltoaks.image.name';

/** The registry pull (shared/oci/registry/pull.ts), replaceable for tests. */
export type PullImageFn = (options: PullOptions) => Promise<PullResult>;

export interface Provenance {
  modelUri?: string;
  modelVersion?: string;
  modelSha256?: string;
  /** Repository URL (org.opencontainers.image.source). */
  source?: string;
  /** Commit (org.opencontainers.image.revision). */
  revision?: string;
  /** Pipeline run URL (label io.modeltoaks.pipeline.run). */
  pipelineRunUrl?: string;
}

export interface BundleOptions {
  /** `scratch`, `oci:PATH[:tag]` or a registry reference. */
  baseImage: string;
  baseCredentials?: RegistryCredentials;
  insecure?: boolean;
  /** Registry pull implementation (default: shared/oci/registry/pull). */
  pullImage?: PullImageFn;
  platform?: Platform;
  model?: { path: string; destination?: string };
  app?: { directory: string; destination?: string; ignoreFile?: string };
  entrypoint?: string[];
  cmd?: string[];
  env?: Array<[string, string]>;
  workingDirectory?: string;
  ports?: string[];
  user?: string;
  labels?: Record<string, string>;
  compression?: CompressionPolicy;
  imageFormat?: ImageFormat;
  provenance?: Provenance;
  /** RFC 3339 creation time (default: SOURCE_DATE_EPOCH or the epoch). */
  created?: string;
  /** mtime of every tar entry (default SOURCE_DATE_EPOCH or 0). */
  mtime?: number;
  imageName?: string;
  tags?: string[];
  outputPath: string;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface LayerSummary {
  role: 'base' | 'model' | 'app' | 'built';
  mediaType: string;
  digest: string;
  size: number;
  diffId?: string;
  encoding?: string;
  seconds?: number;
}

export interface BundleResult {
  layoutPath: string;
  manifestDigest: string;
  manifestSize: number;
  manifestMediaType: string;
  configDigest: string;
  modelLayerDigest?: string;
  appLayerDigest?: string;
  baseDigest?: string;
  tags: string[];
  layers: LayerSummary[];
}

export function createdFromEpoch(env: NodeJS.ProcessEnv = process.env): string {
  return new Date(defaultMtime(env) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** Commit time of the checked-out sources (so rebuilds of one commit stay identical), else SOURCE_DATE_EPOCH, else the epoch. */
export function createdFromSources(sourcesDirectory: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (sourcesDirectory) {
    try {
      const iso = execFileSync('git', ['-C', sourcesDirectory, 'log', '-1', '--format=%cI'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15000 }).trim();
      const t = Date.parse(iso);
      if (iso && Number.isFinite(t)) return new Date(t).toISOString().replace(/\.000Z$/, 'Z');
    } catch {
      // not a git checkout, or git missing: fall through
    }
  }
  return createdFromEpoch(env);
}

/** The task's closing line. */
export function bundleMessage(result: BundleResult): string {
  return `Image ${result.manifestDigest} written to ${result.layoutPath} (tags: ${result.tags.join(', ')}).`;
}

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function validateTags(tags: string[], input = 'tags'): string[] {
  const out = [...new Set(tags.map((t) => t.trim()).filter((t) => t.length > 0))];
  for (const t of out) {
    if (!TAG_RE.test(t)) throw new InputError(input, `Tag '${t}' in '${input}' is invalid: use letters, digits, '_', '.', '-' (max 128, not starting with '.' or '-').`);
  }
  return out.length ? out : ['latest'];
}

/** `oci:PATH[:tag]` -> path and optional ref name (a `:` after the last path separator starts the tag). */
export function parseOciBase(spec: string): { path: string; refName?: string } {
  const rest = spec.slice('oci:'.length);
  const lastSep = Math.max(rest.lastIndexOf('/'), rest.lastIndexOf('\\'));
  const colon = rest.indexOf(':', lastSep + 1);
  // A Windows drive letter (C:\...) is not a tag separator.
  if (colon > 0 && !(colon === 1 && lastSep < 0 && /^[A-Za-z]$/.test(rest[0]))) return { path: rest.slice(0, colon), refName: rest.slice(colon + 1) || undefined };
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
export function validateImageDestination(value: string, input: string): string {
  const shown = JSON.stringify(value).slice(1, -1);
  const why = (reason: string) => new InputError(input, `Input '${input}' ('${shown}') ${reason}: give an absolute path inside the image such as /models, without '.', '..' or empty segments.`);
  if (!value.trim()) throw why('is empty');
  if (/[\x00-\x1f\x7f]/.test(value)) throw why('contains a control character');
  if (value.includes('\\')) throw why("contains a backslash (image paths use '/')");
  const segments = value.replace(/^\//, '').replace(/\/$/, '').split('/');
  if (value !== '/' && segments.some((seg) => seg === '' || seg === '.' || seg === '..')) throw why("has an empty, '.' or '..' segment");
  return value;
}

/**
 * outputPath is replaced as a whole when the image is written, so it must be
 * absent, an empty folder or an earlier OCI image layout (it holds an
 * `oci-layout` file): BundleModelImage never deletes a folder it did not make.
 */
export async function assertReplaceableOutput(outputPath: string, given: string = outputPath): Promise<void> {
  const st = await fsp.stat(outputPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw new InputError('outputPath', `Output path '${given}' given in 'outputPath' cannot be read (${err.code ?? err.message}): choose a folder the agent can write to.`, err);
  });
  if (!st) return;
  if (!st.isDirectory()) throw new InputError('outputPath', `Output path '${given}' given in 'outputPath' is a file, not a folder: name a new or empty folder, or one holding an earlier image layout.`);
  const names = await fsp.readdir(outputPath);
  if (names.length === 0 || names.includes('oci-layout')) return;
  throw new InputError(
    'outputPath',
    `Output path '${given}' given in 'outputPath' is a folder holding other files and no OCI image layout (no oci-layout file), and BundleModelImage replaces its output folder: name a new or empty folder, e.g. $(Build.ArtifactStagingDirectory)/image.`,
  );
}

/** Creates the parent of outputPath and a fresh staging folder next to it; clear error when not writable. */
export async function prepareStaging(outputPath: string): Promise<string> {
  const parent = dirname(outputPath);
  const staging = join(parent, `.${basename(outputPath)}.partial-${randomBytes(6).toString('hex')}`);
  try {
    await ensureDir(parent);
    await fsp.mkdir(staging);
  } catch (err) {
    const why = err instanceof EnsureDirError ? err.message : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
    throw new InputError('outputPath', `Output path '${outputPath}' given in 'outputPath' is not writable (${why}): choose a folder the agent can write to, e.g. under $(Build.ArtifactStagingDirectory).`, err);
  }
  return staging;
}

/** Replaces outputPath by the finished staging folder (the old content goes only once the new one is complete). */
export async function publishStaging(staging: string, outputPath: string): Promise<void> {
  await assertReplaceableOutput(outputPath); // again: it may have changed while the image was written
  const old = `${staging}.old`;
  let moved = false;
  try {
    await fsp.rename(outputPath, old);
    moved = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new InputError('outputPath', `Output path '${outputPath}' cannot be replaced (${(err as NodeJS.ErrnoException).code}): make sure it is a folder nothing else holds open.`, err);
    }
  }
  await fsp.rename(staging, outputPath);
  if (moved) await fsp.rm(old, { recursive: true, force: true });
}

export function provenanceMetadata(p: Provenance | undefined, created: string, base?: BaseImage): { labels: Record<string, string>; annotations: Record<string, string> } {
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = { [Annotation.Created]: created };
  const both = (key: string, value: string | undefined) => {
    if (!value) return;
    labels[key] = value;
    annotations[key] = value;
  };
  both(Annotation.ModelUri, p?.modelUri);
  both(Annotation.ModelVersion, p?.modelVersion);
  both(Annotation.ModelSha256, p?.modelSha256?.toLowerCase());
  both(Annotation.Source, p?.source);
  both(Annotation.Revision, p?.revision);
  labels[Annotation.Created] = created;
  if (p?.pipelineRunUrl) labels[Annotation.PipelineRun] = p.pipelineRunUrl;
  if (base) {
    both(Annotation.BaseName, base.name);
    both(Annotation.BaseDigest, base.digest);
  }
  return { labels, annotations };
}

export function logLayerTable(logger: Logger, layers: LayerSummary[], manifestDigest: string): void {
  const rows = layers.map((l, i) => [String(i + 1), l.role, formatBytes(l.size), l.mediaType, l.digest]);
  const head = ['#', 'layer', 'size', 'media type', 'digest'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (r: string[]) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]))).join('  ');
  logger.info(fmt(head));
  for (const r of rows) logger.info(fmt(r));
  logger.info(`Image manifest: ${manifestDigest}`);
}

/**
 * Writes the final image (config, manifest, index ref names) into `layout` and
 * returns its descriptor. Shared by daemonless and Docker modes.
 */
export async function writeImage(
  layout: OciLayout,
  format: ImageFormat,
  config: ImageConfig,
  layers: Descriptor[],
  annotations: Record<string, string>,
  tags: string[],
  imageName?: string,
): Promise<Descriptor & { configDigest: string }> {
  const cfg = await layout.writeBlob(canonicalJson(config));
  const manifest = buildManifest(format, { mediaType: configMediaType(format), ...cfg }, layers, annotations);
  const m = await layout.writeBlob(canonicalJson(manifest));
  const descriptor: Descriptor = { mediaType: manifestMediaType(format), digest: m.digest, size: m.size };
  const entryAnnotations: Record<string, string> = {};
  if (imageName) entryAnnotations[IMAGE_NAME_ANNOTATION] = imageName;
  await layout.addManifest({ ...descriptor, ...(imageName ? { annotations: entryAnnotations } : {}) }, tags);
  return { ...descriptor, configDigest: cfg.digest };
}

export async function bundleImage(options: BundleOptions): Promise<BundleResult> {
  const logger = options.logger ?? silentLogger;
  const platform = options.platform ?? DEFAULT_PLATFORM;
  const format = options.imageFormat ?? 'oci';
  const compression = options.compression ?? 'auto';
  const created = options.created ?? createdFromEpoch();
  const mtime = options.mtime ?? defaultMtime();
  const tags = validateTags(options.tags ?? ['latest']);
  if (!options.outputPath?.trim()) throw new InputError('outputPath', `Input 'outputPath' is required: name the folder to write the OCI image layout into.`);
  const outputPath = resolve(options.outputPath);
  await assertReplaceableOutput(outputPath, options.outputPath);

  // Validate sources before any slow work.
  const modelSource: TreeSource | undefined = options.model
    ? { hostPath: resolve(options.model.path), destination: validateImageDestination(options.model.destination ?? '/models', 'modelDestination'), input: 'modelPath' }
    : undefined;
  let appSource: TreeSource | undefined;
  if (options.app) {
    const dir = resolve(options.app.directory);
    const st = await fsp.stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new InputError('appDirectory', `App directory '${options.app.directory}' given in 'appDirectory' does not exist or is not a folder: check the path.`);
    const ignoreFile = options.app.ignoreFile ?? join(dir, '.dockerignore');
    const ignoreText = await fsp.readFile(ignoreFile, 'utf8').catch(() => undefined);
    if (options.app.ignoreFile && ignoreText === undefined) throw new InputError('appDirectory', `Exclusion file '${options.app.ignoreFile}' cannot be read: check the path.`);
    appSource = { hostPath: dir, destination: validateImageDestination(options.app.destination ?? '/app', 'appDestination'), ignore: ignoreText ? IgnoreMatcher.parse(ignoreText, { file: ignoreFile, input: 'appDirectory' }) : undefined, input: 'appDirectory' };
  }
  if (modelSource && !(await fsp.stat(modelSource.hostPath).catch(() => undefined))) {
    throw new InputError('modelPath', `Model path '${options.model?.path}' given in 'modelPath' does not exist: check the path (typically the modelPath output of FetchModel).`);
  }
  const modelEntries = modelSource ? await collectEntries([modelSource]) : undefined;
  const appEntries = appSource ? await collectEntries([appSource]) : undefined;

  const staging = await prepareStaging(outputPath);
  try {
    const layout = await OciLayout.create(staging);
    const base = await loadBase(options, layout, platform, logger);
    const summary: LayerSummary[] = (base?.manifest.layers ?? []).map((l) => ({ role: 'base', mediaType: convertLayerMediaType(l.mediaType, format), digest: l.digest, size: l.size }));
    const newLayers: NewLayer[] = [];
    const layerDescriptors: Descriptor[] = [...(base?.manifest.layers ?? [])];
    let modelLayer: LayerResult | undefined;
    let appLayer: LayerResult | undefined;
    if (modelEntries) {
      logger.info(`Writing model layer from ${modelSource?.hostPath} to ${modelSource?.destination} (${modelEntries.filter((e) => e.type === 'file').length} files)`);
      modelLayer = await writeLayer(layout, modelEntries, { compression, format, mtime, logger, label: 'model layer', signal: options.signal });
      newLayers.push({ diffId: modelLayer.diffId, createdBy: `BundleModelImage: model -> ${modelSource?.destination}`, comment: options.provenance?.modelSha256 ? `model sha256 ${options.provenance.modelSha256.toLowerCase()}` : undefined });
      layerDescriptors.push({ mediaType: modelLayer.mediaType, digest: modelLayer.digest, size: modelLayer.size });
      summary.push({ role: 'model', mediaType: modelLayer.mediaType, digest: modelLayer.digest, size: modelLayer.size, diffId: modelLayer.diffId, encoding: modelLayer.encoding, seconds: modelLayer.seconds });
    }
    if (appEntries) {
      logger.info(`Writing app layer from ${appSource?.hostPath} to ${appSource?.destination} (${appEntries.filter((e) => e.type === 'file').length} files)`);
      appLayer = await writeLayer(layout, appEntries, { compression, format, mtime, logger, label: 'app layer', signal: options.signal });
      newLayers.push({ diffId: appLayer.diffId, createdBy: `BundleModelImage: app -> ${appSource?.destination}` });
      layerDescriptors.push({ mediaType: appLayer.mediaType, digest: appLayer.digest, size: appLayer.size });
      summary.push({ role: 'app', mediaType: appLayer.mediaType, digest: appLayer.digest, size: appLayer.size, diffId: appLayer.diffId, encoding: appLayer.encoding, seconds: appLayer.seconds });
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
    const descriptor = await writeImage(layout, format, config, layerDescriptors, annotations, tags, options.imageName);
    await publishStaging(staging, outputPath);
    logLayerTable(logger, summary, descriptor.digest);
    return {
      layoutPath: outputPath,
      manifestDigest: descriptor.digest,
      manifestSize: descriptor.size,
      manifestMediaType: descriptor.mediaType,
      configDigest: descriptor.configDigest,
      modelLayerDigest: modelLayer?.digest,
      appLayerDigest: appLayer?.digest,
      baseDigest: base?.digest,
      tags,
      layers: summary,
    };
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw err;
  }
}
