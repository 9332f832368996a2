/**
 * Finishing an image, the same for daemonless and Docker modes: its config,
 * manifest and index entries (one per tag) written into the staged OCI
 * layout whose layer blobs are already there, the layout published at the
 * output path, and the layer table logged.
 */
import { InputError } from '../errors';
import { formatBytes } from '../format';
import type { Logger } from '../log';
import { buildManifest, canonicalJson, configMediaType, manifestMediaType, type ImageFormat } from './image';
import type { OciLayout } from './layout';
import { isValidTag } from './reference';
import { publishStaging } from './staging';
import type { Descriptor, ImageConfig } from './types';

/** Index entry annotation naming the image (the `imageName` option). */
export const IMAGE_NAME_ANNOTATION = 'io.modeltoaks.image.name';

export interface LayerSummary {
  role: 'base' | 'model' | 'app' | 'built';
  mediaType: string;
  digest: string;
  size: number;
  diffId?: string;
  encoding?: string;
  seconds?: number;
  /** The blob is not in the layout but produced from the source files when read (./deferred.ts). */
  deferred?: boolean;
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

/** The tags (index ref names) to write: trimmed, deduplicated, each a valid tag; `latest` when none. */
export function validateTags(tags: string[], input = 'tags'): string[] {
  const out = [...new Set(tags.map((t) => t.trim()).filter((t) => t.length > 0))];
  for (const t of out) {
    if (!isValidTag(t))
      throw new InputError(input, `Tag '${t}' in '${input}' is invalid: use letters, digits, '_', '.', '-' (max 128, not starting with '.' or '-').`);
  }
  return out.length ? out : ['latest'];
}

function logLayerTable(logger: Logger, layers: LayerSummary[], manifestDigest: string): void {
  const rows = layers.map((l, i) => [String(i + 1), l.deferred ? `${l.role} (deferred)` : l.role, formatBytes(l.size), l.mediaType, l.digest]);
  const head = ['#', 'layer', 'size', 'media type', 'digest'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (r: string[]) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]))).join('  ');
  logger.info(fmt(head));
  for (const r of rows) logger.info(fmt(r));
  logger.info(`Image manifest: ${manifestDigest}`);
}

/**
 * Writes the final image (config, manifest, index ref names) into `layout` and
 * returns its descriptor.
 */
async function writeImage(
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

interface FinishImage {
  /** The staged layout (from prepareStaging) holding the layer blobs. */
  layout: OciLayout;
  staging: string;
  outputPath: string;
  format: ImageFormat;
  config: ImageConfig;
  layers: Descriptor[];
  annotations: Record<string, string>;
  tags: string[];
  imageName?: string;
  /** Rows of the layer table. */
  summary: LayerSummary[];
  logger: Logger;
}

/** Writes the image into the staged layout, publishes it at outputPath and logs the layer table. */
export async function finishImage(o: FinishImage): Promise<BundleResult> {
  const descriptor = await writeImage(o.layout, o.format, o.config, o.layers, o.annotations, o.tags, o.imageName);
  await publishStaging(o.staging, o.outputPath);
  logLayerTable(o.logger, o.summary, descriptor.digest);
  return {
    layoutPath: o.outputPath,
    manifestDigest: descriptor.digest,
    manifestSize: descriptor.size,
    manifestMediaType: descriptor.mediaType,
    configDigest: descriptor.configDigest,
    tags: o.tags,
    layers: o.summary,
  };
}

/** The BundleModelImage task's closing line. */
export function bundleMessage(result: BundleResult): string {
  return `Image ${result.manifestDigest} written to ${result.layoutPath} (tags: ${result.tags.join(', ')}).`;
}
