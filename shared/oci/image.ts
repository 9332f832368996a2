/**
 * Image config and manifest: built from a base image's config plus the new
 * layers and settings, in OCI media types (default) or Docker schema 2, never
 * mixed. Serialised as canonical JSON (sorted keys, no whitespace) so the same
 * inputs always give the same digests.
 */
import { UserError } from '../errors';
import { MediaType, type Descriptor, type HistoryEntry, type ImageConfig, type ImageManifest, type Platform } from './types';

export type ImageFormat = 'oci' | 'docker';
/** OCI media types unless Docker's are asked for. */
export const DEFAULT_IMAGE_FORMAT: ImageFormat = 'oci';

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function sortKeys(value: unknown): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: { [k: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value as Json;
}

/** JSON with keys sorted at every level and no insignificant whitespace. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

// ------------------------------------------------------------- media types

export function configMediaType(format: ImageFormat): string {
  return format === 'docker' ? MediaType.DockerConfig : MediaType.OciConfig;
}

export function manifestMediaType(format: ImageFormat): string {
  return format === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest;
}

/** A base layer's media type in the target format (OCI <-> Docker, same bytes). */
export function convertLayerMediaType(mediaType: string, format: ImageFormat): string {
  const gz = new Set<string>([
    MediaType.OciLayerGzip,
    MediaType.DockerLayerGzip,
    MediaType.DockerForeignLayerGzip,
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ]);
  const plain = new Set<string>([MediaType.OciLayer, MediaType.DockerLayer, 'application/vnd.oci.image.layer.nondistributable.v1.tar']);
  if (gz.has(mediaType)) return format === 'docker' ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
  if (plain.has(mediaType)) return format === 'docker' ? MediaType.DockerLayer : MediaType.OciLayer;
  if (mediaType === MediaType.OciLayerZstd) {
    if (format === 'oci') return mediaType;
    throw new UserError(
      `The base image has zstd-compressed layers, which Docker schema 2 cannot describe: set imageFormat to oci, or use a base image with gzip layers.`,
      { code: 'InvalidInput', input: 'imageFormat' },
    );
  }
  throw new UserError(`The base image has a layer of unsupported media type '${mediaType}': use a base image with standard tar or gzip layers.`, {
    code: 'UnsupportedMediaType',
    input: 'baseImage',
  });
}

// ------------------------------------------------------------- config and manifest

export interface ImageSettings {
  platform: Platform;
  entrypoint?: string[];
  cmd?: string[];
  env?: Array<[string, string]>;
  workingDirectory?: string;
  ports?: string[];
  user?: string;
  labels?: Record<string, string>;
  created: string;
}

export interface NewLayer {
  diffId: string;
  createdBy: string;
  comment?: string;
}

/** Merges env: the base's entries, with same-named keys replaced in place and new keys appended. */
export function mergeEnv(base: string[] | undefined, env: Array<[string, string]>): string[] | undefined {
  const out = [...(base ?? [])];
  for (const [k, v] of env) {
    const i = out.findIndex((e) => e === k || e.startsWith(`${k}=`));
    if (i >= 0) out[i] = `${k}=${v}`;
    else out.push(`${k}=${v}`);
  }
  return out.length ? out : undefined;
}

export function buildConfig(base: ImageConfig | undefined, settings: ImageSettings, layers: NewLayer[]): ImageConfig {
  if (base && (base.os !== settings.platform.os || base.architecture !== settings.platform.architecture)) {
    throw new UserError(
      `The base image is ${base.os}/${base.architecture}, not the requested ${settings.platform.os}/${settings.platform.architecture}: set the platform input to match the base image.`,
      { code: 'NoMatchingPlatform', input: 'platform' },
    );
  }
  const baseCfg = base?.config ?? {};
  const cfg: NonNullable<ImageConfig['config']> = {};
  if (settings.user ?? baseCfg.User) cfg.User = settings.user ?? baseCfg.User;
  const ports: Record<string, Record<string, never>> = { ...(baseCfg.ExposedPorts ?? {}) };
  for (const p of settings.ports ?? []) ports[p] = {};
  if (Object.keys(ports).length) cfg.ExposedPorts = ports;
  const env = mergeEnv(baseCfg.Env, settings.env ?? []);
  if (env) cfg.Env = env;
  // Like Dockerfile ENTRYPOINT: setting it clears the base's CMD unless CMD is given too.
  if (settings.entrypoint) {
    cfg.Entrypoint = settings.entrypoint;
    if (settings.cmd) cfg.Cmd = settings.cmd;
  } else {
    if (baseCfg.Entrypoint) cfg.Entrypoint = baseCfg.Entrypoint;
    const cmd = settings.cmd ?? baseCfg.Cmd;
    if (cmd) cfg.Cmd = cmd;
  }
  if (baseCfg.Volumes) cfg.Volumes = baseCfg.Volumes;
  const wd = settings.workingDirectory ?? baseCfg.WorkingDir;
  if (wd) cfg.WorkingDir = wd;
  const labels = { ...(baseCfg.Labels ?? {}), ...(settings.labels ?? {}) };
  if (Object.keys(labels).length) cfg.Labels = labels;
  if (baseCfg.StopSignal) cfg.StopSignal = baseCfg.StopSignal;

  const history: HistoryEntry[] = [...(base?.history ?? [])];
  for (const l of layers) {
    const h: HistoryEntry = { created: settings.created, created_by: l.createdBy };
    if (l.comment) h.comment = l.comment;
    history.push(h);
  }
  const config: ImageConfig = {
    created: settings.created,
    architecture: settings.platform.architecture,
    os: settings.platform.os,
    config: cfg,
    rootfs: { type: 'layers', diff_ids: [...(base?.rootfs.diff_ids ?? []), ...layers.map((l) => l.diffId)] },
    history,
  };
  if (settings.platform.variant) config.variant = settings.platform.variant;
  else if (base?.variant) config.variant = base.variant;
  if (base?.['os.version']) config['os.version'] = base['os.version'];
  return config;
}

export function buildManifest(format: ImageFormat, config: Descriptor, layers: Descriptor[], annotations?: Record<string, string>): ImageManifest {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType(format),
    config: { mediaType: configMediaType(format), digest: config.digest, size: config.size },
    layers: layers.map((l) => {
      const d: Descriptor = { mediaType: convertLayerMediaType(l.mediaType, format), digest: l.digest, size: l.size };
      if (l.urls) d.urls = l.urls;
      if (format === 'oci' && l.annotations) d.annotations = l.annotations;
      return d;
    }),
  };
  // Docker schema 2 has no manifest annotations; they live in the config labels there.
  if (format === 'oci' && annotations && Object.keys(annotations).length) manifest.annotations = annotations;
  return manifest;
}
