/**
 * Local base images for tests, built without any network: an OCI image layout
 * holding Debian's busybox-static (/bin/busybox) plus applet symlinks (sh,
 * sha256sum, cat, ls, ...), written with this project's own layer library.
 * Also a multi-platform index variant (linux/amd64 + a linux/arm64 image that
 * carries the same files, labelled as arm64) for pull tests.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../../shared/oci/image';
import { writeLayer } from '../../shared/oci/layer';
import { OciLayout } from '../../shared/oci/layout';
import { collectEntries } from '../../shared/oci/tar';
import { MediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../../shared/oci/types';

export const BUSYBOX = '/bin/busybox';
export const APPLETS = ['sh', 'cat', 'ls', 'sha256sum', 'echo', 'env', 'id', 'pwd', 'stat', 'sleep', 'wc', 'head', 'true', 'test'];

export function busyboxAvailable(): boolean {
  return existsSync(BUSYBOX);
}

/** A rootfs folder with bin/busybox and applet symlinks, plus etc/passwd with root and nobody. */
export function makeBusyboxRootfs(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}

export interface BaseImageInfo {
  layoutDir: string;
  /** Ref name of the single-platform image. */
  tag: string;
  manifestDigest: string;
  /** `oci:<dir>:<tag>` for the baseImage input. */
  spec: string;
}

async function writeSingle(layout: OciLayout, rootfs: string, platform: Platform, format: 'oci' | 'docker' = 'oci'): Promise<Descriptor> {
  const entries = await collectEntries([{ hostPath: rootfs, destination: '/' }]);
  const layer = await writeLayer(layout, entries, { compression: 'gzip', format, mtime: 0 });
  const config: ImageConfig = {
    created: '1970-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], Labels: { 'test.base': 'busybox' } },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'test: busybox-static rootfs' }],
  };
  const cfg = await layout.writeBlob(canonicalJson(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: format === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest,
    config: { mediaType: format === 'docker' ? MediaType.DockerConfig : MediaType.OciConfig, ...cfg },
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
  };
  const m = await layout.writeBlob(canonicalJson(manifest));
  return { mediaType: manifest.mediaType as string, ...m, platform };
}

/** Builds the busybox base layout in `dir` (ref name `tag`, default `1`). */
export async function buildBusyboxBase(dir: string, tag = '1', format: 'oci' | 'docker' = 'oci'): Promise<BaseImageInfo> {
  const work = mkdtempSync(join(tmpdir(), 'bbroot-'));
  try {
    const rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
    const layout = await OciLayout.create(dir);
    const d = await writeSingle(layout, rootfs, { os: 'linux', architecture: 'amd64' }, format);
    await layout.addManifest({ mediaType: d.mediaType, digest: d.digest, size: d.size }, [tag]);
    return { layoutDir: dir, tag, manifestDigest: d.digest, spec: `oci:${dir}:${tag}` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface MultiPlatformInfo {
  layoutDir: string;
  tag: string;
  indexDigest: string;
  manifests: Record<string, string>;
}

/** A layout whose `tag` names an OCI image index of linux/amd64 and linux/arm64/v8 images. */
export async function buildMultiPlatformBase(dir: string, tag = 'multi'): Promise<MultiPlatformInfo> {
  const work = mkdtempSync(join(tmpdir(), 'bbroot-'));
  try {
    const rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
    const layout = await OciLayout.create(dir);
    const amd = await writeSingle(layout, rootfs, { os: 'linux', architecture: 'amd64' });
    const arm = await writeSingle(layout, rootfs, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd, arm] };
    const i = await layout.writeBlob(canonicalJson(index));
    await layout.addManifest({ mediaType: MediaType.OciIndex, ...i }, [tag]);
    return { layoutDir: dir, tag, indexDigest: i.digest, manifests: { 'linux/amd64': amd.digest, 'linux/arm64/v8': arm.digest } };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
